//! Writes the seed inputs of every fuzz target into `seeds/<target>/`:
//! real frames and records of the fixture household, the otpauth URIs of the
//! shared test vectors, and IPC lines of every request kind.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seed
//! ```
//!
//! The test vectors are read from `../shared/vectors` beside the repository,
//! as `proto`'s tests do. The seeds are committed and never minimised (the
//! corpus test relies on some of them); what the fuzzer finds goes to
//! `corpus/<target>/`.

use std::path::{Path, PathBuf};

use authsync_fuzz::{PlainBody, fixture};
use authsync_proto::crypto::SymKey;
use authsync_proto::hlc::Hlc;
use authsync_proto::ipc::{Hello, NewEntry, NewSecret, Request, WireSecret};
use authsync_proto::otp::{Algorithm, OtpKind, OtpSpec, Secret};
use authsync_proto::otpauth;
use authsync_proto::record::{Body, Record};
use authsync_proto::wire::{self, Frame};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    std::fs::create_dir_all(&dir).expect("failed to create the seeds directory");
    std::fs::write(dir.join(name), bytes).expect("failed to write a seed");
}

fn framed(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        let bytes = record.encode();
        out.extend((bytes.len() as u32).to_be_bytes());
        out.extend(bytes);
    }
    out
}

fn frames() {
    for (name, frame) in fixture::frames() {
        write(
            "frame",
            &format!("sync-{name}"),
            &wire::encode(&frame).expect("fixture frame")[4..],
        );
    }
    for (name, frame) in fixture::pair_frames() {
        write(
            "frame",
            &format!("pair-{name}"),
            &wire::encode(&frame).expect("fixture frame")[4..],
        );
    }
    let empty = Frame::Records(Vec::new());
    write(
        "frame",
        "sync-records-empty",
        &wire::encode(&empty).expect("empty frame")[4..],
    );
}

fn records() {
    let records = fixture::records();
    write("records", "household", &framed(&records));
    // Each record alone (only the Genesis is admitted; the rest meet an
    // empty ledger), and the household without its revocation.
    for (i, record) in records.iter().enumerate() {
        write(
            "records",
            &format!("record-{}-{}", i + 1, record.body.kind()),
            &framed(std::slice::from_ref(record)),
        );
    }
    write("records", "household-unrevoked", &framed(&records[..6]));
}

/// The `signed` target's form of a record: an `Entry`'s `ciphertext` is
/// its plaintext body, and `prev` is zeros (the target fills it from its
/// chain, seals and signs again).
fn unsealed(record: &Record) -> Record {
    let mut record = record.clone();
    let epoch_key = SymKey::from_bytes(&fixture::EPOCH_KEY);
    if let Some(body) = record.open_entry(&epoch_key) {
        let body = body.expect("the fixture's entries open");
        if let Body::Entry(sealed) = &mut record.body {
            sealed.body.ciphertext = postcard::to_stdvec(&PlainBody::of(&body)).expect("a body serializes");
        }
    }
    record.prev = [0; 32];
    record
}

fn signed() {
    let records: Vec<Record> = fixture::records().iter().map(unsealed).collect();
    // The household as it grows, record by record.
    for n in 1..=records.len() {
        write("signed", &format!("household-{n}"), &framed(&records[..n]));
    }
    // The founder edits the entry too, concurrently with the joiner (two
    // heads, merged when read), deleting it; then the revocation.
    let mut fork = records[4].clone();
    fork.id.seq = 6;
    fork.hlc = Hlc {
        ms: fixture::T0 + 5,
        counter: 2,
    };
    if let Body::Entry(sealed) = &mut fork.body {
        sealed.parents = vec![records[4].id];
        let mut body = fixture::founder_entry();
        body.note = "forked".to_owned();
        body.deleted = true;
        body.spec = OtpSpec {
            kind: OtpKind::Hotp { counter: 9 },
            algorithm: Algorithm::Sha1,
            digits: 6,
        };
        sealed.body.ciphertext = postcard::to_stdvec(&PlainBody::of(&body)).expect("a body serializes");
    }
    let mut revoke = records[6].clone();
    revoke.id.seq = 7;
    revoke.hlc.ms += 1;
    let mut forked = records[..6].to_vec();
    forked.extend([fork, revoke]);
    write("signed", "household-forked", &framed(&forked));
    // The founder signs a second record at seq 6: an equivocation, which
    // the target offers as evidence of a fork.
    let mut equivocation = records.clone();
    let mut second = records[6].clone();
    if let Body::Revoke { last_seq, .. } = &mut second.body {
        *last_seq = 0;
    }
    equivocation.push(second);
    write("signed", "household-equivocation", &framed(&equivocation));
}

fn otpauth_uris() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    let cases = std::fs::read_to_string(vectors.join("otpauth-uris/otpauth_cases.json"))
        .expect("the shared test vectors must be checked out beside the repository");
    let cases: serde_json::Value = serde_json::from_str(&cases).expect("otpauth_cases.json is JSON");
    for case in cases["cases"].as_array().expect("a list of cases") {
        let id = case["id"].as_str().expect("each case has an id");
        let uri = case["uri"].as_str().expect("each case has a uri");
        write("otpauth", &format!("case-{id}"), uri.as_bytes());
    }
    let list = std::fs::read_to_string(vectors.join("exports/aegis_testvectors_uri_list.txt"))
        .expect("aegis_testvectors_uri_list.txt");
    for (i, uri) in list.lines().filter(|l| !l.is_empty()).enumerate() {
        write("otpauth", &format!("aegis-{i}"), uri.as_bytes());
    }
    // Canonical URIs, as `authctl` exports them, of each kind.
    let secret = Secret::new(fixture::SECRET.to_vec());
    let specs = [
        ("totp", OtpSpec::totp_default()),
        (
            "hotp",
            OtpSpec {
                kind: OtpKind::Hotp { counter: 7 },
                algorithm: Algorithm::Sha256,
                digits: 8,
            },
        ),
        ("steam", OtpSpec::steam()),
    ];
    for (name, spec) in specs {
        let uri = otpauth::format(Some("A:B Co"), "x:y@example.com", &secret, &spec);
        write("otpauth", &format!("format-{name}"), uri.as_bytes());
    }
}

