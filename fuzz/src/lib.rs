//! The bodies of the fuzz targets: one function per decoder of outside
//! input, each feeding arbitrary bytes through the same calls `authd` and
//! `authctl` make, and asserting what must hold for anything that decodes.
//!
//! The fuzz binaries (`fuzz_targets/`) call these functions; the normal test
//! suite (`proto/tests/fuzz_corpus.rs`) includes this file by path and
//! replays every committed corpus file through them, so it may use only
//! `authsync_proto`, `serde`, `serde_json`, `postcard` and `rand`
//! (dependencies of `proto` too).
//! A panic is a finding.

use std::collections::BTreeMap;

use authsync_proto::authority::Household;
use authsync_proto::crypto::{BoxKey, DeviceKey, SymKey};
use authsync_proto::entries::{Index, describe_change};
use authsync_proto::ids::RecordId;
use authsync_proto::import::{self, Format};
use authsync_proto::ipc::{Hello, Request};
use authsync_proto::ledger::{Admitted, Ledger, Rejected};
use authsync_proto::otp::{self, OtpSpec, Secret};
use authsync_proto::otpauth;
use authsync_proto::record::{Body, Edits, EntryBody, Header, Record};
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
/// revocation checks; a record refused as an equivocation is offered as
/// evidence of a fork). Then what a device does with a ledger: the fold, the
/// epoch keys and the decrypted index, for both of the fixture's devices.
/// The seeds are the fixture household's records, whose signatures verify,
/// so mutations reach the rules past the signature check.
pub fn records(data: &[u8]) {
    let mut ledger = Ledger::new();
    let mut decoded = Vec::new();
    for bytes in chunks(data) {
        let Ok(record) = Record::decode(bytes) else {
            continue;
        };
        // Decoding accepts only the canonical encoding.
        assert_eq!(record.encode(), bytes);
        admit(&mut ledger, &record);
        decoded.push(record);
    }
    // The fold is a function of the record set, verified or not: it must not
    // panic on records nobody signed either.
    let _ = Household::fold(decoded.iter(), &Default::default());
    use_ledger(&ledger);
}

/// Target `signed`: as `records`, but every record whose origin is one of
/// the fixture's devices (or one of two spare keys the input may admit as
/// members) is signed again by that device after decoding, and an `Entry`
/// of the fixture's epoch is sealed again: its `ciphertext` field carries
/// the plaintext body (postcard, as `record.rs` `BodyOut` writes it). A
/// `Member` record admitting one of those devices gets that device's join
/// signature, and a record with seq above 1 whose `prev` is all zeros names
/// the hash of its origin's previous record as the ledger holds it. So the
/// fuzzer writes records as a household member would, and reaches every
/// rule behind the signature and the seal: membership, revocation, epochs,
/// and the version DAG and merge of entries. This is the hostile (or
/// buggy) member: out of the threat model for secrecy, but it must not be
/// able to crash the other devices.
pub fn signed(data: &[u8]) {
    let mut ledger = Ledger::new();
    for bytes in chunks(data) {
        let Ok(record) = Record::decode(bytes) else {
            continue;
        };
        let record = resign(with_prev(&ledger, record));
        admit(&mut ledger, &record);
    }
    // Even a member signing its clock backwards cannot make `missing_for`
    // send a record before one it depends on.
    use_ledger(&ledger);
}

/// The secret keys of the devices `signed` can sign for: the fixture's two
/// and two spares.
const SIGNERS: [[u8; 32]; 4] = [
    fixture::FOUNDER_SIGNING,
    fixture::JOINER_SIGNING,
    [0x31; 32],
    [0x41; 32],
];

/// An entry body in the layout `record.rs` seals (`BodyOut`/`BodyIn`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PlainBody {
    /// The issuer.
    pub issuer: Option<String>,
    /// The account.
    pub account: String,
    /// The seed.
    pub secret: Vec<u8>,
    /// How codes are made.
    pub spec: OtpSpec,
    /// Labels.
    pub tags: Vec<String>,
    /// A note.
    pub note: String,
    /// Deleted.
    pub deleted: bool,
}

