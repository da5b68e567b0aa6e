//! Importers of other authenticators' exports: otpauth URI lists, Google
//! Authenticator `otpauth-migration://` exports, Aegis vaults, 2FAS backups,
//! andOTP backups and Bitwarden JSON and CSV exports. One file per format.
//!
//! Pure functions of the file's bytes (and a password): no files are read
//! here. [`detect`] names the format from the content; [`parse`] reads a file
//! of a known format into [`Imported`] entries, and lists the entries it
//! refused, each with a one-line reason. A file that cannot be read at all
//! (malformed, truncated, wrong password) is an [`ImportError`], and then
//! nothing of it is returned.
//!
//! Invariants: secrets are [`Secret`]s (zeroized, redacted in `Debug`);
//! decrypted plaintexts live in zeroizing buffers; no error message quotes
//! the file's content, which may hold seeds; every size and work factor read
//! from a file is bounded before it is used.

mod aegis;
mod andotp;
mod bitwarden;
pub mod google;
mod twofas;
mod uris;

use std::fmt;
use std::str::FromStr;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::otp::{Algorithm, OtpKind, OtpSpec, Secret};

pub use aegis::{AegisExport, export_aegis};
pub use uris::parse_qr_text;

/// One entry read from another app's file.
#[derive(Debug)]
pub struct Imported {
    /// The site; `None` when the file has none (never `""`).
    pub issuer: Option<String>,
    /// The login (may be empty).
    pub account: String,
    /// The seed.
    pub secret: Secret,
    /// Kind, algorithm, digits, period or counter.
    pub spec: OtpSpec,
    /// Labels (Aegis groups, 2FAS groups, andOTP tags).
    pub tags: Vec<String>,
    /// A note, where the format has one.
    pub note: String,
}

impl Imported {
    /// "Issuer: account", or the account alone.
    pub fn label(&self) -> String {
        label(self.issuer.as_deref(), &self.account)
    }
}

fn label(issuer: Option<&str>, account: &str) -> String {
    match issuer {
        Some(i) if !i.is_empty() => format!("{i}: {account}"),
        _ => account.to_string(),
    }
}

/// An entry of a file that was read but not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which entry ("Issuer: account", or its position).
    pub label: String,
    /// Why, in one line, without its secret.
    pub reason: String,
}

/// What a file holds.
#[derive(Debug)]
pub struct Parsed {
    /// The format it was read as.
    pub format: Format,
    /// The entries taken.
    pub entries: Vec<Imported>,
    /// The entries refused.
    pub refused: Vec<Refusal>,
    /// Google migration batches seen: (batch id, index, size).
    pub batches: Vec<google::Batch>,
}

/// The formats [`parse`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// One `otpauth://` (or `otpauth-migration://`) URI per line.
    Uris,
    /// Google Authenticator's `otpauth-migration://offline?data=…` export.
    GoogleMigration,
    /// An Aegis vault export, plain or encrypted.
    Aegis,
    /// A 2FAS backup (`.2fas`), plain or encrypted.
    TwoFas,
    /// An andOTP backup: a plain JSON array, or an encrypted binary file.
    AndOtp,
    /// A Bitwarden JSON export, unencrypted or password-protected.
    BitwardenJson,
    /// A Bitwarden CSV export.
    BitwardenCsv,
}

impl Format {
    /// Every format, in the order [`Format::name`] lists them.
    pub const ALL: [Format; 7] = [
        Format::Uris,
        Format::GoogleMigration,
        Format::Aegis,
        Format::TwoFas,
        Format::AndOtp,
        Format::BitwardenJson,
        Format::BitwardenCsv,
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Uris => "uris",
            Format::GoogleMigration => "google",
            Format::Aegis => "aegis",
            Format::TwoFas => "2fas",
            Format::AndOtp => "andotp",
            Format::BitwardenJson => "bitwarden-json",
            Format::BitwardenCsv => "bitwarden-csv",
        }
    }

    /// What people call it.
    pub fn title(self) -> &'static str {
        match self {
            Format::Uris => "otpauth URI list",
            Format::GoogleMigration => "Google Authenticator export",
            Format::Aegis => "Aegis vault",
            Format::TwoFas => "2FAS backup",
            Format::AndOtp => "andOTP backup",
            Format::BitwardenJson => "Bitwarden JSON export",
            Format::BitwardenCsv => "Bitwarden CSV export",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        let s = s.to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .or(match s.as_str() {
                "otpauth" | "uri" => Some(Format::Uris),
                "google-migration" | "otpauth-migration" => Some(Format::GoogleMigration),
                "twofas" => Some(Format::TwoFas),
                "bitwarden" => Some(Format::BitwardenJson),
                _ => None,
            })
            .ok_or_else(|| {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown format '{}'; expected one of {}",
                    s.chars().take(24).collect::<String>(),
                    names.join(", ")
                )
            })
    }
}

