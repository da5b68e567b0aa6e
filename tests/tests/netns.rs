//! Network namespaces, for what only a network shows: three `authd`s, each
//! in a namespace of its own with one veth into a shared bridge, find each
//! other with mDNS alone (no `--peer` anywhere). B and C join A through the
//! nameplate A announces, an entry added on B reaches A and C, every device
//! sees the other two online, and python-zeroconf (`tests/netns/browse.py`),
//! an mDNS implementation other than the daemons' own, resolves their
//! announcements with the TXT that DESIGN.md documents.
//!
//! The lab (namespaces, bridge, addresses from 198.18.0.0/15 only, cleanup
//! even on panic) is `authsync_tests::lab`.
//!
//! Needs root, `ip netns` (iproute2) and python3 with zeroconf. Without them
//! a test prints why and passes, except with `CI=true`, where it fails:
//! `.ci/run` installs all three.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use authsync_proto::ids::HouseholdId;
use authsync_proto::ipc::StatusReply;
use authsync_proto::wire::SYNC_PROTOCOL;
use authsync_tests::lab::{self, Lab, Node, PORT};
use authsync_tests::otp::{codes_between, totp};
use authsync_tests::{poll_until, unix_now};
use serde::Deserialize;

/// How long devices may take to find each other and sync.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the zeroconf browser may look.
const BROWSE_SECS: u64 = 10;
const SERVICE_TYPE: &str = "_authsync._udp.local.";
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const URI: &str = "otpauth://totp/Amazon:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Amazon";

/// `true` (after saying why) when this machine cannot run `test`: no lab,
/// or no python-zeroconf; with `CI=true` that fails the test instead.
fn skip(test: &str) -> bool {
    static ZEROCONF: OnceLock<Option<String>> = OnceLock::new();
    lab::skip(test, || {
        ZEROCONF
            .get_or_init(|| lab::script_check("browse.py", "python3 -m pip install zeroconf"))
            .clone()
    })
}

/// Runs `browse.py` in `node`'s namespace, on its address only.
#[track_caller]
fn browse_from(node: &Node, want: &[&str], settle_secs: u64) -> Browse {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &node.ns, "python3"])
        .arg(lab::script("browse.py"))
        .args(["--interface", &node.ip.to_string()])
        .args(["--timeout", &BROWSE_SECS.to_string()])
        .args(["--settle", &settle_secs.to_string()]);
    for id in want {
        cmd.args(["--want", id]);
    }
    let out = lab::run(&mut cmd, Duration::from_secs(BROWSE_SECS + 20));
    assert!(matches!(out.code(), Some(0 | 1)), "browse.py failed\n{out}");
    let browse: Browse = out.json();
    assert!(
        browse.complete,
        "zeroconf did not resolve all of {want:?} from {}\n{out}",
        node.name
    );
    browse
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
    let browse = browse_from(c, &[&ids[0], &ids[1]], 0);
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
    let offered = browse_from(b, &[&ids[0]], 0);
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
    let browse = browse_from(b, &[&id], 3);
    let names: Vec<&str> = browse
        .services
        .iter()
        .filter(|s| s.txt("id") == Some(id.as_str()))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, [format!("{id}.{SERVICE_TYPE}")], "{browse:#?}\n{}", a.log());
    lab.assert_no_daemon_panicked();
}
