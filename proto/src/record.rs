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
use crate::ids::{CollectionId, DeviceId, EntryId, EpochId, HouseholdId, RecordId};
use crate::otp::{OtpSpec, Secret};

/// The largest encoded record accepted from anyone. An entry's note and tags
/// are bounded well below it (see [`EntryBody::check_size`]), so that no
/// import or edit can write a record that a store or a peer refuses.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The record format: in the store's `meta` and in the sync protocol
/// version. Version 2 split the device key (transport and signing), chained
/// each origin's records by hash, and carries what the origin had admitted.
/// Version 3 added persons and collections: new kinds of record only, so a
/// vault of version 2 is read as it is (its epochs are `shared`'s, its
/// devices no person's), and signatures keep version 2's domain.
pub const FORMAT_VERSION: u32 = 3;

/// Domain separation for record signatures.
const SIGNING_CONTEXT: &[u8] = b"authsync record v2\0";

/// Domain separation for a joiner's signature over its own admission.
const JOIN_CONTEXT: &[u8] = b"authsync join v2\0";

/// SHA-256 of a record's encoding: how the next record of its origin names it.
pub type RecordHash = [u8; 32];

/// A device as the household knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// SHA-256 of `signing_key`.
    pub device: DeviceId,
    /// What people call it: `alice-laptop`.
    pub name: String,
    /// Ed25519 public key: verifies its records (its authority). The secret
    /// half is sealed at rest and in memory only while unlocked.
    pub signing_key: [u8; 32],
    /// Ed25519 public key: authenticates its QUIC connections and nothing
    /// else. The secret half is plain at rest, so a locked daemon syncs.
    pub transport_key: [u8; 32],
    /// X25519 public key: epoch envelopes are sealed to it. A relay has
    /// none: [`NO_BOX_KEY`].
    pub box_key: [u8; 32],
    /// What it does in the household (authority rule 9).
    pub role: Role,
}

/// What a relay's membership carries as its box key: it holds none.
pub const NO_BOX_KEY: [u8; 32] = [0; 32];

/// What a member does in the household.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Reads and writes entries: holds a box key, gets the epoch keys.
    #[default]
    Device,
    /// Stores and forwards every record for devices that are rarely online
    /// together; holds no box key, gets no epoch key, reads nothing and
    /// signs nothing but its own joining (authority rule 9).
    Relay,
}

impl Role {
    /// Its name in `devices`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::Relay => "relay",
        }
    }
}

/// What a joiner signs with its new signing key to be admitted: the
/// household, itself, its sponsor and the pairing transcript. A `Member`
/// record without it is refused, so a sponsor cannot admit a key that did
/// not ask to join, and a record cannot be replayed into another household.
#[derive(Serialize)]
struct JoinStatement<'a> {
    household: &'a HouseholdId,
    member: &'a MemberInfo,
    sponsor: &'a DeviceId,
    transcript: &'a [u8; 32],
}

impl MemberInfo {
    /// Whether it is a relay (authority rule 9).
    pub fn is_relay(&self) -> bool {
        self.role == Role::Relay
    }

    fn join_message(&self, household: &HouseholdId, sponsor: &DeviceId, transcript: &[u8; 32]) -> Vec<u8> {
        let mut message = JOIN_CONTEXT.to_vec();
        message.extend(to_bytes(&JoinStatement {
            household,
            member: self,
            sponsor,
            transcript,
        }));
        message
    }

    /// The joiner's signature over its admission (made with its signing key).
    pub fn sign_join(
        &self,
        signing_key: &DeviceKey,
        household: &HouseholdId,
        sponsor: &DeviceId,
        transcript: &[u8; 32],
    ) -> Vec<u8> {
        signing_key
            .sign(&self.join_message(household, sponsor, transcript))
            .to_vec()
    }

