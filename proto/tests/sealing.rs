//! Sealing and signing of records: entry bodies round-trip through
//! `seal_entry`/`open_entry` and `encode`/`decode`; any change to a sealed,
//! signed record is caught (by decoding, by the signature, or by the AEAD
//! whose associated data is the record header); envelopes open only for
//! their recipient and epoch.
#![allow(clippy::unwrap_used)]

mod common;

use authsync_proto::crypto::{BoxKey, CryptoError, DeviceKey, Envelope, SymKey};
use authsync_proto::hlc::Hlc;
use authsync_proto::ids::{DeviceId, EntryId, EpochId, HouseholdId, RecordId};
use authsync_proto::record::{Body, DecodeError, Header, MAX_RECORD_BYTES, Record};
use common::{Plain, arb_plain, config, rng};
use proptest::prelude::*;
use rand::rngs::StdRng;

/// Everything needed to seal one entry record.
struct Fixture {
    rng: StdRng,
    author: DeviceKey,
    other: DeviceKey,
    epoch: EpochId,
    epoch_key: SymKey,
    household: HouseholdId,
}

impl Fixture {
    fn new(seed: u64) -> Fixture {
        let mut rng = rng(seed);
        let author = DeviceKey::generate(&mut rng);
        let other = DeviceKey::generate(&mut rng);
        let epoch_key = SymKey::generate(&mut rng);
        Fixture {
            rng,
            author,
            other,
            epoch: EpochId([0x5e; 16]),
            epoch_key,
            household: HouseholdId([0x40; 16]),
        }
    }

    fn id(&self, seq: u64) -> RecordId {
        RecordId {
            origin: self.author.id(),
            seq,
        }
    }

    fn header(&self, seq: u64) -> Header {
        Header {
            id: self.id(seq),
            household: self.household,
            hlc: Hlc {
                ms: 1_700_000_000_000 + seq,
                counter: 3,
            },
            prev: [seq as u8; 32],
            seen: vec![(DeviceId([9; 32]), 12)],
        }
    }

    fn seal(&mut self, seq: u64, parents: Vec<RecordId>, body: &Plain) -> Record {
        let header = self.header(seq);
        Record::seal_entry(
            &mut self.rng,
            &self.author,
            header,
            EntryId([0xe7; 16]),
            parents,
            (self.epoch, &self.epoch_key),
            &body.body(),
        )
    }

    fn open(&self, record: &Record) -> Result<Plain, CryptoError> {
        record.open_entry(&self.epoch_key).unwrap().map(|b| Plain::of(&b))
    }
}

fn some_parents(author: DeviceId) -> Vec<RecordId> {
    vec![
        RecordId { origin: author, seq: 4 },
        RecordId {
            origin: DeviceId([9; 32]),
            seq: 12,
        },
    ]
}

proptest! {
    #![proptest_config(config(64))]

    /// seal → open gives the same body; the record verifies with its
    /// author's key only; encode → decode gives the same record and bytes.
    #[test]
    fn entry_round_trips(seed: u64, plain in arb_plain(), seq in 1u64..1_000_000, n_parents in 0usize..3) {
        let mut f = Fixture::new(seed);
        let parents = some_parents(f.author.id()).into_iter().take(n_parents).collect();
        let record = f.seal(seq, parents, &plain);

        prop_assert_eq!(f.open(&record), Ok(plain.clone()));
        prop_assert_eq!(record.open_entry(&f.epoch_key).unwrap().unwrap(), plain.body());
        prop_assert_eq!(record.verify(&f.author.public()), Ok(()));
        prop_assert_eq!(record.verify(&f.other.public()), Err(CryptoError::BadSignature));

        let bytes = record.encode();
        let decoded = Record::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &record);
        prop_assert_eq!(decoded.encode(), bytes);
        prop_assert_eq!(decoded.verify(&f.author.public()), Ok(()));
        prop_assert_eq!(f.open(&decoded), Ok(plain));
    }

    /// One byte changed anywhere (a proptest-chosen position and mask) is
    /// caught by decode, verify or open.
    #[test]
    fn any_flipped_byte_is_caught(seed: u64, plain in arb_plain(), at: prop::sample::Index, mask in 1u8..=255) {
        let mut f = Fixture::new(seed);
        let record = f.seal(7, some_parents(f.author.id()), &plain);
        let mut bytes = record.encode();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        prop_assert!(caught(&f, &bytes), "flip {mask:#04x} at byte {i} of {} went unnoticed", bytes.len());
    }

    /// Another epoch key never opens a body.
    #[test]
    fn another_epoch_key_does_not_open(seed: u64, plain in arb_plain()) {
        let mut f = Fixture::new(seed);
        let record = f.seal(1, vec![], &plain);
        let wrong = SymKey::generate(&mut f.rng);
        prop_assert!(matches!(record.open_entry(&wrong), Some(Err(CryptoError::DecryptionFailed))));
    }

    /// An envelope opens, to the same key, only with its recipient's box key
    /// and its epoch id.
    #[test]
    fn envelope_round_trips_only_for_its_recipient_and_epoch(
        seed: u64,
        epoch: [u8; 16],
        other_epoch: [u8; 16],
        recipient: [u8; 32],
    ) {
        prop_assume!(epoch != other_epoch);
        let mut rng = rng(seed);
        let (epoch, other_epoch, recipient) = (EpochId(epoch), EpochId(other_epoch), DeviceId(recipient));
        let box_key = BoxKey::generate(&mut rng);
        let stranger = BoxKey::generate(&mut rng);
        let key = SymKey::generate(&mut rng);
        let envelope = Envelope::seal(&mut rng, recipient, &box_key.public(), &epoch, &key);

        let opened = envelope.open(&box_key, &epoch).unwrap();
        prop_assert_eq!(opened.expose(), key.expose());
        prop_assert_eq!(envelope.open(&stranger, &epoch).err(), Some(CryptoError::DecryptionFailed));
        prop_assert_eq!(envelope.open(&box_key, &other_epoch).err(), Some(CryptoError::DecryptionFailed));
        let mut readdressed = envelope.clone();
        readdressed.recipient.0[0] ^= 1;
        prop_assert!(readdressed.open(&box_key, &epoch).is_err());
    }
}

