//! `seal-controller` end to end: the controller runs in-process (`seal_controller::run`) or as
//! the real binary against the API-server harness, through kube-rs's real client; SealedSecrets
//! are made with the real `seal` binary, which reaches the controller through the harness's
//! Service proxy with a kubeconfig, as kubeseal does.
//!
//! Every test checks that no secret value shows up in an Event or a status; the binary test
//! also greps the controller's own log output.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use clap::Parser as _;
use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};
use sealer::sealed::{
    Certificate, PrivateKey, SealOptions, SealedSecret, SealedSecretManifest, SecretManifest,
};
use sealkit_tests::binaries;
use sealkit_tests::harness::{self, Fault, Harness, Verb};
use serde::Deserialize as _;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where keys live and where kubeseal looks for the controller.
pub(crate) const CONTROLLER_NS: &str = "kube-system";
/// kubeseal's default Service name.
pub(crate) const SERVICE: &str = "sealed-secrets-controller";
pub(crate) const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
pub(crate) const DIGEST_ANNOTATION: &str = "sealkit.dev/unsealed-digest";
pub(crate) const KEYS_ANNOTATION: &str = "sealkit.dev/unsealed-keys";

// ---------------------------------------------------------------------------------------------
// The cluster: a harness with the CRD, a temp dir and a kubeconfig.

pub(crate) struct Cluster {
    pub(crate) h: Harness,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) kubeconfig: PathBuf,
}

impl Cluster {
    pub(crate) async fn start(namespaces: &[&str]) -> Self {
        let h = harness::start().await;
        let crds: Api<CustomResourceDefinition> = Api::all(h.client());
        for crd in seal_controller::crds::crds() {
            crds.create(&PostParams::default(), &crd)
                .await
                .expect("create CRD");
        }
        let ns_api: Api<Namespace> = Api::all(h.client());
        for ns in namespaces {
            let mut n = Namespace::default();
            n.metadata.name = Some((*ns).into());
            ns_api
                .create(&PostParams::default(), &n)
                .await
                .expect("create namespace");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        h.write_kubeconfig(&kubeconfig).expect("write kubeconfig");
        Self { h, dir, kubeconfig }
    }

    pub(crate) fn client(&self) -> Client {
        self.h.client()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn secrets(&self, ns: &str) -> Api<Secret> {
        Api::namespaced(self.client(), ns)
    }

    pub(crate) fn sealed(&self, ns: &str) -> Api<SealedSecret> {
        Api::namespaced(self.client(), ns)
    }

    /// Runs `seal` with this cluster's kubeconfig in `KUBECONFIG`.
    pub(crate) async fn seal(&self, args: &[&str], stdin: &str) -> Output {
        run_binary(
            "seal",
            args,
            stdin,
            &[("KUBECONFIG", self.kubeconfig.as_os_str())],
        )
        .await
    }

    /// Runs `seal` and expects success; returns stdout.
    pub(crate) async fn seal_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.seal(args, stdin).await;
        assert!(
            out.status.success(),
            "seal {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Server-side applies every SealedSecret of a YAML/JSON stream, as `kubectl apply` would.
    pub(crate) async fn apply(&self, text: &str) -> Vec<SealedSecret> {
        let mut out = Vec::new();
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let value = serde_json::Value::deserialize(doc).expect("YAML document");
            if value.is_null() {
                continue;
            }
            let ns = value["metadata"]["namespace"]
                .as_str()
                .expect("namespace")
                .to_owned();
            let name = value["metadata"]["name"].as_str().expect("name").to_owned();
            let applied = self
                .sealed(&ns)
                .patch(
                    &name,
                    &PatchParams::apply("e2e").force(),
                    &Patch::Apply(&value),
                )
                .await
                .expect("apply SealedSecret");
            out.push(applied);
        }
        out
    }

    /// The Secret `ns/name`, once it exists.
    pub(crate) async fn secret(&self, ns: &str, name: &str) -> Secret {
        let api = self.secrets(ns);
        eventually(&format!("secret {ns}/{name}"), || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok().flatten() }
        })
        .await
    }

    /// The Secret `ns/name` once `pred` holds for it.
    pub(crate) async fn secret_where(
        &self,
        ns: &str,
        name: &str,
        pred: impl Fn(&Secret) -> bool,
    ) -> Secret {
        let api = self.secrets(ns);
        let pred = &pred;
        eventually(&format!("secret {ns}/{name} as expected"), || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok().flatten().filter(pred) }
        })
        .await
    }

    /// The `Synced` condition of `ns/name` once its status is `want` for the object's current
    /// generation.
    pub(crate) async fn synced(
        &self,
        ns: &str,
        name: &str,
        want: &str,
    ) -> sealer::sealed::Condition {
        let api = self.sealed(ns);
        eventually(&format!("sealedsecret {ns}/{name} Synced={want}"), || {
            let api = api.clone();
            async move {
                let ss = api.get_opt(name).await.ok().flatten()?;
                let status = ss.status.as_ref()?;
                if status.observed_generation != ss.metadata.generation {
                    return None;
                }
                status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Synced" && c.status == want)
                    .cloned()
            }
        })
        .await
    }

    /// Fails if any value (or its base64) appears in an Event or a SealedSecret status.
    pub(crate) async fn assert_no_secret_in_events_or_status(&self, values: &[&str]) {
        let core: Api<k8s_openapi::api::core::v1::Event> = Api::all(self.client());
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(self.client());
        let ss: Api<SealedSecret> = Api::all(self.client());
        let mut text = String::new();
        for e in core
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
        {
            text += &serde_json::to_string(&e).expect("json");
        }
        for e in events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
        {
            text += &serde_json::to_string(&e).expect("json");
        }
        for s in ss.list(&ListParams::default()).await.expect("list").items {
            text += &serde_json::to_string(&s.status).expect("json");
        }
        assert_no_secret(&text, values, "events and status");
    }
}

