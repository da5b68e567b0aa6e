//! Benchmarks of `authsync-proto`'s hot paths: code generation, sealing and
//! signing records, the household fold, building the entry index, admitting
//! records, and frame encoding.
//!
//! Inputs are deterministic (seeded `StdRng`, fixed clock). Fixtures are built
//! once, outside the timed loops, by a small simulator modelled on
//! `tests/common/mod.rs` (which benches cannot import): a household of three
//! members whose founder pairs the other two, then single-version entries
//! written round-robin by the members.
//!
//! Run: `cargo bench -p authsync-proto --bench core -- --warm-up-time 1 --measurement-time 2`.
//! Results go in BENCHMARKS.md; nothing here asserts a speed.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::LazyLock;

use authsync_proto::authority::Household;
use authsync_proto::crypto::{self, BoxKey, DeviceKey, Envelope, SymKey};
use authsync_proto::entries::Index;
use authsync_proto::hlc::Hlc;
use authsync_proto::ids::{EntryId, EpochId, HouseholdId, RecordId};
use authsync_proto::ledger::{Admitted, Ledger};
use authsync_proto::otp::{self, Algorithm, OtpKind, OtpSpec, Secret};
use authsync_proto::record::{Body, Edits, EntryBody, Header, MemberInfo, Record};
use authsync_proto::wire::{self, Frame};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// Wall clock of the simulation's start (ms), as in the integration tests.
const T0: u64 = 1_700_000_000_000;

/// Issuers of the generated entries.
const SITES: [&str; 8] = [
    "GitHub",
    "Google",
    "Amazon",
    "Dropbox",
    "Fastmail",
    "Steam",
    "Bank",
    "Cloudflare",
];

fn random<const N: usize>(rng: &mut StdRng) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// A typical entry: an issuer, an e-mail login, a 160-bit secret, the
/// default TOTP spec, one tag and no note.
fn typical_body(rng: &mut StdRng, i: usize) -> EntryBody {
    EntryBody {
        issuer: Some(SITES[i % SITES.len()].to_string()),
        account: format!("user{i}@example.com"),
        secret: Secret::new(random::<20>(rng).to_vec()),
        spec: OtpSpec::totp_default(),
        tags: vec!["personal".to_string()],
        note: String::new(),
        deleted: false,
        edits: Edits::ALL,
    }
}

/// One device's keys.
struct Device {
    name: &'static str,
    key: DeviceKey,
    transport: DeviceKey,
    box_key: BoxKey,
}

impl Device {
    fn new(rng: &mut StdRng, name: &'static str) -> Device {
        Device {
            name,
            key: DeviceKey::generate(rng),
            transport: DeviceKey::generate(rng),
            box_key: BoxKey::generate(rng),
        }
    }

    fn info(&self) -> MemberInfo {
        MemberInfo {
            device: self.key.id(),
            name: self.name.to_string(),
            signing_key: self.key.public(),
            transport_key: self.transport.public(),
            box_key: self.box_key.public(),
            role: authsync_proto::record::Role::Device,
        }
    }
}

/// A household of three members with `entries` single-version entries, in
/// one ledger (the founder's view, everything synced).
struct Fixture {
    rng: StdRng,
    /// The founder first.
    members: Vec<Device>,
    ledger: Ledger,
    epoch: EpochId,
    epoch_key: SymKey,
    now: u64,
    /// Genesis, `Epoch`, `Member` and `Envelopes` records, in the order
    /// written.
    control: Vec<Record>,
    /// `Entry` records, in the order written.
    entries: Vec<Record>,
}

impl Fixture {
    /// `Vault::init` by A, then A pairs B and C (`Member` with the joiner's
    /// signature, plus `Envelopes` sealing the epoch key to the joiner),
    /// then `entries` entries.
    fn new(seed: u64, entries: usize) -> Fixture {
        let mut rng = StdRng::seed_from_u64(seed);
        let members: Vec<Device> = ["alice-laptop", "bob-phone", "carol-desktop"]
            .into_iter()
            .map(|name| Device::new(&mut rng, name))
            .collect();
        let household = HouseholdId(random(&mut rng));
        let epoch = EpochId(random(&mut rng));
        let epoch_key = SymKey::generate(&mut rng);
        let mut fixture = Fixture {
            rng,
            members,
            ledger: Ledger::new(),
            epoch,
            epoch_key,
            now: T0,
            control: Vec::new(),
            entries: Vec::new(),
        };
        let founder = fixture.members[0].info();
        let genesis = Record::sign(
            &fixture.members[0].key,
            Header {
                id: RecordId {
                    origin: founder.device,
                    seq: 1,
                },
                household,
                hlc: Hlc::tick(Hlc::default(), T0),
                prev: [0; 32],
                seen: Vec::new(),
            },
            Body::Genesis {
                founder: Box::new(founder),
            },
        );
        fixture.admit_control(genesis);
        let envelope = fixture.envelope(0);
        fixture.sign_and_admit(
            0,
            Body::Epoch {
                epoch,
                counter: 0,
                commitment: fixture.epoch_key.commitment(&household, &epoch),
                envelopes: vec![envelope],
            },
        );
        for joiner in 1..fixture.members.len() {
            let member = fixture.members[joiner].info();
            let sponsor = fixture.members[0].key.id();
            let transcript = [0x7a; 32];
            let joiner_signature = member.sign_join(&fixture.members[joiner].key, &household, &sponsor, &transcript);
            fixture.sign_and_admit(
                0,
                Body::Member {
                    member: Box::new(member),
                    transcript,
                    joiner_signature,
                },
            );
            let envelope = fixture.envelope(joiner);
            fixture.sign_and_admit(
                0,
                Body::Envelopes {
                    epoch,
                    envelopes: vec![envelope],
                },
            );
        }
        for i in 0..entries {
            let record = fixture.seal_entry(i % fixture.members.len(), i);
            assert_eq!(fixture.ledger.admit(record.clone(), fixture.now), Ok(Admitted::New));
            fixture.entries.push(record);
        }
        fixture
    }

