//! Peer discovery: how this device announces itself on the LAN and finds the
//! household's other devices. Owns the [`Discovery`] trait and its two
//! implementations: [`Mdns`] (mdns-sd, production) and [`MemoryNetwork`]
//! (in-process, for tests).
//!
//! Invariants:
//! - Discovery is a hint, never proof: a [`Found`] may come from anyone on the
//!   LAN. Who a peer is gets decided by the QUIC handshake (certificate bound
//!   to the device id), never by what it announced.
//! - Input from the network never panics: every TXT value is bounded and
//!   validated ([`txt`]); a bad announcement is skipped with a debug log.
//! - A [`Discovery`] never reports its own device to its own subscribers.
//!
//! Model: iroh `address_lookup.rs` (publish + a stream of results).

mod mdns;
mod memory;
mod txt;

use std::net::SocketAddr;

use authsync_proto::ids::DeviceId;
use tokio::sync::mpsc;

pub use mdns::Mdns;
pub use memory::{MemoryDiscovery, MemoryNetwork};

/// Makes a [`Discovery`] when first needed.
type MakeDiscovery = Box<dyn Fn() -> anyhow::Result<std::sync::Arc<dyn Discovery>> + Send + Sync>;

/// Discovery started on first use, so that a device without a household
/// runs no mDNS responder: it starts when the network does (the device has
/// a household) or when `join` looks for an offer, whichever comes first.
pub struct Lazy {
    make: Option<MakeDiscovery>,
    made: std::sync::Mutex<Option<std::sync::Arc<dyn Discovery>>>,
}

impl Lazy {
    /// Discovery that `make` starts on first use.
    pub fn new(make: impl Fn() -> anyhow::Result<std::sync::Arc<dyn Discovery>> + Send + Sync + 'static) -> Lazy {
        Lazy {
            make: Some(Box::new(make)),
            made: std::sync::Mutex::new(None),
        }
    }

    /// No discovery (`--no-mdns`).
    pub fn off() -> Lazy {
        Lazy {
            make: None,
            made: std::sync::Mutex::new(None),
        }
    }

    /// Whether it was started.
    pub fn started(&self) -> bool {
        self.made.lock().map(|m| m.is_some()).unwrap_or(false)
    }

    /// The discovery, started now if it was not; `None` when off.
    pub fn get(&self) -> anyhow::Result<Option<std::sync::Arc<dyn Discovery>>> {
        let Some(make) = &self.make else {
            return Ok(None);
        };
        let mut made = self
            .made
            .lock()
            .map_err(|_| anyhow::anyhow!("discovery state poisoned"))?;
        if let Some(d) = made.as_ref() {
            return Ok(Some(d.clone()));
        }
        let d = make()?;
        *made = Some(d.clone());
        Ok(Some(d))
    }
}

/// How many [`Found`] a subscriber may have unread before new ones are
/// dropped for it (with a warning). Discovery must never block on a slow
/// reader: mdns-sd closes a browse whose channel fills up.
const SUBSCRIBER_CAPACITY: usize = 256;

/// What this device announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    /// This device.
    pub device: DeviceId,
    /// [`authsync_proto::ids::HouseholdId::tag`]; `None` before joining a household.
    pub household_tag: Option<String>,
    /// The QUIC (UDP) port peers connect to.
    pub port: u16,
    /// The nameplate of an open pairing offer.
    pub pairing: Option<u16>,
}

/// A device seen on the network. Unauthenticated: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The device id it claims.
    pub device: DeviceId,
    /// Its household tag, if it announced one.
    pub household_tag: Option<String>,
    /// The nameplate of its open pairing offer, if any.
    pub pairing: Option<u16>,
    /// Where to reach it, best first (IPv4 before IPv6, loopback last);
    /// never empty.
    pub addrs: Vec<SocketAddr>,
    /// Its sync protocol version (TXT `v`), to compare with
    /// [`authsync_proto::wire::SYNC_PROTOCOL`].
    pub protocol: u32,
}

/// Announcing this device and finding others.
pub trait Discovery: Send + Sync + 'static {
    /// Announces (or re-announces with new content) this device. Idempotent:
    /// publishing the same advert again does nothing.
    fn publish(&self, advert: &Advert) -> anyhow::Result<()>;

    /// A stream of devices found. Repeats are allowed: a device may be
    /// reported again when its addresses or TXT change. A new subscriber is
    /// first told about the devices already known. The stream ends at
    /// [`shutdown`](Self::shutdown).
    fn subscribe(&self) -> mpsc::Receiver<Found>;

    /// Stops announcing (goodbye packets for mDNS) and browsing. Idempotent.
    fn shutdown(&self);
}

/// Sends `found` to every subscriber without waiting; forgets subscribers
/// that hung up. A full subscriber loses this one report (it is a hint: the
/// peer will be reported again when anything about it changes).
fn fan_out(subscribers: &mut Vec<mpsc::Sender<Found>>, found: &Found) {
    subscribers.retain(|tx| match tx.try_send(found.clone()) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(peer = %found.device.short(), "discovery subscriber is full; dropped a report");
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    });
}

/// Locks `mutex`, ignoring poisoning: discovery state stays consistent
/// between statements, so a panic elsewhere leaves nothing half-written.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(n: u8) -> Found {
        Found {
            device: DeviceId([n; 32]),
            household_tag: None,
            pairing: None,
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], 1))],
            protocol: 1,
        }
    }

    #[test]
    fn fan_out_forgets_closed_and_keeps_full_subscribers() {
        let (open, mut open_rx) = mpsc::channel(1);
        let (closed, closed_rx) = mpsc::channel(1);
        drop(closed_rx);
        let mut subscribers = vec![open, closed];
        fan_out(&mut subscribers, &found(1));
        assert_eq!(subscribers.len(), 1);
        // Full: the report is dropped, the subscriber stays.
        fan_out(&mut subscribers, &found(2));
        assert_eq!(subscribers.len(), 1);
        assert_eq!(open_rx.try_recv().ok(), Some(found(1)));
        assert!(open_rx.try_recv().is_err());
    }
}
