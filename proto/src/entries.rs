//! Decrypted entries: each entry's version DAG, its heads, and the merged view.
//!
//! An entry's versions form a DAG through `parents`; its heads are the
//! versions no other version names as a parent. With one head, that is the
//! entry. With several (edits made apart), the view is merged field by field
//! when read and never written back. Each field is a last-writer-wins
//! register: every version says which fields it edits (`EntryBody::edits`),
//! and a field's value is that of the newest version (by HLC, then record id)
//! that edits it, however many versions merged or edited other fields since.
//! An HOTP counter takes the maximum of the heads with the winning secret; the
//! entry is deleted only if every head is (an edit concurrent with a delete
//! keeps it alive). The next local edit names every head as a parent and
//! claims only the fields it changed ([`edits_from`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::authority::Household;
use crate::crypto::{BoxKey, SymKey};
use crate::hlc::Hlc;
use crate::ids::{DeviceId, EntryId, EpochId, RecordId};
use crate::ledger::Ledger;
use crate::otp::{OtpKind, OtpSpec};
use crate::query::{Fuzzy, Match};
use crate::record::{Body, Edits, EntryBody, Record};

/// One decrypted version of an entry.
#[derive(Debug)]
pub struct Version {
    /// The record it came in.
    pub record: RecordId,
    /// When it was written.
    pub hlc: Hlc,
    /// The versions it supersedes.
    pub parents: Vec<RecordId>,
    /// The epoch whose key sealed it: who could read it.
    pub epoch: EpochId,
    /// Its content.
    pub body: EntryBody,
}

/// Every readable version of one entry, and its merged view.
#[derive(Debug)]
pub struct EntryHistory {
    id: EntryId,
    /// Newest first. A `Vec`, not a map: entries have few versions, and
    /// 10,000 one-version maps would cost a 3 KB B-tree node each.
    versions: Vec<Version>,
    heads: Vec<RecordId>,
    /// The merge of the heads, when there are several (one head is the view).
    /// Boxed: rare, and inline it made every entry ~170 bytes larger in the
    /// index's B-tree (issue 15, memory).
    merged: Option<Box<EntryBody>>,
    /// Lowercased names and the id as text, kept with the view so that
    /// `find` (on every `authctl code`) allocates nothing per entry.
    search: SearchKey,
}

#[derive(Debug, Default)]
struct SearchKey {
    issuer: String,
    account: String,
    id: String,
}

impl SearchKey {
    /// The lowercased strings a query must equal to name this entry
    /// exactly (issuer, account, id, `issuer:account`), each as the pieces
    /// that make it up.
    fn exact_names(&self) -> impl Iterator<Item = [&str; 3]> + '_ {
        let named = !self.issuer.is_empty();
        [
            named.then_some([self.issuer.as_str(), "", ""]),
            Some([self.account.as_str(), "", ""]),
            Some([self.id.as_str(), "", ""]),
            named.then_some([self.issuer.as_str(), ":", self.account.as_str()]),
        ]
        .into_iter()
        .flatten()
    }

    /// Whether `q` (lowercased) is one of [`SearchKey::exact_names`].
    fn is_named(&self, q: &str) -> bool {
        let named = !self.issuer.is_empty();
        (named && q == self.issuer)
            || q == self.account
            || q == self.id
            || (named
                && q.strip_prefix(self.issuer.as_str())
                    .and_then(|rest| rest.strip_prefix(':'))
                    == Some(&self.account))
    }

    /// `Some(true)` for an exact match, `Some(false)` for a partial one.
    fn matches(&self, q: &str) -> Option<bool> {
        crate::query::exact_or_partial(q, &self.issuer, &self.account, &self.id).map(|m| m == Match::Exact)
    }
}

/// The spec with the HOTP counter cleared: what a rotation changes.
fn otp_identity(spec: &OtpSpec) -> OtpSpec {
    let mut spec = *spec;
    if let OtpKind::Hotp { counter } = &mut spec.kind {
        *counter = 0;
    }
    spec
}

fn same_otp(a: &EntryBody, b: &EntryBody) -> bool {
    a.secret.ct_eq(&b.secret) && otp_identity(&a.spec) == otp_identity(&b.spec)
}

