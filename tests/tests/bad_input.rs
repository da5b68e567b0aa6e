//! Bad input, from the command line, the socket and the disk. Each refusal
//! must give the documented exit code and a one-line message that says what
//! is wrong, write nothing, and leave the daemon serving.
#![allow(clippy::unwrap_used)]

use std::io::Write;

use authsync_proto::ipc::{ErrorCode, NewEntry, NewSecret, Reply, Request, Response, WireSecret};
use authsync_proto::otp::{Algorithm, OtpKind, OtpSpec};
use authsync_tests::otp::totp;
use authsync_tests::raw::{HELLO, RawClient};
use authsync_tests::{Instance, files, path_str};

const AMAZON_URI: &str = "otpauth://totp/Amazon:alice?secret=JBSWY3DPEHPK3PXP&issuer=Amazon";
const AMAZON_SECRET: &str = "JBSWY3DPEHPK3PXP";
const SECRET: &str = "KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF";

/// A household with Amazon and two Google accounts.
fn household() -> Instance {
    let inst = Instance::with_household();
    inst.ctl_ok(&["add", AMAZON_URI]);
    for account in ["alice", "bob"] {
        inst.ctl_ok(&["add", "--secret", SECRET, "--issuer", "Google", "--account", account]);
    }
    inst
}

/// The daemon still hands out the right code.
#[track_caller]
fn still_serving(inst: &Instance) {
    inst.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
}

/// A reply for a failure message, cut short (it may echo megabytes).
fn short(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}

fn add_flags<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["add", "--issuer", "Bad", "--account", "input"];
    args.extend_from_slice(flags);
    args
}

#[test]
fn a_malformed_uri_is_refused() {
    let inst = household();
    for (uri, says) in [
        ("otpauth://totp/Bad:input", "no secret parameter"),
        ("https://example.com/?secret=JBSWY3DPEHPK3PXP", "not an otpauth:// URI"),
        (
            "otpauth://motp/Bad:input?secret=JBSWY3DPEHPK3PXP",
            "unknown otpauth type",
        ),
        ("otpauth://totp/Bad:input?secret=JBSWY3DPEHPK3PXP&period=soon", "period"),
        ("not a uri at all", "not an otpauth:// URI"),
    ] {
        inst.assert_refused(&["add", uri], 2, &["invalid otpauth URI", says]);
    }
    still_serving(&inst);
}

#[test]
fn a_secret_that_is_not_base32_is_refused() {
    let inst = household();
    inst.assert_refused(&add_flags(&["--secret", "JBSWY3DP1!"]), 2, &["not valid base32"]);
    inst.assert_refused(&add_flags(&["--secret", "ABC"]), 2, &["impossible length"]);
    let uri = "otpauth://totp/Bad:input?secret=JBSW0189";
    inst.assert_refused(&["add", uri], 2, &["not valid base32"]);
    inst.assert_refused(&["rotate", "amazon", "--secret", "JBSW0189"], 2, &["not valid base32"]);
    still_serving(&inst);
}

#[test]
fn nine_digits_are_refused() {
    let inst = household();
    inst.assert_refused(
        &add_flags(&["--secret", SECRET, "--digits", "9"]),
        2,
        &["digits", "not 9"],
    );
    let uri = format!("otpauth://totp/Bad:input?secret={SECRET}&digits=9");
    inst.assert_refused(&["add", &uri], 2, &["digits", "not 9"]);
    still_serving(&inst);
}

#[test]
fn an_unknown_algorithm_is_refused() {
    let inst = household();
    inst.assert_refused(
        &add_flags(&["--secret", SECRET, "--algorithm", "MD5"]),
        2,
        &["algorithm", "MD5"],
    );
    let uri = format!("otpauth://totp/Bad:input?secret={SECRET}&algorithm=SHA-1");
    inst.assert_refused(&["add", &uri], 2, &["algorithm", "SHA-1"]);
    still_serving(&inst);
}

#[test]
fn an_empty_secret_is_refused() {
    let inst = household();
    inst.assert_refused(&add_flags(&["--secret", ""]), 2, &["secret is empty"]);
    inst.assert_refused(&add_flags(&["--secret", " = "]), 2, &["secret is empty"]);
    inst.assert_refused(&["add", "otpauth://totp/Bad:input?secret="], 2, &["secret is empty"]);
    let out = inst.ctl_stdin(&add_flags(&["--secret", "-"]), "\n");
    out.assert_error(2, &["secret is empty"]);
    still_serving(&inst);
}

