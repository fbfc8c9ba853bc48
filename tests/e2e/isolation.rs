//! Tenant isolation end to end (issue 13): every attack of the issue, replayed by a namespace
//! user against the real binaries.
//!
//! Each test installs the shipped manifests into the RBAC-enforcing harness — `deploy/base` and
//! `deploy/external-secrets` rendered by `kubectl kustomize` (through an overlay that serves the
//! tenant's namespace, as the kustomization tells users to write one), or the chart rendered by
//! the real Helm engine — and runs `seal-controller` twice, as the two Deployments run it: the
//! sealing controller under the token of `kube-system/sealed-secrets-controller`, the bridge
//! under the token of `sealkit-external-secrets/sealkit-external-secrets`, each with the
//! arguments of its rendered Deployment. The tenant is the ServiceAccount `attacker/tenant`,
//! whose Role lets it create SealedSecrets, ExternalSecrets, SecretStores and Secrets in
//! `attacker` and nothing anywhere else. After every attack both processes are still running,
//! the sealing controller answers `/healthz` and `/v1/cert.pem`, and it unseals a fresh
//! SealedSecret.
//!
//! How each test was checked against the code before the fix (`f80d564`, the last commit before
//! the issue-13 merges) is written beside it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};
use seal_controller::externalsecrets::crd::{ClusterSecretStore, ExternalSecret, SecretStore};
use sealer::sealed::{Certificate, SealOptions, SealedSecret, SecretManifest};
use sealkit_tests::binaries;
use sealkit_tests::deploy;
use sealkit_tests::harness::{self, Harness};
use serde_json::{Value, json};

/// The sealing controller's namespace in the shipped manifests: its keys live here.
const KEY_NS: &str = "kube-system";
/// The sealing controller's ServiceAccount, Deployment and Service.
const SEALER: &str = "sealed-secrets-controller";
/// The bridge's namespace, ServiceAccount and Deployment.
const BRIDGE: &str = "sealkit-external-secrets";
/// The tenant's namespace.
const ATTACKER: &str = "attacker";
/// Another tenant's namespace, served by the bridge too.
const NEIGHBOUR: &str = "apps";
const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// How `deploy/` is rendered.
#[derive(Debug, Clone, Copy)]
enum Rendering {
    /// `kubectl kustomize` of an overlay over `deploy/base` and `deploy/external-secrets`.
    Kustomize,
    /// The chart `deploy/helm/sealkit` through the real Helm engine (and the CRDs from
    /// `deploy/crds`, which the chart leaves to the user).
    Helm,
}

/// The tenant's rights: everything a namespace user needs for SealedSecrets and
/// ExternalSecrets in `attacker`, read and create (not overwrite) its Secrets, read Events.
/// Nothing outside `attacker` but what every authenticated user has (the sealing controller's
/// service proxy). `template-editor` may edit SealedSecrets and ExternalSecrets but read no
/// Secret (the user an error-message oracle would serve).
const TENANT_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: tenant, namespace: attacker}
rules:
- apiGroups: ["bitnami.com"]
  resources: ["sealedsecrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["external-secrets.io"]
  resources: ["externalsecrets", "secretstores"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tenant, namespace: attacker}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant}
subjects:
- {kind: ServiceAccount, name: tenant, namespace: attacker}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: template-editor, namespace: attacker}
rules:
- apiGroups: ["bitnami.com"]
  resources: ["sealedsecrets"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["external-secrets.io"]
  resources: ["externalsecrets"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: template-editor, namespace: attacker}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: template-editor}
subjects:
- {kind: ServiceAccount, name: template-editor, namespace: attacker}
"#;

// ---------------------------------------------------------------------------------------------
// The manifests

/// The install, rendered as users render it.
fn manifests(rendering: Rendering, dir: &Path) -> Vec<Value> {
    match rendering {
        Rendering::Kustomize => deploy::kustomize(&kustomize_overlay(dir).to_string_lossy()),
        Rendering::Helm => {
            let mut docs = deploy::kustomize("crds/sealed-secrets");
            docs.extend(deploy::kustomize("crds/external-secrets"));
            let values = json!({"externalSecrets": {
                "enabled": true,
                "namespaces": [NEIGHBOUR, ATTACKER],
            }});
            docs.extend(
                deploy::helm_template(&values, "sealkit", KEY_NS)
                    .expect("the chart renders")
                    .manifests,
            );
            docs
        }
    }
}

/// Writes the overlay `deploy/external-secrets/kustomization.yaml` asks for: both directories,
/// one RoleBinding to `sealkit-external-secrets-tenant` per served namespace, and the same
/// namespaces in the bridge's `--external-secrets-namespaces`. Returns its directory.
fn kustomize_overlay(dir: &Path) -> PathBuf {
    let overlay = dir.join("overlay");
    fs_err::create_dir_all(&overlay).expect("overlay directory");
    let overlay = overlay.canonicalize().expect("overlay path");
    let deploy_dir = deploy::deploy_dir().canonicalize().expect("deploy/");
    // kustomize takes only relative paths to other kustomizations.
    let up = "../".repeat(overlay.components().count() - 1);
    let deploy_rel = format!(
        "{up}{}",
        deploy_dir
            .to_string_lossy()
            .trim_start_matches(std::path::MAIN_SEPARATOR)
    );
    let kustomization = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {deploy_rel}/base
  - {deploy_rel}/external-secrets
  - tenant-attacker.yaml
patches:
  - target: {{kind: Deployment, name: {BRIDGE}}}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args/2
        value: --external-secrets-namespaces={NEIGHBOUR},{ATTACKER}
"
    );
    fs_err::write(overlay.join("kustomization.yaml"), kustomization).expect("kustomization");
    let binding = fs_err::read_to_string(deploy_dir.join("external-secrets/tenant-apps.yaml"))
        .expect("tenant-apps.yaml");
    let binding = binding.replace(
        &format!("namespace: {NEIGHBOUR}\n"),
        &format!("namespace: {ATTACKER}\n"),
    );
    assert!(binding.contains(&format!("namespace: {ATTACKER}\n")));
    fs_err::write(overlay.join("tenant-attacker.yaml"), binding).expect("binding");
    overlay
}

/// The first container of the rendered Deployment `name`.
fn container(docs: &[Value], name: &str) -> Value {
    deploy::find(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0].clone()
}

/// The container's arguments, as the Deployment passes them.
fn args_of(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string argument").to_owned())
        .collect()
}

/// A YAML stream of `docs` (JSON is YAML).
fn stream<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    docs.into_iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n---\n")
}

// ---------------------------------------------------------------------------------------------
// The two processes

/// One `seal-controller` process, as one Deployment runs it.
struct Component {
    what: &'static str,
    child: Mutex<tokio::process::Child>,
    api: SocketAddr,
    metrics: SocketAddr,
    logs: Arc<Mutex<Vec<u8>>>,
    /// How it was started, for [`Component::restart`].
    launch: Launch,
}

/// What a process needs to start (again).
#[derive(Clone)]
struct Launch {
    args: Vec<String>,
    namespace: String,
    kubeconfig: PathBuf,
    home: PathBuf,
    /// A file holding the process's ServiceAccount token, to be placed where a pod has it
    /// ([`IN_POD_TOKEN`]) when the machine allows it ([`pod_files_supported`]).
    pod_token: Option<PathBuf>,
}

/// Where the kubelet mounts a pod's ServiceAccount token.
const IN_POD_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Shell steps run in a private mount namespace before the process: a fresh `/var/run`
/// holding the token (`$0`) at [`IN_POD_TOKEN`], then the process (`$@`).
const POD_FILES: &str = "mount -t tmpfs tmpfs /var/run && mkdir -p /var/run/secrets/kubernetes.io/serviceaccount && cp \"$0\" /var/run/secrets/kubernetes.io/serviceaccount/token && exec \"$@\"";

