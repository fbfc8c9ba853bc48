//! Cloud I/O of sealkit: where network code lives, so that `sealer` stays formats and ciphers.
//!
//! - [`http`]: the bounded HTTP client every call here goes through (timeouts, answer caps,
//!   extra CA certificates that fail with an error instead of a panic).
//! - [`aws`]: credentials from `aws-config` (the AWS SDKs' chain: environment, profiles, SSO,
//!   `credential_process`, web identity, ECS/EKS Pod Identity container credentials, IMDSv2),
//!   STS role chaining, SigV4 signing with `aws-sigv4`, `AWS_ENDPOINT_URL*` resolution, and
//!   the AWS KMS master key.
//! - [`gcp`]: access tokens from `google-cloud-auth` (service-account keys, authorized users,
//!   `external_account` workload identity federation, the metadata server) and the Cloud KMS
//!   master key.
//! - [`azure`]: tokens from `azure_identity` (client secret, workload identity, managed
//!   identity, Azure CLI) and the Key Vault master key.
//! - [`vault`]: the Vault / OpenBao transit master key.
//! - [`CloudKeys`]: the [`RemoteKeys`](sealer::sops::master_keys::RemoteKeys) that makes
//!   sealer's network master keys usable; [`install`] makes it the process's.
//!
//! Credentials are read from the environment snapshot a caller passes
//! ([`KeyEnv`](sealer::sops::master_keys::KeyEnv)), never from the process environment
//! behind its back (except where a crate offers no other way, named in each module), and
//! are held in `secrecy` types. Service calls use `reqwest` directly: the cloud SDKs would
//! double the build for four API calls.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod aws;
pub mod azure;
mod env;
mod error;
pub mod gcp;
pub mod http;
mod master_keys;
mod runtime;
pub mod vault;

pub use env::EnvSnapshot;
pub use error::{Error, Result};
pub use master_keys::{CloudKeys, install};
