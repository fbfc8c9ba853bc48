//! `seal-controller` benchmark (figures only, no thresholds): the real `seal-controller` binary
//! against the in-process API-server harness. Run by `bench/controller.sh`
//! (`cargo bench -p sealkit-tests --bench controller`).
//!
//! 1. Cold start over 1,000 SealedSecrets × 3 keys: every SealedSecret was sealed with the
//!    oldest of three RSA-4096 keys, so trying keys newest first (as Bitnami does) costs three
//!    private-key operations each. Wall time from process start to all Secrets written, against
//!    3,000 × `openssl speed rsa4096` private-op time / cores measured in the same run (target
//!    ratio ≤ 1.15). seal-controller tries first the keys that opened the most SealedSecrets so
//!    far, so it does about 1,000 operations: the count is printed.
//! 2. Restart over 10,000 in-sync SealedSecrets: time from process start until every one was
//!    found in sync (target < 5 s), RSA operations on the way (target 0).
//! 3. Peak RSS (VmHWM) of the controller with 10,000 objects cached (target < 100 MiB).

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, PostParams};
use sealer::sealed::{Certificate, PrivateKey, SealOptions, SealedSecret, SecretManifest};
use sealkit_tests::{binaries, harness};
use serde_json::json;

const KEY_NS: &str = "kube-system";
const NS: &str = "bench";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}

async fn run() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let controller = tokio::task::spawn_blocking(|| binaries::path("seal-controller"))
        .await
        .expect("binary");
    let (openssl_single, openssl_multi) = openssl_private_op_seconds(cores);
    say(&format!(
        "openssl speed rsa4096: {:.2} ms per private op on one core; {:.2} ms per op aggregated over -multi {cores} (cores: {cores})",
        openssl_single * 1e3,
        openssl_multi * 1e3
    ));

    // 1. Cold start, 1,000 × 3 keys.
    let h = cluster().await;
    let mut keys = Vec::new();
    for i in 0..3 {
        if i > 0 {
            // A later NotBefore second, so the order of the keys is certain.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        keys.push(store_key(&h, &format!("sealed-secrets-keybench{i}")).await);
    }
    let oldest = &keys[0].1;
    create_sealed_secrets(&h, oldest, 1000).await;
    let mut run = Run::start(&controller, &h).await;
    let cold = run.until_written(&h, 1000, Duration::from_secs(1800)).await;
    let rsa = run.metric("sealkit_rsa_private_operations_total").await;
    let reference = 3000.0 * openssl_single / cores as f64;
    let reference_multi = 3000.0 * openssl_multi;
    say(&format!(
        "cold start, 1,000 SealedSecrets x 3 keys: {:.2} s wall, {rsa} RSA private ops; reference 3,000 x openssl / cores = {reference:.2} s -> ratio {:.2} (target <= 1.15); against openssl -multi {cores}: {reference_multi:.2} s -> ratio {:.2}",
        cold.as_secs_f64(),
        cold.as_secs_f64() / reference,
        cold.as_secs_f64() / reference_multi,
    ));
    run.stop().await;
    drop(h);

    // 2 and 3. 10,000 in-sync objects: a cold pass makes them, a restart finds them in sync.
    let h = cluster().await;
    let (_, cert) = store_key(&h, "sealed-secrets-keybench").await;
    create_sealed_secrets(&h, &cert, 10_000).await;
    let mut first = Run::start(&controller, &h).await;
    let made = first
        .until_written(&h, 10_000, Duration::from_secs(3600))
        .await;
    let first_rss = first.peak_rss_kib();
    first.stop().await;
    say(&format!(
        "first start over 10,000 SealedSecrets (1 key): {:.1} s to write every Secret; peak RSS {:.1} MiB",
        made.as_secs_f64(),
        first_rss as f64 / 1024.0
    ));
    let mut second = Run::start(&controller, &h).await;
    let restart = second
        .until(
            "sealkit_unseal_skipped_total",
            10_000.0,
            Duration::from_secs(600),
        )
        .await;
    let rsa = second.metric("sealkit_rsa_private_operations_total").await;
    let unsealed = second.metric("sealkit_unseal_requests_total").await;
    let rss = second.peak_rss_kib();
    second.stop().await;
    say(&format!(
        "restart over 10,000 in-sync SealedSecrets: {:.2} s to all-synced (target < 5 s), {rsa} RSA private ops (target 0), {unsealed} unseals",
        restart.as_secs_f64()
    ));
    say(&format!(
        "peak RSS with 10,000 objects cached: {:.1} MiB (target < 100 MiB)",
        rss as f64 / 1024.0
    ));
}

