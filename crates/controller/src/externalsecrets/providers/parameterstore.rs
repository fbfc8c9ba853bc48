//! AWS Systems Manager Parameter Store (external-secrets
//! `providers/v1/aws/parameterstore/parameterstore.go`), spoken as the JSON 1.1 protocol
//! (`X-Amz-Target: AmazonSSM.<Op>`, SigV4 service `ssm`) through [`super::aws::AwsApi`].
//!
//! - `remoteRef`: `GetParameter {Name: prefix+key[":"+version], WithDecryption: true}` (SSM
//!   takes the suffix as a version number or a label); `property` is an exact top-level key of
//!   the JSON value, then a gjson path; `ParameterNotFound` is [`ProviderError::NotFound`].
//!   `metadataPolicy: Fetch` reads the tags (`ListTagsForResource`) as a JSON map.
//! - `find.name` (and `find.path`): `GetParametersByPath {Path: path or "/", Recursive,
//!   WithDecryption}`, paged, the regex on the full name (on `AccessDeniedException`, as ESO,
//!   the `DescribeParameters` route below); `find.tags`: `DescribeParameters` with `tag:<k>`
//!   (and `Path`) filters, then `GetParameter` for each. Names are the full
//!   parameter names (`/app/db`), which the ExternalSecret's key conversion then rewrites.
//!
//! The endpoint is `https://ssm.<region>.amazonaws.com` unless the bridge's
//! `AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL` (or ESO's `AWS_SSM_ENDPOINT`) says otherwise.

use futures::FutureExt as _;
use futures::future::BoxFuture;
use sealer::secret::SecretBytes;
use serde_json::{Value, json};

use super::aws::{AwsApi, classify_common};
use super::{
    ProviderError, SecretMap, SecretsClient, StoreAccess, Validation, name_matcher, select_gjson,
};
use crate::externalsecrets::crd::{AwsProvider, ExternalSecretFind, MetadataPolicy, RemoteRef};

const SERVICE: &str = "aws parameterstore";

/// Pages read by one `find` at most (50 parameters each).
const MAX_PAGES: usize = 200;

/// A Parameter Store client for one store.
pub struct ParameterStoreClient {
    api: AwsApi,
    prefix: String,
}

impl ParameterStoreClient {
    /// Resolves the credentials (STS calls for `auth.jwt` and roles); makes no other call.
    pub async fn connect(spec: &AwsProvider, access: &StoreAccess) -> Result<Self, ProviderError> {
        let api = AwsApi::connect(spec, access, (SERVICE, "ssm", "AmazonSSM", "SSM"), None).await?;
        Ok(Self {
            api,
            prefix: spec.prefix.clone().unwrap_or_default(),
        })
    }

    async fn call(&self, action: &str, body: &Value) -> Result<Value, ProviderError> {
        self.api.call(action, body, classify).await
    }

    /// The decrypted value of a parameter by its full name (with a `:version` suffix).
    async fn parameter(&self, name: &str) -> Result<SecretBytes, ProviderError> {
        let answer = self
            .call(
                "GetParameter",
                &json!({"Name": name, "WithDecryption": true}),
            )
            .await?;
        match answer["Parameter"]["Value"].as_str() {
            Some(v) => Ok(SecretBytes::new(v.as_bytes().to_vec())),
            None => Err(ProviderError::Answer {
                service: SERVICE,
                what: format!("parameter {name:?} has no value"),
            }),
        }
    }

    async fn tags(&self, name: &str) -> Result<Value, ProviderError> {
        let answer = self
            .call(
                "ListTagsForResource",
                &json!({"ResourceType": "Parameter", "ResourceId": name}),
            )
            .await?;
        let mut map = serde_json::Map::new();
        for t in answer["TagList"].as_array().into_iter().flatten() {
            if let (Some(k), Some(v)) = (t["Key"].as_str(), t["Value"].as_str()) {
                map.insert(k.to_owned(), Value::String(v.to_owned()));
            }
        }
        Ok(Value::Object(map))
    }