/// Whether a changed encoding is refused at some step: decode, open (a
/// non-entry body cannot open either) or verify with the author's key. Open
/// goes before verify only because it is much cheaper in a debug build.
fn caught(f: &Fixture, bytes: &[u8]) -> bool {
    let Ok(record) = Record::decode(bytes) else {
        return true;
    };
    if !matches!(record.open_entry(&f.epoch_key), Some(Ok(_))) {
        return true;
    }
    record.verify(&f.author.public()).is_err()
}

/// Every byte of an encoded record, each flipped three ways.
#[test]
fn every_flipped_byte_is_caught() {
    let mut f = Fixture::new(11);
    let plain = Plain {
        issuer: Some("Amazon".into()),
        account: "alice@example.com".into(),
        secret: (0..20).collect(),
        spec: authsync_proto::otp::OtpSpec::totp_default(),
        tags: vec!["shopping".into()],
        note: "shared".into(),
        deleted: false,
    };
    let record = f.seal(3, some_parents(f.author.id()), &plain);
    let bytes = record.encode();
    assert!(!caught(&f, &bytes), "the untouched record must pass");
    let mut missed = Vec::new();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut changed = bytes.clone();
            changed[i] ^= mask;
            if !caught(&f, &changed) {
                missed.push((i, mask));
            }
        }
    }
    assert!(missed.is_empty(), "flips not caught (byte, mask): {missed:?}");
}

#[test]
fn decode_refuses_trailing_truncated_and_oversized_input() {
    let mut f = Fixture::new(12);
    let bytes = f.seal(1, vec![], &Plain::simple("bob", b"0123456789", false)).encode();
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(Record::decode(&trailing), Err(DecodeError::Malformed));
    for len in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(
            Record::decode(&bytes[..len]),
            Err(DecodeError::Malformed),
            "{len} bytes"
        );
    }
    assert_eq!(
        Record::decode(&vec![0; MAX_RECORD_BYTES + 1]),
        Err(DecodeError::TooLarge)
    );
}

/// A record's header, to sign it again after a change.
fn header_of(record: &Record) -> Header {
    Header {
        id: record.id,
        household: record.household,
        hlc: record.hlc,
        prev: record.prev,
        seen: record.seen.clone(),
    }
}

/// One way to change a signed entry record's header.
type Mutation = fn(&mut Record);

fn sealed(record: &mut Record) -> &mut authsync_proto::record::SealedEntry {
    match &mut record.body {
        Body::Entry(sealed) => sealed,
        _ => unreachable!("an entry record"),
    }
}

const HEADER_CHANGES: &[(&str, Mutation)] = &[
    ("hlc ms", |r| r.hlc.ms += 1),
    ("hlc counter", |r| r.hlc.counter += 1),
    ("seq", |r| r.id.seq += 1),
    ("household", |r| r.household.0[15] ^= 1),
    ("prev", |r| r.prev[7] ^= 1),
    ("entry id", |r| sealed(r).entry.0[0] ^= 1),
    ("epoch id", |r| sealed(r).epoch.0[3] ^= 1),
    ("parent seq", |r| sealed(r).parents[0].seq += 1),
    ("parent origin", |r| sealed(r).parents[1].origin.0[31] ^= 1),
    ("parents reordered", |r| sealed(r).parents.reverse()),
    ("parent dropped", |r| {
        sealed(r).parents.pop();
    }),
    ("parent added", |r| {
        let extra = RecordId {
            origin: DeviceId([1; 32]),
            seq: 1,
        };
        sealed(r).parents.push(extra);
    }),
];

