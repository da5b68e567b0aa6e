//! Partitions and bad networks, between real daemons in network
//! namespaces (`authsync_tests::lab`): A, B and C on one bridge, each
//! started with `--peer` to the other two (and mDNS on), one household.
//!
//! - A cut (`ip link set veth-c down` on the bridge): A and B on one side,
//!   C on the other, and edits on both sides (rename, rotate, note, add,
//!   rm, HOTP codes). After healing, all three hold the same entries and
//!   every version either side wrote, within 5 s (issue 6). The cut lasts
//!   8 s (the sessions survive it), or until QUIC's idle timeout has ended
//!   every session with C; or (about 45 s) until every dialer has failed
//!   7 times (once it then paused 16 s before the next dial), with mDNS and
//!   without it.
//! - A split: A and B cannot reach each other (blackhole routes), both
//!   reach C; what each writes reaches the other through C.
//! - A bad network: every link drops 20%, delays 200 ms (+ up to 50 ms) and
//!   reorders 25% of the frames towards its device, and all three edit at
//!   once; they converge while it lasts, and again across a cut made on
//!   top of it, and once it is cleaned.
//! - Restarts while cut off: both sides' daemons stop and start again
//!   during the cut, edit after, and converge within 5 s of healing.
//!
//! This kernel may lack sch_netem (`tc qdisc add ... netem` answers
//! "Specified qdisc kind is unknown" where CONFIG_NET_SCH_NETEM is off and
//! modules cannot load), so the bad network is `tests/netns/wire.py`, a
//! user-space wire with the same loss, delay and reordering, on the path
//! of every frame towards the device.
//!
//! Convergence is timed from the moment the link comes back (or the edits
//! end) to the first poll that sees the same state everywhere; the poll
//! runs `authctl` in each namespace, so the figures carry up to a few
//! hundred milliseconds of polling. Each test prints them. The labs run
//! one at a time, so that three households do not share two cores.
//!
//! Needs root and `ip netns`; the bad network also python3. Without them
//! a test prints why and passes, except with `CI=true`, where it fails.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use authsync_proto::ipc::{EntrySummary, VersionInfo};
use authsync_tests::lab::{self, Impairment, Lab, Node};
use authsync_tests::otp::{RFC4226_CODES, RFC4226_SECRET, codes_between, hotp, totp};
use authsync_tests::{poll_until, unix_now, wait_until};

const AMAZON_SECRET: &str = "JBSWY3DPEHPK3PXP";
const AMAZON_NEW_SECRET: &str = "KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF";
const SLACK_SECRET: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
const GITHUB_SECRET: &str = "KNSWG4TFORZWKY3SMV2HG5LQMVZHG2LQ";
const GITLAB_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJR";

/// Issue 6: after healing, every device has every version within 5 s.
const HEALED: Duration = Duration::from_secs(5);
/// How long a heal is watched for at most: a heal slower than
/// [`HEALED`] fails, with the time it did take.
const HEAL_WATCHED: Duration = Duration::from_secs(60);
/// How long sessions may take to come up after pairing or a start.
const CONNECT: Duration = Duration::from_secs(15);
/// How long the short cut lasts.
const SHORT_CUT: Duration = Duration::from_secs(8);
/// How long a session may outlive a cut: QUIC's idle timeout (20 s) and
/// a margin.
const SESSIONS_END: Duration = Duration::from_secs(30);
/// How long a change may take to spread while every link drops a fifth of
/// the frames and holds the rest 200 ms: generous, and still bounded.
const LOSSY: Duration = Duration::from_secs(30);
/// How bad the bad network is.
const BAD: Impairment = Impairment {
    loss: 0.2,
    delay: Duration::from_millis(200),
    jitter: Duration::from_millis(50),
    reorder: 0.25,
    seed: 0,
};

// ---------------------------------------------------------------- helpers

/// One lab at a time: the figures are meant to be the daemons', not the
/// scheduler's.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LABS: Mutex<()> = Mutex::new(());
    LABS.lock().unwrap_or_else(|p| p.into_inner())
}

/// `true` (after saying why) when this machine cannot run `test`.
fn skip(test: &str) -> bool {
    lab::skip(test, || None)
}