/// Whether this machine lets an unprivileged test mount a file system in a private user and
/// mount namespace (`unshare -rm`): then a process can find its token where a pod has it.
fn pod_files_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        std::process::Command::new("unshare")
            .args(["-rm", "sh", "-c", "mount -t tmpfs tmpfs /var/run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Component {
    /// Starts `seal-controller` with `args` (the Deployment's, plus the listen addresses), in a
    /// clean environment holding only what the pod would have: the namespace and name from the
    /// downward API, and its credentials (here a kubeconfig with its ServiceAccount token).
    async fn start(what: &'static str, launch: Launch) -> Self {
        Self::start_on(what, launch, (free_port(), free_port())).await
    }

    /// Starts it listening on `ports` (API, metrics).
    async fn start_on(what: &'static str, launch: Launch, ports: (u16, u16)) -> Self {
        let (api_port, metrics_port) = ports;
        let mut args = launch.args.clone();
        args.push(format!("--listen-addr=127.0.0.1:{api_port}"));
        args.push(format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"));
        let path = tokio::task::spawn_blocking(|| binaries::path("seal-controller"))
            .await
            .expect("locating seal-controller");
        let mut command = match &launch.pod_token {
            Some(token) if pod_files_supported() => {
                let mut c = tokio::process::Command::new("unshare");
                c.args(["-rm", "sh", "-c", POD_FILES])
                    .arg(token)
                    .arg(path)
                    .args(&args)
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default());
                c
            }
            _ => {
                let mut c = tokio::process::Command::new(path);
                c.args(&args).env_clear();
                c
            }
        };
        let mut child = command
            .env("KUBECONFIG", &launch.kubeconfig)
            .env("HOME", &launch.home)
            .env("POD_NAMESPACE", &launch.namespace)
            .env("POD_NAME", format!("{what}-0").replace(' ', "-"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn seal-controller");
        // Drain the logs while it runs: a process blocked on a full pipe stops reconciling.
        let logs: Arc<Mutex<Vec<u8>>> = Arc::default();
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
        let this = Self {
            what,
            child: Mutex::new(child),
            api: SocketAddr::from(([127, 0, 0, 1], api_port)),
            metrics: SocketAddr::from(([127, 0, 0, 1], metrics_port)),
            logs,
            launch,
        };
        this.wait_ready().await;
        this
    }

    /// Waits until `/readyz` answers 200 (failing at once if the process exits).
    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let url = format!("http://{}/readyz", self.api);
        for _ in 0..900 {
            self.assert_running();
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the {} never became ready: {}", self.what, self.logs());
    }

    /// Fails the test, with the logs, if the process has exited.
    fn assert_running(&self) {
        let exited = self.child.lock().expect("child").try_wait();
        if let Ok(Some(status)) = exited {
            panic!("the {} exited ({status}): {}", self.what, self.logs());
        }
    }

    fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().expect("logs")).into_owned()
    }

    /// The largest resident set the process has had (`VmHWM`), in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.lock().expect("child").id().expect("running");
        let status = fs_err::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// The value of one metric line (`name` with its labels, as exposed).
    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().expect("number"))
    }

    /// Stops it (SIGTERM) and starts it again on the same ports, as a pod restarts.
    async fn restart(self) -> Self {
        let (what, launch) = (self.what, self.launch.clone());
        let ports = (self.api.port(), self.metrics.port());
        self.stop().await;
        Self::start_on(what, launch, ports).await
    }

    /// SIGTERM, as the kubelet stops a pod; the process must exit cleanly.
    async fn stop(self) {
        self.assert_running();
        let mut child = self.child.into_inner().expect("child");
        let pid = child.id().expect("pid").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits within 30 s of SIGTERM")
            .expect("wait");
        assert!(status.success(), "the {} exited with {status}", self.what);
    }
}

// ---------------------------------------------------------------------------------------------
// The cluster

/// The harness with the shipped manifests installed, both components running under their own
/// tokens, and the tenant.
struct Env {
    h: Harness,
    /// Kubeconfigs and the kustomize overlay; removed when the test ends.
    _dir: tempfile::TempDir,
    sealer: Component,
    bridge: Component,
    sealer_token: String,
    bridge_token: String,
    tenant_token: String,
    tenant: Client,
    tenant_kubeconfig: PathBuf,
    cert_pem: String,
    cert: Certificate,
    fresh: u32,
}

impl Env {
    async fn start(rendering: Rendering) -> Self {
        Self::start_with(rendering, &[]).await
    }

    /// Installs `deploy/` as `rendering` renders it and starts both components; `sealer_extra`
    /// goes after the sealing controller's Deployment arguments.
    async fn start_with(rendering: Rendering, sealer_extra: &[&str]) -> Self {
        Self::start_with_options(rendering, sealer_extra, false).await
    }

    /// [`Env::start_with`]; with `bridge_token_in_pod`, the bridge also finds its token where
    /// a pod has it, when the machine allows ([`pod_files_supported`]).
    async fn start_with_options(
        rendering: Rendering,
        sealer_extra: &[&str],
        bridge_token_in_pod: bool,
    ) -> Self {
        let h = harness::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let admin_kubeconfig = dir.path().join("admin.kubeconfig");
        h.write_kubeconfig_for_token(&admin_kubeconfig, &h.admin_token())
            .expect("kubeconfig");
        // kubectl's imperative `create` sends protobuf bodies (issue 13, item 5).
        for args in [
            &["create", "namespace", NEIGHBOUR][..],
            &["create", "namespace", ATTACKER],
            &["-n", ATTACKER, "create", "serviceaccount", "tenant"],
            &[
                "-n",
                ATTACKER,
                "create",
                "serviceaccount",
                "template-editor",
            ],
        ] {
            kubectl(&admin_kubeconfig, args).await;
        }
        let docs = tokio::task::block_in_place(|| manifests(rendering, dir.path()));
        let rbac = deploy::rbac_objects(&docs);
        let crds = docs
            .iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition");
        h.apply_yaml(&stream(crds.chain(&rbac)))
            .expect("the manifests' CRDs and RBAC");
        h.apply_yaml(TENANT_RBAC).expect("the tenant's RBAC");

        let sealer_token = h.service_account_token(KEY_NS, SEALER);
        let bridge_token = h.service_account_token(BRIDGE, BRIDGE);
        let tenant_token = h.service_account_token(ATTACKER, "tenant");
        let kubeconfig = |name: &str, token: &str| {
            let path = dir.path().join(format!("{name}.kubeconfig"));
            h.write_kubeconfig_for_token(&path, token)
                .expect("kubeconfig");
            path
        };
        let sealer_kubeconfig = kubeconfig("sealer", &sealer_token);
        let bridge_kubeconfig = kubeconfig("bridge", &bridge_token);
        let tenant_kubeconfig = kubeconfig("tenant", &tenant_token);
        let pod_token_file = bridge_token_in_pod.then(|| {
            let path = dir.path().join("bridge.token");
            fs_err::write(&path, &bridge_token).expect("token file");
            path
        });

        // A 2048-bit key keeps key generation quick; everything else is the Deployment's.
        let mut sealer_args = args_of(&container(&docs, SEALER));
        sealer_args.push("--key-size=2048".into());
        sealer_args.extend(sealer_extra.iter().map(|a| (*a).to_owned()));
        let sealer = Component::start(
            "sealing controller",
            Launch {
                args: sealer_args,
                namespace: KEY_NS.into(),
                kubeconfig: sealer_kubeconfig,
                home: dir.path().into(),
                pod_token: None,
            },
        )
        .await;
        h.register_service_proxy(KEY_NS, SEALER, "http", sealer.api);
        let bridge = Component::start(
            "bridge",
            Launch {
                args: args_of(&container(&docs, BRIDGE)),
                namespace: BRIDGE.into(),
                kubeconfig: bridge_kubeconfig,
                home: dir.path().into(),
                pod_token: pod_token_file,
            },
        )
        .await;
        let cert_pem = reqwest::get(format!("http://{}/v1/cert.pem", sealer.api))
            .await
            .expect("GET /v1/cert.pem")
            .text()
            .await
            .expect("certificate");
        let cert = Certificate::from_pem(cert_pem.as_bytes()).expect("a certificate");
        let tenant = h.client_for_token(&tenant_token);
        Self {
            h,
            _dir: dir,
            sealer,
            bridge,
            sealer_token,
            bridge_token,
            tenant_token,
            tenant,
            tenant_kubeconfig,
            cert_pem,
            cert,
            fresh: 0,
        }
    }

    /// Polls `f` until it returns `Some`, failing at once (with its logs) if either process
    /// exits meanwhile.
    async fn eventually<T, F, Fut>(&self, what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        eventually(what, || {
            self.sealer.assert_running();
            self.bridge.assert_running();
            f()
        })
        .await
    }

    /// Full access (a request without a token), for setting up and checking.
    fn admin(&self) -> Client {
        self.h.client()
    }

    fn as_bridge(&self) -> Client {
        self.h.client_for_token(&self.bridge_token)
    }

    /// The URL of `path` on the sealing controller through the API server's service proxy.
    fn proxied(&self, path: &str) -> String {
        format!(
            "{}/api/v1/namespaces/{KEY_NS}/services/http:{SEALER}:/proxy{path}",
            self.h.url()
        )
    }

    /// `items` sealed for `attacker/name` with the controller's certificate.
    fn seal(&self, name: &str, items: &[(&str, &str)]) -> Value {
        seal_for(&self.cert, ATTACKER, name, items)
    }

    /// The tenant creates a SealedSecret.
    async fn tenant_creates_sealed(&self, sealed: &Value) {
        let obj: SealedSecret = serde_json::from_value(sealed.clone()).expect("SealedSecret");
        Api::<SealedSecret>::namespaced(self.tenant.clone(), ATTACKER)
            .create(&PostParams::default(), &obj)
            .await
            .expect("the tenant creates a SealedSecret");
    }

