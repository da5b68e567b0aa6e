//! Authority: who may write what. Every rule that decides whether a record
//! counts lives here; the ledger, the fold, epoch repair and the daemon's
//! handlers ask this module and decide nothing themselves.
//!
//! The rules, in words:
//!
//! 1. **Signatures.** A record counts only if its origin's *signing* key
//!    (sealed at rest, in memory only while unlocked) signed it. A stolen
//!    locked device holds a transport key, which signs nothing here.
//! 2. **Chains.** Each origin's records are numbered 1, 2, 3… with no gaps,
//!    and each names the hash of the one before it. A record is admitted
//!    only after everything it says its origin had admitted (`seen`).
//! 3. **Equivocation.** Two different records at one `(origin, seq)`, or a
//!    record whose `prev` disagrees with the held chain, prove the origin's
//!    key is in two hands: that origin's records from the fork on are
//!    refused everywhere the evidence reaches, and it is shown as forked.
//! 4. **Admission.** A `Member` record counts only with the joiner's own
//!    signature over the household, its keys, its sponsor and the pairing
//!    transcript, and only if its sponsor was a member when it wrote it. A
//!    device id is admitted once.
//! 5. **Seniority.** Members are ordered by the admission tree: the founder
//!    first, then whom it admitted in the order it admitted them, each
//!    followed by whom *they* admitted (the path of admitting sequence
//!    numbers, compared lexicographically). No clock a signer chose enters.
//! 6. **Revocation.** A `Revoke` caps its target at a seq: the target's
//!    records above the cap are void, and so is every device admitted by a
//!    void record, transitively (the cascade). Revocations are applied in
//!    order of their revoker's seniority; one counts only if its own record
//!    is not void, and only if it voids no revocation already applied (two
//!    revocations that would void each other: the senior revoker stands).
//!    A revocation of a device the set does not admit counts all the same:
//!    holding a third device's admission must not change the verdict.
//!    Nothing a revoked device signed after its cap restores it or removes
//!    anyone.
//! 7. **Epochs.** Each collection (rule 11) has its own line of epochs.
//!    Every epoch created by a record that counts can be opened by its
//!    addressees that read its collection (entries sealed to it stay
//!    readable), but only one *in line* can become current: its counter is
//!    exactly one more than the highest counter among its collection's
//!    in-line epochs in its causal past (0 for the first), in checked
//!    arithmetic, and its creator reads the collection now. Its record carries a
//!    commitment to its key, and an envelope counts only if what it opens
//!    matches it. The current epoch is the in-line one with the highest
//!    counter; of two with one counter, the more senior creator's. (The rule
//!    is applied by the fold, not by refusing records: a member that admitted
//!    an epoch later voided by a revocation it had not heard of yet numbers
//!    its next one past it, and refusing that would stall its every record.)
//! 8. **Bounds.** A record is checked (size, signature, admission) before it
//!    is written; an origin may make others keep at most [`QUOTA_BYTES`];
//!    a record dated more than [`MAX_FUTURE_MS`] ahead of the receiver's
//!    clock waits (it is refused for now, not blamed).
//! 9. **Relays.** A member whose role is `relay` stores and forwards
//!    records and reads nothing. Its membership carries no box key (all
//!    zeros), and a device's carries one. Every record a relay signs is
//!    refused (the only thing it signs that counts is the joiner signature
//!    inside the `Member` record its sponsor writes), so it never admits,
//!    revokes, makes an epoch or writes an entry, and a stolen relay key
//!    can do nothing. A household cannot be founded by a relay. An
//!    envelope addressed to a relay is refused, and epoch keys are sealed
//!    only to [`Household::key_holders`]. A relay is revoked like any
//!    device.
//! 10. **Persons.** Every device belongs to at most one person. A `Person`
//!     record putting a device in person P counts only if its origin belongs
//!     to P, or P has no current device (a new person): so no member can make
//!     a device of someone else's, and a device of another person's joins
//!     that person only when one of that person's devices says so. They are
//!     applied in order of their origins' seniority, then seq (no clock a
//!     signer chose). A device a `Person` record never placed belongs to no
//!     person (a household of format 2, or a joiner waiting to be
//!     confirmed). A `Rename` counts from the device itself or a device of
//!     its person; the newest (by clock) wins.
//! 11. **Collections.** Entries live in collections, each read by the
//!     devices of its persons: `shared` (every person until its membership is
//!     first set; with no declaration, devices of no person read it too), one
//!     personal collection per person (that person only, fixed), and named
//!     ones. A `Collection` record sets a collection's persons; it counts
//!     only if its origin's person is in the collection as it stood before
//!     it (for a new one: in the list it sets). They are applied by clock,
//!     then record id, the last standing one winning whole: an earlier-dated
//!     record of a person since removed is overridden by the removal, and a
//!     later-dated one finds its person out. Removing a person makes the
//!     collection's current epoch exposed (its key holders include a
//!     non-reader), and the next write starts a new one sealed to its
//!     readers. A device never opens an epoch of a collection it does not
//!     read, whatever envelopes it holds.

use std::collections::{BTreeMap, BTreeSet};

use crate::crypto::{BoxKey, Envelope, SymKey};
use crate::ids::{CollectionId, DeviceId, EpochId, HouseholdId, RecordId};
use crate::record::{Body, MAX_RECORD_BYTES, MemberInfo, NO_BOX_KEY, Record, RecordHash, check_name};

/// The most one origin's records may take in every member's store. A
/// household's entries are a few hundred bytes each: 32 MiB is 10,000
/// accounts edited eight times each, from a single device, which no
/// household reaches; a member trying to fill its peers' disks stops here.
pub const QUOTA_BYTES: u64 = 32 << 20;

/// How far ahead of the receiver's clock a record may be dated and still be
/// admitted now (a day); later ones wait for the receiver's clock.
pub const MAX_FUTURE_MS: u64 = 24 * 60 * 60 * 1000;