/// [`skip`], and also when `tests/netns/wire.py` cannot run here.
fn skip_without_wire(test: &str) -> bool {
    static WIRE: OnceLock<Option<String>> = OnceLock::new();
    lab::skip(test, || {
        WIRE.get_or_init(|| lab::script_check("wire.py", "python3 with packet sockets"))
            .clone()
    })
}

/// Whether the daemons also find each other with mDNS, or only dial their
/// static peers (a network without multicast).
#[derive(Clone, Copy, PartialEq)]
enum Mdns {
    On,
    Off,
}

/// A, B and C, each dialling the other two, in one household founded on A
/// with Amazon (TOTP), Bank (HOTP, code #0 used by `add`) and Slack, seen
/// everywhere; every device online with the other two.
#[track_caller]
fn household() -> Lab {
    household_with(Mdns::On)
}

/// [`household`], with or without mDNS.
#[track_caller]
fn household_with(mdns: Mdns) -> Lab {
    let mut lab = Lab::new(&["A", "B", "C"]);
    let addrs: Vec<String> = lab.nodes.iter().map(Node::listen).collect();
    for (i, node) in lab.nodes.iter_mut().enumerate() {
        let mut args: Vec<String> = (0..addrs.len())
            .filter(|j| *j != i)
            .flat_map(|j| ["--peer".to_string(), addrs[j].clone()])
            .collect();
        if mdns == Mdns::Off {
            args.push("--no-mdns".into());
        }
        node.start_with(&args);
    }
    let [a, b, c] = nodes(&lab);
    a.ctl_ok(&["init", "--name", "A", "--no-passphrase"]);
    a.wait_network();
    for joiner in [b, c] {
        let code = a.ctl_ok(&["pair"]);
        joiner.ctl_ok(&[
            "join",
            code.trim(),
            "--peer",
            &a.listen(),
            "--name",
            &joiner.name,
            "--no-passphrase",
        ]);
    }
    for node in [a, b, c] {
        wait_until(CONNECT, &format!("{} to see the other two online", node.name), || {
            online_with(node, &lab.nodes)
        });
    }
    add(a, "Amazon", "alice", AMAZON_SECRET);
    add(a, "Slack", "alice", SLACK_SECRET);
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
    converge(
        &[a, b, c],
        &versions(&state(a)),
        Instant::now(),
        CONNECT,
        "the first entries",
    );
    lab
}

/// The three nodes.
fn nodes(lab: &Lab) -> [&Node; 3] {
    let [a, b, c] = &lab.nodes[..] else {
        unreachable!("three nodes")
    };
    [a, b, c]
}

/// Whether `node` has a session up with every other one of `all`.
#[track_caller]
fn online_with(node: &Node, all: &[Node]) -> bool {
    let devices = node.devices();
    all.iter()
        .filter(|n| n.name != node.name)
        .all(|n| devices.iter().any(|d| d.name == n.name && d.online))
}

/// `authctl add` of a default TOTP entry.
#[track_caller]
fn add(node: &Node, issuer: &str, account: &str, secret: &str) {
    node.ctl_ok(&["add", "--secret", secret, "--issuer", issuer, "--account", account]);
}

/// Everything a device shows of the entries: `list --deleted --json`, and
/// `history --json` of each (by id).
#[derive(Debug, PartialEq)]
struct State {
    entries: Vec<EntrySummary>,
    histories: BTreeMap<String, Vec<VersionInfo>>,
}

#[track_caller]
fn state(node: &Node) -> State {
    let entries: Vec<EntrySummary> = node.ctl_json(&["list", "--deleted"]);
    let histories = entries
        .iter()
        .map(|e| (e.id.clone(), node.ctl_json(&["history", "--deleted", &e.id])))
        .collect();
    State { entries, histories }
}

/// Every version in `state`: `entry id` and `origin/seq` of its record.
fn versions(state: &State) -> BTreeSet<(String, String)> {
    state
        .histories
        .iter()
        .flat_map(|(id, versions)| versions.iter().map(move |v| (id.clone(), v.record.clone())))
        .collect()
}

