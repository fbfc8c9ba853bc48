//! The ExternalSecret bridge: External Secrets Operator's `external-secrets.io/v1`
//! `ExternalSecret`, `SecretStore` and `ClusterSecretStore`, reconciled by
//! `seal-controller --external-secrets=true` (off by default: the shipped manifests run the
//! bridge as its own Deployment, under its own ServiceAccount, apart from the sealing keys).
//!
//! - [`crd`]: the kinds, with the fields users write most.
//! - [`providers`]: the provider contract and Vault/OpenBao, AWS Secrets Manager, Kubernetes,
//!   webhook and fake.
//! - [`stores`]: store lookup (ClusterSecretStore conditions), the client cache, the per-store
//!   rate limit and the store reconciler (`Ready` after a provider check).
//! - [`reconcile`]: ExternalSecret → Secret, with [`schedule`] (when to fetch again),
//!   [`fetch`] (values from the stores) and [`desired`] (the Secret to write).
//! - [`template`]: rendering of `target.template`, `templateFrom` included.
//! - [`clusterexternalsecret`]: `ClusterExternalSecret`, stamped into the namespaces it selects.
//! - [`generators`]: the `Password` generator of `dataFrom[].sourceRef.generatorRef`.
//! - [`fields`]: fields ESO's CRDs accept that sealkit keeps but does not implement, named in
//!   `Ready`.
//! - [`metrics`]: sync calls and errors by provider and reason, refresh lag.
//!
//! Semantics follow external-secrets `pkg/controllers/externalsecret`; where sealkit differs
//! (no server-side defaults, unsupported providers and fields reported in `Ready`, only the
//! `Password` generator) the README section "ExternalSecrets" says so.

pub mod clusterexternalsecret;
pub mod crd;
pub mod desired;
pub mod error;
pub mod fetch;
pub mod fields;
pub mod generators;
pub mod metrics;
pub mod providers;
pub mod pushsecret;
pub mod reconcile;
pub mod schedule;
pub mod stores;
pub mod template;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ListParams;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, predicates, watcher};
use kube::{Api, Client, CustomResourceExt as _, Resource as _, ResourceExt as _};
use tokio::sync::watch;

use self::clusterexternalsecret::{CesContext, ClusterExternalSecret};
use self::crd::{ClusterSecretStore, ExternalSecret, SecretStore, StoreKind};
use self::generators::Password;
use self::metrics::EsMetrics;
use self::providers::ProviderSettings;
use self::schedule::LastSync;
use self::stores::ClientCache;
use crate::reconciler::cache::{cache_ready, trim_metadata};
use crate::reconciler::events;
use crate::reconciler::retry::Failures;

/// The bridge's CRDs, as `seal-controller crds` prints them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        ExternalSecret::crd(),
        SecretStore::crd(),
        ClusterSecretStore::crd(),
        ClusterExternalSecret::crd(),
        Password::crd(),
        pushsecret::PushSecret::crd(),
    ]
    .into_iter()
    .map(|mut crd| {
        for v in &mut crd.spec.versions {
            if let Some(s) = v
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                // schemars titles root schemas after the type; ESO's CRDs have none.
                s.title = None;
                strip_defaults(s);
            }
        }
        crd
    })
    .collect()
}

/// Removes every `default` (schemars derives them from `#[serde(default)]`): the API server
/// must store what the user applied, so GitOps tools see no drift (external-secrets#6398).
fn strip_defaults(
    schema: &mut k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps,
) {
    schema.default = None;
    for p in schema.properties.iter_mut().flat_map(|m| m.values_mut()) {
        strip_defaults(p);
    }
    if let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(s)) = schema.items.as_mut() {
        strip_defaults(s);
    }
    if let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(s)) = schema.additional_properties.as_mut() {
        strip_defaults(s);
    }
    for list in [&mut schema.any_of, &mut schema.one_of, &mut schema.all_of] {
        for s in list.iter_mut().flatten() {
            strip_defaults(s);
        }
    }
}

/// Settings of the bridge.
#[derive(Debug, Clone)]
pub struct Config {
    /// Stores whose `spec.controller` is set to something else are left alone.
    pub controller_class: String,
    /// Provider calls per second per store (burst twice that); 0 = unlimited.
    pub store_qps: f64,
    /// ExternalSecrets reconciled at once.
    pub concurrency: u16,
    /// What providers need from the controller.
    pub providers: Arc<ProviderSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            controller_class: String::new(),
            store_qps: 200.0,
            concurrency: 16,
            providers: Arc::new(ProviderSettings::default()),
        }
    }
}

/// What the bridge's reconcilers share.
pub struct Context {
    /// API client.
    pub client: Client,
    /// HTTP client of the providers (system roots).
    pub http: reqwest::Client,
    /// Settings.
    pub config: Config,
    /// SecretStore cache.
    pub stores: Store<SecretStore>,
    /// ClusterSecretStore cache.
    pub cluster_stores: Store<ClusterSecretStore>,
    /// Cache of the Secrets the bridge manages (label `reconcile.external-secrets.io/managed`).
    pub secrets: Store<Secret>,
    /// Connected provider clients and rate limits.
    pub clients: ClientCache,
    /// Metrics.
    pub metrics: Arc<EsMetrics>,
    /// Events.
    pub recorder: Recorder,
    last: Mutex<HashMap<String, LastSync>>,
    failures: Failures<String>,
}

