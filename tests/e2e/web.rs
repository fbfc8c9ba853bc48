//! The sealing page (issue 18) in a real browser: Debian's headless Chromium driven over
//! WebDriver (chromedriver, `scripts/deps/web.sh`).
//!
//! The page is served by the real `seal-controller` binary (keys in the API-server harness) or
//! by `seal web`, or opened from a file. The browser reaches the controller through a proxy
//! that records every byte of every request it sends, so a test can prove that no value left
//! the page. What the page seals is applied through the harness and must become a Secret with
//! the exact bytes typed or uploaded; the independent Python implementation
//! (`crates/cli/tests/interop/bitnami_format.py`) opens the page's output too.
//!
//! `CHROMIUM` names another Chromium binary than `/usr/bin/chromium`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use sealer::sealed::{Certificate, PrivateKey, SealOptions, SecretManifest};
use sealkit_tests::binaries;
use sealkit_tests::harness::{self, Harness};
use serde::Deserialize as _;
use thirtyfour::ChromeCapabilities;
use thirtyfour::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const CONTROLLER_NS: &str = "kube-system";

// ---------------------------------------------------------------------------------------------
// Processes and servers the tests start.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `f` until it returns `Some` (90 s at most: a bound against hangs on a slow shared
/// machine, not a timing assertion).
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

/// A child process in its own process group, killed with its children (Chromium's renderers
/// under chromedriver) when dropped.
struct Group(tokio::process::Child);

