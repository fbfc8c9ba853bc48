//! Master keys that wrap a SOPS data key (age now; PGP and KMS next) and the data key itself.
//!
//! - [`MasterKey`]: wrap a secret into the `enc` string of a metadata entry and unwrap it;
//!   async-capable so network keys fit ([`block_on`] drives local ones).
//! - [`age`]: X25519, post-quantum ([`age_pq`]) and ssh recipients, identities found as sops
//!   finds them.
//! - [`DataKey`]: the 32-byte file key.

pub mod age;
pub mod age_pq;
mod data_key;
mod error;
mod groups;
mod master;

pub use crate::sops::KeyKind;
pub use data_key::DataKey;
pub use error::{Error, Result};
pub use groups::{MasterKeyGroup, master_key_for, master_keys_of, unwrap_data_key, wrap_data_key};
pub use master::{KeyFuture, MasterKey, UnsupportedKey, Unwrappers, block_on};
