//! The vault and the daemon: `init`, `unlock`, `lock`, `status`,
//! `shutdown`, `log`, and what `init` and `join` share (the household check,
//! the new passphrase, the default device name).

use std::path::PathBuf;

use authsync_proto::ipc::{ErrorCode, IpcError, Reply, Request, WireSecret};
use authsync_proto::paths::Paths;

use crate::app::{Exit, call, unexpected};
use crate::client::{self, Client, Failure};
use crate::{input, output};

// `authctl init`.
#[derive(clap::Args)]
pub(crate) struct Init {
    /// This device's name (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Whose device this is (default: your login name). Your entries go in
    /// your own collection once the household has a second person.
    #[arg(long, value_name = "NAME")]
    person: Option<String>,
    /// Keep the vault key in a key file instead of deriving it from a passphrase.
    #[arg(long, conflicts_with = "passphrase_file")]
    no_passphrase: bool,
    /// Read the passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

// `authctl unlock`.
#[derive(clap::Args)]
pub(crate) struct Unlock {
    /// Read the passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

// `authctl log`.
#[derive(clap::Args)]
pub(crate) struct Log {
    /// At most N events.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

pub(crate) fn init(paths: &Paths, json: bool, args: Init) -> Result<(), Exit> {
    let name = args.name.unwrap_or_else(|| default_name(paths));
    refuse_if_initialized(paths, "this device already has a household; nothing was changed")?;
    let passphrase = new_passphrase(args.no_passphrase, args.passphrase_file.as_deref())?;
    let person = Some(args.person.unwrap_or_else(login_name));
    match call(
        paths,
        &Request::Init {
            name,
            passphrase,
            person,
        },
    )? {
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
    Ok(())
}

pub(crate) fn unlock(paths: &Paths, args: Unlock) -> Result<(), Exit> {
    let Reply::Status(s) = call(paths, &Request::Status)? else {
        return Err(Exit::Other(anyhow::anyhow!("authd sent an unexpected reply")));
    };
    if !s.locked {
        eprintln!("already unlocked");
        return Ok(());
    }
    let passphrase = if s.needs_passphrase {
        Some(input::passphrase(args.passphrase_file.as_deref(), false)?)
    } else {
        None
    };
    call(paths, &Request::Unlock { passphrase })?;
    eprintln!("unlocked");
    Ok(())
}

pub(crate) fn lock(paths: &Paths) -> Result<(), Exit> {
    call(paths, &Request::Lock)?;
    eprintln!("locked");
    Ok(())
}

pub(crate) fn status(paths: &Paths, json: bool) -> Result<(), Exit> {
    match call(paths, &Request::Status)? {
        Reply::Status(s) if json => output::json(&s),
        Reply::Status(s) => output::status(&s),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn shutdown(paths: &Paths) -> Result<(), Exit> {
    match Client::connect(paths, false) {
        Ok(client) => {
            client.call(&Request::Shutdown)?;
            client::wait_stopped(paths)?;
            eprintln!("authd stopped");
        }
        Err(_) => eprintln!("authd is not running"),
    }
    Ok(())
}

pub(crate) fn log(paths: &Paths, json: bool, args: Log) -> Result<(), Exit> {
    match call(paths, &Request::Log { limit: args.limit })? {
        Reply::Log(events) if json => output::json(&events),
        Reply::Log(events) => output::log(&events),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// Refuses, before a passphrase is asked for, to start or join a household
/// on a device that has one.
pub(crate) fn refuse_if_initialized(paths: &Paths, why: &str) -> Result<(), Exit> {
    match call(paths, &Request::Status)? {
        Reply::Status(s) if s.initialized => {
            Err(Failure::Refused(IpcError::new(ErrorCode::AlreadyInitialized, why)).into())
        }
        _ => Ok(()),
    }
}

/// A new vault's passphrase (asked twice), or none for a key file.
pub(crate) fn new_passphrase(no_passphrase: bool, file: Option<&std::path::Path>) -> Result<Option<WireSecret>, Exit> {
    if no_passphrase {
        return Ok(None);
    }
    Ok(Some(input::passphrase(file, true)?))
}

/// The device name when `--name` is not given: `name` in `config.toml`
/// (authd checks the file as a whole when it starts), else the host name.
pub(crate) fn default_name(paths: &Paths) -> String {
    std::fs::read_to_string(&paths.config_file)
        .ok()
        .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
        .and_then(|table| table.get("name")?.as_str().map(str::to_string))
        .unwrap_or_else(host_name)
}

/// The login name: whose device this is when not told (`$USER`, else the
/// name of this process's user).
pub(crate) fn login_name() -> String {
    std::env::var("USER")
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "me".into())
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "this-device".into())
}