/// Changing any header field after signing breaks the signature; re-signing
/// the changed record with the same key still cannot make it open, because
/// the header is the body's associated data.
#[test]
fn header_changes_break_the_signature_and_the_seal() {
    let mut f = Fixture::new(13);
    let plain = Plain::simple("carol", b"a secret of twenty b", true);
    let record = f.seal(5, some_parents(f.author.id()), &plain);
    assert_eq!(f.open(&record), Ok(plain));
    for (what, change) in HEADER_CHANGES {
        let mut changed = record.clone();
        change(&mut changed);
        assert_ne!(changed, record, "{what}: the mutation changed nothing");
        assert_eq!(
            changed.verify(&f.author.public()),
            Err(CryptoError::BadSignature),
            "{what}: verify"
        );

        let resigned = Record::sign(&f.author, header_of(&changed), changed.body);
        assert_eq!(resigned.verify(&f.author.public()), Ok(()), "{what}: re-signed");
        assert_eq!(f.open(&resigned), Err(CryptoError::DecryptionFailed), "{what}: open");
    }
}

/// A record claiming another origin fails to verify with either key, and
/// its body is bound to the original origin.
#[test]
fn changed_origin_breaks_the_signature_and_the_seal() {
    let mut f = Fixture::new(14);
    let record = f.seal(2, vec![], &Plain::simple("dave", b"0123456789abcdef", false));
    let mut stolen = record.clone();
    stolen.id.origin = f.other.id();
    assert!(stolen.verify(&f.author.public()).is_err());
    assert!(stolen.verify(&f.other.public()).is_err());
    let resigned = Record::sign(&f.other, header_of(&stolen), stolen.body);
    assert_eq!(resigned.verify(&f.other.public()), Ok(()));
    assert_eq!(f.open(&resigned), Err(CryptoError::DecryptionFailed));
}

/// A sealed body moved into another record (same key, other header), or its
/// nonce or ciphertext changed and re-signed, does not open.
#[test]
fn sealed_bodies_are_bound_to_their_record() {
    let mut f = Fixture::new(15);
    let one = f.seal(1, vec![], &Plain::simple("erin", b"first secret....", false));
    let two = f.seal(2, vec![], &Plain::simple("erin", b"second secret...", false));
    let mut pasted = two.clone();
    sealed(&mut pasted).body = match &one.body {
        Body::Entry(s) => s.body.clone(),
        _ => unreachable!(),
    };
    let pasted = Record::sign(&f.author, header_of(&pasted), pasted.body);
    assert_eq!(f.open(&pasted), Err(CryptoError::DecryptionFailed));

    let body_changes: &[(&str, Mutation)] = &[
        ("nonce", |r| sealed(r).body.nonce[0] ^= 1),
        ("ciphertext", |r| sealed(r).body.ciphertext[0] ^= 1),
        ("tag", |r| {
            let c = &mut sealed(r).body.ciphertext;
            let last = c.len() - 1;
            c[last] ^= 0x80;
        }),
        ("truncated", |r| {
            sealed(r).body.ciphertext.pop();
        }),
    ];
    for (what, change) in body_changes {
        let mut changed = one.clone();
        change(&mut changed);
        assert!(changed.verify(&f.author.public()).is_err(), "{what}: verify");
        let resigned = Record::sign(&f.author, header_of(&changed), changed.body);
        assert_eq!(f.open(&resigned), Err(CryptoError::DecryptionFailed), "{what}: open");
    }
}

#[test]
fn only_entry_records_open() {
    let f = Fixture::new(16);
    let record = Record::sign(
        &f.author,
        f.header(1),
        Body::Revoke {
            device: f.other.id(),
            last_seq: 0,
        },
    );
    assert!(record.open_entry(&f.epoch_key).is_none());
    assert_eq!(record.verify(&f.author.public()), Ok(()));
}

/// Envelopes: every failure the recipient can meet, table-driven.
#[test]
fn tampered_envelopes_do_not_open() {
    let mut rng = rng(17);
    let box_key = BoxKey::generate(&mut rng);
    let recipient = DeviceId([3; 32]);
    let epoch = EpochId([4; 16]);
    let key = SymKey::generate(&mut rng);
    let envelope = Envelope::seal(&mut rng, recipient, &box_key.public(), &epoch, &key);
    type EnvelopeChange = fn(&mut Envelope);
    let changes: &[(&str, EnvelopeChange)] = &[
        ("recipient", |e| e.recipient.0[0] ^= 1),
        ("ephemeral", |e| e.ephemeral[5] ^= 1),
        ("low-order ephemeral", |e| e.ephemeral = [0; 32]),
        ("nonce", |e| e.sealed.nonce[23] ^= 1),
        ("ciphertext", |e| e.sealed.ciphertext[0] ^= 1),
        ("tag", |e| {
            let last = e.sealed.ciphertext.len() - 1;
            e.sealed.ciphertext[last] ^= 1;
        }),
        ("truncated", |e| e.sealed.ciphertext.truncate(31)),
    ];
    assert_eq!(envelope.open(&box_key, &epoch).unwrap().expose(), key.expose());
    for (what, change) in changes {
        let mut changed = envelope.clone();
        change(&mut changed);
        assert_eq!(
            changed.open(&box_key, &epoch).err(),
            Some(CryptoError::DecryptionFailed),
            "{what}"
        );
    }
}
