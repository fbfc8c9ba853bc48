#![no_main]
//! Fuzz target `verify_body`: see `sealkit_fuzz::verify_body`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::verify_body(data));
