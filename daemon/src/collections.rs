//! Persons and collections: who a device belongs to, who reads what, and
//! moving an entry between collections (authority rules 10 and 11).

use std::collections::BTreeSet;

use authsync_proto::authority::{Household, Kind};
use authsync_proto::entries::edits_from;
use authsync_proto::ids::{CollectionId, DeviceId};
use authsync_proto::ipc::{CollectionInfo, ErrorCode, IpcError, PersonInfo, Reply};
use authsync_proto::record::{Body, Edits, check_name};
use rand::RngCore;
use rand::rngs::OsRng;

use crate::daemon::Daemon;
use crate::handlers::{self, Scope, collection_named, internal, not_initialized};
use crate::vault::Vault;

type Result<T> = std::result::Result<T, IpcError>;

fn bad(message: impl Into<String>) -> IpcError {
    IpcError::new(ErrorCode::BadRequest, message)
}

fn household(vault: &Vault) -> Result<&Household> {
    vault.ledger().household().ok_or_else(not_initialized)
}

/// A person name as given: checked, and matched case-insensitively to a
/// person the household has.
fn person_name(household: &Household, name: &str) -> Result<String> {
    let name = name.trim();
    check_name(name).map_err(|e| bad(format!("'{name}' is not a person name: {e}")))?;
    Ok(household
        .persons()
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(name))
        .unwrap_or(name)
        .to_owned())
}

fn existing_person(household: &Household, name: &str) -> Result<String> {
    let name = person_name(household, name)?;
    if !household.persons().contains(name.as_str()) {
        return Err(IpcError::new(
            ErrorCode::NotFound,
            format!("no person of this household is called '{name}'; `authctl persons` lists them"),
        ));
    }
    Ok(name)
}

fn my_person(vault: &Vault) -> Option<String> {
    let household = vault.ledger().household()?;
    household.members.get(&vault.device_id()?)?.person.clone()
}

/// The reply to `persons`: each person with their current devices; devices
/// of no person last.
pub fn persons(vault: &Vault) -> Result<Reply> {
    let household = household(vault)?;
    let me = vault.device_id();
    let mut people: Vec<PersonInfo> = Vec::new();
    let mut names: Vec<Option<&str>> = household.persons().into_iter().map(Some).collect();
    if household.current_members().any(|m| m.person.is_none()) {
        names.push(None);
    }
    for name in names {
        let devices: Vec<_> = household
            .current_members()
            .filter(|m| m.person.as_deref() == name)
            .collect();
        people.push(PersonInfo {
            name: name.map(str::to_owned),
            devices: devices.iter().map(|m| m.info.name.clone()).collect(),
            this_device: devices.iter().any(|m| Some(m.info.device) == me),
        });
    }
    Ok(Reply::Persons(people))
}

/// The reply to `collections`: each with its persons and the live entries
/// this device reads in it.
pub fn collections(vault: &Vault) -> Result<Reply> {
    let household = household(vault)?;
    let me = vault.device_id().ok_or_else(not_initialized)?;
    let index = vault.unlocked().map(|u| &u.index);
    let list = household
        .collections()
        .into_iter()
        .map(|c| {
            let entries = index.map_or(0, |index| {
                index
                    .entries()
                    .filter(|e| !e.view().deleted)
                    .filter(|e| e.epoch().and_then(|ep| household.collection_of(&ep)) == Some(c.id))
                    .count()
            });
            CollectionInfo {
                readable: household.reads(&c.id, &me),
                kind: match c.kind {
                    Kind::Shared => "shared",
                    Kind::Personal(_) => "personal",
                    Kind::Named => "named",
                }
                .to_owned(),
                name: c.name,
                persons: c.persons.map(|p| p.into_iter().collect()),
                entries,
            }
        })
        .collect();
    Ok(Reply::Collections(list))
}

/// A collection a `Collection` record may change: `shared` or a named one.
fn changeable(household: &Household, vault: &Vault, name: &str) -> Result<CollectionId> {
    let id = collection_named(vault, name)?;
    if household.personal.contains_key(&id) {
        return Err(bad(format!(
            "'{name}' is a person's own collection, read by that person's devices only; make a named one with `authctl collection new`"
        )));
    }
    Ok(id)
}

/// The persons a collection has now, as a `Collection` record would list
/// them (`shared` before its membership was set: every person).
fn persons_of(household: &Household, id: &CollectionId) -> BTreeSet<String> {
    match household.collection(id).and_then(|c| c.persons) {
        Some(persons) => persons,
        None => household.persons().into_iter().map(str::to_owned).collect(),
    }
}

fn declare(
    vault: &mut Vault,
    collection: CollectionId,
    name: String,
    persons: BTreeSet<String>,
    why: &str,
) -> Result<()> {
    vault
        .write_membership(
            Body::Collection {
                collection,
                name,
                persons: persons.into_iter().collect(),
            },
            why,
        )
        .map_err(|e| bad(format!("{e:#}")))
}

