//! The product as a user drives it: real `authd` and `authctl` on a temp
//! home, every verb, restarts (clean and `kill -9`), auto-start and
//! shutdown. Codes are checked against the RFC vectors or computed here from
//! the secret the test chose.
#![allow(clippy::unwrap_used)]

use authsync_proto::ipc::{CodeReply, EntrySummary, ErrorCode, LogEvent, Reply, Request, VersionInfo};
use authsync_proto::otp::{Algorithm, OtpKind, OtpSpec};
use authsync_tests::otp::{RFC4226_CODES, RFC4226_SECRET, hotp, totp};
use std::time::Duration;

use authsync_tests::{Instance, path_str, unix_now, wait_until};

const AMAZON_URI: &str = "otpauth://totp/Amazon:alice?secret=JBSWY3DPEHPK3PXP&issuer=Amazon";
const AMAZON_SECRET: &str = "JBSWY3DPEHPK3PXP";
const NEW_SECRET: &str = "KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF";

fn labels(list: &[EntrySummary]) -> Vec<String> {
    list.iter().map(EntrySummary::label).collect()
}

#[test]
fn init_add_a_uri_and_read_its_codes() {
    let inst = Instance::with_household();
    let status = inst.status();
    assert!(
        status.initialized && !status.locked && !status.needs_passphrase,
        "{status:?}"
    );
    assert_eq!(status.device_name.as_deref(), Some("test-device"));
    assert_eq!(status.entries, Some(0));

    let added = inst.ctl_ok(&["add", AMAZON_URI]);
    assert!(added.contains("Added Amazon: alice"), "{added}");

    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
    inst.assert_totp(&["code", "ALICE"], AMAZON_SECRET, &totp(), 0);
    inst.assert_totp(&["code", "amazon", "--next"], AMAZON_SECRET, &totp(), 30);

    // -v: the code alone on stdout, the entry and seconds left on stderr.
    let from = unix_now();
    let out = inst.ctl(&["code", "-v", "amazon"]);
    out.assert_exit(0);
    let expected = authsync_tests::otp::codes_between(AMAZON_SECRET, &totp(), from, unix_now());
    assert!(expected.iter().any(|c| c == out.line()), "{out}");
    assert!(out.stderr.contains("Amazon: alice: valid for "), "{out}");
    let left: u64 = out
        .stderr
        .split("valid for ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no seconds left in\n{out}"));
    assert!((1..=30).contains(&left), "{out}");

    let reply: CodeReply = inst.ctl_json(&["code", "amazon"]);
    assert_eq!(reply.entry.label(), "Amazon: alice");
    assert!(reply.seconds_left.is_some_and(|s| (1..=30).contains(&s)), "{reply:?}");

    let status = inst.status();
    assert_eq!(status.entries, Some(1));
    assert_eq!(labels(&inst.list()), ["Amazon: alice"]);
}

#[test]
fn add_with_flags_totp_hotp_and_steam() {
    let inst = Instance::with_household();
    inst.ctl_ok(&[
        "add",
        "--secret",
        "jbsw y3dp ehpk 3pxp",
        "--issuer",
        "GitHub",
        "--account",
        "carol",
        "--algorithm",
        "sha256",
        "--digits",
        "8",
        "--period",
        "60",
        "--tag",
        "work",
        "--note",
        "the dev account",
    ]);
    let github = OtpSpec {
        kind: OtpKind::Totp { period: 60 },
        algorithm: Algorithm::Sha256,
        digits: 8,
    };
    let code = inst.assert_totp(&["code", "github"], AMAZON_SECRET, &github, 0);
    assert_eq!(code.len(), 8);
    let entry = inst.show("github");
    assert_eq!(
        (entry.spec, entry.tags, entry.note),
        (github, vec!["work".to_string()], "the dev account".into())
    );

    let steam_spec = OtpSpec::steam();
    inst.ctl_ok(&[
        "add",
        "--steam",
        "--secret",
        RFC4226_SECRET,
        "--issuer",
        "Steam",
        "--account",
        "dave",
    ]);
    let code = inst.assert_totp(&["code", "steam"], RFC4226_SECRET, &steam_spec, 0);
    assert_eq!(code.len(), 5);

    inst.ctl_ok(&[
        "add",
        "--hotp",
        "--secret",
        RFC4226_SECRET,
        "--issuer",
        "Bank",
        "--account",
        "erin",
    ]);
    // `add` showed code #0 (and used it): `code` goes on from #1.
    assert_eq!(inst.code("bank"), RFC4226_CODES[1]);
    assert_eq!(inst.code("bank"), RFC4226_CODES[2]);

    inst.ctl_ok(&[
        "add",
        "--hotp",
        "--counter",
        "5",
        "--secret",
        RFC4226_SECRET,
        "--account",
        "frank",
    ]);
    assert_eq!(inst.code("frank"), RFC4226_CODES[6]);

    let uri = format!("otpauth://hotp/Shop:gina?secret={RFC4226_SECRET}&counter=2");
    inst.ctl_ok(&["add", &uri]);
    assert_eq!(inst.code("shop"), RFC4226_CODES[3]);

    assert_eq!(
        labels(&inst.list()),
        ["Bank: erin", "frank", "GitHub: carol", "Shop: gina", "Steam: dave"]
    );
    assert_eq!(inst.show("steam").spec, steam_spec);
    assert_eq!(inst.show("bank").spec, hotp(3));
}

