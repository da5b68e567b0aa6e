//! The command line itself: parsing, dispatch to `cmd/`, exit codes.
//! See the crate docs for why it is built into two binaries.

use std::process::ExitCode;

use authsync_proto::ipc::{ErrorCode, Reply, Request};
use authsync_proto::paths::Paths;
use clap::{CommandFactory, Parser, Subcommand};

use crate::client::{self, Client, Failure};
use crate::cmd::{devices, entries, people, transfer, vault};
use crate::input::BadInput;
use crate::output;

/// authctl: the household authenticator. Codes, entries and the vault.
#[derive(Parser)]
#[command(name = "authctl", version, propagate_version = true, after_help = TOP_HELP)]
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
    #[command(
        after_help = "Examples:\n  authctl init --name alice-laptop\n  authctl init --no-passphrase           # a key file instead (see SECURITY.md)"
    )]
    Init(vault::Init),
    /// Open the vault.
    #[command(after_help = "Examples:\n  authctl unlock\n  authctl unlock --passphrase-file ~/.config/authsync/pass")]
    Unlock(vault::Unlock),
    /// Close the vault: every key is wiped from memory.
    #[command(after_help = "Examples:\n  authctl lock")]
    Lock,
    /// Show the daemon's and the vault's state.
    #[command(after_help = "Examples:\n  authctl status\n  authctl status --json")]
    Status,
    /// Stop the daemon.
    #[command(after_help = "Examples:\n  authctl shutdown")]
    Shutdown,
    /// Add an entry from an otpauth URI, a QR code image or --secret; prints its first code.
    #[command(
        after_help = "Examples:\n  authctl add 'otpauth://totp/Amazon:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Amazon'\n  authctl add --secret - --issuer GitHub --account alice --tag work    # the secret on stdin\n  authctl add --qr screenshot.png"
    )]
    Add(entries::Add),
    /// Print the code of the entry QUERY names (issuer or account).
    #[command(
        after_help = "Examples:\n  authctl code amazon\n  authctl code amzn --copy                # letters in order find Amazon; on the clipboard\n  authctl code github:alice --next -v"
    )]
    Code(entries::Code),
    /// List entries.
    #[command(
        after_help = "Examples:\n  authctl list\n  authctl list git                        # every entry 'git' matches\n  authctl list --tag work\n  authctl list --deleted --json"
    )]
    List(entries::List),
    /// Show an entry (never its secret).
    #[command(
        after_help = "Examples:\n  authctl show amazon\n  authctl show --deleted amazon           # a deleted entry too"
    )]
    Show(entries::Look),
    /// Change an entry's issuer or account.
    #[command(after_help = "Examples:\n  authctl rename amazon --account bob@example.com")]
    Rename(entries::Rename),
    /// Change an entry's tags or note.
    #[command(after_help = "Examples:\n  authctl edit amazon --tag shopping --untag old --note \"shared with Bob\"")]
    Edit(entries::Edit),
    /// Delete an entry (it stays in history; `restore` brings it back).
    #[command(
        after_help = "Examples:\n  authctl rm amazon                       # authctl restore amazon brings it back"
    )]
    Rm(entries::One),
    /// Bring back a deleted entry.
    #[command(after_help = "Examples:\n  authctl restore amazon")]
    Restore(entries::One),
    /// Every version of an entry.
    #[command(
        after_help = "Examples:\n  authctl history amazon\n  authctl history --deleted amazon        # a deleted entry's versions"
    )]
    History(entries::Look),
    /// Replace an entry's secret (after the site re-issued it); the old one stays as --previous.
    #[command(
        after_help = "Examples:\n  authctl rotate amazon 'otpauth://totp/Amazon:alice?secret=NEWSECRET'\n  authctl rotate amazon --secret -        # the new secret on stdin"
    )]
    Rotate(entries::Rotate),
    /// Let a new device join: prints a one-time code to type on it.
    #[command(
        after_help = "Examples:\n  authctl pair                            # then on the new device: authctl join CODE\n  authctl pair --wait                     # returns once it joined, says who\n  authctl pair --ttl 600"
    )]
    Pair(devices::Pair),
    /// Join a household with the code `authctl pair` printed on one of its devices.
    #[command(
        after_help = "Examples:\n  authctl join 7-orbit-velvet-cactus\n  authctl join 7-orbit-velvet-cactus --peer 192.0.2.7:47811 --name kitchen-tablet"
    )]
    Join(devices::Join),
    /// The household's devices: online or last seen, address, clock skew.
    #[command(after_help = "Examples:\n  authctl devices")]
    Devices,
    /// Cut a lost or stolen device out: it can no longer connect or read
    /// anything new. Shows what the device did lately and asks first.
    /// Prints the entries it could read, to re-enroll.
    #[command(
        after_help = "Examples:\n  authctl revoke bobs-phone\n  authctl revoke bobs-phone --lost-since \"2 hours ago\"\n  authctl revoke bobs-phone --yes    # from a script"
    )]
    Revoke(devices::Revoke),
    /// This device leaves the household: the others are told, then its vault
    /// is deleted.
    #[command(
        after_help = "Examples:\n  authctl leave\n  authctl leave --yes                     # no question (scripts)"
    )]
    Leave(devices::Leave),
    /// The household's persons and their devices.
    #[command(after_help = "Examples:\n  authctl persons\n  authctl persons --json")]
    Persons,
    /// The collections: who reads each, and how many entries it holds.
    #[command(after_help = "Examples:\n  authctl collections")]
    Collections,
    /// Make a collection, or change who reads one.
    #[command(
        subcommand,
        after_help = "Examples:\n  authctl collection new parents --with carol\n  authctl collection add parents bob\n  authctl collection remove shared bob"
    )]
    Collection(people::Collection),
    /// Move an entry where others read it: to you and a person, to everyone
    /// (`--household`), or to a collection.
    #[command(
        after_help = "Examples:\n  authctl share amazon --with bob\n  authctl share wifi-router --household\n  authctl share bank --in parents"
    )]
    Share(people::Share),
    /// Move an entry back to your own collection; lists who could read it.
    #[command(after_help = "Examples:\n  authctl unshare amazon")]
    Unshare(entries::One),
    /// Lend an entry's codes (never its secret) to a person for a while.
    #[command(
        after_help = "Examples:\n  authctl lend amazon --to carol --for 2h\n  authctl lent                            # what is lent, to whom, until when"
    )]
    Lend(people::Lend),
    /// What is lent: to whom, by which device, until when.
    #[command(after_help = "Examples:\n  authctl lent\n  authctl lent --json")]
    Lent,
    /// Rename a device, or say whose it is.
    #[command(
        subcommand,
        after_help = "Examples:\n  authctl device rename vm alice-laptop\n  authctl device set-person kitchen-tablet carol"
    )]
    Device(people::Device),
    /// The entries revoked devices could read, ticked once rotated.
    #[command(
        after_help = "Examples:\n  authctl exposed\n  authctl exposed bobs-phone\n  authctl exposed --dismiss netflix        # nothing to re-enroll there"
    )]
    Exposed(devices::Exposed),
    /// Delete this device's vault and start over: after it was removed from
    /// its household, or to begin again. Asks first.
    #[command(
        after_help = "Examples:\n  authctl reset                           # then: authctl join CODE\n  authctl reset --yes                     # no question (scripts)"
    )]
    Reset(devices::Reset),
    /// Import entries from other apps' exports or QR code images, all or nothing.
    ///
    /// Reads otpauth URI lists, Google Authenticator exports
    /// (otpauth-migration://), Aegis, 2FAS and andOTP backups (plain or
    /// encrypted), Bitwarden JSON and CSV exports, and PNG or JPEG images of
    /// QR codes. Entries already in the vault are skipped.
    #[command(
        after_help = "Examples:\n  authctl import aegis-export.json 2fas-backup.2fas screenshot.png\n  authctl import --format google --password-file pw.txt export.txt"
    )]
    Import(transfer::Import),
    /// Show an entry's otpauth QR code (reveals its secret), to enroll a phone.
    #[command(after_help = "Examples:\n  authctl qr amazon\n  authctl qr amazon --png amazon.png")]
    Qr(transfer::Qr),
    /// Write every entry with its secret for another app (reveals all secrets).
    #[command(
        after_help = "Examples:\n  authctl export --format aegis --encrypt --output backup.json\n  authctl export --format google-qr --output phone    # phone-1.png, phone-2.png, ..."
    )]
    Export(transfer::Export),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  authctl completions bash > ~/.local/share/bash-completion/completions/authctl"
    )]
    Completions(transfer::Completions),
    /// The audit log: who changed what, when (never secrets).
    #[command(after_help = "Examples:\n  authctl log --limit 20")]
    Log(vault::Log),
    /// Write the man pages (authctl.1 and one per command) into a directory.
    #[command(after_help = "Examples:\n  authctl man --dir ~/.local/share/man/man1 && man authctl-code")]
    Man(transfer::Man),
    /// The live view: every code with its countdown; type to filter, Enter
    /// copies. `authctl` alone opens it on a terminal.
    #[command(after_help = "Examples:\n  authctl                                 # on a terminal\n  authctl view")]
    View,
    /// Holds a code on the clipboard until it expires (run by `code --copy`
    /// and the view, detached; reads the code from standard input).
    #[command(hide = true)]
    ClipboardHold,
}

