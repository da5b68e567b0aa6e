//! Network namespaces, for what only a network shows: three `authd`s, each
//! in a namespace of its own with one veth into a shared bridge, find each
//! other with mDNS alone (no `--peer` anywhere). B and C join A through the
//! nameplate A announces, an entry added on B reaches A and C, every device
//! sees the other two online, and python-zeroconf (`tests/netns/browse.py`),
//! an mDNS implementation other than the daemons' own, resolves their
//! announcements with the TXT that DESIGN.md documents.
//!
//! The bridge has a namespace of its own too, so the host's interfaces are
//! never touched; addresses come from 198.18.0.0/15 (RFC 2544's benchmarking
//! range) only, and nothing leaves the namespaces.
//!
//! Needs root, `ip netns` (iproute2) and python3 with zeroconf. Without them
//! a test prints why and passes, except with `CI=true`, where it fails:
//! `.ci/run` installs all three.
//!
//! Cleanup: a [`Lab`] kills its daemons and deletes its namespaces when it
//! is dropped, panic or not; namespaces left by a run that was killed
//! outright (its pid gone) are deleted by the next run.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use authsync_proto::ids::HouseholdId;
use authsync_proto::ipc::{DeviceInfo, Reply, Request, StatusReply};
use authsync_proto::wire::SYNC_PROTOCOL;
use authsync_tests::otp::{codes_between, totp};
use authsync_tests::{
    CTL_TIMEOUT, Output, READY_TIMEOUT, authctl_bin, authd_bin, path_str, poll_until, raw, running, unix_now,
};
use serde::Deserialize;
use tempfile::TempDir;

/// Every namespace of these tests is named `PREFIX<pid>-<n>-<role>`.
const PREFIX: &str = "authsync-t";
/// The port every daemon listens on (each in its own namespace).
const PORT: u16 = 47_811;
/// How long links may take to come up, and a bridge port to forward.
const LINK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long devices may take to find each other and sync.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the zeroconf browser may look.
const BROWSE_SECS: u64 = 10;
/// How long a plain command (`ip`, python's import check) may take.
const CMD_TIMEOUT: Duration = Duration::from_secs(20);
const SERVICE_TYPE: &str = "_authsync._udp.local.";
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const URI: &str = "otpauth://totp/Amazon:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Amazon";

/// `tests/netns/browse.py`.
fn browser_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("netns/browse.py")
}

/// Runs `cmd` to its end and returns what it printed; fails the test if it
/// runs over `timeout` (after killing it).
#[track_caller]
fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let args: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", args.join(" ")));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let mut status = None;
    poll_until(timeout, || {
        status = child.try_wait().expect("waiting for a child works");
        status.is_some()
    });
    let finished = status.is_some();
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        child.wait().expect("a killed child can be reaped")
    });
    let output = Output {
        args,
        status,
        stdout: stdout.join().expect("the stdout reader does not panic"),
        stderr: stderr.join().expect("the stderr reader does not panic"),
    };
    assert!(finished, "ran over {timeout:?}\n{output}");
    output
}

/// `ip ARGS`, which must succeed.
#[track_caller]
fn ip(args: &[&str]) -> String {
    let out = run(Command::new("ip").args(args), CMD_TIMEOUT);
    assert_eq!(out.code(), Some(0), "`ip` failed\n{out}");
    out.stdout
}

/// Why these tests cannot run on this machine, if they cannot. Checked once
/// per process: the tests run in parallel, and the probe namespace's name
/// is the process's.
fn missing_prerequisite() -> Option<String> {
    static MISSING: OnceLock<Option<String>> = OnceLock::new();
    MISSING.get_or_init(check_prerequisites).clone()
}

