//! Stores: finding the store an ExternalSecret names (with ClusterSecretStore namespace
//! conditions), a cache of connected provider clients, a per-store rate limit, and the store
//! reconciler that validates each store and writes its `Ready` condition
//! (external-secrets `pkg/controllers/secretstore`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource as _, ResourceExt as _};

use super::Context;
use super::crd::{
    ClusterSecretStore, ClusterSecretStoreCondition, Condition, LabelSelector, SecretStore,
    SecretStoreRef, SecretStoreSpec, SecretStoreStatus, StoreKind,
};
use super::error::Error;
use super::providers::{self, ProviderError, SecretsClient, StoreAccess, Validation};
use crate::duration::parse_go_duration;
use crate::reconciler::chain;
use crate::reconciler::status::now_rfc3339;

/// A store as an ExternalSecret sees it.
#[derive(Clone)]
pub struct ResolvedStore {
    /// Kind.
    pub kind: StoreKind,
    /// Name.
    pub name: String,
    /// Namespace of a SecretStore.
    pub namespace: Option<String>,
    /// Its spec.
    pub spec: SecretStoreSpec,
    /// `metadata.resourceVersion` (clients are cached per version).
    pub resource_version: String,
}

impl ResolvedStore {
    /// Cache key of the client: the store, its version, and for a ClusterSecretStore the
    /// namespace credentials default to.
    fn cache_key(&self, es_namespace: &str) -> CacheKey {
        CacheKey {
            kind: self.kind,
            namespace: self.namespace.clone().unwrap_or_default(),
            name: self.name.clone(),
            version: self.resource_version.clone(),
            es_namespace: match self.kind {
                StoreKind::SecretStore => String::new(),
                StoreKind::ClusterSecretStore => es_namespace.to_owned(),
            },
        }
    }

    /// Rate-limit key: the store itself.
    fn limit_key(&self) -> (StoreKind, String, String) {
        (
            self.kind,
            self.namespace.clone().unwrap_or_default(),
            self.name.clone(),
        )
    }
}

/// Finds the store `reference` names for an ExternalSecret in `namespace`.
pub async fn resolve(
    ctx: &Context,
    reference: &SecretStoreRef,
    namespace: &str,
) -> Result<ResolvedStore, Error> {
    let kind = reference.kind.unwrap_or_default();
    let not_found = || Error::StoreNotFound {
        kind: kind.to_string(),
        name: reference.name.clone(),
    };
    if reference.name.is_empty() {
        return Err(Error::Spec("secretStoreRef.name is required".into()));
    }
    let resolved = match kind {
        StoreKind::SecretStore => {
            let key = ObjectRef::<SecretStore>::new(&reference.name).within(namespace);
            let store = match ctx.stores.get(&key) {
                Some(s) => s,
                None => {
                    let api: Api<SecretStore> = Api::namespaced(ctx.client.clone(), namespace);
                    Arc::new(
                        api.get_opt(&reference.name)
                            .await
                            .map_err(Error::kube(format!(
                                "get secretstore {namespace}/{}",
                                reference.name
                            )))?
                            .ok_or_else(not_found)?,
                    )
                }
            };
            ResolvedStore {
                kind,
                name: reference.name.clone(),
                namespace: Some(namespace.to_owned()),
                spec: store.spec.clone(),
                resource_version: store.resource_version().unwrap_or_default(),
            }
        }
        StoreKind::ClusterSecretStore => {
            let key = ObjectRef::<ClusterSecretStore>::new(&reference.name);
            let store = match ctx.cluster_stores.get(&key) {
                Some(s) => s,
                None => {
                    let api: Api<ClusterSecretStore> = Api::all(ctx.client.clone());
                    Arc::new(
                        api.get_opt(&reference.name)
                            .await
                            .map_err(Error::kube(format!(
                                "get clustersecretstore {}",
                                reference.name
                            )))?
                            .ok_or_else(not_found)?,
                    )
                }
            };
            let spec = store.spec.store.clone();
            if !namespace_allowed(ctx, &spec.conditions, namespace).await? {
                return Err(Error::StoreNotAllowed {
                    name: reference.name.clone(),
                    namespace: namespace.to_owned(),
                });
            }
            ResolvedStore {
                kind,
                name: reference.name.clone(),
                namespace: None,
                spec,
                resource_version: store.resource_version().unwrap_or_default(),
            }
        }
    };
    if let Some(class) = resolved.spec.controller.as_deref()
        && !class.is_empty()
        && class != ctx.config.controller_class
    {
        return Err(Error::OtherController {
            name: resolved.name.clone(),
            class: class.to_owned(),
        });
    }
    if !resolved.spec.unsupported.is_empty() {
        return Err(Error::UnsupportedFields {
            object: format!("{} {:?}", resolved.kind, resolved.name),
            fields: resolved.spec.unsupported.list(),
        });
    }
    Ok(resolved)
}

