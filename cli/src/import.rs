//! `authctl import FILE...` and `add --qr IMAGE`: read every file (or the QR
//! codes of every image), decrypt what needs a password, and hand the daemon
//! all the entries in one request, which it writes all or nothing. Any file
//! that cannot be read fails the whole import before the daemon is asked.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Result;
use authsync_proto::import::{self, Format, ImportError, Imported, Parsed, Refusal, google::Batch};
use authsync_proto::ipc::{ImportReply, NewEntry, NewSecret, WireSecret};
use zeroize::Zeroizing;

use crate::input::BadInput;
use crate::qr;

/// Larger files are refused before they are read: real exports are a few
/// hundred kilobytes, phone screenshots a few megabytes.
pub const MAX_FILE_BYTES: u64 = 32 << 20;
/// Above this many entries a progress bar is shown (on a terminal).
const PROGRESS_FROM: usize = 50;

fn bad(message: String) -> anyhow::Error {
    BadInput(message).into()
}

/// Reads `path`, refusing a file over [`MAX_FILE_BYTES`] by its size.
pub fn read_limited(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read {name}: {e}")))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let limit = MAX_FILE_BYTES;
    if size > limit {
        return Err(bad(format!(
            "{name} is {} MiB; files over {} MiB are not exports authctl reads",
            size >> 20,
            limit >> 20
        )));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(size as usize));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot read {name}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(bad(format!("{name} is over {} MiB", limit >> 20)));
    }
    Ok(bytes)
}

/// How encrypted files get their password: one password for all the files
/// that share it. Every password given so far is tried on each encrypted
/// file; a new one is asked (on the terminal) only when none opens it.
/// `--password-file` gives one password per line, all tried.
pub struct Passwords {
    file: Option<PathBuf>,
    known: std::cell::RefCell<Vec<Zeroizing<String>>>,
}

/// How many passwords the terminal is asked for one file before giving up.
const PROMPTS_PER_FILE: usize = 3;

impl Passwords {
    pub fn new(file: Option<PathBuf>) -> Result<Passwords> {
        let mut known = Vec::new();
        if let Some(file) = &file {
            let text = Zeroizing::new(
                std::fs::read_to_string(file).map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?,
            );
            known.extend(
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| Zeroizing::new(l.to_string())),
            );
            if known.is_empty() {
                return Err(bad(format!("{} holds no password", file.display())));
            }
        }
        Ok(Passwords {
            file,
            known: std::cell::RefCell::new(known),
        })
    }

    /// Parses an encrypted file with the first password that opens it.
    fn open(&self, path: &Path, bytes: &[u8], format: Format) -> Result<Parsed> {
        let name = path.display();
        let wrong = |e: &ImportError| matches!(e, ImportError::DecryptionFailed(_));
        // The password that opened the last file first: files from one app
        // share one, and each wrong try costs a key derivation.
        let tried = self.known.borrow().len();
        for i in 0..tried {
            let result = {
                let known = self.known.borrow();
                import::parse(bytes, format, Some(known[i].as_bytes()))
            };
            match result {
                Err(e) if wrong(&e) => continue,
                other => {
                    let password = self.known.borrow_mut().remove(i);
                    self.known.borrow_mut().insert(0, password);
                    return other.map_err(|e| bad(format!("{name}: {e}")));
                }
            }
        }
        if let Some(file) = &self.file {
            let n = self.known.borrow().len();
            return Err(bad(format!(
                "{name}: none of the {n} password(s) in {} opens this {} (wrong password, or the file is damaged)",
                file.display(),
                format.title()
            )));
        }
        if !std::io::stderr().is_terminal() && !std::io::stdin().is_terminal() {
            return Err(bad(format!(
                "{name} is an encrypted {}; give its password with --password-file",
                format.title()
            )));
        }
        for attempt in 0..PROMPTS_PER_FILE {
            let prompt = if attempt == 0 && self.known.borrow().is_empty() {
                format!("Password of {name} ({}): ", format.title())
            } else if attempt == 0 {
                format!("That password does not open {name}; its password: ")
            } else {
                format!("Wrong password for {name}; try again: ")
            };
            let password = rpassword::prompt_password(prompt).map(Zeroizing::new).map_err(|e| {
                bad(format!(
                    "cannot read the password from the terminal ({e}); use --password-file"
                ))
            })?;
            match import::parse(bytes, format, Some(password.as_bytes())) {
                Err(e) if wrong(&e) => continue,
                other => {
                    self.known.borrow_mut().insert(0, password);
                    return other.map_err(|e| bad(format!("{name}: {e}")));
                }
            }
        }
        Err(bad(format!(
            "{name}: {} (after {PROMPTS_PER_FILE} tries)",
            ImportError::DecryptionFailed(format.title())
        )))
    }
}

