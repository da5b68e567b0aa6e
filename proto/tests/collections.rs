//! Property and unit tests of persons and collections (authority rules 10
//! and 11, `proto/src/authority.rs`), on the household simulator (`common`):
//!
//! - the fold with persons and collections is still a pure function of the
//!   record set (order and duplicates make no difference);
//! - no record set gives a device the key of a collection its person is not
//!   in, whatever envelopes members write;
//! - a member cannot place a device in another person, change a collection
//!   it is not in, or make the current epoch of one.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use authsync_proto::authority::Household;
use authsync_proto::crypto::{Envelope, SymKey};
use authsync_proto::ids::{CollectionId, DeviceId, EpochId, RecordId};
use authsync_proto::record::{Body, Record};
use common::{Device, T0, config, household, rng, sync_pair};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

const PERSONS: [&str; 3] = ["alice", "bob", "carol"];
const NAMED: [CollectionId; 2] = [CollectionId([1; 16]), CollectionId([2; 16])];

/// One step of a script: device `by` writes something, or two devices sync.
#[derive(Clone, Debug)]
enum Step {
    Place {
        by: usize,
        device: usize,
        person: usize,
    },
    Declare {
        by: usize,
        collection: usize,
        persons: Vec<usize>,
    },
    NewEpoch {
        by: usize,
        collection: usize,
        to: Vec<usize>,
    },
    Sync {
        from: usize,
        to: usize,
    },
}

