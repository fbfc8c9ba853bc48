#![no_main]
//! Fuzz target `sops_dotenv`: see `sealkit_fuzz::sops_dotenv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::sops_dotenv(data));