/// Why a record was refused. Never carries the record's content.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejected {
    /// The ledger is empty and the record is not a valid `Genesis`.
    #[error("no household yet, and this record does not start one")]
    NoGenesis,
    /// Another household's record.
    #[error("record of another household")]
    WrongHousehold,
    /// Its origin is not a member.
    #[error("record from a device that is not a member")]
    NotAMember,
    /// Its origin was revoked (or forked) before it wrote this.
    #[error("record written after its device was revoked")]
    Revoked,
    /// Its signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Records before it from the same origin are missing.
    #[error("sequence gap: expected {expected}, got {got}")]
    Gap {
        /// The next seq this ledger would accept from that origin.
        expected: u64,
        /// What arrived.
        got: u64,
    },
    /// Records its origin had admitted are not held yet: it waits.
    #[error("record depends on records not held yet")]
    Waiting,
    /// Dated more than [`MAX_FUTURE_MS`] ahead: it waits.
    #[error("record dated more than a day ahead of this device's clock")]
    FromTheFuture,
    /// A different record already has this id, or its `prev` disagrees with
    /// the held chain: its origin signed two histories.
    #[error("conflicting record for an id already held (a forked device)")]
    Equivocation,
    /// A `Member` record that does not carry its joiner's valid signature,
    /// or admits a device id seen before.
    #[error("member record without the joiner's valid signature, or of a known device")]
    BadMember,
    /// A malformed header (`seen` unsorted or naming its own origin), or a
    /// name or list of persons that breaks [`check_name`].
    #[error("malformed record header or name")]
    Malformed,
    /// Longer than [`MAX_RECORD_BYTES`] encoded.
    #[error("record larger than {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    /// Signed by a relay, which signs nothing that counts (rule 9).
    #[error("record signed by a relay, which may sign nothing")]
    RelaySigned,
    /// Seals an epoch key to a relay, which must read nothing (rule 9).
    #[error("record seals an epoch key to a relay")]
    EnvelopeToRelay,
    /// Its origin's records would exceed [`QUOTA_BYTES`].
    #[error("its device has written more than the {} MiB one device may", QUOTA_BYTES >> 20)]
    OverQuota,
}

impl Rejected {
    /// Whether the record may be admitted later (not a sign of an attack).
    /// A gap is not: peers send each origin's records in order (but see
    /// [`Rejected::Gap`] after a record that had to wait).
    pub fn is_temporary(&self) -> bool {
        matches!(self, Rejected::Waiting | Rejected::FromTheFuture)
    }
}

/// A device admitted to the household.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its keys and name.
    pub info: MemberInfo,
    /// Who admitted it (`None` for the founder).
    pub sponsor: Option<DeviceId>,
    /// The record that admitted it.
    pub admitted_by: RecordId,
    /// Its place in the admission tree: smaller is more senior.
    pub seniority: Vec<u64>,
    /// If revoked: the last of its records still accepted.
    pub revoked_after: Option<u64>,
    /// The cap of a revocation it cannot undo (by a device at least as
    /// senior, or itself): its records above it are refused outright. Below
    /// a cap set by a junior they are kept, not counted, since its own
    /// revocation of that junior may yet void the cap.
    pub permanent_cap: Option<u64>,
    /// If caught signing two histories: the first seq of the fork.
    pub forked_at: Option<u64>,
    /// Out because the record that admitted it no longer counts (the
    /// cascade of a revocation): none of its records count.
    pub voided: bool,
    /// Whose device it is (rule 10); `None`: no person's.
    pub person: Option<String>,
}

impl Member {
    /// The last of its records that counts, if any limit applies.
    pub fn limit(&self) -> Option<u64> {
        if self.voided {
            return Some(0);
        }
        let fork = self.forked_at.map(|f| f.saturating_sub(1));
        match (self.revoked_after, fork) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// An epoch of a collection's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// Its id.
    pub id: EpochId,
    /// The collection whose entries it seals.
    pub collection: CollectionId,
    /// Its place in the line of epochs.
    pub counter: u64,
    /// The creating record's commitment to the key.
    pub commitment: [u8; 32],
    /// Whether its counter keeps the numbering rule (only such an epoch
    /// can be current).
    pub in_line: bool,
    /// Envelopes, by recipient, in record order (only one that opens to the
    /// committed key counts).
    pub envelopes: BTreeMap<DeviceId, Vec<Envelope>>,
    /// The record that created it.
    pub created_by: RecordId,
}

/// The household as a set of records describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Household {
    /// Its id.
    pub id: HouseholdId,
    /// The device that started it.
    pub founder: DeviceId,
    /// Every device ever admitted by a record that counts, revoked ones
    /// included.
    pub members: BTreeMap<DeviceId, Member>,
    /// Every epoch.
    pub epochs: BTreeMap<EpochId, Epoch>,
    /// `shared` and the named collections, as their `Collection` records
    /// set them (personal ones need no record: [`Household::collection`]).
    pub declared: BTreeMap<CollectionId, Declared>,
    /// Every person's own collection, by id: those of revoked devices'
    /// persons too, so that an id derived from a name is never taken for
    /// another kind.
    pub personal: BTreeMap<CollectionId, String>,
}

/// A collection as its last standing `Collection` record set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    /// Its name.
    pub name: String,
    /// The persons whose devices read it.
    pub persons: BTreeSet<String>,
    /// The record that set it.
    pub by: RecordId,
}

/// What kind of collection an id names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `shared`.
    Shared,
    /// A person's own.
    Personal(String),
    /// Made with `collection new`.
    Named,
}

/// A collection as a device shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collection {
    /// Its id.
    pub id: CollectionId,
    /// Its name: `shared`, the person's, or the one it was made with.
    pub name: String,
    /// What kind it is.
    pub kind: Kind,
    /// The persons whose devices read it; `None` for `shared` before its
    /// membership was first set (everyone, devices of no person too).
    pub persons: Option<BTreeSet<String>>,
}

/// Proven forks: per origin, the first seq at which two histories differ.
pub type Forks = BTreeMap<DeviceId, u64>;