    /// Checks a joiner's signature over its admission.
    pub fn verify_join(
        &self,
        household: &HouseholdId,
        sponsor: &DeviceId,
        transcript: &[u8; 32],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if DeviceId::from_public_key(&self.signing_key) != self.device {
            return Err(CryptoError::BadSignature);
        }
        crypto::verify(
            &self.signing_key,
            &self.join_message(household, sponsor, transcript),
            signature,
        )
    }
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
        founder: Box<MemberInfo>,
    },
    /// Admits a device; the record's origin is its sponsor.
    Member {
        /// The new member.
        member: Box<MemberInfo>,
        /// A hash of the pairing exchange both sides saw.
        transcript: [u8; 32],
        /// The joiner's own signature ([`MemberInfo::sign_join`]).
        joiner_signature: Vec<u8>,
    },
    /// Removes a device: its records after `last_seq` are ignored.
    Revoke {
        /// The device cut out.
        device: DeviceId,
        /// The last of its records still accepted.
        last_seq: u64,
    },
    /// A new epoch of the household key, sealed to members.
    Epoch {
        /// The epoch.
        epoch: EpochId,
        /// Exactly one more than the highest counter its origin had admitted
        /// (0 for the household's first): the current epoch has the highest.
        counter: u64,
        /// [`SymKey::commitment`] of the epoch key: an envelope counts only
        /// if what it opens matches.
        commitment: [u8; 32],
        /// The epoch key, one envelope per addressee.
        envelopes: Vec<Envelope>,
    },
    /// More envelopes of an existing epoch (for a member admitted later).
    Envelopes {
        /// The epoch.
        epoch: EpochId,
        /// The epoch key, one envelope per new addressee.
        envelopes: Vec<Envelope>,
    },
    /// One version of an entry.
    Entry(SealedEntry),
    /// Says whose device `device` is (authority rule 10).
    Person {
        /// The device.
        device: DeviceId,
        /// Its person's name ([`check_name`]).
        person: String,
    },
    /// Renames a device (authority rule 10).
    Rename {
        /// The device.
        device: DeviceId,
        /// Its new name ([`check_name`]).
        name: String,
    },
    /// Creates a named collection or sets who is in it; for `shared`, sets
    /// who is in it (authority rule 11).
    Collection {
        /// The collection: [`CollectionId::SHARED`] or a random id.
        collection: CollectionId,
        /// Its name ([`check_name`]); ignored for `shared`.
        name: String,
        /// The persons whose devices read it, sorted, without duplicates.
        persons: Vec<String>,
    },
    /// A new epoch of a collection's key, sealed to its readers (authority
    /// rule 7). Format 2's `Epoch` is one of `shared`.
    CollectionEpoch {
        /// The collection.
        collection: CollectionId,
        /// The epoch.
        epoch: EpochId,
        /// Exactly one more than the highest counter of the collection's
        /// epochs its origin had admitted (0 for the first).
        counter: u64,
        /// [`SymKey::commitment`] of the epoch key.
        commitment: [u8; 32],
        /// The epoch key, one envelope per addressee.
        envelopes: Vec<Envelope>,
    },
    /// The TOTP codes of a window, sealed to one person's devices
    /// ([`crate::lend`]).
    Lend(Box<crate::lend::Lend>),
}

/// The longest person, device or collection name.
pub const MAX_NAME_CHARS: usize = 40;

/// Whether `name` may name a person, a device or a collection: 1 to
/// [`MAX_NAME_CHARS`] characters, no control characters, no comma (lists of
/// persons are written with commas), no leading or trailing space.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a name cannot be empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("a name can be at most 40 characters");
    }
    if name.chars().any(|c| c.is_control() || c == ',') {
        return Err("a name cannot hold control characters or commas");
    }
    if name.trim() != name {
        return Err("a name cannot start or end with a space");
    }
    Ok(())
}

impl Body {
    /// The kind's name, for logs (never the content).
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Genesis { .. } => "genesis",
            Body::Member { .. } => "member",
            Body::Revoke { .. } => "revoke",
            Body::Epoch { .. } => "epoch",
            Body::Envelopes { .. } => "envelopes",
            Body::Entry(_) => "entry",
            Body::Person { .. } => "person",
            Body::Rename { .. } => "rename",
            Body::Collection { .. } => "collection",
            Body::CollectionEpoch { .. } => "epoch",
            Body::Lend(_) => "lend",
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
    /// When its origin wrote it: orders entry edits, never authority.
    pub hlc: Hlc,
    /// The hash of its origin's previous record (zeros for seq 1): two
    /// records that disagree about an origin's history prove a fork.
    pub prev: RecordHash,
    /// What its origin had admitted when it wrote it: per other origin, the
    /// highest contiguous seq. Its causal past, which authority rules read
    /// instead of clocks; a receiver admits it only after all of that.
    pub seen: Vec<(DeviceId, u64)>,
    /// What it says.
    pub body: Body,
    /// Ed25519 signature by `id.origin`'s signing key over all of the above.
    pub signature: Vec<u8>,
}