/// Whether a ClusterSecretStore's `conditions` admit `namespace` (external-secrets
/// `pkg/controllers/secretstore/client_manager.go` `shouldProcessSecret`). The namespace's
/// labels are read only when a condition has a selector.
async fn namespace_allowed(
    ctx: &Context,
    conditions: &[ClusterSecretStoreCondition],
    namespace: &str,
) -> Result<bool, Error> {
    let labels = if conditions.iter().any(|c| c.namespace_selector.is_some()) {
        let api: Api<Namespace> = Api::all(ctx.client.clone());
        let ns = api
            .get_opt(namespace)
            .await
            .map_err(Error::kube(format!("get namespace {namespace}")))?;
        ns.and_then(|n| n.metadata.labels).unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    conditions_admit(conditions, namespace, &labels)
}

/// ESO's rule: no conditions admit every namespace; otherwise a namespace is admitted by any
/// condition whose `namespaceSelector` matches its labels, whose `namespaces` list its name, or
/// one of whose `namespaceRegexes` matches its name. A condition with none of them admits
/// nothing (`conditions: [{}]` admits no namespace). Regexes match anywhere in the name, as Go's
/// `regexp.MatchString`: users anchor them (`^team-a-.*$`). ESO matches listed names through the
/// `kubernetes.io/metadata.name` label the API server puts on every namespace; comparing the
/// name is the same test.
pub fn conditions_admit(
    conditions: &[ClusterSecretStoreCondition],
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Result<bool, Error> {
    if conditions.is_empty() {
        return Ok(true);
    }
    for c in conditions {
        if let Some(selector) = &c.namespace_selector
            && selector_matches(selector, labels)?
        {
            return Ok(true);
        }
        if c.namespaces.iter().any(|n| n == namespace) {
            return Ok(true);
        }
        for r in &c.namespace_regexes {
            let re = regex::Regex::new(r).map_err(|_| {
                Error::Spec(format!(
                    "clustersecretstore namespaceRegexes {r:?} is invalid"
                ))
            })?;
            if re.is_match(namespace) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Whether `labels` satisfy a label selector (Kubernetes' `LabelSelectorAsSelector`: an empty
/// selector matches everything; a malformed requirement is an error).
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, Error> {
    let invalid = |what: String| Error::Spec(format!("invalid namespaceSelector: {what}"));
    let mut all = selector
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    for e in &selector.match_expressions {
        let v = labels.get(&e.key);
        let ok = match e.operator.as_str() {
            "In" | "NotIn" if e.values.is_empty() => {
                return Err(invalid(format!(
                    "operator {} on {:?} needs values",
                    e.operator, e.key
                )));
            }
            "Exists" | "DoesNotExist" if !e.values.is_empty() => {
                return Err(invalid(format!(
                    "operator {} on {:?} takes no values",
                    e.operator, e.key
                )));
            }
            "In" => v.is_some_and(|v| e.values.contains(v)),
            "NotIn" => v.is_none_or(|v| !e.values.contains(v)),
            "Exists" => v.is_some(),
            "DoesNotExist" => v.is_none(),
            other => return Err(invalid(format!("unknown operator {other:?}"))),
        };
        all &= ok;
    }
    Ok(all)
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    kind: StoreKind,
    namespace: String,
    name: String,
    version: String,
    es_namespace: String,
}

/// Connected clients, reused for [`ClientCache::TTL`] so a Vault login is not repeated on every
/// refresh (external-secrets#4032); dropped early when a call is denied or fails.
#[derive(Default)]
pub struct ClientCache {
    clients: Mutex<HashMap<CacheKey, CachedClient>>,
    limits: Mutex<HashMap<StoreId, Arc<tokio::sync::Mutex<Bucket>>>>,
}

/// A connected client and when it connected.
type CachedClient = (Instant, Arc<dyn SecretsClient>);

/// A store by kind, namespace and name.
type StoreId = (StoreKind, String, String);

impl ClientCache {
    /// How long a connected client (and the credentials it read) is reused.
    pub const TTL: Duration = Duration::from_secs(60);

    /// The client of `store` for an ExternalSecret in `es_namespace`, connecting when needed.
    pub async fn client(
        &self,
        ctx: &Context,
        store: &ResolvedStore,
        es_namespace: &str,
    ) -> Result<Arc<dyn SecretsClient>, ProviderError> {
        let key = store.cache_key(es_namespace);
        {
            let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, c)) = clients.get(&key)
                && at.elapsed() < Self::TTL
            {
                return Ok(c.clone());
            }
        }
        let access = access_for(ctx, store, es_namespace);
        let client = providers::connect(&store.spec.provider, &access).await?;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain(|k, (at, _)| {
            at.elapsed() < Self::TTL
                && !(k.kind == key.kind
                    && k.namespace == key.namespace
                    && k.name == key.name
                    && k.version != key.version)
        });
        clients.insert(key, (Instant::now(), client.clone()));
        Ok(client)
    }

    /// Forgets the client of `store` (after a denied or failed call).
    pub fn invalidate(&self, store: &ResolvedStore, es_namespace: &str) {
        let key = store.cache_key(es_namespace);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.remove(&key);
    }

    /// Waits for a token of the store's rate limit (`--external-secrets-store-qps`, burst twice
    /// that).
    pub async fn throttle(&self, store: &ResolvedStore, qps: f64) {
        if qps <= 0.0 {
            return;
        }
        let bucket = {
            let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
            limits
                .entry(store.limit_key())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Bucket::new(qps))))
                .clone()
        };
        let wait = bucket.lock().await.take();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// A token bucket that hands out reservations: each call takes a token now or reserves the next
/// one and says how long to wait for it.
struct Bucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(qps: f64) -> Self {
        let burst = (qps * 2.0).max(1.0);
        Self {
            qps,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> Duration {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.qps).min(self.burst);
        self.at = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.qps)
        }
    }
}

/// How a store reads its credentials for an ExternalSecret in `es_namespace` (empty: the store
/// reconciler, which has no ExternalSecret).
pub fn access_for(ctx: &Context, store: &ResolvedStore, es_namespace: &str) -> StoreAccess {
    StoreAccess {
        client: ctx.client.clone(),
        http: ctx.http.clone(),
        kind: store.kind,
        store_namespace: store.namespace.clone(),
        es_namespace: es_namespace.to_owned(),
        settings: ctx.config.providers.clone(),
    }
}

/// `Ready` of a store after a provider check: reason `Valid`, `ValidationUnknown`,
/// `InvalidProviderConfig` or `ValidationFailed`.
pub async fn check(ctx: &Context, store: &ResolvedStore) -> Condition {
    if !store.spec.unsupported.is_empty() {
        return Condition {
            type_: "Ready".into(),
            status: "False".into(),
            reason: Some("InvalidProviderConfig".into()),
            message: Some(format!(
                "fields not supported by sealkit: {}",
                store.spec.unsupported.list()
            )),
            last_transition_time: None,
        };
    }
    let access = access_for(ctx, store, "");
    let (status, reason, message) = match providers::connect(&store.spec.provider, &access).await {
        Err(ProviderError::Referent) => {
            // Credentials relative to each ExternalSecret's namespace cannot be checked alone.
            (
                "True",
                "ValidationUnknown",
                "store credentials depend on the namespace of each ExternalSecret".to_owned(),
            )
        }
        Err(
            e @ (ProviderError::Unsupported(_)
            | ProviderError::Config(_)
            | ProviderError::Credentials { .. }
            | ProviderError::ServiceAccountToken { .. }
            | ProviderError::NotServed { .. }
            | ProviderError::LinkLocal { .. }),
        ) => ("False", "InvalidProviderConfig", chain(&e)),
        Err(e) => ("False", "ValidationFailed", chain(&e)),
        Ok(client) => match client.validate().await {
            Ok(Validation::Ready) => ("True", "Valid", "store validated".to_owned()),
            Ok(Validation::Unknown) => (
                "True",
                "ValidationUnknown",
                "store validation is unknown".to_owned(),
            ),
            Err(e) => ("False", "ValidationFailed", chain(&e)),
        },
    };
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: None,
    }
}

