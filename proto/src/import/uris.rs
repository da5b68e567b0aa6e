//! A text file of one URI per line: `otpauth://` URIs (Aegis's and
//! WinAuth's plain export, a hand-made list) and Google's
//! `otpauth-migration://` exports, in any mix. Blank lines and lines starting
//! with `#` are skipped; any other line that is not one of these URIs makes
//! the file invalid (it is likely not a URI list at all). A URI that parses
//! but is invalid (bad secret, unknown type) is refused, the others taken.

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
            match otpauth::parse(line) {
                Ok(uri) => out.entries.push(Imported {
                    issuer: uri.issuer,
                    account: uri.account,
                    secret: uri.secret,
                    spec: uri.spec,
                    tags: Vec::new(),
                    note: String::new(),
                }),
                Err(e) => out.refused.push(Refusal {
                    label: format!("line {}", n + 1),
                    reason: e.to_string(),
                }),
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
