//! One-time codes: the parameters of a code ([`OtpSpec`]), the seed
//! ([`Secret`]) and the code itself ([`code`]), computed with `totp-rs`.
//!
//! Invariants: a [`Secret`] zeroizes on drop and never shows its bytes in
//! `Debug`; errors never carry secret material; time is passed in, never read.
//! HOTP is computed as TOTP with a 1-second step at time = counter, which is
//! exactly RFC 4226 (RFC 6238 only changes where the counter comes from).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use data_encoding::{BASE32_NOPAD, DecodeKind, Encoding};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Steam codes change every 30 seconds.
const STEAM_PERIOD: u64 = 30;
/// Steam codes are this many characters long.
const STEAM_DIGITS: u8 = 5;
/// Below this a secret is worth a warning: 80 bits is what most sites
/// issue (RFC 4226 asks for 128, but an 80-bit secret is the common case,
/// not a mistake); a shorter one is more likely a secret copied in part.
const SHORT_SECRET_BYTES: usize = 10;

/// The longest TOTP period accepted: a day. Real sites use 30 or 60 s; a
/// bound keeps time arithmetic far from overflow.
pub const MAX_PERIOD: u64 = 86_400;

/// What can go wrong with a secret or a code's parameters. Never carries
/// secret material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtpError {
    /// The secret is empty.
    #[error("the secret is empty; expected base32 (A-Z, 2-7)")]
    EmptySecret,
    /// The secret contains a character outside the base32 alphabet.
    #[error("the secret is not valid base32; expected only A-Z, 2-7, spaces and '=' padding")]
    BadBase32,
    /// The base32 secret has a length no whole number of bytes encodes to.
    #[error("the base32 secret has an impossible length; a character is missing or extra")]
    Base32Length,
    /// TOTP/HOTP digits outside 6..=8.
    #[error("digits must be 6, 7 or 8, not {0}")]
    BadDigits(u32),
    /// A TOTP period of zero seconds.
    #[error("the period must be a positive number of seconds, not 0")]
    ZeroPeriod,
    /// A TOTP period longer than [`MAX_PERIOD`] (a day).
    #[error("the period must be at most {MAX_PERIOD} seconds (a day), not {0}")]
    LongPeriod(u64),
    /// An algorithm other than SHA1, SHA256 or SHA512 (the name given, cut short).
    #[error("unsupported algorithm {0:?}; expected SHA1, SHA256 or SHA512")]
    BadAlgorithm(String),
    /// A Steam spec whose digits or algorithm are not Steam's.
    #[error("steam codes are 5 characters with SHA1, not {digits} with {algorithm}")]
    BadSteam {
        /// The digits that were asked for.
        digits: u8,
        /// The algorithm that was asked for.
        algorithm: Algorithm,
    },
}

/// The HMAC hash of a code (RFC 6238 §1.2). In JSON: `"SHA1"`, `"SHA256"`,
/// `"SHA512"`, as otpauth URIs write them (names do not reach postcard,
/// which numbers variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Algorithm {
    /// HMAC-SHA-1, the default and by far the most common.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    fn to_totp(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

impl fmt::Display for Algorithm {
    /// `SHA1`, `SHA256` or `SHA512`, as written in otpauth URIs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        })
    }
}

impl FromStr for Algorithm {
    type Err = OtpError;

    /// `SHA1`, `SHA256` or `SHA512` in any case; nothing else (not `SHA-1`).
    fn from_str(s: &str) -> Result<Self, OtpError> {
        if s.eq_ignore_ascii_case("SHA1") {
            Ok(Algorithm::Sha1)
        } else if s.eq_ignore_ascii_case("SHA256") {
            Ok(Algorithm::Sha256)
        } else if s.eq_ignore_ascii_case("SHA512") {
            Ok(Algorithm::Sha512)
        } else {
            // Outside input: keep the message one short line.
            Err(OtpError::BadAlgorithm(s.chars().take(16).collect()))
        }
    }
}

