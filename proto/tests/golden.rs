//! Golden files: the on-disk record format and the wire frames, pinned byte
//! for byte, so that any change to either is deliberate.
//!
//! `tests/golden/` holds the encoding of every record of the fixed household
//! in `tests/fixture/` (one file per record: each kind, `Genesis`, `Epoch`,
//! `Member`, `Entry`, `Revoke`, at least once) and of one frame of every
//! `Frame` and `PairFrame` variant, length prefix included. The tests check
//! that the committed bytes still decode to the fixture's values (and that
//! the records still verify, are admitted in order, and open with the
//! fixture's keys), and that encoding those values gives the same bytes.
//!
//! If a test here fails, the format changed. Old vaults and old peers hold
//! the old bytes: a change needs a version bump or a migration, not just new
//! files. Once that is dealt with, regenerate the files with
//!
//! ```sh
//! AUTHSYNC_BLESS=1 cargo test -p authsync-proto --test golden
//! ```
//!
//! and commit them with the change that explains why.
#![allow(clippy::unwrap_used)]

mod fixture;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use authsync_proto::crypto::{BoxKey, SymKey};
use authsync_proto::entries::Index;
use authsync_proto::ids::CollectionId;
use authsync_proto::ledger::{Admitted, Ledger};
use authsync_proto::record::{Body, Record};
use authsync_proto::wire::{self, Frame, PairFrame};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn blessing() -> bool {
    std::env::var_os("AUTHSYNC_BLESS").is_some_and(|v| v == "1")
}

/// The committed bytes of `name`; when blessing, writes `fresh` there first.
fn golden(name: &str, fresh: &[u8]) -> Vec<u8> {
    let path = dir().join(name);
    if blessing() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, fresh).unwrap();
    }
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; to create it: AUTHSYNC_BLESS=1 cargo test -p authsync-proto --test golden",
            path.display()
        )
    })
}

/// Fails if the encoding of today's values differs from the committed bytes.
fn assert_same(name: &str, committed: &[u8], fresh: &[u8]) {
    if committed != fresh {
        let at = committed.iter().zip(fresh).position(|(a, b)| a != b);
        panic!(
            "the encoding of {name} changed ({} bytes committed, {} now; first difference at {}). \
             This is a format change: see the header of proto/tests/golden.rs",
            committed.len(),
            fresh.len(),
            at.map_or("the end of the shorter".to_owned(), |i| format!("byte {i}")),
        );
    }
}

fn record_names() -> Vec<String> {
    fixture::records()
        .iter()
        .enumerate()
        .map(|(i, r)| format!("record_{}_{}.bin", i + 1, r.body.kind()))
        .collect()
}

