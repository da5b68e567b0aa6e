//! Sync between real daemons on loopback, with static peers only (no mDNS):
//! every change on one device shows on the others, through a device that
//! meets both when two never meet; edits made apart merge, with every
//! version kept; a locked device still stores and forwards records; a peer
//! that does not answer, or belongs to another household, changes nothing.
//!
//! Every daemon listens on a fresh loopback port at each start, so one that
//! restarts is reachable again only through a `--peer` given to it or to the
//! one that dials it. A partition is a stopped daemon.
//!
//! Codes are checked against an independent computation from the secret the
//! test chose (`authsync_proto::otp`), and between devices for the same
//! 30-second window.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::Duration;

use authsync_proto::ids::DeviceId;
use authsync_proto::ipc::{EntrySummary, VersionInfo};
use authsync_tests::household::{add, device, devices, founder, join, join_with, online, pair, start_dialling};
use authsync_tests::otp::{RFC4226_CODES, RFC4226_SECRET, codes_between, hotp, totp};
use authsync_tests::{Instance, poll_until, running, unix_now, wait_until};

const AMAZON_SECRET: &str = "JBSWY3DPEHPK3PXP";
/// What Amazon issues on a re-enrolment.
const AMAZON_NEW_SECRET: &str = "KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF";
const GITHUB_SECRET: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
const GITHUB_NEW_SECRET: &str = "KNSWG4TFORZWKY3SMV2HG5LQMVZHG2LQ";

/// How long a change may take to reach a peer whose session is up.
const PROPAGATE: Duration = Duration::from_secs(5);
/// How long sessions may take to come up after a start (dialling, backoff).
const CONNECT: Duration = Duration::from_secs(15);
/// How long something that must never happen is watched for, once the
/// attempts that would make it happen were seen.
const QUIET: Duration = Duration::from_secs(2);
/// What a daemon logs (at debug) when the peer it dialled is no member.
const REFUSED_SERVER: &str = "refused a server that is not the expected member";

// ---------------------------------------------------------------- helpers

/// `show --json QUERY`, or `None` when nothing matches (yet).
#[track_caller]
fn try_show(inst: &Instance, query: &str) -> Option<EntrySummary> {
    let out = inst.ctl(&["--json", "show", "--deleted", query]);
    match out.code() {
        Some(0) => Some(out.json()),
        Some(4) => None,
        _ => panic!("show failed\n{out}\n{}", inst.daemon_log()),
    }
}

/// Waits until `to` shows the entry `query` exactly as `from` does now;
/// returns it.
#[track_caller]
fn follows(from: &Instance, to: &Instance, query: &str, what: &str) -> EntrySummary {
    let expected: EntrySummary = from.ctl_json(&["show", "--deleted", query]);
    wait_until(PROPAGATE, what, || try_show(to, query).as_ref() == Some(&expected));
    expected
}

/// `list --deleted --json`.
#[track_caller]
fn everything(inst: &Instance) -> Vec<EntrySummary> {
    inst.ctl_json(&["list", "--deleted"])
}

/// `history --json --deleted QUERY` (the entry may be deleted on one side).
#[track_caller]
fn history(inst: &Instance, query: &str) -> Vec<VersionInfo> {
    inst.ctl_json(&["history", "--deleted", query])
}

/// The records of every version of `query`.
#[track_caller]
fn version_ids(inst: &Instance, query: &str) -> BTreeSet<String> {
    history(inst, query).into_iter().map(|v| v.record).collect()
}

/// Asserts that `authctl code QUERY` prints the same code on every one of
/// `insts` within one 30-second window, and that it is the code `secret`
/// gives then (one second of slack each side).
#[track_caller]
fn same_code(insts: &[&Instance], query: &str, secret: &str) {
    for _ in 0..3 {
        let from = unix_now();
        let codes: Vec<String> = insts.iter().map(|i| i.code(query)).collect();
        let to = unix_now();
        if from / 30 != to / 30 {
            // The runs straddled a period boundary: try again.
            continue;
        }
        let expected = codes_between(secret, &totp(), from, to);
        assert!(
            codes.iter().all(|c| *c == codes[0]) && expected.contains(&codes[0]),
            "codes for {query}: {codes:?}, expected one of {expected:?} on every device"
        );
        return;
    }
    panic!("three tries at comparing codes each straddled a period boundary");
}

