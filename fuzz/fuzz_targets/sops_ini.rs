#![no_main]
//! Fuzz target `sops_ini`: see `sealkit_fuzz::sops_ini`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::sops_ini(data));