/// Every version any of `nodes` holds now.
#[track_caller]
fn all_versions(nodes: &[&Node]) -> BTreeSet<(String, String)> {
    nodes.iter().flat_map(|n| versions(&state(n))).collect()
}

/// Waits (up to `within` from `since`) until every one of `nodes` shows
/// the same entries and histories, holding exactly the versions `expected`;
/// returns how long after `since` that was first seen.
#[track_caller]
fn converge(
    nodes: &[&Node],
    expected: &BTreeSet<(String, String)>,
    since: Instant,
    within: Duration,
    what: &str,
) -> Duration {
    let mut seen: Vec<State> = Vec::new();
    let mut at = since.elapsed();
    let left = within.saturating_sub(since.elapsed());
    let done = poll_until(left, || {
        // Cheap first: the same number of records everywhere.
        let records: Vec<usize> = nodes.iter().map(|n| n.status().records).collect();
        if records.iter().any(|r| *r != records[0]) {
            return false;
        }
        at = since.elapsed();
        seen = nodes.iter().map(|n| state(n)).collect();
        seen.iter().all(|s| *s == seen[0]) && versions(&seen[0]) == *expected
    });
    if !done {
        let missing: Vec<(String, BTreeSet<(String, String)>)> = nodes
            .iter()
            .map(|n| {
                let have = versions(&state(n));
                (n.name.clone(), expected.difference(&have).cloned().collect())
            })
            .collect();
        panic!(
            "{what}: not the same everywhere within {within:?}; missing versions: {missing:?}\n\
             last seen: {seen:#?}"
        );
    }
    at
}

/// [`converge`] from `healed`, the moment a cut link came back: within
/// [`HEALED`] (issue 6), or the test fails saying how long it did take.
#[track_caller]
fn converge_after_healing(nodes: &[&Node], expected: &BTreeSet<(String, String)>, healed: Instant) -> Duration {
    let took = converge(nodes, expected, healed, HEAL_WATCHED, "after healing");
    assert!(
        took <= HEALED,
        "converged only {took:.2?} after healing, not within {HEALED:?}"
    );
    took
}

/// Asserts that `authctl code QUERY` prints the same code on each of
/// `nodes` within one 30-second window, the one `secret` gives then.
#[track_caller]
fn same_code(nodes: &[&Node], query: &str, secret: &str) {
    for _ in 0..3 {
        let from = unix_now();
        let codes: Vec<String> = nodes
            .iter()
            .map(|n| n.ctl_ok(&["code", query]).trim().to_string())
            .collect();
        let to = unix_now();
        if from / 30 != to / 30 {
            continue;
        }
        let expected = codes_between(secret, &totp(), from, to);
        assert!(
            codes.iter().all(|c| *c == codes[0]) && expected.contains(&codes[0]),
            "codes for {query}: {codes:?}, expected one of {expected:?} everywhere"
        );
        return;
    }
    panic!("three tries at comparing codes each straddled a period boundary");
}

/// `authctl code bank` `n` times on `node`; the codes it handed out.
#[track_caller]
fn use_bank(node: &Node, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| node.ctl_ok(&["code", "bank"]).trim().to_string())
        .collect()
}

/// The entry whose issuer is `issuer` in `state`.
#[track_caller]
fn entry<'a>(state: &'a State, issuer: &str) -> &'a EntrySummary {
    state
        .entries
        .iter()
        .find(|e| e.issuer.as_deref() == Some(issuer))
        .unwrap_or_else(|| panic!("no {issuer} in {:#?}", state.entries))
}

/// The edits both sides of a cut make: A renames Amazon and uses two Bank
/// codes, B notes Amazon and deletes Slack, C rotates Amazon, tags Slack
/// and uses three Bank codes; A adds GitHub, C adds GitLab. Returns the
/// Bank codes handed out.
#[track_caller]
fn edit_on_both_sides(a: &Node, b: &Node, c: &Node) -> Vec<String> {
    let mut used = Vec::new();
    a.ctl_ok(&["rename", "amazon", "--account", "bob"]);
    c.ctl_ok(&["rotate", "amazon", "--secret", AMAZON_NEW_SECRET]);
    b.ctl_ok(&["edit", "amazon", "--note", "from b"]);
    used.extend(use_bank(a, 2));
    used.extend(use_bank(c, 3));
    b.ctl_ok(&["rm", "slack"]);
    c.ctl_ok(&["edit", "slack", "--tag", "kept"]);
    add(a, "GitHub", "alice", GITHUB_SECRET);
    add(c, "GitLab", "carol", GITLAB_SECRET);
    used
}

