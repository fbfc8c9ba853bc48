#![no_main]
//! Fuzz target `age_identity`: see `sealkit_fuzz::age_identity`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::age_identity(data));
