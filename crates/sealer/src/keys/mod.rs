//! Master keys that wrap a SOPS data key (age, PGP, KMS) and the data key itself.
//!
//! Owned by the sops-cli helper (MasterKey trait, age); `DataKey` lives in `data_key.rs`.

mod data_key;

pub use data_key::DataKey;