/// What [`edit_on_both_sides`] leaves once merged, on every device: each
/// field's newest change, the HOTP counter past every code used, Slack
/// alive (edited apart from its deletion), both new entries.
#[track_caller]
fn merged_as_expected(nodes: &[&Node], used: &[String]) {
    let merged = state(nodes[0]);
    let amazon = entry(&merged, "Amazon");
    assert_eq!(
        (amazon.account.as_str(), amazon.note.as_str()),
        ("bob", "from b"),
        "{amazon:?}"
    );
    same_code(nodes, "amazon", AMAZON_NEW_SECRET);
    // A used #1 and #2 and C #1 to #3 apart: the counter is past both.
    let mut expected_used: Vec<String> = [1, 2, 1, 2, 3].map(|i| RFC4226_CODES[i].to_string()).to_vec();
    expected_used.sort();
    let mut sorted = used.to_vec();
    sorted.sort();
    assert_eq!(sorted, expected_used, "codes handed out apart");
    assert_eq!(entry(&merged, "Bank").spec, hotp(4));
    let slack = entry(&merged, "Slack");
    assert!(!slack.deleted && slack.tags == ["kept"], "{slack:?}");
    entry(&merged, "GitHub");
    entry(&merged, "GitLab");
    let amazon_versions = &merged.histories[&amazon.id];
    let authors: BTreeSet<Option<&str>> = amazon_versions.iter().map(|v| v.device_name.as_deref()).collect();
    assert_eq!(
        authors,
        BTreeSet::from([Some("A"), Some("B"), Some("C")]),
        "{amazon_versions:?}"
    );
    // Once merged, no device hands out a code used before.
    let next = nodes[1].ctl_ok(&["code", "bank"]).trim().to_string();
    assert_eq!(next, RFC4226_CODES[4]);
}

// ------------------------------------------------------------------ tests

#[test]
fn edits_made_on_both_sides_of_a_cut_are_everywhere_within_5_s_of_healing() {
    let test = "edits_made_on_both_sides_of_a_cut_are_everywhere_within_5_s_of_healing";
    if skip(test) {
        return;
    }
    let _one = one_at_a_time();
    let t0 = Instant::now();
    let lab = household();
    let [a, b, c] = nodes(&lab);
    let set_up = t0.elapsed();

    lab.cut("C");
    let cut = Instant::now();
    let used = edit_on_both_sides(a, b, c);
    // A and B still talk: B has A's edits, C has none of them.
    let side = all_versions(&[a, b]);
    converge(&[a, b], &side, Instant::now(), HEALED, "A and B during the cut");
    let expected = all_versions(&[a, b, c]);
    assert!(
        !versions(&state(c)).is_superset(&side),
        "C saw A's edits through a cut link"
    );
    // Not a wait for something to happen: the cut lasting is the point.
    // Past a keep-alive (5 s), QUIC has backed its retransmissions off a
    // few times, and the sessions are still up (idle timeout 20 s).
    std::thread::sleep(SHORT_CUT.saturating_sub(cut.elapsed()));
    let apart = cut.elapsed();

    let healed = Instant::now();
    lab.heal("C");
    let took = converge_after_healing(&[a, b, c], &expected, healed);
    merged_as_expected(&[a, b, c], &used);
    lab.assert_no_daemon_panicked();
    println!(
        "{test}: set up {set_up:.2?}; cut for {apart:.2?}; {} versions; all three converged {took:.2?} after healing",
        expected.len()
    );
}