impl Context {
    fn last_sync(&self, uid: &str) -> Option<LastSync> {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uid)
            .cloned()
    }

    fn remember(&self, uid: &str, last: LastSync) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid.to_owned(), last);
    }

    fn forget(&self, uid: &str) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
        self.clear_failures(uid);
    }

    fn record_failure(&self, uid: &str) -> u32 {
        self.failures.record(uid.to_owned())
    }

    fn clear_failures(&self, uid: &str) {
        self.failures.clear(&uid.to_owned());
    }

    /// Publishes an Event (action `Sync`) about `es`.
    async fn publish(&self, es: &ExternalSecret, type_: EventType, reason: &str, note: String) {
        events::publish(
            &self.recorder,
            &es.object_ref(&()),
            type_,
            "Sync",
            reason,
            note,
        )
        .await;
    }
}

/// Runs the bridge over `namespace` (all when `None`) until `shutdown` turns true. Waits
/// quietly while the `external-secrets.io` CRDs are not installed. The cluster-scoped kinds
/// (ClusterSecretStores are validated, ClusterExternalSecrets stamped into the namespaces the
/// bridge serves) are handled only when `cluster_stores` is set (one run per process does it).
pub async fn run(
    client: Client,
    config: Config,
    metrics: Arc<EsMetrics>,
    recorder: Recorder,
    namespace: Option<String>,
    cluster_stores: bool,
    shutdown: watch::Receiver<bool>,
) {
    let es_api: Api<ExternalSecret> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    if !wait_for_crds(&es_api, shutdown.clone()).await {
        return;
    }
    let (store_api, secret_api): (Api<SecretStore>, Api<Secret>) = match &namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let css_api: Api<ClusterSecretStore> = Api::all(client.clone());

    let (store_reader, store_writer) = reflector::store::<SecretStore>();
    let store_events = reflector::reflector(
        store_writer,
        watcher(store_api.clone(), watcher::Config::default().any_semantic()).default_backoff(),
    )
    .applied_objects()
    .predicate_filter(predicates::generation, Default::default());
    let (css_reader, css_writer) = reflector::store::<ClusterSecretStore>();
    let css_events = reflector::reflector(
        css_writer,
        watcher(css_api.clone(), watcher::Config::default().any_semantic()).default_backoff(),
    )
    .applied_objects()
    .predicate_filter(predicates::generation, Default::default());
    let (secret_reader, secret_writer) = reflector::store::<Secret>();
    let secret_events = reflector::reflector(
        secret_writer,
        watcher(
            secret_api,
            watcher::Config::default()
                .any_semantic()
                .labels(&format!("{}=true", desired::LABEL_MANAGED)),
        )
        .default_backoff()
        .modify(|s: &mut Secret| trim_metadata(&mut s.metadata)),
    )
    .touched_objects();

    let http = match config.providers.egress.client(None, None) {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %crate::reconciler::chain(&e), "cannot build the providers' http client");
            return;
        }
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        http,
        config: config.clone(),
        stores: store_reader.clone(),
        cluster_stores: css_reader.clone(),
        secrets: secret_reader.clone(),
        clients: ClientCache::default(),
        metrics,
        recorder,
        last: Mutex::default(),
        failures: Failures::default(),
    });

    let stopped = |rx: &watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };

    let controller = Controller::new(es_api, watcher::Config::default().any_semantic())
        .with_config(ControllerConfig::default().concurrency(config.concurrency));
    let es_store = controller.store();
    let by_store = {
        let es_store = es_store.clone();
        move |kind: StoreKind, namespace: Option<String>, name: String| {
            es_store
                .state()
                .into_iter()
                .filter(|es| {
                    let r = es.spec.secret_store_ref.clone().unwrap_or_default();
                    r.kind.unwrap_or_default() == kind
                        && r.name == name
                        && (namespace.is_none() || es.namespace() == namespace)
                })
                .map(|es| ObjectRef::from_obj(es.as_ref()))
                .collect::<Vec<_>>()
        }
    };
    let by_store_ss = by_store.clone();
    let es_store_secret = es_store.clone();
    let ready_secrets = cache_ready(secret_reader.clone());
    let es_controller = controller
        .watches_stream(store_events, move |s: SecretStore| {
            by_store_ss(StoreKind::SecretStore, s.namespace(), s.name_any())
        })
        .watches_stream(css_events, move |s: ClusterSecretStore| {
            by_store(StoreKind::ClusterSecretStore, None, s.name_any())
        })
        .watches_stream(secret_events, move |s: Secret| {
            let namespace = s.namespace()?;
            let name = s.name_any();
            if let Some(owner) = s
                .owner_references()
                .iter()
                .find(|r| r.kind == "ExternalSecret" && r.controller == Some(true))
            {
                return Some(ObjectRef::<ExternalSecret>::new(&owner.name).within(&namespace));
            }
            es_store_secret
                .state()
                .into_iter()
                .find(|es| {
                    es.namespace().as_deref() == Some(&namespace)
                        && reconcile::target_name(es) == name
                })
                .map(|es| ObjectRef::from_obj(es.as_ref()))
        })
        .graceful_shutdown_on(stopped(&shutdown))
        .run(
            move |es, ctx| {
                let ready = ready_secrets.clone();
                async move {
                    ready.await;
                    reconcile::reconcile(es, ctx).await
                }
            },
            reconcile::error_policy,
            ctx.clone(),
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "externalsecret reconcile error");
            }
        });

    let ss_controller = Controller::new(store_api, watcher::Config::default().any_semantic())
        .graceful_shutdown_on(stopped(&shutdown))
        .run(
            stores::reconcile_store,
            stores::store_error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});
    let css_controller = async {
        if cluster_stores {
            Controller::new(css_api, watcher::Config::default().any_semantic())
                .graceful_shutdown_on(stopped(&shutdown))
                .run(
                    stores::reconcile_cluster_store,
                    stores::store_error_policy,
                    ctx.clone(),
                )
                .for_each(|_| async {})
                .await;
        }
    };
    let ces_controller = async {
        if cluster_stores {
            run_cluster_external_secrets(
                client.clone(),
                config.providers.served_namespaces.clone(),
                shutdown.clone(),
            )
            .await;
        }
    };
    let ps_controller = run_push_secrets(ctx.clone(), namespace.clone(), shutdown.clone());
    tracing::info!(
        namespace = namespace.as_deref().unwrap_or("<all>"),
        "externalsecret bridge started"
    );
    tokio::join!(
        es_controller,
        ss_controller,
        css_controller,
        ces_controller,
        ps_controller
    );
}

