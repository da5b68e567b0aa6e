//! Reach beyond one LAN, on loopback: a static peer given as an IPv6
//! literal connects, and a relay (`authd --relay`, `join --relay`) stores
//! and forwards every record while holding nothing readable. The same
//! across network namespaces, with DNS names, is `relay_netns.rs`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use authsync_proto::ids::{DeviceId, EpochId};
use authsync_proto::record::Body;
use authsync_proto::wire::Frame;
use authsync_tests::household::{self, device, devices, online};
use authsync_tests::{Instance, path_str, peer, wait_until};

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SYNC: Duration = Duration::from_secs(15);

/// Every file under `dir`, read whole.
fn all_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    // Bounded: a vault holds a few dozen files.
    for _ in 0..10_000 {
        let Some(dir) = stack.pop() else { break };
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path.display().to_string(), bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn an_ipv6_static_peer_connects() {
    if let Err(e) = std::net::UdpSocket::bind("[::1]:0") {
        println!("an_ipv6_static_peer_connects: skipped: no IPv6 loopback here ({e})");
        return;
    }
    let mut a = Instance::new();
    a.set_daemon_args(&["-v", "--listen", "[::1]:0"]);
    a.start();
    a.ctl_ok(&["init", "--no-passphrase", "--name", "a"]);
    let a_addr = a.listen_addr();
    assert!(a_addr.starts_with("[::1]:"), "{a_addr}");
    let code = household::pair(&a);
    let mut b = Instance::new();
    b.set_daemon_args(&["-v", "--listen", "[::1]:0", "--peer", &a_addr]);
    b.start();
    b.ctl_ok(&["join", &code, "--peer", &a_addr, "--name", "b", "--no-passphrase"]);
    wait_until(SYNC, "b to see a online over IPv6", || online(&b, "a"));
    let seen = devices(&b);
    let a_seen = device(&seen, "a");
    assert_eq!(a_seen.reached.as_deref(), Some("static"), "{a_seen:?}");
    assert!(a_seen.addr.as_deref().unwrap().starts_with("[::1]:"), "{a_seen:?}");
    household::add(&a, "Bank", "alice", SECRET);
    wait_until(SYNC, "the entry on b", || b.ctl(&["code", "bank"]).code() == Some(0));
}

#[test]
fn a_malformed_static_peer_is_refused_at_start() {
    let mut a = Instance::new();
    a.set_daemon_args(&["--peer", "no port here"]);
    let message = a.start_refused();
    assert!(message.contains("is not HOST:PORT"), "{message}");
}

#[test]
fn a_relay_stores_and_forwards_and_reads_nothing() {
    let a = household::founder("alice-laptop");
    let a_addr = a.listen_addr();

    // The relay: started with --relay, refuses to found a household, and
    // joins with --relay alone (no passphrase).
    let mut relay = Instance::new();
    relay.set_daemon_args(&["-v", "--relay"]);
    relay.start();
    let refused = relay.ctl(&["init", "--name", "relay", "--no-passphrase"]);
    assert_eq!(refused.code(), Some(2), "{refused}");
    assert!(refused.stderr.contains("relay"), "{refused}");
    let code = household::pair(&a);
    relay.ctl_ok(&["join", &code, "--relay", "--peer", &a_addr, "--name", "relay"]);
    wait_until(SYNC, "alice-laptop and the relay online together", || {
        online(&a, "relay") && online(&relay, "alice-laptop")
    });
    let on_a = devices(&a);
    assert_eq!(device(&on_a, "relay").role.as_deref(), Some("relay"));
    let refused = relay.ctl(&["pair"]);
    assert_eq!(refused.code(), Some(2), "{refused}");
    assert!(refused.stderr.contains("relay"), "{refused}");
    assert_eq!(device(&on_a, "alice-laptop").role.as_deref(), Some("device"));

    // A device joins a normal daemon only without --relay, and a relay
    // daemon only with it.
    let mut plain = Instance::started();
    let code = household::pair(&a);
    let refused = plain.ctl(&["join", &code, "--relay", "--peer", &a_addr, "--name", "x"]);
    assert_eq!(refused.code(), Some(2), "{refused}");
    assert!(refused.stderr.contains("--relay"), "{refused}");
    plain.stop();

    // bob-laptop joins through alice-laptop, then only ever dials the relay.
    let mut b = household::join(&a, "bob-laptop");
    b.stop();
    household::start_dialling(&mut b, &[&relay]);
    wait_until(SYNC, "bob-laptop and the relay online together", || {
        online(&b, "relay") && online(&relay, "bob-laptop")
    });

    // With bob-laptop away, alice-laptop adds an entry; it reaches the relay;
    // alice-laptop goes away; bob-laptop comes back and gets it from the relay.
    b.stop();
    household::add(&a, "Bank", "alice@example.com", SECRET);
    let held = a.status().records;
    wait_until(SYNC, "the relay to hold every record", || {
        relay.status().records == held
    });
    let mut a = a;
    a.stop();
    a.set_daemon_args(&["-v"]);
    household::start_dialling(&mut b, &[&relay]);
    wait_until(SYNC, "the entry on bob-laptop through the relay", || {
        b.ctl(&["code", "bank"]).code() == Some(0)
    });
    let on_b = devices(&b);
    assert_eq!(
        device(&on_b, "alice-laptop").reached.as_deref(),
        Some("relay"),
        "{on_b:?}"
    );
    assert_eq!(device(&on_b, "relay").role.as_deref(), Some("relay"));

    // The relay reads nothing and writes nothing: no entry, no account
    // name, no secret anywhere in its data dir; no entries when asked.
    assert_eq!(relay.status().entries.unwrap_or(0), 0);
    let refused = relay.ctl(&["add", "--secret", SECRET, "--issuer", "X", "--account", "y"]);
    assert_ne!(refused.code(), Some(0), "{refused}");
    assert!(refused.stderr.contains("relay"), "{refused}");
    let raw_secret = [0x48u8, 0x65, 0x6c, 0x6c, 0x6f, 0x21, 0xde, 0xad, 0xbe, 0xef];
    for (path, bytes) in all_bytes(&relay.data_dir()) {
        for needle in [&b"alice@example.com"[..], b"Bank", SECRET.as_bytes(), &raw_secret] {
            assert!(
                !contains(&bytes, needle),
                "{path} holds {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
    assert!(
        relay.data_dir().join("vault.key").exists(),
        "{}",
        path_str(&relay.data_dir())
    );

    // Its signing key (sealed by the key file beside the store) signs
    // nothing any member takes: a Revoke, a Member, an Epoch, each refused
    // by every running member, which ends the session and changes nothing.
    relay.stop();
    let keys = peer::stolen(&relay.data_dir());
    a.start();
    let bob: DeviceId = b.status().device.unwrap().parse().unwrap();
    for member in [&a, &b] {
        let before = member.snapshot();
        let stranger = peer::stranger();
        let attempts = [
            Body::Revoke {
                device: bob,
                last_seq: 0,
            },
            Body::Member {
                member: Box::new(stranger.member_info("mallory")),
                transcript: [7; 32],
                joiner_signature: vec![0; 64],
            },
            Body::Epoch {
                epoch: EpochId([0xee; 16]),
                counter: 99,
                commitment: [0; 32],
                envelopes: Vec::new(),
            },
        ];
        for body in attempts {
            let target = peer::Target::of(member);
            let mut session = peer::Session::open(&keys, &target, Default::default());
            let record = session.next_record(body);
            session.send(&Frame::Records(vec![record])).unwrap();
            assert!(session.ended().is_some(), "the member ended the session");
        }
        wait_until(SYNC, "the refusal in the log", || {
            member
                .daemon_log()
                .lines()
                .any(|l| l.contains("refused a record from a peer") && l.contains("relay"))
        });
        member.assert_unchanged(&before);
    }

    // Revoked like any device: bob-laptop revokes it, and it is out.
    b.ctl_ok(&["revoke", "relay", "--yes"]);
    let on_b = devices(&b);
    assert!(device(&on_b, "relay").revoked, "{on_b:?}");
}
