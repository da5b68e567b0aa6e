//! One handler per IPC request kind. Each takes the vault, does its one job
//! and returns a reply or a typed error whose message says what to do.

use authsync_proto::authority::Household;
use authsync_proto::entries::{EntryHistory, Index, changes, describe_change, edits_from, same_entry};
use authsync_proto::ids::{CollectionId, EntryId};
use authsync_proto::ipc::{
    CodeReply, CodesReply, EntrySummary, ErrorCode, ImportReply, IpcError, LiveCode, LogEvent, MAX_IMPORT_ENTRIES,
    NewEntry, NewSecret, Reply, RevealedEntry, StatusReply, VersionInfo, WireSecret,
};
use authsync_proto::otp::{self, OtpKind, Secret};
use authsync_proto::record::{Body, Edits, EntryBody};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::vault::{Vault, now_ms};

type Result<T> = std::result::Result<T, IpcError>;

/// Turns an internal failure into a reply that does not leak details.
pub fn internal(e: anyhow::Error) -> IpcError {
    if e.downcast_ref::<crate::vault::Locked>().is_some() {
        return locked();
    }
    tracing::error!(error = %format!("{e:#}"), "request failed");
    IpcError::new(ErrorCode::Storage, format!("{e:#}"))
}

fn locked() -> IpcError {
    IpcError::new(ErrorCode::Locked, "the vault is locked; run `authctl unlock`")
}

fn bad(message: impl Into<String>) -> IpcError {
    IpcError::new(ErrorCode::BadRequest, message)
}

pub(crate) fn index(vault: &Vault) -> Result<&Index> {
    if !vault.is_initialized() {
        return Err(not_initialized());
    }
    vault.unlocked().map(|u| &u.index).ok_or_else(locked)
}

pub fn not_initialized() -> IpcError {
    IpcError::new(
        ErrorCode::NotInitialized,
        "no household on this device yet; run `authctl init`",
    )
}

/// What an entry looks like to the CLI; `household` names its collection.
pub fn summary(household: Option<&Household>, entry: &EntryHistory) -> EntrySummary {
    let view = entry.view();
    let collection = match (household, entry.epoch()) {
        (Some(household), Some(epoch)) => household
            .collection_of(&epoch)
            .map(|c| household.collection_name(&c).to_owned())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let updated_ms = entry.versions().first().map_or(0, |v| v.hlc.ms);
    EntrySummary {
        id: entry.id().to_string(),
        issuer: view.issuer.clone(),
        account: view.account.clone(),
        spec: view.spec,
        tags: view.tags.clone(),
        note: view.note.clone(),
        deleted: view.deleted,
        updated_ms,
        heads: entry.heads().len(),
        collection,
    }
}

/// The collection an entry is in now: its newest head's.
pub fn collection_of(vault: &Vault, entry: &EntryHistory) -> Result<CollectionId> {
    vault
        .ledger()
        .household()
        .zip(entry.epoch())
        .and_then(|(h, epoch)| h.collection_of(&epoch))
        .ok_or_else(|| internal(anyhow::anyhow!("an entry's epoch is unknown")))
}

/// The collection named `name` (`shared`, a person's name for that
/// person's own, or a named one), for `add --in` and `share`.
pub fn collection_named(vault: &Vault, name: &str) -> Result<CollectionId> {
    let household = vault.ledger().household().ok_or_else(not_initialized)?;
    let wanted = name.trim().to_lowercase();
    let found: Vec<CollectionId> = household
        .collections()
        .into_iter()
        .filter(|c| c.name.to_lowercase() == wanted)
        .map(|c| c.id)
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(IpcError::new(
            ErrorCode::NotFound,
            format!("no collection is called '{name}'; `authctl collections` lists them"),
        )),
        _ => Err(IpcError::new(
            ErrorCode::Ambiguous,
            format!("several collections are called '{name}'; rename one with `authctl collection new`"),
        )),
    }
}