/// Where a new record goes in its origin's history: what [`Record::sign`]
/// needs besides the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Origin and sequence number.
    pub id: RecordId,
    /// The household.
    pub household: HouseholdId,
    /// The origin's clock.
    pub hlc: Hlc,
    /// The hash of the origin's previous record.
    pub prev: RecordHash,
    /// What the origin had admitted.
    pub seen: Vec<(DeviceId, u64)>,
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
    prev: &'a RecordHash,
    seen: &'a [(DeviceId, u64)],
    body: &'a Body,
}

#[derive(Serialize)]
struct EntryAad<'a> {
    id: &'a RecordId,
    household: &'a HouseholdId,
    hlc: &'a Hlc,
    prev: &'a RecordHash,
    entry: &'a EntryId,
    parents: &'a [RecordId],
    epoch: &'a EpochId,
}

/// Room for a typical record, so that encoding one does not grow its
/// buffer step by step (a start encodes every stored record: issue 15).
const TYPICAL_RECORD_BYTES: usize = 512;

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    extend_bytes(value, Vec::with_capacity(TYPICAL_RECORD_BYTES))
}

fn extend_bytes<T: Serialize>(value: &T, buffer: Vec<u8>) -> Vec<u8> {
    postcard::to_extend(value, buffer).expect("serializing to a Vec cannot fail")
}

impl Record {
    /// What the origin's signature covers (for checking many at once:
    /// [`crate::crypto::Verified`]).
    pub fn signed_message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + TYPICAL_RECORD_BYTES);
        message.extend_from_slice(SIGNING_CONTEXT);
        extend_bytes(
            &Signed {
                id: &self.id,
                household: &self.household,
                hlc: &self.hlc,
                prev: &self.prev,
                seen: &self.seen,
                body: &self.body,
            },
            message,
        )
    }

    /// Signs a new record with its origin's signing key.
    pub fn sign(key: &DeviceKey, header: Header, body: Body) -> Record {
        let mut record = Record {
            id: header.id,
            household: header.household,
            hlc: header.hlc,
            prev: header.prev,
            seen: header.seen,
            body,
            signature: Vec::new(),
        };
        record.signature = key.sign(&record.signed_message()).to_vec();
        record
    }

    /// Seals `body` to `epoch_key` and signs the resulting `Entry` record.
    pub fn seal_entry<R: RngCore + CryptoRng>(
        rng: &mut R,
        key: &DeviceKey,
        header: Header,
        entry: EntryId,
        parents: Vec<RecordId>,
        epoch: (EpochId, &SymKey),
        body: &EntryBody,
    ) -> Record {
        let aad = to_bytes(&EntryAad {
            id: &header.id,
            household: &header.household,
            hlc: &header.hlc,
            prev: &header.prev,
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
        Record::sign(key, header, body)
    }

    /// Checks the signature against the origin's public signing key.
    pub fn verify(&self, signing_key: &[u8; 32]) -> Result<(), CryptoError> {
        if DeviceId::from_public_key(signing_key) != self.id.origin {
            return Err(CryptoError::BadSignature);
        }
        crypto::verify(signing_key, &self.signed_message(), &self.signature)
    }

    /// SHA-256 of the record's encoding: what its origin's next record
    /// carries as `prev`, and what `Hello` carries per origin.
    pub fn hash(&self) -> RecordHash {
        crypto::sha256(&self.encode())
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
            prev: &self.prev,
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

    /// The length of [`Record::encode`], without encoding it.
    pub fn encoded_len(&self) -> usize {
        postcard::serialize_with_flavor(self, postcard::ser_flavors::Size::default())
            .expect("sizing a record cannot fail")
    }

    /// Reads a record (unverified: check it with [`Record::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(DecodeError::TooLarge);
        }
        match postcard::from_bytes::<Record>(bytes) {
            Ok(record) if record.encoded_len() == bytes.len() => Ok(record),
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

/// The largest encoded entry body. A household's notes, names and tags are
/// far smaller; a body larger than this is refused when it is written (an
/// import names the entry), so that every record fits [`MAX_RECORD_BYTES`]
/// with room for its header.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// An entry body over [`MAX_BODY_BYTES`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the entry is too large ({bytes} bytes; at most {MAX_BODY_BYTES}): shorten its note, tags or names")]
pub struct BodyTooLarge {
    /// Its encoded size.
    pub bytes: usize,
}

impl EntryBody {
    /// Refuses a body that would make a record too large to store or send.
    pub fn check_size(&self) -> Result<(), BodyTooLarge> {
        let bytes = self.to_bytes().len();
        if bytes > MAX_BODY_BYTES {
            return Err(BodyTooLarge { bytes });
        }
        Ok(())
    }

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
