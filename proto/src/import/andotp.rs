//! andOTP backups: a plain JSON array, or one of two encrypted binary
//! formats (no magic number, so a binary file is taken for one):
//! - new: 4-byte big-endian PBKDF2 iteration count, 12-byte salt, 12-byte
//!   GCM nonce, then ciphertext ‖ tag; key PBKDF2-HMAC-SHA1(password, salt,
//!   iterations, 32 bytes); AES-256-GCM;
//! - old: key SHA-256(password); 12-byte nonce, then ciphertext ‖ tag.
//!
//! The old format's entries have no issuer; their label is `Issuer -
//! Issuer:Account` (or `Issuer:Account`), split here.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{Fields, Format, ImportError, Parsed, gcm_open, json_reason, malformed};

const TITLE: &str = "andOTP backup";
/// More PBKDF2 rounds than this (andOTP uses 140 000 to 160 000) is not a
/// real backup, and would keep the CPU busy for minutes.
const MAX_ROUNDS: u32 = 10_000_000;
const NEW_HEADER: usize = 4 + 12 + 12;

#[derive(Deserialize)]
struct Entry {
    secret: Zeroizing<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    label: String,
    digits: Option<u64>,
    #[serde(rename = "type")]
    kind: String,
    algorithm: Option<String>,
    period: Option<u64>,
    counter: Option<u64>,
    #[serde(default)]
    tags: Vec<String>,
}

fn bad(reason: impl Into<String>) -> ImportError {
    malformed(Format::AndOtp, reason)
}

/// Long enough to be either encrypted format (nonce and tag at least).
pub(super) fn looks_encrypted(bytes: &[u8]) -> bool {
    bytes.len() >= 12 + 16
}

pub(super) fn parse(bytes: &[u8], password: Option<&[u8]>, out: &mut Parsed) -> Result<(), ImportError> {
    let plain;
    let json: &[u8] = match std::str::from_utf8(bytes) {
        Ok(text) if text.trim_start_matches('\u{feff}').trim_start().starts_with('[') => bytes,
        Ok(_) => return Err(bad("expected a JSON array of entries, or an encrypted backup")),
        Err(_) => {
            let password = password.ok_or(ImportError::NeedsPassword(TITLE))?;
            plain = decrypt(bytes, password)?;
            &plain
        }
    };
    let entries: Vec<Entry> = serde_json::from_slice(json).map_err(|e| bad(json_reason(&e)))?;
    for (i, e) in entries.iter().enumerate() {
        let (issuer, account) = match e.issuer.as_deref().filter(|i| !i.is_empty()) {
            Some(issuer) => (Some(issuer), e.label.as_str()),
            None => split_old_label(&e.label),
        };
        let fields = Fields {
            issuer,
            account,
            kind: &e.kind,
            algorithm: e.algorithm.as_deref(),
            digits: e.digits,
            period: e.period,
            counter: e.counter,
            tags: e.tags.clone(),
            note: "",
        };
        out.take(i, fields, &e.secret);
    }
    Ok(())
}

/// `Issuer - Issuer:Account`, `Issuer - Account`, `Issuer:Account` or `Account`.
fn split_old_label(label: &str) -> (Option<&str>, &str) {
    if let Some((issuer, rest)) = label.split_once(" - ") {
        let account = rest
            .strip_prefix(issuer)
            .and_then(|r| r.strip_prefix(':'))
            .unwrap_or(rest);
        return (Some(issuer), account);
    }
    match label.split_once(':') {
        Some((issuer, account)) => (Some(issuer), account),
        None => (None, label),
    }
}

fn decrypt(bytes: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    if bytes.len() < 12 + 16 {
        return Err(bad("too short to be an encrypted backup (truncated?)"));
    }
    let rounds = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if (1..=MAX_ROUNDS).contains(&rounds) && bytes.len() >= NEW_HEADER + 16 {
        let (salt, rest) = bytes[4..].split_at(12);
        let (nonce, sealed) = rest.split_at(12);
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, rounds, &mut *key);
        if let Ok(plain) = gcm_open(&*key, nonce, sealed, TITLE) {
            return Ok(plain);
        }
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&Sha256::digest(password));
    let (nonce, sealed) = bytes.split_at(12);
    gcm_open(&*key, nonce, sealed, TITLE)
}
