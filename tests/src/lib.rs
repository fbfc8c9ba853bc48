//! Test support for sealkit's black-box tests: the Kubernetes API-server harness and helpers.

pub mod binaries;
pub mod deploy;
pub mod gnupg;
pub mod harness;
pub mod servers;
