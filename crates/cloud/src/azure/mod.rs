//! Azure: tokens from `azure_identity` and the Key Vault master key.

pub mod credentials;
mod key_vault;

pub use credentials::{AzureIdentity, access_token, default_chain};
pub use key_vault::AzureKvKey;
