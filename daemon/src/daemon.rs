//! The daemon: the vault behind one cheap-to-clone handle, the dispatch of
//! requests to their handlers, the unlock gate and the idle auto-lock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use authsync_proto::crypto::{KdfParams, SymKey};
use authsync_proto::ipc::{ErrorCode, IpcError, Reply, Request, WireSecret};
use rand::rngs::OsRng;
use tokio::sync::watch;

use crate::handlers::{self, Scope, internal, not_initialized};
use crate::vault::{KekSource, Vault, WrongKey};

/// The longest a wrong passphrase makes the next attempt wait.
const MAX_UNLOCK_DELAY: Duration = Duration::from_secs(8);

/// Shared daemon state; clone the [`Daemon`] handle to share it.
struct Shared {
    vault: Mutex<Vault>,
    auto_lock: Option<Duration>,
    last_used: Mutex<Instant>,
    failed_unlocks: AtomicU32,
    /// Serializes unlock attempts, so the delay after a wrong passphrase
    /// slows every guesser, not only one connection.
    unlock_gate: tokio::sync::Mutex<()>,
    shutdown: watch::Sender<bool>,
}

/// A handle to the daemon's state.
#[derive(Clone)]
pub struct Daemon(Arc<Shared>);

type Result<T> = std::result::Result<T, IpcError>;

fn bad(message: &str) -> IpcError {
    IpcError::new(ErrorCode::BadRequest, message)
}

impl Daemon {
    /// Wraps an opened vault.
    pub fn new(vault: Vault, auto_lock: Option<Duration>) -> Daemon {
        let (shutdown, _) = watch::channel(false);
        Daemon(Arc::new(Shared {
            vault: Mutex::new(vault),
            auto_lock,
            last_used: Mutex::new(Instant::now()),
            failed_unlocks: AtomicU32::new(0),
            unlock_gate: tokio::sync::Mutex::new(()),
            shutdown,
        }))
    }

    fn vault(&self) -> MutexGuard<'_, Vault> {
        // A panic while holding the lock cannot leave the vault half-written
        // (records are durable before memory changes), so carry on.
        self.0.vault.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let mut tick = tokio::time::interval(Duration::from_secs(1).min(idle));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.stopped() => return,
            }
            let last = *self.0.last_used.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() >= idle {
                let mut vault = self.vault();
                if vault.unlocked().is_some() {
                    vault.lock();
                    tracing::info!("locked after {}s idle", idle.as_secs());
                }
            }
        }
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request) -> Result<Reply> {
        *self.0.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        match request {
            Request::Init { name, passphrase } => self.init(name, passphrase).await,
            Request::Unlock { passphrase } => self.unlock(passphrase).await,
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
            Request::Status => Ok(handlers::status(vault, self.0.auto_lock.map(|d| d.as_secs()))),
            Request::Lock => {
                vault.lock();
                Ok(Reply::Done)
            }
            Request::Add { entry } => handlers::add(vault, entry),
            Request::Code { query, next, previous } => handlers::code(vault, &query, next, previous),
            Request::List { deleted } => handlers::list(vault, deleted),
            Request::Show { query } => handlers::show(vault, &query),
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
            Request::History { query } => handlers::history(vault, &query),
            Request::Rotate { query, otp } => handlers::rotate(vault, &query, &otp),
            Request::Log { limit } => handlers::log(vault, limit),
            Request::Init { .. } | Request::Unlock { .. } | Request::Shutdown => Err(IpcError::new(
                ErrorCode::Internal,
                "request routed to the wrong handler",
            )),
        }
    }

    async fn init(&self, name: String, passphrase: Option<WireSecret>) -> Result<Reply> {
        let name = name.trim().to_string();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(bad("a device name is 1 to 64 printable characters"));
        }
        if self.vault().is_initialized() {
            return Err(IpcError::new(
                ErrorCode::AlreadyInitialized,
                "this device already has a household; nothing was changed",
            ));
        }
        let (kek, source) = match passphrase {
            Some(passphrase) if passphrase.expose().is_empty() => {
                return Err(bad(
                    "the passphrase is empty; give one, or use --no-passphrase for a key file",
                ));
            }
            Some(passphrase) => {
                let params = KdfParams::recommended(&mut OsRng);
                let kek = derive(params.clone(), passphrase).await?;
                (kek, KekSource::Passphrase(params))
            }
            None => (SymKey::generate(&mut OsRng), KekSource::KeyFile),
        };
        let mut vault = self.vault();
        if vault.is_initialized() {
            return Err(IpcError::new(
                ErrorCode::AlreadyInitialized,
                "this device already has a household",
            ));
        }
        vault.init(&name, kek, source).map_err(internal)?;
        tracing::info!(device = %vault.device_id().map(|d| d.short()).unwrap_or_default(), "household started");
        Ok(handlers::status(&vault, self.0.auto_lock.map(|d| d.as_secs())))
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

/// Argon2id off the async threads.
async fn derive(params: KdfParams, passphrase: WireSecret) -> Result<SymKey> {
    tokio::task::spawn_blocking(move || params.derive(passphrase.expose().as_bytes()))
        .await
        .map_err(|e| internal(anyhow::anyhow!("key derivation stopped: {e}")))?
        .map_err(|e| internal(anyhow::anyhow!("key derivation failed: {e}")))
}
