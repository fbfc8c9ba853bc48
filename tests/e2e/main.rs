//! One end-to-end test binary for the sealkit binaries.

mod harness;