#[test]
fn add_reads_the_uri_or_the_secret_from_stdin() {
    let inst = Instance::with_household();
    inst.ctl_stdin(&["add", "-"], &format!("{AMAZON_URI}\n")).assert_exit(0);
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);

    let out = inst.ctl_stdin(
        &["add", "--secret", "-", "--issuer", "Piped"],
        &format!("{NEW_SECRET}\n"),
    );
    out.assert_exit(0);
    assert!(
        !out.stdout.contains(NEW_SECRET) && !out.stderr.contains(NEW_SECRET),
        "{out}"
    );
    inst.assert_totp(&["code", "piped"], NEW_SECRET, &totp(), 0);
}

#[test]
fn an_entry_through_rename_edit_rotate_rm_restore_history_and_log() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", AMAZON_URI]);

    let out = inst.ctl_ok(&["rename", "amazon", "--account", "bob"]);
    assert!(out.contains("renamed Amazon: bob"), "{out}");
    assert_eq!(labels(&inst.list()), ["Amazon: bob"]);
    inst.assert_totp(&["code", "bob"], AMAZON_SECRET, &totp(), 0);
    inst.ctl(&["code", "alice"]).assert_error(4, &["alice"]);

    inst.ctl_ok(&[
        "edit",
        "amazon",
        "--tag",
        "shared",
        "--tag",
        "shopping",
        "--note",
        "ask bob first",
    ]);
    let entry = inst.show("amazon");
    assert_eq!(
        (entry.tags, entry.note.as_str()),
        (vec!["shared".into(), "shopping".into()], "ask bob first")
    );
    inst.ctl_ok(&["edit", "amazon", "--untag", "shared"]);
    assert_eq!(inst.show("amazon").tags, ["shopping"]);

    let out = inst.ctl_ok(&["rotate", "amazon", "--secret", NEW_SECRET]);
    assert!(out.contains("Rotated Amazon: bob"), "{out}");
    inst.assert_totp(&["code", "amazon"], NEW_SECRET, &totp(), 0);
    inst.assert_totp(&["code", "amazon", "--previous"], AMAZON_SECRET, &totp(), 0);

    let out = inst.ctl_ok(&["rm", "amazon"]);
    assert!(out.contains("deleted Amazon: bob"), "{out}");
    inst.ctl(&["code", "amazon"])
        .assert_error(4, &["no entry matches", "amazon"]);
    assert!(inst.list().is_empty());
    let with_deleted: Vec<EntrySummary> = inst.ctl_json(&["list", "--deleted"]);
    assert_eq!(labels(&with_deleted), ["Amazon: bob"]);
    assert!(with_deleted[0].deleted);
    assert_eq!(inst.status().entries, Some(0));

    inst.ctl_ok(&["restore", "amazon"]);
    inst.assert_totp(&["code", "amazon"], NEW_SECRET, &totp(), 0);
    assert_eq!(inst.status().entries, Some(1));

    // History: every version, newest first; one head; the rotation changed
    // the secret's fingerprint and nothing else did.
    let history: Vec<VersionInfo> = inst.ctl_json(&["history", "amazon"]);
    let changes: Vec<&str> = history.iter().map(|v| v.change.as_str()).collect();
    assert_eq!(
        changes,
        [
            "Amazon: bob: restored",
            "Amazon: bob: deleted",
            "Amazon: bob: rotated the secret",
            "Amazon: bob: edited tags",
            "Amazon: bob: edited tags, edited the note",
            "Amazon: bob: renamed from Amazon: alice",
            "added Amazon: alice",
        ]
    );
    assert_eq!(history.iter().filter(|v| v.head).count(), 1);
    assert!(history[0].head);
    let fingerprints: Vec<&str> = history.iter().map(|v| v.secret_fingerprint.as_str()).collect();
    assert!(
        fingerprints[..3].iter().all(|f| *f == fingerprints[0]),
        "{fingerprints:?}"
    );
    assert!(
        fingerprints[3..].iter().all(|f| *f == fingerprints[6]),
        "{fingerprints:?}"
    );
    assert_ne!(fingerprints[0], fingerprints[6]);
    assert!(history.windows(2).all(|w| w[0].time_ms >= w[1].time_ms));
    let text = inst.ctl_ok(&["history", "amazon"]);
    assert_eq!(text.lines().count(), history.len(), "{text}");

    // The audit log: every event, newest first, names but never secrets.
    let log: Vec<LogEvent> = inst.ctl_json(&["log"]);
    let whats: Vec<&str> = log.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(&whats[..7], &changes[..], "{whats:?}");
    // `init` places the device in a person: the login name by default.
    let devices: Vec<authsync_proto::ipc::DeviceInfo> = inst.ctl_json(&["devices"]);
    let person = devices[0].person.clone().expect("init gives the device a person");
    assert_eq!(
        &whats[7..],
        [
            "created the household key",
            &format!("said test-device is {person}'s device"),
            "started the household as test-device"
        ]
    );
    assert!(log.windows(2).all(|w| w[0].time_ms >= w[1].time_ms));
    assert!(log.iter().all(|e| e.device_name.as_deref() == Some("test-device")));
    let limited: Vec<LogEvent> = inst.ctl_json(&["log", "--limit", "2"]);
    assert_eq!(limited, log[..2]);
    let text = inst.ctl_ok(&["log"]);
    let json = inst.ctl(&["--json", "log"]).stdout;
    for secret in [AMAZON_SECRET, NEW_SECRET] {
        for shown in [secret.to_string(), secret.to_lowercase()] {
            assert!(
                !text.contains(&shown) && !json.contains(&shown),
                "the log shows a secret"
            );
        }
    }
}

