//! A Kubernetes API server for tests: stateful, in-process, plain HTTP, spoken to by kube-rs's real
//! client, watcher and `Controller` (and by `kubectl --server`).
//!
//! It implements the subset of the API our controllers use, with the real paths, verbs, status codes
//! and `Status` objects: the README section "Testing against a Kubernetes API server" lists what is
//! implemented, what is not, and where it differs from a real API server.
//!
//! ```no_run
//! # async fn demo() {
//! use k8s_openapi::api::core::v1::Secret;
//! use kube::api::{Api, PostParams};
//!
//! let harness = sealkit_tests::harness::start().await;
//! let secrets: Api<Secret> = Api::namespaced(harness.client(), "default");
//! let mut s = Secret::default();
//! s.metadata.name = Some("demo".into());
//! secrets.create(&PostParams::default(), &s).await.unwrap();
//! harness.inject(sealkit_tests::harness::Fault::status(503).resource("secrets"));
//! assert!(secrets.get("demo").await.is_err());
//! # }
//! ```

mod auth;
mod discovery;
mod faults;
mod fields;
mod gc;
mod patch;
mod protobuf;
mod proxy;
mod rbac;
mod reviews;
mod schema;
mod selectors;
mod server;
mod status;
mod store;
mod tls;
mod types;
mod watch;

pub use faults::{Fault, RequestRecord, Verb};

use patch::PatchKind;
use server::Shared;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Environment variable naming a kubeconfig: when set, [`client_for_tests`] uses that cluster instead
/// of starting a harness.
pub const TEST_KUBECONFIG_ENV: &str = "SEALKIT_TEST_KUBECONFIG";

