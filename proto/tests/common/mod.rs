//! Shared test builders: arbitrary entry bodies, a small household
//! simulator whose devices write and sync records the way `authd` does
//! (`daemon/src/vault.rs` `init` and `write_entry`, `daemon/src/handlers.rs`
//! `edit`, and DESIGN.md's pairing), with no I/O, and random scripts of
//! edits and partial syncs to run on it.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use authsync_proto::crypto::{BoxKey, DeviceKey, Envelope, SymKey};
use authsync_proto::entries::{Index, edits_from};
use authsync_proto::hlc::Hlc;
use authsync_proto::ids::{DeviceId, EntryId, EpochId, HouseholdId, RecordId};
use authsync_proto::ledger::{Admitted, Ledger, Rejected};
use authsync_proto::otp::{Algorithm, OtpKind, OtpSpec, Secret};
use authsync_proto::record::{Body, Edits, EntryBody, Header, MemberInfo, Record};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// Wall clock of the simulation's start (ms).
pub const T0: u64 = 1_700_000_000_000;

/// Few cases (`PROPTEST_CASES` overrides, for a longer run), no regression
/// files: `cargo test -p authsync-proto` stays fast and the tests write
/// nothing into the source tree.
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- bodies

/// A cloneable, comparable stand-in for [`EntryBody`] (which holds a
/// `Secret` and so is neither `Clone` nor `Debug` with its bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plain {
    pub issuer: Option<String>,
    pub account: String,
    pub secret: Vec<u8>,
    pub spec: OtpSpec,
    pub tags: Vec<String>,
    pub note: String,
    pub deleted: bool,
}

impl Plain {
    pub fn body(&self) -> EntryBody {
        EntryBody {
            issuer: self.issuer.clone(),
            account: self.account.clone(),
            secret: Secret::new(self.secret.clone()),
            spec: self.spec,
            tags: self.tags.clone(),
            note: self.note.clone(),
            deleted: self.deleted,
            edits: Edits::ALL,
        }
    }

    pub fn of(body: &EntryBody) -> Plain {
        Plain {
            issuer: body.issuer.clone(),
            account: body.account.clone(),
            secret: body.secret.expose().to_vec(),
            spec: body.spec,
            tags: body.tags.clone(),
            note: body.note.clone(),
            deleted: body.deleted,
        }
    }

    /// A simple live TOTP (or, with `hotp`, HOTP at counter 0) entry.
    pub fn simple(account: &str, secret: &[u8], hotp: bool) -> Plain {
        let mut spec = OtpSpec::totp_default();
        if hotp {
            spec.kind = OtpKind::Hotp { counter: 0 };
        }
        Plain {
            issuer: Some("Site".into()),
            account: account.into(),
            secret: secret.to_vec(),
            spec,
            tags: vec![],
            note: String::new(),
            deleted: false,
        }
    }
}

pub fn arb_spec() -> impl Strategy<Value = OtpSpec> {
    let kind = prop_oneof![
        (1u64..=300).prop_map(|period| OtpKind::Totp { period }),
        any::<u64>().prop_map(|counter| OtpKind::Hotp { counter }),
        Just(OtpKind::Steam),
    ];
    let algorithm = prop_oneof![Just(Algorithm::Sha1), Just(Algorithm::Sha256), Just(Algorithm::Sha512)];
    (kind, algorithm, 5u8..=8).prop_map(|(kind, algorithm, digits)| OtpSpec {
        kind,
        algorithm,
        digits,
    })
}

pub fn arb_secret() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..64)
}

pub fn arb_tags() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("\\PC{0,8}", 0..4)
}

pub fn arb_plain() -> impl Strategy<Value = Plain> {
    (
        proptest::option::of("\\PC{0,16}"),
        "\\PC{0,24}",
        arb_secret(),
        arb_spec(),
        arb_tags(),
        "\\PC{0,32}",
        any::<bool>(),
    )
        .prop_map(|(issuer, account, secret, spec, tags, note, deleted)| Plain {
            issuer,
            account,
            secret,
            spec,
            tags,
            note,
            deleted,
        })
}

