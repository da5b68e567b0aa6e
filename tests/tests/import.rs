//! Imports, exports and QR codes as a user drives them: real `authd` and
//! `authctl`, the shared vectors (`../shared/vectors/`), QR images made by
//! `qrencode` and read back by `zbarimg`, and an Aegis export opened by
//! Python's `cryptography`. Every code is checked against an implementation
//! other than ours (see `authsync_tests::vectors`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use authsync_proto::ipc::EntrySummary;
use authsync_proto::otp::OtpKind;
use authsync_tests::vectors::{self, Expected, listed_key};
use authsync_tests::{Instance, path_str, unix_now};

/// A household (key-file vault) and a password file holding `test`.
fn household() -> (Instance, PathBuf) {
    let inst = Instance::with_household();
    let pw = inst.write_file("import-password", "test\n");
    (inst, pw)
}

/// The vault holds exactly `expected` (as `list --json` shows them), and
/// every entry's code is the one an independent implementation computes.
#[track_caller]
fn assert_holds(inst: &Instance, expected: &[Expected], what: &str) {
    let mut listed: Vec<EntrySummary> = inst.list();
    let mut want: Vec<_> = expected.iter().map(Expected::key).collect();
    let mut got: Vec<_> = listed.iter().map(listed_key).collect();
    want.sort_by_key(|k| format!("{k:?}"));
    got.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(got, want, "{what}: the imported entries differ");
    for e in expected {
        match e.spec.kind {
            OtpKind::Hotp { counter } => {
                // (No two HOTP vectors share an issuer and account: asking
                // a wrong candidate for a code would advance its counter.)
                let i = listed.iter().position(|l| listed_key(l) == e.key()).unwrap();
                let entry = listed.remove(i);
                let code = inst.code(&entry.id);
                if let Some((_, want)) = e.hotp_codes.iter().find(|(c, _)| *c == counter) {
                    assert_eq!(&code, want, "{what}: {} at counter {counter}", entry.label());
                }
                if e.spec.algorithm == authsync_proto::otp::Algorithm::Sha1 {
                    let want = vectors::oathtool_hotp(&e.secret_hex, e.spec.digits, counter);
                    assert_eq!(code, want, "{what}: {} at counter {counter} (oathtool)", entry.label());
                }
                assert!(
                    !e.hotp_codes.is_empty() || e.spec.algorithm == authsync_proto::otp::Algorithm::Sha1,
                    "{what}: no independent code for {}",
                    entry.label()
                );
            }
            _ => {
                // Two vectors may share an issuer and account with different
                // secrets: the entry is whichever of them gives this code.
                let mut seen = Vec::new();
                let found = listed.iter().position(|l| {
                    if listed_key(l) != e.key() {
                        return false;
                    }
                    let from = unix_now();
                    let code = inst.code(&l.id);
                    let to = unix_now();
                    let want = vectors::independent_codes(&e.secret_hex, &e.spec, from, to);
                    let holds = want.contains(&code);
                    seen.push((l.label(), code, want));
                    holds
                });
                let Some(i) = found else {
                    panic!("{what}: no entry gives the expected code: {seen:?}");
                };
                listed.remove(i);
            }
        }
    }
}

fn import_args<'a>(files: &'a [&'a str], password: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec!["import"];
    args.extend_from_slice(files);
    if let Some(p) = password {
        args.extend(["--password-file", p]);
    }
    args
}

#[test]
fn the_independent_implementations_agree_with_the_vectors() {
    let canon = std::fs::read_to_string(vectors::dir().join("exports/expected_entries.json")).unwrap();
    let canon: serde_json::Value = serde_json::from_str(&canon).unwrap();
    let mut checked = 0;
    for e in canon["entries"].as_array().unwrap() {
        let hex = e["secret_hex"].as_str().unwrap();
        for c in e["codes"].as_array().unwrap() {
            let want = c["code"].as_str().unwrap();
            let got = match (e["type"].as_str().unwrap(), c["time"].as_u64()) {
                ("totp", Some(t)) => vectors::oathtool_totp(
                    hex,
                    e["algorithm"].as_str().unwrap().parse().unwrap(),
                    e["digits"].as_u64().unwrap() as u8,
                    e["period"].as_u64().unwrap(),
                    t,
                ),
                ("steam", Some(t)) => vectors::python_steam(hex, t),
                ("hotp", None) if e["algorithm"] == "SHA1" => {
                    vectors::oathtool_hotp(hex, e["digits"].as_u64().unwrap() as u8, c["counter"].as_u64().unwrap())
                }
                _ => continue,
            };
            assert_eq!(got, want, "{}", e["id"]);
            checked += 1;
        }
    }
    // TOTP E1-E3 and Steam E7 at two times each, SHA-1 HOTP E4 at two counters.
    assert_eq!(checked, 10);
}

