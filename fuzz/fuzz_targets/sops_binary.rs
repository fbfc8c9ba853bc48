#![no_main]
//! Fuzz target `sops_binary`: see `sealkit_fuzz::sops_binary`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::sops_binary(data));