// ---------------------------------------------------------------- views

/// Everything a user can see of one entry, plus its DAG shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snap {
    pub view: Plain,
    pub heads: Vec<RecordId>,
    pub versions: Vec<RecordId>,
    pub previous: Option<RecordId>,
}

pub fn snapshot(index: &Index) -> BTreeMap<EntryId, Snap> {
    index
        .entries()
        .map(|e| {
            let mut versions: Vec<RecordId> = e.versions().iter().map(|v| v.record).collect();
            versions.sort();
            (
                e.id(),
                Snap {
                    view: Plain::of(e.view()),
                    heads: e.heads().to_vec(),
                    versions,
                    previous: e.previous().map(|v| v.record),
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------- devices

/// One simulated `authd`: keys, its ledger, its (incrementally kept) index
/// and its own wall clock.
pub struct Device {
    pub name: String,
    /// The signing key: its records and its admission (device id = its hash).
    pub key: DeviceKey,
    /// The transport key (TLS only: it signs nothing here).
    pub transport: DeviceKey,
    pub box_key: BoxKey,
    pub ledger: Ledger,
    pub index: Index,
    /// This device's wall clock (ms); devices disagree.
    pub now: u64,
}

impl Device {
    pub fn new(rng: &mut StdRng, name: &str, now: u64) -> Device {
        Device {
            name: name.to_string(),
            key: DeviceKey::generate(rng),
            transport: DeviceKey::generate(rng),
            box_key: BoxKey::generate(rng),
            ledger: Ledger::new(),
            index: Index::default(),
            now,
        }
    }

    pub fn id(&self) -> DeviceId {
        self.key.id()
    }

    pub fn info(&self) -> MemberInfo {
        MemberInfo {
            device: self.id(),
            name: self.name.clone(),
            signing_key: self.key.public(),
            transport_key: self.transport.public(),
            box_key: self.box_key.public(),
            role: authsync_proto::record::Role::Device,
        }
    }

    pub fn household_id(&self) -> HouseholdId {
        self.ledger.household_id().unwrap()
    }

    /// The header of the next record this device writes (`Ledger::next_header`).
    pub fn next(&self) -> Header {
        self.ledger.next_header(&self.id(), self.now, None)
    }

    /// Signs `body` as this device's next record (without admitting it).
    pub fn sign_next(&self, body: Body) -> Record {
        Record::sign(&self.key, self.next(), body)
    }

    /// Signs `body` with a header changed by `change` (for hostile records).
    pub fn sign_with(&self, body: Body, change: impl FnOnce(&mut Header)) -> Record {
        let mut header = self.next();
        change(&mut header);
        Record::sign(&self.key, header, body)
    }

    /// Admits a record and keeps the index up to date, as the daemon does.
    pub fn receive(&mut self, record: Record) -> Result<Admitted, Rejected> {
        let id = record.id;
        let entry = matches!(record.body, Body::Entry(_));
        let admitted = self.ledger.admit(record, self.now)?;
        if admitted == Admitted::New {
            if entry {
                let household = self.ledger.household().unwrap();
                self.index.apply(household, self.ledger.get(&id).unwrap());
            } else {
                self.rebuild_index();
            }
        }
        Ok(admitted)
    }

    /// Writes one of this device's own records.
    pub fn append(&mut self, record: Record) -> RecordId {
        let id = record.id;
        assert_eq!(self.receive(record), Ok(Admitted::New), "own record refused");
        id
    }

    /// Signs and writes `body` as this device's next record.
    pub fn write(&mut self, body: Body) -> Record {
        let record = self.sign_next(body);
        self.append(record.clone());
        record
    }

    pub fn rebuild_index(&mut self) {
        self.index = Index::build(&self.ledger, &self.id(), &self.box_key);
    }

    /// A fresh `Index::build` of this device's ledger.
    pub fn built(&self) -> Index {
        Index::build(&self.ledger, &self.id(), &self.box_key)
    }

    /// Seals `body` to the current epoch as a new version of `entry`
    /// (`Vault::write_entry`).
    pub fn write_entry(
        &mut self,
        rng: &mut StdRng,
        entry: EntryId,
        parents: Vec<RecordId>,
        body: &EntryBody,
    ) -> Record {
        let household = self.ledger.household().unwrap();
        let epoch = household
            .current_epoch(&authsync_proto::ids::CollectionId::SHARED)
            .unwrap();
        let key = self.index.epoch_key(&epoch.id).unwrap();
        let record = Record::seal_entry(rng, &self.key, self.next(), entry, parents, (epoch.id, key), body);
        self.append(record.clone());
        record
    }

    /// Adds a new entry.
    pub fn add(&mut self, rng: &mut StdRng, body: &Plain) -> EntryId {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let id = EntryId(id);
        self.write_entry(rng, id, vec![], &body.body());
        id
    }

    /// `handlers::edit`: change the merged view, write it naming every head
    /// and claiming the fields it changed; nothing when the change changes
    /// nothing and there is one head.
    pub fn edit(&mut self, rng: &mut StdRng, entry: EntryId, change: impl FnOnce(&mut EntryBody)) -> Option<Record> {
        let history = self.index.get(&entry)?;
        let mut body = history.view().duplicate();
        change(&mut body);
        body.edits = edits_from(history.view(), &body);
        let heads = history.heads().to_vec();
        if body == *history.view() && heads.len() == 1 {
            return None;
        }
        Some(self.write_entry(rng, entry, heads, &body))
    }

    /// The merged view of `entry` on this device.
    pub fn view(&self, entry: EntryId) -> Plain {
        Plain::of(self.index.get(&entry).unwrap().view())
    }

    pub fn heads(&self, entry: EntryId) -> Vec<RecordId> {
        self.index.get(&entry).unwrap().heads().to_vec()
    }

    /// The joiner's side of pairing: its signature over its admission by
    /// `sponsor` into `household`, after a pairing exchange whose transcript
    /// hash is `transcript`.
    pub fn join_signature(&self, household: &HouseholdId, sponsor: &DeviceId, transcript: &[u8; 32]) -> Vec<u8> {
        self.info().sign_join(&self.key, household, sponsor, transcript)
    }

    /// A `Member` record body admitting `joiner`, sponsored by this device,
    /// with the joiner's valid signature over a fixed transcript.
    pub fn member_body(&self, joiner: &Device) -> Body {
        let transcript = [0x7a; 32];
        Body::Member {
            member: Box::new(joiner.info()),
            transcript,
            joiner_signature: joiner.join_signature(&self.household_id(), &self.id(), &transcript),
        }
    }

    /// `Vault::fresh_epoch`: a new epoch with the next in-line counter this
    /// device knows of, its key committed to and sealed to every current
    /// member. Returns the body and the key.
    pub fn epoch_body(&self, rng: &mut StdRng) -> (Body, EpochId, SymKey) {
        let household = self.ledger.household().unwrap();
        let mut epoch = [0u8; 16];
        rng.fill_bytes(&mut epoch);
        let epoch = EpochId(epoch);
        let key = SymKey::generate(rng);
        let counter = household
            .epochs
            .values()
            .filter(|e| e.in_line)
            .map(|e| e.counter + 1)
            .max()
            .unwrap_or(0);
        let envelopes = household
            .current_members()
            .map(|m| Envelope::seal(rng, m.info.device, &m.info.box_key, &epoch, &key))
            .collect();
        let body = Body::Epoch {
            epoch,
            counter,
            commitment: key.commitment(&household.id, &epoch),
            envelopes,
        };
        (body, epoch, key)
    }

    /// Writes a new epoch (`epoch_body`) as this device's next record.
    pub fn new_epoch(&mut self, rng: &mut StdRng) -> Record {
        let (body, _, _) = self.epoch_body(rng);
        self.write(body)
    }
}

/// Starts a household on a new device: `Genesis` and the first `Epoch`
/// with an envelope to the founder (`Vault::init`).
pub fn found(rng: &mut StdRng, name: &str, now: u64) -> Device {
    let mut device = Device::new(rng, name, now);
    let me = device.id();
    let mut household = [0u8; 16];
    rng.fill_bytes(&mut household);
    let household = HouseholdId(household);
    let genesis = Record::sign(
        &device.key,
        Header {
            id: RecordId { origin: me, seq: 1 },
            household,
            hlc: Hlc::tick(Hlc::default(), now),
            prev: [0; 32],
            seen: Vec::new(),
        },
        Body::Genesis {
            founder: Box::new(device.info()),
        },
    );
    device.append(genesis);
    device.new_epoch(rng);
    device
}

/// Pairing (`Vault::sponsor`): `sponsor` appends a `Member` record for
/// `joiner`, carrying the joiner's signature over its admission, and
/// `Envelopes` of every epoch key it holds sealed to the joiner's box key;
/// then the joiner syncs from the sponsor.
pub fn pair(rng: &mut StdRng, sponsor: &mut Device, joiner: &mut Device) {
    let member = sponsor.member_body(joiner);
    sponsor.write(member);
    let epochs: Vec<EpochId> = sponsor.ledger.household().unwrap().epochs.keys().copied().collect();
    for epoch in epochs {
        let Some(key) = sponsor.index.epoch_key(&epoch) else {
            continue;
        };
        let envelope = Envelope::seal(rng, joiner.id(), &joiner.box_key.public(), &epoch, key);
        sponsor.write(Body::Envelopes {
            epoch,
            envelopes: vec![envelope],
        });
    }
    sync(sponsor, joiner);
}

/// Sends `to` what it lacks from `from`, in `missing_for` order; every record
/// must be admitted as new (that order is meant to be causal), except one
/// that counts for nothing in `from`'s household: `missing_for` still sends
/// a record past its origin's revocation when a record sent names it in
/// `seen`, and a receiver that learned the cap first refuses it. Returns
/// how many were sent.
pub fn sync(from: &Device, to: &mut Device) -> usize {
    let missing: Vec<Record> = from
        .ledger
        .missing_for(to.ledger.version_vector())
        .into_iter()
        .cloned()
        .collect();
    let n = missing.len();
    let counts = |id: RecordId| from.ledger.household().is_none_or(|h| h.accepts(id));
    for record in missing {
        let id = record.id;
        match to.receive(record) {
            Err(Rejected::Revoked) if !counts(id) => {}
            admitted => assert_eq!(
                admitted,
                Ok(Admitted::New),
                "{} refused {id:?} sent by {} in missing_for order",
                to.name,
                from.name
            ),
        }
    }
    n
}

/// `sync` between two devices of one slice.
pub fn sync_pair(devices: &mut [Device], from: usize, to: usize) -> usize {
    if from == to {
        return 0;
    }
    let (a, b) = if from < to {
        let (l, r) = devices.split_at_mut(to);
        (&l[from], &mut r[0])
    } else {
        let (l, r) = devices.split_at_mut(from);
        (&r[0], &mut l[to])
    };
    sync(a, b)
}

/// Syncs every ordered pair until nothing moves.
pub fn sync_all(devices: &mut [Device]) {
    loop {
        let mut moved = 0;
        for from in 0..devices.len() {
            for to in 0..devices.len() {
                moved += sync_pair(devices, from, to);
            }
        }
        if moved == 0 {
            return;
        }
    }
}

/// A household of `n` devices (`A`, `B`, `C`…): A founds it and pairs each
/// of the others. `skews` (ms) offset each device's wall clock.
pub fn household(rng: &mut StdRng, skews: &[i64]) -> Vec<Device> {
    let clock = |i: usize| T0.saturating_add_signed(skews[i]);
    let mut devices = vec![found(rng, "A", clock(0))];
    for (i, name) in ["B", "C", "D", "E"].iter().enumerate().take(skews.len() - 1) {
        let mut joiner = Device::new(rng, name, clock(i + 1));
        pair(rng, &mut devices[0], &mut joiner);
        devices.push(joiner);
    }
    devices
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

// ---------------------------------------------------------------- scripts
//
// Random scripts of edits and partial syncs, run on a household of four:
// A, B and C from the start, D paired late.

/// A, B and C, paired by A at the start, and D, which a random member
/// pairs at a random point of the script (or at its end).
pub const DEVICES: usize = 4;
pub const LATE: usize = 3;

#[derive(Clone, Debug)]
pub enum Action {
    Add(Plain),
    Rename {
        issuer: Option<String>,
        account: String,
    },
    Rotate(Vec<u8>),
    Delete,
    Restore,
    UseHotp,
    Tags(Vec<String>),
    Note(String),
    /// Send device `to` what the acting device has and it lacks.
    Sync {
        to: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Op {
    /// The acting device.
    pub dev: usize,
    /// How far its wall clock moves first (ms).
    pub dt: u64,
    /// Which of its entries (by position) an edit applies to.
    pub pick: usize,
    pub action: Action,
}

pub fn arb_new_entry() -> impl Strategy<Value = Plain> {
    let spec = prop_oneof![
        Just(OtpSpec::totp_default()),
        (0u64..5).prop_map(|counter| OtpSpec {
            kind: OtpKind::Hotp { counter },
            ..OtpSpec::totp_default()
        }),
        Just(OtpSpec::steam()),
    ];
    (
        proptest::option::of("[A-C]"),
        "[a-d]{1,3}",
        arb_secret(),
        spec,
        arb_tags(),
    )
        .prop_map(|(issuer, account, secret, spec, tags)| Plain {
            issuer,
            account,
            secret,
            spec,
            tags,
            note: String::new(),
            deleted: false,
        })
}

pub fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => arb_new_entry().prop_map(Action::Add),
        2 => (proptest::option::of("[A-C]"), "[a-d]{1,3}").prop_map(|(issuer, account)| Action::Rename { issuer, account }),
        2 => arb_secret().prop_map(Action::Rotate),
        1 => Just(Action::Delete),
        1 => Just(Action::Restore),
        2 => Just(Action::UseHotp),
        1 => arb_tags().prop_map(Action::Tags),
        1 => "[x-z ]{0,6}".prop_map(Action::Note),
        4 => (0..DEVICES).prop_map(|to| Action::Sync { to }),
    ]
}

/// A script: entries A adds (and syncs to all) first, then the ops; D is
/// paired by `late_sponsor` just before op `late_at`.
#[derive(Clone, Debug)]
pub struct Script {
    pub initial: Vec<Plain>,
    pub ops: Vec<Op>,
    pub late_sponsor: usize,
    pub late_at: usize,
}

pub fn arb_script(max_ops: usize) -> impl Strategy<Value = Script> {
    let op = (0..DEVICES, 0u64..3_000, any::<usize>(), arb_action()).prop_map(|(dev, dt, pick, action)| Op {
        dev,
        dt,
        pick,
        action,
    });
    (
        proptest::collection::vec(arb_new_entry(), 1..=3),
        proptest::collection::vec(op, 1..=max_ops),
        0..LATE,
        0..=max_ops,
    )
        .prop_map(|(initial, ops, late_sponsor, late_at)| Script {
            initial,
            ops,
            late_sponsor,
            late_at,
        })
}

/// Wall-clock skews of the devices: each may be seconds off.
pub fn arb_skews() -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(-5_000i64..5_000, DEVICES)
}

/// What one device's local edit makes of the merged view.
pub fn apply(action: &Action, body: &mut authsync_proto::record::EntryBody) {
    match action {
        Action::Rename { issuer, account } => {
            body.issuer = issuer.clone();
            body.account = account.clone();
        }
        Action::Rotate(secret) => {
            body.secret = Secret::new(secret.clone());
            if let OtpKind::Hotp { counter } = &mut body.spec.kind {
                *counter = 0;
            }
        }
        Action::Delete => body.deleted = true,
        Action::Restore => body.deleted = false,
        Action::UseHotp => {
            if let OtpKind::Hotp { counter } = &mut body.spec.kind {
                *counter += 1;
            }
        }
        Action::Tags(tags) => body.tags = tags.clone(),
        Action::Note(note) => body.note = note.clone(),
        Action::Add(_) | Action::Sync { .. } => unreachable!("not an edit"),
    }
}

/// One version the simulation wrote.
#[derive(Clone, Debug)]
pub struct Wrote {
    pub id: RecordId,
    pub hlc: Hlc,
    /// The writer's view just before (`None` for a new entry).
    pub before: Option<Plain>,
    /// What it wrote.
    pub after: Plain,
}

/// What the simulation wrote, for the oracles: per entry, every version in
/// the order written.
pub type Written = BTreeMap<EntryId, Vec<Wrote>>;

/// Runs `ops` on a fresh household. With `sync_each`, every device is fully
/// synced before each op (so no edit is ever concurrent).
pub fn run(seed: u64, skews: &[i64], script: &Script, sync_each: bool) -> (StdRng, Vec<Device>, Written) {
    let mut rng = rng(seed);
    let mut devices = household(&mut rng, &skews[..LATE]);
    devices.push(Device::new(&mut rng, "D", T0.saturating_add_signed(skews[LATE])));
    let mut joined = false;
    let mut written = Written::new();
    for plain in &script.initial {
        let entry = devices[0].add(&mut rng, plain);
        let version = &devices[0].index.get(&entry).unwrap().versions()[0];
        written.entry(entry).or_default().push(Wrote {
            id: version.record,
            hlc: version.hlc,
            before: None,
            after: plain.clone(),
        });
    }
    sync_all(&mut devices[..LATE]);
    for (i, op) in script.ops.iter().enumerate() {
        if i == script.late_at {
            join_late(&mut rng, &mut devices, script.late_sponsor);
            joined = true;
        }
        let active = if joined { DEVICES } else { LATE };
        if sync_each {
            sync_all(&mut devices[..active]);
        }
        let involves_late = op.dev == LATE || matches!(op.action, Action::Sync { to: LATE });
        if involves_late && !joined {
            continue;
        }
        let device = &mut devices[op.dev];
        device.now += op.dt;
        let record = match &op.action {
            Action::Sync { to } => {
                sync_pair(&mut devices, op.dev, *to);
                None
            }
            Action::Add(plain) => {
                let entry = device.add(&mut rng, plain);
                let version = &device.index.get(&entry).unwrap().versions()[0];
                written.entry(entry).or_default().push(Wrote {
                    id: version.record,
                    hlc: version.hlc,
                    before: None,
                    after: plain.clone(),
                });
                None
            }
            edit => {
                let entries: Vec<EntryId> = device.index.entries().map(|e| e.id()).collect();
                if entries.is_empty() {
                    continue;
                }
                let entry = entries[op.pick % entries.len()];
                let before = device.view(entry);
                device
                    .edit(&mut rng, entry, |body| apply(edit, body))
                    .map(|record| (record, before))
            }
        };
        if let Some((record, before)) = record {
            let Body::Entry(sealed) = &record.body else {
                unreachable!()
            };
            let plain = Plain::of(&devices[op.dev].index.get(&sealed.entry).unwrap().versions()[0].body);
            written.entry(sealed.entry).or_default().push(Wrote {
                id: record.id,
                hlc: record.hlc,
                before: Some(before),
                after: plain,
            });
        }
    }
    if !joined {
        join_late(&mut rng, &mut devices, script.late_sponsor);
    }
    sync_all(&mut devices);
    (rng, devices, written)
}

/// Pairs D, sponsored by `sponsor`, which need not have seen everything.
pub fn join_late(rng: &mut StdRng, devices: &mut [Device], sponsor: usize) {
    let (members, late) = devices.split_at_mut(LATE);
    pair(rng, &mut members[sponsor], &mut late[0]);
}
