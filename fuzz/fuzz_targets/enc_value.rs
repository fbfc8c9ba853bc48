#![no_main]
//! Fuzz target `enc_value`: see `sealkit_fuzz::enc_value`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::enc_value(data));
