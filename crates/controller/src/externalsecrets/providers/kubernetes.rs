//! Secrets of a Kubernetes cluster (external-secrets `providers/v1/kubernetes`,
//! `runtime/esutils/k8s_rest_config.go`): the remote key is a Secret's name in
//! `remoteNamespace` (`default` when unset), the property one of its keys.
//!
//! Authentication is always the store's own, exactly one of `auth.token` (a bearer token from a
//! Secret), `auth.cert` (client certificate and key from Secrets) or `auth.serviceAccount` (a
//! TokenRequest for that ServiceAccount, in the store's namespace for a SecretStore; the
//! selector's audiences, one hour). A store with none or several is refused, as ESO refuses it:
//! the bridge's own client never reads a store's data (issue 13, attack 1: a tenant store with
//! `remoteNamespace` set to the key namespace must not copy the sealing keys).
//!
//! `server.url` defaults to `kubernetes.default` as in ESO's CRD; a URL without a scheme is
//! `https` (client-go picks plain http when no CA is given: sealkit never sends a token in the
//! clear by default). `server.caBundle` / `caProvider` as ESO. The host is resolved once and
//! checked by the [`egress`](super::egress) policy, then the connection is pinned to that address
//! (TLS still verifies the host name), answers are capped at
//! [`MAX_RESPONSE_BYTES`](super::egress::MAX_RESPONSE_BYTES) and every call has a deadline.
//!
//! Without a property the value is the JSON object of every key (values as strings);
//! `metadataPolicy: Fetch` reads `{"labels":…,"annotations":…}`; `find` matches names by regexp
//! and `tags` as labels.

use std::collections::BTreeMap;
use std::net::IpAddr;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use sealer::secret::SecretBytes;
use secrecy::SecretString;
use serde_json::Value;

use super::egress::{CONNECT_TIMEOUT, DEFAULT_TIMEOUT, MAX_RESPONSE_BYTES};
use super::service_account::KUBERNETES_PROVIDER_EXPIRATION;
use super::{
    ProviderError, SecretMap, SecretsClient, StoreAccess, Validation, name_matcher, select_property,
};
use crate::externalsecrets::crd::{
    ExternalSecretFind, KubernetesAuth, KubernetesProvider, MetadataPolicy, RemoteRef,
};

mod push;

const SERVICE: &str = "kubernetes";

/// The API server of a store without `server.url` (ESO's CRD default).
pub const DEFAULT_SERVER: &str = "kubernetes.default";

/// A client of one cluster's Secrets in one namespace, under the store's own credentials.
pub struct KubernetesClient {
    api: Api<Secret>,
    namespace: String,
}

/// The one authentication method of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthMethod {
    Token,
    Cert,
    ServiceAccount,
}

/// ESO's `applyInlineAuth` rule: exactly one method.
fn auth_method(auth: Option<&KubernetesAuth>) -> Result<AuthMethod, ProviderError> {
    let none = || {
        ProviderError::Config(
            "kubernetes.auth is required: set exactly one of token, cert or serviceAccount (sealkit never reads a store's secrets with its own identity)"
                .into(),
        )
    };
    let Some(auth) = auth else {
        return Err(none());
    };
    let set: Vec<AuthMethod> = [
        auth.token.as_ref().map(|_| AuthMethod::Token),
        auth.cert.as_ref().map(|_| AuthMethod::Cert),
        auth.service_account
            .as_ref()
            .map(|_| AuthMethod::ServiceAccount),
    ]
    .into_iter()
    .flatten()
    .collect();
    match set.as_slice() {
        [one] => Ok(*one),
        [] => Err(none()),
        _ => Err(ProviderError::Config(
            "kubernetes.auth: multiple auth methods provided: set exactly one of token, serviceAccount or cert"
                .into(),
        )),
    }
}

/// `server.url` as a URL: `kubernetes.default` when unset, `https://` when it has no scheme.
pub fn server_url(url: Option<&str>) -> Result<url::Url, ProviderError> {
    let text = url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(DEFAULT_SERVER);
    let full = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    url::Url::parse(&full)
        .map_err(|_| ProviderError::Config(format!("kubernetes.server.url {text:?} is not a URL")))
}

