//! The authsync daemon's parts, as a library: `authd` (src/main.rs) wires them
//! together, and the end-to-end tests reuse the transport to play hostile or
//! relaying peers.
//!
//! - `vault`, `store`: the vault on disk and in memory.
//! - `daemon`, `handlers`, `membership`, `ipc`: the local IPC server and its requests.
//! - `removed`, `journal`: a device told it was revoked, `reset`; the local log.
//! - `transport`, `network`, `sync`, `pairing`, `peers`, `discovery`: other devices.

pub mod checklist;
pub mod collections;
pub mod config;
pub mod daemon;
pub mod discovery;
pub mod handlers;
pub mod ipc;
pub mod journal;
pub mod lending;
pub mod membership;
pub mod network;
pub mod offers;
pub mod pairing;
pub mod peers;
pub mod removed;
pub mod store;
pub mod sync;
pub mod transport;
pub mod vault;
