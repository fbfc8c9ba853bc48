#![no_main]
//! Fuzz target `age_stanza`: see `sealkit_fuzz::age_stanza`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::age_stanza(data));