/// Store `refreshInterval`: int seconds or Go duration; 5 minutes when unset or 0.
pub fn store_refresh_interval(spec: &SecretStoreSpec) -> Duration {
    let parsed = match &spec.refresh_interval {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(Duration::from_secs),
        Some(serde_json::Value::String(s)) => parse_go_duration(s).ok(),
        _ => None,
    };
    parsed
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(300))
}

async fn write_store_status<K>(
    api: Api<K>,
    name: &str,
    current: Option<&SecretStoreStatus>,
    mut ready: Condition,
) -> Result<(), Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let previous = current.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    ready.last_transition_time = match previous {
        Some(p) if p.status == ready.status => p.last_transition_time.clone(),
        _ => Some(now_rfc3339()),
    };
    let next = SecretStoreStatus {
        conditions: vec![ready],
        capabilities: Some("ReadOnly".into()),
    };
    if current == Some(&next) {
        return Ok(());
    }
    let patch = serde_json::json!({ "status": next });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!("update status of store {name}")))?;
    Ok(())
}

/// Reconciles a SecretStore: validates it and writes `Ready`.
pub async fn reconcile_store(store: Arc<SecretStore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = store.name_any();
    let namespace = store
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    if store
        .spec
        .controller
        .as_deref()
        .is_some_and(|c| !c.is_empty() && c != ctx.config.controller_class)
    {
        return Ok(Action::await_change());
    }
    let resolved = ResolvedStore {
        kind: StoreKind::SecretStore,
        name: name.clone(),
        namespace: Some(namespace.clone()),
        spec: store.spec.clone(),
        resource_version: store.resource_version().unwrap_or_default(),
    };
    let ready = check(&ctx, &resolved).await;
    publish_store_event(&ctx, store.object_ref(&()), &ready).await;
    let api: Api<SecretStore> = Api::namespaced(ctx.client.clone(), &namespace);
    write_store_status(api, &name, store.status.as_ref(), ready).await?;
    Ok(Action::requeue(store_refresh_interval(&store.spec)))
}

