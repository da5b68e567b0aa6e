//! The household's devices: `pair`, `join`, `devices`, `revoke`, `leave`,
//! `exposed`, `reset`.

use std::path::PathBuf;

use authsync_proto::ipc::{Reply, Request};
use authsync_proto::paths::Paths;

use super::vault::{default_name, new_passphrase, refuse_if_initialized};
use crate::app::{Exit, call, unexpected};
use crate::client;
use crate::input::BadInput;
use crate::output;

// `authctl pair`.
#[derive(clap::Args)]
pub(crate) struct Pair {
    /// How long the code stays valid, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    ttl: u64,
    /// Wait until a device joins (or the offer expires or is cancelled),
    /// and say which.
    #[arg(long)]
    wait: bool,
}

// `authctl join`.
#[derive(clap::Args)]
pub(crate) struct Join {
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
    #[arg(long, conflicts_with_all = ["passphrase_file", "no_passphrase", "person"])]
    relay: bool,
    /// Whose device this is (on a terminal it asks; default: your login
    /// name). Pair from one of that person's devices, or it waits for one of
    /// them to confirm it (`authctl device set-person`).
    #[arg(long, value_name = "NAME")]
    person: Option<String>,
}

// `authctl revoke`.
#[derive(clap::Args)]
pub(crate) struct Revoke {
    /// The device's name or id (from `authctl devices`).
    #[arg(required_unless_present = "person")]
    device: Option<String>,
    /// Revoke every device of this person instead (`authctl persons`).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["device", "lost_since"])]
    person: Option<String>,
    /// When it was lost: its records that reached this device since then
    /// are undone, with every device they admitted (e.g. "2 hours ago",
    /// "2026-12-03 08:00:00" UTC).
    #[arg(long, value_name = "WHEN")]
    lost_since: Option<String>,
    /// Do not ask for confirmation (for scripts).
    #[arg(long)]
    yes: bool,
}

