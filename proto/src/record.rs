//! Records: the signed, append-only unit of change, and the sealed entry body.
//!
//! A record is `(origin, seq)`-identified, signed by its origin's Ed25519 key
//! over everything else in it, and never modified. What is stored is what is
//! sent: an `Entry` body is sealed to its epoch key before it is signed, so a
//! record at rest is as opaque as on the wire.

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{self, CryptoError, DeviceKey, Envelope, Sealed, SymKey};
use crate::hlc::Hlc;
use crate::ids::{DeviceId, EntryId, EpochId, HouseholdId, RecordId};
use crate::otp::{OtpSpec, Secret};

/// The largest encoded record accepted from anyone.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// Domain separation for record signatures.
const SIGNING_CONTEXT: &[u8] = b"authsync record v1\0";

/// A device as the household knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// SHA-256 of `signing_key`.
    pub device: DeviceId,
    /// What people call it: `alice-laptop`.
    pub name: String,
    /// Ed25519 public key: verifies its records and its TLS certificate.
    pub signing_key: [u8; 32],
    /// X25519 public key: epoch envelopes are sealed to it.
    pub box_key: [u8; 32],
}

/// An entry's body, sealed to an epoch key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedEntry {
    /// Which account this is a version of.
    pub entry: EntryId,
    /// The versions this one supersedes (the heads its writer saw).
    pub parents: Vec<RecordId>,
    /// The epoch whose key sealed `body`.
    pub epoch: EpochId,
    /// The sealed [`EntryBody`].
    pub body: Sealed,
}

/// What a record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Starts a household; its founder is its first member.
    Genesis {
        /// The founding device.
        founder: MemberInfo,
    },
    /// Admits a device; the record's origin is its sponsor.
    Member {
        /// The new member.
        member: MemberInfo,
    },
    /// Removes a device: its records after `last_seq` are ignored.
    Revoke {
        /// The device cut out.
        device: DeviceId,
        /// The last of its records still accepted.
        last_seq: u64,
    },
    /// An epoch of the household key, sealed to members. A later `Epoch`
    /// record with the same id and counter adds envelopes (for a new member).
    Epoch {
        /// The epoch.
        epoch: EpochId,
        /// Orders epochs: the current epoch has the highest counter.
        counter: u64,
        /// The epoch key, one envelope per addressee.
        envelopes: Vec<Envelope>,
    },
    /// One version of an entry.
    Entry(SealedEntry),
}

impl Body {
    /// The kind's name, for logs (never the content).
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Genesis { .. } => "genesis",
            Body::Member { .. } => "member",
            Body::Revoke { .. } => "revoke",
            Body::Epoch { .. } => "epoch",
            Body::Entry(_) => "entry",
        }
    }
}

/// A signed record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Origin and sequence number.
    pub id: RecordId,
    /// The household it belongs to.
    pub household: HouseholdId,
    /// When its origin wrote it.
    pub hlc: Hlc,
    /// What it says.
    pub body: Body,
    /// Ed25519 signature by `id.origin` over all of the above.
    pub signature: Vec<u8>,
}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Longer than [`MAX_RECORD_BYTES`].
    #[error("record too large")]
    TooLarge,
    /// Not a record.
    #[error("malformed record")]
    Malformed,
}

#[derive(Serialize)]
struct Signed<'a> {
    id: &'a RecordId,
    household: &'a HouseholdId,
    hlc: &'a Hlc,
    body: &'a Body,
}

#[derive(Serialize)]
struct EntryAad<'a> {
    id: &'a RecordId,
    household: &'a HouseholdId,
    hlc: &'a Hlc,
    entry: &'a EntryId,
    parents: &'a [RecordId],
    epoch: &'a EpochId,
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("serializing to a Vec cannot fail")
}

