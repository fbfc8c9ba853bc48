//! The provider contract (external-secrets `apis/externalsecrets/v1/provider.go`) and the
//! providers sealkit implements. A store is turned into a [`SecretsClient`] by [`connect`];
//! credentials come from Kubernetes Secrets through [`StoreAccess`] and never reach a log, an
//! error message, a status or an event.
//!
//! No provider authenticates with the bridge's own identity on behalf of a namespaced
//! SecretStore: credentials are the Secrets a store names, or tokens of the ServiceAccounts it
//! names ([`service_account`]); a store naming neither is refused. Only a ClusterSecretStore
//! may use the bridge's own cloud identity ([`cloud_identity`]: GCP and Azure). Credential Secrets, ConfigMaps and
//! ServiceAccounts are read only in the namespaces the bridge serves. Every HTTP call goes
//! through [`egress`] (timeouts, size caps, no link-local peers).

pub mod aws;
pub mod aws_auth;
pub mod azure;
pub mod cloud_identity;
pub mod egress;
pub mod fake;
pub mod gcp;
pub mod kubernetes;
pub mod parameterstore;
pub mod service_account;
#[cfg(test)]
pub(crate) mod testing;
pub mod vault;
pub mod webhook;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use sealer::secret::SecretBytes;
use secrecy::SecretString;

use self::egress::Egress;
use self::service_account::TokenSpec;
use super::crd::{
    CaProvider, CaProviderType, ExternalSecretFind, RemoteRef, SecretKeySelector,
    ServiceAccountSelector, StoreKind, StoreProvider,
};

/// Values fetched from a store, by key.
pub type SecretMap = BTreeMap<String, SecretBytes>;

/// What a provider call can fail with. Messages never hold a value or a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The remote secret does not exist (ESO's `NoSecretError`): the `deletionPolicy` decides
    /// what that means.
    #[error("secret {key:?} does not exist")]
    NotFound {
        /// The remote key.
        key: String,
    },
    /// The remote secret exists but has no such property: always an error.
    #[error("cannot find secret data for key: {property:?} in secret {key:?}")]
    MissingProperty {
        /// The remote key.
        key: String,
        /// The property asked for.
        property: String,
    },
    /// The store asks for something sealkit does not implement.
    #[error("{0} is not supported by sealkit")]
    Unsupported(String),
    /// The store's configuration is wrong.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// A credential Secret could not be read.
    #[error("cannot read credentials from secret {namespace}/{name}: {reason}")]
    Credentials {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// What went wrong (never the value).
        reason: String,
    },
    /// A ClusterSecretStore's credentials live in each ExternalSecret's namespace, so the store
    /// cannot connect on its own.
    #[error("credentials are read from the namespace of each ExternalSecret")]
    Referent,
    /// The upstream refused the credentials.
    #[error("{service} denied access: {message}")]
    Denied {
        /// Provider service (`vault`, `aws secretsmanager`…).
        service: &'static str,
        /// The upstream's own message.
        message: String,
    },
    /// The upstream answered with an error.
    #[error("{service} answered http {status}: {message}")]
    Upstream {
        /// Provider service.
        service: &'static str,
        /// HTTP status.
        status: u16,
        /// The upstream's message (never a response body that could hold a value).
        message: String,
    },
    /// The upstream could not be reached.
    #[error("cannot reach {service} at {host}")]
    Unreachable {
        /// Provider service.
        service: &'static str,
        /// `host:port` only: URLs can carry credentials.
        host: String,
        /// The transport error, stripped of its URL.
        #[source]
        source: reqwest::Error,
    },
    /// The upstream's answer could not be understood.
    #[error("invalid answer from {service}: {what}")]
    Answer {
        /// Provider service.
        service: &'static str,
        /// What was wrong with it.
        what: String,
    },
    /// A webhook template (URL, header, body) failed.
    #[error("webhook template {what} failed")]
    Template {
        /// Which template.
        what: String,
        /// The template error (never a value).
        #[source]
        source: sealer::template::Error,
    },
    /// A Kubernetes API call of the kubernetes provider failed.
    #[error("kubernetes api call failed: {action}")]
    Kube {
        /// What was being done.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A provider URL names, resolves to or redirects to a link-local address.
    #[error(
        "{host} leads to a link-local address, which provider urls may not reach (see --external-secrets-allow-link-local)"
    )]
    LinkLocal {
        /// The host as the URL names it (`host:port`, or a name that resolved to one).
        host: String,
    },
    /// A provider host name could not be resolved.
    #[error("cannot resolve {host}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver error.
        #[source]
        source: std::io::Error,
    },
    /// An answer was longer than the budget (its length is not named: it may be a secret's).
    #[error("the answer of {service} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Provider service.
        service: &'static str,
        /// The budget in bytes.
        limit: usize,
    },
    /// A call did not finish within its deadline.
    #[error("{service} did not answer within {seconds} s")]
    Timeout {
        /// Provider service.
        service: &'static str,
        /// The deadline.
        seconds: u64,
    },
    /// A ServiceAccount token could not be obtained (TokenRequest).
    #[error("cannot get a token for serviceaccount {namespace}/{name}: {reason}")]
    ServiceAccountToken {
        /// Namespace of the ServiceAccount.
        namespace: String,
        /// Its name.
        name: String,
        /// What went wrong (never the token).
        reason: String,
    },
    /// A store points at credentials in a namespace the bridge does not serve.
    #[error(
        "namespace {namespace:?} is not served by this bridge (--external-secrets-namespaces): credentials are read only in served namespaces"
    )]
    NotServed {
        /// The namespace the store points into.
        namespace: String,
    },
}

