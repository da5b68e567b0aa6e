//! Replays every committed fuzz input (the seeds, `fuzz/seeds/<target>/`,
//! and the minimised corpus, `fuzz/corpus/<target>/`) through the same function its fuzz target calls (`fuzz/src/lib.rs`,
//! included here by path), so plain `cargo test` catches a regression on
//! any input the fuzzer once found interesting, without libFuzzer or
//! nightly. The functions assert round trips and the ledger's invariants; a
//! panic on any file fails the test and names the file.
#![allow(clippy::unwrap_used)]

#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

fn inputs(kind: &str, target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{}: (nearly) empty", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let mut files = inputs("seeds", target);
    files.extend(inputs("corpus", target));
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target}: these inputs panic: {failed:#?}");
}

#[test]
fn frame_corpus() {
    replay("frame", harness::frame);
}

#[test]
fn records_corpus() {
    replay("records", harness::records);
}

#[test]
fn signed_corpus() {
    replay("signed", harness::signed);
}

#[test]
fn otpauth_corpus() {
    replay("otpauth", harness::otpauth);
}

#[test]
fn ipc_corpus() {
    replay("ipc", harness::ipc);
}

/// The seeds reach past the signature check: the fixture household's
/// records are admitted, and its entries open. Without this the records
/// target would only ever fuzz the rejection of garbage.
#[test]
fn records_seed_admits_the_whole_household() {
    use authsync_proto::ledger::{Admitted, Ledger};
    use authsync_proto::record::Record;
    let data = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/records/household")).unwrap();
    let mut ledger = Ledger::new();
    let mut rest = &data[..];
    while let Some((prefix, tail)) = rest.split_first_chunk::<4>() {
        let (bytes, tail) = tail.split_at(u32::from_be_bytes(*prefix) as usize);
        let now = harness::fixture::T0 + 3_600_000;
        assert_eq!(ledger.admit(Record::decode(bytes).unwrap(), now), Ok(Admitted::New));
        rest = tail;
    }
    assert_eq!(ledger.len(), harness::fixture::records().len());
}

#[test]
fn import_corpus() {
    replay("import", harness::import);
}
