//! The `otpauth://` Key URI format: a lenient [`parse`] and a canonical
//! [`format`].
//!
//! `parse` follows the policy at the top of
//! `shared/vectors/otpauth-uris/otpauth_cases.json`: the type is the host
//! (`totp`, `hotp`, `steam`, any case; `encoder=steam` makes any type Steam);
//! the label is split at its first literal `:`, else at its first `%3A`,
//! each half percent-decoded once and leading spaces dropped from the
//! account; query values are form-decoded, the last repeat wins, unknown
//! parameters are ignored; a non-empty `issuer` parameter beats the label
//! prefix. Decisions the policy leaves open, made here:
//! - the scheme and the parameter names match in any case (some QR codes
//!   upper-case the whole URI), and surrounding whitespace is ignored;
//! - an empty issuer, from the parameter or the label, is no issuer;
//! - Steam ignores `algorithm`, `digits` and `period` (always SHA1, 5, 30 s);
//! - a `#fragment` is not part of the query.
//!
//! Errors never contain the URI or the secret: the URI carries the secret.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};
use zeroize::Zeroizing;

use crate::otp::{Algorithm, OtpError, OtpKind, OtpSpec, Secret};

/// Bytes `format` writes as themselves: RFC 3986 unreserved characters (and
/// `@`, which is common in account names and legal in paths and queries).
/// Everything else, notably `:` `%` `&` `=` `+` `#` `?` `/` and spaces, is
/// percent-encoded.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// A parsed `otpauth://` URI. Its `Debug` shows the secret only as its length.
#[derive(Debug)]
pub struct OtpauthUri {
    /// The issuer: the `issuer` parameter, else the label prefix; never `""`.
    pub issuer: Option<String>,
    /// The account name (may be empty).
    pub account: String,
    /// The seed.
    pub secret: Secret,
    /// Kind, algorithm and digits.
    pub spec: OtpSpec,
    /// Accepted but questionable things about the URI.
    pub warnings: Vec<Warning>,
}

/// Something accepted that the user should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The secret is shorter than the 80 bits sites usually issue.
    ShortSecret {
        /// Its length in bits.
        bits: usize,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::ShortSecret { bits } => {
                write!(
                    f,
                    "the secret is only {bits} bits, shorter than the 80 or more sites issue; check it was copied whole"
                )
            }
        }
    }
}

/// Why a URI was rejected. Never contains the URI or the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The text does not start with `otpauth://`.
    #[error("not an otpauth:// URI")]
    NotOtpauth,
    /// The host is not `totp`, `hotp` or `steam` (the host given, cut short).
    #[error("unknown otpauth type {0:?}; expected totp, hotp or steam")]
    UnknownType(String),
    /// There is no `secret` parameter.
    #[error("the otpauth URI has no secret parameter")]
    MissingSecret,
    /// A numeric parameter is not a number of the expected kind.
    #[error("the otpauth parameter {name} must be {expected}")]
    BadParameter {
        /// The parameter's name.
        name: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// The secret or the code's parameters are invalid.
    #[error(transparent)]
    Otp(#[from] OtpError),
}

/// Which query parameters the parser keeps; the last occurrence wins.
#[derive(Default)]
struct Params<'a> {
    secret: Option<&'a str>,
    issuer: Option<&'a str>,
    algorithm: Option<&'a str>,
    digits: Option<&'a str>,
    period: Option<&'a str>,
    counter: Option<&'a str>,
    encoder: Option<&'a str>,
}

/// Parses an `otpauth://` URI leniently (see the module docs for the policy).
pub fn parse(uri: &str) -> Result<OtpauthUri, UriError> {
    parse_with(uri, Secret::from_base32)
}

/// [`parse`] for a URI another app wrote (an export, a QR code): its secret
/// may have any base32 length that app accepted
/// ([`Secret::from_base32_any_length`]).
pub fn parse_from_app(uri: &str) -> Result<OtpauthUri, UriError> {
    parse_with(uri, Secret::from_base32_any_length)
}

/// The issuer and account a URI names, without checking anything else:
/// to name a URI that [`parse`] refused.
pub fn names(uri: &str) -> (Option<String>, String) {
    let rest = uri.trim().get(10..).unwrap_or("");
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let label = before_query.split_once('/').map_or("", |(_, label)| label);
    let (prefix, account) = split_label(label);
    let issuer = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| form_decode(key).eq_ignore_ascii_case("issuer"))
        .map(|(_, value)| form_decode(value).into_owned())
        .next_back()
        .filter(|i| !i.is_empty())
        .or(prefix)
        .filter(|i| !i.is_empty());
    (issuer, account.trim().to_owned())
}