fn check_export_folder(folder: &str) {
    let cases = vectors::export_cases(folder);
    assert!(cases.len() >= 5, "{folder}: only {} files in the manifest", cases.len());
    for case in cases {
        let (inst, pw) = household();
        let file = path_str(&case.file);
        let out = inst.ctl(&import_args(&[file], case.password.as_ref().map(|_| path_str(&pw))));
        out.assert_exit(0);
        assert!(
            out.stdout.starts_with(&format!(
                "imported {}, skipped 0 (already present), refused 0",
                case.expected.len()
            )),
            "{file}\n{out}"
        );
        assert_holds(&inst, &case.expected, file);
    }
}

#[test]
fn every_exports_file_imports_to_its_entries_and_codes() {
    check_export_folder("exports");
}

#[test]
fn every_more_exports_file_imports_to_its_entries_and_codes() {
    check_export_folder("more/exports");
}

fn check_migration_folder(folder: &str) {
    let cases = vectors::migration_cases(folder);
    for case in cases {
        let (inst, _) = household();
        let mut inputs: Vec<PathBuf> = Vec::new();
        if let Some(text) = &case.text {
            inputs.push(inst.write_file(&format!("{}.txt", case.id), &format!("{text}\n")));
        }
        inputs.extend(case.image.clone());
        assert!(!inputs.is_empty(), "{}: nothing to import", case.id);
        for input in &inputs {
            let before = inst.snapshot();
            let out = inst.ctl(&["import", path_str(input)]);
            if case.ok {
                out.assert_exit(0);
                assert_holds(&inst, &case.expected, &case.id);
                // The same again: every entry is already there.
                let again = inst.ctl_ok(&["import", path_str(input)]);
                assert!(
                    again.starts_with(&format!("imported 0, skipped {}", case.expected.len())),
                    "{}: {again}",
                    case.id
                );
            } else {
                let line = out.assert_error(2, &[path_str(input)]).to_string();
                assert!(
                    !line.contains("data="),
                    "{}: the error quotes the input: {line}",
                    case.id
                );
                inst.assert_unchanged(&before);
                assert!(inst.list().is_empty());
            }
        }
    }
}

#[test]
fn every_google_migration_case_imports_or_fails_cleanly() {
    check_migration_folder("google-migration");
}

#[test]
fn every_more_google_migration_case_imports_or_fails_cleanly() {
    check_migration_folder("more/google-migration");
}

#[test]
fn the_real_export_screenshot_imports() {
    let (inst, _) = household();
    let png = vectors::dir().join("google-migration/test_googleauth_export.png");
    let out = inst.ctl(&["import", path_str(&png)]);
    out.assert_exit(0);
    assert!(out.stdout.starts_with("imported 3, skipped 0"), "{out}");
    let labels: Vec<String> = inst.list().iter().map(EntrySummary::label).collect();
    assert_eq!(
        labels,
        [
            "Test1: test1@example1.com",
            "Test2: test2@example2.com",
            "Test3: test3@example3.com"
        ]
    );
    // 80 bits is what most sites issue: no warning for it.
    assert!(!out.stderr.contains("bits"), "{out}");
}

/// Other apps' screenshots of their export QR (`realworld/`): the
/// anti-aliased, non-integer-module PNG of 10 accounts and a cropped JPEG
/// phone screenshot import; a webcam photo, which zbarimg cannot read
/// either, is refused with a reason and nothing written.
#[test]
fn real_screenshots_of_export_qr_codes_import() {
    let dir = vectors::dir().join("realworld/files");
    for (file, imported) in [
        ("proton__qr_GoogleAuthenticatorExport_1.png", 10),
        ("proton__qr_GoogleAuthImportScreenshotCropped.jpg", 1),
    ] {
        let (inst, _) = household();
        let out = inst.ctl(&["import", path_str(&dir.join(file))]);
        out.assert_exit(0);
        assert!(
            out.stdout.starts_with(&format!("imported {imported}, skipped 0")),
            "{file}: {out}"
        );
        assert_eq!(inst.list().len(), imported, "{file}");
    }
    let (inst, _) = household();
    let photo = dir.join("scito__cv2_capture_screenshot.png");
    let out = inst.ctl(&["import", path_str(&photo)]);
    out.assert_error(2, &["no QR code could be read"]);
    assert!(inst.list().is_empty());
}

