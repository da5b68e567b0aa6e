//! The bodies of the fuzz targets: one function per decoder of outside
//! input, each feeding arbitrary bytes through the same calls `authd` and
//! `authctl` make, and asserting what must hold for anything that decodes.
//!
//! The fuzz binaries (`fuzz_targets/`) call these functions; the normal test
//! suite (`proto/tests/fuzz_corpus.rs`) includes this file by path and
//! replays every committed corpus file through them, so it may use only
//! `authsync_proto`, `serde_json` and `rand` (dependencies of `proto` too).
//! A panic is a finding.

use std::collections::BTreeMap;

use authsync_proto::crypto::BoxKey;
use authsync_proto::entries::Index;
use authsync_proto::household::Household;
use authsync_proto::ipc::{Hello, Request};
use authsync_proto::ledger::{Admitted, Ledger};
use authsync_proto::otp;
use authsync_proto::otpauth;
use authsync_proto::record::Record;
use authsync_proto::wire::{self, Frame, PairFrame};

#[path = "../../proto/tests/fixture/mod.rs"]
pub mod fixture;

/// Target `frame`: one frame body (what follows the 4-byte length prefix on
/// a sync or pairing stream), read as a sync `Frame` and as a `PairFrame`,
/// as `daemon/src/sync.rs` `read_frame` does. A body that decodes encodes
/// back to a frame that decodes to the same value; every record it carries
/// survives the store's own encoding (`Record::encode`/`decode`).
pub fn frame(data: &[u8]) {
    if data.len() > wire::MAX_FRAME_BYTES {
        return;
    }
    if let Ok(frame) = wire::decode::<Frame>(data) {
        round_trip(&frame);
        if let Frame::Records(records) = &frame {
            records.iter().for_each(store_round_trip);
        }
    }
    if let Ok(frame) = wire::decode::<PairFrame>(data) {
        round_trip(&frame);
        if let PairFrame::Welcome(records) = &frame {
            records.iter().for_each(store_round_trip);
        }
    }
    // The prefix check on whatever the first four bytes are.
    if let Some(prefix) = data.first_chunk::<4>() {
        let len = u32::from_be_bytes(*prefix) as usize;
        assert_eq!(wire::frame_len(*prefix).is_ok(), len <= wire::MAX_FRAME_BYTES);
    }
}

fn round_trip<T>(frame: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    // A decoded frame fits the limit, so it encodes (the body is never
    // longer than what was decoded: postcard's encoding is the shortest).
    let bytes = wire::encode(frame).expect("a decoded frame encodes");
    let prefix: [u8; 4] = bytes[..4].try_into().expect("four bytes");
    assert_eq!(wire::frame_len(prefix), Ok(bytes.len() - 4));
    assert_eq!(
        &wire::decode::<T>(&bytes[4..]).expect("an encoded frame decodes"),
        frame
    );
}

/// A record received in a frame is stored as `Record::encode` and read back
/// with `Record::decode` at the next start; it must come back the same.
fn store_round_trip(record: &Record) {
    let bytes = record.encode();
    if bytes.len() <= authsync_proto::record::MAX_RECORD_BYTES {
        assert_eq!(Record::decode(&bytes).as_ref(), Ok(record));
    }
}

