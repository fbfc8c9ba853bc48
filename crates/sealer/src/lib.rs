//! `sealer` owns every byte format and cipher of sealkit.
//!
//! - [`sealed`]: Bitnami sealed-secrets' hybrid envelope (RSA-OAEP + AES-256-GCM) and the
//!   Secret ⇄ SealedSecret conversion, byte-compatible with `bitnami.com/v1alpha1`.
//! - [`template`]: Go `text/template` + Sprig subset for SealedSecret and ExternalSecret templates.
//! - [`yaml`]: multi-document YAML/JSON streams of Kubernetes objects.
//! - [`krm`]: the KRM function input (`ResourceList`) that `seal render` reads.
//! - [`budget`]: nesting-depth and alias-expansion limits of every parser of repository files.
//! - [`encoding`]: the base64 helpers (the only ones in the workspace).
//! - [`secret`]: zeroizing, redacted containers for plaintext.
//!
//! - [`sops`]: SOPS files and their master keys ([`sops::master_keys`]).
//!
//! No Kubernetes client and no network I/O live here: the network master keys (Vault transit,
//! cloud KMS) are described in [`sops::master_keys::remote`] and made usable by the
//! `sealkit-cloud` crate.
//!
//! # Crate Features
//! - `crd`: `kube::CustomResource` and `JsonSchema` for the SealedSecret type.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod budget;
pub mod encoding;
pub mod krm;
pub mod sealed;
pub mod secret;
pub mod sops;
pub mod template;
pub mod yaml;

pub use secrecy;
