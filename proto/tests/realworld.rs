//! Every text export in `../shared/vectors/realworld/files/` (other apps'
//! own test data, see its SOURCES.md), read by the importers and checked
//! against what those apps' test suites expect of them: how many entries,
//! which are refused and why, the names a person sees, and that each
//! encrypted file holds the same entries as its plain twin. The images in
//! the same folder are read by authctl (tests/tests/import.rs).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use authsync_proto::import::{self, Format, Parsed};
use authsync_proto::otp::{self, Algorithm, OtpKind};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/realworld")
}

fn password(file: &str) -> Option<String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap();
    manifest
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"] == file)
        .and_then(|m| m["password"].as_str().map(str::to_string))
}

fn read(file: &str) -> Parsed {
    let bytes = std::fs::read(dir().join("files").join(file)).unwrap();
    let format = import::detect(&bytes).unwrap_or_else(|| panic!("{file}: format not detected"));
    let pw = password(file);
    assert_eq!(import::is_encrypted(&bytes, format), pw.is_some(), "{file}");
    import::parse(&bytes, format, pw.as_deref().map(str::as_bytes)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// (file, format, entries taken, entries refused). Refusals are what the
/// apps themselves could not hold either, or we do not make codes for:
/// 9 digits, mOTP, Yandex, SHA384; and Ente's trash.
const FILES: &[(&str, Format, usize, usize)] = &[
    ("aegis__ente_auth.txt", Format::Uris, 7, 0),
    ("aegis__2fas_schema1.json", Format::TwoFas, 6, 0),
    ("stratum__aegis.unencrypted.json", Format::Aegis, 8, 3),
    ("stratum__aegis.encrypted.json", Format::Aegis, 8, 3),
    ("stratum__andotp.unencrypted.json", Format::AndOtp, 7, 2),
    ("stratum__andotp.encrypted.bin", Format::AndOtp, 7, 2),
    ("stratum__bitwarden.unencrypted.json", Format::BitwardenJson, 7, 1),
    ("stratum__bitwardenauthenticator.json", Format::BitwardenJson, 5, 1),
    ("stratum__bitwarden.encrypted.pbkdf2.json", Format::BitwardenJson, 7, 1),
    ("stratum__ente.unencrypted.txt", Format::Uris, 6, 1),
    ("stratum__googleauthenticator.txt", Format::GoogleMigration, 6, 0),
    ("stratum__twofas.unencrypted.2fas", Format::TwoFas, 6, 0),
    ("stratum__twofas.encrypted.2fas", Format::TwoFas, 6, 0),
    ("stratum__urilist.txt", Format::Uris, 6, 1),
    ("proton__2fas_decrypted.2fas", Format::TwoFas, 2, 0),
    ("proton__2fas_decrypted_ios.2fas", Format::TwoFas, 2, 0),
    ("proton__2fas_decrypted_with_hotp.2fas", Format::TwoFas, 2, 0),
    (
        "proton__2fas_decrypted_with_hotp_and_unsupported_algorithms.2fas",
        Format::TwoFas,
        1,
        1,
    ),
    (
        "proton__2fas_decrypted_with_hotp_missing_period.2fas",
        Format::TwoFas,
        4,
        0,
    ),
    ("proton__2fas_decrypted_with_manual_entries.2fas", Format::TwoFas, 12, 0),
    ("proton__2fas_decrypted_with_missing_fields.2fas", Format::TwoFas, 1, 0),
    ("proton__2fas_encrypted.2fas", Format::TwoFas, 2, 0),
    ("proton__aegis_aegis-json-encrypted-test.json", Format::Aegis, 3, 0),
    ("proton__aegis_aegis-json-unencrypted.json", Format::Aegis, 3, 0),
    ("proton__aegis_aegis-json-unencrypted-hotp.json", Format::Aegis, 2, 0),
    (
        "proton__aegis_aegis-json-unencrypted-with-bad-period-digits.json",
        Format::Aegis,
        0,
        2,
    ),
    (
        "proton__aegis_aegis-json-unencrypted-with-missing-fields.json",
        Format::Aegis,
        3,
        0,
    ),
    ("proton__aegis_aegis-txt.txt", Format::Uris, 3, 0),
    ("proton__bitwarden_bitwarden.json", Format::BitwardenJson, 4, 0),
    ("proton__bitwarden_bitwarden_app.json", Format::BitwardenJson, 1, 0),
    ("proton__bitwarden_bitwarden.csv", Format::BitwardenCsv, 4, 0),
    ("proton__bitwarden_bitwarden_sample.csv", Format::BitwardenCsv, 3, 0),
    ("proton__ente_plain.txt", Format::Uris, 2, 0),
    ("proton__ente_plain_20_entries.txt", Format::Uris, 20, 0),
    ("proton__ente_plain_with_hotp.txt", Format::Uris, 5, 1),
    ("proton__ente_plain_with_missing_fields.txt", Format::Uris, 1, 0),
    ("proton__ente_plain_with_steam_and_hotp.txt", Format::Uris, 3, 0),
    ("2faspy__2fas-demo-nopass.2fas", Format::TwoFas, 4, 0),
    ("2faspy__2fas-demo-pass.2fas", Format::TwoFas, 4, 0),
    ("2fasdec__encrypted_test.2fas", Format::TwoFas, 5, 0),
    ("scito__url_list_output.txt", Format::Uris, 6, 0),
];

#[test]
fn every_text_export_reads_as_its_app_wrote_it() {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap();
    for m in manifest.as_array().unwrap() {
        let file = m["file"].as_str().unwrap();
        let listed = FILES.iter().any(|(f, ..)| *f == file);
        assert_eq!(
            listed,
            m["decoder"] != "image",
            "{file}: every non-image file is checked here"
        );
    }
    for &(file, format, taken, refused) in FILES {
        let parsed = read(file);
        assert_eq!(parsed.format, format, "{file}");
        let reasons: Vec<String> = parsed
            .refused
            .iter()
            .map(|r| format!("{}: {}", r.label, r.reason))
            .collect();
        assert_eq!(
            (parsed.entries.len(), parsed.refused.len()),
            (taken, refused),
            "{file}: {reasons:?}"
        );
        for e in &parsed.entries {
            otp::code(&e.secret, &e.spec, 1_700_000_000).unwrap_or_else(|err| panic!("{file}: {}: {err}", e.label()));
        }
        for r in &parsed.refused {
            assert!(!r.label.starts_with("line "), "{file}: refusals are named: {reasons:?}");
        }
    }
}

/// What each encrypted file decrypts to is exactly its plain twin.
#[test]
fn encrypted_exports_hold_what_their_plain_twins_hold() {
    let pairs = [
        ("stratum__aegis.encrypted.json", "stratum__aegis.unencrypted.json"),
        ("stratum__andotp.encrypted.bin", "stratum__andotp.unencrypted.json"),
        (
            "stratum__bitwarden.encrypted.pbkdf2.json",
            "stratum__bitwarden.unencrypted.json",
        ),
        ("stratum__twofas.encrypted.2fas", "stratum__twofas.unencrypted.2fas"),
        ("proton__2fas_encrypted.2fas", "proton__2fas_decrypted.2fas"),
        (
            "proton__aegis_aegis-json-encrypted-test.json",
            "proton__aegis_aegis-json-unencrypted.json",
        ),
        ("2faspy__2fas-demo-pass.2fas", "2faspy__2fas-demo-nopass.2fas"),
    ];
    let key = |p: &Parsed| {
        let mut v: Vec<(String, String, String)> = p
            .entries
            .iter()
            .map(|e| (e.label(), format!("{:?}", e.spec), e.secret.to_base32().to_string()))
            .collect();
        v.sort();
        v
    };
    for (encrypted, plain) in pairs {
        assert_eq!(key(&read(encrypted)), key(&read(plain)), "{encrypted}");
    }
}

/// A wrong password is a decryption failure, for every encrypted format.
#[test]
fn a_wrong_password_is_refused() {
    for file in [
        "stratum__bitwarden.encrypted.pbkdf2.json",
        "proton__2fas_encrypted.2fas",
        "proton__aegis_aegis-json-encrypted-test.json",
    ] {
        let bytes = std::fs::read(dir().join("files").join(file)).unwrap();
        let format = import::detect(&bytes).unwrap();
        let err = import::parse(&bytes, format, Some(b"not it")).unwrap_err();
        assert!(matches!(err, import::ImportError::DecryptionFailed(_)), "{file}: {err}");
        let err = import::parse(&bytes, format, None).unwrap_err();
        assert!(matches!(err, import::ImportError::NeedsPassword(_)), "{file}: {err}");
    }
}

/// Proton Authenticator's own test of this 2FAS file: the account the user
/// edited wins over the scanned URI's, and the URI's stands when the
/// edited one is empty.
#[test]
fn twofas_names_are_the_ones_the_user_saw() {
    let parsed = read("proton__2fas_decrypted_with_manual_entries.2fas");
    let names: Vec<(Option<&str>, &str)> = parsed
        .entries
        .iter()
        .map(|e| (e.issuer.as_deref(), e.account.as_str()))
        .collect();
    for want in [
        (Some("Amazon"), "some@test.email"),
        (Some("GitHub"), "Test-acc"),
        (Some("Facebook"), "random.sometest"),
        (Some("Google"), "some@test.email"),
        (Some("Reddit"), "Some-Account1234"),
        (Some("Manual"), ""),
    ] {
        assert!(names.contains(&want), "{want:?} in {names:?}");
    }
}

/// Secrets typed by hand into 2FAS, Ente and Bitwarden with lengths no
/// base32 padding allows are kept, decoded as a bit stream (the last
/// character adds no whole byte).
#[test]
fn hand_typed_secrets_of_any_length_are_kept() {
    let ios = read("proton__2fas_decrypted_ios.2fas");
    let lens: Vec<usize> = ios.entries.iter().map(|e| e.secret.len()).collect();
    assert_eq!(lens, [10, 11], "17 and 19 characters");
    let sample = read("proton__bitwarden_bitwarden_sample.csv");
    assert!(sample.entries.iter().any(|e| e.label().starts_with("Code1")));
    let ente = read("proton__ente_plain_with_steam_and_hotp.txt");
    assert!(ente.entries.iter().any(|e| e.spec.kind == OtpKind::Steam));
}

/// Stratum's files: the algorithm, period and digits of each entry.
#[test]
fn parameters_come_through() {
    let parsed = read("stratum__aegis.unencrypted.json");
    let find = |label: &str| parsed.entries.iter().find(|e| e.label() == label).unwrap();
    assert_eq!(find("Sha: 256").spec.algorithm, Algorithm::Sha256);
    assert_eq!(find("Sha: 512").spec.algorithm, Algorithm::Sha512);
    assert_eq!(find("Long: Period").spec.kind, OtpKind::Totp { period: 60 });
    assert_eq!(find("Standard: Hotp").spec.kind, OtpKind::Hotp { counter: 10 });
    assert_eq!(find("Steam: Steam").spec.kind, OtpKind::Steam);
    let ente = read("proton__ente_plain_with_hotp.txt");
    let trashed = &ente.refused[0];
    assert_eq!(trashed.label, "code1 ente: jdjdbfbdbdbdb");
    assert!(trashed.reason.contains("trash"));
    let issuer = ente.entries.iter().find(|e| e.label() == "issuer: amazon").unwrap();
    assert_eq!(issuer.note, "nsbfjxnxnxnxncb");
}
