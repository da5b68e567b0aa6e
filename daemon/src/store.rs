//! The sled store: records and the device's keys, durable before any reply.
//!
//! Trees: `records` (origin ‖ seq, big-endian → encoded record) and `meta`
//! (the device identity, how the vault key is derived, the wrapped box key,
//! the device name). Everything else (version vectors, the household, the
//! decrypted index) is rebuilt from `records` at start. The records are the
//! sealed bytes that also cross the wire: nothing readable is at rest but the
//! device's own signing key and public membership data.
//!
//! Durability: sled's `flush` survives `kill -9` but uses `sync_file_range`
//! on Linux (sled issue 1452), so after it every file and directory of the
//! store is fsynced before a write is acknowledged. Nothing relies on sled's
//! periodic background flush, so it is off.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use authsync_proto::ids::RecordId;
use authsync_proto::record::Record;

/// The on-disk vault.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    records: sled::Tree,
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

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        ensure_private_dir(dir)?;
        let db_dir = dir.join("vault");
        let db = sled::Config::new()
            .path(&db_dir)
            .mode(sled::Mode::LowSpace)
            // The ledger keeps every record in memory once they are loaded
            // at open, so sled's page cache serves only writes and `meta`:
            // 1 MiB, not 8 (issue 15, memory).
            .cache_capacity(1 << 20)
            // No background flusher: every write is flushed and fsynced by
            // `sync` before it is acknowledged, so the flusher's timer only
            // woke an idle daemon (255 times a minute, `bench/wakeups.py`).
            .flush_every_ms(None)
            .open()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "failed to open the vault in {}: it may be corrupt or in use by another authd",
                    db_dir.display()
                )
            })?;
        let records = db.open_tree("records").context("failed to open the records tree")?;
        let meta = db.open_tree("meta").context("failed to open the meta tree")?;
        let store = Store {
            dir: db_dir,
            db,
            records,
            meta,
        };
        store.restrict_files()?;
        Ok(store)
    }

    /// Every stored record, decoded. A record that does not decode means the
    /// store is corrupt: that is an error, not something to skip.
    pub fn load_records(&self) -> Result<Vec<Record>> {
        self.records
            .iter()
            .map(|item| {
                let (_, bytes) = item.context("failed to read the vault")?;
                Record::decode(&bytes).context("the vault holds a record that does not decode: it is corrupt")
            })
            .collect()
    }

    /// Stores one record; durable only after the next [`Store::sync`].
    pub fn put_record_unsynced(&self, record: &Record) -> Result<()> {
        self.records
            .insert(record_key(&record.id), record.encode())
            .context("failed to write the vault")?;
        Ok(())
    }

    /// Stores `records` in one atomic batch, durably: after a crash either
    /// every one is on disk or none.
    pub fn put_records(&self, records: &[Record]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for record in records {
            batch.insert(&record_key(&record.id)[..], record.encode());
        }
        self.records.apply_batch(batch).context("failed to write the vault")?;
        self.sync()
    }

    /// Writes a new vault's first records and keys in one transaction, so a
    /// crash leaves either nothing or a complete household.
    pub fn init(&self, records: &[&Record], meta: &[(&str, &[u8])]) -> Result<()> {
        use sled::Transactional;
        (&self.records, &self.meta)
            .transaction(|(tx_records, tx_meta)| {
                for record in records {
                    tx_records.insert(&record_key(&record.id)[..], record.encode())?;
                }
                for (key, value) in meta {
                    tx_meta.insert(*key, *value)?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("{e:?}"))
            .context("failed to write the new vault")?;
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
        // Directories are fsynced too, so new files' names are durable.
        fs::File::open(&path)?.sync_all()?;
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
    fn creates_private_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let store = Store::open(&dir).unwrap();
        store.init(&[], &[("k", b"v")]).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.meta("k").unwrap().unwrap().as_ref(), b"v");
        for path in walk(&dir).unwrap() {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert!(mode == 0o700 || mode == 0o600, "{} is {mode:o}", path.display());
        }
    }
}
