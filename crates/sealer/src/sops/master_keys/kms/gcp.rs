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
//! The bearer token comes, as in sops, from `GOOGLE_CREDENTIALS` (a credentials file path or
//! its JSON), then `GOOGLE_OAUTH_ACCESS_TOKEN`, then Application Default Credentials
//! (`GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's
//! `~/.config/gcloud/application_default_credentials.json`). Credentials files of type
//! `service_account` (an RS256-signed JWT exchanged at `token_uri`) and `authorized_user`
//! (a refresh token) are understood; workload-identity federation (`external_account`) and
//! the GCE metadata server are not. The endpoint is `SOPS_GCP_KMS_ENDPOINT` (as sops 3.13
//! reads it) or `https://cloudkms.googleapis.com`.

use std::sync::Arc;

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::http::{self, Refusal};
use crate::sops::master_keys::env::KeyEnv;
use crate::sops::master_keys::error::{Error, Result};
use crate::sops::master_keys::master::{KeyFuture, MasterKey, Unwrappers};
use crate::sops::{KeyKind, MasterKeyStanza};

/// The public Cloud KMS endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://cloudkms.googleapis.com";
/// Google's OAuth 2.0 token endpoint (for `authorized_user` credentials).
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth scope the Cloud KMS client asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A GCP Cloud KMS key.
#[derive(Clone, Debug)]
pub struct GcpKmsKey {
    resource_id: String,
    created_at: String,
    env: Arc<KeyEnv>,
}

impl GcpKmsKey {
    /// A key from its resource ID (spaces removed, as sops does), created now.
    pub fn new(resource_id: &str, env: Arc<KeyEnv>) -> Self {
        Self {
            resource_id: resource_id.chars().filter(|c| *c != ' ').collect(),
            created_at: crate::sops::master_keys::now_rfc3339(),
            env,
        }
    }