/// A UDP port on loopback where nothing listens (bound, then released).
fn closed_port() -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().to_string()
}

// ------------------------------------------------------- two, three, chain

/// On `from`: add, rename, edit, rotate, rm and restore one entry; after
/// each, `to` shows it exactly as `from` does, and the codes agree.
#[track_caller]
fn lifecycle_shows_on(from: &Instance, to: &Instance, issuer: &str, secret: &str, new_secret: &str) {
    let query = issuer.to_lowercase();
    let q = query.as_str();
    add(from, issuer, "alice", secret);
    let entry = follows(
        from,
        to,
        q,
        &format!("the new {issuer} entry to reach the other device"),
    );
    assert_eq!((entry.account.as_str(), entry.heads), ("alice", 1));
    same_code(&[from, to], q, secret);

    from.ctl_ok(&["rename", q, "--account", "bob"]);
    assert_eq!(follows(from, to, q, "the rename").account, "bob");

    from.ctl_ok(&["edit", q, "--tag", "shared", "--note", "ask bob first"]);
    let entry = follows(from, to, q, "the edit");
    assert_eq!(
        (entry.tags, entry.note.as_str()),
        (vec!["shared".to_string()], "ask bob first")
    );

    from.ctl_ok(&["rotate", q, "--secret", new_secret]);
    follows(from, to, q, "the rotation");
    same_code(&[from, to], q, new_secret);
    to.assert_totp(&["code", q, "--previous"], secret, &totp(), 0);

    from.ctl_ok(&["rm", q]);
    assert!(follows(from, to, q, "the deletion").deleted);
    to.ctl(&["code", q]).assert_error(4, &[q]);
    assert!(!to.list().iter().any(|e| e.issuer.as_deref() == Some(issuer)));

    from.ctl_ok(&["restore", q]);
    assert!(!follows(from, to, q, "the restore").deleted);
    same_code(&[from, to], q, new_secret);

    // Both hold the same six versions, each written by `from`.
    let versions = history(to, q);
    assert_eq!(versions, history(from, q));
    assert_eq!(versions.len(), 6, "{versions:?}");
    let author = from.status().device_name;
    assert!(versions.iter().all(|v| v.device_name == author), "{versions:?}");
    assert_eq!(versions.iter().filter(|v| v.head).count(), 1);
}

#[test]
fn every_change_on_either_of_two_devices_shows_on_the_other() {
    let a = founder("a");
    let b = join(&a, "b");
    lifecycle_shows_on(&a, &b, "Amazon", AMAZON_SECRET, AMAZON_NEW_SECRET);
    lifecycle_shows_on(&b, &a, "GitHub", GITHUB_SECRET, GITHUB_NEW_SECRET);
    assert_eq!(everything(&a), everything(&b));
    assert_eq!(everything(&a).len(), 2);
}

#[test]
fn the_peer_is_online_with_its_address_and_a_small_clock_skew() {
    let a = founder("a");
    let b = join(&a, "b");
    for (inst, me, peer, peer_inst) in [(&a, "a", "b", &b), (&b, "b", "a", &a)] {
        let list = devices(inst);
        assert_eq!(list.len(), 2, "{list:?}");
        let this = device(&list, me);
        assert!(this.this_device && !this.revoked, "{this:?}");
        let other = device(&list, peer);
        assert!(other.online && !other.this_device && !other.revoked, "{other:?}");
        // Each endpoint dials from the socket it listens on.
        assert_eq!(
            other.addr.as_deref(),
            Some(peer_inst.listen_addr().as_str()),
            "{other:?}"
        );
        let skew = other
            .clock_skew_ms
            .unwrap_or_else(|| panic!("no clock skew in {other:?}"));
        assert!(
            skew.abs() < 2_000,
            "{me} sees a {skew} ms skew to {peer} on one machine"
        );
        let last_seen = other.last_seen_ms.unwrap();
        let now_ms = unix_now() * 1000;
        assert!(
            last_seen <= now_ms + 1_000 && now_ms.saturating_sub(last_seen) < 60_000,
            "{other:?}"
        );
        assert_eq!(inst.status().peers_online, 1);
    }
}