/// Where a new entry goes when no collection is named (authctl sends
/// config.toml's `default_collection` as a name): this device's person's own
/// once the household has two persons, else `shared`.
pub fn default_collection(vault: &Vault) -> Result<CollectionId> {
    let household = vault.ledger().household().ok_or_else(not_initialized)?;
    let mine = vault
        .device_id()
        .and_then(|me| household.members.get(&me))
        .and_then(|m| m.person.as_deref());
    match mine {
        Some(person) if household.persons().len() >= 2 => Ok(CollectionId::personal(person)),
        _ => Ok(CollectionId::SHARED),
    }
}

/// Which entries a query looks at.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Live,
    Deleted,
    /// Live and deleted (`show --deleted`, `history --deleted`).
    All,
}

/// The one entry `query` names.
pub(crate) fn resolve<'a>(index: &'a Index, query: &str, scope: Scope) -> Result<&'a EntryHistory> {
    let mut found = index.find(query, scope != Scope::Live);
    if scope == Scope::Deleted {
        found.retain(|e| e.view().deleted);
    }
    match found.as_slice() {
        [one] => Ok(one),
        [] if scope == Scope::Live && !index.find(query, true).is_empty() => Err(IpcError::new(
            ErrorCode::NotFound,
            format!(
                "no entry matches '{query}' but a deleted one: `authctl restore {query}` brings it back, `authctl list --deleted` shows it"
            ),
        )),
        [] => Err(not_found(index, query, scope != Scope::Live)),
        many => Err(IpcError {
            code: ErrorCode::Ambiguous,
            message: format!("'{query}' matches {} entries; be more specific", many.len()),
            candidates: many.iter().map(|e| summary(None, e)).collect(),
        }),
    }
}

/// "No entry matches", with the names a typo away from `query`.
fn not_found(index: &Index, query: &str, include_deleted: bool) -> IpcError {
    let labels: Vec<String> = index
        .suggest(query, include_deleted)
        .into_iter()
        .map(|e| e.view().label())
        .collect();
    IpcError::new(
        ErrorCode::NotFound,
        format!(
            "no entry matches '{query}'{}; `authctl list` shows them all",
            authsync_proto::query::did_you_mean(&labels)
        ),
    )
}

fn secret_of(new: &NewSecret) -> Result<Secret> {
    new.spec.validate().map_err(|e| bad(e.to_string()))?;
    Secret::from_base32(new.secret.expose()).map_err(|e| bad(e.to_string()))
}

fn unix_secs() -> u64 {
    now_ms() / 1000
}

fn code_reply(household: Option<&Household>, entry: &EntryHistory, body: &EntryBody, at: u64) -> Result<CodeReply> {
    let code = otp::code(&body.secret, &body.spec, at).map_err(|e| bad(e.to_string()))?;
    Ok(CodeReply {
        code,
        seconds_left: otp::seconds_left(&body.spec, unix_secs()),
        entry: summary(household, entry),
        clock_skew_ms: None,
        lent: None,
    })
}

pub fn status(vault: &Vault, auto_lock_secs: Option<u64>) -> Reply {
    let household = vault.ledger().household();
    Reply::Status(StatusReply {
        daemon: concat!("authd ", env!("CARGO_PKG_VERSION")).to_string(),
        initialized: vault.is_initialized(),
        locked: vault.unlocked().is_none(),
        needs_passphrase: matches!(vault.kek_source(), Ok(Some(crate::vault::KekSource::Passphrase(_)))),
        device: vault.device_id().map(|d| d.to_string()),
        device_name: vault.device_name().map(str::to_string),
        household: household.map(|h| h.id.to_string()),
        members: household.map_or(0, |h| h.current_members().count()),
        records: vault.ledger().len(),
        entries: vault
            .unlocked()
            .map(|u| u.index.entries().filter(|e| !e.view().deleted).count()),
        data_dir: vault.data_dir().display().to_string(),
        auto_lock_secs,
        listen: None,
        peers_online: 0,
        quarantined: vault.quarantined(),
        removed: None,
    })
}