#[test]
fn batches_in_one_file_and_across_files_import_together() {
    let (inst, _) = household();
    let cases = vectors::migration_cases("google-migration");
    let ok: Vec<_> = cases.iter().filter(|c| c.ok && c.text.is_some()).collect();
    let (first, rest) = ok.split_at(2);
    let one = inst.write_file(
        "batch-a.txt",
        &first
            .iter()
            .map(|c| c.text.clone().unwrap())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let two = inst.write_file(
        "batch-b.txt",
        &rest
            .iter()
            .map(|c| c.text.clone().unwrap())
            .collect::<Vec<_>>()
            .join("\n\n"),
    );
    inst.ctl_ok(&["import", path_str(&one), path_str(&two)]);
    // The union, each distinct (secret, issuer, account) once.
    let mut all: Vec<Expected> = Vec::new();
    for e in ok.iter().flat_map(|c| c.expected.clone()) {
        if !all.iter().any(|a| a.key() == e.key() && a.secret_hex == e.secret_hex) {
            all.push(e);
        }
    }
    assert_holds(&inst, &all, "batches");
}

#[test]
fn a_bad_file_among_good_ones_writes_nothing() {
    let (inst, pw) = household();
    let good = vectors::dir().join("exports/aegis_plain.json");
    let text = std::fs::read_to_string(&good).unwrap();
    let truncated = inst.write_file("truncated.json", &text[..text.len() / 2]);
    let other_format = inst.write_file("keepass.xml", "<?xml version=\"1.0\"?><KeePassFile></KeePassFile>\n");
    let unknown_json = inst.write_file("other.json", "{\"entries\": []}\n");
    let encrypted = vectors::dir().join("exports/aegis_encrypted.json");
    let wrong_pw = inst.write_file("wrong-password", "nope\n");
    let andotp = vectors::dir().join("exports/andotp_encrypted.bin");
    let twofas = vectors::dir().join("exports/2fas_authenticator_encrypted_v4.2fas");
    let not_otp_qr = vectors::dir().join("more/google-migration/qr_but_without_otp.png");
    let blank_png = inst.home().join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([255]))
        .save(&blank_png)
        .unwrap();
    let huge = inst.home().join("huge.json");
    std::fs::File::create(&huge).unwrap().set_len(100 << 20).unwrap();
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec![path_str(&good), path_str(&truncated)],
            &["truncated.json", "Aegis", "truncated"],
        ),
        (
            vec![path_str(&good), path_str(&other_format)],
            &["keepass.xml", "not a format authctl imports"],
        ),
        (
            vec![path_str(&unknown_json)],
            &["other.json", "not a format authctl imports"],
        ),
        (
            vec![
                path_str(&good),
                path_str(&encrypted),
                "--password-file",
                path_str(&wrong_pw),
            ],
            &["aegis_encrypted.json", "wrong password"],
        ),
        (
            vec![path_str(&andotp), "--password-file", path_str(&wrong_pw)],
            &["andOTP", "wrong password"],
        ),
        (
            vec![path_str(&twofas), "--password-file", path_str(&wrong_pw)],
            &["2FAS", "wrong password"],
        ),
        // No terminal to ask on, and no --password-file.
        (
            vec![path_str(&good), path_str(&encrypted)],
            &["encrypted", "--password-file"],
        ),
        (
            vec![path_str(&good), path_str(&not_otp_qr)],
            &["qr_but_without_otp.png", "neither an otpauth"],
        ),
        (vec![path_str(&blank_png)], &["blank.png", "no QR code"]),
        (vec![path_str(&good), path_str(&huge)], &["huge.json", "100 MiB"]),
        (vec![path_str(&good), "--format", "2fas"], &["2FAS", "not a valid"]),
        (vec![path_str(&good), "--format", "keepass"], &["unknown format"]),
        (vec!["/nonexistent/file.json"], &["cannot read /nonexistent/file.json"]),
    ];
    for (files, says) in cases {
        let mut args = vec!["import"];
        args.extend(files);
        let line = inst.assert_refused(&args, 2, says);
        assert!(!line.contains("4SJHB4GSD43FZBAI7C2HLRJGPQ"), "{line}");
        assert!(inst.list().is_empty(), "{args:?} wrote something");
    }
    // The right password works after all that.
    inst.ctl_ok(&["import", path_str(&encrypted), "--password-file", path_str(&pw)]);
    assert_eq!(inst.list().len(), 7);
}

