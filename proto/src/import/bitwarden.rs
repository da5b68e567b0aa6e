//! Bitwarden's unencrypted exports, JSON (`items[].login.totp`) and CSV
//! (column `login_totp`). The TOTP field holds an otpauth URI, a
//! `steam://SECRET`, or a bare base32 secret; for the last two (and URIs
//! with no issuer) the item's name is the issuer and its username the
//! account. Items without a TOTP field are not entries and are skipped.

use serde::Deserialize;
use zeroize::Zeroizing;

use super::{Fields, Format, ImportError, Imported, Parsed, Refusal, json_reason, malformed};
use crate::otpauth;

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    encrypted: bool,
    items: Vec<Item>,
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

pub(super) fn parse_json(text: &str, out: &mut Parsed) -> Result<(), ImportError> {
    let file: File = serde_json::from_str(text).map_err(|e| malformed(Format::BitwardenJson, json_reason(&e)))?;
    if file.encrypted {
        return Err(ImportError::Unsupported(
            "this Bitwarden export is encrypted; export it again as unencrypted JSON or CSV".into(),
        ));
    }
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
        match otpauth::parse(totp) {
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