/// The PushSecret controller over `namespace` (all when `None`); waits while its CRD is not
/// installed, without holding up the other kinds.
async fn run_push_secrets(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: watch::Receiver<bool>,
) {
    let api: Api<pushsecret::PushSecret> = match &namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    if !wait_for_crds(&api, shutdown.clone()).await {
        return;
    }
    let mut stop = shutdown.clone();
    Controller::new(api, watcher::Config::default().any_semantic())
        .with_config(ControllerConfig::default().concurrency(ctx.config.concurrency))
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|v| *v).await;
        })
        .run(pushsecret::reconcile, pushsecret::error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "pushsecret reconcile error");
            }
        })
        .await;
}

/// The ClusterExternalSecret controller: watches them, the ExternalSecrets they own and the
/// Namespaces (a label change can add or remove a target), and reconciles only once the
/// Namespace cache is complete (an empty cache would look like no namespace matching).
async fn run_cluster_external_secrets(
    client: Client,
    served: Option<std::collections::BTreeSet<String>>,
    shutdown: watch::Receiver<bool>,
) {
    let ces_api: Api<ClusterExternalSecret> = Api::all(client.clone());
    if !wait_for_crds(&ces_api, shutdown.clone()).await {
        return;
    }
    let (ns_reader, ns_writer) = reflector::store::<Namespace>();
    let ns_events = reflector::reflector(
        ns_writer,
        watcher(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default().any_semantic(),
        )
        .default_backoff(),
    )
    .touched_objects();
    let ready_namespaces = cache_ready(ns_reader.clone());
    let ctx = Arc::new(CesContext::new(client.clone(), ns_reader, served));
    let controller = Controller::new(ces_api, watcher::Config::default().any_semantic());
    let ces_store = controller.store();
    let mut stop = shutdown.clone();
    controller
        .owns(
            Api::<ExternalSecret>::all(client),
            watcher::Config::default().any_semantic(),
        )
        .watches_stream(ns_events, move |_ns: Namespace| {
            ces_store
                .state()
                .iter()
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|v| *v).await;
        })
        .run(
            move |ces, ctx| {
                let ready = ready_namespaces.clone();
                async move {
                    ready.await;
                    clusterexternalsecret::reconcile(ces, ctx).await
                }
            },
            clusterexternalsecret::error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

/// Waits until the kind of `api` is served; false when shut down first.
async fn wait_for_crds<K>(api: &Api<K>, mut shutdown: watch::Receiver<bool>) -> bool
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut warned = false;
    loop {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => return true,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                if !warned {
                    tracing::warn!(
                        kind = %K::kind(&()),
                        "an external-secrets.io CRD is not installed (deploy/crds/); the ExternalSecret bridge waits for it"
                    );
                    warned = true;
                }
            }
            Err(e) => tracing::warn!(kind = %K::kind(&()), error = %e, "cannot list yet"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(if warned { 30 } else { 2 })) => {}
            _ = shutdown.wait_for(|v| *v) => return false,
        }
    }
}