/// Reconciles a ClusterSecretStore: validates it and writes `Ready`.
pub async fn reconcile_cluster_store(
    store: Arc<ClusterSecretStore>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let name = store.name_any();
    if store
        .spec
        .store
        .controller
        .as_deref()
        .is_some_and(|c| !c.is_empty() && c != ctx.config.controller_class)
    {
        return Ok(Action::await_change());
    }
    let resolved = ResolvedStore {
        kind: StoreKind::ClusterSecretStore,
        name: name.clone(),
        namespace: None,
        spec: store.spec.store.clone(),
        resource_version: store.resource_version().unwrap_or_default(),
    };
    let ready = check(&ctx, &resolved).await;
    publish_store_event(&ctx, store.object_ref(&()), &ready).await;
    let api: Api<ClusterSecretStore> = Api::all(ctx.client.clone());
    write_store_status(api, &name, store.status.as_ref(), ready).await?;
    Ok(Action::requeue(store_refresh_interval(&store.spec.store)))
}

async fn publish_store_event(
    ctx: &Context,
    reference: k8s_openapi::api::core::v1::ObjectReference,
    ready: &Condition,
) {
    if ready.status == "True" {
        return;
    }
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: ready.reason.clone().unwrap_or_default(),
        note: ready.message.clone(),
        action: "Validate".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &reference).await {
        tracing::debug!(error = %error, "could not publish event");
    }
}