fn ipc_lines() {
    let secret = || WireSecret::new("JBSWY3DPEHPK3PXP".to_owned());
    let query = || "amazon".to_owned();
    let requests = [
        Request::Status,
        Request::Init {
            name: "alice-laptop".to_owned(),
            passphrase: Some(secret()),
            person: Some("alice".to_owned()),
        },
        Request::Unlock { passphrase: None },
        Request::Lock,
        Request::Shutdown,
        Request::Add {
            entry: NewEntry {
                issuer: Some("Amazon".to_owned()),
                account: "alice@example.com".to_owned(),
                otp: NewSecret {
                    secret: secret(),
                    spec: OtpSpec::totp_default(),
                },
                tags: vec!["shopping".to_owned()],
                note: "family".to_owned(),
            },
            collection: Some("shared".to_owned()),
        },
        Request::Code {
            query: query(),
            next: true,
            previous: false,
        },
        Request::List {
            deleted: true,
            query: None,
            tag: None,
        },
        Request::Show {
            query: query(),
            deleted: false,
        },
        Request::Rename {
            query: query(),
            issuer: Some("AWS".to_owned()),
            account: None,
        },
        Request::Edit {
            query: query(),
            add_tags: vec!["a".to_owned()],
            remove_tags: vec!["b".to_owned()],
            note: Some("n".to_owned()),
        },
        Request::Remove { query: query() },
        Request::Restore { query: query() },
        Request::History {
            query: query(),
            deleted: false,
        },
        Request::Rotate {
            query: query(),
            otp: NewSecret {
                secret: secret(),
                spec: OtpSpec {
                    kind: OtpKind::Hotp { counter: 3 },
                    algorithm: Algorithm::Sha512,
                    digits: 8,
                },
            },
        },
        Request::Pair { ttl_secs: Some(300) },
        Request::Join {
            code: "7-orbit-velvet-cactus".to_owned(),
            peer: Some("192.0.2.1:47811".to_owned()),
            name: "bob-phone".to_owned(),
            passphrase: None,
            relay: false,
            person: Some("bob".to_owned()),
        },
        Request::Devices,
        Request::Revoke {
            device: "bob-phone".to_owned(),
            lost_since_ms: Some(fixture::T0),
            preview: false,
        },
        Request::Leave,
        Request::Exposed { device: None },
        Request::Log { limit: Some(20) },
    ];
    for request in &requests {
        let mut line = serde_json::to_vec(request).expect("a request serializes");
        line.push(b'\n');
        write("ipc", &format!("request-{}", request.op()), &line);
    }
    let hello = Hello {
        protocol: 1,
        agent: "authctl 0.1.0".to_owned(),
    };
    write("ipc", "hello", &serde_json::to_vec(&hello).expect("a hello serializes"));
    // What people type with socat: the short forms the defaults allow.
    write("ipc", "code-short", br#"{"op":"code","query":"amazon"}"#);
    write("ipc", "steam", br#"{"op":"add","entry":{"issuer":null,"account":"s","otp":{"secret":"AAAA","spec":{"type":"steam","algorithm":"SHA1","digits":5}}}}"#);
}

/// Every export file of the shared vectors, and every Google migration URI,
/// each with the first byte `0xff` (format detected from the content), and
/// the export files also with their format forced the wrong way (`0`,
/// URI list).
fn import_files() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    for dir in ["exports", "more/exports"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(vectors.join(dir))
            .expect("the shared test vectors must be checked out beside the repository")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !matches!(name, "manifest.json" | "expected_entries.json" | "SOURCES.md")
            })
            .collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).expect("a vector file");
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("file")
                .replace('.', "-");
            let prefix = dir.replace('/', "-");
            for (pick, how) in [(0xffu8, "detected"), (0, "as-uris")] {
                let mut input = vec![pick];
                input.extend_from_slice(&bytes);
                write("import", &format!("{prefix}-{name}-{how}"), &input);
            }
        }
    }
    for dir in ["google-migration", "more/google-migration"] {
        let cases = std::fs::read_to_string(vectors.join(dir).join("migration_cases.json")).expect("migration cases");
        let cases: serde_json::Value = serde_json::from_str(&cases).expect("migration_cases.json is JSON");
        for (i, case) in cases["cases"].as_array().expect("a list of cases").iter().enumerate() {
            let Some(text) = case["uri"].as_str() else {
                continue;
            };
            let mut input = vec![0xffu8];
            input.extend_from_slice(text.as_bytes());
            write("import", &format!("{}-{i}", dir.replace('/', "-")), &input);
        }
    }
}

fn main() {
    frames();
    records();
    signed();
    otpauth_uris();
    ipc_lines();
    import_files();
    let seeds: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    println!("seeds written under {}", seeds.display());
}