/// `collection new NAME --with PERSON,...`: a named collection read by this
/// device's person and `with`.
pub fn collection_new(vault: &mut Vault, name: &str, with: &[String]) -> Result<Reply> {
    let household = household(vault)?;
    let name = name.trim();
    check_name(name).map_err(|e| bad(format!("'{name}' cannot name a collection: {e}")))?;
    if household
        .collections()
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case(name))
    {
        return Err(IpcError::new(
            ErrorCode::AlreadyExists,
            format!("a collection (or person) is called '{name}' already; choose another name"),
        ));
    }
    let mine = my_person(vault)
        .ok_or_else(|| bad("this device belongs to no person yet: run `authctl device set-person` first"))?;
    let mut persons = BTreeSet::from([mine]);
    for person in with {
        persons.insert(existing_person(household, person)?);
    }
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    declare(
        vault,
        CollectionId(id),
        name.to_owned(),
        persons,
        "the collection could not be made",
    )?;
    collections(vault)
}

/// `collection add NAME PERSON`.
pub fn collection_add(vault: &mut Vault, name: &str, person: &str) -> Result<Reply> {
    let household = household(vault)?;
    let id = changeable(household, vault, name)?;
    let person = existing_person(household, person)?;
    let mut persons = persons_of(household, &id);
    if !persons.insert(person.clone()) {
        return Err(bad(format!("{person} is in {name} already; nothing was changed")));
    }
    let label = household.collection_name(&id).to_owned();
    declare(
        vault,
        id,
        label,
        persons,
        "only a person in a collection can change who is in it",
    )?;
    collections(vault)
}

impl Daemon {
    /// `collection remove NAME PERSON`: the collection's next epoch is sealed
    /// to the others; replies with what that person's devices could read of
    /// it.
    pub fn collection_remove(&self, name: &str, person: &str) -> Result<Reply> {
        let (label, devices) = {
            let mut vault = self.vault();
            let household = household(&vault)?;
            let id = changeable(household, &vault, name)?;
            let person = existing_person(household, person)?;
            let mut persons = persons_of(household, &id);
            if !persons.remove(&person) {
                return Err(bad(format!("{person} is not in {name}; nothing was changed")));
            }
            if persons.is_empty() {
                return Err(bad(format!(
                    "{person} is the only person in {name}: a collection needs someone to read it"
                )));
            }
            let devices: Vec<DeviceId> = household
                .members
                .values()
                .filter(|m| m.person.as_deref() == Some(person.as_str()))
                .map(|m| m.info.device)
                .collect();
            let label = household.collection_name(&id).to_owned();
            declare(
                &mut vault,
                id,
                label.clone(),
                persons,
                "only a person in a collection can change who is in it",
            )?;
            (label, devices)
        };
        let vault = self.vault();
        match self.exposure(&vault, devices, true)? {
            // This collection's entries only: what else they lost is on
            // the checklist already.
            Reply::Exposure(mut reports) => {
                for report in &mut reports {
                    report.entries.retain(|e| e.entry.collection == label);
                }
                Ok(Reply::Exposure(reports))
            }
            other => Ok(other),
        }
    }

    /// `revoke --person NAME`: revokes every current device of a person, then
    /// starts new epochs of what they could read; replies with what each
    /// could read.
    pub fn revoke_person(&self, person: &str) -> Result<Reply> {
        let devices = {
            let mut vault = self.vault();
            let household = household(&vault)?;
            let person = existing_person(household, person)?;
            let devices: Vec<DeviceId> = household
                .current_members()
                .filter(|m| m.person.as_deref() == Some(person.as_str()))
                .map(|m| m.info.device)
                .collect();
            if vault.device_id().is_some_and(|me| devices.contains(&me)) {
                return Err(bad(format!(
                    "this device is one of {person}'s; run `revoke --person` from another person's device"
                )));
            }
            if vault.unlocked().is_none() {
                return Err(IpcError::new(
                    ErrorCode::Locked,
                    "the vault is locked; run `authctl unlock`",
                ));
            }
            vault.revoke_all(&devices).map_err(internal)?;
            devices
        };
        self.refresh_trust();
        tracing::info!(devices = devices.len(), "revoked a person's devices");
        let vault = self.vault();
        self.exposure(&vault, devices, false)
    }

    /// `device rename DEVICE NAME`.
    pub fn device_rename(&self, device: &str, name: &str) -> Result<Reply> {
        let mut vault = self.vault();
        let target = crate::membership::resolve_device(&vault, device)?;
        let name = name.trim();
        check_name(name).map_err(|e| bad(format!("'{name}' cannot name a device: {e}")))?;
        let household = household(&vault)?;
        if household
            .current_members()
            .any(|m| m.info.device != target && m.info.name.eq_ignore_ascii_case(name))
        {
            return Err(IpcError::new(
                ErrorCode::AlreadyExists,
                format!("another device is called '{name}' already; choose another name"),
            ));
        }
        vault
            .write_membership(
                Body::Rename {
                    device: target,
                    name: name.to_owned(),
                },
                "a device can be renamed by itself or by a device of its person, and this one is neither (or has that name already)",
            )
            .map_err(|e| bad(format!("{e:#}")))?;
        drop(vault);
        Ok(self.devices(&self.vault()))
    }

