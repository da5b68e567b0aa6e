//! Issue 12: lending codes, not the seed. Alice lends her Amazon codes to
//! carol's tablet for a short while; the tablet serves codes equal to
//! `oathtool`'s for the whole window, marked as lent, stops at its end, and
//! its store holds no seed. Without `oathtool` the comparison skips, except
//! under `CI=true`, where it fails.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use authsync_proto::ipc::{CodeReply, LentInfo, Reply, Request};
use authsync_proto::lend::LentCodes;
use authsync_proto::otp::Algorithm;
use authsync_proto::record::Body;
use authsync_tests::household::{founder_as, join_with, pair};
use authsync_tests::peer::stolen;
use authsync_tests::{unix_now, vectors, wait_until};

const AMAZON: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const PROPAGATE: Duration = Duration::from_secs(20);

/// `oathtool`'s code of `secret` (base32) at Unix second `at`.
fn oathtool_at(secret: &str, at: u64) -> String {
    let raw = authsync_proto::otp::Secret::from_base32(secret).unwrap();
    let hex: String = raw.expose().iter().map(|b| format!("{b:02x}")).collect();
    vectors::oathtool_totp(&hex, Algorithm::Sha1, 6, 30, at)
}

#[test]
fn lent_codes_match_oathtool_stop_at_the_end_and_leave_no_seed() {
    let oathtool = vectors::oathtool_available();
    let laptop = founder_as("alice-laptop", "alice");
    let mut tablet = join_with(
        &laptop,
        "carol-tablet",
        &pair(&laptop),
        &["--no-passphrase", "--person", "carol"],
    );
    laptop.ctl_ok(&["add", "--secret", AMAZON, "--issuer", "Amazon", "--account", "alice"]);
    assert_eq!(laptop.show("amazon").collection, "alice");
    let lent: Vec<LentInfo> = laptop.ctl_json(&["lend", "amazon", "--to", "carol", "--for", "40s"]);
    assert_eq!(lent.len(), 1);
    let until = lent[0].until_ms / 1000;
    assert!(until > unix_now() && until <= unix_now() + 40 + 30, "{lent:?}");

    wait_until(PROPAGATE, "the lent codes to reach the tablet", || {
        tablet.ctl(&["code", "amazon"]).code() == Some(0)
    });
    assert!(tablet.list().is_empty(), "the tablet reads no entry of alice's");
    for _ in 0..3 {
        let from = unix_now();
        let out = tablet.ctl(&["code", "amazon"]);
        out.assert_exit(0);
        assert!(out.stderr.contains("lent by alice-laptop"), "{out}");
        let reply: CodeReply = tablet.ctl_json(&["code", "amazon"]);
        assert_eq!(reply.lent.as_ref().unwrap().by, "alice-laptop");
        if oathtool && unix_now() / 30 == from / 30 {
            assert_eq!(out.line(), oathtool_at(AMAZON, from));
            break;
        }
    }
    // The live view lists it, marked as lent, with its code.
    let Ok(Reply::Codes(live)) = tablet.request(&Request::Codes) else {
        panic!("codes failed");
    };
    let row = live
        .entries
        .iter()
        .find(|c| c.entry.label() == "Amazon: alice")
        .unwrap();
    assert_eq!(row.entry.collection, "lent");
    assert!(row.code.is_some());
    let listed: Vec<LentInfo> = tablet.ctl_json(&["lent"]);
    assert!(
        listed
            .iter()
            .any(|l| l.here && l.to == "carol" && l.entry.as_deref() == Some("Amazon: alice"))
    );

    // Every code of the window, opened from the tablet's store with its own
    // keys, is oathtool's; and the store holds no seed.
    tablet.stop();
    let records = authsync_tests::stored_records(&tablet.vault_dir());
    let keys = stolen(&tablet.data_dir());
    let household = records[0].household;
    let codes: Vec<LentCodes> = records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Lend(l) => Some(
                l.open(&household, &keys.device, keys.box_key.as_ref().unwrap())
                    .unwrap(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(codes.len(), 1);
    assert!(codes[0].codes.len() >= 2);
    if oathtool {
        for (i, code) in codes[0].codes.iter().enumerate() {
            assert_eq!(code, &oathtool_at(AMAZON, codes[0].start + 30 * i as u64), "code {i}");
        }
    }
    authsync_tests::files::assert_absent_under(&tablet.data_dir(), &authsync_tests::files::secret_needles(AMAZON));
    tablet.start();

    // At the window's end the codes stop.
    wait_until(
        Duration::from_secs(until.saturating_sub(unix_now()) + 15),
        "the lent codes to run out",
        || tablet.ctl(&["code", "amazon"]).code() != Some(0),
    );
    tablet.assert_refused(&["code", "amazon"], 4, &["ran out"]);
}

#[test]
fn hotp_and_steam_entries_say_why_they_cannot_be_lent() {
    let laptop = founder_as("alice-laptop", "alice");
    let tablet = join_with(
        &laptop,
        "carol-tablet",
        &pair(&laptop),
        &["--no-passphrase", "--person", "carol"],
    );
    laptop.ctl_ok(&[
        "add",
        "--secret",
        AMAZON,
        "--issuer",
        "Bank",
        "--account",
        "a",
        "--hotp",
    ]);
    laptop.ctl_ok(&[
        "add",
        "--secret",
        AMAZON,
        "--issuer",
        "Steam",
        "--account",
        "a",
        "--steam",
    ]);
    // Settled first: a record of the join on its way to the laptop would
    // change it during a refused request.
    authsync_tests::wait_settled(PROPAGATE, &[&laptop, &tablet]);
    laptop.assert_refused(&["lend", "bank", "--to", "carol", "--for", "1h"], 2, &["HOTP"]);
    laptop.assert_refused(&["lend", "steam", "--to", "carol", "--for", "1h"], 2, &["Steam"]);
    laptop.assert_refused(
        &["lend", "bank", "--to", "carol", "--for", "8days"],
        2,
        &["at most a week"],
    );
    laptop.assert_refused(&["lend", "bank", "--to", "dave", "--for", "1h"], 4, &["no person"]);
}
