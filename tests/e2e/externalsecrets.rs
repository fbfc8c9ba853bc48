//! The ExternalSecret bridge end to end: kube-rs's real client and controller runtime against the
//! API-server harness, with real upstreams — an OpenBao dev server (Vault API), moto (AWS
//! Secrets Manager, with SigV4 checking), a second harness as a remote cluster, an axum webhook
//! server owned by the test — and the fake provider for the policy matrix.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, ResourceExt as _};
use seal_controller::externalsecrets::crd::{ClusterSecretStore, ExternalSecret, SecretStore};
use seal_controller::externalsecrets::metrics::EsMetrics;
use seal_controller::externalsecrets::providers::ProviderSettings;
use seal_controller::externalsecrets::{self, Config};
use sealkit_tests::binaries;
use sealkit_tests::harness::{self, Harness};
use sealkit_tests::servers::{Moto, OpenBao};
use serde_json::{Value, json};
use tokio::sync::watch;

const NS: &str = "apps";

/// A harness with the bridge's CRDs and the bridge running against it.
struct Bridge {
    h: Harness,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    metrics: Arc<EsMetrics>,
    /// The `seal-controller` process, its temp dir (kubeconfig, HOME) and its logs, when the
    /// bridge runs as the binary.
    process: Option<BridgeProcess>,
}

struct BridgeProcess {
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
    logs: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Bridge {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(None, tune).await
    }

    /// The bridge serving one namespace (`--external-secrets-namespaces`) or all.
    async fn start_in(namespace: Option<&str>, tune: impl FnOnce(&mut Config)) -> Self {
        let h = Self::cluster().await;
        let client = h.client();
        let mut config = Config {
            store_qps: 0.0,
            ..Config::default()
        };
        tune(&mut config);
        let metrics = Arc::new(EsMetrics::new());
        let (stop, rx) = watch::channel(false);
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "seal-controller".into(),
                instance: None,
            },
        );
        let task = tokio::spawn(externalsecrets::run(
            client,
            config,
            metrics.clone(),
            recorder,
            namespace.map(str::to_owned),
            true,
            rx,
        ));
        Self {
            h,
            stop,
            task: Some(task),
            metrics,
            process: None,
        }
    }

    /// A harness with the bridge's CRDs and the namespace [`NS`].
    async fn cluster() -> Harness {
        let h = harness::start().await;
        let client = h.client();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in externalsecrets::crds() {
            crds.create(&PostParams::default(), &crd)
                .await
                .expect("install the external-secrets.io CRDs");
        }
        create_namespace(&client, NS, &[]).await;
        h
    }

    /// The `seal-controller` binary as the bridge (`--external-secrets`, no SealedSecret
    /// side), in a clean environment holding only a kubeconfig, `HOME` and `env`: for what
    /// only the process environment configures (managed identity endpoints, trusted CAs).
    async fn start_binary(env: &[(&str, &str)]) -> Self {
        let h = Self::cluster().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        h.write_kubeconfig(&kubeconfig).expect("write kubeconfig");
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .expect("bind")
                .local_addr()
                .expect("addr")
                .port()
        };
        let path = tokio::task::spawn_blocking(|| binaries::path("seal-controller"))
            .await
            .expect("locating seal-controller");
        let mut command = tokio::process::Command::new(path);
        command
            .args([
                "--external-secrets".to_owned(),
                "--sealed-secrets=false".to_owned(),
                "--external-secrets-store-qps=1000".to_owned(),
                format!("--listen-addr=127.0.0.1:{}", port()),
                format!("--listen-metrics-addr=127.0.0.1:{}", port()),
            ])
            .env_clear()
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", dir.path())
            .env("POD_NAMESPACE", "kube-system");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn seal-controller");
        // Drain the logs while it runs: a process blocked on a full pipe stops reconciling.
        let logs: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
        let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
            let logs = logs.clone();
            tokio::spawn(async move {
                let Some(mut pipe) = pipe else { return };
                let mut buf = [0u8; 8192];
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut pipe, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                    logs.lock().expect("logs").extend_from_slice(&buf[..n]);
                }
            });
        };
        drain(child.stdout.take().map(|p| Box::new(p) as _));
        drain(child.stderr.take().map(|p| Box::new(p) as _));
        let (stop, _) = watch::channel(false);
        Self {
            h,
            stop,
            task: None,
            metrics: Arc::new(EsMetrics::new()),
            process: Some(BridgeProcess {
                child,
                _dir: dir,
                logs,
            }),
        }
    }

    /// What the bridge process logged so far (empty when it runs in-process).
    fn logs(&self) -> String {
        self.process.as_ref().map_or_else(String::new, |p| {
            String::from_utf8_lossy(&p.logs.lock().expect("logs")).into_owned()
        })
    }

    fn client(&self) -> Client {
        self.h.client()
    }

    async fn create<K>(&self, value: Value) -> K
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let obj: K = serde_json::from_value(value).expect("a valid manifest");
        let ns = obj.namespace().unwrap_or_else(|| NS.to_owned());
        Api::<K>::namespaced(self.client(), &ns)
            .create(&PostParams::default(), &obj)
            .await
            .expect("create")
    }

    async fn secret_opt(&self, ns: &str, name: &str) -> Option<Secret> {
        Api::<Secret>::namespaced(self.client(), ns)
            .get_opt(name)
            .await
            .expect("get secret")
    }

    async fn data(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.secret_opt(ns, name).await.map(|s| strings(&s))
    }

    async fn put_secret(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
        let api: Api<Secret> = Api::namespaced(self.client(), ns);
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.string_data = Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        match api.get_opt(name).await.expect("get") {
            None => {
                api.create(&PostParams::default(), &s)
                    .await
                    .expect("create secret");
            }
            Some(old) => {
                s.metadata.resource_version = old.metadata.resource_version;
                api.replace(name, &PostParams::default(), &s)
                    .await
                    .expect("replace secret");
            }
        }
    }

    /// `(status, reason, message)` of the ExternalSecret's Ready condition.
    async fn ready(&self, ns: &str, name: &str) -> Option<(String, String, String)> {
        let es = Api::<ExternalSecret>::namespaced(self.client(), ns)
            .get_opt(name)
            .await
            .expect("get externalsecret")?;
        let c = es
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        Some((
            c.status,
            c.reason.unwrap_or_default(),
            c.message.unwrap_or_default(),
        ))
    }

    async fn wait_data(&self, ns: &str, name: &str, want: &[(&str, &str)]) {
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut last = None;
        for _ in 0..300 {
            last = self.data(ns, name).await;
            if last.as_ref() == Some(&want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let ready = self.ready(ns, name).await;
        panic!("secret {ns}/{name}: want {want:?}, have {last:?}; externalsecret Ready: {ready:?}");
    }

    async fn wait_ready(&self, ns: &str, name: &str, status: &str, reason: &str) -> String {
        let mut last = None;
        for _ in 0..400 {
            last = self.ready(ns, name).await;
            if let Some((s, r, m)) = &last
                && s == status
                && r == reason
            {
                return m.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("externalsecret {ns}/{name}: want Ready={status}/{reason}, have {last:?}");
    }

    async fn store_ready(&self, cluster: bool, ns: &str, name: &str) -> Option<(String, String)> {
        let status = if cluster {
            Api::<ClusterSecretStore>::all(self.client())
                .get_opt(name)
                .await
                .expect("get")?
                .status?
        } else {
            Api::<SecretStore>::namespaced(self.client(), ns)
                .get_opt(name)
                .await
                .expect("get")?
                .status?
        };
        let c = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
        Some((c.status, c.reason.unwrap_or_default()))
    }

    async fn wait_store_ready(&self, cluster: bool, ns: &str, name: &str, want: (&str, &str)) {
        let mut last = None;
        for _ in 0..300 {
            last = self.store_ready(cluster, ns, name).await;
            if last
                .as_ref()
                .is_some_and(|(s, r)| s == want.0 && r == want.1)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("store {name}: want Ready {want:?}, have {last:?}");
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        if let Some(mut p) = self.process.take() {
            let _ = p.child.kill().await;
        }
    }
}

fn strings(s: &Secret) -> BTreeMap<String, String> {
    s.data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

async fn create_namespace(client: &Client, name: &str, labels: &[(&str, &str)]) {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.into());
    ns.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

fn store(name: &str, provider: Value) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"provider": provider},
    })
}

fn external_secret(name: &str, store: &str, spec: Value) -> Value {
    let mut es = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "refreshInterval": "1s",
            "secretStoreRef": {"name": store, "kind": "SecretStore"},
        },
    });
    for (k, v) in spec.as_object().expect("spec object") {
        es["spec"][k] = v.clone();
    }
    es
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

