//! Fuzz target `records`: see `authsync_fuzz::records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authsync_fuzz::records(data));
