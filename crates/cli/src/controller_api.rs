//! The controller's HTTP API (`/v1/cert.pem`, `/v1/verify`, `/v1/rotate`) reached through the
//! Kubernetes API server's service proxy, as kubeseal does (`pkg/kubeseal/kubeseal.go`
//! `openCertFromController`, `VerifySealedSecret`, `ReEncryptSealedSecret`): the Service
//! `--controller-namespace/--controller-name` is read first to learn the name of its first port,
//! then requests go to
//! `/api/v1/namespaces/<ns>/services/http:<name>:<port-name>/proxy/v1/...`.
//!
//! The cluster comes from `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config` (with
//! `--context` choosing a context), through the `kube` client.
//!
//! [`Controller`] also reaches the controller directly at a URL (`--controller-url`, e.g. a
//! `kubectl port-forward`), for `seal reseal` and `seal keys list`; [`connect_cluster`] gives
//! a plain Kubernetes client for the commands that change key Secrets with the user's own
//! credentials.

use std::path::PathBuf;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Service;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Api, Client, Config};

use crate::env;

/// Where the controller is and how to reach the cluster (kubeseal's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct ControllerArgs {
    /// Namespace of the controller's Service.
    #[arg(long, value_name = "NAMESPACE", default_value = "kube-system", env = env::SEALED_SECRETS_CONTROLLER_NAMESPACE)]
    pub controller_namespace: String,

    /// Name of the controller's Service.
    #[arg(long, value_name = "NAME", default_value = "sealed-secrets-controller", env = env::SEALED_SECRETS_CONTROLLER_NAME)]
    pub controller_name: String,

    /// Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use [default: the current context].
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
}

/// An answer of the controller that is not a success.
#[derive(Debug, thiserror::Error)]
#[error("the controller answered HTTP {code}")]
pub struct ControllerStatus {
    /// The HTTP status code.
    pub code: u16,
}

/// A connection to the controller through the API server.
pub struct ControllerApi {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// `service namespace/name`, for messages.
    service: String,
    /// `/api/v1/namespaces/<ns>/services/http:<name>:<port>/proxy`.
    proxy: String,
    default_namespace: String,
}

impl ControllerApi {
    /// Loads the kubeconfig and finds the controller's Service (and its port name).
    pub fn connect(args: &ControllerArgs) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let service = format!(
            "service {}/{}",
            args.controller_namespace, args.controller_name
        );
        let (client, default_namespace, port) = runtime.block_on(async {
            let config = load_config(args).await?;
            let default_namespace = config.default_namespace.clone();
            let client = Client::try_from(config).context("building the Kubernetes client")?;
            let services: Api<Service> =
                Api::namespaced(client.clone(), &args.controller_namespace);
            let svc = services.get(&args.controller_name).await.with_context(|| {
                format!(
                    "cannot reach the controller: reading {service} (give --controller-namespace/--controller-name, or seal offline with --cert)"
                )
            })?;
            let port = svc
                .spec
                .and_then(|s| s.ports)
                .and_then(|p| p.into_iter().next())
                .and_then(|p| p.name)
                .unwrap_or_default();
            anyhow::Ok((client, default_namespace, port))
        })?;
        let proxy = format!(
            "/api/v1/namespaces/{}/services/http:{}:{}/proxy",
            args.controller_namespace, args.controller_name, port
        );
        Ok(Self {
            runtime,
            client,
            service,
            proxy,
            default_namespace,
        })
    }

    /// The namespace of the kubeconfig's context (for Secrets that name none).
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// `GET /v1/cert.pem`: the controller's newest certificate.
    pub fn fetch_cert(&self) -> anyhow::Result<Vec<u8>> {
        let request = http::Request::get(format!("{}/v1/cert.pem", self.proxy))
            .body(Vec::new())
            .context("building the request")?;
        self.call(request).with_context(|| {
            format!(
                "cannot fetch the certificate from the controller ({}); seal offline with --cert",
                self.service
            )
        })
    }

    /// `POST /v1/verify`: `Ok(true)` when the controller can decrypt `sealed_json`, `Ok(false)`
    /// when it answers 409.
    pub fn verify(&self, sealed_json: Vec<u8>) -> anyhow::Result<bool> {
        match self.post("/v1/verify", sealed_json) {
            Ok(_) => Ok(true),
            Err(e)
                if e.downcast_ref::<ControllerStatus>()
                    .is_some_and(|s| s.code == 409) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.context(format!("cannot validate through {}", self.service))),
        }
    }

    /// `POST /v1/rotate`: the SealedSecret re-sealed with the controller's newest key (JSON).
    pub fn rotate(&self, sealed_json: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        self.post("/v1/rotate", sealed_json)
            .with_context(|| format!("cannot re-encrypt through {}", self.service))
    }

    /// `GET /v1/keys`: the controller's keys and their usage (JSON).
    pub fn keys(&self) -> anyhow::Result<Vec<u8>> {
        let request = http::Request::get(format!("{}/v1/keys", self.proxy))
            .body(Vec::new())
            .context("building the request")?;
        self.call(request)
            .with_context(|| format!("cannot list keys through {}", self.service))
    }

    fn post(&self, path: &str, body: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let request = http::Request::post(format!("{}{path}", self.proxy))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .context("building the request")?;
        self.call(request)
    }

    fn call(&self, request: http::Request<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
        self.runtime.block_on(async {
            match self.client.request_text(request).await {
                Ok(text) => Ok(text.into_bytes()),
                Err(kube::Error::Api(status)) => {
                    let code = status.code;
                    let message = status.message.trim().to_owned();
                    let err = anyhow::Error::new(ControllerStatus { code });
                    if message.is_empty() {
                        Err(err)
                    } else {
                        Err(err.context(message))
                    }
                }
                Err(e) => Err(anyhow::Error::new(e)),
            }
        })
    }
}