    /// The epoch key sealed to `member`.
    fn envelope(&mut self, member: usize) -> Envelope {
        let recipient = &self.members[member];
        Envelope::seal(
            &mut self.rng,
            recipient.key.id(),
            &recipient.box_key.public(),
            &self.epoch,
            &self.epoch_key,
        )
    }

    /// The header of `member`'s next record.
    fn next(&mut self, member: usize) -> Header {
        self.now += 1;
        self.ledger.next_header(&self.members[member].key.id(), self.now, None)
    }

    fn admit_control(&mut self, record: Record) {
        assert_eq!(self.ledger.admit(record.clone(), self.now), Ok(Admitted::New));
        self.control.push(record);
    }

    fn sign_and_admit(&mut self, member: usize, body: Body) {
        let header = self.next(member);
        let record = Record::sign(&self.members[member].key, header, body);
        self.admit_control(record);
    }

    /// `member`'s next record: a new entry with a typical body (not admitted).
    fn seal_entry(&mut self, member: usize, i: usize) -> Record {
        let header = self.next(member);
        let body = typical_body(&mut self.rng, i);
        let entry = EntryId(random(&mut self.rng));
        Record::seal_entry(
            &mut self.rng,
            &self.members[member].key,
            header,
            entry,
            vec![],
            (self.epoch, &self.epoch_key),
            &body,
        )
    }

    /// A fresh ledger holding only the household's control records.
    fn fresh_ledger(&self) -> Ledger {
        let mut ledger = Ledger::new();
        for record in &self.control {
            ledger.admit(record.clone(), self.now).unwrap();
        }
        ledger
    }
}

static ENTRIES_1K: LazyLock<Fixture> = LazyLock::new(|| Fixture::new(1_000, 1_000));
static ENTRIES_10K: LazyLock<Fixture> = LazyLock::new(|| Fixture::new(10_000, 10_000));

fn code_generation(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    // Secret sizes as in RFC 6238's test vectors: the hash's block of key.
    let sha1 = Secret::new(random::<20>(&mut rng).to_vec());
    let sha256 = Secret::new(random::<32>(&mut rng).to_vec());
    let sha512 = Secret::new(random::<64>(&mut rng).to_vec());
    let totp = |algorithm, digits| OtpSpec {
        kind: OtpKind::Totp { period: 30 },
        algorithm,
        digits,
    };
    let hotp = OtpSpec {
        kind: OtpKind::Hotp { counter: 1_234 },
        ..OtpSpec::totp_default()
    };
    let cases = [
        ("totp_sha1_6", &sha1, totp(Algorithm::Sha1, 6)),
        ("totp_sha256_8", &sha256, totp(Algorithm::Sha256, 8)),
        ("totp_sha512_8", &sha512, totp(Algorithm::Sha512, 8)),
        ("hotp_sha1_6", &sha1, hotp),
        ("steam", &sha1, OtpSpec::steam()),
    ];
    let now = T0 / 1_000;
    let mut group = c.benchmark_group("otp_code");
    for (id, secret, spec) in cases {
        group.bench_function(id, |b| {
            b.iter(|| otp::code(black_box(secret), black_box(&spec), black_box(now)).unwrap())
        });
    }
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let mut fixture = Fixture::new(2, 0);
    let record = fixture.seal_entry(1, 0);
    let writer = fixture.members[1].key.public();
    let Fixture {
        rng,
        members,
        epoch,
        epoch_key,
        ..
    } = &mut fixture;
    let body = typical_body(rng, 0);
    let entry = EntryId(random(rng));
    let header = Header {
        id: record.id,
        household: record.household,
        hlc: record.hlc,
        prev: record.prev,
        seen: record.seen.clone(),
    };
    let bob = &members[1];

    let mut group = c.benchmark_group("sealing");
    group.bench_function("record_seal_entry", |b| {
        b.iter(|| {
            Record::seal_entry(
                rng,
                &bob.key,
                header.clone(),
                entry,
                vec![],
                (*epoch, &*epoch_key),
                black_box(&body),
            )
        })
    });
    group.bench_function("record_open_entry", |b| {
        b.iter(|| black_box(&record).open_entry(epoch_key).unwrap().unwrap())
    });
    group.bench_function("record_verify", |b| {
        b.iter(|| black_box(&record).verify(&writer).unwrap())
    });
    let bob_id = bob.key.id();
    let bob_box = bob.box_key.public();
    group.bench_function("envelope_seal", |b| {
        b.iter(|| Envelope::seal(rng, bob_id, black_box(&bob_box), epoch, epoch_key))
    });
    let envelope = Envelope::seal(rng, bob_id, &bob_box, epoch, epoch_key);
    group.bench_function("envelope_open", |b| {
        b.iter(|| black_box(&envelope).open(&bob.box_key, epoch).unwrap())
    });
    group.finish();
}