    /// The tenant creates an object of `K` in `attacker`.
    async fn tenant_creates<K>(&self, value: Value)
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let obj: K = serde_json::from_value(value).expect("a valid manifest");
        Api::<K>::namespaced(self.tenant.clone(), ATTACKER)
            .create(&PostParams::default(), &obj)
            .await
            .expect("the tenant creates it");
    }

    /// The data of Secret `ns/name` (read with full access), if it exists.
    async fn data(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        Api::<Secret>::namespaced(self.admin(), ns)
            .get_opt(name)
            .await
            .expect("get secret")
            .map(|s| strings(&s))
    }

    /// Waits until Secret `ns/name` holds exactly `want`.
    async fn wait_data(&self, ns: &str, name: &str, want: &[(&str, &str)]) {
        let want = pairs(want);
        self.eventually(&format!("secret {ns}/{name} = {want:?}"), || async {
            (self.data(ns, name).await.as_ref() == Some(&want)).then_some(())
        })
        .await;
    }

    /// The `Synced` condition of SealedSecret `attacker/name` once it is `want` for the
    /// object's current generation.
    async fn synced(&self, name: &str, want: &str) -> sealer::sealed::Condition {
        let api: Api<SealedSecret> = Api::namespaced(self.admin(), ATTACKER);
        self.eventually(&format!("sealedsecret {name} Synced={want}"), || {
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

    /// `(status, reason, message)` of the `Ready` condition of ExternalSecret `attacker/name`
    /// once it has `status` and `reason`.
    async fn es_ready(&self, name: &str, status: &str, reason: &str) -> String {
        let api: Api<ExternalSecret> = Api::namespaced(self.admin(), ATTACKER);
        self.eventually(
            &format!("externalsecret {name} Ready={status}/{reason}"),
            || {
                let api = api.clone();
                async move {
                    let es = api.get_opt(name).await.ok().flatten()?;
                    es.status?
                        .conditions
                        .into_iter()
                        .find(|c| {
                            c.type_ == "Ready"
                                && c.status == status
                                && c.reason.as_deref() == Some(reason)
                        })
                        .map(|c| c.message.unwrap_or_default())
                }
            },
        )
        .await
    }

    /// The message of the `Ready` condition of SecretStore `attacker/name` once it has
    /// `status` and `reason`.
    async fn store_ready(&self, name: &str, status: &str, reason: &str) -> String {
        let api: Api<SecretStore> = Api::namespaced(self.admin(), ATTACKER);
        self.eventually(
            &format!("secretstore {name} Ready={status}/{reason}"),
            || {
                let api = api.clone();
                async move {
                    let store = api.get_opt(name).await.ok().flatten()?;
                    store
                        .status?
                        .conditions
                        .into_iter()
                        .find(|c| {
                            c.type_ == "Ready"
                                && c.status == status
                                && c.reason.as_deref() == Some(reason)
                        })
                        .map(|c| c.message.unwrap_or_default())
                }
            },
        )
        .await
    }

    /// The notes of every Event about `kind` `attacker/name`.
    async fn event_notes(&self, kind: &str, name: &str) -> Vec<String> {
        Api::<k8s_openapi::api::events::v1::Event>::namespaced(self.admin(), ATTACKER)
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| {
                e.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name)
                })
            })
            .filter_map(|e| e.note)
            .collect()
    }

    /// Takes the certificate the sealing controller serves now (after a newer key was added).
    async fn refresh_cert(&mut self) {
        self.cert_pem = reqwest::get(format!("http://{}/v1/cert.pem", self.sealer.api))
            .await
            .expect("GET /v1/cert.pem")
            .text()
            .await
            .expect("certificate");
        self.cert = Certificate::from_pem(self.cert_pem.as_bytes()).expect("a certificate");
    }

    /// After an attack: both processes still run, the sealing controller is healthy, serves its
    /// certificate, and unseals a SealedSecret the tenant creates now.
    async fn assert_still_unseals(&mut self) {
        self.sealer.assert_running();
        self.bridge.assert_running();
        let http = reqwest::Client::new();
        let health = http
            .get(format!("http://{}/healthz", self.sealer.api))
            .send()
            .await
            .expect("GET /healthz");
        assert!(health.status().is_success(), "{}", health.status());
        let cert = http
            .get(format!("http://{}/v1/cert.pem", self.sealer.api))
            .send()
            .await
            .expect("GET /v1/cert.pem")
            .text()
            .await
            .expect("certificate");
        assert_eq!(cert, self.cert_pem);
        self.fresh += 1;
        let name = format!("fresh-{}", self.fresh);
        let value = secret_value("fresh");
        self.tenant_creates_sealed(&self.seal(&name, &[("v", &value)]))
            .await;
        self.wait_data(ATTACKER, &name, &[("v", &value)]).await;
        self.sealer.assert_running();
        self.bridge.assert_running();
    }

    /// After an attack on the bridge: it still syncs an ExternalSecret for the tenant.
    async fn assert_bridge_still_serves(&mut self) {
        self.fresh += 1;
        let name = format!("fresh-es-{}", self.fresh);
        let value = secret_value("es");
        self.tenant_creates::<SecretStore>(store(
            &name,
            json!({"fake": {"data": [{"key": "k", "value": value}]}}),
        ))
        .await;
        self.tenant_creates::<ExternalSecret>(external_secret(
            &name,
            &name,
            json!({"data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
        ))
        .await;
        self.wait_data(ATTACKER, &name, &[("k", &value)]).await;
        self.bridge.assert_running();
    }

    /// Stops both components as the kubelet would (each must exit cleanly). Neither may have
    /// been refused anything it asked under its own identity: the manifests grant what the
    /// code calls.
    async fn stop(self) {
        for (component, namespace, name) in [
            (&self.sealer, KEY_NS, SEALER),
            (&self.bridge, BRIDGE, BRIDGE),
        ] {
            let logs = component.logs();
            assert!(
                !refused_as(&logs, &format!("system:serviceaccount:{namespace}:{name}")),
                "the {} was refused a call under its own identity: {logs}",
                component.what
            );
        }
        self.bridge.stop().await;
        self.sealer.stop().await;
    }
}

/// Whether `logs` report a 403 for `user` (kube-apiserver's `User "<user>" cannot …`, with the
/// quotes escaped once or twice by the log formats).
fn refused_as(logs: &str, user: &str) -> bool {
    logs.match_indices(user).any(|(at, _)| {
        logs[at + user.len()..]
            .trim_start_matches(['\\', '"'])
            .starts_with(" cannot ")
    })
}

/// Runs kubectl with `kubeconfig` and expects success.
async fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("kubectl must be installed (scripts/deps/deploy.sh)");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `items` sealed for `ns/name` with `cert` (strict scope), as a JSON SealedSecret.
fn seal_for(cert: &Certificate, ns: &str, name: &str, items: &[(&str, &str)]) -> Value {
    let secret: SecretManifest = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "stringData": pairs(items),
    }))
    .expect("secret");
    let sealed = sealer::sealed::seal_secret(&secret, cert.public_key(), &SealOptions::default())
        .expect("seal");
    serde_json::to_value(&sealed).expect("json")
}

/// `sealed` with `template.data`.
fn with_template(mut sealed: Value, data: &[(&str, &str)]) -> Value {
    sealed["spec"]["template"]["data"] = json!(pairs(data));
    sealed
}

fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(s: &Secret) -> BTreeMap<String, String> {
    s.data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

/// A unique value per run, so a leak cannot be a coincidence.
fn secret_value(tag: &str) -> String {
    format!("{tag}-{:016x}", rand::random::<u64>())
}

fn store(name: &str, provider: Value) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": name, "namespace": ATTACKER},
        "spec": {"provider": provider},
    })
}

fn external_secret(name: &str, store: &str, spec: Value) -> Value {
    let mut es = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": ATTACKER},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": store, "kind": "SecretStore"},
        },
    });
    for (k, v) in spec.as_object().expect("spec object") {
        es["spec"][k] = v.clone();
    }
    es
}

/// Polls `f` until it returns `Some` (90 s at most: a bound against hangs, not a timing
/// assertion).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
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