/// Fails if `text` contains any of `values`, plainly or base64-encoded.
pub(crate) fn assert_no_secret(text: &str, values: &[&str], what: &str) {
    for v in values {
        assert!(!text.contains(v), "{what} contain a secret value");
        let b64 = sealer::encoding::encode_std(v.as_bytes());
        assert!(
            !text.contains(&b64),
            "{what} contain a secret value (base64)"
        );
    }
}

/// Polls `f` until it returns `Some` (90 s at most).
pub(crate) async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(Duration::from_secs(90), what, f).await
}

/// Polls `f` until it returns `Some`, for at most `limit` (a bound against hangs, not a
/// timing assertion: the machine may be slow and shared).
pub(crate) async fn eventually_within<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a workspace binary with `stdin`, extra environment, and returns its output.
pub(crate) async fn run_binary(
    name: &str,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &std::ffi::OsStr)],
) -> Output {
    let path = tokio::task::spawn_blocking({
        let name = name.to_owned();
        move || binaries::path(&name)
    })
    .await
    .expect("locating the binary");
    let mut cmd = tokio::process::Command::new(path);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("SEALED_SECRETS_CERT")
        .env_remove("KUBECONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).await.expect("stdin");
    drop(input);
    child.wait_with_output().await.expect("wait")
}

/// A unique value per run, so a leak cannot be a coincidence.
pub(crate) fn secret_value(tag: &str) -> String {
    format!("{tag}-{:016x}", rand::random::<u64>())
}

pub(crate) fn secret_yaml(ns: &str, name: &str, items: &[(&str, &str)]) -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: web\n  annotations:\n    note: kept\ntype: kubernetes.io/basic-auth\nstringData:\n"
    );
    for (k, v) in items {
        s += &format!("  {k}: {v}\n");
    }
    s
}

pub(crate) fn data_of(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                String::from_utf8(v.0.clone()).expect("utf-8 value"),
            )
        })
        .collect()
}

pub(crate) fn items(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The controller, in-process.

pub(crate) struct Controller {
    stop: watch::Sender<bool>,
    task: JoinHandle<seal_controller::Result<()>>,
    pub(crate) api: SocketAddr,
    pub(crate) metrics: SocketAddr,
    pub(crate) http: reqwest::Client,
}

impl Controller {
    /// Starts `seal_controller::run` with test defaults (2048-bit keys, key namespace
    /// `kube-system`, no rate limit to speak of) plus `extra` flags; waits for `/readyz`.
    pub(crate) async fn start(c: &Cluster, extra: &[&str]) -> Self {
        init_test_logs();
        let mut argv = vec![
            "seal-controller",
            "--key-namespace=kube-system",
            "--key-size=2048",
            "--rate-limit=1000",
            "--rate-limit-burst=1000",
        ];
        argv.extend_from_slice(extra);
        let args = seal_controller::Args::try_parse_from(argv).expect("controller flags");
        let api = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let (api_addr, metrics_addr) = (
            api.local_addr().expect("addr"),
            metrics.local_addr().expect("addr"),
        );
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(seal_controller::run(
            c.client(),
            args.run,
            seal_controller::Listeners { api, metrics },
            rx,
        ));
        let this = Self {
            stop,
            task,
            api: api_addr,
            metrics: metrics_addr,
            http: reqwest::Client::new(),
        };
        this.wait_ready().await;
        this
    }

    pub(crate) async fn wait_ready(&self) {
        wait_ready(&self.http, self.api).await;
    }

    /// Routes the harness's Service proxy for kubeseal's default Service to this controller.
    pub(crate) fn expose(&self, c: &Cluster) {
        c.h.register_service_proxy(CONTROLLER_NS, SERVICE, "http", self.api);
    }

    pub(crate) async fn cert_pem(&self) -> String {
        self.http
            .get(format!("http://{}/v1/cert.pem", self.api))
            .send()
            .await
            .expect("GET /v1/cert.pem")
            .text()
            .await
            .expect("body")
    }

    /// The value of one metric line (`name` with its labels, as exposed).
    pub(crate) async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("http://{}/metrics", self.metrics))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("body");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().expect("number"))
    }

    pub(crate) async fn wait_metric(&self, name: &str, pred: impl Fn(f64) -> bool) -> f64 {
        let pred = &pred;
        eventually_within(
            Duration::from_secs(900),
            &format!("metric {name}"),
            || async move {
                let v = self.metric(name).await;
                pred(v).then_some(v)
            },
        )
        .await
    }

    /// SIGTERM-like: asks it to stop and waits for a clean return.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let result = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("controller stops within 30 s")
            .expect("controller task");
        result.expect("controller returns Ok");
    }

    /// Like a killed process: no goodbye (a leader keeps its Lease until it expires).
    pub(crate) async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Waits until the controller at `api` answers `/readyz` with 200.
