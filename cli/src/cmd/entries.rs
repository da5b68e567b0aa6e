//! The entries: `add`, `code`, `list`, `show`, `rename`, `edit`, `rm`,
//! `restore`, `history`, `rotate`.

use std::path::PathBuf;

use authsync_proto::ipc::{NewEntry, Reply, Request};
use authsync_proto::paths::Paths;

use crate::app::{Exit, call, unexpected};
use crate::input::{self, SecretFlags};
use crate::output;

// `authctl add`.
#[derive(clap::Args)]
pub(crate) struct Add {
    /// An otpauth:// URI (`-` reads it from standard input; on the command
    /// line it is visible to other local users). With no URI, --qr or
    /// --secret, asks for the secret on the terminal without echo.
    pub(crate) uri: Option<String>,
    /// A PNG or JPEG image of the entry's QR code.
    #[arg(long, value_name = "IMAGE", conflicts_with = "uri")]
    pub(crate) qr: Option<PathBuf>,
    /// The site (overrides the URI's).
    #[arg(long)]
    pub(crate) issuer: Option<String>,
    /// The login (overrides the URI's).
    #[arg(long)]
    pub(crate) account: Option<String>,
    #[command(flatten)]
    pub(crate) secret: SecretFlags,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub(crate) tags: Vec<String>,
    /// A note.
    #[arg(long)]
    pub(crate) note: Option<String>,
    /// The collection it goes in (`authctl collections` lists them). By
    /// default: your own once the household has two persons, else
    /// `shared`; `default_collection` in config.toml overrides that.
    #[arg(long = "in", value_name = "COLLECTION")]
    pub(crate) collection: Option<String>,
}

// `authctl code`.
#[derive(clap::Args)]
pub(crate) struct Code {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
    pub(crate) query: String,
    /// The code of the next period.
    #[arg(long, conflicts_with = "previous")]
    pub(crate) next: bool,
    /// The code of the secret before the last rotation.
    #[arg(long)]
    pub(crate) previous: bool,
    /// Also print the entry and the seconds left, on stderr.
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// Put the code on the clipboard instead of printing it; it is cleared
    /// when the code expires, if the clipboard still holds it.
    #[arg(short, long)]
    pub(crate) copy: bool,
}

// `authctl list`.
#[derive(clap::Args)]
pub(crate) struct List {
    /// Only the entries this matches (issuer, account or id, as `code`
    /// matches them: every match is listed).
    #[arg(value_name = "QUERY")]
    query: Option<String>,
    /// Only the entries with this tag.
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
    /// Include deleted entries.
    #[arg(long)]
    deleted: bool,
}

// `authctl show`, `history`: one entry, deleted ones on request.
#[derive(clap::Args)]
pub(crate) struct Look {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
    query: String,
    /// Look among deleted entries too.
    #[arg(long)]
    deleted: bool,
}

// `authctl rm`, `restore`: one entry.
#[derive(clap::Args)]
pub(crate) struct One {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
    pub(crate) query: String,
}

// `authctl rename`.
#[derive(clap::Args)]
pub(crate) struct Rename {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
    query: String,
    /// The new issuer (the site); empty removes it.
    #[arg(long)]
    issuer: Option<String>,
    /// The new account (the login).
    #[arg(long)]
    account: Option<String>,
}

// `authctl edit`.
#[derive(clap::Args)]
pub(crate) struct Edit {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
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
}

// `authctl rotate`.
#[derive(clap::Args)]
pub(crate) struct Rotate {
    /// The entry: its issuer, account, issuer:account or id; a part of one,
    /// or its letters in order (amzn), do too.
    #[arg(value_name = "QUERY")]
    query: String,
    /// The new otpauth:// URI (`-` reads it from standard input); with
    /// neither it nor --secret, asks on the terminal without echo.
    uri: Option<String>,
    #[command(flatten)]
    secret: SecretFlags,
}

/// `add` from a URI or flags (`add --qr` is `transfer`'s).
pub(crate) fn add(paths: &Paths, json: bool, args: Add) -> Result<(), Exit> {
    let entry = input::new_entry(args.uri.as_deref(), &args.secret, args.issuer, args.account)?;
    add_entry(paths, json, entry, args.tags, args.note, args.collection)
}