#[test]
fn a_locked_key_file_vault_refuses_codes_until_unlocked() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", AMAZON_URI]);
    inst.ctl(&["lock"]).assert_exit(0);
    assert!(inst.status().locked);
    inst.ctl(&["code", "amazon"])
        .assert_error(3, &["locked", "authctl unlock"]);
    inst.ctl(&["list"]).assert_error(3, &["locked"]);
    inst.ctl(&["unlock"]).assert_exit(0);
    assert!(!inst.status().locked);
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
}

#[test]
fn restarts_keep_everything_and_a_key_file_vault_opens_itself() {
    let mut inst = Instance::with_household();
    inst.ctl_ok(&["add", AMAZON_URI]);
    inst.ctl_ok(&[
        "add",
        "--secret",
        NEW_SECRET,
        "--issuer",
        "Bank",
        "--account",
        "alice",
        "--tag",
        "money",
    ]);
    inst.ctl_ok(&["rotate", "bank", "--secret", AMAZON_SECRET]);
    inst.ctl_ok(&["rm", "amazon"]);
    let status = inst.status();
    let all: Vec<EntrySummary> = inst.ctl_json(&["list", "--deleted"]);
    let history: Vec<VersionInfo> = inst.ctl_json(&["history", "bank"]);

    for crash in [false, true] {
        if crash {
            inst.crash_restart();
        } else {
            inst.restart();
        }
        let after = inst.status();
        assert!(!after.locked, "a key-file vault unlocks at start");
        assert_eq!(
            (after.device, after.household, after.records, after.entries),
            (
                status.device.clone(),
                status.household.clone(),
                status.records,
                status.entries
            )
        );
        assert_eq!(inst.ctl_json::<Vec<EntrySummary>>(&["list", "--deleted"]), all);
        assert_eq!(inst.ctl_json::<Vec<VersionInfo>>(&["history", "bank"]), history);
        inst.assert_totp(&["code", "bank"], AMAZON_SECRET, &totp(), 0);
        inst.assert_totp(&["code", "bank", "--previous"], NEW_SECRET, &totp(), 0);
        inst.ctl(&["code", "amazon"]).assert_error(4, &["amazon"]);
    }
}

