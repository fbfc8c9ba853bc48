//! Secrets of a Kubernetes cluster (external-secrets `providers/v1/kubernetes`): the remote key
//! is a Secret's name in `remoteNamespace` (`default` when unset), the property one of its keys.
//!
//! Without `server.url` and `auth` the controller's own cluster and identity are used; with
//! them, a bearer token from a Secret (`auth.token.bearerToken`). Without a property the value is
//! the JSON object of every key (values as strings); `metadataPolicy: Fetch` reads
//! `{"labels":…,"annotations":…}`; `find` matches names by regexp and `tags` as labels.

use std::collections::BTreeMap;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use sealer::secret::SecretBytes;
use serde_json::Value;

use super::{
    ProviderError, SecretMap, SecretsClient, StoreAccess, Validation, name_matcher, select_property,
};
use crate::externalsecrets::crd::{
    ExternalSecretFind, KubernetesProvider, MetadataPolicy, RemoteRef,
};

/// A client of one cluster's Secrets in one namespace.
pub struct KubernetesClient {
    api: Api<Secret>,
    namespace: String,
}

impl KubernetesClient {
    /// Builds the client (no call is made).
    pub async fn connect(
        spec: &KubernetesProvider,
        access: &StoreAccess,
    ) -> Result<Self, ProviderError> {
        if spec.auth_ref.is_some() {
            return Err(ProviderError::Unsupported(
                "kubernetes.authRef (kubeconfig)".into(),
            ));
        }
        let namespace = spec
            .remote_namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let url = spec.server.as_ref().and_then(|s| s.url.clone());
        let client = match (&url, &spec.auth) {
            (None, None) => access.client.clone(),
            (url, auth) => {
                let url = url.as_deref().unwrap_or("https://kubernetes.default");
                let uri: http::Uri = url.parse().map_err(|_| {
                    ProviderError::Config(format!("kubernetes.server.url {url:?} is not a URL"))
                })?;
                let mut config = kube::Config::new(uri);
                if let Some(b64) = spec.server.as_ref().and_then(|s| s.ca_bundle.as_deref()) {
                    let pem_bytes = sealer::encoding::decode_std(b64)
                        .map_err(|_| ProviderError::Config("caBundle is not base64".into()))?;
                    let certs = pem::parse_many(&pem_bytes).map_err(|_| {
                        ProviderError::Config("caBundle holds no PEM certificate".into())
                    })?;
                    config.root_cert = Some(certs.into_iter().map(|p| p.into_contents()).collect());
                }
                let Some(auth) = auth else {
                    return Err(ProviderError::Config(
                        "kubernetes.auth is required with kubernetes.server".into(),
                    ));
                };
                if auth.cert.is_some() {
                    return Err(ProviderError::Unsupported("kubernetes.auth.cert".into()));
                }
                if auth.service_account.is_some() {
                    return Err(ProviderError::Unsupported(
                        "kubernetes.auth.serviceAccount (TokenRequest)".into(),
                    ));
                }
                let Some(token) = &auth.token else {
                    return Err(ProviderError::Config(
                        "kubernetes.auth names no method".into(),
                    ));
                };
                config.auth_info.token = Some(access.read_text(&token.bearer_token, None).await?);
                kube::Client::try_from(config)
                    .map_err(|_| ProviderError::Config("cannot build a kubernetes client".into()))?
            }
        };
        Ok(Self {
            api: Api::namespaced(client, &namespace),
            namespace,
        })
    }

    fn kube_error(&self, action: String) -> impl FnOnce(kube::Error) -> ProviderError {
        move |source| match &source {
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => ProviderError::Denied {
                service: "kubernetes",
                message: format!("{action}: {}", s.message),
            },
            _ => ProviderError::Kube { action, source },
        }
    }

    async fn secret(&self, name: &str) -> Result<Secret, ProviderError> {
        self.api
            .get_opt(name)
            .await
            .map_err(self.kube_error(format!("get secret {}/{name}", self.namespace)))?
            .ok_or_else(|| ProviderError::NotFound {
                key: name.to_owned(),
            })
    }

    async fn get(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        let secret = self.secret(&remote.key).await?;
        let value = if remote.metadata_policy == Some(MetadataPolicy::Fetch) {
            serde_json::json!({
                "labels": secret.metadata.labels.unwrap_or_default(),
                "annotations": secret.metadata.annotations.unwrap_or_default(),
            })
        } else {
            let data = secret.data.unwrap_or_default();
            if let Some(p) = remote.property.as_deref().filter(|p| !p.is_empty())
                && let Some(v) = data.get(p)
            {
                return Ok(SecretBytes::new(v.0.clone()));
            }
            strings_json(&data)
        };
        select_property(&remote.key, &value, remote.property.as_deref())
    }

    async fn get_map(&self, remote: &RemoteRef) -> Result<SecretMap, ProviderError> {
        if remote.metadata_policy == Some(MetadataPolicy::Fetch) || remote.property.is_some() {
            let bytes = self.get(remote).await?;
            return super::json_object_map(&remote.key, bytes.expose());
        }
        let secret = self.secret(&remote.key).await?;
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, SecretBytes::new(v.0)))
            .collect())
    }

    async fn find(&self, find: &ExternalSecretFind) -> Result<SecretMap, ProviderError> {
        let matcher = name_matcher(find)?;
        let mut lp = ListParams::default();
        if !find.tags.is_empty() {
            let selector: Vec<String> = find.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            lp = lp.labels(&selector.join(","));
        }
        let list = self
            .api
            .list(&lp)
            .await
            .map_err(self.kube_error(format!("list secrets in {}", self.namespace)))?;
        let mut out = SecretMap::new();
        for s in list.items {
            let Some(name) = s.metadata.name.clone() else {
                continue;
            };
            if matcher.as_ref().is_some_and(|m| !m.is_match(&name)) {
                continue;
            }
            let json = strings_json(&s.data.unwrap_or_default());
            out.insert(
                name,
                SecretBytes::new(serde_json::to_vec(&json).unwrap_or_default()),
            );
        }
        Ok(out)
    }
}

/// `{key: value-as-string}` of a Secret's data.
fn strings_json(data: &BTreeMap<String, k8s_openapi::ByteString>) -> Value {
    Value::Object(
        data.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::String(String::from_utf8_lossy(&v.0).into_owned()),
                )
            })
            .collect(),
    )
}

impl SecretsClient for KubernetesClient {
    fn provider(&self) -> &'static str {
        "kubernetes"
    }

    fn get_secret<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretBytes, ProviderError>> {
        self.get(remote).boxed()
    }

    fn get_secret_map<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        self.get_map(remote).boxed()
    }

    fn get_all_secrets<'a>(
        &'a self,
        find: &'a ExternalSecretFind,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        self.find(find).boxed()
    }

    fn validate(&self) -> BoxFuture<'_, Result<Validation, ProviderError>> {
        async move {
            self.api
                .list_metadata(&ListParams::default().limit(1))
                .await
                .map_err(self.kube_error(format!("list secrets in {}", self.namespace)))?;
            Ok(Validation::Ready)
        }
        .boxed()
    }
}