impl Record {
    /// Signs a new record.
    pub fn sign(key: &DeviceKey, id: RecordId, household: HouseholdId, hlc: Hlc, body: Body) -> Record {
        let mut message = SIGNING_CONTEXT.to_vec();
        message.extend(to_bytes(&Signed {
            id: &id,
            household: &household,
            hlc: &hlc,
            body: &body,
        }));
        Record {
            signature: key.sign(&message).to_vec(),
            id,
            household,
            hlc,
            body,
        }
    }

    /// Seals `body` to `epoch_key` and signs the resulting `Entry` record.
    #[allow(clippy::too_many_arguments)]
    pub fn seal_entry<R: RngCore + CryptoRng>(
        rng: &mut R,
        key: &DeviceKey,
        id: RecordId,
        household: HouseholdId,
        hlc: Hlc,
        entry: EntryId,
        parents: Vec<RecordId>,
        epoch: (EpochId, &SymKey),
        body: &EntryBody,
    ) -> Record {
        let aad = to_bytes(&EntryAad {
            id: &id,
            household: &household,
            hlc: &hlc,
            entry: &entry,
            parents: &parents,
            epoch: &epoch.0,
        });
        let sealed = epoch.1.seal(rng, &aad, &body.to_bytes());
        let body = Body::Entry(SealedEntry {
            entry,
            parents,
            epoch: epoch.0,
            body: sealed,
        });
        Record::sign(key, id, household, hlc, body)
    }

    /// Checks the signature against the origin's public key.
    pub fn verify(&self, signing_key: &[u8; 32]) -> Result<(), CryptoError> {
        if DeviceId::from_public_key(signing_key) != self.id.origin {
            return Err(CryptoError::BadSignature);
        }
        let mut message = SIGNING_CONTEXT.to_vec();
        message.extend(to_bytes(&Signed {
            id: &self.id,
            household: &self.household,
            hlc: &self.hlc,
            body: &self.body,
        }));
        crypto::verify(signing_key, &message, &self.signature)
    }

    /// Opens an `Entry` record's body. `None` for other kinds.
    pub fn open_entry(&self, epoch_key: &SymKey) -> Option<Result<EntryBody, CryptoError>> {
        let Body::Entry(sealed) = &self.body else {
            return None;
        };
        let aad = to_bytes(&EntryAad {
            id: &self.id,
            household: &self.household,
            hlc: &self.hlc,
            entry: &sealed.entry,
            parents: &sealed.parents,
            epoch: &sealed.epoch,
        });
        Some(
            epoch_key
                .open(&aad, &sealed.body)
                .and_then(|plain| EntryBody::from_bytes(&plain).ok_or(CryptoError::DecryptionFailed)),
        )
    }

    /// The record's stored and wire form.
    pub fn encode(&self) -> Vec<u8> {
        to_bytes(self)
    }

    /// Reads a record (unverified: check it with [`Record::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::TooLarge);
        }
        match postcard::from_bytes::<Record>(bytes) {
            Ok(record) if record.encode().len() == bytes.len() => Ok(record),
            _ => Err(DecodeError::Malformed),
        }
    }
}

/// Everything about one account, as sealed inside an `Entry` record.
#[derive(Debug)]
pub struct EntryBody {
    /// The site: `Amazon`. Absent when the URI named none.
    pub issuer: Option<String>,
    /// The login at that site.
    pub account: String,
    /// The seed.
    pub secret: Secret,
    /// How codes are made (and, for HOTP, the next counter).
    pub spec: OtpSpec,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// A free-form note.
    pub note: String,
    /// Deleted entries stay in history and can be restored.
    pub deleted: bool,
    /// The fields this version edits (the rest it carries from its parents):
    /// what the merge dates by this version's clock, and what `history`
    /// credits it with. Meaningless in a merged view.
    pub edits: Edits,
}

/// A set of an entry's fields: those a version edits.
///
/// Each field is a last-writer-wins register: its value is that of the
/// newest version (by HLC, then record id) that edits it
/// (`entries::EntryHistory::view`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Edits(u8);