#[test]
fn a_passphrase_vault_is_locked_after_a_restart_until_unlocked() {
    let mut inst = Instance::with_passphrase("correct horse battery staple");
    let status = inst.status();
    assert!(status.needs_passphrase && !status.locked, "{status:?}");
    inst.ctl_ok(&["add", AMAZON_URI]);
    let list = inst.list();

    inst.restart();
    let status = inst.status();
    assert!(status.locked && status.needs_passphrase, "{status:?}");
    assert_eq!(status.entries, None);
    inst.ctl(&["code", "amazon"]).assert_error(3, &["locked"]);
    inst.unlock();
    assert_eq!(inst.list(), list);
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);

    // Lock by hand: unlocking again needs the passphrase.
    inst.ctl(&["lock"]).assert_exit(0);
    inst.ctl(&["unlock"]).assert_error(2, &["--passphrase-file"]);
    inst.unlock();
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
}

#[test]
fn an_idle_vault_locks_itself() {
    let mut inst = Instance::new();
    inst.set_daemon_args(&["--auto-lock", "2"]);
    inst.start();
    inst.ctl_ok(&["init", "--no-passphrase", "--name", "idle"]);
    inst.ctl_ok(&["add", AMAZON_URI]);
    assert!(!inst.status().locked);
    // Every request counts as use, `status` too: watch the log instead.
    wait_until(Duration::from_secs(10), "the idle vault to lock itself", || {
        inst.daemon_log().contains("locked after 2s idle")
    });
    let status = inst.status();
    assert!(status.locked && status.auto_lock_secs == Some(2), "{status:?}");
    inst.ctl(&["code", "amazon"]).assert_error(3, &["locked"]);
    inst.ctl(&["unlock"]).assert_exit(0);
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
}

#[test]
fn codes_gives_every_live_entrys_current_and_next_code_and_no_secret() {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", AMAZON_URI]);
    inst.ctl_ok(&[
        "add",
        "--secret",
        RFC4226_SECRET,
        "--issuer",
        "Bank",
        "--account",
        "me",
        "--hotp",
    ]);
    inst.ctl_ok(&["add", "--secret", RFC4226_SECRET, "--issuer", "Gone", "--account", "x"]);
    inst.ctl_ok(&["rm", "gone"]);
    let before = inst.snapshot();
    let Ok(Reply::Codes(codes)) = inst.request(&Request::Codes) else {
        panic!("no codes reply");
    };
    let labels: Vec<String> = codes.entries.iter().map(|c| c.entry.label()).collect();
    assert_eq!(labels, ["Amazon: alice", "Bank: me"], "live entries, by label");
    let amazon = &codes.entries[0];
    assert_eq!(
        amazon.code.as_deref(),
        Some(authsync_tests::otp::code_at(AMAZON_SECRET, &totp(), codes.at).as_str())
    );
    assert_eq!(
        amazon.next.as_deref(),
        Some(authsync_tests::otp::code_at(AMAZON_SECRET, &totp(), codes.at + 30).as_str())
    );
    // HOTP: no code, and asking used none up.
    assert_eq!(
        (codes.entries[1].code.as_ref(), codes.entries[1].next.as_ref()),
        (None, None)
    );
    inst.assert_unchanged(&before);
    let json = serde_json::to_string(&codes).unwrap();
    assert!(
        !json.contains(AMAZON_SECRET) && !json.contains(RFC4226_SECRET),
        "{json}"
    );
}