fn parse_with(uri: &str, decode: fn(&str) -> Result<Secret, OtpError>) -> Result<OtpauthUri, UriError> {
    let uri = uri.trim();
    let rest = match uri.get(..10) {
        Some(scheme) if scheme.eq_ignore_ascii_case("otpauth://") => &uri[10..],
        _ => return Err(UriError::NotOtpauth),
    };
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, label) = before_query.split_once('/').unwrap_or((before_query, ""));

    let mut params = Params::default();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(key);
        let slot = match key.to_ascii_lowercase().as_str() {
            "secret" => &mut params.secret,
            "issuer" => &mut params.issuer,
            "algorithm" => &mut params.algorithm,
            "digits" => &mut params.digits,
            "period" => &mut params.period,
            "counter" => &mut params.counter,
            "encoder" => &mut params.encoder,
            _ => continue,
        };
        *slot = Some(value);
    }

    let steam_encoder = params
        .encoder
        .is_some_and(|e| form_decode(e).eq_ignore_ascii_case("steam"));
    let kind = if steam_encoder || host.eq_ignore_ascii_case("steam") {
        OtpKind::Steam
    } else if host.eq_ignore_ascii_case("totp") {
        let period = match params.period {
            Some(p) => number(p, "period", "a positive whole number of seconds")?,
            None => 30,
        };
        OtpKind::Totp { period }
    } else if host.eq_ignore_ascii_case("hotp") {
        let counter = match params.counter {
            Some(c) => number(c, "counter", "a non-negative whole number")?,
            None => 0,
        };
        OtpKind::Hotp { counter }
    } else {
        return Err(UriError::UnknownType(host.chars().take(16).collect()));
    };

    let spec = if kind == OtpKind::Steam {
        OtpSpec::steam()
    } else {
        let algorithm = match params.algorithm {
            Some(a) => form_decode(a).parse::<Algorithm>()?,
            None => Algorithm::Sha1,
        };
        let digits = match params.digits {
            Some(d) => number::<u32>(d, "digits", "6, 7 or 8")?,
            None => 6,
        };
        let digits = u8::try_from(digits).map_err(|_| OtpError::BadDigits(digits))?;
        OtpSpec {
            kind,
            algorithm,
            digits,
        }
    };
    spec.validate()?;

    let secret = decode_secret(params.secret.ok_or(UriError::MissingSecret)?, decode)?;
    let mut warnings = Vec::new();
    if secret.is_short() {
        warnings.push(Warning::ShortSecret { bits: secret.len() * 8 });
    }

    let (prefix, account) = split_label(label);
    let account = account.trim_start_matches(' ').to_owned();
    let issuer = params
        .issuer
        .map(form_decode)
        .filter(|i| !i.is_empty())
        .or(prefix.map(Cow::Owned))
        .filter(|i| !i.is_empty())
        .map(Cow::into_owned);

    Ok(OtpauthUri {
        issuer,
        account,
        secret,
        spec,
        warnings,
    })
}

/// Splits the raw label at its first literal `:`, else its first `%3A` (any
/// case), and percent-decodes each half once (`+` stays `+` in a path).
fn split_label(label: &str) -> (Option<String>, String) {
    let split = label.find(':').map(|i| (i, 1)).or_else(|| {
        let bytes = label.as_bytes();
        bytes
            .windows(3)
            .position(|w| w[0] == b'%' && w[1] == b'3' && w[2].eq_ignore_ascii_case(&b'a'))
            .map(|i| (i, 3))
    });
    match split {
        Some((i, sep)) => (
            Some(percent_decode_str(&label[..i])),
            percent_decode_str(&label[i + sep..]),
        ),
        None => (None, percent_decode_str(label)),
    }
}

fn percent_decode_str(s: &str) -> String {
    percent_decode(s.as_bytes()).decode_utf8_lossy().into_owned()
}

/// Form-decodes a query component: `+` is a space, then percent-decoding.
fn form_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['+', '%']) {
        return Cow::Borrowed(s);
    }
    let plus = s.replace('+', " ");
    Cow::Owned(percent_decode(plus.as_bytes()).decode_utf8_lossy().into_owned())
}

