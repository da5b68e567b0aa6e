//! The sled store: records and the device's keys, durable before any reply.
//!
//! Trees: `records` (origin ‖ seq, big-endian → encoded record), `arrival`
//! (same key → when this device first held it, Unix ms: what `revoke
//! --lost-since` caps by; or, for a run of an origin's records that
//! arrived together, the run's last key → that time ‖ the run's first seq:
//! [`Store::arrivals`]), `forks` (origin → a record proving it signed two
//! histories), `quarantine` (same key as `records` → a stored record that no
//! longer passes, set aside at start), `checked` (same key → this device's
//! tag for the record's signature, made when it first verified it: a
//! key-file vault's start need not verify it again; issue 15, BENCHMARKS.md)
//! and `meta` (the device identity, how
//! the vault key is derived, the sealed signing and box keys, the device
//! name, the record format). Everything else (version vectors, the
//! household, the decrypted index) is rebuilt from `records` at start. The
//! records are the sealed bytes that also cross the wire: nothing readable
//! is at rest but the device's transport key and public membership data.
//!
//! Durability: sled's `flush` survives `kill -9` but uses `sync_file_range`
//! on Linux (sled issue 1452), so after it every file and directory of the
//! store is fsynced before a write is acknowledged. Nothing relies on sled's
//! periodic background flush, so it is off.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use authsync_proto::ids::RecordId;
use authsync_proto::record::Record;

/// The on-disk vault.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    records: sled::Tree,
    arrival: sled::Tree,
    forks: sled::Tree,
    quarantine: sled::Tree,
    checked: sled::Tree,
    meta: sled::Tree,
}

fn record_key(id: &RecordId) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(id.origin.as_bytes());
    key[32..].copy_from_slice(&id.seq.to_be_bytes());
    key
}

/// Creates `dir` (mode 0700) if missing; refuses one that others can read.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("failed to set the mode of {}", dir.display()))?;
    }
    let mode = fs::metadata(dir)
        .with_context(|| format!("failed to read {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} has mode {:o}, readable by other users; run `chmod 700 {}` and start again",
            dir.display(),
            mode & 0o777,
            dir.display()
        );
    }
    Ok(())
}

/// sled's page cache: the ledger keeps every record in memory once they
/// are loaded at open, so it serves only writes and `meta` (issue 15,
/// memory).
const CACHE_BYTES: u64 = 1 << 20;

/// sled's page cache while a batch of at least [`BULK_RECORDS`] is written
/// (a new vault's welcome, an import). Under [`CACHE_BYTES`] sled pages
/// out the tree nodes the batch is still writing and reads them back: 10,005
/// records took ~300 ms of CPU, ~130 ms with room (issue 15, BENCHMARKS.md).
/// It holds no more than what the batch writes, and is given back after.
const BULK_CACHE_BYTES: u64 = 64 << 20;
const BULK_RECORDS: usize = 256;

/// The longest run of records one arrival value may stand for: more than
/// one origin's quota can hold, so a corrupt one is refused, not expanded.
const MAX_RUN: u64 = 1 << 22;

/// In `meta` while a new vault's records are staged and its identity not
/// yet written ([`Store::stage_records`]).
const STAGED: &str = "staged";

