//! Reach beyond one LAN, across network namespaces (`authsync_tests::lab`,
//! addresses from 198.18.0.0/15 only):
//!
//! - a static peer given by a DNS name is resolved again at every dial: the
//!   test moves the name to another device and the dialler follows it
//!   without a restart;
//! - a relay joins two networks with no route between them: `home`
//!   (alice-laptop and bob-desktop, mDNS on) and `office` (bob-laptop),
//!   and the relay in `net`, reached from both by the DNS name
//!   `relay.household.test`.
//!
//! Names come from each namespace's own hosts file: `ip netns exec NS`
//! bind-mounts `/etc/netns/NS/hosts` over `/etc/hosts` for what it runs,
//! and the test rewrites that file in place (same inode) to move a name.
//! All namespaces hang off one bridge; "no route" between home and office
//! is a blackhole route each way between every home device and the office
//! laptop ([`Lab::split`]), and mDNS runs at home only.
//!
//! Needs root and `ip netns`; without them a test prints why and passes,
//! except with `CI=true`, where it fails.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use authsync_tests::lab::{self, Lab, Node, PORT};
use authsync_tests::otp::{codes_between, totp};
use authsync_tests::{poll_until, unix_now};

const SYNC: Duration = Duration::from_secs(20);
const RELAY_NAME: &str = "relay.household.test";
const BANK: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const BANK_ROTATED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const MAIL: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

/// `/etc/netns/NS/hosts` of some namespaces, removed on drop.
struct Hosts(Vec<PathBuf>);

impl Hosts {
    fn new() -> Hosts {
        Hosts(Vec::new())
    }

