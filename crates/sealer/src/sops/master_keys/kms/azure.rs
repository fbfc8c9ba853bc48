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
//! The bearer token (scope `https://vault.azure.net/.default`, or the vault's own cloud) is
//! found in the order of `DefaultAzureCredential`, less managed identity: client secret
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE` with tenant and client ID), then the Azure CLI
//! (`az account get-access-token`). `AZURE_AUTHORITY_HOST` overrides
//! `https://login.microsoftonline.com/`. Vault URLs must be `https://`, except on loopback
//! addresses (for local test servers).

use std::sync::{Arc, OnceLock};

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::http::{self, Refusal};
use crate::sops::master_keys::env::KeyEnv;
use crate::sops::master_keys::error::{Error, Result};
use crate::sops::master_keys::master::{KeyFuture, MasterKey, Unwrappers};
use crate::sops::{KeyKind, MasterKeyStanza};

/// The Key Vault REST API version used.
pub const API_VERSION: &str = "7.4";
/// The Microsoft Entra ID authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/";
/// The key-wrapping algorithm sops uses.
pub const ALGORITHM: &str = "RSA-OAEP-256";

/// An Azure Key Vault key.
#[derive(Debug)]
pub struct AzureKvKey {
    vault_url: String,
    name: String,
    version: String,
    id: String,
    /// The latest version and the identifier with it, once looked up.
    latest: OnceLock<(String, String)>,
    created_at: String,
    env: Arc<KeyEnv>,
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl AzureKvKey {
    /// Parses `https://VAULT/keys/KEY[/VERSION]` (sops `NewMasterKeyFromURL`).
    pub fn from_url(url: &str, env: Arc<KeyEnv>) -> Result<Self> {
        let url = url.trim();
        let invalid = |reason: &str| Error::InvalidKey {
            kind: "azure_kv",
            id: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (base, rest) = url
            .split_once("/keys/")
            .ok_or_else(|| invalid("not https://VAULT/keys/KEY[/VERSION]"))?;
        let mut parts = rest.split('/');
        let name = parts.next().filter(|n| !n.is_empty());
        let version = parts.next().unwrap_or_default();
        if name.is_none() || parts.next().is_some() {
            return Err(invalid("not https://VAULT/keys/KEY[/VERSION]"));
        }
        Self::new(base, name.unwrap_or_default(), version, env)
    }

    /// A key from its parts, created now. The vault URL must be `https://` (or `http://`
    /// on a loopback address).
    pub fn new(vault_url: &str, name: &str, version: &str, env: Arc<KeyEnv>) -> Result<Self> {
        let id = format!("{vault_url}/keys/{name}/{version}");
        let invalid = |reason: &str| Error::InvalidKey {
            kind: "azure_kv",
            id: id.clone(),
            reason: reason.to_owned(),
        };
        let parsed = reqwest::Url::parse(vault_url).map_err(|e| invalid(&e.to_string()))?;
        let host = parsed.host_str().unwrap_or_default();
        let scheme_ok =
            parsed.scheme() == "https" || (parsed.scheme() == "http" && is_loopback(host));
        if !scheme_ok || host.is_empty() || !matches!(parsed.path(), "" | "/") {
            return Err(invalid("the vault URL must be https://HOST"));
        }
        Ok(Self {
            vault_url: vault_url.trim_end_matches('/').to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            id,
            latest: OnceLock::new(),
            created_at: crate::sops::master_keys::now_rfc3339(),
            env,
        })
    }

    /// The key an `azure_kv` stanza names (`created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza, env: Arc<KeyEnv>) -> Result<Self> {
        let field = |name| stanza.field(name).unwrap_or_default();
        let mut key = Self::new(field("vault_url"), field("name"), field("version"), env)?;
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        Ok(key)
    }

    fn version(&self) -> &str {
        match self.latest.get() {
            Some((version, _)) => version,
            None => &self.version,
        }
    }

    fn label(&self) -> String {
        format!("azure_kv key {}/keys/{}", self.vault_url, self.name)
    }

    /// `https://vault.azure.net/.default` for `NAME.vault.azure.net` (and likewise for the
    /// other clouds); the public cloud's scope for addresses without a vault name.
    fn scope(&self) -> String {
        let host = reqwest::Url::parse(&self.vault_url)
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
        let env = &self.env;
        let authority = env
            .get("AZURE_AUTHORITY_HOST")
            .unwrap_or(DEFAULT_AUTHORITY)
            .trim_end_matches('/');
        let scope = self.scope();
        if let (Some(tenant), Some(client)) =
            (env.get("AZURE_TENANT_ID"), env.get("AZURE_CLIENT_ID"))
        {
            // A client secret, else a federated token (workload identity) proves the client.
            let assertion = match (
                env.get("AZURE_CLIENT_SECRET"),
                env.get("AZURE_FEDERATED_TOKEN_FILE"),
            ) {
                (Some(_), _) => None,
                (None, Some(file)) => Some(Zeroizing::new(fs_err::read_to_string(file).map_err(
                    |e| Error::NoCredentials {
                        key: label.clone(),
                        reason: format!("reading AZURE_FEDERATED_TOKEN_FILE: {e}"),
                    },
                )?)),
                (None, None) => None,
            };
            let proof: Vec<(&str, &str)> = match (&assertion, env.get("AZURE_CLIENT_SECRET")) {
                (Some(jwt), _) => vec![
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", jwt.trim()),
                ],
                (None, Some(secret)) => vec![("client_secret", secret)],
                (None, None) => Vec::new(),
            };
            if !proof.is_empty() {
                let endpoint = format!("{authority}/{tenant}/oauth2/v2.0/token");
                let mut pairs = vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", client),
                    ("scope", scope.as_str()),
                ];
                pairs.extend(proof);
                return http::oauth_token(&label, &endpoint, &pairs).await;
            }
        }
        azure_cli_token(&scope).map_err(|reason| Error::NoCredentials {
            key: label,
            reason: format!(
                "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or \
                 AZURE_FEDERATED_TOKEN_FILE), or log in with `az login` ({reason}; managed \
                 identity is not supported)"
            ),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        token: &SecretString,
    ) -> Result<serde_json::Value> {
        let label = self.label();
        let endpoint = format!("{}{path}", self.vault_url);
        let mut request = http::client()
            .request(method, &endpoint)
            .query(&[("api-version", API_VERSION)])
            .bearer_auth(token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = http::send(&label, &endpoint, request).await?;
        if answer.ok() {
            return answer.json(&label, &endpoint);
        }
        let (_, message) = http::error_message(&answer.body, &["/error/code"], &["/error/message"]);
        let refusal = if answer.status == 400 && path.ends_with("/decrypt") {
            Refusal::WrongKey
        } else {
            Refusal::ByStatus
        };
        Err(http::refused(
            &label,
            &endpoint,
            answer.status,
            message,
            refusal,
        ))
    }

    /// The key version to use: the given one, or the latest (looked up once).
    async fn resolved_version(&self, token: &SecretString) -> Result<String> {
        let version = self.version();
        if !version.is_empty() {
            return Ok(version.to_owned());
        }
        let path = format!("/keys/{}", self.name);
        let answer = self.call(reqwest::Method::GET, &path, None, token).await?;
        let endpoint = format!("{}{path}", self.vault_url);
        let kid = http::str_field(&answer, "/key/kid", &self.label(), &endpoint)?;
        let latest = kid
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if latest.is_empty() || latest == self.name {
            return Err(Error::BadResponse {
                key: self.label(),
                endpoint,
                reason: format!("key id `{kid}` has no version"),
            });
        }
        let id = format!("{}/keys/{}/{latest}", self.vault_url, self.name);
        let _ = self.latest.set((latest.to_owned(), id));
        Ok(latest.to_owned())
    }

    async fn encrypt(&self, secret: &[u8]) -> Result<String> {
        let token = self.token().await?;
        let version = self.resolved_version(&token).await?;
        let path = format!("/keys/{}/{version}/encrypt", self.name);
        let value = Zeroizing::new(crate::encoding::encode_url_nopad(secret));
        let answer = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(serde_json::json!({ "alg": ALGORITHM, "value": *value })),
                &token,
            )
            .await?;
        let endpoint = format!("{}{path}", self.vault_url);
        let result = http::str_field(&answer, "/value", &self.label(), &endpoint)?;
        let raw = crate::encoding::decode_url_safe(result).map_err(|_| Error::BadResponse {
            key: self.label(),
            endpoint,
            reason: "`value` is not base64url".into(),
        })?;
        Ok(crate::encoding::encode_url_nopad(&raw))
    }

    async fn decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>> {
        if crate::encoding::decode_url_safe(enc).is_err() {
            return Err(Error::WrongKey {
                key: self.label(),
                message: "enc is not base64url".into(),
            });
        }
        let token = self.token().await?;
        let version = self.resolved_version(&token).await?;
        let path = format!("/keys/{}/{version}/decrypt", self.name);
        let answer = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(serde_json::json!({ "alg": ALGORITHM, "value": enc.trim() })),
                &token,
            )
            .await?;
        let endpoint = format!("{}{path}", self.vault_url);
        let value = http::str_field(&answer, "/value", &self.label(), &endpoint)?;
        crate::encoding::decode_url_safe(value)
            .map(Zeroizing::new)
            .map_err(|_| Error::BadResponse {
                key: self.label(),
                endpoint,
                reason: "`value` is not base64url".into(),
            })
    }
}

/// A token from the Azure CLI (`az account get-access-token --scope SCOPE`).
fn azure_cli_token(scope: &str) -> std::result::Result<SecretString, String> {
    let out = std::process::Command::new("az")
        .args([
            "account",
            "get-access-token",
            "--output",
            "json",
            "--scope",
            scope,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|_| "`az` is not installed".to_owned())?;
    if !out.status.success() {
        return Err("`az account get-access-token` failed".to_owned());
    }
    let stdout = Zeroizing::new(out.stdout);
    let value: serde_json::Value =
        serde_json::from_slice(&stdout).map_err(|_| "`az` printed no JSON".to_owned())?;
    value
        .get("accessToken")
        .and_then(|t| t.as_str())
        .map(|t| SecretString::from(t.to_owned()))
        .ok_or_else(|| "`az` printed no accessToken".to_owned())
}

impl MasterKey for AzureKvKey {
    fn kind(&self) -> KeyKind {
        KeyKind::AzureKv
    }

    fn id(&self) -> &str {
        match self.latest.get() {
            Some((_, id)) => id,
            None => &self.id,
        }
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::new(
            KeyKind::AzureKv,
            &[
                ("vault_url", &self.vault_url),
                ("name", &self.name),
                ("version", self.version()),
                ("created_at", &self.created_at),
                ("enc", enc),
            ],
        )
    }

    fn wrap<'a>(&'a self, secret: &'a [u8]) -> KeyFuture<'a, Result<String>> {
        Box::pin(self.encrypt(secret))
    }

    fn unwrap<'a>(
        &'a self,
        enc: &'a str,
        _with: &'a Unwrappers,
    ) -> KeyFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        Box::pin(self.decrypt(enc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_vault_name_and_version_like_sops() {
        let key = AzureKvKey::from_url(
            "https://myvault.vault.azure.net/keys/sops/0123abcd",
            Arc::default(),
        )
        .unwrap();
        assert_eq!(key.vault_url, "https://myvault.vault.azure.net");
        assert_eq!(key.name, "sops");
        assert_eq!(key.version(), "0123abcd");
        assert_eq!(key.scope(), "https://vault.azure.net/.default");
        assert_eq!(
            key.id(),
            "https://myvault.vault.azure.net/keys/sops/0123abcd"
        );
        let latest =
            AzureKvKey::from_url("https://v.vault.azure.cn/keys/k", Arc::default()).unwrap();
        assert_eq!(latest.version(), "");
        assert_eq!(latest.scope(), "https://vault.azure.cn/.default");
        let stanza = key.to_stanza("abc");
        let names: Vec<&str> = stanza.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["vault_url", "name", "version", "created_at", "enc"]);
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        assert!(AzureKvKey::from_url("http://v.vault.azure.net/keys/k/1", Arc::default()).is_err());
        assert!(AzureKvKey::from_url("http://127.0.0.1:8443/keys/k/1", Arc::default()).is_ok());
        assert!(AzureKvKey::from_url("https://v/keys/", Arc::default()).is_err());
        assert!(AzureKvKey::from_url("https://v/secrets/k", Arc::default()).is_err());
    }
}
