#![no_main]
//! Fuzz target `sops_json`: see `sealkit_fuzz::sops_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::sops_json(data));
