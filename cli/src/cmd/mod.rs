//! The commands, one file per family; `app.rs` parses the command line and
//! dispatches here. Each file owns its verbs' arguments and what they do.
//!
//! - `vault`: init, unlock, lock, status, shutdown, log.
//! - `entries`: add, code, list, show, rename, edit, rm, restore, history, rotate.
//! - `devices`: pair, join, devices, revoke, leave, exposed.
//! - `people`: persons, collections, collection, share, unshare, device.
//! - `transfer`: import, export, qr, add --qr, completions, man (only linked
//!   into `authctl-transfer`'s work; see the crate docs).
//!
//! The live view and the clipboard (`view`, `code --copy`) are
//! `authctl-view`'s: `../view.rs` and `../clipboard.rs`.

pub(crate) mod devices;
pub(crate) mod entries;
pub(crate) mod people;
pub(crate) mod transfer;
pub(crate) mod vault;
