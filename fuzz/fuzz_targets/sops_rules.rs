#![no_main]
//! Fuzz target `sops_rules`: see `sealkit_fuzz::sops_rules`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::sops_rules(data));