fn check_prerequisites() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (network namespaces need it)".into());
    }
    // Creating one is the only real proof (a container may forbid it).
    let probe = format!("{PREFIX}{}-probe", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Err(e) => return Some(format!("`ip` cannot run ({e}); install iproute2")),
        Ok(out) if !out.status.success() => {
            return Some(format!(
                "`ip netns add` fails: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(_) => {
            let _ = Command::new("ip").args(["netns", "delete", &probe]).output();
        }
    }
    let script = browser_script();
    match Command::new("python3").arg(&script).arg("--check").output() {
        Err(e) => Some(format!("python3 cannot run ({e})")),
        Ok(out) if !out.status.success() => Some(format!(
            "{} --check failed (python3 -m pip install zeroconf): {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// `true` (after saying why) when this machine cannot run `test`; with
/// `CI=true` that fails the test instead: CI must run it.
fn skip(test: &str) -> bool {
    let Some(reason) = missing_prerequisite() else {
        return false;
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: cannot run with CI=true: {reason}"
    );
    println!("{test}: skipped: {reason}");
    true
}

/// Deletes the namespaces of earlier runs that were killed before they
/// could clean up (their pid no longer runs), with anything still in them.
fn reap_stale_namespaces() {
    for line in ip(&["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if running(pid) {
            continue;
        }
        delete_namespace(name);
    }
}

/// SIGKILLs whatever still runs in namespace `name` (only ever our own
/// daemons), then deletes it.
fn delete_namespace(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                poll_until(Duration::from_secs(5), || !running(pid));
            }
        }
    }
    match Command::new("ip").args(["netns", "delete", name]).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "could not delete namespace {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => eprintln!("could not delete namespace {name}: {e}"),
    }
}

/// One device: a namespace with `eth0` on the bridge, a home, and the
/// `authd` this test started in that namespace.
struct Node {
    name: String,
    ns: String,
    ip: Ipv4Addr,
    home: TempDir,
    daemon: Option<Child>,
}

impl Node {
    fn log_path(&self) -> PathBuf {
        self.home.path().join("authd.stderr")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn listen(&self) -> String {
        format!("{}:{PORT}", self.ip)
    }

    /// `ip netns exec NS env AUTHSYNC_HOME=HOME VARS... PROGRAM`.
    fn in_namespace(&self, program: &Path, vars: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "env"])
            .arg(format!("AUTHSYNC_HOME={}", path_str(self.home.path())))
            // authctl must never start a stray daemon of its own (on the
            // default address) if ours died: it would fail to start this.
            .arg(format!(
                "AUTHSYNC_AUTHD={}",
                path_str(&self.home.path().join("no-auto-start"))
            ))
            .arg("RUST_BACKTRACE=1")
            .args(vars)
            .arg(program);
        cmd
    }

    /// Starts `authd --listen IP:PORT` (mDNS on) in the namespace and waits
    /// until it answers on its socket.
    #[track_caller]
    fn start(&mut self) {
        let log = File::create(self.log_path()).expect("a file for authd's stderr");
        let child = self
            .in_namespace(&authd_bin(), &["RUST_LOG=info,sled=warn,authsync_daemon=debug"])
            .args(["--listen", &self.listen()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ip netns exec runs");
        self.daemon = Some(child);
        let socket = self.home.path().join("run/authd.sock");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Ok(Reply::Status(_))) = raw::call(&socket, &Request::Status) {
                return;
            }
            let child = self.daemon.as_mut().expect("just started");
            if let Some(status) = child.try_wait().expect("waiting for authd works") {
                self.daemon = None;
                panic!(
                    "{}: authd exited ({status}) instead of serving\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{}: authd did not answer within {READY_TIMEOUT:?}\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `authctl ARGS` in the namespace.
    fn ctl(&self, args: &[&str]) -> Output {
        run(self.in_namespace(&authctl_bin(), &[]).args(args), CTL_TIMEOUT)
    }

    /// `authctl ARGS`, which must succeed; its stdout.
    #[track_caller]
    fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        if out.code() != Some(0) {
            panic!("{}: authctl failed\n{out}\n{}", self.name, self.log());
        }
        out.stdout
    }

    /// `authctl --json ARGS`, which must succeed, parsed.
    #[track_caller]
    fn ctl_json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ctl(&all);
        if out.code() != Some(0) {
            panic!("{}: authctl failed\n{out}\n{}", self.name, self.log());
        }
        out.json()
    }

    fn status(&self) -> StatusReply {
        self.ctl_json(&["status"])
    }

    /// Waits until the network is up (the QUIC endpoint listens and the
    /// device is announced): it starts a moment after `init` or `join`
    /// answers, and until then `pair` refuses ("try again in a moment").
    #[track_caller]
    fn wait_network(&self) {
        let up = poll_until(READY_TIMEOUT, || self.status().listen.is_some());
        assert!(
            up,
            "{}: the network did not start within {READY_TIMEOUT:?}\n{}",
            self.name,
            self.log()
        );
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        self.ctl_json(&["devices"])
    }

    /// Runs `browse.py` in this namespace, on this node's address only.
    #[track_caller]
    fn browse(&self, want: &[&str], settle_secs: u64) -> Browse {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "python3"])
            .arg(browser_script())
            .args(["--interface", &self.ip.to_string()])
            .args(["--timeout", &BROWSE_SECS.to_string()])
            .args(["--settle", &settle_secs.to_string()]);
        for id in want {
            cmd.args(["--want", id]);
        }
        let out = run(&mut cmd, Duration::from_secs(BROWSE_SECS + 20));
        assert!(matches!(out.code(), Some(0 | 1)), "browse.py failed\n{out}");
        let browse: Browse = out.json();
        assert!(
            browse.complete,
            "zeroconf did not resolve all of {want:?} from {}\n{out}",
            self.name
        );
        browse
    }
}

