//! Aegis vault exports (`aegis-export-*.json`), plain and encrypted, and
//! writing them.
//!
//! The file: `{"version":1,"header":{"slots":…,"params":…},"db":…}`. Plain,
//! `db` is an object with `version` (1, 2 or 3) and `entries`. Encrypted,
//! `db` is base64 of the AES-256-GCM ciphertext of that object under a
//! master key; each password slot (`type` 1) holds the master key sealed
//! with scrypt(password, salt, N, r, p) (AES-256-GCM, nonce and tag in
//! `key_params`); `header.params` holds the nonce and tag of `db`. Groups:
//! db version 2 names one per entry (`group`), version 3 lists group uuids
//! per entry (`groups`) and names them in `db.groups`; both become tags.

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use base64::Engine as _;

use super::{Fields, Format, ImportError, Parsed, gcm_open, gcm_seal, hex, json_reason, malformed, unhex};
use crate::otp::OtpSpec;
use crate::otp::{OtpKind, Secret};

const TITLE: &str = "Aegis vault";
/// scrypt's memory is 128·r·N bytes: refuse more than this from a file.
const MAX_SCRYPT_BYTES: u64 = 256 << 20;
/// The parameters Aegis itself uses.
const EXPORT_LOG_N: u8 = 15;
const EXPORT_R: u32 = 8;
const EXPORT_P: u32 = 1;

#[derive(Deserialize)]
struct File {
    header: Header,
    db: Db,
}

#[derive(Deserialize)]
struct Header {
    slots: Option<Vec<Slot>>,
    params: Option<KeyParams>,
}