    async fn get(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        let name = format!("{}{}", self.prefix, remote.key);
        if remote.metadata_policy == Some(MetadataPolicy::Fetch) {
            let tags = self.tags(&name).await?;
            return super::select_property(&remote.key, &tags, remote.property.as_deref());
        }
        let full = match remote.version.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{name}:{v}"),
            None => name,
        };
        let value = self.parameter(&full).await.map_err(|e| match e {
            ProviderError::NotFound { .. } => ProviderError::NotFound {
                key: remote.key.clone(),
            },
            e => e,
        })?;
        match remote.property.as_deref().filter(|p| !p.is_empty()) {
            None => Ok(value),
            Some(property) => {
                let missing = || ProviderError::MissingProperty {
                    key: remote.key.clone(),
                    property: property.to_owned(),
                };
                let text = std::str::from_utf8(value.expose()).map_err(|_| missing())?;
                let parsed: Value = serde_json::from_str(text).map_err(|_| missing())?;
                if let Some(v) = parsed.as_object().and_then(|m| m.get(property)) {
                    return Ok(super::json_value_bytes(v));
                }
                select_gjson(&remote.key, text, property)
            }
        }
    }

    async fn find(&self, find: &ExternalSecretFind) -> Result<SecretMap, ProviderError> {
        let matcher = name_matcher(find)?;
        let path = find.path.clone().filter(|p| !p.is_empty());
        if find.tags.is_empty() {
            // As ESO: a role that may not call GetParametersByPath may still describe and read.
            match self.find_by_path(path.as_deref(), matcher.as_ref()).await {
                Err(ProviderError::Denied { .. }) => {}
                r => return r,
            }
        }
        self.find_by_describe(find, path.as_deref(), matcher.as_ref())
            .await
    }

    async fn find_by_path(
        &self,
        path: Option<&str>,
        matcher: Option<&regex::Regex>,
    ) -> Result<SecretMap, ProviderError> {
        let mut out = SecretMap::new();
        // GetParametersByPath returns the decrypted values with the names.
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = json!({
                "Path": path.unwrap_or("/"),
                "Recursive": true,
                "WithDecryption": true,
                "MaxResults": 10,
            });
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let page = self.call("GetParametersByPath", &body).await?;
            for p in page["Parameters"].as_array().into_iter().flatten() {
                let (Some(name), Some(value)) = (p["Name"].as_str(), p["Value"].as_str()) else {
                    continue;
                };
                if matcher.is_some_and(|m| !m.is_match(name)) {
                    continue;
                }
                out.insert(name.to_owned(), SecretBytes::new(value.as_bytes().to_vec()));
            }
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
        Err(too_many_pages())
    }

    async fn find_by_describe(
        &self,
        find: &ExternalSecretFind,
        path: Option<&str>,
        matcher: Option<&regex::Regex>,
    ) -> Result<SecretMap, ProviderError> {
        let mut out = SecretMap::new();
        let mut filters: Vec<Value> = find
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": format!("tag:{k}"), "Option": "Equals", "Values": [v]}))
            .collect();
        if let Some(p) = path {
            filters.push(json!({"Key": "Path", "Option": "Recursive", "Values": [p]}));
        }
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        let mut done = false;
        for _ in 0..MAX_PAGES {
            let mut body = json!({"ParameterFilters": filters, "MaxResults": 50});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let page = self.call("DescribeParameters", &body).await?;
            for p in page["Parameters"].as_array().into_iter().flatten() {
                let Some(name) = p["Name"].as_str() else {
                    continue;
                };
                if matcher.is_some_and(|m| !m.is_match(name)) {
                    continue;
                }
                names.push(name.to_owned());
            }
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => {
                    done = true;
                    break;
                }
            }
        }
        if !done {
            return Err(too_many_pages());
        }
        for name in names {
            match self.parameter(&name).await {
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

fn too_many_pages() -> ProviderError {
    ProviderError::Answer {
        service: SERVICE,
        what: format!("find matched more than {MAX_PAGES} pages of parameters"),
    }
}

fn classify(status: u16, kind: &str, message: String, body: &Value) -> ProviderError {
    match kind {
        "ParameterNotFound" | "ParameterVersionNotFound" | "InvalidResourceId" => {
            ProviderError::NotFound {
                key: body["Name"]
                    .as_str()
                    .or_else(|| body["ResourceId"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            }
        }
        _ => classify_common(SERVICE, status, kind, message),
    }
}

impl SecretsClient for ParameterStoreClient {
    fn provider(&self) -> &'static str {
        "aws"
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
        // As ESO: credentials that could be resolved make the store valid.
        async { Ok(Validation::Ready) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::externalsecrets::crd::{AwsAuth, AwsAuthSecretRef, SecretKeySelector};
    use crate::externalsecrets::providers::ProviderSettings;
    use crate::externalsecrets::providers::testing::{MockApi, secret_store_access, serve};

    #[tokio::test]
    async fn find_falls_back_to_describe_parameters_when_get_by_path_is_denied() {
        // An SSM stand-in for a role without ssm:GetParametersByPath.
        let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let target = headers
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    log.lock().unwrap().push((target.clone(), body.clone()));
                    let (status, answer) = match target.as_str() {
                        "AmazonSSM.GetParametersByPath" => (
                            axum::http::StatusCode::BAD_REQUEST,
                            json!({"__type": "AccessDeniedException", "message": "not allowed"}),
                        ),
                        "AmazonSSM.DescribeParameters" => (
                            axum::http::StatusCode::OK,
                            json!({"Parameters": [{"Name": "/app/a"}, {"Name": "/app/b"}]}),
                        ),
                        "AmazonSSM.GetParameter" => (
                            axum::http::StatusCode::OK,
                            json!({"Parameter": {"Name": body["Name"], "Value": format!("v{}", body["Name"].as_str().unwrap_or_default())}}),
                        ),
                        _ => (axum::http::StatusCode::BAD_REQUEST, json!({})),
                    };
                    (status, axum::Json(answer))
                }
            },
        );
        let addr = serve(app).await;
        let (client, _) = MockApi::default()
            .secret("apps", "aws", &[("id", "AKIA"), ("secret", "s")])
            .client();
        let mut access = secret_store_access(client, "apps");
        access.settings = Arc::new(ProviderSettings {
            aws_env: sealkit_cloud::EnvSnapshot::from_vars([(
                "AWS_ENDPOINT_URL_SSM",
                format!("http://{addr}"),
            )]),
            ..Default::default()
        });
        let key = |k: &str| SecretKeySelector {
            name: "aws".into(),
            namespace: None,
            key: Some(k.into()),
        };
        let spec = AwsProvider {
            service: "ParameterStore".into(),
            region: "eu-west-1".into(),
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
        let c = ParameterStoreClient::connect(&spec, &access).await.unwrap();
        let found = c
            .get_all_secrets(&ExternalSecretFind {
                path: Some("/app".into()),
                name: Some(crate::externalsecrets::crd::FindName {
                    regexp: "b$".into(),
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), ["/app/b"]);
        assert_eq!(found["/app/b"].expose(), b"v/app/b");
        let seen = seen.lock().unwrap();
        let targets: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            targets,
            [
                "AmazonSSM.GetParametersByPath",
                "AmazonSSM.DescribeParameters",
                "AmazonSSM.GetParameter"
            ]
        );
        assert_eq!(
            seen[1].1["ParameterFilters"],
            json!([{"Key": "Path", "Option": "Recursive", "Values": ["/app"]}])
        );
        assert_eq!(seen[2].1, json!({"Name": "/app/b", "WithDecryption": true}));
    }

    #[test]
    fn missing_parameters_and_versions_are_not_found() {
        for kind in ["ParameterNotFound", "ParameterVersionNotFound"] {
            assert!(matches!(
                classify(400, kind, "x".into(), &json!({"Name": "/app/db:3"})),
                ProviderError::NotFound { key } if key == "/app/db:3"
            ));
        }
        assert!(matches!(
            classify(400, "AccessDeniedException", "no".into(), &json!({})),
            ProviderError::Denied { .. }
        ));
    }
}