/// The fields `after` changes from `before`, the view it was edited from:
/// what a new version written with `after` claims to edit, and so what the
/// merge dates by its clock. Every write of a new version of an existing
/// entry sets `edits` to this (a new entry edits [`Edits::ALL`]).
pub fn edits_from(before: &EntryBody, after: &EntryBody) -> Edits {
    let mut edits = Edits::NONE;
    for (changed, field) in [
        (before.issuer != after.issuer, Edits::ISSUER),
        (before.account != after.account, Edits::ACCOUNT),
        (!same_otp(before, after), Edits::OTP),
        (same_otp(before, after) && before.spec != after.spec, Edits::COUNTER),
        (before.tags != after.tags, Edits::TAGS),
        (before.note != after.note, Edits::NOTE),
        (before.deleted != after.deleted, Edits::DELETED),
    ] {
        if changed {
            edits |= field;
        }
    }
    edits
}

/// Whether `a` and `b` are the same account: same issuer, account, secret
/// (constant-time), kind, algorithm, digits and period. An HOTP counter
/// does not count (it moves with use); two entries that differ only in
/// algorithm make different codes and are two entries.
pub fn same_entry(a: &EntryBody, b: &EntryBody) -> bool {
    a.issuer == b.issuer && a.account == b.account && same_otp(a, b)
}

impl EntryHistory {
    fn new(id: EntryId) -> Self {
        EntryHistory {
            id,
            versions: Vec::new(),
            heads: Vec::new(),
            merged: None,
            search: SearchKey::default(),
        }
    }

    /// The entry's id.
    pub fn id(&self) -> EntryId {
        self.id
    }

    fn insert(&mut self, version: Version) {
        if self.version(&version.record).is_some() {
            return;
        }
        let at = self
            .versions
            .partition_point(|v| (v.hlc, v.record) > (version.hlc, version.record));
        if self.versions.is_empty() {
            // Most entries keep one version: a first push would reserve
            // four (~1 KB), 7.5 MB of a 10,000-entry index.
            self.versions.reserve_exact(1);
        }
        self.versions.insert(at, version);
        self.heads = match self.versions.as_slice() {
            // Most entries: one version, its own head unless it names
            // itself (no set to build; issue 15, start-up).
            [only] if only.parents.contains(&only.record) => Vec::new(),
            [only] => vec![only.record],
            versions => {
                let superseded: BTreeSet<RecordId> = versions.iter().flat_map(|v| v.parents.iter().copied()).collect();
                versions
                    .iter()
                    .filter(|v| !superseded.contains(&v.record))
                    .map(|v| v.record)
                    .collect()
            }
        };
        self.merged = if self.heads.len() > 1 {
            self.merge().map(Box::new)
        } else {
            None
        };
        let view = self.view();
        self.search = SearchKey {
            issuer: view.issuer.as_deref().unwrap_or("").to_lowercase(),
            account: view.account.to_lowercase(),
            id: self.id.to_string(),
        };
    }

    /// The current heads, newest first.
    pub fn heads(&self) -> &[RecordId] {
        &self.heads
    }

    /// The merged current state.
    pub fn view(&self) -> &EntryBody {
        match &self.merged {
            Some(merged) => merged,
            None => {
                // No head only if every version is named as a parent: a cycle,
                // which only a misbehaving member can sign. The newest stands in.
                let head = self.heads.first().and_then(|id| self.version(id));
                &head
                    .or(self.versions.first())
                    .expect("an entry history always holds at least one version")
                    .body
            }
        }
    }

    /// The epoch of its newest head: its collection is that epoch's.
    pub fn epoch(&self) -> Option<EpochId> {
        self.versions
            .iter()
            .find(|v| self.heads.contains(&v.record))
            .map(|v| v.epoch)
    }

    /// Every version, newest first.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// One version.
    pub fn version(&self, record: &RecordId) -> Option<&Version> {
        self.versions.iter().find(|v| v.record == *record)
    }