#[test]
fn entries_already_present_are_skipped_and_invalid_ones_refused() {
    let (inst, _) = household();
    inst.ctl_ok(&[
        "add",
        "otpauth://totp/Deno:Mason?secret=4SJHB4GSD43FZBAI7C2HLRJGPQ&issuer=Deno",
    ]);
    let list = inst.write_file(
        "list.txt",
        "otpauth://totp/Deno:Mason?secret=4SJHB4GSD43FZBAI7C2HLRJGPQ&issuer=Deno\n\
         otpauth://totp/Deno:Other?secret=4SJHB4GSD43FZBAI7C2HLRJGPQ&issuer=Deno\n\
         otpauth://totp/Bad:digits?secret=4SJHB4GSD43FZBAI7C2HLRJGPQ&digits=9\n\
         otpauth://totp/Deno:Other?secret=4SJHB4GSD43FZBAI7C2HLRJGPQ&issuer=Deno\n",
    );
    // A refusal makes the exit 2, with the entries it could take imported.
    let out = inst.ctl(&["import", path_str(&list)]);
    out.assert_exit(2);
    assert!(
        out.stdout
            .starts_with("imported 1, skipped 2 (already present), refused 1"),
        "{out}"
    );
    assert!(
        out.stdout.contains("refused  ") && out.stdout.contains("Bad: digits: digits must be 6, 7 or 8, not 9"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("1 entry was refused (named in the report); the rest was imported"),
        "{out}"
    );
    assert!(!out.stdout.contains("4SJHB4GSD43FZBAI7C2HLRJGPQ"), "{out}");
    assert_eq!(inst.list().len(), 2);
    let out = inst.ctl(&["--json", "import", path_str(&list)]);
    out.assert_exit(2);
    let report: serde_json::Value = out.json();
    assert_eq!(report["imported"].as_array().unwrap().len(), 0);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 3);
    assert_eq!(report["refused"][0]["entry"], "Bad: digits");
    assert_eq!(report["refused"][0]["reason"], "digits must be 6, 7 or 8, not 9");
}

#[test]
fn a_large_import_goes_in_one_request_over_64_kib() {
    let (inst, _) = household();
    let uris: String = (0..700u32)
        .map(|i| {
            let secret = authsync_proto::otp::Secret::new(format!("large-import-seed-{i:06}").into_bytes());
            format!(
                "otpauth://totp/Some%20Long%20Issuer%20Name%20{i}:someone.with.a.long.name.{i}@example.com?secret={}&issuer=Some%20Long%20Issuer%20Name%20{i}\n",
                *secret.to_base32()
            )
        })
        .collect();
    let file = inst.write_file("large.txt", &uris);
    let before = inst.status().records;
    let out = inst.ctl(&["import", path_str(&file)]);
    out.assert_exit(0);
    assert!(out.stdout.starts_with("imported 700, skipped 0"), "{out}");
    assert_eq!(inst.status().records, before + 700);
    assert_eq!(inst.list().len(), 700);
    // A request line that long of any other kind is still refused.
    let mut raw = authsync_tests::raw::RawClient::open(&inst.socket()).unwrap();
    let long = format!(r#"{{"op":"show","query":"{}"}}"#, "x".repeat(100 << 10));
    raw.send_line(long.as_bytes()).unwrap();
    match raw.read_response().unwrap() {
        authsync_proto::ipc::Response::Error(e) => assert_eq!(e.code, authsync_proto::ipc::ErrorCode::TooLarge),
        other => panic!("a 100 KiB show line was answered with {other:?}"),
    }
}

/// Runs `authctl ARGS` on a terminal (`script` makes one); once the output
/// shows `prompt`, types `typed`. Returns whether it succeeded and what the
/// terminal showed.
fn on_a_terminal(inst: &Instance, args: &[&str], prompt: Option<(&str, &str)>) -> (bool, String) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let command = format!("{} {}", path_str(&authsync_tests::authctl_bin()), args.join(" "));
    let mut child = authsync_tests::on_a_terminal(inst, &command)
        .spawn()
        .expect("script runs (util-linux)");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let seen = Arc::clone(&seen);
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    let mut stdin = child.stdin.take().unwrap();
    if let Some((prompt, typed)) = prompt {
        authsync_tests::wait_until(std::time::Duration::from_secs(20), "the prompt", || {
            text().contains(prompt)
        });
        // The prompt shows a moment before echo goes off: typing at once
        // could be echoed however well authctl reads it.
        authsync_tests::wait_for_echo_off(&authsync_tests::terminal_of(child.id()));
        stdin.write_all(typed.as_bytes()).unwrap();
    }
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    (status.success(), text())
}

