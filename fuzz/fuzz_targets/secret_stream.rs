#![no_main]
//! Fuzz target `secret_stream`: see `sealkit_fuzz::secret_stream`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sealkit_fuzz::secret_stream(data));
