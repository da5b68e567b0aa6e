//! A thief with a stolen device's data directory, against a running
//! household of real `authd` processes (issue 11's seven attacks), played
//! by the test with the daemon's own transport (`authsync_tests::peer`):
//!
//! - bob's device is stolen powered off. With a passphrase vault the thief
//!   holds its transport key only: it still connects (until revoked), but
//!   every record it can make is refused, and neither key that matters is
//!   anywhere in the directory.
//! - With a `--no-passphrase` vault the thief *is* bob: it admits a device
//!   of its own, injects an epoch numbered `u64::MAX`, shadows envelopes and
//!   revokes the founder. After `revoke bob --lost-since` (a time before the
//!   theft) none of it stands: the founder is current, the thief's device is
//!   out with it, and what the founder writes next opens with none of the
//!   thief's keys.
//! - A record dated near 1970 and an import with a 300 KB note do not stop
//!   a daemon from starting again; one member cannot fill the others'
//!   disks; a device that signs two histories is caught at the next meeting
//!   of two members that each got one.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use authsync_proto::crypto::{Envelope, KdfParams, SymKey};
use authsync_proto::ids::{DeviceId, EpochId};
use authsync_proto::ipc::{DeviceInfo, Exposure};
use authsync_proto::record::{Body, Record};
use authsync_proto::wire::{self, Frame};
use authsync_tests::household::{device, devices, founder, join, join_with, pair, start_dialling};
use authsync_tests::otp::totp;
use authsync_tests::peer::{self, Keys, Session, Target, junk_entry};
use authsync_tests::{Instance, poll_until, wait_until};
use rand::rngs::OsRng;

const AMAZON_SECRET: &str = "JBSWY3DPEHPK3PXP";
const BANK_SECRET: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
const PASSPHRASE: &str = "correct horse battery staple";
/// How long a record may take to be admitted, or a refusal to be logged.
const SETTLE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------- helpers

/// A founder (alice, key-file vault) with an entry, and bob: joined, then
/// stopped, his data directory in the thief's hands.
struct Theft {
    a: Instance,
    target: Target,
    /// Kept so that bob's directory lives as long as the test.
    b: Instance,
    bob: Keys,
}

#[track_caller]
fn theft(passphrase: bool) -> Theft {
    let a = founder("alice");
    a.ctl_ok(&[
        "add",
        "--secret",
        AMAZON_SECRET,
        "--issuer",
        "Amazon",
        "--account",
        "alice",
    ]);
    let mut b = if passphrase {
        let file = a.write_file("bob-passphrase", &format!("{PASSPHRASE}\n"));
        let file = file.to_str().unwrap().to_string();
        join_with(&a, "bob", &pair(&a), &["--passphrase-file", &file])
    } else {
        join(&a, "bob")
    };
    let bob_id: DeviceId = b.status().device.unwrap().parse().unwrap();
    b.stop();
    let bob = peer::stolen(&b.data_dir());
    assert_eq!(bob.device, bob_id);
    wait_until(SETTLE, "alice to see bob offline", || {
        !device(&devices(&a), "bob").online
    });
    let target = Target::of(&a);
    Theft { a, target, b, bob }
}

impl Theft {
    /// A session as the thief (bob's transport key), hellos exchanged, with
    /// everything alice holds received.
    #[track_caller]
    fn session(&self) -> (Session, Vec<Record>) {
        let mut session = Session::open(&self.bob, &self.target, BTreeMap::new());
        let records = self.a.status().records;
        let held = session.records(records);
        assert_eq!(held.len(), records, "alice sends a member everything");
        (session, held)
    }
}

/// Waits until `inst`'s log holds a line with every one of `needles`.
#[track_caller]
fn logged(inst: &Instance, needles: &[&str]) {
    if !poll_until(SETTLE, || {
        inst.daemon_log()
            .lines()
            .any(|line| needles.iter().all(|n| line.contains(n)))
    }) {
        panic!("no log line with {needles:?}\n{}", inst.daemon_log());
    }
}

