//! Bitwarden's exports, JSON (`items[].login.totp`) and CSV (column
//! `login_totp`). The TOTP field holds an otpauth URI, a `steam://SECRET`,
//! or a bare base32 secret; for the last two (and URIs with no issuer) the
//! item's name is the issuer and its username the account. Items without a
//! TOTP field are not entries and are skipped.
//!
//! A password-protected JSON export (`"passwordProtected": true`) holds the
//! plain export as `data`, an encrypted string `2.IV|CIPHERTEXT|MAC`
//! (AES-256-CBC, PKCS#7, HMAC-SHA256 over IV ‖ ciphertext). The key is
//! derived from the password and the `salt` text: PBKDF2-HMAC-SHA256
//! (`kdfType` 0, `kdfIterations`) or Argon2id (`kdfType` 1, salt SHA-256'd,
//! `kdfIterations`, `kdfMemory` MiB, `kdfParallelism`), then stretched with
//! HKDF-Expand-SHA256 into an encryption key (info `enc`) and a MAC key
//! (info `mac`). The MAC is checked before anything is decrypted. An export
//! encrypted with the account's own key (`passwordProtected: false`) cannot
//! be read outside Bitwarden.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{Fields, Format, ImportError, Imported, Parsed, Refusal, json_reason, malformed};
use crate::otpauth;

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    encrypted: bool,
    #[serde(default)]
    items: Vec<Item>,
}

/// A password-protected export's envelope.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Protected {
    #[serde(default)]
    password_protected: bool,
    salt: String,
    kdf_type: u32,
    kdf_iterations: u32,
    kdf_memory: Option<u32>,
    kdf_parallelism: Option<u32>,
    #[serde(rename = "encKeyValidation_DO_NOT_EDIT")]
    validation: String,
    data: String,
}

const TITLE: &str = "Bitwarden JSON export";
/// Bounds on the work a file may ask for (Bitwarden's own maxima).
const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;
const MAX_ARGON2_ITERATIONS: u32 = 10;
const MAX_ARGON2_MEMORY_MIB: u32 = 1024;
const MAX_ARGON2_PARALLELISM: u32 = 16;

/// Whether a Bitwarden JSON export needs a password.
pub(super) fn is_encrypted(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Protected>(bytes).is_ok_and(|p| p.password_protected)
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    name: String,
    login: Option<Login>,
    #[serde(default)]
    notes: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    username: Option<String>,
    totp: Option<Zeroizing<String>>,
}

pub(super) fn parse_json(text: &str, password: Option<&[u8]>, out: &mut Parsed) -> Result<(), ImportError> {
    let bad = |e: serde_json::Error| malformed(Format::BitwardenJson, json_reason(&e));
    let file: File = serde_json::from_str(text).map_err(bad)?;
    if file.encrypted {
        let protected: Protected = serde_json::from_str(text).map_err(|_| {
            ImportError::Unsupported(
                "this Bitwarden export is encrypted with the account's key; export it again as \"password protected\", or unencrypted".into(),
            )
        })?;
        if !protected.password_protected {
            return Err(ImportError::Unsupported(
                "this Bitwarden export is encrypted with the account's key; export it again as \"password protected\", or unencrypted".into(),
            ));
        }
        let password = password.ok_or(ImportError::NeedsPassword(TITLE))?;
        let plain = decrypt(&protected, password)?;
        let text = std::str::from_utf8(&plain)
            .map_err(|_| malformed(Format::BitwardenJson, "the decrypted data is not UTF-8"))?;
        let inner: File = serde_json::from_str(text).map_err(bad)?;
        if inner.encrypted {
            return Err(malformed(
                Format::BitwardenJson,
                "the decrypted data is encrypted again",
            ));
        }
        return items(&inner, out);
    }
    items(&file, out)
}

fn items(file: &File, out: &mut Parsed) -> Result<(), ImportError> {
    for (i, item) in file.items.iter().enumerate() {
        let Some(login) = &item.login else { continue };
        let Some(totp) = login.totp.as_ref().filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        one(
            i,
            &item.name,
            login.username.as_deref().unwrap_or(""),
            item.notes.as_deref().unwrap_or(""),
            totp,
            out,
        );
    }
    Ok(())
}

pub(super) fn parse_csv(text: &str, out: &mut Parsed) -> Result<(), ImportError> {
    let bad = |reason: String| malformed(Format::BitwardenCsv, reason);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad(format!("unreadable header line ({})", csv_reason(&e))))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let totp_col = column("login_totp").ok_or_else(|| bad("no login_totp column".into()))?;
    let (name_col, user_col, notes_col) = (column("name"), column("login_username"), column("notes"));
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(format!("row {} is unreadable ({})", i + 2, csv_reason(&e))))?;
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("");
        let totp = Zeroizing::new(get(Some(totp_col)).to_string());
        if totp.trim().is_empty() {
            continue;
        }
        one(i, get(name_col), get(user_col), get(notes_col), &totp, out);
    }
    Ok(())
}

type Key = Zeroizing<[u8; 32]>;