    /// `device set-person DEVICE PERSON`.
    pub fn device_set_person(&self, device: &str, person: &str) -> Result<Reply> {
        let mut vault = self.vault();
        let target = crate::membership::resolve_device(&vault, device)?;
        let household = household(&vault)?;
        let person = person_name(household, person)?;
        vault
            .write_membership(
                Body::Person {
                    device: target,
                    person: person.clone(),
                },
                &format!(
                    "only one of {person}'s own devices can add a device to {person} (or anyone, for a new person); run this on one of {person}'s devices"
                ),
            )
            .map_err(|e| bad(format!("{e:#}")))?;
        drop(vault);
        Ok(self.devices(&self.vault()))
    }
}

/// `share QUERY --with PERSON | --household | --in C`: moves the entry to
/// `collection`: the line in its old collection is closed (a deleted
/// version there), and a new version in the new one carries every field.
pub fn share(vault: &mut Vault, query: &str, collection: CollectionId) -> Result<Reply> {
    let index = vault
        .unlocked()
        .map(|u| &u.index)
        .ok_or_else(|| IpcError::new(ErrorCode::Locked, "the vault is locked; run `authctl unlock`"))?;
    let entry = handlers::resolve(index, query, Scope::Live)?;
    let from = handlers::collection_of(vault, entry)?;
    let household = household(vault)?;
    if from == collection {
        return Err(bad(format!(
            "{} is in {} already; nothing was changed",
            entry.view().label(),
            household.collection_name(&collection)
        )));
    }
    let me = vault.device_id().ok_or_else(not_initialized)?;
    if !household.reads(&collection, &me) {
        return Err(bad(format!(
            "this device cannot write to {}: its person is not in it",
            household.collection_name(&collection)
        )));
    }
    let view = entry.view();
    let mut closed = view.duplicate();
    closed.deleted = true;
    closed.edits = edits_from(view, &closed);
    let mut moved = view.duplicate();
    moved.deleted = false;
    moved.edits = Edits::ALL;
    let (id, heads) = (entry.id(), entry.heads().to_vec());
    vault
        .write_versions(vec![(id, heads, &closed, from), (id, Vec::new(), &moved, collection)])
        .map_err(internal)?;
    let entry = vault
        .unlocked()
        .and_then(|u| u.index.get(&id))
        .ok_or_else(|| internal(anyhow::anyhow!("a moved entry vanished")))?;
    Ok(Reply::Entry(handlers::summary(vault.ledger().household(), entry)))
}

/// The collection `share --with PERSON` moves to: the named collection
/// read by exactly this device's person and `person`, made (called
/// `alice+bob`) if there is none.
pub fn pair_collection(vault: &mut Vault, person: &str) -> Result<CollectionId> {
    let household = household(vault)?;
    let mine = my_person(vault)
        .ok_or_else(|| bad("this device belongs to no person yet: run `authctl device set-person` first"))?;
    let other = existing_person(household, person)?;
    if other == mine {
        return Ok(CollectionId::personal(&mine));
    }
    let wanted = BTreeSet::from([mine.clone(), other.clone()]);
    if let Some(found) = household
        .collections()
        .into_iter()
        .find(|c| c.kind == Kind::Named && c.persons.as_ref() == Some(&wanted))
    {
        return Ok(found.id);
    }
    let name = format!("{mine}+{other}");
    let mut id = [0u8; 16];
    OsRng.fill_bytes(&mut id);
    let id = CollectionId(id);
    declare(vault, id, name, wanted, "the collection could not be made")?;
    Ok(id)
}

impl Daemon {
    /// `unshare QUERY`: moves the entry back to this device's person's own
    /// collection; replies with the devices of the persons who could read
    /// it, and only that entry.
    pub fn unshare(&self, query: &str) -> Result<Reply> {
        let (id, devices) = {
            let mut vault = self.vault();
            let mine = my_person(&vault).ok_or_else(|| {
                bad("this device belongs to no person, so it has no collection of its own: run `authctl device set-person` first")
            })?;
            let target = CollectionId::personal(&mine);
            let household = household(&vault)?;
            let index = vault
                .unlocked()
                .map(|u| &u.index)
                .ok_or_else(|| IpcError::new(ErrorCode::Locked, "the vault is locked; run `authctl unlock`"))?;
            let entry = handlers::resolve(index, query, Scope::Live)?;
            let from = handlers::collection_of(&vault, entry)?;
            let devices: Vec<DeviceId> = household
                .members
                .values()
                .filter(|m| household.reads(&from, &m.info.device) && !household.reads(&target, &m.info.device))
                .map(|m| m.info.device)
                .collect();
            let id = entry.id();
            share(&mut vault, query, target)?;
            (id, devices)
        };
        let vault = self.vault();
        match self.exposure(&vault, devices, true)? {
            Reply::Exposure(mut reports) => {
                for report in &mut reports {
                    report.entries.retain(|e| e.entry.id == id.to_string());
                }
                reports.retain(|r| !r.entries.is_empty());
                Ok(Reply::Exposure(reports))
            }
            other => Ok(other),
        }
    }
}