#[test]
fn an_encrypted_file_asks_for_its_password_on_the_terminal_without_echo() {
    let (inst, _) = household();
    let file = vectors::dir().join("exports/aegis_encrypted.json");
    let prompt = "(Aegis vault): ";
    let (ok, out) = on_a_terminal(&inst, &["import", path_str(&file)], Some((prompt, "test\n")));
    assert!(ok, "{out}");
    assert!(
        out.contains("Password of ") && out.contains("imported 7, skipped 0"),
        "{out}"
    );
    let after_prompt = out.split(prompt).nth(1).unwrap();
    assert!(!after_prompt.contains("test"), "the password was echoed: {out:?}");
    assert_eq!(inst.list().len(), 7);
}

#[test]
fn many_entries_show_progress_on_a_terminal_only() {
    let (inst, _) = household();
    let uris: String = (0..60u32)
        .map(|i| {
            let secret = authsync_proto::otp::Secret::new(format!("progress-seed-{i:06}").into_bytes());
            format!("otpauth://totp/P{i}:a?secret={}&issuer=P{i}\n", *secret.to_base32())
        })
        .collect();
    let file = inst.write_file("many.txt", &uris);
    let (ok, out) = on_a_terminal(&inst, &["import", path_str(&file)], None);
    assert!(ok, "{out}");
    assert!(
        out.contains("checking entries") && out.contains("/60"),
        "no progress bar: {out:?}"
    );
    assert!(out.contains("imported 60, skipped 0"), "{out}");
    // Not a terminal: the same import shows no bar.
    let out = inst.ctl(&["import", path_str(&file)]);
    out.assert_exit(0);
    assert!(out.stderr.is_empty(), "{out}");
    assert!(out.stdout.starts_with("imported 0, skipped 60"), "{out}");
}

#[test]
fn import_needs_an_unlocked_vault() {
    let inst = Instance::with_passphrase("correct horse");
    inst.ctl_ok(&["lock"]);
    let file = vectors::dir().join("exports/aegis_plain.json");
    inst.ctl(&["import", path_str(&file)]).assert_error(3, &["locked"]);
    inst.unlock();
    assert!(inst.list().is_empty());
}

fn qrencode(text: &str, out: &Path) {
    let status = Command::new("qrencode")
        .arg("-o")
        .arg(out)
        .arg(text)
        .status()
        .expect("qrencode runs (.ci/run installs it)");
    assert!(status.success());
}

#[test]
fn qr_images_made_by_qrencode_import_and_add() {
    let (inst, _) = household();
    let uri = "otpauth://totp/ACME%20Co:jane@example.com?secret=KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60";
    let png = inst.home().join("acme.png");
    qrencode(uri, &png);
    let out = inst.ctl(&["add", "--qr", path_str(&png)]);
    out.assert_exit(0);
    let entry = inst.show("ACME");
    assert_eq!(entry.account, "jane@example.com");
    let expected = Expected {
        issuer: Some("ACME Co".into()),
        account: "jane@example.com".into(),
        spec: entry.spec,
        tags: Vec::new(),
        secret_hex: hex_of_base32("KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF"),
        hotp_codes: Vec::new(),
    };
    assert_eq!(
        entry.spec,
        authsync_proto::otp::OtpSpec {
            kind: OtpKind::Totp { period: 60 },
            algorithm: authsync_proto::otp::Algorithm::Sha256,
            digits: 8
        }
    );
    assert_holds(&inst, std::slice::from_ref(&expected), "add --qr");

    // A Google migration QR made by qrencode, as PNG and as JPEG.
    let case = vectors::migration_cases("google-migration")
        .into_iter()
        .find(|c| c.id == "jc-four-entries-ampersand")
        .unwrap();
    let (inst, _) = household();
    let png = inst.home().join("migration.png");
    qrencode(case.text.as_ref().unwrap(), &png);
    let jpeg = inst.home().join("migration.jpg");
    image::open(&png)
        .unwrap()
        .resize(800, 800, image::imageops::FilterType::Nearest)
        .to_rgb8()
        .save(&jpeg)
        .unwrap();
    let out = inst.ctl(&["import", path_str(&jpeg)]);
    out.assert_exit(0);
    assert_holds(&inst, &case.expected, "jpeg");
    let again = inst.ctl_ok(&["import", path_str(&png)]);
    assert!(again.starts_with("imported 0, skipped 4"), "{again}");
    // add --qr of a four-entry export points to import.
    inst.ctl(&["add", "--qr", path_str(&png)])
        .assert_error(2, &["4 entries", "authctl import"]);
}