fn names(list: &[DeviceInfo], pick: impl Fn(&DeviceInfo) -> bool) -> Vec<String> {
    let mut names: Vec<String> = list.iter().filter(|d| pick(d)).map(|d| d.name.clone()).collect();
    names.sort();
    names
}

/// Every file under `dir`, read whole.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// The epoch keys that `device`'s box key opens in `records`, whatever the
/// commitments say (a thief reads what it can).
fn epoch_keys_of(records: &[Record], device: DeviceId, keys: &Keys) -> Vec<(EpochId, SymKey)> {
    let Some(box_key) = &keys.box_key else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for record in records {
        let (epoch, envelopes) = match &record.body {
            Body::Epoch { epoch, envelopes, .. } | Body::Envelopes { epoch, envelopes } => (epoch, envelopes),
            _ => continue,
        };
        for envelope in envelopes.iter().filter(|e| e.recipient == device) {
            if let Ok(key) = envelope.open(box_key, epoch) {
                out.push((*epoch, key));
            }
        }
    }
    out
}

/// The kek of a passphrase vault in `data_dir` (the test knows the
/// passphrase; the thief does not).
fn passphrase_kek(data_dir: &Path) -> SymKey {
    let db = authsync_tests::open_store(&data_dir.join("vault"));
    let meta = db.open_tree("meta").unwrap();
    let source: authsync_daemon::vault::KekSource = postcard::from_bytes(&meta.get("kek").unwrap().unwrap()).unwrap();
    let authsync_daemon::vault::KekSource::Passphrase(params) = source else {
        panic!("not a passphrase vault");
    };
    let params: KdfParams = params;
    params.derive(PASSPHRASE.as_bytes()).unwrap()
}

// ---------------------------------------------------------------- attacks

/// Attack 1 with a passphrase vault: the stolen directory holds the signing
/// and box keys only sealed (their bytes are nowhere in it), and the
/// transport key it does hold signs nothing a member accepts: not a `Member`
/// for a device of the thief's (so no envelope is ever sealed to it), not an
/// epoch, not a revocation.
#[test]
fn a_locked_stolen_device_yields_no_key_that_signs_or_reads() {
    let t = theft(true);
    assert!(t.bob.signing.is_none() && t.bob.box_key.is_none());

    // The test knows the passphrase: the real keys, to look for them.
    let kek = passphrase_kek(&t.b.data_dir());
    let mut with_kek = peer::stolen(&t.b.data_dir());
    let real = peer::open_sealed_keys(&t.b.data_dir(), &kek);
    with_kek.signing = Some(real.0);
    assert_eq!(with_kek.signing().id(), t.bob.device, "the sealed signing key is bob's");
    let secrets = [
        with_kek.signing().expose_bytes().to_vec(),
        real.1.expose_bytes().to_vec(),
    ];
    for (path, bytes) in files(&t.b.data_dir()) {
        for secret in &secrets {
            assert!(
                !bytes.windows(32).any(|w| w == secret.as_slice()),
                "a secret key of bob's lies plain in {path}"
            );
        }
    }

    let before = t.a.snapshot();
    let intruder = peer::stranger();
    let attempts: Vec<Body> = vec![
        Body::Member {
            member: Box::new(intruder.member_info("mallory")),
            transcript: [7; 32],
            joiner_signature: vec![0; 64],
        },
        Body::Epoch {
            epoch: EpochId([0xee; 16]),
            counter: u64::MAX,
            commitment: [0; 32],
            envelopes: Vec::new(),
        },
        Body::Revoke {
            device: t.a.status().device.unwrap().parse().unwrap(),
            last_seq: 1,
        },
    ];
    for body in attempts {
        let (mut session, _) = t.session();
        // All the thief can sign with: the transport key.
        let record = session.sign_with(&t.bob.transport, body);
        session.send(&Frame::Records(vec![record])).unwrap();
        assert!(session.ended().is_some(), "alice ended the session");
    }
    logged(&t.a, &["refused a record from a peer", "bad signature"]);
    t.a.assert_unchanged(&before);
    assert_eq!(names(&devices(&t.a), |_| true), ["alice", "bob"]);
    t.a.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
    // The intruder's own keys are nobody's: refused at the handshake.
    assert!(matches!(
        peer::dial_outcome(&intruder.transport, &t.target, wire::ALPN_SYNC),
        Some(peer::Ended::TlsAlert(_))
    ));
}