/// The HTTP status of a failed API call (panics on success or a transport error).
fn status_code<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> u16 {
    match result {
        Err(kube::Error::Api(status)) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Whether any value of any Secret of `ns` contains one of `needles`.
async fn secrets_containing(client: &Client, ns: &str, needles: &[&str]) -> Vec<String> {
    Api::<Secret>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("list secrets")
        .items
        .iter()
        .filter(|s| {
            strings(s)
                .values()
                .any(|v| needles.iter().any(|n| v.contains(n)))
        })
        .map(|s| s.name_any())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Key theft through the kubernetes provider

// issue 13, attack 1. On f80d564 the `no-auth` store read kube-system's Secrets with the
// controller's own client (`providers/kubernetes.rs` fell back to it without `auth`) and the
// ExternalSecret copied `tls.key` into `attacker` (as `externalsecrets::
// a_kubernetes_store_without_auth_cannot_copy_the_sealing_key` showed on that commit); there
// was also no bridge identity: the one process and ServiceAccount held the keys.
async fn key_theft(rendering: Rendering) {
    let mut env = Env::start(rendering).await;
    let admin = env.admin();
    let keys = Api::<Secret>::namespaced(admin.clone(), KEY_NS)
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .expect("key secrets");
    assert_eq!(keys.items.len(), 1, "the sealing controller made its key");
    let key_name = keys.items[0].name_any();
    let key_pem = strings(&keys.items[0])["tls.key"].clone();
    assert!(key_pem.contains("PRIVATE KEY"));
    let key_body: String = key_pem.lines().nth(1).expect("PEM body").to_owned();

    // Another tenant's Secret, and ServiceAccounts an attacker would like to borrow: `snoop`
    // in its own namespace (may read only `attacker`'s Secrets), `reader` in `apps`.
    let neighbour_value = secret_value("neighbour");
    let mut neighbour = Secret::default();
    neighbour.metadata.name = Some("db".into());
    neighbour.string_data = Some(pairs(&[("password", &neighbour_value)]));
    Api::<Secret>::namespaced(admin.clone(), NEIGHBOUR)
        .create(&PostParams::default(), &neighbour)
        .await
        .expect("neighbour secret");
    env.h
        .apply_yaml(&format!(
            r#"
apiVersion: v1
kind: ServiceAccount
metadata: {{name: snoop, namespace: {ATTACKER}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: snoop, namespace: {ATTACKER}}}
rules: [{{apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: snoop, namespace: {ATTACKER}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: snoop}}
subjects: [{{kind: ServiceAccount, name: snoop, namespace: {ATTACKER}}}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader, namespace: {NEIGHBOUR}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: reader, namespace: {NEIGHBOUR}}}
rules: [{{apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch"]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader, namespace: {NEIGHBOUR}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
subjects: [{{kind: ServiceAccount, name: reader, namespace: {NEIGHBOUR}}}]
"#
        ))
        .expect("service accounts");

    // The tenant's own token, stored with kubectl's imperative create (a protobuf body,
    // authorized by the tenant's RBAC), and an ordinary Secret of its own.
    kubectl(
        &env.tenant_kubeconfig,
        &[
            "-n",
            ATTACKER,
            "create",
            "secret",
            "generic",
            "tenant-token",
            &format!("--from-literal=token={}", env.tenant_token),
        ],
    )
    .await;
    let own_value = secret_value("own");
    let mut own = Secret::default();
    own.metadata.name = Some("source".into());
    own.string_data = Some(pairs(&[("v", &own_value)]));
    Api::<Secret>::namespaced(env.tenant.clone(), ATTACKER)
        .create(&PostParams::default(), &own)
        .await
        .expect("the tenant creates a Secret");

    let server = json!({
        "url": env.h.https_url(),
        "caBundle": base64::engine::general_purpose::STANDARD.encode(env.h.ca_pem()),
    });
    let steal_key = json!({"dataFrom": [
        {"extract": {"key": key_name}},
        {"find": {"name": {"regexp": ".*"}}},
    ]});
    // (store, provider, what the ExternalSecret asks for, store reason, message part)
    let attacks = [
        (
            "no-auth",
            json!({"kubernetes": {"remoteNamespace": KEY_NS}}),
            steal_key.clone(),
            "InvalidProviderConfig",
            "kubernetes.auth is required",
        ),
        (
            "no-auth-url",
            json!({"kubernetes": {"server": server, "remoteNamespace": KEY_NS}}),
            steal_key.clone(),
            "InvalidProviderConfig",
            "kubernetes.auth is required",
        ),
        (
            "sealer-account",
            json!({"kubernetes": {"server": server, "remoteNamespace": KEY_NS,
                "auth": {"serviceAccount": {"name": SEALER, "namespace": KEY_NS}}}}),
            steal_key.clone(),
            "InvalidProviderConfig",
            "only read credentials from its own namespace",
        ),
        (
            "neighbour-account",
            json!({"kubernetes": {"server": server, "remoteNamespace": NEIGHBOUR,
                "auth": {"serviceAccount": {"name": "reader", "namespace": NEIGHBOUR}}}}),
            json!({"dataFrom": [{"extract": {"key": "db"}}, {"find": {"name": {"regexp": ".*"}}}]}),
            "InvalidProviderConfig",
            "only read credentials from its own namespace",
        ),
        (
            "own-account",
            json!({"kubernetes": {"server": server, "remoteNamespace": KEY_NS,
                "auth": {"serviceAccount": {"name": "snoop"}}}}),
            steal_key.clone(),
            "ValidationFailed",
            "kubernetes denied access",
        ),
        (
            "own-token",
            json!({"kubernetes": {"server": server, "remoteNamespace": KEY_NS,
                "auth": {"token": {"bearerToken": {"name": "tenant-token", "key": "token"}}}}}),
            steal_key.clone(),
            "ValidationFailed",
            "kubernetes denied access",
        ),
    ];
    for (name, provider, spec, _, _) in &attacks {
        env.tenant_creates::<SecretStore>(store(name, provider.clone()))
            .await;
        env.tenant_creates::<ExternalSecret>(external_secret(name, name, spec.clone()))
            .await;
    }
    // The control: the same ServiceAccount path reads what `snoop` may read, so the refusals
    // above are the rules at work, not a broken path.
    env.tenant_creates::<SecretStore>(store(
        "own-namespace",
        json!({"kubernetes": {"server": server, "remoteNamespace": ATTACKER,
            "auth": {"serviceAccount": {"name": "snoop"}}}}),
    ))
    .await;
    env.tenant_creates::<ExternalSecret>(external_secret(
        "own-namespace",
        "own-namespace",
        json!({"data": [{"secretKey": "v", "remoteRef": {"key": "source", "property": "v"}}]}),
    ))
    .await;
    env.wait_data(ATTACKER, "own-namespace", &[("v", &own_value)])
        .await;

    for (name, _, _, reason, part) in &attacks {
        let message = env.store_ready(name, "False", reason).await;
        assert!(message.contains(part), "store {name}: {message}");
        let message = env.es_ready(name, "False", "SecretSyncedError").await;
        assert!(message.contains(part), "externalsecret {name}: {message}");
        assert_eq!(env.data(ATTACKER, name).await, None, "{name}");
    }
    let leaked = secrets_containing(
        &admin,
        ATTACKER,
        &["PRIVATE KEY", &key_body, &neighbour_value],
    )
    .await;
    assert!(leaked.is_empty(), "copied into attacker: {leaked:?}");

    // The bridge's own identity cannot reach the keys either: 403 from the API server.
    let bridge = env.as_bridge();
    let key_secrets: Api<Secret> = Api::namespaced(bridge.clone(), KEY_NS);
    assert_eq!(status_code(key_secrets.get(&key_name).await), 403);
    assert_eq!(
        status_code(key_secrets.list(&ListParams::default()).await),
        403
    );
    assert_eq!(
        status_code(
            Api::<Secret>::all(bridge.clone())
                .list(&ListParams::default())
                .await
        ),
        403
    );
    let token_request = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {},
    });
    let token_url = format!(
        "{}/api/v1/namespaces/{KEY_NS}/serviceaccounts/{SEALER}/token",
        env.h.url()
    );
    let answer = reqwest::Client::new()
        .post(&token_url)
        .bearer_auth(&env.bridge_token)
        .json(&token_request)
        .send()
        .await
        .expect("TokenRequest");
    assert_eq!(answer.status().as_u16(), 403);
    // Nor the tenant's.
    let tenant_keys: Api<Secret> = Api::namespaced(env.tenant.clone(), KEY_NS);
    assert_eq!(status_code(tenant_keys.get(&key_name).await), 403);
    assert_eq!(
        status_code(
            Api::<Secret>::namespaced(env.tenant.clone(), NEIGHBOUR)
                .get("db")
                .await
        ),
        403
    );

    env.assert_still_unseals().await;
    env.assert_bridge_still_serves().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_take_the_sealing_key_through_a_kubernetes_store_under_the_kustomize_manifests()
 {
    key_theft(Rendering::Kustomize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_take_the_sealing_key_through_a_kubernetes_store_under_the_helm_chart() {
    key_theft(Rendering::Helm).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Vault's Kubernetes auth

/// A server that records every request it gets (method, path, headers, body) and answers as a
/// Vault that accepts any login.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start() -> Self {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let mut text = format!("{method} {uri}\n");
                    for (name, value) in &headers {
                        text += &format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()));
                    }
                    text += &String::from_utf8_lossy(&body);
                    log.lock().expect("log").push(text);
                    axum::Json(json!({
                        "auth": {"client_token": "s.recorded"},
                        "data": {"data": {"k": "recorded"}},
                    }))
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("log").clone()
    }
}

/// The claims of every JWT-shaped word (`header.claims.signature`, base64url) in `text`.
fn jwt_claims(text: &str) -> Vec<Value> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .filter(|w| w.starts_with("eyJ") && w.matches('.').count() == 2)
        .filter_map(|w| {
            let claims = w.split('.').nth(1)?;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .ok()?;
            serde_json::from_slice(&bytes).ok()
        })
        .collect()
}

// issue 13, attack 2. On f80d564, `auth.kubernetes` without `secretRef` made the process read
// its own ServiceAccount token from /var/run/secrets/kubernetes.io/serviceaccount/token and POST
// it to `<server>/v1/auth/kubernetes/login` (providers/vault.rs, `service_account_token_file`);
// in a pod that file is the identity that reads every Secret. The bridge here finds its token
// at that path, as in a pod, where the machine allows a private mount namespace (`unshare
// -rm`; elsewhere the file is missing and only the kubeconfig's token can leak). Checked: with
// f80d564's binary started that way, the recorder got six `POST /v1/auth/{kubernetes,k8s}/login`
// carrying the token from that file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kubernetes_auth_never_carries_a_controller_or_bridge_token_to_a_tenant_server() {
    let mut env = Env::start_with_options(Rendering::Kustomize, &[], true).await;
    if pod_files_supported() {
        let pid = env
            .bridge
            .child
            .lock()
            .expect("child")
            .id()
            .expect("running");
        // `/var/run` is usually a symbolic link to `/run`, which would resolve from this
        // process's root: follow it here first.
        let var_run = fs_err::canonicalize("/var/run").expect("/var/run");
        let token = IN_POD_TOKEN
            .strip_prefix("/var/run")
            .expect("under /var/run");
        let in_pod =
            fs_err::read_to_string(format!("/proc/{pid}/root{}{token}", var_run.display()))
                .expect("the bridge's token file, seen from its mount namespace");
        assert_eq!(in_pod, env.bridge_token);
    }
    let recorder = Recorder::start().await;
    env.h
        .apply_yaml(&format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: vault-user, namespace: {ATTACKER}}}\n"
        ))
        .expect("service account");
    let vault =
        |auth: Value| json!({"vault": {"server": recorder.url, "path": "secret", "auth": auth}});
    let refused = [
        (
            "no-reference",
            vault(json!({"kubernetes": {"role": "x"}})),
            "needs serviceAccountRef or secretRef",
        ),
        (
            "no-reference-mount",
            vault(json!({"kubernetes": {"role": "x", "mountPath": "k8s"}})),
            "needs serviceAccountRef or secretRef",
        ),
        (
            "sealer-account",
            vault(json!({"kubernetes": {"role": "x",
                "serviceAccountRef": {"name": SEALER, "namespace": KEY_NS}}})),
            "only read credentials from its own namespace",
        ),
        (
            "bridge-account",
            vault(json!({"kubernetes": {"role": "x",
                "serviceAccountRef": {"name": BRIDGE, "namespace": BRIDGE}}})),
            "only read credentials from its own namespace",
        ),
    ];
    let read = json!({"data": [{"secretKey": "k", "remoteRef": {"key": "app", "property": "k"}}]});
    for (name, provider, _) in &refused {
        env.tenant_creates::<SecretStore>(store(name, provider.clone()))
            .await;
        env.tenant_creates::<ExternalSecret>(external_secret(name, name, read.clone()))
            .await;
    }
    // A ServiceAccount of the tenant's own namespace: its token (and only its) is sent.
    env.tenant_creates::<SecretStore>(store(
        "own-account",
        vault(json!({"kubernetes": {"role": "x",
            "serviceAccountRef": {"name": "vault-user", "audiences": ["vault"]}}})),
    ))
    .await;
    env.tenant_creates::<ExternalSecret>(external_secret("own-account", "own-account", read))
        .await;
    for (name, _, part) in &refused {
        let message = env
            .store_ready(name, "False", "InvalidProviderConfig")
            .await;
        assert!(message.contains(part), "store {name}: {message}");
        let message = env.es_ready(name, "False", "SecretSyncedError").await;
        assert!(message.contains(part), "externalsecret {name}: {message}");
    }
    env.wait_data(ATTACKER, "own-account", &[("k", "recorded")])
        .await;

    let requests = recorder.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST /v1/auth/kubernetes/login")),
        "{requests:?}"
    );
    for request in &requests {
        assert!(!request.contains(&env.sealer_token), "{request}");
        assert!(!request.contains(&env.bridge_token), "{request}");
        for claims in jwt_claims(request) {
            assert_eq!(
                claims["sub"], "system:serviceaccount:attacker:vault-user",
                "{request}"
            );
            assert_eq!(claims["aud"], json!(["vault"]), "{request}");
        }
    }
    env.assert_bridge_still_serves().await;
    env.assert_still_unseals().await;
    env.stop().await;
}