/// Why a file could not be imported. Never quotes the file's content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportError {
    /// No known format matches the content.
    #[error(
        "not a format authctl imports (otpauth URIs, Google Authenticator export, Aegis, 2FAS, andOTP, Bitwarden JSON or CSV)"
    )]
    UnknownFormat,
    /// The file is encrypted and no password was given.
    #[error("the {0} is encrypted; its password is needed")]
    NeedsPassword(&'static str),
    /// The password is wrong, or the encrypted part is damaged.
    #[error("cannot decrypt the {0}: wrong password, or the file is damaged")]
    DecryptionFailed(&'static str),
    /// The file is not a valid file of its format (truncated, damaged, another format).
    #[error("not a valid {format}: {reason}")]
    Malformed {
        /// The format it was read as.
        format: &'static str,
        /// What is wrong, in one line.
        reason: String,
    },
    /// A valid file of a kind this importer does not read.
    #[error("{0}")]
    Unsupported(String),
}

fn malformed(format: Format, reason: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        format: format.title(),
        reason: reason.into(),
    }
}

/// A serde_json error as a reason that says where, never what (the text
/// could be a secret).
fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "the file ends early (truncated?)".to_string(),
        Category::Syntax => format!("broken JSON at line {} column {}", e.line(), e.column()),
        Category::Data => format!("unexpected content at line {} column {}", e.line(), e.column()),
        Category::Io => "unreadable".to_string(),
    }
}

/// The first bytes of PNG and JPEG files: these hold QR codes, decoded by
/// the caller (`image` + `rqrr` in authctl), not here.
pub fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

#[derive(serde::Deserialize)]
struct Probe {
    header: Option<serde::de::IgnoredAny>,
    db: Option<serde::de::IgnoredAny>,
    services: Option<serde::de::IgnoredAny>,
    #[serde(rename = "schemaVersion")]
    schema_version: Option<serde::de::IgnoredAny>,
    #[serde(rename = "servicesEncrypted")]
    services_encrypted: Option<serde::de::IgnoredAny>,
    items: Option<serde::de::IgnoredAny>,
    #[serde(rename = "passwordProtected")]
    password_protected: Option<serde::de::IgnoredAny>,
}

/// Names the format of `bytes` from its content, or `None`.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        // Binary: andOTP's encrypted backups have no magic number.
        return andotp::looks_encrypted(bytes).then_some(Format::AndOtp);
    };
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with('[') {
        return Some(Format::AndOtp);
    }
    if text.starts_with('{') {
        let probe: Probe = serde_json::from_str(text).ok()?;
        if probe.db.is_some() && probe.header.is_some() {
            return Some(Format::Aegis);
        }
        if probe.services.is_some() && (probe.schema_version.is_some() || probe.services_encrypted.is_some()) {
            return Some(Format::TwoFas);
        }
        if probe.items.is_some() || probe.password_protected.is_some() {
            return Some(Format::BitwardenJson);
        }
        return None;
    }
    let first = text.lines().next().unwrap_or("");
    if first.split(',').any(|h| h.trim() == "login_totp") {
        return Some(Format::BitwardenCsv);
    }
    let first_uri = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    if starts_with_ci(first_uri, google::SCHEME) {
        Some(Format::GoogleMigration)
    } else if starts_with_ci(first_uri, "otpauth://") {
        Some(Format::Uris)
    } else {
        None
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Whether a file of `format` needs a password to be read.
pub fn is_encrypted(bytes: &[u8], format: Format) -> bool {
    match format {
        Format::Aegis => aegis::is_encrypted(bytes),
        Format::TwoFas => twofas::is_encrypted(bytes),
        Format::AndOtp => std::str::from_utf8(bytes).is_err(),
        Format::BitwardenJson => bitwarden::is_encrypted(bytes),
        _ => false,
    }
}

/// Reads `bytes` as a file of `format`; `password` opens an encrypted one.
pub fn parse(bytes: &[u8], format: Format, password: Option<&[u8]>) -> Result<Parsed, ImportError> {
    let mut out = Parsed {
        format,
        entries: Vec::new(),
        refused: Vec::new(),
        batches: Vec::new(),
    };
    match format {
        Format::Uris | Format::GoogleMigration => uris::parse(text(bytes, format)?, format, &mut out)?,
        Format::Aegis => aegis::parse(text(bytes, format)?, password, &mut out)?,
        Format::TwoFas => twofas::parse(text(bytes, format)?, password, &mut out)?,
        Format::AndOtp => andotp::parse(bytes, password, &mut out)?,
        Format::BitwardenJson => bitwarden::parse_json(text(bytes, format)?, password, &mut out)?,
        Format::BitwardenCsv => bitwarden::parse_csv(text(bytes, format)?, &mut out)?,
    }
    Ok(out)
}

fn text(bytes: &[u8], format: Format) -> Result<&str, ImportError> {
    std::str::from_utf8(bytes)
        .map(|t| t.trim_start_matches('\u{feff}'))
        .map_err(|e| malformed(format, format!("not UTF-8 text (byte {})", e.valid_up_to())))
}

/// One entry's fields as a file gives them, before checking.
#[derive(Default)]
struct Fields<'a> {
    issuer: Option<&'a str>,
    account: &'a str,
    /// `totp`, `hotp` or `steam`, any case.
    kind: &'a str,
    algorithm: Option<&'a str>,
    digits: Option<u64>,
    period: Option<u64>,
    counter: Option<u64>,
    tags: Vec<String>,
    note: &'a str,
}