impl ProviderError {
    /// Label for `sync_errors_total{reason}`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::MissingProperty { .. } => "missing_property",
            Self::Unsupported(_)
            | Self::Config(_)
            | Self::Template { .. }
            | Self::LinkLocal { .. }
            | Self::NotServed { .. } => "config",
            Self::Credentials { .. } | Self::Referent | Self::ServiceAccountToken { .. } => {
                "credentials"
            }
            Self::Denied { .. } => "denied",
            Self::Upstream { .. } | Self::Answer { .. } | Self::TooLarge { .. } => "upstream",
            Self::Unreachable { .. } | Self::Resolve { .. } | Self::Timeout { .. } => "unreachable",
            Self::Kube { .. } => "kubernetes",
        }
    }

    /// Whether the cached client should be dropped (a new login may fix it).
    pub fn invalidates_client(&self) -> bool {
        matches!(
            self,
            Self::Denied { .. }
                | Self::Unreachable { .. }
                | Self::Upstream { .. }
                | Self::Resolve { .. }
                | Self::Timeout { .. }
        )
    }

    pub(crate) fn unreachable(service: &'static str, url: &url::Url, e: reqwest::Error) -> Self {
        Self::Unreachable {
            service,
            host: host_of(url),
            source: e.without_url(),
        }
    }
}

/// `host:port` of a URL, the only part of a store URL that errors show.
pub fn host_of(url: &url::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => "<no host>".to_owned(),
    }
}

/// Result of a store validation (`ValidationResult` in ESO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// The store answered and the credentials work.
    Ready,
    /// The store cannot be checked without an ExternalSecret (referent credentials).
    Unknown,
}

