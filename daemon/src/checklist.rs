//! `exposed --dismiss`: the exposure checklist items a person took off by
//! hand (a site that needs no re-enrolment, an account closed). Kept on
//! this device only (`meta`, never synced), recorded in the local journal,
//! applied when `exposed` and `revoke` build their reports.

use std::collections::BTreeSet;

use authsync_proto::ipc::{ErrorCode, Exposure, IpcError, Reply};

use crate::daemon::Daemon;
use crate::handlers::{self, Scope};
use crate::journal::{self, Event};
use crate::membership::resolve_device;
use crate::vault::Vault;

const KEY: &str = "dismissed";

/// (device id, entry id) pairs taken off the checklist.
pub fn dismissed(vault: &Vault) -> BTreeSet<(String, String)> {
    vault.local_json(KEY).unwrap_or_default()
}

impl Daemon {
    /// Takes the entry `query` names off the checklist of every revoked
    /// device (or of `device`) that has it; replies with the checklists
    /// as they are now.
    pub fn dismiss(&self, vault: &Vault, query: &str, device: Option<&str>) -> Result<Reply, IpcError> {
        let entry = {
            let index = handlers::index(vault)?;
            let found = handlers::resolve(index, query, Scope::All)?;
            (found.id().to_string(), found.view().label())
        };
        let reports = match self.exposed(vault, device)? {
            Reply::Exposure(reports) => reports,
            _ => Vec::new(),
        };
        let on: Vec<&Exposure> = reports
            .iter()
            .filter(|r| r.entries.iter().any(|e| e.entry.id == entry.0))
            .collect();
        if on.is_empty() {
            return Err(IpcError::new(
                ErrorCode::NotFound,
                format!(
                    "{} is on no exposure checklist{}; `authctl exposed` lists them",
                    entry.1,
                    device.map(|d| format!(" of {d}")).unwrap_or_default()
                ),
            ));
        }
        let mut all = dismissed(vault);
        for report in &on {
            all.insert((report.device.clone(), entry.0.clone()));
        }
        let bytes = serde_json::to_vec(&all).map_err(|e| handlers::internal(e.into()))?;
        vault.set_local(KEY, &bytes).map_err(handlers::internal)?;
        for report in &on {
            let mut event = Event::new(
                "exposure_dismissed",
                format!("took {} off the checklist of {}", entry.1, report.device_name),
            )
            .device(&report.device, report.device_name.clone());
            event.entry = Some(entry.0.clone());
            event.entry_label = Some(entry.1.clone());
            journal::record(vault, event);
        }
        let devices = on
            .iter()
            .filter_map(|r| resolve_device(vault, &r.device).ok())
            .collect();
        self.exposure(vault, devices, false)
    }
}
