//! Fuzz target `frame`: see `authsync_fuzz::frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authsync_fuzz::frame(data));
