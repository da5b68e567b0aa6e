//! Issue 12 with real daemons: three persons on five devices, personal and
//! shared collections, sharing through a device that cannot read, moving
//! entries, removing a person and revoking one.
//!
//! ```text
//! alice: alice-laptop (founder), alice-phone      (both joined as alice)
//! bob:   bob-desktop (sponsored by alice-laptop), bob-phone (by bob-desktop)
//! carol: carol-tablet (sponsored by alice-laptop)
//! ```
//!
//! What a device cannot read is checked in its store, with its own keys,
//! not only in what `list` prints.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use authsync_proto::authority::{Forks, Household};
use authsync_proto::ids::{CollectionId, DeviceId, EpochId};
use authsync_proto::ipc::{CollectionInfo, EntrySummary, Exposure, LogEvent, PersonInfo};
use authsync_proto::record::{Body, Record};
use authsync_tests::household::{devices, founder_as, join_with, pair, start_dialling};
use authsync_tests::peer::stolen;
use authsync_tests::{Instance, wait_until};

/// How long a change may take to cross the household (two hops at most).
const PROPAGATE: Duration = Duration::from_secs(20);

const ALICE_BANK: &str = "KRSXG5CTMVRXEZLUKN2XAZLSONUWE4TF";
const WIFI: &str = "JBSWY3DPEHPK3PXP";
const NETFLIX: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
const HULU: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const WIFI2: &str = "ONSWG4TFOQQHG5LQMVZHG33NMU======";

fn join_as(sponsor: &Instance, name: &str, person: &str) -> Instance {
    join_with(sponsor, name, &pair(sponsor), &["--no-passphrase", "--person", person])
}

fn add(inst: &Instance, issuer: &str, secret: &str, more: &[&str]) {
    let mut args = vec!["add", "--secret", secret, "--issuer", issuer, "--account", "home"];
    args.extend_from_slice(more);
    inst.ctl_ok(&args);
}

fn labels(inst: &Instance) -> BTreeSet<String> {
    inst.list().into_iter().map(|e| e.issuer.unwrap_or_default()).collect()
}

fn holds(inst: &Instance, issuer: &str) -> bool {
    labels(inst).contains(issuer)
}

fn persons(inst: &Instance) -> Vec<(Option<String>, Vec<String>)> {
    let list: Vec<PersonInfo> = inst.ctl_json(&["persons"]);
    list.into_iter()
        .map(|p| {
            let mut devices = p.devices;
            devices.sort();
            (p.name, devices)
        })
        .collect()
}

/// The epochs of `collection` in `records`, by their creating records.
fn epochs_of(records: &[Record], collection: CollectionId) -> BTreeSet<EpochId> {
    records
        .iter()
        .filter_map(|r| match &r.body {
            Body::CollectionEpoch {
                collection: c, epoch, ..
            } if *c == collection => Some(*epoch),
            Body::Epoch { epoch, .. } if collection == CollectionId::SHARED => Some(*epoch),
            _ => None,
        })
        .collect()
}