impl Household {
    /// Folds a set of verified records of one household, with the forks
    /// proven so far. `None` if the set holds no `Genesis`. A pure function
    /// of the set: order and duplicates make no difference.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a Record>, forks: &Forks) -> Option<Household> {
        let set: BTreeMap<RecordId, &Record> = records.into_iter().map(|r| (r.id, r)).collect();
        let (genesis, founder) = set.values().find_map(|r| match &r.body {
            Body::Genesis { founder } if founder.device == r.id.origin && r.id.seq == 1 => Some((*r, founder)),
            _ => None,
        })?;
        if founder.is_relay() {
            return None;
        }
        let set: Vec<&Record> = set.into_values().filter(|r| r.household == genesis.household).collect();
        let mut household = Household {
            id: genesis.household,
            founder: founder.device,
            members: BTreeMap::from([(
                founder.device,
                Member {
                    info: (**founder).clone(),
                    sponsor: None,
                    admitted_by: genesis.id,
                    seniority: Vec::new(),
                    revoked_after: None,
                    permanent_cap: None,
                    forked_at: forks.get(&founder.device).copied(),
                    voided: false,
                    person: None,
                },
            )]),
            epochs: BTreeMap::new(),
            declared: BTreeMap::new(),
            personal: BTreeMap::new(),
        };
        household.admit_members(&set, forks);
        household.apply_revocations(&set);
        household.drop_void_members();
        household.fold_persons(&set);
        household.fold_renames(&set);
        household.fold_collections(&set);
        household.fold_epochs(&set);
        Some(household)
    }

    /// Everyone admitted by a valid `Member` record of someone admitted, to
    /// a fixpoint; of two admissions of one device the more senior counts.
    fn admit_members(&mut self, set: &[&Record], forks: &Forks) {
        let admissions: Vec<(&Record, &MemberInfo)> = set
            .iter()
            .filter_map(|r| match &r.body {
                Body::Member {
                    member,
                    transcript,
                    joiner_signature,
                } if member
                    .verify_join(&r.household, &r.id.origin, transcript, joiner_signature)
                    .is_ok()
                    && member_keys_fit_role(member) =>
                {
                    Some((*r, &**member))
                }
                _ => None,
            })
            .collect();
        // Each round can only make a seniority smaller, and paths are
        // bounded by the number of admissions: this ends.
        for _ in 0..=admissions.len() {
            let mut changed = false;
            for (record, member) in &admissions {
                if member.device == self.founder {
                    continue;
                }
                let Some(sponsor) = self.members.get(&record.id.origin) else {
                    continue;
                };
                if sponsor.forked_at.is_some_and(|f| record.id.seq >= f) || sponsor.info.is_relay() {
                    continue;
                }
                let mut seniority = sponsor.seniority.clone();
                seniority.push(record.id.seq);
                let better = self
                    .members
                    .get(&member.device)
                    .is_none_or(|held| seniority < held.seniority);
                if better {
                    self.members.insert(
                        member.device,
                        Member {
                            info: (*member).clone(),
                            sponsor: Some(record.id.origin),
                            admitted_by: record.id,
                            seniority,
                            revoked_after: None,
                            permanent_cap: None,
                            forked_at: forks.get(&member.device).copied(),
                            voided: false,
                            person: None,
                        },
                    );
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Applies revocations in order of their revokers' seniority (rule 6).
    fn apply_revocations(&mut self, set: &[&Record]) {
        let mut revokes: Vec<(Vec<u64>, RecordId, DeviceId, u64)> = set
            .iter()
            .filter_map(|r| match r.body {
                Body::Revoke { device, last_seq } => {
                    let revoker = self.members.get(&r.id.origin)?;
                    Some((revoker.seniority.clone(), r.id, device, last_seq))
                }
                _ => None,
            })
            .collect();
        revokes.sort();
        let mut applied: Vec<RecordId> = Vec::new();
        for (revoker, id, target, cap) in revokes {
            if !self.counts(id) {
                continue;
            }
            let Some(before) = self.members.get(&target).map(|m| m.revoked_after) else {
                // A device this set does not admit (yet): nothing to cap,
                // but the revocation counts, and a later one may not void
                // it, exactly as if the target's admission were held. A
                // device that lacks it must reach the same verdict on the
                // revocations it holds, or it would refuse the records that
                // bring the admission (issue 15's CI: a senior revoked by a
                // junior, then revoking a device it had not heard of).
                applied.push(id);
                continue;
            };
            let capped = before.map_or(cap, |b| b.min(cap));
            if let Some(member) = self.members.get_mut(&target) {
                member.revoked_after = Some(capped);
            }
            if applied.iter().chain([&id]).all(|a| self.counts(*a)) {
                applied.push(id);
                if let Some(member) = self.members.get_mut(&target) {
                    if revoker <= member.seniority {
                        member.permanent_cap = Some(member.permanent_cap.map_or(cap, |c| c.min(cap)));
                    }
                }
            } else if let Some(member) = self.members.get_mut(&target) {
                member.revoked_after = before;
            }
        }
    }

    /// Whether a record counts, its origin's admission included (the
    /// cascade, before [`Household::drop_void_members`] has run).
    fn counts(&self, id: RecordId) -> bool {
        let mut id = id;
        // Each step goes to a strictly more senior member: bounded.
        for _ in 0..=self.members.len() {
            if !self.accepts(id) {
                return false;
            }
            match self.members.get(&id.origin) {
                Some(m) if m.sponsor.is_some() => id = m.admitted_by,
                _ => return true,
            }
        }
        false
    }

    /// Voids members admitted by records that no longer count, to a
    /// fixpoint (the cascade). They stay listed, so that the exposure
    /// checklist can name them.
    fn drop_void_members(&mut self) {
        loop {
            let void: Vec<DeviceId> = self
                .members
                .values()
                .filter(|m| !m.voided && m.sponsor.is_some() && !self.accepts(m.admitted_by))
                .map(|m| m.info.device)
                .collect();
            if void.is_empty() {
                break;
            }
            for device in void {
                if let Some(member) = self.members.get_mut(&device) {
                    member.voided = true;
                }
            }
        }
    }

    /// Places devices in persons (rule 10).
    fn fold_persons(&mut self, set: &[&Record]) {
        let mut placements: Vec<(Vec<u64>, u64, DeviceId, DeviceId, &str)> = set
            .iter()
            .filter(|r| self.accepts(r.id))
            .filter_map(|r| match &r.body {
                Body::Person { device, person } if check_name(person).is_ok() => {
                    let origin = self.members.get(&r.id.origin)?;
                    Some((
                        origin.seniority.clone(),
                        r.id.seq,
                        r.id.origin,
                        *device,
                        person.as_str(),
                    ))
                }
                _ => None,
            })
            .collect();
        placements.sort();
        for (_, _, origin, device, person) in placements {
            if !self.may_place(&origin, person) {
                continue;
            }
            if let Some(member) = self.members.get_mut(&device).filter(|m| !m.voided) {
                member.person = Some(person.to_owned());
            }
        }
        self.personal = self
            .members
            .values()
            .filter_map(|m| m.person.as_ref())
            .map(|p| (CollectionId::personal(p), p.clone()))
            .collect();
    }

    /// Applies renames (rule 10): the newest standing one per device.
    fn fold_renames(&mut self, set: &[&Record]) {
        let mut renames: Vec<&Record> = set
            .iter()
            .copied()
            .filter(|r| matches!(&r.body, Body::Rename { name, .. } if check_name(name).is_ok()) && self.accepts(r.id))
            .collect();
        renames.sort_by_key(|r| (r.hlc, r.id));
        for record in renames {
            let Body::Rename { device, name } = &record.body else {
                continue;
            };
            let origin_person = self.members.get(&record.id.origin).and_then(|m| m.person.clone());
            let Some(member) = self.members.get_mut(device) else {
                continue;
            };
            if record.id.origin == *device || (origin_person.is_some() && origin_person == member.person) {
                member.info.name = name.clone();
            }
        }
    }

    /// Applies `Collection` records (rule 11), by clock then record id.
    fn fold_collections(&mut self, set: &[&Record]) {
        let personal: BTreeSet<CollectionId> = self.personal.keys().copied().collect();
        let mut declarations: Vec<&Record> = set
            .iter()
            .copied()
            .filter(|r| matches!(r.body, Body::Collection { .. }) && self.accepts(r.id))
            .collect();
        declarations.sort_by_key(|r| (r.hlc, r.id));
        for record in declarations {
            let Body::Collection {
                collection,
                name,
                persons,
            } = &record.body
            else {
                continue;
            };
            if personal.contains(collection) || !well_formed_persons(persons) || check_name(name).is_err() {
                continue;
            }
            let Some(origin) = self.members.get(&record.id.origin) else {
                continue;
            };
            let allowed = match (self.declared.get(collection), origin.person.as_ref()) {
                (Some(held), Some(person)) => held.persons.contains(person),
                (Some(_), None) => false,
                // Undeclared `shared` is everyone's.
                (None, _) if *collection == CollectionId::SHARED => true,
                (None, Some(person)) => persons.contains(person),
                (None, None) => false,
            };
            if allowed {
                let name = if *collection == CollectionId::SHARED {
                    "shared".to_owned()
                } else {
                    name.clone()
                };
                self.declared.insert(
                    *collection,
                    Declared {
                        name,
                        persons: persons.iter().cloned().collect(),
                        by: record.id,
                    },
                );
            }
        }
    }

    /// Epochs that keep the numbering rule, with their envelopes (rule 7).
    fn fold_epochs(&mut self, set: &[&Record]) {
        let mut creations: Vec<&Record> = set
            .iter()
            .copied()
            .filter(|r| epoch_of(&r.body).is_some() && self.accepts(r.id))
            .collect();
        // Of two records creating one epoch id, the first by record id.
        creations.sort_by_key(|r| r.id);
        let mut firsts: BTreeMap<EpochId, &Record> = BTreeMap::new();
        for record in creations {
            if let Some(created) = epoch_of(&record.body) {
                firsts.entry(created.epoch).or_insert(record);
            }
        }
        let mut lines: BTreeMap<CollectionId, Vec<&Record>> = BTreeMap::new();
        for record in firsts.into_values() {
            if let Some(created) = epoch_of(&record.body) {
                lines.entry(created.collection).or_default().push(record);
            }
        }
        for creations in lines.values() {
            let mut memo: BTreeMap<RecordId, bool> = BTreeMap::new();
            for record in creations {
                in_line(record, creations, &mut memo, &mut Vec::new());
            }
            for record in creations {
                let Some(created) = epoch_of(&record.body) else {
                    continue;
                };
                self.epochs.insert(
                    created.epoch,
                    Epoch {
                        id: created.epoch,
                        collection: created.collection,
                        counter: created.counter,
                        commitment: *created.commitment,
                        in_line: memo.get(&record.id).copied().unwrap_or(false),
                        envelopes: BTreeMap::new(),
                        created_by: record.id,
                    },
                );
            }
        }
        // Envelopes in record order: the creating record's first.
        let mut with_envelopes: Vec<&Record> = set.iter().copied().filter(|r| self.accepts(r.id)).collect();
        with_envelopes.sort_by_key(|r| r.id);
        for record in with_envelopes {
            let (epoch, envelopes) = match &record.body {
                Body::Epoch { epoch, envelopes, .. }
                | Body::CollectionEpoch { epoch, envelopes, .. }
                | Body::Envelopes { epoch, envelopes } => (epoch, envelopes),
                _ => continue,
            };
            let Some(held) = self.epochs.get_mut(epoch) else {
                continue;
            };
            for envelope in envelopes {
                if self.members.get(&envelope.recipient).is_some_and(|m| m.info.is_relay()) {
                    continue;
                }
                held.envelopes
                    .entry(envelope.recipient)
                    .or_default()
                    .push(envelope.clone());
            }
        }
    }

    /// The counter an epoch of `collection` written as `record` must carry
    /// to be in line: one more than the highest among the collection's
    /// in-line epochs in its causal past, 0 if none; `None` on overflow.
    pub fn next_counter(&self, collection: &CollectionId, record: &Record) -> Option<u64> {
        let past = Past::of(record);
        self.next_counter_among(collection, |e| past.contains(e.created_by))
    }

    /// The counter this device's next epoch of `collection` must carry (its
    /// next record has seen every epoch it holds); `None` on overflow.
    pub fn next_counter_held(&self, collection: &CollectionId) -> Option<u64> {
        self.next_counter_among(collection, |_| true)
    }

    fn next_counter_among(&self, collection: &CollectionId, seen: impl Fn(&Epoch) -> bool) -> Option<u64> {
        match self
            .epochs
            .values()
            .filter(|e| e.in_line && e.collection == *collection && seen(e))
            .map(|e| e.counter)
            .max()
        {
            None => Some(0),
            Some(highest) => highest.checked_add(1),
        }
    }

    /// Whether a record with this id counts: its origin is a member, and
    /// not past its revocation or fork.
    pub fn accepts(&self, id: RecordId) -> bool {
        self.counted(&id.origin)
            .is_some_and(|limit| limit.is_none_or(|cap| id.seq <= cap))
    }

    /// Which of `origin`'s records [`Household::accepts`]: `None`, none of
    /// them; `Some(None)`, every one; `Some(Some(cap))`, those up to `cap`.
    /// Two households that agree on this for an origin count the same of
    /// its records.
    pub fn counted(&self, origin: &DeviceId) -> Option<Option<u64>> {
        self.members
            .get(origin)
            .filter(|m| !m.info.is_relay())
            .map(Member::limit)
    }

    /// The current members epoch keys are sealed to: every current member
    /// but relays (rule 9).
    pub fn key_holders(&self) -> impl Iterator<Item = &Member> {
        self.current_members().filter(|m| !m.info.is_relay())
    }

    /// Whether `device` is a current member: admitted, not revoked, not forked.
    pub fn is_current_member(&self, device: &DeviceId) -> bool {
        self.members.get(device).is_some_and(|m| m.limit().is_none())
    }

    /// The current members.
    pub fn current_members(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| m.limit().is_none())
    }

    /// The epoch new entries of `collection` are sealed to: of the in-line
    /// epochs whose creator reads the collection now, the highest counter;
    /// of two with one counter, the more senior creator's; then the smaller
    /// id. `None`: the collection has none yet (the next write makes one).
    pub fn current_epoch(&self, collection: &CollectionId) -> Option<&Epoch> {
        self.epochs
            .values()
            .filter(|e| e.in_line && e.collection == *collection && self.reads(collection, &e.created_by.origin))
            .min_by(|a, b| {
                b.counter
                    .cmp(&a.counter)
                    .then_with(|| {
                        self.seniority_of(&a.created_by.origin)
                            .cmp(&self.seniority_of(&b.created_by.origin))
                    })
                    .then_with(|| a.id.cmp(&b.id))
            })
    }

    /// Whether the current epoch of `collection` is known to a device that
    /// does not read it now (revoked, gone, or its person removed): what is
    /// written next must go to a new epoch.
    pub fn is_exposed(&self, collection: &CollectionId) -> bool {
        self.current_epoch(collection).is_some_and(|epoch| {
            epoch
                .envelopes
                .keys()
                .any(|d| !self.is_current_member(d) || !self.reads(collection, d))
        })
    }

    /// The persons of the household: those of its current members.
    pub fn persons(&self) -> BTreeSet<&str> {
        self.current_members().filter_map(|m| m.person.as_deref()).collect()
    }

    /// The name of the collection `epoch` belongs to (`shared` for an
    /// unknown one, which opens to no one anyway).
    pub fn collection_name(&self, collection: &CollectionId) -> &str {
        if let Some(person) = self.personal.get(collection) {
            return person;
        }
        match self.declared.get(collection) {
            Some(declared) if *collection != CollectionId::SHARED => &declared.name,
            _ => "shared",
        }
    }

    /// The collection `epoch` seals entries of.
    pub fn collection_of(&self, epoch: &EpochId) -> Option<CollectionId> {
        self.epochs.get(epoch).map(|e| e.collection)
    }

    /// What `id` names, if it is a collection of this household.
    pub fn collection(&self, id: &CollectionId) -> Option<Collection> {
        if let Some(person) = self.personal.get(id) {
            return Some(Collection {
                id: *id,
                name: person.clone(),
                kind: Kind::Personal(person.clone()),
                persons: Some(BTreeSet::from([person.clone()])),
            });
        }
        let declared = self.declared.get(id);
        if *id == CollectionId::SHARED {
            return Some(Collection {
                id: *id,
                name: "shared".to_owned(),
                kind: Kind::Shared,
                persons: declared.map(|d| d.persons.clone()),
            });
        }
        declared.map(|d| Collection {
            id: *id,
            name: d.name.clone(),
            kind: Kind::Named,
            persons: Some(d.persons.clone()),
        })
    }

    /// Every collection: `shared`, each current person's own, the named ones.
    pub fn collections(&self) -> Vec<Collection> {
        let mut ids = vec![CollectionId::SHARED];
        ids.extend(self.persons().into_iter().map(CollectionId::personal));
        ids.extend(self.declared.keys().filter(|id| **id != CollectionId::SHARED).copied());
        ids.iter().filter_map(|id| self.collection(id)).collect()
    }

    /// Whether `device`'s person reads `collection` (rule 11). Says nothing
    /// of whether it is still a member: a revoked device keeps reading what
    /// it could, and is sealed nothing new ([`Household::readers`]).
    pub fn reads(&self, collection: &CollectionId, device: &DeviceId) -> bool {
        let Some(member) = self.members.get(device).filter(|m| !m.info.is_relay()) else {
            return false;
        };
        let person = member.person.as_ref();
        if let Some(owner) = self.personal.get(collection) {
            return person == Some(owner);
        }
        match self.declared.get(collection) {
            Some(declared) => person.is_some_and(|p| declared.persons.contains(p)),
            // `shared` before its persons were set is everyone's.
            None => *collection == CollectionId::SHARED,
        }
    }

    /// Rule 10: whether a `Person` record by `origin` may place a device in
    /// `person`: `origin` is that person's, or the person has no current
    /// device (a new one). What `fold` applies, and what a sponsor asks
    /// before it writes one.
    pub fn may_place(&self, origin: &DeviceId, person: &str) -> bool {
        let mine = self.members.get(origin).and_then(|m| m.person.as_deref());
        mine == Some(person) || !self.current_members().any(|m| m.person.as_deref() == Some(person))
    }

    /// The current members a new epoch of `collection` is sealed to.
    pub fn readers(&self, collection: &CollectionId) -> impl Iterator<Item = &Member> {
        self.key_holders()
            .filter(move |m| self.reads(collection, &m.info.device))
    }

    fn seniority_of(&self, device: &DeviceId) -> Option<&[u64]> {
        self.members.get(device).map(|m| m.seniority.as_slice())
    }

    /// The epoch keys `me` can open: of its envelopes in each epoch, the
    /// first whose key matches the epoch's commitment.
    pub fn open_epoch_keys(&self, me: &DeviceId, box_key: &BoxKey) -> BTreeMap<EpochId, SymKey> {
        self.epochs
            .values()
            .filter(|epoch| self.reads(&epoch.collection, me))
            .filter_map(|epoch| {
                let key = epoch.envelopes.get(me)?.iter().find_map(|envelope| {
                    let key = envelope.open(box_key, &epoch.id).ok()?;
                    key.matches(&self.id, &epoch.id, &epoch.commitment).then_some(key)
                })?;
                Some((epoch.id, key))
            })
            .collect()
    }

    /// Whether `device` holds an envelope of `epoch` (possibly a forged one:
    /// for exposure reports, where holding is enough to worry).
    pub fn has_envelope(&self, epoch: &EpochId, device: &DeviceId) -> bool {
        self.epochs.get(epoch).is_some_and(|e| e.envelopes.contains_key(device))
    }
}

/// Whether the epoch `record` creates is in line: its counter is one more
/// than the highest in-line epoch in its declared past (0 if none), in
/// checked arithmetic. Decided over the past, whatever the counters say
/// (an epoch numbered low may come after a higher one); memoized, and an
/// epoch on a cycle of declared pasts (only a forged set holds one) is not.
fn in_line(
    record: &Record,
    creations: &[&Record],
    memo: &mut BTreeMap<RecordId, bool>,
    path: &mut Vec<RecordId>,
) -> bool {
    if let Some(known) = memo.get(&record.id) {
        return *known;
    }
    if path.contains(&record.id) {
        return false;
    }
    let Some(EpochOf { counter, .. }) = epoch_of(&record.body) else {
        return false;
    };
    path.push(record.id);
    let past = Past::of(record);
    let mut highest: Option<u64> = None;
    for other in creations.iter().filter(|o| o.id != record.id && past.contains(o.id)) {
        if in_line(other, creations, memo, path) {
            if let Some(EpochOf { counter, .. }) = epoch_of(&other.body) {
                highest = Some(highest.map_or(counter, |h| h.max(counter)));
            }
        }
    }
    path.pop();
    let expected = match highest {
        None => Some(0),
        Some(h) => h.checked_add(1),
    };
    let answer = expected == Some(counter);
    memo.insert(record.id, answer);
    answer
}

/// What an epoch-creating record says, whichever format wrote it.
struct EpochOf<'a> {
    collection: CollectionId,
    epoch: EpochId,
    counter: u64,
    commitment: &'a [u8; 32],
}

fn epoch_of(body: &Body) -> Option<EpochOf<'_>> {
    match body {
        Body::Epoch {
            epoch,
            counter,
            commitment,
            ..
        } => Some(EpochOf {
            collection: CollectionId::SHARED,
            epoch: *epoch,
            counter: *counter,
            commitment,
        }),
        Body::CollectionEpoch {
            collection,
            epoch,
            counter,
            commitment,
            ..
        } => Some(EpochOf {
            collection: *collection,
            epoch: *epoch,
            counter: *counter,
            commitment,
        }),
        _ => None,
    }
}