pub(crate) async fn wait_ready(http: &reqwest::Client, api: SocketAddr) {
    let url = format!("http://{api}/readyz");
    eventually("controller ready", || {
        let req = http.get(&url);
        async move {
            req.send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await;
}

/// With `SEALKIT_TEST_LOG=<filter>`, the in-process controllers log to stderr (for debugging a
/// failing test).
pub(crate) fn init_test_logs() {
    if let Ok(filter) = std::env::var("SEALKIT_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A key pair stored as Bitnami stores it, in `kube-system` (name `<prefix><random>`).
pub(crate) async fn store_key(c: &Cluster, name: &str) -> (PrivateKey, Certificate) {
    let key = PrivateKey::generate(2048).expect("key");
    let cert = Certificate::self_signed(&key, time::Duration::days(3650), "").expect("cert");
    let meta = seal_controller::keyring::store::KeySecretMeta {
        prefix: name.into(),
        namespace: CONTROLLER_NS.into(),
        ..Default::default()
    };
    let secret = seal_controller::keyring::store::key_secret(&key, &cert, &meta);
    c.secrets(CONTROLLER_NS)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create key secret");
    (key, cert)
}

/// Seals `items` for `ns/name` in-process (for bulk tests; the CLI tests use `seal`).
pub(crate) fn seal_in_process(
    cert: &Certificate,
    ns: &str,
    name: &str,
    items: &[(&str, &str)],
) -> SealedSecretManifest {
    let yaml = secret_yaml(ns, name, items);
    let secret: SecretManifest = serde_yaml_ng::from_str(&yaml).expect("secret");
    sealer::sealed::seal_secret(&secret, cert.public_key(), &SealOptions::default()).expect("seal")
}

pub(crate) async fn create_sealed(c: &Cluster, ss: &SealedSecretManifest) {
    let obj: SealedSecret =
        serde_json::from_value(serde_json::to_value(ss).expect("json")).expect("SealedSecret");
    c.sealed(ss.metadata.namespace.as_deref().expect("namespace"))
        .create(&PostParams::default(), &obj)
        .await
        .expect("create SealedSecret");
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_with_the_cli_the_secret_is_exact_follows_updates_and_goes_with_its_owner() {
    let c = Cluster::start(&["team-a"]).await;
    let ctl = Controller::start(&c, &[]).await;
    ctl.expose(&c);

    // The certificate, fetched through the API server's service proxy with the kubeconfig.
    let fetched = c.seal_ok(&["--fetch-cert"], "").await;
    assert_eq!(fetched, ctl.cert_pem().await);

    let password = secret_value("pw");
    let input = secret_yaml(
        "team-a",
        "db",
        &[("username", "admin"), ("password", &password)],
    );
    let sealed = c.seal_ok(&[], &input).await;
    assert!(!sealed.contains(&password));
    let applied = c.apply(&sealed).await;
    let uid = applied[0].uid().expect("uid");

    let secret = c.secret("team-a", "db").await;
    assert_eq!(
        data_of(&secret),
        items(&[("username", "admin"), ("password", &password)])
    );
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(secret.labels(), &items(&[("app", "web")]));
    let annotations = secret.annotations();
    assert_eq!(
        annotations.keys().map(String::as_str).collect::<Vec<_>>(),
        ["note", DIGEST_ANNOTATION, KEYS_ANNOTATION]
    );
    assert_eq!(annotations["note"], "kept");
    let owners = secret.owner_references();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (
            owners[0].kind.as_str(),
            owners[0].name.as_str(),
            owners[0].uid.as_str(),
            owners[0].controller
        ),
        ("SealedSecret", "db", uid.as_str(), Some(true))
    );
    let synced = c.synced("team-a", "db", "True").await;
    assert_eq!(synced.reason.as_deref(), Some("Unsealed"));

    // `seal --validate` asks the controller (POST /v1/verify through the proxy).
    let file = c.path("db.yaml");
    fs_err::write(&file, &sealed).expect("write");
    c.seal_ok(&["--validate", file.to_str().expect("path")], "")
        .await;

    // Update one item with --merge-into, apply: the Secret follows.
    let new_password = secret_value("pw2");
    let update = secret_yaml("team-a", "db", &[("password", &new_password)]);
    c.seal_ok(&["--merge-into", file.to_str().expect("path")], &update)
        .await;
    c.apply(&fs_err::read_to_string(&file).expect("read")).await;
    let secret = c
        .secret_where("team-a", "db", |s| {
            data_of(s).get("password") == Some(&new_password)
        })
        .await;
    assert_eq!(data_of(&secret)["username"], "admin");

    // Deleting the SealedSecret deletes the Secret (garbage collection via the owner).
    c.sealed("team-a")
        .delete("db", &DeleteParams::default())
        .await
        .expect("delete");
    let api = c.secrets("team-a");
    eventually("secret garbage-collected", || {
        let api = api.clone();
        async move { api.get_opt("db").await.ok().filter(Option::is_none) }
    })
    .await;

    c.assert_no_secret_in_events_or_status(&[&password, &new_password])
        .await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_secret_moved_to_another_name_or_namespace_fails_clearly_and_makes_no_secret() {
    let c = Cluster::start(&["team-a", "team-b"]).await;
    let ctl = Controller::start(&c, &[]).await;
    ctl.expose(&c);
    let cert = c.path("cert.pem");
    fs_err::write(&cert, ctl.cert_pem().await).expect("write");

    let password = secret_value("pw");
    let input = secret_yaml("team-a", "db", &[("password", &password)]);
    // Sealed offline with --cert, strict scope (bound to team-a/db).
    let sealed = c
        .seal_ok(&["--cert", cert.to_str().expect("path")], &input)
        .await;
    let moved = sealed.replace("namespace: team-a", "namespace: team-b");
    let renamed = sealed.replace("name: db", "name: other");
    assert_ne!(moved, sealed);
    assert_ne!(renamed, sealed);
    c.apply(&moved).await;
    c.apply(&renamed).await;

    for (ns, name) in [("team-b", "db"), ("team-a", "other")] {
        let cond = c.synced(ns, name, "False").await;
        assert_eq!(cond.reason.as_deref(), Some("ErrUnsealFailed"));
        let message = cond.message.expect("message");
        assert!(message.contains("password"), "{message}");
        assert!(message.contains("no key could decrypt"), "{message}");
        assert!(c.secrets(ns).get_opt(name).await.expect("get").is_none());
    }

    // `seal --validate` says the same through the controller.
    let file = c.path("moved.yaml");
    fs_err::write(&file, &moved).expect("write");
    let out = c
        .seal(&["--validate", file.to_str().expect("path")], "")
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unable to decrypt sealed secret: team-b/db"),
        "{stderr}"
    );

    c.assert_no_secret_in_events_or_status(&[&password]).await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unowned_secret_is_left_untouched_until_annotated_managed() {
    let c = Cluster::start(&["team-a"]).await;
    let theirs: Secret = serde_json::from_value(json!({
        "metadata": {"name": "db", "namespace": "team-a"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"password": "theirs"}
    }))
    .expect("secret");
    c.secrets("team-a")
        .create(&PostParams::default(), &theirs)
        .await
        .expect("create");
    let ctl = Controller::start(&c, &[]).await;
    let cert = Certificate::from_pem(ctl.cert_pem().await.as_bytes()).expect("cert");
    let password = secret_value("pw");
    create_sealed(
        &c,
        &seal_in_process(&cert, "team-a", "db", &[("password", &password)]),
    )
    .await;

    let cond = c.synced("team-a", "db", "False").await;
    assert_eq!(cond.reason.as_deref(), Some("ErrUpdateFailed"));
    let message = cond.message.expect("message");
    assert!(
        message.contains("already exists and is not managed by SealedSecret"),
        "{message}"
    );
    let secret = c.secrets("team-a").get("db").await.expect("get");
    assert_eq!(data_of(&secret), items(&[("password", "theirs")]));
    assert!(secret.owner_references().is_empty());

    // Annotated `managed: "true"`, it is taken over.
    c.secrets("team-a")
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"sealedsecrets.bitnami.com/managed": "true"}}}),
            ),
        )
        .await
        .expect("annotate");
    let secret = c
        .secret_where("team-a", "db", |s| {
            data_of(s).get("password") == Some(&password)
        })
        .await;
    assert_eq!(secret.owner_references().len(), 1);
    c.synced("team-a", "db", "True").await;
    c.assert_no_secret_in_events_or_status(&[&password, "theirs"])
        .await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_key_renewal_old_sealed_secrets_still_open_and_re_encrypt_moves_them_to_the_new_key()
{
    let c = Cluster::start(&["team-a"]).await;
    // No key yet: one is generated at start; the cutoff a few seconds ahead renews it once.
    let cutoff = (time::OffsetDateTime::now_utc() + time::Duration::seconds(6))
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
        ))
        .expect("format");
    let cutoff_flag = format!("--key-cutoff-time={cutoff}");
    let ctl = Controller::start(&c, &[&cutoff_flag]).await;
    ctl.expose(&c);
    let old_cert = ctl.cert_pem().await;
    let old_cert_file = c.path("old.pem");
    fs_err::write(&old_cert_file, &old_cert).expect("write");

    let password = secret_value("pw");
    let sealed = c
        .seal_ok(
            &[],
            &secret_yaml("team-a", "db", &[("password", &password)]),
        )
        .await;
    c.apply(&sealed).await;
    c.secret("team-a", "db").await;

    // Renewal: a second key Secret, and a new certificate served.
    let new_cert = eventually("a renewed certificate", || async {
        let pem = ctl.cert_pem().await;
        (pem != old_cert).then_some(pem)
    })
    .await;
    let keys = c
        .secrets(CONTROLLER_NS)
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .expect("list keys")
        .items;
    assert_eq!(keys.len(), 2);
    assert_eq!(c.seal_ok(&["--fetch-cert"], "").await, new_cert);

    // Sealed with the old certificate after the renewal: still opens.
    let late = secret_value("late");
    let sealed_late = c
        .seal_ok(
            &["--cert", old_cert_file.to_str().expect("path")],
            &secret_yaml("team-a", "late", &[("password", &late)]),
        )
        .await;
    c.apply(&sealed_late).await;
    let secret = c.secret("team-a", "late").await;
    assert_eq!(data_of(&secret)["password"], late);

    // --re-encrypt rewrites the file in place with the newest key (POST /v1/rotate).
    let file = c.path("db.yaml");
    fs_err::write(&file, &sealed).expect("write");
    c.seal_ok(&["--re-encrypt", file.to_str().expect("path")], "")
        .await;
    let rotated = fs_err::read_to_string(&file).expect("read");
    assert_ne!(rotated, sealed);
    assert!(!rotated.contains(&password));

    // Offline, only the new private key opens the re-encrypted file, only the old one the
    // original.
    let key_file = |pem: &str| {
        let secret = keys
            .iter()
            .find(|k| k.data.as_ref().expect("data")["tls.crt"].0 == pem.as_bytes())
            .expect("key secret of that certificate");
        let path = c.path(&format!("{}.key", secret.name_any()));
        fs_err::write(&path, &secret.data.as_ref().expect("data")["tls.key"].0).expect("write");
        path
    };
    let (new_key, old_key) = (key_file(&new_cert), key_file(&old_cert));
    for (key, file_text, opens) in [
        (&new_key, &rotated, true),
        (&old_key, &rotated, false),
        (&old_key, &sealed, true),
        (&new_key, &sealed, false),
    ] {
        let out = c
            .seal(
                &["unseal", "--private-key", key.to_str().expect("path")],
                file_text,
            )
            .await;
        assert_eq!(
            out.status.success(),
            opens,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Applied, the re-encrypted SealedSecret gives the same Secret, now made with the new key.
    c.apply(&rotated).await;
    let new_fingerprint = Certificate::from_pem(new_cert.as_bytes())
        .expect("cert")
        .public_key()
        .fingerprint();
    let secret = c
        .secret_where("team-a", "db", |s| {
            s.annotations().get(KEYS_ANNOTATION) == Some(&new_fingerprint)
        })
        .await;
    assert_eq!(data_of(&secret)["password"], password);
    c.assert_no_secret_in_events_or_status(&[&password, &late])
        .await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitnami_key_secrets_made_from_seal_keygen_are_used_and_a_compromised_key_redoes_secrets() {
    let c = Cluster::start(&["team-a"]).await;
    // `seal keygen` → tls.key/tls.crt → a key Secret exactly as Bitnami stores it.
    let make_key = |dir: &str| {
        let dir = c.path(dir);
        async move {
            let out = run_binary(
                "seal",
                &[
                    "keygen",
                    "--bits",
                    "2048",
                    "--out-dir",
                    dir.to_str().expect("path"),
                ],
                "",
                &[],
            )
            .await;
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            (
                fs_err::read(dir.join("tls.key")).expect("tls.key"),
                fs_err::read_to_string(dir.join("tls.crt")).expect("tls.crt"),
            )
        }
    };
    let key_secret = |name: &str, key: &[u8], cert: &str| -> Secret {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": CONTROLLER_NS,
                         "labels": {KEY_LABEL: "active"}},
            "type": "kubernetes.io/tls",
            "data": {"tls.key": sealer::encoding::encode_std(key),
                     "tls.crt": sealer::encoding::encode_std(cert.as_bytes())}
        }))
        .expect("key secret")
    };
    let (key1, cert1) = make_key("k1").await;
    c.secrets(CONTROLLER_NS)
        .create(
            &PostParams::default(),
            &key_secret("sealed-secrets-keyaaaaa", &key1, &cert1),
        )
        .await
        .expect("create");

    let ctl = Controller::start(&c, &[]).await;
    let der = |pem: &str| {
        Certificate::from_pem(pem.as_bytes())
            .expect("cert")
            .der()
            .to_vec()
    };
    assert_eq!(der(&ctl.cert_pem().await), der(&cert1));
    let password = secret_value("pw");
    let cert1_file = c.path("k1/tls.crt");
    let sealed = c
        .seal_ok(
            &["--cert", cert1_file.to_str().expect("path")],
            &secret_yaml("team-a", "db", &[("password", &password)]),
        )
        .await;
    c.apply(&sealed).await;
    let made = c.secret("team-a", "db").await;
    assert_eq!(data_of(&made)["password"], password);
    // The existing key was used as it is: no key was generated.
    let keys = c
        .secrets(CONTROLLER_NS)
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .expect("list");
    assert_eq!(keys.items.len(), 1);

    // A newer key restored at run time is picked up and seals from now on.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later NotBefore second
    let (key2, cert2) = make_key("k2").await;
    c.secrets(CONTROLLER_NS)
        .create(
            &PostParams::default(),
            &key_secret("sealed-secrets-keybbbbb", &key2, &cert2),
        )
        .await
        .expect("create");
    eventually("the new key served", || async {
        (der(&ctl.cert_pem().await) == der(&cert2)).then_some(())
    })
    .await;

    // Marking the first key compromised makes the Secret it opened be made again (the digest
    // covers the key and its state); the data stays.
    let rsa_before = ctl.metric("sealkit_rsa_private_operations_total").await;
    c.secrets(CONTROLLER_NS)
        .patch(
            "sealed-secrets-keyaaaaa",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {KEY_LABEL: "compromised"}}})),
        )
        .await
        .expect("relabel");
    let old_digest = made.annotations()[DIGEST_ANNOTATION].clone();
    let redone = c
        .secret_where("team-a", "db", |s| {
            s.annotations().get(DIGEST_ANNOTATION) != Some(&old_digest)
        })
        .await;
    assert_eq!(data_of(&redone)["password"], password);
    assert!(ctl.metric("sealkit_rsa_private_operations_total").await > rsa_before);
    // The compromised key never seals.
    assert_eq!(der(&ctl.cert_pem().await), der(&cert2));
    c.assert_no_secret_in_events_or_status(&[&password]).await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_over_1000_in_sync_sealed_secrets_does_no_rsa_operation() {
    const N: usize = 1000;
    let c = Cluster::start(&["bulk"]).await;
    let (_, cert) = store_key(&c, "sealed-secrets-keybulk0").await;
    let objects: Vec<_> = (0..N)
        .map(|i| {
            seal_in_process(
                &cert,
                "bulk",
                &format!("s{i:04}"),
                &[("v", &format!("{i}"))],
            )
        })
        .collect();
    futures::stream::iter(&objects)
        .for_each_concurrent(16, |ss| create_sealed(&c, ss))
        .await;

    let first = Controller::start(&c, &[]).await;
    first
        .wait_metric("sealkit_unseal_requests_total", |v| v >= N as f64)
        .await;
    let secrets = c.secrets("bulk");
    eventually_within(Duration::from_secs(900), "every Secret", || {
        let secrets = secrets.clone();
        async move {
            let n = secrets.list(&ListParams::default()).await.ok()?.items.len();
            (n == N).then_some(())
        }
    })
    .await;
    assert!(first.metric("sealkit_rsa_private_operations_total").await >= N as f64);
    first.stop().await;

    let second = Controller::start(&c, &[]).await;
    second
        .wait_metric("sealkit_unseal_skipped_total", |v| v >= N as f64)
        .await;
    assert_eq!(
        second.metric("sealkit_rsa_private_operations_total").await,
        0.0
    );
    assert_eq!(second.metric("sealkit_unseal_requests_total").await, 0.0);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_500s_conflicts_cut_watches_and_410_relists_everything_converges() {
    let c = Cluster::start(&["faulty"]).await;
    let (_, cert) = store_key(&c, "sealed-secrets-keyfault").await;
    c.h.inject(
        Fault::status(500)
            .verb(Verb::Create)
            .resource("secrets")
            .times(5),
    );
    c.h.inject(
        Fault::status(500)
            .verb(Verb::Get)
            .resource("secrets")
            .times(3),
    );
    c.h.inject(
        Fault::conflict()
            .verb(Verb::Patch)
            .resource("sealedsecrets")
            .subresource("status")
            .times(3),
    );
    let ctl = Controller::start(&c, &[]).await;
    let value = |i: usize| format!("value-{i}");
    for i in 0..20 {
        create_sealed(
            &c,
            &seal_in_process(&cert, "faulty", &format!("a{i}"), &[("v", &value(i))]),
        )
        .await;
        if i == 10 {
            c.h.cut_watches();
        }
    }
    c.h.compact();
    c.h.cut_watches();
    for i in 20..40 {
        create_sealed(
            &c,
            &seal_in_process(&cert, "faulty", &format!("a{i}"), &[("v", &value(i))]),
        )
        .await;
    }
    c.h.compact();
    c.h.cut_watches();
    // A Secret deleted behind the controller's back while its Secret watch is down, the
    // history compacted meanwhile: the watch comes back with 410, relists, and the Secret is
    // made again.
    let first = c.secret("faulty", "a0").await;
    c.h.inject(
        Fault::status(500)
            .verb(Verb::Watch)
            .resource("secrets")
            .times(4),
    );
    c.h.cut_watches();
    c.secrets("faulty")
        .delete("a0", &DeleteParams::default())
        .await
        .expect("delete");
    c.h.compact();

    for i in 0..40 {
        let name = format!("a{i}");
        let s = c
            .secret_where("faulty", &name, |s| i != 0 || s.uid() != first.uid())
            .await;
        assert_eq!(data_of(&s), items(&[("v", &value(i))]));
        c.synced("faulty", &name, "True").await;
    }
    let creates =
        c.h.requests()
            .iter()
            .filter(|r| r.verb == Verb::Create && r.resource == "secrets")
            .count();
    assert!(
        creates >= 41 + 5,
        "the injected 500s were retried ({creates} creates)"
    );
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_writer_and_killing_it_hands_over() {
    let c = Cluster::start(&["team-a"]).await;
    let (_, cert) = store_key(&c, "sealed-secrets-keyhaaaa").await;
    let flags = |id: &'static str| {
        [
            "--leader-elect",
            "--leader-elect-lease-duration=2s",
            "--leader-elect-retry-period=200ms",
            id,
        ]
    };
    let a = Controller::start(&c, &flags("--identity=replica-a")).await;
    let b = Controller::start(&c, &flags("--identity=replica-b")).await;
    let leader_of = |a_leads: f64, b_leads: f64| match (a_leads, b_leads) {
        (1.0, 0.0) => Some('a'),
        (0.0, 1.0) => Some('b'),
        _ => None,
    };
    let first = eventually("one leader", || async {
        leader_of(
            a.metric("sealkit_leader").await,
            b.metric("sealkit_leader").await,
        )
    })
    .await;
    // Both serve the certificate.
    assert_eq!(a.cert_pem().await, b.cert_pem().await);

    create_sealed(&c, &seal_in_process(&cert, "team-a", "one", &[("v", "1")])).await;
    c.secret("team-a", "one").await;
    let (leader, follower) = if first == 'a' { (a, b) } else { (b, a) };
    assert!(leader.metric("sealkit_unseal_requests_total").await >= 1.0);
    assert_eq!(follower.metric("sealkit_unseal_requests_total").await, 0.0);
    assert_eq!(follower.metric("sealkit_leader").await, 0.0);

    // The leader dies without releasing its Lease; the follower takes over once it expires.
    leader.kill().await;
    follower.wait_metric("sealkit_leader", |v| v == 1.0).await;
    let lease: Api<Lease> = Api::namespaced(c.client(), CONTROLLER_NS);
    let holder = lease
        .get("sealed-secrets-controller")
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.holder_identity)
        .expect("holder");
    assert_eq!(
        holder,
        if first == 'a' {
            "replica-b"
        } else {
            "replica-a"
        }
    );
    create_sealed(&c, &seal_in_process(&cert, "team-a", "two", &[("v", "2")])).await;
    let two = c.secret("team-a", "two").await;
    assert_eq!(data_of(&two), items(&[("v", "2")]));
    follower.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seal_controller_binary_unseals_stops_on_sigterm_and_logs_no_secret() {
    // Keys in another namespace, chosen through the environment (SEALED_SECRETS_KEY_NAMESPACE).
    let c = Cluster::start(&["team-a", "sealkit-system"]).await;
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port()
    };
    let (api_port, metrics_port) = (free_port(), free_port());
    let api_addr: SocketAddr = format!("127.0.0.1:{api_port}").parse().expect("addr");
    let path = tokio::task::spawn_blocking(|| binaries::path("seal-controller"))
        .await
        .expect("binary");
    let mut child = tokio::process::Command::new(path)
        .args([
            "--key-size=2048",
            &format!("--listen-addr=127.0.0.1:{api_port}"),
            &format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"),
            "--log-level=debug",
            "--log-format=json",
            "--rate-limit=100",
        ])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("SEALED_SECRETS_KEY_NAMESPACE", "sealkit-system")
        .env_remove("POD_NAMESPACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn seal-controller");
    // Drain the logs while it runs: debug logs fill a pipe nobody reads, and a controller
    // blocked on writing its logs stops reconciling.
    let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut buf)
                    .await
                    .expect("read logs");
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    wait_ready(&reqwest::Client::new(), api_addr).await;
    c.h.register_service_proxy("sealkit-system", SERVICE, "http", api_addr);
    let keys = c
        .secrets("sealkit-system")
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .expect("keys");
    assert_eq!(
        keys.items.len(),
        1,
        "the key is made in the namespace from the environment"
    );

    let kubeconfig = c.kubeconfig.to_str().expect("path").to_owned();
    let through = [
        "--controller-namespace",
        "sealkit-system",
        "--kubeconfig",
        kubeconfig.as_str(),
    ];
    let password = secret_value("pw");
    let other = secret_value("other");
    let sealed = c
        .seal_ok(
            &through,
            &secret_yaml(
                "team-a",
                "db",
                &[("password", &password), ("other", &other)],
            ),
        )
        .await;
    c.apply(&sealed).await;
    // A failing one too, so the error paths log.
    c.apply(&sealed.replace("name: db", "name: moved")).await;
    let secret = c.secret("team-a", "db").await;
    assert_eq!(
        data_of(&secret),
        items(&[("password", &password), ("other", &other)])
    );
    c.synced("team-a", "moved", "False").await;
    let file = c.path("db.yaml");
    fs_err::write(&file, &sealed).expect("write");
    let file = file.to_str().expect("path");
    c.seal_ok(&[&through[..], &["--validate", file]].concat(), "")
        .await;
    c.seal_ok(&[&through[..], &["--re-encrypt", file]].concat(), "")
        .await;

    // SIGTERM: a clean exit.
    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s after SIGTERM")
        .expect("wait");
    assert!(status.success(), "exit status {status:?}");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout.await.expect("stdout")),
        String::from_utf8_lossy(&stderr.await.expect("stderr"))
    );
    assert!(logs.contains("unsealed"), "logs: {logs}");
    assert!(logs.contains("reconcile failed"), "logs: {logs}");
    assert!(
        logs.lines()
            .all(|l| l.trim().is_empty() || l.starts_with('{')),
        "every log line is JSON"
    );
    assert_no_secret(&logs, &[&password, &other], "the controller's logs");
    c.assert_no_secret_in_events_or_status(&[&password, &other])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_data_is_rendered_over_the_decrypted_items_by_the_controller_and_seal_unseal() {
    let c = Cluster::start(&["team-a"]).await;
    let (key, cert) = store_key(&c, "sealed-secrets-keytmpl0").await;
    let ctl = Controller::start(&c, &[]).await;
    let password = secret_value("pw");
    let mut ss = seal_in_process(
        &cert,
        "team-a",
        "db",
        &[("username", "app"), ("password", &password)],
    );
    ss.spec.template.as_mut().expect("template").data = Some(
        [
            (
                "dsn".to_owned(),
                r#"postgres://{{ .username }}:{{ index . "password" | b64enc | b64dec }}@{{ .host }}/db"#
                    .to_owned(),
            ),
            ("host".to_owned(), "db.internal".to_owned()),
        ]
        .into(),
    );
    create_sealed(&c, &ss).await;
    let secret = c.secret("team-a", "db").await;
    let dsn = format!("postgres://app:{password}@db.internal/db");
    assert_eq!(
        data_of(&secret),
        items(&[
            ("username", "app"),
            ("password", &password),
            ("dsn", &dsn),
            ("host", "db.internal"),
        ])
    );

    // Offline, `seal unseal` renders the same.
    let key_file = c.path("tls.key");
    fs_err::write(
        &key_file,
        secrecy::ExposeSecret::expose_secret(&key.to_pkcs1_pem()),
    )
    .expect("write");
    let yaml = serde_yaml_ng::to_string(&ss).expect("yaml");
    let out = c
        .seal_ok(
            &[
                "unseal",
                "--private-key",
                key_file.to_str().expect("path"),
                "-o",
                "json",
            ],
            &yaml,
        )
        .await;
    let unsealed: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        unsealed["data"]["dsn"].as_str(),
        Some(sealer::encoding::encode_std(dsn.as_bytes()).as_str())
    );
    c.assert_no_secret_in_events_or_status(&[&password]).await;
    ctl.stop().await;
}