/// A connected store: what an ExternalSecret reads through.
pub trait SecretsClient: Send + Sync {
    /// Provider name for metrics and messages (`vault`, `aws`, …).
    fn provider(&self) -> &'static str;
    /// One value (`spec.data[]`).
    fn get_secret<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretBytes, ProviderError>>;
    /// Every property of one remote secret (`dataFrom[].extract`): by default the top-level
    /// entries of the JSON object [`SecretsClient::get_secret`] returns.
    fn get_secret_map<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        Box::pin(async move {
            let bytes = self.get_secret(remote).await?;
            json_object_map(&remote.key, bytes.expose())
        })
    }
    /// Every remote secret matching (`dataFrom[].find`), by remote name.
    fn get_all_secrets<'a>(
        &'a self,
        find: &'a ExternalSecretFind,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>>;
    /// Checks the store answers and the credentials work.
    fn validate(&self) -> BoxFuture<'_, Result<Validation, ProviderError>>;

    /// Writes one value of a PushSecret, marked as pushed by `request.owner`. Refuses to write
    /// over a remote secret that carries no `managed-by: external-secrets` marker, or that
    /// another PushSecret pushed.
    fn push_secret<'a>(
        &'a self,
        request: &'a PushRequest<'a>,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        let _ = request;
        let provider = self.provider();
        Box::pin(async move {
            Err(ProviderError::Unsupported(format!(
                "PushSecret to provider {provider}"
            )))
        })
    }

    /// Whether the remote secret (and property) of `request` exists (`updatePolicy:
    /// IfNotExists`).
    fn pushed_exists<'a>(
        &'a self,
        request: &'a PushRequest<'a>,
    ) -> BoxFuture<'a, Result<bool, ProviderError>> {
        let _ = request;
        let provider = self.provider();
        Box::pin(async move {
            Err(ProviderError::Unsupported(format!(
                "PushSecret to provider {provider}"
            )))
        })
    }

    /// Deletes the remote secret (or only its property) of `request`, **only** when it carries
    /// `request.owner`'s marker; anything else (missing, unmarked, pushed by another) is left
    /// alone and is not an error.
    fn delete_pushed<'a>(
        &'a self,
        request: &'a PushRequest<'a>,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        let _ = request;
        let provider = self.provider();
        Box::pin(async move {
            Err(ProviderError::Unsupported(format!(
                "PushSecret to provider {provider}"
            )))
        })
    }
}

/// ESO's ownership marker on what a PushSecret writes (`managed-by: external-secrets`).
pub const MANAGED_BY: (&str, &str) = ("managed-by", "external-secrets");

/// sealkit's marker naming the PushSecret (`<namespace>/<name>`) that wrote a remote value.
pub const PUSHED_BY: &str = "sealkit.io/pushed-by";

/// One value a PushSecret writes (or deletes).
#[derive(Clone, Copy)]
pub struct PushRequest<'a> {
    /// The remote secret's name.
    pub remote_key: &'a str,
    /// A field of the remote JSON value to write instead of the whole value.
    pub property: Option<&'a str>,
    /// The value (empty for a delete).
    pub value: &'a SecretBytes,
    /// Every key of the source Secret when no `secretKey` was named (the kubernetes provider
    /// copies them as they are).
    pub all: Option<&'a SecretMap>,
    /// `<namespace>/<name>` of the PushSecret.
    pub owner: &'a str,
}

/// Checks the markers of an existing remote secret before a push: ESO's `managed-by` must be
/// there, and a `sealkit.io/pushed-by` naming another PushSecret refuses the push.
pub fn check_push_markers(
    service: &'static str,
    key: &str,
    managed_by: Option<&str>,
    pushed_by: Option<&str>,
    owner: &str,
) -> Result<(), ProviderError> {
    if managed_by != Some(MANAGED_BY.1) {
        return Err(ProviderError::Config(format!(
            "{service} secret {key:?} is not managed by external-secrets: sealkit does not write over it"
        )));
    }
    match pushed_by {
        Some(other) if other != owner => Err(ProviderError::Config(format!(
            "{service} secret {key:?} was pushed by PushSecret {other}"
        ))),
        _ => Ok(()),
    }
}

/// The JSON object map a push writes: the value itself (a JSON object) without a property, or
/// `existing` with `property` set to the value (a UTF-8 string).
pub fn pushed_object(
    key: &str,
    existing: Option<serde_json::Map<String, serde_json::Value>>,
    request: &PushRequest<'_>,
) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
    match request.property {
        Some(property) => {
            let text = std::str::from_utf8(request.value.expose()).map_err(|_| {
                ProviderError::Config(format!(
                    "the value pushed to property {property:?} of {key:?} is not UTF-8"
                ))
            })?;
            let mut map = existing.unwrap_or_default();
            map.insert(
                property.to_owned(),
                serde_json::Value::String(text.to_owned()),
            );
            Ok(map)
        }
        None => match serde_json::from_slice::<serde_json::Value>(request.value.expose()) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(ProviderError::Config(format!(
                "the value pushed to {key:?} is not a JSON object: name a remoteRef.property"
            ))),
        },
    }
}