// The TokenRequest path against a real Vault API: OpenBao reviews the token the bridge
// requested for the store's ServiceAccount with the harness's TokenReview, and lets it read.
// (Before the fix, `serviceAccountRef` was refused as unsupported.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kubernetes_auth_logs_in_to_openbao_as_the_service_account_the_store_names() {
    let mut env = Env::start(Rendering::Helm).await;
    env.h
        .apply_yaml(&format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: bao-reviewer}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}}\nsubjects:\n- {{kind: ServiceAccount, name: bao, namespace: {KEY_NS}}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: vault-user, namespace: {ATTACKER}}}\n"
        ))
        .expect("reviewer and service account");
    let reviewer = env.h.service_account_token(KEY_NS, "bao");
    let (url, ca) = (env.h.https_url().to_owned(), env.h.ca_pem().to_owned());
    let password = secret_value("vault");
    let value = password.clone();
    let bao = tokio::task::spawn_blocking(move || {
        use sealkit_tests::servers::OpenBao;
        let bao = OpenBao::start();
        bao.kv_put("secret", "app/db", &json!({"password": value}));
        bao.api(
            reqwest::Method::POST,
            "sys/auth/kubernetes",
            Some(&json!({"type": "kubernetes"})),
        );
        bao.api(
            reqwest::Method::POST,
            "auth/kubernetes/config",
            Some(&json!({
                "kubernetes_host": url,
                "kubernetes_ca_cert": ca,
                "token_reviewer_jwt": reviewer,
                "disable_local_ca_jwt": true,
            })),
        );
        bao.api(
            reqwest::Method::PUT,
            "sys/policies/acl/reader",
            Some(&json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"})),
        );
        bao.api(
            reqwest::Method::POST,
            "auth/kubernetes/role/reader",
            Some(&json!({
                "bound_service_account_names": ["vault-user"],
                "bound_service_account_namespaces": [ATTACKER],
                "audience": "vault",
                "token_policies": ["reader"],
            })),
        );
        bao
    })
    .await
    .expect("OpenBao");
    env.tenant_creates::<SecretStore>(store(
        "bao",
        json!({"vault": {"server": bao.url(), "path": "secret", "version": "v2",
            "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "reader",
                "serviceAccountRef": {"name": "vault-user", "audiences": ["vault"]}}}}}),
    ))
    .await;
    env.tenant_creates::<ExternalSecret>(external_secret(
        "db",
        "bao",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
    ))
    .await;
    env.wait_data(ATTACKER, "db", &[("password", &password)])
        .await;
    env.store_ready("bao", "True", "Valid").await;
    env.assert_still_unseals().await;
    env.stop().await;
    drop(bao);
}

// ---------------------------------------------------------------------------------------------
// 3. Templates that used to crash-loop the controller

/// Templates that ran the process out of memory or stack before the fix, and what each does
/// now: `Ok(value)` renders, `Err(part)` fails with a message containing `part`.
fn hostile_templates() -> Vec<(&'static str, String, Result<&'static str, &'static str>)> {
    vec![
        // Go's own limit: a width past 10^6 loses the verb (it aborted the process).
        (
            "go-width",
            r#"{{ printf "%999999999999d" 1 }}"#.to_owned(),
            Ok("%!(NOVERB)%!(EXTRA int=1)"),
        ),
        // A width Go accepts, past the output budget.
        (
            "wide",
            r#"{{ printf "%10000000d" 1 }}"#.to_owned(),
            Err("printf exceeds the output budget"),
        ),
        // It built a list of 10^11 integers.
        (
            "range",
            "{{ range 100000000000 }}{{ end }}".to_owned(),
            Err("range exceeds the step budget"),
        ),
        // It overflowed the stack.
        (
            "nested",
            "{{ if 1 }}".repeat(5_000) + "{{ end }}".repeat(5_000).as_str(),
            Err(" exceeds the depth budget"),
        ),
    ]
}

/// Each hostile SealedSecret of [`hostile_templates`] in `attacker` ended as expected: the one
/// Go renders is unsealed, the others are `Synced=False` with the budget in the message and an
/// Event, and have no Secret.
async fn check_hostile_sealed_secrets(env: &Env, password: &str) {
    for (name, _, outcome) in hostile_templates() {
        match outcome {
            Ok(value) => {
                env.synced(name, "True").await;
                env.wait_data(ATTACKER, name, &[("password", password), ("x", value)])
                    .await;
            }
            Err(part) => {
                let cond = env.synced(name, "False").await;
                let message = cond.message.unwrap_or_default();
                assert!(message.contains(part), "{name}: {message}");
                assert!(!message.contains(password), "{name}: {message}");
                assert_eq!(env.data(ATTACKER, name).await, None, "{name}");
                let notes = env.event_notes("SealedSecret", name).await;
                assert!(notes.iter().any(|n| n.contains(part)), "{name}: {notes:?}");
            }
        }
    }
}

