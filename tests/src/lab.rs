//! A lab of network namespaces, for what only a network shows: a bridge in
//! a namespace of its own and one namespace per device, each with `eth0`
//! on a veth into the bridge, running real `authd` and `authctl` there.
//!
//! - Addresses come from 198.18.0.0/15 (RFC 2544's benchmarking range)
//!   only; the host's interfaces are never touched and nothing leaves the
//!   namespaces.
//! - Needs root and `ip netns` (iproute2). Without them [`skip`] prints
//!   why and lets the test pass, except with `CI=true`, where it fails.
//! - A [`Lab`] kills its daemons and wires and deletes its namespaces when
//!   it is dropped, panic or not; namespaces left by a run that was killed
//!   outright (its pid gone) are deleted by the next [`Lab::new`].
//! - Faults: [`Lab::cut`] and [`Lab::heal`] take a device's bridge port
//!   down and up (`ip link`); [`Lab::split`] keeps two devices apart while
//!   both reach the rest (blackhole routes); [`Lab::impair`] puts `tests/netns/wire.py`
//!   between a device and the bridge, a user-space stand-in for `tc
//!   netem` (loss, delay, reordering) for kernels without sch_netem.

use std::fs::OpenOptions;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use authsync_proto::ipc::{Reply, Request, StatusReply};
use tempfile::TempDir;

use crate::{CTL_TIMEOUT, Output, READY_TIMEOUT, authctl_bin, authd_bin, path_str, poll_until, raw, running};

/// Every namespace of these tests is named `PREFIX<pid>-<n>-<role>`.
pub const PREFIX: &str = "authsync-t";
/// The port every daemon listens on (each in its own namespace).
pub const PORT: u16 = 47_811;
/// How long links may take to come up, and a bridge port to forward.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a plain command (`ip`, python's import check) may take.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(20);

/// `tests/netns/NAME`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("netns").join(name)
}

/// Runs `cmd` to its end and returns what it printed; fails the test if it
/// runs over `timeout` (after killing it).
#[track_caller]
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
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

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<Box<dyn Read + Send>>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `ip ARGS`, which must succeed.
#[track_caller]
pub fn ip(args: &[&str]) -> String {
    let out = run(Command::new("ip").args(args), CMD_TIMEOUT);
    assert_eq!(out.code(), Some(0), "`ip` failed\n{out}");
    out.stdout
}

/// Why no lab can run on this machine, if it cannot. Checked once per
/// process: the tests run in parallel, and the probe namespace's name is
/// the process's.
pub fn missing_prerequisite() -> Option<String> {
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
        Err(e) => Some(format!("`ip` cannot run ({e}); install iproute2")),
        Ok(out) if !out.status.success() => Some(format!(
            "`ip netns add` fails: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => {
            let _ = Command::new("ip").args(["netns", "delete", &probe]).output();
            None
        }
    }
}

