//! Sealing keys kept wrapped by a KMS master key (opt-in: `--key-wrap-*`).
//!
//! With a master key configured, every new key Secret holds its private key wrapped (see
//! `sealer::sealed::wrapped_key`: the PEM as a SOPS document whose data key the master key
//! wraps), and wrapped key Secrets are unwrapped in memory at start. Plain Bitnami key Secrets
//! are still read (migration; `seal keys wrap` converts them).
//!
//! The controller unwraps only with the master keys it is configured with: a wrapped key
//! names its master key (the Vault address, the KMS key), and sending the controller's
//! credentials wherever a key Secret points would lend its identity to whoever can write one.
//! A key wrapped for another master key is an error naming both, and the keyring then serves
//! no certificate and makes no key (see [`super::Keyring::locked`]).
//!
//! This is the only controller file that names the master-key types (`sealer::sops::master_keys`).

use std::sync::Arc;

use sealer::sealed::wrapped_key::{self, WrappedKey};
use sealer::sops::MasterKeyStanza;
use sealer::sops::master_keys::{DataKey, KeyBuilder, KeyFlags, MasterKey, RemoteKeys, Unwrappers};
use zeroize::Zeroizing;

/// What went wrong wrapping or unwrapping a sealing key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `--key-wrap-*` flags name an unusable master key.
    #[error("invalid --key-wrap master key")]
    Config(#[source] sealer::sops::master_keys::Error),
    /// The key is wrapped but no `--key-wrap-*` master key is configured.
    #[error(
        "the private key is wrapped by {wrapped_by}, and no --key-wrap-* master key is configured"
    )]
    NotConfigured {
        /// The master keys the key Secret names.
        wrapped_by: String,
    },
    /// The key is wrapped for master keys this controller is not configured with.
    #[error(
        "the private key is wrapped by {wrapped_by}, not by a configured master key ({configured})"
    )]
    WrongMasterKey {
        /// The master keys the key Secret names.
        wrapped_by: String,
        /// The configured ones.
        configured: String,
    },
    /// The master key refused or failed to unwrap (or wrap) the data key.
    #[error("master key {key} failed")]
    MasterKey {
        /// The master key.
        key: String,
        /// Its error (names the URL called, never a token).
        #[source]
        source: sealer::sops::master_keys::Error,
    },
    /// What the master key returned is not a data key.
    #[error("master key {key} returned no valid data key")]
    BadDataKey {
        /// The master key.
        key: String,
    },
    /// The wrapped key does not parse or does not open with the unwrapped data key.
    #[error("wrapped private key unusable")]
    Format(#[source] sealer::sealed::Error),
}

/// The configured master keys, comma-separated lists per kind as the flags give them.
#[derive(Debug, Clone, Default)]
pub struct WrapFlags {
    /// `--key-wrap-hc-vault-transit`.
    pub hc_vault_transit: Vec<String>,
    /// `--key-wrap-kms`.
    pub kms: Vec<String>,
    /// `--key-wrap-gcp-kms`.
    pub gcp_kms: Vec<String>,
    /// `--key-wrap-azure-kv`.
    pub azure_kv: Vec<String>,
}

impl WrapFlags {
    /// Whether any master key is named (wrapping is on).
    pub fn any(&self) -> bool {
        [
            &self.hc_vault_transit,
            &self.kms,
            &self.gcp_kms,
            &self.azure_kv,
        ]
        .iter()
        .any(|l| l.iter().any(|k| !k.trim().is_empty()))
    }
}

/// The master keys that wrap new sealing keys and unwrap stored ones.
pub struct KeyWrap {
    keys: Vec<Box<dyn MasterKey>>,
    builder: KeyBuilder,
    unwrappers: Unwrappers,
}

impl std::fmt::Debug for KeyWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWrap")
            .field("keys", &self.describe())
            .finish_non_exhaustive()
    }
}

impl KeyWrap {
    /// The master keys the flags name, with credentials from the process environment
    /// (`VAULT_TOKEN`, `AWS_*`, `GOOGLE_*`, `AZURE_*`); `None` when none is named.
    pub fn from_flags(flags: &WrapFlags) -> Result<Option<Self>, Error> {
        if !flags.any() {
            return Ok(None);
        }
        let join = |l: &[String]| (!l.is_empty()).then(|| l.join(","));
        let key_flags = KeyFlags {
            hc_vault_transit: join(&flags.hc_vault_transit),
            kms: join(&flags.kms),
            gcp_kms: join(&flags.gcp_kms),
            azure_kv: join(&flags.azure_kv),
            ..KeyFlags::default()
        };
        // The cloud clients are handed in explicitly (not the process-wide installed ones),
        // so the controller's wrapping does not depend on what `main` installed.
        let remote: Arc<dyn RemoteKeys> = Arc::new(sealkit_cloud::CloudKeys::default());
        let builder = KeyBuilder::from_process_env().with_remote_keys(remote.clone());
        let keys = builder
            .group_from_flags(&key_flags)
            .map_err(Error::Config)?;
        Ok(Some(Self {
            keys,
            builder,
            unwrappers: Unwrappers::from_process_env().with_remote_keys(remote),
        }))
    }