// issue 13, attack 3 (SealedSecrets). On f80d564 `go-width` aborted the process on an
// allocation failure, `range` built 10^11 integers and `nested` overflowed the stack: the
// controller died, and died again on each restart when it reconciled the same object (shown
// for each template by `sealer`'s `template::hostile` tests and the controller's
// `sealedsecrets::hostile_templates` test, which fail on that commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sealed_secret_templates_fail_alone_and_unsealing_survives_restarts() {
    let mut env = Env::start(Rendering::Kustomize).await;
    let password = secret_value("pw");
    env.tenant_creates_sealed(&with_template(
        env.seal("good", &[("password", &password)]),
        &[("dsn", "db:{{ .password }}")],
    ))
    .await;
    let dsn = format!("db:{password}");
    env.wait_data(ATTACKER, "good", &[("password", &password), ("dsn", &dsn)])
        .await;
    let good_version = Api::<Secret>::namespaced(env.admin(), ATTACKER)
        .get("good")
        .await
        .expect("good")
        .resource_version();

    for (name, template, _) in hostile_templates() {
        env.tenant_creates_sealed(&with_template(
            env.seal(name, &[("password", &password)]),
            &[("x", &template)],
        ))
        .await;
    }
    check_hostile_sealed_secrets(&env, &password).await;
    env.assert_still_unseals().await;
    // A restart reconciles every object again, the hostile ones included.
    env.sealer = env.sealer.restart().await;
    env.assert_still_unseals().await;
    check_hostile_sealed_secrets(&env, &password).await;
    env.synced("good", "True").await;
    let good = Api::<Secret>::namespaced(env.admin(), ATTACKER)
        .get("good")
        .await
        .expect("good");
    assert_eq!(
        good.resource_version(),
        good_version,
        "the good object's Secret was left alone"
    );
    env.stop().await;
}

// issue 13, attack 3 (ExternalSecrets): `{{ range 100000000000 }}` in a target template built
// the whole list on f80d564 (the bridge ran in the sealing process, so unsealing died with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_external_secret_templates_fail_alone_and_the_bridge_keeps_syncing() {
    let mut env = Env::start(Rendering::Helm).await;
    let password = secret_value("pw");
    env.tenant_creates::<SecretStore>(store(
        "fake",
        json!({"fake": {"data": [{"key": "password", "value": password}]}}),
    ))
    .await;
    let with = |template: &str| {
        json!({
            "data": [{"secretKey": "password", "remoteRef": {"key": "password"}}],
            "target": {"template": {"data": {"x": template}}},
        })
    };
    env.tenant_creates::<ExternalSecret>(external_secret(
        "good",
        "fake",
        with("db:{{ .password }}"),
    ))
    .await;
    for (name, template, _) in hostile_templates() {
        env.tenant_creates::<ExternalSecret>(external_secret(name, "fake", with(&template)))
            .await;
    }
    env.wait_data(ATTACKER, "good", &[("x", &format!("db:{password}"))])
        .await;
    for (name, _, outcome) in hostile_templates() {
        match outcome {
            Ok(value) => env.wait_data(ATTACKER, name, &[("x", value)]).await,
            Err(part) => {
                let message = env.es_ready(name, "False", "SecretSyncedError").await;
                assert!(message.contains(part), "{name}: {message}");
                assert!(!message.contains(&password), "{name}: {message}");
                assert_eq!(env.data(ATTACKER, name).await, None, "{name}");
            }
        }
    }
    env.assert_bridge_still_serves().await;
    env.assert_still_unseals().await;
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. The smaller holes

