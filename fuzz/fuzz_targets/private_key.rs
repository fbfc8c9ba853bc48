#![no_main]
//! Fuzz target `private_key`: see `sealkit_fuzz::private_key`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::private_key(data));
