//! A text file of one URI per line: `otpauth://` URIs (Aegis's and
//! WinAuth's plain export, a hand-made list) and Google's
//! `otpauth-migration://` exports, in any mix. Blank lines and lines starting
//! with `#` are skipped; any other line that is not one of these URIs makes
//! the file invalid (it is likely not a URI list at all). A URI that parses
//! but is invalid (bad secret, unknown type) is refused, the others taken.
//! Ente Auth's `codeDisplay` parameter gives tags and a note; an entry in
//! Ente's trash is refused (it was deleted there).

use super::{Format, ImportError, Imported, Parsed, Refusal, google, malformed, starts_with_ci};
use crate::otpauth;

pub(super) fn parse(text: &str, format: Format, out: &mut Parsed) -> Result<(), ImportError> {
    let mut any = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        any = true;
        if starts_with_ci(line, google::SCHEME) {
            google::parse_uri(line, out)?;
        } else if starts_with_ci(line, "otpauth://") {
            let display = ente_display(line);
            match otpauth::parse_from_app(line) {
                Ok(uri) if display.trashed => out.refused.push(Refusal {
                    label: super::label(uri.issuer.as_deref(), &uri.account),
                    reason: "it is in Ente's trash".into(),
                }),
                Ok(uri) => out.entries.push(Imported {
                    issuer: uri.issuer,
                    account: uri.account,
                    secret: uri.secret,
                    spec: uri.spec,
                    tags: display.tags,
                    note: display.note,
                }),
                Err(e) => {
                    let (issuer, account) = otpauth::names(line);
                    let label = super::label(issuer.as_deref(), &account);
                    out.refused.push(Refusal {
                        label: if label.is_empty() {
                            format!("line {}", n + 1)
                        } else {
                            label
                        },
                        reason: e.to_string(),
                    });
                }
            }
        } else {
            return Err(malformed(
                format,
                format!("line {} is not an otpauth:// or otpauth-migration:// URI", n + 1),
            ));
        }
    }
    if !any {
        return Err(malformed(format, "the file holds no URI"));
    }
    Ok(())
}

/// What Ente Auth keeps beside a URI, in its `codeDisplay` parameter (JSON):
/// tags, a note, and whether the entry is in its trash.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct EnteDisplay {
    trashed: bool,
    tags: Vec<String>,
    note: String,
}

fn ente_display(uri: &str) -> EnteDisplay {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| key.eq_ignore_ascii_case("codeDisplay"))
        .filter_map(|(_, value)| {
            let plus = value.replace('+', " ");
            let json = percent_encoding::percent_decode_str(&plus).decode_utf8().ok()?;
            serde_json::from_str(&json).ok()
        })
        .next_back()
        .unwrap_or_default()
}

/// The text of a QR code, read as a one-line URI list.
pub fn parse_qr_text(text: &str) -> Result<Parsed, ImportError> {
    let format = if starts_with_ci(text.trim(), google::SCHEME) {
        Format::GoogleMigration
    } else if starts_with_ci(text.trim(), "otpauth://") {
        Format::Uris
    } else {
        return Err(ImportError::Unsupported(
            "the QR code holds neither an otpauth:// nor an otpauth-migration:// URI".into(),
        ));
    };
    super::parse(text.trim().as_bytes(), format, None)
}