#[test]
fn a_zero_period_is_refused() {
    let inst = household();
    inst.assert_refused(
        &add_flags(&["--secret", SECRET, "--period", "0"]),
        2,
        &["period", "not 0"],
    );
    let uri = format!("otpauth://totp/Bad:input?secret={SECRET}&period=0");
    inst.assert_refused(&["add", &uri], 2, &["period", "not 0"]);
    still_serving(&inst);
}

#[test]
fn a_huge_period_neither_panics_nor_loses_the_connection() {
    let inst = household();
    let huge = u64::MAX.to_string();
    let out = inst.ctl(&add_flags(&["--secret", SECRET, "--period", &huge]));
    if out.code() == Some(0) {
        // Accepted: then every code request must be answered.
        inst.ctl(&["code", "bad", "--next"]).assert_exit(0);
    } else {
        out.assert_error(2, &["period"]);
    }
    assert!(!inst.daemon_log().contains("panicked"), "{}", inst.daemon_log());
    still_serving(&inst);
}

#[test]
fn a_rename_cannot_leave_an_entry_nameless() {
    let inst = household();
    inst.assert_refused(
        &["rename", "amazon", "--issuer", "", "--account", ""],
        2,
        &["issuer or an account"],
    );
    still_serving(&inst);
}

#[test]
fn a_query_that_matches_nothing_exits_4() {
    let inst = household();
    inst.assert_refused(&["code", "nosuchsite"], 4, &["no entry matches 'nosuchsite'"]);
    inst.assert_refused(&["rm", "nosuchsite"], 4, &["nosuchsite"]);
    inst.assert_refused(&["rename", "nosuchsite", "--issuer", "X"], 4, &["nosuchsite"]);
    inst.assert_refused(&["rotate", "nosuchsite", "--secret", SECRET], 4, &["nosuchsite"]);
    inst.assert_refused(&["restore", "nosuchsite"], 4, &["nosuchsite"]);
    inst.assert_refused(&["restore", "amazon"], 2, &["Amazon", "is not deleted"]);
    inst.assert_refused(&["code", "amazon", "--previous"], 4, &["no previous secret"]);
    still_serving(&inst);
}