/// Every envelope in `records` addressed to `device`, by epoch.
fn envelopes_to(records: &[Record], device: DeviceId) -> BTreeSet<EpochId> {
    records
        .iter()
        .flat_map(|r| match &r.body {
            Body::CollectionEpoch { epoch, envelopes, .. }
            | Body::Epoch { epoch, envelopes, .. }
            | Body::Envelopes { epoch, envelopes } => envelopes
                .iter()
                .filter(|e| e.recipient == device)
                .map(|_| *epoch)
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

/// Alice's personal entry, as a stopped device of another person holds it:
/// the record is there (stored and forwarded), no envelope of alice's
/// collection is addressed to the device, no key its own box key opens
/// opens the entry, and the secret is nowhere in its data directory.
fn assert_cannot_read_alices(inst: &Instance) {
    let records = authsync_tests::stored_records(&inst.vault_dir());
    let keys = stolen(&inst.data_dir());
    let alice = epochs_of(&records, CollectionId::personal("alice"));
    assert!(!alice.is_empty(), "alice's collection has an epoch in every store");
    let sealed: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(&r.body, Body::Entry(e) if alice.contains(&e.epoch)))
        .collect();
    assert!(
        !sealed.is_empty(),
        "alice's personal entry was forwarded to this device"
    );
    assert!(
        envelopes_to(&records, keys.device).is_disjoint(&alice),
        "no envelope of alice's collection is addressed to this device"
    );
    let box_key = keys.box_key.as_ref().unwrap();
    // Every epoch key this device's box key opens, whatever the fold says.
    let mut opened = Vec::new();
    for record in &records {
        if let Body::CollectionEpoch { epoch, envelopes, .. }
        | Body::Epoch { epoch, envelopes, .. }
        | Body::Envelopes { epoch, envelopes } = &record.body
        {
            for envelope in envelopes.iter().filter(|e| e.recipient == keys.device) {
                if let Ok(key) = envelope.open(box_key, epoch) {
                    opened.push(key);
                }
            }
        }
    }
    assert!(!opened.is_empty(), "the device opens some keys (shared's)");
    for record in &sealed {
        for key in &opened {
            assert!(
                !matches!(record.open_entry(key), Some(Ok(_))),
                "a key this device holds opened alice's entry"
            );
        }
    }
    let household = Household::fold(records.iter(), &Forks::new()).unwrap();
    assert!(
        household
            .open_epoch_keys(&keys.device, box_key)
            .keys()
            .all(|e| !alice.contains(e)),
        "the fold gives this device no key of alice's collection"
    );
    authsync_tests::files::assert_absent_under(&inst.data_dir(), &authsync_tests::files::secret_needles(ALICE_BANK));
}

#[test]
fn three_persons_share_what_they_choose_and_nothing_else() {
    let laptop = founder_as("alice-laptop", "alice");
    let phone = join_as(&laptop, "alice-phone", "alice");
    let mut desktop = join_as(&laptop, "bob-desktop", "bob");
    let mut bphone = join_as(&desktop, "bob-phone", "bob");
    let mut tablet = join_as(&laptop, "carol-tablet", "carol");
    let all = [&laptop, &phone, &desktop, &bphone, &tablet];

    let expected = vec![
        (
            Some("alice".to_string()),
            vec!["alice-laptop".to_string(), "alice-phone".to_string()],
        ),
        (
            Some("bob".to_string()),
            vec!["bob-desktop".to_string(), "bob-phone".to_string()],
        ),
        (Some("carol".to_string()), vec!["carol-tablet".to_string()]),
    ];
    for inst in all {
        wait_until(PROPAGATE, "every device to know the three persons", || {
            persons(inst) == expected
        });
    }
    let plain = laptop.ctl_ok(&["devices"]);
    assert!(
        plain.contains("alice:") && plain.contains("bob:") && plain.contains("carol:"),
        "{plain}"
    );

    // A personal entry: the default once the household has two persons.
    add(&laptop, "AliceBank", ALICE_BANK, &[]);
    assert_eq!(laptop.show("alicebank").collection, "alice");
    wait_until(PROPAGATE, "alice's phone to read her entry", || {
        holds(&phone, "AliceBank")
    });
    // A shared one reaches all five, with the same code everywhere.
    add(&laptop, "Wifi", WIFI, &["--in", "shared"]);
    for inst in all {
        wait_until(PROPAGATE, "the shared entry to reach every device", || {
            holds(inst, "Wifi")
        });
    }
    let codes: BTreeSet<String> = all.iter().map(|i| i.code("wifi")).collect();
    assert!(codes.len() <= 2, "one code (two at a period's turn): {codes:?}");
    for inst in [&desktop, &bphone, &tablet] {
        assert!(!holds(inst, "AliceBank"), "another person's device lists alice's entry");
        inst.assert_refused(&["code", "alicebank"], 4, &["no entry matches"]);
    }
    let records = laptop.status().records;
    for inst in [&mut desktop, &mut bphone, &mut tablet] {
        wait_until(PROPAGATE, "every record to be forwarded", || {
            inst.status().records >= records
        });
        inst.stop();
        assert_cannot_read_alices(inst);
    }

    // Sharing through a device that cannot read: bob's phone reaches the
    // household through carol's tablet only (bob's desktop is off, and
    // nothing dials the phone).
    tablet.start();
    start_dialling(&mut bphone, &[&tablet]);
    wait_until(PROPAGATE, "bob's phone and carol's tablet online", || {
        devices(&bphone).iter().any(|d| d.name == "carol-tablet" && d.online)
    });
    add(&laptop, "Netflix", NETFLIX, &[]);
    let moved: EntrySummary = laptop.ctl_json(&["share", "netflix", "--with", "bob"]);
    assert_eq!(moved.collection, "alice+bob");
    wait_until(PROPAGATE, "the entry shared with bob to reach bob's phone", || {
        holds(&bphone, "Netflix")
    });
    assert_eq!(bphone.show("netflix").collection, "alice+bob");
    assert!(
        !devices(&bphone).iter().any(|d| d.name == "alice-laptop" && d.online),
        "bob's phone must reach alice's laptop only through carol's tablet"
    );
    assert!(
        !holds(&tablet, "Netflix"),
        "carol's tablet relays alice+bob, reads nothing of it"
    );
    let on_tablet: Vec<CollectionInfo> = tablet.ctl_json(&["collections"]);
    let pair_collection = on_tablet.iter().find(|c| c.name == "alice+bob").unwrap();
    assert!(!pair_collection.readable);

    // Unshare: back in alice's own; bob's devices could read it.
    let reports: Vec<Exposure> = laptop.ctl_json(&["unshare", "netflix"]);
    let names: BTreeSet<&str> = reports.iter().map(|r| r.device_name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["bob-desktop", "bob-phone"]));
    assert!(
        reports
            .iter()
            .all(|r| r.entries.len() == 1 && r.entries[0].entry.label() == "Netflix: home")
    );
    assert_eq!(laptop.show("netflix").collection, "alice");
    wait_until(PROPAGATE, "the unshared entry to leave bob's phone", || {
        !holds(&bphone, "Netflix")
    });
    let exposed: Vec<Exposure> = laptop.ctl_json(&["exposed"]);
    assert!(
        exposed
            .iter()
            .any(|r| r.device_name == "bob-phone" && r.entries.iter().any(|e| e.entry.label() == "Netflix: home")),
        "{exposed:?}"
    );

    // Removing bob from `shared` changes only shared's key, and lists only
    // what bob lost.
    add(&laptop, "Hulu", HULU, &[]);
    laptop.ctl_ok(&["share", "hulu", "--with", "bob"]);
    wait_until(PROPAGATE, "hulu to reach bob's phone", || holds(&bphone, "Hulu"));
    let before: Vec<LogEvent> = laptop.ctl_json(&["log"]);
    let reports: Vec<Exposure> = laptop.ctl_json(&["collection", "remove", "shared", "bob"]);
    let lost: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| r.entries.iter().map(|e| e.entry.label()))
        .collect();
    assert_eq!(lost, BTreeSet::from(["Wifi: home".to_string()]), "{reports:?}");
    let after: Vec<LogEvent> = laptop.ctl_json(&["log"]);
    let rotated: Vec<&LogEvent> = after[..after.len() - before.len()]
        .iter()
        .filter(|e| e.event == "key_rotated")
        .collect();
    assert_eq!(rotated.len(), 1, "{rotated:?}");
    assert!(rotated[0].what.contains("the household key"), "{}", rotated[0].what);
    add(&laptop, "Wifi2", WIFI2, &["--in", "shared"]);
    wait_until(PROPAGATE, "the new shared entry to reach carol", || {
        holds(&tablet, "Wifi2")
    });
    let records = laptop.status().records;
    wait_until(PROPAGATE, "bob's phone to hold every record", || {
        bphone.status().records >= records
    });
    let bob_sees = labels(&bphone);
    assert!(bob_sees.contains("Hulu"), "bob still reads alice+bob: {bob_sees:?}");
    assert!(
        !bob_sees.contains("Wifi2") && !bob_sees.contains("Wifi"),
        "{bob_sees:?}"
    );

    // Revoking a person revokes each of their devices.
    let reports: Vec<Exposure> = laptop.ctl_json(&["revoke", "--person", "bob", "--yes"]);
    assert_eq!(reports.len(), 2);
    let list = devices(&laptop);
    for name in ["bob-desktop", "bob-phone"] {
        assert!(list.iter().any(|d| d.name == name && d.revoked), "{list:?}");
    }
    assert_eq!(persons(&laptop).len(), 2);
}

