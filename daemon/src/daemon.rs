//! The daemon: the vault behind one cheap-to-clone handle, the dispatch of
//! requests to their handlers, the unlock gate and the idle auto-lock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use authsync_proto::crypto::{KdfParams, SymKey};
use authsync_proto::ipc::{ErrorCode, IpcError, Reply, Request, WireSecret};
use rand::rngs::OsRng;
use tokio::sync::watch;

use std::collections::BTreeMap;

use authsync_proto::ids::{DeviceId, RecordId};
use authsync_proto::record::{Body, Record};
use authsync_proto::wire::{Hello, SYNC_PROTOCOL};
use tokio::sync::broadcast;

use crate::collections;
use crate::handlers::{self, Scope, internal, not_initialized};
use crate::peers::Peers;
use crate::transport::Trust;
use crate::vault::{Ingested, KekSource, Vault, WrongKey, now_ms};

/// `code` warns when this device's clock is further than this from a peer's.
const CLOCK_SKEW_WARNING_MS: u64 = 15_000;

/// The longest a wrong passphrase makes the next attempt wait.
const MAX_UNLOCK_DELAY: Duration = Duration::from_secs(8);

/// Shared daemon state; clone the [`Daemon`] handle to share it.
pub(crate) struct Shared {
    vault: Mutex<Vault>,
    auto_lock: Option<Duration>,
    last_used: Mutex<Instant>,
    failed_unlocks: AtomicU32,
    /// Serializes unlock attempts, so the delay after a wrong passphrase
    /// slows every guesser, not only one connection.
    unlock_gate: tokio::sync::Mutex<()>,
    shutdown: watch::Sender<bool>,
    peers: Arc<Peers>,
    trust: Arc<Trust>,
    /// Set by `leave`: delete the data dir once the daemon has stopped.
    pub(crate) wipe: std::sync::atomic::AtomicBool,
    /// Set once this device has a household (at start, `init` or `join`).
    pub(crate) established: watch::Sender<bool>,
    /// The network, once started.
    pub(crate) net: std::sync::OnceLock<Arc<crate::network::Net>>,
    /// Whether the network is starting, up, or could not start.
    net_state: watch::Sender<NetState>,
    /// Discovery, when enabled, started on first use: by the network (once
    /// there is a household) or by `join` looking for an offer.
    pub(crate) discovery: crate::discovery::Lazy,
    /// The open pairing offer.
    pub(crate) offer: Mutex<Option<crate::pairing::Offer>>,
    /// Started as a relay (`--relay`): joins only as one, founds nothing.
    pub(crate) relay: std::sync::atomic::AtomicBool,
    /// Bumped when the vault locks or unlocks, for `watch` streams.
    lock_changes: watch::Sender<u64>,
    /// Set while this device counts itself removed from its household
    /// (`removed.rs`).
    pub(crate) removed: Mutex<Option<authsync_proto::ipc::Removed>>,
    /// Which offer this is (counting from 0), and how it ended (`None`
    /// while open), for `pair --wait`.
    pub(crate) offer_ended: watch::Sender<(u64, Option<authsync_proto::ipc::PairOutcome>)>,
    /// The static peers of the command line or `config.toml`, where `join`
    /// looks for an offer.
    pub(crate) static_peers: std::sync::OnceLock<Vec<String>>,
}

/// Where the network is: it starts once there is a household.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NetState {
    Starting,
    Up,
    Failed,
}

/// The changes a `watch` stream reports; see [`Daemon::watcher`].
pub struct Watcher {
    records: broadcast::Receiver<Arc<Record>>,
    lock: watch::Receiver<u64>,
    peers: watch::Receiver<u64>,
}