    /// Writes `NS`'s hosts file in place: `ip` names `name`.
    fn set(&mut self, node: &Node, entries: &[(&str, std::net::Ipv4Addr)]) {
        let dir = PathBuf::from("/etc/netns").join(&node.ns);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hosts");
        let mut text = String::from("127.0.0.1 localhost\n");
        for (name, ip) in entries {
            text.push_str(&format!("{ip} {name}\n"));
        }
        // In place: a running daemon sees the bind mount of this inode.
        std::fs::write(&file, text).unwrap();
        if !self.0.contains(&dir) {
            self.0.push(dir);
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `authctl code QUERY` on `node` prints a code `secret` gives now.
fn has_code(node: &Node, query: &str, secret: &str) -> bool {
    let from = unix_now();
    let out = node.ctl(&["code", query]);
    let to = unix_now();
    out.code() == Some(0) && codes_between(secret, &totp(), from, to).iter().any(|c| c == out.line())
}

#[track_caller]
fn wait_code(node: &Node, query: &str, secret: &str, what: &str) {
    assert!(
        poll_until(SYNC, || has_code(node, query, secret)),
        "{}: {what} within {SYNC:?}\n{}\n{}",
        node.name,
        node.ctl(&["code", query]),
        node.log()
    );
}

fn online(node: &Node, name: &str) -> bool {
    node.devices().iter().any(|d| d.name == name && d.online)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn a_static_peer_name_follows_its_address() {
    let test = "a_static_peer_name_follows_its_address";
    if lab::skip(test, || None) {
        return;
    }
    let mut lab = Lab::new(&["A", "B", "C"]);
    let mut hosts = Hosts::new();
    let (a_ip, c_ip) = (lab.nodes[0].ip, lab.nodes[2].ip);
    hosts.set(&lab.nodes[1], &[("peer.household.test", a_ip)]);
    let peer = format!("peer.household.test:{PORT}");
    lab.nodes[0].start_with(&args(&["--no-mdns"]));
    lab.nodes[2].start_with(&args(&["--no-mdns"]));
    lab.nodes[1].start_with(&args(&["--no-mdns", "--peer", &peer]));
    let [a, b, c] = &mut lab.nodes[..] else {
        unreachable!("three nodes")
    };
    a.ctl_ok(&["init", "--name", "A", "--no-passphrase"]);
    a.wait_network();
    let a_addr = a.listen();
    for joiner in [&*c, &*b] {
        let code = a.ctl_ok(&["pair"]);
        joiner.ctl_ok(&[
            "join",
            code.trim(),
            "--peer",
            &a_addr,
            "--name",
            &joiner.name,
            "--no-passphrase",
        ]);
    }
    // C knows only A; B knows A as its sponsor and the name.
    assert!(poll_until(SYNC, || online(b, "A")), "B never reached A\n{}", b.log());
    let seen = b.devices();
    let a_seen = seen.iter().find(|d| d.name == "A").unwrap();
    assert!(matches!(a_seen.reached.as_deref(), Some("static")), "{a_seen:?}");

    // The name moves to C and A goes away: B, not restarted, follows it.
    hosts.set(b, &[("peer.household.test", c_ip)]);
    a.stop();
    assert!(
        poll_until(SYNC, || online(b, "C")),
        "B did not follow the name to C\n{:?}\n{}",
        b.devices(),
        b.log()
    );
    let seen = b.devices();
    let c_seen = seen.iter().find(|d| d.name == "C").unwrap();
    assert_eq!(c_seen.reached.as_deref(), Some("static"), "{c_seen:?}");
    assert_eq!(
        c_seen.addr.as_deref(),
        Some(format!("{c_ip}:{PORT}").as_str()),
        "{c_seen:?}"
    );
    c.ctl_ok(&["add", "--secret", BANK, "--issuer", "Bank", "--account", "alice"]);
    wait_code(b, "bank", BANK, "C's entry through the moved name");
    lab.assert_no_daemon_panicked();
}

#[test]
fn a_relay_joins_home_and_office() {
    let test = "a_relay_joins_home_and_office";
    if lab::skip(test, || None) {
        return;
    }
    let mut lab = Lab::new(&["alice", "bobdesk", "boblap", "relay"]);
    let mut hosts = Hosts::new();
    let relay_ip = lab.nodes[3].ip;
    for i in 0..3 {
        hosts.set(&lab.nodes[i], &[(RELAY_NAME, relay_ip)]);
    }
    let relay_peer = format!("{RELAY_NAME}:{PORT}");

    // Everyone is paired at home first (pairing needs a direct link).
    lab.nodes[0].start();
    lab.nodes[1].start();
    lab.nodes[2].start_with(&args(&["--no-mdns"]));
    lab.nodes[3].start_with(&args(&["--no-mdns", "--relay"]));
    {
        let [alice, bobdesk, boblap, relay] = &lab.nodes[..] else {
            unreachable!("four nodes")
        };
        alice.ctl_ok(&["init", "--name", "alice-laptop", "--no-passphrase"]);
        alice.wait_network();
        let alice_addr = alice.listen();
        let code = alice.ctl_ok(&["pair"]);
        relay.ctl_ok(&["join", code.trim(), "--relay", "--peer", &alice_addr, "--name", "relay"]);
        let code = alice.ctl_ok(&["pair"]);
        bobdesk.ctl_ok(&["join", code.trim(), "--name", "bob-desktop", "--no-passphrase"]);
        let code = alice.ctl_ok(&["pair"]);
        boblap.ctl_ok(&[
            "join",
            code.trim(),
            "--peer",
            &alice_addr,
            "--name",
            "bob-laptop",
            "--no-passphrase",
        ]);
    }
    // bob-laptop goes to the office: no route to home, the relay by name.
    lab.split("alice", "boblap");
    lab.split("bobdesk", "boblap");
    for i in 0..3 {
        let mut extra = vec!["--peer".to_string(), relay_peer.clone()];
        if i == 2 {
            extra.push("--no-mdns".into());
        }
        lab.nodes[i].stop();
        lab.nodes[i].start_with(&extra);
    }
    let [alice, bobdesk, boblap, relay] = &mut lab.nodes[..] else {
        unreachable!("four nodes")
    };
    for node in [&*alice, &*bobdesk, &*boblap] {
        assert!(
            poll_until(SYNC, || online(node, "relay")),
            "{} never reached the relay by name\n{}",
            node.name,
            node.log()
        );
    }
    assert!(
        poll_until(SYNC, || online(alice, "bob-desktop")),
        "home did not mesh\n{}",
        alice.log()
    );

    // An entry added on alice-laptop is served on bob-laptop.
    alice.ctl_ok(&[
        "add",
        "--secret",
        BANK,
        "--issuer",
        "Bank",
        "--account",
        "alice@example.com",
    ]);
    wait_code(boblap, "bank", BANK, "alice-laptop's entry through the relay");
    let seen = boblap.devices();
    let alice_seen = seen.iter().find(|d| d.name == "alice-laptop").unwrap();
    assert_eq!(alice_seen.reached.as_deref(), Some("relay"), "{seen:?}");
    assert!(
        !alice_seen.online,
        "the office laptop has no route home: {alice_seen:?}"
    );

    // A rotation on bob-laptop reaches both home devices.
    boblap.ctl_ok(&["rotate", "bank", "--secret", BANK_ROTATED]);
    wait_code(alice, "bank", BANK_ROTATED, "bob-laptop's rotation");
    wait_code(bobdesk, "bank", BANK_ROTATED, "bob-laptop's rotation");

    // The relay goes away: home still syncs; the office laptop catches up
    // when the relay returns.
    relay.stop();
    bobdesk.ctl_ok(&["add", "--secret", MAIL, "--issuer", "Mail", "--account", "bob"]);
    wait_code(
        alice,
        "mail",
        MAIL,
        "bob-desktop's entry over the home LAN without the relay",
    );
    assert!(
        !has_code(boblap, "mail", MAIL),
        "the office laptop has no way to it yet"
    );
    relay.start_with(&args(&["--no-mdns", "--relay"]));
    wait_code(boblap, "mail", MAIL, "bob-desktop's entry once the relay is back");

    // The relay holds no entry, account name or secret anywhere.
    relay.stop();
    let names: [&[u8]; 6] = [
        b"alice@example.com",
        b"Bank",
        b"Mail",
        BANK.as_bytes(),
        BANK_ROTATED.as_bytes(),
        MAIL.as_bytes(),
    ];
    let mut stack = vec![relay.home.path().to_path_buf()];
    for _ in 0..10_000 {
        let Some(dir) = stack.pop() else { break };
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                for needle in names {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle),
                        "{} holds {:?}",
                        path.display(),
                        String::from_utf8_lossy(needle)
                    );
                }
            }
        }
    }
    lab.assert_no_daemon_panicked();
}