/// The notes of every Event in the cluster (`events.k8s.io/v1`, what the controller writes).
async fn event_notes(c: &Cluster) -> Vec<String> {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(c.client());
    events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|e| e.note)
        .collect()
}

// issue 13: on a fresh cluster the controller reconciled before its first key existed and
// wrote a Warning (`the keyring holds no active key`) on every SealedSecret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_fresh_cluster_nothing_is_reconciled_before_the_first_key_exists() {
    let c = Cluster::start(&["team-a"]).await;
    // Sealed for a key the cluster will never hold: once reconciled, it fails to open.
    let elsewhere = PrivateKey::generate(2048).expect("key");
    let cert = Certificate::self_signed(&elsewhere, time::Duration::days(1), "").expect("cert");
    create_sealed(&c, &seal_in_process(&cert, "team-a", "db", &[("v", "x")])).await;
    // Storing the first key fails a few times, so it exists only seconds after the start.
    c.h.inject(
        Fault::status(500)
            .verb(Verb::Create)
            .resource("secrets")
            .namespace(CONTROLLER_NS)
            .times(3),
    );
    let ctl = Controller::start(&c, &[]).await;
    let cond = c.synced("team-a", "db", "False").await;
    assert_eq!(cond.reason.as_deref(), Some("ErrUnsealFailed"));
    let notes = event_notes(&c).await;
    assert!(
        notes.iter().any(|n| n.contains("no key could decrypt")),
        "{notes:?}"
    );
    assert!(
        !notes
            .iter()
            .any(|n| n.contains("the keyring holds no active key")),
        "{notes:?}"
    );
    ctl.stop().await;
}

