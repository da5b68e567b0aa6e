//! authsync's pure core: the data model, its crypto, the merge of concurrent
//! edits, otpauth parsing and the IPC messages. No sockets, no files, no clock
//! reads: time and randomness are passed in, so every rule here is testable
//! without a daemon.
#![warn(missing_docs)]