impl Watcher {
    /// Waits for the next change, then takes in every other one already
    /// pending, so that a burst (a sync of many records) is one change.
    /// `false` once the daemon is going away.
    pub async fn changed(&mut self) -> bool {
        let alive = tokio::select! {
            r = self.records.recv() => !matches!(r, Err(broadcast::error::RecvError::Closed)),
            r = self.lock.changed() => r.is_ok(),
            r = self.peers.changed() => r.is_ok(),
        };
        while !matches!(
            self.records.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
        self.lock.mark_unchanged();
        self.peers.mark_unchanged();
        alive
    }
}

/// A handle to the daemon's state.
#[derive(Clone)]
pub struct Daemon(pub(crate) Arc<Shared>);

type Result<T> = std::result::Result<T, IpcError>;

/// Whose device this is when `init` is not told: the login name.
fn login_name() -> String {
    std::env::var("USER")
        .ok()
        .map(|u| u.trim().to_owned())
        .filter(|u| authsync_proto::record::check_name(u).is_ok())
        .unwrap_or_else(|| "me".to_owned())
}

pub(crate) fn bad(message: &str) -> IpcError {
    IpcError::new(ErrorCode::BadRequest, message)
}

impl Daemon {
    /// Wraps an opened vault.
    pub fn new(vault: Vault, auto_lock: Option<Duration>, discovery: crate::discovery::Lazy) -> Daemon {
        let (shutdown, _) = watch::channel(false);
        let established = watch::channel(vault.is_initialized()).0;
        let removed = Mutex::new(crate::removed::stored(&vault));
        Daemon(Arc::new(Shared {
            vault: Mutex::new(vault),
            auto_lock,
            last_used: Mutex::new(Instant::now()),
            failed_unlocks: AtomicU32::new(0),
            unlock_gate: tokio::sync::Mutex::new(()),
            shutdown,
            peers: Arc::new(Peers::default()),
            trust: Arc::new(Trust::default()),
            established,
            wipe: std::sync::atomic::AtomicBool::new(false),
            net: std::sync::OnceLock::new(),
            net_state: watch::channel(NetState::Starting).0,
            discovery,
            offer: Mutex::new(None),
            relay: std::sync::atomic::AtomicBool::new(false),
            lock_changes: watch::channel(0).0,
            removed,
            offer_ended: watch::channel((0, None)).0,
            static_peers: std::sync::OnceLock::new(),
        }))
    }

    /// Makes this daemon a relay (`authd --relay`): it joins a household
    /// only as a relay and never founds one.
    pub fn set_relay(&self, relay: bool) {
        self.0.relay.store(relay, std::sync::atomic::Ordering::Relaxed);
    }

    /// The static peers configured (`--peer`, `config.toml`).
    pub fn set_static_peers(&self, peers: Vec<String>) {
        let _ = self.0.static_peers.set(peers);
    }

