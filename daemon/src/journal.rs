//! The local journal: what happened on this device that no record says
//! (pairing offers opened, used, expired or cancelled; a join; a checklist
//! item dismissed; the news that this device was removed). Kept in the
//! vault's `meta` (never synced), at most [`MAX_EVENTS`], shown by `log`
//! beside the records' events. Names and ids only, never a secret.

use authsync_proto::ipc::LogEvent;
use serde::{Deserialize, Serialize};

use crate::vault::{Vault, now_ms};

/// The journal keeps the newest this many events.
pub const MAX_EVENTS: usize = 1000;
const KEY: &str = "journal";

/// One local event.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Event {
    /// When, Unix ms (this device's clock).
    pub time_ms: u64,
    /// For scripts: `offer_opened`, `offer_used`, `offer_expired`,
    /// `offer_cancelled`, `joined`, `exposure_dismissed`, `removed`.
    pub event: String,
    /// In words.
    pub what: String,
    /// The device concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_device: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_device_name: Option<String>,
    /// The entry concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// Its label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_label: Option<String>,
}

impl Event {
    /// An event of kind `event`, now.
    pub fn new(event: &str, what: impl Into<String>) -> Event {
        Event {
            time_ms: now_ms(),
            event: event.to_string(),
            what: what.into(),
            ..Event::default()
        }
    }

    /// About `device` called `name`.
    pub fn device(mut self, device: impl ToString, name: impl Into<String>) -> Event {
        self.subject_device = Some(device.to_string());
        self.subject_device_name = Some(name.into());
        self
    }
}

/// Every event kept, oldest first. A journal that does not read is empty
/// (it is a convenience, never a reason to fail).
pub fn events(vault: &Vault) -> Vec<Event> {
    vault.local_json(KEY).unwrap_or_default()
}

/// Appends `event` durably; a failure is logged, not returned (the act it
/// records has happened already).
pub fn record(vault: &Vault, event: Event) {
    let mut all = events(vault);
    all.push(event);
    if all.len() > MAX_EVENTS {
        all.drain(..all.len() - MAX_EVENTS);
    }
    let written = serde_json::to_vec(&all)
        .map_err(anyhow::Error::from)
        .and_then(|bytes| vault.set_local(KEY, &bytes));
    if let Err(e) = written {
        tracing::warn!(error = %format!("{e:#}"), "could not write the local journal");
    }
}

/// The journal as `log` events of this device (`record` empty: no record
/// says it), oldest first.
pub fn log_events(vault: &Vault) -> Vec<LogEvent> {
    let me = vault.device_id().map(|d| d.to_string()).unwrap_or_default();
    events(vault)
        .into_iter()
        .map(|e| LogEvent {
            time_ms: e.time_ms,
            device: me.clone(),
            device_name: vault.device_name().map(str::to_string),
            record: String::new(),
            what: e.what,
            event: e.event,
            entry: e.entry,
            entry_label: e.entry_label,
            changes: Vec::new(),
            subject_device: e.subject_device,
            subject_device_name: e.subject_device_name,
            key_number: None,
            sealed_to: None,
        })
        .collect()
}