// issue 13: `sealkit.dev/unsealed-digest` was an unkeyed hash over the plaintext, and its
// presence was accepted as proof that the controller owned a Secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_carrying_a_copied_digest_is_not_taken_over_and_digests_are_keyed() {
    let c = Cluster::start(&["team-a", "team-b"]).await;
    let ctl = Controller::start(&c, &[]).await;
    let cert = Certificate::from_pem(ctl.cert_pem().await.as_bytes()).expect("cert");
    let password = secret_value("pw");
    create_sealed(
        &c,
        &seal_in_process(&cert, "team-a", "db", &[("password", &password)]),
    )
    .await;
    let made = c.secret("team-a", "db").await;
    let digest = made.annotations()[DIGEST_ANNOTATION].clone();
    assert!(digest.starts_with("hmac-sha256:"), "{digest}");
    // The key of that digest lives next to the sealing keys, never labelled as one.
    let key_secret = c
        .secrets(CONTROLLER_NS)
        .get("sealed-secrets-key-digest")
        .await
        .expect("digest key secret");
    assert!(!key_secret.labels().contains_key(KEY_LABEL));
    assert_eq!(
        key_secret.data.as_ref().expect("data")["hmac-sha256.key"]
            .0
            .len(),
        32
    );

    // Someone else's Secret in team-b carries a copy of the controller's annotations (as a
    // replication tool would copy them) and no owner.
    let theirs: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": "db", "namespace": "team-b",
            "annotations": {
                DIGEST_ANNOTATION: digest,
                KEYS_ANNOTATION: made.annotations()[KEYS_ANNOTATION],
            },
        },
        "type": "kubernetes.io/basic-auth",
        "stringData": {"password": "theirs"}
    }))
    .expect("secret");
    c.secrets("team-b")
        .create(&PostParams::default(), &theirs)
        .await
        .expect("create");
    create_sealed(
        &c,
        &seal_in_process(&cert, "team-b", "db", &[("password", &password)]),
    )
    .await;
    let cond = c.synced("team-b", "db", "False").await;
    assert_eq!(cond.reason.as_deref(), Some("ErrUpdateFailed"));
    assert!(
        cond.message
            .as_deref()
            .is_some_and(|m| m.contains("not managed by SealedSecret")),
        "{cond:?}"
    );
    let secret = c.secrets("team-b").get("db").await.expect("get");
    assert_eq!(data_of(&secret), items(&[("password", "theirs")]));
    assert!(secret.owner_references().is_empty());
    c.assert_no_secret_in_events_or_status(&[&password, "theirs"])
        .await;
    ctl.stop().await;
}