pub fn add(vault: &mut Vault, entry: NewEntry, collection: CollectionId) -> Result<Reply> {
    index(vault)?;
    let secret = secret_of(&entry.otp)?;
    if entry.account.trim().is_empty() && entry.issuer.as_deref().unwrap_or("").trim().is_empty() {
        return Err(bad("an entry needs an issuer or an account name"));
    }
    let mut body = EntryBody {
        issuer: entry.issuer.filter(|i| !i.is_empty()),
        account: entry.account,
        secret,
        spec: entry.otp.spec,
        tags: entry.tags,
        note: entry.note,
        deleted: false,
        edits: Edits::ALL,
    };
    if let Some(existing) = index(vault)?.already_holds(&body) {
        return Err(IpcError::new(
            ErrorCode::AlreadyExists,
            format!(
                "{} is already in the vault with that secret (entry {}); nothing was added",
                existing.view().label(),
                &existing.id().to_string()[..8]
            ),
        ));
    }
    let shown = show_code(&mut body)?;
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    let id = EntryId(id);
    vault.write_entry(id, Vec::new(), &body, collection).map_err(internal)?;
    let index = index(vault)?;
    let entry = index
        .get(&id)
        .ok_or_else(|| internal(anyhow::anyhow!("a new entry vanished")))?;
    let mut reply = code_reply(vault.ledger().household(), entry, entry.view(), unix_secs())?;
    reply.code = shown;
    Ok(Reply::Code(reply))
}

/// The code to show for a body about to be written. Computed before anything
/// is written; an HOTP code shown counts as used, so the body's counter moves
/// on to the next.
fn show_code(body: &mut EntryBody) -> Result<String> {
    let shown = otp::code(&body.secret, &body.spec, unix_secs()).map_err(|e| bad(e.to_string()))?;
    if let OtpKind::Hotp { counter } = &mut body.spec.kind {
        *counter = counter
            .checked_add(1)
            .ok_or_else(|| bad("the HOTP counter is exhausted"))?;
    }
    Ok(shown)
}

pub fn code(vault: &mut Vault, query: &str, next: bool, previous: bool) -> Result<Reply> {
    let entry = match resolve(index(vault)?, query, Scope::Live) {
        Ok(entry) => entry,
        // No entry of its own: codes lent to this device, if any match.
        Err(e) if e.code == ErrorCode::NotFound && !previous => {
            return crate::lending::code(vault, query, next).unwrap_or(Err(e));
        }
        Err(e) => return Err(e),
    };
    let household = vault.ledger().household();
    let now = unix_secs();
    if previous {
        let version = entry.previous().ok_or_else(|| {
            IpcError::new(
                ErrorCode::NotFound,
                format!("{} has no previous secret", entry.view().label()),
            )
        })?;
        return code_reply(household, entry, &version.body, now).map(Reply::Code);
    }
    let view = entry.view();
    match view.spec.kind {
        OtpKind::Hotp { counter } => {
            // Each HOTP code is used once: advance the counter durably first.
            let reply = code_reply(household, entry, view, now)?;
            let collection = collection_of(vault, entry)?;
            let mut body = view.duplicate();
            body.spec.kind = OtpKind::Hotp {
                counter: counter
                    .checked_add(1)
                    .ok_or_else(|| bad("the HOTP counter is exhausted"))?,
            };
            body.edits = edits_from(view, &body);
            let (id, heads) = (entry.id(), entry.heads().to_vec());
            vault.write_entry(id, heads, &body, collection).map_err(internal)?;
            Ok(Reply::Code(reply))
        }
        OtpKind::Totp { period } => {
            let at = if next { now.saturating_add(period) } else { now };
            code_reply(household, entry, view, at).map(Reply::Code)
        }
        OtpKind::Steam => code_reply(household, entry, view, if next { now + 30 } else { now }).map(Reply::Code),
    }
}

