#![no_main]
//! Fuzz target `krm_resource_list`: see `sealkit_fuzz::krm_resource_list`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::krm_resource_list(data));