fn arb_step() -> impl Strategy<Value = Step> {
    let device = 0..4usize;
    prop_oneof![
        (device.clone(), 0..4usize, 0..3usize).prop_map(|(by, device, person)| Step::Place { by, device, person }),
        (
            device.clone(),
            0..5usize,
            proptest::collection::btree_set(0..3usize, 1..=3)
        )
            .prop_map(|(by, collection, persons)| Step::Declare {
                by,
                collection,
                persons: persons.into_iter().collect()
            }),
        (device.clone(), 0..6usize, proptest::collection::vec(0..4usize, 0..4))
            .prop_map(|(by, collection, to)| Step::NewEpoch { by, collection, to }),
        (device.clone(), 0..4usize).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

/// Collections a script names: shared, the two named ones, and the
/// personal ones of the persons.
fn collection(i: usize) -> CollectionId {
    match i {
        0 => CollectionId::SHARED,
        1 | 2 => NAMED[i - 1],
        i => CollectionId::personal(PERSONS[(i - 3) % PERSONS.len()]),
    }
}

/// Runs `steps` on a household of four. Each write is admitted by its
/// writer (a member may write any of these; the fold decides what counts).
fn run(rng: &mut StdRng, steps: &[Step]) -> Vec<Device> {
    let mut devices = household(rng, &[0, 0, 0, 0]);
    common::sync_all(&mut devices);
    for (n, step) in steps.iter().enumerate() {
        for device in devices.iter_mut() {
            device.now = T0 + 1000 * (n as u64 + 1);
        }
        match step {
            Step::Place { by, device, person } => {
                let target = devices[*device].id();
                devices[*by].write(Body::Person {
                    device: target,
                    person: PERSONS[*person].to_string(),
                });
            }
            Step::Declare {
                by,
                collection: c,
                persons,
            } => {
                devices[*by].write(Body::Collection {
                    collection: collection(*c),
                    name: format!("c{c}"),
                    persons: persons.iter().map(|p| PERSONS[*p].to_string()).collect(),
                });
            }
            Step::NewEpoch { by, collection: c, to } => {
                let household = devices[*by].ledger.household().unwrap().clone();
                let collection = collection(*c);
                let mut epoch = [0u8; 16];
                rng.fill_bytes(&mut epoch);
                let epoch = EpochId(epoch);
                let key = SymKey::generate(rng);
                // Sealed to whoever the writer likes, readers or not.
                let envelopes = to
                    .iter()
                    .map(|i| &devices[*i])
                    .map(|d| Envelope::seal(rng, d.id(), &d.box_key.public(), &epoch, &key))
                    .collect();
                let counter = household.next_counter_held(&collection).unwrap();
                devices[*by].write(Body::CollectionEpoch {
                    collection,
                    epoch,
                    counter,
                    commitment: key.commitment(&household.id, &epoch),
                    envelopes,
                });
            }
            Step::Sync { from, to } => {
                sync_pair(&mut devices, *from, *to);
            }
        }
    }
    devices
}

fn union(devices: &[Device]) -> Vec<Record> {
    let mut all: BTreeMap<RecordId, Record> = BTreeMap::new();
    for device in devices {
        for record in device.ledger.records() {
            all.insert(record.id, record.clone());
        }
    }
    all.into_values().collect()
}

/// Whether `device` may read `collection`, from the rules' words: a
/// person's own collection is that person's; one whose persons were set is
/// theirs; `shared` before that is everyone's.
fn may_read(household: &Household, collection: &CollectionId, device: &DeviceId) -> bool {
    let person = household.members.get(device).and_then(|m| m.person.clone());
    let owner = household
        .members
        .values()
        .filter_map(|m| m.person.clone())
        .find(|p| CollectionId::personal(p) == *collection);
    if let Some(owner) = owner {
        return person == Some(owner);
    }
    match household.declared.get(collection) {
        Some(declared) => person.is_some_and(|p| declared.persons.contains(&p)),
        None => *collection == CollectionId::SHARED,
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Rules 10 and 11 keep the fold pure: any order and duplication of one
    /// record set gives the same household.
    #[test]
    fn the_fold_with_collections_is_a_function_of_the_record_set(
        seed in any::<u64>(),
        steps in proptest::collection::vec(arb_step(), 1..24),
    ) {
        let mut rng = rng(seed);
        let devices = run(&mut rng, &steps);
        let records = union(&devices);
        let reference = Household::fold(records.iter(), &Default::default()).unwrap();
        for _ in 0..3 {
            let mut shuffled = records.clone();
            for record in &records {
                if rng.gen_bool(0.3) {
                    shuffled.push(record.clone());
                }
            }
            shuffled.shuffle(&mut rng);
            let folded = Household::fold(shuffled.iter(), &Default::default()).unwrap();
            prop_assert_eq!(&folded, &reference);
        }
    }

    /// Whatever envelopes members write, a device opens only keys of
    /// collections its person reads, and new epochs are sealed only to
    /// such devices.
    #[test]
    fn no_record_set_gives_a_device_a_key_of_a_collection_it_is_not_in(
        seed in any::<u64>(),
        steps in proptest::collection::vec(arb_step(), 1..24),
    ) {
        let mut rng = rng(seed);
        let devices = run(&mut rng, &steps);
        let records = union(&devices);
        let household = Household::fold(records.iter(), &Default::default()).unwrap();
        for device in &devices {
            let keys = household.open_epoch_keys(&device.id(), &device.box_key);
            for epoch in keys.keys() {
                let collection = household.epochs[epoch].collection;
                prop_assert!(
                    may_read(&household, &collection, &device.id()),
                    "{} opens a key of a collection its person is not in", device.name
                );
            }
        }
        for collection in household.collections() {
            for reader in household.readers(&collection.id) {
                prop_assert!(may_read(&household, &collection.id, &reader.info.device));
            }
            if let Some(current) = household.current_epoch(&collection.id) {
                prop_assert!(may_read(&household, &collection.id, &current.created_by.origin));
            }
        }
    }
}

/// A household of four where A and B are alice's, C is bob's and D
/// carol's, each placed by a device allowed to.
fn three_persons(rng: &mut StdRng) -> Vec<Device> {
    let mut devices = household(rng, &[0, 0, 0, 0]);
    common::sync_all(&mut devices);
    let ids: Vec<DeviceId> = devices.iter().map(Device::id).collect();
    for (device, person) in [(0, "alice"), (1, "alice"), (2, "bob"), (3, "carol")] {
        devices[0].write(Body::Person {
            device: ids[device],
            person: person.to_string(),
        });
    }
    common::sync_all(&mut devices);
    devices
}

fn person_of(device: &Device, of: &Device) -> Option<String> {
    let household = device.ledger.household().unwrap();
    household.members[&of.id()].person.clone()
}

#[test]
fn persons_are_placed_only_by_their_own_devices_or_when_new() {
    let mut rng = rng(11);
    let mut devices = three_persons(&mut rng);
    assert_eq!(person_of(&devices[0], &devices[1]).as_deref(), Some("alice"));
    assert_eq!(person_of(&devices[0], &devices[2]).as_deref(), Some("bob"));
    // Bob's device says carol's tablet and itself are alice's: neither counts.
    let (d, c) = (devices[3].id(), devices[2].id());
    devices[2].write(Body::Person {
        device: d,
        person: "alice".into(),
    });
    devices[2].write(Body::Person {
        device: c,
        person: "alice".into(),
    });
    assert_eq!(person_of(&devices[2], &devices[3]).as_deref(), Some("carol"));
    assert_eq!(person_of(&devices[2], &devices[2]).as_deref(), Some("bob"));
    // Alice's device takes bob's device into alice: it may (its person
    // gains a device); bob's device no longer reads bob's collection.
    devices[0].write(Body::Person {
        device: c,
        person: "alice".into(),
    });
    let household = devices[0].ledger.household().unwrap();
    assert!(!household.reads(&CollectionId::personal("bob"), &c));
    // A new person can be made by anyone.
    devices[3].write(Body::Person {
        device: d,
        person: "dave".into(),
    });
    assert_eq!(person_of(&devices[3], &devices[3]).as_deref(), Some("dave"));
}

#[test]
fn a_member_outside_a_collection_neither_changes_it_nor_makes_its_key() {
    let mut rng = rng(12);
    let mut devices = three_persons(&mut rng);
    let named = NAMED[0];
    devices[0].write(Body::Collection {
        collection: named,
        name: "parents".into(),
        persons: vec!["alice".into(), "carol".into()],
    });
    common::sync_all(&mut devices);
    // Bob is not in it: his declaration adding himself does not count.
    devices[2].write(Body::Collection {
        collection: named,
        name: "parents".into(),
        persons: vec!["alice".into(), "bob".into(), "carol".into()],
    });
    let household = devices[2].ledger.household().unwrap().clone();
    assert_eq!(
        household.declared[&named].persons,
        BTreeSet::from(["alice".to_string(), "carol".to_string()])
    );
    assert!(!household.reads(&named, &devices[2].id()));
    // Nor can he declare alice's own collection, or make its current key.
    devices[2].write(Body::Collection {
        collection: CollectionId::personal("alice"),
        name: "alice".into(),
        persons: vec!["bob".into()],
    });
    let alices = CollectionId::personal("alice");
    let household = devices[2].ledger.household().unwrap().clone();
    assert!(!household.reads(&alices, &devices[2].id()));
    let mut epoch = [0u8; 16];
    rng.fill_bytes(&mut epoch);
    let epoch = EpochId(epoch);
    let key = SymKey::generate(&mut rng);
    let to: Vec<Envelope> = [0, 1, 2]
        .iter()
        .map(|i| Envelope::seal(&mut rng, devices[*i].id(), &devices[*i].box_key.public(), &epoch, &key))
        .collect();
    devices[2].write(Body::CollectionEpoch {
        collection: alices,
        epoch,
        counter: household.next_counter_held(&alices).unwrap(),
        commitment: key.commitment(&household.id, &epoch),
        envelopes: to,
    });
    common::sync_all(&mut devices);
    let household = devices[0].ledger.household().unwrap();
    assert!(
        household.current_epoch(&alices).is_none(),
        "an epoch made by a device that does not read the collection never becomes current"
    );
    assert!(
        !household
            .open_epoch_keys(&devices[2].id(), &devices[2].box_key)
            .contains_key(&epoch),
        "bob's device opens no key of alice's collection, even one it sealed to itself"
    );
}

#[test]
fn a_rename_counts_from_the_device_itself_or_its_person_only() {
    let mut rng = rng(13);
    let mut devices = three_persons(&mut rng);
    let name_of = |d: &Device, of: &Device| d.ledger.household().unwrap().members[&of.id()].info.name.clone();
    let (a, b) = (devices[0].id(), devices[1].id());
    let before = name_of(&devices[2], &devices[0]);
    // Bob's device renames alice's laptop: nothing changes.
    devices[2].write(Body::Rename {
        device: a,
        name: "bobs-now".into(),
    });
    assert_eq!(name_of(&devices[2], &devices[0]), before);
    // Alice's laptop renames her other device, and bob's device itself.
    devices[0].write(Body::Rename {
        device: b,
        name: "alice-phone".into(),
    });
    let c = devices[2].id();
    devices[2].write(Body::Rename {
        device: c,
        name: "bob-desktop".into(),
    });
    common::sync_all(&mut devices);
    assert_eq!(name_of(&devices[3], &devices[1]), "alice-phone");
    assert_eq!(name_of(&devices[3], &devices[2]), "bob-desktop");
    assert_eq!(name_of(&devices[3], &devices[0]), before);
}

#[test]
fn a_lend_with_a_window_over_a_week_or_a_bad_name_is_refused() {
    use authsync_proto::ledger::Rejected;
    use authsync_proto::lend::{self, MAX_LEND_SECS};
    use authsync_proto::otp::{OtpSpec, Secret};
    let mut rng = rng(14);
    let mut devices = three_persons(&mut rng);
    let household = devices[2].household_id();
    let carol = (devices[3].id(), devices[3].box_key.public());
    let lent = lend::lend(
        &mut rng,
        &household,
        authsync_proto::ids::EntryId([1; 16]),
        (None, "x"),
        &Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap(),
        &OtpSpec::totp_default(),
        "carol",
        &[carol],
        T0 / 1000,
        3600,
    )
    .unwrap();
    let mut long = lent[0].clone();
    long.until_secs = long.from_secs + MAX_LEND_SECS + 7200;
    let record = devices[2].sign_next(Body::Lend(Box::new(long)));
    assert_eq!(devices[2].receive(record), Err(Rejected::Malformed));
    let mut unnamed = lent[0].clone();
    unnamed.to = "a,b".into();
    let record = devices[2].sign_next(Body::Lend(Box::new(unnamed)));
    assert_eq!(devices[2].receive(record), Err(Rejected::Malformed));
    // The well-formed one is admitted, and opens on carol's device only.
    devices[2].write(Body::Lend(Box::new(lent[0].clone())));
    common::sync_all(&mut devices);
    let carol_device = &devices[3];
    assert!(
        lent[0]
            .open(&household, &carol_device.id(), &carol_device.box_key)
            .is_ok()
    );
    assert!(lent[0].open(&household, &devices[0].id(), &devices[0].box_key).is_err());
}