/// Settings of the controller that providers need.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    /// Endpoint for AWS Secrets Manager instead of `https://secretsmanager.<region>.amazonaws.com`
    /// (ESO's `AWS_SECRETSMANAGER_ENDPOINT`).
    pub aws_secretsmanager_endpoint: Option<String>,
    /// The outbound HTTP policy (`--external-secrets-allow-link-local`).
    pub egress: Egress,
    /// The namespaces the bridge serves (`--external-secrets-namespaces`; `None`: every
    /// namespace). Credentials are read only there.
    pub served_namespaces: Option<BTreeSet<String>>,
    /// The bridge's `AWS_*` environment: its endpoint variables apply to every AWS store,
    /// the rest (the bridge's own identity) only to ClusterSecretStores without `auth`.
    pub aws_env: sealkit_cloud::EnvSnapshot,
    /// GCP endpoints and the bridge's own Google identity (ClusterSecretStores only).
    pub gcp: gcp::GcpSettings,
    /// Azure authority and the bridge's own Azure identity (ClusterSecretStores only).
    pub azure: azure::AzureSettings,
}

/// Where a store's credentials live, and the clients to read them with.
#[derive(Clone)]
pub struct StoreAccess {
    /// The bridge's cluster, under the bridge's identity: used only to read the credential
    /// Secrets, ConfigMaps and ServiceAccount tokens a store names, never to fetch its data.
    pub client: kube::Client,
    /// Shared HTTP client (system roots, the [`egress`] policy).
    pub http: reqwest::Client,
    /// Kind of the store.
    pub kind: StoreKind,
    /// Namespace of a SecretStore (None for a ClusterSecretStore).
    pub store_namespace: Option<String>,
    /// Namespace of the ExternalSecret using the store (credential default of a
    /// ClusterSecretStore).
    pub es_namespace: String,
    /// Controller settings.
    pub settings: Arc<ProviderSettings>,
}

impl StoreAccess {
    /// The namespace a credential selector points into: a SecretStore's own namespace (a
    /// `namespace` field is refused there, as ESO's validator does), or for a
    /// ClusterSecretStore the selector's namespace, else the ExternalSecret's. It must be a
    /// namespace the bridge serves.
    pub fn namespace_of(&self, namespace: Option<&str>) -> Result<String, ProviderError> {
        let resolved = match (&self.store_namespace, namespace) {
            (Some(own), None) => own.clone(),
            (Some(own), Some(ns)) if ns == own => own.clone(),
            (Some(_), Some(ns)) => {
                return Err(ProviderError::Config(format!(
                    "a SecretStore may only read credentials from its own namespace, not {ns:?}"
                )));
            }
            (None, Some(ns)) => ns.to_owned(),
            (None, None) if self.es_namespace.is_empty() => return Err(ProviderError::Referent),
            (None, None) => self.es_namespace.clone(),
        };
        if let Some(served) = &self.settings.served_namespaces
            && !served.contains(&resolved)
        {
            return Err(ProviderError::NotServed {
                namespace: resolved,
            });
        }
        Ok(resolved)
    }