impl KubernetesClient {
    /// Reads the store's credentials and builds its client (no call to the remote is made).
    pub async fn connect(
        spec: &KubernetesProvider,
        access: &StoreAccess,
    ) -> Result<Self, ProviderError> {
        if spec.auth_ref.is_some() {
            return Err(if spec.auth.is_some() {
                ProviderError::Config(
                    "kubernetes: authRef and inline auth cannot both be set".into(),
                )
            } else {
                ProviderError::Unsupported("kubernetes.authRef (kubeconfig)".into())
            });
        }
        let method = auth_method(spec.auth.as_ref())?;
        let auth = spec.auth.clone().unwrap_or_default();
        let namespace = spec
            .remote_namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let server = spec.server.clone().unwrap_or_default();
        let url = server_url(server.url.as_deref())?;
        let egress = &access.settings.egress;
        egress.check_url(&url)?;
        let ca = access
            .ca_pem(server.ca_bundle.as_deref(), server.ca_provider.as_ref())
            .await?;

        let mut config = kube::Config::new(pinned_uri(access, &url).await?);
        if url.scheme() == "https"
            && let Some(url::Host::Domain(name)) = url.host()
        {
            config.tls_server_name = Some(name.to_owned());
        }
        if let Some(ca) = ca {
            let certs = pem::parse_many(&ca).map_err(|_| {
                ProviderError::Config("the CA bundle holds no PEM certificate".into())
            })?;
            if certs.is_empty() {
                return Err(ProviderError::Config(
                    "the CA bundle holds no PEM certificate".into(),
                ));
            }
            config.root_cert = Some(certs.into_iter().map(pem::Pem::into_contents).collect());
        }
        config.default_namespace = namespace.clone();
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(DEFAULT_TIMEOUT);
        config.write_timeout = Some(DEFAULT_TIMEOUT);
        config.reset_reader_on_write = true;
        config.default_retry = false;
        config.proxy_url = None;
        match method {
            AuthMethod::Token => {
                let token = auth.token.unwrap_or_default();
                config.auth_info.token = Some(access.read_text(&token.bearer_token, None).await?);
            }
            AuthMethod::Cert => {
                let cert = auth.cert.unwrap_or_default();
                let cert_pem = access.read_key(&cert.client_cert, None).await?;
                let key_pem = access.read_key(&cert.client_key, None).await?;
                config.auth_info.client_certificate_data =
                    Some(sealer::encoding::encode_std(cert_pem.expose()));
                config.auth_info.client_key_data = Some(SecretString::from(
                    sealer::encoding::encode_std(key_pem.expose()),
                ));
            }
            AuthMethod::ServiceAccount => {
                let selector = auth.service_account.unwrap_or_default();
                let token = access
                    .service_account_token(&selector, &[], KUBERNETES_PROVIDER_EXPIRATION)
                    .await?;
                config.auth_info.token = Some(token);
            }
        }
        let client = capped_client(config)?;
        Ok(Self {
            api: Api::namespaced(client, &namespace),
            namespace,
        })
    }

    /// One call to the remote under the deadline, its errors classified.
    async fn call<T>(
        &self,
        action: String,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ProviderError> {
        match tokio::time::timeout(DEFAULT_TIMEOUT, call).await {
            Err(_) => Err(ProviderError::Timeout {
                service: SERVICE,
                seconds: DEFAULT_TIMEOUT.as_secs(),
            }),
            Ok(r) => r.map_err(|source| classify(action, source)),
        }
    }

    async fn secret(&self, name: &str) -> Result<Secret, ProviderError> {
        self.call(
            format!("get secret {}/{name}", self.namespace),
            self.api.get_opt(name),
        )
        .await?
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
            .call(
                format!("list secrets in {}", self.namespace),
                self.api.list(&lp),
            )
            .await?;
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

/// A remote API error as a provider error: 401/403 are denials, an answer over the cap is
/// [`ProviderError::TooLarge`].
fn classify(action: String, source: kube::Error) -> ProviderError {
    match &source {
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => ProviderError::Denied {
            service: SERVICE,
            message: format!("{action}: {}", s.message),
        },
        _ if over_limit(&source) => ProviderError::TooLarge {
            service: SERVICE,
            limit: MAX_RESPONSE_BYTES,
        },
        _ => ProviderError::Kube { action, source },
    }
}

/// Whether an error comes from the body cap of [`capped_client`].
fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The address to connect to: an IP literal as written, else the host name resolved once and
/// checked by the egress policy (the connection is pinned to it, so a second resolution cannot
/// lead elsewhere).
async fn pinned_uri(access: &StoreAccess, url: &url::Url) -> Result<http::Uri, ProviderError> {
    let port = url.port_or_known_default().unwrap_or(443);
    let ip: IpAddr = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(name)) => {
            let ips = access.settings.egress.resolve_checked(name).await?;
            ips.into_iter().next().ok_or_else(|| {
                ProviderError::Config(format!(
                    "kubernetes.server.url host {name:?} has no address"
                ))
            })?
        }
        None => {
            return Err(ProviderError::Config(
                "kubernetes.server.url has no host".into(),
            ));
        }
    };
    let authority = match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    };
    let path = url.path().trim_end_matches('/');
    format!("{}://{authority}{path}", url.scheme())
        .parse()
        .map_err(|_| ProviderError::Config("kubernetes.server.url is not a URL".into()))
}