impl PlainBody {
    /// The body's fields, for sealing (the seeding example's).
    #[allow(dead_code)]
    pub fn of(body: &EntryBody) -> PlainBody {
        PlainBody {
            issuer: body.issuer.clone(),
            account: body.account.clone(),
            secret: body.secret.expose().to_vec(),
            spec: body.spec,
            tags: body.tags.clone(),
            note: body.note.clone(),
            deleted: body.deleted,
        }
    }

    fn into_body(self) -> EntryBody {
        EntryBody {
            issuer: self.issuer,
            account: self.account,
            secret: Secret::new(self.secret),
            spec: self.spec,
            tags: self.tags,
            note: self.note,
            deleted: self.deleted,
            edits: Edits::ALL,
        }
    }
}

/// A record's header, to sign it again.
fn header_of(record: &Record) -> Header {
    Header {
        id: record.id,
        household: record.household,
        hlc: record.hlc,
        prev: record.prev,
        seen: record.seen.clone(),
    }
}

/// Fills an all-zero `prev` (past seq 1) from the chain `ledger` holds.
fn with_prev(ledger: &Ledger, mut record: Record) -> Record {
    if record.prev == [0; 32] && record.id.seq > 1 {
        let before = RecordId {
            origin: record.id.origin,
            seq: record.id.seq - 1,
        };
        if let Some(hash) = ledger.hash_of(&before) {
            record.prev = hash;
        }
    }
    record
}

fn signer(device: &authsync_proto::ids::DeviceId) -> Option<DeviceKey> {
    SIGNERS.iter().map(DeviceKey::from_bytes).find(|k| k.id() == *device)
}

fn resign(mut record: Record) -> Record {
    let Some(key) = signer(&record.id.origin) else {
        return record;
    };
    if let Body::Member {
        member,
        transcript,
        joiner_signature,
    } = &mut record.body
        && let Some(joiner) = signer(&member.device)
    {
        *joiner_signature = member.sign_join(&joiner, &record.household, &record.id.origin, transcript);
    }
    let plain = match &record.body {
        Body::Entry(sealed) if sealed.epoch == fixture::EPOCH => {
            postcard::from_bytes::<PlainBody>(&sealed.body.ciphertext)
                .ok()
                .map(|plain| (sealed.entry, sealed.parents.clone(), plain))
        }
        _ => None,
    };
    if let Some((entry, parents, plain)) = plain {
        let mut rng = fixture::FixedRng::new(record.id.seq);
        let epoch_key = SymKey::from_bytes(&fixture::EPOCH_KEY);
        return Record::seal_entry(
            &mut rng,
            &key,
            header_of(&record),
            entry,
            parents,
            (fixture::EPOCH, &epoch_key),
            &plain.into_body(),
        );
    }
    Record::sign(&key, header_of(&record), record.body)
}

/// Splits `data` into chunks, each a 4-byte big-endian length and that many
/// bytes (the last may be cut short).
fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (prefix, tail) = rest.split_first_chunk::<4>()?;
        let len = (u32::from_be_bytes(*prefix) as usize).min(tail.len());
        let (bytes, tail) = tail.split_at(len);
        rest = tail;
        Some(bytes)
    })
}

/// The receiver's clock: an hour after the fixture's first record.
const NOW: u64 = fixture::T0 + 3_600_000;