    /// The key a `gcp_kms` stanza names (`created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza, env: Arc<KeyEnv>) -> Self {
        let mut key = Self::new(stanza.field("resource_id").unwrap_or_default(), env);
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        key
    }

    fn label(&self) -> String {
        format!("gcp_kms key {}", self.resource_id)
    }

    fn check_resource(&self) -> Result<()> {
        let parts: Vec<&str> = self.resource_id.split('/').collect();
        let shape = [
            "projects",
            "",
            "locations",
            "",
            "keyRings",
            "",
            "cryptoKeys",
            "",
        ];
        let ok = parts.len() == shape.len()
            && parts
                .iter()
                .zip(shape)
                .all(|(part, want)| !part.is_empty() && (want.is_empty() || *part == want));
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidKey {
                kind: "gcp_kms",
                id: self.resource_id.clone(),
                reason: "not projects/P/locations/L/keyRings/R/cryptoKeys/K".into(),
            })
        }
    }

    fn endpoint(&self) -> String {
        match self.env.get("SOPS_GCP_KMS_ENDPOINT") {
            Some(e) if e.contains("://") => e.trim_end_matches('/').to_owned(),
            Some(e) => format!("https://{}", e.trim_end_matches('/')),
            None => DEFAULT_ENDPOINT.to_owned(),
        }
    }

    async fn token(&self) -> Result<SecretString> {
        let label = self.label();
        let no_credentials = |reason: String| Error::NoCredentials {
            key: label.clone(),
            reason,
        };
        if let Some(value) = self.env.get("GOOGLE_CREDENTIALS") {
            let json = if std::path::Path::new(value).is_file() {
                Zeroizing::new(
                    fs_err::read_to_string(value)
                        .map_err(|e| no_credentials(format!("reading GOOGLE_CREDENTIALS: {e}")))?,
                )
            } else {
                Zeroizing::new(value.to_owned())
            };
            return self.token_from_json(&json, "GOOGLE_CREDENTIALS").await;
        }
        if let Some(token) = self.env.secret("GOOGLE_OAUTH_ACCESS_TOKEN") {
            return Ok(token);
        }
        let adc = self
            .env
            .get("GOOGLE_APPLICATION_CREDENTIALS")
            .map(std::path::PathBuf::from)
            .map(|p| (p, "GOOGLE_APPLICATION_CREDENTIALS"))
            .or_else(|| {
                let dir = match self.env.get("CLOUDSDK_CONFIG") {
                    Some(d) => std::path::PathBuf::from(d),
                    None => self.env.home()?.join(".config").join("gcloud"),
                };
                let file = dir.join("application_default_credentials.json");
                file.is_file()
                    .then_some((file, "gcloud application default credentials"))
            });
        let Some((path, source)) = adc else {
            return Err(no_credentials(
                "set GOOGLE_OAUTH_ACCESS_TOKEN, GOOGLE_CREDENTIALS or \
                 GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login` \
                 (the GCE metadata server is not supported)"
                    .into(),
            ));
        };
        let json = Zeroizing::new(
            fs_err::read_to_string(&path)
                .map_err(|e| no_credentials(format!("reading {source}: {e}")))?,
        );
        self.token_from_json(&json, source).await
    }

    async fn token_from_json(&self, json: &str, source: &str) -> Result<SecretString> {
        let label = self.label();
        let bad = |reason: &str| Error::NoCredentials {
            key: label.clone(),
            reason: format!("{source}: {reason}"),
        };
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|_| bad("not a credentials JSON"))?;
        let field = |name: &str| value.get(name).and_then(|v| v.as_str());
        match field("type") {
            Some("service_account") => {
                let email = field("client_email").ok_or_else(|| bad("no client_email"))?;
                let pem = Zeroizing::new(
                    field("private_key")
                        .ok_or_else(|| bad("no private_key"))?
                        .to_owned(),
                );
                let token_uri = field("token_uri").unwrap_or(GOOGLE_TOKEN_URI);
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let assertion =
                    service_account_jwt(&pem, field("private_key_id"), email, token_uri, now)
                        .map_err(&bad)?;
                http::oauth_token(
                    &label,
                    token_uri,
                    &[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                        ("assertion", assertion.expose_secret()),
                    ],
                )
                .await
            }
            Some("authorized_user") => {
                let get = |name: &str| field(name).ok_or_else(|| bad(&format!("no {name}")));
                let token_uri = field("token_uri").unwrap_or(GOOGLE_TOKEN_URI);
                http::oauth_token(
                    &label,
                    token_uri,
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", get("client_id")?),
                        ("client_secret", get("client_secret")?),
                        ("refresh_token", get("refresh_token")?),
                    ],
                )
                .await
            }
            Some(other) => Err(bad(&format!(
                "credentials of type `{other}` are not supported (service_account and \
                 authorized_user are)"
            ))),
            None => Err(bad("no `type` field")),
        }
    }

    async fn call(&self, operation: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        self.check_resource()?;
        let label = self.label();
        let endpoint = format!("{}/v1/{}:{operation}", self.endpoint(), self.resource_id);
        let token = self.token().await?;
        let request = http::client()
            .post(&endpoint)
            .bearer_auth(token.expose_secret())
            .json(&body);
        let answer = http::send(&label, &endpoint, request).await?;
        if answer.ok() {
            return answer.json(&label, &endpoint);
        }
        let (_, message) =
            http::error_message(&answer.body, &["/error/status"], &["/error/message"]);
        let refusal = if answer.status == 400 && operation == "decrypt" {
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

    async fn encrypt(&self, secret: &[u8]) -> Result<String> {
        let plaintext = Zeroizing::new(crate::encoding::encode_std(secret));
        let answer = self
            .call("encrypt", serde_json::json!({ "plaintext": *plaintext }))
            .await?;
        let endpoint = format!("{}/v1/{}:encrypt", self.endpoint(), self.resource_id);
        let ciphertext = http::str_field(&answer, "/ciphertext", &self.label(), &endpoint)?;
        // Normalised to padded standard base64, the form sops stores.
        let raw = http::decode_b64(ciphertext, "ciphertext", &self.label(), &endpoint)?;
        Ok(crate::encoding::encode_std(&raw))
    }

    async fn decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>> {
        if crate::encoding::decode_std(enc).is_err() {
            return Err(Error::WrongKey {
                key: self.label(),
                message: "enc is not base64".into(),
            });
        }
        let answer = self
            .call("decrypt", serde_json::json!({ "ciphertext": enc.trim() }))
            .await?;
        let endpoint = format!("{}/v1/{}:decrypt", self.endpoint(), self.resource_id);
        let plaintext = http::str_field(&answer, "/plaintext", &self.label(), &endpoint)?;
        http::decode_b64(plaintext, "plaintext", &self.label(), &endpoint)
    }
}

/// The signed JWT a service account trades for an access token (RFC 7523 §2.1, Google's
/// "Using OAuth 2.0 for Server to Server Applications"): RS256 over
/// `{"iss": email, "scope": SCOPE, "aud": token_uri, "iat": now, "exp": now + 3600}`.
pub fn service_account_jwt(
    private_key_pem: &str,
    key_id: Option<&str>,
    email: &str,
    token_uri: &str,
    now: i64,
) -> std::result::Result<SecretString, &'static str> {
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let pem = pem::parse(private_key_pem).map_err(|_| "private_key is not PEM")?;
    let pair = RsaKeyPair::from_pkcs8(pem.contents())
        .map_err(|_| "private_key is not a PKCS#8 RSA key")?;
    let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
    if let Some(kid) = key_id {
        header["kid"] = serde_json::Value::from(kid);
    }
    let claims = serde_json::json!({
        "iss": email,
        "scope": SCOPE,
        "aud": token_uri,
        "iat": now,
        "exp": now + 3600,
    });
    let encode =
        |v: &serde_json::Value| crate::encoding::encode_url_nopad(v.to_string().as_bytes());
    let signing_input = format!("{}.{}", encode(&header), encode(&claims));
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "signing the token request failed")?;
    Ok(SecretString::from(format!(
        "{signing_input}.{}",
        crate::encoding::encode_url_nopad(&signature)
    )))
}

impl MasterKey for GcpKmsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::GcpKms
    }

    fn id(&self) -> &str {
        &self.resource_id
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::new(
            KeyKind::GcpKms,
            &[
                ("resource_id", &self.resource_id),
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
    fn resource_ids_must_name_a_crypto_key() {
        let good = GcpKmsKey::new(
            "projects/p/locations/global/keyRings/r/cryptoKeys/k",
            Arc::default(),
        );
        assert!(good.check_resource().is_ok());
        let bad = GcpKmsKey::new("projects/p/keyRings/r", Arc::default());
        assert!(
            bad.check_resource()
                .unwrap_err()
                .to_string()
                .starts_with("invalid gcp_kms key `projects/p/keyRings/r`")
        );
        let stanza = good.to_stanza("Y2lwaGVy");
        let names: Vec<&str> = stanza.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["resource_id", "created_at", "enc"]);
    }

    #[tokio::test]
    async fn without_any_credentials_the_error_says_where_to_put_them() {
        let key = GcpKmsKey::new(
            "projects/p/locations/global/keyRings/r/cryptoKeys/k",
            Arc::new(KeyEnv::from_vars([("HOME", "/nonexistent")])),
        );
        let err = key.token().await.unwrap_err().to_string();
        assert!(err.contains("GOOGLE_OAUTH_ACCESS_TOKEN"), "{err}");
    }
}