/// Where the moving factor of a code comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OtpKind {
    /// RFC 6238: the counter is `unix_time / period` (T0 = 0).
    Totp {
        /// Seconds per code; must be positive.
        period: u64,
    },
    /// RFC 4226: an explicit counter, advanced by the caller after each use.
    Hotp {
        /// The counter of the next code.
        counter: u64,
    },
    /// Steam Guard: TOTP, SHA1, 30 s, 5 characters from Steam's alphabet.
    Steam,
}

/// Everything about a code except its secret.
///
/// Two encodings. In human-readable formats (JSON: the IPC socket and
/// `authctl --json`) it is plain, one stable shape:
/// `{"type":"totp","algorithm":"SHA1","digits":6,"period":30}`, with
/// `"counter":N` instead of `period` for `"hotp"`, and `"steam"` with
/// `period` 30. In binary formats (postcard: sealed entry bodies, pinned by
/// `proto/tests/golden/`) it is the derived shape of [`WireSpec`],
/// unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtpSpec {
    /// TOTP, HOTP or Steam, with its period or counter.
    pub kind: OtpKind,
    /// The HMAC hash.
    pub algorithm: Algorithm,
    /// Code length: 6..=8 for TOTP/HOTP, 5 for Steam.
    pub digits: u8,
}

/// [`OtpSpec`] as postcard has always written it.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename = "OtpSpec")]
struct WireSpec {
    kind: OtpKind,
    algorithm: Algorithm,
    digits: u8,
}

/// [`OtpSpec`] in JSON.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainSpec {
    #[serde(rename = "type")]
    kind: PlainKind,
    algorithm: Algorithm,
    digits: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    period: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    counter: Option<u64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum PlainKind {
    Totp,
    Hotp,
    Steam,
}

impl serde::Serialize for OtpSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return WireSpec {
                kind: self.kind,
                algorithm: self.algorithm,
                digits: self.digits,
            }
            .serialize(serializer);
        }
        let (kind, period, counter) = match self.kind {
            OtpKind::Totp { period } => (PlainKind::Totp, Some(period), None),
            OtpKind::Hotp { counter } => (PlainKind::Hotp, None, Some(counter)),
            OtpKind::Steam => (PlainKind::Steam, Some(STEAM_PERIOD), None),
        };
        PlainSpec {
            kind,
            algorithm: self.algorithm,
            digits: self.digits,
            period,
            counter,
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for OtpSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            let wire = WireSpec::deserialize(deserializer)?;
            return Ok(OtpSpec {
                kind: wire.kind,
                algorithm: wire.algorithm,
                digits: wire.digits,
            });
        }
        let plain = PlainSpec::deserialize(deserializer)?;
        let kind = match (plain.kind, plain.period, plain.counter) {
            (PlainKind::Totp, Some(period), None) => OtpKind::Totp { period },
            (PlainKind::Hotp, None, Some(counter)) => OtpKind::Hotp { counter },
            (PlainKind::Steam, Some(STEAM_PERIOD) | None, None) => OtpKind::Steam,
            (PlainKind::Totp, ..) => return Err(serde::de::Error::custom("a totp spec has a period and no counter")),
            (PlainKind::Hotp, ..) => return Err(serde::de::Error::custom("an hotp spec has a counter and no period")),
            (PlainKind::Steam, ..) => {
                return Err(serde::de::Error::custom("a steam spec has period 30 and no counter"));
            }
        };
        Ok(OtpSpec {
            kind,
            algorithm: plain.algorithm,
            digits: plain.digits,
        })
    }
}

impl OtpSpec {
    /// The common TOTP: SHA1, 6 digits, 30 seconds.
    pub fn totp_default() -> Self {
        OtpSpec {
            kind: OtpKind::Totp { period: 30 },
            algorithm: Algorithm::Sha1,
            digits: 6,
        }
    }