/// 1,000 signatures by 3 signers (record-sized messages): one at a time as
/// the ledger checks them today, and with `crypto::verify_all` on one and
/// two threads (issue 15: start-up and initial sync are mostly this).
fn verify_many(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(15);
    let signers: Vec<DeviceKey> = (0..3).map(|_| DeviceKey::generate(&mut rng)).collect();
    let owned: Vec<([u8; 32], Vec<u8>, [u8; 64])> = (0..1000)
        .map(|i| {
            let mut message = vec![0u8; 300];
            rng.fill_bytes(&mut message);
            let signer = &signers[i % 3];
            let signature = signer.sign(&message);
            (signer.public(), message, signature)
        })
        .collect();
    let items: Vec<crypto::SignedItem<'_>> = owned.iter().map(|(k, m, s)| (k, m.as_slice(), &s[..])).collect();
    let mut group = c.benchmark_group("verify_1000");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("one_by_one", |b| {
        b.iter(|| {
            for (k, m, s) in black_box(&items) {
                crypto::verify(k, m, s).unwrap();
            }
        })
    });
    for threads in [1, 2] {
        group.bench_function(BenchmarkId::new("verify_all", threads), |b| {
            b.iter(|| crypto::verify_all(black_box(&items), threads).unwrap())
        });
    }
    group.finish();
}

fn fold(c: &mut Criterion) {
    let members_only = Fixture::new(3, 0);
    let mut group = c.benchmark_group("household_fold");
    group.bench_function("3_members", |b| {
        b.iter(|| Household::fold(black_box(members_only.ledger.records()), &Default::default()).unwrap())
    });
    // `Ledger::admit` refolds the whole ledger, entries included, on every
    // non-entry record: what a `Member`, `Epoch` or `Revoke` costs there.
    group.bench_function("3_members_1000_entries", |b| {
        let ledger = &ENTRIES_1K.ledger;
        b.iter(|| Household::fold(black_box(ledger.records()), &Default::default()).unwrap())
    });
    group.finish();
}

fn index_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("index_build");
    group.sample_size(10);
    for (n, fixture) in [(1_000u64, &ENTRIES_1K), (10_000, &ENTRIES_10K)] {
        group.throughput(Throughput::Elements(n));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let fixture: &Fixture = fixture;
            let founder = &fixture.members[0];
            let me = founder.key.id();
            // Dropping a 10,000-entry index takes a quarter of the time of
            // building it; keep that out, as it is not `Index::build`.
            b.iter_batched(
                || (),
                |()| Index::build(black_box(&fixture.ledger), &me, &founder.box_key),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn ledger_admit(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger_admit");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("1000_entries", |b| {
        let fixture: &Fixture = &ENTRIES_1K;
        b.iter_batched(
            || (fixture.fresh_ledger(), fixture.entries.clone()),
            |(mut ledger, records)| {
                for record in records {
                    ledger.admit(record, fixture.now).unwrap();
                }
                ledger
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// What a sponsor sends a new device (`Vault::sponsor`): every record, in
/// an order it can admit; computed before the first welcome frame.
fn missing_for(c: &mut Criterion) {
    let mut group = c.benchmark_group("missing_for");
    group.sample_size(20);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("welcome_10000", |b| {
        let ledger = &ENTRIES_10K.ledger;
        b.iter(|| ledger.missing_for(black_box(&Default::default())).len())
    });
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let fixture = &*ENTRIES_1K;
    let record = &fixture.entries[0];
    let mut group = c.benchmark_group("wire");
    for n in [1usize, 100] {
        let frame = Frame::Records(fixture.entries[..n].to_vec());
        let bytes = wire::encode(&frame).unwrap();
        group.bench_function(BenchmarkId::new("encode_records", n), |b| {
            b.iter(|| wire::encode(black_box(&frame)).unwrap())
        });
        group.bench_function(BenchmarkId::new("decode_records", n), |b| {
            b.iter(|| wire::decode::<Frame>(black_box(&bytes[4..])).unwrap())
        });
    }
    let bytes = record.encode();
    group.bench_function("record_encode", |b| b.iter(|| black_box(record).encode()));
    group.bench_function("record_decode", |b| {
        b.iter(|| Record::decode(black_box(&bytes)).unwrap())
    });
    group.finish();
}

criterion_group!(
    benches,
    code_generation,
    sealing,
    verify_many,
    fold,
    index_build,
    ledger_admit,
    missing_for,
    encoding
);
criterion_main!(benches);
