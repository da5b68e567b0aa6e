//! `authctl qr` and `authctl export`: the only verbs that show seeds. Each
//! says on stderr what it will reveal, then asks for the vault passphrase
//! again (or reads --passphrase-file) before the daemon hands out secrets.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use authsync_proto::import::{AegisExport, export_aegis, google};
use authsync_proto::ipc::{Reply, Request, RevealedEntry};
use authsync_proto::otp::Secret;
use authsync_proto::otpauth;
use authsync_proto::paths::Paths;
use zeroize::Zeroizing;

use crate::input::{self, BadInput};
use crate::{Exit, call, qr, unexpected};

/// Entries per Google migration QR code (Google's own exports hold 10).
const GOOGLE_BATCH: usize = 10;

/// The export formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ExportFormat {
    /// One otpauth:// URI per line.
    Uris,
    /// An Aegis vault (JSON), plain or with --encrypt.
    Aegis,
    /// Google Authenticator migration QR codes (PNG files with --output).
    GoogleQr,
}

/// Says what will be revealed, asks for the passphrase, and reveals.
fn reveal(
    paths: &Paths,
    query: Option<String>,
    passphrase_file: Option<&Path>,
    what: &str,
) -> Result<Vec<RevealedEntry>, Exit> {
    let status = match call(paths, &Request::Status)? {
        Reply::Status(s) => s,
        other => return Err(unexpected(other)),
    };
    eprintln!("{what}");
    let passphrase = if status.needs_passphrase && !status.locked {
        Some(input::passphrase(passphrase_file, false)?)
    } else {
        None
    };
    match call(paths, &Request::Reveal { passphrase, query })? {
        Reply::Revealed(list) => Ok(list),
        other => Err(unexpected(other)),
    }
}

fn uri_of(e: &RevealedEntry) -> Result<Zeroizing<String>, Exit> {
    let secret = Secret::from_base32(e.secret.expose())
        .map_err(|err| Exit::Other(anyhow::anyhow!("authd sent a bad secret: {err}")))?;
    Ok(Zeroizing::new(otpauth::format(
        e.entry.issuer.as_deref(),
        &e.entry.account,
        &secret,
        &e.entry.spec,
    )))
}

/// `authctl qr QUERY [--png FILE]`.
pub fn qr(paths: &Paths, query: String, png: Option<PathBuf>, passphrase_file: Option<&Path>) -> Result<(), Exit> {
    let request = Request::Show {
        query: query.clone(),
        deleted: false,
    };
    let entry = match call(paths, &request)? {
        Reply::Entry(e) => e,
        other => return Err(unexpected(other)),
    };
    let what = match &png {
        Some(p) => format!(
            "This writes the secret of {} as a QR code to {}: anyone who sees it can make its codes.",
            entry.label(),
            p.display()
        ),
        None => format!(
            "This shows the secret of {} as a QR code on the screen: anyone who sees it can make its codes.",
            entry.label()
        ),
    };
    let list = reveal(paths, Some(query), passphrase_file, &what)?;
    let Some(e) = list.iter().find(|e| e.entry.id == entry.id) else {
        return Err(Exit::Other(anyhow::anyhow!("the entry vanished")));
    };
    let uri = uri_of(e)?;
    match png {
        Some(path) => {
            qr::write_png(&uri, &path)?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            let drawing = Zeroizing::new(qr::terminal(&uri)?);
            out!("{}", *drawing);
            outln!("{}", e.entry.label());
        }
    }
    Ok(())
}

/// Export options.
pub struct ExportArgs {
    pub format: ExportFormat,
    pub encrypt: bool,
    pub output: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    /// Only the entries of this collection.
    pub collection: Option<String>,
}

fn export_password(file: Option<&Path>) -> Result<Zeroizing<String>, Exit> {
    if let Some(file) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(file).map_err(|e| BadInput(format!("cannot read {}: {e}", file.display())))?,
        );
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(Exit::Other(
                BadInput(format!("{} holds no password", file.display())).into(),
            ));
        }
        return Ok(Zeroizing::new(line.to_string()));
    }
    if !std::io::stdin().is_terminal() && !std::io::stderr().is_terminal() {
        return Err(Exit::Other(
            BadInput("no terminal to ask for the export password; use --password-file".into()).into(),
        ));
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("Password for the export: ")
            .map_err(|e| BadInput(format!("cannot read the password ({e}); use --password-file")))?,
    );
    let again = Zeroizing::new(
        rpassword::prompt_password("Again: ").map_err(|e| BadInput(format!("cannot read the password ({e})")))?,
    );
    if *first != *again || first.is_empty() {
        return Err(Exit::Other(
            BadInput("the passwords differ or are empty; nothing was written".into()).into(),
        ));
    }
    Ok(first)
}