    /// Whether it was started as a relay.
    pub fn relay_mode(&self) -> bool {
        self.0.relay.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn vault(&self) -> MutexGuard<'_, Vault> {
        // A panic while holding the lock cannot leave the vault half-written
        // (records are durable before memory changes), so carry on.
        self.0.vault.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until this device has a household. `false` if the daemon stopped first.
    pub async fn established(&self) -> bool {
        let mut rx = self.0.established.subscribe();
        tokio::select! {
            ok = rx.wait_for(|e| *e) => ok.is_ok(),
            _ = self.stopped() => false,
        }
    }

    /// Discovery, started now if it was not (`None` when off).
    pub fn discovery(&self) -> anyhow::Result<Option<Arc<dyn crate::discovery::Discovery>>> {
        self.0.discovery.get()
    }

    /// Peers learned when joining (the sponsor), kept in the vault.
    pub fn learned_peers(&self) -> Vec<String> {
        self.vault().remembered_peers()
    }

    /// Records the running network.
    pub fn set_net(&self, net: Arc<crate::network::Net>) {
        let _ = self.0.net.set(net);
        self.0.net_state.send_replace(NetState::Up);
    }

    /// Records that the network could not start.
    pub fn net_failed(&self) {
        self.0.net_state.send_replace(NetState::Failed);
    }

    /// The running network, waiting up to `limit` for it to start (it starts
    /// just after `init` or `join`). The error says why there is none.
    pub async fn started_net(&self, limit: Duration) -> std::result::Result<Arc<crate::network::Net>, String> {
        let mut rx = self.0.net_state.subscribe();
        let settled = tokio::select! {
            settled = tokio::time::timeout(limit, rx.wait_for(|s| *s != NetState::Starting)) => settled.ok().and_then(|r| r.ok()).map(|s| *s),
            _ = self.stopped() => return Err("the daemon is stopping".into()),
        };
        match (self.net(), settled) {
            (Some(net), _) => Ok(net),
            (None, Some(NetState::Failed)) => {
                Err("the network could not start (authd's log says why), so this device cannot pair".into())
            }
            (None, _) => Err(format!(
                "the network did not start within {}s; check authd's log, then try again",
                limit.as_secs()
            )),
        }
    }

    /// The running network, once started.
    pub fn net(&self) -> Option<Arc<crate::network::Net>> {
        self.0.net.get().cloned()
    }

    /// Whether the data dir is to be deleted at exit (after `leave`).
    pub fn wipe_requested(&self) -> bool {
        self.0.wipe.load(Ordering::SeqCst)
    }

    /// The idle auto-lock, in seconds.
    pub fn auto_lock_secs(&self) -> Option<u64> {
        self.0.auto_lock.map(|d| d.as_secs())
    }

    /// The peer table.
    pub fn peers(&self) -> &Arc<Peers> {
        &self.0.peers
    }

    /// Whom TLS accepts.
    pub fn trust(&self) -> &Arc<Trust> {
        &self.0.trust
    }

    /// Brings `trust` and the peer table up to date with the household.
    pub fn refresh_trust(&self) {
        let vault = self.vault();
        if let Some(me) = vault.device_id() {
            self.0.peers.set_me(me);
        }
        if let Some(household) = vault.ledger().household() {
            self.0.trust.set_members(
                household
                    .current_members()
                    .map(|m| (m.info.transport_key, m.info.device)),
            );
            self.0.trust.set_revoked(
                household
                    .members
                    .values()
                    .filter(|m| m.revoked_after.is_some() && m.forked_at.is_none())
                    .map(|m| (m.info.transport_key, m.info.device)),
            );
            // A revoked (or forked) device loses its open connection at
            // once, not only the next one.
            for member in household.members.values().filter(|m| m.limit().is_some()) {
                self.0.peers.disconnect(&member.info.device, b"revoked");
            }
        }
        drop(vault);
        // The record that removed this device may come by ordinary sync.
        self.check_own_removal();
    }

    /// Runs `f` with this device's transport key, if it has one.
    pub fn with_transport_key<T>(&self, f: impl FnOnce(&authsync_proto::crypto::DeviceKey) -> T) -> Option<T> {
        self.vault().transport_key().map(f)
    }

    /// The household's tag for mDNS, once there is a household.
    pub fn household_tag(&self) -> Option<String> {
        self.vault().ledger().household_id().map(|h| h.tag())
    }

    /// Our side of a sync hello.
    pub fn hello(&self) -> Option<Hello> {
        let vault = self.vault();
        Some(Hello {
            protocol: SYNC_PROTOCOL,
            device: vault.device_id()?,
            household: vault.ledger().household_id()?,
            version_vector: vault.ledger().version_vector().clone(),
            heads: vault.ledger().heads(),
            wall_ms: now_ms(),
        })
    }

    /// New records, as they are admitted.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.vault().subscribe()
    }

    /// The records a peer with version vector `theirs` lacks, in causal order.
    pub fn missing_for(&self, theirs: &BTreeMap<DeviceId, u64>) -> Vec<Record> {
        self.vault().ledger().missing_for(theirs).into_iter().cloned().collect()
    }

    /// Admits records from a peer (off the async threads: it fsyncs).
    pub async fn ingest(
        &self,
        records: Vec<Record>,
        waiting: &mut std::collections::BTreeSet<DeviceId>,
    ) -> anyhow::Result<Ingested> {
        let daemon = self.clone();
        let membership_changed = records.iter().any(|r| !matches!(r.body, Body::Entry(_)));
        let mut held = std::mem::take(waiting);
        let (ingested, held) = tokio::task::spawn_blocking(move || {
            let ingested = daemon.vault().ingest(records, &mut held);
            (ingested, held)
        })
        .await
        .map_err(|e| anyhow::anyhow!("ingest stopped: {e}"))?;
        *waiting = held;
        let ingested = ingested?;
        if membership_changed && !ingested.new.is_empty() || !ingested.forks.is_empty() {
            self.refresh_trust();
        }
        Ok(ingested)
    }

