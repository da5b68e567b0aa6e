//! Issue 16 with real daemons: a field's value is that of its newest edit,
//! however the versions written after it were merged.
//!
//! Two devices, "apart" meaning the other daemon is stopped:
//!
//! ```text
//! A: init; B: join; A: add --secret S0 --issuer Example --account acc0   (synced)
//! A stops.  B: `older` (rotate --secret S1)
//! B stops.  A starts. A: rename --account acc1
//! B starts; both sync: two heads
//! B stops.  A: `newest` (rotate --secret S2), the newest edit of that field
//! A stops.  B starts. B: `then` (rename --account acc2), another field
//! A starts; both sync.
//! ```
//!
//! B's last version is written over both heads, carrying the older value of
//! `newest`'s field; the newest edit must still win on both devices, and
//! `history` must credit B only with what it did. Codes are compared with
//! `oathtool` (OATH Toolkit): without it the code tests skip, except under
//! `CI=true`, where they fail.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use authsync_proto::ipc::{EntrySummary, VersionInfo};
use authsync_tests::household::{add, founder, join, start_dialling};
use authsync_tests::{Instance, unix_now, wait_until};

const S0: &str = "JBSWY3DPEHPK3PXP";
const S1: &str = "KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF";
const S2: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
const QUERY: &str = "example";

/// How long a change may take to reach a peer whose session is up.
const PROPAGATE: Duration = Duration::from_secs(5);
/// How long sessions may take to come up after a start (dialling, backoff).
const CONNECT: Duration = Duration::from_secs(15);

