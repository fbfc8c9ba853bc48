//! Azure: tokens from `azure_identity` and the Key Vault master key.

mod assertion;
pub mod credentials;
mod key_vault;

pub use assertion::ClientCertificate;
pub use credentials::{AzureIdentity, access_token, default_chain};
pub use key_vault::AzureKvKey;