    /// Steam Guard: SHA1, 5 characters, 30 seconds.
    pub fn steam() -> Self {
        OtpSpec {
            kind: OtpKind::Steam,
            algorithm: Algorithm::Sha1,
            digits: STEAM_DIGITS,
        }
    }

    /// Checks digits (6..=8, or 5 with SHA1 for Steam) and the period (> 0).
    pub fn validate(&self) -> Result<(), OtpError> {
        match self.kind {
            OtpKind::Steam => {
                if self.digits != STEAM_DIGITS || self.algorithm != Algorithm::Sha1 {
                    return Err(OtpError::BadSteam {
                        digits: self.digits,
                        algorithm: self.algorithm,
                    });
                }
                return Ok(());
            }
            OtpKind::Totp { period: 0 } => return Err(OtpError::ZeroPeriod),
            OtpKind::Totp { period } if period > MAX_PERIOD => return Err(OtpError::LongPeriod(period)),
            OtpKind::Totp { .. } | OtpKind::Hotp { .. } => {}
        }
        if !(6..=8).contains(&self.digits) {
            return Err(OtpError::BadDigits(u32::from(self.digits)));
        }
        Ok(())
    }
}

/// Base32 as RFC 4648 without padding, ignoring non-zero trailing bits (RFC
/// 4648 §3.5 lets decoders accept them; secrets made of random base32
/// characters, rather than random bytes, have them).
static LENIENT_BASE32: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = BASE32_NOPAD.specification();
    spec.check_trailing_bits = false;
    // Cannot fail: only a flag of a valid specification changed.
    spec.encoding().unwrap_or_else(|_| BASE32_NOPAD.clone())
});

/// A secret seed. Zeroized on drop; `Debug` shows only its length; no
/// `Clone` (use [`Secret::duplicate`]), no `PartialEq` (use
/// [`Secret::ct_eq`]), no `Serialize`.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps raw seed bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// The raw seed bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An explicit copy, also zeroized on drop.
    pub fn duplicate(&self) -> Secret {
        Secret::new(self.0.to_vec())
    }

    /// Constant-time equality (for equal lengths).
    pub fn ct_eq(&self, other: &Secret) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }

    /// Decodes base32 leniently: removes all whitespace, uppercases, strips
    /// trailing `=` padding, then decodes RFC 4648 base32 (non-zero trailing
    /// bits are ignored). Any other character is [`OtpError::BadBase32`];
    /// nothing left is [`OtpError::EmptySecret`].
    pub fn from_base32(s: &str) -> Result<Secret, OtpError> {
        Secret::decode_base32(s, false)
    }

    /// Decodes base32 as the authenticator apps whose exports authctl
    /// imports do, for secrets those apps accepted: like
    /// [`Secret::from_base32`], but a length RFC 4648 does not allow (8n+1,
    /// 8n+3 or 8n+6 characters, typed by hand into 2FAS, Ente or Bitwarden)
    /// is read as a bit stream, 5 bits per character, and the bits left over
    /// after the last whole byte are dropped. That is what the usual
    /// decoders do (Google Authenticator's `Base32String`, Apache
    /// commons-codec's lenient `Base32`): the last character of such a
    /// length never completes a byte, so it adds nothing.
    pub fn from_base32_any_length(s: &str) -> Result<Secret, OtpError> {
        Secret::decode_base32(s, true)
    }

    fn decode_base32(s: &str, any_length: bool) -> Result<Secret, OtpError> {
        let mut clean = Zeroizing::new(String::with_capacity(s.len()));
        for c in s.chars() {
            if c.is_whitespace() {
                continue;
            }
            let c = c.to_ascii_uppercase();
            if !matches!(c, 'A'..='Z' | '2'..='7' | '=') {
                return Err(OtpError::BadBase32);
            }
            clean.push(c);
        }
        let clean = clean.trim_end_matches('=').as_bytes();
        if clean.is_empty() {
            return Err(OtpError::EmptySecret);
        }
        if clean.contains(&b'=') {
            return Err(OtpError::BadBase32);
        }
        // 8n+1, 8n+3, 8n+6 characters: the last one completes no byte.
        let clean = match clean.len() % 8 {
            1 | 3 | 6 if any_length => &clean[..clean.len() - 1],
            _ => clean,
        };
        if clean.is_empty() {
            return Err(OtpError::Base32Length);
        }
        let len = LENIENT_BASE32
            .decode_len(clean.len())
            .map_err(|_| OtpError::Base32Length)?;
        let mut out = Zeroizing::new(vec![0u8; len]);
        match LENIENT_BASE32.decode_mut(clean, &mut out) {
            Ok(n) => {
                out.truncate(n);
                Ok(Secret(out))
            }
            Err(e) if e.error.kind == DecodeKind::Length => Err(OtpError::Base32Length),
            Err(_) => Err(OtpError::BadBase32),
        }
    }

    /// Canonical base32: RFC 4648, uppercase, unpadded.
    pub fn to_base32(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(BASE32_NOPAD.encode_len(self.len())));
        BASE32_NOPAD.encode_append(&self.0, &mut out);
        out
    }

    /// Shorter than 80 bits, what sites usually issue: accepted, but
    /// callers warn (once, after the input was accepted).
    pub fn is_short(&self) -> bool {
        self.len() < SHORT_SECRET_BYTES
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.len())
    }
}

