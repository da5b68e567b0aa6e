//! 2FAS Authenticator backups (`.2fas`), schemas 1 to 4, plain and
//! encrypted. Schema 1 (2FAS 3.x) gives only names and the secret: its
//! entries are TOTP, SHA1, 6 digits, 30 s, as 2FAS made them.
//!
//! `services` lists the entries; `groups` names groups that services point
//! to by `groupId` (kept as tags). Encrypted, `services` is empty and
//! `servicesEncrypted` is `base64(ciphertext ‖ tag):base64(salt):base64(iv)`
//! with the key PBKDF2-HMAC-SHA256(password, salt, 10 000 rounds), AES-256-GCM;
//! the plaintext is the JSON `services` array. Schema 2 has no `tokenType`:
//! such entries are TOTP.

use base64::Engine as _;
use serde::Deserialize;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Fields, Format, ImportError, Parsed, gcm_open, json_reason, malformed};

const TITLE: &str = "2FAS backup";
const PBKDF2_ROUNDS: u32 = 10_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    services: Option<Vec<Service>>,
    #[serde(default)]
    groups: Vec<Group>,
    schema_version: Option<u32>,
    services_encrypted: Option<String>,
}

#[derive(Deserialize)]
struct Group {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(default)]
    name: String,
    secret: Zeroizing<String>,
    otp: Otp,
    group_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Otp {
    account: Option<String>,
    issuer: Option<String>,
    label: Option<String>,
    link: Option<String>,
    digits: Option<u64>,
    period: Option<u64>,
    counter: Option<u64>,
    algorithm: Option<String>,
    token_type: Option<String>,
}

fn bad(reason: impl Into<String>) -> ImportError {
    malformed(Format::TwoFas, reason)
}

pub(super) fn is_encrypted(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        services_encrypted: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(bytes).is_ok_and(|p| p.services_encrypted.is_some())
}

pub(super) fn parse(text: &str, password: Option<&[u8]>, out: &mut Parsed) -> Result<(), ImportError> {
    let file: File = serde_json::from_str(text).map_err(|e| bad(json_reason(&e)))?;
    match file.schema_version {
        Some(1..=4) | None => {}
        Some(v) => {
            return Err(ImportError::Unsupported(format!(
                "2FAS schema {v} is not one authctl reads (1 to 4)"
            )));
        }
    }
    let services = match &file.services_encrypted {
        Some(sealed) => {
            let password = password.ok_or(ImportError::NeedsPassword(TITLE))?;
            let plain = decrypt(sealed, password)?;
            serde_json::from_slice::<Vec<Service>>(&plain)
                .map_err(|e| bad(format!("the decrypted services: {}", json_reason(&e))))?
        }
        None => file.services.ok_or_else(|| bad("it has no services"))?,
    };
    for (i, s) in services.iter().enumerate() {
        let tags = s
            .group_id
            .as_ref()
            .and_then(|id| file.groups.iter().find(|g| &g.id == id))
            .map(|g| vec![g.name.clone()])
            .unwrap_or_default();
        let issuer = s.otp.issuer.as_deref().filter(|i| !i.is_empty()).unwrap_or(&s.name);
        // 2FAS keeps the account the user edited in `account`; when that is
        // empty, the account of the URI the entry was scanned from stands.
        let from_link = s
            .otp
            .link
            .as_deref()
            .map(|link| crate::otpauth::names(link).1)
            .unwrap_or_default();
        let account = [
            s.otp.account.as_deref(),
            s.otp.label.as_deref(),
            Some(from_link.as_str()),
        ]
        .into_iter()
        .flatten()
        .find(|a| !a.trim().is_empty())
        .unwrap_or("");
        let fields = Fields {
            issuer: Some(issuer),
            account,
            kind: s.otp.token_type.as_deref().unwrap_or("TOTP"),
            algorithm: s.otp.algorithm.as_deref(),
            digits: s.otp.digits,
            period: s.otp.period,
            counter: s.otp.counter,
            tags,
            note: "",
        };
        out.take(i, fields, &s.secret);
    }
    Ok(())
}

fn decrypt(sealed: &str, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let parts: Vec<&str> = sealed.split(':').collect();
    let [ct, salt, iv] = parts[..] else {
        return Err(bad("servicesEncrypted is not three base64 parts"));
    };
    let b64 = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| bad("servicesEncrypted is not base64"))
    };
    let (ct, salt, iv) = (b64(ct)?, b64(salt)?, b64(iv)?);
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, PBKDF2_ROUNDS, &mut *key);
    gcm_open(&*key, &iv, &ct, TITLE)
}