/// How long `Store::open` waits for the lock of a store just closed.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens `config`, waiting up to `wait` while its lock is held.
///
/// sled 0.34 returns from dropping its last handle before its I/O threads
/// have let go of the file lock (sled issues 1234 and 1289), so a store
/// closed and opened again in one process (a test, `authctl reset`) can
/// find its own lock still held for a few milliseconds. Only that error is
/// retried: another `authd` holding the store still fails, after `wait`.
fn open_waiting_for_lock(config: &sled::Config, wait: Duration) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            opened => return opened,
        }
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        ensure_private_dir(dir)?;
        let db_dir = dir.join("vault");
        let config = sled::Config::new()
            .path(&db_dir)
            .mode(sled::Mode::LowSpace)
            .cache_capacity(CACHE_BYTES)
            // No background flusher: every write is flushed and fsynced by
            // `sync` before it is acknowledged, so the flusher's timer only
            // woke an idle daemon (255 times a minute, `bench/wakeups.py`).
            .flush_every_ms(None);
        let db = open_waiting_for_lock(&config, LOCK_WAIT)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "failed to open the vault in {}: it may be corrupt or in use by another authd",
                    db_dir.display()
                )
            })?;
        let records = db.open_tree("records").context("failed to open the records tree")?;
        let meta = db.open_tree("meta").context("failed to open the meta tree")?;
        let arrival = db.open_tree("arrival").context("failed to open the arrival tree")?;
        let forks = db.open_tree("forks").context("failed to open the forks tree")?;
        let quarantine = db
            .open_tree("quarantine")
            .context("failed to open the quarantine tree")?;
        let checked = db.open_tree("checked").context("failed to open the checked tree")?;
        let store = Store {
            dir: db_dir,
            db,
            records,
            arrival,
            forks,
            quarantine,
            checked,
            meta,
        };
        store.restrict_files()?;
        // Staged for a new vault whose identity was never written (a crash
        // during `join`): no vault, so nothing of it is kept.
        if store.meta(STAGED)?.is_some() && store.meta("device_id")?.is_none() {
            tracing::info!("a join was cut short here: the records it had staged are cleared");
            store.clear_unclaimed()?;
        }
        Ok(store)
    }

    /// Every stored record that decodes; one that does not is moved to
    /// `quarantine` (a damaged record is never a reason not to start: peers
    /// hold it too).
    pub fn load_records(&self) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        for item in &self.records {
            let (key, bytes) = item.context("failed to read the vault")?;
            match Record::decode(&bytes) {
                Ok(record) => records.push(record),
                Err(e) => {
                    tracing::warn!("a stored record does not decode ({e}): set aside");
                    self.quarantine
                        .insert(&key, bytes)
                        .context("failed to write the vault")?;
                    self.records.remove(&key).context("failed to write the vault")?;
                }
            }
        }
        Ok(records)
    }

    /// The stored signature tags ([`Store::put_tags`]), by record. One that
    /// is damaged is left out: its record is verified in full. (Not sized
    /// by sled's `len`, which walks the whole tree: issue 15, start-up.)
    pub fn tags(&self) -> Result<std::collections::HashMap<RecordId, [u8; 32]>> {
        let mut tags = std::collections::HashMap::new();
        for item in &self.checked {
            let (key, tag) = item.context("failed to read the vault")?;
            let origin = key.get(..32).and_then(|b| <[u8; 32]>::try_from(b).ok());
            let seq = key.get(32..).and_then(|b| <[u8; 8]>::try_from(b).ok());
            let (Some(origin), Some(seq), Ok(tag)) = (origin, seq, <[u8; 32]>::try_from(tag.as_ref())) else {
                continue;
            };
            let origin = authsync_proto::ids::DeviceId(origin);
            let seq = u64::from_be_bytes(seq);
            tags.insert(RecordId { origin, seq }, tag);
        }
        Ok(tags)
    }

    /// Stores tags for checked signatures beside their records. Not synced:
    /// a tag lost in a crash only means its record is verified again.
    pub fn put_tags(&self, tags: &[(RecordId, [u8; 32])]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (id, tag) in tags {
            batch.insert(&record_key(id)[..], &tag[..]);
        }
        self.checked.apply_batch(batch).context("failed to write the vault")
    }

    /// Moves stored records that no longer pass to `quarantine`.
    pub fn quarantine(&self, ids: &[RecordId]) -> Result<()> {
        for id in ids {
            let key = record_key(id);
            if let Some(bytes) = self.records.remove(key).context("failed to write the vault")? {
                self.quarantine
                    .insert(key, bytes)
                    .context("failed to write the vault")?;
            }
        }
        self.sync()
    }

    /// How many records are in quarantine.
    pub fn quarantined(&self) -> usize {
        self.quarantine.len()
    }

    /// Stores one record; durable only after the next [`Store::sync`].
    pub fn put_record_unsynced(&self, record: &Record, now_ms: u64) -> Result<()> {
        let key = record_key(&record.id);
        self.records
            .insert(key, record.encode())
            .context("failed to write the vault")?;
        self.arrival
            .insert(key, &now_ms.to_be_bytes())
            .context("failed to write the vault")?;
        Ok(())
    }

    /// Stores `records` in one atomic batch, durably: after a crash either
    /// every one is on disk or none.
    pub fn put_records(&self, records: &[Record], now_ms: u64) -> Result<()> {
        self.write_records(records, now_ms)?;
        self.sync()
    }

    /// Writes `records` and their arrival times, one atomic batch per tree;
    /// durable only after the next [`Store::sync`]. The arrival times are
    /// written per run of an origin's consecutive seqs ([`arrival_runs`]):
    /// a welcome's 10,005 records are a handful of runs, not 10,005 keys.
    fn write_records(&self, records: &[Record], now_ms: u64) -> Result<()> {
        let _room = (records.len() >= BULK_RECORDS).then(|| BulkCache::new(&self.db));
        let mut batch = sled::Batch::default();
        for record in records {
            batch.insert(&record_key(&record.id)[..], record.encode());
        }
        self.records.apply_batch(batch).context("failed to write the vault")?;
        // An arrival time lost in a crash (the two batches are separate)
        // stops `--lost-since`'s cap before that record (`cap_before` ends at
        // the first gap): a record whose arrival is unknown is left out of
        // what the revoked device keeps, never kept in on a guess.
        let mut arrivals = sled::Batch::default();
        for (key, value) in arrival_runs(records.iter().map(|r| r.id), now_ms) {
            arrivals.insert(&key[..], value);
        }
        self.arrival.apply_batch(arrivals).context("failed to write the vault")
    }

    /// When this device first held each of `origin`'s records, by seq, in
    /// seq order (a run is read back as one time per record of it).
    pub fn arrivals(&self, origin: &authsync_proto::ids::DeviceId) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        for item in self.arrival.scan_prefix(origin.as_bytes()) {
            let (key, value) = item.context("failed to read the vault")?;
            let last = u64::from_be_bytes(key[32..40].try_into().context("a corrupt arrival key")?);
            let (ms, first) = match value.len() {
                8 => (&value[..], last),
                16 => (
                    &value[..8],
                    u64::from_be_bytes(value[8..].try_into().context("a corrupt arrival time")?),
                ),
                _ => bail!("a corrupt arrival time"),
            };
            let ms = u64::from_be_bytes(ms.try_into().context("a corrupt arrival time")?);
            if first == 0 || first > last || last - first >= MAX_RUN {
                bail!("a corrupt arrival time");
            }
            out.extend((first..=last).map(|seq| (seq, ms)));
        }
        Ok(out)
    }

    /// Keeps `evidence` of a fork of its origin, durably.
    pub fn put_fork(&self, evidence: &Record) -> Result<()> {
        self.forks
            .insert(evidence.id.origin.as_bytes(), evidence.encode())
            .context("failed to write the vault")?;
        self.sync()
    }

    /// Every fork evidence kept.
    pub fn forks(&self) -> Result<Vec<Record>> {
        Ok(self
            .forks
            .iter()
            .filter_map(|item| item.ok())
            .filter_map(|(_, bytes)| Record::decode(&bytes).ok())
            .collect())
    }

    /// Sets a metadata value, durably.
    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        self.meta.insert(key, value).context("failed to write the vault")?;
        self.sync()
    }

    /// A new vault, first half: `records` and their arrival times, one
    /// atomic batch per tree, not yet durable. Not yet a vault either: a
    /// store is one once [`Store::commit_new`] has written its identity to
    /// `meta`, and only after these are durable. So a crash at any point
    /// leaves either no vault (what was staged is cleared when the store
    /// is next opened: [`Store::clear_unclaimed`]) or a complete one, as
    /// the one sled transaction this replaces
    /// did; its per-key reads and write set were a fifth of its cost, and
    /// the batches can be written while the records' signatures are
    /// checked (`Vault::establish`; issue 15, BENCHMARKS.md).
    pub fn stage_records(&self, records: &[Record], now_ms: u64) -> Result<()> {
        // Durable before any staged record: what `open` clears is what was
        // staged, never a vault that lost its `meta`.
        self.meta.insert(STAGED, &[1]).context("failed to write the vault")?;
        self.sync()?;
        self.write_records(records, now_ms)
    }

    /// Takes back staged records ([`Store::stage_records`]) that are not
    /// to be kept (dropped by admission), before [`Store::commit_new`]:
    /// their origins' arrival runs are written again without them.
    pub fn unstage(&self, ids: &[RecordId]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for id in ids {
            batch.remove(&record_key(id)[..]);
        }
        self.records.apply_batch(batch).context("failed to write the vault")?;
        let dropped: std::collections::BTreeSet<&RecordId> = ids.iter().collect();
        let origins: std::collections::BTreeSet<_> = ids.iter().map(|id| id.origin).collect();
        let mut arrivals = sled::Batch::default();
        for origin in origins {
            for item in self.arrival.scan_prefix(origin.as_bytes()) {
                let (key, _) = item.context("failed to read the vault")?;
                arrivals.remove(key);
            }
            let mut kept: Vec<(u64, u64)> = self.arrivals(&origin)?;
            kept.retain(|(seq, _)| !dropped.contains(&RecordId { origin, seq: *seq }));
            // Each kept record with its own time, then joined into runs.
            let mut times: std::collections::BTreeMap<u64, Vec<RecordId>> = std::collections::BTreeMap::new();
            for (seq, ms) in kept {
                times.entry(ms).or_default().push(RecordId { origin, seq });
            }
            for (ms, ids) in times {
                for (key, value) in arrival_runs(ids, ms) {
                    arrivals.insert(&key[..], value);
                }
            }
        }
        self.arrival.apply_batch(arrivals).context("failed to write the vault")
    }

    /// A new vault, second half: makes the staged records durable, then
    /// writes `meta` (the device's identity and keys) in one atomic batch,
    /// durably. From then on the store is a vault.
    pub fn commit_new(&self, meta: &[(&str, &[u8])]) -> Result<()> {
        self.sync()?;
        let mut batch = sled::Batch::default();
        for (key, value) in meta {
            batch.insert(*key, *value);
        }
        batch.remove(STAGED);
        self.meta.apply_batch(batch).context("failed to write the new vault")?;
        self.sync()
    }

    /// Clears what a new vault staged ([`Store::stage_records`]) and never
    /// claimed: a join refused, or cut short by a crash (then at `open`).
    pub fn clear_unclaimed(&self) -> Result<()> {
        self.records.clear().context("failed to write the vault")?;
        self.arrival.clear().context("failed to write the vault")?;
        self.sync()?;
        self.meta.remove(STAGED).context("failed to write the vault")?;
        self.sync()
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<sled::IVec>> {
        self.meta.get(key).context("failed to read the vault")
    }

    /// Makes everything written so far survive a crash or power loss.
    pub fn sync(&self) -> Result<()> {
        self.db.flush().context("failed to flush the vault")?;
        fsync_tree(&self.dir).context("failed to fsync the vault")
    }

    fn restrict_files(&self) -> Result<()> {
        for entry in walk(&self.dir)? {
            let mode = if entry.is_dir() { 0o700 } else { 0o600 };
            fs::set_permissions(&entry, fs::Permissions::from_mode(mode))
                .with_context(|| format!("failed to set the mode of {}", entry.display()))?;
        }
        Ok(())
    }
}

