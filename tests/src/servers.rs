//! Real third-party servers started by tests on 127.0.0.1: OpenBao (the Vault API) and moto (AWS).
//!
//! Each server is a child process on a free port, killed when its handle drops. A missing binary
//! is a test failure with a hint (`scripts/deps/servers.sh` installs them), never a skip.
//!
//! ```no_run
//! let bao = sealkit_tests::servers::OpenBao::start();
//! bao.kv_put("secret", "db", &serde_json::json!({"password": "hunter2"}));
//! let moto = sealkit_tests::servers::Moto::start();
//! println!("{} {}", bao.addr(), moto.endpoint());
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests started one by one).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a free port on 127.0.0.1")
}

/// Path of a tool on `PATH` (also `~/.local/bin`, where pip installs for a user), or a panic that
/// says how to install it.
pub fn require_tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: ./scripts/test.sh installs it (see scripts/deps/*.sh)"
            )
        })
}

/// A child process killed (and reaped) on drop.
struct Process {
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Process {
    fn spawn(mut cmd: Command, what: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for a server log");
        let log = dir.path().join(format!("{what}.log"));
        let out = fs_err::File::create(&log)
            .expect("server log file")
            .into_parts()
            .0;
        let err = out.try_clone().expect("server log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        Self {
            child: Some(child),
            log,
            _dir: dir,
        }
    }

    fn log_text(&self) -> String {
        fs_err::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `url` until it answers with a status below 500, or panics after `timeout` with the log.
fn wait_http(url: &str, timeout: Duration, proc: &Process, what: &str) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("http client");
    wait_http_with(&client, url, timeout, proc, what);
}

/// [`wait_http`] with a given client (one trusting a test CA).
fn wait_http_with(
    client: &reqwest::blocking::Client,
    url: &str,
    timeout: Duration,
    proc: &Process,
    what: &str,
) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(resp) = client.get(url).send()
            && resp.status().as_u16() < 500
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not answer at {url} within {timeout:?}; its log:\n{}",
        proc.log_text()
    );
}

/// An OpenBao dev server (`bao server -dev`): in-memory, unsealed, KV v2 mounted at `secret/`.
pub struct OpenBao {
    process: Process,
    addr: SocketAddr,
    token: String,
    /// `vault-ca.pem` of a `-dev-tls` server.
    ca_pem: Option<String>,
    client: reqwest::blocking::Client,
    _tls_dir: Option<tempfile::TempDir>,
}

impl OpenBao {
    /// The root token every dev server here is started with.
    pub const ROOT_TOKEN: &'static str = "sealkit-test-root";

    /// Starts a dev server on a free port and waits until it is ready.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a dev server on `port` (to bring a killed server back at the same address).
    pub fn start_on(port: u16) -> Self {
        let bao = require_tool("bao");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = Command::new(bao);
        cmd.args([
            "server",
            "-dev",
            // Dev servers otherwise all write ~/.vault-token through a fixed temp name: tests
            // running in parallel raced on it ("rename /root/.vault-token.tmp: no such file").
            "-dev-no-store-token",
            &format!("-dev-root-token-id={}", Self::ROOT_TOKEN),
            &format!("-dev-listen-address={addr}"),
        ])
        // A dev server must not pick up a developer's real server settings.
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_ADDR")
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN");
        let process = Process::spawn(cmd, "openbao");
        let this = Self {
            process,
            addr,
            token: Self::ROOT_TOKEN.to_owned(),
            ca_pem: None,
            client: reqwest::blocking::Client::new(),
            _tls_dir: None,
        };
        wait_http(
            &format!("{}/v1/sys/health", this.url()),
            Duration::from_secs(30),
            &this.process,
            "OpenBao",
        );
        this
    }

    /// Starts a dev server over HTTPS (`-dev-tls`: a CA and a server certificate for
    /// 127.0.0.1 it makes itself, [`OpenBao::ca_pem`]). Client certificates are asked for but
    /// not required, so cert auth and token calls share the listener.
    pub fn start_tls() -> Self {
        let bao = require_tool("bao");
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let dir = tempfile::tempdir().expect("a directory for the dev TLS files");
        let mut cmd = Command::new(bao);
        cmd.args([
            "server",
            "-dev",
            "-dev-tls",
            &format!("-dev-tls-cert-dir={}", dir.path().display()),
            "-dev-no-store-token",
            &format!("-dev-root-token-id={}", Self::ROOT_TOKEN),
            &format!("-dev-listen-address={addr}"),
        ])
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_ADDR")
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN");
        let process = Process::spawn(cmd, "openbao");
        let ca_path = dir.path().join("vault-ca.pem");
        let start = Instant::now();
        while !ca_path.is_file() && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let ca_pem = fs_err::read_to_string(&ca_path).unwrap_or_else(|e| {
            panic!(
                "OpenBao -dev-tls wrote no CA: {e}; its log:\n{}",
                process.log_text()
            )
        });
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .add_root_certificate(
                reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("the dev CA"),
            )
            .build()
            .expect("http client");
        let this = Self {
            process,
            addr,
            token: Self::ROOT_TOKEN.to_owned(),
            ca_pem: Some(ca_pem),
            client,
            _tls_dir: Some(dir),
        };
        wait_http_with(
            &this.client,
            &format!("{}/v1/sys/health", this.url()),
            Duration::from_secs(30),
            &this.process,
            "OpenBao",
        );
        this
    }

    /// `http://127.0.0.1:PORT` (`https://` for [`OpenBao::start_tls`]).
    pub fn url(&self) -> String {
        match self.ca_pem {
            Some(_) => format!("https://{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// The CA of a [`OpenBao::start_tls`] server, in PEM.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The root token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stops the server (all its data is gone; [`OpenBao::start_on`] the same port to restart).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        self.process.log_text()
    }

    /// Sends an API request with the root token; panics unless it answers 2xx. Returns the JSON
    /// body (`null` for 204).
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> serde_json::Value {
        let mut req = self
            .client
            .request(method.clone(), format!("{}/v1/{}", self.url(), path))
            .header("X-Vault-Token", &self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let (status, text) =
            send_while_kv_upgrades(req).unwrap_or_else(|e| panic!("OpenBao {method} {path}: {e}"));
        assert!(
            status.is_success(),
            "OpenBao {method} {path}: {status}: {text}"
        );
        if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).expect("OpenBao answered JSON")
        }
    }

    /// Writes `data` as the next version of KV v2 secret `path` under `mount` (e.g. `secret`).
    pub fn kv_put(&self, mount: &str, path: &str, data: &serde_json::Value) {
        self.api(
            reqwest::Method::POST,
            &format!("{mount}/data/{path}"),
            Some(&serde_json::json!({ "data": data })),
        );
    }

    /// Mounts a secrets engine (`kv` with `{"version": "1"}`, `transit`, …) at `path`.
    pub fn mount(&self, path: &str, kind: &str, options: serde_json::Value) {
        self.api(
            reqwest::Method::POST,
            &format!("sys/mounts/{path}"),
            Some(&serde_json::json!({ "type": kind, "options": options })),
        );
    }
}

/// A KV v2 mount answers 400 "Upgrading from non-versioned to versioned data" for a moment
/// after it is created (OpenBao upgrades it in the background): send `req` again until the
/// mount is ready (10 s at most), then return the final status and body.
pub fn send_while_kv_upgrades(
    req: reqwest::blocking::RequestBuilder,
) -> reqwest::Result<(reqwest::StatusCode, String)> {
    const UPGRADING: &str = "Upgrading from non-versioned to versioned data";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let attempt = req
            .try_clone()
            .expect("OpenBao requests have in-memory bodies");
        let resp = attempt.send()?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        if status != reqwest::StatusCode::BAD_REQUEST
            || !text.contains(UPGRADING)
            || std::time::Instant::now() >= deadline
        {
            return Ok((status, text));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A moto server (`moto_server`): AWS APIs (Secrets Manager, KMS, STS, …) on one endpoint.
pub struct Moto {
    process: Process,
    addr: SocketAddr,
}

impl Moto {
    /// Access key id moto accepts (any is accepted; tests use this one).
    pub const ACCESS_KEY_ID: &'static str = "AKIAIOSFODNN7EXAMPLE";
    /// Secret access key to go with [`Moto::ACCESS_KEY_ID`].
    pub const SECRET_ACCESS_KEY: &'static str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    /// Region the tests use.
    pub const REGION: &'static str = "us-east-1";

    /// Starts moto on a free port and waits until it is ready.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts moto on `port` (to bring a killed server back at the same address).
    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, None)
    }

    /// Starts moto that accepts `free_calls` unauthenticated AWS calls (to create IAM users and
    /// keys) and then checks every request's SigV4 signature and IAM policy
    /// (`INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with_auth(free_calls: u32) -> Self {
        Self::spawn(free_port(), Some(free_calls))
    }

    fn spawn(port: u16, free_calls: Option<u32>) -> Self {
        let moto = require_tool("moto_server");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = Command::new(moto);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(n) = free_calls {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let process = Process::spawn(cmd, "moto");
        let this = Self { process, addr };
        wait_http(
            &format!("{}/moto-api/", this.endpoint()),
            Duration::from_secs(60),
            &this.process,
            "moto_server",
        );
        this
    }

    /// `http://127.0.0.1:PORT`: the endpoint override for every AWS service.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server (its state is gone).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        self.process.log_text()
    }

    /// moto's state of every service (`/moto-api/data.json`): what STS issued, for one.
    pub fn state(&self) -> serde_json::Value {
        reqwest::blocking::get(format!("{}/moto-api/data.json", self.endpoint()))
            .and_then(|r| r.json())
            .expect("moto's state")
    }

    /// Calls an AWS JSON 1.1 API (`target` like `secretsmanager.CreateSecret`, `AmazonSSM.PutParameter`, `TrentService.CreateKey`)
    /// without signing (moto does not check signatures); panics unless 2xx.
    pub fn json_call(&self, target: &str, body: &serde_json::Value) -> serde_json::Value {
        let client = reqwest::blocking::Client::new();
        let service = if target.starts_with("TrentService") {
            "kms"
        } else if target.starts_with("AmazonSSM") {
            "ssm"
        } else {
            "secretsmanager"
        };
        let resp = client
            .post(self.endpoint())
            .header("X-Amz-Target", target)
            .header("Content-Type", "application/x-amz-json-1.1")
            // moto routes by the credential scope's service name.
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/20260101/{}/{service}/aws4_request, SignedHeaders=host, Signature=0",
                    Self::ACCESS_KEY_ID,
                    Self::REGION
                ),
            )
            .json(body)
            .send()
            .unwrap_or_else(|e| panic!("moto {target}: {e}"));
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        assert!(status.is_success(), "moto {target}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }
}
