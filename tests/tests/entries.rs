//! Entries as a person lives with them: a deleted entry is gone from every
//! verb but `list --deleted`, `restore` and `history --deleted`; `restore`
//! of a live entry says it is not deleted; adding an entry the vault holds
//! already adds nothing; `list QUERY` and `list --tag`.
#![allow(clippy::unwrap_used)]

use authsync_proto::ipc::EntrySummary;
use authsync_tests::Instance;

const GITHUB: &str = "otpauth://totp/GitHub:carol?secret=JBSWY3DPEHPK3PXP&issuer=GitHub";
const GITHUB_NEW: &str = "otpauth://totp/GitHub:carol?secret=KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF&issuer=GitHub";

fn labels(list: &[EntrySummary]) -> Vec<String> {
    list.iter().map(EntrySummary::label).collect()
}

/// `rm github`, then a new GitHub entry: every verb that names an entry
/// finds the live one alone, and the deleted one only where asked for.
#[test]
fn a_deleted_entry_is_out_of_every_verb_but_the_deleted_ones() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", GITHUB]);
    let old = inst.show("github");
    inst.ctl_ok(&["rm", "github"]);
    inst.ctl_ok(&["add", GITHUB_NEW]);
    let new = inst.show("github");
    assert_ne!(old.id, new.id);

    for args in [
        &["show", "github"][..],
        &["history", "github"],
        &["code", "github"],
        &["code", "github", "--next"],
    ] {
        let out = inst.ctl(args);
        out.assert_exit(0);
        assert!(!out.stderr.contains("matches"), "{out}");
    }
    // rotate and qr resolve the entry first: one live entry, no ambiguity.
    let out = inst.ctl(&["rotate", "github", GITHUB]);
    assert!(!out.stderr.contains("matches 2"), "{out}");
    out.assert_exit(0);
    let png = inst.home().join("github.png");
    let out = inst.ctl(&["qr", "github", "--png", png.to_str().unwrap()]);
    out.assert_exit(0);
    assert!(png.exists(), "{out}");

    assert_eq!(labels(&inst.list()), ["GitHub: carol"]);
    let all: Vec<EntrySummary> = inst.ctl_json(&["list", "--deleted"]);
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().filter(|e| e.deleted).count(), 1);
}

#[test]
fn restore_of_a_live_entry_says_it_is_not_deleted() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", GITHUB]);
    inst.assert_refused(&["restore", "github"], 2, &["GitHub: carol is not deleted"]);
    inst.assert_refused(&["restore", "nothing-like-it"], 4, &["no entry matches"]);
    inst.ctl_ok(&["rm", "github"]);
    inst.assert_refused(&["show", "github"], 4, &["no entry matches"]);
    let restored = inst.ctl_ok(&["restore", "github"]);
    assert!(restored.contains("GitHub: carol"), "{restored}");
    assert_eq!(labels(&inst.list()), ["GitHub: carol"]);
}

/// The same secret, algorithm, digits, period, issuer and account: the
/// vault holds it already, and nothing is written. A different algorithm
/// is another entry.
#[test]
fn adding_an_entry_twice_adds_nothing() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", GITHUB]);
    inst.assert_refused(
        &["add", GITHUB],
        2,
        &["GitHub: carol is already in the vault", "nothing was added"],
    );
    // Spelled another way (lowercase, padded, defaults written out): the same.
    let same = "otpauth://totp/GitHub:carol?secret=jbswy3dpehpk3pxp&issuer=GitHub&algorithm=SHA1&digits=6&period=30";
    inst.assert_refused(&["add", same], 2, &["already in the vault"]);
    let sha256 = "otpauth://totp/GitHub:carol?secret=JBSWY3DPEHPK3PXP&issuer=GitHub&algorithm=SHA256";
    inst.ctl_ok(&["add", sha256]);
    assert_eq!(inst.list().len(), 2);
}

#[test]
fn list_takes_a_query_and_a_tag_and_shows_tags() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", GITHUB, "--tag", "Work"]);
    inst.ctl_ok(&[
        "add",
        "otpauth://totp/Amazon:alice?secret=KRSXG5CTMVRXEZLU&issuer=Amazon",
        "--tag",
        "home",
    ]);
    let found: Vec<EntrySummary> = inst.ctl_json(&["list", "git"]);
    assert_eq!(labels(&found), ["GitHub: carol"]);
    let found: Vec<EntrySummary> = inst.ctl_json(&["list", "--tag", "work"]);
    assert_eq!(labels(&found), ["GitHub: carol"]);
    let found: Vec<EntrySummary> = inst.ctl_json(&["list", "--tag", "nope"]);
    assert!(found.is_empty());
    let out = inst.ctl_ok(&["list"]);
    assert!(out.contains("[Work]") && out.contains("[home]"), "{out}");
}

/// The short-secret warning: only below 80 bits (what most sites issue),
/// once, and only once the entry was taken.
#[test]
fn the_short_secret_warning_comes_once_after_a_valid_input() {
    let inst = Instance::with_household();
    // 72 bits with a bad digits flag: the error alone.
    let args = ["add", "--secret", "JBSWY3DPEHPK3PX", "--issuer", "S", "--digits", "5"];
    let out = inst.ctl(&args);
    out.assert_exit(2);
    assert!(!out.stderr.contains("bits"), "{out}");
    // Valid: one warning, after the entry is added.
    let out = inst.ctl(&["add", "--secret", "JBSWY3DPEHPK3PX", "--issuer", "S"]);
    out.assert_exit(0);
    assert_eq!(
        out.stderr.matches("warning: the secret is only 72 bits").count(),
        1,
        "{out}"
    );
    // Again: a duplicate, refused, with no warning.
    let out = inst.ctl(&["add", "--secret", "JBSWY3DPEHPK3PX", "--issuer", "S"]);
    out.assert_exit(2);
    assert!(!out.stderr.contains("bits"), "{out}");
    // 80 bits: nothing to warn about.
    let out = inst.ctl(&["add", "otpauth://totp/T:a?secret=JBSWY3DPEHPK3PXP&issuer=T"]);
    out.assert_exit(0);
    assert!(!out.stderr.contains("warning"), "{out}");
}

/// `code --next -v`: the next code starts when the current one ends.
#[test]
fn the_next_code_says_when_it_starts() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", GITHUB]);
    let out = inst.ctl(&["code", "github", "--next", "-v"]);
    out.assert_exit(0);
    assert!(out.stderr.contains("GitHub: carol: starts in "), "{out}");
    let out = inst.ctl(&["code", "github", "-v"]);
    assert!(out.stderr.contains("GitHub: carol: valid for "), "{out}");
    let status = inst.ctl_ok(&["status"]);
    assert!(status.contains("(1 member)"), "{status}");
}
