//! AWS Secrets Manager (external-secrets `providers/v1/aws/secretsmanager`), spoken as the JSON
//! 1.1 protocol over `reqwest` and signed with Signature Version 4 by
//! `sealkit_cloud::aws::signing` (no AWS service SDK).
//!
//! `remoteRef.version` is a version stage (`AWSCURRENT` when unset) or `uuid/<VersionId>`;
//! `property` is a top-level key of the JSON `SecretString` (exact key first, then a gjson path);
//! `ResourceNotFoundException` and secrets "marked for deletion" are
//! [`ProviderError::NotFound`]. The endpoint is `https://secretsmanager.<region>.amazonaws.com`
//! unless the controller's `--aws-secretsmanager-endpoint` (env `AWS_SECRETSMANAGER_ENDPOINT`,
//! ESO's knob) or the bridge's `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`
//! overrides it. Credentials: [`super::aws_auth`]. Calls go through the
//! [`egress`](super::egress) policy; answers are capped.

use futures::FutureExt as _;
use futures::future::BoxFuture;
use sealer::secret::SecretBytes;
use sealkit_cloud::aws::signing;
use serde_json::{Value, json};

use super::egress::read_json;
use super::{
    ProviderError, SecretMap, SecretsClient, StoreAccess, Validation, name_matcher, select_gjson,
};
use crate::externalsecrets::crd::{AwsProvider, ExternalSecretFind, MetadataPolicy, RemoteRef};

mod push;

const SERVICE: &str = "aws secretsmanager";

/// A signed AWS JSON 1.1 API (`POST /`, `X-Amz-Target: <prefix>.<Action>`) of one store:
/// Secrets Manager and SSM Parameter Store share it.
pub(crate) struct AwsApi {
    http: reqwest::Client,
    endpoint: url::Url,
    region: String,
    credentials: sealkit_cloud::aws::Credentials,
    /// The signing name (`secretsmanager`, `ssm`).
    signing_name: &'static str,
    /// The target prefix (`secretsmanager`, `AmazonSSM`).
    target_prefix: &'static str,
    /// The service name in messages.
    pub(crate) service: &'static str,
}

impl AwsApi {
    /// Checks the region, resolves the credentials (see [`super::aws_auth`]) and the endpoint:
    /// `override_endpoint`, else `AWS_ENDPOINT_URL_<env_name>` / `AWS_ENDPOINT_URL` of the
    /// bridge, else `https://<signing_name>.<region>.amazonaws.com`.
    pub(crate) async fn connect(
        spec: &AwsProvider,
        access: &StoreAccess,
        (service, signing_name, target_prefix, env_name): (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
        ),
        override_endpoint: Option<&str>,
    ) -> Result<Self, ProviderError> {
        if spec.region.is_empty() {
            return Err(ProviderError::Config("aws.region is required".into()));
        }
        if !sealkit_cloud::aws::is_region_name(&spec.region) {
            return Err(ProviderError::Config(format!(
                "aws.region {:?} is not a region name",
                spec.region
            )));
        }
        let endpoint = match override_endpoint {
            Some(e) => url::Url::parse(e)
                .map_err(|_| ProviderError::Config(format!("invalid endpoint {e:?}")))?,
            None => sealkit_cloud::aws::endpoint_url(
                &access.settings.aws_env,
                env_name,
                signing_name,
                &spec.region,
            )
            .map_err(|e| ProviderError::Config(e.to_string()))?,
        };
        access.settings.egress.check_url(&endpoint)?;
        let credentials = super::aws_auth::credentials(spec, access).await?;
        Ok(Self {
            http: access.http.clone(),
            endpoint,
            region: spec.region.clone(),
            credentials,
            signing_name,
            target_prefix,
            service,
        })
    }

