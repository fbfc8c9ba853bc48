//! The network SOPS master keys: sealer's [`RemoteKeys`] seam, filled in.
//!
//! Each key type lives with its cloud ([`crate::aws::AwsKmsKey`], [`crate::gcp::GcpKmsKey`],
//! [`crate::azure::AzureKvKey`], [`crate::vault::VaultTransitKey`]) and does its I/O on the
//! crate's background runtime, so sealer's `block_on` can drive it from any thread.

pub(crate) mod call;

use std::sync::Arc;

use sealer::sops::master_keys::{KeyEnv, MasterKey, RemoteKey, RemoteKeys, Result};

/// Makes sealer's network master keys usable: AWS KMS, GCP Cloud KMS, Azure Key Vault and
/// Vault / OpenBao transit.
#[derive(Clone, Debug, Default)]
pub struct CloudKeys {
    http: Option<reqwest::Client>,
}

impl CloudKeys {
    /// Keys calling their services (and aws-config and azure_identity their token
    /// endpoints) through `client` instead of [`crate::http::shared`]: a client with more
    /// CA certificates, say. Vault keys with `VAULT_CACERT` build their own.
    pub fn with_http_client(client: reqwest::Client) -> Self {
        Self { http: Some(client) }
    }
}

impl RemoteKeys for CloudKeys {
    fn connect(&self, key: RemoteKey, env: Arc<KeyEnv>) -> Result<Box<dyn MasterKey>> {
        let http = self.http.clone();
        Ok(match key {
            RemoteKey::Kms(key) => Box::new(crate::aws::AwsKmsKey::new(key, env).with_http(http)),
            RemoteKey::GcpKms(key) => {
                Box::new(crate::gcp::GcpKmsKey::new(key, env).with_http(http))
            }
            RemoteKey::AzureKv(key) => {
                Box::new(crate::azure::AzureKvKey::new(key, env).with_http(http))
            }
            RemoteKey::HcVault(key) => {
                Box::new(crate::vault::VaultTransitKey::new(key, env).with_http(http))
            }
        })
    }
}

/// Installs [`CloudKeys`] as the process's [`RemoteKeys`] (what a program linking this crate
/// calls once at start). Returns `false` when one was installed already.
pub fn install() -> bool {
    sealer::sops::master_keys::install_remote_keys(Arc::new(CloudKeys::default()))
}

/// Runs a key operation on the crate's runtime (see [`crate::runtime`]); a runtime that
/// cannot start is reported against `key`.
pub(crate) async fn on_runtime<F, T>(key: String, future: F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    match crate::runtime::spawn(future).await {
        Ok(out) => out,
        Err(e) => Err(sealer::sops::master_keys::Error::NoCredentials {
            key,
            reason: e.to_string(),
        }),
    }
}
