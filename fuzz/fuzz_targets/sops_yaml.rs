#![no_main]
//! Fuzz target `sops_yaml`: see `sealkit_fuzz::sops_yaml`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::sops_yaml(data));