impl Edits {
    /// No field: a version that only merges heads.
    pub const NONE: Edits = Edits(0);
    /// `issuer`.
    pub const ISSUER: Edits = Edits(1);
    /// `account`.
    pub const ACCOUNT: Edits = Edits(1 << 1);
    /// `secret` and `spec` (a rotation), the HOTP counter included.
    pub const OTP: Edits = Edits(1 << 2);
    /// Only the HOTP counter (a code used).
    pub const COUNTER: Edits = Edits(1 << 3);
    /// `tags`.
    pub const TAGS: Edits = Edits(1 << 4);
    /// `note`.
    pub const NOTE: Edits = Edits(1 << 5);
    /// `deleted` (a delete or a restore).
    pub const DELETED: Edits = Edits(1 << 6);
    /// Every field: a new entry.
    pub const ALL: Edits = Edits((1 << 7) - 1);

    /// Whether every field of `other` is in `self`.
    pub fn contains(self, other: Edits) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no field is.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn from_bits(bits: u8) -> Option<Edits> {
        (bits & !Edits::ALL.0 == 0).then_some(Edits(bits))
    }
}

impl std::ops::BitOr for Edits {
    type Output = Edits;
    fn bitor(self, other: Edits) -> Edits {
        Edits(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for Edits {
    fn bitor_assign(&mut self, other: Edits) {
        self.0 |= other.0;
    }
}

/// Equal content: `edits` says how a version came to be, not what it holds,
/// and is not compared.
impl PartialEq for EntryBody {
    fn eq(&self, other: &Self) -> bool {
        self.secret.ct_eq(&other.secret)
            && self.issuer == other.issuer
            && self.account == other.account
            && self.spec == other.spec
            && self.tags == other.tags
            && self.note == other.note
            && self.deleted == other.deleted
    }
}

impl Eq for EntryBody {}

/// The serialized form of [`EntryBody`], borrowing the secret.
#[derive(Serialize)]
struct BodyOut<'a> {
    issuer: &'a Option<String>,
    account: &'a str,
    secret: &'a [u8],
    spec: &'a OtpSpec,
    tags: &'a [String],
    note: &'a str,
    deleted: bool,
    edits: u8,
}

#[derive(Deserialize)]
struct BodyIn {
    issuer: Option<String>,
    account: String,
    secret: Vec<u8>,
    spec: OtpSpec,
    tags: Vec<String>,
    note: String,
    deleted: bool,
    edits: u8,
}

impl EntryBody {
    /// A copy (explicit, since it holds a secret).
    pub fn duplicate(&self) -> EntryBody {
        EntryBody {
            issuer: self.issuer.clone(),
            account: self.account.clone(),
            secret: self.secret.duplicate(),
            spec: self.spec,
            tags: self.tags.clone(),
            note: self.note.clone(),
            deleted: self.deleted,
            edits: self.edits,
        }
    }

    /// "Issuer: account", or the account alone: how people name an entry.
    pub fn label(&self) -> String {
        match &self.issuer {
            Some(issuer) if !issuer.is_empty() => format!("{issuer}: {}", self.account),
            _ => self.account.clone(),
        }
    }

    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(to_bytes(&BodyOut {
            issuer: &self.issuer,
            account: &self.account,
            secret: self.secret.expose(),
            spec: &self.spec,
            tags: &self.tags,
            note: &self.note,
            deleted: self.deleted,
            edits: self.edits.0,
        }))
    }

    fn from_bytes(bytes: &[u8]) -> Option<EntryBody> {
        let body: BodyIn = postcard::from_bytes(bytes).ok()?;
        Some(EntryBody {
            issuer: body.issuer,
            account: body.account,
            secret: Secret::new(body.secret),
            spec: body.spec,
            tags: body.tags,
            note: body.note,
            deleted: body.deleted,
            edits: Edits::from_bits(body.edits)?,
        })
    }
}