#[test]
fn a_change_on_a_third_device_reaches_the_other_two() {
    let a = founder("a");
    let b = join(&a, "b");
    let c = join(&a, "c");
    add(&c, "Amazon", "alice", AMAZON_SECRET);
    follows(&c, &a, "amazon", "C's entry to reach A");
    follows(&c, &b, "amazon", "C's entry to reach B");
    same_code(&[&a, &b, &c], "amazon", AMAZON_SECRET);
    c.ctl_ok(&["rotate", "amazon", "--secret", AMAZON_NEW_SECRET]);
    follows(&c, &a, "amazon", "C's rotation to reach A");
    follows(&c, &b, "amazon", "C's rotation to reach B");
    same_code(&[&a, &b, &c], "amazon", AMAZON_NEW_SECRET);
    // B and C know only A's address: what C wrote reached B through A.
    assert!(!online(&b, "c") && !online(&c, "b"));
    for inst in [&a, &b, &c] {
        assert_eq!(inst.status().members, 3);
    }
}

#[test]
fn a_chain_relays_changes_both_ways_between_devices_that_never_meet() {
    // A <- B <- C: B dials A, C dials B; A and C have no address of each other.
    let a = founder("a");
    let b = join(&a, "b");
    let c = join(&b, "c");
    wait_until(PROPAGATE, "A to learn that C joined", || {
        devices(&a).iter().any(|d| d.name == "c")
    });

    add(&a, "Amazon", "alice", AMAZON_SECRET);
    follows(&a, &c, "amazon", "A's entry to reach C through B");
    same_code(&[&a, &c], "amazon", AMAZON_SECRET);

    add(&c, "GitHub", "carol", GITHUB_SECRET);
    c.ctl_ok(&["rename", "github", "--account", "dave"]);
    follows(&c, &a, "github", "C's entry and rename to reach A through B");
    same_code(&[&a, &b, &c], "github", GITHUB_SECRET);

    assert_eq!(everything(&a), everything(&c));
    assert_eq!(everything(&a), everything(&b));
    // A and C never had a session: no address, never seen.
    for (inst, stranger) in [(&a, "c"), (&c, "a")] {
        let list = devices(inst);
        let other = device(&list, stranger);
        assert!(
            !other.online && other.addr.is_none() && other.last_seen_ms.is_none(),
            "{other:?}"
        );
    }
}

// ------------------------------------------------------------ apart, merged

/// Whether a partition ends B with a clean stop or a `kill -9`.
#[derive(Clone, Copy)]
enum Cut {
    Stop,
    Kill,
}

