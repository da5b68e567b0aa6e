//! Google Authenticator's export: `otpauth-migration://offline?data=…`,
//! where `data` is base64 of a protobuf `MigrationPayload` (field numbers
//! from the published schema: payload 1 entries, 2 version, 3 batch size,
//! 4 batch index, 5 batch id; entry 1 secret, 2 name, 3 issuer, 4
//! algorithm, 5 digits, 6 type, 7 counter). Decoded and encoded by hand:
//! two messages of scalar fields do not need a protobuf code generator.
//!
//! `data` may be percent-encoded, or raw standard or URL-safe base64, padded
//! or not; `+` is never a space. Google's `name` often repeats the issuer as
//! an `Issuer:` prefix, which is dropped. Google has no period field (every
//! code is 30 s) and knows 6 or 8 digits only.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

use super::{Fields, Format, ImportError, Parsed, Refusal, label, malformed};
use crate::otp::{Algorithm, OtpKind, OtpSpec, Secret};

/// The URI scheme of an export.
pub const SCHEME: &str = "otpauth-migration://";

/// Most entries one payload may hold (real exports hold 10 per QR code).
const MAX_ENTRIES: usize = 10_000;

/// One batch of a multi-QR export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Shared by every batch of one export.
    pub id: i32,
    /// This batch's position, from 0.
    pub index: i32,
    /// How many batches the export has.
    pub size: i32,
}

const B64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, B64_CONFIG);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, B64_CONFIG);

fn bad(reason: impl Into<String>) -> ImportError {
    malformed(Format::GoogleMigration, reason)
}

/// Reads one `otpauth-migration://` URI into `out`.
pub(super) fn parse_uri(uri: &str, out: &mut Parsed) -> Result<(), ImportError> {
    let uri = uri.trim();
    let rest = uri
        .get(SCHEME.len()..)
        .filter(|_| super::starts_with_ci(uri, SCHEME))
        .ok_or_else(|| bad("it does not start with otpauth-migration://"))?;
    let query = rest.split_once('?').map(|(_, q)| q).unwrap_or("");
    let data = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| k.eq_ignore_ascii_case("data"))
        .map(|(_, v)| v)
        .next_back()
        .ok_or_else(|| bad("the URI has no data parameter"))?;
    let decoded = Zeroizing::new(percent_decode_str(data).collect::<Vec<u8>>());
    let payload = decode_base64(&decoded).ok_or_else(|| bad("the data parameter is not base64"))?;
    decode_payload(&payload, out)
}

fn decode_base64(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let text: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let text = Zeroizing::new(text);
    STANDARD
        .decode(&*text)
        .or_else(|_| URL_SAFE.decode(&*text))
        .ok()
        .map(Zeroizing::new)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

const TRUNCATED: &str = "the payload is truncated or damaged";

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ImportError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or_else(|| bad(TRUNCATED))?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(bad(TRUNCATED));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad(TRUNCATED))
    }

    fn bytes(&mut self, n: u64) -> Result<&'a [u8], ImportError> {
        let n = usize::try_from(n).map_err(|_| bad(TRUNCATED))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| bad(TRUNCATED))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next field: (number, value) where value is a varint or bytes.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, ImportError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Int(self.varint()?),
            1 => Value::Bytes(self.bytes(8)?),
            2 => {
                let n = self.varint()?;
                Value::Bytes(self.bytes(n)?)
            }
            5 => Value::Bytes(self.bytes(4)?),
            _ => return Err(bad(TRUNCATED)),
        };
        Ok(Some((key >> 3, value)))
    }
}

enum Value<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