    /// One signed call; the JSON answer, or the error classified by `classify`.
    pub(crate) async fn call(
        &self,
        action: &str,
        body: &Value,
        classify: impl FnOnce(u16, &str, String, &Value) -> ProviderError,
    ) -> Result<Value, ProviderError> {
        let payload = serde_json::to_vec(body).unwrap_or_default();
        let target = format!("{}.{action}", self.target_prefix);
        if self.endpoint.host_str().is_none() {
            return Err(ProviderError::Config("the endpoint has no host".into()));
        }
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let signed = signing::sign(
            &signing::Request {
                method: "POST",
                url: &self.endpoint,
                headers: &headers,
                body: &payload,
            },
            &self.credentials,
            &self.region,
            self.signing_name,
            std::time::SystemTime::now(),
        )
        .map_err(|e| ProviderError::Config(e.to_string()))?;
        let mut req = self.http.post(self.endpoint.clone()).body(payload);
        for (k, v) in headers.iter().copied() {
            req = req.header(k, v);
        }
        for (k, v) in &signed {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ProviderError::unreachable(self.service, &self.endpoint, e))?;
        let status = resp.status().as_u16();
        let answer = read_json(resp, self.service).await?;
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let kind = answer["__type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('#')
            .next()
            .unwrap_or_default()
            .to_owned();
        let message = answer["message"]
            .as_str()
            .or_else(|| answer["Message"].as_str())
            .unwrap_or("no error message")
            .to_owned();
        Err(classify(status, &kind, message, body))
    }
}

/// Errors every AWS JSON service shares: bad credentials are [`ProviderError::Denied`], the
/// rest [`ProviderError::Upstream`].
pub(crate) fn classify_common(
    service: &'static str,
    status: u16,
    kind: &str,
    message: String,
) -> ProviderError {
    match kind {
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignature"
        | "AccessDeniedException"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch" => ProviderError::Denied {
            service,
            message: format!("{kind}: {message}"),
        },
        _ if status == 403 => ProviderError::Denied {
            service,
            message: format!("{kind}: {message}"),
        },
        _ => ProviderError::Upstream {
            service,
            status,
            message: if kind.is_empty() {
                message
            } else {
                format!("{kind}: {message}")
            },
        },
    }
}

/// A Secrets Manager client for one store.
pub struct AwsClient {
    api: AwsApi,
    prefix: String,
}

impl AwsClient {
    /// Resolves the credentials (STS calls for `auth.jwt` and roles); makes no other call.
    pub async fn connect(spec: &AwsProvider, access: &StoreAccess) -> Result<Self, ProviderError> {
        if spec.service != "SecretsManager" {
            return Err(ProviderError::Unsupported(format!(
                "aws service {:?}",
                spec.service
            )));
        }
        let api = AwsApi::connect(
            spec,
            access,
            (
                SERVICE,
                "secretsmanager",
                "secretsmanager",
                "SECRETS_MANAGER",
            ),
            access.settings.aws_secretsmanager_endpoint.as_deref(),
        )
        .await?;
        Ok(Self {
            api,
            prefix: spec.prefix.clone().unwrap_or_default(),
        })
    }

    async fn call(&self, action: &str, body: &Value) -> Result<Value, ProviderError> {
        self.api.call(action, body, classify).await
    }

    async fn get_value(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        let id = format!("{}{}", self.prefix, remote.key);
        let mut body = json!({ "SecretId": id });
        match remote.version.as_deref() {
            Some(v) if v.starts_with("uuid/") => body["VersionId"] = json!(&v[5..]),
            Some(v) if !v.is_empty() => body["VersionStage"] = json!(v),
            _ => body["VersionStage"] = json!("AWSCURRENT"),
        }
        let answer = self.call("GetSecretValue", &body).await?;
        if let Some(s) = answer["SecretString"].as_str() {
            Ok(SecretBytes::new(s.as_bytes().to_vec()))
        } else if let Some(b) = answer["SecretBinary"].as_str() {
            sealer::encoding::decode_std(b)
                .map(SecretBytes::new)
                .map_err(|_| ProviderError::Answer {
                    service: SERVICE,
                    what: "SecretBinary is not base64".into(),
                })
        } else {
            Err(ProviderError::Answer {
                service: SERVICE,
                what: format!(
                    "secret {:?} has neither SecretString nor SecretBinary",
                    remote.key
                ),
            })
        }
    }

    async fn get(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        if remote.metadata_policy == Some(MetadataPolicy::Fetch) {
            return Err(ProviderError::Unsupported(
                "metadataPolicy Fetch with aws secretsmanager".into(),
            ));
        }
        let value = self.get_value(remote).await?;
        match remote.property.as_deref().filter(|p| !p.is_empty()) {
            None => Ok(value),
            Some(property) => {
                let text = std::str::from_utf8(value.expose()).map_err(|_| {
                    ProviderError::MissingProperty {
                        key: remote.key.clone(),
                        property: property.to_owned(),
                    }
                })?;
                let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if let Some(v) = parsed.as_object().and_then(|m| m.get(property)) {
                    return Ok(super::json_value_bytes(v));
                }
                select_gjson(&remote.key, text, property)
            }
        }
    }

