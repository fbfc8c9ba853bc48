//! AWS KMS master keys (getsops/sops `kms/keysource.go`).
//!
//! A key is a KMS key or alias ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`), optionally
//! `+arn:aws:iam::ACCOUNT:role/NAME` to assume that role first, with an optional encryption
//! context (string pairs bound to the ciphertext) and an optional `aws_profile`.
//!
//! - wrap: `TrentService.Encrypt` `{KeyId, Plaintext, EncryptionContext}` → the `enc` is
//!   `CiphertextBlob` (standard base64);
//! - unwrap: `TrentService.Decrypt` `{KeyId, CiphertextBlob, EncryptionContext}` → `Plaintext`.
//!
//! Requests are AWS JSON 1.1, signed with SigV4 for the ARN's region. The endpoint is
//! `AWS_ENDPOINT_URL_KMS`, else `AWS_ENDPOINT_URL`, else `https://kms.REGION.amazonaws.com`.

use std::collections::BTreeMap;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::aws_credentials::{AwsCredentials, Lookup, dns_suffix, session_name};
use super::http::{self, Refusal};
use super::sigv4;
use crate::sops::master_keys::env::KeyEnv;
use crate::sops::master_keys::error::{Error, Result};
use crate::sops::master_keys::master::{KeyFuture, MasterKey, Unwrappers};
use crate::sops::{KeyKind, MasterKeyStanza};

/// An AWS KMS key.
#[derive(Clone, Debug)]
pub struct AwsKmsKey {
    arn: String,
    role: String,
    context: BTreeMap<String, String>,
    aws_profile: String,
    region: String,
    id: String,
    created_at: String,
    env: Arc<KeyEnv>,
}

/// The region of a KMS key ARN (sops's `arnRegex`), `None` if it is not one.
fn region_of(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:aws")?;
    let (partition_tail, rest) = rest.split_once(":kms:")?;
    if !partition_tail
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let (region, rest) = rest.rsplit_once(':').and_then(|(head, resource)| {
        let (region, account) = head.rsplit_once(':')?;
        let ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
        let resource_ok = ["key/", "alias/"]
            .iter()
            .any(|p| resource.strip_prefix(p).is_some_and(|r| !r.is_empty()));
        (ok && resource_ok).then_some((region, resource))
    })?;
    let _ = rest;
    (!region.is_empty()).then(|| region.to_owned())
}

impl AwsKmsKey {
    /// A key from `ARN[+ROLE_ARN]` (spaces removed), context and profile, created now
    /// (sops `NewMasterKeyFromArn`).
    pub fn from_arn(
        arn: &str,
        context: BTreeMap<String, String>,
        aws_profile: Option<&str>,
        env: Arc<KeyEnv>,
    ) -> Result<Self> {
        let arn: String = arn.chars().filter(|c| *c != ' ').collect();
        let (arn, role) = match arn.find("+arn:") {
            Some(i) if i > 0 => (arn[..i].to_owned(), arn[i + 1..].to_owned()),
            _ => (arn, String::new()),
        };
        Self::new(&arn, &role, context, aws_profile.unwrap_or_default(), env)
    }

