//! The command line itself: arguments, dispatch to the daemon, exit codes.
//! See the crate docs for why it is built into two binaries.

use std::path::PathBuf;
use std::process::ExitCode;

use authsync_proto::ipc::{NewEntry, Reply, Request};
use authsync_proto::paths::Paths;
use clap::{CommandFactory, Parser, Subcommand};

use crate::client::{self, Client, Failure};
use crate::input::{self, BadInput, SecretFlags};
use crate::{export, import, output};

/// authctl: the household authenticator. Codes, entries and the vault.
#[derive(Parser)]
#[command(name = "authctl", version, propagate_version = true)]
struct Cli {
    /// Print replies as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a household on this device.
    Init {
        /// This device's name (default: the host name).
        #[arg(long)]
        name: Option<String>,
        /// Keep the vault key in a key file instead of deriving it from a passphrase.
        #[arg(long, conflicts_with = "passphrase_file")]
        no_passphrase: bool,
        /// Read the passphrase from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Open the vault.
    Unlock {
        /// Read the passphrase from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Close the vault: every key is wiped from memory.
    Lock,
    /// Show the daemon's and the vault's state.
    Status,
    /// Stop the daemon.
    Shutdown,
    /// Add an entry from an otpauth URI, a QR code image or --secret (with none, asks on the terminal); prints its first code.
    Add {
        /// An otpauth:// URI (`-` reads it from standard input; on the command line it is visible to other local users).
        uri: Option<String>,
        /// A PNG or JPEG image of the entry's QR code.
        #[arg(long, value_name = "IMAGE", conflicts_with = "uri")]
        qr: Option<PathBuf>,
        /// The site (overrides the URI's).
        #[arg(long)]
        issuer: Option<String>,
        /// The login (overrides the URI's).
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        secret: SecretFlags,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// A note.
        #[arg(long)]
        note: Option<String>,
    },
    /// Print the code of the entry QUERY names (issuer or account).
    Code {
        query: String,
        /// The code of the next period.
        #[arg(long, conflicts_with = "previous")]
        next: bool,
        /// The code of the secret before the last rotation.
        #[arg(long)]
        previous: bool,
        /// Also print the entry and the seconds left, on stderr.
        #[arg(short, long)]
        verbose: bool,
    },
    /// List entries.
    List {
        /// Include deleted entries.
        #[arg(long)]
        deleted: bool,
    },
    /// Show an entry (never its secret).
    Show { query: String },
    /// Change an entry's issuer or account.
    Rename {
        query: String,
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        account: Option<String>,
    },
    /// Change an entry's tags or note.
    Edit {
        query: String,
        /// Add a tag (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        add_tags: Vec<String>,
        /// Remove a tag (repeatable).
        #[arg(long = "untag", value_name = "TAG")]
        remove_tags: Vec<String>,
        /// Replace the note.
        #[arg(long)]
        note: Option<String>,
    },
    /// Delete an entry (it stays in history; `restore` brings it back).
    Rm { query: String },
    /// Bring back a deleted entry.
    Restore { query: String },
    /// Every version of an entry.
    History { query: String },
    /// Replace an entry's secret (after the site re-issued it); the old one stays as --previous.
    Rotate {
        query: String,
        /// The new otpauth:// URI (`-` reads it from standard input); with neither it nor --secret, asks on the terminal.
        uri: Option<String>,
        #[command(flatten)]
        secret: SecretFlags,
    },
    /// Let a new device join: prints a one-time code to type on it.
    Pair {
        /// How long the code stays valid, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        ttl: u64,
    },
    /// Join a household with the code `authctl pair` printed on one of its devices.
    Join {
        /// The one-time code, like 7-orbit-velvet-cactus.
        code: String,
        /// The other device's address, when mDNS cannot find it.
        #[arg(long, value_name = "HOST:PORT")]
        peer: Option<String>,
        /// This device's name (default: the host name).
        #[arg(long)]
        name: Option<String>,
        /// Keep the vault key in a key file instead of deriving it from a passphrase.
        #[arg(long, conflicts_with = "passphrase_file")]
        no_passphrase: bool,
        /// Read the passphrase from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Join as a relay (authd must run with --relay): stores and forwards
        /// the household's records, reads nothing, needs no passphrase.
        #[arg(long, conflicts_with_all = ["passphrase_file", "no_passphrase"])]
        relay: bool,
    },
    /// The household's devices: online or last seen, address, clock skew.
    Devices,
    /// Cut a lost or stolen device out: it can no longer connect or read
    /// anything new. Shows what the device did lately and asks first.
    /// Prints the entries it could read, to re-enroll.
    Revoke {
        /// The device's name or id (from `authctl devices`).
        device: String,
        /// When it was lost: its records that reached this device since then
        /// are undone, with every device they admitted (e.g. "2 hours ago",
        /// "2026-12-03 08:00:00" UTC).
        #[arg(long, value_name = "WHEN")]
        lost_since: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// This device leaves the household: the others are told, then its vault
    /// is deleted.
    Leave {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// The entries revoked devices could read, ticked once rotated.
    Exposed {
        /// One revoked device; all of them by default.
        device: Option<String>,
    },
    /// Import entries from other apps' exports or QR code images, all or nothing.
    ///
    /// Reads otpauth URI lists, Google Authenticator exports
    /// (otpauth-migration://), Aegis, 2FAS and andOTP backups (plain or
    /// encrypted), Bitwarden JSON and CSV exports, and PNG or JPEG images of
    /// QR codes. Entries already in the vault are skipped.
    Import {
        /// The files; the format of each is found from its content.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Read every file as this format: uris, google, aegis, 2fas, andotp,
        /// bitwarden-json, bitwarden-csv.
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        /// Read the password of encrypted files from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Show an entry's otpauth QR code (reveals its secret), to enroll a phone.
    Qr {
        query: String,
        /// Write a PNG file instead of drawing on the terminal.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        /// Read the vault passphrase from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Write every entry with its secret for another app (reveals all secrets).
    Export {
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
    },
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The audit log: who changed what, when (never secrets).
    Log {
        /// At most N events.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
}

/// How a command ended badly.
pub(crate) enum Exit {
    Failure(Failure),
    Other(anyhow::Error),
}

impl From<Failure> for Exit {
    fn from(f: Failure) -> Self {
        Exit::Failure(f)
    }
}

impl From<anyhow::Error> for Exit {
    fn from(e: anyhow::Error) -> Self {
        Exit::Other(e)
    }
}

impl From<BadInput> for Exit {
    fn from(e: BadInput) -> Self {
        Exit::Other(e.into())
    }
}

impl From<client::Unavailable> for Exit {
    fn from(e: client::Unavailable) -> Self {
        Exit::Failure(Failure::Unavailable(e))
    }
}

/// Asks on the terminal before `leave` deletes the vault.
fn confirm_leave() -> Result<(), Exit> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(Exit::Other(
            BadInput("leave deletes this device's vault; confirm with --yes".into()).into(),
        ));
    }
    out!("This device will leave its household and delete its vault. Type 'leave' to go on: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() != "leave" {
        return Err(Exit::Other(
            BadInput("not confirmed; nothing was changed".into()).into(),
        ));
    }
    Ok(())
}

/// Refuses, before a passphrase is asked for, to start or join a household
/// on a device that has one.
fn refuse_if_initialized(paths: &Paths, why: &str) -> Result<(), Exit> {
    match call(paths, &Request::Status)? {
        Reply::Status(s) if s.initialized => Err(Failure::Refused(authsync_proto::ipc::IpcError::new(
            authsync_proto::ipc::ErrorCode::AlreadyInitialized,
            why,
        ))
        .into()),
        _ => Ok(()),
    }
}

/// A new vault's passphrase (asked twice), or none for a key file.
fn new_passphrase(
    no_passphrase: bool,
    file: Option<&std::path::Path>,
) -> Result<Option<authsync_proto::ipc::WireSecret>, Exit> {
    if no_passphrase {
        return Ok(None);
    }
    Ok(Some(input::passphrase(file, true)?))
}

/// The device name when `--name` is not given: `name` in `config.toml`
/// (authd checks the file as a whole when it starts), else the host name.
fn default_name(paths: &Paths) -> String {
    std::fs::read_to_string(&paths.config_file)
        .ok()
        .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
        .and_then(|table| table.get("name")?.as_str().map(str::to_string))
        .unwrap_or_else(host_name)
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "this-device".into())
}

fn paths() -> Paths {
    Paths::resolve(|k| std::env::var(k).ok(), nix::unistd::geteuid().as_raw())
}

pub(crate) fn call(paths: &Paths, request: &Request) -> Result<Reply, Exit> {
    Ok(Client::connect(paths, true)?.call(request)?)
}

pub(crate) fn unexpected(reply: Reply) -> Exit {
    Exit::Other(anyhow::anyhow!("authd sent an unexpected reply ({reply:?})"))
}

/// How the commands that move secrets in or out of files and images are
/// run: in this process (`authctl-transfer`), or by handing the command line
/// to `authctl-transfer` (`authctl`).
type Transfer = fn(&Paths, bool, Command) -> Result<(), Exit>;

fn run(cli: Cli, transfer: Transfer) -> Result<(), Exit> {
    let paths = paths();
    let json = cli.json;
    match cli.command {
        command @ (Command::Import { .. }
        | Command::Export { .. }
        | Command::Qr { .. }
        | Command::Completions { .. }
        | Command::Add { qr: Some(_), .. }) => return transfer(&paths, json, command),
        Command::Init {
            name,
            no_passphrase,
            passphrase_file,
        } => {
            let name = name.unwrap_or_else(|| default_name(&paths));
            refuse_if_initialized(&paths, "this device already has a household; nothing was changed")?;
            let passphrase = new_passphrase(no_passphrase, passphrase_file.as_deref())?;
            match call(&paths, &Request::Init { name, passphrase })? {
                Reply::Status(s) if json => output::json(&s),
                Reply::Status(s) => {
                    outln!(
                        "Started a household on {} ({}).",
                        s.device_name.as_deref().unwrap_or("?"),
                        s.device.as_deref().unwrap_or("?")
                    );
                    outln!("Add an entry with `authctl add`.");
                }
                other => return Err(unexpected(other)),
            }
        }
        Command::Unlock { passphrase_file } => {
            let Reply::Status(s) = call(&paths, &Request::Status)? else {
                return Err(Exit::Other(anyhow::anyhow!("authd sent an unexpected reply")));
            };
            if !s.locked {
                eprintln!("already unlocked");
                return Ok(());
            }
            let passphrase = if s.needs_passphrase {
                Some(input::passphrase(passphrase_file.as_deref(), false)?)
            } else {
                None
            };
            call(&paths, &Request::Unlock { passphrase })?;
            eprintln!("unlocked");
        }
        Command::Lock => {
            call(&paths, &Request::Lock)?;
            eprintln!("locked");
        }
        Command::Pair { ttl } => match call(&paths, &Request::Pair { ttl_secs: Some(ttl) })? {
            Reply::Pairing(p) if json => output::json(&p),
            Reply::Pairing(p) => {
                outln!("{}", p.code);
                eprintln!(
                    "On the new device run: authctl join {}{}",
                    p.code,
                    p.listen
                        .map(|l| format!("   (or add --peer THIS-HOST:{})", l.rsplit(':').next().unwrap_or("")))
                        .unwrap_or_default()
                );
                eprintln!("The code works once, for {} s.", p.expires_in_secs);
            }
            other => return Err(unexpected(other)),
        },
        Command::Join {
            code,
            peer,
            name,
            no_passphrase,
            passphrase_file,
            relay,
        } => {
            let code = code.trim().to_string();
            if let Err(e) = code.parse::<authsync_proto::pairing::PairingCode>() {
                return Err(Exit::Other(BadInput(format!("{e}")).into()));
            }
            refuse_if_initialized(
                &paths,
                "this device already has a household; `join` is for a new device",
            )?;
            let passphrase = if relay {
                None
            } else {
                new_passphrase(no_passphrase, passphrase_file.as_deref())?
            };
            let name = name.unwrap_or_else(|| default_name(&paths));
            match call(
                &paths,
                &Request::Join {
                    code,
                    peer,
                    name,
                    passphrase,
                    relay,
                },
            )? {
                Reply::Status(s) if json => output::json(&s),
                Reply::Status(s) => outln!(
                    "Joined household {} as {}. Entries arrive from the other devices now.",
                    s.household.as_deref().unwrap_or("?"),
                    s.device_name.as_deref().unwrap_or("?")
                ),
                other => return Err(unexpected(other)),
            }
        }
        Command::Revoke {
            device,
            lost_since,
            yes,
        } => crate::revoke::run(&paths, device, lost_since, yes, json)?,
        Command::Leave { yes } => {
            if !yes {
                confirm_leave()?;
            }
            call(&paths, &Request::Leave)?;
            client::wait_stopped(&paths)?;
            outln!("This device left its household; its vault is deleted.");
        }
        Command::Exposed { device } => match call(&paths, &Request::Exposed { device })? {
            Reply::Exposure(reports) if json => output::json(&reports),
            Reply::Exposure(reports) => output::exposure(&reports),
            other => return Err(unexpected(other)),
        },
        Command::Devices => match call(&paths, &Request::Devices)? {
            Reply::Devices(d) if json => output::json(&d),
            Reply::Devices(d) => output::devices(&d),
            other => return Err(unexpected(other)),
        },
        Command::Status => match call(&paths, &Request::Status)? {
            Reply::Status(s) if json => output::json(&s),
            Reply::Status(s) => output::status(&s),
            other => return Err(unexpected(other)),
        },
        Command::Shutdown => match Client::connect(&paths, false) {
            Ok(client) => {
                client.call(&Request::Shutdown)?;
                client::wait_stopped(&paths)?;
                eprintln!("authd stopped");
            }
            Err(_) => eprintln!("authd is not running"),
        },
        Command::Add {
            uri,
            qr: None,
            issuer,
            account,
            secret,
            tags,
            note,
        } => add(
            &paths,
            json,
            input::new_entry(uri.as_deref(), &secret, issuer, account)?,
            tags,
            note,
        )?,
        Command::Code {
            query,
            next,
            previous,
            verbose,
        } => match call(&paths, &Request::Code { query, next, previous })? {
            Reply::Code(c) if json => output::json(&c),
            Reply::Code(c) => {
                output::skew_warning(c.clock_skew_ms);
                output::code(&c, verbose)
            }
            other => return Err(unexpected(other)),
        },
        Command::List { deleted } => match call(&paths, &Request::List { deleted })? {
            Reply::Entries(list) if json => output::json(&list),
            Reply::Entries(list) => output::entries(&list),
            other => return Err(unexpected(other)),
        },
        Command::History { query } => match call(&paths, &Request::History { query })? {
            Reply::History(v) if json => output::json(&v),
            Reply::History(v) => output::history(&v),
            other => return Err(unexpected(other)),
        },
        Command::Log { limit } => match call(&paths, &Request::Log { limit })? {
            Reply::Log(events) if json => output::json(&events),
            Reply::Log(events) => output::log(&events),
            other => return Err(unexpected(other)),
        },
        Command::Rotate { query, uri, secret } => {
            let current = match call(&paths, &Request::Show { query: query.clone() })? {
                Reply::Entry(e) => e.spec,
                other => return Err(unexpected(other)),
            };
            let otp = input::rotation(uri.as_deref(), &secret, current)?;
            match call(&paths, &Request::Rotate { query, otp })? {
                Reply::Code(c) if json => output::json(&c),
                Reply::Code(c) => {
                    output::new_code("Rotated", &c);
                    outln!("the old secret stays available: authctl code --previous");
                }
                other => return Err(unexpected(other)),
            }
        }
        Command::Show { query } => entry_reply(&paths, json, Request::Show { query }, None)?,
        Command::Rename { query, issuer, account } => entry_reply(
            &paths,
            json,
            Request::Rename { query, issuer, account },
            Some("renamed"),
        )?,
        Command::Edit {
            query,
            add_tags,
            remove_tags,
            note,
        } => entry_reply(
            &paths,
            json,
            Request::Edit {
                query,
                add_tags,
                remove_tags,
                note,
            },
            Some("edited"),
        )?,
        Command::Rm { query } => entry_reply(&paths, json, Request::Remove { query }, Some("deleted"))?,
        Command::Restore { query } => entry_reply(&paths, json, Request::Restore { query }, Some("restored"))?,
    }
    Ok(())
}

fn add(paths: &Paths, json: bool, mut entry: NewEntry, tags: Vec<String>, note: Option<String>) -> Result<(), Exit> {
    entry.tags = tags;
    entry.note = note.unwrap_or_default();
    match call(paths, &Request::Add { entry })? {
        Reply::Code(c) if json => output::json(&c),
        Reply::Code(c) => output::new_code("Added", &c),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// `authctl-transfer`: the commands that read or write files and images of
/// secrets (importers, QR decoding and drawing, exports, completions).
fn run_transfer(paths: &Paths, json: bool, command: Command) -> Result<(), Exit> {
    let paths = paths.clone();
    match command {
        Command::Add {
            uri: _,
            qr: Some(image),
            issuer,
            account,
            secret,
            tags,
            note,
        } => add(
            &paths,
            json,
            input::entry_from_image(&image, &secret, issuer, account)?,
            tags,
            note,
        )?,
        Command::Import {
            files,
            format,
            password_file,
        } => {
            let format = format
                .map(|f| f.parse::<authsync_proto::import::Format>())
                .transpose()
                .map_err(|e| Exit::Other(BadInput(e).into()))?;
            let prepared = import::prepare(&files, format, &import::Passwords { file: password_file })?;
            for warning in &prepared.warnings {
                eprintln!("warning: {warning}");
            }
            let spinner = import::writing(prepared.entries.len());
            let reply = call(
                &paths,
                &Request::Import {
                    entries: prepared.entries,
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
        }
        Command::Qr {
            query,
            png,
            passphrase_file,
        } => export::qr(&paths, query, png, passphrase_file.as_deref())?,
        Command::Export {
            format,
            encrypt,
            output,
            passphrase_file,
            password_file,
        } => export::export(
            &paths,
            export::ExportArgs {
                format,
                encrypt,
                output,
                passphrase_file,
                password_file,
            },
        )?,
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a write error
            // (`authctl completions bash | head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "authctl", &mut script);
            let mut stdout = std::io::stdout().lock();
            match std::io::Write::write_all(&mut stdout, &script).and_then(|()| std::io::Write::flush(&mut stdout)) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(Exit::Other(anyhow::anyhow!("failed to write the script: {e}")));
                }
                _ => {}
            }
        }
        other => run(Cli { json, command: other }, run_transfer)?,
    }
    Ok(())
}

/// `authctl`: hands the transfer commands to `authctl-transfer`, found
/// beside this binary, with the same arguments.
fn exec_transfer(_: &Paths, _: bool, _: Command) -> Result<(), Exit> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| Exit::Other(anyhow::anyhow!("cannot find authctl itself: {e}")))?;
    let transfer = exe.with_file_name("authctl-transfer");
    let e = std::process::Command::new(&transfer)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(Exit::Other(anyhow::anyhow!(
        "cannot run {} ({e}): install it beside authctl (`cargo install --path cli` installs both)",
        transfer.display()
    )))
}

/// Requests that answer with one entry: print it, or say what was done.
fn entry_reply(paths: &Paths, json: bool, request: Request, done: Option<&str>) -> Result<(), Exit> {
    match call(paths, &request)? {
        Reply::Entry(e) if json => output::json(&e),
        Reply::Entry(e) => match done {
            Some(done) => outln!("{done} {}", e.label()),
            None => output::entry(&e),
        },
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// `authctl code QUERY [--next|--previous] [-v] [--json]`, read without
/// clap: building clap's command tree is a fifth of a plain `code` call, and
/// this is the command people run most. Anything else (help, errors, other
/// flags) goes through clap as usual.
fn fast_code() -> Option<Command> {
    let mut args = std::env::args().skip(1);
    if args.next()? != "code" {
        return None;
    }
    let (mut query, mut next, mut previous, mut verbose) = (None, false, false, false);
    for arg in args {
        match arg.as_str() {
            "--next" if !previous => next = true,
            "--previous" if !next => previous = true,
            "-v" | "--verbose" => verbose = true,
            _ if arg.starts_with('-') || query.is_some() => return None,
            _ => query = Some(arg),
        }
    }
    Some(Command::Code {
        query: query?,
        next,
        previous,
        verbose,
    })
}

/// `authctl`'s `main`.
pub fn authctl() -> ExitCode {
    main_with(exec_transfer)
}

/// `authctl-transfer`'s `main`.
pub fn authctl_transfer() -> ExitCode {
    main_with(run_transfer)
}

fn main_with(transfer: Transfer) -> ExitCode {
    let cli = match fast_code() {
        Some(command) => Cli { json: false, command },
        None => Cli::parse(),
    };
    match run(cli, transfer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit::Failure(Failure::Unavailable(e))) => {
            eprintln!("authctl: {e}");
            ExitCode::from(69)
        }
        Err(Exit::Failure(Failure::Refused(e))) => {
            eprintln!("authctl: {}", e.message);
            output::candidates(&e.candidates);
            ExitCode::from(u8::try_from(e.code.exit_code()).unwrap_or(1))
        }
        Err(Exit::Other(e)) => {
            eprintln!("authctl: {e:#}");
            let code = if e.downcast_ref::<BadInput>().is_some() { 2 } else { 1 };
            ExitCode::from(code)
        }
    }
}
