//! The state is a function of the SET of records (DESIGN.md "Data model").
//!
//! Simulated devices (`common`) write and sync records the way `authd`
//! does. Property tests run random scripts (`common::run`) of edits and partial syncs, then
//! check convergence, independence from delivery order and duplication, and
//! (when every edit is made fully synced) agreement with a trivial model.
//! Unit tests pin the merge rules and the ledger's admission rules.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use authsync_proto::authority::Household;
use authsync_proto::entries::{Index, describe_change};
use authsync_proto::hlc::Hlc;
use authsync_proto::ids::{DeviceId, EntryId, HouseholdId, RecordId};
use authsync_proto::ledger::{Admitted, Ledger, Rejected};
use authsync_proto::otp::{OtpKind, Secret};
use authsync_proto::record::{Body, EntryBody, Header, Record};
use common::{
    Device, Plain, Snap, T0, Wrote, arb_script, arb_skews, config, household, rng, run, snapshot, sync_all, sync_pair,
};
use proptest::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// A receiver's clock late enough for every simulated record (an hour
/// after the simulation's start; none is dated a day ahead of it).
const LATER: u64 = T0 + 3_600_000;

// ------------------------------------------------------------ properties

/// Every device holds the same records and shows the same entries; each
/// device's incrementally kept index equals a fresh `Index::build`.
fn assert_converged(devices: &[Device]) -> Result<BTreeMap<EntryId, Snap>, TestCaseError> {
    let reference = &devices[0];
    let bytes = |d: &Device| d.ledger.records().map(Record::encode).collect::<Vec<_>>();
    let want = snapshot(&reference.built());
    // HLC order is causal: each origin's clock rises with its seq, and every
    // version is later than the versions it names as parents.
    let mut last: BTreeMap<DeviceId, Hlc> = BTreeMap::new();
    for record in reference.ledger.records() {
        if let Some(previous) = last.insert(record.id.origin, record.hlc) {
            prop_assert!(
                previous < record.hlc,
                "{:?} is not later than its predecessor",
                record.id
            );
        }
        if let Body::Entry(sealed) = &record.body {
            for parent in &sealed.parents {
                prop_assert!(
                    reference.ledger.get(parent).unwrap().hlc < record.hlc,
                    "{:?} <- {:?}",
                    parent,
                    record.id
                );
            }
        }
    }
    for device in devices {
        prop_assert_eq!(device.ledger.version_vector(), reference.ledger.version_vector());
        prop_assert!(bytes(device) == bytes(reference), "{} holds other records", device.name);
        prop_assert_eq!(device.ledger.household(), reference.ledger.household());
        let built = device.built();
        prop_assert_eq!(built.unreadable(), 0);
        let got = snapshot(&built);
        prop_assert_eq!(&got, &want, "{} sees other entries than A", device.name);
        prop_assert_eq!(
            snapshot(&device.index),
            got,
            "{}: incremental index != Index::build",
            device.name
        );
    }
    Ok(want)
}

/// `records` in a random order, some of them twice.
fn shuffled_with_duplicates(rng: &mut StdRng, records: &[Record]) -> Vec<Record> {
    let mut out: Vec<Record> = records.to_vec();
    for record in records {
        if rng.gen_bool(0.3) {
            out.push(record.clone());
        }
    }
    out.shuffle(rng);
    out
}