/// Target `record`: a sequence of stored records, each as a 4-byte
/// big-endian length and that many bytes (the last may be cut short), as
/// `daemon/src/store.rs` reads them at start: decoded with `Record::decode`
/// and admitted one by one into a ledger (signature, membership, sequence,
/// revocation checks). Then what a device does with a ledger: the fold, the
/// epoch keys and the decrypted index, for both of the fixture's devices.
/// The seeds are the fixture household's records, whose signatures verify,
/// so mutations reach the rules past the signature check.
pub fn records(data: &[u8]) {
    let mut ledger = Ledger::new();
    let mut decoded = Vec::new();
    let mut rest = data;
    while let Some((prefix, tail)) = rest.split_first_chunk::<4>() {
        let len = (u32::from_be_bytes(*prefix) as usize).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        rest = tail;
        let Ok(record) = Record::decode(bytes) else {
            continue;
        };
        // Decoding accepts only the canonical encoding.
        assert_eq!(record.encode(), bytes);
        let before = ledger.len();
        let check = ledger.check(&record);
        let admit = ledger.admit(record.clone());
        assert_eq!(check, admit, "check and admit disagree");
        match admit {
            Ok(Admitted::New) => {
                assert_eq!(ledger.len(), before + 1);
                assert_eq!(ledger.get(&record.id), Some(&record));
                assert_eq!(ledger.version_vector().get(&record.id.origin), Some(&record.id.seq));
                assert!(ledger.latest_hlc() >= record.hlc);
            }
            Ok(Admitted::Duplicate) => assert_eq!(ledger.len(), before),
            Err(_) => assert_eq!(ledger.len(), before),
        }
        decoded.push(record);
    }

    // The fold is a function of the record set, verified or not: it must not
    // panic on records nobody signed either.
    let _ = Household::fold(decoded.iter());
    if ledger.is_empty() {
        return;
    }
    let household = ledger.household().expect("a non-empty ledger has a household");
    assert_eq!(Household::fold(ledger.records()).as_ref(), Some(household));

    // What a peer that has nothing is sent admits, in that order, into an
    // empty ledger (HLC order is causal).
    let mut fresh = Ledger::new();
    let missing = ledger.missing_for(&BTreeMap::new());
    for record in &missing {
        assert_eq!(fresh.admit((*record).clone()), Ok(Admitted::New), "{:?}", record.id);
    }

    let devices = [
        (fixture::founder_id(), fixture::FOUNDER_BOX),
        (fixture::joiner_id(), fixture::JOINER_BOX),
    ];
    for (me, box_key) in devices {
        let box_key = BoxKey::from_bytes(box_key);
        let index = Index::build(&ledger, &me, &box_key);
        for entry in index.entries() {
            let view = entry.view();
            let _ = entry.previous();
            let _ = index.find(&view.label(), true);
        }
        let _ = index.exposed_to(household, &fixture::joiner_id());
    }
    let _ = household.current_epoch();
}

/// Target `otpauth`: one `otpauth://` URI, as `authctl add --uri` and the
/// importers hand it to `otpauth::parse`. A URI that parses is formatted
/// canonically and parses back to the same fields; its codes compute.
pub fn otpauth(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = otpauth::parse(text) else {
        return;
    };
    assert!(uri.issuer.as_deref() != Some(""), "an empty issuer is no issuer");
    assert!(!uri.account.starts_with(' '), "leading spaces are dropped");
    let canonical = otpauth::format(uri.issuer.as_deref(), &uri.account, &uri.secret, &uri.spec);
    let again = otpauth::parse(&canonical).expect("a canonical URI parses");
    assert_eq!(again.issuer, uri.issuer);
    assert_eq!(again.account, uri.account);
    assert!(again.secret.ct_eq(&uri.secret) && again.secret.len() == uri.secret.len());
    assert_eq!(again.spec, uri.spec);
    assert_eq!(again.warnings, uri.warnings);
    assert_eq!(
        otpauth::format(again.issuer.as_deref(), &again.account, &again.secret, &again.spec),
        canonical
    );
    for time in [0, 1_700_000_000, u64::MAX] {
        let code = otp::code(&uri.secret, &uri.spec, time).expect("a parsed spec is valid");
        assert_eq!(code.len(), usize::from(uri.spec.digits));
    }
}

/// Target `ipc`: one line from a local client, as `daemon/src/ipc.rs` reads
/// it: the hello, then a request (`serde_json::from_slice`). A request that
/// parses serializes to a line that parses to the same request.
pub fn ipc(data: &[u8]) {
    if let Ok(hello) = serde_json::from_slice::<Hello>(data) {
        let line = serde_json::to_string(&hello).expect("a hello serializes");
        assert_eq!(
            serde_json::from_str::<Hello>(&line).expect("a hello parses back"),
            hello
        );
    }
    match serde_json::from_slice::<Request>(data) {
        Ok(request) => {
            let _ = request.op();
            let line = serde_json::to_string(&request).expect("a request serializes");
            assert!(!line.contains('\n'), "a request is one line");
            assert_eq!(
                serde_json::from_str::<Request>(&line).expect("a request parses back"),
                request
            );
        }
        // The daemon reports where, never what.
        Err(e) => {
            let _ = e.column();
        }
    }
}
