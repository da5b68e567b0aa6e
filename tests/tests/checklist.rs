//! The exposure checklist by hand: `authctl exposed --dismiss QUERY` takes
//! an entry off a revoked device's checklist on this device, keeps it off
//! across restarts, and says so in `log`; what is on no checklist is
//! refused with a reason.
#![allow(clippy::unwrap_used)]

use authsync_proto::ipc::{Exposure, LogEvent};
use authsync_tests::household::{add, founder, join};

const AMAZON_SECRET: &str = "JBSWY3DPEHPK3PXP";
const NETFLIX_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const BANK_SECRET: &str = "KNSWG4TFORZWKY3SMV2HG5LQMVZHG2LQ";

/// `exposed --json ARGS`: (device name, [entry labels]) per report.
#[track_caller]
fn checklists(inst: &authsync_tests::Instance, args: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut all = vec!["exposed"];
    all.extend_from_slice(args);
    let reports: Vec<Exposure> = inst.ctl_json(&all);
    reports
        .into_iter()
        .map(|r| (r.device_name, r.entries.into_iter().map(|e| e.entry.label()).collect()))
        .collect()
}

fn list(device: &str, labels: &[&str]) -> Vec<(String, Vec<String>)> {
    vec![(device.to_string(), labels.iter().map(|l| l.to_string()).collect())]
}

#[test]
fn a_dismissed_item_leaves_the_checklist_for_good_and_is_in_the_log() {
    let mut a = founder("a");
    add(&a, "Amazon", "alice", AMAZON_SECRET);
    add(&a, "Netflix", "family", NETFLIX_SECRET);
    let b = join(&a, "b");
    a.ctl_ok(&["revoke", "b", "--yes"]);
    drop(b);
    // Written after the revocation: on no checklist.
    add(&a, "Bank", "alice", BANK_SECRET);
    assert_eq!(checklists(&a, &[]), list("b", &["Amazon: alice", "Netflix: family"]));

    let out = a.ctl(&["exposed", "--dismiss", "netflix"]);
    out.assert_exit(0);
    assert!(!out.stdout.contains("Netflix"), "{out}");
    assert!(out.stdout.contains("Amazon: alice"), "{out}");
    assert_eq!(checklists(&a, &[]), list("b", &["Amazon: alice"]));
    assert_eq!(checklists(&a, &["b"]), list("b", &["Amazon: alice"]));

    let log: Vec<LogEvent> = a.ctl_json(&["log"]);
    let dismissed = log.iter().find(|e| e.event == "exposure_dismissed").unwrap();
    assert_eq!(dismissed.entry_label.as_deref(), Some("Netflix: family"));
    assert_eq!(dismissed.subject_device_name.as_deref(), Some("b"));
    assert!(dismissed.record.is_empty(), "a dismissal is local, no record");
    assert!(
        a.ctl_ok(&["log"])
            .contains("took Netflix: family off the checklist of b")
    );

    // Refused, with a reason and nothing changed: an entry on no checklist,
    // the same one again, a query that matches nothing.
    a.ctl(&["exposed", "--dismiss", "bank"])
        .assert_error(4, &["Bank: alice is on no exposure checklist"]);
    a.ctl(&["exposed", "--dismiss", "netflix"])
        .assert_error(4, &["on no exposure checklist"]);
    a.ctl(&["exposed", "--dismiss", "zzzz"]).assert_error(4, &["zzzz"]);

    a.restart();
    assert_eq!(checklists(&a, &[]), list("b", &["Amazon: alice"]));
}
