//! Standard and real-world vectors from `../shared/vectors/`: RFC 4226 HOTP,
//! RFC 6238 TOTP, and every `otpauth://` case with its expected fields and
//! codes. Expected failures are the `fail_*` tests.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use authsync_proto::otp::{self, Algorithm, OtpKind, OtpSpec, Secret};
use authsync_proto::otpauth::{self, UriError, Warning};
use data_encoding::HEXLOWER_PERMISSIVE;
use serde_json::Value;

fn vectors(rel: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "test vectors not found at {} ({e}); the repository must be checked out next to `shared/`",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    HEXLOWER_PERMISSIVE.decode(v.as_str().unwrap().as_bytes()).unwrap()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn rfc4226_hotp() {
    let v = vectors("otp-rfc/rfc_otp_vectors.json");
    let seed = hex(&v["hotp_secret_hex"]);
    assert_eq!(seed, str_of(&v, "hotp_secret_ascii").as_bytes());
    let secret = Secret::from_base32(str_of(&v, "hotp_secret_base32")).unwrap();
    assert_eq!(secret.expose(), &seed[..]);

    let cases = v["hotp_rfc4226"].as_array().unwrap();
    assert!(cases.len() >= 7, "only {} RFC 4226 values in the file", cases.len());
    for case in cases {
        let counter = u64_of(case, "counter");
        let truncated = u64_of(case, "truncated_decimal");
        for digits in 6..=8u8 {
            let spec = OtpSpec {
                kind: OtpKind::Hotp { counter },
                algorithm: Algorithm::Sha1,
                digits,
            };
            let want = format!(
                "{:0width$}",
                truncated % 10u64.pow(digits.into()),
                width = digits.into()
            );
            // unix_time is ignored for HOTP.
            assert_eq!(otp::code(&secret, &spec, 999).unwrap(), want, "{case}");
            if digits == 6 {
                assert_eq!(want, str_of(case, "hotp_6"), "{case}");
            }
        }
    }
}

#[test]
fn rfc6238_totp() {
    let v = vectors("otp-rfc/rfc_otp_vectors.json");
    let period = u64_of(&v["totp_parameters"], "X_period_seconds");
    assert_eq!(u64_of(&v["totp_parameters"], "T0"), 0);
    let cases = v["totp_rfc6238"].as_array().unwrap();
    assert!(cases.len() >= 12, "only {} RFC 6238 values in the file", cases.len());
    for case in cases {
        let algorithm: Algorithm = str_of(case, "algorithm").parse().unwrap();
        let seed = hex(&v["totp_seeds"][algorithm.to_string()]["hex"]);
        let secret = Secret::new(seed);
        let time = u64_of(case, "time");
        let t = u64::from_str_radix(str_of(case, "t_hex"), 16).unwrap();
        assert_eq!(time / period, t, "{case}");
        for (digits, key) in [(8, "totp_8"), (6, "totp_6_derived")] {
            let spec = OtpSpec {
                kind: OtpKind::Totp { period },
                algorithm,
                digits,
            };
            assert_eq!(otp::code(&secret, &spec, time).unwrap(), str_of(case, key), "{case}");
        }
    }
}

/// RFC values the shared file leaves out (RFC 4226 Appendix D counters 7-9,
/// RFC 6238 Appendix B times 1111111111 and 20000000000), copied from the
/// RFCs and cross-checked with oathtool 2.6.7.
#[test]
fn rfc_values_missing_from_the_file() {
    let sha1 = b"12345678901234567890".as_slice();
    let sha256 = b"12345678901234567890123456789012".as_slice();
    let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
    for (counter, want) in [(7, "162583"), (8, "399871"), (9, "520489")] {
        let spec = OtpSpec {
            kind: OtpKind::Hotp { counter },
            ..OtpSpec::totp_default()
        };
        assert_eq!(otp::code(&Secret::new(sha1.to_vec()), &spec, 0).unwrap(), want);
    }
    let totp = [
        (1111111111, Algorithm::Sha1, sha1, "14050471"),
        (1111111111, Algorithm::Sha256, sha256, "67062674"),
        (1111111111, Algorithm::Sha512, sha512, "99943326"),
        (20000000000, Algorithm::Sha1, sha1, "65353130"),
        (20000000000, Algorithm::Sha256, sha256, "77737706"),
        (20000000000, Algorithm::Sha512, sha512, "47863826"),
    ];
    for (time, algorithm, seed, want) in totp {
        let spec = OtpSpec {
            kind: OtpKind::Totp { period: 30 },
            algorithm,
            digits: 8,
        };
        let got = otp::code(&Secret::new(seed.to_vec()), &spec, time).unwrap();
        assert_eq!(got, want, "{algorithm} at {time}");
    }
}

fn kind_name(kind: OtpKind) -> &'static str {
    match kind {
        OtpKind::Totp { .. } => "totp",
        OtpKind::Hotp { .. } => "hotp",
        OtpKind::Steam => "steam",
    }
}

