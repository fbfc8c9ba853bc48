//! Test support: an in-process stand-in for the bridge's own API server (credential Secrets,
//! ConfigMaps, TokenRequests) that records every request, and [`StoreAccess`] builders.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::{ProviderSettings, StoreAccess};
use crate::externalsecrets::crd::StoreKind;

/// A request the mock API server saw: method, path and JSON body.
pub type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// What the mock API server holds.
#[derive(Default, Clone)]
pub struct MockApi {
    /// `(namespace, name)` → string data of a Secret.
    pub secrets: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// `(namespace, name)` of ServiceAccounts → the token a TokenRequest for it returns.
    pub tokens: BTreeMap<(String, String), String>,
    /// `(namespace, name)` of ServiceAccounts → their annotations (a GET answers them).
    pub annotations: BTreeMap<(String, String), BTreeMap<String, String>>,
}

impl MockApi {
    /// Adds a Secret.
    pub fn secret(mut self, namespace: &str, name: &str, data: &[(&str, &str)]) -> Self {
        self.secrets.insert(
            (namespace.into(), name.into()),
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self
    }

    /// Adds a ServiceAccount whose TokenRequests answer `token`.
    pub fn service_account(mut self, namespace: &str, name: &str, token: &str) -> Self {
        self.tokens
            .insert((namespace.into(), name.into()), token.into());
        self
    }

    /// Adds a ServiceAccount with annotations whose TokenRequests answer `token`.
    pub fn annotated_service_account(
        mut self,
        namespace: &str,
        name: &str,
        token: &str,
        annotations: &[(&str, &str)],
    ) -> Self {
        self.annotations.insert(
            (namespace.into(), name.into()),
            annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self.service_account(namespace, name, token)
    }

    /// A client of this API server, and the log of what it was asked.
    pub fn client(self) -> (kube::Client, Seen) {
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let state = Arc::new(self);
        let service = tower::service_fn(move |req: Request<Body>| {
            let log = log.clone();
            let state = state.clone();
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect_bytes().await?;
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                log.lock()
                    .unwrap()
                    .push((method.clone(), path.clone(), body.clone()));
                let (status, answer) = state.answer(&method, &path, body);
                Ok::<_, kube::Error>(
                    Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                        .unwrap(),
                )
            }
        });
        (kube::Client::new(service, "default"), seen)
    }

    fn answer(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["api", "v1", "namespaces", ns, "secrets", name]) => {
                match self.secrets.get(&((*ns).to_owned(), (*name).to_owned())) {
                    Some(data) => (
                        StatusCode::OK,
                        json!({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": name, "namespace": ns},
                               "data": data.iter().map(|(k, v)| (k.clone(), json!(sealer::encoding::encode_std(v.as_bytes())))).collect::<serde_json::Map<_, _>>()}),
                    ),
                    None => not_found(),
                }
            }
            ("GET", ["api", "v1", "namespaces", ns, "serviceaccounts", name]) => {
                let key = ((*ns).to_owned(), (*name).to_owned());
                match (self.tokens.get(&key), self.annotations.get(&key)) {
                    (None, None) => not_found(),
                    (_, annotations) => (
                        StatusCode::OK,
                        json!({"apiVersion": "v1", "kind": "ServiceAccount",
                               "metadata": {"name": name, "namespace": ns,
                                            "annotations": annotations.cloned().unwrap_or_default()}}),
                    ),
                }
            }
            (
                "POST",
                [
                    "api",
                    "v1",
                    "namespaces",
                    ns,
                    "serviceaccounts",
                    name,
                    "token",
                ],
            ) => match self.tokens.get(&((*ns).to_owned(), (*name).to_owned())) {
                Some(token) => {
                    let mut answer = body;
                    answer["status"] = json!({
                        "token": token,
                        "expirationTimestamp": "2030-01-01T00:00:00Z",
                    });
                    (StatusCode::CREATED, answer)
                }
                None => not_found(),
            },
            _ => not_found(),
        }
    }
}

fn not_found() -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

/// Access of a SecretStore in `namespace` through `client`.
pub fn secret_store_access(client: kube::Client, namespace: &str) -> StoreAccess {
    StoreAccess {
        client,
        http: reqwest::Client::new(),
        kind: StoreKind::SecretStore,
        store_namespace: Some(namespace.into()),
        es_namespace: namespace.into(),
        settings: Arc::new(ProviderSettings::default()),
    }
}

/// Access of a ClusterSecretStore used from `es_namespace`, the bridge serving `served`.
pub fn cluster_store_access(
    client: kube::Client,
    es_namespace: &str,
    served: &[&str],
) -> StoreAccess {
    StoreAccess {
        client,
        http: reqwest::Client::new(),
        kind: StoreKind::ClusterSecretStore,
        store_namespace: None,
        es_namespace: es_namespace.into(),
        settings: Arc::new(ProviderSettings {
            served_namespaces: Some(
                served
                    .iter()
                    .map(|n| (*n).to_owned())
                    .collect::<BTreeSet<_>>(),
            ),
            ..Default::default()
        }),
    }
}

/// Serves `app` on a free loopback port.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