#[test]
fn a_device_for_another_person_waits_for_that_persons_word() {
    let laptop = founder_as("alice-laptop", "alice");
    let desktop = join_as(&laptop, "bob-desktop", "bob");
    // Bob's second device paired from alice's laptop: alice cannot say it is
    // bob's; it is no one's until one of bob's devices says so.
    let tablet = join_as(&laptop, "bob-tablet", "bob");
    wait_until(PROPAGATE, "the desktop to know the tablet", || {
        devices(&desktop).iter().any(|d| d.name == "bob-tablet")
    });
    let person_of = |inst: &Instance| {
        devices(inst)
            .into_iter()
            .find(|d| d.name == "bob-tablet")
            .and_then(|d| d.person)
    };
    assert_eq!(person_of(&laptop), None);
    // Settled first: a record of the join still on its way to the laptop
    // would change it during the refused request below.
    authsync_tests::wait_settled(PROPAGATE, &[&laptop, &desktop, &tablet]);
    laptop.assert_refused(
        &["device", "set-person", "bob-tablet", "bob"],
        2,
        &["only one of bob's own devices"],
    );
    desktop.ctl_ok(&["device", "set-person", "bob-tablet", "bob"]);
    wait_until(PROPAGATE, "the tablet to be bob's everywhere", || {
        person_of(&laptop).as_deref() == Some("bob") && person_of(&tablet).as_deref() == Some("bob")
    });
    // Bob's entries reach it now.
    add(&desktop, "BobMail", WIFI, &[]);
    assert_eq!(desktop.show("bobmail").collection, "bob");
    wait_until(PROPAGATE, "bob's entry to reach his tablet", || {
        holds(&tablet, "BobMail")
    });
    assert!(!holds(&laptop, "BobMail"));
    // Renaming: a device itself, or one of its person's.
    tablet.ctl_ok(&["device", "rename", "bob-tablet", "bobs-tablet"]);
    wait_until(PROPAGATE, "the new name to reach the laptop", || {
        devices(&laptop).iter().any(|d| d.name == "bobs-tablet")
    });
    laptop.assert_refused(&["device", "rename", "bob-desktop", "x"], 2, &["renamed by itself"]);
}