/// Attacks 1–4 with a `--no-passphrase` device, whose directory is the
/// device: the thief admits a device of its own (with envelopes), injects
/// an epoch numbered `u64::MAX` sealed to alice, adds a forged envelope for
/// alice to her current epoch, and revokes alice, who finds herself revoked.
/// Then `authctl revoke bob --lost-since` (a time before the theft) on alice:
/// it goes through, alice is current again, bob and the thief's device are
/// out (the checklist names both), and what alice writes next opens with
/// none of the keys the thief holds or made.
#[test]
fn after_revoke_lost_since_a_thief_with_every_key_keeps_nothing() {
    let t = theft(false);
    let bob = t.bob.copy();
    assert!(
        bob.signing.is_some() && bob.box_key.is_some(),
        "a key-file vault is the device"
    );
    let alice: DeviceId = t.a.status().device.unwrap().parse().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stolen_at = Instant::now();
    std::thread::sleep(Duration::from_millis(300));

    let (mut session, held) = t.session();
    let bob_epochs = epoch_keys_of(&held, bob.device, &bob);
    assert!(!bob_epochs.is_empty(), "bob reads the household before the revocation");
    let household = t.target.household;
    let mallory = peer::stranger();
    let mallory_info = mallory.member_info("mallory");
    let next = session.next_seq(&bob.device);
    let member = Body::Member {
        joiner_signature: mallory_info.sign_join(mallory.signing(), &household, &bob.device, &[7; 32]),
        member: Box::new(mallory_info.clone()),
        transcript: [7; 32],
    };
    let mut records = vec![session.sign(bob.device, next, member)];
    for (epoch, key) in &bob_epochs {
        let envelope = Envelope::seal(&mut OsRng, mallory.device, &mallory_info.box_key, epoch, key);
        let record = chain(
            &session,
            &records,
            Body::Envelopes {
                epoch: *epoch,
                envelopes: vec![envelope],
            },
        );
        records.push(record);
    }
    // An epoch of the thief's key, numbered to the end, sealed to alice.
    let founder_box = held
        .iter()
        .find_map(|r| match &r.body {
            Body::Genesis { founder } => Some(founder.box_key),
            _ => None,
        })
        .unwrap();
    let injected_key = SymKey::generate(&mut OsRng);
    let injected = EpochId([0x66; 16]);
    let record = chain(
        &session,
        &records,
        Body::Epoch {
            epoch: injected,
            counter: u64::MAX,
            commitment: injected_key.commitment(&household, &injected),
            envelopes: vec![Envelope::seal(
                &mut OsRng,
                alice,
                &founder_box,
                &injected,
                &injected_key,
            )],
        },
    );
    records.push(record);
    // A forged envelope for alice in her current epoch (a key of the thief's).
    let (current, _) = bob_epochs.last().unwrap();
    let forged = SymKey::generate(&mut OsRng);
    let record = chain(
        &session,
        &records,
        Body::Envelopes {
            epoch: *current,
            envelopes: vec![Envelope::seal(&mut OsRng, alice, &founder_box, current, &forged)],
        },
    );
    records.push(record);
    // Capped at her last record: everything she writes next is refused.
    let record = chain(
        &session,
        &records,
        Body::Revoke {
            device: alice,
            last_seq: session.next_seq(&alice) - 1,
        },
    );
    records.push(record);
    let sent = records.len();
    session.send(&Frame::Records(records)).unwrap();
    wait_until(SETTLE, "alice to admit the thief's records", || {
        names(&devices(&t.a), |_| true).contains(&"mallory".to_string()) && t.a.status().records >= held.len() + sent
    });
    drop(session);
    // The thief's revocation took: alice is revoked in her own view, and
    // says so (wiping nothing); she may still revoke.
    assert_eq!(t.a.status().members, 2, "bob and mallory are the members now");
    assert_eq!(t.a.status().removed.map(|r| r.by_name).as_deref(), Some("bob"));
    t.a.ctl(&["code", "amazon"])
        .assert_error(1, &["removed from its household", "by bob"]);

    let lost = format!("{}ms ago", stolen_at.elapsed().as_millis());
    let reports: Vec<Exposure> = t.a.ctl_json(&["revoke", "bob", "--lost-since", &lost, "--yes"]);
    let mut named: Vec<(String, bool)> = reports.iter().map(|r| (r.device_name.clone(), r.cascaded)).collect();
    named.sort();
    assert_eq!(named, [("bob".to_string(), false), ("mallory".to_string(), true)]);
    let list = devices(&t.a);
    assert_eq!(names(&list, |d| d.revoked), ["bob", "mallory"]);
    assert!(
        !device(&list, "alice").revoked,
        "alice stands: the thief cannot outrank her"
    );
    assert_eq!(t.a.status().members, 1);
    assert!(
        t.a.status().removed.is_none(),
        "the thief's revocation no longer counts"
    );

    // What alice writes now is sealed to a key only she holds.
    t.a.ctl_ok(&["add", "--secret", BANK_SECRET, "--issuer", "Bank", "--account", "alice"]);
    t.a.assert_totp(&["code", "bank"], BANK_SECRET, &totp(), 0);
    let mut a = t.a;
    a.stop();
    let stored = authsync_tests::stored_records(&a.vault_dir());
    let bank = stored
        .iter()
        .filter(|r| r.id.origin == alice && matches!(r.body, Body::Entry(_)))
        .max_by_key(|r| r.id.seq)
        .unwrap();
    let mut thief_keys: Vec<SymKey> = epoch_keys_of(&stored, bob.device, &bob)
        .into_iter()
        .chain(epoch_keys_of(&stored, mallory.device, &mallory))
        .map(|(_, k)| k)
        .collect();
    thief_keys.push(injected_key);
    thief_keys.push(forged);
    for key in &thief_keys {
        assert!(
            !matches!(bank.open_entry(key), Some(Ok(_))),
            "a key the thief holds opens what alice wrote after the revocation"
        );
    }
    // And alice starts again and reads everything (attack 5: no brick).
    a.start();
    a.assert_totp(&["code", "bank"], BANK_SECRET, &totp(), 0);
    a.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
    assert_eq!(a.status().quarantined, 0);
}

