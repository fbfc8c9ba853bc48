//! HashiCorp Vault / OpenBao transit master keys (getsops/sops `hcvault/keysource.go`).
//!
//! A key is `https://vault.example.com:8200/v1/transit/keys/NAME`: the server address, the
//! transit engine's mount path (`transit`, or deeper like `team/transit`) and the key name.
//! The metadata stanza keeps them apart (`vault_address`, `engine_path`, `key_name`).
//!
//! - wrap: `POST {addr}/v1/{engine}/encrypt/{name}` `{"plaintext": base64(secret)}` →
//!   `data.ciphertext` (`vault:v1:…`) is the `enc`;
//! - unwrap: `POST {addr}/v1/{engine}/decrypt/{name}` `{"ciphertext": enc}` →
//!   `base64(data.plaintext)`.
//!
//! The token is `VAULT_TOKEN`, else the trimmed content of `~/.vault-token`, as the Vault
//! client sops uses finds it; `VAULT_NAMESPACE` is sent as `X-Vault-Namespace`;
//! `VAULT_CACERT` adds trusted CA certificates and `VAULT_SKIP_VERIFY` turns certificate
//! checks off, as in the Vault client. The address comes from the key itself (sops does not
//! use `VAULT_ADDR` for transit keys either).

use std::sync::Arc;

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::http::{self, Refusal, one_line};
use crate::sops::master_keys::env::KeyEnv;
use crate::sops::master_keys::error::{Error, Result};
use crate::sops::master_keys::master::{KeyFuture, MasterKey, Unwrappers};
use crate::sops::{KeyKind, MasterKeyStanza};

/// The token file below `$HOME`.
pub const TOKEN_FILE: &str = ".vault-token";

/// A Vault transit key.
#[derive(Clone, Debug)]
pub struct VaultKey {
    address: String,
    engine_path: String,
    key_name: String,
    uri: String,
    created_at: String,
    env: Arc<KeyEnv>,
}

fn invalid(uri: &str, reason: &str) -> Error {
    Error::InvalidKey {
        kind: "hc_vault",
        id: uri.to_owned(),
        reason: reason.to_owned(),
    }
}

impl VaultKey {
    /// Parses `https://host:port/v1/ENGINE/keys/NAME` (sops `NewMasterKeyFromURI`).
    pub fn from_uri(uri: &str, env: Arc<KeyEnv>) -> Result<Self> {
        let uri = uri.trim();
        let url = reqwest::Url::parse(uri).map_err(|e| invalid(uri, &e.to_string()))?;
        if url.cannot_be_a_base() || url.host_str().is_none() {
            return Err(invalid(
                uri,
                "missing scheme or host (like https://vault.example.com:8200/v1/transit/keys/NAME)",
            ));
        }
        let (engine_path, key_name) = engine_and_key(url.path()).map_err(|r| invalid(uri, r))?;
        let mut address = url.clone();
        address.set_path("");
        address.set_query(None);
        let address = address.as_str().trim_end_matches('/').to_owned();
        Ok(Self::new(&address, &engine_path, &key_name, env))
    }

    /// A key from its parts, created now.
    pub fn new(address: &str, engine_path: &str, key_name: &str, env: Arc<KeyEnv>) -> Self {
        Self {
            uri: format!("{address}/v1/{engine_path}/keys/{key_name}"),
            address: address.to_owned(),
            engine_path: engine_path.to_owned(),
            key_name: key_name.to_owned(),
            created_at: crate::sops::master_keys::now_rfc3339(),
            env,
        }
    }

    /// The key an `hc_vault` stanza names (its `created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza, env: Arc<KeyEnv>) -> Result<Self> {
        let field = |name| stanza.field(name).unwrap_or_default();
        let mut key = Self::new(
            field("vault_address"),
            field("engine_path"),
            field("key_name"),
            env,
        );
        if key.address.is_empty() || key.key_name.is_empty() {
            return Err(invalid(&key.uri, "stanza lacks vault_address or key_name"));
        }
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        Ok(key)
    }

    fn label(&self) -> String {
        format!("hc_vault key {}", self.uri)
    }

    fn token(&self) -> Option<SecretString> {
        if let Some(token) = self.env.secret("VAULT_TOKEN") {
            return Some(token);
        }
        let path = self.env.home()?.join(TOKEN_FILE);
        let text = Zeroizing::new(fs_err::read_to_string(path).ok()?);
        let token = text.trim();
        (!token.is_empty()).then(|| SecretString::from(token.to_owned()))
    }

    async fn call(
        &self,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<(serde_json::Value, String)> {
        let endpoint = format!(
            "{}/v1/{}/{operation}/{}",
            self.address, self.engine_path, self.key_name
        );
        let label = self.label();
        let token = self.token();
        let ca_file = self.env.get("VAULT_CACERT");
        let insecure = self
            .env
            .get("VAULT_SKIP_VERIFY")
            .is_some_and(|v| matches!(v, "1" | "true" | "TRUE" | "True" | "t" | "T"));
        let client = if ca_file.is_some() || insecure {
            http::client_with_tls(&label, ca_file, insecure)?
        } else {
            http::client().clone()
        };
        let mut request = client.post(&endpoint).json(&body);
        if let Some(token) = &token {
            request = request.header("X-Vault-Token", token.expose_secret());
        }
        if let Some(namespace) = self.env.get("VAULT_NAMESPACE") {
            request = request.header("X-Vault-Namespace", namespace);
        }
        let answer = http::send(&label, &endpoint, request).await?;
        if !answer.ok() {
            let mut message = vault_message(&answer.body);
            if matches!(answer.status, 401 | 403) && token.is_none() {
                message.push_str(&format!(
                    " (no token: VAULT_TOKEN is unset and ~/{TOKEN_FILE} is missing)"
                ));
            }
            let refusal =
                if answer.status == 400 && operation == "decrypt" && is_wrong_key(&message) {
                    Refusal::WrongKey
                } else {
                    Refusal::ByStatus
                };
            return Err(http::refused(
                &label,
                &endpoint,
                answer.status,
                message,
                refusal,
            ));
        }
        Ok((answer.json(&label, &endpoint)?, endpoint))
    }

    async fn encrypt(&self, secret: &[u8]) -> Result<String> {
        let body = serde_json::json!({ "plaintext": crate::encoding::encode_std(secret) });
        let (answer, endpoint) = self.call("encrypt", body).await?;
        Ok(http::str_field(&answer, "/data/ciphertext", &self.label(), &endpoint)?.to_owned())
    }

    async fn decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>> {
        let (answer, endpoint) = self
            .call("decrypt", serde_json::json!({ "ciphertext": enc }))
            .await?;
        let label = self.label();
        let plaintext = http::str_field(&answer, "/data/plaintext", &label, &endpoint)?;
        http::decode_b64(plaintext, "data.plaintext", &label, &endpoint)
    }
}