#[derive(Deserialize)]
struct Slot {
    #[serde(rename = "type")]
    kind: u32,
    #[serde(default)]
    key: String,
    key_params: Option<KeyParams>,
    n: Option<u64>,
    r: Option<u32>,
    p: Option<u32>,
    salt: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct KeyParams {
    nonce: String,
    tag: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Db {
    Encrypted(String),
    Plain(DbPlain),
}

#[derive(Deserialize)]
struct DbPlain {
    version: u32,
    entries: Vec<Entry>,
    #[serde(default)]
    groups: Vec<Group>,
}

#[derive(Deserialize, Serialize)]
struct Group {
    uuid: String,
    name: String,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    info: Info,
}

#[derive(Deserialize)]
struct Info {
    secret: Zeroizing<String>,
    algo: Option<String>,
    digits: Option<u64>,
    period: Option<u64>,
    counter: Option<u64>,
}

fn bad(reason: impl Into<String>) -> ImportError {
    malformed(Format::Aegis, reason)
}

pub(super) fn is_encrypted(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        db: serde_json::Value,
    }
    serde_json::from_slice::<Probe>(bytes).is_ok_and(|p| p.db.is_string())
}

pub(super) fn parse(text: &str, password: Option<&[u8]>, out: &mut Parsed) -> Result<(), ImportError> {
    let file: File = serde_json::from_str(text).map_err(|e| bad(json_reason(&e)))?;
    let db = match file.db {
        Db::Plain(db) => db,
        Db::Encrypted(b64) => {
            let password = password.ok_or(ImportError::NeedsPassword(TITLE))?;
            let plain = decrypt(&file.header, &b64, password)?;
            serde_json::from_slice(&plain).map_err(|e| bad(format!("the decrypted database: {}", json_reason(&e))))?
        }
    };
    if !(1..=3).contains(&db.version) {
        return Err(ImportError::Unsupported(format!(
            "Aegis database version {} is not one authctl reads (1 to 3)",
            db.version
        )));
    }
    for (i, entry) in db.entries.iter().enumerate() {
        let mut tags: Vec<String> = entry.group.iter().filter(|g| !g.is_empty()).cloned().collect();
        for uuid in &entry.groups {
            if let Some(g) = db.groups.iter().find(|g| &g.uuid == uuid) {
                if !tags.contains(&g.name) {
                    tags.push(g.name.clone());
                }
            }
        }
        let fields = Fields {
            issuer: entry.issuer.as_deref(),
            account: &entry.name,
            kind: &entry.kind,
            algorithm: entry.info.algo.as_deref(),
            digits: entry.info.digits,
            period: entry.info.period,
            counter: entry.info.counter,
            tags,
            note: entry.note.as_deref().unwrap_or(""),
        };
        out.take(i, fields, &entry.info.secret);
    }
    Ok(())
}

fn decrypt(header: &Header, db_b64: &str, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let params = header
        .params
        .as_ref()
        .ok_or_else(|| bad("the header has no params for the database"))?;
    let slots = header.slots.as_deref().unwrap_or_default();
    let mut tried = false;
    let mut master = None;
    for slot in slots.iter().filter(|s| s.kind == 1) {
        tried = true;
        if let Some(key) = open_slot(slot, password)? {
            master = Some(key);
            break;
        }
    }
    if !tried {
        return Err(ImportError::Unsupported(
            "this Aegis vault has no password slot (only biometric ones); export it again with a password".into(),
        ));
    }
    let master = master.ok_or(ImportError::DecryptionFailed(TITLE))?;
    let mut sealed = base64::engine::general_purpose::STANDARD
        .decode(db_b64.replace("\\/", "/").trim())
        .map_err(|_| bad("the encrypted database is not base64"))?;
    sealed.extend_from_slice(&unhex(&params.tag).ok_or_else(|| bad("the database tag is not hex"))?);
    let nonce = unhex(&params.nonce).ok_or_else(|| bad("the database nonce is not hex"))?;
    gcm_open(&master, &nonce, &sealed, TITLE)
}

/// The master key from a password slot; `None` for a wrong password.
fn open_slot(slot: &Slot, password: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, ImportError> {
    let (Some(n), Some(r), Some(p), Some(salt), Some(kp)) = (slot.n, slot.r, slot.p, &slot.salt, &slot.key_params)
    else {
        return Err(bad("a password slot lacks its scrypt parameters"));
    };
    if !n.is_power_of_two() || n < 2 || r == 0 || !(1..=16).contains(&p) || 128 * u64::from(r) * n > MAX_SCRYPT_BYTES {
        return Err(bad("a password slot asks for scrypt parameters out of bounds"));
    }
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p, 32)
        .map_err(|_| bad("a password slot asks for invalid scrypt parameters"))?;
    let salt = unhex(salt).ok_or_else(|| bad("a slot's salt is not hex"))?;
    let mut derived = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, &salt, &params, &mut *derived).map_err(|_| bad("scrypt failed"))?;
    let mut sealed = unhex(&slot.key).ok_or_else(|| bad("a slot's key is not hex"))?;
    sealed.extend_from_slice(&unhex(&kp.tag).ok_or_else(|| bad("a slot's tag is not hex"))?);
    let nonce = unhex(&kp.nonce).ok_or_else(|| bad("a slot's nonce is not hex"))?;
    match gcm_open(&*derived, &nonce, &sealed, TITLE) {
        Ok(key) if key.len() == 32 => Ok(Some(key)),
        Ok(_) => Err(bad("a slot holds a master key of the wrong size")),
        Err(_) => Ok(None),
    }
}

/// One entry for [`export_aegis`].
pub struct AegisExport<'a> {
    /// The site.
    pub issuer: Option<&'a str>,
    /// The login.
    pub account: &'a str,
    /// The seed.
    pub secret: &'a Secret,
    /// Its parameters.
    pub spec: &'a OtpSpec,
    /// Tags, written as Aegis groups.
    pub tags: &'a [String],
    /// The note.
    pub note: &'a str,
}