/// Decodes a `MigrationPayload` into `out`.
pub(super) fn decode_payload(payload: &[u8], out: &mut Parsed) -> Result<(), ImportError> {
    let mut reader = Reader { buf: payload, pos: 0 };
    let (mut batch_id, mut index, mut size) = (None, None, None);
    let mut raw_entries = Vec::new();
    while let Some((field, value)) = reader.field()? {
        match (field, value) {
            (1, Value::Bytes(b)) => {
                if raw_entries.len() >= MAX_ENTRIES {
                    return Err(bad(format!("more than {MAX_ENTRIES} entries")));
                }
                raw_entries.push(b);
            }
            (3, Value::Int(v)) => size = Some(v as i32),
            (4, Value::Int(v)) => index = Some(v as i32),
            (5, Value::Int(v)) => batch_id = Some(v as i32),
            (1 | 3 | 4 | 5, _) => return Err(bad(TRUNCATED)),
            _ => {}
        }
    }
    if let (Some(id), Some(index), Some(size)) = (batch_id, index, size) {
        out.batches.push(Batch { id, index, size });
    }
    // Decode every entry before taking any: a damaged one fails the payload.
    let mut entries = Vec::with_capacity(raw_entries.len());
    for raw in raw_entries {
        entries.push(decode_entry(raw)?);
    }
    for (i, e) in entries.into_iter().enumerate() {
        let issuer = Some(e.issuer.as_str()).filter(|s| !s.is_empty());
        let account = match issuer {
            Some(issuer) => e
                .name
                .strip_prefix(issuer)
                .and_then(|rest| rest.strip_prefix(':'))
                .map_or(e.name.as_str(), |rest| rest.trim_start()),
            None => e.name.as_str(),
        };
        let label = {
            let l = label(issuer, account);
            if l.is_empty() {
                format!("entry {}", out.entries.len() + out.refused.len() + i + 1)
            } else {
                l
            }
        };
        match entry(e.secret, e.algorithm, e.digits, e.kind, e.counter) {
            Ok((secret, spec)) => {
                let fields = Fields {
                    issuer,
                    account,
                    ..Fields::default()
                };
                // The secret is raw bytes here: go through base32 once so
                // every importer checks entries the same way.
                let b32 = secret.to_base32();
                let (spec_kind, counter, period) = match spec.kind {
                    OtpKind::Hotp { counter } => ("hotp", Some(counter), None),
                    _ => ("totp", None, Some(30)),
                };
                let alg = spec.algorithm.to_string();
                let fields = Fields {
                    kind: spec_kind,
                    algorithm: Some(&alg),
                    digits: Some(u64::from(spec.digits)),
                    period,
                    counter,
                    ..fields
                };
                match fields.build(&b32) {
                    Ok(imported) => out.entries.push(imported),
                    Err(reason) => out.refused.push(Refusal { label, reason }),
                }
            }
            Err(reason) => out.refused.push(Refusal { label, reason }),
        }
    }
    Ok(())
}

struct RawEntry {
    secret: Zeroizing<Vec<u8>>,
    name: String,
    issuer: String,
    algorithm: u64,
    digits: u64,
    kind: u64,
    counter: u64,
}

fn decode_entry(raw: &[u8]) -> Result<RawEntry, ImportError> {
    let mut reader = Reader { buf: raw, pos: 0 };
    let mut e = RawEntry {
        secret: Zeroizing::new(Vec::new()),
        name: String::new(),
        issuer: String::new(),
        algorithm: 0,
        digits: 0,
        kind: 0,
        counter: 0,
    };
    while let Some((field, value)) = reader.field()? {
        match (field, value) {
            (1, Value::Bytes(b)) => e.secret = Zeroizing::new(b.to_vec()),
            (2, Value::Bytes(b)) => e.name = String::from_utf8_lossy(b).into_owned(),
            (3, Value::Bytes(b)) => e.issuer = String::from_utf8_lossy(b).into_owned(),
            (4, Value::Int(v)) => e.algorithm = v,
            (5, Value::Int(v)) => e.digits = v,
            (6, Value::Int(v)) => e.kind = v,
            (7, Value::Int(v)) => e.counter = v,
            (1..=7, _) => return Err(bad(TRUNCATED)),
            _ => {}
        }
    }
    Ok(e)
}