#[test]
fn an_ambiguous_query_exits_4_and_lists_the_candidates() {
    let inst = household();
    let before = inst.snapshot();
    for args in [
        &["code", "google"][..],
        &["rm", "google"],
        &["rotate", "google", "--secret", AMAZON_SECRET],
    ] {
        let out = inst.ctl(args);
        out.assert_exit(4);
        assert!(out.stdout.is_empty(), "{out}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 3, "one message and two candidates\n{out}");
        assert!(lines[0].contains("'google' matches 2 entries"), "{out}");
        assert!(
            lines[1].ends_with("Google: alice") && lines[2].ends_with("Google: bob"),
            "{out}"
        );
    }
    inst.assert_unchanged(&before);
    // The candidates' full names resolve.
    inst.assert_totp(&["code", "google:bob"], SECRET, &totp(), 0);
    still_serving(&inst);
}

#[test]
fn a_locked_daemon_refuses_with_exit_3_and_writes_nothing() {
    let inst = household();
    let before = inst.snapshot();
    inst.ctl(&["lock"]).assert_exit(0);
    let uri = format!("otpauth://totp/New:entry?secret={SECRET}");
    for args in [
        &["code", "amazon"][..],
        &["add", &uri],
        &["rm", "amazon"],
        &["rename", "amazon", "--issuer", "X"],
        &["rotate", "amazon", "--secret", SECRET],
        &["list"],
        &["history", "amazon"],
    ] {
        inst.ctl(args).assert_error(3, &["locked", "authctl unlock"]);
    }
    assert_eq!(inst.status().records, before.records);
    inst.ctl(&["unlock"]).assert_exit(0);
    inst.assert_unchanged(&before);
    still_serving(&inst);
}

#[test]
fn a_wrong_passphrase_is_refused_and_the_right_one_then_works() {
    let mut inst = Instance::with_passphrase("the right one");
    inst.ctl_ok(&["add", AMAZON_URI]);
    let before = inst.snapshot();
    inst.restart();
    let wrong = inst.write_file("wrong", "the wrong one\n");
    inst.ctl(&["unlock", "--passphrase-file", path_str(&wrong)])
        .assert_error(2, &["wrong passphrase"]);
    assert!(inst.status().locked);
    let empty = inst.write_file("empty", "\n");
    inst.ctl(&["unlock", "--passphrase-file", path_str(&empty)])
        .assert_error(2, &["holds no passphrase"]);
    inst.ctl(&["unlock"]).assert_error(2, &["--passphrase-file"]);
    inst.unlock();
    inst.assert_unchanged(&before);
    still_serving(&inst);
}

#[test]
fn no_daemon_and_none_can_start_exits_69() {
    let inst = Instance::new();
    let out = inst.ctl_env(&["code", "amazon"], &[("AUTHSYNC_AUTHD", "/nonexistent/authd")]);
    out.assert_error(69, &["could not be started", "/nonexistent/authd"]);
    assert!(!inst.data_dir().exists(), "nothing was created");
}

#[test]
fn a_data_dir_others_can_read_stops_authd_and_authctl_says_why() {
    let mut inst = Instance::new();
    std::fs::create_dir(inst.data_dir()).unwrap();
    files::set_mode(&inst.data_dir(), 0o755);
    let log = inst.start_refused();
    assert!(log.contains("chmod 700"), "{log}");
    // authctl starts one itself, which refuses in the same words.
    inst.ctl(&["status"])
        .assert_error(69, &["could not be started", "mode 755", "chmod 700"]);
    assert_eq!(files::mode(&inst.data_dir()), 0o755, "authd left the mode alone");
    assert!(files::walk(&inst.data_dir()).is_empty(), "authd wrote nothing there");
}

#[test]
fn a_10_mb_request_line_is_refused_and_the_daemon_carries_on() {
    let inst = household();
    let before = inst.snapshot();
    let mut client = RawClient::open(&inst.socket()).unwrap();
    let mut writer = client.writer().unwrap();
    // Write from a thread: the daemon stops reading long before the end.
    let sender = std::thread::spawn(move || {
        let mut line = br#"{"op":"code","query":""#.to_vec();
        line.resize(10 << 20, b'a');
        line.extend_from_slice(b"\"}\n");
        writer.write_all(&line)
    });
    match client.read_response().unwrap() {
        Response::Error(e) => assert_eq!(e.code, ErrorCode::TooLarge, "{}", short(&e)),
        other => panic!("a 10 MB line was answered with {}", short(&other)),
    }
    assert!(client.is_closed(), "the connection stays open after a 10 MB line");
    let sent = sender.join().unwrap();
    assert!(sent.is_err(), "the daemon read all 10 MB");
    inst.assert_unchanged(&before);
    still_serving(&inst);
}

#[test]
fn a_10_mb_hello_is_refused_and_the_daemon_carries_on() {
    let inst = household();
    let mut client = RawClient::connect(&inst.socket()).unwrap();
    let mut writer = client.writer().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&vec![b'{'; 10 << 20]));
    match client.read_response().unwrap() {
        Response::Error(e) => assert_eq!(e.code, ErrorCode::TooLarge, "{}", short(&e)),
        other => panic!("a 10 MB hello was answered with {}", short(&other)),
    }
    assert!(client.is_closed());
    assert!(sender.join().unwrap().is_err(), "the daemon read all 10 MB");
    still_serving(&inst);
}

#[test]
fn malformed_lines_on_the_socket_get_typed_errors() {
    let inst = household();
    let before = inst.snapshot();

    // Not a hello first, or another protocol: refused, then closed.
    for first in [
        r#"{"op":"status"}"#,
        r#"{"protocol":99,"agent":"test"}"#,
        "\u{0}\u{1}garbage",
    ] {
        let mut client = RawClient::connect(&inst.socket()).unwrap();
        client.send_line(first.as_bytes()).unwrap();
        match client.read_response().unwrap() {
            Response::Error(e) => assert_eq!(e.code, ErrorCode::Protocol, "{first}: {e:?}"),
            other => panic!("{first} was answered with {other:?}"),
        }
        assert!(client.is_closed(), "{first}");
    }

    // After the hello, a bad request is refused and the connection still
    // serves the next one.
    let mut client = RawClient::open(&inst.socket()).unwrap();
    for line in [
        "not json",
        r#"{"op":"explode"}"#,
        r#"{"op":"code"}"#,
        r#"{"op":"add","entry":{"account":"x"}}"#,
        HELLO,
    ] {
        client.send_line(line.as_bytes()).unwrap();
        match client.read_response().unwrap() {
            Response::Error(e) => {
                assert_eq!(e.code, ErrorCode::BadRequest, "{line}: {e:?}");
                assert!(!e.message.contains(line), "the error quotes the line back");
            }
            other => panic!("{line} was answered with {other:?}"),
        }
    }
    let status = client.call(&Request::Status).unwrap();
    assert!(matches!(status, Ok(Reply::Status(_))), "{status:?}");
    inst.assert_unchanged(&before);
    still_serving(&inst);
}

