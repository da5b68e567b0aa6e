//! authsync's pure core: the data model, its crypto, the merge of concurrent
//! edits, otpauth parsing and the IPC messages. No sockets, no files, no clock
//! reads: time and randomness are passed in, so every rule here is testable
//! without a daemon.
#![warn(missing_docs)]

pub mod authority;
pub mod crypto;
pub mod entries;
pub mod hlc;
pub mod ids;
pub mod import;
pub mod ipc;
pub mod ledger;
pub mod lend;
pub mod otp;
pub mod otpauth;
pub mod pairing;
mod par;
pub mod paths;
pub mod query;
pub mod record;
pub mod wire;
mod words;
