//! `authctl`: the authsync command line. Parses arguments, asks the local
//! daemon, prints. No crypto or storage of its own.
//!
//! Exit codes: 0 ok, 1 failure, 2 bad usage or input, 3 locked, 4 not found
//! or ambiguous, 69 daemon unavailable.
//!
//! Three binaries share this code. `authctl` runs every command but those
//! that read or write files and images of secrets (`import`, `export`,
//! `qr`, `add --qr`, `completions` and `man`), for which it execs
//! `authctl-transfer`, and the live view and the clipboard (`authctl`
//! alone or `view`, `code --copy`), for which it execs `authctl-view`; each
//! is found beside it and given the same arguments. The importers, image
//! codecs, QR code, terminal UI and clipboard are thus not linked into
//! `authctl`, whose start-up cost (mapping and relocating a binary twice the
//! size) is most of what `authctl code` costs: see BENCHMARKS.md.

#[macro_use]
mod stdout;

mod app;
mod client;
mod clipboard;
mod cmd;
mod export;
mod import;
mod input;
mod output;
mod qr;
mod revoke;
mod view;

pub(crate) use app::{Exit, call, unexpected};
pub use app::{authctl, authctl_transfer, authctl_view};