/// The thief's next record after `records` (all its own, consecutive).
fn chain(session: &Session, records: &[Record], body: Body) -> Record {
    let last = records.last().unwrap();
    let mut header = session.header(last.household, last.id.origin, last.id.seq + 1, peer::now_ms());
    header.prev = last.hash();
    Record::sign(session.keys().signing(), header, body)
}

/// Attack 5: a member's record dated near 1970 is admitted and does not stop
/// the daemon from starting again; an Aegis import whose note is 300 KB is
/// refused naming the entry, writes nothing, and the daemon starts again.
#[test]
fn nothing_a_member_or_an_import_stores_stops_a_daemon_from_starting() {
    let t = theft(false);
    let (mut session, _) = t.session();
    let seq = session.next_seq(&t.bob.device);
    let header = session.header(t.target.household, t.bob.device, seq, 1);
    let record = Record::sign(t.bob.signing(), header, junk_entry(5));
    let before = t.a.status().records;
    session.send(&Frame::Records(vec![record])).unwrap();
    wait_until(SETTLE, "alice to admit the old-dated record", || {
        t.a.status().records == before + 1
    });
    drop(session);

    let note = "n".repeat(300_000);
    let aegis = serde_json::json!({
        "version": 1,
        "header": {"slots": null, "params": null},
        "db": {"version": 2, "entries": [
            {"type": "totp", "uuid": "01234567-89ab-cdef-0123-456789abcdef", "name": "alice",
             "issuer": "Huge", "note": note, "icon": null,
             "info": {"secret": BANK_SECRET, "algo": "SHA1", "digits": 6, "period": 30}},
            {"type": "totp", "uuid": "11234567-89ab-cdef-0123-456789abcdef", "name": "alice",
             "issuer": "Small", "note": "", "icon": null,
             "info": {"secret": BANK_SECRET, "algo": "SHA1", "digits": 6, "period": 30}}
        ]}
    });
    let file = t.a.write_file("aegis.json", &aegis.to_string());
    let records = t.a.status().records;
    let out = t.a.ctl(&["import", file.to_str().unwrap()]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(out.stderr.contains("Huge") && out.stderr.contains("too large"), "{out}");
    assert_eq!(t.a.status().records, records, "nothing was written");

    let mut a = t.a;
    a.restart();
    a.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
    assert_eq!(a.status().quarantined, 0);
    assert_eq!(a.status().records, records);
}

/// Attack 6: validly signed records of one member, as large as a record may
/// be, are stored only up to its quota; past it alice refuses them, says
/// so, and `devices` warns about bob.
#[test]
fn one_member_cannot_fill_the_others_disks() {
    let t = theft(false);
    let (mut session, _) = t.session();
    let quota = authsync_proto::authority::QUOTA_BYTES as usize;
    let size = 60 * 1024;
    let count = quota / size + 20;
    let mut records: Vec<Record> = Vec::with_capacity(count);
    let first = session.next_seq(&t.bob.device);
    for i in 0..count {
        let body = Body::Entry(authsync_proto::record::SealedEntry {
            entry: authsync_proto::ids::EntryId([1; 16]),
            parents: Vec::new(),
            epoch: EpochId([1; 16]),
            body: authsync_proto::crypto::Sealed {
                nonce: [0; 24],
                ciphertext: vec![i as u8; size],
            },
        });
        let record = match records.last() {
            None => session.sign(t.bob.device, first, body),
            Some(_) => chain(&session, &records, body),
        };
        records.push(record);
    }
    for frame in wire::record_frames(&records) {
        if session.send(&frame).is_err() {
            break;
        }
    }
    logged(&t.a, &["refused a record from a peer", "MiB one device may"]);
    let stored = t.a.status().records;
    assert!(stored < count, "alice stored {stored} of {count} records");
    let bob = device(&devices(&t.a), "bob").clone();
    assert!(
        bob.quota_warning.as_deref().is_some_and(|w| w.contains("refused")),
        "{bob:?}"
    );
    let bytes: usize = files(&t.a.vault_dir()).iter().map(|(_, b)| b.len()).sum();
    assert!(bytes < quota * 2, "alice's store is {bytes} bytes");
    t.a.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
}

/// Attack 7: two different records at one (bob, seq), one given to alice
/// and one to carol while they are apart. When they meet, both see the
/// fork, show bob as forked, and refuse his records from the fork on.
#[test]
fn a_fork_is_caught_when_two_members_meet() {
    let t = theft(false);
    let mut c = join(&t.a, "carol");
    c.stop();
    let (mut session, _) = t.session();
    let seq = session.next_seq(&t.bob.device);
    let to_alice = session.sign(t.bob.device, seq, junk_entry(1));
    let before = t.a.status().records;
    session.send(&Frame::Records(vec![to_alice])).unwrap();
    wait_until(SETTLE, "alice to admit one history", || {
        t.a.status().records == before + 1
    });
    drop(session);
    let mut a = t.a;
    a.stop();

    start_dialling(&mut c, &[]);
    let carol = Target::of(&c);
    let mut session = Session::open(&t.bob, &carol, BTreeMap::new());
    let held = session.records(c.status().records);
    assert!(!held.is_empty());
    let to_carol = session.sign(t.bob.device, seq, junk_entry(2));
    let before = c.status().records;
    session.send(&Frame::Records(vec![to_carol])).unwrap();
    wait_until(SETTLE, "carol to admit the other history", || {
        c.status().records == before + 1
    });
    drop(session);

    start_dialling(&mut a, &[&c]);
    for inst in [&a, &c] {
        wait_until(SETTLE, "both to see bob forked", || {
            device(&devices(inst), "bob").forked
        });
    }
    logged(&a, &["signed two histories"]);
    logged(&c, &["signed two histories"]);
    // Both still serve codes, and start again with the fork remembered.
    a.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
    c.restart();
    assert!(device(&devices(&c), "bob").forked);
    c.assert_totp(&["code", "amazon"], AMAZON_SECRET, &totp(), 0);
}

/// `authctl revoke` on a terminal: shows what the device did lately (with
/// `--lost-since`, what is undone and which devices go too) and changes
/// nothing unless confirmed; off a terminal it needs `--yes`.
#[test]
fn revoke_shows_what_the_device_did_and_asks() {
    let t = theft(false);
    std::thread::sleep(Duration::from_millis(300));
    let stolen_at = Instant::now();
    // `--lost-since 'N ms ago'` is counted from when authctl runs, which
    // on a loaded machine is a while after N is computed: the thief's
    // record must arrive later than that slack.
    std::thread::sleep(Duration::from_millis(1500));
    let (mut session, _) = t.session();
    let mallory = peer::stranger();
    let info = mallory.member_info("mallory");
    let member = Body::Member {
        joiner_signature: info.sign_join(mallory.signing(), &t.target.household, &t.bob.device, &[7; 32]),
        member: Box::new(info),
        transcript: [7; 32],
    };
    let seq = session.next_seq(&t.bob.device);
    session
        .send(&Frame::Records(vec![session.sign(t.bob.device, seq, member)]))
        .unwrap();
    wait_until(SETTLE, "alice to admit mallory", || {
        names(&devices(&t.a), |_| true).contains(&"mallory".to_string())
    });
    drop(session);

    let out = t.a.ctl(&["revoke", "bob"]);
    out.assert_exit(2);
    assert!(out.stderr.contains("--yes"), "{out}");
    let lost = format!("'{}ms ago'", stolen_at.elapsed().as_millis());
    let on_terminal = |answer: &str| {
        let command = format!(
            "{} revoke bob --lost-since {lost}",
            authsync_tests::authctl_bin().display()
        );
        let mut child = authsync_tests::on_a_terminal(&t.a, &command)
            .spawn()
            .expect("script runs (bsdutils)");
        // The terminal holds the answer until authctl reads it.
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, screen) = on_terminal("n");
    assert!(!ok, "{screen}");
    for shown in [
        "admitted device mallory",
        "undone",
        "go too: mallory",
        "Revoke it?",
        "not confirmed",
    ] {
        assert!(screen.contains(shown), "{shown:?} not shown:\n{screen}");
    }
    assert!(names(&devices(&t.a), |d| d.revoked).is_empty(), "nothing changed");
    let (ok, screen) = on_terminal("y");
    assert!(ok, "{screen}");
    assert!(screen.contains("Revoked bob"), "{screen}");
    assert_eq!(names(&devices(&t.a), |d| d.revoked), ["bob", "mallory"]);
}

/// A vault written by record format 1 (its plain `device_key` in `meta`) is
/// refused in one line that says what to do; nothing is changed in it.
#[test]
fn a_vault_of_the_old_format_is_refused_in_one_clear_line() {
    let inst = Instance::new();
    let vault = inst.vault_dir();
    std::fs::create_dir_all(&vault).unwrap();
    std::fs::set_permissions(inst.data_dir(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    {
        let db = authsync_tests::open_store(&vault);
        db.open_tree("meta").unwrap().insert("device_key", &[7u8; 32]).unwrap();
        db.flush().unwrap();
    }
    let out = inst.ctl(&["status"]);
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr.contains("record format 1") && out.stderr.contains("move that directory away"),
        "{out}"
    );
    let db = authsync_tests::open_store(&vault);
    assert!(db.open_tree("meta").unwrap().get("device_key").unwrap().is_some());
}