/// The collection new entries go in without `--in`: `default_collection`
/// in config.toml, if set (else the daemon's rule).
pub(crate) fn default_collection(paths: &Paths) -> Option<String> {
    std::fs::read_to_string(&paths.config_file)
        .ok()
        .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
        .and_then(|table| table.get("default_collection")?.as_str().map(str::to_string))
}

/// Adds `entry` with its tags and note and prints its first code.
pub(crate) fn add_entry(
    paths: &Paths,
    json: bool,
    mut entry: NewEntry,
    tags: Vec<String>,
    note: Option<String>,
    collection: Option<String>,
) -> Result<(), Exit> {
    entry.tags = tags;
    entry.note = note.unwrap_or_default();
    let warning = input::short_secret_warning(&entry.otp);
    let collection = collection.or_else(|| default_collection(paths));
    match call(paths, &Request::Add { entry, collection })? {
        Reply::Code(c) if json => output::json(&c),
        Reply::Code(c) => output::new_code("Added", &c),
        other => return Err(unexpected(other)),
    }
    if let Some(warning) = warning {
        eprintln!("{warning}");
    }
    Ok(())
}

pub(crate) fn code(paths: &Paths, json: bool, args: Code) -> Result<(), Exit> {
    let Code {
        query,
        next,
        previous,
        verbose,
        copy: _,
    } = args;
    match call(paths, &Request::Code { query, next, previous })? {
        Reply::Code(c) if json => output::json(&c),
        Reply::Code(c) => {
            output::skew_warning(c.clock_skew_ms);
            output::code(&c, verbose, next)
        }
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn list(paths: &Paths, json: bool, args: List) -> Result<(), Exit> {
    let List { query, tag, deleted } = args;
    match call(paths, &Request::List { deleted, query, tag })? {
        Reply::Entries(list) if json => output::json(&list),
        Reply::Entries(list) => output::entries(&list),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn history(paths: &Paths, json: bool, args: Look) -> Result<(), Exit> {
    let Look { query, deleted } = args;
    match call(paths, &Request::History { query, deleted })? {
        Reply::History(v) if json => output::json(&v),
        Reply::History(v) => output::history(&v),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

pub(crate) fn rotate(paths: &Paths, json: bool, args: Rotate) -> Result<(), Exit> {
    let Rotate { query, uri, secret } = args;
    let request = Request::Show {
        query: query.clone(),
        deleted: false,
    };
    let current = match call(paths, &request)? {
        Reply::Entry(e) => e.spec,
        other => return Err(unexpected(other)),
    };
    let otp = input::rotation(uri.as_deref(), &secret, current)?;
    let warning = input::short_secret_warning(&otp);
    match call(paths, &Request::Rotate { query, otp })? {
        Reply::Code(c) if json => output::json(&c),
        Reply::Code(c) => {
            output::new_code("Rotated", &c);
            outln!("the old secret stays available: authctl code --previous");
        }
        other => return Err(unexpected(other)),
    }
    if let Some(warning) = warning {
        eprintln!("{warning}");
    }
    Ok(())
}

pub(crate) fn show(paths: &Paths, json: bool, args: Look) -> Result<(), Exit> {
    let Look { query, deleted } = args;
    entry_reply(paths, json, Request::Show { query, deleted }, None)
}

pub(crate) fn rename(paths: &Paths, json: bool, args: Rename) -> Result<(), Exit> {
    let Rename { query, issuer, account } = args;
    entry_reply(paths, json, Request::Rename { query, issuer, account }, Some("renamed"))
}

pub(crate) fn edit(paths: &Paths, json: bool, args: Edit) -> Result<(), Exit> {
    let Edit {
        query,
        add_tags,
        remove_tags,
        note,
    } = args;
    let request = Request::Edit {
        query,
        add_tags,
        remove_tags,
        note,
    };
    entry_reply(paths, json, request, Some("edited"))
}

pub(crate) fn rm(paths: &Paths, json: bool, args: One) -> Result<(), Exit> {
    entry_reply(paths, json, Request::Remove { query: args.query }, Some("deleted"))
}

pub(crate) fn restore(paths: &Paths, json: bool, args: One) -> Result<(), Exit> {
    entry_reply(paths, json, Request::Restore { query: args.query }, Some("restored"))
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