    /// The secret the entry used before its current one: the newest version
    /// holding the value of the newest rotation (or the addition) whose
    /// secret differs from the current one. The newest version holding it,
    /// not the rotation itself, so that an HOTP counter is its latest.
    pub fn previous(&self) -> Option<&Version> {
        let current = self.view();
        let rotation = self
            .versions
            .iter()
            .find(|v| v.body.edits.contains(Edits::OTP) && !same_otp(&v.body, current))?;
        self.versions.iter().find(|v| same_otp(&v.body, &rotation.body))
    }

    /// The version `v` was edited from: its newest parent.
    fn base(&self, v: &Version) -> Option<&Version> {
        v.parents
            .iter()
            .filter_map(|p| self.version(p))
            .max_by_key(|p| (p.hlc, p.record))
    }

    fn merge(&self) -> Option<EntryBody> {
        let heads: Vec<&Version> = self.heads.iter().filter_map(|id| self.version(id)).collect();
        let newest = heads.first()?;
        // Each field's value is that of the newest version that edits it.
        // Versions are kept newest first, and each is newer than its parents
        // (its clock ticks past every record its device held), so this is
        // also the newest of the edit stamps each head carries down its DAG.
        let edited = |field: Edits| -> &EntryBody {
            self.versions
                .iter()
                .find(|v| v.body.edits.contains(field))
                .map_or(&newest.body, |v| &v.body)
        };
        let otp = edited(Edits::OTP);
        let mut spec = otp.spec;
        if let OtpKind::Hotp { counter } = &mut spec.kind {
            *counter = heads
                .iter()
                .filter(|h| same_otp(&h.body, otp))
                .filter_map(|h| match h.body.spec.kind {
                    OtpKind::Hotp { counter } => Some(counter),
                    _ => None,
                })
                .max()
                .unwrap_or(*counter);
        }
        Some(EntryBody {
            issuer: edited(Edits::ISSUER).issuer.clone(),
            account: edited(Edits::ACCOUNT).account.clone(),
            secret: otp.secret.duplicate(),
            spec,
            tags: edited(Edits::TAGS).tags.clone(),
            note: edited(Edits::NOTE).note.clone(),
            deleted: heads.iter().all(|h| h.body.deleted),
            edits: Edits::NONE,
        })
    }
}

/// The decrypted entries of a ledger, kept only while the vault is unlocked.
#[derive(Default)]
pub struct Index {
    keys: BTreeMap<EpochId, SymKey>,
    entries: BTreeMap<EntryId, EntryHistory>,
    /// Exact names (see [`SearchKey::exact_names`]) → entries, so the usual
    /// `authctl code amazon` is a hash lookup, not a scan.
    by_name: Names,
    unreadable: usize,
    lent: Vec<Lent>,
}

/// Exact names → the entries they may name, by a keyed hash of the name
/// rather than the name itself: four names an entry as strings were 40,000
/// allocations of a 10,000-entry start, and the largest part of building
/// the index after decryption (issue 15, start-up). A lookup confirms each
/// entry against its own names ([`SearchKey::is_named`]), so two names
/// with one hash only share a list.
#[derive(Default)]
struct Names {
    keys: std::hash::RandomState,
    map: HashMap<u64, Named>,
}

/// The entries under one name's hash: nearly always one.
enum Named {
    One(EntryId),
    Many(Vec<EntryId>),
}

impl Names {
    /// The hash of the name made of `pieces`, one after the other.
    fn hash(&self, pieces: &[&str]) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = self.keys.build_hasher();
        for piece in pieces {
            hasher.write(piece.as_bytes());
        }
        hasher.finish()
    }

    fn reserve(&mut self, names: usize) {
        self.map.reserve(names);
    }

    fn get(&self, name: &str) -> &[EntryId] {
        match self.map.get(&self.hash(&[name])) {
            Some(Named::One(id)) => std::slice::from_ref(id),
            Some(Named::Many(ids)) => ids,
            None => &[],
        }
    }

    fn insert(&mut self, name: &[&str], entry: EntryId) {
        let hash = self.hash(name);
        match self.map.entry(hash) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Named::One(entry));
            }
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                let named = slot.get_mut();
                // An issuer and account that are the same word name it once.
                match named {
                    Named::One(id) if *id == entry => {}
                    Named::One(id) => *named = Named::Many(vec![*id, entry]),
                    Named::Many(ids) if ids.contains(&entry) => {}
                    Named::Many(ids) => ids.push(entry),
                }
            }
        }
    }

    fn remove(&mut self, name: &[&str], entry: EntryId) {
        let hash = self.hash(name);
        let empty = match self.map.get_mut(&hash) {
            Some(Named::One(id)) => *id == entry,
            Some(Named::Many(ids)) => {
                ids.retain(|id| *id != entry);
                ids.is_empty()
            }
            None => false,
        };
        if empty {
            self.map.remove(&hash);
        }
    }
}

