//! Persons and collections: `persons`, `collections`, `collection new|add|
//! remove`, `share`, `unshare`, `device rename|set-person`.

use authsync_proto::ipc::{Reply, Request};
use authsync_proto::paths::Paths;

use crate::app::{Exit, call, unexpected};
use crate::input::BadInput;
use crate::output;

// `authctl collection`.
#[derive(clap::Subcommand)]
pub(crate) enum Collection {
    /// Make a collection read by your devices and those of the persons named.
    #[command(
        after_help = "Examples:\n  authctl collection new parents --with carol\n  authctl collection new family --with bob,carol"
    )]
    New {
        /// Its name.
        name: String,
        /// The other persons who read it, comma-separated.
        #[arg(long, value_name = "PERSON,...", value_delimiter = ',')]
        with: Vec<String>,
    },
    /// Let a person's devices read a collection (and all its history).
    #[command(after_help = "Examples:\n  authctl collection add parents bob\n  authctl collection add shared dave")]
    Add {
        /// The collection: `shared` or a named one.
        collection: String,
        /// The person.
        person: String,
    },
    /// Stop a person's devices reading a collection: its key changes, and
    /// the entries they could read are listed to re-enroll.
    #[command(after_help = "Examples:\n  authctl collection remove shared bob")]
    Remove {
        /// The collection: `shared` or a named one.
        collection: String,
        /// The person.
        person: String,
    },
}

// `authctl device`.
#[derive(clap::Subcommand)]
pub(crate) enum Device {
    /// Rename a device (this one, or one of your person's).
    #[command(after_help = "Examples:\n  authctl device rename vm alice-laptop")]
    Rename {
        /// The device's name or id (from `authctl devices`).
        device: String,
        /// Its new name.
        name: String,
    },
    /// Say whose device a device is. Only one of that person's devices can
    /// (or any device, for a person the household does not have yet).
    #[command(after_help = "Examples:\n  authctl device set-person kitchen-tablet carol")]
    SetPerson {
        /// The device's name or id (from `authctl devices`).
        device: String,
        /// The person.
        person: String,
    },
}

// `authctl lend`.
#[derive(clap::Args)]
pub(crate) struct Lend {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
    query: String,
    /// The person whose devices get the codes.
    #[arg(long, value_name = "PERSON")]
    to: String,
    /// How long: 30m, 2h, 3days (at most a week).
    #[arg(long = "for", value_name = "DURATION")]
    duration: String,
}

// `authctl share`.
#[derive(clap::Args)]
pub(crate) struct Share {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
    query: String,
    /// Share with this person: the collection of you two (made if needed).
    #[arg(long, value_name = "PERSON", conflicts_with_all = ["household", "collection"])]
    with: Option<String>,
    /// Share with every person of the household (`shared`).
    #[arg(long, conflicts_with = "collection")]
    household: bool,
    /// Move it to this collection.
    #[arg(long = "in", value_name = "COLLECTION")]
    collection: Option<String>,
}

pub(crate) fn lend(paths: &Paths, json: bool, args: Lend) -> Result<(), Exit> {
    let duration = humantime::parse_duration(args.duration.trim()).map_err(|_| {
        Exit::Other(BadInput(format!("--for: '{}' is not a duration (30m, 2h, 3days)", args.duration)).into())
    })?;
    let for_secs = duration.as_secs();
    if for_secs == 0 || for_secs > authsync_proto::lend::MAX_LEND_SECS {
        return Err(Exit::Other(
            BadInput("--for: a code can be lent for at most a week, and at least a second".into()).into(),
        ));
    }
    match call(
        paths,
        &Request::Lend {
            query: args.query,
            to: args.to,
            for_secs,
        },
    )? {
        Reply::Lent(l) if json => output::json(&l),
        Reply::Lent(l) => {
            if let (Some(first), Some(last)) = (l.first(), l.last()) {
                outln!(
                    "Lent the codes of {} to {} until {} (the secret stays here).",
                    first.entry.as_deref().unwrap_or("the entry"),
                    first.to,
                    output::time(last.until_ms)
                );
            }
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn lent(paths: &Paths, json: bool) -> Result<(), Exit> {
    match call(paths, &Request::Lent)? {
        Reply::Lent(l) if json => output::json(&l),
        Reply::Lent(l) => output::lent(&l),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn persons(paths: &Paths, json: bool) -> Result<(), Exit> {
    match call(paths, &Request::Persons)? {
        Reply::Persons(p) if json => output::json(&p),
        Reply::Persons(p) => output::persons(&p),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn collections(paths: &Paths, json: bool) -> Result<(), Exit> {
    show_collections(call(paths, &Request::Collections)?, json)
}

fn show_collections(reply: Reply, json: bool) -> Result<(), Exit> {
    match reply {
        Reply::Collections(c) if json => output::json(&c),
        Reply::Collections(c) => output::collections(&c),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn collection(paths: &Paths, json: bool, command: Collection) -> Result<(), Exit> {
    let request = match command {
        Collection::New { name, with } => Request::CollectionNew {
            name,
            persons: with.into_iter().filter(|p| !p.trim().is_empty()).collect(),
        },
        Collection::Add { collection, person } => Request::CollectionAdd { collection, person },
        Collection::Remove { collection, person } => Request::CollectionRemove { collection, person },
    };
    match call(paths, &request)? {
        Reply::Exposure(reports) if json => output::json(&reports),
        Reply::Exposure(reports) => {
            outln!("Removed. New entries of that collection are sealed to its remaining persons only.");
            if !reports.iter().all(|r| r.entries.is_empty()) {
                output::exposure(&reports);
            }
        }
        other => show_collections(other, json)?,
    }
    Ok(())
}

pub(crate) fn share(paths: &Paths, json: bool, args: Share) -> Result<(), Exit> {
    let (collection, with) = match (args.with, args.household, args.collection) {
        (Some(person), false, None) => (None, Some(person)),
        (None, true, None) => (Some("shared".to_string()), None),
        (None, false, Some(collection)) => (Some(collection), None),
        _ => {
            return Err(Exit::Other(
                BadInput("say who to share it with: --with PERSON, --household or --in COLLECTION".into()).into(),
            ));
        }
    };
    match call(
        paths,
        &Request::Share {
            query: args.query,
            collection,
            with,
        },
    )? {
        Reply::Entry(e) if json => output::json(&e),
        Reply::Entry(e) => outln!("{} is now in {}.", e.label(), e.collection),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn unshare(paths: &Paths, json: bool, query: String) -> Result<(), Exit> {
    match call(paths, &Request::Unshare { query })? {
        Reply::Exposure(reports) if json => output::json(&reports),
        Reply::Exposure(reports) => {
            outln!("Moved back to your own collection.");
            if !reports.is_empty() {
                outln!("Others could read it; rotate it if that matters (`authctl exposed` keeps the list):");
                output::exposure(&reports);
            }
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn device(paths: &Paths, json: bool, command: Device) -> Result<(), Exit> {
    let request = match command {
        Device::Rename { device, name } => Request::DeviceRename { device, name },
        Device::SetPerson { device, person } => Request::DeviceSetPerson { device, person },
    };
    match call(paths, &request)? {
        Reply::Devices(d) if json => output::json(&d),
        Reply::Devices(d) => output::devices(&d),
        other => return Err(unexpected(other)),
    }
    Ok(())
}