#[test]
fn the_daemon_checks_new_entries_itself() {
    let inst = household();
    let before = inst.snapshot();
    let spec = |kind, algorithm, digits| OtpSpec {
        kind,
        algorithm,
        digits,
    };
    let totp30 = OtpKind::Totp { period: 30 };
    for (secret, spec, issuer, account) in [
        (SECRET, spec(totp30, Algorithm::Sha1, 9), "Bad", "digits"),
        (SECRET, spec(totp30, Algorithm::Sha1, 0), "Bad", "digits"),
        (
            SECRET,
            spec(OtpKind::Totp { period: 0 }, Algorithm::Sha1, 6),
            "Bad",
            "period",
        ),
        (SECRET, spec(OtpKind::Steam, Algorithm::Sha256, 8), "Bad", "steam"),
        ("", spec(totp30, Algorithm::Sha1, 6), "Bad", "empty"),
        ("JBSW0189", spec(totp30, Algorithm::Sha1, 6), "Bad", "base32"),
        (SECRET, spec(totp30, Algorithm::Sha1, 6), "", " "),
    ] {
        let entry = NewEntry {
            issuer: Some(issuer.to_string()),
            account: account.to_string(),
            otp: NewSecret {
                secret: WireSecret::new(secret.to_string()),
                spec,
            },
            tags: Vec::new(),
            note: String::new(),
        };
        let reply = inst.request(&Request::Add {
            entry,
            collection: None,
        });
        let err = reply.expect_err("the daemon accepted an invalid entry");
        assert_eq!(err.code, ErrorCode::BadRequest, "{account}: {err:?}");
    }
    inst.assert_unchanged(&before);
    still_serving(&inst);
}

#[test]
fn init_twice_is_refused_and_changes_nothing() {
    let inst = household();
    let status = inst.status();
    let key = std::fs::read(inst.data_dir().join("vault.key")).unwrap();
    inst.assert_refused(
        &["init", "--no-passphrase", "--name", "again"],
        2,
        &["already has a household"],
    );
    let pass = inst.write_file("pass", "a passphrase\n");
    inst.assert_refused(
        &["init", "--passphrase-file", path_str(&pass), "--name", "again"],
        2,
        &["already has a household"],
    );
    let after = inst.status();
    assert_eq!(
        (after.device, after.device_name, after.household),
        (status.device, status.device_name, status.household)
    );
    assert!(!after.needs_passphrase);
    assert_eq!(std::fs::read(inst.data_dir().join("vault.key")).unwrap(), key);
    still_serving(&inst);
}

/// Stops the household's daemon, damages its vault with `damage`, and
/// checks that `authd` refuses to start saying `says`, and `authctl` exits
/// 69 with the reason.
#[track_caller]
fn refuses_damaged_vault(damage: impl FnOnce(&Instance), says: &[&str]) {
    let mut inst = household();
    inst.stop();
    damage(&inst);
    let log = inst.start_refused();
    let lower = log.to_lowercase();
    for needle in says {
        assert!(lower.contains(needle), "authd does not say {needle:?}\n{log}");
    }
    inst.ctl(&["code", "amazon"])
        .assert_error(69, &["could not be started"]);
    // Nothing panicked: `start_refused` and the instance's drop check that.
}

#[test]
fn a_vault_scrambled_on_disk_is_refused() {
    refuses_damaged_vault(
        |inst| {
            for path in files::walk(&inst.vault_dir()) {
                if path.is_file() {
                    files::scramble(&path);
                }
            }
        },
        &["failed to open the vault", "corrupt"],
    );
}

#[test]
fn a_corrupt_key_file_is_refused() {
    refuses_damaged_vault(
        |inst| std::fs::write(inst.data_dir().join("vault.key"), b"garbage").unwrap(),
        &["key file", "corrupt"],
    );
}

#[test]
fn a_vault_whose_records_are_garbage_is_refused() {
    refuses_damaged_vault(|inst| files::scramble(&inst.vault_dir().join("db")), &["corrupt"]);
}

