#![no_main]
//! Fuzz target `template`: see `sealkit_fuzz::template`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::template(data));