fn uuid(rng: &mut (impl RngCore + CryptoRng)) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// An Aegis vault export (database version 3) of `entries`; encrypted with
/// one password slot (scrypt N=2^15, r=8, p=1, as Aegis does) when
/// `password` is given. The result holds seeds (plain) and is zeroized.
pub fn export_aegis(
    entries: &[AegisExport<'_>],
    password: Option<&[u8]>,
    rng: &mut (impl RngCore + CryptoRng),
) -> Zeroizing<String> {
    let mut groups: Vec<Group> = Vec::new();
    let mut list = Vec::with_capacity(entries.len());
    for e in entries {
        let group_ids: Vec<String> = e
            .tags
            .iter()
            .map(|tag| match groups.iter().find(|g| &g.name == tag) {
                Some(g) => g.uuid.clone(),
                None => {
                    let g = Group {
                        uuid: uuid(rng),
                        name: tag.clone(),
                    };
                    let id = g.uuid.clone();
                    groups.push(g);
                    id
                }
            })
            .collect();
        let (kind, period, counter) = match e.spec.kind {
            OtpKind::Totp { period } => ("totp", Some(period), None),
            OtpKind::Hotp { counter } => ("hotp", None, Some(counter)),
            OtpKind::Steam => ("steam", Some(30), None),
        };
        let mut info = serde_json::json!({
            "secret": e.secret.to_base32().as_str(),
            "algo": e.spec.algorithm.to_string(),
            "digits": e.spec.digits,
        });
        if let Some(period) = period {
            info["period"] = period.into();
        }
        if let Some(counter) = counter {
            info["counter"] = counter.into();
        }
        list.push(serde_json::json!({
            "type": kind,
            "uuid": uuid(rng),
            "name": e.account,
            "issuer": e.issuer.unwrap_or(""),
            "note": e.note,
            "favorite": false,
            "icon": null,
            "groups": group_ids,
            "info": info,
        }));
    }
    let db = serde_json::json!({ "version": 3, "entries": list, "groups": groups });
    let db_text = Zeroizing::new(db.to_string());
    // `db` (a Value) holds the secrets too; it is dropped right after.
    drop(db);
    let file = match password {
        None => serde_json::json!({
            "version": 1,
            "header": { "slots": null, "params": null },
            "db": serde_json::from_str::<serde_json::Value>(&db_text).unwrap_or_default(),
        }),
        Some(password) => {
            let mut master = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(&mut *master);
            let mut salt = [0u8; 32];
            rng.fill_bytes(&mut salt);
            let mut slot_nonce = [0u8; 12];
            rng.fill_bytes(&mut slot_nonce);
            let mut db_nonce = [0u8; 12];
            rng.fill_bytes(&mut db_nonce);
            let mut derived = Zeroizing::new([0u8; 32]);
            // Valid constants: cannot fail.
            if let Ok(params) = scrypt::Params::new(EXPORT_LOG_N, EXPORT_R, EXPORT_P, 32) {
                let _ = scrypt::scrypt(password, &salt, &params, &mut *derived);
            }
            let sealed_key = gcm_seal(&derived, &slot_nonce, &*master);
            let (key_ct, key_tag) = sealed_key.split_at(sealed_key.len() - 16);
            let sealed_db = gcm_seal(&master, &db_nonce, db_text.as_bytes());
            let (db_ct, db_tag) = sealed_db.split_at(sealed_db.len() - 16);
            serde_json::json!({
                "version": 1,
                "header": {
                    "slots": [{
                        "type": 1,
                        "uuid": uuid(rng),
                        "key": hex(key_ct),
                        "key_params": { "nonce": hex(&slot_nonce), "tag": hex(key_tag) },
                        "n": 1u64 << EXPORT_LOG_N,
                        "r": EXPORT_R,
                        "p": EXPORT_P,
                        "salt": hex(&salt),
                        "repaired": true,
                        "is_backup": false,
                    }],
                    "params": { "nonce": hex(&db_nonce), "tag": hex(db_tag) },
                },
                "db": base64::engine::general_purpose::STANDARD.encode(db_ct),
            })
        }
    };
    Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default())
}
