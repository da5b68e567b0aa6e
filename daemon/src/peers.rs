//! The peer table: one sync session per pair of devices, and what is known
//! of each peer (address, last seen, clock skew) for `devices` and `status`.
//!
//! When two devices dial each other at once, both keep the connection that
//! the device with the smaller id initiated, so they agree without talking.
//! A connection that comes later than that always replaces the old one: the
//! peer would not dial if its side of the old one were still alive.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use authsync_proto::ids::DeviceId;

use crate::vault::now_ms;

/// How a session with a peer came about: what `devices` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// This device dialled it after mDNS announced it.
    Mdns,
    /// This device dialled it as a static peer (`--peer`, `peers`).
    Static,
    /// It dialled this device.
    Incoming,
}

impl Via {
    /// Its name in `devices`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Mdns => "mdns",
            Via::Static => "static",
            Via::Incoming => "incoming",
        }
    }
}

/// What is known of one peer.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Its address on the last connection.
    pub addr: SocketAddr,
    /// How the last connection came about.
    pub via: Via,
    /// Whether a session is up.
    pub connected: bool,
    /// When it last said anything, Unix ms.
    pub last_seen_ms: u64,
    /// Its wall clock minus ours when it said hello, ms.
    pub skew_ms: i64,
    /// UDP payload bytes sent to and received from it on the current
    /// connection (QUIC's own count, headers and retransmissions included).
    pub bytes: Option<(u64, u64)>,
}

struct Session {
    id: u64,
    conn: quinn::Connection,
    initiator: DeviceId,
    since: Instant,
}

/// Two connections registered this close together are taken for both
/// devices dialling at once; a later one means the peer lost the first
/// (it crashed or its network changed) before this side noticed.
const SIMULTANEOUS: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Inner {
    next_id: u64,
    sessions: HashMap<DeviceId, Session>,
    seen: HashMap<DeviceId, Seen>,
    /// Per peer, the highest seq of this device's own records written to
    /// its sync stream.
    written: HashMap<DeviceId, u64>,
    /// Origins whose records arrived from a relay since their last direct
    /// session: reached through it.
    relayed: HashSet<DeviceId>,
}

/// The table; share it with `Arc`.
pub struct Peers {
    me: Mutex<Option<DeviceId>>,
    inner: Mutex<Inner>,
    /// Bumped when a session comes up or goes down (`watch` streams).
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            me: Mutex::default(),
            inner: Mutex::default(),
            changes: tokio::sync::watch::channel(0).0,
        }
    }
}

/// Keeps a session registered; unregisters it when dropped.
pub struct SessionGuard {
    peers: Arc<Peers>,
    peer: DeviceId,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut inner = self.peers.lock();
        if inner.sessions.get(&self.peer).is_some_and(|s| s.id == self.id) {
            inner.sessions.remove(&self.peer);
            if let Some(seen) = inner.seen.get_mut(&self.peer) {
                seen.connected = false;
                seen.last_seen_ms = now_ms();
            }
            drop(inner);
            self.peers.changed();
        }
    }
}

impl Peers {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bumped each time a session comes up or goes down.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Sets this device's id (known once it has an identity).
    pub fn set_me(&self, me: DeviceId) {
        *self.me.lock().unwrap_or_else(|p| p.into_inner()) = Some(me);
    }

    /// Registers a session with `peer` on `conn`. `None` if another session
    /// with it is preferred (the caller then closes `conn`).
    pub fn register(
        self: &Arc<Self>,
        peer: DeviceId,
        conn: &quinn::Connection,
        via: Via,
        their_wall_ms: u64,
    ) -> Option<SessionGuard> {
        let dialer = via != Via::Incoming;
        let me = (*self.me.lock().unwrap_or_else(|p| p.into_inner()))?;
        let initiator = if dialer { me } else { peer };
        let preferred = me.min(peer);
        let mut inner = self.lock();
        if let Some(existing) = inner.sessions.get(&peer) {
            let existing_preferred = existing.initiator == preferred;
            if existing_preferred
                && initiator != preferred
                && existing.since.elapsed() < SIMULTANEOUS
                && existing.conn.close_reason().is_none()
            {
                return None;
            }
            existing.conn.close(0u32.into(), b"replaced by another connection");
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.sessions.insert(
            peer,
            Session {
                id,
                conn: conn.clone(),
                initiator,
                since: Instant::now(),
            },
        );
        let now = now_ms();
        inner.relayed.remove(&peer);
        inner.seen.insert(
            peer,
            Seen {
                addr: conn.remote_address(),
                via,
                connected: true,
                last_seen_ms: now,
                skew_ms: i64::try_from(their_wall_ms)
                    .unwrap_or(i64::MAX)
                    .saturating_sub(i64::try_from(now).unwrap_or(i64::MAX)),
                bytes: None,
            },
        );
        drop(inner);
        self.changed();
        Some(SessionGuard {
            peers: self.clone(),
            peer,
            id,
        })
    }

    /// Notes that `peer` said something.
    pub fn seen(&self, peer: &DeviceId) {
        if let Some(seen) = self.lock().seen.get_mut(peer) {
            seen.last_seen_ms = now_ms();
        }
    }

    /// Notes that records of `origin` arrived from a relay.
    pub fn relayed(&self, origin: &DeviceId) {
        self.lock().relayed.insert(*origin);
    }

    /// How `peer` was last reached: its session's way if one is up, else
    /// `relay` if its records came through a relay since, else how its
    /// last session came about.
    pub fn reached(&self, peer: &DeviceId) -> Option<&'static str> {
        let inner = self.lock();
        let seen = inner.seen.get(peer);
        match seen {
            Some(s) if s.connected => Some(s.via.as_str()),
            _ if inner.relayed.contains(peer) => Some("relay"),
            _ => seen.map(|s| s.via.as_str()),
        }
    }

    /// Notes that this device's records up to `seq` were written to `peer`.
    pub fn written(&self, peer: &DeviceId, seq: u64) {
        let mut inner = self.lock();
        let held = inner.written.entry(*peer).or_insert(0);
        *held = (*held).max(seq);
    }

    /// Whether some peer was sent this device's records up to `seq`.
    pub fn any_was_sent(&self, seq: u64) -> bool {
        self.lock().written.values().any(|written| *written >= seq)
    }

    /// Whether a session with `peer` is up.
    pub fn is_connected(&self, peer: &DeviceId) -> bool {
        self.lock().sessions.contains_key(peer)
    }

    /// Everything known, by peer.
    pub fn snapshot(&self) -> HashMap<DeviceId, Seen> {
        let inner = self.lock();
        let mut seen = inner.seen.clone();
        for (peer, session) in &inner.sessions {
            if let Some(s) = seen.get_mut(peer) {
                let stats = session.conn.stats();
                s.bytes = Some((stats.udp_tx.bytes, stats.udp_rx.bytes));
            }
        }
        seen
    }

    /// Closes the session with `peer`, if any.
    pub fn disconnect(&self, peer: &DeviceId, reason: &[u8]) {
        let mut inner = self.lock();
        if let Some(session) = inner.sessions.remove(peer) {
            session.conn.close(0u32.into(), reason);
            if let Some(seen) = inner.seen.get_mut(peer) {
                seen.connected = false;
                seen.last_seen_ms = now_ms();
            }
        }
    }

    /// The largest clock skew among connected peers, ms (signed).
    pub fn worst_skew_ms(&self) -> Option<i64> {
        self.lock()
            .seen
            .values()
            .filter(|s| s.connected)
            .map(|s| s.skew_ms)
            .max_by_key(|skew| skew.unsigned_abs())
    }
}