/// Reads one file (or image) into its entries and refusals.
pub fn read_file(path: &Path, format: Option<Format>, passwords: &Passwords) -> Result<Parsed> {
    let name = path.display().to_string();
    let bytes = read_limited(path)?;
    if format.is_none() && import::is_image(&bytes) {
        return from_image(&bytes, &name);
    }
    let format = format
        .or_else(|| import::detect(&bytes))
        .ok_or_else(|| bad(format!("{name}: {}", ImportError::UnknownFormat)))?;
    if import::is_encrypted(&bytes, format) {
        return passwords.open(path, &bytes, format);
    }
    import::parse(&bytes, format, None).map_err(|e| bad(format!("{name}: {e}")))
}

/// The entries of every QR code in an image.
pub fn from_image(bytes: &[u8], name: &str) -> Result<Parsed> {
    let mut all: Option<Parsed> = None;
    for text in qr::decode(bytes, name)? {
        let parsed = import::parse_qr_text(&text).map_err(|e| bad(format!("{name}: {e}")))?;
        match &mut all {
            None => all = Some(parsed),
            Some(all) => {
                all.entries.extend(parsed.entries);
                all.refused.extend(parsed.refused);
                all.batches.extend(parsed.batches);
            }
        }
    }
    all.ok_or_else(|| bad(format!("{name}: no QR code could be read in the image")))
}

fn new_entry(e: Imported) -> NewEntry {
    NewEntry {
        issuer: e.issuer,
        account: e.account,
        otp: NewSecret {
            secret: WireSecret::new(e.secret.to_base32().to_string()),
            spec: e.spec,
        },
        tags: e.tags,
        note: e.note,
    }
}

/// Everything read from the files, ready for the daemon.
pub struct Prepared {
    pub entries: Vec<NewEntry>,
    /// (file, refusal)
    pub refused: Vec<(String, Refusal)>,
    pub warnings: Vec<String>,
}

/// Reads every file; the first that fails fails all.
pub fn prepare(files: &[PathBuf], format: Option<Format>, passwords: &Passwords) -> Result<Prepared> {
    let mut parsed = Vec::new();
    for path in files {
        parsed.push((path.display().to_string(), read_file(path, format, passwords)?));
    }
    let total: usize = parsed.iter().map(|(_, p)| p.entries.len()).sum();
    let bar = (total >= PROGRESS_FROM && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len}") {
            bar.set_style(style);
        }
        bar.set_message("checking entries");
        bar
    });
    let mut out = Prepared {
        entries: Vec::with_capacity(total),
        refused: Vec::new(),
        warnings: Vec::new(),
    };
    let mut batches: Vec<Batch> = Vec::new();
    for (name, p) in parsed {
        for e in p.entries {
            if e.secret.is_short() {
                out.warnings.push(format!(
                    "{name}: {}: the secret is only {} bits, shorter than the 80 or more sites issue",
                    e.label(),
                    e.secret.len() * 8
                ));
            }
            out.entries.push(new_entry(e));
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        out.refused.extend(p.refused.into_iter().map(|r| (name.clone(), r)));
        batches.extend(p.batches);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out.warnings.extend(missing_batches(&batches));
    Ok(out)
}

/// Google exports of several QR codes: say which of an export's batches
/// were not given.
fn missing_batches(batches: &[Batch]) -> Vec<String> {
    let mut ids: Vec<i32> = batches.iter().map(|b| b.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        let seen: Vec<&Batch> = batches.iter().filter(|b| b.id == id).collect();
        let size = seen.iter().map(|b| b.size).max().unwrap_or(0);
        let missing: Vec<String> = (0..size)
            .filter(|i| !seen.iter().any(|b| b.index == *i))
            .map(|i| (i + 1).to_string())
            .collect();
        if !missing.is_empty() && size <= 1000 {
            out.push(format!(
                "a Google Authenticator export has {size} QR codes; code(s) {} of it were not given",
                missing.join(", ")
            ));
        }
    }
    out
}

/// A spinner while the daemon writes a batch large enough to take a moment
/// (on a terminal only).
pub fn writing(entries: usize) -> Option<indicatif::ProgressBar> {
    if entries < PROGRESS_FROM || !std::io::stderr().is_terminal() {
        return None;
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("writing {entries} entries"));
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(spinner)
}

/// The report for people.
pub fn report(reply: &ImportReply, refused: &[(String, Refusal)]) {
    outln!(
        "imported {}, skipped {} (already present), refused {}",
        reply.imported.len(),
        reply.skipped.len(),
        refused.len()
    );
    for label in &reply.skipped {
        outln!("  skipped  {label}");
    }
    for (file, r) in refused {
        outln!("  refused  {file}: {}: {}", r.label, r.reason);
    }
}

/// The JSON report.
#[derive(serde::Serialize)]
pub struct JsonReport<'a> {
    pub imported: &'a [authsync_proto::ipc::EntrySummary],
    pub skipped: &'a [String],
    pub refused: Vec<JsonRefusal<'a>>,
}

#[derive(serde::Serialize)]
pub struct JsonRefusal<'a> {
    pub file: &'a str,
    pub entry: &'a str,
    pub reason: &'a str,
}