    /// Our record at `id` if `hash` (a peer's) differs from it: evidence to
    /// send that peer.
    pub fn evidence_against(&self, id: RecordId, hash: &authsync_proto::record::RecordHash) -> Option<Record> {
        let vault = self.vault();
        let ours = vault.ledger().get(&id)?;
        (ours.hash() != *hash).then(|| ours.clone())
    }

    /// Where `origin`'s proven fork starts.
    pub fn fork_point(&self, origin: &DeviceId) -> Option<u64> {
        self.vault().ledger().forks().get(origin).copied()
    }

    /// Our record at `id`, to answer evidence a peer sent.
    pub fn record(&self, id: &RecordId) -> Option<Record> {
        self.vault().ledger().get(id).cloned()
    }

    /// Takes evidence of a fork from a peer; keeps it if it holds.
    pub async fn prove_fork(&self, evidence: Record) -> anyhow::Result<bool> {
        let daemon = self.clone();
        let proven = tokio::task::spawn_blocking(move || daemon.vault().prove_fork(&evidence))
            .await
            .map_err(|e| anyhow::anyhow!("fork check stopped: {e}"))??;
        if proven {
            self.refresh_trust();
        }
        Ok(proven)
    }

    /// Tells `watch` streams that the vault locked or unlocked.
    pub(crate) fn lock_changed(&self) {
        self.0.lock_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// What a `watch` stream waits on: new records (local or synced), lock
    /// and unlock, peers coming and going.
    pub fn watcher(&self) -> Watcher {
        Watcher {
            records: self.subscribe(),
            lock: self.0.lock_changes.subscribe(),
            peers: self.0.peers.changes(),
        }
    }

    /// Resolves when a shutdown was requested.
    pub async fn stopped(&self) {
        let mut rx = self.0.shutdown.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Asks the daemon to stop.
    pub fn stop(&self) {
        self.0.shutdown.send_replace(true);
    }

    /// Locks the vault (keys zeroized).
    pub fn lock(&self) {
        self.vault().lock();
        self.lock_changed();
    }

    /// Unlocks a key-file vault at start; passphrase vaults wait for `unlock`.
    pub fn unlock_with_key_file(&self) -> anyhow::Result<()> {
        let mut vault = self.vault();
        if vault.is_initialized() && matches!(vault.kek_source()?, Some(KekSource::KeyFile)) {
            let kek = vault.key_file_kek()?;
            vault.unlock_with(&kek)?;
        }
        Ok(())
    }

    /// Locks the vault after `auto_lock` without requests. Runs until stop.
    pub async fn auto_lock(&self) {
        let Some(idle) = self.0.auto_lock else {
            return self.stopped().await;
        };
        // Sleeps until the moment the vault falls due, not on a fixed tick:
        // an idle daemon wakes once per `idle`, not once a second. After
        // locking it waits a whole `idle`, since no request made after that
        // can fall due sooner; every wake re-reads the last request's time.
        let mut wake = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.stopped() => return,
            }
            let last = *self.0.last_used.lock().unwrap_or_else(|p| p.into_inner());
            let due = last + idle;
            let now = Instant::now();
            if now < due {
                wake = tokio::time::Instant::from_std(due);
                continue;
            }
            let mut vault = self.vault();
            if vault.unlocked().is_some() {
                vault.lock();
                drop(vault);
                self.lock_changed();
                tracing::info!("locked after {}s idle", idle.as_secs());
            }
            wake = tokio::time::Instant::from_std(now + idle);
        }
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request) -> Result<Reply> {
        // The live view asks for `codes` by itself at each period's end: an
        // open, unattended view must not keep the vault unlocked.
        if !matches!(request, Request::Codes) {
            *self.0.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        if crate::removed::refuses(&request) {
            if let Some(e) = self.removed_error() {
                return Err(e);
            }
        }
        match request {
            Request::Init {
                name,
                passphrase,
                person,
            } => self.init(name, passphrase, person).await,
            Request::Reset => self.reset().await,
            Request::PairWait => self.pair_wait().await,
            Request::FindOffer { code, peer } => self.find_offer_for(code, peer).await,
            Request::Pair { ttl_secs } => self.pair(ttl_secs).await,
            Request::Revoke {
                device,
                lost_since_ms,
                preview,
            } => self.revoke(&device, lost_since_ms, preview),
            Request::Leave => self.leave().await,
            Request::Join {
                code,
                peer,
                name,
                passphrase,
                relay,
                person,
            } => self.join(code, peer, name, passphrase, relay, person).await,
            Request::RevokePerson { person } => self.revoke_person(&person),
            Request::CollectionRemove { collection, person } => self.collection_remove(&collection, &person),
            Request::Unshare { query } => self.unshare(&query),
            Request::DeviceRename { device, name } => self.device_rename(&device, &name),
            Request::DeviceSetPerson { device, person } => self.device_set_person(&device, &person),
            Request::Unlock { passphrase } => self.unlock(passphrase).await,
            Request::Reveal { passphrase, query } => self.reveal(passphrase, query).await,
            Request::Shutdown => {
                self.stop();
                Ok(Reply::Done)
            }
            request => self.handle_sync(request),
        }
    }

    fn handle_sync(&self, request: Request) -> Result<Reply> {
        let mut vault = self.vault();
        let vault = &mut *vault;
        match request {
            Request::Status => Ok(self.status(vault)),
            Request::Lock => {
                vault.lock();
                self.lock_changed();
                Ok(Reply::Done)
            }
            Request::Add { entry, collection } => {
                let collection = match collection {
                    Some(name) => handlers::collection_named(vault, &name)?,
                    None => handlers::default_collection(vault)?,
                };
                handlers::add(vault, entry, collection)
            }
            Request::Persons => collections::persons(vault),
            Request::Lend { query, to, for_secs } => crate::lending::lend(vault, &query, &to, for_secs),
            Request::Lent => crate::lending::lent(vault),
            Request::Collections => collections::collections(vault),
            Request::CollectionNew { name, persons } => collections::collection_new(vault, &name, &persons),
            Request::CollectionAdd { collection, person } => collections::collection_add(vault, &collection, &person),
            Request::Share {
                query,
                collection,
                with,
            } => {
                let target = match (collection, with) {
                    (Some(name), None) => handlers::collection_named(vault, &name)?,
                    (None, Some(person)) => collections::pair_collection(vault, &person)?,
                    _ => {
                        return Err(bad(
                            "say where to share it: --with PERSON, --household or --in COLLECTION",
                        ));
                    }
                };
                collections::share(vault, &query, target)
            }
            Request::Code { query, next, previous } => {
                let mut reply = handlers::code(vault, &query, next, previous)?;
                if let Reply::Code(code) = &mut reply {
                    code.clock_skew_ms = self
                        .peers()
                        .worst_skew_ms()
                        .filter(|skew| skew.unsigned_abs() > CLOCK_SKEW_WARNING_MS);
                }
                Ok(reply)
            }
            Request::List { deleted, query, tag } => handlers::list(vault, deleted, query.as_deref(), tag.as_deref()),
            Request::Show { query, deleted } => handlers::show(vault, &query, deleted),
            Request::Rename { query, issuer, account } => handlers::edit(vault, &query, Scope::Live, |body| {
                if issuer.is_none() && account.is_none() {
                    return Err(bad("give a new --issuer or --account"));
                }
                if let Some(issuer) = issuer {
                    body.issuer = Some(issuer).filter(|i| !i.is_empty());
                }
                if let Some(account) = account {
                    body.account = account;
                }
                if body.account.trim().is_empty() && body.issuer.as_deref().unwrap_or("").trim().is_empty() {
                    return Err(bad("an entry needs an issuer or an account name"));
                }
                Ok(())
            }),
            Request::Edit {
                query,
                add_tags,
                remove_tags,
                note,
            } => handlers::edit(vault, &query, Scope::Live, |body| {
                body.tags.retain(|t| !remove_tags.contains(t));
                for tag in add_tags {
                    if !body.tags.contains(&tag) {
                        body.tags.push(tag);
                    }
                }
                if let Some(note) = note {
                    body.note = note;
                }
                Ok(())
            }),
            Request::Remove { query } => handlers::edit(vault, &query, Scope::Live, |body| {
                body.deleted = true;
                Ok(())
            }),
            Request::Restore { query } => handlers::restore(vault, &query),
            Request::History { query, deleted } => handlers::history(vault, &query, deleted),
            Request::Rotate { query, otp } => handlers::rotate(vault, &query, &otp),
            Request::Log { limit } => handlers::log(vault, limit),
            Request::Codes => handlers::codes(vault, self.peers().worst_skew_ms()),
            Request::Devices => Ok(self.devices(vault)),
            Request::Exposed { device } => self.exposed(vault, device.as_deref()),
            Request::Dismiss { query, device } => self.dismiss(vault, &query, device.as_deref()),
            Request::Import { entries, collection } => {
                let collection = match collection {
                    Some(name) => handlers::collection_named(vault, &name)?,
                    None => handlers::default_collection(vault)?,
                };
                handlers::import(vault, entries, collection)
            }
            Request::Init { .. }
            | Request::Unlock { .. }
            | Request::Reveal { .. }
            | Request::Shutdown
            | Request::Pair { .. }
            | Request::Revoke { .. }
            | Request::Leave
            | Request::Watch
            | Request::RevokePerson { .. }
            | Request::CollectionRemove { .. }
            | Request::Unshare { .. }
            | Request::DeviceRename { .. }
            | Request::DeviceSetPerson { .. }
            | Request::Reset
            | Request::PairWait
            | Request::FindOffer { .. }
            | Request::Join { .. } => Err(IpcError::new(
                ErrorCode::Internal,
                "request routed to the wrong handler",
            )),
        }
    }

    async fn init(&self, name: String, passphrase: Option<WireSecret>, person: Option<String>) -> Result<Reply> {
        let name = name.trim().to_string();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(bad("a device name is 1 to 64 printable characters"));
        }
        let person = match person {
            Some(person) => person.trim().to_owned(),
            None => login_name(),
        };
        authsync_proto::record::check_name(&person)
            .map_err(|e| bad(&format!("'{person}' is not a person name: {e}; give one with --person")))?;
        if self.relay_mode() {
            return Err(bad(
                "this authd runs as a relay (--relay), which cannot start a household: run `authctl init` on a device, then `authctl join CODE --relay` here",
            ));
        }
        if self.vault().is_initialized() {
            return Err(IpcError::new(
                ErrorCode::AlreadyInitialized,
                "this device already has a household; nothing was changed",
            ));
        }
        let (kek, source) = new_kek(passphrase).await?;
        let mut vault = self.vault();
        if vault.is_initialized() {
            return Err(IpcError::new(
                ErrorCode::AlreadyInitialized,
                "this device already has a household",
            ));
        }
        vault.init(&name, &person, kek, source).map_err(internal)?;
        tracing::info!(device = %vault.device_id().map(|d| d.short()).unwrap_or_default(), "household started");
        let reply = self.status(&vault);
        drop(vault);
        self.0.established.send_replace(true);
        Ok(reply)
    }