/// Admits `record` as the daemon does (`check`, then `admit`), asserting
/// that both agree and that the ledger changes only by an admission. A
/// record refused as an equivocation is then offered as evidence, as
/// `Frame::Evidence` is: a proven fork caps its origin before the fork.
fn admit(ledger: &mut Ledger, record: &Record) {
    let before = ledger.len();
    let check = ledger.check(record, NOW);
    let admit = ledger.admit(record.clone(), NOW);
    assert_eq!(check, admit, "check and admit disagree");
    match admit {
        Ok(Admitted::New) => {
            assert_eq!(ledger.len(), before + 1);
            assert_eq!(ledger.get(&record.id), Some(record));
            assert_eq!(ledger.version_vector().get(&record.id.origin), Some(&record.id.seq));
            assert!(ledger.latest_hlc() >= record.hlc);
        }
        Err(Rejected::Equivocation) => {
            assert_eq!(ledger.len(), before);
            if let Some(fork) = ledger.prove_fork(record) {
                assert_eq!(fork.origin, record.id.origin);
                assert!(fork.at >= 1 && fork.at <= record.id.seq);
                let household = ledger.household().expect("a fork is proven in a household");
                let forked = RecordId {
                    origin: fork.origin,
                    seq: fork.at,
                };
                assert!(!household.accepts(forked), "a proven fork still counts");
                assert_eq!(ledger.forks().get(&fork.origin), Some(&fork.at));
            }
            assert_eq!(ledger.len(), before);
        }
        Ok(Admitted::Duplicate) | Err(_) => assert_eq!(ledger.len(), before),
    }
}

/// What a device does with its ledger: the fold, sending to a new peer
/// (which must admit it all in the order sent), and the decrypted index
/// as each fixture device sees it (views, merges, history, search,
/// exposure).
fn use_ledger(ledger: &Ledger) {
    if ledger.is_empty() {
        return;
    }
    let household = ledger.household().expect("a non-empty ledger has a household");
    assert_eq!(
        Household::fold(ledger.records(), ledger.forks()).as_ref(),
        Some(household)
    );

    let missing = ledger.missing_for(&BTreeMap::new());
    // The forks go first, as `Frame::Evidence` does: records that name a
    // forked origin's records past the fork do not wait for them.
    let mut fresh = Ledger::new();
    fresh.set_forks(ledger.forks().clone());
    for record in &missing {
        assert_eq!(
            fresh.admit((*record).clone(), NOW),
            Ok(Admitted::New),
            "{:?}",
            record.id
        );
    }

    let devices = [
        (fixture::founder_id(), fixture::FOUNDER_BOX),
        (fixture::joiner_id(), fixture::JOINER_BOX),
    ];
    for (me, box_key) in devices {
        let box_key = BoxKey::from_bytes(box_key);
        let index = Index::build(ledger, &me, &box_key);
        for entry in index.entries() {
            let view = entry.view();
            let _ = entry.previous();
            let _ = index.find(&view.label(), true);
            for version in entry.versions() {
                let _ = describe_change(entry.base_of(version), &version.body);
            }
        }
        let _ = index.exposed_to(household, &fixture::joiner_id());
    }
    for collection in household.collections() {
        let _ = household.current_epoch(&collection.id);
        let _ = household.is_exposed(&collection.id);
    }
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

/// Target `import`: one file as `authctl import` hands it to the importers.
/// The first byte picks the format as `--format` would (values 0 to 6), or
/// none (any other value: detected from the content, as without
/// `--format`); the rest is the file. No password is given (a KDF per input
/// would make the fuzzer crawl), so an encrypted file is read up to where
/// its password is needed. Whatever is taken is a usable entry: an issuer
/// that is never empty, a seed that is never empty, a code that computes.
pub fn import(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let format = match Format::ALL.get(usize::from(pick)) {
        Some(format) => Some(*format),
        None => import::detect(file),
    };
    let Some(format) = format else {
        return;
    };
    let _ = import::is_encrypted(file, format);
    let Ok(parsed) = import::parse(file, format, None) else {
        return;
    };
    assert_eq!(parsed.format, format);
    for entry in &parsed.entries {
        assert!(entry.issuer.as_deref() != Some(""), "an empty issuer is no issuer");
        assert!(
            !entry.secret.expose().is_empty(),
            "{}: an empty seed was taken",
            entry.label()
        );
        otp::code(&entry.secret, &entry.spec, 1_700_000_000)
            .unwrap_or_else(|e| panic!("{}: an entry was taken whose code fails: {e}", entry.label()));
    }
    for refusal in &parsed.refused {
        assert!(!refusal.reason.contains('\n'), "a refusal is one line: {refusal:?}");
    }
}