    /// Every key of the Secret a selector names.
    pub async fn read_secret(
        &self,
        selector: &SecretKeySelector,
    ) -> Result<BTreeMap<String, SecretBytes>, ProviderError> {
        let namespace = self.namespace_of(selector.namespace.as_deref())?;
        let name = selector.name.clone();
        let fail = |reason: String| ProviderError::Credentials {
            namespace: namespace.clone(),
            name: name.clone(),
            reason,
        };
        if name.is_empty() {
            return Err(fail("the secret reference has no name".into()));
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &namespace);
        let secret = match api.get_opt(&name).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(fail("secret not found".into())),
            Err(e) => return Err(fail(api_failure(&e))),
        };
        let mut out = BTreeMap::new();
        for (k, v) in secret.data.unwrap_or_default() {
            out.insert(k, SecretBytes::new(v.0));
        }
        Ok(out)
    }

    /// One key of a Secret (`default_key` when the selector names none).
    pub async fn read_key(
        &self,
        selector: &SecretKeySelector,
        default_key: Option<&str>,
    ) -> Result<SecretBytes, ProviderError> {
        let namespace = self.namespace_of(selector.namespace.as_deref())?;
        let Some(key) = selector
            .key
            .as_deref()
            .filter(|k| !k.is_empty())
            .or(default_key)
        else {
            return Err(ProviderError::Credentials {
                namespace,
                name: selector.name.clone(),
                reason: "the secret reference has no key".into(),
            });
        };
        let mut all = self.read_secret(selector).await?;
        all.remove(key).ok_or_else(|| ProviderError::Credentials {
            namespace,
            name: selector.name.clone(),
            reason: format!("key {key:?} not found"),
        })
    }

    /// One key of a Secret as UTF-8 text without surrounding whitespace (tokens, key ids).
    pub async fn read_text(
        &self,
        selector: &SecretKeySelector,
        default_key: Option<&str>,
    ) -> Result<SecretString, ProviderError> {
        let bytes = self.read_key(selector, default_key).await?;
        let text = std::str::from_utf8(bytes.expose()).map_err(|_| ProviderError::Credentials {
            namespace: self
                .namespace_of(selector.namespace.as_deref())
                .unwrap_or_default(),
            name: selector.name.clone(),
            reason: "the value is not UTF-8".into(),
        })?;
        Ok(SecretString::from(text.trim().to_owned()))
    }

    /// A token of the ServiceAccount a selector names (TokenRequest), with the selector's
    /// audiences followed by `extra_audiences`. The ServiceAccount lives where a credential
    /// Secret would ([`StoreAccess::namespace_of`]).
    pub async fn service_account_token(
        &self,
        selector: &ServiceAccountSelector,
        extra_audiences: &[&str],
        expiration_seconds: i64,
    ) -> Result<SecretString, ProviderError> {
        let namespace = self.namespace_of(selector.namespace.as_deref())?;
        let mut audiences = selector.audiences.clone();
        audiences.extend(extra_audiences.iter().map(|a| (*a).to_owned()));
        service_account::request_token(
            &self.client,
            &TokenSpec {
                namespace,
                name: selector.name.clone(),
                audiences,
                expiration_seconds,
            },
        )
        .await
    }

    /// The PEM CA bundle of a store: `caBundle` (base64 of PEM in YAML; ESO also takes base64
    /// of that), else the `caProvider` Secret or ConfigMap key; `None` for the system roots.
    pub async fn ca_pem(
        &self,
        bundle: Option<&str>,
        provider: Option<&CaProvider>,
    ) -> Result<Option<Vec<u8>>, ProviderError> {
        if let Some(b64) = bundle.filter(|b| !b.trim().is_empty()) {
            return decode_ca_bundle(b64).map(Some);
        }
        let Some(provider) = provider else {
            return Ok(None);
        };
        if self.store_namespace.is_none() && provider.namespace.is_none() {
            return Err(ProviderError::Config(
                "caProvider.namespace is required on a ClusterSecretStore".into(),
            ));
        }
        let Some(key) = provider.key.as_deref().filter(|k| !k.is_empty()) else {
            return Err(ProviderError::Config("caProvider names no key".into()));
        };
        let pem = match provider.type_ {
            CaProviderType::Secret => self
                .read_key(
                    &SecretKeySelector {
                        name: provider.name.clone(),
                        namespace: provider.namespace.clone(),
                        key: Some(key.to_owned()),
                    },
                    None,
                )
                .await?
                .expose()
                .to_vec(),
            CaProviderType::ConfigMap => {
                let namespace = self.namespace_of(provider.namespace.as_deref())?;
                let fail = |reason: String| ProviderError::Credentials {
                    namespace: namespace.clone(),
                    name: provider.name.clone(),
                    reason,
                };
                let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &namespace);
                let map = match api.get_opt(&provider.name).await {
                    Ok(Some(m)) => m,
                    Ok(None) => return Err(fail("configmap not found".into())),
                    Err(e) => return Err(fail(api_failure(&e))),
                };
                map.data
                    .and_then(|mut d| d.remove(key))
                    .ok_or_else(|| fail(format!("key {key:?} not found")))?
                    .into_bytes()
            }
        };
        Ok(Some(pem))
    }

    /// The HTTP client of a store: the shared one, or one trusting `ca_pem` or with its own
    /// deadline (at most [`egress::MAX_TIMEOUT`]; both under the [`egress`] policy).
    pub fn http_client(
        &self,
        ca_pem: Option<&[u8]>,
        timeout: Option<std::time::Duration>,
    ) -> Result<reqwest::Client, ProviderError> {
        if ca_pem.is_none() && timeout.is_none() {
            return Ok(self.http.clone());
        }
        self.settings
            .egress
            .client(ca_pem, timeout.map(|t| t.min(egress::MAX_TIMEOUT)))
    }
}

