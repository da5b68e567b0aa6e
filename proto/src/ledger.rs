//! The ledger: the set of verified records a device holds, and the rules for
//! letting a record in.
//!
//! A record is admitted only if it belongs to this household, its origin is a
//! member whose key verifies its signature, it is the next in its origin's
//! sequence (no gaps), and its origin was not revoked before writing it. The
//! same rules apply to records written here, received from a peer, or read
//! back from disk, so a corrupt store cannot smuggle in what a peer could not.

use std::collections::BTreeMap;

use crate::hlc::Hlc;
use crate::household::Household;
use crate::ids::{DeviceId, HouseholdId, RecordId};
use crate::record::{Body, MAX_RECORD_BYTES, Record};

/// Why a record was refused. Never carries the record's content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
    /// Its origin was revoked before it wrote this.
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
    /// A different record already has this id: its origin signed two.
    #[error("conflicting record for an id already held")]
    Equivocation,
    /// A `Member` record whose device id does not match its key.
    #[error("member record with a mismatched device id")]
    BadMember,
    /// Longer than [`MAX_RECORD_BYTES`] encoded: no store could read it back.
    #[error("record larger than {MAX_RECORD_BYTES} bytes")]
    TooLarge,
}

/// What [`Ledger::admit`] did with an acceptable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// New: it is now in the set.
    New,
    /// Already held.
    Duplicate,
}

/// The verified records of one household.
#[derive(Default)]
pub struct Ledger {
    records: BTreeMap<RecordId, Record>,
    household: Option<Household>,
    contiguous: BTreeMap<DeviceId, u64>,
    latest: Hlc,
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
        self.records.values()
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
        self.records.get(id)
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

    /// Checks `record` against the rules and adds it if it passes.
    pub fn admit(&mut self, record: Record) -> Result<Admitted, Rejected> {
        if self.check(&record)? == Admitted::Duplicate {
            return Ok(Admitted::Duplicate);
        }
        let refold = !matches!(record.body, Body::Entry(_));
        self.contiguous.insert(record.id.origin, record.id.seq);
        self.latest = self.latest.max(record.hlc);
        self.records.insert(record.id, record);
        if refold {
            self.household = Household::fold(self.records.values());
        }
        Ok(Admitted::New)
    }

    /// What [`Ledger::admit`] would do with `record`, without doing it: lets
    /// the daemon store a record durably before it enters memory.
    pub fn check(&self, record: &Record) -> Result<Admitted, Rejected> {
        let signing_key = match &self.household {
            None => match &record.body {
                Body::Genesis { founder } if founder.device == record.id.origin && record.id.seq == 1 => {
                    founder.signing_key
                }
                _ => return Err(Rejected::NoGenesis),
            },
            Some(household) => {
                if record.household != household.id {
                    return Err(Rejected::WrongHousehold);
                }
                let member = household.members.get(&record.id.origin).ok_or(Rejected::NotAMember)?;
                if member.revoked_after.is_some_and(|cap| record.id.seq > cap) {
                    return Err(Rejected::Revoked);
                }
                member.info.signing_key
            }
        };
        if let Some(held) = self.records.get(&record.id) {
            return if held == record {
                Ok(Admitted::Duplicate)
            } else {
                Err(Rejected::Equivocation)
            };
        }
        let expected = self.next_seq(&record.id.origin);
        if record.id.seq != expected {
            return Err(Rejected::Gap {
                expected,
                got: record.id.seq,
            });
        }
        if record.encode().len() > MAX_RECORD_BYTES {
            return Err(Rejected::TooLarge);
        }
        record.verify(&signing_key).map_err(|_| Rejected::BadSignature)?;
        match &record.body {
            Body::Member { member } if crate::ids::DeviceId::from_public_key(&member.signing_key) != member.device => {
                return Err(Rejected::BadMember);
            }
            Body::Genesis { .. } if self.household.is_some() => return Err(Rejected::WrongHousehold),
            _ => {}
        }
        Ok(Admitted::New)
    }

    /// The records a peer with version vector `theirs` lacks, in an order it
    /// can admit one by one: by [`Ledger::send_clocks`], which is HLC order
    /// for records honest devices wrote (each origin's clock rises with its
    /// seq, and a device writes only after it has admitted, and so moved its
    /// clock past, the `Member` record that admitted it).
    pub fn missing_for(&self, theirs: &BTreeMap<DeviceId, u64>) -> Vec<&Record> {
        // Records written past their origin's revocation are held (a ledger
        // may have admitted them before the `Revoke` arrived) but never
        // passed on: other members refuse them.
        let mut out: Vec<&Record> = self
            .records
            .values()
            .filter(|r| r.id.seq > theirs.get(&r.id.origin).copied().unwrap_or(0))
            .filter(|r| self.household.as_ref().is_none_or(|h| h.accepts(r.id)))
            .collect();
        let clocks = self.send_clocks();
        out.sort_by_key(|r| (clocks.get(&r.id).copied().unwrap_or(r.hlc), r.id));
        out
    }

    /// The clock each record is sent at: its own, raised to that of the
    /// record before it from the same device and, for a member's records, to
    /// that of the record that admitted it. Honest clocks already satisfy
    /// both; a member that signs its clock backwards could otherwise make a
    /// record go out before one it depends on, which a new device refuses
    /// (a gap, or a record from a non-member), and so stall its every sync.
    fn send_clocks(&self) -> BTreeMap<RecordId, Hlc> {
        let mut clocks = BTreeMap::new();
        let Some(household) = &self.household else {
            return clocks;
        };
        // Sponsors before the members they admitted, whatever their ids.
        let mut pending: Vec<(&DeviceId, &crate::household::Member)> = household.members.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|(device, member)| {
                let floor = match member.sponsor {
                    None => Hlc::default(),
                    // Just after the admitting record's, so that a tie
                    // (broken by record id) cannot put it first.
                    Some(_) => match clocks.get(&member.admitted_by) {
                        Some(clock) => Hlc {
                            ms: clock.ms,
                            counter: clock.counter.saturating_add(1),
                        },
                        None => return true,
                    },
                };
                let mut running = floor;
                let range = RecordId {
                    origin: **device,
                    seq: 0,
                }..=RecordId {
                    origin: **device,
                    seq: u64::MAX,
                };
                for (id, record) in self.records.range(range) {
                    running = running.max(record.hlc);
                    clocks.insert(*id, running);
                }
                false
            });
            if pending.len() == before {
                break;
            }
        }
        clocks
    }
}