impl Fields<'_> {
    fn label(&self, index: usize) -> String {
        let l = label(self.issuer, self.account);
        if l.is_empty() {
            format!("entry {}", index + 1)
        } else {
            l
        }
    }

    /// Checks the fields and decodes `secret_b32`; `Err` is a refusal reason.
    fn build(self, secret_b32: &str) -> Result<Imported, String> {
        // The app that wrote the file accepted this secret: decode it as it did.
        let secret = Secret::from_base32_any_length(secret_b32).map_err(|e| e.to_string())?;
        let algorithm = match self.algorithm.filter(|a| !a.is_empty()) {
            Some(a) => a.parse::<Algorithm>().map_err(|e| e.to_string())?,
            None => Algorithm::Sha1,
        };
        let digits = self.digits.unwrap_or(6);
        let digits = u8::try_from(digits).map_err(|_| format!("digits must be 6, 7 or 8, not {digits}"))?;
        let spec = if self.kind.eq_ignore_ascii_case("steam") {
            OtpSpec::steam()
        } else if self.kind.eq_ignore_ascii_case("totp") {
            OtpSpec {
                kind: OtpKind::Totp {
                    period: self.period.unwrap_or(30),
                },
                algorithm,
                digits,
            }
        } else if self.kind.eq_ignore_ascii_case("hotp") {
            OtpSpec {
                kind: OtpKind::Hotp {
                    counter: self.counter.unwrap_or(0),
                },
                algorithm,
                digits,
            }
        } else {
            let kind: String = self.kind.chars().take(16).collect();
            return Err(format!("{kind:?} codes are not supported (only TOTP, HOTP and Steam)"));
        };
        spec.validate().map_err(|e| e.to_string())?;
        let issuer = self.issuer.map(str::trim).filter(|i| !i.is_empty()).map(str::to_string);
        let account = self.account.trim().to_string();
        if issuer.is_none() && account.is_empty() {
            return Err("it has neither an issuer nor an account name".into());
        }
        Ok(Imported {
            issuer,
            account,
            secret,
            spec,
            tags: self.tags,
            note: self.note.to_string(),
        })
    }
}

impl Parsed {
    /// Takes the entry `fields` describe, or refuses it with its reason.
    fn take(&mut self, index: usize, fields: Fields<'_>, secret_b32: &str) {
        let label = fields.label(index);
        match fields.build(secret_b32) {
            Ok(entry) => self.entries.push(entry),
            Err(reason) => self.refused.push(Refusal { label, reason }),
        }
    }
}

/// AES-256-GCM open of `ciphertext ‖ tag` with a 12-byte nonce.
fn gcm_open(
    key: &[u8],
    nonce: &[u8],
    ciphertext_and_tag: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    if key.len() != 32 || nonce.len() != 12 || ciphertext_and_tag.len() < 16 {
        return Err(ImportError::DecryptionFailed(what));
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| ImportError::DecryptionFailed(what))?;
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext_and_tag,
                aad: b"",
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| ImportError::DecryptionFailed(what))
}

/// AES-256-GCM seal: `ciphertext ‖ tag`.
fn gcm_seal(key: &[u8; 32], nonce: &[u8; 12], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: b"",
            },
        )
        // AES-GCM encryption fails only past 64 GiB of plaintext.
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(s.len() / 2));
    for pair in s.as_bytes().chunks(2) {
        let pair = std::str::from_utf8(pair).ok()?;
        out.push(u8::from_str_radix(pair, 16).ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