#[test]
fn a_vault_whose_records_were_truncated_is_refused() {
    refuses_damaged_vault(
        |inst| {
            for path in files::walk(&inst.vault_dir()) {
                if path.is_file() {
                    std::fs::write(&path, b"").unwrap();
                }
            }
        },
        &["corrupt"],
    );
}

#[test]
fn a_slow_client_does_not_hold_up_others() {
    let inst = household();
    // Connected, silent: the daemon must serve others meanwhile.
    let _silent = RawClient::connect(&inst.socket()).unwrap();
    let half = RawClient::open(&inst.socket()).unwrap();
    half.writer().unwrap().write_all(br#"{"op":"sta"#).unwrap();
    still_serving(&inst);
}

/// `authctl list | head -1`: once the reader has gone, authctl ends quietly
/// with status 141 (as a C tool killed by SIGPIPE), without a panic.
#[test]
fn a_closed_stdout_ends_authctl_quietly() {
    let inst = household();
    for args in [&["list"][..], &["code", "amazon"], &["--json", "list"]] {
        // The reader is gone before authctl starts: closing it after the
        // spawn raced a fast authctl that had already written its line.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(authsync_tests::authctl_bin())
            .args(args)
            .env("AUTHSYNC_HOME", inst.home())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    still_serving(&inst);
}

/// `authctl` runs `authctl-transfer` (beside it) for imports and exports;
/// without it, those commands say what is missing, and the rest still work.
#[test]
fn a_missing_authctl_transfer_is_named() {
    let inst = household();
    let bin = tempfile::tempdir().unwrap();
    let authctl = bin.path().join("authctl");
    std::fs::copy(authsync_tests::authctl_bin(), &authctl).unwrap();
    // A copy just written may be briefly busy while another test thread's
    // child still holds it open from before its exec (ETXTBSY): retry.
    let run = |args: &[&str]| {
        for _ in 0..50 {
            match std::process::Command::new(&authctl)
                .args(args)
                .env("AUTHSYNC_HOME", inst.home())
                .output()
            {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                result => return result.unwrap(),
            }
        }
        panic!("{} stayed busy", authctl.display());
    };
    let out = run(&["import", "/nonexistent"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("authctl-transfer") && stderr.contains("install"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let out = run(&["code", "amazon"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_fuzzy_query_finds_its_entry_and_a_typo_gets_a_suggestion() {
    let inst = household();
    // Letters in order: "amzn" is in "Amazon", for every verb's QUERY.
    inst.assert_totp(&["code", "amzn"], AMAZON_SECRET, &totp(), 0);
    assert!(inst.ctl_ok(&["show", "amzn"]).contains("Amazon"));
    // Fuzzy beats nothing, exact beats fuzzy: "gh" is in "GitHub" only as
    // letters in order, until an entry is named "gh".
    inst.ctl_ok(&["add", "--secret", SECRET, "--issuer", "GitHub", "--account", "carol"]);
    inst.assert_totp(&["code", "gh"], SECRET, &totp(), 0);
    inst.ctl_ok(&["add", "--secret", AMAZON_SECRET, "--issuer", "gh", "--account", "dave"]);
    inst.assert_totp(&["code", "gh"], AMAZON_SECRET, &totp(), 0);
    // Two entries that score alike are ambiguous, as a partial match is.
    let out = inst.ctl(&["code", "ggl"]);
    out.assert_exit(4);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "one message and two candidates\n{out}");
    assert!(lines[0].contains("'ggl' matches 2 entries"), "{out}");
    for account in ["alice", "bob"] {
        let name = format!("Google: {account}");
        assert!(lines[1..].iter().any(|l| l.ends_with(&name)), "{name}\n{out}");
    }
    // A typo that is not even letters in order: no match, a suggestion.
    let before = inst.snapshot();
    inst.assert_refused(
        &["code", "anazon"],
        4,
        &["no entry matches 'anazon'; did you mean 'Amazon: alice'?"],
    );
    inst.assert_refused(&["rm", "anazon"], 4, &["did you mean 'Amazon: alice'?"]);
    // Nothing alike: no suggestion.
    let said = inst.assert_refused(&["code", "qqqq"], 4, &["no entry matches 'qqqq'"]);
    assert!(!said.contains("did you mean"), "{said}");
    inst.assert_unchanged(&before);
    still_serving(&inst);
}
