//! The household fold: who is a member, who was revoked, which epochs exist.
//!
//! [`Household::fold`] is a pure function of a *set* of verified records: the
//! order they arrived in and any duplicates make no difference. Revocations
//! are applied in `(hlc, record id)` order, so two devices revoking each other
//! resolve the same way everywhere: the earlier revocation stands and the
//! later one, written by an already-revoked device, is ignored.

use std::collections::BTreeMap;

use crate::crypto::{BoxKey, Envelope, SymKey};
use crate::ids::{DeviceId, EpochId, HouseholdId, RecordId};
use crate::record::{Body, MemberInfo, Record};

/// A device admitted to the household.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its keys and name.
    pub info: MemberInfo,
    /// Who admitted it (`None` for the founder).
    pub sponsor: Option<DeviceId>,
    /// The record that admitted it.
    pub admitted_by: RecordId,
    /// If revoked: the last of its records still accepted.
    pub revoked_after: Option<u64>,
}

/// An epoch of the household key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// Its id.
    pub id: EpochId,
    /// The current epoch is the one with the highest `(counter, id)`.
    pub counter: u64,
    /// Envelopes, by recipient.
    pub envelopes: BTreeMap<DeviceId, Envelope>,
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
    /// Every device ever admitted, revoked ones included.
    pub members: BTreeMap<DeviceId, Member>,
    /// Every epoch.
    pub epochs: BTreeMap<EpochId, Epoch>,
}

impl Household {
    /// Folds a set of verified records of one household. `None` if the set
    /// holds no `Genesis`.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a Record>) -> Option<Household> {
        let set: BTreeMap<RecordId, &Record> = records.into_iter().map(|r| (r.id, r)).collect();
        let (genesis, founder) = set.values().find_map(|r| match &r.body {
            Body::Genesis { founder } if founder.device == r.id.origin => Some((*r, founder)),
            _ => None,
        })?;
        let mut household = Household {
            id: genesis.household,
            founder: founder.device,
            members: BTreeMap::from([(
                founder.device,
                Member {
                    info: founder.clone(),
                    sponsor: None,
                    admitted_by: genesis.id,
                    revoked_after: None,
                },
            )]),
            epochs: BTreeMap::new(),
        };
        let set: Vec<&Record> = set.into_values().filter(|r| r.household == household.id).collect();

        // Everyone ever admitted by someone ever admitted, to a fixpoint.
        loop {
            let mut grew = false;
            for record in &set {
                if let Body::Member { member } = &record.body {
                    if household.members.contains_key(&record.id.origin)
                        && !household.members.contains_key(&member.device)
                        && member.device == crate::ids::DeviceId::from_public_key(&member.signing_key)
                    {
                        household.members.insert(
                            member.device,
                            Member {
                                info: member.clone(),
                                sponsor: Some(record.id.origin),
                                admitted_by: record.id,
                                revoked_after: None,
                            },
                        );
                        grew = true;
                    }
                }
            }
            if !grew {
                break;
            }
        }

        // Revocations in causal-ish order; each must itself be accepted.
        let mut revokes: Vec<&Record> = set
            .iter()
            .copied()
            .filter(|r| matches!(r.body, Body::Revoke { .. }))
            .collect();
        revokes.sort_by_key(|r| (r.hlc, r.id));
        for record in revokes {
            if let Body::Revoke { device, last_seq } = record.body {
                if household.accepts(record.id) {
                    if let Some(member) = household.members.get_mut(&device) {
                        let cap = member.revoked_after.map_or(last_seq, |c| c.min(last_seq));
                        member.revoked_after = Some(cap);
                    }
                }
            }
        }

        // A member admitted only by records that are no longer accepted is
        // out, and so is whoever only it admitted, to a fixpoint.
        loop {
            let admitted_late: Vec<DeviceId> = household
                .members
                .values()
                .filter(|m| m.sponsor.is_some() && !household.accepts(m.admitted_by))
                .map(|m| m.info.device)
                .collect();
            if admitted_late.is_empty() {
                break;
            }
            for device in admitted_late {
                household.members.remove(&device);
            }
        }

        for record in &set {
            if let Body::Epoch {
                epoch,
                counter,
                envelopes,
            } = &record.body
            {
                if !household.accepts(record.id) {
                    continue;
                }
                let entry = household.epochs.entry(*epoch).or_insert_with(|| Epoch {
                    id: *epoch,
                    counter: *counter,
                    envelopes: BTreeMap::new(),
                    created_by: record.id,
                });
                for envelope in envelopes {
                    entry
                        .envelopes
                        .entry(envelope.recipient)
                        .or_insert_with(|| envelope.clone());
                }
            }
        }
        Some(household)
    }

    /// Whether a record with this id counts: its origin is a member, and not
    /// past its revocation.
    pub fn accepts(&self, id: RecordId) -> bool {
        self.members
            .get(&id.origin)
            .is_some_and(|m| m.revoked_after.is_none_or(|cap| id.seq <= cap))
    }

    /// Whether `device` is a current (admitted, not revoked) member.
    pub fn is_current_member(&self, device: &DeviceId) -> bool {
        self.members.get(device).is_some_and(|m| m.revoked_after.is_none())
    }

    /// The epoch new entries are sealed to.
    pub fn current_epoch(&self) -> Option<&Epoch> {
        self.epochs.values().max_by_key(|e| (e.counter, e.id))
    }

    /// Opens every epoch envelope addressed to `me`.
    pub fn open_epoch_keys(&self, me: &DeviceId, box_key: &BoxKey) -> BTreeMap<EpochId, SymKey> {
        self.epochs
            .values()
            .filter_map(|epoch| {
                let key = epoch.envelopes.get(me)?.open(box_key, &epoch.id).ok()?;
                Some((epoch.id, key))
            })
            .collect()
    }
}
