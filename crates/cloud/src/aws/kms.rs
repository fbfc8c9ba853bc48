//! AWS KMS master keys (getsops/sops `kms/keysource.go`).
//!
//! - wrap: `TrentService.Encrypt` `{KeyId, Plaintext, EncryptionContext}` → the `enc` is
//!   `CiphertextBlob` (standard base64);
//! - unwrap: `TrentService.Decrypt` `{KeyId, CiphertextBlob, EncryptionContext}` → `Plaintext`.
//!
//! Requests are AWS JSON 1.1, signed with SigV4 for the ARN's region. The endpoint is
//! `AWS_ENDPOINT_URL_KMS`, else `AWS_ENDPOINT_URL`, else `https://kms.REGION.amazonaws.com`.
//! Credentials come from the SDKs' default chain ([`super::credentials`]) over the key's
//! environment, with the key's `aws_profile`; a `+ROLE_ARN` is assumed on top through STS
//! (session `sops@HOST`, 15 minutes, as sops).

use std::sync::Arc;
use std::time::Duration;

use sealer::sops::master_keys::{
    AwsKmsKeyRef, Error, KeyEnv, KeyFuture, MasterKey, Result, Unwrappers,
};
use sealer::sops::{KeyKind, MasterKeyStanza};
use zeroize::Zeroizing;

use super::credentials::{AssumeRole, AwsIdentity, AwsSession, sops_session_name};
use super::{Credentials, endpoint_url, signing};
use crate::env::EnvSnapshot;
use crate::master_keys::call::{self, Refusal};
use crate::master_keys::on_runtime;

/// An AWS KMS key with the environment its credentials come from.
#[derive(Clone, Debug)]
pub struct AwsKmsKey {
    key: AwsKmsKeyRef,
    env: Arc<KeyEnv>,
    http: Option<reqwest::Client>,
}

impl AwsKmsKey {
    /// `key`, with credentials from `env`.
    pub fn new(key: AwsKmsKeyRef, env: Arc<KeyEnv>) -> Self {
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
        format!("kms key {}", self.key.arn())
    }

    fn no_credentials(&self, e: crate::Error) -> Error {
        match e {
            crate::Error::NoCredentials { reason, .. } => Error::NoCredentials {
                key: self.label(),
                reason,
            },
            other => Error::NoCredentials {
                key: self.label(),
                reason: crate::error::error_line(&other),
            },
        }
    }

    async fn credentials(&self, env: &EnvSnapshot) -> Result<Credentials> {
        let http = call::client(&self.label(), self.http.as_ref())?;
        let session = AwsSession::new(self.key.region(), env.clone(), http);
        let identity = AwsIdentity::DefaultChain {
            profile: Some(self.key.aws_profile().to_owned()).filter(|p| !p.is_empty()),
        };
        let roles: Vec<AssumeRole> = if self.key.role().is_empty() {
            Vec::new()
        } else {
            vec![AssumeRole {
                role_arn: self.key.role().to_owned(),
                session_name: sops_session_name(),
                duration: Some(Duration::from_secs(15 * 60)),
                ..AssumeRole::default()
            }]
        };
        session
            .credentials(&identity, &roles)
            .await
            .map_err(|e| self.no_credentials(e))
    }

    async fn call(
        &self,
        target: &str,
        body: &serde_json::Value,
    ) -> Result<(serde_json::Value, String)> {
        let label = self.label();
        let env = EnvSnapshot::from(self.env.as_ref());
        let url =
            endpoint_url(&env, "KMS", "kms", self.key.region()).map_err(|e| Error::InvalidKey {
                kind: "kms",
                id: self.key.arn().to_owned(),
                reason: e.to_string(),
            })?;
        let endpoint = url.to_string();
        let credentials = self.credentials(&env).await?;
        let payload = Zeroizing::new(serde_json::to_vec(body).unwrap_or_default());
        const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
        let target = format!("TrentService.{target}");
        let signed = signing::sign(
            &signing::Request {
                method: "POST",
                url: &url,
                headers: &[("content-type", CONTENT_TYPE), ("x-amz-target", &target)],
                body: &payload,
            },
            &credentials,
            self.key.region(),
            "kms",
            std::time::SystemTime::now(),
        )
        .map_err(|e| self.no_credentials(e))?;
        let mut request = call::client(&label, self.http.as_ref())?
            .post(url)
            .header("content-type", CONTENT_TYPE)
            .header("x-amz-target", &target)
            .body(payload.to_vec());
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let answer = call::send(&label, &endpoint, request).await?;
        if answer.ok() {
            return Ok((answer.json(&label, &endpoint)?, endpoint));
        }
        // `__type` may carry a namespace: `com.amazonaws.kms#AccessDeniedException`.
        let (code, _) = call::error_message(&answer.body, &["/__type"], &[]);
        let code = code.rsplit('#').next().unwrap_or_default();
        let (_, text) = call::error_message(&answer.body, &[], &["/message", "/Message"]);
        let message = if code.is_empty() {
            text
        } else {
            format!("{code}: {text}")
        };
        let refusal = match code {
            "InvalidCiphertextException" | "IncorrectKeyException" => Refusal::WrongKey,
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "ExpiredTokenException"
            | "KMSInvalidStateException"
            | "DisabledException" => Refusal::Denied,
            _ => Refusal::ByStatus,
        };
        Err(call::refused(
            &label,
            &endpoint,
            answer.status,
            message,
            refusal,
        ))
    }

    fn request_body(&self, field: &str, value: &str) -> serde_json::Value {
        let mut body = serde_json::json!({ "KeyId": self.key.arn(), field: value });
        if !self.key.context().is_empty() {
            body["EncryptionContext"] = serde_json::json!(self.key.context());
        }
        body
    }

    async fn encrypt(self, secret: Zeroizing<Vec<u8>>) -> Result<String> {
        let plaintext = Zeroizing::new(sealer::encoding::encode_std(&secret));
        let (answer, endpoint) = self
            .call("Encrypt", &self.request_body("Plaintext", &plaintext))
            .await?;
        let blob = call::str_field(&answer, "/CiphertextBlob", &self.label(), &endpoint)?;
        Ok(blob.to_owned())
    }

    async fn decrypt(self, enc: String) -> Result<Zeroizing<Vec<u8>>> {
        if sealer::encoding::decode_std(&enc).is_err() {
            return Err(Error::WrongKey {
                key: self.label(),
                message: "enc is not base64".into(),
            });
        }
        let (answer, endpoint) = self
            .call("Decrypt", &self.request_body("CiphertextBlob", enc.trim()))
            .await?;
        let label = self.label();
        let plaintext = call::str_field(&answer, "/Plaintext", &label, &endpoint)?;
        call::decode_b64(plaintext, "Plaintext", &label, &endpoint)
    }
}

impl MasterKey for AwsKmsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Kms
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