/// The most persons one `Collection` record may name.
pub const MAX_COLLECTION_PERSONS: usize = 64;

/// A `Collection` record's persons: at least one, at most
/// [`MAX_COLLECTION_PERSONS`], valid names, sorted, no duplicates.
fn well_formed_persons(persons: &[String]) -> bool {
    !persons.is_empty()
        && persons.len() <= MAX_COLLECTION_PERSONS
        && persons.iter().all(|p| check_name(p).is_ok())
        && persons.windows(2).all(|w| w[0] < w[1])
}

/// A record's causal past as its origin declared it.
struct Past<'a> {
    origin: DeviceId,
    seq: u64,
    seen: &'a [(DeviceId, u64)],
}

impl<'a> Past<'a> {
    fn of(record: &'a Record) -> Past<'a> {
        Past {
            origin: record.id.origin,
            seq: record.id.seq,
            seen: &record.seen,
        }
    }

    fn contains(&self, id: RecordId) -> bool {
        if id.origin == self.origin {
            return id.seq < self.seq;
        }
        self.seen
            .binary_search_by_key(&id.origin, |(d, _)| *d)
            .is_ok_and(|i| id.seq <= self.seen[i].1)
    }
}

/// What the ledger knows that the checks need, beside the household.
pub struct Holdings<'a> {
    /// Per origin, the highest contiguous seq held.
    pub contiguous: &'a BTreeMap<DeviceId, u64>,
    /// The hash of each origin's last held record.
    pub heads: &'a BTreeMap<DeviceId, RecordHash>,
    /// Bytes of each origin's records held.
    pub usage: &'a BTreeMap<DeviceId, u64>,
    /// The receiver's clock, Unix ms.
    pub now_ms: u64,
}