/// Seconds per RSA-4096 private operation: one process, and `-multi cores` (the aggregate
/// rate of all processes, which also reflects how busy the machine is).
fn openssl_private_op_seconds(cores: usize) -> (f64, f64) {
    let run = |multi: bool| -> f64 {
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["speed", "-seconds", "3"]);
        if multi {
            cmd.args(["-multi", &cores.to_string()]);
        }
        cmd.arg("rsa4096");
        let out = cmd.stderr(Stdio::null()).output().expect("openssl speed");
        let text = String::from_utf8_lossy(&out.stdout);
        // `rsa 4096 bits 0.004845s 0.000080s    206.4  12470.4` (one process), or with
        // -multi `rsa 4096 bits <sign s> <verify s> <sign/s> <verify/s>` as well.
        let line = text
            .lines()
            .find(|l| l.starts_with("rsa 4096 bits") || l.starts_with("rsa  4096 bits"))
            .expect("openssl speed prints an rsa 4096 line");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let signs_per_s: f64 = fields[5].parse().expect("sign/s");
        1.0 / signs_per_s
    };
    (run(false), run(true))
}

async fn cluster() -> harness::Harness {
    let h = harness::start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(h.client());
    for crd in seal_controller::crds::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("CRD");
    }
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).expect("ns");
    Api::<Namespace>::all(h.client())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    h
}

async fn store_key(h: &harness::Harness, name: &str) -> (PrivateKey, Certificate) {
    let key = PrivateKey::generate(4096).expect("key");
    let cert = Certificate::self_signed(&key, time::Duration::days(3650), "").expect("cert");
    let meta = seal_controller::keyring::store::KeySecretMeta {
        prefix: name.into(),
        namespace: KEY_NS.into(),
        ..Default::default()
    };
    let secret = seal_controller::keyring::store::key_secret(&key, &cert, &meta);
    Api::<Secret>::namespaced(h.client(), KEY_NS)
        .create(&PostParams::default(), &secret)
        .await
        .expect("key secret");
    (key, cert)
}

/// `n` SealedSecrets of one item each, sealed for `cert`.
async fn create_sealed_secrets(h: &harness::Harness, cert: &Certificate, n: usize) {
    let api: Api<SealedSecret> = Api::namespaced(h.client(), NS);
    futures::stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let api = api.clone();
            async move {
                let secret: SecretManifest = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("s{i:05}"), "namespace": NS},
                    "stringData": {"password": format!("password-{i}-xxxxxxxxxxxxxxxx")}
                }))
                .expect("secret");
                let sealed = sealer::sealed::seal_secret(
                    &secret,
                    cert.public_key(),
                    &SealOptions::default(),
                )
                .expect("seal");
                let obj: SealedSecret =
                    serde_json::from_value(serde_json::to_value(&sealed).expect("json"))
                        .expect("SealedSecret");
                api.create(&PostParams::default(), &obj)
                    .await
                    .expect("create SealedSecret");
            }
        })
        .await;
}

/// One run of the controller binary.
struct Run {
    child: tokio::process::Child,
    started: Instant,
    metrics_url: String,
    http: reqwest::Client,
    _kubeconfig: tempfile::NamedTempFile,
}

impl Run {
    async fn start(binary: &std::path::Path, h: &harness::Harness) -> Self {
        let kubeconfig = tempfile::NamedTempFile::new().expect("temp file");
        h.write_kubeconfig(kubeconfig.path()).expect("kubeconfig");
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .expect("bind")
                .local_addr()
                .expect("addr")
                .port()
        };
        let (api, metrics) = (port(), port());
        let started = Instant::now();
        let child = tokio::process::Command::new(binary)
            .args([
                "--key-namespace=kube-system",
                &format!("--listen-addr=127.0.0.1:{api}"),
                &format!("--listen-metrics-addr=127.0.0.1:{metrics}"),
                "--log-level=warn",
                "--external-secrets=false",
            ])
            .env("KUBECONFIG", kubeconfig.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn seal-controller");
        Self {
            child,
            started,
            metrics_url: format!("http://127.0.0.1:{metrics}/metrics"),
            http: reqwest::Client::new(),
            _kubeconfig: kubeconfig,
        }
    }

    async fn metric(&self, name: &str) -> f64 {
        let Ok(response) = self.http.get(&self.metrics_url).send().await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().unwrap_or(0.0))
    }

    /// Time from process start until `name` reaches `target` (polled every 20 ms).
    async fn until(&mut self, name: &str, target: f64, limit: Duration) -> Duration {
        loop {
            if self.metric(name).await >= target {
                return self.started.elapsed();
            }
            assert!(
                self.started.elapsed() < limit,
                "{name} did not reach {target} within {limit:?}"
            );
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("seal-controller exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Time from process start until all `n` Secrets of the SealedSecrets in `NS` exist. The
    /// unseal counter rises when a decryption starts, so it only says when to start counting
    /// the Secrets (polled every 50 ms from then on).
    async fn until_written(&mut self, h: &harness::Harness, n: usize, limit: Duration) -> Duration {
        self.until("sealkit_unseal_requests_total", n as f64, limit)
            .await;
        let secrets: Api<Secret> = Api::namespaced(h.client(), NS);
        loop {
            let written = secrets
                .list_metadata(&ListParams::default())
                .await
                .map_or(0, |l| l.items.len());
            if written >= n {
                return self.started.elapsed();
            }
            assert!(
                self.started.elapsed() < limit,
                "only {written} of {n} Secrets within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// VmHWM of the controller process, KiB.
    fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = fs_err::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
    }
}