fn hex_of_base32(b32: &str) -> String {
    let secret = authsync_proto::otp::Secret::from_base32(b32).unwrap();
    secret.expose().iter().map(|b| format!("{b:02x}")).collect()
}

/// Encrypted files that share a password: it is asked once, tried on each.
#[test]
fn files_that_share_a_password_ask_for_it_once() {
    let (inst, _) = household();
    let dir = vectors::dir().join("realworld/files");
    let files = [
        "proton__2fas_encrypted.2fas",
        "proton__aegis_aegis-json-encrypted-test.json",
        "stratum__twofas.encrypted.2fas",
    ];
    let paths: Vec<String> = files.iter().map(|f| path_str(&dir.join(f)).to_string()).collect();
    let mut args = vec!["import"];
    args.extend(paths.iter().map(String::as_str));
    let (ok, out) = on_a_terminal(&inst, &args, Some(("(2FAS backup): ", "test\n")));
    assert!(ok, "{out}");
    assert_eq!(out.matches("Password of ").count(), 1, "{out}");
    assert!(!out.contains("does not open"), "{out}");
    // Proton's 2FAS and Aegis files share one entry.
    assert!(
        out.contains("imported 10, skipped 1 (already present), refused 0"),
        "{out}"
    );
}

/// Every text export of `realworld/`: the counts add up to what
/// proto/tests/realworld.rs checks file by file, and the refusals make the
/// exit 2. The plain files in one import; each encrypted one alone with its
/// password (600,000 debug-built PBKDF2 rounds per wrong try of
/// Bitwarden's would otherwise near the test's time limit on a loaded
/// machine; sharing passwords is files_that_share_a_password_ask_for_it_once).
#[test]
fn every_real_world_export_imports() {
    let (inst, _) = household();
    let root = vectors::dir().join("realworld");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let mut runs: Vec<(Vec<String>, String)> = vec![(Vec::new(), "unused\n".to_string())];
    for m in manifest.as_array().unwrap() {
        if m["decoder"] == "image" {
            continue;
        }
        let file = path_str(&root.join("files").join(m["file"].as_str().unwrap())).to_string();
        match m["password"].as_str() {
            Some(p) => runs.push((vec![file], format!("{p}\n"))),
            None => runs[0].0.push(file),
        }
    }
    let (mut taken, mut refused, mut imported) = (0, 0, 0);
    for (files, password) in runs {
        let pw = inst.write_file("password", &password);
        let mut args = vec!["--json", "import", "--password-file", path_str(&pw)];
        args.extend(files.iter().map(String::as_str));
        let out = inst.ctl(&args);
        assert!(matches!(out.code(), Some(0 | 2)), "{out}");
        let report: serde_json::Value = out.json();
        let count = |k: &str| report[k].as_array().unwrap().len();
        assert_eq!(out.code() == Some(2), count("refused") > 0, "{out}");
        taken += count("imported") + count("skipped");
        imported += count("imported");
        refused += count("refused");
        for r in report["refused"].as_array().unwrap() {
            assert!(!r["entry"].as_str().unwrap().starts_with("line "), "{r}");
        }
    }
    // 194 taken and 19 refused over the 41 files (proto/tests/realworld.rs).
    assert_eq!((taken, refused), (194, 19));
    assert_eq!(inst.list().len(), imported);
}
