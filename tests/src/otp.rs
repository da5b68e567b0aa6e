//! The codes a test expects, computed here from the secret it chose.

use authsync_proto::otp::{self, OtpKind, OtpSpec, Secret};

/// RFC 4226 appendix D: the secret `12345678901234567890` (ASCII), base32.
pub const RFC4226_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// RFC 4226 appendix D: the HOTP codes for counters 0 to 9.
pub const RFC4226_CODES: [&str; 10] = [
    "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489",
];

/// The code of `secret` (base32) with `spec` at `unix_time`.
pub fn code_at(secret: &str, spec: &OtpSpec, unix_time: u64) -> String {
    let secret = Secret::from_base32(secret).expect("a test secret is valid base32");
    otp::code(&secret, spec, unix_time).expect("a test spec is valid")
}

/// The codes a time-based `spec` can show between `from` and `to` (Unix
/// seconds, both read around the request), one second of slack each side.
pub fn codes_between(secret: &str, spec: &OtpSpec, from: u64, to: u64) -> Vec<String> {
    assert!(
        !matches!(spec.kind, OtpKind::Hotp { .. }),
        "HOTP codes do not depend on time"
    );
    let mut codes: Vec<String> = (from.saturating_sub(1)..=to + 1)
        .map(|t| code_at(secret, spec, t))
        .collect();
    codes.dedup();
    codes
}

/// The default TOTP (SHA1, 6 digits, 30 s).
pub fn totp() -> OtpSpec {
    OtpSpec::totp_default()
}

/// HOTP (SHA1, 6 digits) at `counter`.
pub fn hotp(counter: u64) -> OtpSpec {
    OtpSpec {
        kind: OtpKind::Hotp { counter },
        ..OtpSpec::totp_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc4226_vectors_hold_here() {
        for (counter, expected) in (0u64..).zip(RFC4226_CODES) {
            assert_eq!(code_at(RFC4226_SECRET, &hotp(counter), 0), expected);
        }
    }
}