/// `oathtool --totp -b SECRET`: the code for now.
fn oathtool_totp(secret: &str) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret])
        .output()
        .unwrap();
    assert!(out.status.success(), "oathtool failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `authctl ARGS` (a `code` command) on each of `insts` prints `oathtool
/// --totp -b secret`, all read within one 30-second period.
#[track_caller]
fn codes_are_oathtools(insts: &[&Instance], args: &[&str], secret: &str) {
    for _ in 0..3 {
        let from = unix_now();
        let codes: Vec<String> = insts
            .iter()
            .map(|i| {
                let out = i.ctl(args);
                out.assert_exit(0);
                out.line().to_string()
            })
            .collect();
        let expected = oathtool_totp(secret);
        let to = unix_now();
        if from / 30 != to / 30 {
            // The runs straddled a period boundary: try again.
            continue;
        }
        assert!(
            codes.iter().all(|c| *c == expected),
            "authctl {args:?} printed {codes:?}; oathtool --totp -b {secret} says {expected}"
        );
        return;
    }
    panic!("three tries at comparing codes each straddled a period boundary");
}

/// `list --deleted --json`.
#[track_caller]
fn everything(inst: &Instance) -> Vec<EntrySummary> {
    inst.ctl_json(&["list", "--deleted"])
}

/// `history --json example`, newest first.
#[track_caller]
fn history(inst: &Instance) -> Vec<VersionInfo> {
    // `--deleted`: on B right after its `rm` the entry is deleted there.
    inst.ctl_json(&["history", QUERY, "--deleted"])
}

#[track_caller]
fn version_ids(inst: &Instance) -> BTreeSet<String> {
    history(inst).into_iter().map(|v| v.record).collect()
}

/// Starts `inst` alone: it only remembers addresses where nothing runs.
#[track_caller]
fn start_alone(inst: &mut Instance) {
    inst.set_daemon_args(&["-v"]);
    inst.start();
    assert_eq!(inst.status().peers_online, 0);
}

/// Starts `late` dialling `up`; waits until both hold the same versions
/// (`held` is every version either side wrote) and show the same entry.
#[track_caller]
fn merge(up: &Instance, late: &mut Instance, held: &BTreeSet<String>, what: &str) {
    start_dialling(late, &[up]);
    wait_until(CONNECT, what, || {
        version_ids(up) == *held && version_ids(late) == *held && everything(up) == everything(late)
    });
}

/// Runs the sequence of the issue with `older`, `newest` and `then` as the
/// three changes (each an `authctl` command line after `authctl`, on
/// `example`). Returns A, B and the record of B's last version.
#[track_caller]
fn sequence(older: &[&str], newest: &[&str], then: &[&str]) -> (Instance, Instance, String) {
    let mut a = founder("a");
    let mut b = join(&a, "b");
    add(&a, "Example", "acc0", S0);
    wait_until(PROPAGATE, "the new entry to reach B", || {
        everything(&b) == everything(&a)
    });

    a.stop();
    b.ctl_ok(older);
    let mut held = version_ids(&b);
    b.stop();
    start_alone(&mut a);
    a.ctl_ok(&["rename", QUERY, "--account", "acc1"]);
    held.extend(version_ids(&a));
    merge(&a, &mut b, &held, "A and B to merge the first edits made apart");
    assert_eq!(a.show(QUERY).heads, 2);

    b.stop();
    a.ctl_ok(newest);
    held.extend(version_ids(&a));
    a.stop();
    start_alone(&mut b);
    b.ctl_ok(then);
    let b_last = history(&b)[0].record.clone();
    held.extend(version_ids(&b));
    merge(&b, &mut a, &held, "A and B to merge the last edits made apart");
    assert_eq!(history(&a), history(&b));
    (a, b, b_last)
}

/// The change `history` on `inst` credits `record` with.
#[track_caller]
fn change_of(inst: &Instance, record: &str) -> String {
    let versions = history(inst);
    versions
        .iter()
        .find(|v| v.record == record)
        .unwrap_or_else(|| panic!("no version {record} in {versions:?}"))
        .change
        .clone()
}

#[test]
fn a_rotation_is_not_undone_by_a_later_rename() {
    if !authsync_tests::vectors::oathtool_available() {
        return;
    }
    let (a, b, b_last) = sequence(
        &["rotate", QUERY, "--secret", S1],
        &["rotate", QUERY, "--secret", S2],
        &["rename", QUERY, "--account", "acc2"],
    );
    codes_are_oathtools(&[&a, &b], &["code", QUERY], S2);
    // `code --previous` is the secret before the newest: S1.
    codes_are_oathtools(&[&a, &b], &["code", QUERY, "--previous"], S1);
    for inst in [&a, &b] {
        let entry = inst.show(QUERY);
        assert_eq!((entry.account.as_str(), entry.deleted), ("acc2", false), "{entry:?}");
        // History names only real edits: B's last version renamed, and the
        // only rotations are the two `rotate` commands.
        let change = change_of(inst, &b_last);
        assert!(
            change.contains("renamed from") && !change.contains("rotated"),
            "B's rename is credited with {change:?}"
        );
        let versions = history(inst);
        let rotations: Vec<&VersionInfo> = versions.iter().filter(|v| v.change.contains("rotated")).collect();
        assert_eq!(rotations.len(), 2, "{versions:?}");
    }
}

#[test]
fn a_note_is_not_undone_by_a_later_rename() {
    let (a, b, b_last) = sequence(
        &["edit", QUERY, "--note", "older note"],
        &["edit", QUERY, "--note", "newest note"],
        &["rename", QUERY, "--account", "acc2"],
    );
    for inst in [&a, &b] {
        let entry = inst.show(QUERY);
        assert_eq!(
            (entry.note.as_str(), entry.account.as_str()),
            ("newest note", "acc2"),
            "{entry:?}"
        );
        let change = change_of(inst, &b_last);
        assert!(
            change.contains("renamed from") && !change.contains("note"),
            "B's rename is credited with {change:?}"
        );
    }
}

#[test]
fn a_rotation_is_not_undone_by_a_later_delete_which_it_outlives() {
    if !authsync_tests::vectors::oathtool_available() {
        return;
    }
    let (a, b, b_last) = sequence(
        &["rotate", QUERY, "--secret", S1],
        &["rotate", QUERY, "--secret", S2],
        &["rm", QUERY],
    );
    codes_are_oathtools(&[&a, &b], &["code", QUERY], S2);
    for inst in [&a, &b] {
        let entry = inst.show(QUERY);
        assert!(!entry.deleted, "the rotation made apart keeps it alive: {entry:?}");
        assert_eq!(entry.account, "acc1");
        let change = change_of(inst, &b_last);
        assert!(change.ends_with(": deleted"), "B's rm is credited with {change:?}");
    }
}