#[test]
fn records_decode_verify_and_reencode_to_the_committed_bytes() {
    let records = fixture::records();
    let kinds: BTreeSet<&str> = records.iter().map(|r| r.body.kind()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["genesis", "member", "revoke", "epoch", "envelopes", "entry"])
    );

    let mut ledger = Ledger::new();
    for (record, name) in records.iter().zip(record_names()) {
        let fresh = record.encode();
        let bytes = golden(&name, &fresh);
        let decoded = Record::decode(&bytes).unwrap();
        assert_eq!(&decoded, record, "{name}");
        assert_same(&name, &bytes, &fresh);
        assert_eq!(ledger.admit(decoded, fixture::T0 + 60_000), Ok(Admitted::New), "{name}");
    }

    // The committed records still mean what they meant.
    let household = ledger.household().unwrap();
    let founder = fixture::founder_id();
    let joiner = fixture::joiner_id();
    assert_eq!(household.id, fixture::HOUSEHOLD);
    assert_eq!(household.founder, founder);
    assert_eq!(household.members[&founder].info.name, "alice-laptop");
    assert_eq!(household.members[&joiner].info.name, "bob-phone");
    assert_eq!(household.members[&joiner].revoked_after, Some(1));
    assert_eq!(household.members[&founder].revoked_after, None);
    let relay = household.members.values().find(|m| m.info.name == "home-nas").unwrap();
    assert!(relay.info.is_relay() && household.is_current_member(&relay.info.device));
    assert!(!household.key_holders().any(|m| m.info.is_relay()));
    for (me, box_key) in [(founder, fixture::FOUNDER_BOX), (joiner, fixture::JOINER_BOX)] {
        let keys = household.open_epoch_keys(&me, &BoxKey::from_bytes(box_key));
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[&fixture::EPOCH].expose(), &fixture::EPOCH_KEY);
    }
    let epoch_key = SymKey::from_bytes(&fixture::EPOCH_KEY);
    let entries: Vec<&Record> = ledger.records().filter(|r| matches!(r.body, Body::Entry(_))).collect();
    assert_eq!(entries.len(), 2);
    let bodies: Vec<_> = entries
        .iter()
        .map(|r| r.open_entry(&epoch_key).unwrap().unwrap())
        .collect();
    assert!(bodies.contains(&fixture::founder_entry()));
    assert!(bodies.contains(&fixture::joiner_entry()));

    // And the founder reads the joiner's edit as the current version.
    let index = Index::build(&ledger, &founder, &BoxKey::from_bytes(fixture::FOUNDER_BOX));
    let entry = index.get(&fixture::ENTRY).unwrap();
    assert_eq!(entry.versions().len(), 2);
    assert_eq!(entry.view(), &fixture::joiner_entry());
}

/// Migration (format 2 to 3): the committed records are a household from
/// before persons and collections. It reads as one of `shared`, read by
/// every device, its devices no person's; a `Person` record then places the
/// founder without changing what anyone reads.
#[test]
fn a_household_of_format_2_reads_as_one_of_shared() {
    let mut ledger = Ledger::new();
    for name in record_names() {
        let bytes = std::fs::read(dir().join(&name)).unwrap();
        ledger
            .admit(Record::decode(&bytes).unwrap(), fixture::T0 + 60_000)
            .unwrap();
    }
    let founder = fixture::founder_id();
    let household = ledger.household().unwrap();
    assert!(household.persons().is_empty());
    assert!(household.members.values().all(|m| m.person.is_none()));
    assert_eq!(household.collection_of(&fixture::EPOCH), Some(CollectionId::SHARED));
    assert_eq!(
        household.current_epoch(&CollectionId::SHARED).unwrap().id,
        fixture::EPOCH
    );
    let names: Vec<String> = household.collections().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["shared"]);
    assert!(household.reads(&CollectionId::SHARED, &founder));
    let index = Index::build(&ledger, &founder, &BoxKey::from_bytes(fixture::FOUNDER_BOX));
    assert_eq!(index.entries().count(), 1);

    let signing = authsync_proto::crypto::DeviceKey::from_bytes(&fixture::FOUNDER_SIGNING);
    let header = ledger.next_header(&founder, fixture::T0 + 60_000, None);
    let placed = Record::sign(
        &signing,
        header,
        Body::Person {
            device: founder,
            person: "alice".into(),
        },
    );
    ledger.admit(placed, fixture::T0 + 60_000).unwrap();
    let household = ledger.household().unwrap();
    assert_eq!(household.members[&founder].person.as_deref(), Some("alice"));
    assert!(household.reads(&CollectionId::SHARED, &founder));
    assert!(household.reads(&CollectionId::SHARED, &fixture::joiner_id()));
    let index = Index::build(&ledger, &founder, &BoxKey::from_bytes(fixture::FOUNDER_BOX));
    assert_eq!(index.entries().count(), 1);
}

fn check_frame<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, frame: &T) {
    let fresh = wire::encode(frame).unwrap();
    let bytes = golden(name, &fresh);
    let len = wire::frame_len(bytes[..4].try_into().unwrap()).unwrap();
    assert_eq!(len, bytes.len() - 4, "{name}: length prefix");
    assert_eq!(&wire::decode::<T>(&bytes[4..]).unwrap(), frame, "{name}");
    assert_same(name, &bytes, &fresh);
}

