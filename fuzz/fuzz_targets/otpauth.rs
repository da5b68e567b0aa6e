//! Fuzz target `otpauth`: see `authsync_fuzz::otpauth`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authsync_fuzz::otpauth(data));