    async fn find(&self, find: &ExternalSecretFind) -> Result<SecretMap, ProviderError> {
        let matcher = name_matcher(find)?;
        let path = find.path.clone().unwrap_or_default();
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({ "MaxResults": 100 });
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let page = self.call("ListSecrets", &body).await?;
            for s in page["SecretList"].as_array().into_iter().flatten() {
                let Some(name) = s["Name"].as_str() else {
                    continue;
                };
                let Some(name) = name.strip_prefix(self.prefix.as_str()) else {
                    continue;
                };
                if !name.starts_with(path.as_str())
                    || matcher.as_ref().is_some_and(|m| !m.is_match(name))
                {
                    continue;
                }
                let tags: Vec<(&str, &str)> = s["Tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| Some((t["Key"].as_str()?, t["Value"].as_str()?)))
                    .collect();
                if find
                    .tags
                    .iter()
                    .all(|(k, v)| tags.contains(&(k.as_str(), v.as_str())))
                {
                    names.push(name.to_owned());
                }
            }
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        let mut out = SecretMap::new();
        for name in names {
            let remote = RemoteRef {
                key: name.clone(),
                ..Default::default()
            };
            match self.get_value(&remote).await {
                Ok(v) => {
                    out.insert(name, v);
                }
                Err(ProviderError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn classify(status: u16, kind: &str, message: String, body: &Value) -> ProviderError {
    let key = body["SecretId"].as_str().unwrap_or_default().to_owned();
    match kind {
        "ResourceNotFoundException" => ProviderError::NotFound { key },
        "InvalidRequestException" if message.contains("marked for deletion") => {
            ProviderError::NotFound { key }
        }
        _ => classify_common(SERVICE, status, kind, message),
    }
}

impl SecretsClient for AwsClient {
    fn provider(&self) -> &'static str {
        "aws"
    }

    fn push_secret<'a>(
        &'a self,
        request: &'a super::PushRequest<'a>,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.push(request).boxed()
    }

    fn pushed_exists<'a>(
        &'a self,
        request: &'a super::PushRequest<'a>,
    ) -> BoxFuture<'a, Result<bool, ProviderError>> {
        self.exists(request).boxed()
    }

    fn delete_pushed<'a>(
        &'a self,
        request: &'a super::PushRequest<'a>,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.delete(request).boxed()
    }

    fn get_secret<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretBytes, ProviderError>> {
        self.get(remote).boxed()
    }

    fn get_all_secrets<'a>(
        &'a self,
        find: &'a ExternalSecretFind,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        self.find(find).boxed()
    }

    fn validate(&self) -> BoxFuture<'_, Result<Validation, ProviderError>> {
        // As ESO: credentials that could be read make the store valid; no call is made.
        async { Ok(Validation::Ready) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::externalsecrets::crd::{AwsAuth, AwsAuthSecretRef, SecretKeySelector};
    use crate::externalsecrets::providers::testing::{MockApi, secret_store_access};

    #[tokio::test]
    async fn a_region_that_is_not_a_region_name_cannot_steer_the_endpoint() {
        // `https://secretsmanager.<region>.amazonaws.com` with a region holding `@` or `/`
        // would name another host (the metadata address, say).
        let (client, _) = MockApi::default()
            .secret("apps", "aws", &[("id", "AKIA"), ("secret", "s")])
            .client();
        let key = |k: &str| SecretKeySelector {
            name: "aws".into(),
            namespace: None,
            key: Some(k.into()),
        };
        let spec = |region: &str| AwsProvider {
            service: "SecretsManager".into(),
            region: region.into(),
            auth: Some(AwsAuth {
                secret_ref: Some(AwsAuthSecretRef {
                    access_key_id: key("id"),
                    secret_access_key: key("secret"),
                    session_token: None,
                }),
                jwt: None,
            }),
            ..Default::default()
        };
        let access = secret_store_access(client, "apps");
        for region in ["@169.254.169.254#", "x/../y", "eu-west-1.evil.test:1"] {
            let err = AwsClient::connect(&spec(region), &access)
                .await
                .err()
                .unwrap();
            assert!(
                err.to_string().contains("is not a region name"),
                "{region}: {err}"
            );
        }
        assert!(
            AwsClient::connect(&spec("eu-west-1"), &access)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_store_without_static_keys_is_refused_instead_of_using_the_controller_identity() {
        let (client, seen) = MockApi::default().client();
        let spec = AwsProvider {
            service: "SecretsManager".into(),
            region: "eu-west-1".into(),
            ..Default::default()
        };
        let err = AwsClient::connect(&spec, &secret_store_access(client, "apps"))
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("the bridge's own AWS identity is lent only to ClusterSecretStores"),
            "{err}"
        );
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn missing_and_deleted_secrets_are_not_found_and_bad_keys_are_denied() {
        let body = json!({"SecretId": "app/db"});
        assert!(matches!(
            classify(400, "ResourceNotFoundException", "x".into(), &body),
            ProviderError::NotFound { key } if key == "app/db"
        ));
        assert!(matches!(
            classify(
                400,
                "InvalidRequestException",
                "secret is marked for deletion".into(),
                &body
            ),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            classify(400, "UnrecognizedClientException", "bad".into(), &body),
            ProviderError::Denied { .. }
        ));
        assert!(matches!(
            classify(500, "InternalServiceError", "boom".into(), &body),
            ProviderError::Upstream { status: 500, .. }
        ));
    }
}