/// Checks a new record (not held yet) against every rule. `Ok` means it
/// may be stored and admitted.
pub fn check(household: Option<&Household>, held: &Holdings<'_>, record: &Record, size: usize) -> Result<(), Rejected> {
    if size > MAX_RECORD_BYTES {
        return Err(Rejected::TooLarge);
    }
    if record.hlc.ms > held.now_ms.saturating_add(MAX_FUTURE_MS) {
        return Err(Rejected::FromTheFuture);
    }
    if record.seen.windows(2).any(|w| w[0].0 >= w[1].0) || record.seen.iter().any(|(d, _)| *d == record.id.origin) {
        return Err(Rejected::Malformed);
    }
    let Some(household) = household else {
        return match &record.body {
            Body::Genesis { founder } if founder.is_relay() => Err(Rejected::RelaySigned),
            Body::Genesis { founder }
                if founder.device == record.id.origin
                    && member_keys_fit_role(founder)
                    && record.id.seq == 1
                    && record.prev == [0; 32]
                    && record.seen.is_empty() =>
            {
                record.verify(&founder.signing_key).map_err(|_| Rejected::BadSignature)
            }
            _ => Err(Rejected::NoGenesis),
        };
    };
    if record.household != household.id {
        return Err(Rejected::WrongHousehold);
    }
    let member = household.members.get(&record.id.origin).ok_or(Rejected::NotAMember)?;
    if member.info.is_relay() {
        return Err(Rejected::RelaySigned);
    }
    // Past a cap it cannot undo, or a proven fork: refused. Past a cap a
    // junior set, kept (the fold does not count it): its next record may be
    // the revocation that voids that cap, and a gap would stall it.
    let permanent = [member.permanent_cap, member.forked_at.map(|f| f.saturating_sub(1))]
        .into_iter()
        .flatten()
        .min();
    if permanent.is_some_and(|cap| record.id.seq > cap) {
        return Err(Rejected::Revoked);
    }
    let expected = held.contiguous.get(&record.id.origin).copied().unwrap_or(0) + 1;
    if record.id.seq != expected {
        return Err(Rejected::Gap {
            expected,
            got: record.id.seq,
        });
    }
    let prev = held.heads.get(&record.id.origin).copied().unwrap_or([0; 32]);
    record
        .verify(&member.info.signing_key)
        .map_err(|_| Rejected::BadSignature)?;
    // Signed by the origin and disagreeing with its chain as held: evidence.
    if record.prev != prev {
        return Err(Rejected::Equivocation);
    }
    for (device, seq) in &record.seen {
        // Records of a device that is no longer a member here (voided by a
        // revocation's cascade) or past its cap never arrive: not waited for.
        let Some(member) = household.members.get(device) else {
            continue;
        };
        let needed = member.limit().map_or(*seq, |l| l.min(*seq));
        if held.contiguous.get(device).copied().unwrap_or(0) < needed {
            return Err(Rejected::Waiting);
        }
    }
    let used = held.usage.get(&record.id.origin).copied().unwrap_or(0);
    if used.saturating_add(size as u64) > QUOTA_BYTES {
        return Err(Rejected::OverQuota);
    }
    match &record.body {
        Body::Genesis { .. } => Err(Rejected::WrongHousehold),
        Body::Member {
            member,
            transcript,
            joiner_signature,
        } => {
            if household.members.contains_key(&member.device)
                || !member_keys_fit_role(member)
                || member
                    .verify_join(&household.id, &record.id.origin, transcript, joiner_signature)
                    .is_err()
            {
                return Err(Rejected::BadMember);
            }
            Ok(())
        }
        Body::Person { person: name, .. } | Body::Rename { name, .. } => {
            check_name(name).map_err(|_| Rejected::Malformed)
        }
        Body::Collection { name, persons, .. } => {
            if check_name(name).is_err() || !well_formed_persons(persons) {
                return Err(Rejected::Malformed);
            }
            Ok(())
        }
        Body::Lend(lend) => {
            if check_name(&lend.to).is_err() || !lend.well_formed() {
                return Err(Rejected::Malformed);
            }
            if lend
                .envelopes
                .iter()
                .any(|e| household.members.get(&e.recipient).is_some_and(|m| m.info.is_relay()))
            {
                return Err(Rejected::EnvelopeToRelay);
            }
            Ok(())
        }
        Body::Epoch { envelopes, .. } | Body::CollectionEpoch { envelopes, .. } | Body::Envelopes { envelopes, .. } => {
            if envelopes
                .iter()
                .any(|e| household.members.get(&e.recipient).is_some_and(|m| m.info.is_relay()))
            {
                return Err(Rejected::EnvelopeToRelay);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Rule 9: a relay's membership carries no box key, a device's one.
fn member_keys_fit_role(member: &MemberInfo) -> bool {
    member.is_relay() == (member.box_key == NO_BOX_KEY)
}

/// The devices a revocation of `target` capped at `cap` would remove with it
/// (admitted by its records above the cap, transitively): what `revoke`
/// shows before it acts, and the exposure checklist names.
pub fn cascade(household: &Household, target: DeviceId, cap: u64) -> BTreeSet<DeviceId> {
    let mut gone = BTreeSet::new();
    loop {
        let more: Vec<DeviceId> = household
            .members
            .values()
            .filter(|m| !gone.contains(&m.info.device))
            .filter(|m| {
                m.sponsor == Some(target) && m.admitted_by.seq > cap || m.sponsor.is_some_and(|s| gone.contains(&s))
            })
            .map(|m| m.info.device)
            .collect();
        if more.is_empty() {
            return gone;
        }
        gone.extend(more);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::crypto::DeviceKey;
    use crate::ids::HouseholdId;
    use crate::ledger::Ledger;
    use crate::record::Role;

    const NOW: u64 = 1_700_000_000_000;

    struct Dev {
        signing: DeviceKey,
        boxed: BoxKey,
        role: Role,
    }

    impl Dev {
        fn new(rng: &mut StdRng, role: Role) -> Dev {
            Dev {
                signing: DeviceKey::generate(rng),
                boxed: BoxKey::generate(rng),
                role,
            }
        }
        fn info(&self) -> MemberInfo {
            MemberInfo {
                device: self.signing.id(),
                name: format!("{:?}", self.role),
                signing_key: self.signing.public(),
                transport_key: self.signing.public(),
                box_key: match self.role {
                    Role::Device => self.boxed.public(),
                    Role::Relay => NO_BOX_KEY,
                },
                role: self.role,
            }
        }
        fn write(&self, ledger: &Ledger, body: Body) -> Record {
            let mut header = ledger.next_header(&self.signing.id(), NOW, None);
            if ledger.household().is_none() {
                header.household = HouseholdId([7; 16]);
            }
            Record::sign(&self.signing, header, body)
        }
        fn admit(&self, ledger: &mut Ledger, sponsor: &Dev, info: MemberInfo) -> Result<(), Rejected> {
            let household = ledger.household().unwrap().id;
            let transcript = [5; 32];
            let joiner_signature = info.sign_join(&self.signing, &household, &sponsor.signing.id(), &transcript);
            let record = sponsor.write(
                ledger,
                Body::Member {
                    member: Box::new(info),
                    transcript,
                    joiner_signature,
                },
            );
            ledger.admit(record, NOW).map(|_| ())
        }
    }

    /// A founder with one epoch, a second device and a relay.
    fn household(rng: &mut StdRng) -> (Ledger, Dev, Dev, Dev) {
        let founder = Dev::new(rng, Role::Device);
        let device = Dev::new(rng, Role::Device);
        let relay = Dev::new(rng, Role::Relay);
        let mut ledger = Ledger::new();
        let genesis = founder.write(
            &ledger,
            Body::Genesis {
                founder: Box::new(founder.info()),
            },
        );
        ledger.admit(genesis, NOW).unwrap();
        device.admit(&mut ledger, &founder, device.info()).unwrap();
        relay.admit(&mut ledger, &founder, relay.info()).unwrap();
        (ledger, founder, device, relay)
    }

    fn epoch_body(rng: &mut StdRng, household: &Household, to: &[&Dev]) -> Body {
        let epoch = EpochId([rng.next_u32() as u8; 16]);
        let key = SymKey::generate(rng);
        Body::Epoch {
            epoch,
            counter: 0,
            commitment: key.commitment(&household.id, &epoch),
            envelopes: to
                .iter()
                .map(|d| Envelope::seal(rng, d.signing.id(), &d.info().box_key, &epoch, &key))
                .collect(),
        }
    }

    use rand::RngCore;

    #[test]
    fn a_relay_is_a_member_that_holds_no_key() {
        let mut rng = StdRng::seed_from_u64(1);
        let (ledger, founder, device, relay) = household(&mut rng);
        let household = ledger.household().unwrap();
        assert!(household.is_current_member(&relay.signing.id()));
        let holders: BTreeSet<DeviceId> = household.key_holders().map(|m| m.info.device).collect();
        assert_eq!(
            holders,
            BTreeSet::from([founder.signing.id(), device.signing.id()]),
            "epoch keys go to devices, never to the relay"
        );
    }

    #[test]
    fn an_envelope_to_a_relay_is_refused() {
        let mut rng = StdRng::seed_from_u64(2);
        let (mut ledger, founder, device, relay) = household(&mut rng);
        let household = ledger.household().unwrap().clone();
        let body = epoch_body(&mut rng, &household, &[&founder, &device, &relay]);
        let record = founder.write(&ledger, body);
        assert_eq!(ledger.admit(record, NOW), Err(Rejected::EnvelopeToRelay));
        let body = epoch_body(&mut rng, &household, &[&founder, &device]);
        let record = founder.write(&ledger, body);
        assert!(ledger.admit(record, NOW).is_ok());
    }

    #[test]
    fn a_membership_whose_box_key_does_not_fit_its_role_is_refused() {
        let mut rng = StdRng::seed_from_u64(3);
        let (mut ledger, founder, _, _) = household(&mut rng);
        let keyed_relay = Dev::new(&mut rng, Role::Relay);
        let mut info = keyed_relay.info();
        info.box_key = keyed_relay.boxed.public();
        assert_eq!(keyed_relay.admit(&mut ledger, &founder, info), Err(Rejected::BadMember));
        let keyless_device = Dev::new(&mut rng, Role::Device);
        let mut info = keyless_device.info();
        info.box_key = NO_BOX_KEY;
        assert_eq!(
            keyless_device.admit(&mut ledger, &founder, info),
            Err(Rejected::BadMember)
        );
    }

    #[test]
    fn a_relay_founds_no_household() {
        let mut rng = StdRng::seed_from_u64(4);
        let relay = Dev::new(&mut rng, Role::Relay);
        let mut ledger = Ledger::new();
        let genesis = relay.write(
            &ledger,
            Body::Genesis {
                founder: Box::new(relay.info()),
            },
        );
        assert!(Household::fold([&genesis], &Forks::new()).is_none());
        assert_eq!(ledger.admit(genesis, NOW), Err(Rejected::RelaySigned));
    }

    #[test]
    fn a_relay_can_be_revoked() {
        let mut rng = StdRng::seed_from_u64(5);
        let (mut ledger, _, device, relay) = household(&mut rng);
        let revoke = device.write(
            &ledger,
            Body::Revoke {
                device: relay.signing.id(),
                last_seq: 0,
            },
        );
        ledger.admit(revoke, NOW).unwrap();
        assert!(!ledger.household().unwrap().is_current_member(&relay.signing.id()));
    }

    /// Every kind of record a relay could sign.
    fn relay_body(kind: u8, rng: &mut StdRng, household: &Household, founder: &Dev, device: &Dev) -> Body {
        match kind % 6 {
            0 => Body::Revoke {
                device: device.signing.id(),
                last_seq: 0,
            },
            1 => epoch_body(rng, household, &[founder, device]),
            2 => Body::Envelopes {
                epoch: EpochId([1; 16]),
                envelopes: vec![],
            },
            3 => {
                let stranger = Dev::new(rng, Role::Device);
                let transcript = [1; 32];
                let member = stranger.info();
                let joiner_signature =
                    member.sign_join(&stranger.signing, &household.id, &founder.signing.id(), &transcript);
                Body::Member {
                    member: Box::new(member),
                    transcript,
                    joiner_signature,
                }
            }
            4 => Body::Genesis {
                founder: Box::new(founder.info()),
            },
            _ => Body::Entry(crate::record::SealedEntry {
                entry: crate::ids::EntryId([2; 16]),
                parents: vec![],
                epoch: EpochId([1; 16]),
                body: SymKey::generate(rng).seal(rng, b"aad", b"body"),
            }),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Rule 9: whatever a relay signs is refused by `check`, and counts
        /// for nothing in the fold even if it were held (an older peer's
        /// store, a record put there by hand).
        #[test]
        fn every_record_a_relay_signs_is_refused(seed in any::<u64>(), kinds in proptest::collection::vec(any::<u8>(), 1..6)) {
            let mut rng = StdRng::seed_from_u64(seed);
            let (mut ledger, founder, device, relay) = household(&mut rng);
            let before = ledger.household().unwrap().clone();
            let mut forged: Vec<Record> = ledger.records().cloned().collect();
            let mut header = ledger.next_header(&relay.signing.id(), NOW, None);
            for kind in kinds {
                let body = relay_body(kind, &mut rng, &before, &founder, &device);
                let record = Record::sign(&relay.signing, header.clone(), body);
                prop_assert_eq!(ledger.admit(record.clone(), NOW), Err(Rejected::RelaySigned));
                header = ledger.next_header(&relay.signing.id(), NOW, Some(&record));
                forged.push(record);
            }
            let folded = Household::fold(forged.iter(), &Forks::new()).unwrap();
            prop_assert_eq!(&folded.members, &before.members);
            prop_assert_eq!(&folded.epochs, &before.epochs);
        }
    }
}
