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
use authsync_proto::household::Household;
use authsync_proto::ids::{DeviceId, EntryId, EpochId, HouseholdId, RecordId};
use authsync_proto::ledger::{Admitted, Ledger, Rejected};
use authsync_proto::record::{Body, EntryBody, MemberInfo, Record};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;

use crate::store::Store;

/// How the local key-encryption key is obtained.
#[derive(Serialize, Deserialize)]
pub enum KekSource {
    /// Argon2id of the passphrase.
    Passphrase(KdfParams),
    /// 32 random bytes in `vault.key` beside the store (`--no-passphrase`).
    KeyFile,
}

/// Records a slow subscriber may fall behind by before it must resync.
const EVENT_BACKLOG: usize = 4096;
const BOX_KEY_AAD: &[u8] = b"authsync box key v1";
const KEY_FILE: &str = "vault.key";
/// Names the household this data dir holds, outside sled: if the store ever
/// opens empty while this exists, the store was lost or replaced.
const MARKER_FILE: &str = "household";

/// The keys needed to read and write entries; dropped (and so zeroized) on lock.
pub struct Unlocked {
    pub box_key: BoxKey,
    pub index: Index,
}

/// A device's keys before they belong to a vault (while joining).
pub struct Identity {
    pub device: DeviceKey,
    pub box_key: BoxKey,
    pub name: String,
}

impl Identity {
    /// A new random identity called `name`.
    pub fn generate(name: &str) -> Identity {
        Identity {
            device: DeviceKey::generate(&mut OsRng),
            box_key: BoxKey::generate(&mut OsRng),
            name: name.to_string(),
        }
    }

    /// How the household will know it.
    pub fn member_info(&self) -> MemberInfo {
        MemberInfo {
            device: self.device.id(),
            name: self.name.clone(),
            signing_key: self.device.public(),
            box_key: self.box_key.public(),
        }
    }
}