/// A failed API call as a short reason (status code and reason, never a body).
fn api_failure(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("http {} {}", s.code, s.reason),
        _ => "kubernetes api call failed".into(),
    }
}

/// `caBundle` text: base64 of PEM (what the CRD's `[]byte` holds), or base64 of base64 of PEM
/// (ESO decodes once more when the bytes are not PEM).
fn decode_ca_bundle(b64: &str) -> Result<Vec<u8>, ProviderError> {
    let not_pem = || ProviderError::Config("caBundle holds no PEM certificate".into());
    let bytes = sealer::encoding::decode_std(b64.trim())
        .map_err(|_| ProviderError::Config("caBundle is not base64".into()))?;
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| not_pem())?;
    let again = sealer::encoding::decode_std(text.trim()).map_err(|_| not_pem())?;
    if again.windows(11).any(|w| w == b"-----BEGIN ") {
        Ok(again)
    } else {
        Err(not_pem())
    }
}

/// Which provider a store configures, or why none can be used.
pub fn provider_name(provider: &StoreProvider) -> Result<&'static str, ProviderError> {
    let mut set = Vec::new();
    if provider.vault.is_some() {
        set.push("vault");
    }
    if provider.aws.is_some() {
        set.push("aws");
    }
    if provider.kubernetes.is_some() {
        set.push("kubernetes");
    }
    if provider.webhook.is_some() {
        set.push("webhook");
    }
    if provider.fake.is_some() {
        set.push("fake");
    }
    if provider.gcpsm.is_some() {
        set.push("gcpsm");
    }
    if provider.azurekv.is_some() {
        set.push("azurekv");
    }
    let others: Vec<&str> = provider.other.keys().map(String::as_str).collect();
    match (set.as_slice(), others.as_slice()) {
        ([one], []) => Ok(one),
        ([], [other]) => Err(ProviderError::Unsupported(format!("provider {other:?}"))),
        ([], []) => Err(ProviderError::Config(
            "spec.provider names no provider".into(),
        )),
        _ => Err(ProviderError::Config(
            "spec.provider must name exactly one provider".into(),
        )),
    }
}

/// Builds the client of a store (logging in where the provider needs it).
pub async fn connect(
    provider: &StoreProvider,
    access: &StoreAccess,
) -> Result<Arc<dyn SecretsClient>, ProviderError> {
    Ok(match provider_name(provider)? {
        "vault" => Arc::new(
            vault::VaultClient::connect(
                provider.vault.as_ref().unwrap_or(&Default::default()),
                access,
            )
            .await?,
        ),
        "aws" => {
            let spec = provider.aws.as_ref().cloned().unwrap_or_default();
            if spec.service == "ParameterStore" {
                Arc::new(parameterstore::ParameterStoreClient::connect(&spec, access).await?)
            } else {
                Arc::new(aws::AwsClient::connect(&spec, access).await?)
            }
        }
        "kubernetes" => Arc::new(
            kubernetes::KubernetesClient::connect(
                provider.kubernetes.as_ref().unwrap_or(&Default::default()),
                access,
            )
            .await?,
        ),
        "webhook" => Arc::new(
            webhook::WebhookClient::connect(
                provider.webhook.as_ref().unwrap_or(&Default::default()),
                access,
            )
            .await?,
        ),
        "gcpsm" => Arc::new(
            gcp::GcpClient::connect(
                provider.gcpsm.as_ref().unwrap_or(&Default::default()),
                access,
            )
            .await?,
        ),
        "azurekv" => Arc::new(
            azure::AzureClient::connect(
                provider.azurekv.as_ref().unwrap_or(&Default::default()),
                access,
            )
            .await?,
        ),
        _ => Arc::new(fake::FakeClient::new(
            provider.fake.clone().unwrap_or_default(),
        )),
    })
}