/// Admits `delivery` into a fresh ledger, retrying what arrived too early
/// (gap, unknown member, no household yet) until nothing moves.
fn admit_to_fixpoint(delivery: Vec<Record>) -> Result<Ledger, TestCaseError> {
    let mut ledger = Ledger::new();
    let mut seen: BTreeMap<RecordId, usize> = BTreeMap::new();
    let mut pending = delivery;
    loop {
        let before = pending.len();
        let mut later = Vec::new();
        for record in pending {
            let id = record.id;
            match ledger.admit(record.clone(), LATER) {
                Ok(admitted) => {
                    let n = seen.entry(id).or_default();
                    let want = if *n == 0 { Admitted::New } else { Admitted::Duplicate };
                    prop_assert_eq!(admitted, want, "{:?} delivered {} times before", id, n);
                    *n += 1;
                }
                Err(Rejected::Gap { .. } | Rejected::Waiting | Rejected::NotAMember | Rejected::NoGenesis) => {
                    later.push(record)
                }
                Err(e) => return Err(TestCaseError::fail(format!("{id:?} refused: {e}"))),
            }
        }
        pending = later;
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    prop_assert!(
        pending.is_empty(),
        "never admitted: {:?}",
        pending.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    Ok(ledger)
}

fn check_order_independence(
    rng: &mut StdRng,
    devices: &[Device],
    want: &BTreeMap<EntryId, Snap>,
) -> Result<(), TestCaseError> {
    let union: Vec<Record> = devices[0].ledger.records().cloned().collect();
    let household = devices[0].ledger.household().unwrap();

    // (b) Through the ledger's own rules, for every device's keys.
    let ledger = admit_to_fixpoint(shuffled_with_duplicates(rng, &union))?;
    prop_assert_eq!(ledger.len(), union.len());
    prop_assert_eq!(ledger.household(), Some(household));
    prop_assert_eq!(ledger.latest_hlc(), devices[0].ledger.latest_hlc());
    for device in devices {
        prop_assert_eq!(&snapshot(&Index::build(&ledger, &device.id(), &device.box_key)), want);
    }

    // (a) The fold and the merge directly, in any order, with duplicates.
    let me = devices[0].id();
    let keys = household.open_epoch_keys(&me, &devices[0].box_key);
    for _ in 0..3 {
        let delivery = shuffled_with_duplicates(rng, &union);
        let folded = Household::fold(delivery.iter(), &Default::default());
        prop_assert_eq!(folded.as_ref(), Some(household));
        let mut index = Index::default();
        for (epoch, key) in &keys {
            index.add_epoch_key(*epoch, authsync_proto::crypto::SymKey::from_bytes(key.expose()));
        }
        for record in &delivery {
            index.apply(household, record);
        }
        prop_assert_eq!(&snapshot(&index), want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    /// Random edits on random devices with random partial syncs: after a
    /// final full sync all devices agree, and any delivery order of the union
    /// of records, with duplicates, gives the same state.
    #[test]
    fn devices_converge_whatever_the_delivery_order(seed: u64, skews in arb_skews(), script in arb_script(30)) {
        let (mut rng, devices, _) = run(seed, &skews, &script, false);
        let want = assert_converged(&devices)?;
        check_order_independence(&mut rng, &devices, &want)?;
    }

    /// With every edit made on a fully synced device (no concurrency), every
    /// view is the last version written, with one head, and `previous()` is
    /// the newest version whose secret differs from it.
    #[test]
    fn sequential_edits_show_the_last_write(seed: u64, skews in arb_skews(), script in arb_script(30)) {
        let (_, devices, written) = run(seed, &skews, &script, true);
        let want = assert_converged(&devices)?;
        prop_assert_eq!(want.keys().collect::<Vec<_>>(), written.keys().collect::<Vec<_>>());
        for (entry, versions) in &written {
            let snap = &want[entry];
            let Wrote { id: last_id, after: last, .. } = versions.last().unwrap();
            prop_assert_eq!(&snap.view, last);
            prop_assert_eq!(&snap.heads, &vec![*last_id]);
            let ids: BTreeSet<RecordId> = versions.iter().map(|w| w.id).collect();
            prop_assert_eq!(snap.versions.iter().copied().collect::<BTreeSet<_>>(), ids);
            let identity = |p: &Plain| {
                let mut spec = p.spec;
                if let OtpKind::Hotp { counter } = &mut spec.kind {
                    *counter = 0;
                }
                (p.secret.clone(), spec)
            };
            let previous = versions.iter().rev().find(|w| identity(&w.after) != identity(last)).map(|w| w.id);
            prop_assert_eq!(snap.previous, previous);
        }
    }

    /// Random concurrent edits on four devices, delivered in any order with
    /// duplicates: on every device, each field shows the value of its newest
    /// edit by (HLC, record id), whatever was merged or edited after it; an
    /// HOTP counter is the highest written with that secret.
    #[test]
    fn each_field_shows_its_newest_edit(seed: u64, skews in arb_skews(), script in arb_script(30)) {
        let (mut rng, devices, written) = run(seed, &skews, &script, false);
        let want = assert_converged(&devices)?;
        check_order_independence(&mut rng, &devices, &want)?;
        for (entry, versions) in &written {
            let view = &want[entry].view;
            for field in Field::ALL {
                let newest = versions
                    .iter()
                    .filter(|w| w.before.as_ref().is_none_or(|b| field.of(b) != field.of(&w.after)))
                    .max_by_key(|w| (w.hlc, w.id))
                    .unwrap();
                prop_assert_eq!(
                    field.of(view),
                    field.of(&newest.after),
                    "{:?} of {:?}: newest edit {:?}",
                    field,
                    entry,
                    newest.id
                );
            }
            if let OtpKind::Hotp { counter } = view.spec.kind {
                let same = Field::Otp.of(view);
                let highest = versions
                    .iter()
                    .filter(|w| Field::Otp.of(&w.after) == same)
                    .filter_map(|w| match w.after.spec.kind {
                        OtpKind::Hotp { counter } => Some(counter),
                        _ => None,
                    })
                    .max();
                prop_assert_eq!(Some(counter), highest);
            }
        }
    }
}

/// The fields that are last-writer-wins registers, for the oracle.
#[derive(Debug, Clone, Copy)]
enum Field {
    Issuer,
    Account,
    Otp,
    Tags,
    Note,
}

/// A field's value, comparable.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    Name(Option<String>),
    Otp(Vec<u8>, authsync_proto::otp::OtpSpec),
    Tags(Vec<String>),
}

impl Field {
    const ALL: [Field; 5] = [Field::Issuer, Field::Account, Field::Otp, Field::Tags, Field::Note];

    /// The field's value in `p` (the OTP parameters without the HOTP counter).
    fn of(self, p: &Plain) -> Value {
        match self {
            Field::Issuer => Value::Name(p.issuer.clone()),
            Field::Account => Value::Name(Some(p.account.clone())),
            Field::Otp => {
                let mut spec = p.spec;
                if let OtpKind::Hotp { counter } = &mut spec.kind {
                    *counter = 0;
                }
                Value::Otp(p.secret.clone(), spec)
            }
            Field::Tags => Value::Tags(p.tags.clone()),
            Field::Note => Value::Name(Some(p.note.clone())),
        }
    }
}

// -------------------------------------------------------- merge semantics

/// Two synced devices sharing one entry, with their clocks at T0.
fn fork(seed: u64, hotp: bool) -> (StdRng, Vec<Device>, EntryId) {
    let mut rng = rng(seed);
    let mut devices = household(&mut rng, &[0, 0]);
    let entry = devices[0].add(&mut rng, &Plain::simple("alice", b"original secret!", hotp));
    sync_all(&mut devices);
    (rng, devices, entry)
}

/// Sets A's and B's clocks so that B's next edits are newer (or older).
fn clocks(devices: &mut [Device], b_newer: bool) {
    let (a, b) = if b_newer { (10_000, 20_000) } else { (20_000, 10_000) };
    devices[0].now = T0 + a;
    devices[1].now = T0 + b;
}

fn all_views(devices: &[Device], entry: EntryId) -> Plain {
    let view = devices[0].view(entry);
    for device in devices {
        assert_eq!(device.view(entry), view, "{} disagrees", device.name);
        assert_eq!(Plain::of(device.built().get(&entry).unwrap().view()), view);
    }
    view
}

#[test]
fn concurrent_rename_and_rotate_keep_both() {
    for b_newer in [true, false] {
        let (mut rng, mut d, e) = fork(1, false);
        clocks(&mut d, b_newer);
        d[0].edit(&mut rng, e, |b| b.account = "alice-renamed".into()).unwrap();
        d[1].edit(&mut rng, e, |b| b.secret = Secret::new(b"rotated secret!!".to_vec()))
            .unwrap();
        sync_all(&mut d);
        assert_eq!(d[0].heads(e).len(), 2);
        let view = all_views(&d, e);
        assert_eq!(view.account, "alice-renamed", "b_newer = {b_newer}");
        assert_eq!(view.secret, b"rotated secret!!", "b_newer = {b_newer}");
    }
}

#[test]
fn concurrent_renames_newest_wins() {
    for b_newer in [true, false] {
        let (mut rng, mut d, e) = fork(2, false);
        clocks(&mut d, b_newer);
        d[0].edit(&mut rng, e, |b| b.account = "by-a".into()).unwrap();
        d[1].edit(&mut rng, e, |b| b.account = "by-b".into()).unwrap();
        sync_all(&mut d);
        let want = if b_newer { "by-b" } else { "by-a" };
        assert_eq!(all_views(&d, e).account, want);
    }
}

#[test]
fn a_delete_concurrent_with_an_edit_keeps_the_entry_alive() {
    for b_newer in [true, false] {
        let (mut rng, mut d, e) = fork(3, false);
        clocks(&mut d, b_newer);
        d[0].edit(&mut rng, e, |b| b.deleted = true).unwrap();
        d[1].edit(&mut rng, e, |b| b.note = "still used".into()).unwrap();
        sync_all(&mut d);
        let view = all_views(&d, e);
        assert!(!view.deleted, "b_newer = {b_newer}");
        assert_eq!(view.note, "still used");
    }
    // Deleted on both sides: deleted.
    let (mut rng, mut d, e) = fork(4, false);
    clocks(&mut d, true);
    d[0].edit(&mut rng, e, |b| b.deleted = true).unwrap();
    d[1].edit(&mut rng, e, |b| {
        b.deleted = true;
        b.note = "gone".into();
    })
    .unwrap();
    sync_all(&mut d);
    assert!(all_views(&d, e).deleted);
}

#[test]
fn hotp_used_on_both_sides_takes_the_highest_counter() {
    // (uses on A, uses on B, B newer)
    let table = [(1, 3, true), (1, 3, false), (3, 1, true), (3, 1, false), (2, 2, true)];
    for (a_uses, b_uses, b_newer) in table {
        let (mut rng, mut d, e) = fork(5, true);
        clocks(&mut d, b_newer);
        for (i, uses) in [(0, a_uses), (1, b_uses)] {
            for _ in 0..uses {
                d[i].now += 1;
                d[i].edit(&mut rng, e, |b| {
                    if let OtpKind::Hotp { counter } = &mut b.spec.kind {
                        *counter += 1;
                    }
                })
                .unwrap();
            }
        }
        sync_all(&mut d);
        let view = all_views(&d, e);
        let max = u64::max(a_uses, b_uses);
        assert_eq!(
            view.spec.kind,
            OtpKind::Hotp { counter: max },
            "{a_uses} / {b_uses} / {b_newer}"
        );
    }
}

#[test]
fn previous_after_a_rotation_is_the_old_secret() {
    let (mut rng, mut d, e) = fork(6, true);
    assert!(d[0].index.get(&e).unwrap().previous().is_none(), "nothing rotated yet");
    d[0].edit(&mut rng, e, |b| {
        if let OtpKind::Hotp { counter } = &mut b.spec.kind {
            *counter = 7;
        }
    })
    .unwrap();
    assert!(
        d[0].index.get(&e).unwrap().previous().is_none(),
        "an HOTP use is not a rotation"
    );
    d[0].edit(&mut rng, e, |b| {
        b.secret = Secret::new(b"new secret after loss".to_vec());
        b.spec.kind = OtpKind::Hotp { counter: 0 };
    })
    .unwrap();
    d[0].edit(&mut rng, e, |b| b.note = "rotated".into()).unwrap();
    sync_all(&mut d);
    for device in &d {
        let history = device.index.get(&e).unwrap();
        assert_eq!(history.view().secret.expose(), b"new secret after loss");
        let previous = history.previous().unwrap();
        assert_eq!(previous.body.secret.expose(), b"original secret!");
        assert_eq!(previous.body.spec.kind, OtpKind::Hotp { counter: 7 });
    }
}

#[test]
fn the_next_edit_names_every_head_and_leaves_one() {
    let (mut rng, mut d, e) = fork(7, false);
    clocks(&mut d, true);
    let a = d[0].edit(&mut rng, e, |b| b.account = "renamed".into()).unwrap().id;
    let b = d[1].edit(&mut rng, e, |b| b.tags = vec!["work".into()]).unwrap().id;
    sync_all(&mut d);
    let heads = d[0].heads(e);
    assert_eq!(heads.iter().copied().collect::<BTreeSet<_>>(), BTreeSet::from([a, b]));
    let merged = all_views(&d, e);

    // A no-op edit still writes, to merge the heads (handlers::edit).
    let m = d[0].edit(&mut rng, e, |_| {}).unwrap();
    let Body::Entry(sealed) = &m.body else { unreachable!() };
    assert_eq!(sealed.parents, heads);
    sync_all(&mut d);
    assert_eq!(d[1].heads(e), vec![m.id]);
    assert_eq!(all_views(&d, e), merged, "merging changes nothing visible");
    // …and with one head, a no-op edit writes nothing.
    assert!(d[1].edit(&mut rng, e, |_| {}).is_none());
}

/// A change made on a branch before that branch's last version must survive
/// a merge with a newer concurrent edit of other fields.
#[test]
fn a_change_before_the_last_edit_of_a_branch_survives_the_merge() {
    type Change = fn(&mut authsync_proto::record::EntryBody);
    type Kept = fn(&Plain) -> bool;
    let table: &[(&str, Change, Kept)] = &[
        (
            "rename",
            |b| b.account = "renamed-on-a".into(),
            |v| v.account == "renamed-on-a",
        ),
        (
            "rotate",
            |b| b.secret = Secret::new(b"rotated on a....".to_vec()),
            |v| v.secret == b"rotated on a....",
        ),
        ("tags", |b| b.tags = vec!["a".into()], |v| v.tags == ["a"]),
    ];
    let mut lost = Vec::new();
    for (what, change, kept) in table {
        let (mut rng, mut d, e) = fork(8, false);
        clocks(&mut d, true);
        d[0].edit(&mut rng, e, change).unwrap();
        d[0].now += 1;
        d[0].edit(&mut rng, e, |b| b.note = "then a note on a".into()).unwrap();
        d[1].edit(&mut rng, e, |b| b.issuer = Some("edited on b".into()))
            .unwrap();
        sync_all(&mut d);
        let view = all_views(&d, e);
        assert_eq!(view.issuer.as_deref(), Some("edited on b"));
        assert_eq!(view.note, "then a note on a");
        if !kept(&view) {
            lost.push(*what);
        }
    }
    assert!(lost.is_empty(), "lost in the merge: {lost:?}");
}

/// Issue 16, with two devices ("apart" = not synced). A: add S0; B (apart):
/// an older change, `first` (a rotation to S1); A: rename to acc1; sync (two
/// heads); A (apart): the newest change of that field, `last`; B (apart, its
/// clock later still): `then`, which touches another field; sync. B's
/// version is written over both heads with the merged value of every field,
/// and must not re-date `last`'s field.
fn newest_edit_survives_a_later_edit_of_another_field(
    first: fn(&mut EntryBody),
    last: fn(&mut EntryBody),
    then: fn(&mut EntryBody),
) -> (Vec<Device>, EntryId, RecordId) {
    let (mut rng, mut d, e) = fork(16, false);
    d[1].now = T0 + 10_000;
    d[1].edit(&mut rng, e, first).unwrap();
    d[0].now = T0 + 20_000;
    d[0].edit(&mut rng, e, |b| b.account = "acc1".into()).unwrap();
    sync_all(&mut d);
    assert_eq!(d[0].heads(e).len(), 2);
    d[0].now = T0 + 30_000;
    d[0].edit(&mut rng, e, last).unwrap();
    d[1].now = T0 + 40_000;
    let b_last = d[1].edit(&mut rng, e, then).unwrap().id;
    sync_all(&mut d);
    (d, e, b_last)
}

#[test]
fn a_rotation_is_not_undone_by_a_later_rename() {
    let (d, e, b_last) = newest_edit_survives_a_later_edit_of_another_field(
        |b| b.secret = Secret::new(b"S1 older rotation".to_vec()),
        |b| b.secret = Secret::new(b"S2 newest rotation".to_vec()),
        |b| b.account = "acc2".into(),
    );
    let view = all_views(&d, e);
    assert_eq!(view.secret, b"S2 newest rotation");
    assert_eq!(view.account, "acc2");
    for device in &d {
        let history = device.index.get(&e).unwrap();
        assert_eq!(history.previous().unwrap().body.secret.expose(), b"S1 older rotation");
        let v = history.version(&b_last).unwrap();
        assert_eq!(
            describe_change(history.base_of(v), &v.body),
            "Site: acc2: renamed from Site: acc1",
            "B's last version is a rename, not a rotation"
        );
    }
}

#[test]
fn a_note_is_not_undone_by_a_later_rename() {
    let (d, e, _) = newest_edit_survives_a_later_edit_of_another_field(
        |b| b.note = "older note".into(),
        |b| b.note = "newest note".into(),
        |b| b.account = "acc2".into(),
    );
    let view = all_views(&d, e);
    assert_eq!(view.note, "newest note");
    assert_eq!(view.secret, b"original secret!");
    assert_eq!(view.account, "acc2");
}

#[test]
fn a_rotation_is_not_undone_by_a_later_delete_and_keeps_the_entry() {
    let (d, e, b_last) = newest_edit_survives_a_later_edit_of_another_field(
        |b| b.secret = Secret::new(b"S1 older rotation".to_vec()),
        |b| b.secret = Secret::new(b"S2 newest rotation".to_vec()),
        |b| b.deleted = true,
    );
    let view = all_views(&d, e);
    assert!(!view.deleted, "a rotation concurrent with the delete keeps it");
    assert_eq!(view.secret, b"S2 newest rotation");
    assert_eq!(view.account, "acc1");
    let history = d[0].index.get(&e).unwrap();
    let v = history.version(&b_last).unwrap();
    assert_eq!(describe_change(history.base_of(v), &v.body), "Site: acc1: deleted");
}

// ------------------------------------------------------------ ledger rules

/// Everything about a ledger that admitting a record may change.
type LedgerState = (Vec<Vec<u8>>, BTreeMap<DeviceId, u64>, Hlc, Option<Household>);

fn state(ledger: &Ledger) -> LedgerState {
    (
        ledger.records().map(Record::encode).collect(),
        ledger.version_vector().clone(),
        ledger.latest_hlc(),
        ledger.household().cloned(),
    )
}

/// A household of A and B where B has written two entry versions, plus a
/// device D that was never admitted.
fn ledger_fixture() -> (StdRng, Vec<Device>, Device) {
    let mut rng = rng(20);
    let mut d = household(&mut rng, &[0, 0]);
    let e = d[1].add(&mut rng, &Plain::simple("bob", b"bob's secret....", false));
    d[1].edit(&mut rng, e, |b| b.note = "n".into()).unwrap();
    sync_all(&mut d);
    let outsider = Device::new(&mut rng, "D", T0);
    (rng, d, outsider)
}

#[test]
fn ledger_refuses_what_breaks_the_rules() {
    let (_, d, outsider) = ledger_fixture();
    let a = &d[0];
    let b = &d[1];
    let household = a.household_id();
    let next_a = a.next();
    let revoke_of = |device: &Device| Body::Revoke {
        device: device.id(),
        last_seq: 0,
    };

    let mut bad_signature = a.sign_next(revoke_of(b));
    bad_signature.signature[10] ^= 1;
    // B signs a record that claims to be A's next one.
    let forged_origin = Record::sign(&b.key, a.next(), revoke_of(b));
    // A's transport key signs nothing that counts.
    let by_transport_key = Record::sign(&a.transport, a.next(), revoke_of(b));
    let outsiders = Record::sign(
        &outsider.key,
        Header {
            id: RecordId {
                origin: outsider.id(),
                seq: 1,
            },
            household,
            hlc: next_a.hlc,
            prev: [0; 32],
            seen: vec![],
        },
        revoke_of(a),
    );
    let other_household = a.sign_with(revoke_of(b), |h| h.household = HouseholdId([0xee; 16]));
    let gap = a.sign_with(revoke_of(b), |h| h.id.seq += 1);
    let other_prev = a.sign_with(revoke_of(b), |h| h.prev[0] ^= 1);
    let unsorted_seen = a.sign_with(revoke_of(b), |h| h.seen = vec![(DeviceId([0xff; 32]), 1), (b.id(), 1)]);
    let seen_itself = a.sign_with(revoke_of(b), |h| h.seen.push((a.id(), 1)));
    let unseen_past = a.sign_with(revoke_of(b), |h| h.seen = vec![(b.id(), 99)]);
    let future = a.sign_with(revoke_of(b), |h| h.hlc.ms = LATER + 24 * 3_600_000 + 1);
    let held = a.ledger.get(&RecordId { origin: b.id(), seq: 2 }).unwrap().clone();
    let equivocation = Record::sign(
        &b.key,
        Header {
            id: held.id,
            household,
            hlc: held.hlc,
            prev: held.prev,
            seen: held.seen.clone(),
        },
        revoke_of(a),
    );
    let mut bad_member_info = outsider.info();
    bad_member_info.device = DeviceId([1; 32]);
    let transcript = [0x7a; 32];
    let bad_member = a.sign_next(Body::Member {
        joiner_signature: bad_member_info.sign_join(&outsider.key, &household, &a.id(), &transcript),
        member: Box::new(bad_member_info),
        transcript,
    });
    let mut unsigned_member = a.member_body(&outsider);
    if let Body::Member { joiner_signature, .. } = &mut unsigned_member {
        // Signed by the sponsor, not by the joiner.
        *joiner_signature = outsider.info().sign_join(&a.key, &household, &a.id(), &transcript);
    }
    let unsigned_member = a.sign_next(unsigned_member);
    let mut other_transcript = a.member_body(&outsider);
    if let Body::Member { transcript, .. } = &mut other_transcript {
        transcript[0] ^= 1;
    }
    let other_transcript = a.sign_next(other_transcript);
    // The joiner signed its admission by A: B presenting it fails.
    let wrong_sponsor = b.sign_next(a.member_body(&outsider));
    let member_again = a.sign_next(a.member_body(b));
    let second_genesis = a.sign_next(Body::Genesis {
        founder: Box::new(a.info()),
    });
    let mut changed_body = held.clone();
    changed_body.hlc.counter += 1;

    let table: Vec<(&str, Record, Rejected)> = vec![
        ("bad signature", bad_signature, Rejected::BadSignature),
        ("forged origin", forged_origin, Rejected::BadSignature),
        ("signed by the transport key", by_transport_key, Rejected::BadSignature),
        ("not a member", outsiders, Rejected::NotAMember),
        ("other household", other_household, Rejected::WrongHousehold),
        (
            "gap",
            gap,
            Rejected::Gap {
                expected: next_a.id.seq,
                got: next_a.id.seq + 1,
            },
        ),
        ("prev not the held head", other_prev, Rejected::Equivocation),
        ("seen unsorted", unsorted_seen, Rejected::Malformed),
        ("seen names its origin", seen_itself, Rejected::Malformed),
        ("seen ahead of what is held", unseen_past, Rejected::Waiting),
        ("dated more than a day ahead", future, Rejected::FromTheFuture),
        ("equivocation", equivocation, Rejected::Equivocation),
        ("member with a mismatched id", bad_member, Rejected::BadMember),
        ("member signed by its sponsor", unsigned_member, Rejected::BadMember),
        ("member with another transcript", other_transcript, Rejected::BadMember),
        ("member under another sponsor", wrong_sponsor, Rejected::BadMember),
        ("member admitted twice", member_again, Rejected::BadMember),
        ("second genesis", second_genesis, Rejected::WrongHousehold),
    ];
    for device in &d {
        let ledger = &mut copy(&device.ledger);
        for (what, record, want) in &table {
            let before = state(ledger);
            assert_eq!(ledger.admit(record.clone(), LATER).err().as_ref(), Some(want), "{what}");
            assert!(state(ledger) == before, "{what}: a refused record changed the ledger");
        }
        // A badly signed variant of a held record: refused either way (today
        // as an equivocation, found before the signature is checked).
        let before = state(ledger);
        let refused = ledger.admit(changed_body.clone(), LATER);
        assert!(
            matches!(refused, Err(Rejected::Equivocation | Rejected::BadSignature)),
            "{refused:?}"
        );
        assert!(state(ledger) == before);
    }
}

#[test]
fn an_empty_ledger_takes_only_a_genesis() {
    let (_, d, outsider) = ledger_fixture();
    let genesis = d[0]
        .ledger
        .get(&RecordId {
            origin: d[0].id(),
            seq: 1,
        })
        .unwrap();
    let later = d[0]
        .ledger
        .get(&RecordId {
            origin: d[0].id(),
            seq: 2,
        })
        .unwrap();
    let outsider_header = |seq: u64| Header {
        id: RecordId {
            origin: outsider.id(),
            seq,
        },
        household: genesis.household,
        hlc: genesis.hlc,
        prev: [0; 32],
        seen: vec![],
    };
    let late_genesis = Record::sign(
        &outsider.key,
        outsider_header(2),
        Body::Genesis {
            founder: Box::new(outsider.info()),
        },
    );
    let someone_elses = Record::sign(
        &outsider.key,
        outsider_header(1),
        Body::Genesis {
            founder: Box::new(d[0].info()),
        },
    );
    let mut with_prev = outsider_header(1);
    with_prev.prev = [1; 32];
    let with_prev = Record::sign(
        &outsider.key,
        with_prev,
        Body::Genesis {
            founder: Box::new(outsider.info()),
        },
    );
    let mut with_seen = outsider_header(1);
    with_seen.seen = vec![(d[0].id(), 1)];
    let with_seen = Record::sign(
        &outsider.key,
        with_seen,
        Body::Genesis {
            founder: Box::new(outsider.info()),
        },
    );
    let mut ledger = Ledger::new();
    for (what, record) in [
        ("not a genesis", later),
        ("genesis at seq 2", &late_genesis),
        ("founder is not the origin", &someone_elses),
        ("genesis naming a previous record", &with_prev),
        ("genesis having seen records", &with_seen),
    ] {
        assert_eq!(ledger.admit(record.clone(), LATER), Err(Rejected::NoGenesis), "{what}");
        assert!(ledger.is_empty() && ledger.household().is_none(), "{what}");
    }
    let mut forged = genesis.clone();
    forged.signature[0] ^= 1;
    assert_eq!(ledger.admit(forged, LATER), Err(Rejected::BadSignature));
    assert!(ledger.is_empty());
    assert_eq!(ledger.admit(genesis.clone(), LATER), Ok(Admitted::New));
    assert_eq!(ledger.household_id(), Some(genesis.household));
}

#[test]
fn duplicates_change_nothing() {
    let (_, d, _) = ledger_fixture();
    let mut ledger = copy(&d[0].ledger);
    let before = state(&ledger);
    for record in d[1].ledger.records() {
        assert_eq!(
            ledger.admit(record.clone(), LATER),
            Ok(Admitted::Duplicate),
            "{:?}",
            record.id
        );
        assert!(state(&ledger) == before, "{:?}", record.id);
    }
}

#[test]
fn records_past_a_revocation_cap_are_refused() {
    let mut rng = rng(21);
    let mut d = household(&mut rng, &[0, 0]);
    let e = d[1].add(&mut rng, &Plain::simple("bob", b"bob's secret....", false));
    sync_all(&mut d);
    // B writes two more versions A has not seen; A revokes B after B/1.
    d[1].edit(&mut rng, e, |b| b.note = "2".into()).unwrap();
    d[1].edit(&mut rng, e, |b| b.note = "3".into()).unwrap();
    let b = d[1].id();
    let revoke = d[0].sign_next(Body::Revoke { device: b, last_seq: 1 });
    d[0].append(revoke.clone());
    assert!(!d[0].ledger.household().unwrap().is_current_member(&b));
    let b2 = d[1].ledger.get(&RecordId { origin: b, seq: 2 }).unwrap().clone();
    let before = state(&d[0].ledger);
    assert_eq!(d[0].receive(b2.clone()), Err(Rejected::Revoked));
    assert!(state(&d[0].ledger) == before);
    // B/1, written before the cap, stays readable.
    assert_eq!(d[0].view(e).account, "bob");

    // A ledger that took B/2 before it learnt of the revocation ignores it.
    assert_eq!(d[1].receive(revoke), Ok(Admitted::New));
    let index = d[1].built();
    let versions: Vec<RecordId> = index.get(&e).unwrap().versions().iter().map(|v| v.record).collect();
    assert_eq!(versions, vec![RecordId { origin: b, seq: 1 }]);
}

/// A member's records are refused until its `Member` record is in.
#[test]
fn a_members_record_waits_for_its_member_record() {
    let (_, d, _) = ledger_fixture();
    let (a, b) = (d[0].id(), d[1].id());
    let get = |origin, seq| d[0].ledger.get(&RecordId { origin, seq }).unwrap().clone();
    let mut ledger = Ledger::new();
    for seq in [1, 2] {
        assert_eq!(ledger.admit(get(a, seq), LATER), Ok(Admitted::New));
    }
    assert_eq!(ledger.admit(get(b, 1), LATER), Err(Rejected::NotAMember));
    assert!(matches!(get(a, 3).body, Body::Member { ref member, .. } if member.device == b));
    assert_eq!(ledger.admit(get(a, 3), LATER), Ok(Admitted::New));
    // B wrote B/1 having admitted A/4 (its envelopes): B/1 waits for it.
    assert!(matches!(get(a, 4).body, Body::Envelopes { .. }));
    assert_eq!(ledger.admit(get(b, 1), LATER), Err(Rejected::Waiting));
    assert_eq!(ledger.admit(get(a, 4), LATER), Ok(Admitted::New));
    assert_eq!(ledger.admit(get(b, 1), LATER), Ok(Admitted::New));
    assert_eq!(ledger.admit(get(b, 1), LATER), Ok(Admitted::Duplicate));
}

/// A fresh ledger holding the same records, admitted in causal order.
fn copy(ledger: &Ledger) -> Ledger {
    let mut out = Ledger::new();
    for record in ledger.missing_for(&BTreeMap::new()) {
        assert_eq!(out.admit(record.clone(), LATER), Ok(Admitted::New));
    }
    out
}

// ------------------------------------------------------------------ lookup

/// `Index::find` as a plain scan would answer a query that names some entry
/// exactly: the live (or all) entries it names exactly.
fn exact_scan(index: &Index, q: &str, include_deleted: bool) -> BTreeSet<EntryId> {
    index
        .entries()
        .filter(|e| include_deleted || !e.view().deleted)
        .filter(|e| exact_names(e.view(), e.id()).contains(&q.to_string()))
        .map(|e| e.id())
        .collect()
}

fn exact_names(view: &authsync_proto::record::EntryBody, id: EntryId) -> Vec<String> {
    let issuer = view.issuer.as_deref().unwrap_or("").to_lowercase();
    let account = view.account.to_lowercase();
    let mut names = vec![account.clone(), id.to_string()];
    if !issuer.is_empty() {
        names.push(format!("{issuer}:{account}"));
        names.push(issuer);
    }
    names
}

fn check_find(index: &Index) -> Result<(), TestCaseError> {
    for entry in index.entries() {
        for q in exact_names(entry.view(), entry.id()) {
            for include_deleted in [false, true] {
                let want = exact_scan(index, &q, include_deleted);
                if want.is_empty() {
                    continue;
                }
                let got: BTreeSet<EntryId> = index.find(&q, include_deleted).iter().map(|e| e.id()).collect();
                prop_assert_eq!(got, want, "find({:?}, {})", q, include_deleted);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(32))]

    /// After any script, `find` with a name of an entry gives the entries a
    /// scan finds by that exact name, on a fresh and on a kept index. (As
    /// sets: `find_names_an_entry_once` checks for repeats.)
    #[test]
    fn find_agrees_with_a_scan(seed: u64, skews in arb_skews(), script in arb_script(20)) {
        let (_, devices, _) = run(seed, &skews, &script, false);
        for device in &devices {
            check_find(&device.built())?;
            check_find(&device.index)?;
        }
    }
}

/// A query that names one entry in two ways (its issuer and its account
/// are the same word) finds it once, not as two "ambiguous" candidates.
#[test]
fn find_names_an_entry_once() {
    let table = [
        ("GitHub", "github", "github"),
        ("Slack", "Slack", "slack"),
        ("Site", "alice", "alice"),
        ("Site", "alice", "site"),
        ("Site", "alice", "site:alice"),
    ];
    let mut repeated = Vec::new();
    for (issuer, account, query) in table {
        let mut rng = rng(30);
        let mut d = household(&mut rng, &[0]);
        let mut plain = Plain::simple(account, b"0123456789abcdef", false);
        plain.issuer = Some(issuer.into());
        let e = d[0].add(&mut rng, &plain);
        for index in [&d[0].index, &d[0].built()] {
            let found: Vec<EntryId> = index.find(query, false).iter().map(|e| e.id()).collect();
            if found != vec![e] {
                repeated.push((issuer, account, query, found.len()));
            }
        }
    }
    assert!(repeated.is_empty(), "(issuer, account, query, found): {repeated:?}");
}

/// Decrypting on several threads builds the same index as on one: enough
/// entries that each thread gets a part, some edited (several versions).
#[test]
fn an_index_built_on_several_threads_is_the_one_built_on_one() {
    let mut rng = rng(31);
    let mut d = household(&mut rng, &[0]);
    let mut ids = Vec::new();
    for i in 0..900 {
        let mut plain = Plain::simple(&format!("user{i}"), b"0123456789abcdef", i % 7 == 0);
        plain.issuer = Some(format!("Site{}", i % 50));
        ids.push(d[0].add(&mut rng, &plain));
    }
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        d[0].edit(&mut rng, *id, |body| body.note = format!("edited {i}"))
            .unwrap();
    }
    let one = d[0].built();
    for threads in [2, 3, 8] {
        let many = Index::build_on(&d[0].ledger, &d[0].id(), &d[0].box_key, threads);
        assert_eq!(snapshot(&many), snapshot(&one), "{threads} threads");
        assert_eq!(many.unreadable(), one.unreadable());
        for query in ["site7", "user12", "site7:user7", "nothing"] {
            let ids = |index: &Index| index.find(query, false).iter().map(|e| e.id()).collect::<Vec<_>>();
            assert_eq!(ids(&many), ids(&one), "{query}");
        }
    }
    assert_eq!(one.entries().count(), 900);
}

// ------------------------------------------------------------ revocations

/// Delivers what device `from` has and `to` lacks, like `common::sync`,
/// but returns the refusals instead of failing on them.
fn exchange(d: &mut [Device], from: usize, to: usize) -> Vec<(RecordId, Rejected)> {
    let missing: Vec<Record> = d[from]
        .ledger
        .missing_for(d[to].ledger.version_vector())
        .into_iter()
        .cloned()
        .collect();
    missing
        .into_iter()
        .filter_map(|r| {
            let id = r.id;
            d[to].receive(r).err().map(|e| (id, e))
        })
        .collect()
}

/// A, B and C synced; B then writes B/2 (an edit), which only C receives,
/// at a later HLC than A's `Revoke { B, last_seq: 1 }` written meanwhile;
/// C then receives the revocation.
fn revocation_race() -> (Vec<Device>, RecordId) {
    let mut rng = rng(40);
    let mut d = household(&mut rng, &[0, 0, 0]);
    let e = d[1].add(&mut rng, &Plain::simple("bob", b"bob's secret....", false));
    sync_all(&mut d);
    d[1].now = T0 + 20_000;
    let b2 = d[1].edit(&mut rng, e, |b| b.note = "after the theft".into()).unwrap();
    assert_eq!(b2.id.seq, 2);
    sync_pair(&mut d, 1, 2);
    d[0].now = T0 + 10_000;
    let b = d[1].id();
    let revoke = d[0].sign_next(Body::Revoke { device: b, last_seq: 1 });
    assert!(revoke.hlc < b2.hlc);
    d[0].append(revoke);
    assert!(exchange(&mut d, 0, 2).is_empty());
    (d, b2.id)
}

/// Whether a record past a revocation cap is held must not depend on
/// whether it arrived before the `Revoke`: otherwise devices hold different
/// sets, the one lacking it refuses it from the other on every sync (and the
/// daemon drops the session at the first refusal, so nothing newer in that
/// batch gets through), and a device holding it cannot re-admit its own
/// store in (hlc, id) order as `Vault::open` does.
/// A record written past its origin's revocation cap is held by a device that
/// admitted it before the `Revoke` arrived, refused by one that had the
/// `Revoke` first, and never passed on: the views agree, sync offers nothing
/// the other side must refuse, and the holder's own store reloads (the daemon
/// skips `Revoked` on reload).
#[test]
fn records_past_a_revocation_cap_are_never_passed_on() {
    let (mut d, b2) = revocation_race();
    let refused = exchange(&mut d, 2, 0);
    let views = |d: &Device| snapshot(&d.built());
    assert_eq!(views(&d[0]), views(&d[2]), "the views agree (B/2 is ignored by both)");
    assert!(refused.is_empty(), "C offered A what A must refuse: {refused:?}");
    assert!(d[0].ledger.get(&b2).is_none(), "A never holds B/2");
    assert!(
        d[2].ledger.missing_for(&BTreeMap::new()).iter().all(|r| r.id != b2),
        "C never offers B/2"
    );
    // C's store read back in (hlc, id) order, as `Vault::open` does.
    let mut stored: Vec<Record> = d[2].ledger.records().cloned().collect();
    stored.sort_by_key(|r| (r.hlc, r.id));
    let mut reopened = Ledger::new();
    for record in stored {
        let id = record.id;
        match reopened.admit(record, LATER) {
            Ok(_) => {}
            Err(Rejected::Revoked) => assert_eq!(id, b2, "only B/2 is past the cap"),
            Err(e) => panic!("C's own store, reloaded, refuses {id:?}: {e}"),
        }
    }
}

/// A member admitted by a member who was itself admitted only by a record
/// past its sponsor's revocation cap is no member either, however deep the
/// chain: otherwise a stolen device can, before its `Revoke` arrives,
/// admit C, which admits D, and D survives the revocation.
#[test]
fn a_chain_of_members_admitted_past_a_revocation_is_cut_whole() {
    let mut rng = rng(41);
    let mut a = common::found(&mut rng, "A", T0);
    let mut b = Device::new(&mut rng, "B", T0);
    common::pair(&mut rng, &mut a, &mut b);
    // The thief's device B admits C (B/1), and C admits D (C/1) …
    let mut c = Device::new(&mut rng, "C", T0);
    common::pair(&mut rng, &mut b, &mut c);
    let mut d = Device::new(&mut rng, "D", T0);
    common::pair(&mut rng, &mut c, &mut d);
    // … while A revokes B, having seen none of B's records.
    let revoke = a.sign_next(Body::Revoke {
        device: b.id(),
        last_seq: 0,
    });
    a.append(revoke);

    // Every record, folded as a set.
    let all: Vec<Record> = [&a, &b, &c, &d]
        .iter()
        .flat_map(|x| x.ledger.records().cloned().collect::<Vec<_>>())
        .collect();
    let household = Household::fold(all.iter(), &Default::default()).unwrap();
    let member =
        |x: &Device| household.is_current_member(&x.id()) || household.accepts(RecordId { origin: x.id(), seq: 1 });
    let admitted: Vec<&str> = [&b, &c, &d]
        .iter()
        .filter(|x| member(x))
        .map(|x| x.name.as_str())
        .collect();
    assert_eq!(admitted, Vec::<&str>::new(), "still members after B's revocation");
}

/// A member that signs its clock backwards (a later record with an earlier
/// HLC, and a first record older than the `Member` record that admitted
/// it) cannot stall a newcomer's initial sync: `missing_for` still sends
/// every record after the ones it depends on. (In plain HLC order the
/// newcomer refused them, as a gap or from a non-member.)
#[test]
fn a_member_signing_its_clock_backwards_cannot_stall_a_newcomer() {
    let mut rng = common::rng(7);
    let mut a = common::found(&mut rng, "a", 1_000_000);
    let mut b = Device::new(&mut rng, "b", 1_000_000);
    common::pair(&mut rng, &mut a, &mut b);
    // b's clock is far behind: its records carry HLCs below a's.
    for (i, ms) in [(1, 10), (2, 5)] {
        let body = Body::Revoke {
            device: DeviceId([i; 32]),
            last_seq: 0,
        };
        let record = b.sign_with(body, |h| h.hlc = Hlc { ms, counter: 0 });
        b.append(record);
    }
    common::sync(&b, &mut a);
    let mut c = Device::new(&mut rng, "c", 1_000_000);
    common::pair(&mut rng, &mut a, &mut c);
    assert_eq!(c.ledger.len(), a.ledger.len());
}
