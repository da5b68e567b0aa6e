//! The command line itself: parsing, dispatch to `cmd/`, exit codes.
//! See the crate docs for why it is built into two binaries.

use std::process::ExitCode;

use authsync_proto::ipc::{Reply, Request};
use authsync_proto::paths::Paths;
use clap::{CommandFactory, Parser, Subcommand};

use crate::client::{self, Client, Failure};
use crate::cmd::{devices, entries, transfer, vault};
use crate::input::BadInput;
use crate::output;

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
    Init(vault::Init),
    /// Open the vault.
    Unlock(vault::Unlock),
    /// Close the vault: every key is wiped from memory.
    Lock,
    /// Show the daemon's and the vault's state.
    Status,
    /// Stop the daemon.
    Shutdown,
    /// Add an entry from an otpauth URI, a QR code image or --secret; prints its first code.
    Add(entries::Add),
    /// Print the code of the entry QUERY names (issuer or account).
    Code(entries::Code),
    /// List entries.
    List(entries::List),
    /// Show an entry (never its secret).
    Show(entries::Look),
    /// Change an entry's issuer or account.
    Rename(entries::Rename),
    /// Change an entry's tags or note.
    Edit(entries::Edit),
    /// Delete an entry (it stays in history; `restore` brings it back).
    Rm(entries::One),
    /// Bring back a deleted entry.
    Restore(entries::One),
    /// Every version of an entry.
    History(entries::Look),
    /// Replace an entry's secret (after the site re-issued it); the old one stays as --previous.
    Rotate(entries::Rotate),
    /// Let a new device join: prints a one-time code to type on it.
    Pair(devices::Pair),
    /// Join a household with the code `authctl pair` printed on one of its devices.
    Join(devices::Join),
    /// The household's devices: online or last seen, address, clock skew.
    Devices,
    /// Cut a lost or stolen device out: it can no longer connect or read
    /// anything new. Prints the entries it could read, to re-enroll.
    Revoke(devices::Revoke),
    /// This device leaves the household: the others are told, then its vault
    /// is deleted.
    Leave(devices::Leave),
    /// The entries revoked devices could read, ticked once rotated.
    Exposed(devices::Exposed),
    /// Import entries from other apps' exports or QR code images, all or nothing.
    ///
    /// Reads otpauth URI lists, Google Authenticator exports
    /// (otpauth-migration://), Aegis, 2FAS and andOTP backups (plain or
    /// encrypted), Bitwarden JSON and CSV exports, and PNG or JPEG images of
    /// QR codes. Entries already in the vault are skipped.
    Import(transfer::Import),
    /// Show an entry's otpauth QR code (reveals its secret), to enroll a phone.
    Qr(transfer::Qr),
    /// Write every entry with its secret for another app (reveals all secrets).
    Export(transfer::Export),
    /// Print a shell completion script.
    Completions(transfer::Completions),
    /// The audit log: who changed what, when (never secrets).
    Log(vault::Log),
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
        command @ (Command::Import(_)
        | Command::Export(_)
        | Command::Qr(_)
        | Command::Completions(_)
        | Command::Add(entries::Add { qr: Some(_), .. })) => transfer(&paths, json, command),
        Command::Init(args) => vault::init(&paths, json, args),
        Command::Unlock(args) => vault::unlock(&paths, args),
        Command::Lock => vault::lock(&paths),
        Command::Status => vault::status(&paths, json),
        Command::Shutdown => vault::shutdown(&paths),
        Command::Log(args) => vault::log(&paths, json, args),
        Command::Pair(args) => devices::pair(&paths, json, args),
        Command::Join(args) => devices::join(&paths, json, args),
        Command::Devices => devices::devices(&paths, json),
        Command::Revoke(args) => devices::revoke(&paths, json, args),
        Command::Leave(args) => devices::leave(&paths, args),
        Command::Exposed(args) => devices::exposed(&paths, json, args),
        Command::Add(args) => entries::add(&paths, json, args),
        Command::Code(args) => entries::code(&paths, json, args),
        Command::List(args) => entries::list(&paths, json, args),
        Command::Show(args) => entries::show(&paths, json, args),
        Command::Rename(args) => entries::rename(&paths, json, args),
        Command::Edit(args) => entries::edit(&paths, json, args),
        Command::Rm(args) => entries::rm(&paths, json, args),
        Command::Restore(args) => entries::restore(&paths, json, args),
        Command::History(args) => entries::history(&paths, json, args),
        Command::Rotate(args) => entries::rotate(&paths, json, args),
    }
}

/// `authctl-transfer`: the commands that read or write files and images of
/// secrets (importers, QR decoding and drawing, exports, completions).
fn run_transfer(paths: &Paths, json: bool, command: Command) -> Result<(), Exit> {
    match command {
        Command::Add(args) => transfer::add_qr(paths, json, args),
        Command::Import(args) => transfer::import(paths, json, args),
        Command::Qr(args) => transfer::qr(paths, args),
        Command::Export(args) => transfer::export(paths, args),
        Command::Completions(args) => transfer::completions(Cli::command(), args),
        other => run(Cli { json, command: other }, run_transfer),
    }
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
    Some(Command::Code(entries::Code {
        query: query?,
        next,
        previous,
        verbose,
    }))
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
