//! `seal-controller`: the in-cluster half of sealkit.
//!
//! Turns `bitnami.com/v1alpha1` SealedSecrets into Secrets with the keys of an existing Bitnami
//! install (or new ones), serves the sealing certificate and the verify/rotate API, renews keys
//! and elects one writer among replicas. The binary is a thin shell over [`run`]; tests run the
//! same function in-process.
//!
//! - [`keyring`]: the keys (Bitnami's key Secrets), generation and renewal.
//! - [`sealedsecrets`]: the reconciler.
//! - [`http`]: `/v1/cert.pem`, `/v1/verify`, `/v1/rotate`, `/healthz`, `/readyz`, `/metrics`.
//! - [`leader`]: Lease-based leader election.
//! - [`externalsecrets`]: the ExternalSecret bridge (`external-secrets.io/v1`).
//! - [`reconciler`]: plumbing both reconcilers share (Kubernetes errors, status, Events,
//!   backoff, Secret caches).
//!
//! # Crate Features
//! None yet; the `telemetry` feature (OpenTelemetry export) is planned.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod args;
pub mod crds;
pub mod duration;
pub mod error;
pub mod externalsecrets;
pub mod http;
pub mod keyring;
pub mod leader;
pub mod metrics;
pub mod rbac;
pub mod reconciler;
pub mod sealedsecrets;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use crate::args::{Args, RunArgs};
pub use crate::error::{Error, Result};
use crate::keyring::generate::KeyParams;
use crate::keyring::renewal::{Renewal, next_renewal};
use crate::keyring::store::KeySecretMeta;
use crate::keyring::usage::KeyUsage;
use crate::keyring::wrap::KeyWrap;
use crate::keyring::{Decryptor, Keyring};
use crate::metrics::Metrics;
use crate::reconciler::retry::backoff;
use crate::sealedsecrets::context::Settings;

/// Whether this build carries the ExternalSecret bridge (`--external-secrets`).
pub const EXTERNAL_SECRETS_AVAILABLE: bool = true;

/// CRDs of the ExternalSecret bridge.
pub fn external_secrets_crds() -> Vec<CustomResourceDefinition> {
    externalsecrets::crds()
}

/// The two listeners, bound by the caller (the binary binds the flags' addresses; tests bind
/// free ports).
#[derive(Debug)]
pub struct Listeners {
    /// `--listen-addr`: the API.
    pub api: TcpListener,
    /// `--listen-metrics-addr`: `/metrics`.
    pub metrics: TcpListener,
}

impl Listeners {
    /// Binds the addresses the flags name.
    pub async fn bind(args: &RunArgs) -> Result<Self> {
        let bind = |addr: std::net::SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Serve {
                    addr: addr.to_string(),
                    source,
                })
        };
        Ok(Self {
            api: bind(args.listen_addr).await?,
            metrics: bind(args.listen_metrics_addr).await?,
        })
    }
}