/// One device's vault.
pub struct Vault {
    store: Store,
    data_dir: PathBuf,
    ledger: Ledger,
    device: Option<DeviceKey>,
    name: Option<String>,
    unlocked: Option<Unlocked>,
    /// Every record newly admitted, local or received, once it is durable.
    events: broadcast::Sender<Arc<Record>>,
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
            match ledger.admit(record) {
                // Held from before its origin's revocation arrived: ignored.
                Ok(_) | Err(Rejected::Revoked) => {}
                Err(e) => return Err(anyhow!("the vault is corrupt: stored record {id} is refused ({e})")),
            }
        }
        if device.is_some() != ledger.household().is_some() {
            return Err(anyhow!("the vault in {} is incomplete or corrupt", data_dir.display()));
        }
        let marker = data_dir.join(MARKER_FILE);
        let held = ledger.household_id().map(|h| h.to_string());
        match (fs::read_to_string(&marker).ok(), held) {
            (Some(expected), Some(held)) if expected.trim() == held => {}
            (None, Some(held)) => write_private_file(&marker, held.as_bytes())?,
            (Some(expected), held) => {
                return Err(anyhow!(
                    "the vault in {} is corrupt or was replaced: it should hold household {} but holds {}; restore it from a backup, or move the data dir away to start over",
                    data_dir.display(),
                    expected.trim(),
                    held.as_deref().unwrap_or("none")
                ));
            }
            (None, None) => {}
        }
        // A crash between committing a key-file vault and renaming its key
        // file into place leaves the key beside it: finish the rename.
        let key_file = data_dir.join(KEY_FILE);
        let key_file_tmp = key_file.with_extension("tmp");
        if ledger.household().is_some() && !key_file.exists() && key_file_tmp.exists() {
            commit_file(&key_file_tmp, &key_file)?;
        }
        Ok(Vault {
            store,
            data_dir: data_dir.to_path_buf(),
            ledger,
            device,
            name,
            unlocked: None,
            events: broadcast::channel(EVENT_BACKLOG).0,
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

    pub fn device_key(&self) -> Option<&DeviceKey> {
        self.device.as_ref()
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

    /// Peers learned when joining (the sponsor's address), dialled at start.
    pub fn remembered_peers(&self) -> Vec<String> {
        self.store
            .meta("peers")
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).lines().map(str::to_string).collect())
            .unwrap_or_default()
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
        let identity = Identity::generate(name);
        let me = identity.device.id();
        let mut household = [0u8; 16];
        rng.fill_bytes(&mut household);
        let household = HouseholdId(household);
        let mut epoch = [0u8; 16];
        rng.fill_bytes(&mut epoch);
        let epoch = EpochId(epoch);
        let epoch_key = SymKey::generate(rng);

        let now = now_ms();
        let genesis_hlc = Hlc::tick(Hlc::default(), now);
        let genesis = Record::sign(
            &identity.device,
            RecordId { origin: me, seq: 1 },
            household,
            genesis_hlc,
            Body::Genesis {
                founder: identity.member_info(),
            },
        );
        let envelope = Envelope::seal(rng, me, &identity.box_key.public(), &epoch, &epoch_key);
        let first_epoch = Record::sign(
            &identity.device,
            RecordId { origin: me, seq: 2 },
            household,
            Hlc::tick(genesis_hlc, now),
            Body::Epoch {
                epoch,
                counter: 0,
                envelopes: vec![envelope],
            },
        );
        self.establish(identity, kek, source, vec![genesis, first_epoch], &[])
    }

    /// Makes `identity` this vault's, with `records` (a new household's, or
    /// the ones a sponsor welcomed it with), in one transaction: a crash
    /// leaves either nothing or a complete vault. Then unlocks it.
    pub fn establish(
        &mut self,
        identity: Identity,
        kek: SymKey,
        source: KekSource,
        records: Vec<Record>,
        peers: &[String],
    ) -> Result<()> {
        if self.device.is_some() {
            return Err(anyhow!("this device already has a household"));
        }
        let me = identity.device.id();
        let mut ledger = Ledger::new();
        for record in &records {
            ledger
                .admit(record.clone())
                .map_err(|e| anyhow!("the household's records were refused: {e}"))?;
        }
        if !ledger.household().is_some_and(|h| h.is_current_member(&me)) {
            return Err(anyhow!("the household's records do not admit this device"));
        }
        let key_file = self.data_dir.join(KEY_FILE);
        if key_file.exists() {
            return Err(anyhow!(
                "{} exists: this data dir held a vault before; move it away to start over",
                key_file.display()
            ));
        }
        let wrapped = kek.seal(&mut OsRng, &box_aad(&me), identity.box_key.expose_bytes().as_ref());
        let key_file_tmp = key_file.with_extension("tmp");
        if matches!(source, KekSource::KeyFile) {
            // Written aside first, renamed once the vault is committed: a
            // crash in between leaves no key file that names no vault.
            write_private_file(&key_file_tmp, kek.expose())?;
        }
        let source = postcard::to_stdvec(&source).context("failed to encode the key parameters")?;
        let wrapped = postcard::to_stdvec(&wrapped).context("failed to encode the wrapped key")?;
        let refs: Vec<&Record> = records.iter().collect();
        self.store.init(
            &refs,
            &[
                ("device_key", identity.device.expose_bytes().as_ref()),
                ("device_name", identity.name.as_bytes()),
                ("kek", &source),
                ("box_key", &wrapped),
                ("peers", peers.join("\n").as_bytes()),
            ],
        )?;
        if key_file_tmp.exists() {
            commit_file(&key_file_tmp, &key_file)?;
        }
        let household = ledger.household_id().ok_or_else(|| anyhow!("no household"))?;
        write_private_file(&self.data_dir.join(MARKER_FILE), household.to_string().as_bytes())?;
        self.ledger = ledger;
        self.device = Some(identity.device);
        self.name = Some(identity.name);
        self.unlock_with(&kek)?;
        for record in records {
            let _ = self.events.send(Arc::new(record));
        }
        Ok(())
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
        let mut ids = self.write_versions(vec![(entry, parents, body)])?;
        ids.pop().ok_or_else(|| anyhow!("no record was written"))
    }

    /// Writes new entries (each a first version, sealed to the current
    /// epoch) in one atomic, durable batch: after a crash either all of them
    /// are on disk or none. Returns their record ids.
    pub fn write_new_entries(&mut self, bodies: &[(EntryId, EntryBody)]) -> Result<Vec<RecordId>> {
        self.write_versions(bodies.iter().map(|(entry, body)| (*entry, Vec::new(), body)).collect())
    }

    /// Seals each `(entry, parents, body)` as this device's next record, to
    /// the current epoch (repaired first, if a former member holds it), and
    /// commits them together.
    fn write_versions(&mut self, versions: Vec<(EntryId, Vec<RecordId>, &EntryBody)>) -> Result<Vec<RecordId>> {
        self.repair_epochs(Repair::BeforeWriting)?;
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
        let first_seq = self.ledger.next_seq(&me);
        let mut hlc = self.ledger.latest_hlc();
        let mut records = Vec::with_capacity(versions.len());
        for (seq, (entry, parents, body)) in (first_seq..).zip(versions) {
            hlc = Hlc::tick(hlc, now_ms());
            let id = RecordId { origin: me, seq };
            records.push(Record::seal_entry(
                &mut OsRng,
                device,
                id,
                household.id,
                hlc,
                entry,
                parents,
                (epoch.id, key),
                body,
            ));
        }
        self.commit_own(records)
    }

    /// Makes this device's own `records` durable in one atomic batch, then
    /// admits them to the ledger and the index, in order.
    fn commit_own(&mut self, records: Vec<Record>) -> Result<Vec<RecordId>> {
        self.store.put_records(&records)?;
        let mut ids = Vec::with_capacity(records.len());
        for record in records {
            let id = record.id;
            self.ledger
                .admit(record)
                .map_err(|e| anyhow!("this device's own record was refused: {e}"))?;
            self.admitted(id);
            ids.push(id);
        }
        Ok(ids)
    }

    /// Whether `kek` is this vault's key-encryption key (the passphrase
    /// check before seeds are revealed); changes nothing.
    pub fn check_kek(&self, kek: &SymKey) -> Result<()> {
        let me = self.device_id().ok_or_else(|| anyhow!("no household on this device"))?;
        let wrapped = self
            .store
            .meta("box_key")?
            .ok_or_else(|| anyhow!("the vault has no box key: it is corrupt"))?;
        let wrapped: Sealed = postcard::from_bytes(&wrapped).map_err(|_| anyhow!("the vault's box key is corrupt"))?;
        kek.open(&box_aad(&me), &wrapped).map_err(|_| WrongKey)?;
        Ok(())
    }

    /// Brings the index up to date with a newly admitted record and tells
    /// subscribers about it.
    fn admitted(&mut self, id: RecordId) {
        let me = self.device_id();
        let Some(record) = self.ledger.get(&id) else {
            return;
        };
        if let (Some(unlocked), Some(household), Some(me)) = (self.unlocked.as_mut(), self.ledger.household(), me) {
            if matches!(record.body, Body::Entry(_)) {
                unlocked.index.apply(household, record);
            } else {
                // Membership or epochs changed: which entries are readable may too.
                unlocked.index = Index::build(&self.ledger, &me, &unlocked.box_key);
            }
        }
        let _ = self.events.send(Arc::new(record.clone()));
    }

    /// New records and their order, as the daemon sees them.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.events.subscribe()
    }

    /// Admits records received from a peer, in order, storing each new one
    /// before it enters memory and syncing the store once at the end. Stops
    /// at the first record refused; what came before it stays admitted.
    pub fn ingest(&mut self, records: Vec<Record>) -> Result<Ingested> {
        let mut ingested = Ingested::default();
        for record in records {
            match self.ledger.check(&record) {
                Ok(Admitted::Duplicate) => ingested.duplicates += 1,
                Ok(Admitted::New) => {
                    let id = record.id;
                    self.store.put_record_unsynced(&record)?;
                    self.ledger
                        .admit(record)
                        .map_err(|e| anyhow!("a checked record was refused: {e}"))?;
                    ingested.new.push(id);
                }
                // Written after its origin was revoked: dropped, not an attack
                // by the peer that forwarded it (it may have held it first).
                Err(Rejected::Revoked) => ingested.dropped += 1,
                Err(rejected) => {
                    ingested.rejected = Some((record.id, rejected));
                    break;
                }
            }
        }
        if !ingested.new.is_empty() {
            self.store.sync()?;
            for id in ingested.new.clone() {
                self.admitted(id);
            }
            let membership_changed = ingested
                .new
                .iter()
                .any(|id| self.ledger.get(id).is_some_and(|r| !matches!(r.body, Body::Entry(_))));
            if membership_changed {
                self.repair_epochs(Repair::ShareKeys)?;
            }
        }
        Ok(ingested)
    }

    /// Revokes `target`: a `Revoke` record capping its records at the last
    /// one this device holds, then a new epoch whose key is sealed to the
    /// remaining members only, so new writes are unreadable to it.
    pub fn revoke(&mut self, target: DeviceId) -> Result<()> {
        let device = self
            .device
            .as_ref()
            .ok_or_else(|| anyhow!("no household on this device"))?;
        self.unlocked.as_ref().ok_or(Locked)?;
        let household = self
            .ledger
            .household()
            .ok_or_else(|| anyhow!("no household on this device"))?;
        if device.id() == target {
            return Err(anyhow!("a device cannot revoke itself"));
        }
        let last_seq = self.ledger.version_vector().get(&target).copied().unwrap_or(0);
        let bodies = vec![
            Body::Revoke {
                device: target,
                last_seq,
            },
            fresh_epoch(household, Some(target)),
        ];
        self.append_own(bodies)
    }

    /// Keeps the household's keys right, whoever caused them to go wrong:
    ///
    /// - a current member without an envelope for an epoch this device
    ///   holds (admitted by a sponsor that did not hold it yet, e.g. while a
    ///   revocation was on its way) gets one, so it reads everything;
    /// - before writing, if the current epoch is sealed to a device that is
    ///   no longer a member (two revocations made apart, each sealing its new
    ///   key to the other's target, or a device that left), a new epoch
    ///   sealed to current members only, so that what is written next is
    ///   unreadable to it.
    ///
    /// Two devices repairing at once is harmless: envelopes for the same
    /// recipient are equal in what they open, and of two new epochs the fold
    /// picks the same current one everywhere, both sealed to every member.
    /// Needs the unlocked vault; does nothing while locked.
    fn repair_epochs(&mut self, when: Repair) -> Result<()> {
        let (Some(unlocked), Some(household), Some(me)) =
            (self.unlocked.as_ref(), self.ledger.household(), self.device_id())
        else {
            return Ok(());
        };
        if !household.is_current_member(&me) {
            return Ok(());
        }
        let members: Vec<&MemberInfo> = household
            .members
            .values()
            .filter(|m| m.revoked_after.is_none())
            .map(|m| &m.info)
            .collect();
        let mut bodies = Vec::new();
        for epoch in household.epochs.values() {
            let Some(key) = unlocked.index.epoch_key(&epoch.id) else {
                continue;
            };
            let envelopes: Vec<Envelope> = members
                .iter()
                .filter(|m| !epoch.envelopes.contains_key(&m.device))
                .map(|m| Envelope::seal(&mut OsRng, m.device, &m.box_key, &epoch.id, key))
                .collect();
            if !envelopes.is_empty() {
                bodies.push(Body::Epoch {
                    epoch: epoch.id,
                    counter: epoch.counter,
                    envelopes,
                });
            }
        }
        let exposed = household
            .current_epoch()
            .is_some_and(|epoch| epoch.envelopes.keys().any(|d| !household.is_current_member(d)));
        if when == Repair::BeforeWriting && exposed {
            tracing::info!("the household key is known to a device that left or was revoked: making a new one");
            bodies.push(fresh_epoch(household, None));
        }
        if bodies.is_empty() {
            return Ok(());
        }
        self.append_own(bodies)
    }

    /// This device leaves: a `Revoke` of itself, capping its records at this
    /// one. Returns the record's seq.
    pub fn leave(&mut self) -> Result<u64> {
        let me = self.device_id().ok_or_else(|| anyhow!("no household on this device"))?;
        let seq = self.ledger.next_seq(&me);
        self.append_own(vec![Body::Revoke {
            device: me,
            last_seq: seq,
        }])?;
        Ok(seq)
    }

    /// Signs `bodies` as this device's next records and commits them.
    fn append_own(&mut self, bodies: Vec<Body>) -> Result<()> {
        let device = self
            .device
            .as_ref()
            .ok_or_else(|| anyhow!("no household on this device"))?;
        let household = self
            .ledger
            .household_id()
            .ok_or_else(|| anyhow!("no household on this device"))?;
        let me = device.id();
        let mut records: Vec<Record> = Vec::new();
        for body in bodies {
            let record = Record::sign(
                device,
                RecordId {
                    origin: me,
                    seq: self.ledger.next_seq(&me) + records.len() as u64,
                },
                household,
                Hlc::tick(records.last().map_or(self.ledger.latest_hlc(), |r| r.hlc), now_ms()),
                body,
            );
            records.push(record);
        }
        self.commit_own(records)?;
        Ok(())
    }

    /// Admits `joiner` to the household (this device is its sponsor): a
    /// `Member` record, then an `Epoch` record for every epoch key this device
    /// holds, sealed to the joiner, so it reads all history. Returns every
    /// record it can pass on, in an order the joiner can admit.
    pub fn sponsor(&mut self, joiner: MemberInfo) -> Result<Vec<Record>> {
        let unlocked = self.unlocked.as_ref().ok_or(Locked)?;
        let household = self
            .ledger
            .household()
            .ok_or_else(|| anyhow!("no household on this device"))?;
        if household.members.contains_key(&joiner.device) {
            return Err(anyhow!("that device was a member of this household before"));
        }
        let mut bodies = vec![Body::Member { member: joiner.clone() }];
        for epoch in household.epochs.values() {
            if let Some(key) = unlocked.index.epoch_key(&epoch.id) {
                bodies.push(Body::Epoch {
                    epoch: epoch.id,
                    counter: epoch.counter,
                    envelopes: vec![Envelope::seal(
                        &mut OsRng,
                        joiner.device,
                        &joiner.box_key,
                        &epoch.id,
                        key,
                    )],
                });
            }
        }
        self.append_own(bodies)?;
        Ok(self
            .ledger
            .missing_for(&Default::default())
            .into_iter()
            .cloned()
            .collect())
    }
}