/// The end of `authctl --help`: the view, QUERY, exit codes.
const TOP_HELP: &str = "\
`authctl` alone, on a terminal, opens the live view.

QUERY names an entry: its issuer, account, issuer:account or id, any case;
else a part of one (ama); else its letters in order (amzn). An ambiguous
QUERY lists the candidates.

Exit codes:
  0   ok
  1   failure (for example: no display for --copy)
  2   bad usage or input
  3   the vault is locked (and no terminal to ask for the passphrase)
  4   no entry matches, or several do
  69  authd unavailable

Examples:
  authctl code amazon
  authctl add --qr screenshot.png
  authctl man --dir ~/.local/share/man/man1    # then: man authctl-code";

/// How a command ended badly.
pub(crate) enum Exit {
    Failure(Failure),
    Other(anyhow::Error),
    /// The command did its work and reported it, but not all of it went
    /// through (an import with refused entries): this exit code, and one
    /// line on stderr, never a JSON error (the report is the output).
    Partial {
        code: u8,
        message: String,
    },
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
        | Command::Man(_)
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
        Command::Persons => people::persons(&paths, json),
        Command::Lend(args) => people::lend(&paths, json, args),
        Command::Lent => people::lent(&paths, json),
        Command::Collections => people::collections(&paths, json),
        Command::Collection(command) => people::collection(&paths, json, command),
        Command::Share(args) => people::share(&paths, json, args),
        Command::Unshare(args) => people::unshare(&paths, json, args.query),
        Command::Device(command) => people::device(&paths, json, command),
        Command::Reset(args) => devices::reset(&paths, args),
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
        Command::Man(args) => transfer::man(Cli::command(), args),
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
    let json = cli.json;
    let (exit, message, code, candidates) = match run(cli, helpers) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Exit::Partial { code, message }) => {
            eprintln!("authctl: {message}");
            return ExitCode::from(code);
        }
        Err(Exit::Failure(Failure::Unavailable(e))) => (69, e.to_string(), "unavailable".to_string(), Vec::new()),
        Err(Exit::Failure(Failure::Refused(e))) => {
            let name = serde_json::to_value(e.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "failed".into());
            let exit = u8::try_from(e.code.exit_code()).unwrap_or(1);
            (exit, e.message, name, e.candidates)
        }
        Err(Exit::Other(e)) => {
            let bad = e.downcast_ref::<BadInput>().is_some();
            let (exit, name) = if bad { (2, "bad_input") } else { (1, "failed") };
            (exit, format!("{e:#}"), name.to_string(), Vec::new())
        }
    };
    if json {
        output::json_error(&message, &code, exit, &candidates);
    } else {
        eprintln!("authctl: {message}");
        output::candidates(&candidates);
    }
    ExitCode::from(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command shows an example in its --help, and every argument
    /// and flag says what it is.
    #[test]
    fn every_verb_has_an_example_and_every_argument_a_description() {
        let mut cli = Cli::command();
        cli.build();
        assert!(
            cli.get_after_help()
                .is_some_and(|h| h.to_string().contains("Exit codes:"))
        );
        for verb in cli
            .get_subcommands()
            .filter(|v| !v.is_hide_set() && v.get_name() != "help")
        {
            let name = verb.get_name();
            let example = verb.get_after_help().map(ToString::to_string).unwrap_or_default();
            assert!(
                example.starts_with("Examples:") && example.contains(&format!("authctl {name}"))
                    || name == "view" && example.contains("authctl"),
                "`authctl {name} --help` has no example"
            );
            for arg in verb.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || ["help", "version", "json"].contains(&id) {
                    continue;
                }
                assert!(arg.get_help().is_some(), "`authctl {name}`: {id} is not described");
            }
        }
    }
}