/// Runs the controller until `shutdown` turns true: loads the keys, serves HTTP, takes part in
/// leader election and, while leading, renews keys and reconciles SealedSecrets (and, with
/// `--external-secrets`, ExternalSecrets). With `--sealed-secrets=false` it neither reads key
/// Secrets nor serves `/v1/*`. Dropping the returned future stops everything it started.
pub async fn run(
    client: Client,
    args: RunArgs,
    listeners: Listeners,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    args::validate(&args)?;
    let key_namespace = args.resolve_key_namespace();
    let identity = args.resolve_identity();
    let metrics = Arc::new(Metrics::new(args.metrics_omit_secret_labels));
    let es_metrics = Arc::new(externalsecrets::metrics::EsMetrics::new());
    metrics.register_more(|r| es_metrics.register(r));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        %key_namespace,
        %identity,
        sealed_secrets = args.sealed_secrets,
        external_secrets = args.external_secrets,
        "starting seal-controller"
    );

    let mut tasks = JoinSet::new();
    let sealing = if args.sealed_secrets {
        let key_api: Api<Secret> = Api::namespaced(client.clone(), &key_namespace);
        let wrap = KeyWrap::from_flags(&args.key_wrap_flags())?.map(Arc::new);
        if let Some(wrap) = &wrap {
            tracing::info!(master_keys = ?wrap.describe(), "sealing keys are kept wrapped");
        }
        let Some(sealing) =
            Sealing::load(&args, key_api, wrap, &metrics, &shutdown, &mut tasks).await
        else {
            return Ok(());
        };
        // Every replica answers /v1/keys and /metrics: each keeps its own usage index.
        let namespaces = args.watched_namespaces(&key_namespace);
        tasks.spawn(sealing.usage.clone().watch(
            client.clone(),
            namespaces,
            args.label_selector.clone(),
        ));
        Some(sealing)
    } else {
        None
    };

    let state = http::AppState {
        metrics: metrics.clone(),
        sealing: sealing.as_ref().map(|s| http::SealingApi {
            decryptor: s.api_decryptor.clone(),
            limiter: Arc::new(http::RateLimiter::new(
                args.rate_limit,
                args.rate_limit_burst,
                args.trusted_proxies.clone(),
            )),
            accept_deprecated_v1_data: args.accept_deprecated_v1_data,
            max_items: args.max_items_per_request,
            usage: s.usage.clone(),
        }),
    };
    let stopped = |rx: &watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let api_server = http::serve(
        listeners.api,
        // The bridge alone (`--sealed-secrets=false`) has no certificate to seal with: no page.
        http::web::with_page(
            http::api_router(state.clone()),
            args.web && state.sealing.is_some(),
        ),
        stopped(&shutdown),
    );
    let metrics_server = http::serve(
        listeners.metrics,
        http::metrics_router(state),
        stopped(&shutdown),
    );
    let mut servers = JoinSet::new();
    servers.spawn(api_server);
    servers.spawn(metrics_server);

    let (leader_tx, leader_rx) = watch::channel(!args.leader_elect);
    if args.leader_elect {
        let params = leader::LeaseParams {
            name: args.leader_elect_lease_name.clone(),
            identity: identity.clone(),
            lease_duration: args.leader_elect_lease_duration,
            retry_period: args.leader_elect_retry_period,
        };
        let lease_api: Api<Lease> = Api::namespaced(client.clone(), &key_namespace);
        servers.spawn({
            let shutdown = shutdown.clone();
            async move {
                leader::run(lease_api, params, leader_tx, shutdown).await;
                Ok(())
            }
        });
    }

    let duties = LeaderDuties {
        client,
        args: args.clone(),
        key_namespace,
        identity,
        sealing,
        metrics: metrics.clone(),
        es_metrics,
    };
    let mut leader_rx = leader_rx;
    let mut stop = shutdown.clone();
    loop {
        metrics.leader.set(0);
        tokio::select! {
            open = until(&mut leader_rx, true) => if !open { break },
            _ = until(&mut stop, true) => break,
        }
        metrics.leader.set(1);
        let mut leading = duties.start(shutdown.clone());
        tokio::select! {
            _ = until(&mut leader_rx, false) => {
                tracing::warn!("lost leadership: stopping writers");
                leading.abort_all();
                while leading.join_next().await.is_some() {}
            }
            _ = until(&mut stop, true) => {
                // Controllers stop on the same signal; give them a moment to finish.
                let _ = tokio::time::timeout(Duration::from_secs(10), async {
                    while leading.join_next().await.is_some() {}
                })
                .await;
                break;
            }
        }
    }
    metrics.leader.set(0);
    tasks.abort_all();
    while let Some(r) = servers.join_next().await {
        if let Ok(Err(e)) = r {
            return Err(e);
        }
    }
    tracing::info!("seal-controller stopped");
    Ok(())
}

/// Waits until `rx` holds `want`; `false` when the sender is gone. (The guard `wait_for`
/// returns is dropped here, so callers' futures stay `Send`.)
async fn until(rx: &mut watch::Receiver<bool>, want: bool) -> bool {
    rx.wait_for(|v| *v == want).await.is_ok()
}

/// The SealedSecret side of the process: the keys and two decryptors, one for reconciles and
/// one, with slots of its own, for `/v1/verify` and `/v1/rotate`; the master keys that wrap
/// the sealing keys, if any; the index of which keys the SealedSecrets need.
struct Sealing {
    keyring: Keyring,
    decryptor: Decryptor,
    api_decryptor: Decryptor,
    key_api: Api<Secret>,
    wrap: Option<Arc<KeyWrap>>,
    usage: KeyUsage,
}

