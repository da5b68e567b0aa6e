//! A device removed from its household: how it learns it, what it says, and
//! `reset`.
//!
//! A member that a revoked device dials lets its key through TLS for this
//! alone (`Trust::revoked`), and answers on the sync stream with the signed
//! `Revoke` record that removed it ([`Frame::Removed`]) instead of a hello;
//! it reads nothing from it and closes. The removed device believes the
//! record only if it names this device and verifies with the signing key of
//! a device it still counts a current member: a stranger, or a member
//! without that record, cannot make it say so. The `Revoke` may also reach
//! it by ordinary sync; and when the held records hold a `Revoke` of it,
//! they have the last word (a founder that a thief revoked, and that
//! revoked the thief, counts as a member again: seniority). While removed
//! it keeps the news in its `meta` (`local/removed`), says so in `status`,
//! refuses every request that reads or changes entries with that one line,
//! and dials no one. Nothing a peer sends wipes anything: only `authctl
//! reset`, the user's own decision, deletes the data dir.

use std::time::Duration;

use authsync_proto::ids::DeviceId;
use authsync_proto::ipc::{ErrorCode, IpcError, Removed, Reply, Request};
use authsync_proto::record::{Body, Record};
use authsync_proto::wire::Frame;

use crate::daemon::Daemon;
use crate::handlers::not_initialized;
use crate::journal;
use crate::sync::{HELLO_TIMEOUT, write_frame};
use crate::vault::Vault;

const KEY: &str = "removed";

/// The news kept in `vault`, if this device was told it was removed.
pub fn stored(vault: &Vault) -> Option<Removed> {
    vault.local_json(KEY)
}

/// What `record` says of this device, if it is a `Revoke` of `me` signed by
/// a current member of `vault`'s household.
pub fn verify(vault: &Vault, record: &Record) -> Option<Removed> {
    let me = vault.device_id()?;
    let Body::Revoke { device, .. } = &record.body else {
        return None;
    };
    if *device != me {
        return None;
    }
    let household = vault.ledger().household()?;
    let revoker = household.members.get(&record.id.origin)?;
    if !household.is_current_member(&record.id.origin) {
        return None;
    }
    record.verify(&revoker.info.signing_key).ok()?;
    Some(Removed {
        time_ms: record.hlc.ms,
        by: record.id.origin.to_string(),
        by_name: revoker.info.name.clone(),
    })
}

/// Keeps (or with `None`, forgets) the news in `vault`'s meta.
fn keep(vault: &Vault, removed: Option<&Removed>) {
    let written = serde_json::to_vec(&removed)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| vault.set_local(KEY, &bytes));
    if let Err(e) = written {
        tracing::warn!(error = %format!("{e:#}"), "could not keep the removal notice");
    }
}

/// Whether a removed device refuses `request`: everything but looking at
/// its state, log and checklists, locking, exporting what it holds,
/// revoking (a device a thief revoked may revoke the thief: the authority
/// rules decide which stands), stopping and `reset`.
pub fn refuses(request: &Request) -> bool {
    !matches!(
        request,
        Request::Status
            | Request::Revoke { .. }
            | Request::Exposed { .. }
            | Request::Shutdown
            | Request::Reset
            | Request::Lock
            | Request::Unlock { .. }
            | Request::Log { .. }
            | Request::Devices
            | Request::Reveal { .. }
            | Request::Watch
    )
}