/// When [`Vault::repair_epochs`] runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repair {
    /// Membership changed: share epoch keys with members that lack them.
    ShareKeys,
    /// About to seal an entry: also replace a current epoch that a former
    /// member can open.
    BeforeWriting,
}

/// A new epoch (the next counter, a new random key) sealed to every current
/// member but `except`.
fn fresh_epoch(household: &Household, except: Option<DeviceId>) -> Body {
    let mut epoch = [0u8; 16];
    OsRng.fill_bytes(&mut epoch);
    let epoch = EpochId(epoch);
    let key = SymKey::generate(&mut OsRng);
    let counter = household.epochs.values().map(|e| e.counter).max().map_or(0, |c| c + 1);
    let envelopes = household
        .members
        .values()
        .filter(|m| m.revoked_after.is_none() && Some(m.info.device) != except)
        .map(|m| Envelope::seal(&mut OsRng, m.info.device, &m.info.box_key, &epoch, &key))
        .collect();
    Body::Epoch {
        epoch,
        counter,
        envelopes,
    }
}

fn box_aad(me: &DeviceId) -> Vec<u8> {
    let mut aad = BOX_KEY_AAD.to_vec();
    aad.extend_from_slice(me.as_bytes());
    aad
}

/// Writes a file durably with mode 0600.
fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Renames `from` to `to` durably.
fn commit_file(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).with_context(|| format!("failed to write {}", to.display()))?;
    if let Some(dir) = to.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// What [`Vault::ingest`] did.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Records newly admitted.
    pub new: Vec<RecordId>,
    /// Records already held.
    pub duplicates: usize,
    /// Records written past their origin's revocation, dropped.
    pub dropped: usize,
    /// The first record refused, and why (nothing after it was looked at).
    pub rejected: Option<(RecordId, authsync_proto::ledger::Rejected)>,
}

/// The passphrase or key file did not open the vault.
#[derive(Debug, thiserror::Error)]
#[error("wrong passphrase")]
pub struct WrongKey;

/// The vault is locked.
#[derive(Debug, thiserror::Error)]
#[error("the vault is locked")]
pub struct Locked;