    /// The configured master keys, for logs and the key list.
    pub fn describe(&self) -> Vec<String> {
        self.keys.iter().map(|k| describe(k.as_ref())).collect()
    }

    /// Wraps a PEM private key under a fresh data key that every configured master key wraps
    /// (any one of them opens it). Returns the `tls.key` bytes.
    pub async fn wrap(&self, pem: &[u8]) -> Result<Vec<u8>, Error> {
        let data_key = DataKey::generate();
        let mut stanzas = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let enc = key
                .wrap(data_key.expose())
                .await
                .map_err(|source| Error::MasterKey {
                    key: describe(key.as_ref()),
                    source,
                })?;
            stanzas.push(key.to_stanza(&enc));
        }
        wrapped_key::wrap(pem, &data_key, vec![stanzas]).map_err(Error::Format)
    }

    /// Unwraps a wrapped `tls.key` with the configured master key it names (the first of
    /// them that answers). Returns the PEM private key.
    pub async fn unwrap(&self, tls_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let wrapped = WrappedKey::parse(tls_key).map_err(Error::Format)?;
        unwrap_with(Some(self), &wrapped).await
    }

    fn configured_for(&self, stanza: &MasterKeyStanza) -> Option<&dyn MasterKey> {
        let named = self.builder.key_for_stanza(stanza).ok()?;
        self.keys
            .iter()
            .find(|k| k.kind() == named.kind() && k.id() == named.id())
            .map(AsRef::as_ref)
    }
}

/// Unwraps `wrapped` with `wrap`'s master keys; a clear error when there are none or none of
/// them is named by the key.
pub async fn unwrap_with(
    wrap: Option<&KeyWrap>,
    wrapped: &WrappedKey,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let stanzas: Vec<&MasterKeyStanza> = wrapped.metadata().key_groups().iter().flatten().collect();
    let wrapped_by = stanzas
        .iter()
        .map(|s| s.identifier())
        .collect::<Vec<_>>()
        .join(", ");
    let Some(wrap) = wrap else {
        return Err(Error::NotConfigured { wrapped_by });
    };
    let mut last = None;
    let mut matched = false;
    for stanza in stanzas {
        let Some(key) = wrap.configured_for(stanza) else {
            continue;
        };
        matched = true;
        match key.unwrap(stanza.enc(), &wrap.unwrappers).await {
            Ok(secret) => {
                let data_key = DataKey::from_slice(&secret)
                    .ok_or_else(|| Error::BadDataKey { key: describe(key) })?;
                return wrapped.open(&data_key).map_err(Error::Format);
            }
            Err(source) => {
                last = Some(Error::MasterKey {
                    key: describe(key),
                    source,
                });
            }
        }
    }
    if !matched {
        return Err(Error::WrongMasterKey {
            wrapped_by,
            configured: wrap.describe().join(", "),
        });
    }
    Err(last.unwrap_or(Error::NotConfigured { wrapped_by }))
}

/// Whether a `tls.key` item holds a wrapped key.
pub fn is_wrapped(tls_key: &[u8]) -> bool {
    wrapped_key::is_wrapped(tls_key)
}

fn describe(key: &dyn MasterKey) -> String {
    format!("{} {}", key.kind().field(), key.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wrapped_key_without_a_configured_master_key_is_a_clear_error() {
        let stanza = MasterKeyStanza::new(
            sealer::sops::KeyKind::HcVault,
            &[
                ("vault_address", "http://127.0.0.1:1"),
                ("engine_path", "transit"),
                ("key_name", "sealkit"),
                ("created_at", "2026-01-01T00:00:00Z"),
                ("enc", "vault:v1:x"),
            ],
        );
        let bytes = wrapped_key::wrap(b"pem", &DataKey::generate(), vec![vec![stanza]]).unwrap();
        let wrapped = WrappedKey::parse(&bytes).unwrap();
        let err = unwrap_with(None, &wrapped).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "the private key is wrapped by http://127.0.0.1:1/v1/transit/keys/sealkit, and no --key-wrap-* master key is configured"
        );
        // Configured with another transit key: named, and no request is sent anywhere.
        let wrap = KeyWrap::from_flags(&WrapFlags {
            hc_vault_transit: vec!["http://127.0.0.1:1/v1/transit/keys/other".into()],
            ..WrapFlags::default()
        })
        .unwrap()
        .unwrap();
        let err = unwrap_with(Some(&wrap), &wrapped)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the private key is wrapped by http://127.0.0.1:1/v1/transit/keys/sealkit, not by a configured master key (hc_vault http://127.0.0.1:1/v1/transit/keys/other)"
        );
    }
}
