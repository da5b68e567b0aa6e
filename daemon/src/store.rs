//! The sled store: records and the device's keys, durable before any reply.
//!
//! Trees: `records` (origin ‖ seq, big-endian → encoded record), `arrival`
//! (same key → when this device first held it, Unix ms: what `revoke
//! --lost-since` caps by), `forks` (origin → a record proving it signed two
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
            // The ledger keeps every record in memory once they are loaded
            // at open, so sled's page cache serves only writes and `meta`:
            // 1 MiB, not 8 (issue 15, memory).
            .cache_capacity(1 << 20)
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
    /// durable only after the next [`Store::sync`].
    fn write_records(&self, records: &[Record], now_ms: u64) -> Result<()> {
        let mut batch = sled::Batch::default();
        let mut arrivals = sled::Batch::default();
        for record in records {
            let key = record_key(&record.id);
            batch.insert(&key[..], record.encode());
            arrivals.insert(&key[..], &now_ms.to_be_bytes());
        }
        self.records.apply_batch(batch).context("failed to write the vault")?;
        // An arrival time lost in a crash (the two batches are separate)
        // stops `--lost-since`'s cap before that record (`cap_before` ends at
        // the first gap): a record whose arrival is unknown is left out of
        // what the revoked device keeps, never kept in on a guess.
        self.arrival.apply_batch(arrivals).context("failed to write the vault")
    }

    /// When this device first held each of `origin`'s records, by seq.
    pub fn arrivals(&self, origin: &authsync_proto::ids::DeviceId) -> Result<Vec<(u64, u64)>> {
        self.arrival
            .scan_prefix(origin.as_bytes())
            .map(|item| {
                let (key, value) = item.context("failed to read the vault")?;
                let seq = u64::from_be_bytes(key[32..40].try_into().context("a corrupt arrival key")?);
                let ms = u64::from_be_bytes(value.as_ref().try_into().context("a corrupt arrival time")?);
                Ok((seq, ms))
            })
            .collect()
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
    /// to be kept (dropped by admission), before [`Store::commit_new`].
    pub fn unstage(&self, ids: &[RecordId]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for id in ids {
            batch.remove(&record_key(id)[..]);
        }
        self.records
            .apply_batch(batch.clone())
            .context("failed to write the vault")?;
        self.arrival.apply_batch(batch).context("failed to write the vault")
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
