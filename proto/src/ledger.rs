//! The ledger: the set of verified records a device holds, what it knows of
//! each origin's chain (head hash, bytes held, proven forks), and the order
//! records are passed on in.
//!
//! Whether a record may come in is decided by [`crate::authority`]; the
//! same check runs on records written here, received from a peer, or read
//! back from disk, so a corrupt store cannot smuggle in what a peer could not.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

pub use crate::authority::Rejected;
use crate::authority::{self, Forks, Holdings, Household};
use crate::crypto::{CheckKey, SignedItem, Verified};
use crate::hlc::Hlc;
use crate::ids::{DeviceId, HouseholdId, RecordId};
use crate::record::{Body, Header, Record, RecordHash};

/// What [`Ledger::admit`] did with an acceptable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// New: it is now in the set.
    New,
    /// Already held.
    Duplicate,
}

/// The tag this device stored beside a record, if any
/// ([`Ledger::check_signatures_tagged`]).
pub type TagOf<'a> = &'a (dyn Fn(&RecordId) -> Option<[u8; 32]> + Sync);

/// The verified records of one household.
#[derive(Default)]
pub struct Ledger {
    /// Boxed: a `Record` is ~370 bytes, and inline in a B-tree whose nodes
    /// are about half full that cost ~750 bytes a record; a box costs its
    /// size (issue 15, memory: 10,000 entries, −2.6 MB).
    records: BTreeMap<RecordId, Box<Record>>,
    household: Option<Household>,
    contiguous: BTreeMap<DeviceId, u64>,
    heads: BTreeMap<DeviceId, RecordHash>,
    usage: BTreeMap<DeviceId, u64>,
    forks: Forks,
    latest: Hlc,
}

/// Proof that an origin signed two histories: two of its records that
/// cannot both be in one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fork {
    /// The forked origin.
    pub origin: DeviceId,
    /// The first seq at which its histories may differ.
    pub at: u64,
}

impl Ledger {
    /// An empty ledger: no household yet.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// The household, once a `Genesis` is in.
    pub fn household(&self) -> Option<&Household> {
        self.household.as_ref()
    }

    /// The household's id, once a `Genesis` is in.
    pub fn household_id(&self) -> Option<HouseholdId> {
        self.household.as_ref().map(|h| h.id)
    }

    /// Every record held, in id order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values().map(|r| &**r)
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// One record.
    pub fn get(&self, id: &RecordId) -> Option<&Record> {
        self.records.get(id).map(|r| &**r)
    }

    /// Per origin, the highest seq held (all before it are held too).
    pub fn version_vector(&self) -> &BTreeMap<DeviceId, u64> {
        &self.contiguous
    }

    /// The seq `origin`'s next record must have.
    pub fn next_seq(&self, origin: &DeviceId) -> u64 {
        self.contiguous.get(origin).copied().unwrap_or(0) + 1
    }

    /// The latest HLC time of any record held.
    pub fn latest_hlc(&self) -> Hlc {
        self.latest
    }

    /// Bytes of `origin`'s records held (what counts against its quota).
    pub fn usage(&self, origin: &DeviceId) -> u64 {
        self.usage.get(origin).copied().unwrap_or(0)
    }

    /// Per origin, the last held seq and its record's hash: what `Hello`
    /// carries so that a fork shows at the next meeting.
    pub fn heads(&self) -> Vec<(DeviceId, u64, RecordHash)> {
        self.contiguous
            .iter()
            .filter_map(|(d, seq)| Some((*d, *seq, *self.heads.get(d)?)))
            .collect()
    }

    /// The hash of the record held at `id`.
    pub fn hash_of(&self, id: &RecordId) -> Option<RecordHash> {
        if self.contiguous.get(&id.origin) == Some(&id.seq) {
            return self.heads.get(&id.origin).copied();
        }
        self.get(id).map(Record::hash)
    }

    /// Proven forks: per origin, the first seq of the fork.
    pub fn forks(&self) -> &Forks {
        &self.forks
    }

    /// The header of this device's next record: after its last one, having
    /// admitted everything held.
    pub fn next_header(&self, me: &DeviceId, now_ms: u64, after: Option<&Record>) -> Header {
        let (seq, prev, hlc) = match after {
            Some(last) => (last.id.seq + 1, last.hash(), last.hlc.max(self.latest)),
            None => (
                self.next_seq(me),
                self.heads.get(me).copied().unwrap_or([0; 32]),
                self.latest,
            ),
        };
        Header {
            id: RecordId { origin: *me, seq },
            household: self.household_id().unwrap_or(HouseholdId([0; 16])),
            hlc: Hlc::tick(hlc, now_ms),
            prev,
            seen: self
                .contiguous
                .iter()
                .filter(|(d, _)| *d != me)
                .map(|(d, s)| (*d, *s))
                .collect(),
        }
    }