fn frame_names() -> Vec<String> {
    let sync = fixture::frames().into_iter().map(|(n, _)| format!("frame_{n}.bin"));
    let pair = fixture::pair_frames().into_iter().map(|(n, _)| format!("pair_{n}.bin"));
    sync.chain(pair).collect()
}

#[test]
fn frames_decode_and_reencode_to_the_committed_bytes() {
    let frames = fixture::frames();
    assert!(frames.iter().any(|(_, f)| matches!(f, Frame::Hello(_))));
    assert!(frames.iter().any(|(_, f)| matches!(f, Frame::Records(_))));
    assert!(frames.iter().any(|(_, f)| matches!(f, Frame::Removed(_))));
    for (name, frame) in &frames {
        check_frame(&format!("frame_{name}.bin"), frame);
    }
    let pair = fixture::pair_frames();
    assert_eq!(pair.len(), 9, "a PairFrame variant without a golden file?");
    for (name, frame) in &pair {
        check_frame(&format!("pair_{name}.bin"), frame);
    }
    // The records inside a frame are the stored records, byte for byte.
    let Frame::Records(records) = &frames[1].1 else {
        panic!("the second fixture frame is Records");
    };
    let body = std::fs::read(dir().join("frame_records.bin")).unwrap();
    let stored: Vec<u8> = records.iter().flat_map(Record::encode).collect();
    assert_eq!(records.len(), 8);
    // Enum tag 1, then the count 8 (postcard varints), then the records.
    assert_eq!(
        body[4..],
        [&[1, 8][..], &stored].concat(),
        "a Records frame is its records"
    );
    let PairFrame::Joiner { sealed } = &pair[3].1 else {
        panic!("the fourth pairing frame is Joiner");
    };
    let opened = SymKey::from_bytes(&[0x77; 32]).open(b"", sealed).unwrap();
    assert_eq!(&opened[..], b"bob-phone and a box key");
}

#[test]
fn no_stale_golden_files() {
    let known: BTreeSet<String> = record_names().into_iter().chain(frame_names()).collect();
    if blessing() {
        // Blessing rewrites the known files; drop the ones nothing checks.
        for entry in std::fs::read_dir(dir()).into_iter().flatten() {
            let entry = entry.unwrap();
            if !known.contains(entry.file_name().to_str().unwrap_or("")) {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        return;
    }
    let present: BTreeSet<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        present, known,
        "tests/golden/ holds files no test checks, or lacks some"
    );
}

#[test]
fn welcome_frames_are_the_frames_encode_makes_of_each_batch() {
    let records = fixture::records();
    // Enough copies for several frames (each up to half of MAX_FRAME_BYTES).
    let many: Vec<&Record> = records.iter().cycle().take(records.len() * 700).collect();
    for set in [Vec::new(), records.iter().collect(), many] {
        let expected: Vec<Vec<u8>> = wire::record_batches(set.iter().copied())
            .into_iter()
            .map(|batch| wire::encode(&PairFrame::Welcome(batch)).unwrap())
            .collect();
        let frames = wire::welcome_frames(set.iter().copied()).unwrap();
        assert_eq!(frames.len(), expected.len());
        assert!(frames == expected, "welcome frames of {} records differ", set.len());
    }
    let frames = wire::welcome_frames(records.iter().cycle().take(records.len() * 700)).unwrap();
    assert!(frames.len() > 1);
    // And they read back as the records, in order.
    let read: Vec<Record> = frames
        .iter()
        .flat_map(|frame| match wire::decode::<PairFrame>(&frame[4..]).unwrap() {
            PairFrame::Welcome(batch) => batch,
            _ => panic!("not a welcome"),
        })
        .collect();
    assert!(read.iter().eq(records.iter().cycle().take(records.len() * 700)));
}