/// Why `python3 tests/netns/SCRIPT --check` says it cannot work here, if
/// it does.
pub fn script_check(name: &str, hint: &str) -> Option<String> {
    let script = script(name);
    match Command::new("python3").arg(&script).arg("--check").output() {
        Err(e) => Some(format!("python3 cannot run ({e})")),
        Ok(out) if !out.status.success() => Some(format!(
            "{} --check failed ({hint}): {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// `true` (after saying why) when this machine cannot run `test`: no lab
/// here, or `also` (what the test needs beyond one) says why; with
/// `CI=true` that fails the test instead: CI must run it.
pub fn skip(test: &str, also: impl FnOnce() -> Option<String>) -> bool {
    let Some(reason) = missing_prerequisite().or_else(also) else {
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
/// daemons and wires), then deletes it.
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
pub struct Node {
    /// The test's name for it (`A`, `B`, ...).
    pub name: String,
    /// Its namespace.
    pub ns: String,
    /// `eth0`'s address.
    pub ip: Ipv4Addr,
    /// Its `AUTHSYNC_HOME`.
    pub home: TempDir,
    daemon: Option<Child>,
    /// What `authd` was last started with beyond `--listen`.
    args: Vec<String>,
}

impl Node {
    fn log_path(&self) -> PathBuf {
        self.home.path().join("authd.stderr")
    }

    /// What every `authd` started here wrote on stderr, one after another.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `IP:PORT`, where its daemon listens.
    pub fn listen(&self) -> String {
        format!("{}:{PORT}", self.ip)
    }

    /// The bridge's port towards this node.
    pub fn port(&self) -> String {
        format!("veth-{}", self.name.to_lowercase())
    }

    /// `ip netns exec NS env AUTHSYNC_HOME=HOME VARS... PROGRAM`.
    pub fn in_namespace(&self, program: &Path, vars: &[&str]) -> Command {
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
    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// [`Node::start`] with `args` added (`--peer ADDR`, ...); a later
    /// [`Node::restart`] uses them again.
    #[track_caller]
    pub fn start_with(&mut self, args: &[String]) {
        assert!(self.daemon.is_none(), "{}: authd is already running", self.name);
        self.args = args.to_vec();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("a file for authd's stderr");
        let child = self
            .in_namespace(&authd_bin(), &["RUST_LOG=info,sled=warn,authsync_daemon=debug"])
            .args(["--listen", &self.listen()])
            .args(&self.args)
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

    /// Stops the daemon with `authctl shutdown` and waits until it exited
    /// cleanly.
    #[track_caller]
    pub fn stop(&mut self) {
        self.ctl_ok(&["shutdown"]);
        let mut child = self.daemon.take().expect("authd is running");
        let mut status = None;
        poll_until(READY_TIMEOUT, || {
            status = child.try_wait().expect("waiting for authd works");
            status.is_some()
        });
        match status {
            Some(status) => assert!(
                status.success(),
                "{}: authd exited with {status}\n{}",
                self.name,
                self.log()
            ),
            None => {
                self.daemon = Some(child);
                panic!(
                    "{}: authd did not exit after `authctl shutdown`\n{}",
                    self.name,
                    self.log()
                );
            }
        }
    }

    /// Stops the daemon and starts it again with the same arguments.
    #[track_caller]
    pub fn restart(&mut self) {
        self.stop();
        let args = std::mem::take(&mut self.args);
        self.start_with(&args);
    }

    /// `authctl ARGS` in the namespace.
    pub fn ctl(&self, args: &[&str]) -> Output {
        run(self.in_namespace(&authctl_bin(), &[]).args(args), CTL_TIMEOUT)
    }

    /// `authctl ARGS`, which must succeed; its stdout.
    #[track_caller]
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        if out.code() != Some(0) {
            panic!("{}: authctl failed\n{out}\n{}", self.name, self.log());
        }
        out.stdout
    }

    /// `authctl --json ARGS`, which must succeed, parsed.
    #[track_caller]
    pub fn ctl_json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ctl(&all);
        if out.code() != Some(0) {
            panic!("{}: authctl failed\n{out}\n{}", self.name, self.log());
        }
        out.json()
    }

    /// `authctl --json status`.
    #[track_caller]
    pub fn status(&self) -> StatusReply {
        self.ctl_json(&["status"])
    }

    /// Waits until the network is up (the QUIC endpoint listens and the
    /// device is announced): it starts a moment after `init` or `join`
    /// answers, and until then `pair` refuses ("try again in a moment").
    #[track_caller]
    pub fn wait_network(&self) {
        let up = poll_until(READY_TIMEOUT, || self.status().listen.is_some());
        assert!(
            up,
            "{}: the network did not start within {READY_TIMEOUT:?}\n{}",
            self.name,
            self.log()
        );
    }

    /// `authctl --json devices`.
    #[track_caller]
    pub fn devices(&self) -> Vec<authsync_proto::ipc::DeviceInfo> {
        self.ctl_json(&["devices"])
    }
}

/// How [`Lab::impair`] spoils the frames towards one device: what `tc
/// qdisc add dev PORT root netem loss LOSS delay DELAY JITTER reorder
/// REORDER` would do on the bridge's port.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    /// The share of frames dropped, 0 to 1.
    pub loss: f64,
    /// How long each frame is held.
    pub delay: Duration,
    /// Up to this much more, at random.
    pub jitter: Duration,
    /// The share of frames sent at once, overtaking the held ones.
    pub reorder: f64,
    /// Seeds the wire's dice, so a run can be repeated.
    pub seed: u64,
}

/// A running `wire.py` between a node's port and a spare bridge port.
struct Wire {
    node: usize,
    child: Child,
    stdout: Option<std::thread::JoinHandle<String>>,
}

/// Namespaces on one bridge, and their daemons; all of it goes on drop.
pub struct Lab {
    /// Every namespace created so far, the bridge's first.
    namespaces: Vec<String>,
    /// The devices, in the order given to [`Lab::new`].
    pub nodes: Vec<Node>,
    bridge: String,
    wires: Vec<Wire>,
}

impl Lab {
    /// A bridge in its own namespace and one namespace per name, with
    /// `eth0` at 198.18.0.1, .2, …; returns once every link is up and every
    /// bridge port forwards (mdns-sd only sees interfaces that are up when
    /// it starts, and rescans every few seconds).
    #[track_caller]
    pub fn new(names: &[&str]) -> Lab {
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
            bridge: String::new(),
            wires: Vec::new(),
        };
        let bridge = lab.add_namespace(&format!("{run}-br"));
        lab.bridge.clone_from(&bridge);
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
                args: Vec::new(),
            });
        }
        let ready = poll_until(LINK_TIMEOUT, || {
            link_up(&bridge, "br0", "state UP")
                && lab.nodes.iter().all(|n| {
                    link_up(&n.ns, "lo", "") && link_up(&n.ns, "eth0", "state UP") && port_forwards(&bridge, &n.port())
                })
        });
        if !ready {
            panic!("links not up within {LINK_TIMEOUT:?}\n{}", lab.links());
        }
        lab
    }

    /// Every link of every namespace, for failure messages.
    fn links(&self) -> String {
        let mut links = ip(&["-n", &self.bridge, "-br", "link"]);
        for node in &self.nodes {
            links.push_str(&ip(&["-n", &node.ns, "-br", "link"]));
        }
        links
    }

    /// Creates namespace `name` with `lo` up, remembered for cleanup.
    #[track_caller]
    fn add_namespace(&mut self, name: &str) -> String {
        ip(&["netns", "add", name]);
        self.namespaces.push(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"]);
        name.to_string()
    }

    /// The node called `name`.
    #[track_caller]
    fn index(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// Cuts node `name` off: its bridge port goes down (`ip link set
    /// veth-NAME down`), so nothing reaches it or leaves it. Whatever
    /// impairs its link stays in place.
    #[track_caller]
    pub fn cut(&self, name: &str) {
        let port = self.nodes[self.index(name)].port();
        ip(&["-n", &self.bridge, "link", "set", &port, "down"]);
    }

    /// Undoes [`Lab::cut`]: returns once the port forwards again.
    #[track_caller]
    pub fn heal(&self, name: &str) {
        let node = &self.nodes[self.index(name)];
        let port = node.port();
        ip(&["-n", &self.bridge, "link", "set", &port, "up"]);
        let impaired = self.wires.iter().any(|w| self.nodes[w.node].name == name);
        let ready = poll_until(LINK_TIMEOUT, || {
            link_up(&node.ns, "eth0", "state UP")
                && if impaired {
                    link_up(&self.bridge, &port, "state UP")
                } else {
                    port_forwards(&self.bridge, &port)
                }
        });
        assert!(
            ready,
            "{name}'s link not back up within {LINK_TIMEOUT:?}\n{}",
            self.links()
        );
    }

    /// Splits nodes `x` and `y` apart while both still reach everyone
    /// else: each gets a blackhole route to the other's address (`ip route
    /// add blackhole`), so no packet between the two leaves either.
    #[track_caller]
    pub fn split(&self, x: &str, y: &str) {
        let (x, y) = (&self.nodes[self.index(x)], &self.nodes[self.index(y)]);
        for (from, to) in [(x, y), (y, x)] {
            ip(&["-n", &from.ns, "route", "add", "blackhole", &format!("{}/32", to.ip)]);
        }
    }

    /// Undoes [`Lab::split`].
    #[track_caller]
    pub fn join(&self, x: &str, y: &str) {
        let (x, y) = (&self.nodes[self.index(x)], &self.nodes[self.index(y)]);
        for (from, to) in [(x, y), (y, x)] {
            ip(&["-n", &from.ns, "route", "delete", "blackhole", &format!("{}/32", to.ip)]);
        }
    }

    /// Puts `tests/netns/wire.py` between node `name` and the bridge: its
    /// port leaves the bridge, and a spare veth pair (`wa-NAME` for the
    /// wire, `wb-NAME` on the bridge) takes its place behind the wire,
    /// which spoils the frames towards the node as `how` says.
    #[track_caller]
    pub fn impair(&mut self, name: &str, how: Impairment) {
        let index = self.index(name);
        assert!(
            !self.wires.iter().any(|w| w.node == index),
            "{name}'s link is already impaired"
        );
        let br = self.bridge.clone();
        let port = self.nodes[index].port();
        let lower = name.to_lowercase();
        let (wa, wb) = (format!("wa-{lower}"), format!("wb-{lower}"));
        ip(&["-n", &br, "link", "set", &port, "nomaster"]);
        ip(&["-n", &br, "link", "add", &wa, "type", "veth", "peer", "name", &wb]);
        ip(&["-n", &br, "link", "set", &wb, "master", "br0"]);
        ip(&["-n", &br, "link", "set", &wb, "up"]);
        ip(&["-n", &br, "link", "set", &wa, "up"]);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &br, "python3"])
            .arg(script("wire.py"))
            .args(["--port", &port, "--spare", &wa])
            .args(["--loss", &how.loss.to_string()])
            .args(["--delay-ms", &how.delay.as_millis().to_string()])
            .args(["--jitter-ms", &how.jitter.as_millis().to_string()])
            .args(["--reorder", &how.reorder.to_string()])
            .args(["--seed", &how.seed.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ip netns exec python3 runs");
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        self.wires.push(Wire {
            node: index,
            child,
            stdout: Some(stdout),
        });
        let ready = poll_until(LINK_TIMEOUT, || port_forwards(&br, &wb));
        assert!(ready, "{wb} does not forward within {LINK_TIMEOUT:?}\n{}", self.links());
    }

    /// Takes the wire away from node `name` and puts its port back on the
    /// bridge; returns what the wire counted (one JSON line).
    #[track_caller]
    pub fn clear_impairment(&mut self, name: &str) -> String {
        let index = self.index(name);
        let at = self
            .wires
            .iter()
            .position(|w| w.node == index)
            .unwrap_or_else(|| panic!("{name}'s link is not impaired"));
        let mut wire = self.wires.remove(at);
        let pid = nix::unistd::Pid::from_raw(wire.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let mut status = None;
        poll_until(CMD_TIMEOUT, || {
            status = wire.child.try_wait().expect("waiting for wire.py works");
            status.is_some()
        });
        if status.is_none() {
            let _ = wire.child.kill();
            let _ = wire.child.wait();
            panic!("wire.py did not stop on SIGTERM");
        }
        let counts = wire
            .stdout
            .take()
            .map(|h| h.join().expect("the stdout reader does not panic"))
            .unwrap_or_default();
        let br = self.bridge.clone();
        let port = self.nodes[index].port();
        ip(&["-n", &br, "link", "delete", &format!("wa-{}", name.to_lowercase())]);
        ip(&["-n", &br, "link", "set", &port, "master", "br0"]);
        let up = poll_until(LINK_TIMEOUT, || port_forwards(&br, &port));
        assert!(up, "{port} does not forward within {LINK_TIMEOUT:?}\n{}", self.links());
        counts.trim().to_string()
    }

    /// Fails the test if any daemon panicked, even if everything else held.
    #[track_caller]
    pub fn assert_no_daemon_panicked(&self) {
        for node in &self.nodes {
            let log = node.log();
            assert!(!log.contains("panicked at"), "{}: authd panicked\n{log}", node.name);
        }
    }
}

/// Whether `dev` in `ns` is up and carries, and its details say `also`.
/// (`lo`'s operational state stays UNKNOWN: its flags say it is up.)
fn link_up(ns: &str, dev: &str, also: &str) -> bool {
    let link = ip(&["-n", ns, "-d", "-o", "link", "show", "dev", dev]);
    link.contains("LOWER_UP") && link.contains(also)
}

/// Whether bridge port `dev` in `ns` is up and forwarding.
fn port_forwards(ns: &str, dev: &str) -> bool {
    link_up(ns, dev, "state UP") && link_up(ns, dev, "bridge_slave state forwarding")
}

impl Drop for Lab {
    fn drop(&mut self) {
        for wire in &mut self.wires {
            let _ = wire.child.kill();
            let _ = wire.child.wait();
        }
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