    /// A key from its parts, created now.
    pub fn new(
        arn: &str,
        role: &str,
        context: BTreeMap<String, String>,
        aws_profile: &str,
        env: Arc<KeyEnv>,
    ) -> Result<Self> {
        let region = region_of(arn).ok_or_else(|| Error::InvalidKey {
            kind: "kms",
            id: arn.to_owned(),
            reason: "not a KMS key ARN (like arn:aws:kms:us-east-1:111122223333:key/ID)".into(),
        })?;
        let mut id = arn.to_owned();
        if !role.is_empty() {
            id = format!("{id}+{role}");
        }
        let context_text = context
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",");
        if !aws_profile.is_empty() {
            id = format!("{id}|{context_text}|{aws_profile}");
        } else if !context_text.is_empty() {
            id = format!("{id}|{context_text}");
        }
        Ok(Self {
            arn: arn.to_owned(),
            role: role.to_owned(),
            context,
            aws_profile: aws_profile.to_owned(),
            region,
            id,
            created_at: crate::sops::master_keys::now_rfc3339(),
            env,
        })
    }

    /// The key a `kms` stanza names (`created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza, env: Arc<KeyEnv>) -> Result<Self> {
        let context = stanza
            .map_field("context")
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut key = Self::new(
            stanza.field("arn").unwrap_or_default(),
            stanza.field("role").unwrap_or_default(),
            context,
            stanza.field("aws_profile").unwrap_or_default(),
            env,
        )?;
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        Ok(key)
    }

    fn label(&self) -> String {
        format!("kms key {}", self.arn)
    }

    fn endpoint(&self) -> String {
        self.env
            .get("AWS_ENDPOINT_URL_KMS")
            .or_else(|| self.env.get("AWS_ENDPOINT_URL"))
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://kms.{}.{}", self.region, dns_suffix(&self.region)))
    }

    async fn credentials(&self) -> Result<AwsCredentials> {
        let label = self.label();
        let lookup = Lookup {
            env: &self.env,
            region: &self.region,
            key: &label,
        };
        let base = lookup
            .resolve(Some(self.aws_profile.as_str()).filter(|p| !p.is_empty()))
            .await?;
        if self.role.is_empty() {
            return Ok(base);
        }
        let session = session_name();
        lookup.assume_role(&base, &self.role, &session).await
    }

    async fn call(&self, target: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        let label = self.label();
        let endpoint = format!("{}/", self.endpoint());
        let url = reqwest::Url::parse(&endpoint).map_err(|e| Error::InvalidKey {
            kind: "kms",
            id: endpoint.clone(),
            reason: format!("invalid KMS endpoint: {e}"),
        })?;
        let credentials = self.credentials().await?;
        let payload = Zeroizing::new(serde_json::to_vec(body).expect("JSON of strings"));
        const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
        let target = format!("TrentService.{target}");
        let signed = sigv4::sign(
            &sigv4::Request {
                method: "POST",
                url: &url,
                headers: &[("content-type", CONTENT_TYPE), ("x-amz-target", &target)],
                body: &payload,
            },
            &sigv4::SigningParams {
                access_key_id: &credentials.access_key_id,
                secret_access_key: &credentials.secret_access_key,
                session_token: credentials.session_token.as_ref(),
                region: &self.region,
                service: "kms",
                time: time::OffsetDateTime::now_utc(),
            },
        );
        let mut request = http::client()
            .post(url)
            .header("content-type", CONTENT_TYPE)
            .header("x-amz-target", &target)
            .body(payload.to_vec());
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let answer = http::send(&label, &endpoint, request).await?;
        if answer.ok() {
            return answer.json(&label, &endpoint);
        }
        // `__type` may carry a namespace: `com.amazonaws.kms#AccessDeniedException`.
        let (code, _) = http::error_message(&answer.body, &["/__type"], &[]);
        let code = code.rsplit('#').next().unwrap_or_default();
        let (_, text) = http::error_message(&answer.body, &[], &["/message", "/Message"]);
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
        Err(http::refused(
            &label,
            &endpoint,
            answer.status,
            message,
            refusal,
        ))
    }

    fn request_body(&self, field: &str, value: &str) -> serde_json::Value {
        let mut body = serde_json::json!({ "KeyId": self.arn, field: value });
        if !self.context.is_empty() {
            body["EncryptionContext"] = serde_json::json!(self.context);
        }
        body
    }

    async fn encrypt(&self, secret: &[u8]) -> Result<String> {
        let plaintext = Zeroizing::new(crate::encoding::encode_std(secret));
        let answer = self
            .call("Encrypt", &self.request_body("Plaintext", &plaintext))
            .await?;
        let blob = http::str_field(&answer, "/CiphertextBlob", &self.label(), &self.endpoint())?;
        Ok(blob.to_owned())
    }

    async fn decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>> {
        if crate::encoding::decode_std(enc).is_err() {
            return Err(Error::WrongKey {
                key: self.label(),
                message: "enc is not base64".into(),
            });
        }
        let answer = self
            .call("Decrypt", &self.request_body("CiphertextBlob", enc.trim()))
            .await?;
        let label = self.label();
        let endpoint = self.endpoint();
        let plaintext = http::str_field(&answer, "/Plaintext", &label, &endpoint)?;
        http::decode_b64(plaintext, "Plaintext", &label, &endpoint)
    }
}

impl MasterKey for AwsKmsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Kms
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        let mut stanza = MasterKeyStanza::new(KeyKind::Kms, &[("arn", &self.arn)]);
        if !self.role.is_empty() {
            stanza.set_field("role", &self.role);
        }
        if !self.context.is_empty() {
            let pairs: Vec<(&str, &str)> = self
                .context
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            stanza.set_map_field("context", &pairs);
        }
        stanza.set_field("created_at", &self.created_at);
        stanza.set_field("enc", enc);
        stanza.set_field("aws_profile", &self.aws_profile);
        stanza
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

    const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn arns_give_their_region_and_a_plus_role_is_split_off() {
        let key = AwsKmsKey::from_arn(
            &format!("{ARN}+arn:aws:iam::111122223333:role/sops"),
            BTreeMap::new(),
            None,
            Arc::default(),
        )
        .unwrap();
        assert_eq!(key.region, "eu-west-1");
        assert_eq!(key.role, "arn:aws:iam::111122223333:role/sops");
        assert_eq!(
            key.id(),
            format!("{ARN}+arn:aws:iam::111122223333:role/sops")
        );
        assert_eq!(
            region_of("arn:aws-cn:kms:cn-north-1:1:alias/x").as_deref(),
            Some("cn-north-1")
        );
        for bad in [
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:acct:key/x",
            "nope",
        ] {
            assert!(region_of(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn context_parses_like_sops_and_shows_in_the_id() {
        let context = crate::sops::master_keys::kms_context("b:2,a:1").unwrap();
        assert!(crate::sops::master_keys::kms_context("a=1").is_none());
        let key = AwsKmsKey::from_arn(ARN, context, Some("dev"), Arc::default()).unwrap();
        assert_eq!(key.id(), format!("{ARN}|a:1,b:2|dev"));
        let stanza = key.to_stanza("QUJD");
        let names: Vec<&str> = stanza.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["arn", "context", "created_at", "enc", "aws_profile"]
        );
        let back = AwsKmsKey::from_stanza(&stanza, Arc::default()).unwrap();
        assert_eq!(back.id(), key.id());
    }
}
