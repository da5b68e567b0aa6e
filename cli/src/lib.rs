//! `authctl`: the authsync command line. Parses arguments, asks the local
//! daemon, prints. No crypto or storage of its own.
//!
//! Exit codes: 0 ok, 1 failure, 2 bad usage or input, 3 locked, 4 not found
//! or ambiguous, 69 daemon unavailable.
//!
//! Two binaries share this code. `authctl` runs every command but those
//! that read or write files and images of secrets (`import`, `export`,
//! `qr`, `add --qr`, and `completions`); for those it execs
//! `authctl-transfer`, found beside it, with the same arguments. The
//! importers, image codecs and QR code are thus not linked into `authctl`,
//! whose start-up cost (mapping and relocating a binary twice the size) is
//! most of what `authctl code` costs: see BENCHMARKS.md.

#[macro_use]
mod stdout;

mod app;
mod client;
mod cmd;
mod export;
mod import;
mod input;
mod output;
mod qr;

pub(crate) use app::{Exit, call, unexpected};
pub use app::{authctl, authctl_transfer};