#[test]
fn daemons_restarted_while_cut_off_converge_within_5_s_of_healing() {
    let test = "daemons_restarted_while_cut_off_converge_within_5_s_of_healing";
    if skip(test) {
        return;
    }
    let _one = one_at_a_time();
    let mut lab = household();
    lab.cut("C");
    let cut = Instant::now();
    let [a, b, c] = nodes(&lab);
    let used = edit_on_both_sides(a, b, c);

    // Each side restarts a daemon during the cut and edits after.
    lab.nodes[2].restart();
    lab.nodes[0].restart();
    let restarted = cut.elapsed();
    let [a, b, c] = nodes(&lab);
    wait_until(CONNECT, "A, restarted, to be online with B again", || {
        online_with(a, &lab.nodes[..2]) && online_with(b, &lab.nodes[..2])
    });
    a.ctl_ok(&["edit", "github", "--note", "after A's restart"]);
    c.ctl_ok(&["edit", "gitlab", "--note", "after C's restart"]);
    assert_eq!(c.status().peers_online, 0, "C is cut off");
    let expected = all_versions(&[a, b, c]);
    // The restarted dialers fail against a cut link for a while (the cut
    // lasting is the point, not a wait for something to happen).
    std::thread::sleep(SHORT_CUT.saturating_sub(cut.elapsed()));
    let apart = cut.elapsed();

    let healed = Instant::now();
    lab.heal("C");
    let took = converge_after_healing(&[a, b, c], &expected, healed);
    merged_as_expected(&[a, b, c], &used);
    let merged = state(a);
    assert_eq!(entry(&merged, "GitHub").note, "after A's restart");
    assert_eq!(entry(&merged, "GitLab").note, "after C's restart");
    let back = poll_until(CONNECT, || lab.nodes.iter().all(|n| online_with(n, &lab.nodes)));
    assert!(back, "not all online again: {:?}", c.devices());
    lab.assert_no_daemon_panicked();
    println!(
        "{test}: C and A restarted {restarted:.2?} into a cut of {apart:.2?}; {} versions; \
         all three converged {took:.2?} after healing",
        expected.len()
    );
}

#[test]
fn devices_split_apart_meet_through_the_third_and_lose_nothing() {
    let test = "devices_split_apart_meet_through_the_third_and_lose_nothing";
    if skip(test) {
        return;
    }
    let _one = one_at_a_time();
    let lab = household();
    let [a, b, c] = nodes(&lab);
    // A and B can no longer reach each other; both still reach C.
    lab.split("A", "B");
    let split = Instant::now();
    a.ctl_ok(&["rename", "amazon", "--account", "bob"]);
    b.ctl_ok(&["rotate", "amazon", "--secret", AMAZON_NEW_SECRET]);
    let mut used = use_bank(a, 2);
    used.extend(use_bank(b, 1));
    add(b, "GitLab", "carol", GITLAB_SECRET);
    a.ctl_ok(&["rm", "slack"]);
    let edited = Instant::now();
    let expected = all_versions(&[a, b, c]);
    let relayed = converge(&[a, b, c], &expected, edited, HEALED, "A and B through C");
    let merged = state(a);
    assert_eq!(entry(&merged, "Amazon").account, "bob");
    assert!(entry(&merged, "Slack").deleted);
    same_code(&[a, b, c], "amazon", AMAZON_NEW_SECRET);
    // Bank codes: each saw the other's through C before its own or not;
    // either way the counter is past every code handed out.
    let highest = used
        .iter()
        .map(|u| RFC4226_CODES.iter().position(|c| c == u).unwrap())
        .max()
        .unwrap();
    assert_eq!(entry(&merged, "Bank").spec, hotp(highest as u64 + 1));
    // A and B really were apart: with the split still on, once QUIC has
    // given the session up, neither sees the other online.
    let apart = poll_until(SESSIONS_END, || {
        let seen = |n: &Node, other: &str| n.devices().iter().any(|d| d.name == other && d.online);
        !seen(a, "B") && !seen(b, "A") && seen(a, "C") && seen(b, "C")
    });
    assert!(
        apart,
        "A and B still online together through a split: {:?}",
        a.devices()
    );
    let session_ended = split.elapsed();
    c.ctl_ok(&["edit", "gitlab", "--note", "from c"]);
    let edited = Instant::now();
    let expected = all_versions(&[a, b, c]);
    let relayed_later = converge(&[a, b, c], &expected, edited, HEALED, "C's edit to A and B");

    lab.join("A", "B");
    let joined = Instant::now();
    let met = poll_until(CONNECT, || online_with(a, &lab.nodes) && online_with(b, &lab.nodes));
    assert!(met, "A and B did not meet again: {:?}", a.devices());
    let met = joined.elapsed();
    lab.assert_no_daemon_panicked();
    println!(
        "{test}: edits on A and B reached all three through C in {relayed:.2?} ({} versions); \
         the A-B session ended {session_ended:.2?} into the split; C's edit reached both {relayed_later:.2?}; \
         A and B online together again {met:.2?} after the split ended",
        expected.len()
    );
}