/// Every live entry's current and next code, for the live view. HOTP
/// entries come without codes: showing one would use it up.
pub fn codes(vault: &Vault, clock_skew_ms: Option<i64>) -> Result<Reply> {
    let index = index(vault)?;
    let household = vault.ledger().household();
    let at = unix_secs();
    let mut entries = Vec::new();
    for entry in index.entries().filter(|e| !e.view().deleted) {
        let view = entry.view();
        let step = match view.spec.kind {
            OtpKind::Totp { period } => Some(period),
            // Steam Guard codes change every 30 s.
            OtpKind::Steam => Some(30),
            OtpKind::Hotp { .. } => None,
        };
        let (code, next) = match step {
            // An entry whose code cannot be made (it was checked when added)
            // shows without one rather than hiding the others.
            Some(step) => (
                otp::code(&view.secret, &view.spec, at).ok(),
                otp::code(&view.secret, &view.spec, at.saturating_add(step)).ok(),
            ),
            None => (None, None),
        };
        entries.push(LiveCode {
            entry: summary(household, entry),
            code,
            next,
        });
    }
    entries.extend(crate::lending::live(vault, at));
    entries.sort_by_key(|c| (c.entry.label().to_lowercase(), c.entry.id.clone()));
    Ok(Reply::Codes(CodesReply {
        at,
        entries,
        clock_skew_ms,
    }))
}

/// Every entry (live ones, or deleted ones too), or those `query` matches,
/// or those tagged `tag`. A query that matches nothing is not an error: the
/// list is empty.
pub fn list(vault: &Vault, deleted: bool, query: Option<&str>, tag: Option<&str>) -> Result<Reply> {
    let index = index(vault)?;
    let picked: Vec<&EntryHistory> = match query {
        Some(q) => index.find(q, deleted),
        None => index.entries().filter(|e| deleted || !e.view().deleted).collect(),
    };
    let tag = tag.map(|t| t.trim().to_lowercase());
    let mut entries: Vec<EntrySummary> = picked
        .into_iter()
        .filter(|e| {
            tag.as_deref()
                .is_none_or(|t| e.view().tags.iter().any(|have| have.to_lowercase() == t))
        })
        .map(|e| summary(vault.ledger().household(), e))
        .collect();
    entries.sort_by_key(|e| (e.label().to_lowercase(), e.id.clone()));
    Ok(Reply::Entries(entries))
}

/// The live entry `query` names; with `deleted`, deleted ones count too.
pub fn show(vault: &Vault, query: &str, deleted: bool) -> Result<Reply> {
    let scope = if deleted { Scope::All } else { Scope::Live };
    Ok(Reply::Entry(summary(
        vault.ledger().household(),
        resolve(index(vault)?, query, scope)?,
    )))
}

/// Writes a new version of the entry `query` names, changed by `change`,
/// claiming only the fields it changed (so that it re-dates no other field
/// in a merge). Nothing is written when `change` changes nothing, unless it
/// merges several heads.
pub fn edit(
    vault: &mut Vault,
    query: &str,
    scope: Scope,
    change: impl FnOnce(&mut EntryBody) -> Result<()>,
) -> Result<Reply> {
    let entry = resolve(index(vault)?, query, scope)?;
    let mut body = entry.view().duplicate();
    change(&mut body)?;
    body.edits = edits_from(entry.view(), &body);
    let (id, heads) = (entry.id(), entry.heads().to_vec());
    if body == *entry.view() && heads.len() == 1 {
        return Ok(Reply::Entry(summary(vault.ledger().household(), entry)));
    }
    let collection = collection_of(vault, entry)?;
    vault.write_entry(id, heads, &body, collection).map_err(internal)?;
    let entry = index(vault)?
        .get(&id)
        .ok_or_else(|| internal(anyhow::anyhow!("an entry vanished")))?;
    Ok(Reply::Entry(summary(vault.ledger().household(), entry)))
}

pub fn rotate(vault: &mut Vault, query: &str, otp: &NewSecret) -> Result<Reply> {
    let secret = secret_of(otp)?;
    let entry = resolve(index(vault)?, query, Scope::Live)?;
    if secret.ct_eq(&entry.view().secret) && otp.spec == entry.view().spec {
        return Err(bad("that is the entry's current secret already"));
    }
    let mut body = entry.view().duplicate();
    body.secret = secret;
    body.spec = otp.spec;
    let shown = show_code(&mut body)?;
    body.edits = edits_from(entry.view(), &body);
    let (id, heads) = (entry.id(), entry.heads().to_vec());
    let collection = collection_of(vault, entry)?;
    vault.write_entry(id, heads, &body, collection).map_err(internal)?;
    let entry = index(vault)?
        .get(&id)
        .ok_or_else(|| internal(anyhow::anyhow!("an entry vanished")))?;
    let mut reply = code_reply(vault.ledger().household(), entry, entry.view(), unix_secs())?;
    reply.code = shown;
    Ok(Reply::Code(reply))
}