/// A and B, one household with what `setup` wrote on A, edit apart: B goes
/// down (`cut`), `on_a` runs on A, A stops, B starts alone (no route to A)
/// and `on_b` runs on it; then A starts dialling B. Waits until both show the
/// same entries, and checks that the history of each of `queries` on both
/// is every version either side held, no more and no fewer.
#[track_caller]
fn edited_apart(
    cut: Cut,
    queries: &[&str],
    setup: impl FnOnce(&Instance),
    on_a: impl FnOnce(&Instance),
    on_b: impl FnOnce(&Instance),
) -> (Instance, Instance) {
    let mut a = founder("a");
    let mut b = join(&a, "b");
    setup(&a);
    wait_until(PROPAGATE, "the setup to reach B", || everything(&b) == everything(&a));

    match cut {
        Cut::Stop => b.stop(),
        Cut::Kill => b.kill9(),
    }
    on_a(&a);
    let mut held: Vec<BTreeSet<String>> = queries.iter().map(|q| version_ids(&a, q)).collect();
    a.stop();

    // B alone: it only remembers A's address from before, where nothing runs.
    b.set_daemon_args(&["-v"]);
    b.start();
    on_b(&b);
    for (held, q) in held.iter_mut().zip(queries) {
        held.extend(version_ids(&b, q));
    }
    assert_eq!(b.status().peers_online, 0);

    start_dialling(&mut a, &[&b]);
    wait_until(CONNECT, "A and B to merge what they wrote apart", || {
        everything(&a) == everything(&b)
            && queries
                .iter()
                .zip(&held)
                .all(|(q, held)| version_ids(&a, q) == *held && version_ids(&b, q) == *held)
    });
    for q in queries {
        assert_eq!(history(&a, q), history(&b, q), "history of {q}");
        assert_eq!(a.show(q), b.show(q), "{q}");
    }
    (a, b)
}

/// The names of the devices that wrote the versions of `query`.
#[track_caller]
fn authors(inst: &Instance, query: &str) -> BTreeSet<String> {
    history(inst, query)
        .into_iter()
        .map(|v| v.device_name.unwrap_or_default())
        .collect()
}

#[test]
fn a_rename_and_a_rotation_made_apart_both_apply() {
    let (a, b) = edited_apart(
        Cut::Stop,
        &["amazon"],
        |a| add(a, "Amazon", "alice", AMAZON_SECRET),
        |a| {
            a.ctl_ok(&["rename", "amazon", "--account", "bob"]);
        },
        |b| {
            b.ctl_ok(&["rotate", "amazon", "--secret", AMAZON_NEW_SECRET]);
        },
    );
    let entry = a.show("amazon");
    assert_eq!((entry.account.as_str(), entry.heads), ("bob", 2), "{entry:?}");
    same_code(&[&a, &b], "amazon", AMAZON_NEW_SECRET);
    let versions = history(&a, "amazon");
    assert_eq!(versions.len(), 3, "{versions:?}");
    assert_eq!(versions.iter().filter(|v| v.head).count(), 2);
    assert_eq!(authors(&a, "amazon"), BTreeSet::from(["a".into(), "b".into()]));

    // The next edit names both heads: one head again, everywhere.
    b.ctl_ok(&["edit", "amazon", "--tag", "merged"]);
    let entry = follows(&b, &a, "amazon", "the edit after the merge");
    assert_eq!((entry.heads, entry.account.as_str()), (1, "bob"));
    same_code(&[&a, &b], "amazon", AMAZON_NEW_SECRET);
}

#[test]
fn an_edit_made_apart_from_a_deletion_keeps_the_entry_alive() {
    let (a, b) = edited_apart(
        Cut::Kill,
        &["amazon"],
        |a| add(a, "Amazon", "alice", AMAZON_SECRET),
        |a| {
            a.ctl_ok(&["rm", "amazon"]);
        },
        |b| {
            b.ctl_ok(&["edit", "amazon", "--note", "written on b"]);
        },
    );
    for inst in [&a, &b] {
        let entry = inst.show("amazon");
        assert!(!entry.deleted && entry.heads == 2, "{entry:?}");
        assert_eq!(entry.note, "written on b");
        assert_eq!(inst.list().len(), 1);
    }
    same_code(&[&a, &b], "amazon", AMAZON_SECRET);
    let changes: Vec<String> = history(&a, "amazon").into_iter().map(|v| v.change).collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes.iter().any(|c| c.ends_with("deleted")), "{changes:?}");
    assert!(changes.iter().any(|c| c.contains("note")), "{changes:?}");
}