/// The engine path and key name of `/v1/ENGINE…/keys/NAME` (sops `engineAndKeyFromPath`).
fn engine_and_key(path: &str) -> std::result::Result<(String, String), &'static str> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let versioned = parts
        .first()
        .and_then(|v| v.strip_prefix('v'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !versioned {
        if parts.iter().skip(1).any(|p| {
            p.strip_prefix('v')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }) {
            return Err(
                "a Vault address with a path prefix is not supported (like https://vault.example.com:8200/v1/transit/keys/NAME)",
            );
        }
        return Err(
            "the path is not /v1/ENGINE/keys/NAME (like https://vault.example.com:8200/v1/transit/keys/NAME)",
        );
    }
    if parts.len() < 4 || parts.iter().any(|p| p.is_empty()) {
        return Err(
            "the path is not /v1/ENGINE/keys/NAME (like https://vault.example.com:8200/v1/transit/keys/NAME)",
        );
    }
    let key = parts[parts.len() - 1].to_owned();
    let engine = parts[1..parts.len() - 2].join("/");
    Ok((engine, key))
}

/// Vault's `{"errors": ["…"]}` as one line.
fn vault_message(body: &str) -> String {
    let parsed: Option<Vec<String>> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errors")?.as_array().map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
        });
    match parsed {
        Some(errors) if !errors.is_empty() => one_line(&errors.join("; ")),
        _ => one_line(body),
    }
}

fn is_wrong_key(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("message authentication failed")
        || m.contains("invalid ciphertext")
        || m.contains("invalid key version")
        || m.contains("unable to decode")
}

impl MasterKey for VaultKey {
    fn kind(&self) -> KeyKind {
        KeyKind::HcVault
    }

    fn id(&self) -> &str {
        &self.uri
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::new(
            KeyKind::HcVault,
            &[
                ("vault_address", &self.address),
                ("engine_path", &self.engine_path),
                ("key_name", &self.key_name),
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
    fn uri_splits_into_address_engine_and_key_like_sops() {
        let key = VaultKey::from_uri(
            "https://vault.example.com:8200/v1/team/transit/keys/sops",
            Arc::default(),
        )
        .unwrap();
        assert_eq!(key.address, "https://vault.example.com:8200");
        assert_eq!(key.engine_path, "team/transit");
        assert_eq!(key.key_name, "sops");
        assert_eq!(
            key.id(),
            "https://vault.example.com:8200/v1/team/transit/keys/sops"
        );
        let stanza = key.to_stanza("vault:v1:abc");
        let names: Vec<&str> = stanza.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "vault_address",
                "engine_path",
                "key_name",
                "created_at",
                "enc"
            ]
        );
        let back = VaultKey::from_stanza(&stanza, Arc::default()).unwrap();
        assert_eq!(back.id(), key.id());
        assert_eq!(back.created_at, key.created_at);
    }

    #[test]
    fn malformed_uris_are_refused_with_the_expected_shape() {
        for bad in [
            "vault.example.com/v1/transit/keys/k",
            "https://vault.example.com/transit/keys/k",
            "https://vault.example.com/prefix/v1/transit/keys/k",
            "https://vault.example.com/v1/keys/k",
        ] {
            let err = VaultKey::from_uri(bad, Arc::default()).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid hc_vault key `{bad}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn token_comes_from_the_env_then_the_token_file() {
        let home = tempfile::tempdir().unwrap();
        fs_err::write(home.path().join(TOKEN_FILE), "  s.fromfile\n").unwrap();
        let env = KeyEnv::from_vars([("HOME", home.path().to_str().unwrap())]);
        let key = VaultKey::new("http://v", "transit", "k", Arc::new(env.clone()));
        assert_eq!(key.token().unwrap().expose_secret(), "s.fromfile");
        let mut with_var = env;
        with_var.set("VAULT_TOKEN", "s.fromenv");
        let key = VaultKey::new("http://v", "transit", "k", Arc::new(with_var));
        assert_eq!(key.token().unwrap().expose_secret(), "s.fromenv");
    }
}