// ---------------------------------------------------------------------------------------------
// Vault / OpenBao
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kv2_values_sync_follow_changes_survive_an_outage_and_recover() {
    let mut bao = blocking(OpenBao::start);
    let port = bao.addr().port();
    let put = |bao: &OpenBao, password: &str| {
        blocking(|| {
            bao.kv_put(
                "secret",
                "app/db",
                &json!({"user": "app", "password": password, "port": 5432}),
            );
        });
    };
    put(&bao, "hunter2");
    let b = Bridge::start().await;
    b.put_secret(NS, "vault-token", &[("token", OpenBao::ROOT_TOKEN)])
        .await;
    b.create::<SecretStore>(store(
        "vault",
        json!({"vault": {
            "server": bao.url(),
            "path": "secret",
            "version": "v2",
            "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}},
        }}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "vault",
        json!({
            "target": {"name": "db-creds"},
            "data": [
                {"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}},
                {"secretKey": "port", "remoteRef": {"key": "app/db", "property": "port"}},
            ],
            "dataFrom": [{"extract": {"key": "secret/app/db"}}],
        }),
    ))
    .await;
    b.wait_data(
        NS,
        "db-creds",
        &[("password", "hunter2"), ("port", "5432"), ("user", "app")],
    )
    .await;
    b.wait_ready(NS, "db", "True", "SecretSynced").await;
    b.wait_store_ready(false, NS, "vault", ("True", "Valid"))
        .await;
    let secret = b.secret_opt(NS, "db-creds").await.unwrap();
    let owner = &secret.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("ExternalSecret", "db", Some(true))
    );
    assert_eq!(
        secret.labels()["reconcile.external-secrets.io/managed"],
        "true"
    );
    let es = Api::<ExternalSecret>::namespaced(b.client(), NS)
        .get("db")
        .await
        .unwrap();
    let status = es.status.unwrap();
    assert!(status.refresh_time.is_some());
    assert_eq!(status.binding.unwrap().name, "db-creds");
    assert!(status.synced_resource_version.unwrap().starts_with("1-"));

    // Upstream change → Secret updated within a refresh.
    put(&bao, "correct-horse");
    b.wait_data(
        NS,
        "db-creds",
        &[
            ("password", "correct-horse"),
            ("port", "5432"),
            ("user", "app"),
        ],
    )
    .await;

    // Upstream down → Ready=False, the Secret untouched.
    let before = b.secret_opt(NS, "db-creds").await.unwrap();
    bao.kill();
    let message = b.wait_ready(NS, "db", "False", "SecretSyncedError").await;
    assert!(
        message.contains("cannot reach vault at 127.0.0.1:"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = b.secret_opt(NS, "db-creds").await.unwrap();
    assert_eq!(strings(&during), strings(&before));
    assert_eq!(
        during.metadata.resource_version,
        before.metadata.resource_version
    );

    // Back at the same address (a dev server starts empty) → recovers with the new values.
    let bao = blocking(|| OpenBao::start_on(port));
    put(&bao, "after-outage");
    b.wait_data(
        NS,
        "db-creds",
        &[
            ("password", "after-outage"),
            ("port", "5432"),
            ("user", "app"),
        ],
    )
    .await;
    b.wait_ready(NS, "db", "True", "SecretSynced").await;
    let text = {
        let mut registry = prometheus_client::registry::Registry::with_prefix("sealkit");
        b.metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    };
    assert!(
        text.contains(
            "sealkit_externalsecret_sync_errors_total{provider=\"vault\",reason=\"unreachable\"}"
        ),
        "{text}"
    );
    assert!(text.contains("sealkit_externalsecret_sync_calls_total{provider=\"vault\"}"));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_wrong_token_gives_a_clear_condition_without_the_token() {
    let bao = blocking(OpenBao::start);
    blocking(|| bao.kv_put("secret", "app/db", &json!({"password": "hunter2"})));
    let b = Bridge::start().await;
    let wrong = "hvs.not-the-token-7c1f9e";
    b.put_secret(NS, "vault-token", &[("token", wrong)]).await;
    b.create::<SecretStore>(store(
        "vault",
        json!({"vault": {
            "server": bao.url(), "path": "secret",
            "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}},
        }}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "vault",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
    ))
    .await;
    let message = b.wait_ready(NS, "db", "False", "SecretSyncedError").await;
    assert!(
        message.contains("vault denied access: permission denied"),
        "{message}"
    );
    assert!(!message.contains(wrong));
    b.wait_store_ready(false, NS, "vault", ("False", "ValidationFailed"))
        .await;
    assert!(b.secret_opt(NS, "db").await.is_none());
    // Events carry the same message and never the token.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(b.client(), NS);
    let list = events.list(&Default::default()).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("UpdateFailed"))
    );
    assert!(
        list.items
            .iter()
            .all(|e| !e.note.as_deref().unwrap_or_default().contains(wrong))
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kv1_with_approle_login_and_find_by_name_on_kv2() {
    let bao = blocking(OpenBao::start);
    let (role_id, secret_id) = blocking(|| {
        bao.mount("kv", "kv", json!({"version": "1"}));
        bao.api(
            reqwest::Method::POST,
            "kv/app/cfg",
            Some(&json!({"url": "https://db", "mode": "rw"})),
        );
        bao.kv_put("secret", "team/db-a", &json!({"v": "a"}));
        bao.kv_put("secret", "team/db-b", &json!({"v": "b"}));
        bao.kv_put("secret", "team/cache", &json!({"v": "c"}));
        bao.api(
            reqwest::Method::PUT,
            "sys/policies/acl/reader",
            Some(&json!({"policy": "path \"kv/*\" { capabilities = [\"read\"] }\npath \"secret/*\" { capabilities = [\"read\", \"list\"] }"})),
        );
        bao.api(
            reqwest::Method::POST,
            "sys/auth/approle",
            Some(&json!({"type": "approle"})),
        );
        bao.api(
            reqwest::Method::POST,
            "auth/approle/role/eso",
            Some(&json!({"token_policies": ["reader"]})),
        );
        let role = bao.api(reqwest::Method::GET, "auth/approle/role/eso/role-id", None);
        let secret = bao.api(
            reqwest::Method::POST,
            "auth/approle/role/eso/secret-id",
            None,
        );
        (
            role["data"]["role_id"].as_str().unwrap().to_owned(),
            secret["data"]["secret_id"].as_str().unwrap().to_owned(),
        )
    });
    let b = Bridge::start().await;
    b.put_secret(
        NS,
        "approle",
        &[("role-id", &role_id), ("secret-id", &secret_id)],
    )
    .await;
    let auth = json!({"appRole": {
        "path": "approle",
        "roleRef": {"name": "approle", "key": "role-id"},
        "secretRef": {"name": "approle", "key": "secret-id"},
    }});
    b.create::<SecretStore>(store(
        "kv1",
        json!({"vault": {"server": bao.url(), "path": "kv", "version": "v1", "auth": auth}}),
    ))
    .await;
    b.create::<SecretStore>(store(
        "kv2",
        json!({"vault": {"server": bao.url(), "path": "secret", "version": "v2", "auth": auth}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "cfg",
        "kv1",
        json!({"dataFrom": [{"extract": {"key": "app/cfg"}}]}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "dbs",
        "kv2",
        json!({"dataFrom": [{
            "find": {"path": "team", "name": {"regexp": "db-"}},
            "rewrite": [{"regexp": {"source": "team/(.*)", "target": "${1}.json"}}],
        }]}),
    ))
    .await;
    b.wait_data(NS, "cfg", &[("mode", "rw"), ("url", "https://db")])
        .await;
    b.wait_data(
        NS,
        "dbs",
        &[("db-a.json", r#"{"v":"a"}"#), ("db-b.json", r#"{"v":"b"}"#)],
    )
    .await;
    b.wait_store_ready(false, NS, "kv1", ("True", "Valid"))
        .await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kubernetes_auth_logs_in_with_a_service_account_jwt_reviewed_by_the_api() {
    // OpenBao's kubernetes auth asks a TokenReview endpoint; the test serves one that accepts
    // exactly one token as system:serviceaccount:apps:eso.
    let jwt = fake_service_account_jwt("apps", "eso");
    let expected = jwt.clone();
    let review = axum::Router::new().route(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let expected = expected.clone();
            async move {
                let ok = body["spec"]["token"] == expected.as_str();
                axum::Json(json!({
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "status": if ok { json!({
                        "authenticated": true,
                        "user": {"username": "system:serviceaccount:apps:eso", "uid": "4b8a1d2e-0000-4000-8000-000000000001",
                                 "groups": ["system:serviceaccounts", "system:serviceaccounts:apps"]},
                    }) } else { json!({"authenticated": false}) },
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let review_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, review).await });

    // Any CA certificate will do: the review endpoint is plain http.
    let ca = fs_err::read_to_string(sealkit_tests::conformance_file(
        "sealed-secrets/kubeseal_test_cert.pem",
    ))
    .unwrap();
    let bao = blocking(OpenBao::start);
    blocking(|| {
        bao.kv_put("secret", "app/db", &json!({"password": "k8s-auth"}));
        bao.api(
            reqwest::Method::POST,
            "sys/auth/kubernetes",
            Some(&json!({"type": "kubernetes"})),
        );
        bao.api(
            reqwest::Method::POST,
            "auth/kubernetes/config",
            Some(&json!({
                "kubernetes_host": format!("http://{review_addr}"),
                "disable_local_ca_jwt": true,
                "kubernetes_ca_cert": ca,
            })),
        );
        bao.api(
            reqwest::Method::PUT,
            "sys/policies/acl/reader",
            Some(&json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"})),
        );
        bao.api(
            reqwest::Method::POST,
            "auth/kubernetes/role/eso",
            Some(&json!({
                "bound_service_account_names": ["eso"],
                "bound_service_account_namespaces": ["apps"],
                "token_policies": ["reader"],
            })),
        );
    });
    let b = Bridge::start().await;
    b.put_secret(NS, "eso-sa-token", &[("token", &jwt)]).await;
    b.create::<SecretStore>(store(
        "vault",
        json!({"vault": {"server": bao.url(), "path": "secret", "auth": {"kubernetes": {
            "mountPath": "kubernetes", "role": "eso",
            "secretRef": {"name": "eso-sa-token", "key": "token"},
        }}}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "vault",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
    ))
    .await;
    b.wait_data(NS, "db", &[("password", "k8s-auth")]).await;
    b.stop().await;
}

/// A ServiceAccount-shaped JWT (`header.claims.signature`); OpenBao hands it to TokenReview.
fn fake_service_account_jwt(namespace: &str, name: &str) -> String {
    use base64::Engine as _;
    let b64 = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    format!(
        "{}.{}.{}",
        b64(json!({"alg": "RS256", "kid": "test"})),
        b64(json!({
            "iss": "kubernetes/serviceaccount",
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": "4b8a1d2e-0000-4000-8000-000000000001",
        })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"not-checked-locally")
    )
}

// ---------------------------------------------------------------------------------------------
// AWS Secrets Manager (moto)
// ---------------------------------------------------------------------------------------------

fn aws_store(name: &str) -> Value {
    store(
        name,
        json!({"aws": {
            "service": "SecretsManager",
            "region": Moto::REGION,
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": "aws-keys", "key": "id"},
                "secretAccessKeySecretRef": {"name": "aws-keys", "key": "secret"},
            }},
        }}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_secrets_manager_syncs_finds_follows_changes_and_survives_an_outage() {
    let mut moto = blocking(Moto::start);
    let port = moto.addr().port();
    let seed = |moto: &Moto, password: &str| {
        blocking(|| {
            moto.json_call(
                "secretsmanager.CreateSecret",
                &json!({"Name": "app/db", "SecretString": json!({"user": "app", "password": password}).to_string(),
                        "Tags": [{"Key": "team", "Value": "a"}]}),
            );
            moto.json_call(
                "secretsmanager.CreateSecret",
                &json!({"Name": "app/api-key", "SecretString": "k-123", "Tags": [{"Key": "team", "Value": "a"}]}),
            );
            moto.json_call(
                "secretsmanager.CreateSecret",
                &json!({"Name": "other/x", "SecretString": "x", "Tags": [{"Key": "team", "Value": "b"}]}),
            );
        });
    };
    seed(&moto, "hunter2");
    let endpoint = moto.endpoint();
    let b = Bridge::start_with(|c| {
        c.providers = Arc::new(ProviderSettings {
            aws_secretsmanager_endpoint: Some(endpoint),
            ..(*c.providers).clone()
        });
    })
    .await;
    b.put_secret(
        NS,
        "aws-keys",
        &[
            ("id", Moto::ACCESS_KEY_ID),
            ("secret", Moto::SECRET_ACCESS_KEY),
        ],
    )
    .await;
    b.create::<SecretStore>(aws_store("aws")).await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "aws",
        json!({
            "data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}],
            "dataFrom": [{"find": {"tags": {"team": "a"}, "name": {"regexp": "^app/"}}}],
        }),
    ))
    .await;
    b.wait_data(
        NS,
        "db",
        &[
            ("app_api-key", "k-123"),
            ("app_db", r#"{"user":"app","password":"hunter2"}"#),
            ("password", "hunter2"),
        ],
    )
    .await;
    b.wait_store_ready(false, NS, "aws", ("True", "Valid"))
        .await;

    blocking(|| {
        moto.json_call(
            "secretsmanager.PutSecretValue",
            &json!({"SecretId": "app/db", "SecretString": json!({"user": "app", "password": "rotated"}).to_string()}),
        );
    });
    b.wait_data(
        NS,
        "db",
        &[
            ("app_api-key", "k-123"),
            ("app_db", r#"{"user":"app","password":"rotated"}"#),
            ("password", "rotated"),
        ],
    )
    .await;

    let before = b.secret_opt(NS, "db").await.unwrap();
    moto.kill();
    let message = b.wait_ready(NS, "db", "False", "SecretSyncedError").await;
    assert!(
        message.contains("cannot reach aws secretsmanager"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = b.secret_opt(NS, "db").await.unwrap();
    assert_eq!(
        during.metadata.resource_version,
        before.metadata.resource_version
    );

    let moto = blocking(|| Moto::start_on(port));
    seed(&moto, "after-outage");
    b.wait_data(
        NS,
        "db",
        &[
            ("app_api-key", "k-123"),
            ("app_db", r#"{"user":"app","password":"after-outage"}"#),
            ("password", "after-outage"),
        ],
    )
    .await;
    b.stop().await;
}

/// An unsigned AWS query-protocol call (IAM), counted among moto's free calls.
fn moto_query(moto: &Moto, service: &str, params: &[(&str, &str)]) -> String {
    let resp = reqwest::blocking::Client::new()
        .post(moto.endpoint())
        .header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/20260101/{}/{service}/aws4_request, SignedHeaders=host, Signature=0",
                Moto::ACCESS_KEY_ID,
                Moto::REGION
            ),
        )
        .form(params)
        .send()
        .expect("moto query call");
    let status = resp.status();
    let text = resp.text().unwrap_or_default();
    assert!(status.is_success(), "moto {params:?}: {status}: {text}");
    text
}

fn xml_field(text: &str, tag: &str) -> String {
    let start = text.find(&format!("<{tag}>")).expect(tag) + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>")).expect(tag) + start;
    text[start..end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sigv4_signatures_pass_moto_iam_checks_and_a_wrong_key_is_denied_without_showing_it() {
    // Four free calls: create a user, give it a policy and a key, create the secret; from then
    // on moto checks every signature against IAM.
    let moto = blocking(|| Moto::start_with_auth(4));
    let (id, secret) = blocking(|| {
        moto_query(
            &moto,
            "iam",
            &[
                ("Action", "CreateUser"),
                ("UserName", "eso"),
                ("Version", "2010-05-08"),
            ],
        );
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}).to_string();
        moto_query(
            &moto,
            "iam",
            &[
                ("Action", "PutUserPolicy"),
                ("UserName", "eso"),
                ("PolicyName", "sm"),
                ("PolicyDocument", &policy),
                ("Version", "2010-05-08"),
            ],
        );
        let key = moto_query(
            &moto,
            "iam",
            &[
                ("Action", "CreateAccessKey"),
                ("UserName", "eso"),
                ("Version", "2010-05-08"),
            ],
        );
        moto.json_call(
            "secretsmanager.CreateSecret",
            &json!({"Name": "app/db", "SecretString": "{\"password\":\"signed\"}"}),
        );
        (
            xml_field(&key, "AccessKeyId"),
            xml_field(&key, "SecretAccessKey"),
        )
    });
    let endpoint = moto.endpoint();
    let b = Bridge::start_with(|c| {
        c.providers = Arc::new(ProviderSettings {
            aws_secretsmanager_endpoint: Some(endpoint),
            ..(*c.providers).clone()
        });
    })
    .await;
    b.put_secret(NS, "aws-keys", &[("id", &id), ("secret", &secret)])
        .await;
    b.create::<SecretStore>(aws_store("aws")).await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "aws",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
    ))
    .await;
    b.wait_data(NS, "db", &[("password", "signed")]).await;

    let wrong = "wJalrXUtnFEMI/WRONG/bPxRfiCYEXAMPLEKEY";
    let mut bad = serde_json::from_value::<Value>(aws_store("aws-bad")).unwrap();
    bad["spec"]["provider"]["aws"]["auth"]["secretRef"]["secretAccessKeySecretRef"]["name"] =
        json!("aws-bad-keys");
    b.put_secret(NS, "aws-bad-keys", &[("secret", wrong)]).await;
    b.create::<SecretStore>(bad).await;
    b.create::<ExternalSecret>(external_secret(
        "bad",
        "aws-bad",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db"}}]}),
    ))
    .await;
    let message = b.wait_ready(NS, "bad", "False", "SecretSyncedError").await;
    assert!(
        message.contains("aws secretsmanager denied access"),
        "{message}"
    );
    assert!(!message.contains(wrong) && !message.contains(&secret));
    assert!(b.secret_opt(NS, "bad").await.is_none());
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes provider (a second harness is the remote cluster)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_provider_reads_a_remote_cluster_and_recovers_after_it_restarts() {
    // The remote harness authenticates the store's token: its admin token, the same after the
    // restart.
    const REMOTE_TOKEN: &str = "remote-admin-t0ken";
    let remote = harness::start_with(harness::Options {
        admin_token: Some(REMOTE_TOKEN.into()),
        ..Default::default()
    })
    .await
    .expect("start the remote cluster");
    let port = remote.addr().port();
    let seed = |client: Client, password: &'static str| async move {
        let api: Api<Secret> = Api::namespaced(client, "default");
        let mut s = Secret::default();
        s.metadata.name = Some("db".into());
        s.metadata.labels = Some([("team".to_owned(), "a".to_owned())].into());
        s.string_data = Some(
            [
                ("user".to_owned(), "app".to_owned()),
                ("password".to_owned(), password.to_owned()),
            ]
            .into(),
        );
        match api.get_opt("db").await.unwrap() {
            None => {
                api.create(&PostParams::default(), &s).await.unwrap();
            }
            Some(old) => {
                s.metadata.resource_version = old.metadata.resource_version;
                api.replace("db", &PostParams::default(), &s).await.unwrap();
            }
        }
    };
    seed(remote.client(), "remote-1").await;
    let b = Bridge::start().await;
    b.put_secret(NS, "remote-token", &[("token", REMOTE_TOKEN)])
        .await;
    b.create::<SecretStore>(store(
        "remote",
        json!({"kubernetes": {
            "server": {"url": remote.url()},
            "auth": {"token": {"bearerToken": {"name": "remote-token", "key": "token"}}},
            "remoteNamespace": "default",
        }}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "remote",
        json!({
            "data": [{"secretKey": "pw", "remoteRef": {"key": "db", "property": "password"}}],
            "dataFrom": [{"extract": {"key": "db"}}, {"find": {"tags": {"team": "a"}}}],
        }),
    ))
    .await;
    b.wait_data(
        NS,
        "db",
        &[
            ("db", r#"{"password":"remote-1","user":"app"}"#),
            ("password", "remote-1"),
            ("pw", "remote-1"),
            ("user", "app"),
        ],
    )
    .await;
    b.wait_store_ready(false, NS, "remote", ("True", "Valid"))
        .await;
    seed(remote.client(), "remote-2").await;
    b.wait_data(
        NS,
        "db",
        &[
            ("db", r#"{"password":"remote-2","user":"app"}"#),
            ("password", "remote-2"),
            ("pw", "remote-2"),
            ("user", "app"),
        ],
    )
    .await;
    let before = b.secret_opt(NS, "db").await.unwrap();
    remote.stop().await;
    b.wait_ready(NS, "db", "False", "SecretSyncedError").await;
    let during = b.secret_opt(NS, "db").await.unwrap();
    assert_eq!(
        during.metadata.resource_version,
        before.metadata.resource_version
    );
    let remote = harness::start_with(harness::Options {
        port,
        admin_token: Some(REMOTE_TOKEN.into()),
        ..Default::default()
    })
    .await
    .expect("restart the remote cluster on its port");
    seed(remote.client(), "remote-3").await;
    b.wait_data(
        NS,
        "db",
        &[
            ("db", r#"{"password":"remote-3","user":"app"}"#),
            ("password", "remote-3"),
            ("pw", "remote-3"),
            ("user", "app"),
        ],
    )
    .await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Policies, stores and status (fake provider)
// ---------------------------------------------------------------------------------------------

fn fake_store(name: &str, data: &[(&str, &str)]) -> Value {
    store(
        name,
        json!({"fake": {"data": data.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()}}),
    )
}

async fn set_fake_data(b: &Bridge, name: &str, data: &[(&str, &str)]) {
    let patch = json!({"spec": {"provider": {"fake": {"data": data.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()}}}});
    Api::<SecretStore>::namespaced(b.client(), NS)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_policies_owner_orphan_merge_and_none() {
    let b = Bridge::start().await;
    b.create::<SecretStore>(fake_store("fake", &[("k", "v1")]))
        .await;
    let data = json!([{"secretKey": "k", "remoteRef": {"key": "k"}}]);
    for (name, policy) in [
        ("owner", "Owner"),
        ("orphan", "Orphan"),
        ("merge", "Merge"),
        ("none", "None"),
        ("com", "CreateOrMerge"),
    ] {
        b.create::<ExternalSecret>(external_secret(
            name,
            "fake",
            json!({"target": {"creationPolicy": policy}, "data": data}),
        ))
        .await;
    }
    b.wait_data(NS, "owner", &[("k", "v1")]).await;
    b.wait_data(NS, "orphan", &[("k", "v1")]).await;
    b.wait_data(NS, "com", &[("k", "v1")]).await;
    b.wait_ready(NS, "merge", "True", "SecretMissing").await;
    b.wait_ready(NS, "none", "True", "SecretSynced").await;
    assert!(b.secret_opt(NS, "merge").await.is_none());
    assert!(b.secret_opt(NS, "none").await.is_none());
    assert!(
        b.secret_opt(NS, "orphan")
            .await
            .unwrap()
            .owner_references()
            .is_empty()
    );
    assert!(
        b.secret_opt(NS, "com")
            .await
            .unwrap()
            .owner_references()
            .is_empty()
    );

    // Merge into an existing Secret keeps its other keys.
    b.put_secret(NS, "merge", &[("mine", "keep")]).await;
    b.wait_data(NS, "merge", &[("k", "v1"), ("mine", "keep")])
        .await;
    b.wait_ready(NS, "merge", "True", "SecretSynced").await;

    // Deleting the ExternalSecrets: the owned Secret goes (garbage collection), the others stay.
    let es: Api<ExternalSecret> = Api::namespaced(b.client(), NS);
    for name in ["owner", "orphan", "merge"] {
        es.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for _ in 0..100 {
        if b.secret_opt(NS, "owner").await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b.secret_opt(NS, "owner").await.is_none());
    assert!(b.secret_opt(NS, "orphan").await.is_some());
    assert_eq!(
        b.data(NS, "merge").await.unwrap(),
        [
            ("k".to_owned(), "v1".to_owned()),
            ("mine".to_owned(), "keep".to_owned())
        ]
        .into()
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_policies_when_the_remote_secret_is_gone() {
    let b = Bridge::start().await;
    b.create::<SecretStore>(fake_store("fake", &[("a", "1"), ("b", "2")]))
        .await;
    let spec = |policy: &str| {
        json!({"target": {"deletionPolicy": policy},
               "data": [{"secretKey": "a", "remoteRef": {"key": "a"}}, {"secretKey": "b", "remoteRef": {"key": "b"}}]})
    };
    b.create::<ExternalSecret>(external_secret("retain", "fake", spec("Retain")))
        .await;
    b.create::<ExternalSecret>(external_secret("delete", "fake", spec("Delete")))
        .await;
    b.create::<ExternalSecret>(external_secret("merge", "fake", spec("Merge")))
        .await;
    for name in ["retain", "delete", "merge"] {
        b.wait_data(NS, name, &[("a", "1"), ("b", "2")]).await;
    }
    // "b" disappears upstream.
    set_fake_data(&b, "fake", &[("a", "1")]).await;
    b.wait_data(NS, "merge", &[("a", "1")]).await;
    b.wait_data(NS, "delete", &[("a", "1")]).await;
    let message = b
        .wait_ready(NS, "retain", "False", "SecretSyncedError")
        .await;
    assert!(message.contains("secret \"b\" does not exist"), "{message}");
    assert_eq!(
        b.data(NS, "retain").await.unwrap().len(),
        2,
        "Retain keeps the Secret as it was"
    );
    // Everything disappears upstream.
    set_fake_data(&b, "fake", &[]).await;
    b.wait_ready(NS, "delete", "True", "SecretDeleted").await;
    for _ in 0..50 {
        if b.secret_opt(NS, "delete").await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b.secret_opt(NS, "delete").await.is_none());
    b.wait_data(NS, "merge", &[]).await;
    assert_eq!(b.data(NS, "retain").await.unwrap().len(), 2);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_edited_secret_is_repaired_at_once_and_missing_properties_are_errors() {
    let b = Bridge::start().await;
    b.create::<SecretStore>(fake_store("fake", &[("db", r#"{"user":"app"}"#)]))
        .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "fake",
        json!({"refreshInterval": "1h", "data": [{"secretKey": "user", "remoteRef": {"key": "db", "property": "user"}}]}),
    ))
    .await;
    b.wait_data(NS, "db", &[("user", "app")]).await;
    let api: Api<Secret> = Api::namespaced(b.client(), NS);
    api.delete("db", &DeleteParams::default()).await.unwrap();
    b.wait_data(NS, "db", &[("user", "app")]).await;
    let patch = json!({"data": {"user": "aGFja2Vk"}});
    api.patch("db", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    b.wait_data(NS, "db", &[("user", "app")]).await;

    b.create::<ExternalSecret>(external_secret(
        "missing",
        "fake",
        json!({"data": [{"secretKey": "pw", "remoteRef": {"key": "db", "property": "password"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "missing", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("cannot find secret data for key: \"password\""),
        "{message}"
    );
    assert!(b.secret_opt(NS, "missing").await.is_none());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_interval_zero_fetches_once_and_annotations_force_a_sync() {
    let b = Bridge::start().await;
    b.create::<SecretStore>(fake_store("fake", &[("k", "v1")]))
        .await;
    b.create::<ExternalSecret>(external_secret(
        "once",
        "fake",
        json!({"refreshInterval": "0s", "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
    ))
    .await;
    b.wait_data(NS, "once", &[("k", "v1")]).await;
    set_fake_data(&b, "fake", &[("k", "v2")]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(b.data(NS, "once").await.unwrap()["k"], "v1");
    let patch = json!({"metadata": {"annotations": {"force-sync": "1"}}});
    Api::<ExternalSecret>::namespaced(b.client(), NS)
        .patch("once", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    b.wait_data(NS, "once", &[("k", "v2")]).await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_secret_store_conditions_admit_only_matching_namespaces() {
    let b = Bridge::start().await;
    create_namespace(&b.client(), "team-a", &[("team", "a")]).await;
    create_namespace(&b.client(), "team-b", &[("team", "b")]).await;
    let css: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "shared"},
        "spec": {
            "conditions": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}, {"namespaces": [NS]}],
            "provider": {"fake": {"data": [{"key": "k", "value": "shared"}]}},
        },
    }))
    .unwrap();
    Api::<ClusterSecretStore>::all(b.client())
        .create(&PostParams::default(), &css)
        .await
        .unwrap();
    for ns in ["team-a", "team-b", NS] {
        let mut es = external_secret(
            "es",
            "shared",
            json!({"data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
        );
        es["metadata"]["namespace"] = json!(ns);
        es["spec"]["secretStoreRef"]["kind"] = json!("ClusterSecretStore");
        b.create::<ExternalSecret>(es).await;
    }
    b.wait_data("team-a", "es", &[("k", "shared")]).await;
    b.wait_data(NS, "es", &[("k", "shared")]).await;
    let message = b
        .wait_ready("team-b", "es", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("using cluster store \"shared\" is not allowed from namespace \"team-b\""),
        "{message}"
    );
    assert!(b.secret_opt("team-b", "es").await.is_none());
    b.wait_store_ready(true, "", "shared", ("True", "Valid"))
        .await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_providers_are_kept_and_reported_and_a_foreign_owner_is_not_overwritten() {
    let b = Bridge::start().await;
    b.create::<SecretStore>(store(
        "gcp",
        json!({"akeyless": {"akeylessGWApiURL": "https://akeyless.example"}}),
    ))
    .await;
    b.wait_store_ready(false, NS, "gcp", ("False", "InvalidProviderConfig"))
        .await;
    let stored = Api::<SecretStore>::namespaced(b.client(), NS)
        .get("gcp")
        .await
        .unwrap();
    assert!(
        stored.spec.provider.other.contains_key("akeyless"),
        "unknown providers are not pruned"
    );

    b.create::<SecretStore>(fake_store("fake", &[("k", "v")]))
        .await;
    b.create::<ExternalSecret>(external_secret(
        "first",
        "fake",
        json!({"target": {"name": "shared"}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
    ))
    .await;
    b.wait_data(NS, "shared", &[("k", "v")]).await;
    b.create::<ExternalSecret>(external_secret(
        "second",
        "fake",
        json!({"target": {"name": "shared"}, "data": [{"secretKey": "other", "remoteRef": {"key": "k"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "second", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("owned by another object (ExternalSecret/first)"),
        "{message}"
    );
    assert_eq!(
        b.data(NS, "shared").await.unwrap(),
        [("k".to_owned(), "v".to_owned())].into()
    );
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Webhook (an axum server owned by the test)
// ---------------------------------------------------------------------------------------------

type Upstream = Arc<std::sync::Mutex<BTreeMap<String, Value>>>;

/// A small JSON secret API: `GET /v1/secrets/{key}` with `Authorization: Bearer s3cr3t-api-token`
/// answers `{"data": <value>}`; unknown keys 404; a wrong token 401.
async fn serve_webhook(
    listener: tokio::net::TcpListener,
    upstream: Upstream,
) -> tokio::sync::oneshot::Sender<()> {
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new()
        .route(
            "/v1/secrets/{*key}",
            axum::routing::get(
                |State(up): State<Upstream>, Path(key): Path<String>, headers: HeaderMap| async move {
                    if headers.get("authorization").and_then(|v| v.to_str().ok())
                        != Some("Bearer s3cr3t-api-token")
                    {
                        return Err(StatusCode::UNAUTHORIZED);
                    }
                    let v = up.lock().unwrap().get(&key).cloned();
                    v.map(|v| axum::Json(json!({"data": v})))
                        .ok_or(StatusCode::NOT_FOUND)
                },
            ),
        )
        .with_state(upstream);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_provider_templates_requests_follows_changes_and_recovers_after_an_outage() {
    let upstream: Upstream = Arc::default();
    upstream.lock().unwrap().insert(
        "app/db".into(),
        json!({"user": "app", "password": "hook-1", "port": 5432}),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = serve_webhook(listener, upstream.clone()).await;
    let b = Bridge::start().await;
    b.put_secret(NS, "api-creds", &[("token", "s3cr3t-api-token")])
        .await;
    let patch = json!({"metadata": {"labels": {"external-secrets.io/type": "webhook"}}});
    Api::<Secret>::namespaced(b.client(), NS)
        .patch("api-creds", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    b.create::<SecretStore>(store(
        "hook",
        json!({"webhook": {
            "url": format!("http://{addr}/v1/secrets/{{{{ .remoteRef.key }}}}"),
            "headers": {"Authorization": "Bearer {{ .creds.token }}"},
            "result": {"jsonPath": "$.data"},
            "secrets": [{"name": "creds", "secretRef": {"name": "api-creds"}}],
        }}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "hook",
        json!({
            "data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}],
            "dataFrom": [{"extract": {"key": "app/db"}, "rewrite": [{"regexp": {"source": "^", "target": "db_"}}]}],
        }),
    ))
    .await;
    // `property` is not applied by the webhook provider (ESO's behaviour): the whole result is
    // the value, so this entry carries the JSON object.
    b.wait_data(
        NS,
        "db",
        &[
            ("db_password", "hook-1"),
            ("db_port", "5432"),
            ("db_user", "app"),
            (
                "password",
                r#"{"user":"app","password":"hook-1","port":5432}"#,
            ),
        ],
    )
    .await;
    b.wait_store_ready(false, NS, "hook", ("True", "ValidationUnknown"))
        .await;

    upstream.lock().unwrap().insert(
        "app/db".into(),
        json!({"user": "app", "password": "hook-2", "port": 5432}),
    );
    b.wait_data(
        NS,
        "db",
        &[
            ("db_password", "hook-2"),
            ("db_port", "5432"),
            ("db_user", "app"),
            (
                "password",
                r#"{"user":"app","password":"hook-2","port":5432}"#,
            ),
        ],
    )
    .await;

    let before = b.secret_opt(NS, "db").await.unwrap();
    let _ = stop.send(());
    let message = b.wait_ready(NS, "db", "False", "SecretSyncedError").await;
    assert!(
        message.contains("cannot reach webhook at 127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains("s3cr3t-api-token"));
    let during = b.secret_opt(NS, "db").await.unwrap();
    assert_eq!(
        during.metadata.resource_version,
        before.metadata.resource_version
    );

    upstream.lock().unwrap().insert(
        "app/db".into(),
        json!({"user": "app", "password": "hook-3", "port": 5432}),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let _stop = serve_webhook(listener, upstream.clone()).await;
    b.wait_data(
        NS,
        "db",
        &[
            ("db_password", "hook-3"),
            ("db_port", "5432"),
            ("db_user", "app"),
            (
                "password",
                r#"{"user":"app","password":"hook-3","port":5432}"#,
            ),
        ],
    )
    .await;
    b.wait_ready(NS, "db", "True", "SecretSynced").await;

    // An unknown key upstream is an error under the default Retain policy, never an empty value.
    b.create::<ExternalSecret>(external_secret(
        "missing",
        "hook",
        json!({"data": [{"secretKey": "x", "remoteRef": {"key": "nope"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "missing", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("secret \"nope\" does not exist"),
        "{message}"
    );
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_templates_build_data_type_and_metadata_from_vault_values() {
    let bao = blocking(OpenBao::start);
    blocking(|| {
        bao.kv_put(
            "secret",
            "app/db",
            &json!({"user": "app", "password": "p@ss", "cfg": "{\"host\":\"db.internal\"}"}),
        );
    });
    let b = Bridge::start().await;
    b.put_secret(NS, "vault-token", &[("token", OpenBao::ROOT_TOKEN)])
        .await;
    b.create::<SecretStore>(store(
        "vault",
        json!({"vault": {"server": bao.url(), "path": "secret",
                         "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "vault",
        json!({
            "target": {"template": {
                "type": "kubernetes.io/basic-auth",
                "metadata": {"labels": {"app": "{{ .user }}"}, "annotations": {"team": "payments"}},
                "data": {
                    "username": "{{ .user }}",
                    "password": "{{ .password }}",
                    "dsn": "postgres://{{ .user }}:{{ .password }}@{{ (.cfg | fromJson).host }}:5432",
                    "auth": "{{ printf \"%s:%s\" .user .password | b64enc }}",
                },
            }},
            "dataFrom": [{"extract": {"key": "app/db"}}],
        }),
    ))
    .await;
    b.wait_data(
        NS,
        "db",
        &[
            ("auth", "YXBwOnBAc3M="),
            ("dsn", "postgres://app:p@ss@db.internal:5432"),
            ("password", "p@ss"),
            ("username", "app"),
        ],
    )
    .await;
    let s = b.secret_opt(NS, "db").await.unwrap();
    assert_eq!(s.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(s.labels()["app"], "app");
    assert_eq!(s.annotations()["team"], "payments");

    // mergePolicy Merge keeps the fetched keys beside the template's; a template error is a
    // clear condition and leaves the Secret as it was.
    b.create::<ExternalSecret>(external_secret(
        "merged",
        "vault",
        json!({
            "target": {"template": {"mergePolicy": "Merge", "data": {"greeting": "hi {{ .user | upper }}"}}},
            "dataFrom": [{"extract": {"key": "app/db"}}],
        }),
    ))
    .await;
    b.wait_data(
        NS,
        "merged",
        &[
            ("cfg", r#"{"host":"db.internal"}"#),
            ("greeting", "hi APP"),
            ("password", "p@ss"),
            ("user", "app"),
        ],
    )
    .await;
    let patch = json!({"spec": {"target": {"template": {"data": {"greeting": "{{ .nope }}"}}}}});
    Api::<ExternalSecret>::namespaced(b.client(), NS)
        .patch("merged", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let message = b
        .wait_ready(NS, "merged", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("template data[\"greeting\"] failed"),
        "{message}"
    );
    assert!(!message.contains("p@ss"));
    assert_eq!(b.data(NS, "merged").await.unwrap()["greeting"], "hi APP");
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Tenant isolation (issue 13): a namespace user's stores get no identity of the bridge's
// ---------------------------------------------------------------------------------------------

/// `value` moved into namespace `ns`.
fn in_namespace(mut value: Value, ns: &str) -> Value {
    value["metadata"]["namespace"] = json!(ns);
    value
}

/// Whether any Secret of `ns` holds `needle` in a value.
async fn any_secret_contains(b: &Bridge, ns: &str, needle: &str) -> bool {
    Api::<Secret>::namespaced(b.client(), ns)
        .list(&Default::default())
        .await
        .expect("list secrets")
        .items
        .iter()
        .any(|s| strings(s).values().any(|v| v.contains(needle)))
}

/// After an attack the bridge still serves `ns`: a fake store syncs.
async fn still_serves(b: &Bridge, ns: &str) {
    b.create::<SecretStore>(in_namespace(
        fake_store("after", &[("k", "still-syncing")]),
        ns,
    ))
    .await;
    b.create::<ExternalSecret>(in_namespace(
        external_secret(
            "after",
            "after",
            json!({"data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
        ),
        ns,
    ))
    .await;
    b.wait_data(ns, "after", &[("k", "still-syncing")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_store_without_auth_cannot_copy_the_sealing_key() {
    // issue 13, attack 1: `remoteNamespace: <key namespace>` without auth read the key Secret
    // with the controller's own client and copied the private key into the tenant's namespace.
    let b = Bridge::start().await;
    create_namespace(&b.client(), "attacker", &[]).await;
    let key_pem =
        "-----BEGIN RSA PRIVATE KEY-----\nMIIJKQIBAAKCAgEA\n-----END RSA PRIVATE KEY-----\n";
    b.put_secret(
        "kube-system",
        "sealed-secrets-keyx7k2p",
        &[("tls.key", key_pem), ("tls.crt", "certificate")],
    )
    .await;
    for (name, provider) in [
        (
            "steal",
            json!({"kubernetes": {"remoteNamespace": "kube-system"}}),
        ),
        (
            "steal-url",
            json!({"kubernetes": {"server": {"url": b.h.url()}, "remoteNamespace": "kube-system"}}),
        ),
    ] {
        b.create::<SecretStore>(in_namespace(store(name, provider), "attacker"))
            .await;
        b.create::<ExternalSecret>(in_namespace(
            external_secret(
                name,
                name,
                json!({"dataFrom": [
                    {"extract": {"key": "sealed-secrets-keyx7k2p"}},
                    {"find": {"name": {"regexp": ".*"}}},
                ]}),
            ),
            "attacker",
        ))
        .await;
        b.wait_store_ready(false, "attacker", name, ("False", "InvalidProviderConfig"))
            .await;
        let message = b
            .wait_ready("attacker", name, "False", "SecretSyncedError")
            .await;
        assert!(message.contains("kubernetes.auth is required"), "{message}");
    }
    assert!(!any_secret_contains(&b, "attacker", "PRIVATE KEY").await);
    still_serves(&b, "attacker").await;
    assert!(!any_secret_contains(&b, "attacker", "PRIVATE KEY").await);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kubernetes_auth_never_sends_the_bridge_token_to_a_tenant_server() {
    // issue 13, attack 2: `auth.kubernetes` without serviceAccountRef/secretRef sent the
    // controller's own ServiceAccount token to the server the store named.
    let received: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let log = received.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(uri.path().to_owned());
            axum::Json(json!({"auth": {"client_token": "s.stolen"}}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let b = Bridge::start().await;
    b.create::<SecretStore>(store(
        "grab",
        json!({"vault": {"server": format!("http://{addr}"), "path": "secret",
                         "auth": {"kubernetes": {"role": "x"}}}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "grab",
        "grab",
        json!({"data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
    ))
    .await;
    b.wait_store_ready(false, NS, "grab", ("False", "InvalidProviderConfig"))
        .await;
    let message = b.wait_ready(NS, "grab", "False", "SecretSyncedError").await;
    assert!(
        message.contains("needs serviceAccountRef or secretRef"),
        "{message}"
    );
    assert!(
        received.lock().unwrap().is_empty(),
        "the tenant's server was called: {:?}",
        received.lock().unwrap()
    );
    still_serves(&b, NS).await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_store_cannot_reach_the_cloud_metadata_address() {
    let b = Bridge::start().await;
    b.create::<SecretStore>(store(
        "imds",
        json!({"webhook": {"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/{{ .remoteRef.key }}"}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "imds",
        "imds",
        json!({"data": [{"secretKey": "creds", "remoteRef": {"key": "node-role"}}]}),
    ))
    .await;
    let message = b.wait_ready(NS, "imds", "False", "SecretSyncedError").await;
    assert!(
        message.contains("leads to a link-local address"),
        "{message}"
    );
    assert!(b.secret_opt(NS, "imds").await.is_none());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cluster_store_condition_admits_no_namespace_and_regexes_match_anywhere() {
    // issue 13: `conditions: [{}]` admitted every namespace.
    let b = Bridge::start().await;
    for (name, conditions) in [
        ("empty", json!([{}])),
        ("substring", json!([{"namespaceRegexes": ["pp"]}])),
    ] {
        let css: ClusterSecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterSecretStore",
            "metadata": {"name": name},
            "spec": {
                "conditions": conditions,
                "provider": {"fake": {"data": [{"key": "k", "value": name}]}},
            },
        }))
        .unwrap();
        Api::<ClusterSecretStore>::all(b.client())
            .create(&PostParams::default(), &css)
            .await
            .unwrap();
        let mut es = external_secret(
            name,
            name,
            json!({"data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
        );
        es["spec"]["secretStoreRef"]["kind"] = json!("ClusterSecretStore");
        b.create::<ExternalSecret>(es).await;
    }
    let message = b
        .wait_ready(NS, "empty", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("using cluster store \"empty\" is not allowed from namespace \"apps\""),
        "{message}"
    );
    assert!(b.secret_opt(NS, "empty").await.is_none());
    // Go's regexp.MatchString: "pp" matches inside "apps".
    b.wait_data(NS, "substring", &[("k", "substring")]).await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_reads_credentials_only_in_the_namespaces_it_serves() {
    let b = Bridge::start_in(Some(NS), |c| {
        c.providers = Arc::new(ProviderSettings {
            served_namespaces: Some([NS.to_owned()].into()),
            ..(*c.providers).clone()
        });
    })
    .await;
    create_namespace(&b.client(), "other", &[]).await;
    b.put_secret("other", "token", &[("token", "t0ken")]).await;
    // A ClusterSecretStore pointing at credentials outside the served namespaces.
    let css: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "outside"},
        "spec": {"provider": {"kubernetes": {
            "server": {"url": b.h.url()},
            "auth": {"token": {"bearerToken": {"name": "token", "namespace": "other", "key": "token"}}},
            "remoteNamespace": "other",
        }}},
    }))
    .unwrap();
    Api::<ClusterSecretStore>::all(b.client())
        .create(&PostParams::default(), &css)
        .await
        .unwrap();
    b.wait_store_ready(true, "", "outside", ("False", "InvalidProviderConfig"))
        .await;
    // An ExternalSecret outside the served namespaces is not touched.
    b.create::<SecretStore>(in_namespace(fake_store("fake", &[("k", "v")]), "other"))
        .await;
    b.create::<ExternalSecret>(in_namespace(
        external_secret(
            "ignored",
            "fake",
            json!({"data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
        ),
        "other",
    ))
    .await;
    let mut es = external_secret(
        "es",
        "outside",
        json!({"data": [{"secretKey": "k", "remoteRef": {"key": "token"}}]}),
    );
    es["spec"]["secretStoreRef"]["kind"] = json!("ClusterSecretStore");
    b.create::<ExternalSecret>(es).await;
    let message = b.wait_ready(NS, "es", "False", "SecretSyncedError").await;
    assert!(
        message.contains("namespace \"other\" is not served by this bridge"),
        "{message}"
    );
    still_serves(&b, NS).await;
    assert_eq!(b.ready("other", "ignored").await, None);
    assert!(b.secret_opt("other", "ignored").await.is_none());
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Inside seal-controller
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seal_controller_runs_the_bridge_when_asked_and_exports_its_metrics() {
    use clap::Parser as _;
    let h = harness::start().await;
    let client = h.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in seal_controller::crds::crds() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    create_namespace(&client, NS, &[]).await;
    let parse = |extra: &[&str]| {
        let mut argv = vec![
            "seal-controller",
            "--key-size=2048",
            "--listen-addr=127.0.0.1:0",
            "--listen-metrics-addr=127.0.0.1:0",
        ];
        argv.extend_from_slice(extra);
        seal_controller::Args::try_parse_from(argv).unwrap().run
    };
    // issue 13: the bridge is off by default in the sealing controller.
    assert!(!parse(&[]).external_secrets);
    let args = parse(&["--external-secrets=true"]);
    assert!(args.external_secrets);
    let listeners = seal_controller::Listeners {
        api: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        metrics: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let metrics_addr = listeners.metrics.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    // `run` is driven on this task (its future is not `Send`), beside the test's own steps.
    let controller = seal_controller::run(client.clone(), args, listeners, rx);
    let steps = async {
        let store: SecretStore =
            serde_json::from_value(fake_store("fake", &[("k", "from-the-controller")])).unwrap();
        Api::<SecretStore>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &store)
            .await
            .unwrap();
        let es: ExternalSecret = serde_json::from_value(external_secret(
            "es",
            "fake",
            json!({"data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
        ))
        .unwrap();
        Api::<ExternalSecret>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &es)
            .await
            .unwrap();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
        let mut got = None;
        for _ in 0..300 {
            got = secrets.get_opt("es").await.unwrap().map(|s| strings(&s));
            if got.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            got.unwrap(),
            [("k".to_owned(), "from-the-controller".to_owned())].into()
        );
        let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("sealkit_externalsecret_sync_calls_total{provider=\"fake\"}"),
            "{text}"
        );
        let _ = stop.send(true);
    };
    let (result, ()) = tokio::join!(controller, steps);
    result.expect("seal-controller stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_namespace_header_reads_from_an_openbao_namespace() {
    let bao = blocking(OpenBao::start);
    blocking(|| {
        bao.api(reqwest::Method::POST, "sys/namespaces/team-a", None);
        let http = reqwest::blocking::Client::new();
        let call = |path: &str, body: Value| {
            let (status, text) = sealkit_tests::servers::send_while_kv_upgrades(
                http.post(format!("{}/v1/{path}", bao.url()))
                    .header("X-Vault-Token", bao.token())
                    .header("X-Vault-Namespace", "team-a")
                    .json(&body),
            )
            .unwrap();
            assert!(status.is_success(), "{path}: {text}");
        };
        call(
            "sys/mounts/kv",
            json!({"type": "kv", "options": {"version": "2"}}),
        );
        call("kv/data/app", json!({"data": {"who": "team-a"}}));
        // The same path outside the namespace holds something else.
        bao.mount("kv", "kv", json!({"version": "2"}));
        bao.kv_put("kv", "app", &json!({"who": "root"}));
    });
    let b = Bridge::start().await;
    b.put_secret(NS, "vault-token", &[("token", OpenBao::ROOT_TOKEN)])
        .await;
    let provider = |ns: Option<&str>| {
        let mut v = json!({"vault": {"server": bao.url(), "path": "kv",
            "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}});
        if let Some(ns) = ns {
            v["vault"]["namespace"] = json!(ns);
        }
        v
    };
    b.create::<SecretStore>(store("team-a", provider(Some("team-a"))))
        .await;
    b.create::<SecretStore>(store("root", provider(None))).await;
    for (name, s) in [("in-ns", "team-a"), ("at-root", "root")] {
        b.create::<ExternalSecret>(external_secret(
            name,
            s,
            json!({"data": [{"secretKey": "who", "remoteRef": {"key": "app", "property": "who"}}]}),
        ))
        .await;
    }
    b.wait_data(NS, "in-ns", &[("who", "team-a")]).await;
    b.wait_data(NS, "at-root", &[("who", "root")]).await;
    b.stop().await;
}

// ESO API breadth (issue 16): templateFrom, ClusterExternalSecret, generators, kept fields.
mod api;
mod providers;
mod push;

// GCP Secret Manager and Azure Key Vault against local servers (issue 16).
mod cloud;