/// What `browse.py` printed.
#[derive(Debug, Deserialize)]
struct Browse {
    elapsed_s: f64,
    complete: bool,
    services: Vec<Service>,
}

/// One service python-zeroconf resolved.
#[derive(Debug, Deserialize)]
struct Service {
    name: String,
    port: u16,
    addresses: Vec<String>,
    txt: std::collections::BTreeMap<String, Option<String>>,
    seen_s: f64,
}

impl Service {
    fn txt(&self, key: &str) -> Option<&str> {
        self.txt.get(key).and_then(Option::as_deref)
    }
}

/// Namespaces on one bridge, and their daemons; all of it goes on drop.
struct Lab {
    /// Every namespace created so far, the bridge's first.
    namespaces: Vec<String>,
    nodes: Vec<Node>,
}

impl Lab {
    /// A bridge in its own namespace and one namespace per name, with
    /// `eth0` at 198.18.0.1, .2, …; returns once every link is up and every
    /// bridge port forwards (mdns-sd only sees interfaces that are up when
    /// it starts, and rescans every few seconds).
    #[track_caller]
    fn new(names: &[&str]) -> Lab {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        reap_stale_namespaces();
        let run = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Lab {
            namespaces: Vec::new(),
            nodes: Vec::new(),
        };
        let bridge = lab.add_namespace(&format!("{run}-br"));
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &bridge, "link", "set", "br0", "up"]);
        for (i, name) in (1u8..).zip(names) {
            let ns = lab.add_namespace(&format!("{run}-{}", name.to_lowercase()));
            let port = format!("veth-{}", name.to_lowercase());
            let ip_addr = Ipv4Addr::new(198, 18, 0, i);
            ip(&[
                "-n", &bridge, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip(&["-n", &bridge, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &bridge, "link", "set", &port, "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{ip_addr}/24"), "dev", "eth0"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            let home = tempfile::Builder::new()
                .prefix("authsync-netns-")
                .tempdir()
                .expect("a temp dir");
            lab.nodes.push(Node {
                name: (*name).to_string(),
                ns,
                ip: ip_addr,
                home,
                daemon: None,
            });
        }
        // `lo`'s operational state stays UNKNOWN: its flags say it is up.
        let up = |ns: &str, dev: &str, also: &str| {
            let link = ip(&["-n", ns, "-d", "-o", "link", "show", "dev", dev]);
            link.contains("LOWER_UP") && link.contains(also)
        };
        let ready = poll_until(LINK_TIMEOUT, || {
            up(&bridge, "br0", "state UP")
                && lab.nodes.iter().all(|n| {
                    up(&n.ns, "lo", "")
                        && up(&n.ns, "eth0", "state UP")
                        && up(&bridge, &format!("veth-{}", n.name.to_lowercase()), "state UP")
                        && up(
                            &bridge,
                            &format!("veth-{}", n.name.to_lowercase()),
                            "bridge_slave state forwarding",
                        )
                })
        });
        if !ready {
            let mut links = ip(&["-n", &bridge, "-br", "link"]);
            for node in &lab.nodes {
                links.push_str(&ip(&["-n", &node.ns, "-br", "link"]));
            }
            panic!("links not up within {LINK_TIMEOUT:?}\n{links}");
        }
        lab
    }

    /// Creates namespace `name` with `lo` up, remembered for cleanup.
    #[track_caller]
    fn add_namespace(&mut self, name: &str) -> String {
        ip(&["netns", "add", name]);
        self.namespaces.push(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"]);
        name.to_string()
    }

    /// Fails the test if any daemon panicked, even if everything else held.
    #[track_caller]
    fn assert_no_daemon_panicked(&self) {
        for node in &self.nodes {
            let log = node.log();
            assert!(!log.contains("panicked at"), "{}: authd panicked\n{log}", node.name);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.daemon.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            if std::thread::panicking() {
                eprintln!("--- {} ({}) authd stderr ---\n{}", node.name, node.ip, node.log());
            }
        }
        // The node namespaces first (their veths go with them), the bridge last.
        for ns in self.namespaces.iter().rev() {
            delete_namespace(ns);
        }
    }
}

/// `authctl code amazon` on `node` prints a code `SECRET` gives now.
fn has_the_code(node: &Node) -> bool {
    let from = unix_now();
    let out = node.ctl(&["code", "amazon"]);
    let to = unix_now();
    out.code() == Some(0) && codes_between(SECRET, &totp(), from, to).iter().any(|c| c == out.line())
}

/// Whether `node` has a sync session up with every one of `others`.
fn sees_online(node: &Node, others: &[&str]) -> bool {
    let devices = node.devices();
    others
        .iter()
        .all(|id| devices.iter().any(|d| d.id == *id && d.online && !d.revoked))
}

#[test]
fn three_namespaces_pair_sync_and_announce_over_mdns_alone() {
    let test = "three_namespaces_pair_sync_and_announce_over_mdns_alone";
    if skip(test) {
        return;
    }
    let t0 = Instant::now();
    let mut lab = Lab::new(&["A", "B", "C"]);
    let links_up = t0.elapsed();
    for node in &mut lab.nodes {
        node.start();
    }
    let [a, b, c] = &lab.nodes[..] else {
        unreachable!("three nodes")
    };

    // 1. A starts the household; B and C join it by code alone: the
    //    nameplate is found by mDNS (TXT `pn`), no --peer anywhere.
    a.ctl_ok(&["init", "--name", "A", "--no-passphrase"]);
    a.wait_network();
    let mut joins = Vec::new();
    for joiner in [b, c] {
        let code = a.ctl_ok(&["pair"]);
        let code = code.trim();
        let started = Instant::now();
        joiner.ctl_ok(&["join", code, "--name", &joiner.name, "--no-passphrase"]);
        joins.push(started.elapsed());
    }
    let statuses: Vec<StatusReply> = lab.nodes.iter().map(Node::status).collect();
    let ids: Vec<String> = statuses
        .iter()
        .map(|s| s.device.clone().expect("a device id"))
        .collect();
    let household = statuses[0].household.clone().expect("a household");
    for (node, status) in lab.nodes.iter().zip(&statuses) {
        assert_eq!(status.household.as_ref(), Some(&household), "{}: {status:?}", node.name);
        assert_eq!(status.listen, Some(node.listen()), "{}: {status:?}", node.name);
    }

    // 2. Everyone finds everyone: B and C never met before, they only
    //    learn of each other through mDNS.
    let joined = Instant::now();
    for (i, node) in lab.nodes.iter().enumerate() {
        let others: Vec<&str> = (0..ids.len()).filter(|j| *j != i).map(|j| ids[j].as_str()).collect();
        let meshed = poll_until(SYNC_TIMEOUT, || sees_online(node, &others));
        assert!(
            meshed,
            "{} does not see {others:?} online within {SYNC_TIMEOUT:?}: {:#?}\n{}",
            node.name,
            node.devices(),
            node.log()
        );
    }
    let mesh = joined.elapsed();
    // The sessions run over the bridge, between the namespaces' addresses.
    let seen_by_a = a.devices();
    for (node, id) in lab.nodes.iter().zip(&ids).skip(1) {
        let device = seen_by_a.iter().find(|d| d.id == *id).expect("listed");
        assert_eq!(device.name, node.name, "{device:?}");
        let ip = device
            .addr
            .as_deref()
            .and_then(|a| a.rsplit_once(':'))
            .map(|(ip, _)| ip);
        assert_eq!(ip, Some(node.ip.to_string().as_str()), "{device:?}");
    }

    //    An entry added on B reaches A and C.
    b.ctl_ok(&["add", URI]);
    let added = Instant::now();
    for node in [a, c] {
        let synced = poll_until(SYNC_TIMEOUT, || has_the_code(node));
        assert!(
            synced,
            "{} has no right code for amazon within {SYNC_TIMEOUT:?}\n{}\n{}",
            node.name,
            node.ctl(&["code", "amazon"]),
            node.log()
        );
    }
    let sync = added.elapsed();
    assert!(has_the_code(b));

    // 3. Seen from C by another mDNS implementation: A and B announce
    //    `_authsync._udp.local.` at their address and port, with TXT `v`,
    //    `id`, `hh` and `b` (8 hex digits, random per start) and nothing
    //    else (both offers are closed: no `pn`).
    let tag = HouseholdId::from_str(&household).expect("a household id").tag();
    let browse = c.browse(&[&ids[0], &ids[1]], 0);
    for (node, id) in lab.nodes.iter().zip(&ids).take(2) {
        let service = browse
            .services
            .iter()
            .find(|s| s.txt("id") == Some(id.as_str()))
            .expect("checked by browse");
        let keys: BTreeSet<&str> = service.txt.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["v", "id", "hh", "b"]),
            "{}: {service:?}",
            node.name
        );
        let boot = service.txt("b").unwrap_or_default();
        assert!(
            boot.len() == 8 && boot.bytes().all(|c| c.is_ascii_hexdigit()),
            "{service:?}"
        );
        assert_eq!(
            service.txt("v"),
            Some(SYNC_PROTOCOL.to_string().as_str()),
            "{service:?}"
        );
        assert_eq!(service.txt("hh"), Some(tag.as_str()), "{service:?}");
        assert_eq!(service.port, PORT, "{service:?}");
        assert_eq!(service.addresses, [node.ip.to_string()], "{service:?}");
    }
    //    An open offer is announced with its nameplate, TXT `pn` (how
    //    `join` found A above): seen from B this time.
    let code = a.ctl_ok(&["pair"]);
    let nameplate = code.trim().split('-').next().expect("NAMEPLATE-words...").to_string();
    let offered = b.browse(&[&ids[0]], 0);
    let service = offered
        .services
        .iter()
        .find(|s| s.txt("id") == Some(ids[0].as_str()))
        .expect("checked by browse");
    assert_eq!(service.txt("pn"), Some(nameplate.as_str()), "{service:?}");
    lab.assert_no_daemon_panicked();

    let names: Vec<&str> = browse.services.iter().map(|s| s.name.as_str()).collect();
    println!(
        "{test}: links up {links_up:.2?}; join B {:.2?}, join C {:.2?} (find the offer by mDNS + pair); \
         all online {mesh:.2?} after the last join; entry on A and C {sync:.2?} after the add; \
         zeroconf resolved A and B in {:.2} s ({:?} s), A's offer in {:.2} s; instances {names:?}; total {:.2?}",
        joins[0],
        joins[1],
        browse.elapsed_s,
        browse.services.iter().map(|s| s.seen_s).collect::<Vec<_>>(),
        offered.elapsed_s,
        t0.elapsed(),
    );
}

#[test]
fn the_instance_name_stays_the_device_id_when_pairing_right_after_init() {
    let test = "the_instance_name_stays_the_device_id_when_pairing_right_after_init";
    if skip(test) {
        return;
    }
    // B only browses: no daemon there.
    let mut lab = Lab::new(&["A", "B"]);
    lab.nodes[0].start();
    let [a, b] = &lab.nodes[..] else {
        unreachable!("two nodes")
    };
    a.ctl_ok(&["init", "--name", "A", "--no-passphrase"]);
    a.wait_network();
    a.ctl_ok(&["pair"]);
    let id = a.status().device.expect("a device id");
    // mdns-sd probes a new name for about 0.75 s; watch well past that.
    let browse = b.browse(&[&id], 3);
    let names: Vec<&str> = browse
        .services
        .iter()
        .filter(|s| s.txt("id") == Some(id.as_str()))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, [format!("{id}.{SERVICE_TYPE}")], "{browse:#?}\n{}", a.log());
    lab.assert_no_daemon_panicked();
}