/// The attacks of the authority issue with collections in play: alice's
/// phone, with a passphrase, stolen while off. Its data directory holds no
/// key of any collection it reads (each one's key bytes, taken from the
/// laptop's own store, are nowhere in it), and none of its keys opens one.
#[test]
fn a_stolen_locked_device_yields_no_collection_key() {
    let mut laptop = founder_as("alice-laptop", "alice");
    let file = laptop.write_file("phone-passphrase", "correct horse battery staple\n");
    let mut phone = join_with(
        &laptop,
        "alice-phone",
        &pair(&laptop),
        &["--passphrase-file", file.to_str().unwrap(), "--person", "alice"],
    );
    let _desktop = join_as(&laptop, "bob-desktop", "bob");
    add(&laptop, "AliceBank", ALICE_BANK, &[]);
    add(&laptop, "Wifi", WIFI, &["--in", "shared"]);
    add(&laptop, "Netflix", NETFLIX, &[]);
    laptop.ctl_ok(&["share", "netflix", "--with", "bob"]);
    let records = laptop.status().records;
    wait_until(PROPAGATE, "the phone to hold every record", || {
        phone.status().records >= records
    });
    phone.stop();
    laptop.stop();

    // Every collection key, as the laptop (a key-file vault) opens them.
    let laptop_keys = stolen(&laptop.data_dir());
    let records = authsync_tests::stored_records(&laptop.vault_dir());
    let household = Household::fold(records.iter(), &Forks::new()).unwrap();
    let keys = household.open_epoch_keys(&laptop_keys.device, laptop_keys.box_key.as_ref().unwrap());
    let collections: BTreeSet<CollectionId> = keys.keys().map(|e| household.epochs[e].collection).collect();
    assert_eq!(collections.len(), 3, "shared, alice's and alice+bob's: {collections:?}");

    let thief = stolen(&phone.data_dir());
    assert!(
        thief.signing.is_none() && thief.box_key.is_none(),
        "a locked phone's keys stay sealed"
    );
    let needles: Vec<(String, Vec<u8>)> = keys
        .iter()
        .map(|(epoch, key)| (format!("the key of epoch {epoch:?}"), key.expose().to_vec()))
        .collect();
    authsync_tests::files::assert_absent_under(&phone.data_dir(), &needles);
    // The transport key, all the thief has, opens no envelope addressed
    // to the phone.
    let as_box = authsync_proto::crypto::BoxKey::from_bytes(*thief.transport.expose_bytes());
    for record in authsync_tests::stored_records(&phone.vault_dir()) {
        if let Body::CollectionEpoch { epoch, envelopes, .. } | Body::Envelopes { epoch, envelopes } = &record.body {
            for envelope in envelopes.iter().filter(|e| e.recipient == thief.device) {
                assert!(envelope.open(&as_box, epoch).is_err());
            }
        }
    }
}