/// Checks one `codes`/`source_codes` list: entries carry `time` (TOTP,
/// Steam) or `counter` (HOTP). Returns how many codes were checked.
fn check_codes(id: &str, u: &otpauth::OtpauthUri, list: &Value) -> usize {
    let Some(list) = list.as_array() else {
        return 0;
    };
    for c in list {
        let want = str_of(c, "code");
        let got = if let Some(counter) = c["counter"].as_u64() {
            let spec = OtpSpec {
                kind: OtpKind::Hotp { counter },
                ..u.spec
            };
            assert!(matches!(u.spec.kind, OtpKind::Hotp { .. }), "{id}");
            otp::code(&u.secret, &spec, 0).unwrap()
        } else {
            otp::code(&u.secret, &u.spec, u64_of(c, "time")).unwrap()
        };
        assert_eq!(got, want, "{id}: {c}");
    }
    list.len()
}

fn check_fields(id: &str, u: &otpauth::OtpauthUri, f: &Value) {
    assert_eq!(kind_name(u.spec.kind), str_of(f, "type"), "{id}");
    assert_eq!(u.issuer.as_deref(), f["issuer"].as_str(), "{id}");
    assert_eq!(u.account, str_of(f, "account"), "{id}");
    assert_eq!(u.secret.expose(), &hex(&f["secret_hex"])[..], "{id}");
    assert_eq!(*u.secret.to_base32(), str_of(f, "secret_base32"), "{id}");
    assert_eq!(u.spec.algorithm.to_string(), str_of(f, "algorithm"), "{id}");
    assert_eq!(u64::from(u.spec.digits), u64_of(f, "digits"), "{id}");
    let (period, counter) = match u.spec.kind {
        OtpKind::Totp { period } => (Some(period), None),
        OtpKind::Hotp { counter } => (None, Some(counter)),
        OtpKind::Steam => (Some(30), None),
    };
    assert_eq!(period, f["period"].as_u64(), "{id}");
    assert_eq!(counter, f["counter"].as_u64(), "{id}");
    let bits = u.secret.len() * 8;
    let short = (bits < 80).then_some(Warning::ShortSecret { bits });
    assert_eq!(u.warnings, Vec::from_iter(short), "{id}");
}

fn cases() -> Vec<Value> {
    let v = vectors("otpauth-uris/otpauth_cases.json");
    v["cases"].as_array().unwrap().clone()
}

#[test]
fn otpauth_ok_cases() {
    let (mut ok, mut codes) = (0, 0);
    for case in cases().iter().filter(|c| c["expect"] == "ok") {
        let id = str_of(case, "id");
        let u = otpauth::parse(str_of(case, "uri")).unwrap_or_else(|e| panic!("{id}: expected ok, got {e}"));
        check_fields(id, &u, &case["fields"]);
        let n = check_codes(id, &u, &case["codes"]);
        assert!(n > 0, "{id}: no codes");
        codes += n + check_codes(id, &u, &case["source_codes"]);

        // The canonical form reads back to the same entry.
        let again = otpauth::format(u.issuer.as_deref(), &u.account, &u.secret, &u.spec);
        let back = otpauth::parse(&again).unwrap();
        check_fields(id, &back, &case["fields"]);
        ok += 1;
    }
    assert!(ok >= 20, "only {ok} ok cases");
    assert!(codes >= 2 * ok, "only {codes} codes");
}

/// The variant each error case must give: a sensible reason, not just any.
fn expected_error(id: &str, e: &UriError) -> bool {
    use authsync_proto::otp::OtpError;
    match id {
        "err-not-otpauth" => matches!(e, UriError::NotOtpauth),
        "err-missing-secret" => matches!(e, UriError::MissingSecret),
        "err-unknown-type" => matches!(e, UriError::UnknownType(t) if t == "derp"),
        "err-bad-algorithm" => matches!(e, UriError::Otp(OtpError::BadAlgorithm(_))),
        "err-bad-base32" => matches!(e, UriError::Otp(OtpError::BadBase32)),
        _ => panic!("error case {id} has no expected variant here: add it"),
    }
}

#[test]
fn fail_otpauth_error_cases() {
    let mut n = 0;
    for case in cases().iter().filter(|c| c["expect"] == "error") {
        let id = str_of(case, "id");
        let uri = str_of(case, "uri");
        match otpauth::parse(uri) {
            Ok(u) => panic!("{id}: expected an error, parsed {u:?}"),
            Err(e) => {
                assert!(expected_error(id, &e), "{id}: unexpected {e:?}");
                assert!(!e.to_string().contains(uri), "{id}: message echoes the URI");
            }
        }
        n += 1;
    }
    assert!(n >= 5, "only {n} error cases");
}

#[test]
fn every_case_is_ok_or_error() {
    for case in cases() {
        let expect = str_of(&case, "expect");
        assert!(expect == "ok" || expect == "error", "{}", case["id"]);
    }
}