#[test]
fn hotp_codes_used_apart_leave_the_highest_counter_and_never_repeat_after() {
    let used = std::cell::RefCell::new(Vec::new());
    let use_code = |inst: &Instance, n: usize| {
        for _ in 0..n {
            used.borrow_mut().push(inst.code("bank"));
        }
    };
    let (a, b) = edited_apart(
        Cut::Kill,
        &["bank"],
        |a| {
            // `add` shows (and uses) code #0.
            let out = a.ctl_ok(&[
                "add",
                "--hotp",
                "--secret",
                RFC4226_SECRET,
                "--issuer",
                "Bank",
                "--account",
                "erin",
            ]);
            assert!(out.contains(RFC4226_CODES[0]), "{out}");
            used.borrow_mut().push(RFC4226_CODES[0].to_string());
        },
        |a| use_code(a, 2),
        |b| use_code(b, 3),
    );
    // Each side went on from #1 on its own: A to #2, B to #3.
    let used = used.into_inner();
    assert_eq!(
        used,
        [0, 1, 2, 1, 2, 3].map(|i| RFC4226_CODES[i].to_string()),
        "codes handed out apart"
    );
    for inst in [&a, &b] {
        let entry = inst.show("bank");
        assert_eq!((entry.spec, entry.heads), (hotp(4), 2), "{entry:?}");
    }
    assert_eq!(history(&a, "bank").len(), 6);

    // After the merge, neither hands out a code used before.
    let next_a = a.code("bank");
    assert_eq!(next_a, RFC4226_CODES[4]);
    wait_until(PROPAGATE, "B to hear of the code A used", || {
        b.show("bank").spec == hotp(5)
    });
    let next_b = b.code("bank");
    assert_eq!(next_b, RFC4226_CODES[5]);
    assert!(!used.contains(&next_a) && !used.contains(&next_b));
    let entry = follows(&b, &a, "bank", "B's use to reach A");
    assert_eq!((entry.spec, entry.heads), (hotp(6), 1));
}

// ------------------------------------------------------- locked, unreachable

#[test]
fn a_locked_device_still_stores_and_forwards_records_and_reads_them_once_unlocked() {
    // A <- B <- C, B's vault behind a passphrase and locked.
    let a = founder("a");
    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "correct horse battery staple\n").unwrap();
    let passphrase = passphrase.to_str().unwrap();
    let b = join_with(&a, "b", &pair(&a), &["--passphrase-file", passphrase]);
    let c = join(&b, "c");
    b.ctl_ok(&["lock"]);
    assert!(b.status().locked);
    let before = b.status().records;

    add(&a, "Amazon", "alice", AMAZON_SECRET);
    let records = a.status().records;
    assert!(records > before);
    wait_until(PROPAGATE, "the locked B to store A's record", || {
        b.status().records == records
    });
    follows(&a, &c, "amazon", "A's entry to reach C through the locked B");
    same_code(&[&a, &c], "amazon", AMAZON_SECRET);
    assert!(b.status().locked);
    b.ctl(&["code", "amazon"]).assert_error(3, &["locked"]);

    b.ctl_ok(&["unlock", "--passphrase-file", passphrase]);
    same_code(&[&a, &b, &c], "amazon", AMAZON_SECRET);
    assert_eq!(everything(&b), everything(&a));
}

#[test]
fn static_peers_that_do_not_answer_leave_the_device_serving_codes() {
    // Nothing listens at one; the other is bound but never answers. (An
    // entry that is no HOST:PORT at all is refused at start: `reach.rs`.)
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let closed = closed_port();
    let mut inst = Instance::new();
    inst.set_daemon_args(&["-v", "--peer", &closed, "--peer", &silent_addr]);
    inst.start();
    inst.ctl_ok(&["init", "--no-passphrase", "--name", "alone"]);
    add(&inst, "Amazon", "alice", AMAZON_SECRET);
    // The dialers run: the one nothing answers already gave up a round.
    wait_until(CONNECT, "the daemon to try its static peers", || {
        let log = inst.daemon_log();
        log.contains("static peer did not answer") || log.contains("static peer unreachable")
    });
    let pid = inst.pid().unwrap() as i32;
    let mut rounds = 0;
    poll_until(QUIET, || {
        rounds += 1;
        assert!(running(pid), "authd exited\n{}", inst.daemon_log());
        inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
        let status = inst.status();
        assert_eq!((status.peers_online, status.members), (0, 1), "{status:?}");
        let list = devices(&inst);
        assert!(list.len() == 1 && !list[0].online, "{list:?}");
        false
    });
    assert!(rounds > 1);
    drop(silent);
}