/// Why the harness (or a client for tests) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("binding 127.0.0.1:{port}")]
    Bind {
        /// The requested port (0 = any).
        port: u16,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kube client could not be built.
    #[error("building a kube client")]
    Client(#[source] kube::Error),
    /// The kubeconfig named by `SEALKIT_TEST_KUBECONFIG` could not be used.
    #[error("{path}: unusable kubeconfig")]
    Kubeconfig {
        /// The kubeconfig path.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Writing a kubeconfig failed.
    #[error("writing a kubeconfig")]
    Write(#[source] std::io::Error),
    /// A document given to [`Harness::apply_yaml`] is not YAML.
    #[error("document {index}: not a Kubernetes object in YAML")]
    Yaml {
        /// Index of the document (0-based).
        index: usize,
        /// The parser's error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// The server refused an object of [`Harness::apply_yaml`] (or a token for a ServiceAccount).
    #[error("{kind} {name:?}: {message}")]
    Refused {
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// The API server's message.
        message: String,
    },
}

/// Settings of a harness.
#[derive(Debug, Clone)]
pub struct Options {
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    pub port: u16,
    /// How often an open watch with `allowWatchBookmarks=true` gets a BOOKMARK (the real server sends
    /// one about every minute).
    pub bookmark_interval: Duration,
    /// Events kept for watches and consistent lists; older resourceVersions answer 410 Expired.
    pub history_limit: usize,
    /// The admin token ([`Harness::admin_token`]); `None` picks a random one. Set it to keep one
    /// token valid across a restart of the harness on the same port.
    pub admin_token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 0,
            bookmark_interval: Duration::from_secs(10),
            history_limit: 100_000,
            admin_token: None,
        }
    }
}

/// A running API server. Stops when dropped (or by [`Harness::stop`]).
pub struct Harness {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
    https_url: String,
    client: kube::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts a harness on a free port of 127.0.0.1.
///
/// # Panics
/// If no socket can be bound on 127.0.0.1 (test support: there is nothing sensible to recover).
pub async fn start() -> Harness {
    start_with(Options::default())
        .await
        .expect("starting the kube API harness")
}

/// Starts a harness with `opts`.
pub async fn start_with(opts: Options) -> Result<Harness, Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|source| Error::Bind {
            port: opts.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        port: opts.port,
        source,
    })?;
    let url = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("a reqwest client with default settings");
    let shared = Arc::new(Shared {
        state: Mutex::new(store::State::new(opts.history_limit.max(1))),
        faults: Mutex::default(),
        endpoints: Mutex::default(),
        requests: Mutex::default(),
        cut: tokio::sync::watch::channel(0).0,
        bookmark_now: tokio::sync::watch::channel(0).0,
        gc: tokio::sync::Notify::new(),
        bookmark_interval: opts.bookmark_interval,
        http,
        addr: addr.to_string(),
        watches_started: Default::default(),
        auth: auth::Authenticator::new(url.clone(), opts.admin_token.clone()),
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = server::router(shared.clone());
    let tls_tcp = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|source| Error::Bind { port: 0, source })?;
    let (tls_listener, tls_accept) =
        tls::TlsListener::new(tls_tcp).map_err(|source| Error::Bind { port: 0, source })?;
    let https_url = format!(
        "https://{}",
        axum::serve::Listener::local_addr(&tls_listener)
            .map_err(|source| Error::Bind { port: 0, source })?
    );
    let tls_app = app.clone();
    let serve_tls = tokio::spawn(async move {
        let _ = axum::serve(tls_listener, tls_app).await;
    });
    let serve = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    let gc_shared = shared.clone();
    let gc_task = tokio::spawn(async move {
        loop {
            gc_shared.gc.notified().await;
            for _ in 0..100 {
                let changed = gc::collect(&mut gc_shared.state.lock().expect("state lock"));
                if !changed {
                    break;
                }
            }
            // Writes that arrive meanwhile are collected by the next pass: a pass walks every
            // object under the state lock, so one pass per write made a busy server spend its
            // time collecting (as the real GC, it runs after the write, not with it).
            tokio::time::sleep(gc::PAUSE).await;
        }
    });
    let client = client_for_url(&url)?;
    Ok(Harness {
        shared,
        addr,
        url,
        https_url,
        client,
        shutdown: Some(tx),
        tasks: vec![serve, gc_task, serve_tls, tls_accept],
    })
}

fn client_for_url(url: &str) -> Result<kube::Client, Error> {
    client_with_token(url, None)
}

fn client_with_token(url: &str, token: Option<&str>) -> Result<kube::Client, Error> {
    let uri: axum::http::Uri = url.parse().expect("the harness URL is a valid URI");
    let mut config = kube::Config::new(uri);
    config.default_namespace = "default".into();
    config.auth_info.token = token.map(|t| t.to_string().into());
    kube::Client::try_from(config).map_err(Error::Client)
}

/// The kubeconfig of a harness: `cluster` and `user` are the `cluster:` and `user:` mappings
/// (YAML flow style).
fn kubeconfig(cluster: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: harness\n  cluster: {cluster}\ncontexts:\n- name: harness\n  context:\n    cluster: harness\n    user: harness\n    namespace: default\ncurrent-context: harness\nusers:\n- name: harness\n  user: {user}\n"
    )
}

impl Harness {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kube client for this server (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A kubeconfig (YAML) pointing at this server, context `harness`, namespace `default`, with no
    /// credentials (full access, as before authentication existed).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig(&format!("{{server: {}}}", self.url), "{}")
    }

    /// Writes [`Harness::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        fs_err::write(path, self.kubeconfig_yaml()).map_err(Error::Write)
    }

    /// `https://127.0.0.1:PORT`: the same server over TLS, its certificate issued by
    /// [`Harness::ca_pem`]. kubectl sends tokens only over TLS.
    pub fn https_url(&self) -> &str {
        &self.https_url
    }

    /// The CA certificate (PEM) of [`Harness::https_url`].
    pub fn ca_pem(&self) -> &str {
        &tls::material().ca_pem
    }

    /// A kubeconfig (YAML) for [`Harness::https_url`] whose user authenticates with `token`
    /// (context `harness`, namespace `default`, the CA inline): for kubectl and the binaries.
    pub fn kubeconfig_for_token(&self, token: &str) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem());
        kubeconfig(
            &format!(
                "{{server: {}, certificate-authority-data: {ca}}}",
                self.https_url
            ),
            &format!("{{token: {}}}", serde_json::Value::from(token)),
        )
    }

    /// Writes [`Harness::kubeconfig_for_token`] to `path`.
    pub fn write_kubeconfig_for_token(&self, path: &Path, token: &str) -> Result<(), Error> {
        fs_err::write(path, self.kubeconfig_for_token(token)).map_err(Error::Write)
    }

    /// A kube client that authenticates with `token` (default namespace `default`, plain HTTP):
    /// every request it makes is authorized by RBAC.
    pub fn client_for_token(&self, token: &str) -> kube::Client {
        client_with_token(&self.url, Some(token))
            .expect("a kube client for a URL the harness listens on")
    }

    /// The static admin token: user `harness-admin` in group `system:masters` (everything allowed,
    /// like a cluster-admin kubeconfig). Requests without a token also have full access.
    pub fn admin_token(&self) -> String {
        self.shared.auth.admin_token().to_string()
    }

    /// The `iss` of ServiceAccount tokens and the default audience of the API server: the harness
    /// URL. Its OIDC discovery document is at `{issuer}/.well-known/openid-configuration`, the
    /// keys at `{issuer}/openid/v1/jwks`.
    pub fn token_issuer(&self) -> &str {
        self.shared.auth.issuer()
    }

    /// A one-hour token of the ServiceAccount `namespace/name` for the API server's audience, as
    /// `kubectl create token` gets one. Creates the ServiceAccount if it does not exist.
    ///
    /// # Panics
    /// If the namespace does not exist (test support: create it first).
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        self.service_account_token_with(namespace, name, &[], Duration::from_secs(3600))
    }

    /// A token of the ServiceAccount `namespace/name` for `audiences` (none: the API server's)
    /// valid for `ttl` (any length: the 10-minute minimum of the TokenRequest API does not apply
    /// here). Creates the ServiceAccount if it does not exist.
    ///
    /// # Panics
    /// If the namespace does not exist (test support: create it first).
    pub fn service_account_token_with(
        &self,
        namespace: &str,
        name: &str,
        audiences: &[&str],
        ttl: Duration,
    ) -> String {
        let sa = self.ensure_service_account(namespace, name);
        let audiences: Vec<String> = if audiences.is_empty() {
            self.shared.auth.api_audiences()
        } else {
            audiences.iter().map(|a| a.to_string()).collect()
        };
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        self.shared.auth.issue(namespace, &sa, &audiences, ttl).0
    }

    /// The ServiceAccount `namespace/name`, created if missing.
    fn ensure_service_account(&self, namespace: &str, name: &str) -> serde_json::Value {
        let mut state = self.shared.state.lock().expect("state lock");
        let rt = state
            .find_type("", "v1", "serviceaccounts")
            .expect("serviceaccounts are built in");
        if let Ok(sa) = state.get(&rt, Some(namespace), name) {
            return sa;
        }
        let sa = serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        });
        state
            .create(&rt, Some(namespace), sa, &admin_ctx("v1"))
            .unwrap_or_else(|e| panic!("creating ServiceAccount {namespace}/{name}: {}", e.message))
    }

    /// Moves the clock that token expiry is checked against forward by `by` (tokens issued from
    /// now on are issued at the new time too).
    pub fn advance_token_clock(&self, by: Duration) {
        self.shared
            .auth
            .advance(i64::try_from(by.as_secs()).unwrap_or(i64::MAX / 4));
    }

    /// Applies every object of a (multi-document) YAML stream, `kind: List` items included, with
    /// server-side apply as field manager `sealkit-tests` (forced), as `kubectl apply
    /// --server-side --force-conflicts` does: RBAC from `deploy/`, ServiceAccounts, anything the
    /// harness serves. Namespaced objects without a namespace go to `default`. Returns the stored
    /// objects.
    pub fn apply_yaml(&self, yaml: &str) -> Result<Vec<serde_json::Value>, Error> {
        let mut docs = vec![];
        for (index, doc) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
            let v = <serde_json::Value as serde::Deserialize>::deserialize(doc)
                .map_err(|source| Error::Yaml { index, source })?;
            match v {
                serde_json::Value::Null => {}
                v if v["kind"] == "List" => {
                    docs.extend(v["items"].as_array().cloned().unwrap_or_default());
                }
                v => docs.push(v),
            }
        }
        let mut out = vec![];
        for doc in docs {
            out.push(self.apply_object(doc)?);
        }
        self.shared.gc.notify_one();
        Ok(out)
    }

    fn apply_object(&self, obj: serde_json::Value) -> Result<serde_json::Value, Error> {
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let refused = |message: String| Error::Refused {
            kind: kind.clone(),
            name: name.clone(),
            message,
        };
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let mut state = self.shared.state.lock().expect("state lock");
        let rt = state
            .types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.serves(version) && !t.create_only)
            .cloned()
            .ok_or_else(|| refused(format!("no kind {kind:?} is served in {api_version:?}")))?;
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string();
        let ns = rt.namespaced.then_some(ns.as_str());
        let body = serde_json::to_vec(&obj).map_err(|e| refused(e.to_string()))?;
        let part = fields::Part::Main {
            status_subresource: rt.status_subresource,
        };
        state
            .patch(
                &rt,
                ns,
                &name,
                PatchKind::Apply,
                &body,
                part,
                &admin_ctx(version),
            )
            .map(|(o, _)| o)
            .map_err(|e| refused(e.message))
    }

    /// Injects a fault: matching requests fail (or wait) as it says.
    pub fn inject(&self, fault: Fault) {
        self.shared.faults.lock().expect("faults lock").add(fault);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("faults lock").clear();
    }

    /// Ends every open watch stream now (as an API server restart or a load balancer would); clients
    /// re-watch from their last resourceVersion.
    pub fn cut_watches(&self) {
        self.shared.cut.send_modify(|n| *n += 1);
    }

    /// Forgets the event history: a watch (or `Exact`/continued list) from any resourceVersion older than
    /// the current one now gets 410 Gone (`Expired`), as after an etcd compaction.
    pub fn compact(&self) {
        self.shared.state.lock().expect("state lock").compact();
    }

    /// Sends a BOOKMARK on every open watch that allows them, now.
    pub fn send_bookmarks(&self) {
        self.shared.bookmark_now.send_modify(|n| *n += 1);
    }

    /// The current resourceVersion (of the last write).
    pub fn resource_version(&self) -> u64 {
        self.shared.state.lock().expect("state lock").rv
    }

    /// How many watch requests have been served since start.
    pub fn watches_started(&self) -> u64 {
        self.shared.watches_started.load(Ordering::SeqCst)
    }

    /// Every resource request served so far (discovery excluded), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.requests.lock().expect("requests lock").clear();
    }

    /// Routes the Service proxy of `namespace/name` on `port` (a port number or name, e.g. `"8080"` or
    /// `"http"`) to `target`. Creates the Service (with that port) if it does not exist yet, as a
    /// deployed controller's Service would. Registering a port again replaces its target.
    pub fn register_service_proxy(
        &self,
        namespace: &str,
        name: &str,
        port: &str,
        target: SocketAddr,
    ) {
        {
            let mut state = self.shared.state.lock().expect("state lock");
            let rt = state
                .find_type("", "v1", "services")
                .expect("services are built in");
            if state.get(&rt, Some(namespace), name).is_err() {
                let port_json = match port.parse::<u16>() {
                    Ok(n) => serde_json::json!({"port": n, "name": "http"}),
                    Err(_) => serde_json::json!({"port": target.port(), "name": port}),
                };
                let svc = serde_json::json!({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"ports": [port_json]},
                });
                let ctx = store::WriteCtx {
                    manager: "sealkit-harness".into(),
                    ..admin_ctx("v1")
                };
                state
                    .create(&rt, Some(namespace), svc, &ctx)
                    .expect("namespace exists and the Service is valid");
            }
        }
        // Registering a port again moves it to the new target, as a Service's endpoints follow
        // a restarted pod.
        let mut endpoints = self.shared.endpoints.lock().expect("endpoints lock");
        let ports = endpoints
            .0
            .entry((namespace.to_string(), name.to_string()))
            .or_default();
        ports.retain(|(p, _)| p != port);
        ports.push((port.to_string(), proxy::Target { addr: target }));
    }

    /// Stops serving: cuts open watches and closes the listener.
    pub async fn stop(mut self) {
        self.cut_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(serve) = self.tasks.first_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(5), serve).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cut_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Writes made by the test-support methods (field manager `sealkit-tests`).