/// The bytes of a JSON value as ESO stores it: strings as they are, everything else as JSON.
pub fn json_value_bytes(value: &serde_json::Value) -> SecretBytes {
    match value {
        serde_json::Value::String(s) => SecretBytes::new(s.as_bytes().to_vec()),
        other => SecretBytes::new(serde_json::to_vec(other).unwrap_or_default()),
    }
}

/// ESO's `getSecretValue`: no property → the whole JSON; a top-level key of that exact name →
/// its value; else a gjson path; nothing there → [`ProviderError::MissingProperty`].
pub fn select_property(
    key: &str,
    data: &serde_json::Value,
    property: Option<&str>,
) -> Result<SecretBytes, ProviderError> {
    let Some(property) = property.filter(|p| !p.is_empty()) else {
        return Ok(SecretBytes::new(
            serde_json::to_vec(data).unwrap_or_default(),
        ));
    };
    if let Some(v) = data.as_object().and_then(|m| m.get(property)) {
        return Ok(json_value_bytes(v));
    }
    let text = serde_json::to_string(data).unwrap_or_default();
    select_gjson(key, &text, property)
}

/// A gjson path into JSON text (`String()` of the result, as ESO takes it).
pub fn select_gjson(key: &str, json: &str, property: &str) -> Result<SecretBytes, ProviderError> {
    let v = gjson::get(json, property);
    if !v.exists() {
        return Err(ProviderError::MissingProperty {
            key: key.to_owned(),
            property: property.to_owned(),
        });
    }
    Ok(SecretBytes::new(v.str().as_bytes().to_vec()))
}

/// The top-level entries of a JSON object as values (`GetSecretMap`).
pub fn json_object_map(key: &str, bytes: &[u8]) -> Result<SecretMap, ProviderError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ProviderError::Answer {
            service: "store",
            what: format!("secret {key:?} is not a JSON object"),
        })?;
    let Some(map) = value.as_object() else {
        return Err(ProviderError::Answer {
            service: "store",
            what: format!("secret {key:?} is not a JSON object"),
        });
    };
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), json_value_bytes(v)))
        .collect())
}

