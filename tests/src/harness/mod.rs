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

mod discovery;
mod faults;
mod fields;
mod gc;
mod patch;
mod proxy;
mod schema;
mod selectors;
mod server;
mod status;
mod store;
mod types;
mod watch;

pub use faults::{Fault, RequestRecord, Verb};

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
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: 0,
            bookmark_interval: Duration::from_secs(10),
            history_limit: 100_000,
        }
    }
}

/// A running API server. Stops when dropped (or by [`Harness::stop`]).
pub struct Harness {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
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
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = server::router(shared.clone());
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
        client,
        shutdown: Some(tx),
        tasks: vec![serve, gc_task],
    })
}

fn client_for_url(url: &str) -> Result<kube::Client, Error> {
    let uri: axum::http::Uri = url.parse().expect("the harness URL is a valid URI");
    let mut config = kube::Config::new(uri);
    config.default_namespace = "default".into();
    kube::Client::try_from(config).map_err(Error::Client)
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

    /// A kubeconfig (YAML) pointing at this server, context `harness`, namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: harness\n  cluster:\n    server: {}\ncontexts:\n- name: harness\n  context:\n    cluster: harness\n    user: harness\n    namespace: default\ncurrent-context: harness\nusers:\n- name: harness\n  user: {{}}\n",
            self.url
        )
    }

    /// Writes [`Harness::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        fs_err::write(path, self.kubeconfig_yaml()).map_err(Error::Write)
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
    /// deployed controller's Service would.
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
                    dry_run: false,
                    version: "v1".into(),
                    force: false,
                    explicit_manager: true,
                };
                state
                    .create(&rt, Some(namespace), svc, &ctx)
                    .expect("namespace exists and the Service is valid");
            }
        }
        self.shared
            .endpoints
            .lock()
            .expect("endpoints lock")
            .0
            .entry((namespace.to_string(), name.to_string()))
            .or_default()
            .push((port.to_string(), proxy::Target { addr: target }));
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
