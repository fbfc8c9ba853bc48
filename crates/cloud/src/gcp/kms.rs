//! GCP Cloud KMS master keys (getsops/sops `gcpkms/keysource.go`), over the Cloud KMS REST
//! API (`cloudkms.googleapis.com/v1`).
//!
//! A key is a CryptoKey resource ID,
//! `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
//!
//! - wrap: `POST {endpoint}/v1/{resource}:encrypt` `{"plaintext": base64(secret)}` → the
//!   `enc` is `ciphertext` (standard base64, as sops ≥ 3.9 stores it);
//! - unwrap: `POST {endpoint}/v1/{resource}:decrypt` `{"ciphertext": enc}` → `plaintext`.
//!
//! The bearer token comes from [`super::credentials::access_token`] over the key's
//! environment (sops's order, then the metadata server). The endpoint is
//! `SOPS_GCP_KMS_ENDPOINT` (as sops 3.13 reads it) or `https://cloudkms.googleapis.com`.

use std::sync::Arc;

use sealer::sops::master_keys::{
    Error, GcpKmsKeyRef, KeyEnv, KeyFuture, MasterKey, Result, Unwrappers,
};
use sealer::sops::{KeyKind, MasterKeyStanza};
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::env::EnvSnapshot;
use crate::master_keys::call::{self, Refusal};
use crate::master_keys::on_runtime;

/// The public Cloud KMS endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://cloudkms.googleapis.com";

/// A GCP Cloud KMS key with the environment its token comes from.
#[derive(Clone, Debug)]
pub struct GcpKmsKey {
    key: GcpKmsKeyRef,
    env: Arc<KeyEnv>,
    http: Option<reqwest::Client>,
}

impl GcpKmsKey {
    /// `key`, with its token from `env`.
    pub fn new(key: GcpKmsKeyRef, env: Arc<KeyEnv>) -> Self {
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
        format!("gcp_kms key {}", self.key.id())
    }

    fn endpoint(&self) -> String {
        match self.env.get("SOPS_GCP_KMS_ENDPOINT") {
            Some(e) if e.contains("://") => e.trim_end_matches('/').to_owned(),
            Some(e) => format!("https://{}", e.trim_end_matches('/')),
            None => DEFAULT_ENDPOINT.to_owned(),
        }
    }

    async fn token(&self) -> Result<SecretString> {
        super::credentials::access_token(&EnvSnapshot::from(self.env.as_ref()))
            .await
            .map_err(|e| Error::NoCredentials {
                key: self.label(),
                reason: match e {
                    crate::Error::NoCredentials { reason, .. } => reason,
                    other => crate::error::error_line(&other),
                },
            })
    }

    async fn call(
        &self,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<(serde_json::Value, String)> {
        self.key.check()?;
        let label = self.label();
        let endpoint = format!("{}/v1/{}:{operation}", self.endpoint(), self.key.id());
        let token = self.token().await?;
        let request = call::client(&label, self.http.as_ref())?
            .post(&endpoint)
            .bearer_auth(token.expose_secret())
            .json(&body);
        let answer = call::send(&label, &endpoint, request).await?;
        if answer.ok() {
            return Ok((answer.json(&label, &endpoint)?, endpoint));
        }
        let (_, message) =
            call::error_message(&answer.body, &["/error/status"], &["/error/message"]);
        let refusal = if answer.status == 400 && operation == "decrypt" {
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

    async fn encrypt(self, secret: Zeroizing<Vec<u8>>) -> Result<String> {
        let plaintext = Zeroizing::new(sealer::encoding::encode_std(&secret));
        let (answer, endpoint) = self
            .call("encrypt", serde_json::json!({ "plaintext": *plaintext }))
            .await?;
        let ciphertext = call::str_field(&answer, "/ciphertext", &self.label(), &endpoint)?;
        // Normalised to padded standard base64, the form sops stores.
        let raw = call::decode_b64(ciphertext, "ciphertext", &self.label(), &endpoint)?;
        Ok(sealer::encoding::encode_std(&raw))
    }

    async fn decrypt(self, enc: String) -> Result<Zeroizing<Vec<u8>>> {
        if sealer::encoding::decode_std(&enc).is_err() {
            return Err(Error::WrongKey {
                key: self.label(),
                message: "enc is not base64".into(),
            });
        }
        let (answer, endpoint) = self
            .call("decrypt", serde_json::json!({ "ciphertext": enc.trim() }))
            .await?;
        let plaintext = call::str_field(&answer, "/plaintext", &self.label(), &endpoint)?;
        call::decode_b64(plaintext, "plaintext", &self.label(), &endpoint)
    }
}

impl MasterKey for GcpKmsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::GcpKms
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
