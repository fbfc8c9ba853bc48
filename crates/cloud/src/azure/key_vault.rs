//! Azure Key Vault master keys (getsops/sops `azkv/keysource.go`), over the Key Vault REST
//! API (`api-version=7.4`).
//!
//! A key is `https://NAME.vault.azure.net/keys/KEY[/VERSION]`; without a version the latest
//! one is looked up (`GET {vault}/keys/{key}`) and written into the metadata, as sops does.
//!
//! - wrap: `POST {vault}/keys/{key}/{version}/encrypt` `{"alg": "RSA-OAEP-256", "value":
//!   base64url(secret)}` → the `enc` is `value` (base64url, no padding);
//! - unwrap: `POST {vault}/keys/{key}/{version}/decrypt` with `enc` as `value`.
//!
//! sops uses the `encrypt`/`decrypt` operations (not `wrapkey`/`unwrapkey`), so the key's
//! access policy or RBAC role must allow encrypt and decrypt; sealkit does the same, and the
//! two produce the same RSA-OAEP-256 ciphertext for RSA keys.
//!
//! The bearer token (scope `https://vault.azure.net/.default`, or the vault's own cloud) comes
//! from [`super::credentials::default_chain`] over the key's environment: client secret,
//! workload identity, managed identity, then the Azure CLI. Vault URLs must be `https://`,
//! except on loopback addresses (for local test servers).

use std::sync::{Arc, OnceLock};

use sealer::sops::master_keys::{
    AzureKvKeyRef, Error, KeyEnv, KeyFuture, MasterKey, Result, Unwrappers,
};
use sealer::sops::{KeyKind, MasterKeyStanza};
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::env::EnvSnapshot;
use crate::master_keys::call::{self, Refusal};
use crate::master_keys::on_runtime;

/// The Key Vault REST API version used.
pub const API_VERSION: &str = "7.4";
/// The key-wrapping algorithm sops uses.
pub const ALGORITHM: &str = "RSA-OAEP-256";

/// An Azure Key Vault key with the environment its token comes from.
#[derive(Clone, Debug)]
pub struct AzureKvKey {
    key: AzureKvKeyRef,
    /// The key at its latest version, once looked up (shared by clones).
    latest: Arc<OnceLock<AzureKvKeyRef>>,
    env: Arc<KeyEnv>,
    http: Option<reqwest::Client>,
}

impl AzureKvKey {
    /// `key`, with its token from `env`.
    pub fn new(key: AzureKvKeyRef, env: Arc<KeyEnv>) -> Self {
        Self {
            key,
            latest: Arc::default(),
            env,
            http: None,
        }
    }

    fn current(&self) -> &AzureKvKeyRef {
        self.latest.get().unwrap_or(&self.key)
    }

    /// The same, calling through `http` when given.
    pub fn with_http(mut self, http: Option<reqwest::Client>) -> Self {
        self.http = http;
        self
    }

    fn label(&self) -> String {
        format!(
            "azure_kv key {}/keys/{}",
            self.key.vault_url(),
            self.key.name()
        )
    }

    /// `https://vault.azure.net/.default` for `NAME.vault.azure.net` (and likewise for the
    /// other clouds); the public cloud's scope for addresses without a vault name.
    fn scope(&self) -> String {
        let host = url::Url::parse(self.key.vault_url())
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        match host.split_once('.') {
            Some((_, rest)) if rest.starts_with("vault.") => format!("https://{rest}/.default"),
            _ => "https://vault.azure.net/.default".to_owned(),
        }
    }

