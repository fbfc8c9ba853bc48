#![no_main]
//! Fuzz target `certificate`: see `sealkit_fuzz::certificate`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::certificate(data));