/// Codes lent to this device ([`crate::lend`]): no secret.
#[derive(Debug)]
pub struct Lent {
    /// The `Lend` record.
    pub record: RecordId,
    /// The codes and what they are for.
    pub codes: crate::lend::LentCodes,
}

impl Index {
    /// Decrypts every entry of `ledger` that `me`, holding `box_key`, can read.
    pub fn build(ledger: &Ledger, me: &DeviceId, box_key: &BoxKey) -> Index {
        Index::build_on(ledger, me, box_key, 1)
    }

    /// [`Index::build`], decrypting on up to `threads` threads; the index
    /// is the same, built in record order on this one.
    pub fn build_on(ledger: &Ledger, me: &DeviceId, box_key: &BoxKey, threads: usize) -> Index {
        let mut index = Index::default();
        if let Some(household) = ledger.household() {
            index.keys = household.open_epoch_keys(me, box_key);
            // Up to four names an entry (issuer, account, both, id), most
            // entries one version: sized once rather than rehashed as it
            // grows (6% of a 10,000-entry start, issue 15).
            index.by_name.reserve(ledger.len().saturating_mul(4));
            let records: Vec<&Record> = ledger.records().collect();
            // Opened a slice at a time: all 10,000 bodies' slots at once
            // were 1.5 MB that the allocator kept after (issue 15, memory).
            const SLICE: usize = 2048;
            for slice in records.chunks(SLICE) {
                let opened = index.open_all(household, slice, threads);
                for (record, opened) in slice.iter().zip(opened) {
                    index.apply_opened(record, opened);
                    if let Body::Lend(lend) = &record.body {
                        if household.accepts(record.id) {
                            if let Ok(codes) = lend.open(&household.id, me, box_key) {
                                index.lent.push(Lent {
                                    record: record.id,
                                    codes,
                                });
                            }
                        }
                    }
                }
            }
        }
        index
    }

    /// Adds one newly admitted `Entry` record (others are ignored).
    pub fn apply(&mut self, household: &Household, record: &Record) {
        let opened = self.open(household, record);
        self.apply_opened(record, opened);
    }

    /// What [`Index::apply`] reads of `record`: `None` if it is not an
    /// entry the household counts, else its body if this device can open it.
    fn open(&self, household: &Household, record: &Record) -> Option<Option<EntryBody>> {
        let Body::Entry(sealed) = &record.body else {
            return None;
        };
        if !household.accepts(record.id) {
            return None;
        }
        let opened = self.keys.get(&sealed.epoch).and_then(|key| record.open_entry(key));
        Some(opened.and_then(Result::ok))
    }

    /// [`Index::open`] of each of `records`, in order, on up to `threads`
    /// threads: decryption is most of building the index (issue 15).
    fn open_all(&self, household: &Household, records: &[&Record], threads: usize) -> Vec<Option<Option<EntryBody>>> {
        /// Below this many records a thread of its own costs more than it saves.
        const MIN_PER_THREAD: usize = 256;
        crate::par::map(records, threads, MIN_PER_THREAD, |r| self.open(household, r))
    }

