//! Bitnami sealed-secrets (`bitnami.com/v1alpha1`), byte-compatible.
//!
//! Follows bitnami-labs/sealed-secrets `pkg/crypto/crypto.go` (the hybrid envelope),
//! `pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go` (labels, scopes, Secret ⇄
//! SealedSecret) and `pkg/crypto/keys.go` (key pairs and certificates).
//!
//! - [`cipher`]: one value in, one blob out: `u16 BE len(rsa) ‖ RSA-OAEP(session key) ‖ AES-GCM`.
//! - [`scope`]: strict / namespace-wide / cluster-wide and the OAEP label each implies.
//! - [`keypair`]: RSA key pairs and self-signed certificates (PEM in and out).
//! - [`model`]: the SealedSecret and Secret manifests.
//! - [`convert`]: Secret → SealedSecret and back.
//! - [`located`]: SealedSecrets found in a file's text, re-sealed by replacing only their
//!   values.
//! - [`wrapped_key`]: a sealing private key kept encrypted under a KMS master key (a SOPS
//!   document).

pub mod cipher;
pub mod convert;
#[cfg(feature = "crd")]
mod crd;
mod error;
pub mod keypair;
pub mod located;
pub mod model;
pub mod scope;
pub mod wrapped_key;

pub use cipher::{SealedBlob, rsa_private_operations, rsa_private_operations_on_this_thread};
pub use convert::{SealOptions, seal_secret, seal_secret_owned, unseal, unseal_reporting_keys};
pub use error::{ConvertError, Error, ItemError, Result};
pub use keypair::{Certificate, PrivateKey, PublicKey};
#[cfg(feature = "crd")]
pub use model::SealedSecret;
pub use model::{
    Condition, ObjectMeta, SealedSecretManifest, SealedSecretSpec, SealedSecretStatus,
    SecretManifest, SecretTemplateSpec,
};
pub use scope::{Label, Scope};
