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

use std::path::Path;
use std::sync::Arc;

use sealer::sops::master_keys::{
    Error, KeyEnv, KeyFuture, MasterKey, Result, Unwrappers, VaultKeyRef,
};
use sealer::sops::{KeyKind, MasterKeyStanza};
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::http::ClientBuilder;
use crate::master_keys::call::{self, Refusal, one_line};
use crate::master_keys::on_runtime;

/// The token file below `$HOME`.
pub const TOKEN_FILE: &str = ".vault-token";

/// A Vault transit key with the environment its token comes from.
#[derive(Clone, Debug)]
pub struct VaultTransitKey {
    key: VaultKeyRef,
    env: Arc<KeyEnv>,
    http: Option<reqwest::Client>,
}

impl VaultTransitKey {
    /// `key`, with its token and TLS settings from `env`.
    pub fn new(key: VaultKeyRef, env: Arc<KeyEnv>) -> Self {
        Self {
            key,
            env,
            http: None,
        }
    }

    /// The same, calling through `http` when given.
    pub fn with_http(mut self, http: Option<reqwest::Client>) -> Self {
        self.http = http;
        self
    }

    fn label(&self) -> String {
        format!("hc_vault key {}", self.key.id())
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

    /// The shared client, or one that also trusts `VAULT_CACERT` and, with
    /// `VAULT_SKIP_VERIFY`, skips certificate checks (as the Vault client).
    fn client(&self) -> Result<reqwest::Client> {
        let label = self.label();
        let ca_file = self.env.get("VAULT_CACERT");
        let insecure = self
            .env
            .get("VAULT_SKIP_VERIFY")
            .is_some_and(|v| matches!(v, "1" | "true" | "TRUE" | "True" | "t" | "T"));
        if ca_file.is_none() && !insecure {
            return call::client(&label, self.http.as_ref());
        }
        let mut builder = ClientBuilder::new().danger_accept_invalid_certs(insecure);
        let bad = |e: crate::Error| Error::InvalidKey {
            kind: "hc_vault",
            id: self.key.id().to_owned(),
            reason: e.to_string(),
        };
        if let Some(path) = ca_file {
            builder = builder
                .add_ca_file(Path::new(path), &format!("VAULT_CACERT {path}"))
                .map_err(bad)?;
        }
        builder.build().map_err(bad)
    }

    async fn call(
        &self,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<(serde_json::Value, String)> {
        let endpoint = format!(
            "{}/v1/{}/{operation}/{}",
            self.key.address(),
            self.key.engine_path(),
            self.key.key_name()
        );
        let label = self.label();
        let token = self.token();
        let mut request = self.client()?.post(&endpoint).json(&body);
        if let Some(token) = &token {
            request = request.header("X-Vault-Token", token.expose_secret());
        }
        if let Some(namespace) = self.env.get("VAULT_NAMESPACE") {
            request = request.header("X-Vault-Namespace", namespace);
        }
        let answer = call::send(&label, &endpoint, request).await?;
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
            return Err(call::refused(
                &label,
                &endpoint,
                answer.status,
                message,
                refusal,
            ));
        }
        Ok((answer.json(&label, &endpoint)?, endpoint))
    }

    async fn encrypt(self, secret: Zeroizing<Vec<u8>>) -> Result<String> {
        let plaintext = Zeroizing::new(sealer::encoding::encode_std(&secret));
        let body = serde_json::json!({ "plaintext": *plaintext });
        let (answer, endpoint) = self.call("encrypt", body).await?;
        Ok(call::str_field(&answer, "/data/ciphertext", &self.label(), &endpoint)?.to_owned())
    }

    async fn decrypt(self, enc: String) -> Result<Zeroizing<Vec<u8>>> {
        let (answer, endpoint) = self
            .call("decrypt", serde_json::json!({ "ciphertext": enc }))
            .await?;
        let label = self.label();
        let plaintext = call::str_field(&answer, "/data/plaintext", &label, &endpoint)?;
        call::decode_b64(plaintext, "data.plaintext", &label, &endpoint)
    }
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

impl MasterKey for VaultTransitKey {
    fn kind(&self) -> KeyKind {
        KeyKind::HcVault
    }

    fn id(&self) -> &str {
        self.key.id()
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        self.key.to_stanza(enc)
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
    fn token_comes_from_the_env_then_the_token_file() {
        let home = tempfile::tempdir().unwrap();
        fs_err::write(home.path().join(TOKEN_FILE), "  s.fromfile\n").unwrap();
        let env = KeyEnv::from_vars([("HOME", home.path().to_str().unwrap())]);
        let key = VaultKeyRef::new("http://v", "transit", "k");
        let from_file = VaultTransitKey::new(key.clone(), Arc::new(env.clone()));
        assert_eq!(from_file.token().unwrap().expose_secret(), "s.fromfile");
        let mut with_var = env;
        with_var.set("VAULT_TOKEN", "s.fromenv");
        let from_env = VaultTransitKey::new(key, Arc::new(with_var));
        assert_eq!(from_env.token().unwrap().expose_secret(), "s.fromenv");
    }

    #[test]
    fn an_unreadable_vault_cacert_is_an_error_naming_the_key() {
        let env = KeyEnv::from_vars([("VAULT_CACERT", "/nonexistent/ca.pem")]);
        let key =
            VaultTransitKey::new(VaultKeyRef::new("https://v", "transit", "k"), Arc::new(env));
        let err = key.client().unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid hc_vault key `https://v/v1/transit/keys/k`: VAULT_CACERT /nonexistent/ca.pem: "
            ),
            "{err}"
        );
    }
}