/// Store reconcile errors: retried with the store backoff.
pub fn store_error_policy<K>(_: Arc<K>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(error = %error.chain(), "store reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::externalsecrets::crd::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sel(pairs: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector {
            match_labels: labels(pairs),
            match_expressions: exprs,
        }
    }

    fn req(op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: "team".into(),
            operator: op.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn label_selectors_match_labels_and_expressions() {
        let l = labels(&[("team", "a")]);
        assert!(selector_matches(&sel(&[("team", "a")], vec![]), &l).unwrap());
        assert!(!selector_matches(&sel(&[("team", "b")], vec![]), &l).unwrap());
        assert!(selector_matches(&sel(&[], vec![req("In", &["a", "b"])]), &l).unwrap());
        assert!(!selector_matches(&sel(&[], vec![req("NotIn", &["a"])]), &l).unwrap());
        assert!(selector_matches(&sel(&[], vec![req("Exists", &[])]), &l).unwrap());
        assert!(!selector_matches(&sel(&[], vec![req("DoesNotExist", &[])]), &l).unwrap());
        // Kubernetes: an empty selector selects everything.
        assert!(selector_matches(&sel(&[], vec![]), &BTreeMap::new()).unwrap());
    }

    #[test]
    fn malformed_selectors_are_errors_not_matches() {
        let l = labels(&[("team", "a")]);
        assert!(selector_matches(&sel(&[], vec![req("In", &[])]), &l).is_err());
        assert!(selector_matches(&sel(&[], vec![req("Exists", &["a"])]), &l).is_err());
        assert!(selector_matches(&sel(&[], vec![req("Equals", &["a"])]), &l).is_err());
    }

    fn cond(
        selector: Option<LabelSelector>,
        names: &[&str],
        regexes: &[&str],
    ) -> ClusterSecretStoreCondition {
        ClusterSecretStoreCondition {
            namespace_selector: selector,
            namespaces: names.iter().map(|n| (*n).to_owned()).collect(),
            namespace_regexes: regexes.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn an_empty_condition_admits_no_namespace() {
        // issue 13: `conditions: [{}]` admitted every namespace.
        let none = BTreeMap::new();
        assert!(!conditions_admit(&[cond(None, &[], &[])], "attacker", &none).unwrap());
        assert!(
            !conditions_admit(&[cond(None, &[], &[]), cond(None, &[], &[])], "apps", &none)
                .unwrap()
        );
        // No conditions at all: every namespace, as ESO.
        assert!(conditions_admit(&[], "attacker", &none).unwrap());
    }

    #[test]
    fn any_part_of_any_condition_admits() {
        let team_a = labels(&[("team", "a")]);
        let other = labels(&[("team", "b")]);
        // Within one condition the parts are alternatives, as in ESO.
        let c = [cond(
            Some(sel(&[("team", "a")], vec![])),
            &["billing"],
            &["^ops-"],
        )];
        assert!(conditions_admit(&c, "x", &team_a).unwrap());
        assert!(conditions_admit(&c, "billing", &other).unwrap());
        assert!(conditions_admit(&c, "ops-1", &other).unwrap());
        assert!(!conditions_admit(&c, "x", &other).unwrap());
        // Across conditions too.
        let c = [cond(None, &["a"], &[]), cond(None, &["b"], &[])];
        assert!(conditions_admit(&c, "b", &other).unwrap());
        assert!(!conditions_admit(&c, "c", &other).unwrap());
    }

    #[test]
    fn namespace_regexes_match_anywhere_like_go_match_string() {
        let none = BTreeMap::new();
        let c = [cond(None, &[], &["team-a"])];
        assert!(conditions_admit(&c, "team-a", &none).unwrap());
        // Unanchored: a substring match admits (Go's regexp.MatchString).
        assert!(conditions_admit(&c, "not-team-a-really", &none).unwrap());
        let anchored = [cond(None, &[], &["^team-a$"])];
        assert!(!conditions_admit(&anchored, "not-team-a-really", &none).unwrap());
        assert!(conditions_admit(&[cond(None, &[], &["("])], "x", &none).is_err());
    }

    #[test]
    fn an_empty_selector_admits_every_namespace_as_in_kubernetes() {
        let c = [cond(Some(sel(&[], vec![])), &[], &[])];
        assert!(conditions_admit(&c, "anything", &BTreeMap::new()).unwrap());
    }

    #[test]
    fn store_refresh_interval_takes_seconds_or_durations_and_defaults_to_five_minutes() {
        let spec = |v: Option<serde_json::Value>| SecretStoreSpec {
            refresh_interval: v,
            ..Default::default()
        };
        assert_eq!(
            store_refresh_interval(&spec(Some(serde_json::json!(30)))),
            Duration::from_secs(30)
        );
        assert_eq!(
            store_refresh_interval(&spec(Some(serde_json::json!("2m")))),
            Duration::from_secs(120)
        );
        assert_eq!(
            store_refresh_interval(&spec(None)),
            Duration::from_secs(300)
        );
        assert_eq!(
            store_refresh_interval(&spec(Some(serde_json::json!(0)))),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn the_bucket_lets_a_burst_through_then_spaces_calls() {
        let mut b = Bucket::new(10.0);
        for _ in 0..20 {
            assert!(b.take().is_zero());
        }
        let wait = b.take();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(101),
            "{wait:?}"
        );
    }
}