    /// Adds `record`, as [`Index::open`] read it.
    fn apply_opened(&mut self, record: &Record, opened: Option<Option<EntryBody>>) {
        let (Body::Entry(sealed), Some(opened)) = (&record.body, opened) else {
            return;
        };
        let Some(body) = opened else {
            self.unreadable += 1;
            return;
        };
        let history = self
            .entries
            .entry(sealed.entry)
            .or_insert_with(|| EntryHistory::new(sealed.entry));
        // A new entry has no names yet to take back.
        if !history.versions.is_empty() {
            for name in history.search.exact_names() {
                self.by_name.remove(&name, sealed.entry);
            }
        }
        history.insert(Version {
            record: record.id,
            hlc: record.hlc,
            parents: sealed.parents.clone(),
            epoch: sealed.epoch,
            body,
        });
        for name in history.search.exact_names() {
            self.by_name.insert(&name, sealed.entry);
        }
    }

    /// The key of `epoch`, if this device holds it.
    pub fn epoch_key(&self, epoch: &EpochId) -> Option<&SymKey> {
        self.keys.get(epoch)
    }

    /// Adds an epoch key (one this device just made).
    pub fn add_epoch_key(&mut self, epoch: EpochId, key: SymKey) {
        self.keys.insert(epoch, key);
    }

    /// The codes lent to this device, in record order.
    pub fn lent(&self) -> &[Lent] {
        &self.lent
    }

    /// Every entry, deleted ones included, in id order.
    pub fn entries(&self) -> impl Iterator<Item = &EntryHistory> {
        self.entries.values()
    }

    /// One entry.
    pub fn get(&self, id: &EntryId) -> Option<&EntryHistory> {
        self.entries.get(id)
    }

    /// The live entry `body` duplicates ([`same_entry`]), if any.
    pub fn already_holds(&self, body: &EntryBody) -> Option<&EntryHistory> {
        self.entries
            .values()
            .find(|e| !e.view().deleted && same_entry(e.view(), body))
    }

    /// How many entry records could not be opened (no key for their epoch).
    pub fn unreadable(&self) -> usize {
        self.unreadable
    }

    /// The entries a query names, by the tiers of [`crate::query`]: exact
    /// (case-insensitive issuer, account, `issuer:account` or entry id),
    /// else partial, else fuzzy (the best score; several on a tie).
    pub fn find(&self, query: &str, include_deleted: bool) -> Vec<&EntryHistory> {
        let q = query.trim().to_lowercase();
        let usable = |e: &&EntryHistory| include_deleted || !e.view().deleted;
        let ids = self.by_name.get(&q);
        if !ids.is_empty() {
            let exact: Vec<&EntryHistory> = ids
                .iter()
                .filter_map(|id| self.entries.get(id))
                .filter(|e| e.search.is_named(&q))
                .filter(usable)
                .collect();
            if !exact.is_empty() {
                return exact;
            }
        }
        let candidates: Vec<(&EntryHistory, bool)> = self
            .entries
            .values()
            .filter(usable)
            .filter_map(|e| e.search.matches(&q).map(|exact| (e, exact)))
            .collect();
        if candidates.is_empty() {
            let mut fuzzy = Fuzzy::new(&q);
            return fuzzy.best(
                self.entries
                    .values()
                    .filter(usable)
                    .map(|e| (e, e.search.issuer.as_str(), e.search.account.as_str())),
            );
        }
        let any_exact = candidates.iter().any(|(_, exact)| *exact);
        candidates
            .into_iter()
            .filter(|(_, exact)| *exact || !any_exact)
            .map(|(e, _)| e)
            .collect()
    }

    /// The entries to suggest when `find` found none: see
    /// [`query::suggest`](crate::query::suggest).
    pub fn suggest(&self, query: &str, include_deleted: bool) -> Vec<&EntryHistory> {
        crate::query::suggest(
            query,
            self.entries
                .values()
                .filter(|e| include_deleted || !e.view().deleted)
                .map(|e| (e, e.search.issuer.as_str(), e.search.account.as_str())),
        )
    }
}

/// One thing a version changed, for `history` and `log`. Its
/// [`Change::name`] is the stable word `log --json` gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The first version.
    Added,
    /// Deleted.
    Deleted,
    /// Undeleted.
    Restored,
    /// A new secret (or kind, algorithm, digits, period).
    Rotated,
    /// An HOTP code was used (the counter moved).
    UsedHotp,
    /// Issuer or account changed.
    Renamed,
    /// Tags changed.
    Tagged,
    /// The note changed.
    Noted,
    /// Concurrent edits merged, nothing else.
    Merged,
}