/// `find.name.regexp` as a compiled regex (none = match all).
pub fn name_matcher(find: &ExternalSecretFind) -> Result<Option<regex::Regex>, ProviderError> {
    find.name
        .as_ref()
        .map(|n| {
            regex::Regex::new(&n.regexp).map_err(|_| {
                ProviderError::Config(format!("find.name.regexp {:?} is invalid", n.regexp))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn property_prefers_an_exact_key_over_a_gjson_path() {
        let data = json!({"a.b": "exact", "a": {"b": "nested"}, "n": 5});
        assert_eq!(
            select_property("k", &data, Some("a.b")).unwrap().expose(),
            b"exact"
        );
        assert_eq!(
            select_property("k", &data, Some("n")).unwrap().expose(),
            b"5"
        );
        let nested = json!({"a": {"b": "nested"}});
        assert_eq!(
            select_property("k", &nested, Some("a.b")).unwrap().expose(),
            b"nested"
        );
        assert_eq!(
            select_property("k", &nested, None).unwrap().expose(),
            br#"{"a":{"b":"nested"}}"#
        );
    }

    #[test]
    fn a_missing_property_is_an_error_never_an_empty_value() {
        let err = select_property("db", &json!({"user": "u"}), Some("password")).unwrap_err();
        assert!(matches!(err, ProviderError::MissingProperty { .. }));
        assert_eq!(
            err.to_string(),
            "cannot find secret data for key: \"password\" in secret \"db\""
        );
    }

    #[test]
    fn ca_bundles_are_base64_of_pem_or_base64_of_that() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let once = sealer::encoding::encode_std(pem.as_bytes());
        let twice = sealer::encoding::encode_std(once.as_bytes());
        assert_eq!(decode_ca_bundle(&once).unwrap(), pem.as_bytes());
        assert_eq!(decode_ca_bundle(&twice).unwrap(), pem.as_bytes());
        assert!(decode_ca_bundle("not base64!").is_err());
        assert!(decode_ca_bundle(&sealer::encoding::encode_std(b"plain text")).is_err());
    }

    #[tokio::test]
    async fn credentials_are_read_only_in_served_namespaces() {
        let (client, seen) = testing::MockApi::default()
            .secret("kube-system", "k", &[("token", "x")])
            .secret("apps", "k", &[("token", "ok")])
            .client();
        let access = testing::cluster_store_access(client, "apps", &["apps"]);
        let outside = SecretKeySelector {
            name: "k".into(),
            namespace: Some("kube-system".into()),
            key: Some("token".into()),
        };
        let err = access.read_key(&outside, None).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "namespace \"kube-system\" is not served by this bridge (--external-secrets-namespaces): credentials are read only in served namespaces"
        );
        assert!(seen.lock().unwrap().is_empty());
        let inside = SecretKeySelector {
            namespace: None,
            ..outside
        };
        assert_eq!(
            access.read_key(&inside, None).await.unwrap().expose(),
            b"ok"
        );
        // A ClusterSecretStore's caProvider must name its namespace (ESO's rule).
        let err = access
            .ca_pem(
                None,
                Some(&CaProvider {
                    type_: CaProviderType::Secret,
                    name: "ca".into(),
                    key: Some("ca.crt".into()),
                    namespace: None,
                }),
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("caProvider.namespace is required"),
            "{err}"
        );
    }

    #[test]
    fn a_push_needs_esos_marker_and_no_other_pushsecrets_mark() {
        let check = |managed, pushed| check_push_markers("vault", "k", managed, pushed, "apps/a");
        assert!(check(Some("external-secrets"), None).is_ok());
        assert!(check(Some("external-secrets"), Some("apps/a")).is_ok());
        let err = check(None, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not managed by external-secrets"),
            "{err}"
        );
        let err = check(Some("external-secrets"), Some("other/b")).unwrap_err();
        assert!(
            err.to_string().contains("was pushed by PushSecret other/b"),
            "{err}"
        );
    }

    #[test]
    fn a_property_push_merges_and_a_whole_push_needs_a_json_object() {
        let value = SecretBytes::new(b"s3cret".to_vec());
        let request = PushRequest {
            remote_key: "app/db",
            property: Some("password"),
            value: &value,
            all: None,
            owner: "apps/a",
        };
        let existing = serde_json::json!({"user": "u"}).as_object().cloned();
        let map = pushed_object("app/db", existing, &request).unwrap();
        assert_eq!(
            serde_json::Value::Object(map),
            serde_json::json!({"user": "u", "password": "s3cret"})
        );
        let whole = PushRequest {
            property: None,
            ..request
        };
        let err = pushed_object("app/db", None, &whole).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        assert!(!err.to_string().contains("s3cret"));
    }

    #[test]
    fn object_maps_keep_strings_raw_and_encode_the_rest() {
        let m = json_object_map("k", br#"{"s":"x","n":1,"o":{"a":true}}"#).unwrap();
        assert_eq!(m["s"].expose(), b"x");
        assert_eq!(m["n"].expose(), b"1");
        assert_eq!(m["o"].expose(), br#"{"a":true}"#);
        assert!(json_object_map("k", b"[1]").is_err());
    }
}
