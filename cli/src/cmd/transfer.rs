//! The commands that read or write files and images of secrets: `import`,
//! `export`, `qr`, `add --qr`; and `completions` and `man`, which build
//! clap's whole tree. They run only in
//! `authctl-transfer`; `authctl` execs it for them (see the crate docs).

use std::path::PathBuf;

use authsync_proto::ipc::{Reply, Request};
use authsync_proto::paths::Paths;

use super::entries;
use crate::app::{Exit, call, unexpected};
use crate::input::{self, BadInput};
use crate::{export, import, output};

// `authctl import`.
#[derive(clap::Args)]
pub(crate) struct Import {
    /// The files; the format of each is found from its content.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Read every file as this format: uris, google, aegis, 2fas, andotp,
    /// bitwarden-json, bitwarden-csv.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Read the passwords of encrypted files from FILE, one per line; each
    /// is tried on each encrypted file.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// The collection the entries go in (default as for `add`).
    #[arg(long = "in", value_name = "COLLECTION")]
    collection: Option<String>,
}

// `authctl qr`.
#[derive(clap::Args)]
pub(crate) struct Qr {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
    query: String,
    /// Write a PNG file instead of drawing on the terminal.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
    /// Read the vault passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

// `authctl export`.
#[derive(clap::Args)]
pub(crate) struct Export {
    /// uris, aegis or google-qr.
    #[arg(long, value_enum)]
    format: export::ExportFormat,
    /// Encrypt the Aegis export with a password (asked, or --password-file).
    #[arg(long)]
    encrypt: bool,
    /// Write to this new file (for google-qr: PATH-1.png, PATH-2.png, ...).
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Read the vault passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Read the export's password (--encrypt) from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Only the entries of this collection (every one this device reads by
    /// default).
    #[arg(long = "in", value_name = "COLLECTION")]
    collection: Option<String>,
}

// `authctl completions`.
#[derive(clap::Args)]
pub(crate) struct Completions {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

// `authctl man`.
#[derive(clap::Args)]
pub(crate) struct Man {
    /// The directory to write into (made if missing), such as
    /// ~/.local/share/man/man1.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

/// Writes `authctl.1` and `authctl-VERB.1` for each command into the
/// directory, from the CLI definition itself (so they cannot drift).
pub(crate) fn man(command: clap::Command, args: Man) -> Result<(), Exit> {
    let failed = |path: &std::path::Path, e: std::io::Error| {
        Exit::Other(anyhow::anyhow!("failed to write {}: {e}", path.display()))
    };
    std::fs::create_dir_all(&args.dir).map_err(|e| failed(&args.dir, e))?;
    let mut command = command;
    command.build();
    // Once built, each command's display name is `authctl-VERB`: the
    // page's title and NAME, and its synopsis says `authctl VERB`.
    let mut pages = vec![("authctl".to_string(), command.clone())];
    for verb in command
        .get_subcommands()
        .filter(|v| !v.is_hide_set() && v.get_name() != "help")
    {
        pages.push((format!("authctl-{}", verb.get_name()), verb.clone()));
    }
    for (name, page) in &pages {
        let mut text = Vec::new();
        let path = args.dir.join(format!("{name}.1"));
        clap_mangen::Man::new(page.clone())
            .render(&mut text)
            .map_err(|e| failed(&path, e))?;
        std::fs::write(&path, text).map_err(|e| failed(&path, e))?;
    }
    eprintln!("wrote {} man pages into {}", pages.len(), args.dir.display());
    Ok(())
}

/// `add --qr IMAGE`.
pub(crate) fn add_qr(paths: &Paths, json: bool, args: entries::Add) -> Result<(), Exit> {
    let Some(image) = args.qr else {
        return entries::add(paths, json, args);
    };
    let entry = input::entry_from_image(&image, &args.secret, args.issuer, args.account)?;
    entries::add_entry(paths, json, entry, args.tags, args.note, args.collection)
}

pub(crate) fn import(paths: &Paths, json: bool, args: Import) -> Result<(), Exit> {
    let Import {
        files,
        format,
        password_file,
        collection,
    } = args;
    let collection = collection.or_else(|| entries::default_collection(paths));
    let format = format
        .map(|f| f.parse::<authsync_proto::import::Format>())
        .transpose()
        .map_err(|e| Exit::Other(BadInput(e).into()))?;
    let prepared = import::prepare(&files, format, &import::Passwords::new(password_file)?)?;
    let spinner = import::writing(prepared.entries.len());
    let reply = call(
        paths,
        &Request::Import {
            entries: prepared.entries,
            collection,
        },
    );
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let reply = match reply? {
        Reply::Imported(r) => r,
        other => return Err(unexpected(other)),
    };
    if json {
        output::json(&import::JsonReport {
            imported: &reply.imported,
            skipped: &reply.skipped,
            refused: prepared
                .refused
                .iter()
                .map(|(file, r)| import::JsonRefusal {
                    file,
                    entry: &r.label,
                    reason: &r.reason,
                })
                .collect(),
        });
    } else {
        import::report(&reply, &prepared.refused);
    }
    for warning in &prepared.warnings {
        eprintln!("warning: {warning}");
    }
    // Exit 0 only when every entry was taken: a script must notice a refusal.
    match prepared.refused.len() {
        0 => Ok(()),
        n => Err(Exit::Partial {
            code: 2,
            message: format!(
                "{n} {} refused (named in the report); the rest was imported",
                if n == 1 { "entry was" } else { "entries were" }
            ),
        }),
    }
}

pub(crate) fn qr(paths: &Paths, args: Qr) -> Result<(), Exit> {
    export::qr(paths, args.query, args.png, args.passphrase_file.as_deref())
}

pub(crate) fn export(paths: &Paths, args: Export) -> Result<(), Exit> {
    let Export {
        format,
        encrypt,
        output,
        passphrase_file,
        password_file,
        collection,
    } = args;
    export::export(
        paths,
        export::ExportArgs {
            format,
            encrypt,
            output,
            passphrase_file,
            password_file,
            collection,
        },
    )
}

/// Prints the completion script of `command` (the whole CLI).
pub(crate) fn completions(mut command: clap::Command, args: Completions) -> Result<(), Exit> {
    // Into a buffer first: clap_complete panics on a write error
    // (`authctl completions bash | head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "authctl", &mut script);
    let mut stdout = std::io::stdout().lock();
    match std::io::Write::write_all(&mut stdout, &script).and_then(|()| std::io::Write::flush(&mut stdout)) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Exit::Other(anyhow::anyhow!("failed to write the script: {e}")))
        }
        _ => Ok(()),
    }
}