/// A webhook server answering 1 GiB: `/chunked/…` streams it without a length, `/declared/…`
/// announces it in `Content-Length`; `/redirect/…` sends the caller to the cloud metadata
/// address.
async fn hostile_webhook() -> SocketAddr {
    use axum::body::Body;
    use axum::http::{StatusCode, header};
    const GIB: usize = 1 << 30;
    const CHUNK: usize = 1 << 20;
    let gigabyte = || {
        Body::from_stream(futures::stream::iter(
            (0..GIB / CHUNK).map(|_| Ok::<_, std::io::Error>(vec![b'a'; CHUNK])),
        ))
    };
    let app = axum::Router::new()
        .route(
            "/chunked/{*key}",
            axum::routing::get(move || async move { gigabyte() }),
        )
        .route(
            "/declared/{*key}",
            axum::routing::get(move || async move {
                ([(header::CONTENT_LENGTH, GIB.to_string())], gigabyte())
            }),
        )
        .route(
            "/redirect/{*key}",
            axum::routing::get(|| async {
                (
                    StatusCode::FOUND,
                    [(
                        header::LOCATION,
                        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                    )],
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// An ExternalSecret reading key `k` through store `store`.
fn read_k(name: &str, store: &str) -> Value {
    external_secret(
        name,
        store,
        json!({"data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}),
    )
}

// issue 13, item 4: provider answers were read whole (`.bytes()`). On f80d564 the bridge, then
// inside the sealing controller, held the whole gigabyte (twice while growing the buffer): its
// peak resident set passed 1 GiB, or the process was killed for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answering_a_gigabyte_is_cut_off_at_the_cap_and_the_bridge_stays_small() {
    let mut env = Env::start(Rendering::Kustomize).await;
    let addr = hostile_webhook().await;
    for how in ["chunked", "declared"] {
        env.tenant_creates::<SecretStore>(store(
            how,
            json!({"webhook": {"url": format!("http://{addr}/{how}/{{{{ .remoteRef.key }}}}")}}),
        ))
        .await;
        env.tenant_creates::<ExternalSecret>(read_k(how, how)).await;
    }
    for how in ["chunked", "declared"] {
        let message = env.es_ready(how, "False", "SecretSyncedError").await;
        assert!(
            message.contains("the answer of webhook exceeds the limit of 4194304 bytes"),
            "{how}: {message}"
        );
        assert_eq!(env.data(ATTACKER, how).await, None);
    }
    let peak_mib = env.bridge.peak_rss_kib() / 1024;
    assert!(
        peak_mib < 512,
        "the bridge's peak resident set reached {peak_mib} MiB"
    );
    env.assert_bridge_still_serves().await;
    env.assert_still_unseals().await;
    env.stop().await;
}

// issue 13, item 4: provider URLs could reach the cloud metadata endpoints. On f80d564 each
// of these stores connected (or tried to: the message was `cannot reach webhook at …` or a
// timeout, never a refusal). A host *name* that resolves to a link-local address is refused
// the same way, after resolution (`egress::tests::a_host_name_resolving_to_a_link_local_address
// _is_refused_before_connecting`, with a resolver the test controls: no portable test can make
// a name resolve to 169.254.169.254 without changing the machine's resolver).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_local_provider_urls_are_refused_in_every_spelling_and_after_a_redirect() {
    let mut env = Env::start(Rendering::Helm).await;
    let addr = hostile_webhook().await;
    let path = "latest/meta-data/iam/security-credentials/{{ .remoteRef.key }}";
    let webhooks = [
        ("dotted", format!("http://169.254.169.254/{path}")),
        ("decimal", format!("http://2852039166/{path}")),
        ("hex", format!("http://0xa9.0xfe.0xa9.0xfe/{path}")),
        ("mapped", format!("http://[::ffff:169.254.169.254]/{path}")),
        (
            "ecs",
            "http://169.254.170.2/v2/credentials/{{ .remoteRef.key }}".to_owned(),
        ),
        ("aws-v6", format!("http://[fd00:ec2::254]/{path}")),
        ("link-v6", format!("http://[fe80::1]/{path}")),
        (
            "redirect",
            format!("http://{addr}/redirect/{{{{ .remoteRef.key }}}}"),
        ),
    ];
    let mut stores: Vec<(&str, Value)> = webhooks
        .iter()
        .map(|(name, url)| (*name, json!({"webhook": {"url": url}})))
        .collect();
    env.h
        .apply_yaml(&format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: snoop, namespace: {ATTACKER}}}\n"
        ))
        .expect("service account");
    stores.push((
        "vault",
        json!({"vault": {"server": "http://169.254.169.254:8200", "path": "secret",
            "auth": {"kubernetes": {"role": "x", "serviceAccountRef": {"name": "snoop"}}}}}),
    ));
    stores.push((
        "kubernetes",
        json!({"kubernetes": {"server": {"url": "https://169.254.169.254"},
            "remoteNamespace": ATTACKER, "auth": {"serviceAccount": {"name": "snoop"}}}}),
    ));
    for (name, provider) in &stores {
        env.tenant_creates::<SecretStore>(store(name, provider.clone()))
            .await;
        env.tenant_creates::<ExternalSecret>(read_k(name, name))
            .await;
    }
    for (name, _) in &stores {
        let message = env.es_ready(name, "False", "SecretSyncedError").await;
        assert!(
            message.contains("leads to a link-local address"),
            "{name}: {message}"
        );
        assert_eq!(env.data(ATTACKER, name).await, None);
    }
    env.assert_bridge_still_serves().await;
    env.assert_still_unseals().await;
    env.stop().await;
}

// issue 13, item 4: `conditions: [{}]` admitted every namespace on f80d564 (an empty condition
// matched); ESO admits none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_condition_admits_a_tenant_only_by_selector_name_or_regex() {
    let mut env = Env::start(Rendering::Kustomize).await;
    let value = secret_value("platform");
    let cluster_stores: Api<ClusterSecretStore> = Api::all(env.admin());
    for (name, conditions) in [
        ("empty", json!([{}])),
        (
            "empty-lists",
            json!([{"namespaces": [], "namespaceRegexes": []}]),
        ),
        ("other-name", json!([{"namespaces": [NEIGHBOUR]}])),
        ("anchored", json!([{"namespaceRegexes": ["^apps$"]}])),
        (
            "other-label",
            json!([{"namespaceSelector": {"matchLabels": {"team": "platform"}}}]),
        ),
        ("none", Value::Null),
    ] {
        let mut spec = json!({"provider": {"fake": {"data": [{"key": "k", "value": value}]}}});
        if !conditions.is_null() {
            spec["conditions"] = conditions;
        }
        let css: ClusterSecretStore = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterSecretStore",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .expect("cluster store");
        cluster_stores
            .create(&PostParams::default(), &css)
            .await
            .expect("create cluster store");
        let mut es = read_k(name, name);
        es["spec"]["secretStoreRef"]["kind"] = json!("ClusterSecretStore");
        env.tenant_creates::<ExternalSecret>(es).await;
    }
    // Without conditions a cluster store serves every namespace (as in ESO): the control.
    env.wait_data(ATTACKER, "none", &[("k", &value)]).await;
    for name in [
        "empty",
        "empty-lists",
        "other-name",
        "anchored",
        "other-label",
    ] {
        let message = env.es_ready(name, "False", "SecretSyncedError").await;
        assert!(
            message.contains(&format!(
                "using cluster store \"{name}\" is not allowed from namespace \"{ATTACKER}\""
            )),
            "{name}: {message}"
        );
        assert_eq!(env.data(ATTACKER, name).await, None, "{name}");
    }
    env.assert_still_unseals().await;
    env.stop().await;
}

/// Fails if `text` carries `value`, its base64, or its length.
fn assert_says_nothing_about(text: &str, value: &str, what: &str) {
    assert!(!text.contains(value), "{what} carries the value: {text}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    assert!(
        !text.contains(&b64),
        "{what} carries the value's base64: {text}"
    );
    let length = value.len().to_string();
    assert!(
        !text.contains(&length),
        "{what} carries the value's length: {text}"
    );
    assert!(
        !text.contains("length"),
        "{what} speaks of a length: {text}"
    );
}

// issue 13, item 4: template errors were an oracle for whoever may edit a template but not read
// the values: on f80d564 `index .password 99` failed with `index out of range: 99 with length
// 53` and `fromJson`/`b64dec` errors named the byte position inside the value (`template::
// hostile::errors_carry_no_length_position_or_content_of_a_value` fails there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_errors_tell_an_editor_nothing_about_values_it_cannot_read() {
    let mut env = Env::start(Rendering::Helm).await;
    let editor = env
        .h
        .client_for_token(&env.h.service_account_token(ATTACKER, "template-editor"));
    // 53 characters: a length no message has any other reason to print; the `!` makes it
    // neither JSON nor base64.
    let password = format!("{}!", &"s3cr3t-".repeat(8)[..52]);
    assert_eq!(password.len(), 53);
    // The platform seals the password and runs an ExternalSecret from a store the editor
    // cannot read; the editor may edit both, and read no Secret.
    let admin = env.admin();
    let sealed: SealedSecret =
        serde_json::from_value(env.seal("db", &[("password", &password)])).expect("SealedSecret");
    Api::<SealedSecret>::namespaced(admin.clone(), ATTACKER)
        .create(&PostParams::default(), &sealed)
        .await
        .expect("create");
    let platform_store: SecretStore = serde_json::from_value(store(
        "platform",
        json!({"fake": {"data": [{"key": "password", "value": password}]}}),
    ))
    .expect("store");
    Api::<SecretStore>::namespaced(admin.clone(), ATTACKER)
        .create(&PostParams::default(), &platform_store)
        .await
        .expect("create store");
    let es: ExternalSecret = serde_json::from_value(external_secret(
        "db-es",
        "platform",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "password"}}]}),
    ))
    .expect("es");
    Api::<ExternalSecret>::namespaced(admin.clone(), ATTACKER)
        .create(&PostParams::default(), &es)
        .await
        .expect("create es");
    env.wait_data(ATTACKER, "db", &[("password", &password)])
        .await;
    env.wait_data(ATTACKER, "db-es", &[("password", &password)])
        .await;
    assert_eq!(
        status_code(
            Api::<Secret>::namespaced(editor.clone(), ATTACKER)
                .get("db")
                .await
        ),
        403
    );

    for template in [
        "{{ index .password 99 }}",
        "{{ .password | fromJson }}",
        "{{ .password | b64dec }}",
        "{{ .password | fromYaml | toJson }}{{ index .password 60 }}",
    ] {
        let patch = json!({"spec": {"template": {"data": {"x": template}}}});
        Api::<SealedSecret>::namespaced(editor.clone(), ATTACKER)
            .patch("db", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("the editor edits the SealedSecret's template");
        let cond = env.synced("db", "False").await;
        let message = cond.message.unwrap_or_default();
        assert!(message.contains("template"), "{message}");
        assert_says_nothing_about(&message, &password, "the SealedSecret's status");
        let patch = json!({"spec": {"target": {"template": {"data": {"x": template}}}}});
        Api::<ExternalSecret>::namespaced(editor.clone(), ATTACKER)
            .patch("db-es", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("the editor edits the ExternalSecret's template");
        let message = env
            .eventually(&format!("db-es fails on {template}"), || async {
                let es = Api::<ExternalSecret>::namespaced(env.admin(), ATTACKER)
                    .get("db-es")
                    .await
                    .ok()?;
                let ready = es
                    .status?
                    .conditions
                    .into_iter()
                    .find(|c| c.type_ == "Ready" && c.status == "False")?;
                let message = ready.message.unwrap_or_default();
                message.contains("template").then_some(message)
            })
            .await;
        assert_says_nothing_about(&message, &password, "the ExternalSecret's status");
    }
    let mut notes = env.event_notes("SealedSecret", "db").await;
    notes.extend(env.event_notes("ExternalSecret", "db-es").await);
    assert!(notes.iter().any(|n| n.contains("template")), "{notes:?}");
    for note in &notes {
        assert_says_nothing_about(note, &password, "an Event");
    }
    env.assert_still_unseals().await;
    env.stop().await;
}

// issue 13, item 4: on f80d564 an unowned Secret carrying a `sealkit.dev/unsealed-digest`
// annotation was taken to be the controller's own (`desired::ownership`), and overwritten by any
// SealedSecret of the same name; annotations are copied by tools (and the digest was an unkeyed
// hash over guessable inputs). The tenant may create Secrets, not overwrite them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_digest_does_not_let_a_tenant_take_over_a_secret_it_may_not_write() {
    let mut env = Env::start(Rendering::Kustomize).await;
    env.tenant_creates_sealed(&env.seal("mine", &[("password", "mine")]))
        .await;
    env.wait_data(ATTACKER, "mine", &[("password", "mine")])
        .await;
    let mine = Api::<Secret>::namespaced(env.admin(), ATTACKER)
        .get("mine")
        .await
        .expect("mine");
    let annotations = mine.annotations().clone();
    let digest = &annotations["sealkit.dev/unsealed-digest"];
    assert!(digest.starts_with("hmac-sha256:"), "{digest}");

    // The platform's Secret, copied in by a replication tool with the annotations it found.
    let platform: Secret = serde_json::from_value(json!({
        "metadata": {"name": "platform-db", "namespace": ATTACKER, "annotations": annotations},
        "stringData": {"password": "platform-owned"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(env.admin(), ATTACKER)
        .create(&PostParams::default(), &platform)
        .await
        .expect("platform secret");
    let tenant_secrets: Api<Secret> = Api::namespaced(env.tenant.clone(), ATTACKER);
    let mut overwrite = tenant_secrets.get("platform-db").await.expect("readable");
    overwrite.string_data = Some(pairs(&[("password", "tenant-chosen")]));
    assert_eq!(
        status_code(
            tenant_secrets
                .replace("platform-db", &PostParams::default(), &overwrite)
                .await
        ),
        403
    );

    env.tenant_creates_sealed(&env.seal("platform-db", &[("password", "tenant-chosen")]))
        .await;
    let cond = env.synced("platform-db", "False").await;
    assert_eq!(cond.reason.as_deref(), Some("ErrUpdateFailed"));
    assert!(
        cond.message
            .as_deref()
            .is_some_and(|m| m.contains("not managed by SealedSecret")),
        "{cond:?}"
    );
    let after = Api::<Secret>::namespaced(env.admin(), ATTACKER)
        .get("platform-db")
        .await
        .expect("platform secret");
    assert_eq!(strings(&after), pairs(&[("password", "platform-owned")]));
    assert!(after.owner_references().is_empty());
    env.assert_still_unseals().await;
    env.stop().await;
}

/// POSTs `body` to `path` on the sealing controller through the service proxy as the tenant,
/// with `headers`; returns the status.
async fn tenant_posts(env: &Env, path: &str, body: &Value, headers: &[(&str, &str)]) -> u16 {
    let mut request = reqwest::Client::new()
        .post(env.proxied(path))
        .bearer_auth(&env.tenant_token)
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .expect("request through the service proxy")
        .status()
        .as_u16()
}

// issue 13, item 4: the verify/rotate limiter was keyed on `X-Forwarded-For` whoever sent it.
// On f80d564 every request below had a bucket of its own and all 30 answered 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_x_forwarded_for_headers_do_not_lift_the_verify_rate_limit() {
    let mut env = Env::start(Rendering::Helm).await;
    let body = env.seal("probe", &[("v", "x")]);
    let mut statuses = Vec::new();
    for i in 0..30 {
        let spoofed = format!("10.1.{}.{}", i / 250, i % 250 + 1);
        statuses
            .push(tenant_posts(&env, "/v1/verify", &body, &[("X-Forwarded-For", &spoofed)]).await);
    }
    // The deployed limit is 2 per second with a burst of 2 (Bitnami's defaults): 30 requests in
    // a row could all pass only if they took 14 s.
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(statuses[0], 200, "{statuses:?}");
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(limited > 0, "{statuses:?}");
    env.assert_still_unseals().await;
    env.stop().await;
}

// issue 13, item 4: on f80d564 verify and rotate decrypted any number of items per request
// (each one RSA operation per key held).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_rotate_refuse_more_items_than_allowed_before_decrypting() {
    let mut env = Env::start_with(
        Rendering::Kustomize,
        &["--rate-limit=1000", "--rate-limit-burst=1000"],
    )
    .await;
    let items = |n: usize| -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect()
    };
    let sealed = |n: usize| {
        let items = items(n);
        let refs: Vec<(&str, &str)> = items
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.seal("many", &refs)
    };
    let (too_many, allowed) = (sealed(65), sealed(64));
    let rsa = "sealkit_rsa_private_operations_total";
    let before = env.sealer.metric(rsa).await;
    assert_eq!(tenant_posts(&env, "/v1/verify", &too_many, &[]).await, 413);
    assert_eq!(tenant_posts(&env, "/v1/rotate", &too_many, &[]).await, 413);
    assert_eq!(
        env.sealer.metric(rsa).await,
        before,
        "nothing was decrypted"
    );
    assert_eq!(tenant_posts(&env, "/v1/verify", &allowed, &[]).await, 200);
    assert!(env.sealer.metric(rsa).await >= before + 64.0);
    env.assert_still_unseals().await;
    env.stop().await;
}

// issue 13, item 4: verify and rotate took their decryption slots from the reconciler's. With
// one slot each, the flood below holds the API's slot for thousands of RSA operations; the
// fresh SealedSecret is unsealed in the reconciler's own slot while most of the flood is still
// waiting. On f80d564 (one shared slot with `--decrypt-concurrency=1`, queued in order) the
// reconcile waited behind every request already queued: all but at most one had been answered
// when its Secret appeared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_verify_requests_does_not_hold_up_unsealing() {
    const FLOOD: usize = 48;
    let mut env = Env::start_with(
        Rendering::Helm,
        &[
            "--rate-limit=100000",
            "--rate-limit-burst=100000",
            "--decrypt-concurrency=1",
            "--api-decrypt-concurrency=1",
        ],
    )
    .await;
    let items: Vec<(String, String)> = (0..64)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = items
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = Arc::new(env.seal("flood", &refs));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = format!("http://{}/v1/verify", env.sealer.api);
    let http = reqwest::Client::new();
    let flood: Vec<_> = (0..FLOOD)
        .map(|_| {
            let (http, url, body, answered) =
                (http.clone(), url.clone(), body.clone(), answered.clone());
            tokio::spawn(async move {
                let status = http
                    .post(&url)
                    .json(&*body)
                    .send()
                    .await
                    .expect("verify")
                    .status();
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                status.as_u16()
            })
        })
        .collect();
    let rsa = "sealkit_rsa_private_operations_total";
    env.eventually("the flood decrypts", || async {
        (env.sealer.metric(rsa).await > 0.0).then_some(())
    })
    .await;
    let value = secret_value("during-flood");
    env.tenant_creates_sealed(&env.seal("during-flood", &[("v", &value)]))
        .await;
    env.wait_data(ATTACKER, "during-flood", &[("v", &value)])
        .await;
    let answered_then = answered.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        answered_then < FLOOD / 2,
        "{answered_then} of {FLOOD} verify requests were answered before the SealedSecret was unsealed"
    );
    for request in flood {
        assert_eq!(request.await.expect("verify task"), 200);
    }
    env.assert_still_unseals().await;
    env.stop().await;
}