    async fn unlock(&self, passphrase: Option<WireSecret>) -> Result<Reply> {
        let _gate = self.0.unlock_gate.lock().await;
        let source = {
            let vault = self.vault();
            if !vault.is_initialized() {
                return Err(not_initialized());
            }
            if vault.unlocked().is_some() {
                return Ok(Reply::Done);
            }
            vault.kek_source().map_err(internal)?
        };
        let kek = match source {
            Some(KekSource::Passphrase(params)) => {
                let passphrase = passphrase.ok_or_else(|| bad("this vault needs its passphrase to unlock"))?;
                derive(params, passphrase).await?
            }
            Some(KekSource::KeyFile) => self.vault().key_file_kek().map_err(internal)?,
            None => return Err(not_initialized()),
        };
        let result = self.vault().unlock_with(&kek);
        match result {
            Ok(()) => {
                self.0.failed_unlocks.store(0, Ordering::Relaxed);
                self.lock_changed();
                tracing::info!("unlocked");
                Ok(Reply::Done)
            }
            Err(e) if e.downcast_ref::<WrongKey>().is_some() => {
                let failures = self.0.failed_unlocks.fetch_add(1, Ordering::Relaxed) + 1;
                let delay = Duration::from_millis(250 << failures.min(6)).min(MAX_UNLOCK_DELAY);
                tracing::warn!(failures, "wrong passphrase");
                tokio::time::sleep(delay).await;
                Err(IpcError::new(
                    ErrorCode::WrongPassphrase,
                    format!("wrong passphrase (failed attempt {failures}); try again"),
                ))
            }
            Err(e) => Err(internal(e)),
        }
    }
}

impl Daemon {
    /// `reveal`: checks the passphrase again (through the same gate and
    /// delays as `unlock`), then hands out the secrets.
    async fn reveal(&self, passphrase: Option<WireSecret>, query: Option<String>) -> Result<Reply> {
        let _gate = self.0.unlock_gate.lock().await;
        let source = {
            let vault = self.vault();
            if !vault.is_initialized() {
                return Err(not_initialized());
            }
            if vault.unlocked().is_none() {
                return Err(IpcError::new(
                    ErrorCode::Locked,
                    "the vault is locked; run `authctl unlock`",
                ));
            }
            vault.kek_source().map_err(internal)?
        };
        if let Some(KekSource::Passphrase(params)) = source {
            let passphrase = passphrase.ok_or_else(|| bad("revealing secrets needs the vault passphrase"))?;
            let kek = derive(params, passphrase).await?;
            let checked = self.vault().check_kek(&kek);
            match checked {
                Ok(()) => self.0.failed_unlocks.store(0, Ordering::Relaxed),
                Err(e) if e.downcast_ref::<WrongKey>().is_some() => {
                    let failures = self.0.failed_unlocks.fetch_add(1, Ordering::Relaxed) + 1;
                    let delay = Duration::from_millis(250 << failures.min(6)).min(MAX_UNLOCK_DELAY);
                    tracing::warn!(failures, "wrong passphrase to reveal secrets");
                    tokio::time::sleep(delay).await;
                    return Err(IpcError::new(
                        ErrorCode::WrongPassphrase,
                        format!("wrong passphrase (failed attempt {failures}); nothing was revealed"),
                    ));
                }
                Err(e) => return Err(internal(e)),
            }
        }
        let vault = self.vault();
        let reply = handlers::reveal(&vault, query.as_deref())?;
        if let Reply::Revealed(list) = &reply {
            tracing::info!(entries = list.len(), "revealed secrets");
        }
        Ok(reply)
    }
}

/// A new vault's key-encryption key: from a passphrase, or random for a key file.
pub(crate) async fn new_kek(passphrase: Option<WireSecret>) -> Result<(SymKey, KekSource)> {
    match passphrase {
        Some(passphrase) if passphrase.expose().is_empty() => Err(bad(
            "the passphrase is empty; give one, or use --no-passphrase for a key file",
        )),
        Some(passphrase) => {
            let params = KdfParams::recommended(&mut OsRng);
            let kek = derive(params.clone(), passphrase).await?;
            Ok((kek, KekSource::Passphrase(params)))
        }
        None => Ok((SymKey::generate(&mut OsRng), KekSource::KeyFile)),
    }
}

/// Argon2id off the async threads.
async fn derive(params: KdfParams, passphrase: WireSecret) -> Result<SymKey> {
    tokio::task::spawn_blocking(move || params.derive(passphrase.expose().as_bytes()))
        .await
        .map_err(|e| internal(anyhow::anyhow!("key derivation stopped: {e}")))?
        .map_err(|e| internal(anyhow::anyhow!("key derivation failed: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `pair` just after `init` found the network still starting and failed.
    /// It now waits for the start to settle, and says why when there is none.
    #[tokio::test]
    async fn the_network_is_waited_for_within_a_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let daemon = Daemon::new(
            Vault::open(&tmp.path().join("data")).unwrap(),
            None,
            crate::discovery::Lazy::off(),
        );
        let err = daemon.started_net(Duration::from_millis(50)).await.err().unwrap();
        assert!(err.contains("did not start within"), "{err}");

        // A start that fails while `pair` waits ends the wait, with why.
        let starting = daemon.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            starting.net_failed();
        });
        let err = daemon.started_net(Duration::from_secs(10)).await.err().unwrap();
        assert!(err.contains("could not start"), "{err}");
    }
}
