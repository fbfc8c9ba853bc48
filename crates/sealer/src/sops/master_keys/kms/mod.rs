//! Network master keys (feature `kms`): HashiCorp Vault / OpenBao transit, AWS KMS, GCP
//! Cloud KMS and Azure Key Vault, spoken to over their REST APIs with `reqwest` (no cloud
//! SDK). Each follows the getsops/sops key source of the same name (v3.11.0) for the
//! request it sends, the `enc` it stores and the credentials it finds.
//!
//! - [`vault`]: `POST {addr}/v1/{engine}/encrypt/{key}`; token from `VAULT_TOKEN` or
//!   `~/.vault-token`.
//! - [`aws`]: `TrentService.Encrypt`/`Decrypt` signed with SigV4 ([`sigv4`]); credentials from
//!   the environment, `~/.aws`, web identity, `+role` through STS `AssumeRole`.
//! - [`gcp`]: `POST https://cloudkms.googleapis.com/v1/{resource}:encrypt`; OAuth token from
//!   `GOOGLE_OAUTH_ACCESS_TOKEN` or a service-account / authorized-user JSON.
//! - [`azure`]: `POST {vault}/keys/{name}/{version}/encrypt` with `RSA-OAEP-256`; token from
//!   client credentials or workload identity in the environment.
//!
//! Errors name the key and the URL called; tokens and keys never appear in them.

pub mod aws;
mod aws_credentials;
pub mod azure;
pub mod gcp;
mod http;
pub mod sigv4;
pub mod vault;