#[test]
fn a_lossy_slow_reordering_network_loses_no_version() {
    let test = "a_lossy_slow_reordering_network_loses_no_version";
    if skip_without_wire(test) {
        return;
    }
    let _one = one_at_a_time();
    let mut lab = household();
    for (i, name) in ["A", "B", "C"].into_iter().enumerate() {
        lab.impair(
            name,
            Impairment {
                seed: i as u64 + 1,
                ..BAD
            },
        );
    }
    let [a, b, c] = nodes(&lab);

    // 1. All three edit at once, over the bad network.
    let started = Instant::now();
    a.ctl_ok(&["rename", "amazon", "--account", "bob"]);
    b.ctl_ok(&["rotate", "amazon", "--secret", AMAZON_NEW_SECRET]);
    c.ctl_ok(&["edit", "amazon", "--note", "from c"]);
    let mut used = use_bank(a, 1);
    used.extend(use_bank(b, 2));
    used.extend(use_bank(c, 1));
    add(c, "GitLab", "carol", GITLAB_SECRET);
    b.ctl_ok(&["rm", "slack"]);
    let expected = all_versions(&[a, b, c]);
    let lossy = converge(&[a, b, c], &expected, started, LOSSY, "over the bad network");
    let merged = state(a);
    let amazon = entry(&merged, "Amazon");
    assert_eq!((amazon.account.as_str(), amazon.note.as_str()), ("bob", "from c"));
    assert!(entry(&merged, "Slack").deleted);
    // Each used its own next codes apart or not: the counter is past all.
    assert_eq!(used.len(), 4);
    let highest = used
        .iter()
        .map(|u| RFC4226_CODES.iter().position(|c| c == u).unwrap())
        .max()
        .unwrap();
    assert_eq!(entry(&merged, "Bank").spec, hotp(highest as u64 + 1));
    same_code(&[a, b, c], "amazon", AMAZON_NEW_SECRET);

    // 2. A cut on top of it: C apart, edits on both sides, healed while
    //    the network is still bad.
    lab.cut("C");
    let [a, b, c] = nodes(&lab);
    a.ctl_ok(&["edit", "gitlab", "--tag", "work"]);
    c.ctl_ok(&["rename", "gitlab", "--account", "dave"]);
    b.ctl_ok(&["restore", "slack"]);
    c.ctl_ok(&["edit", "amazon", "--tag", "c-apart"]);
    let expected = all_versions(&[a, b, c]);
    let healed = Instant::now();
    lab.heal("C");
    let after_cut = converge(&[a, b, c], &expected, healed, LOSSY, "healed over the bad network");
    let merged = state(b);
    let gitlab = entry(&merged, "GitLab");
    assert_eq!(
        (gitlab.account.as_str(), gitlab.tags.as_slice()),
        ("dave", &["work".to_string()][..])
    );
    assert!(!entry(&merged, "Slack").deleted);

    // 3. The network cleaned: still the same everywhere, and new edits
    //    spread as fast as ever.
    let mut counts = Vec::new();
    for name in ["A", "B", "C"] {
        counts.push(format!("{name} {}", lab.clear_impairment(name)));
    }
    let [a, b, c] = nodes(&lab);
    converge(
        &[a, b, c],
        &expected,
        Instant::now(),
        HEALED,
        "once the network is clean",
    );
    let edited = Instant::now();
    c.ctl_ok(&["edit", "amazon", "--note", "clean again"]);
    let expected = all_versions(&[a, b, c]);
    let clean = converge(&[a, b, c], &expected, edited, HEALED, "an edit on the clean network");
    lab.assert_no_daemon_panicked();
    println!(
        "{test}: loss {:.0}%, delay {:?} + up to {:?}, reorder {:.0}% towards each device; \
         concurrent edits everywhere {lossy:.2?}; healed cut {after_cut:.2?} ({} versions); \
         clean again {clean:.2?}; wire counts: {}",
        BAD.loss * 100.0,
        BAD.delay,
        BAD.jitter,
        BAD.reorder * 100.0,
        expected.len(),
        counts.join("; ")
    );
}

