//! Test support for sealkit's black-box tests: the Kubernetes API-server harness, the conformance
//! files, private sandboxes and helpers.

pub mod binaries;
pub mod deploy;
pub mod fixtures;
pub mod gnupg;
pub mod harness;
pub mod http_server;
pub mod servers;

pub use fixtures::{Sandbox, conformance, conformance_file, pem_lf, replace_in_fixture};