fn fingerprint(secret: &Secret) -> String {
    let digest = Sha256::new()
        .chain_update(b"authsync fingerprint")
        .chain_update(secret.expose())
        .finalize();
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn device_name(vault: &Vault, device: &authsync_proto::ids::DeviceId) -> Option<String> {
    vault
        .ledger()
        .household()
        .and_then(|h| h.members.get(device))
        .map(|m| m.info.name.clone())
}

/// The versions of the live entry `query` names; with `deleted`, deleted
/// ones count too.
pub fn history(vault: &Vault, query: &str, deleted: bool) -> Result<Reply> {
    let scope = if deleted { Scope::All } else { Scope::Live };
    let entry = resolve(index(vault)?, query, scope)?;
    let versions = entry
        .versions()
        .iter()
        .map(|v| VersionInfo {
            record: v.record.to_string(),
            device: v.record.origin.to_string(),
            device_name: device_name(vault, &v.record.origin),
            time_ms: v.hlc.ms,
            change: describe_change(entry.base_of(v), &v.body),
            head: entry.heads().contains(&v.record),
            issuer: v.body.issuer.clone(),
            account: v.body.account.clone(),
            secret_fingerprint: fingerprint(&v.body.secret),
        })
        .collect();
    Ok(Reply::History(versions))
}

pub fn log(vault: &Vault, limit: Option<usize>) -> Result<Reply> {
    if !vault.is_initialized() {
        return Err(not_initialized());
    }
    let ledger = vault.ledger();
    let index = vault.unlocked().map(|u| &u.index);
    let mut records: Vec<_> = ledger.records().collect();
    records.sort_by_key(|r| std::cmp::Reverse((r.hlc, r.id)));
    let name = |d| device_name(vault, d).unwrap_or_else(|| d.short());
    let limit = limit.unwrap_or(usize::MAX);
    let mut events: Vec<LogEvent> = records
        .into_iter()
        .take(limit)
        .map(|record| {
            let mut event = LogEvent {
                time_ms: record.hlc.ms,
                device: record.id.origin.to_string(),
                device_name: device_name(vault, &record.id.origin),
                record: record.id.to_string(),
                what: String::new(),
                event: String::new(),
                entry: None,
                entry_label: None,
                changes: Vec::new(),
                subject_device: None,
                subject_device_name: None,
                key_number: None,
                sealed_to: None,
            };
            let devices = |n: usize| {
                if n == 1 {
                    "1 device".to_string()
                } else {
                    format!("{n} devices")
                }
            };
            let (kind, what) = match &record.body {
                Body::Genesis { founder } => {
                    event.subject_device = Some(record.id.origin.to_string());
                    event.subject_device_name = Some(founder.name.clone());
                    (
                        "household_started",
                        format!("started the household as {}", founder.name),
                    )
                }
                Body::Member { member, .. } => {
                    event.subject_device = Some(member.device.to_string());
                    event.subject_device_name = Some(member.name.clone());
                    (
                        "device_admitted",
                        format!("admitted device {} ({})", member.name, member.device.short()),
                    )
                }
                Body::Revoke { device, .. } => {
                    event.subject_device = Some(device.to_string());
                    event.subject_device_name = device_name(vault, device);
                    if *device == record.id.origin {
                        ("device_left", "left the household".to_string())
                    } else {
                        ("device_revoked", format!("revoked device {}", name(device)))
                    }
                }
                Body::Epoch {
                    epoch,
                    counter,
                    envelopes,
                    ..
                }
                | Body::CollectionEpoch {
                    epoch,
                    counter,
                    envelopes,
                    ..
                } => {
                    event.key_number = Some(*counter);
                    event.sealed_to = Some(envelopes.len());
                    let household = vault.ledger().household();
                    let held = household.and_then(|h| h.epochs.get(epoch));
                    let in_line = held.is_some_and(|e| e.in_line && e.created_by == record.id);
                    // `shared`'s is the household key, as before collections.
                    let key = match (household, held) {
                        (Some(_), Some(e)) if e.collection == CollectionId::SHARED => "the household key".to_string(),
                        (Some(h), Some(e)) => format!("the key of {}", h.collection_name(&e.collection)),
                        _ => "a collection key".to_string(),
                    };
                    if !in_line {
                        (
                            "key_out_of_line",
                            format!("made {key} #{counter}, which is not in line"),
                        )
                    } else if *counter == 0 {
                        ("key_created", format!("created {key}"))
                    } else {
                        (
                            "key_rotated",
                            format!("rotated {key} (#{counter}, sealed to {})", devices(envelopes.len())),
                        )
                    }
                }
                Body::Person { device, person } => {
                    event.subject_device = Some(device.to_string());
                    event.subject_device_name = device_name(vault, device);
                    let counted = vault
                        .ledger()
                        .household()
                        .and_then(|h| h.members.get(device))
                        .is_some_and(|m| m.person.as_deref() == Some(person.as_str()));
                    (
                        "device_person_set",
                        format!(
                            "said {} is {person}'s device{}",
                            name(device),
                            if counted {
                                ""
                            } else {
                                " (not counted: not one of that person's devices)"
                            }
                        ),
                    )
                }
                Body::Lend(lend) => {
                    let entry = index.and_then(|i| i.get(&lend.entry)).map(|e| e.view().label());
                    event.entry = Some(lend.entry.to_string());
                    event.entry_label = entry.clone();
                    (
                        "codes_lent",
                        format!(
                            "lent the codes of {} to {} for {} min",
                            entry.unwrap_or_else(|| "an entry".to_string()),
                            lend.to,
                            lend.until_secs.saturating_sub(lend.from_secs) / 60
                        ),
                    )
                }
                Body::Rename { device, name: new } => {
                    event.subject_device = Some(device.to_string());
                    event.subject_device_name = device_name(vault, device);
                    ("device_renamed", format!("renamed device {} to {new}", device.short()))
                }
                Body::Collection {
                    collection, persons, ..
                } => {
                    let label = vault.ledger().household().map_or_else(
                        || "a collection".to_string(),
                        |h| h.collection_name(collection).to_string(),
                    );
                    (
                        "collection_set",
                        format!("set who reads {label}: {}", persons.join(", ")),
                    )
                }
                Body::Envelopes { epoch, envelopes } => {
                    let counter = vault
                        .ledger()
                        .household()
                        .and_then(|h| h.epochs.get(epoch))
                        .map(|e| e.counter);
                    event.key_number = counter;
                    event.sealed_to = Some(envelopes.len());
                    let number = counter.map_or_else(|| "?".to_string(), |c| c.to_string());
                    (
                        "key_shared",
                        format!("shared household key #{number} with {}", devices(envelopes.len())),
                    )
                }
                Body::Entry(sealed) => {
                    let seen = index.and_then(|i| i.get(&sealed.entry)).and_then(|e| {
                        let v = e.versions().iter().find(|v| v.record == record.id)?;
                        Some((e.base_of(v), &v.body))
                    });
                    match seen {
                        Some((base, body)) => {
                            event.entry = Some(sealed.entry.to_string());
                            event.entry_label = Some(body.label());
                            event.changes = changes(base, body).into_iter().map(|c| c.name().to_string()).collect();
                            ("entry_changed", describe_change(base, body))
                        }
                        None => ("entry_unreadable", "changed an entry (unlock to see which)".to_string()),
                    }
                }
            };
            event.event = kind.to_string();
            event.what = what;
            event
        })
        .collect();
    // What no record says (offers, dismissals), newest first with the rest;
    // the sort is stable, so records of one millisecond keep their order.
    events.extend(crate::journal::log_events(vault).into_iter().rev());
    events.sort_by_key(|e| std::cmp::Reverse(e.time_ms));
    events.truncate(limit);
    Ok(Reply::Log(events))
}

/// Undeletes the deleted entry `query` names. A query that names only a
/// live entry says so, rather than "no entry matches".
pub fn restore(vault: &mut Vault, query: &str) -> Result<Reply> {
    let index = index(vault)?;
    if let Err(e) = resolve(index, query, Scope::Deleted) {
        if e.code == ErrorCode::NotFound {
            if let Ok(live) = resolve(index, query, Scope::Live) {
                return Err(bad(format!(
                    "{} is not deleted; nothing to restore (`authctl list --deleted` shows deleted entries)",
                    live.view().label()
                )));
            }
        }
        return Err(e);
    }
    edit(vault, query, Scope::Deleted, |body| {
        body.deleted = false;
        Ok(())
    })
}

/// Adds `entries` in one durable batch, all or nothing. An invalid entry
/// refuses the whole request; one equal to a live entry, or to an earlier
/// one of the batch ([`same_entry`]: names, secret, kind, algorithm, digits
/// and period), is skipped.
pub fn import(vault: &mut Vault, entries: Vec<NewEntry>, collection: CollectionId) -> Result<Reply> {
    index(vault)?;
    if entries.len() > MAX_IMPORT_ENTRIES {
        return Err(IpcError::new(
            ErrorCode::TooLarge,
            format!("at most {MAX_IMPORT_ENTRIES} entries can be imported at once"),
        ));
    }
    let mut bodies: Vec<(EntryId, EntryBody)> = Vec::new();
    let mut skipped = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let label = match entry.issuer.as_deref().filter(|i| !i.is_empty()) {
            Some(issuer) => format!("{issuer}: {}", entry.account),
            None => entry.account.clone(),
        };
        let secret = secret_of(&entry.otp).map_err(|e| bad(format!("entry {} ({label}): {}", i + 1, e.message)))?;
        if entry.account.trim().is_empty() && entry.issuer.as_deref().unwrap_or("").trim().is_empty() {
            return Err(bad(format!(
                "entry {} has neither an issuer nor an account name",
                i + 1
            )));
        }
        let body = EntryBody {
            issuer: entry.issuer.filter(|i| !i.is_empty()),
            account: entry.account,
            secret,
            spec: entry.otp.spec,
            tags: entry.tags,
            note: entry.note,
            deleted: false,
            edits: Edits::ALL,
        };
        body.check_size()
            .map_err(|e| bad(format!("entry {} ({label}): {e}; nothing was imported", i + 1)))?;
        let present = index(vault)?.already_holds(&body).is_some();
        if present || bodies.iter().any(|(_, b)| same_entry(b, &body)) {
            skipped.push(label);
            continue;
        }
        let mut id = [0u8; 16];
        OsRng.fill_bytes(&mut id);
        bodies.push((EntryId(id), body));
    }
    if !bodies.is_empty() {
        vault.write_new_entries(&bodies, collection).map_err(internal)?;
    }
    let index = index(vault)?;
    let imported = bodies
        .iter()
        .filter_map(|(id, _)| index.get(id))
        .map(|e| summary(vault.ledger().household(), e))
        .collect();
    Ok(Reply::Imported(ImportReply { imported, skipped }))
}

/// Live entries (those `query` matches, or all) with their secrets.
pub fn reveal(vault: &Vault, query: Option<&str>) -> Result<Reply> {
    let index = index(vault)?;
    let mut found: Vec<&EntryHistory> = match query {
        Some(q) => {
            let found = index.find(q, false);
            if found.is_empty() {
                return Err(not_found(index, q, false));
            }
            found
        }
        None => index.entries().filter(|e| !e.view().deleted).collect(),
    };
    found.sort_by_key(|e| (e.view().label().to_lowercase(), e.id().to_string()));
    Ok(Reply::Revealed(
        found
            .into_iter()
            .map(|e| RevealedEntry {
                entry: summary(vault.ledger().household(), e),
                secret: WireSecret::new(e.view().secret.to_base32().to_string()),
            })
            .collect(),
    ))
}