/// A larger page cache for one bulk write ([`BULK_CACHE_BYTES`]), given
/// back when dropped (what exceeds [`CACHE_BYTES`] is paged out then).
struct BulkCache<'a>(&'a sled::Db);

impl<'a> BulkCache<'a> {
    fn new(db: &'a sled::Db) -> BulkCache<'a> {
        if let Err(e) = db.set_cache_capacity(BULK_CACHE_BYTES) {
            tracing::debug!("the page cache was not enlarged for a bulk write: {e}");
        }
        BulkCache(db)
    }
}

impl Drop for BulkCache<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.set_cache_capacity(CACHE_BYTES) {
            tracing::warn!("the page cache was not given back after a bulk write: {e}");
        }
    }
}

/// The `arrival` entries for `ids`, which all arrived at `ms`: one per run
/// of an origin's consecutive seqs, keyed by the run's last record, valued
/// `ms` alone for a run of one, else `ms` ‖ the run's first seq.
fn arrival_runs(ids: impl IntoIterator<Item = RecordId>, ms: u64) -> Vec<([u8; 40], Vec<u8>)> {
    let mut ids: Vec<RecordId> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let first = ids[i];
        let mut last = first;
        while let Some(next) = ids.get(i + 1) {
            if next.origin != first.origin || next.seq != last.seq + 1 || next.seq - first.seq >= MAX_RUN {
                break;
            }
            last = *next;
            i += 1;
        }
        let mut value = ms.to_be_bytes().to_vec();
        if last.seq != first.seq {
            value.extend_from_slice(&first.seq.to_be_bytes());
        }
        out.push((record_key(&last), value));
        i += 1;
    }
    out
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() {
            for entry in fs::read_dir(&out[i])? {
                out.push(entry?.path());
            }
        }
        i += 1;
    }
    Ok(out)
}