impl Daemon {
    /// Set while this device counts itself removed (see the module docs).
    pub fn removed(&self) -> Option<Removed> {
        self.0.removed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The error every refused request gets on a removed device.
    pub fn removed_error(&self) -> Option<IpcError> {
        self.removed().map(|r| IpcError::new(ErrorCode::Revoked, r.message()))
    }

    /// Takes `record`, sent by the member `from` as the reason it will not
    /// sync (or found in the held records): kept if it proves this device
    /// was removed. Whether it did.
    pub fn learn_removed(&self, record: &Record, from: DeviceId) -> bool {
        let vault = self.vault();
        let Some(removed) = verify(&vault, record) else {
            tracing::warn!(peer = %from.short(), "a peer sent a removal notice that does not hold; ignored");
            return false;
        };
        // A revocation this device holds and that no longer counts (a
        // senior member undid a thief's) says nothing.
        if let Some(held) = vault.ledger().get(&record.id) {
            let counts = vault.ledger().household().is_some_and(|h| h.accepts(held.id));
            if !counts {
                return false;
            }
        }
        let mut current = self.0.removed.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_some() {
            return true;
        }
        keep(&vault, Some(&removed));
        journal::record(
            &vault,
            journal::Event::new(
                "removed",
                format!("was told by {} that this device was removed", removed.by_name),
            )
            .device(&removed.by, removed.by_name.clone()),
        );
        tracing::warn!(by = %removed.by_name, "this device was removed from its household; `authctl reset` wipes it");
        *current = Some(removed);
        drop(current);
        drop(vault);
        self.lock_changed();
        true
    }

    /// Brings the news up to date with the held records, which have the
    /// last word when they hold a `Revoke` of this device: one that counts
    /// (it came by ordinary sync before the cut) makes it removed; if none
    /// counts any more (the founder a thief revoked revoked the thief, and
    /// seniority restored her) it is not.
    pub(crate) fn check_own_removal(&self) {
        let Some(me) = self.vault().device_id() else {
            return;
        };
        let revoked = self
            .vault()
            .ledger()
            .household()
            .and_then(|h| h.members.get(&me))
            .is_some_and(|m| m.revoked_after.is_some());
        if !revoked && self.removed().is_none() {
            return;
        }
        if let Some(record) = self.removal_of(&me).filter(|r| r.id.origin != me) {
            self.learn_removed(&record, record.id.origin);
            return;
        }
        let holds_one = {
            let vault = self.vault();
            vault
                .ledger()
                .records()
                .any(|r| r.id.origin != me && matches!(&r.body, Body::Revoke { device, .. } if *device == me))
        };
        if !revoked && holds_one {
            let vault = self.vault();
            keep(&vault, None);
            journal::record(
                &vault,
                journal::Event::new("restored", "this device counts as a member again"),
            );
            *self.0.removed.lock().unwrap_or_else(|p| p.into_inner()) = None;
            tracing::info!("the revocation of this device no longer counts: it is a member again");
        }
    }

    /// The record that revoked `device`, if one that counts is held.
    fn removal_of(&self, device: &DeviceId) -> Option<Record> {
        let vault = self.vault();
        let household = vault.ledger().household()?;
        vault
            .ledger()
            .records()
            .filter(|r| matches!(&r.body, Body::Revoke { device: d, .. } if d == device))
            .find(|r| household.accepts(r.id))
            .cloned()
    }

    /// `reset`: stops the daemon and deletes the data dir once it has.
    pub async fn reset(&self) -> Result<Reply, IpcError> {
        if !self.vault().is_initialized() {
            return Err(not_initialized());
        }
        self.0.wipe.store(true, std::sync::atomic::Ordering::SeqCst);
        let daemon = self.clone();
        tokio::spawn(async move {
            // Let the reply go out first.
            tokio::time::sleep(Duration::from_millis(200)).await;
            daemon.stop();
        });
        tracing::info!("reset: the vault will be deleted");
        Ok(Reply::Done)
    }
}

/// Serves a sync connection from `device`, a revoked member: sends it the
/// record that removed it, reads nothing, and closes.
pub async fn tell(daemon: Daemon, conn: quinn::Connection, device: DeviceId) {
    let Some(record) = daemon.removal_of(&device) else {
        return conn.close(2u32.into(), b"not a member");
    };
    let told = async {
        let (mut send, _recv) = tokio::time::timeout(HELLO_TIMEOUT, conn.accept_bi()).await??;
        write_frame(&mut send, &Frame::Removed(record)).await?;
        send.finish()?;
        anyhow::Ok(())
    };
    match told.await {
        Ok(()) => {
            tracing::info!(peer = %device.short(), "told a revoked device it was removed");
            // It hangs up once it has read it.
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        }
        Err(e) => tracing::debug!(peer = %device.short(), error = %format!("{e:#}"), "could not tell a revoked device"),
    }
    conn.close(2u32.into(), b"revoked");
}