/// The code for `spec` at `unix_time` (seconds). For HOTP the counter in
/// `spec.kind` is used and `unix_time` ignored. Steam gives 5 characters from
/// Steam's alphabet; the others give zero-padded decimal digits.
pub fn code(secret: &Secret, spec: &OtpSpec, unix_time: u64) -> Result<String, OtpError> {
    spec.validate()?;
    if secret.is_empty() {
        return Err(OtpError::EmptySecret);
    }
    let (algorithm, step, time) = match spec.kind {
        OtpKind::Totp { period } => (spec.algorithm.to_totp(), period, unix_time),
        OtpKind::Hotp { counter } => (spec.algorithm.to_totp(), 1, counter),
        OtpKind::Steam => (totp_rs::Algorithm::Steam, STEAM_PERIOD, unix_time),
    };
    // totp-rs owns its copy of the key and (without its `zeroize` feature)
    // does not wipe it, so wipe it here before it is freed.
    let mut totp = totp_rs::TOTP::new_unchecked(algorithm, usize::from(spec.digits), 0, step, secret.expose().to_vec());
    let out = totp.generate(time);
    totp.secret.zeroize();
    Ok(out)
}

/// Seconds until the current TOTP/Steam code changes (1..=period); `None`
/// for HOTP, and for a zero period (an invalid spec).
pub fn seconds_left(spec: &OtpSpec, unix_time: u64) -> Option<u64> {
    let period = match spec.kind {
        OtpKind::Totp { period } => period,
        OtpKind::Steam => STEAM_PERIOD,
        OtpKind::Hotp { .. } => return None,
    };
    (period > 0).then(|| period - unix_time % period)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn totp(algorithm: Algorithm, digits: u8, period: u64) -> OtpSpec {
        OtpSpec {
            kind: OtpKind::Totp { period },
            algorithm,
            digits,
        }
    }

    #[test]
    fn algorithm_names() {
        let cases = [
            ("SHA1", Some(Algorithm::Sha1)),
            ("sha1", Some(Algorithm::Sha1)),
            ("Sha256", Some(Algorithm::Sha256)),
            ("sHa512", Some(Algorithm::Sha512)),
            ("SHA-1", None),
            ("SHA3-512", None),
            ("MD5", None),
            ("", None),
            (" SHA1", None),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Algorithm>().ok(), want, "{input:?}");
        }
        for a in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            assert_eq!(a.to_string().parse::<Algorithm>(), Ok(a));
        }
        assert_eq!(Algorithm::Sha256.to_string(), "SHA256");
        let long = "x".repeat(1000).parse::<Algorithm>().unwrap_err();
        assert_eq!(long, OtpError::BadAlgorithm("x".repeat(16)));
    }

    #[test]
    fn validate_table() {
        let steam6 = OtpSpec {
            digits: 6,
            ..OtpSpec::steam()
        };
        let steam256 = OtpSpec {
            algorithm: Algorithm::Sha256,
            ..OtpSpec::steam()
        };
        let hotp = |digits| OtpSpec {
            kind: OtpKind::Hotp { counter: 0 },
            algorithm: Algorithm::Sha1,
            digits,
        };
        let cases = [
            (OtpSpec::totp_default(), Ok(())),
            (OtpSpec::steam(), Ok(())),
            (totp(Algorithm::Sha512, 8, 1), Ok(())),
            (totp(Algorithm::Sha1, 7, MAX_PERIOD), Ok(())),
            (
                totp(Algorithm::Sha1, 7, MAX_PERIOD + 1),
                Err(OtpError::LongPeriod(MAX_PERIOD + 1)),
            ),
            (totp(Algorithm::Sha1, 7, u64::MAX), Err(OtpError::LongPeriod(u64::MAX))),
            (totp(Algorithm::Sha1, 5, 30), Err(OtpError::BadDigits(5))),
            (totp(Algorithm::Sha1, 9, 30), Err(OtpError::BadDigits(9))),
            (totp(Algorithm::Sha1, 6, 0), Err(OtpError::ZeroPeriod)),
            (hotp(6), Ok(())),
            (hotp(0), Err(OtpError::BadDigits(0))),
            (
                steam6,
                Err(OtpError::BadSteam {
                    digits: 6,
                    algorithm: Algorithm::Sha1,
                }),
            ),
            (
                steam256,
                Err(OtpError::BadSteam {
                    digits: 5,
                    algorithm: Algorithm::Sha256,
                }),
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(spec.validate(), want, "{spec:?}");
        }
    }

    #[test]
    fn base32_lenient_table() {
        let cases: [(&str, Result<&[u8], OtpError>); 18] = [
            ("GEZDGNBV", Ok(b"12345")),
            ("gezdgnbv", Ok(b"12345")),
            ("gezd gnbv", Ok(b"12345")),
            ("GEZD\tGNBV\n", Ok(b"12345")),
            ("GEZDGNBVGE======", Ok(b"123451")),
            ("GEZDGNBVGE", Ok(b"123451")),
            ("GEZDGNBVGF", Ok(b"123451")), // non-zero trailing bits ignored
            ("MY", Ok(b"f")),
            ("", Err(OtpError::EmptySecret)),
            ("  \n", Err(OtpError::EmptySecret)),
            ("====", Err(OtpError::EmptySecret)),
            ("GEZD=GNBV", Err(OtpError::BadBase32)),
            ("GEZDGNB1", Err(OtpError::BadBase32)),
            ("SOME_SECRET", Err(OtpError::BadBase32)),
            ("GEZDGNBVÉ", Err(OtpError::BadBase32)),
            ("GEZDGNBVı", Err(OtpError::BadBase32)), // dotless i must not uppercase to I
            ("GEZDGNBVG", Err(OtpError::Base32Length)),
            ("A", Err(OtpError::Base32Length)),
        ];
        for (input, want) in cases {
            let got = Secret::from_base32(input).map(|s| s.expose().to_vec());
            assert_eq!(got, want.map(<[u8]>::to_vec), "{input:?}");
        }
    }

    /// The JSON shape is plain and stable; postcard's is what it always was.
    #[test]
    fn specs_are_plain_in_json_and_unchanged_in_postcard() {
        let cases = [
            (
                OtpSpec::totp_default(),
                r#"{"type":"totp","algorithm":"SHA1","digits":6,"period":30}"#,
            ),
            (
                OtpSpec {
                    kind: OtpKind::Hotp { counter: 7 },
                    algorithm: Algorithm::Sha512,
                    digits: 8,
                },
                r#"{"type":"hotp","algorithm":"SHA512","digits":8,"counter":7}"#,
            ),
            (
                OtpSpec::steam(),
                r#"{"type":"steam","algorithm":"SHA1","digits":5,"period":30}"#,
            ),
        ];
        for (spec, json) in cases {
            assert_eq!(serde_json::to_string(&spec).unwrap(), json);
            assert_eq!(serde_json::from_str::<OtpSpec>(json).unwrap(), spec);
            let wire = WireSpec {
                kind: spec.kind,
                algorithm: spec.algorithm,
                digits: spec.digits,
            };
            let bytes = postcard::to_allocvec(&spec).unwrap();
            assert_eq!(bytes, postcard::to_allocvec(&wire).unwrap());
            assert_eq!(postcard::from_bytes::<OtpSpec>(&bytes).unwrap(), spec);
        }
        assert_eq!(postcard::to_allocvec(&OtpSpec::totp_default()).unwrap(), [0, 30, 0, 6]);
        for bad in [
            r#"{"type":"totp","algorithm":"SHA1","digits":6}"#,
            r#"{"type":"hotp","algorithm":"SHA1","digits":6,"period":30}"#,
            r#"{"type":"totp","algorithm":"Sha1","digits":6,"period":30}"#,
            r#"{"kind":{"Totp":{"period":30}},"algorithm":"SHA1","digits":6}"#,
        ] {
            assert!(serde_json::from_str::<OtpSpec>(bad).is_err(), "{bad}");
        }
    }

    /// A bit accumulator, as the apps' decoders are written: 5 bits per
    /// character, a byte out whenever 8 are held, the rest dropped.
    fn accumulate(text: &str) -> Vec<u8> {
        let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
        for c in text.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'2'..=b'7' => c - b'2' + 26,
                _ => unreachable!("test input is base32"),
            };
            acc = (acc << 5 | u32::from(v)) & 0xFFFF;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    #[test]
    fn base32_of_any_length_decodes_as_a_bit_stream() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        for len in 2..=40usize {
            let text: String = (0..len).map(|i| alphabet[(i * 7 + len) % 32] as char).collect();
            let got = Secret::from_base32_any_length(&text).unwrap();
            assert_eq!(got.expose(), &accumulate(&text)[..], "{len} characters");
            let strict = Secret::from_base32(&text);
            if matches!(len % 8, 1 | 3 | 6) {
                assert_eq!(strict.err(), Some(OtpError::Base32Length), "{len} characters");
            } else {
                assert_eq!(strict.unwrap().expose(), got.expose(), "{len} characters");
            }
        }
        // 2FAS's manual 17-character secret: 85 bits, 10 bytes.
        assert_eq!(Secret::from_base32_any_length("JDJDBDBDDBDBBXBXB").unwrap().len(), 10);
        assert_eq!(Secret::from_base32_any_length("A").err(), Some(OtpError::Base32Length));
        assert_eq!(Secret::from_base32_any_length("GEZD1").err(), Some(OtpError::BadBase32));
    }

    #[test]
    fn base32_canonical_round_trip() {
        for len in 0..70 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let s = Secret::new(bytes.clone());
            let b32 = s.to_base32();
            assert!(!b32.contains('='));
            assert_eq!(b32.to_ascii_uppercase(), *b32);
            if len > 0 {
                assert_eq!(Secret::from_base32(&b32).unwrap().expose(), &bytes[..]);
            }
        }
    }

    #[test]
    fn secret_hygiene() {
        let s = Secret::new(b"hunter2-hunter2!".to_vec());
        assert_eq!(format!("{s:?}"), "Secret([redacted; 16 bytes])");
        assert!(!s.is_short());
        assert!(!Secret::new(vec![1; 10]).is_short(), "80 bits is what sites issue");
        assert!(Secret::new(vec![1; 9]).is_short());
        assert!(s.ct_eq(&s.duplicate()));
        assert!(!s.ct_eq(&Secret::new(b"hunter2-hunter2?".to_vec())));
        assert!(!s.ct_eq(&Secret::new(b"hunter2".to_vec())));
        assert_eq!(s.len(), 16);
        assert!(!s.is_empty());
        assert!(Secret::new(Vec::new()).is_empty());
    }

    #[test]
    fn codes_table() {
        // RFC 4226 / 6238 seed "12345678901234567890" and pyotp's 5-byte seed.
        let rfc = Secret::new(b"12345678901234567890".to_vec());
        let short = Secret::new(b"12345".to_vec());
        let steam = Secret::from_base32("JRZCL47CMXVOQMNPZR2F7J4RGI").unwrap();
        let hotp = |counter, algorithm, digits| OtpSpec {
            kind: OtpKind::Hotp { counter },
            algorithm,
            digits,
        };
        let cases = [
            (&rfc, totp(Algorithm::Sha1, 8, 30), 59, "94287082"),
            (&rfc, totp(Algorithm::Sha1, 6, 30), 59, "287082"),
            (&rfc, totp(Algorithm::Sha1, 8, 30), 20_000_000_000, "65353130"),
            (&rfc, hotp(0, Algorithm::Sha1, 6), 12345, "755224"),
            (&rfc, hotp(9, Algorithm::Sha1, 6), 0, "520489"),
            (&rfc, totp(Algorithm::Sha1, 6, 1), 9, "520489"),
            (&short, hotp(0, Algorithm::Sha1, 6), 0, "734055"),
            (&short, totp(Algorithm::Sha512, 6, 30), 9000, "524153"),
            (&steam, OtpSpec::steam(), 0, "C2F47"),
            (&steam, OtpSpec::steam(), 1_700_000_000, "747JR"),
        ];
        for (secret, spec, t, want) in cases {
            assert_eq!(code(secret, &spec, t).unwrap(), want, "{spec:?} at {t}");
        }
    }

    #[test]
    fn code_rejects_bad_input() {
        let s = Secret::new(b"12345".to_vec());
        let empty = Secret::new(Vec::new());
        let spec = OtpSpec::totp_default();
        assert_eq!(code(&empty, &spec, 0), Err(OtpError::EmptySecret));
        let bad = totp(Algorithm::Sha1, 6, 0);
        assert_eq!(code(&s, &bad, 0), Err(OtpError::ZeroPeriod));
        let bad = totp(Algorithm::Sha1, 10, 30);
        assert_eq!(code(&s, &bad, 0), Err(OtpError::BadDigits(10)));
    }

    #[test]
    fn seconds_left_table() {
        let hotp = OtpSpec {
            kind: OtpKind::Hotp { counter: 7 },
            ..OtpSpec::totp_default()
        };
        let cases = [
            (OtpSpec::totp_default(), 0, Some(30)),
            (OtpSpec::totp_default(), 29, Some(1)),
            (OtpSpec::totp_default(), 30, Some(30)),
            (OtpSpec::totp_default(), 1_700_000_000, Some(10)),
            (totp(Algorithm::Sha1, 6, 60), 59, Some(1)),
            (totp(Algorithm::Sha1, 6, 1), 12345, Some(1)),
            (totp(Algorithm::Sha1, 6, 0), 12345, None),
            (OtpSpec::steam(), 31, Some(29)),
            (hotp, 31, None),
        ];
        for (spec, t, want) in cases {
            assert_eq!(seconds_left(&spec, t), want, "{spec:?} at {t}");
        }
    }

    #[test]
    fn errors_are_one_line() {
        let errors = [
            OtpError::EmptySecret,
            OtpError::BadBase32,
            OtpError::Base32Length,
            OtpError::BadDigits(9),
            OtpError::ZeroPeriod,
            OtpError::BadAlgorithm("a\nb".into()),
            OtpError::BadSteam {
                digits: 6,
                algorithm: Algorithm::Sha1,
            },
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(!msg.contains('\n') && !msg.is_empty(), "{msg:?}");
        }
        assert_eq!(OtpError::BadDigits(9).to_string(), "digits must be 6, 7 or 8, not 9");
    }
}
