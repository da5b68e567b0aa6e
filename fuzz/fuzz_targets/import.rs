//! Fuzz target `import`: see `authsync_fuzz::import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authsync_fuzz::import(data));