    async fn token(&self) -> Result<SecretString> {
        let label = self.label();
        let http = call::client(&label, self.http.as_ref())?;
        super::credentials::default_chain(
            &EnvSnapshot::from(self.env.as_ref()),
            &self.scope(),
            &http,
        )
        .await
        .map_err(|e| Error::NoCredentials {
            key: label,
            reason: match e {
                crate::Error::NoCredentials { reason, .. } => reason,
                other => crate::error::error_line(&other),
            },
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        token: &SecretString,
    ) -> Result<(serde_json::Value, String)> {
        let label = self.label();
        let endpoint = format!("{}{path}", self.key.vault_url());
        let mut request = call::client(&label, self.http.as_ref())?
            .request(method, &endpoint)
            .query(&[("api-version", API_VERSION)])
            .bearer_auth(token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = call::send(&label, &endpoint, request).await?;
        if answer.ok() {
            return Ok((answer.json(&label, &endpoint)?, endpoint));
        }
        let (_, message) = call::error_message(&answer.body, &["/error/code"], &["/error/message"]);
        let refusal = if answer.status == 400 && path.ends_with("/decrypt") {
            Refusal::WrongKey
        } else {
            Refusal::ByStatus
        };
        Err(call::refused(
            &label,
            &endpoint,
            answer.status,
            message,
            refusal,
        ))
    }

    /// The key version to use: the given one, or the latest (looked up once).
    async fn resolved_version(&self, token: &SecretString) -> Result<String> {
        let version = self.current().version();
        if !version.is_empty() {
            return Ok(version.to_owned());
        }
        let path = format!("/keys/{}", self.key.name());
        let (answer, endpoint) = self.call(reqwest::Method::GET, &path, None, token).await?;
        let kid = call::str_field(&answer, "/key/kid", &self.label(), &endpoint)?;
        let latest = kid
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if latest.is_empty() || latest == self.key.name() {
            return Err(Error::BadResponse {
                key: self.label(),
                endpoint,
                reason: format!("key id `{kid}` has no version"),
            });
        }
        let _ = self.latest.set(self.key.at_version(latest));
        Ok(latest.to_owned())
    }

    async fn encrypt(self, secret: Zeroizing<Vec<u8>>) -> Result<String> {
        let token = self.token().await?;
        let version = self.resolved_version(&token).await?;
        let path = format!("/keys/{}/{version}/encrypt", self.key.name());
        let value = Zeroizing::new(sealer::encoding::encode_url_nopad(&secret));
        let (answer, endpoint) = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(serde_json::json!({ "alg": ALGORITHM, "value": *value })),
                &token,
            )
            .await?;
        let result = call::str_field(&answer, "/value", &self.label(), &endpoint)?;
        let raw = sealer::encoding::decode_url_safe(result).map_err(|_| Error::BadResponse {
            key: self.label(),
            endpoint,
            reason: "`value` is not base64url".into(),
        })?;
        Ok(sealer::encoding::encode_url_nopad(&raw))
    }

    async fn decrypt(self, enc: String) -> Result<Zeroizing<Vec<u8>>> {
        if sealer::encoding::decode_url_safe(&enc).is_err() {
            return Err(Error::WrongKey {
                key: self.label(),
                message: "enc is not base64url".into(),
            });
        }
        let token = self.token().await?;
        let version = self.resolved_version(&token).await?;
        let path = format!("/keys/{}/{version}/decrypt", self.key.name());
        let (answer, endpoint) = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(serde_json::json!({ "alg": ALGORITHM, "value": enc.trim() })),
                &token,
            )
            .await?;
        let value = call::str_field(&answer, "/value", &self.label(), &endpoint)?;
        sealer::encoding::decode_url_safe(value)
            .map(Zeroizing::new)
            .map_err(|_| Error::BadResponse {
                key: self.label(),
                endpoint,
                reason: "`value` is not base64url".into(),
            })
    }
}

impl MasterKey for AzureKvKey {
    fn kind(&self) -> KeyKind {
        KeyKind::AzureKv
    }

    fn id(&self) -> &str {
        self.current().id()
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        self.current().to_stanza(enc)
    }

    fn wrap<'a>(&'a self, secret: &'a [u8]) -> KeyFuture<'a, Result<String>> {
        let this = self.clone();
        let secret = Zeroizing::new(secret.to_vec());
        Box::pin(on_runtime(self.label(), this.encrypt(secret)))
    }

    fn unwrap<'a>(
        &'a self,
        enc: &'a str,
        _with: &'a Unwrappers,
    ) -> KeyFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        let this = self.clone();
        Box::pin(on_runtime(self.label(), this.decrypt(enc.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_follows_the_vaults_cloud() {
        let key =
            |url: &str| AzureKvKey::new(AzureKvKeyRef::from_url(url).unwrap(), Arc::default());
        assert_eq!(
            key("https://myvault.vault.azure.net/keys/sops/0123abcd").scope(),
            "https://vault.azure.net/.default"
        );
        assert_eq!(
            key("https://v.vault.azure.cn/keys/k").scope(),
            "https://vault.azure.cn/.default"
        );
        assert_eq!(
            key("http://127.0.0.1:8443/keys/k/1").scope(),
            "https://vault.azure.net/.default"
        );
    }
}