fn admin_ctx(version: &str) -> store::WriteCtx {
    store::WriteCtx {
        manager: "sealkit-tests".into(),
        dry_run: false,
        version: version.into(),
        force: true,
        explicit_manager: true,
    }
}

/// The cluster a test talks to: a fresh harness, or the real cluster named by `SEALKIT_TEST_KUBECONFIG`.
pub enum TestCluster {
    /// An in-process harness.
    Harness(Harness),
    /// A real cluster (kind, ...), from the kubeconfig in `SEALKIT_TEST_KUBECONFIG`.
    External {
        /// A client for it.
        client: kube::Client,
        /// The kubeconfig path.
        kubeconfig: PathBuf,
    },
}

impl TestCluster {
    /// A client for the cluster.
    pub fn client(&self) -> kube::Client {
        match self {
            Self::Harness(h) => h.client(),
            Self::External { client, .. } => client.clone(),
        }
    }

    /// The harness, when the test runs on one (fault injection is only available there).
    pub fn harness(&self) -> Option<&Harness> {
        match self {
            Self::Harness(h) => Some(h),
            Self::External { .. } => None,
        }
    }
}

/// The cluster for a test: the one named by `SEALKIT_TEST_KUBECONFIG` if set, else a new harness.
pub async fn client_for_tests() -> Result<TestCluster, Error> {
    match std::env::var_os(TEST_KUBECONFIG_ENV) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            let err = |source: Box<dyn std::error::Error + Send + Sync>| Error::Kubeconfig {
                path: path.clone(),
                source,
            };
            let kc = kube::config::Kubeconfig::read_from(&path).map_err(|e| err(Box::new(e)))?;
            let config = kube::Config::from_custom_kubeconfig(
                kc,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| err(Box::new(e)))?;
            let client = kube::Client::try_from(config).map_err(Error::Client)?;
            Ok(TestCluster::External {
                client,
                kubeconfig: path,
            })
        }
        _ => Ok(TestCluster::Harness(start_with(Options::default()).await?)),
    }
}
