//! The vault: this device's keys, its ledger of records, and (while unlocked)
//! the decrypted index. Every change goes through [`Vault::append`], which
//! makes the record durable before it enters memory, so what a reply reports
//! is on disk.
//!
//! Keys: the Ed25519 device key is stored as is (a locked daemon must still
//! sign and sync); the X25519 box key is sealed with the local key-encryption
//! key (Argon2id of the passphrase, or a random key file); epoch keys live
//! only inside `Epoch` envelopes on disk and in memory while unlocked.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use authsync_proto::crypto::{BoxKey, DeviceKey, Envelope, KdfParams, Sealed, SymKey};
use authsync_proto::entries::Index;
use authsync_proto::hlc::Hlc;
use authsync_proto::ids::{DeviceId, EntryId, EpochId, HouseholdId, RecordId};
use authsync_proto::ledger::Ledger;
use authsync_proto::record::{Body, EntryBody, MemberInfo, Record};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// How the local key-encryption key is obtained.
#[derive(Serialize, Deserialize)]
pub enum KekSource {
    /// Argon2id of the passphrase.
    Passphrase(KdfParams),
    /// 32 random bytes in `vault.key` beside the store (`--no-passphrase`).
    KeyFile,
}

const BOX_KEY_AAD: &[u8] = b"authsync box key v1";
const KEY_FILE: &str = "vault.key";

/// The keys needed to read and write entries; dropped (and so zeroized) on lock.
pub struct Unlocked {
    pub box_key: BoxKey,
    pub index: Index,
}