fn fsync_tree(dir: &Path) -> std::io::Result<()> {
    for path in walk(dir).map_err(std::io::Error::other)? {
        // Directories are fsynced too, so new files' names are durable. A
        // file sled removed since the listing (a segment or snapshot it
        // replaced) needs no syncing: its directory's entry is synced.
        match fs::File::open(&path) {
            Ok(file) => file.sync_all()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refuses_a_data_dir_others_can_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = Store::open(&dir).err().unwrap().to_string();
        assert!(err.contains("chmod 700"), "{err}");
    }

    #[test]
    fn waits_for_a_lock_let_go_of_and_not_for_one_held() {
        let tmp = tempfile::tempdir().unwrap();
        let config = sled::Config::new().path(tmp.path().join("db")).flush_every_ms(None);
        let held = open_waiting_for_lock(&config, Duration::ZERO).unwrap();
        // Held for the whole wait: the lock error comes back.
        let err = open_waiting_for_lock(&config, Duration::from_millis(50)).err().unwrap();
        assert!(
            matches!(&err, sled::Error::Io(e) if e.kind() == ErrorKind::WouldBlock),
            "{err}"
        );
        // Let go of while waiting: the open succeeds.
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let reopened = open_waiting_for_lock(&config, Duration::from_secs(10));
        closer.join().unwrap();
        reopened.unwrap();
    }

    fn id(origin: u8, seq: u64) -> RecordId {
        RecordId {
            origin: authsync_proto::ids::DeviceId([origin; 32]),
            seq,
        }
    }

    fn put_arrivals(store: &Store, ids: &[RecordId], ms: u64) {
        for (key, value) in arrival_runs(ids.iter().copied(), ms) {
            store.arrival.insert(key, value).unwrap();
        }
    }

    #[test]
    fn arrival_runs_read_back_one_time_per_record() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("data")).unwrap();
        let (a, b) = (id(1, 0).origin, id(2, 0).origin);
        // Out of order and repeated, as a welcome may list them.
        let first: Vec<RecordId> = [5, 1, 7, 3, 2, 4, 2]
            .into_iter()
            .map(|s| id(1, s))
            .chain([id(2, 3)])
            .collect();
        put_arrivals(&store, &first, 10);
        put_arrivals(&store, &[id(1, 8), id(1, 9)], 20);
        let mut expected: Vec<(u64, u64)> = (1..=5).map(|s| (s, 10)).collect();
        expected.extend([(7, 10), (8, 20), (9, 20)]);
        assert_eq!(store.arrivals(&a).unwrap(), expected);
        assert_eq!(store.arrivals(&b).unwrap(), vec![(3, 10)]);
        // Three runs of `a`, not eight keys.
        assert_eq!(store.arrival.scan_prefix(a.as_bytes()).count(), 3);
        // A time written for one record alone (`put_record_unsynced`) reads alike.
        store
            .arrival
            .insert(record_key(&id(1, 10)), &30u64.to_be_bytes())
            .unwrap();
        assert_eq!(store.arrivals(&a).unwrap().last(), Some(&(10, 30)));

        // Taking records back splits their runs; other origins are untouched.
        store.unstage(&[id(1, 3), id(1, 8)]).unwrap();
        assert_eq!(
            store.arrivals(&a).unwrap(),
            vec![(1, 10), (2, 10), (4, 10), (5, 10), (7, 10), (9, 20), (10, 30)]
        );
        assert_eq!(store.arrivals(&b).unwrap(), vec![(3, 10)]);
    }

    #[test]
    fn a_corrupt_arrival_run_is_refused_not_expanded() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("data")).unwrap();
        let origin = id(1, 0).origin;
        let run = |first: u64| [10u64.to_be_bytes(), first.to_be_bytes()].concat();
        for (last, value) in [(5, run(6)), (5, run(0)), (u64::MAX, run(1)), (5, vec![0; 12])] {
            store.arrival.clear().unwrap();
            store.arrival.insert(record_key(&id(1, last)), value).unwrap();
            assert!(store.arrivals(&origin).is_err(), "{last}");
        }
    }

    #[test]
    fn creates_private_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let store = Store::open(&dir).unwrap();
        store.commit_new(&[("k", b"v")]).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.meta("k").unwrap().unwrap().as_ref(), b"v");
        for path in walk(&dir).unwrap() {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert!(mode == 0o700 || mode == 0o600, "{} is {mode:o}", path.display());
        }
    }
}