/// `authctl export`.
pub fn export(paths: &Paths, args: ExportArgs) -> Result<(), Exit> {
    if args.encrypt && !matches!(args.format, ExportFormat::Aegis) {
        return Err(Exit::Other(
            BadInput("--encrypt is for --format aegis only".into()).into(),
        ));
    }
    if let Some(out) = &args.output {
        if out.exists() {
            return Err(Exit::Other(
                BadInput(format!("{} exists; choose a new file", out.display())).into(),
            ));
        }
    }
    let in_collection = |name: &str| {
        args.collection
            .as_deref()
            .is_none_or(|wanted| wanted.trim().eq_ignore_ascii_case(name))
    };
    let (count, collections) = match call(
        paths,
        &Request::List {
            deleted: false,
            query: None,
            tag: None,
        },
    )? {
        Reply::Entries(list) => {
            let picked: Vec<_> = list.iter().filter(|e| in_collection(&e.collection)).collect();
            let mut names: Vec<&str> = picked.iter().map(|e| e.collection.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            (picked.len(), names.join(", "))
        }
        other => return Err(unexpected(other)),
    };
    if count == 0 {
        if let Some(wanted) = &args.collection {
            return Err(Exit::Other(
                BadInput(format!(
                    "no entry this device reads is in a collection called '{wanted}'; `authctl collections` lists them"
                ))
                .into(),
            ));
        }
    }
    let password = if args.encrypt {
        Some(export_password(args.password_file.as_deref())?)
    } else {
        None
    };
    let protection = if args.encrypt {
        "encrypted with the export password"
    } else {
        "NOT encrypted"
    };
    let place = match &args.output {
        Some(p) if matches!(args.format, ExportFormat::GoogleQr) => {
            let files = google_files(p, count.div_ceil(GOOGLE_BATCH).max(1));
            if let Some(taken) = files.iter().find(|f| f.exists()) {
                return Err(Exit::Other(
                    BadInput(format!("{} exists; choose a new name", taken.display())).into(),
                ));
            }
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            format!("as QR code images {}", names.join(", "))
        }
        Some(p) => format!("to {}", p.display()),
        None if matches!(args.format, ExportFormat::GoogleQr) => "as QR codes on the screen".to_string(),
        None => "to standard output".to_string(),
    };
    let what = format!(
        "This exports the secrets of {} {place}, {protection}: anyone who reads it can make their codes. Collections: {collections}.",
        match (count, &args.collection) {
            (1, _) => "the one entry".to_string(),
            (n, Some(_)) => format!("the {n} entries"),
            (n, None) => format!("all {n} entries"),
        }
    );
    let mut list = reveal(paths, None, args.passphrase_file.as_deref(), &what)?;
    list.retain(|e| in_collection(&e.entry.collection));
    let mut secrets = Vec::with_capacity(list.len());
    for e in &list {
        secrets.push(
            Secret::from_base32(e.secret.expose())
                .map_err(|err| Exit::Other(anyhow::anyhow!("authd sent a bad secret: {err}")))?,
        );
    }
    let text: Zeroizing<String> = match args.format {
        ExportFormat::Uris => {
            let mut out = Zeroizing::new(String::new());
            for e in &list {
                out.push_str(&uri_of(e)?);
                out.push('\n');
            }
            out
        }
        ExportFormat::Aegis => {
            let entries: Vec<AegisExport<'_>> = list
                .iter()
                .zip(&secrets)
                .map(|(e, secret)| AegisExport {
                    issuer: e.entry.issuer.as_deref(),
                    account: &e.entry.account,
                    secret,
                    spec: &e.entry.spec,
                    tags: &e.entry.tags,
                    note: &e.entry.note,
                })
                .collect();
            let mut text = export_aegis(
                &entries,
                password.as_ref().map(|p| p.as_bytes()),
                &mut rand::rngs::OsRng,
            );
            text.push('\n');
            text
        }
        ExportFormat::GoogleQr => return google_qr(&list, &secrets, args.output.as_deref()),
    };
    match &args.output {
        Some(path) => {
            qr::write_private(path, text.as_bytes())?;
            eprintln!(
                "wrote {} to {}",
                crate::output::count(list.len(), "entry", "entries"),
                path.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Exit::Other(anyhow::anyhow!("failed to write the export: {e}")))?;
        }
    }
    Ok(())
}

/// The `n`th PNG file of a Google export to `prefix`: `PREFIX-n.png`.
fn google_file(prefix: &Path, n: usize) -> PathBuf {
    PathBuf::from(format!("{}-{n}.png", prefix.display()))
}

/// The PNG files of a Google export of `files` QR codes.
fn google_files(prefix: &Path, files: usize) -> Vec<PathBuf> {
    (1..=files).map(|n| google_file(prefix, n)).collect()
}

/// Google migration QR codes, 10 entries each: PNG files `OUTPUT-1.png`, …
/// or drawings on the terminal.
fn google_qr(list: &[RevealedEntry], secrets: &[Secret], output: Option<&Path>) -> Result<(), Exit> {
    let mut entries = Vec::new();
    for (e, secret) in list.iter().zip(secrets) {
        match google::unexportable(&e.entry.spec) {
            Some(reason) => eprintln!("left out {}: {reason}", e.entry.label()),
            None => entries.push(google::ExportEntry {
                issuer: e.entry.issuer.as_deref(),
                account: &e.entry.account,
                secret,
                spec: &e.entry.spec,
            }),
        }
    }
    if entries.is_empty() {
        return Err(Exit::Other(
            BadInput("no entry can be exported to Google Authenticator".into()).into(),
        ));
    }
    let chunks: Vec<_> = entries.chunks(GOOGLE_BATCH).collect();
    let mut id_bytes = [0u8; 4];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id_bytes);
    let id = i32::from_le_bytes(id_bytes) & 0x7fff_ffff;
    for (i, chunk) in chunks.iter().enumerate() {
        let uri = google::encode(
            chunk,
            google::Batch {
                id,
                index: i as i32,
                size: chunks.len() as i32,
            },
        );
        match output {
            Some(prefix) => {
                let path = google_file(prefix, i + 1);
                qr::write_png(&uri, &path)?;
                eprintln!(
                    "wrote {} ({})",
                    path.display(),
                    crate::output::count(chunk.len(), "entry", "entries")
                );
            }
            None => {
                outln!("QR code {} of {}:", i + 1, chunks.len());
                out!("{}", *Zeroizing::new(qr::terminal(&uri)?));
            }
        }
    }
    Ok(())
}