/// One device's vault.
pub struct Vault {
    store: Store,
    data_dir: PathBuf,
    ledger: Ledger,
    device: Option<DeviceKey>,
    name: Option<String>,
    unlocked: Option<Unlocked>,
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Vault {
    /// Opens the vault in `data_dir`, re-verifying every stored record.
    pub fn open(data_dir: &Path) -> Result<Vault> {
        let store = Store::open(data_dir)?;
        let device = store
            .meta("device_key")?
            .map(|bytes| {
                let bytes: [u8; 32] = bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| anyhow!("the vault's device key is corrupt"))?;
                Ok::<_, anyhow::Error>(DeviceKey::from_bytes(&bytes))
            })
            .transpose()?;
        let name = store
            .meta("device_name")?
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let mut records = store.load_records()?;
        records.sort_by_key(|r| (r.hlc, r.id));
        let mut ledger = Ledger::new();
        for record in records {
            let id = record.id;
            ledger
                .admit(record)
                .map_err(|e| anyhow!("the vault is corrupt: stored record {id} is refused ({e})"))?;
        }
        if device.is_some() != ledger.household().is_some() {
            return Err(anyhow!("the vault in {} is incomplete or corrupt", data_dir.display()));
        }
        Ok(Vault {
            store,
            data_dir: data_dir.to_path_buf(),
            ledger,
            device,
            name,
            unlocked: None,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn device_id(&self) -> Option<DeviceId> {
        self.device.as_ref().map(DeviceKey::id)
    }

    pub fn device_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn is_initialized(&self) -> bool {
        self.device.is_some()
    }

    pub fn unlocked(&self) -> Option<&Unlocked> {
        self.unlocked.as_ref()
    }

    /// How the vault key is derived (None before `init`).
    pub fn kek_source(&self) -> Result<Option<KekSource>> {
        self.store
            .meta("kek")?
            .map(|b| postcard::from_bytes(&b).map_err(|_| anyhow!("the vault's key parameters are corrupt")))
            .transpose()
    }

    /// Starts a household with this device as its founder.
    pub fn init(&mut self, name: &str, kek: SymKey, source: KekSource) -> Result<()> {
        let rng = &mut OsRng;
        let device = DeviceKey::generate(rng);
        let box_key = BoxKey::generate(rng);
        let me = device.id();
        let mut household = [0u8; 16];
        rng.fill_bytes(&mut household);
        let household = HouseholdId(household);
        let mut epoch = [0u8; 16];
        rng.fill_bytes(&mut epoch);
        let epoch = EpochId(epoch);
        let epoch_key = SymKey::generate(rng);

        let founder = MemberInfo {
            device: me,
            name: name.to_string(),
            signing_key: device.public(),
            box_key: box_key.public(),
        };
        let now = now_ms();
        let genesis_hlc = Hlc::tick(Hlc::default(), now);
        let genesis = Record::sign(
            &device,
            RecordId { origin: me, seq: 1 },
            household,
            genesis_hlc,
            Body::Genesis { founder },
        );
        let envelope = Envelope::seal(rng, me, &box_key.public(), &epoch, &epoch_key);
        let first_epoch = Record::sign(
            &device,
            RecordId { origin: me, seq: 2 },
            household,
            Hlc::tick(genesis_hlc, now),
            Body::Epoch {
                epoch,
                counter: 0,
                envelopes: vec![envelope],
            },
        );

        let wrapped = kek.seal(rng, &box_aad(&me), box_key.expose_bytes().as_ref());
        if matches!(source, KekSource::KeyFile) {
            write_key_file(&self.data_dir.join(KEY_FILE), kek.expose())?;
        }
        let source = postcard::to_stdvec(&source).context("failed to encode the key parameters")?;
        let wrapped = postcard::to_stdvec(&wrapped).context("failed to encode the wrapped key")?;
        self.store.init(
            &[&genesis, &first_epoch],
            &[
                ("device_key", device.expose_bytes().as_ref()),
                ("device_name", name.as_bytes()),
                ("kek", &source),
                ("box_key", &wrapped),
            ],
        )?;
        for record in [genesis, first_epoch] {
            self.ledger
                .admit(record)
                .map_err(|e| anyhow!("a new household was refused: {e}"))?;
        }
        self.device = Some(device);
        self.name = Some(name.to_string());
        self.unlock_with(&kek)
    }

    /// The key file's key, when the vault uses one.
    pub fn key_file_kek(&self) -> Result<SymKey> {
        let path = self.data_dir.join(KEY_FILE);
        let bytes = fs::read(&path).with_context(|| format!("failed to read the key file {}", path.display()))?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("the key file {} is corrupt", path.display()))?;
        Ok(SymKey::from_bytes(&bytes))
    }

    /// Opens the box key with `kek` and decrypts every readable entry.
    /// `Ok(false)` if `kek` is not the right key.
    pub fn unlock_with(&mut self, kek: &SymKey) -> Result<()> {
        let me = self.device_id().ok_or_else(|| anyhow!("no household on this device"))?;
        let wrapped = self
            .store
            .meta("box_key")?
            .ok_or_else(|| anyhow!("the vault has no box key: it is corrupt"))?;
        let wrapped: Sealed = postcard::from_bytes(&wrapped).map_err(|_| anyhow!("the vault's box key is corrupt"))?;
        let bytes = kek.open(&box_aad(&me), &wrapped).map_err(|_| WrongKey)?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("the vault's box key is corrupt"))?;
        let box_key = BoxKey::from_bytes(bytes);
        let index = Index::build(&self.ledger, &me, &box_key);
        self.unlocked = Some(Unlocked { box_key, index });
        Ok(())
    }

    /// Forgets the box key, the epoch keys and every decrypted entry.
    pub fn lock(&mut self) {
        self.unlocked = None;
    }

    /// Writes a new version of `entry`, sealed to the current epoch.
    pub fn write_entry(&mut self, entry: EntryId, parents: Vec<RecordId>, body: &EntryBody) -> Result<RecordId> {
        let device = self
            .device
            .as_ref()
            .ok_or_else(|| anyhow!("no household on this device"))?;
        let unlocked = self.unlocked.as_ref().ok_or(Locked)?;
        let household = self
            .ledger
            .household()
            .ok_or_else(|| anyhow!("no household on this device"))?;
        let epoch = household
            .current_epoch()
            .ok_or_else(|| anyhow!("the household has no epoch key"))?;
        let key = unlocked
            .index
            .epoch_key(&epoch.id)
            .ok_or_else(|| anyhow!("this device holds no key for the current epoch"))?;
        let me = device.id();
        let record = Record::seal_entry(
            &mut OsRng,
            device,
            RecordId {
                origin: me,
                seq: self.ledger.next_seq(&me),
            },
            household.id,
            Hlc::tick(self.ledger.latest_hlc(), now_ms()),
            entry,
            parents,
            (epoch.id, key),
            body,
        );
        self.append(record)
    }

    /// Makes `record` durable, then admits it to the ledger and the index.
    fn append(&mut self, record: Record) -> Result<RecordId> {
        let id = record.id;
        self.store.put_record(&record)?;
        self.ledger
            .admit(record)
            .map_err(|e| anyhow!("this device's own record was refused: {e}"))?;
        let me = self.device_id();
        if let (Some(unlocked), Some(household), Some(record), Some(me)) = (
            self.unlocked.as_mut(),
            self.ledger.household(),
            self.ledger.get(&id),
            me,
        ) {
            if matches!(record.body, Body::Entry(_)) {
                unlocked.index.apply(household, record);
            } else {
                // Membership or epochs changed: which entries are readable may too.
                unlocked.index = Index::build(&self.ledger, &me, &unlocked.box_key);
            }
        }
        Ok(id)
    }
}

fn box_aad(me: &DeviceId) -> Vec<u8> {
    let mut aad = BOX_KEY_AAD.to_vec();
    aad.extend_from_slice(me.as_bytes());
    aad
}

/// Writes a secret file atomically with mode 0600.
fn write_key_file(path: &Path, key: &[u8; 32]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("failed to create {}", tmp.display()))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(key)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("failed to write {}", path.display()))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The passphrase or key file did not open the vault.
#[derive(Debug, thiserror::Error)]
#[error("wrong passphrase")]
pub struct WrongKey;

/// The vault is locked.
#[derive(Debug, thiserror::Error)]
#[error("the vault is locked")]
pub struct Locked;