fn entry(
    secret: Zeroizing<Vec<u8>>,
    algorithm: u64,
    digits: u64,
    kind: u64,
    counter: u64,
) -> Result<(Secret, OtpSpec), String> {
    if secret.is_empty() {
        return Err("the secret is empty".into());
    }
    let algorithm = match algorithm {
        0 | 1 => Algorithm::Sha1,
        2 => Algorithm::Sha256,
        3 => Algorithm::Sha512,
        4 => return Err("MD5 codes are not supported".into()),
        n => return Err(format!("unknown algorithm number {n}")),
    };
    let digits = match digits {
        0 | 1 => 6,
        2 => 8,
        n => return Err(format!("unknown digits number {n}")),
    };
    let kind = match kind {
        0 | 2 => OtpKind::Totp { period: 30 },
        1 => OtpKind::Hotp { counter },
        n => return Err(format!("unknown code type number {n}")),
    };
    Ok((
        Secret::new(secret.to_vec()),
        OtpSpec {
            kind,
            algorithm,
            digits,
        },
    ))
}

/// One entry for [`encode`].
pub struct ExportEntry<'a> {
    /// The site.
    pub issuer: Option<&'a str>,
    /// The login.
    pub account: &'a str,
    /// The seed.
    pub secret: &'a Secret,
    /// Its parameters.
    pub spec: &'a OtpSpec,
}

/// Why an entry cannot go into a Google export (`None`: it can).
pub fn unexportable(spec: &OtpSpec) -> Option<&'static str> {
    match spec.kind {
        OtpKind::Steam => Some("Google Authenticator has no Steam codes"),
        OtpKind::Totp { period } if period != 30 => Some("Google Authenticator knows only 30-second codes"),
        _ if !matches!(spec.digits, 6 | 8) => Some("Google Authenticator knows only 6 or 8 digits"),
        _ => None,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, field << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_int(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

/// An `otpauth-migration://offline?data=…` URI for `entries` (each must
/// pass [`unexportable`]), as batch `batch.index` of `batch.size`.
pub fn encode(entries: &[ExportEntry<'_>], batch: Batch) -> Zeroizing<String> {
    let mut payload = Zeroizing::new(Vec::new());
    for e in entries {
        let mut p = Zeroizing::new(Vec::new());
        put_bytes(&mut p, 1, e.secret.expose());
        let name = match e.issuer.filter(|i| !i.is_empty()) {
            Some(issuer) => format!("{issuer}:{}", e.account),
            None => e.account.to_string(),
        };
        put_bytes(&mut p, 2, name.as_bytes());
        if let Some(issuer) = e.issuer.filter(|i| !i.is_empty()) {
            put_bytes(&mut p, 3, issuer.as_bytes());
        }
        let algorithm = match e.spec.algorithm {
            Algorithm::Sha1 => 1,
            Algorithm::Sha256 => 2,
            Algorithm::Sha512 => 3,
        };
        put_int(&mut p, 4, algorithm);
        put_int(&mut p, 5, if e.spec.digits == 8 { 2 } else { 1 });
        match e.spec.kind {
            OtpKind::Hotp { counter } => {
                put_int(&mut p, 6, 1);
                put_int(&mut p, 7, counter);
            }
            _ => put_int(&mut p, 6, 2),
        }
        put_bytes(&mut payload, 1, &p);
    }
    put_int(&mut payload, 2, 1);
    put_int(&mut payload, 3, batch.size as u32 as u64);
    put_int(&mut payload, 4, batch.index as u32 as u64);
    // int32 fields are sign-extended to 64 bits on the wire.
    put_int(&mut payload, 5, i64::from(batch.id) as u64);
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*payload));
    let mut uri = Zeroizing::new(String::from("otpauth-migration://offline?data="));
    uri.extend(utf8_percent_encode(&b64, NON_ALPHANUMERIC));
    uri
}
