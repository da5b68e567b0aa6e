//! Fuzz target `signed`: see `authsync_fuzz::signed`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authsync_fuzz::signed(data));