    /// Takes two records at one id, or a record whose `prev` disagrees with
    /// the held chain, both validly signed by their origin, as proof of a
    /// fork: the origin's records from `at` on stop counting. Returns the
    /// fork if the evidence holds (and was not known).
    pub fn prove_fork(&mut self, evidence: &Record) -> Option<Fork> {
        let household = self.household.as_ref()?;
        let member = household.members.get(&evidence.id.origin)?;
        evidence.verify(&member.info.signing_key).ok()?;
        if evidence.household != household.id {
            return None;
        }
        let at = match self.get(&evidence.id) {
            Some(held) if held != evidence => evidence.id.seq,
            // Its predecessor, as the evidence names it, is not the one held.
            _ if evidence.id.seq >= 2 => {
                let before = RecordId {
                    origin: evidence.id.origin,
                    seq: evidence.id.seq - 1,
                };
                let held = self.hash_of(&before)?;
                if held == evidence.prev {
                    return None;
                }
                before.seq
            }
            _ => return None,
        };
        if self.forks.get(&evidence.id.origin).is_some_and(|known| *known <= at) {
            return None;
        }
        self.forks.insert(evidence.id.origin, at);
        self.household = Household::fold(self.authority_records(), &self.forks);
        Some(Fork {
            origin: evidence.id.origin,
            at,
        })
    }

    /// Restores forks proven before (the daemon keeps them).
    pub fn set_forks(&mut self, forks: Forks) {
        self.forks = forks;
        self.household = Household::fold(self.authority_records(), &self.forks);
    }

    /// The signing key of each origin that this ledger's household, or a
    /// `Genesis` or `Member` among `records`, names: the key to check that
    /// origin's signatures with ahead of admission. Only keys whose hash is
    /// their device id (no other key verifies that origin's records).
    pub fn signer_keys<'a>(&'a self, records: &'a [Record]) -> BTreeMap<DeviceId, &'a [u8; 32]> {
        let mut keys = BTreeMap::new();
        let named = records.iter().filter_map(|r| match &r.body {
            Body::Genesis { founder } => Some(&**founder),
            Body::Member { member, .. } => Some(&**member),
            _ => None,
        });
        let members = self.household.iter().flat_map(|h| h.members.values().map(|m| &m.info));
        for info in members.chain(named) {
            if DeviceId::from_public_key(&info.signing_key) == info.device {
                keys.insert(info.device, &info.signing_key);
            }
        }
        keys
    }

    /// Checks the signatures of `records` on up to `threads` threads, each
    /// as admitting it would, and adds those that pass to `verified`: then
    /// admit them in order inside [`Verified::scope`], and each is
    /// admitted without its signature being computed again. A record whose
    /// origin no key names here is left to admission.
    pub fn check_signatures(&self, records: &[Record], verified: &mut Verified, threads: usize) {
        self.check_signatures_tagged(records, verified, threads, None);
    }