// issue 13, item 4: `--watch-for-secrets` was accepted and ignored on f80d564 (keys were always
// watched). Now it is Bitnami's flag: on (sealkit's default), a key added to the key namespace
// is used without a restart; off, the keys are read once at start, which cannot work with
// leader election (replicas would never learn the leader's new keys) and is refused with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_for_secrets_follows_new_keys_and_off_reads_them_once_at_start() {
    let mut env = Env::start(Rendering::Kustomize).await;
    let add_key = |env: &Env, name: &str| {
        let key = sealer::sealed::PrivateKey::generate(2048).expect("key");
        let cert = Certificate::self_signed(&key, time::Duration::days(3650), "").expect("cert");
        let meta = seal_controller::keyring::store::KeySecretMeta {
            prefix: name.into(),
            namespace: KEY_NS.into(),
            ..Default::default()
        };
        let secret = seal_controller::keyring::store::key_secret(&key, &cert, &meta);
        let api = Api::<Secret>::namespaced(env.admin(), KEY_NS);
        async move {
            api.create(&PostParams::default(), &secret)
                .await
                .expect("create key secret");
            cert
        }
    };
    // Watched: a key restored from a backup opens its SealedSecrets at once.
    let restored = add_key(&env, "sealed-secrets-keyrestored").await;
    env.tenant_creates_sealed(&seal_for(&restored, ATTACKER, "restored", &[("v", "r")]))
        .await;
    env.wait_data(ATTACKER, "restored", &[("v", "r")]).await;
    env.refresh_cert().await;

    // Off, with the Deployment's --leader-elect: a usage error.
    let mut args = env.sealer.launch.args.clone();
    args.push("--watch-for-secrets=false".into());
    let out = tokio::process::Command::new(binaries::path("seal-controller"))
        .args(&args)
        .env_clear()
        .env("KUBECONFIG", &env.sealer.launch.kubeconfig)
        .output()
        .await
        .expect("seal-controller");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--watch-for-secrets"),
        "{out:?}"
    );

    // Off, as the only replica: keys are read once.
    let launch = env.sealer.launch.clone();
    let ports = (env.sealer.api.port(), env.sealer.metrics.port());
    let watched = std::mem::replace(
        &mut env.sealer,
        Component::start_on(
            "sealing controller",
            Launch {
                args: launch
                    .args
                    .iter()
                    .filter(|a| !a.starts_with("--leader-elect"))
                    .cloned()
                    .chain(["--watch-for-secrets=false".to_owned()])
                    .collect(),
                ..launch.clone()
            },
            (free_port(), free_port()),
        )
        .await,
    );
    watched.stop().await;
    let later = add_key(&env, "sealed-secrets-keylater").await;
    env.tenant_creates_sealed(&seal_for(&later, ATTACKER, "later", &[("v", "l")]))
        .await;
    let cond = env.synced("later", "False").await;
    assert_eq!(cond.reason.as_deref(), Some("ErrUnsealFailed"), "{cond:?}");
    // A restart reads the keys again.
    let unwatched = std::mem::replace(
        &mut env.sealer,
        Component::start_on("sealing controller", launch, ports).await,
    );
    unwatched.stop().await;
    env.wait_data(ATTACKER, "later", &[("v", "l")]).await;
    env.refresh_cert().await;
    env.assert_still_unseals().await;
    env.stop().await;
}