#[test]
fn the_live_views_refreshes_do_not_keep_the_vault_unlocked() {
    let mut inst = Instance::new();
    inst.set_daemon_args(&["--auto-lock", "2"]);
    inst.start();
    inst.ctl_ok(&["init", "--no-passphrase", "--name", "idle"]);
    inst.ctl_ok(&["add", AMAZON_URI]);
    // What an open view sends when a period ends (and nothing else): the
    // vault locks all the same.
    let mut codes = 0;
    wait_until(Duration::from_secs(10), "the vault to lock under `codes`", || {
        if inst.request(&Request::Codes).is_ok() {
            codes += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
        inst.daemon_log().contains("locked after 2s idle")
    });
    assert!(codes > 0, "no `codes` request was answered before the lock");
    let refused = inst.request(&Request::Codes).unwrap_err();
    assert_eq!(refused.code, ErrorCode::Locked);
}

#[test]
fn hotp_counters_advance_durably_across_restarts_and_crashes() {
    let mut inst = Instance::with_household();
    let out = inst.ctl_ok(&[
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
    // `add` showed (and so used) code #0.
    let mut next = 1;
    let mut expect_next = |inst: &Instance| {
        assert_eq!(inst.code("bank"), RFC4226_CODES[next], "HOTP code #{next}");
        next += 1;
    };
    expect_next(&inst);
    expect_next(&inst);
    inst.restart();
    expect_next(&inst);
    // A crash right after a code was handed out must not hand it out again.
    inst.crash_restart();
    expect_next(&inst);
    inst.crash_restart();
    expect_next(&inst);
    inst.ctl(&["lock"]).assert_exit(0);
    inst.ctl(&["code", "bank"]).assert_error(3, &["locked"]);
    inst.ctl(&["unlock"]).assert_exit(0);
    expect_next(&inst);
    assert_eq!(inst.show("bank").spec, hotp(7));
    let log: Vec<LogEvent> = inst.ctl_json(&["log", "--limit", "6"]);
    assert!(log.iter().all(|e| e.what == "Bank: erin: used an HOTP code"), "{log:?}");
}

#[test]
fn an_hotp_code_is_never_handed_out_twice() {
    let inst = Instance::with_household();
    let added: CodeReply = inst.ctl_json(&["add", "--hotp", "--secret", RFC4226_SECRET, "--account", "erin"]);
    assert_ne!(
        inst.code("erin"),
        added.code,
        "the code shown by add was handed out again"
    );
}

#[test]
fn authctl_starts_a_daemon_when_none_runs_and_shutdown_stops_it() {
    let mut inst = Instance::new();
    assert!(!inst.socket().exists());
    // No daemon: the first command starts one, beside authctl or $AUTHSYNC_AUTHD.
    inst.ctl_ok(&["init", "--no-passphrase", "--name", "auto"]);
    assert!(inst.socket().exists() && inst.pid_file().exists());
    inst.ctl_ok(&["add", AMAZON_URI]);
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
    let first_pid = std::fs::read_to_string(inst.pid_file()).unwrap();

    inst.stop();
    inst.ctl(&["shutdown"]).assert_exit(0);

    // The next command starts another, which finds the household.
    let status = inst.status();
    assert!(status.initialized && !status.locked, "{status:?}");
    assert_ne!(std::fs::read_to_string(inst.pid_file()).unwrap(), first_pid);
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
    inst.stop();
}

#[test]
fn init_with_a_passphrase_file_uses_its_first_line_and_never_shows_it() {
    let inst = Instance::started();
    let file = inst.write_file("pass", "s3cret passphrase\nsecond line ignored\n");
    let out = inst.ctl(&["init", "--passphrase-file", path_str(&file), "--name", "pp"]);
    out.assert_exit(0);
    assert!(
        !out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"),
        "{out}"
    );
    assert!(inst.status().needs_passphrase);
    inst.ctl(&["lock"]).assert_exit(0);
    let wrong = inst.write_file("second-line", "second line ignored\n");
    inst.ctl(&["unlock", "--passphrase-file", path_str(&wrong)])
        .assert_error(2, &["wrong passphrase"]);
    inst.ctl(&["unlock", "--passphrase-file", path_str(&file)])
        .assert_exit(0);
    assert!(!inst.daemon_log().contains("s3cret"));
}
