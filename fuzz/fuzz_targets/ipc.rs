//! Fuzz target `ipc`: see `authsync_fuzz::ipc`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authsync_fuzz::ipc(data));