impl Sealing {
    /// Loads the keys (retrying until the API answers) and, with `--watch-for-secrets`, keeps
    /// following them on a task in `tasks`. `None` when shut down first.
    async fn load(
        args: &RunArgs,
        key_api: Api<Secret>,
        wrap: Option<Arc<KeyWrap>>,
        metrics: &Metrics,
        shutdown: &watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
    ) -> Option<Self> {
        let keyring = Keyring::new(args.key_order_priority);
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let decryptor = Decryptor::new(
            keyring.clone(),
            args.decrypt_concurrency.unwrap_or(cores),
            metrics.rsa_private_operations.clone(),
        );
        let api_decryptor = decryptor.with_own_slots(
            args.api_decrypt_concurrency
                .unwrap_or_else(|| (cores / 2).max(1)),
        );
        // Keys first: every replica serves the certificate and decrypts for verify/rotate.
        let mut attempt = 0;
        let initial = loop {
            match keyring::import::load(&key_api, &args.key_prefix, wrap.as_deref()).await {
                Ok(keys) => break keys,
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(error = %e.chain(), attempt, "cannot list key secrets yet");
                    let mut stop = shutdown.clone();
                    tokio::select! {
                        () = tokio::time::sleep(backoff(attempt)) => {}
                        _ = until(&mut stop, true) => return None,
                    }
                }
            }
        };
        keyring.replace(initial.usable);
        keyring.replace_held_back(initial.held_back);
        for k in keyring.snapshot().iter() {
            tracing::info!(secret = %k.secret_name, fingerprint = %k.fingerprint, compromised = k.compromised, wrapped = k.wrapped, "key loaded");
        }
        for k in keyring.held_back().iter() {
            match &k.reason {
                keyring::HeldBackReason::Retired => {
                    tracing::info!(secret = %k.secret_name, "retired key left unused");
                }
                keyring::HeldBackReason::Locked(why) => {
                    tracing::error!(secret = %k.secret_name, error = %why, "sealing key locked: no certificate is served and no key is made until it unwraps");
                }
            }
        }
        if wrap.is_some() || keyring.is_locked() {
            tasks.spawn(keyring::import::retry_locked(
                key_api.clone(),
                args.key_prefix.clone(),
                keyring.clone(),
                wrap.clone(),
            ));
        }
        if args.watch_for_secrets {
            tasks.spawn(keyring::import::watch(
                key_api.clone(),
                args.key_prefix.clone(),
                keyring.clone(),
                wrap.clone(),
            ));
        }
        let runs = args
            .watched_namespaces(&args.resolve_key_namespace())
            .map_or(1, |list| list.len());
        Some(Self {
            keyring,
            decryptor,
            api_decryptor,
            key_api,
            wrap,
            usage: KeyUsage::new(runs),
        })
    }
}

/// What only the leader does.
struct LeaderDuties {
    client: Client,
    args: RunArgs,
    key_namespace: String,
    identity: String,
    sealing: Option<Sealing>,
    metrics: Arc<Metrics>,
    es_metrics: Arc<externalsecrets::metrics::EsMetrics>,
}

impl LeaderDuties {
    fn start(&self, shutdown: watch::Receiver<bool>) -> JoinSet<()> {
        let mut set = JoinSet::new();
        let recorder = Recorder::new(
            self.client.clone(),
            Reporter {
                controller: "seal-controller".into(),
                instance: Some(self.identity.clone()),
            },
        );
        if let Some(sealing) = &self.sealing {
            self.start_sealed_secrets(sealing, recorder.clone(), &mut set, &shutdown);
        }
        if self.args.external_secrets {
            let config = self.external_secrets_config();
            let runs: Vec<Option<String>> = match self.args.external_secrets_namespaces() {
                None => vec![None],
                Some(list) => list.into_iter().map(Some).collect(),
            };
            for (i, ns) in runs.into_iter().enumerate() {
                set.spawn(externalsecrets::run(
                    self.client.clone(),
                    config.clone(),
                    self.es_metrics.clone(),
                    recorder.clone(),
                    ns,
                    i == 0,
                    shutdown.clone(),
                ));
            }
        }
        set
    }

    /// Key renewal, and the SealedSecret controllers once the keyring holds a key and the
    /// digest key is loaded (Bitnami too loads or makes its key before it watches anything:
    /// reconciling earlier would only fail every object for want of a key).
    fn start_sealed_secrets(
        &self,
        sealing: &Sealing,
        recorder: Recorder,
        set: &mut JoinSet<()>,
        shutdown: &watch::Receiver<bool>,
    ) {
        let params = KeyParams {
            bits: self.args.key_size,
            ttl: self.args.key_ttl,
            common_name: self.args.my_cn.clone(),
            secret: KeySecretMeta {
                prefix: self.args.key_prefix.clone(),
                namespace: self.key_namespace.clone(),
                labels: self.args.privatekey_labels.clone(),
                annotations: self.args.privatekey_annotations.clone(),
            },
        };
        let renewal = renew_keys(
            sealing.key_api.clone(),
            params,
            sealing.keyring.clone(),
            sealing.wrap.clone(),
            self.args.key_renew_period,
            self.args.key_cutoff_time,
        );
        let mut stop = shutdown.clone();
        set.spawn(async move {
            // Renewal never ends by itself; a key being made when the stop comes is dropped
            // before it is stored.
            tokio::select! {
                () = renewal => {}
                _ = until(&mut stop, true) => {}
            }
        });
        let settings = Settings {
            update_status: self.args.update_status,
            max_unseal_retries: self.args.max_unseal_retries,
            accept_deprecated_v1_data: self.args.accept_deprecated_v1_data,
        };
        let namespaces = self.args.watched_namespaces(&self.key_namespace);
        let client = self.client.clone();
        let decryptor = sealing.decryptor.clone();
        let keyring = sealing.keyring.clone();
        let key_api = sealing.key_api.clone();
        let digest_secret = sealedsecrets::digest_key::secret_name(&self.args.key_prefix);
        let metrics = self.metrics.clone();
        let label_selector = self.args.label_selector.clone();
        let skip_recreate = self.args.skip_recreate;
        let shutdown = shutdown.clone();
        set.spawn(async move {
            let mut stop = shutdown.clone();
            tokio::select! {
                ready = keyring_ready(&keyring) => if !ready { return },
                _ = until(&mut stop, true) => return,
            }
            let Some(digest_key) = load_digest_key(&key_api, &digest_secret, &shutdown).await
            else {
                return;
            };
            let deps = sealedsecrets::Deps {
                client,
                decryptor,
                metrics,
                recorder,
                settings,
                label_selector,
                skip_recreate,
                concurrency: 64,
                digest_key: Arc::new(digest_key),
            };
            let runs: Vec<Option<String>> = match namespaces {
                None => vec![None],
                Some(list) => list.into_iter().map(Some).collect(),
            };
            futures::future::join_all(
                runs.into_iter()
                    .map(|ns| sealedsecrets::run(deps.clone(), ns, shutdown.clone())),
            )
            .await;
        });
    }

