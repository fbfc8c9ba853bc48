//! Google Cloud: access tokens from `google-cloud-auth` and the Cloud KMS master key.
//!
//! google-cloud-auth builds its own reqwest client (no transport can be handed in), so its
//! token requests get that crate's timeouts, not [`crate::http`]'s; endpoints still come
//! from the credentials file or the snapshot, never from the process environment.

pub mod credentials;
mod kms;

pub use credentials::{SCOPE, access_token, token_from_json};
pub use kms::GcpKmsKey;
