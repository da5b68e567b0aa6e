//! A pairing offer's life around the exchange itself (`pairing.rs`): how it
//! ends (used, expired, cancelled, replaced) for `pair --wait` and the local
//! journal, where a joiner finds it before asking its user for anything
//! (`--peer`, the configured static peers, then mDNS), and the one name
//! rule (no two current members share a name).

use std::net::SocketAddr;

use authsync_proto::ids::DeviceId;
use authsync_proto::ipc::{ErrorCode, IpcError, PairOutcome, Reply};
use authsync_proto::pairing::PairingCode;

use crate::daemon::{Daemon, bad};
use crate::journal::{self, Event};

type Result<T> = std::result::Result<T, IpcError>;

impl Daemon {
    /// A new offer numbered `nameplate` is open: one still open before it
    /// is replaced.
    pub(crate) fn offer_opened(&self, nameplate: u16, ttl_secs: u64, replaced: bool) {
        if replaced {
            self.offer_ended("replaced", None, "the pairing offer was replaced by a new one");
        }
        // A new offer: a `pair --wait` on the old one sees the number change.
        self.0.offer_ended.send_modify(|(offer, outcome)| {
            *offer += 1;
            *outcome = None;
        });
        journal::record(
            &self.vault(),
            Event::new(
                "offer_opened",
                format!("opened pairing offer {nameplate} for {ttl_secs} s"),
            ),
        );
    }

    /// The open offer ended as `outcome` (`joined`, `expired`, `cancelled`,
    /// `replaced`): tells `pair --wait` and the journal.
    pub(crate) fn offer_ended(&self, outcome: &str, joiner: Option<(DeviceId, String)>, what: &str) {
        let mut event = Event::new(&format!("offer_{outcome}"), what);
        if let Some((device, name)) = &joiner {
            event = event.device(device, name.clone());
        }
        journal::record(&self.vault(), event);
        self.0.offer_ended.send_modify(|(_, ended)| {
            *ended = Some(PairOutcome {
                outcome: outcome.to_string(),
                device_name: joiner.as_ref().map(|(_, name)| name.clone()),
                device: joiner.map(|(device, _)| device.to_string()),
            });
        });
    }

    /// The offer admitted the device whose `Member` record leads `welcome`.
    pub(crate) fn offer_used(&self, joiner: DeviceId, name: String) {
        let what = format!("{name} joined with the pairing offer");
        self.offer_ended("joined", Some((joiner, name)), &what);
    }

    /// A wrong code (or a failure once claimed) cancelled the offer.
    pub(crate) fn offer_cancelled(&self, reason: &str) {
        self.offer_ended("cancelled", None, &format!("the pairing offer was cancelled: {reason}"));
    }

    /// `pair --wait`: waits until the open offer ends, and says how.
    pub async fn pair_wait(&self) -> Result<Reply> {
        let mut ended = self.0.offer_ended.subscribe();
        let (offer, done) = ended.borrow().clone();
        if done.is_none() && self.0.offer.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            return Err(IpcError::new(
                ErrorCode::NotFound,
                "no pairing offer is open here; run `authctl pair --wait`",
            ));
        }
        let replaced = PairOutcome {
            outcome: "replaced".into(),
            device_name: None,
            device: None,
        };
        let outcome = tokio::select! {
            seen = ended.wait_for(|(o, done)| *o != offer || done.is_some()) => seen.ok().and_then(|seen| {
                let (o, done) = &*seen;
                if *o == offer { done.clone() } else { Some(replaced) }
            }),
            _ = self.stopped() => None,
        };
        outcome
            .map(Reply::PairOutcome)
            .ok_or_else(|| IpcError::new(ErrorCode::Internal, "authd stopped before the offer ended"))
    }

    /// `join`'s first step: finds the offer `code` names, asking nothing.
    pub async fn find_offer_for(&self, code: String, peer: Option<String>) -> Result<Reply> {
        if self.vault().is_initialized() {
            return Err(IpcError::new(
                ErrorCode::AlreadyInitialized,
                "this device already has a household; `join` is for a new device",
            ));
        }
        let code: PairingCode = code.parse().map_err(|e| bad(&format!("{e}")))?;
        self.locate_offer(code.nameplate, peer.as_deref()).await?;
        Ok(Reply::Done)
    }

    /// Where the offer numbered `nameplate` is open: at `peer` if given,
    /// else at the first configured static peer that has it, else where
    /// mDNS finds it. The error names everywhere it looked.
    pub(crate) async fn locate_offer(&self, nameplate: u16, peer: Option<&str>) -> Result<SocketAddr> {
        let targets: Vec<String> = match peer {
            Some(peer) => vec![peer.to_string()],
            None => self.0.static_peers.get().cloned().unwrap_or_default(),
        };
        let mut tried = Vec::new();
        for target in &targets {
            let addr = match resolve(target).await {
                Ok(addr) => addr,
                Err(e) if peer.is_some() => return Err(e),
                Err(_) => {
                    tried.push(format!("{target}: cannot resolve it"));
                    continue;
                }
            };
            match crate::pairing::probe(addr, nameplate).await {
                Ok(()) => return Ok(addr),
                Err(e) => tried.push(format!("{e:#}")),
            }
        }
        if peer.is_none() && self.0.discovery.get().ok().flatten().is_some() {
            match self.find_offer(nameplate).await {
                Ok(addr) => return Ok(addr),
                Err(e) => tried.push(e.message),
            }
        }
        let looked = if tried.is_empty() {
            "no static peer is configured and mDNS is off".to_string()
        } else {
            tried.join("; ")
        };
        Err(IpcError::new(
            ErrorCode::NotFound,
            format!(
                "reached no device with pairing offer {nameplate} open: {looked}; nothing was asked or written: run `authctl pair` on the other device again and use the new code, or give its address with --peer HOST:PORT"
            ),
        ))
    }

    /// Whether a joiner may be called `name`: not if a current member is
    /// (any case). The error suggests a free name.
    pub(crate) fn check_new_name(&self, name: &str) -> std::result::Result<(), String> {
        let vault = self.vault();
        let Some(household) = vault.ledger().household() else {
            return Ok(());
        };
        let taken: Vec<String> = household
            .current_members()
            .map(|m| m.info.name.to_lowercase())
            .collect();
        if !taken.contains(&name.to_lowercase()) {
            return Ok(());
        }
        let free = (2..)
            .map(|n| format!("{name}-{n}"))
            .find(|candidate| !taken.contains(&candidate.to_lowercase()))
            .unwrap_or_default();
        Err(format!(
            "a device of this household is already called '{name}': join again with --name {free} (the code still works)"
        ))
    }
}

/// The first address `peer` (`host:port`) resolves to.
pub(crate) async fn resolve(peer: &str) -> Result<SocketAddr> {
    tokio::net::lookup_host(peer)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| bad(&format!("cannot resolve the peer address '{peer}'; give HOST:PORT")))
}