// `authctl leave`.
#[derive(clap::Args)]
pub(crate) struct Leave {
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

// `authctl exposed`.
#[derive(clap::Args)]
pub(crate) struct Exposed {
    /// One revoked device; all of them by default.
    device: Option<String>,
    /// Take the entry QUERY names off the checklist (a site that needs no
    /// re-enrolment), on this device; recorded in `log`.
    #[arg(long, value_name = "QUERY")]
    dismiss: Option<String>,
}

// `authctl reset`.
#[derive(clap::Args)]
pub(crate) struct Reset {
    /// Do not ask for confirmation (for scripts).
    #[arg(long)]
    yes: bool,
}

pub(crate) fn pair(paths: &Paths, json: bool, args: Pair) -> Result<(), Exit> {
    match call(
        paths,
        &Request::Pair {
            ttl_secs: Some(args.ttl),
        },
    )? {
        Reply::Pairing(p) if json => output::json(&p),
        Reply::Pairing(p) => {
            outln!("{}", p.code);
            eprintln!("On the new device run: authctl join {}", p.code);
            match p.addresses.as_slice() {
                [] => {}
                [one] => eprintln!("If it does not find this device, add: --peer {one}"),
                many => eprintln!(
                    "If it does not find this device, add --peer with one of: {}",
                    many.join(", ")
                ),
            }
            eprintln!("The code works once, for {} s.", p.expires_in_secs);
        }
        other => return Err(unexpected(other)),
    }
    if args.wait {
        if !json {
            eprintln!("Waiting for the new device (Ctrl-C stops waiting; the offer stays open)...");
        }
        let limit = std::time::Duration::from_secs(args.ttl.saturating_add(30));
        let reply = client::Client::connect(paths, true)?.call_waiting(&Request::PairWait, limit)?;
        let Reply::PairOutcome(outcome) = reply else {
            return Err(unexpected(reply));
        };
        if json {
            output::json(&outcome);
        }
        let failed = match outcome.outcome.as_str() {
            "joined" => None,
            "expired" => Some("the offer expired and no device joined; run `authctl pair` again"),
            "cancelled" => {
                Some("the offer was cancelled (a wrong code was tried) and no device joined; run `authctl pair` again")
            }
            _ => Some("a newer `authctl pair` replaced this offer"),
        };
        match failed {
            // The report is the output (under --json too): one line on
            // stderr and exit 1, never a JSON error object after it.
            Some(message) => {
                return Err(Exit::Partial {
                    code: 1,
                    message: message.to_string(),
                });
            }
            None if !json => outln!(
                "{} joined the household.",
                outcome.device_name.as_deref().unwrap_or("A new device")
            ),
            None => {}
        }
    }
    Ok(())
}

pub(crate) fn join(paths: &Paths, json: bool, args: Join) -> Result<(), Exit> {
    let code = args.code.trim().to_string();
    if let Err(e) = code.parse::<authsync_proto::pairing::PairingCode>() {
        return Err(Exit::Other(BadInput(format!("{e}")).into()));
    }
    refuse_if_initialized(paths, "this device already has a household; `join` is for a new device")?;
    // Find the offer before asking anything: a wrong code or an unreachable
    // sponsor is said at once, with nothing typed for nothing.
    call(
        paths,
        &Request::FindOffer {
            code: code.clone(),
            peer: args.peer.clone(),
        },
    )?;
    let passphrase = if args.relay {
        None
    } else {
        new_passphrase(args.no_passphrase, args.passphrase_file.as_deref())?
    };
    let name = args.name.unwrap_or_else(|| default_name(paths));
    let person = if args.relay {
        None
    } else {
        Some(match args.person {
            Some(person) => person,
            None => ask_person()?,
        })
    };
    match call(
        paths,
        &Request::Join {
            code,
            peer: args.peer,
            name,
            passphrase,
            relay: args.relay,
            person,
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
    Ok(())
}

pub(crate) fn devices(paths: &Paths, json: bool) -> Result<(), Exit> {
    match call(paths, &Request::Devices)? {
        Reply::Devices(d) if json => output::json(&d),
        Reply::Devices(d) => output::devices(&d),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn revoke(paths: &Paths, json: bool, args: Revoke) -> Result<(), Exit> {
    match (args.device, args.person) {
        (Some(device), None) => crate::revoke::run(paths, device, args.lost_since, args.yes, json),
        (None, Some(person)) => crate::revoke::person(paths, person, args.yes, json),
        _ => Err(Exit::Other(BadInput("name one device, or --person NAME".into()).into())),
    }
}

/// Whose device a joining one is: asked on a terminal (the login name by
/// default), else the login name.
fn ask_person() -> Result<String, Exit> {
    use std::io::{BufRead, IsTerminal, Write};
    let login = super::vault::login_name();
    if !std::io::stdin().is_terminal() {
        return Ok(login);
    }
    eprint!("Whose device is this? [{login}] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    let answer = answer.trim();
    Ok(if answer.is_empty() { login } else { answer.to_string() })
}

pub(crate) fn leave(paths: &Paths, args: Leave) -> Result<(), Exit> {
    if !args.yes {
        confirm_leave()?;
    }
    call(paths, &Request::Leave)?;
    client::wait_stopped(paths)?;
    outln!("This device left its household; its vault is deleted.");
    Ok(())
}

pub(crate) fn exposed(paths: &Paths, json: bool, args: Exposed) -> Result<(), Exit> {
    let request = match args.dismiss {
        Some(query) => Request::Dismiss {
            query,
            device: args.device,
        },
        None => Request::Exposed { device: args.device },
    };
    match call(paths, &request)? {
        Reply::Exposure(reports) if json => output::json(&reports),
        Reply::Exposure(reports) => output::exposure(&reports),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn reset(paths: &Paths, args: Reset) -> Result<(), Exit> {
    let status = match call(paths, &Request::Status)? {
        Reply::Status(s) => s,
        other => return Err(unexpected(other)),
    };
    if !status.initialized {
        return Err(BadInput("this device has no household: there is nothing to reset".into()).into());
    }
    if !args.yes {
        let what = match &status.removed {
            Some(removed) => format!("This device was removed from its household by {}.", removed.by_name),
            None if status.members > 1 => "This device is still a member: the others keep listing it until one of them revokes it (`authctl leave` tells them).".to_string(),
            None => "This is its household's only device: every entry is lost for good (`authctl export` first).".to_string(),
        };
        confirm(
            &format!(
                "{what}\nreset deletes this device's vault ({}). Type 'reset' to go on: ",
                status.data_dir
            ),
            "reset",
            "reset deletes this device's vault; confirm with --yes",
        )?;
    }
    call(paths, &Request::Reset)?;
    client::wait_stopped(paths)?;
    outln!("This device's vault is deleted; `authctl init` or `authctl join CODE` starts over.");
    Ok(())
}

/// Asks on the terminal for `word` after `prompt`; off a terminal, refuses
/// with `off_terminal`.
fn confirm(prompt: &str, word: &str, off_terminal: &str) -> Result<(), Exit> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(Exit::Other(BadInput(off_terminal.into()).into()));
    }
    out!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() != word {
        return Err(Exit::Other(
            BadInput("not confirmed; nothing was changed".into()).into(),
        ));
    }
    Ok(())
}

/// Asks on the terminal before `leave` deletes the vault.
fn confirm_leave() -> Result<(), Exit> {
    confirm(
        "This device will leave its household and delete its vault. Type 'leave' to go on: ",
        "leave",
        "leave deletes this device's vault; confirm with --yes",
    )
}