    fn external_secrets_config(&self) -> externalsecrets::Config {
        externalsecrets::Config {
            controller_class: self.args.external_secrets_controller_class.clone(),
            store_qps: self.args.external_secrets_store_qps,
            concurrency: self.args.external_secrets_concurrency.max(1),
            providers: Arc::new(externalsecrets::providers::ProviderSettings {
                aws_secretsmanager_endpoint: self.args.aws_secretsmanager_endpoint.clone(),
                egress: externalsecrets::providers::egress::Egress::new(
                    self.args.external_secrets_allow_link_local,
                ),
                served_namespaces: self
                    .args
                    .external_secrets_namespaces()
                    .map(|list| list.into_iter().collect()),
                aws_env: externalsecrets::providers::aws_auth::bridge_env(std::env::vars()),
                gcp: externalsecrets::providers::gcp::GcpSettings::from_process_env(),
                azure: externalsecrets::providers::azure::AzureSettings::from_process_env(),
            }),
        }
    }
}

/// Resolves once the keyring holds a key and none is locked; `false` when it is dropped
/// first.
async fn keyring_ready(keyring: &Keyring) -> bool {
    let mut changed = keyring.subscribe();
    loop {
        if !keyring.snapshot().is_empty() && !keyring.is_locked() {
            return true;
        }
        if changed.changed().await.is_err() {
            return false;
        }
    }
}

/// Loads (or, the first time, creates) the digest key, retrying until it succeeds; `None`
/// when shut down first.
async fn load_digest_key(
    api: &Api<Secret>,
    name: &str,
    shutdown: &watch::Receiver<bool>,
) -> Option<sealedsecrets::digest_key::DigestKey> {
    let mut attempt = 0;
    loop {
        match sealedsecrets::digest_key::load_or_create(api, name).await {
            Ok(key) => return Some(key),
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e.chain(), attempt, "cannot load the digest key yet");
                let mut stop = shutdown.clone();
                tokio::select! {
                    () = tokio::time::sleep(backoff(attempt)) => {}
                    _ = until(&mut stop, true) => return None,
                }
            }
        }
    }
}

/// Generates the first key and renews on schedule (leader only); never while a key is
/// locked.
async fn renew_keys(
    api: Api<Secret>,
    params: KeyParams,
    keyring: Keyring,
    wrap: Option<Arc<KeyWrap>>,
    period: Duration,
    cutoff: Option<time::OffsetDateTime>,
) {
    let mut changed = keyring.subscribe();
    let mut failures = 0;
    loop {
        if keyring.is_locked() {
            if changed.changed().await.is_err() {
                return;
            }
            continue;
        }
        let newest = keyring
            .newest_active()
            .map(|k| k.order_time(keyring.priority()));
        match next_renewal(newest, period, cutoff, time::OffsetDateTime::now_utc()) {
            Renewal::Now => {
                match keyring::generate::generate_and_store(
                    &api,
                    &params,
                    &keyring,
                    wrap.as_deref(),
                )
                .await
                {
                    Ok(_) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        tracing::error!(error = %e.chain(), "cannot store a new sealing key");
                        tokio::time::sleep(backoff(failures + 3)).await;
                    }
                }
                changed.borrow_and_update();
            }
            Renewal::After(d) => {
                tokio::select! {
                    () = tokio::time::sleep(d) => {}
                    r = changed.changed() => if r.is_err() { return },
                }
            }
            Renewal::Never => {
                if changed.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}