#[test]
fn a_device_of_another_household_never_syncs() {
    let a = founder("a");
    add(&a, "Amazon", "alice", AMAZON_SECRET);
    let a_before = a.snapshot();
    let mut stranger = Instance::new();
    stranger.set_daemon_args(&["-v", "--peer", &a.listen_addr()]);
    stranger.start();
    stranger.ctl_ok(&["init", "--no-passphrase", "--name", "stranger"]);
    add(&stranger, "GitHub", "mallory", GITHUB_SECRET);
    let stranger_before = stranger.snapshot();

    // The stranger's dialler keeps trying, and TLS ends each try: the
    // stranger refuses A's key (it is no member of its household) before A
    // would refuse the stranger's.
    wait_until(CONNECT, "the stranger's dials to be refused twice", || {
        stranger.daemon_log().matches(REFUSED_SERVER).count() >= 2
    });
    let mut rounds = 0;
    poll_until(QUIET, || {
        rounds += 1;
        assert_eq!(a.status().peers_online, 0);
        assert_eq!(stranger.status().peers_online, 0);
        false
    });
    assert!(rounds > 1);
    a.assert_unchanged(&a_before);
    stranger.assert_unchanged(&stranger_before);
    assert_eq!(devices(&a).len(), 1);
    assert_eq!(devices(&stranger).len(), 1);
    assert!(!a.daemon_log().contains("syncing"), "{}", a.daemon_log());
}

// ------------------------------------------------------------------ restart

/// This device's id.
#[track_caller]
fn id(inst: &Instance) -> DeviceId {
    inst.status().device.unwrap().parse().unwrap()
}

/// `kill -9`s `inst` and starts it again dialling `peer`; waits until both
/// see each other online.
#[track_caller]
fn crash_and_redial(inst: &mut Instance, name: &str, peer: &Instance, peer_name: &str) {
    inst.kill9();
    start_dialling(inst, &[peer]);
    wait_until(
        PROPAGATE,
        &format!("{name}, restarted, and {peer_name} to be online together"),
        || online(inst, peer_name) && online(peer, name),
    );
}

/// A crashed peer never closed its old session. Two connections within a
/// moment of each other are a simultaneous open (the smaller id's wins);
/// a later one means the peer lost the old one, and replaces it. Else the
/// survivor refused the restarted device until its idle timeout (20 s),
/// whenever the crashed device had the larger id.
#[test]
fn a_device_that_crashed_is_back_in_sync_as_soon_as_it_restarts() {
    let mut a = founder("a");
    let mut b = join(&a, "b");
    // B opened the session. Let the device with the smaller id hold the one
    // that is up: if that is A, A restarts once and dials B.
    if id(&a) < id(&b) {
        crash_and_redial(&mut a, "a", &b, "b");
    }
    // The other one crashes and dials back.
    let (small, large, large_name) = if id(&a) < id(&b) {
        (&a, &mut b, "b")
    } else {
        (&b, &mut a, "a")
    };
    large.kill9();
    start_dialling(large, &[small]);
    add(large, "Amazon", "alice", AMAZON_SECRET);
    follows(
        large,
        small,
        "amazon",
        &format!("what {large_name} wrote after its restart to sync"),
    );
    add(small, "GitHub", "carol", GITHUB_SECRET);
    follows(
        small,
        large,
        "github",
        &format!("{large_name} to hear what was written after its restart"),
    );
}
