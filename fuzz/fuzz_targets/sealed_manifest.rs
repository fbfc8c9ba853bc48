#![no_main]
//! Fuzz target `sealed_manifest`: see `sealkit_fuzz::sealed_manifest`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::sealed_manifest(data));
