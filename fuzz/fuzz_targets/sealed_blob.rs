#![no_main]
//! Fuzz target `sealed_blob`: see `sealkit_fuzz::sealed_blob`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::sealed_blob(data));
