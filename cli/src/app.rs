//! The command line itself: parsing, dispatch to `cmd/`, exit codes.
//! See the crate docs for why it is built into two binaries.

use std::process::ExitCode;

use authsync_proto::ipc::{ErrorCode, Reply, Request};
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
    command: Option<Command>,
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
    Show(entries::One),
    /// Change an entry's issuer or account.
    Rename(entries::Rename),
    /// Change an entry's tags or note.
    Edit(entries::Edit),
    /// Delete an entry (it stays in history; `restore` brings it back).
    Rm(entries::One),
    /// Bring back a deleted entry.
    Restore(entries::One),
    /// Every version of an entry.
    History(entries::One),
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
    /// The live view: every code with its countdown; type to filter, Enter
    /// copies. `authctl` alone opens it on a terminal.
    View,
    /// Holds a code on the clipboard until it expires (run by `code --copy`
    /// and the view, detached; reads the code from standard input).
    #[command(hide = true)]
    ClipboardHold,
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

/// Sends `request`. On a locked vault, when a person is at a terminal, asks
/// for the passphrase once, unlocks and sends it again (a script gets exit 3).
pub(crate) fn call(paths: &Paths, request: &Request) -> Result<Reply, Exit> {
    match Client::connect(paths, true)?.call(request) {
        Err(Failure::Refused(e)) if e.code == ErrorCode::Locked && on_terminal() => {
            unlock_here(paths)?;
            Ok(Client::connect(paths, true)?.call(request)?)
        }
        result => Ok(result?),
    }
}

fn on_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Unlocks the vault, asking for the passphrase on the terminal if it has
/// one (inline unlock, and the live view).
pub(crate) fn unlock_here(paths: &Paths) -> Result<(), Exit> {
    let needs_passphrase = match Client::connect(paths, true)?.call(&Request::Status)? {
        Reply::Status(s) => s.needs_passphrase,
        other => return Err(unexpected(other)),
    };
    let passphrase = if needs_passphrase {
        eprintln!("The vault is locked.");
        Some(crate::input::passphrase(None, false)?)
    } else {
        None
    };
    Client::connect(paths, true)?.call(&Request::Unlock { passphrase })?;
    Ok(())
}

pub(crate) fn unexpected(reply: Reply) -> Exit {
    Exit::Other(anyhow::anyhow!("authd sent an unexpected reply ({reply:?})"))
}

/// How the commands of a helper binary are run: in this process (the
/// helper itself), or by handing the command line to the helper (`authctl`).
type Helper = fn(&Paths, bool, Command) -> Result<(), Exit>;

/// Where each helper's commands go: `transfer` for files and images of
/// secrets (`authctl-transfer`), `view` for the live view and the clipboard
/// (`authctl-view`).
#[derive(Clone, Copy)]
struct Helpers {
    transfer: Helper,
    view: Helper,
}

fn run(cli: Cli, helpers: Helpers) -> Result<(), Exit> {
    let paths = paths();
    let json = cli.json;
    let Some(command) = cli.command else {
        return no_command(&paths, json, helpers);
    };
    match command {
        command @ (Command::Import(_)
        | Command::Export(_)
        | Command::Qr(_)
        | Command::Completions(_)
        | Command::Add(entries::Add { qr: Some(_), .. })) => (helpers.transfer)(&paths, json, command),
        command @ (Command::View | Command::ClipboardHold | Command::Code(entries::Code { copy: true, .. })) => {
            (helpers.view)(&paths, json, command)
        }
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

/// `authctl` alone: the live view on a terminal, else the help and exit 2.
fn no_command(paths: &Paths, json: bool, helpers: Helpers) -> Result<(), Exit> {
    use std::io::IsTerminal;
    if !json && std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return (helpers.view)(paths, json, Command::View);
    }
    let _ = Cli::command().write_long_help(&mut std::io::stderr());
    Err(BadInput("no command given (`authctl` alone opens the live view only on a terminal)".into()).into())
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
        other => run(
            Cli {
                json,
                command: Some(other),
            },
            Helpers {
                transfer: run_transfer,
                view: exec_view,
            },
        ),
    }
}

/// `authctl-view`: the live view and the clipboard.
fn run_view(paths: &Paths, json: bool, command: Command) -> Result<(), Exit> {
    match command {
        Command::View => crate::view::run(paths),
        Command::ClipboardHold => crate::clipboard::hold(),
        Command::Code(args) if args.copy => crate::clipboard::copy_code(paths, json, args),
        other => run(
            Cli {
                json,
                command: Some(other),
            },
            Helpers {
                transfer: exec_transfer,
                view: run_view,
            },
        ),
    }
}

/// Hands the command line, as given, to the helper binary `name` beside this
/// one.
fn exec_helper(name: &str) -> Exit {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Exit::Other(anyhow::anyhow!("cannot find authctl itself: {e}")),
    };
    let helper = exe.with_file_name(name);
    let e = std::process::Command::new(&helper)
        .args(std::env::args_os().skip(1))
        .exec();
    Exit::Other(anyhow::anyhow!(
        "cannot run {} ({e}): install it beside authctl (`cargo install --path cli` installs all three)",
        helper.display()
    ))
}

/// `authctl`: hands the transfer commands to `authctl-transfer`.
fn exec_transfer(_: &Paths, _: bool, _: Command) -> Result<(), Exit> {
    Err(exec_helper("authctl-transfer"))
}

/// `authctl`: hands the view and the clipboard to `authctl-view`.
fn exec_view(_: &Paths, _: bool, _: Command) -> Result<(), Exit> {
    Err(exec_helper("authctl-view"))
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
        copy: false,
    }))
}

/// `authctl`'s `main`.
pub fn authctl() -> ExitCode {
    main_with(Helpers {
        transfer: exec_transfer,
        view: exec_view,
    })
}

/// `authctl-transfer`'s `main`.
pub fn authctl_transfer() -> ExitCode {
    main_with(Helpers {
        transfer: run_transfer,
        view: exec_view,
    })
}

/// `authctl-view`'s `main`.
pub fn authctl_view() -> ExitCode {
    main_with(Helpers {
        transfer: exec_transfer,
        view: run_view,
    })
}

fn main_with(helpers: Helpers) -> ExitCode {
    let cli = match fast_code() {
        Some(command) => Cli {
            json: false,
            command: Some(command),
        },
        None => Cli::parse(),
    };
    match run(cli, helpers) {
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