impl Group {
    fn spawn(mut cmd: tokio::process::Command) -> Self {
        cmd.process_group(0).kill_on_drop(true);
        Self(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// A TCP relay in front of a server that keeps every byte the browser sends: request lines,
/// headers and bodies of every request, as the server receives them.
struct RecordingProxy {
    addr: SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let upload = async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n) = client_read.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            log.lock().expect("log").extend_from_slice(&buf[..n]);
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = server_write.shutdown().await;
                    };
                    let download = async move {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                        let _ = client_write.shutdown().await;
                    };
                    tokio::join!(upload, download);
                });
            }
        });
        Self { addr, sent, task }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn sent(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().expect("log")).into_owned()
    }

    /// `METHOD path` of every request sent so far.
    fn request_lines(&self) -> Vec<String> {
        const METHODS: [&str; 7] = [
            "GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "HEAD ", "OPTIONS ",
        ];
        self.sent()
            .split("\r\n")
            .filter(|l| METHODS.iter().any(|m| l.starts_with(m)) && l.ends_with(" HTTP/1.1"))
            .map(|l| l.trim_end_matches(" HTTP/1.1").to_owned())
            .collect()
    }

    /// Fails unless the browser sent only the page's own requests, and no value (as it is, or
    /// base64) anywhere in them: request lines, headers or bodies.
    fn assert_no_value_sent(&self, values: &[&[u8]]) {
        let lines = self.request_lines();
        assert!(!lines.is_empty(), "the proxy saw the page's requests");
        for line in &lines {
            assert!(
                [
                    "GET /",
                    "GET /sealkit.js",
                    "GET /sealkit.css",
                    "GET /vendor/js-yaml.min.js",
                    "GET /v1/cert.pem",
                    "GET /favicon.ico",
                    "POST /v1/verify",
                ]
                .contains(&line.as_str()),
                "unexpected request {line}"
            );
        }
        let sent = self.sent.lock().expect("log").clone();
        for value in values {
            assert!(!value.is_empty());
            let b64 = sealer::encoding::encode_std(value);
            assert!(
                !contains(&sent, value) && !contains(&sent, b64.as_bytes()),
                "a request carried a value"
            );
        }
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// The cluster: harness, CRDs, a stored key, the real controller binary.

struct Cluster {
    h: Harness,
    dir: tempfile::TempDir,
    key: PrivateKey,
    cert: Certificate,
    _controller: Group,
    api: SocketAddr,
}

impl Cluster {
    async fn start(namespaces: &[&str]) -> Self {
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
        h.write_kubeconfig(&kubeconfig).expect("kubeconfig");

        // The key the controller will use, stored as Bitnami stores it, so the test holds the
        // private key for the independent implementation.
        let key = PrivateKey::generate(2048).expect("key");
        let cert = Certificate::self_signed(&key, time::Duration::days(3650), "").expect("cert");
        let meta = seal_controller::keyring::store::KeySecretMeta {
            prefix: "sealed-secrets-keyweb".into(),
            namespace: CONTROLLER_NS.into(),
            ..Default::default()
        };
        let secret = seal_controller::keyring::store::key_secret(&key, &cert, &meta);
        Api::<Secret>::namespaced(h.client(), CONTROLLER_NS)
            .create(&PostParams::default(), &secret)
            .await
            .expect("create key secret");

        let (api_port, metrics_port) = (free_port(), free_port());
        let api: SocketAddr = format!("127.0.0.1:{api_port}").parse().expect("addr");
        let log = fs_err::File::create(dir.path().join("controller.log"))
            .expect("log file")
            .into_file();
        let mut cmd = tokio::process::Command::new(binary("seal-controller").await);
        cmd.args([
            "--key-size=2048",
            "--key-renew-period=0",
            &format!("--listen-addr={api}"),
            &format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"),
            "--rate-limit=100",
            "--rate-limit-burst=100",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("SEALED_SECRETS_KEY_NAMESPACE", CONTROLLER_NS)
        .env_remove("POD_NAMESPACE")
        .stdout(Stdio::null())
        .stderr(log);
        let controller = Group::spawn(cmd);
        wait_ok(&format!("http://{api}/readyz")).await;
        Self {
            h,
            dir,
            key,
            cert,
            _controller: controller,
            api,
        }
    }

    /// Server-side applies the SealedSecret(s) of a YAML or JSON text, as `kubectl apply`.
    async fn apply(&self, text: &str) {
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let value = serde_json::Value::deserialize(doc).expect("YAML document");
            if value.is_null() {
                continue;
            }
            let ns = value["metadata"]["namespace"].as_str().expect("namespace");
            let name = value["metadata"]["name"].as_str().expect("name");
            Api::<sealer::sealed::SealedSecret>::namespaced(self.h.client(), ns)
                .patch(
                    name,
                    &PatchParams::apply("e2e-web").force(),
                    &Patch::Apply(&value),
                )
                .await
                .expect("apply SealedSecret");
        }
    }

    /// The Secret `ns/name` once it exists and `pred` holds for it.
    async fn secret_where(&self, ns: &str, name: &str, pred: impl Fn(&Secret) -> bool) -> Secret {
        let api: Api<Secret> = Api::namespaced(self.h.client(), ns);
        let pred = &pred;
        eventually(&format!("secret {ns}/{name}"), || {
            let api = api.clone();
            async move { api.get_opt(name).await.ok().flatten().filter(pred) }
        })
        .await
    }

    async fn secret(&self, ns: &str, name: &str) -> Secret {
        self.secret_where(ns, name, |_| true).await
    }

    fn key_file(&self) -> PathBuf {
        let path = self.dir.path().join("tls.key");
        let pem = self.key.to_pkcs1_pem();
        fs_err::write(&path, secrecy::ExposeSecret::expose_secret(&pem)).expect("key file");
        path
    }

    fn controller_log(&self) -> String {
        fs_err::read_to_string(self.dir.path().join("controller.log")).unwrap_or_default()
    }
}

async fn binary(name: &str) -> PathBuf {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || binaries::path(&name))
        .await
        .expect("binary")
}

async fn wait_ok(url: &str) {
    let http = reqwest::Client::new();
    eventually(url, || {
        let req = http.get(url);
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

/// `seal web --cert FILE` on a free port.
async fn seal_web(cert_file: &Path) -> (Group, String) {
    let port = free_port();
    let mut cmd = tokio::process::Command::new(binary("seal").await);
    cmd.args(["web", "--cert"])
        .arg(cert_file)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Group::spawn(cmd);
    let url = format!("http://127.0.0.1:{port}/");
    wait_ok(&url).await;
    (server, url)
}

// ---------------------------------------------------------------------------------------------
// The browser.

struct Browser {
    driver: Option<WebDriver>,
    downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
    _chromedriver: Group,
}

impl Browser {
    async fn start() -> Self {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let installed = Path::new(&chromium).is_file()
            && std::process::Command::new("chromedriver")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
        assert!(
            installed,
            "the browser tests need Debian's chromium and chromium-driver: run scripts/deps/web.sh"
        );
        let port = free_port();
        let mut cmd = tokio::process::Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let chromedriver = Group::spawn(cmd);
        let url = format!("http://127.0.0.1:{port}");
        wait_ok(&format!("{url}/status")).await;
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = tempfile::tempdir().expect("downloads dir");
        let mut caps = ChromeCapabilities::new();
        caps.set_binary(&chromium).expect("caps");
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1200,1000",
            &format!("--user-data-dir={}", profile.path().display()),
        ] {
            caps.add_arg(arg).expect("caps");
        }
        caps.add_experimental_option(
            "prefs",
            serde_json::json!({
                "download.default_directory": downloads.path(),
                "download.prompt_for_download": false,
            }),
        )
        .expect("caps");
        let driver = WebDriver::new(url, caps).await.expect("WebDriver session");
        Self {
            driver: Some(driver),
            downloads,
            _profile: profile,
            _chromedriver: chromedriver,
        }
    }

    fn d(&self) -> &WebDriver {
        self.driver.as_ref().expect("session")
    }

    /// Opens the page and waits until it has loaded a certificate (or, from a file, is ready).
    async fn open(&self, url: &str, wait_for_cert: bool) {
        self.d().goto(url).await.expect("open the page");
        let script = if wait_for_cert {
            "return document.body.dataset.ready === 'true' && \
             document.getElementById('cert-fingerprint').textContent.startsWith('SHA256:')"
        } else {
            "return document.body.dataset.ready === 'true'"
        };
        self.wait_js(script, "the page").await;
    }

    async fn js(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.d()
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
            .json()
            .clone()
    }

    async fn wait_js(&self, script: &str, what: &str) -> serde_json::Value {
        self.wait_js_with(script, vec![], what).await
    }

    /// Runs `script` with `args` until it returns something other than null, false or "".
    async fn wait_js_with(
        &self,
        script: &str,
        args: Vec<serde_json::Value>,
        what: &str,
    ) -> serde_json::Value {
        eventually(what, || async {
            let v = self.js(script, args.clone()).await;
            (!v.is_null() && v != false && v != "").then_some(v)
        })
        .await
    }

    async fn el(&self, id: &str) -> WebElement {
        self.d()
            .find(By::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
    }

    /// Types into a field as a user does (key events).
    async fn type_into(&self, id: &str, text: &str) {
        let el = self.el(id).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// Sets a long text at once, as pasting does.
    async fn paste(&self, id: &str, text: &str) {
        self.js(
            "const el = document.getElementById(arguments[0]); el.value = arguments[1]; \
             el.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![id.into(), text.into()],
        )
        .await;
    }

    async fn choose(&self, select: &str, value: &str) {
        self.d()
            .find(By::Css(format!("#{select} option[value='{value}']")))
            .await
            .expect("option")
            .click()
            .await
            .expect("choose");
    }

    async fn upload(&self, id: &str, file: &Path) {
        self.el(id)
            .await
            .send_keys(file.to_str().expect("path"))
            .await
            .expect("upload");
    }

    async fn click(&self, id: &str) {
        self.el(id).await.click().await.expect("click");
    }

    async fn text(&self, id: &str) -> String {
        self.js(
            "return document.getElementById(arguments[0]).textContent",
            vec![id.into()],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn value(&self, id: &str) -> String {
        self.js(
            "return document.getElementById(arguments[0]).value",
            vec![id.into()],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn hidden(&self, id: &str) -> bool {
        self.js(
            "return document.getElementById(arguments[0]).hidden",
            vec![id.into()],
        )
        .await
            == true
    }

    /// Presses Seal and returns the YAML output once the page wrote it.
    async fn seal(&self) -> String {
        self.js("document.getElementById('output').value = '';", vec![])
            .await;
        self.click("seal").await;
        let yaml = self
            .wait_js(
                "const e = document.getElementById('error'); \
                 if (!e.hidden) return 'ERROR: ' + e.textContent; \
                 return document.getElementById('output').value",
                "the sealed output",
            )
            .await;
        let yaml = yaml.as_str().expect("text").to_owned();
        assert!(!yaml.starts_with("ERROR: "), "{yaml}");
        yaml
    }

    /// Clicks Download and returns the downloaded file's text.
    async fn download(&self, file_name: &str) -> String {
        let path = self.downloads.path().join(file_name);
        let _ = fs_err::remove_file(&path);
        self.click("download").await;
        eventually(&format!("download of {file_name}"), || async {
            let done = path.is_file()
                && !self
                    .downloads
                    .path()
                    .join(format!("{file_name}.crdownload"))
                    .exists();
            done.then(|| fs_err::read_to_string(&path).ok()).flatten()
        })
        .await
    }

    async fn active_id(&self) -> String {
        self.js("return document.activeElement.id || ''", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn press(&self, key: Key) {
        self.d()
            .action_chain()
            .send_keys(key)
            .perform()
            .await
            .expect("key press");
    }

    async fn keys(&self, text: &str) {
        self.d()
            .action_chain()
            .send_keys(text)
            .perform()
            .await
            .expect("typing");
    }

    /// Presses Tab until `id` has the focus (fails if it is not reachable by keyboard).
    async fn tab_to(&self, id: &str) {
        for _ in 0..60 {
            if self.active_id().await == id {
                return;
            }
            self.press(Key::Tab).await;
        }
        panic!("#{id} is not reachable with Tab");
    }

    /// Fails unless every visible form control has a label and every visible button a name.
    async fn assert_every_control_is_labelled(&self) {
        let unlabelled = self
            .js(
                "const visible = (e) => e.offsetParent !== null; \
                 const controls = [...document.querySelectorAll('input, select, textarea')] \
                   .filter(visible).filter((e) => e.labels.length === 0).map((e) => e.id); \
                 const buttons = [...document.querySelectorAll('button')].filter(visible) \
                   .filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())) \
                   .map((b) => b.id); \
                 return controls.concat(buttons);",
                vec![],
            )
            .await;
        assert_eq!(
            unlabelled,
            serde_json::json!([]),
            "controls without a label"
        );
    }

    async fn quit(mut self) {
        if let Some(driver) = self.driver.take() {
            driver.quit().await.expect("quit");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.

/// Opens the page's output with the independent Python implementation and the private key;
/// returns the items.
fn python_unseal(key_file: &Path, sealed: &str) -> BTreeMap<String, Vec<u8>> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/cli/tests/interop/bitnami_format.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg("unseal")
        .arg(key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), sealed.as_bytes())
        .expect("stdin");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "the Python implementation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    secret["data"]
        .as_object()
        .expect("data")
        .iter()
        .map(|(k, v)| {
            let bytes = sealer::encoding::decode_std(v.as_str().expect("string")).expect("base64");
            (k.clone(), bytes)
        })
        .collect()
}

fn data_of(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

fn items(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect()
}

fn unique(tag: &str) -> String {
    format!("{tag}-{:016x}", rand::random::<u64>())
}

/// The same object as the YAML output, from the JSON output.
fn assert_json_matches_yaml(json: &str, yaml: &str) {
    let from_json: serde_json::Value = serde_json::from_str(json).expect("JSON output");
    let from_yaml: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("YAML output");
    assert_eq!(from_json, from_yaml);
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_seals_every_scope_and_type_into_the_exact_secret_and_sends_no_value() {
    let c = Cluster::start(&["team-a", "team-b"]).await;
    let proxy = RecordingProxy::start(c.api).await;
    let b = Browser::start().await;
    b.open(&proxy.url(), true).await;
    assert_eq!(
        b.text("cert-fingerprint").await,
        c.cert.public_key().fingerprint(),
        "the page computes the controller's fingerprint"
    );
    let key_file = c.key_file();
    let files = tempfile::tempdir().expect("dir");
    let mut sent_values: Vec<Vec<u8>> = Vec::new();

    // 1. strict, Opaque: a typed value, a multi-line value, a binary file; labels, annotations.
    let token = unique("token");
    let multi = format!("line one\n{}\n", unique("line-two"));
    let binary: Vec<u8> = (0..=255u8)
        .rev()
        .chain(unique("tail").into_bytes())
        .collect();
    let bin_file = files.path().join("blob.bin");
    fs_err::write(&bin_file, &binary).expect("write");
    b.type_into("name", "app-config").await;
    b.type_into("namespace", "team-a").await;
    b.choose("scope", "strict").await;
    b.type_into("key-0", "token").await;
    b.type_into("value-0", &token).await;
    b.click("add-row").await;
    b.type_into("key-1", "config.txt").await;
    b.paste("value-1", &multi).await;
    b.click("add-row").await;
    b.type_into("key-2", "blob.bin").await;
    b.upload("file-2", &bin_file).await;
    b.click("metadata-fields").await;
    b.paste("labels", "app=web\ntier=backend").await;
    b.paste("annotations", "note=kept").await;
    let yaml = b.seal().await;
    assert_eq!(b.download("app-config.sealedsecret.yaml").await, yaml);
    assert_json_matches_yaml(&b.value("output-json").await, &yaml);
    c.apply(&yaml).await;
    let secret = c.secret("team-a", "app-config").await;
    let expected = items(&[
        ("token", token.as_bytes()),
        ("config.txt", multi.as_bytes()),
        ("blob.bin", &binary),
    ]);
    assert_eq!(data_of(&secret), expected, "the exact bytes");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    let labels = secret.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("backend"));
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get("note").map(String::as_str), Some("kept"));
    assert_eq!(python_unseal(&key_file, &yaml), expected);
    sent_values.extend([token.into_bytes(), multi.into_bytes(), binary]);

    // 2. namespace-wide, basic-auth.
    let (user, password) = (unique("user"), unique("pass"));
    b.open(&proxy.url(), true).await;
    b.type_into("name", "login").await;
    b.type_into("namespace", "team-a").await;
    b.choose("scope", "namespace-wide").await;
    b.choose("type", "kubernetes.io/basic-auth").await;
    b.type_into("basic-username", &user).await;
    b.type_into("basic-password", &password).await;
    let yaml = b.seal().await;
    c.apply(&yaml).await;
    let expected = items(&[
        ("username", user.as_bytes()),
        ("password", password.as_bytes()),
    ]);
    let secret = c.secret("team-a", "login").await;
    assert_eq!(data_of(&secret), expected);
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(python_unseal(&key_file, &yaml), expected);
    // Namespace-wide: the same SealedSecret opens under another name in the namespace.
    c.apply(&yaml.replace("name: login", "name: login-copy"))
        .await;
    assert_eq!(data_of(&c.secret("team-a", "login-copy").await), expected);
    sent_values.extend([user.into_bytes(), password.into_bytes()]);

    // 3. cluster-wide, dockerconfigjson (the registry helper).
    let (reg_user, reg_pass) = (unique("robot"), unique("regpass"));
    b.open(&proxy.url(), true).await;
    b.type_into("name", "pull").await;
    b.type_into("namespace", "team-a").await;
    b.choose("scope", "cluster-wide").await;
    b.choose("type", "kubernetes.io/dockerconfigjson").await;
    b.type_into("docker-server", "registry.example:5000").await;
    b.type_into("docker-username", &reg_user).await;
    b.type_into("docker-password", &reg_pass).await;
    b.type_into("docker-email", "ops@example.com").await;
    let yaml = b.seal().await;
    b.click("format-json").await;
    let json = b.download("pull.sealedsecret.json").await;
    assert_json_matches_yaml(&json, &yaml);
    c.apply(&json).await;
    let auth = sealer::encoding::encode_std(format!("{reg_user}:{reg_pass}").as_bytes());
    let config = format!(
        r#"{{"auths":{{"registry.example:5000":{{"username":"{reg_user}","password":"{reg_pass}","email":"ops@example.com","auth":"{auth}"}}}}}}"#
    );
    let expected = items(&[(".dockerconfigjson", config.as_bytes())]);
    let secret = c.secret("team-a", "pull").await;
    assert_eq!(
        data_of(&secret),
        expected,
        "kubectl's docker-registry layout"
    );
    assert_eq!(
        secret.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    assert_eq!(python_unseal(&key_file, &yaml), expected);
    // Cluster-wide: it opens in another namespace too.
    c.apply(&yaml.replace("namespace: team-a", "namespace: team-b"))
        .await;
    assert_eq!(data_of(&c.secret("team-b", "pull").await), expected);
    sent_values.extend([
        reg_user.into_bytes(),
        reg_pass.into_bytes(),
        auth.into_bytes(),
    ]);

    // 4. strict, TLS from files; then Validate posts the output and shows the answer.
    let tls_key = PrivateKey::generate(2048).expect("key");
    let tls_cert = Certificate::self_signed(&tls_key, time::Duration::days(1), "web.example")
        .expect("cert")
        .to_pem();
    let tls_key = secrecy::ExposeSecret::expose_secret(&tls_key.to_pkcs1_pem()).to_owned();
    let (crt_file, key_file_tls) = (files.path().join("tls.crt"), files.path().join("tls.key"));
    fs_err::write(&crt_file, &tls_cert).expect("write");
    fs_err::write(&key_file_tls, &tls_key).expect("write");
    b.open(&proxy.url(), true).await;
    b.type_into("name", "web-tls").await;
    b.type_into("namespace", "team-b").await;
    b.choose("type", "kubernetes.io/tls").await;
    b.upload("tls-crt-file", &crt_file).await;
    b.upload("tls-key-file", &key_file_tls).await;
    let yaml = b.seal().await;
    c.apply(&yaml).await;
    let expected = items(&[
        ("tls.crt", tls_cert.as_bytes()),
        ("tls.key", tls_key.as_bytes()),
    ]);
    let secret = c.secret("team-b", "web-tls").await;
    assert_eq!(data_of(&secret), expected);
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(python_unseal(&key_file, &yaml), expected);
    b.click("validate").await;
    let answer = b
        .wait_js(
            "const t = document.getElementById('validate-result').textContent; \
             return t.startsWith('Valid') || t.startsWith('Not') || t.startsWith('The') ? t : ''",
            "the validation answer",
        )
        .await;
    assert_eq!(
        answer, "Valid: the controller can decrypt every item.",
        "{answer}"
    );
    let verify_body = proxy
        .sent()
        .split("POST /v1/verify HTTP/1.1\r\n")
        .nth(1)
        .and_then(|r| r.split_once("\r\n\r\n"))
        .map(|(_, body)| body.to_owned())
        .expect("a POST to /v1/verify");
    assert!(
        verify_body.starts_with(&yaml),
        "Validate posts exactly the sealed output"
    );
    sent_values.extend([tls_key.into_bytes()]);

    let sent: Vec<&[u8]> = sent_values.iter().map(Vec::as_slice).collect();
    proxy.assert_no_value_sent(&sent);
    assert!(
        proxy
            .request_lines()
            .iter()
            .filter(|l| l.starts_with("POST"))
            .count()
            == 1,
        "the only POST is the one Validate sent"
    );
    let log = c.controller_log();
    for v in &sent {
        assert!(
            !contains(log.as_bytes(), v),
            "the controller logged a value"
        );
    }
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_into_adds_items_to_an_existing_sealed_secret() {
    let c = Cluster::start(&["team-a"]).await;
    let proxy = RecordingProxy::start(c.api).await;
    // The existing SealedSecret, sealed by sealkit's library with the controller's certificate.
    let (kept, old) = (unique("kept"), unique("old"));
    let secret: SecretManifest = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "db", "namespace": "team-a",
                     "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"}},
        "stringData": {"kept": kept, "rotated": old},
    }))
    .expect("secret");
    let existing =
        sealer::sealed::seal_secret(&secret, c.cert.public_key(), &SealOptions::default())
            .expect("seal");
    let existing_yaml = serde_yaml_ng::to_string(&existing).expect("yaml");
    c.apply(&existing_yaml).await;
    c.secret("team-a", "db").await;

    let b = Browser::start().await;
    b.open(&proxy.url(), true).await;
    b.click("merge").await;
    b.paste("merge-input", &existing_yaml).await;
    assert_eq!(b.value("name").await, "db", "taken from the SealedSecret");
    assert_eq!(b.value("namespace").await, "team-a");
    assert_eq!(b.value("scope").await, "namespace-wide");
    assert!(
        b.text("merge-info")
            .await
            .contains("2 items: kept, rotated")
    );
    let (new, added) = (unique("new"), unique("added"));
    b.type_into("key-0", "rotated").await;
    b.type_into("value-0", &new).await;
    b.click("add-row").await;
    b.type_into("key-1", "added").await;
    b.type_into("value-1", &added).await;
    let yaml = b.seal().await;
    let merged: serde_json::Value = serde_yaml_ng::from_str(&yaml).expect("yaml");
    let before: serde_json::Value = serde_json::to_value(&existing).expect("json");
    assert_eq!(
        merged["spec"]["encryptedData"]["kept"], before["spec"]["encryptedData"]["kept"],
        "items not given are kept as they were"
    );
    assert_eq!(merged["spec"]["template"], before["spec"]["template"]);
    c.apply(&yaml).await;
    let expected = items(&[
        ("kept", kept.as_bytes()),
        ("rotated", new.as_bytes()),
        ("added", added.as_bytes()),
    ]);
    let secret = c
        .secret_where("team-a", "db", |s| {
            s.data.as_ref().is_some_and(|d| d.contains_key("added"))
        })
        .await;
    assert_eq!(data_of(&secret), expected);
    assert_eq!(python_unseal(&c.key_file(), &yaml), expected);
    proxy.assert_no_value_sent(&[new.as_bytes(), added.as_bytes()]);
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_says_whether_the_controller_can_open_the_output() {
    let c = Cluster::start(&["team-a"]).await;
    let proxy = RecordingProxy::start(c.api).await;
    let b = Browser::start().await;
    // Sealed with another key (a pasted certificate): the controller cannot open it.
    let other = PrivateKey::generate(2048).expect("key");
    let other_cert = Certificate::self_signed(&other, time::Duration::days(30), "").expect("cert");
    b.open(&proxy.url(), true).await;
    b.click("cert-source-pem").await;
    b.paste("cert-pem", &other_cert.to_pem()).await;
    b.wait_js_with(
        "return document.getElementById('cert-fingerprint').textContent === arguments[0] || ''",
        vec![other_cert.public_key().fingerprint().into()],
        "the pasted certificate",
    )
    .await;
    let value = unique("v");
    b.type_into("name", "foreign").await;
    b.type_into("namespace", "team-a").await;
    b.type_into("key-0", "k").await;
    b.type_into("value-0", &value).await;
    b.seal().await;
    b.click("validate").await;
    let answer = b
        .wait_js(
            "const t = document.getElementById('validate-result').textContent; \
             return t.startsWith('Valid') || t.startsWith('Not') ? t : ''",
            "the validation answer",
        )
        .await;
    assert!(
        answer.as_str().is_some_and(|a| a.starts_with("Not valid")),
        "{answer}"
    );
    // Back to the controller's certificate: valid.
    b.click("cert-source-controller").await;
    b.wait_js_with(
        "return document.getElementById('cert-fingerprint').textContent === arguments[0] || ''",
        vec![c.cert.public_key().fingerprint().into()],
        "the controller's certificate",
    )
    .await;
    b.seal().await;
    b.click("validate").await;
    let answer = b
        .wait_js(
            "const t = document.getElementById('validate-result').textContent; \
             return t.startsWith('Valid') ? t : ''",
            "the validation answer",
        )
        .await;
    assert_eq!(answer, "Valid: the controller can decrypt every item.");
    proxy.assert_no_value_sent(&[value.as_bytes()]);
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_alone_fills_and_seals_the_form_served_by_seal_web() {
    let dir = tempfile::tempdir().expect("dir");
    let key = PrivateKey::generate(2048).expect("key");
    let cert = Certificate::self_signed(&key, time::Duration::days(30), "").expect("cert");
    let cert_file = dir.path().join("cert.pem");
    fs_err::write(&cert_file, cert.to_pem()).expect("write");
    let key_file = dir.path().join("tls.key");
    fs_err::write(
        &key_file,
        secrecy::ExposeSecret::expose_secret(&key.to_pkcs1_pem()),
    )
    .expect("write");
    let (_server, url) = seal_web(&cert_file).await;
    // seal web serves the certificate it was given, and no /v1/verify.
    let http = reqwest::Client::new();
    let served = http
        .get(format!("{url}v1/cert.pem"))
        .send()
        .await
        .expect("GET /v1/cert.pem")
        .text()
        .await
        .expect("body");
    assert_eq!(served, cert.to_pem());
    let verify = http
        .post(format!("{url}v1/verify"))
        .body("{}")
        .send()
        .await
        .expect("POST /v1/verify");
    assert!(verify.status().is_client_error());
    let page = http.get(&url).send().await.expect("GET /");
    assert_eq!(
        page.headers()["content-security-policy"],
        sealkit_webui_csp()
    );

    let b = Browser::start().await;
    b.open(&url, true).await;
    assert_eq!(
        b.text("cert-fingerprint").await,
        cert.public_key().fingerprint()
    );
    assert!(b.text("validate-note").await.contains("no /v1/verify"));
    b.assert_every_control_is_labelled().await;

    let (user, pass) = (unique("alice"), unique("s3cret"));
    b.tab_to("name").await;
    b.keys("kb-secret").await;
    b.press(Key::Tab).await;
    assert_eq!(b.active_id().await, "namespace");
    b.keys("team-a").await;
    b.press(Key::Tab).await;
    assert_eq!(b.active_id().await, "scope");
    b.press(Key::Down).await;
    assert_eq!(b.value("scope").await, "namespace-wide");
    b.tab_to("key-0").await;
    b.keys("user").await;
    b.press(Key::Tab).await;
    assert_eq!(b.active_id().await, "value-0");
    b.keys(&user).await;
    b.tab_to("add-row").await;
    b.press(Key::Enter).await;
    assert_eq!(b.active_id().await, "key-1", "a new row takes the focus");
    b.keys("password").await;
    b.press(Key::Tab).await;
    b.keys(&pass).await;
    b.tab_to("seal").await;
    b.press(Key::Enter).await;
    let yaml = b
        .wait_js(
            "return document.getElementById('output').value",
            "the sealed output",
        )
        .await;
    let yaml = yaml.as_str().expect("text");
    assert!(yaml.contains("sealedsecrets.bitnami.com/namespace-wide: 'true'"));
    assert!(b.text("status").await.starts_with("Sealed 2 items"));
    assert!(
        b.js(
            "return document.getElementById('validate').disabled",
            vec![]
        )
        .await
            == true
    );
    assert_eq!(
        python_unseal(&key_file, yaml),
        items(&[("user", user.as_bytes()), ("password", pass.as_bytes())])
    );
    // The output's buttons are reachable too.
    b.tab_to("download").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_shows_the_warning_in_the_page_opened_from_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    let page_dir = dir.path().join("page");
    let out = tokio::process::Command::new(binary("seal").await)
        .args(["web", "--out-dir"])
        .arg(&page_dir)
        .output()
        .await
        .expect("seal web --out-dir");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = PrivateKey::generate(2048).expect("key");
    let expired = Certificate::self_signed(&key, time::Duration::hours(-1), "").expect("cert");
    assert!(expired.is_expired_at(time::OffsetDateTime::now_utc()));
    let valid = Certificate::self_signed(&key, time::Duration::days(30), "").expect("cert");
    let key_file = dir.path().join("tls.key");
    fs_err::write(
        &key_file,
        secrecy::ExposeSecret::expose_secret(&key.to_pkcs1_pem()),
    )
    .expect("write");

    let b = Browser::start().await;
    let url = format!("file://{}", page_dir.join("index.html").display());
    b.open(&url, false).await;
    assert!(
        b.js(
            "return document.getElementById('cert-source-controller').disabled",
            vec![]
        )
        .await
            == true,
        "no controller behind a file"
    );
    assert!(
        b.text("server-note")
            .await
            .starts_with("Opened from a file")
    );
    b.paste("cert-pem", &expired.to_pem()).await;
    let warning = b
        .wait_js(
            "const w = document.getElementById('cert-warning'); return w.hidden ? '' : w.textContent",
            "the expiry warning",
        )
        .await;
    assert!(
        warning.as_str().is_some_and(|w| w.contains("expired")),
        "{warning}"
    );
    assert_eq!(
        b.text("cert-fingerprint").await,
        expired.public_key().fingerprint()
    );
    // A warning, not a refusal (as `seal`): it still seals, and the key still opens it.
    let value = unique("v");
    b.type_into("name", "late").await;
    b.type_into("namespace", "team-a").await;
    b.type_into("key-0", "k").await;
    b.type_into("value-0", &value).await;
    let yaml = b.seal().await;
    assert_eq!(
        python_unseal(&key_file, &yaml),
        items(&[("k", value.as_bytes())])
    );

    // The same key in a valid certificate: no warning.
    b.paste("cert-pem", &valid.to_pem()).await;
    b.wait_js(
        "return document.getElementById('cert-warning').hidden && \
         document.getElementById('cert-expiry').textContent !== '' ",
        "the warning to go",
    )
    .await;
    assert!(b.hidden("cert-warning").await);

    // On a phone: one column, nothing wider than the screen, every control still labelled.
    b.d().set_window_rect(0, 0, 390, 844).await.expect("resize");
    for helper in [
        "kubernetes.io/basic-auth",
        "kubernetes.io/dockerconfigjson",
        "kubernetes.io/tls",
    ] {
        b.choose("type", helper).await;
        b.assert_every_control_is_labelled().await;
        let fits = b
            .js(
                "const w = window.innerWidth; const out = []; \
                 const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT); \
                 let n; while ((n = walk.nextNode())) { const r = document.createRange(); \
                   r.selectNode(n); const b = r.getBoundingClientRect(); \
                   if (b.right + window.scrollX > w + 1) out.push((n.id || n.nodeName) + ' ' + Math.round(b.left) + '-' + Math.round(b.right) + ' ' + (n.textContent || '').slice(0, 30)); } \
                 return [document.documentElement.scrollWidth, w, window.scrollX, out];",
                vec![],
            )
            .await;
        assert!(
            fits[0].as_i64() <= fits[1].as_i64(),
            "the page is wider than a phone: {fits}"
        );
    }
    b.choose("type", "Opaque").await;

    // Raw mode: one value, one blob.
    b.click("raw").await;
    let blob = b.seal().await;
    let blob_bytes = sealer::encoding::decode_std(blob.trim()).expect("base64 blob");
    assert_eq!(u16::from_be_bytes([blob_bytes[0], blob_bytes[1]]), 256);
    let label = sealer::sealed::Scope::Strict.label("team-a", "late");
    let opened = sealer::sealed::cipher::open(&[&key], &label, &blob_bytes).expect("open");
    assert_eq!(opened.expose(), value.as_bytes());
    b.quit().await;
}

fn sealkit_webui_csp() -> &'static str {
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
}