/// A kube client whose answers are cut at [`MAX_RESPONSE_BYTES`] (kube-rs reads whole bodies).
fn capped_client(config: kube::Config) -> Result<kube::Client, ProviderError> {
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|_| ProviderError::Config("cannot build a kubernetes client".into()))?;
    Ok(builder
        .with_layer(&tower::util::MapResponseLayer::new(cap_body))
        .build())
}

fn cap_body(
    resp: http::Response<Box<kube::client::DynBody>>,
) -> http::Response<http_body_util::Limited<Box<kube::client::DynBody>>> {
    resp.map(|body| http_body_util::Limited::new(body, MAX_RESPONSE_BYTES))
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
            self.call(
                format!("list secrets in {}", self.namespace),
                self.api.list_metadata(&ListParams::default().limit(1)),
            )
            .await?;
            Ok(Validation::Ready)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode};
    use serde_json::json;

    use super::*;
    use crate::externalsecrets::crd::{
        KubernetesServer, KubernetesTokenAuth, SecretKeySelector, ServiceAccountSelector,
    };
    use crate::externalsecrets::providers::egress::Egress;
    use crate::externalsecrets::providers::testing::{
        MockApi, cluster_store_access, secret_store_access, serve,
    };

    /// A remote API server holding `default/db` = {password: remote}, answering only
    /// `Authorization: Bearer <token>`; records the bearer tokens it saw.
    async fn remote(token: &'static str, padding: usize) -> (String, Arc<Mutex<Vec<String>>>) {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/api/v1/namespaces/{ns}/secrets/{name}",
            axum::routing::get(
                move |Path((ns, name)): Path<(String, String)>, headers: HeaderMap| {
                    let log = log.clone();
                    async move {
                        let bearer = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        log.lock().unwrap().push(bearer.clone());
                        if bearer != format!("Bearer {token}") {
                            return Err(StatusCode::UNAUTHORIZED);
                        }
                        if (ns.as_str(), name.as_str()) != ("default", "db") {
                            return Err(StatusCode::NOT_FOUND);
                        }
                        Ok(axum::Json(json!({
                            "apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": "db", "namespace": "default",
                                         "annotations": {"pad": "x".repeat(padding)}},
                            "data": {"password": sealer::encoding::encode_std(b"remote")},
                        })))
                    }
                },
            ),
        );
        let addr = serve(app).await;
        (format!("http://{addr}"), seen)
    }

    fn store(
        url: Option<&str>,
        auth: Option<KubernetesAuth>,
        remote_namespace: &str,
    ) -> KubernetesProvider {
        KubernetesProvider {
            server: url.map(|u| KubernetesServer {
                url: Some(u.into()),
                ..Default::default()
            }),
            auth,
            auth_ref: None,
            remote_namespace: Some(remote_namespace.into()),
        }
    }

    fn token_auth(secret: &str) -> KubernetesAuth {
        KubernetesAuth {
            token: Some(KubernetesTokenAuth {
                bearer_token: SecretKeySelector {
                    name: secret.into(),
                    namespace: None,
                    key: Some("token".into()),
                },
            }),
            ..Default::default()
        }
    }

    fn sa_auth(name: &str, namespace: Option<&str>) -> KubernetesAuth {
        KubernetesAuth {
            service_account: Some(ServiceAccountSelector {
                name: name.into(),
                namespace: namespace.map(Into::into),
                audiences: vec!["remote-cluster".into()],
            }),
            ..Default::default()
        }
    }

    fn remote_ref(key: &str, property: &str) -> RemoteRef {
        RemoteRef {
            key: key.into(),
            property: Some(property.into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_store_without_auth_is_refused_and_the_bridge_identity_reads_nothing() {
        // issue 13, attack 1: `remoteNamespace: kube-system` without auth copied the sealing
        // keys through the controller's own client.
        let (client, seen) = MockApi::default()
            .secret(
                "kube-system",
                "sealed-secrets-key",
                &[("tls.key", "PRIVATE")],
            )
            .client();
        let access = secret_store_access(client, "attacker");
        for spec in [
            store(None, None, "kube-system"),
            store(Some("https://kubernetes.default"), None, "kube-system"),
            store(None, Some(KubernetesAuth::default()), "kube-system"),
        ] {
            let err = KubernetesClient::connect(&spec, &access)
                .await
                .err()
                .unwrap();
            assert!(matches!(err, ProviderError::Config(_)), "{err}");
            assert!(
                err.to_string().contains("kubernetes.auth is required"),
                "{err}"
            );
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "the bridge's client was used"
        );
    }

    #[tokio::test]
    async fn two_auth_methods_are_refused_as_eso_refuses_them() {
        let (client, _) = MockApi::default().client();
        let mut auth = token_auth("t");
        auth.service_account = sa_auth("eso", None).service_account;
        let err = KubernetesClient::connect(
            &store(Some("http://127.0.0.1:1"), Some(auth), "default"),
            &secret_store_access(client, "apps"),
        )
        .await
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("multiple auth methods provided"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_token_store_reads_with_the_token_from_its_own_secret() {
        let (url, bearers) = remote("tenant-token", 0).await;
        let (client, _) = MockApi::default()
            .secret("apps", "remote-token", &[("token", "tenant-token\n")])
            .client();
        let c = KubernetesClient::connect(
            &store(Some(&url), Some(token_auth("remote-token")), "default"),
            &secret_store_access(client, "apps"),
        )
        .await
        .unwrap();
        let v = c.get_secret(&remote_ref("db", "password")).await.unwrap();
        assert_eq!(v.expose(), b"remote");
        assert_eq!(bearers.lock().unwrap().as_slice(), ["Bearer tenant-token"]);
    }

    #[tokio::test]
    async fn a_service_account_store_reads_with_a_token_requested_for_that_account() {
        let (url, bearers) = remote("minted-for-apps-eso", 0).await;
        let (client, seen) = MockApi::default()
            .service_account("apps", "eso", "minted-for-apps-eso")
            .client();
        let c = KubernetesClient::connect(
            &store(Some(&url), Some(sa_auth("eso", None)), "default"),
            &secret_store_access(client, "apps"),
        )
        .await
        .unwrap();
        let v = c.get_secret(&remote_ref("db", "password")).await.unwrap();
        assert_eq!(v.expose(), b"remote");
        assert_eq!(
            bearers.lock().unwrap().as_slice(),
            ["Bearer minted-for-apps-eso"]
        );
        let seen = seen.lock().unwrap();
        let (method, path, body) = &seen[0];
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("POST", "/api/v1/namespaces/apps/serviceaccounts/eso/token")
        );
        assert_eq!(body["spec"]["audiences"], json!(["remote-cluster"]));
        assert_eq!(body["spec"]["expirationSeconds"], 3600);
    }

    #[tokio::test]
    async fn service_accounts_resolve_in_the_store_namespace_and_served_namespaces_only() {
        let (client, seen) = MockApi::default()
            .service_account(
                "kube-system",
                "sealed-secrets-controller",
                "controller-token",
            )
            .client();
        // A SecretStore may not name another namespace.
        let err = KubernetesClient::connect(
            &store(
                Some("http://127.0.0.1:1"),
                Some(sa_auth("sealed-secrets-controller", Some("kube-system"))),
                "default",
            ),
            &secret_store_access(client.clone(), "attacker"),
        )
        .await
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("only read credentials from its own namespace"),
            "{err}"
        );
        // A ClusterSecretStore may, but only into a namespace the bridge serves.
        let err = KubernetesClient::connect(
            &store(
                Some("http://127.0.0.1:1"),
                Some(sa_auth("sealed-secrets-controller", Some("kube-system"))),
                "default",
            ),
            &cluster_store_access(client, "apps", &["apps"]),
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(err, ProviderError::NotServed { ref namespace } if namespace == "kube-system"),
            "{err}"
        );
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn the_server_defaults_to_kubernetes_default_over_https() {
        assert_eq!(
            server_url(None).unwrap().as_str(),
            "https://kubernetes.default/"
        );
        assert_eq!(
            server_url(Some("api.example.com:6443")).unwrap().as_str(),
            "https://api.example.com:6443/"
        );
        assert_eq!(
            server_url(Some("http://127.0.0.1:8080")).unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
    }

    #[tokio::test]
    async fn link_local_servers_are_refused_by_address_and_after_resolution() {
        let (client, seen) = MockApi::default()
            .secret("apps", "t", &[("token", "x")])
            .client();
        let access = secret_store_access(client.clone(), "apps");
        let err = KubernetesClient::connect(
            &store(
                Some("http://169.254.169.254"),
                Some(token_auth("t")),
                "default",
            ),
            &access,
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(err, ProviderError::LinkLocal { .. }), "{err}");
        let mut resolving = secret_store_access(client, "apps");
        resolving.settings = Arc::new(crate::externalsecrets::providers::ProviderSettings {
            egress: Egress::new(false).with_lookup(Arc::new(|_| {
                Box::pin(async { Ok(vec!["169.254.169.254:0".parse().unwrap()]) })
            })),
            ..Default::default()
        });
        let err = KubernetesClient::connect(
            &store(
                Some("https://metadata.attacker.test"),
                Some(token_auth("t")),
                "default",
            ),
            &resolving,
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(err, ProviderError::LinkLocal { ref host } if host == "metadata.attacker.test"),
            "{err}"
        );
        assert!(
            seen.lock().unwrap().is_empty(),
            "no credential is read for a refused server"
        );
    }

    #[tokio::test]
    async fn an_answer_over_the_cap_is_refused_without_holding_it() {
        let (url, _) = remote("t0k", MAX_RESPONSE_BYTES + 1).await;
        let (client, _) = MockApi::default()
            .secret("apps", "remote-token", &[("token", "t0k")])
            .client();
        let c = KubernetesClient::connect(
            &store(Some(&url), Some(token_auth("remote-token")), "default"),
            &secret_store_access(client, "apps"),
        )
        .await
        .unwrap();
        let err = c
            .get_secret(&remote_ref("db", "password"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ProviderError::TooLarge {
                    service: "kubernetes",
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[cfg(test)]
mod tls_tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_rustls::rustls;

    use super::*;
    use crate::externalsecrets::crd::{KubernetesServer, KubernetesTokenAuth, SecretKeySelector};
    use crate::externalsecrets::providers::egress::Egress;
    use crate::externalsecrets::providers::testing::{MockApi, secret_store_access};

    /// An HTTPS server with a self-signed certificate for `name` that answers every request with
    /// the Secret `db` = {password: over-tls}; its certificate (PEM) and address.
    async fn tls_remote(name: &str) -> (String, std::net::SocketAddr) {
        let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![certified.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "default"},
            "data": {"password": sealer::encoding::encode_std(b"over-tls")},
        }))
        .unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (certified.cert.pem(), addr)
    }

    #[tokio::test]
    async fn a_pinned_https_connection_still_verifies_the_server_name() {
        let (ca, addr) = tls_remote("remote.test").await;
        let (client, _) = MockApi::default()
            .secret("apps", "t", &[("token", "tok")])
            .client();
        let mut access = secret_store_access(client, "apps");
        // Every name resolves to the test server.
        access.settings = Arc::new(crate::externalsecrets::providers::ProviderSettings {
            egress: Egress::new(false).with_lookup(Arc::new(|_| {
                Box::pin(async { Ok(vec!["127.0.0.1:0".parse().unwrap()]) })
            })),
            ..Default::default()
        });
        let spec = |host: &str| KubernetesProvider {
            server: Some(KubernetesServer {
                url: Some(format!("https://{host}:{}", addr.port())),
                ca_bundle: Some(sealer::encoding::encode_std(ca.as_bytes())),
                ca_provider: None,
            }),
            auth: Some(KubernetesAuth {
                token: Some(KubernetesTokenAuth {
                    bearer_token: SecretKeySelector {
                        name: "t".into(),
                        namespace: None,
                        key: Some("token".into()),
                    },
                }),
                ..Default::default()
            }),
            auth_ref: None,
            remote_namespace: None,
        };
        let remote = RemoteRef {
            key: "db".into(),
            property: Some("password".into()),
            ..Default::default()
        };
        let good = KubernetesClient::connect(&spec("remote.test"), &access)
            .await
            .unwrap();
        assert_eq!(
            good.get_secret(&remote).await.unwrap().expose(),
            b"over-tls"
        );
        // The same address under another name: the certificate does not match.
        let wrong = KubernetesClient::connect(&spec("other.test"), &access)
            .await
            .unwrap();
        let err = wrong.get_secret(&remote).await.unwrap_err();
        assert!(matches!(err, ProviderError::Kube { .. }), "{err}");
    }
}