/// The encryption and MAC keys of a password-protected export.
fn keys(p: &Protected, password: &[u8]) -> Result<(Key, Key), ImportError> {
    let mut master = Zeroizing::new([0u8; 32]);
    let unsupported = |what: &str| ImportError::Unsupported(format!("this Bitwarden export asks for {what}"));
    match p.kdf_type {
        0 => {
            if p.kdf_iterations == 0 || p.kdf_iterations > MAX_PBKDF2_ITERATIONS {
                return Err(unsupported("a PBKDF2 iteration count outside 1 to 2,000,000"));
            }
            pbkdf2::pbkdf2_hmac::<Sha256>(password, p.salt.as_bytes(), p.kdf_iterations, &mut *master);
        }
        1 => {
            let memory = p.kdf_memory.unwrap_or(0);
            let lanes = p.kdf_parallelism.unwrap_or(0);
            if !(1..=MAX_ARGON2_ITERATIONS).contains(&p.kdf_iterations)
                || !(1..=MAX_ARGON2_MEMORY_MIB).contains(&memory)
                || !(1..=MAX_ARGON2_PARALLELISM).contains(&lanes)
            {
                return Err(unsupported("Argon2id parameters outside Bitwarden's own limits"));
            }
            let params = argon2::Params::new(memory * 1024, p.kdf_iterations, lanes, Some(32))
                .map_err(|_| unsupported("invalid Argon2id parameters"))?;
            let salt = Sha256::digest(p.salt.as_bytes());
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password_into(password, &salt, &mut *master)
                .map_err(|_| unsupported("invalid Argon2id parameters"))?;
        }
        other => return Err(unsupported(&format!("an unknown key derivation ({other})"))),
    }
    let hk = Hkdf::<Sha256>::from_prk(&*master).map_err(|_| ImportError::DecryptionFailed(TITLE))?;
    let (mut enc, mut mac) = (Zeroizing::new([0u8; 32]), Zeroizing::new([0u8; 32]));
    hk.expand(b"enc", &mut *enc)
        .map_err(|_| ImportError::DecryptionFailed(TITLE))?;
    hk.expand(b"mac", &mut *mac)
        .map_err(|_| ImportError::DecryptionFailed(TITLE))?;
    Ok((enc, mac))
}

fn decrypt(p: &Protected, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let (enc, mac) = keys(p, password)?;
    // The validation string opens only with the right password; checking it
    // first tells a wrong password from damaged data.
    open(&p.validation, &enc, &mac)?;
    open(&p.data, &enc, &mac)
}

/// Opens an encrypted string of type 2: `2.IV|CIPHERTEXT|MAC`, base64 parts.
fn open(enc_string: &str, enc: &[u8; 32], mac_key: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    use aes::cipher::{BlockDecrypt, KeyInit as _, generic_array::GenericArray};
    use base64::Engine as _;
    let failed = || ImportError::DecryptionFailed(TITLE);
    let bad = |reason: &str| malformed(Format::BitwardenJson, reason);
    let rest = enc_string
        .strip_prefix("2.")
        .ok_or_else(|| bad("an encrypted string is not of type 2 (AES-CBC with HMAC)"))?;
    let parts: Vec<&str> = rest.split('|').collect();
    let [iv, ct, tag] = parts[..] else {
        return Err(bad("an encrypted string is not three parts"));
    };
    let b64 = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|_| bad("an encrypted string is not base64"))
    };
    let (iv, ct, tag) = (b64(iv)?, b64(ct)?, b64(tag)?);
    if iv.len() != 16 || ct.is_empty() || ct.len() % 16 != 0 {
        return Err(bad("an encrypted string has a wrong length"));
    }
    let mut check = <Hmac<Sha256> as Mac>::new_from_slice(mac_key).map_err(|_| failed())?;
    check.update(&iv);
    check.update(&ct);
    check.verify_slice(&tag).map_err(|_| failed())?;
    let cipher = aes::Aes256::new(GenericArray::from_slice(enc));
    let mut plain = Zeroizing::new(ct.clone());
    let mut previous: [u8; 16] = iv.as_slice().try_into().map_err(|_| failed())?;
    for block in plain.chunks_exact_mut(16) {
        let this: [u8; 16] = (&*block).try_into().map_err(|_| failed())?;
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
        block.iter_mut().zip(previous).for_each(|(b, p)| *b ^= p);
        previous = this;
    }
    // PKCS#7 padding: the MAC held, so a bad pad is damage, not an oracle.
    let pad = usize::from(*plain.last().ok_or_else(failed)?);
    if pad == 0 || pad > 16 || plain[plain.len() - pad..].iter().any(|&b| usize::from(b) != pad) {
        return Err(failed());
    }
    let len = plain.len() - pad;
    plain.truncate(len);
    Ok(plain)
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
        csv::ErrorKind::UnequalLengths { .. } => "wrong number of fields".into(),
        _ => "malformed CSV".into(),
    }
}

fn one(index: usize, name: &str, username: &str, note: &str, totp: &str, out: &mut Parsed) {
    let totp = totp.trim();
    let name = name.trim();
    if totp.get(..10).is_some_and(|s| s.eq_ignore_ascii_case("otpauth://")) {
        match otpauth::parse_from_app(totp) {
            Ok(uri) => {
                let issuer = uri.issuer.or_else(|| Some(name.to_string()).filter(|n| !n.is_empty()));
                let account = if uri.account.is_empty() {
                    username.to_string()
                } else {
                    uri.account
                };
                out.entries.push(Imported {
                    issuer,
                    account,
                    secret: uri.secret,
                    spec: uri.spec,
                    tags: Vec::new(),
                    note: note.to_string(),
                });
            }
            Err(e) => out.refused.push(Refusal {
                label: if name.is_empty() {
                    format!("item {}", index + 1)
                } else {
                    name.to_string()
                },
                reason: e.to_string(),
            }),
        }
        return;
    }
    let (kind, secret) = match totp.get(..8) {
        Some(p) if p.eq_ignore_ascii_case("steam://") => ("steam", &totp[8..]),
        _ => ("totp", totp),
    };
    let fields = Fields {
        issuer: Some(name),
        account: username,
        kind,
        note,
        ..Fields::default()
    };
    out.take(index, fields, secret);
}