/// How a cut longer than the sessions ends: healed at once, or only once
/// every dialer (A and B to C, C to A and B) has failed `n` times in a row.
#[derive(Clone, Copy)]
enum Heal {
    AtOnce,
    AfterFailedDials(usize),
}

/// What `authd -v` logs when a dial to a static peer found no one.
const UNREACHABLE: &str = "static peer did not answer";

/// How many dials from `node` to `to` found no one, so far.
fn failed_dials(node: &Node, to: &Node) -> usize {
    let needle = format!("peer={}", to.listen());
    node.log()
        .lines()
        .filter(|l| l.contains(UNREACHABLE) && l.contains(&needle))
        .count()
}

/// Cuts C off until every session with it is gone (and then as `heal`
/// says), with edits on both sides; heals, and checks all three converge
/// within 5 s. Prints the times.
#[track_caller]
fn cut_past_the_sessions(test: &str, mdns: Mdns, heal: Heal) {
    let _one = one_at_a_time();
    let lab = household_with(mdns);
    let [a, b, c] = nodes(&lab);
    lab.cut("C");
    let cut = Instant::now();
    let used = edit_on_both_sides(a, b, c);
    // QUIC gives a silent peer up after its idle timeout (20 s): every
    // session with C is gone, and the dialers are backing off.
    let gone = poll_until(SESSIONS_END, || {
        c.status().peers_online == 0 && !online_with(a, &lab.nodes) && !online_with(b, &lab.nodes)
    });
    assert!(gone, "the sessions with C outlived the cut: {:?}", a.devices());
    let sessions_ended = cut.elapsed();
    if let Heal::AfterFailedDials(n) = heal {
        // Each unanswered dial takes 3 s, then a 1 s pause. (Once the pause
        // doubled from 250 ms after every failure, to 30 s: after 7 a healed
        // link waited out a 16 s pause.)
        let within = Duration::from_secs(15 * n as u64 + 30);
        let backed_off = poll_until(within, || {
            [(a, c), (b, c), (c, a), (c, b)]
                .iter()
                .all(|(from, to)| failed_dials(from, to) >= n)
        });
        assert!(backed_off, "the dialers did not fail {n} times within {within:?}");
    }
    let expected = all_versions(&[a, b, c]);
    let healed = Instant::now();
    lab.heal("C");
    let took = converge_after_healing(&[a, b, c], &expected, healed);
    merged_as_expected(&[a, b, c], &used);
    lab.assert_no_daemon_panicked();
    println!(
        "{test}: sessions with C ended {sessions_ended:.2?} into the cut, healed at {:.2?}; {} versions; \
         all three converged {took:.2?} after healing",
        healed - cut,
        expected.len()
    );
}

#[test]
fn a_cut_that_outlasts_the_sessions_heals_within_5_s() {
    let test = "a_cut_that_outlasts_the_sessions_heals_within_5_s";
    if skip(test) {
        return;
    }
    cut_past_the_sessions(test, Mdns::On, Heal::AtOnce);
}

#[test]
fn a_cut_long_enough_for_the_dialers_to_back_off_heals_within_5_s() {
    let test = "a_cut_long_enough_for_the_dialers_to_back_off_heals_within_5_s";
    if skip(test) {
        return;
    }
    cut_past_the_sessions(test, Mdns::On, Heal::AfterFailedDials(7));
}

#[test]
fn without_multicast_a_cut_long_enough_for_the_dialers_to_back_off_heals_within_5_s() {
    let test = "without_multicast_a_cut_long_enough_for_the_dialers_to_back_off_heals_within_5_s";
    if skip(test) {
        return;
    }
    cut_past_the_sessions(test, Mdns::Off, Heal::AfterFailedDials(7));
}
