//! Master keys that wrap a SOPS data key, and the data key itself.
//!
//! - [`MasterKey`]: wrap a secret into the `enc` string of a metadata entry and unwrap it;
//!   async so network keys fit ([`block_on`] drives them from sync code).
//! - [`age`]: X25519, post-quantum ([`age_pq`]) and ssh recipients, identities found as sops
//!   finds them.
//! - [`pgp`]: OpenPGP keys through the GnuPG keyring (`gpg`), as sops uses them.
//! - [`remote`]: Vault transit, AWS KMS, GCP Cloud KMS and Azure Key Vault keys as sops records
//!   them; a [`RemoteKeys`] implementation (the `sealkit-cloud` crate) makes them usable.
//! - [`KeyBuilder`]: the one place keys are built from flags, `.sops.yaml` and metadata.
//! - [`wrap_data_key`] / [`unwrap_data_key`]: key groups and Shamir's threshold.
//! - [`DataKey`]: the 32-byte file key.

pub mod age;
pub mod age_pq;
mod builder;
mod data_key;
mod env;
mod error;
mod groups;
mod master;
pub mod pgp;
pub mod remote;

pub use crate::sops::KeyKind;
pub use builder::{KeyBuilder, KeyFlags, kms_context};
pub use data_key::DataKey;
pub use env::KeyEnv;
pub use error::{Error, Result};
pub use groups::{
    MasterKeyGroup, master_key_for, master_keys_of, unwrap_data_key, unwrap_data_key_async,
    wrap_data_key, wrap_data_key_async,
};
pub use master::{KeyFuture, MasterKey, UnsupportedKey, Unwrappers, block_on};
pub use remote::{
    AwsKmsKeyRef, AzureKvKeyRef, GcpKmsKeyRef, RemoteKey, RemoteKeys, VaultKeyRef,
    install_remote_keys, installed_remote_keys,
};

/// Now in RFC 3339 UTC with seconds, the `created_at` sops writes.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}