/// Form-decodes the secret value into zeroized buffers, then base32.
fn decode_secret(raw: &str, decode: fn(&str) -> Result<Secret, OtpError>) -> Result<Secret, OtpError> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(raw.len()));
    bytes.extend(raw.bytes().map(|b| if b == b'+' { b' ' } else { b }));
    let mut decoded = Zeroizing::new(Vec::with_capacity(raw.len()));
    decoded.extend(percent_decode(&bytes));
    let text = std::str::from_utf8(&decoded).map_err(|_| OtpError::BadBase32)?;
    decode(text)
}

/// A form-decoded, whitespace-trimmed unsigned decimal number.
fn number<T: std::str::FromStr>(raw: &str, name: &'static str, expected: &'static str) -> Result<T, UriError> {
    let value = form_decode(raw);
    let value = value.trim();
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::BadParameter { name, expected });
    }
    value.parse().map_err(|_| UriError::BadParameter { name, expected })
}

/// The canonical URI for an entry:
/// `otpauth://TYPE/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&algorithm=…&digits=…&period=…`
/// with `counter=…` instead of `period` for HOTP.
///
/// Steam is written the way Aegis exports (and Aegis and totp-rs read it):
/// host `steam`, with `algorithm=SHA1&digits=5&period=30` for readers that
/// look at them.
///
/// Encoding: label parts and values are percent-encoded (UTF-8), keeping only
/// `A-Z a-z 0-9 - . _ ~ @`; so a `:` inside the issuer becomes `%3A` and can
/// never be taken for the separator, which is the first literal `:`. Without
/// an issuer the label is just the account, unless the account holds a `:`:
/// then the label starts with `:` (an empty prefix, read back as no issuer),
/// so the account's own `:` is not taken for a separator.
///
/// `parse(format(..))` gives back every field, except that an empty issuer
/// comes back as `None` and leading spaces of the account are dropped (the
/// parse policy drops them, however they are encoded).
pub fn format(issuer: Option<&str>, account: &str, secret: &Secret, spec: &OtpSpec) -> String {
    let issuer = issuer.filter(|i| !i.is_empty());
    let host = match spec.kind {
        OtpKind::Totp { .. } => "totp",
        OtpKind::Hotp { .. } => "hotp",
        OtpKind::Steam => "steam",
    };
    let secret = secret.to_base32();
    let mut out = String::with_capacity(64 + secret.len() + 3 * account.len());
    out.push_str("otpauth://");
    out.push_str(host);
    out.push('/');
    match issuer {
        Some(i) => {
            out.extend(utf8_percent_encode(i, ENCODE));
            out.push(':');
        }
        None if account.contains(':') => out.push(':'),
        None => {}
    }
    out.extend(utf8_percent_encode(account, ENCODE));
    out.push_str("?secret=");
    out.push_str(&secret);
    if let Some(i) = issuer {
        out.push_str("&issuer=");
        out.extend(utf8_percent_encode(i, ENCODE));
    }
    // Writing to a String cannot fail.
    let _ = write!(out, "&algorithm={}&digits={}", spec.algorithm, spec.digits);
    let _ = match spec.kind {
        OtpKind::Totp { period } => write!(out, "&period={period}"),
        OtpKind::Hotp { counter } => write!(out, "&counter={counter}"),
        OtpKind::Steam => write!(out, "&period=30"),
    };
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn labels_table() {
        // (label, issuer, account), with a fixed query and no issuer parameter.
        let cases = [
            ("", None, ""),
            ("john", None, "john"),
            ("Example:alice@google.com", Some("Example"), "alice@google.com"),
            ("Example%3AUser", Some("Example"), "User"),
            ("Example%3aUser", Some("Example"), "User"),
            ("ACME:  OTPAuth", Some("ACME"), "OTPAuth"),
            ("ACME:%20%20OTPAuth", Some("ACME"), "OTPAuth"),
            ("A%3AB:c", Some("A:B"), "c"),
            ("A:b:c", Some("A"), "b:c"),
            ("A:b%3Ac", Some("A"), "b:c"),
            ("a%253Ab", None, "a%3Ab"),
            (":acct:x", None, "acct:x"),
            ("Steam:", Some("Steam"), ""),
            ("a+b:c+d", Some("a+b"), "c+d"),
            ("caf%C3%A9:%E2%9C%93", Some("café"), "✓"),
            ("bad%ZZ", None, "bad%ZZ"),
            ("bad%FF", None, "bad\u{FFFD}"),
        ];
        for (label, issuer, account) in cases {
            let u = parse(&format!("otpauth://totp/{label}?secret={B32}")).unwrap();
            assert_eq!(u.issuer.as_deref(), issuer, "{label:?}");
            assert_eq!(u.account, account, "{label:?}");
        }
    }

    #[test]
    fn queries_table() {
        let totp = |period, algorithm, digits| OtpSpec {
            kind: OtpKind::Totp { period },
            algorithm,
            digits,
        };
        let hotp = |counter| OtpSpec {
            kind: OtpKind::Hotp { counter },
            algorithm: Algorithm::Sha1,
            digits: 6,
        };
        let cases = [
            ("totp", "", totp(30, Algorithm::Sha1, 6)),
            ("TOTP", "&digits=8&period=60", totp(60, Algorithm::Sha1, 8)),
            ("totp", "&algorithm=sha256", totp(30, Algorithm::Sha256, 6)),
            ("totp", "&digits=7&digits=8", totp(30, Algorithm::Sha1, 8)),
            ("totp", "&counter=5&PERIOD=+45+", totp(45, Algorithm::Sha1, 6)),
            ("totp", "&image=x%26y&foo&=", totp(30, Algorithm::Sha1, 6)),
            ("hotp", "", hotp(0)),
            ("Hotp", "&counter=18446744073709551615", hotp(u64::MAX)),
            ("hotp", "&period=0&counter=3", hotp(3)),
            ("steam", "&digits=6&algorithm=MD5&period=0", OtpSpec::steam()),
            ("totp", "&encoder=steam", OtpSpec::steam()),
            ("totp", "&encoder=Steam&digits=8", OtpSpec::steam()),
        ];
        for (host, query, want) in cases {
            let uri = format!("otpauth://{host}/a?secret={B32}{query}");
            assert_eq!(parse(&uri).unwrap().spec, want, "{host} {query}");
        }
    }

    #[test]
    fn issuers_table() {
        let cases = [
            ("P:a", "&issuer=Q", Some("Q")),
            ("P:a", "&issuer=", Some("P")),
            ("P:a", "&issuer=Air+Canada", Some("Air Canada")),
            ("P:a", "&issuer=a%2Bb%26c", Some("a+b&c")),
            ("P:a", "&issuer=X&issuer=Y", Some("Y")),
            (":a", "&issuer=", None),
            ("a", "", None),
            ("a", "&ISSUER=Z", Some("Z")),
        ];
        for (label, query, want) in cases {
            let u = parse(&format!("otpauth://totp/{label}?secret={B32}{query}")).unwrap();
            assert_eq!(u.issuer.as_deref(), want, "{label} {query}");
        }
    }

    #[test]
    fn errors_table() {
        // (uri, start of the expected error's Debug)
        let cases = [
            ("http://hello.com", "NotOtpauth"),
            ("otpauth:totp/a?secret=AA", "NotOtpauth"),
            ("", "NotOtpauth"),
            ("otpauth://totp", "MissingSecret"),
            ("otpauth://totp/a?SECRET", "Otp(EmptySecret)"),
            ("otpauth://derp?secret=foo", "UnknownType(\"derp\")"),
            ("otpauth://?secret=AA", "UnknownType(\"\")"),
            ("otpauth://totp/a?secret=SOME_SECRET", "Otp(BadBase32)"),
            ("otpauth://totp/a?secret=AA%FF", "Otp(BadBase32)"),
            ("otpauth://totp/a?secret=AAA", "Otp(Base32Length)"),
            ("otpauth://totp/a?secret=AA&algorithm=SHA3-512", "Otp(BadAlgorithm("),
            ("otpauth://totp/a?secret=AA&algorithm=", "Otp(BadAlgorithm("),
            ("otpauth://totp/a?secret=AA&digits=9", "Otp(BadDigits(9))"),
            ("otpauth://totp/a?secret=AA&digits=300", "Otp(BadDigits(300))"),
            (
                "otpauth://totp/a?secret=AA&digits=six",
                "BadParameter { name: \"digits\"",
            ),
            ("otpauth://totp/a?secret=AA&period=0", "Otp(ZeroPeriod)"),
            (
                "otpauth://totp/a?secret=AA&period=-30",
                "BadParameter { name: \"period\"",
            ),
            (
                "otpauth://totp/a?secret=AA&period=30.5",
                "BadParameter { name: \"period\"",
            ),
            (
                "otpauth://hotp/a?secret=AA&counter=18446744073709551616",
                "BadParameter { name: \"counter\"",
            ),
        ];
        for (uri, want) in cases {
            let e = parse(uri).unwrap_err();
            assert!(format!("{e:?}").starts_with(want), "{uri:?} gave {e:?}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn secrets_never_shown() {
        let uri = "otpauth://totp/a?secret=GEZDGNBV_QQQ";
        let e = parse(uri).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("GEZDGNBV"));
        let u = parse("otpauth://totp/I:a?secret=JBSWY3DPEHPK3PXP").unwrap();
        let debug = format!("{u:?}");
        assert!(!debug.contains("JBSWY3DP") && !debug.contains("72, 101"), "{debug}");
        assert!(debug.contains("redacted; 10 bytes"));
        assert!(u.warnings.is_empty(), "80 bits is what sites issue");
        let u = parse("otpauth://totp/I:a?secret=JBSWY3DPEHPK3PX").unwrap();
        assert_eq!(u.warnings, [Warning::ShortSecret { bits: 72 }]);
        assert_eq!(
            u.warnings[0].to_string(),
            "the secret is only 72 bits, shorter than the 80 or more sites issue; check it was copied whole"
        );
    }

    #[test]
    fn format_is_canonical() {
        let s = Secret::from_base32("jbsw y3dp ehpk 3pxp====").unwrap();
        let hotp = OtpSpec {
            kind: OtpKind::Hotp { counter: 7 },
            algorithm: Algorithm::Sha256,
            digits: 8,
        };
        let cases = [
            (
                Some("ACME Co"),
                "john.doe@email.com",
                OtpSpec::totp_default(),
                "otpauth://totp/ACME%20Co:john.doe@email.com?secret=JBSWY3DPEHPK3PXP\
                 &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
            ),
            (
                Some("a:b"),
                "c:d",
                hotp,
                "otpauth://hotp/a%3Ab:c%3Ad?secret=JBSWY3DPEHPK3PXP\
                 &issuer=a%3Ab&algorithm=SHA256&digits=8&counter=7",
            ),
            (
                None,
                "x:y",
                OtpSpec::steam(),
                "otpauth://steam/:x%3Ay?secret=JBSWY3DPEHPK3PXP\
                 &algorithm=SHA1&digits=5&period=30",
            ),
            (
                Some(""),
                "a+b&c",
                OtpSpec::totp_default(),
                "otpauth://totp/a%2Bb%26c?secret=JBSWY3DPEHPK3PXP\
                 &algorithm=SHA1&digits=6&period=30",
            ),
        ];
        for (issuer, account, spec, want) in cases {
            assert_eq!(format(issuer, account, &s, &spec), want);
        }
    }

    fn any_spec() -> impl Strategy<Value = OtpSpec> {
        let alg = prop_oneof![Just(Algorithm::Sha1), Just(Algorithm::Sha256), Just(Algorithm::Sha512)];
        let kind = prop_oneof![
            prop_oneof![1..=300u64, Just(30), Just(60), 1..=crate::otp::MAX_PERIOD]
                .prop_map(|period| OtpKind::Totp { period }),
            any::<u64>().prop_map(|counter| OtpKind::Hotp { counter }),
        ];
        prop_oneof![
            4 => (kind, alg, 6..=8u8).prop_map(|(kind, algorithm, digits)| OtpSpec {
                kind,
                algorithm,
                digits
            }),
            1 => Just(OtpSpec::steam()),
        ]
    }

    /// Strings heavy in the characters that matter to the encoding.
    fn tricky() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ :%&+=#?/@a-zA-Z0-9éü✓\u{1F600}]{0,12}",
            "[ :%3aA]{0,8}",
        ]
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(
            issuer in proptest::option::of(tricky()),
            account in tricky(),
            bytes in proptest::collection::vec(any::<u8>(), 1..64),
            spec in any_spec(),
        ) {
            let secret = Secret::new(bytes.clone());
            let uri = format(issuer.as_deref(), &account, &secret, &spec);
            let u = parse(&uri).unwrap();
            prop_assert_eq!(u.issuer, issuer.filter(|i| !i.is_empty()));
            prop_assert_eq!(u.account.as_str(), account.trim_start_matches(' '));
            prop_assert_eq!(u.secret.expose(), &bytes[..]);
            prop_assert_eq!(u.spec, spec);
            prop_assert_eq!(u.warnings.is_empty(), bytes.len() >= 10);
        }

        #[test]
        fn parse_never_panics(s in "otpauth://[a-zA-Z]{0,6}/[ -~]{0,40}") {
            let _ = parse(&s);
        }
    }
}