    /// [`Ledger::check_signatures`], sparing the `Entry` records that this
    /// device's own tag vouches for (`tagged`: its check key, and the tag
    /// stored beside each record, if any; [`Verified::vouch`]). Every other
    /// record is checked. Returns a tag for each `Entry` record whose
    /// signature was checked here and passed, to store beside it.
    pub fn check_signatures_tagged(
        &self,
        records: &[Record],
        verified: &mut Verified,
        threads: usize,
        tagged: Option<(&CheckKey, TagOf<'_>)>,
    ) -> Vec<(RecordId, [u8; 32])> {
        let keys = self.signer_keys(records);
        // Each record's signed message, and whether this device's own tag
        // vouches for it: an encoding and three hashes a record, spread over
        // the threads (issue 15, start-up: 11-13 ms of one core for 10,000).
        const MIN_PER_THREAD: usize = 256;
        let prepared = crate::par::map(records, threads, MIN_PER_THREAD, |record| {
            // One held already is a duplicate (or an equivocation) to
            // admission, which compares it with the one held before any
            // signature: nothing to check ahead.
            if self.records.contains_key(&record.id) {
                return None;
            }
            let key = keys.get(&record.id.origin)?;
            let message = record.signed_message();
            let vouched = match (&tagged, &record.body) {
                (Some((check_key, tag_of)), Body::Entry(_)) => {
                    tag_of(&record.id).and_then(|tag| check_key.vouches(key, &message, &record.signature, &tag))
                }
                _ => None,
            };
            // A vouched record's message is dropped here, not kept with
            // the others: 10,000 of them at once were 1.8 MB more RSS.
            Some(vouched.ok_or(message))
        });
        let mut unchecked: Vec<(&Record, &[u8; 32], Vec<u8>)> = Vec::new();
        for (record, prepared) in records.iter().zip(prepared) {
            let (Some(prepared), Some(key)) = (prepared, keys.get(&record.id.origin)) else {
                continue;
            };
            match prepared {
                Ok(vouched) => verified.add(vouched),
                Err(message) => unchecked.push((record, key, message)),
            }
        }
        let items: Vec<SignedItem<'_>> = unchecked
            .iter()
            .map(|(r, k, m)| (*k, m.as_slice(), r.signature.as_slice()))
            .collect();
        let passed = verified.check(&items, threads);
        let Some((check_key, _)) = tagged else {
            return Vec::new();
        };
        unchecked
            .iter()
            .zip(passed)
            .filter(|((r, _, _), ok)| *ok && matches!(r.body, Body::Entry(_)))
            .filter_map(|((r, k, m), _)| {
                let signature: &[u8; 64] = r.signature.as_slice().try_into().ok()?;
                Some((r.id, check_key.tag(k, m, signature)))
            })
            .collect()
    }

    /// Checks `record` against the rules and adds it if it passes.
    pub fn admit(&mut self, record: Record, now_ms: u64) -> Result<Admitted, Rejected> {
        if self.check(&record, now_ms)? == Admitted::Duplicate {
            return Ok(Admitted::Duplicate);
        }
        self.insert(record);
        Ok(Admitted::New)
    }

    /// Admits `records` in order, each exactly as [`Ledger::admit`] would,
    /// with their signatures checked first on up to `threads` threads
    /// ([`Ledger::check_signatures`]). A record written past its origin's
    /// revocation is dropped, as on sync: the sender may have held it before
    /// it learned the cap, and `missing_for` still sends it when a record
    /// sent names it in `seen`. Returns how many were dropped. Stops at the
    /// first record refused for any other reason; what came before it stays
    /// admitted.
    pub fn admit_all(&mut self, records: &[Record], now_ms: u64, threads: usize) -> Result<usize, Rejected> {
        let mut verified = Verified::new();
        self.check_signatures(records, &mut verified, threads);
        verified.scope(|| {
            let mut dropped = 0;
            for record in records {
                match self.admit(record.clone(), now_ms) {
                    Ok(_) => {}
                    Err(Rejected::Revoked) => dropped += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok(dropped)
        })
    }

    /// Checks a batch of one origin's consecutive new records (this device's
    /// own, before they are written): the first against every rule, the
    /// rest for their chain, size and the origin's quota.
    pub fn check_batch(&self, records: &[Record], now_ms: u64) -> Result<(), Rejected> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        self.check(first, now_ms)?;
        let mut used = self.usage(&first.id.origin);
        let mut before: Option<&Record> = None;
        for record in records {
            let size = record.encoded_len();
            if size > crate::record::MAX_RECORD_BYTES {
                return Err(Rejected::TooLarge);
            }
            used = used.saturating_add(size as u64);
            if used > authority::QUOTA_BYTES {
                return Err(Rejected::OverQuota);
            }
            if let Some(before) = before {
                if record.id.origin != before.id.origin
                    || record.id.seq != before.id.seq + 1
                    || record.prev != before.hash()
                {
                    return Err(Rejected::Gap {
                        expected: before.id.seq + 1,
                        got: record.id.seq,
                    });
                }
            }
            before = Some(record);
        }
        Ok(())
    }

    /// The household as it would be with `record` added (not checked):
    /// what a revocation would do, before it is written.
    pub fn fold_with(&self, record: &Record) -> Option<Household> {
        Household::fold(self.authority_records().chain([record]), &self.forks)
    }

    /// The held records that the household fold reads (all but entries).
    fn authority_records(&self) -> impl Iterator<Item = &Record> {
        self.records().filter(|r| !matches!(r.body, Body::Entry(_)))
    }

    /// Adds `record`, which [`Ledger::check`] just found `New` on this very
    /// ledger, with nothing admitted in between: the daemon checks, makes
    /// the record durable, then admits it, and need not verify its
    /// signature a second time.
    pub fn admit_checked(&mut self, record: Record) {
        self.insert(record);
    }

    /// Adds a record [`Ledger::check`] passed.
    fn insert(&mut self, record: Record) {
        let refold = !matches!(record.body, Body::Entry(_));
        let bytes = record.encode();
        self.contiguous.insert(record.id.origin, record.id.seq);
        self.heads.insert(record.id.origin, crate::crypto::sha256(&bytes));
        *self.usage.entry(record.id.origin).or_default() += bytes.len() as u64;
        self.latest = self.latest.max(record.hlc);
        self.records.insert(record.id, Box::new(record));
        if refold {
            self.household = Household::fold(self.authority_records(), &self.forks);
        }
    }

    /// What [`Ledger::admit`] would do with `record`, without doing it: lets
    /// the daemon store a record durably before it enters memory.
    pub fn check(&self, record: &Record, now_ms: u64) -> Result<Admitted, Rejected> {
        if let Some(held) = self.get(&record.id) {
            return if held == record {
                Ok(Admitted::Duplicate)
            } else {
                Err(Rejected::Equivocation)
            };
        }
        let holdings = Holdings {
            contiguous: &self.contiguous,
            heads: &self.heads,
            usage: &self.usage,
            now_ms,
        };
        authority::check(self.household.as_ref(), &holdings, record, record.encoded_len())?;
        Ok(Admitted::New)
    }

    /// The records a peer with version vector `theirs` lacks, in an order it
    /// can admit them one by one: each after its origin's previous record,
    /// after the record that admitted its origin, and after everything its
    /// origin had admitted (`seen`); among records free to go, by HLC. A
    /// member that signs its clock backwards cannot make a record go out
    /// before one it depends on.
    pub fn missing_for(&self, theirs: &BTreeMap<DeviceId, u64>) -> Vec<&Record> {
        // Records written past their origin's revocation are held (a ledger
        // may have admitted them before the `Revoke` arrived) but never
        // passed on: other members refuse them.
        let lacked = |r: &&Record| r.id.seq > theirs.get(&r.id.origin).copied().unwrap_or(0);
        let (mut out, mut held_back): (Vec<&Record>, Vec<&Record>) = self
            .records()
            .filter(lacked)
            .partition(|r| self.household.as_ref().is_none_or(|h| h.accepts(r.id)));
        // Except those that a record sent names in `seen` (its writer held
        // them before it capped their origin): a peer that does not know
        // the cap yet waits for them, and one that does drops them.
        while !held_back.is_empty() {
            let mut needed: BTreeMap<DeviceId, u64> = BTreeMap::new();
            for record in &out {
                for (device, seq) in &record.seen {
                    let n = needed.entry(*device).or_default();
                    *n = (*n).max(*seq);
                }
            }
            let (more, rest): (Vec<&Record>, Vec<&Record>) = held_back
                .into_iter()
                .partition(|r| needed.get(&r.id.origin).is_some_and(|n| r.id.seq <= *n));
            if more.is_empty() {
                break;
            }
            out.extend(more);
            held_back = rest;
        }
        // Ordered by indices into `out` (id order), not maps of ids: a
        // welcome orders every record, 10,000 of them before the first
        // frame (issue 15, initial sync; BENCHMARKS.md).
        out.sort_unstable_by_key(|r| r.id);
        let at = |id: &RecordId| out.binary_search_by(|r| r.id.cmp(id)).ok();
        let mut waiting: Vec<u32> = vec![0; out.len()];
        let mut edges: Vec<(usize, usize)> = Vec::with_capacity(out.len() * 2);
        for (i, r) in out.iter().enumerate() {
            let seen = r.seen.iter().map(|(d, s)| RecordId { origin: *d, seq: *s });
            let before = if r.id.seq > 1 {
                Some(RecordId {
                    origin: r.id.origin,
                    seq: r.id.seq - 1,
                })
            } else {
                self.household
                    .as_ref()
                    .and_then(|h| h.members.get(&r.id.origin))
                    .filter(|member| member.sponsor.is_some())
                    .map(|member| member.admitted_by)
            };
            for dep in seen.chain(before).filter_map(|d| at(&d)) {
                waiting[i] += 1;
                edges.push((dep, i));
            }
        }
        // Each record's dependents, together (a stable sort keeps them in
        // id order, as they were found).
        edges.sort_by_key(|(dep, _)| *dep);
        let mut first_edge = vec![edges.len(); out.len() + 1];
        for (e, (dep, _)) in edges.iter().enumerate().rev() {
            first_edge[*dep] = e;
        }
        for i in (0..out.len()).rev() {
            first_edge[i] = first_edge[i].min(first_edge[i + 1]);
        }
        let mut ready: BinaryHeap<Reverse<(Hlc, RecordId, usize)>> = out
            .iter()
            .enumerate()
            .filter(|(i, _)| waiting[*i] == 0)
            .map(|(i, r)| Reverse((r.hlc, r.id, i)))
            .collect();
        let mut sorted = Vec::with_capacity(out.len());
        while let Some(Reverse((_, _, i))) = ready.pop() {
            sorted.push(out[i]);
            for (_, next) in &edges[first_edge[i]..first_edge[i + 1]] {
                waiting[*next] -= 1;
                if waiting[*next] == 0 {
                    ready.push(Reverse((out[*next].hlc, out[*next].id, *next)));
                }
            }
        }
        // A dependency cycle only a forged set could hold: send the rest by
        // clock; the receiver refuses what it cannot admit.
        let mut rest: Vec<&Record> = (0..out.len()).filter(|i| waiting[*i] > 0).map(|i| out[i]).collect();
        rest.sort_by_key(|r| (r.hlc, r.id));
        sorted.extend(rest);
        sorted
    }
}