/// The largest answer read from `--controller-url` (a re-sealed SealedSecret or the key list).
const MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;

/// The controller: through the API server's service proxy, or directly at a URL.
pub enum Controller {
    /// Through the API server.
    Proxy(Box<ControllerApi>),
    /// At `--controller-url`.
    Url {
        /// `http(s)://host:port` without a trailing slash.
        base: String,
        /// The client.
        client: reqwest::blocking::Client,
    },
}

impl Controller {
    /// `url` when given, else the Service named by `args`.
    pub fn connect(args: &ControllerArgs, url: Option<&str>) -> anyhow::Result<Self> {
        match url {
            Some(url) => {
                let client = reqwest::blocking::Client::builder()
                    .timeout(std::time::Duration::from_secs(120))
                    .build()
                    .context("building the HTTP client")?;
                Ok(Self::Url {
                    base: url.trim_end_matches('/').to_owned(),
                    client,
                })
            }
            None => Ok(Self::Proxy(Box::new(ControllerApi::connect(args)?))),
        }
    }

    /// Where it is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Proxy(api) => api.service.clone(),
            Self::Url { base, .. } => base.clone(),
        }
    }

    /// `GET /v1/keys`.
    pub fn keys(&self) -> anyhow::Result<Vec<u8>> {
        match self {
            Self::Proxy(api) => api.keys(),
            Self::Url { .. } => self
                .url_call(reqwest::Method::GET, "/v1/keys", Vec::new())
                .with_context(|| format!("cannot list keys at {}", self.describe())),
        }
    }

    /// `POST /v1/rotate`, waiting and trying again while the controller answers 429 (its
    /// rate limit) for up to two minutes.
    pub fn rotate(&self, sealed_json: &[u8]) -> anyhow::Result<Vec<u8>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut pause = std::time::Duration::from_millis(250);
        loop {
            let answer = match self {
                Self::Proxy(api) => api.post("/v1/rotate", sealed_json.to_vec()),
                Self::Url { .. } => {
                    self.url_call(reqwest::Method::POST, "/v1/rotate", sealed_json.to_vec())
                }
            };
            match answer {
                Err(e)
                    if e.downcast_ref::<ControllerStatus>()
                        .is_some_and(|s| s.code == 429)
                        && std::time::Instant::now() + pause < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
                other => {
                    return other
                        .with_context(|| format!("cannot re-seal through {}", self.describe()));
                }
            }
        }
    }

    fn url_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Vec<u8>> {
        use std::io::Read as _;
        let Self::Url { base, client } = self else {
            anyhow::bail!("not a URL controller");
        };
        let mut request = client.request(method, format!("{base}{path}"));
        if !body.is_empty() {
            request = request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send()?;
        let status = response.status();
        let mut bytes = Vec::new();
        response
            .take(MAX_ANSWER_BYTES + 1)
            .read_to_end(&mut bytes)
            .context("reading the controller's answer")?;
        if bytes.len() as u64 > MAX_ANSWER_BYTES {
            anyhow::bail!("the controller's answer is larger than {MAX_ANSWER_BYTES} bytes");
        }
        if !status.is_success() {
            let err = anyhow::Error::new(ControllerStatus {
                code: status.as_u16(),
            });
            let message = String::from_utf8_lossy(&bytes).trim().to_owned();
            return Err(if message.is_empty() {
                err
            } else {
                err.context(message)
            });
        }
        Ok(bytes)
    }
}

/// A Kubernetes client for the kubeconfig `args` name (the user's own credentials), with a
/// runtime to drive it, and the context's namespace.
pub fn connect_cluster(
    args: &ControllerArgs,
) -> anyhow::Result<(tokio::runtime::Runtime, Client, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (client, namespace) = runtime.block_on(async {
        let config = load_config(args).await?;
        let namespace = config.default_namespace.clone();
        let client = Client::try_from(config).context("building the Kubernetes client")?;
        anyhow::Ok((client, namespace))
    })?;
    Ok((runtime, client, namespace))
}

async fn load_config(args: &ControllerArgs) -> anyhow::Result<Config> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("using kubeconfig `{}`", path.display()))
        }
        None => Config::from_kubeconfig(&options)
            .await
            .map_err(kubeconfig_error),
    }
}

/// kube's error in our words: its "cannot read" message quotes the OS error it also chains.
fn kubeconfig_error(error: KubeconfigError) -> anyhow::Error {
    match error {
        KubeconfigError::ReadConfig(io, path) => {
            anyhow::Error::new(io).context(format!("cannot read kubeconfig `{}`", path.display()))
        }
        KubeconfigError::FindPath => {
            anyhow::anyhow!("no kubeconfig: neither $KUBECONFIG nor a home directory is set")
        }
        other => anyhow::Error::new(other)
            .context("reading the kubeconfig ($KUBECONFIG or ~/.kube/config)"),
    }
}