// issue 13 (separate identities): the bridge alone reads no key Secret and serves no /v1/*
// and no sealing page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_sealed_secret_side_off_no_key_is_read_and_no_sealing_route_is_served() {
    let c = Cluster::start(&["team-a"]).await;
    store_key(&c, "sealed-secrets-keyoff00").await;
    c.h.clear_requests();
    let ctl = Controller::start(&c, &["--sealed-secrets=false", "--external-secrets=true"]).await;
    for path in ["/v1/cert.pem", "/v1/verify", "/v1/rotate", "/"] {
        let status = if path == "/v1/cert.pem" || path == "/" {
            ctl.http
                .get(format!("http://{}{path}", ctl.api))
                .send()
                .await
        } else {
            ctl.http
                .post(format!("http://{}{path}", ctl.api))
                .body("{}")
                .send()
                .await
        }
        .expect("request")
        .status();
        assert_eq!(status.as_u16(), 404, "{path}");
    }
    // The bridge is running: it has listed its kinds.
    eventually("the bridge lists externalsecrets", || async {
        c.h.requests()
            .iter()
            .any(|r| r.resource == "externalsecrets")
            .then_some(())
    })
    .await;
    let key_reads: Vec<_> =
        c.h.requests()
            .into_iter()
            .filter(|r| {
                r.resource == "secrets" && r.namespace.as_deref() == Some(CONTROLLER_NS)
                    || r.resource == "sealedsecrets"
            })
            .collect();
    assert!(key_reads.is_empty(), "{key_reads:?}");
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_watch_for_secrets_the_keys_are_read_once_and_not_watched() {
    let c = Cluster::start(&["team-a"]).await;
    let (_, cert) = store_key(&c, "sealed-secrets-keyonce0").await;
    c.h.clear_requests();
    let ctl = Controller::start(&c, &["--watch-for-secrets=false"]).await;
    create_sealed(&c, &seal_in_process(&cert, "team-a", "db", &[("v", "1")])).await;
    c.secret("team-a", "db").await;
    let key_watches: Vec<_> =
        c.h.requests()
            .into_iter()
            .filter(|r| {
                r.verb == Verb::Watch
                    && r.resource == "secrets"
                    && r.namespace.as_deref() == Some(CONTROLLER_NS)
            })
            .collect();
    assert!(key_watches.is_empty(), "{key_watches:?}");
    ctl.stop().await;
}