impl Change {
    /// `added`, `deleted`, `restored`, `rotated`, `used_hotp`, `renamed`,
    /// `tagged`, `noted`, `merged`.
    pub fn name(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Deleted => "deleted",
            Change::Restored => "restored",
            Change::Rotated => "rotated",
            Change::UsedHotp => "used_hotp",
            Change::Renamed => "renamed",
            Change::Tagged => "tagged",
            Change::Noted => "noted",
            Change::Merged => "merged",
        }
    }
}

/// What `version` edited (its `edits`, named against `base`, the version it
/// was edited from): never what it merely carries from another head.
pub fn changes(base: Option<&EntryBody>, version: &EntryBody) -> Vec<Change> {
    if base.is_none() {
        return vec![Change::Added];
    }
    let edits = version.edits;
    let mut changes = Vec::new();
    if edits.contains(Edits::DELETED) {
        changes.push(if version.deleted {
            Change::Deleted
        } else {
            Change::Restored
        });
    }
    if edits.contains(Edits::OTP) {
        changes.push(Change::Rotated);
    } else if edits.contains(Edits::COUNTER) {
        changes.push(Change::UsedHotp);
    }
    if edits.contains(Edits::ISSUER) || edits.contains(Edits::ACCOUNT) {
        changes.push(Change::Renamed);
    }
    if edits.contains(Edits::TAGS) {
        changes.push(Change::Tagged);
    }
    if edits.contains(Edits::NOTE) {
        changes.push(Change::Noted);
    }
    if changes.is_empty() {
        changes.push(Change::Merged);
    }
    changes
}

/// What `version` edited, in words, for `history` and `log`: the fields it
/// claims (`edits`), named against `base`, the version it was edited from.
/// Names, never secrets.
pub fn describe_change(base: Option<&EntryBody>, version: &EntryBody) -> String {
    let label = version.label();
    let Some(base) = base else {
        return format!("added {label}");
    };
    let words: Vec<String> = changes(Some(base), version)
        .into_iter()
        .map(|c| match c {
            Change::Renamed => format!("renamed from {}", base.label()),
            Change::Deleted => "deleted".into(),
            Change::Restored => "restored".into(),
            Change::Rotated => "rotated the secret".into(),
            Change::UsedHotp => "used an HOTP code".into(),
            Change::Tagged => "edited tags".into(),
            Change::Noted => "edited the note".into(),
            Change::Added | Change::Merged => "merged edits".into(),
        })
        .collect();
    format!("{label}: {}", words.join(", "))
}

impl EntryHistory {
    /// The body `version` was edited from, if any.
    pub fn base_of(&self, version: &Version) -> Option<&EntryBody> {
        self.base(version).map(|v| &v.body)
    }
}

/// One entry a device could read, for the exposure report after revoking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    /// The entry.
    pub entry: EntryId,
    /// Whether the entry's current secret is one the device never could read
    /// (it was rotated since): ticked off the checklist.
    pub rotated: bool,
}

impl Index {
    /// Every entry of which `device` could read some version: sealed in an
    /// epoch with an envelope for it. Deleted entries count: their secrets
    /// were readable too.
    pub fn exposed_to(&self, household: &Household, device: &DeviceId) -> Vec<Exposed> {
        let readable = |epoch: &EpochId| {
            household
                .epochs
                .get(epoch)
                .is_some_and(|e| e.envelopes.contains_key(device))
        };
        self.entries
            .values()
            .filter(|e| e.versions.iter().any(|v| readable(&v.epoch)))
            .map(|e| Exposed {
                entry: e.id,
                rotated: !e
                    .versions
                    .iter()
                    .filter(|v| readable(&v.epoch))
                    .any(|v| same_otp(&v.body, e.view())),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::otp::Secret;

    fn version(seq: u64, parents: &[u64], note: &str) -> Version {
        let id = |seq| RecordId {
            origin: DeviceId([7; 32]),
            seq,
        };
        Version {
            record: id(seq),
            hlc: Hlc {
                ms: 1_000 + seq,
                counter: 0,
            },
            parents: parents.iter().map(|&p| id(p)).collect(),
            epoch: EpochId([1; 16]),
            body: EntryBody {
                issuer: None,
                account: "a".to_owned(),
                secret: Secret::new(vec![1; 20]),
                spec: OtpSpec {
                    kind: OtpKind::Totp { period: 30 },
                    algorithm: crate::otp::Algorithm::Sha1,
                    digits: 6,
                },
                tags: Vec::new(),
                note: note.to_owned(),
                deleted: false,
                edits: Edits::ALL,
            },
        }
    }

    /// Parents are whatever a member signed. A version naming itself as its
    /// parent left no head, and `view` (at unlock, on every device that held
    /// it) panicked.
    #[test]
    fn a_version_naming_itself_still_has_a_view() {
        let mut history = EntryHistory::new(EntryId([1; 16]));
        history.insert(version(1, &[1], "self"));
        assert!(history.heads().is_empty());
        assert_eq!(history.view().note, "self");
        assert!(history.previous().is_none());
    }

    /// A cycle of parents behind one of two heads made the merge's walk
    /// back along the branch loop forever.
    #[test]
    fn a_parent_cycle_behind_a_head_ends_the_merge() {
        let mut history = EntryHistory::new(EntryId([2; 16]));
        for (seq, parents) in [(1, &[2][..]), (2, &[1]), (3, &[1]), (4, &[])] {
            history.insert(version(seq, parents, "same"));
        }
        assert_eq!(history.heads().len(), 2);
        assert_eq!(history.view().note, "same");
    }

    /// Two entries that differ only in algorithm, digits or period make
    /// different codes: they are two entries. An HOTP counter is use, not
    /// identity.
    #[test]
    fn a_name_hashes_the_same_whole_or_in_pieces_and_only_its_own_names_match() {
        let names = Names::default();
        assert_eq!(names.hash(&["amazon", ":", "alice"]), names.hash(&["amazon:alice"]));
        assert_ne!(names.hash(&["amazon", ":", "alice"]), names.hash(&["amazon:bob"]));
        let key = SearchKey {
            issuer: "amazon".into(),
            account: "alice".into(),
            id: "abc".into(),
        };
        for q in ["amazon", "alice", "abc", "amazon:alice"] {
            assert!(key.is_named(q), "{q}");
        }
        for q in ["amazon:", ":alice", "amazon:bob", "amazonalice", "ama", ""] {
            assert!(!key.is_named(q), "{q}");
        }
        let unnamed = SearchKey {
            issuer: String::new(),
            account: "alice".into(),
            id: "abc".into(),
        };
        assert!(unnamed.is_named("alice"));
        assert!(!unnamed.is_named(":alice") && !unnamed.is_named(""));
    }

    #[test]
    fn same_entry_counts_every_parameter_but_the_counter() {
        let base = version(1, &[], "").body;
        assert!(same_entry(&base, &base.duplicate()));
        let changed = |f: &dyn Fn(&mut EntryBody)| {
            let mut b = base.duplicate();
            f(&mut b);
            same_entry(&base, &b)
        };
        assert!(!changed(&|b| b.spec.algorithm = crate::otp::Algorithm::Sha256));
        assert!(!changed(&|b| b.spec.digits = 8));
        assert!(!changed(&|b| b.spec.kind = OtpKind::Totp { period: 60 }));
        assert!(!changed(&|b| b.secret = Secret::new(vec![2; 20])));
        assert!(!changed(&|b| b.issuer = Some("x".into())));
        assert!(!changed(&|b| b.account = "b".into()));
        assert!(changed(&|b| b.note = "a note is not identity".into()));
        let mut hotp = base.duplicate();
        hotp.spec.kind = OtpKind::Hotp { counter: 1 };
        let mut used = hotp.duplicate();
        used.spec.kind = OtpKind::Hotp { counter: 9 };
        assert!(same_entry(&hotp, &used));
    }
}
