//! One ExternalSecret → its Secret (external-secrets
//! `pkg/controllers/externalsecret/externalsecret_controller.go`).
//!
//! A reconcile fetches only when a refresh is due (never synced, spec/labels/annotations changed,
//! `refreshInterval` elapsed) or the Secret is not what was written (deleted, edited: its data no
//! longer matches the `data-hash` annotation). The Secret is written only when it would change. A
//! provider error marks `Ready=False` (`SecretSyncedError`) and leaves the Secret untouched; a
//! remote secret that does not exist is an error under `deletionPolicy: Retain` and skipped
//! under `Delete`/`Merge`, never an empty value.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource as _, ResourceExt as _};
use rand::Rng as _;
use sealer::secret::SecretBytes;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tracing::{Span, field, info, instrument, warn};

use super::Context;
use super::crd::{
    Binding, Condition, ConversionStrategy, CreationPolicy, DecodingStrategy, DeletionPolicy,
    ExternalSecret, ExternalSecretStatus, NullBytePolicy, RefreshPolicy, SecretStoreRef,
    StoreSourceRef, TemplateMergePolicy,
};
use super::error::Error;
use super::providers::{ProviderError, SecretMap};
use super::stores::{self, ResolvedStore};
use super::template;
use crate::keyring::store::scrub;
use crate::sealedsecrets::status::now_rfc3339;

/// Label on every Secret the bridge writes.
pub const LABEL_MANAGED: &str = "reconcile.external-secrets.io/managed";
/// Annotation holding the hash of the data the bridge wrote.
pub const ANNOTATION_DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";
/// ESO's refresh interval when `refreshInterval` is unset.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);

/// The last successful sync of an ExternalSecret, remembered in memory so a reconcile that runs
/// before the status write is seen does not fetch again.
#[derive(Clone, Debug)]
pub struct LastSync {
    /// When.
    pub at: OffsetDateTime,
    /// The `syncedResourceVersion` it was made for.
    pub synced_resource_version: String,
    /// The delay to the next refresh chosen then; `None` when only the status says when the last
    /// sync was (after a restart): the refresh is then due at the interval, minus the jitter.
    pub due_after: Option<Duration>,
}

/// What a successful reconcile did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Values fetched and the Secret (re)written.
    Written,
    /// Values fetched; the Secret was already right.
    Unchanged,
    /// Values fetched; creationPolicy None or Merge without a target: nothing written.
    NotWritten,
    /// deletionPolicy Delete and nothing upstream: Secret deleted.
    Deleted,
    /// deletionPolicy Retain and nothing upstream: Secret kept.
    Retained,
}

/// Reconciles one ExternalSecret.
#[instrument(skip(es, ctx), fields(namespace = field::Empty, name = field::Empty))]
pub async fn reconcile(es: Arc<ExternalSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = es
        .metadata
        .name
        .clone()
        .ok_or(Error::MissingObjectKey("metadata.name"))?;
    let namespace = es
        .metadata
        .namespace
        .clone()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    Span::current().record("namespace", namespace.as_str());
    Span::current().record("name", name.as_str());
    let uid = es.metadata.uid.clone().unwrap_or_default();
    if es.metadata.deletion_timestamp.is_some() {
        ctx.forget(&uid);
        return Ok(Action::await_change());
    }
    let interval = refresh_interval(&es)?;
    let synced_rv = synced_resource_version(&es);
    let target = target_name(&es);
    let now = OffsetDateTime::now_utc();

    let last = ctx.last_sync(&uid).or_else(|| {
        let status = es.status.as_ref()?;
        let at = OffsetDateTime::parse(
            status.refresh_time.as_deref()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?;
        Some(LastSync {
            at,
            synced_resource_version: status.synced_resource_version.clone().unwrap_or_default(),
            due_after: None,
        })
    });
    let due = refresh_due(&es, interval, last.as_ref(), &synced_rv, now);
    let valid = secret_valid(&es, &ctx, &namespace, &target);
    if due.is_none() && valid {
        ctx.metrics.skipped.inc();
        return Ok(next_refresh(&es, interval, last.as_ref(), now));
    }
    if let Some(Due::Periodic(lag)) = due {
        ctx.metrics.refresh_lag.observe(lag.as_secs_f64());
    }

    let store_ref = es.spec.secret_store_ref.clone().unwrap_or_default();
    let mut provider = "unknown";
    let result = sync(
        &es,
        &ctx,
        &namespace,
        &name,
        &target,
        &store_ref,
        &mut provider,
    )
    .await;
    let labels = super::metrics::SyncLabels {
        provider: provider.to_owned(),
    };
    ctx.metrics.sync_calls.get_or_create(&labels).inc();
    match result {
        Ok(outcome) => {
            ctx.clear_failures(&uid);
            let (reason, message) = match outcome {
                Outcome::Deleted => (
                    "SecretDeleted",
                    "secret deleted due to DeletionPolicy=Delete",
                ),
                Outcome::Retained => (
                    "SecretSynced",
                    "secret retained due to DeletionPolicy=Retain",
                ),
                Outcome::NotWritten if target_policy(&es).0 == CreationPolicy::Merge => (
                    "SecretMissing",
                    "secret will not be created due to CreationPolicy=Merge",
                ),
                _ => ("SecretSynced", "secret synced"),
            };
            if outcome == Outcome::Written {
                info!(%namespace, %name, secret = %target, "secret synced");
            }
            let refreshed = OffsetDateTime::now_utc();
            let status = ExternalSecretStatus {
                refresh_time: Some(now_rfc3339()),
                synced_resource_version: Some(synced_rv.clone()),
                conditions: vec![ready(es.status.as_ref(), "True", reason, message.into())],
                binding: Some(Binding {
                    name: target.clone(),
                }),
            };
            write_status(&ctx, &namespace, &name, &status).await?;
            let next = next_refresh_after(&es, interval, matches!(due, Some(Due::Changed)));
            ctx.remember(
                &uid,
                LastSync {
                    at: refreshed,
                    synced_resource_version: synced_rv,
                    due_after: next,
                },
            );
            Ok(next.map_or_else(Action::await_change, Action::requeue))
        }
        Err(e) => {
            ctx.metrics
                .sync_errors
                .get_or_create(&super::metrics::ErrorLabels {
                    provider: provider.to_owned(),
                    reason: e.metric_label().to_owned(),
                })
                .inc();
            if e.is_conflict() {
                return Ok(Action::requeue(Duration::from_millis(100)));
            }
            let message = e.chain();
            warn!(%namespace, %name, error = %message, "externalsecret sync failed");
            publish(
                &ctx,
                &es,
                EventType::Warning,
                "UpdateFailed",
                message.clone(),
            )
            .await;
            let mut status = es.status.clone().unwrap_or_default();
            status.conditions = vec![ready(
                es.status.as_ref(),
                "False",
                "SecretSyncedError",
                message,
            )];
            if es.status.as_ref() != Some(&status) {
                write_status(&ctx, &namespace, &name, &status).await?;
            }
            Err(e)
        }
    }
}

/// Why a fetch is due.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Due {
    /// Never synced, or the spec/labels/annotations changed.
    Changed,
    /// The refresh interval elapsed this long ago.
    Periodic(Duration),
}

fn refresh_due(
    es: &ExternalSecret,
    interval: Duration,
    last: Option<&LastSync>,
    synced_rv: &str,
    now: OffsetDateTime,
) -> Option<Due> {
    let Some(last) = last else {
        return Some(Due::Changed);
    };
    let changed = last.synced_resource_version != synced_rv;
    match es.spec.refresh_policy {
        Some(RefreshPolicy::CreatedOnce) => None,
        Some(RefreshPolicy::OnChange) => changed.then_some(Due::Changed),
        Some(RefreshPolicy::Periodic) | None => {
            if changed {
                return Some(Due::Changed);
            }
            if interval.is_zero() {
                return None;
            }
            if last.at > now {
                return Some(Due::Changed);
            }
            let elapsed: Duration = (now - last.at).try_into().unwrap_or_default();
            // Reconciles are scheduled with jitter below the interval: fetch when the planned
            // delay is over, or up to 10% early when the plan is not known.
            let due_after = last.due_after.unwrap_or(interval - interval / 10);
            (elapsed >= due_after.min(interval))
                .then(|| Due::Periodic(elapsed.saturating_sub(interval)))
        }
    }
}

/// Requeue for the next refresh, `interval` minus up to 10% jitter so ExternalSecrets created
/// together spread out; staleness then stays within `refreshInterval`. After a first sync (or a
/// spec change) the next refresh comes anywhere in the second half of the interval: objects
/// created together (a `kubectl apply` of many, a controller start) would otherwise refresh
/// in bursts that queue behind each other for many cycles. `None`: no periodic refresh.
fn next_refresh_after(es: &ExternalSecret, interval: Duration, first: bool) -> Option<Duration> {
    match es.spec.refresh_policy {
        Some(RefreshPolicy::CreatedOnce | RefreshPolicy::OnChange) => None,
        _ if interval.is_zero() => None,
        _ if first => Some(interval.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))),
        _ => Some(jittered(interval)),
    }
}

fn next_refresh(
    es: &ExternalSecret,
    interval: Duration,
    last: Option<&LastSync>,
    now: OffsetDateTime,
) -> Action {
    match (es.spec.refresh_policy, last) {
        (Some(RefreshPolicy::CreatedOnce | RefreshPolicy::OnChange), _) => Action::await_change(),
        _ if interval.is_zero() => Action::await_change(),
        (_, Some(last)) => {
            let elapsed: Duration = (now - last.at).try_into().unwrap_or_default();
            let remaining = match last.due_after {
                Some(planned) => planned.min(interval).saturating_sub(elapsed),
                None => jittered(interval.saturating_sub(elapsed)),
            };
            Action::requeue(remaining.max(Duration::from_millis(50)))
        }
        (_, None) => Action::requeue(jittered(interval)),
    }
}

fn jittered(d: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.9..=1.0);
    d.mul_f64(factor)
}

/// `spec.refreshInterval` (1h when unset).
pub fn refresh_interval(es: &ExternalSecret) -> Result<Duration, Error> {
    match es.spec.refresh_interval.as_deref() {
        None | Some("") => Ok(DEFAULT_REFRESH_INTERVAL),
        Some(s) => crate::args::parse_go_duration(s)
            .map_err(|e| Error::Spec(format!("refreshInterval {s:?}: {e}"))),
    }
}

/// `"<generation>-<sha256 of labels and annotations>"`: a change of either forces a refresh,
/// as in ESO (this is how `kubectl annotate es x force-sync=$(date +%s)` works).
pub fn synced_resource_version(es: &ExternalSecret) -> String {
    let mut h = Sha256::new();
    for (k, v) in es.metadata.labels.iter().flatten() {
        h.update(format!("l:{}:{k}={}:{v}\n", k.len(), v.len()));
    }
    for (k, v) in es.metadata.annotations.iter().flatten() {
        h.update(format!("a:{}:{k}={}:{v}\n", k.len(), v.len()));
    }
    format!(
        "{}-{}",
        es.metadata.generation.unwrap_or_default(),
        &hex::encode(h.finalize())[..56]
    )
}

/// The Secret's name: `target.name`, else the ExternalSecret's.
pub fn target_name(es: &ExternalSecret) -> String {
    es.spec
        .target
        .as_ref()
        .and_then(|t| t.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| es.name_any())
}

fn target_policy(es: &ExternalSecret) -> (CreationPolicy, DeletionPolicy) {
    let t = es.spec.target.as_ref();
    (
        t.and_then(|t| t.creation_policy).unwrap_or_default(),
        t.and_then(|t| t.deletion_policy).unwrap_or_default(),
    )
}

/// The field manager of an ExternalSecret's writes, ESO's `externalsecrets.external-secrets.io/<name>`.
pub fn field_manager(es_name: &str) -> String {
    let manager = format!("externalsecrets.external-secrets.io/{es_name}");
    if manager.len() <= 128 {
        manager
    } else {
        format!(
            "externalsecrets.external-secrets.io/{}",
            &hex::encode(Sha256::digest(es_name.as_bytes()))[..56]
        )
    }
}

/// Hash of Secret data (sorted keys, length-prefixed), for the `data-hash` annotation.
pub fn data_hash(data: &BTreeMap<String, k8s_openapi::ByteString>) -> String {
    let mut h = Sha256::new();
    for (k, v) in data {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.0.len() as u64).to_be_bytes());
        h.update(&v.0);
    }
    hex::encode(h.finalize())[..56].to_owned()
}

/// ESO's `isSecretValid`: `Orphan` and `None` never force a refresh; otherwise the Secret must
/// exist, carry the managed label and hold the data it was written with.
fn secret_valid(es: &ExternalSecret, ctx: &Context, namespace: &str, target: &str) -> bool {
    match target_policy(es).0 {
        CreationPolicy::Orphan | CreationPolicy::None => return true,
        _ => {}
    }
    let Some(secret) = ctx
        .secrets
        .get(&ObjectRef::<Secret>::new(target).within(namespace))
    else {
        return false;
    };
    let hash = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_DATA_HASH));
    hash.is_some_and(|h| *h == data_hash(secret.data.as_ref().unwrap_or(&BTreeMap::new())))
}

#[allow(clippy::too_many_arguments)]
async fn sync(
    es: &ExternalSecret,
    ctx: &Context,
    namespace: &str,
    name: &str,
    target: &str,
    store_ref: &SecretStoreRef,
    provider: &mut &'static str,
) -> Result<Outcome, Error> {
    let (creation, deletion) = target_policy(es);
    if es.spec.data.is_empty() && es.spec.data_from.is_empty() {
        return Err(Error::Spec("spec.data or spec.dataFrom is required".into()));
    }
    if deletion == DeletionPolicy::Delete && creation != CreationPolicy::Owner {
        return Err(Error::DeleteNotOwner {
            name: target.to_owned(),
            policy: format!("{creation:?}"),
        });
    }
    let default_store = if store_ref.name.is_empty() {
        None
    } else {
        let s = stores::resolve(ctx, store_ref, namespace).await?;
        *provider = super::providers::provider_name(&s.spec.provider).unwrap_or("unknown");
        Some(s)
    };
    let values = fetch(es, ctx, namespace, default_store.as_ref(), deletion).await?;

    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut existing = api
        .get_opt(target)
        .await
        .map_err(Error::kube(format!("get secret {namespace}/{target}")))?;
    let result = write(
        es,
        ctx,
        &api,
        existing.as_ref(),
        values,
        name,
        target,
        creation,
        deletion,
    )
    .await;
    if let Some(s) = existing.as_mut() {
        scrub(s);
    }
    result
}

/// Fetches every `dataFrom` and `data` entry, in ESO's order (dataFrom first, merged in order,
/// then data).
async fn fetch(
    es: &ExternalSecret,
    ctx: &Context,
    namespace: &str,
    default_store: Option<&ResolvedStore>,
    deletion: DeletionPolicy,
) -> Result<SecretMap, Error> {
    let mut out = SecretMap::new();
    let store_for = async |source: Option<&StoreSourceRef>| -> Result<ResolvedStore, Error> {
        if let Some(src) = source {
            if src.generator_ref.is_some() {
                return Err(Error::Spec(
                    "generators (sourceRef.generatorRef) are not supported by sealkit".into(),
                ));
            }
            if let Some(r) = &src.store_ref {
                return stores::resolve(ctx, r, namespace).await;
            }
        }
        default_store
            .cloned()
            .ok_or_else(|| Error::Spec("spec.secretStoreRef is required".into()))
    };
    for (i, from) in es.spec.data_from.iter().enumerate() {
        let store = store_for(from.source_ref.as_ref()).await?;
        let fetched = match (&from.extract, &from.find) {
            (Some(extract), None) => {
                let r = call(ctx, &store, namespace, |c| {
                    async move { c.get_secret_map(extract).await }.boxed()
                })
                .await;
                let r = missing_ok(r, deletion, ctx, es, &extract.key).await?;
                let Some(map) = r else { continue };
                let strategy = (
                    extract.conversion_strategy,
                    extract.decoding_strategy,
                    extract.null_byte_policy,
                );
                shape(map, &from.rewrite, strategy, i)?
            }
            (None, Some(find)) => {
                let map = call(ctx, &store, namespace, |c| {
                    async move { c.get_all_secrets(find).await }.boxed()
                })
                .await?;
                let strategy = (
                    find.conversion_strategy,
                    find.decoding_strategy,
                    find.null_byte_policy,
                );
                shape(map, &from.rewrite, strategy, i)?
            }
            _ => {
                return Err(Error::Spec(format!(
                    "dataFrom[{i}] must set exactly one of extract or find"
                )));
            }
        };
        out.extend(fetched);
    }
    for (i, d) in es.spec.data.iter().enumerate() {
        if !valid_key(&d.secret_key) {
            return Err(Error::Spec(format!(
                "data[{i}].secretKey {:?} is not a valid Secret key",
                d.secret_key
            )));
        }
        let store = store_for(d.source_ref.as_ref()).await?;
        let r = call(ctx, &store, namespace, |c| {
            async move { c.get_secret(&d.remote_ref).await }.boxed()
        })
        .await;
        let Some(value) = missing_ok(r, deletion, ctx, es, &d.remote_ref.key).await? else {
            continue;
        };
        let value = decode(value, d.remote_ref.decoding_strategy, &d.secret_key)?;
        check_nul(&value, d.remote_ref.null_byte_policy, &d.secret_key)?;
        out.insert(d.secret_key.clone(), value);
    }
    Ok(out)
}

/// One provider call through the store's client, rate limit and metrics; a failing client is
/// forgotten so the next try logs in again.
async fn call<'f, T, F>(
    ctx: &Context,
    store: &ResolvedStore,
    es_namespace: &str,
    f: F,
) -> Result<T, Error>
where
    F: FnOnce(
        Arc<dyn super::providers::SecretsClient>,
    ) -> futures::future::BoxFuture<'f, Result<T, ProviderError>>,
{
    let provider = super::providers::provider_name(&store.spec.provider).unwrap_or("unknown");
    let wrap = |source| Error::Provider { provider, source };
    let client = ctx
        .clients
        .client(ctx, store, es_namespace)
        .await
        .map_err(wrap)?;
    ctx.clients.throttle(store, ctx.config.store_qps).await;
    ctx.metrics
        .provider_calls
        .get_or_create(&super::metrics::SyncLabels {
            provider: provider.to_owned(),
        })
        .inc();
    let r = f(client).await;
    if let Err(e) = &r
        && e.invalidates_client()
    {
        ctx.clients.invalidate(store, es_namespace);
    }
    r.map_err(wrap)
}

/// A missing remote secret: an error under `Retain`, skipped (with an event) otherwise.
async fn missing_ok<T>(
    r: Result<T, Error>,
    deletion: DeletionPolicy,
    ctx: &Context,
    es: &ExternalSecret,
    key: &str,
) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::Provider {
            source: ProviderError::NotFound { .. },
            ..
        }) if deletion != DeletionPolicy::Retain => {
            publish(
                ctx,
                es,
                EventType::Normal,
                "MissingProviderSecret",
                format!("secret {key:?} does not exist at the provider"),
            )
            .await;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Rewrites, converts keys, decodes values of one `dataFrom` result.
fn shape(
    map: SecretMap,
    rewrites: &[super::crd::ExternalSecretRewrite],
    (conversion, decoding, nul): (
        Option<ConversionStrategy>,
        Option<DecodingStrategy>,
        Option<NullBytePolicy>,
    ),
    index: usize,
) -> Result<SecretMap, Error> {
    let mut out = SecretMap::new();
    for (key, value) in map {
        let mut key = key;
        for (j, rw) in rewrites.iter().enumerate() {
            key = match (&rw.regexp, &rw.transform, &rw.merge) {
                (Some(re), None, None) => {
                    let regex = regex::Regex::new(&re.source).map_err(|_| {
                        Error::Spec(format!(
                            "dataFrom[{index}].rewrite[{j}].regexp.source is invalid"
                        ))
                    })?;
                    regex.replace_all(&key, re.target.as_str()).into_owned()
                }
                (None, Some(t), None) => template::rewrite_key(&t.template, &key)?,
                (None, None, Some(_)) => {
                    return Err(Error::Spec(
                        "dataFrom[].rewrite[].merge is not supported by sealkit".into(),
                    ));
                }
                _ => {
                    return Err(Error::Spec(format!(
                        "dataFrom[{index}].rewrite[{j}] must set exactly one operation"
                    )));
                }
            };
        }
        if rewrites.is_empty() {
            key = convert_key(&key, conversion.unwrap_or_default());
        }
        if !valid_key(&key) {
            return Err(Error::Spec(format!(
                "dataFrom[{index}] produced key {key:?}, which is not a valid Secret key"
            )));
        }
        let value = decode(value, decoding, &key)?;
        check_nul(&value, nul, &key)?;
        out.insert(key, value);
    }
    Ok(out)
}

/// A Secret data key: `[-._a-zA-Z0-9]+`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// ESO's key conversion: `Default` replaces each invalid character by `_`, `Unicode` by
/// `_U<4 hex digits>_`.
pub fn convert_key(key: &str, strategy: ConversionStrategy) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c.to_string()
            } else {
                match strategy {
                    ConversionStrategy::Default => "_".into(),
                    ConversionStrategy::Unicode => format!("_U{:04x}_", u32::from(c)),
                }
            }
        })
        .collect()
}

fn decode(
    value: SecretBytes,
    strategy: Option<DecodingStrategy>,
    key: &str,
) -> Result<SecretBytes, Error> {
    let text = || std::str::from_utf8(value.expose()).unwrap_or("");
    let fail = |what: &str| Error::Spec(format!("value of {key:?} is not {what}"));
    match strategy.unwrap_or_default() {
        DecodingStrategy::None => Ok(value),
        DecodingStrategy::Base64 => sealer::encoding::decode_std(text())
            .map(SecretBytes::new)
            .map_err(|_| fail("base64")),
        DecodingStrategy::Base64Url => sealer::encoding::decode_url_safe(text())
            .map(SecretBytes::new)
            .map_err(|_| fail("base64url")),
        DecodingStrategy::Auto => Ok(sealer::encoding::decode_std(text())
            .or_else(|_| sealer::encoding::decode_url_safe(text()))
            .map(SecretBytes::new)
            .unwrap_or(value)),
    }
}

fn check_nul(value: &SecretBytes, policy: Option<NullBytePolicy>, key: &str) -> Result<(), Error> {
    if policy == Some(NullBytePolicy::Fail) && value.expose().contains(&0) {
        return Err(Error::Spec(format!(
            "value of {key:?} contains a NUL byte and nullBytePolicy is Fail"
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn write(
    es: &ExternalSecret,
    ctx: &Context,
    api: &Api<Secret>,
    existing: Option<&Secret>,
    values: SecretMap,
    es_name: &str,
    target: &str,
    creation: CreationPolicy,
    deletion: DeletionPolicy,
) -> Result<Outcome, Error> {
    if values.is_empty() {
        match deletion {
            DeletionPolicy::Delete => {
                if let Some(s) = existing
                    && owned_by(s, es)
                {
                    match api.delete(target, &DeleteParams::default()).await {
                        Ok(_) => {}
                        Err(e) if crate::error::is_not_found(&e) => {}
                        Err(e) => return Err(Error::kube(format!("delete secret {target}"))(e)),
                    }
                    publish(
                        ctx,
                        es,
                        EventType::Normal,
                        "Deleted",
                        "secret deleted due to DeletionPolicy=Delete".into(),
                    )
                    .await;
                }
                return Ok(Outcome::Deleted);
            }
            DeletionPolicy::Retain => return Ok(Outcome::Retained),
            DeletionPolicy::Merge => {}
        }
    }
    match creation {
        CreationPolicy::None => return Ok(Outcome::NotWritten),
        CreationPolicy::Merge if existing.is_none() => return Ok(Outcome::NotWritten),
        _ => {}
    }
    if let Some(s) = existing
        && let Some(owner) = foreign_controller(s, es)
    {
        return Err(Error::Owned {
            name: target.to_owned(),
            owner,
        });
    }
    let manager = field_manager(es_name);
    let mut desired = desired_secret(es, existing, values, target, creation, &manager)?;
    let params = PostParams {
        field_manager: Some(manager),
        ..Default::default()
    };
    let result = match existing {
        None => api
            .create(&params, &desired)
            .await
            .map(|mut s| scrub(&mut s))
            .map(|()| Outcome::Written)
            .map_err(Error::kube(format!("create secret {target}"))),
        Some(current) if same_secret(current, &desired) => Ok(Outcome::Unchanged),
        Some(current) => {
            if current.immutable == Some(true)
                && (current.data != desired.data || current.type_ != desired.type_)
            {
                Err(Error::Immutable {
                    name: target.to_owned(),
                })
            } else {
                api.replace(target, &params, &desired)
                    .await
                    .map(|mut s| scrub(&mut s))
                    .map(|()| Outcome::Written)
                    .map_err(Error::kube(format!("update secret {target}")))
            }
        }
    };
    scrub(&mut desired);
    if result.as_ref().is_ok_and(|o| *o == Outcome::Written) {
        let (reason, note) = if existing.is_none() {
            ("Created", "secret created")
        } else {
            ("Updated", "secret updated")
        };
        publish(ctx, es, EventType::Normal, reason, note.into()).await;
    }
    result
}

/// The Secret as it should be (ESO's `mutationFunc` + `ApplyTemplate`).
fn desired_secret(
    es: &ExternalSecret,
    existing: Option<&Secret>,
    values: SecretMap,
    target: &str,
    creation: CreationPolicy,
    manager: &str,
) -> Result<Secret, Error> {
    let mut secret = existing.cloned().unwrap_or_else(|| Secret {
        metadata: ObjectMeta {
            name: Some(target.to_owned()),
            namespace: es.namespace(),
            ..Default::default()
        },
        ..Default::default()
    });
    let managed = managed_keys(existing, manager);
    let data = secret.data.get_or_insert_with(BTreeMap::new);
    let labels = secret.metadata.labels.get_or_insert_with(BTreeMap::new);
    let annotations = secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    for k in &managed.data {
        data.remove(k);
    }
    for k in &managed.labels {
        labels.remove(k);
    }
    for k in &managed.annotations {
        annotations.remove(k);
    }
    if !matches!(
        creation,
        CreationPolicy::Merge | CreationPolicy::CreateOrMerge
    ) {
        data.clear();
    }
    let byte = |v: &SecretBytes| k8s_openapi::ByteString(v.expose().to_vec());
    let target_spec = es.spec.target.as_ref();
    match target_spec.and_then(|t| t.template.as_ref()) {
        None => {
            for (k, v) in &values {
                data.insert(k.clone(), byte(v));
            }
            for (k, v) in es.metadata.labels.iter().flatten() {
                labels.insert(k.clone(), v.clone());
            }
            for (k, v) in es.metadata.annotations.iter().flatten() {
                if k != "kubectl.kubernetes.io/last-applied-configuration" {
                    annotations.insert(k.clone(), v.clone());
                }
            }
        }
        Some(t) => {
            if let Some(ty) = t.type_.as_deref().filter(|t| !t.is_empty()) {
                secret.type_ = Some(ty.to_owned());
            }
            if let Some(meta) = &t.metadata
                && !meta.finalizers.is_empty()
            {
                let f = secret.metadata.finalizers.get_or_insert_with(Vec::new);
                for fin in &meta.finalizers {
                    if !f.contains(fin) {
                        f.push(fin.clone());
                    }
                }
            }
            if t.merge_policy == Some(TemplateMergePolicy::Merge) || t.data.is_empty() {
                for (k, v) in &values {
                    data.insert(k.clone(), byte(v));
                }
            }
            let rendered = template::render(t, &values)?;
            for (k, v) in &rendered.data {
                data.insert(k.clone(), byte(v));
            }
            labels.extend(rendered.labels);
            annotations.extend(rendered.annotations);
        }
    }
    if target_spec.and_then(|t| t.immutable) == Some(true) {
        secret.immutable = Some(true);
    }
    // Ownership.
    let refs = secret
        .metadata
        .owner_references
        .get_or_insert_with(Vec::new);
    let uid = es.metadata.uid.clone().unwrap_or_default();
    refs.retain(|r| r.uid != uid);
    if creation == CreationPolicy::Owner {
        refs.push(OwnerReference {
            api_version: "external-secrets.io/v1".into(),
            kind: "ExternalSecret".into(),
            name: es.name_any(),
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        });
    }
    if refs.is_empty() {
        secret.metadata.owner_references = None;
    }
    let hash = data_hash(secret.data.as_ref().unwrap_or(&BTreeMap::new()));
    secret
        .metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(LABEL_MANAGED.into(), "true".into());
    secret
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_DATA_HASH.into(), hash);
    secret.metadata.managed_fields = None;
    Ok(secret)
}

fn same_secret(a: &Secret, b: &Secret) -> bool {
    let empty = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
    a.data.clone().unwrap_or_default() == b.data.clone().unwrap_or_default()
        && empty(&a.metadata.labels) == empty(&b.metadata.labels)
        && empty(&a.metadata.annotations) == empty(&b.metadata.annotations)
        && a.type_.as_deref().unwrap_or("Opaque") == b.type_.as_deref().unwrap_or("Opaque")
        && a.immutable.unwrap_or(false) == b.immutable.unwrap_or(false)
        && a.metadata.owner_references.clone().unwrap_or_default()
            == b.metadata.owner_references.clone().unwrap_or_default()
        && a.metadata.finalizers.clone().unwrap_or_default()
            == b.metadata.finalizers.clone().unwrap_or_default()
}

#[derive(Default)]
struct ManagedKeys {
    data: Vec<String>,
    labels: Vec<String>,
    annotations: Vec<String>,
}

/// The data keys, labels and annotations this ExternalSecret's field manager owns (ESO reads
/// them from `managedFields` the same way, so a Secret written by ESO is taken over cleanly).
fn managed_keys(existing: Option<&Secret>, manager: &str) -> ManagedKeys {
    let mut out = ManagedKeys::default();
    let Some(secret) = existing else { return out };
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.strip_prefix("f:"))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for entry in secret.metadata.managed_fields.iter().flatten() {
        if entry.manager.as_deref() != Some(manager) {
            continue;
        }
        let Some(fields) = &entry.fields_v1 else {
            continue;
        };
        let f = &fields.0;
        out.data.extend(keys(&f["f:data"]));
        out.labels.extend(keys(&f["f:metadata"]["f:labels"]));
        out.annotations
            .extend(keys(&f["f:metadata"]["f:annotations"]));
    }
    out
}

fn owned_by(secret: &Secret, es: &ExternalSecret) -> bool {
    let uid = es.metadata.uid.as_deref().unwrap_or_default();
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

/// `Kind/name` of a controller of the Secret other than this ExternalSecret.
fn foreign_controller(secret: &Secret, es: &ExternalSecret) -> Option<String> {
    let uid = es.metadata.uid.as_deref().unwrap_or_default();
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true) && r.uid != uid)
        .map(|r| format!("{}/{}", r.kind, r.name))
}

fn ready(
    previous: Option<&ExternalSecretStatus>,
    status: &str,
    reason: &str,
    message: String,
) -> Condition {
    let prev = previous.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: match prev {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Some(now_rfc3339()),
        },
    }
}

async fn write_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    status: &ExternalSecretStatus,
) -> Result<(), Error> {
    let api: Api<ExternalSecret> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!(
            "update status of externalsecret {namespace}/{name}"
        )))?;
    Ok(())
}

async fn publish(ctx: &Context, es: &ExternalSecret, type_: EventType, reason: &str, note: String) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Sync".into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &es.object_ref(&())).await {
        tracing::debug!(error = %error, "could not publish event");
    }
}

/// Requeue with capped exponential backoff: 1 s doubling to 5 min (ESO's controller-runtime
/// backoff goes to 16 min); errors only a change can fix start at the cap.
pub fn error_policy(es: Arc<ExternalSecret>, error: &Error, ctx: Arc<Context>) -> Action {
    let uid = es.metadata.uid.clone().unwrap_or_default();
    let n = ctx.record_failure(&uid);
    let cap = Duration::from_secs(300);
    if error.is_permanent() {
        return Action::requeue(cap);
    }
    let secs = 1u64 << n.saturating_sub(1).min(9);
    Action::requeue(Duration::from_secs(secs).min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_converted_as_eso_converts_them() {
        assert_eq!(
            convert_key("app/db.user", ConversionStrategy::Default),
            "app_db.user"
        );
        assert_eq!(convert_key("a b", ConversionStrategy::Unicode), "a_U0020_b");
        assert!(valid_key("tls.crt"));
        assert!(!valid_key("a/b"));
        assert!(!valid_key(""));
    }

    #[test]
    fn decoding_strategies_decode_or_fail_clearly() {
        let v = |s: &str| SecretBytes::new(s.as_bytes().to_vec());
        assert_eq!(
            decode(v("aGk="), Some(DecodingStrategy::Base64), "k")
                .unwrap()
                .expose(),
            b"hi"
        );
        assert_eq!(
            decode(v("-_8"), Some(DecodingStrategy::Base64Url), "k")
                .unwrap()
                .expose(),
            b"\xfb\xff"
        );
        assert_eq!(
            decode(v("not base64!"), Some(DecodingStrategy::Auto), "k")
                .unwrap()
                .expose(),
            b"not base64!"
        );
        assert_eq!(
            decode(v("%%"), Some(DecodingStrategy::Base64), "k")
                .unwrap_err()
                .to_string(),
            "invalid ExternalSecret: value of \"k\" is not base64"
        );
    }

    #[test]
    fn data_hash_changes_with_any_byte_and_is_order_independent() {
        let m = |pairs: &[(&str, &[u8])]| -> BTreeMap<String, k8s_openapi::ByteString> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), k8s_openapi::ByteString(v.to_vec())))
                .collect()
        };
        let a = data_hash(&m(&[("a", b"1"), ("b", b"2")]));
        assert_eq!(a, data_hash(&m(&[("b", b"2"), ("a", b"1")])));
        assert_ne!(a, data_hash(&m(&[("a", b"1"), ("b", b"3")])));
        assert_ne!(data_hash(&m(&[("ab", b"")])), data_hash(&m(&[("a", b"b")])));
    }

    fn es(policy: Option<RefreshPolicy>) -> ExternalSecret {
        let mut es = ExternalSecret::new("db", Default::default());
        es.spec.refresh_policy = policy;
        es.metadata.generation = Some(1);
        es
    }

    #[test]
    fn refreshes_are_due_per_policy_interval_and_spec_changes() {
        let now = OffsetDateTime::now_utc();
        let e = es(None);
        let rv = synced_resource_version(&e);
        let last = |ago: u64, rv: &str| LastSync {
            at: now - Duration::from_secs(ago),
            synced_resource_version: rv.to_owned(),
            due_after: None,
        };
        let hour = Duration::from_secs(3600);
        assert_eq!(refresh_due(&e, hour, None, &rv, now), Some(Due::Changed));
        assert_eq!(refresh_due(&e, hour, Some(&last(10, &rv)), &rv, now), None);
        assert!(matches!(
            refresh_due(&e, hour, Some(&last(3700, &rv)), &rv, now),
            Some(Due::Periodic(_))
        ));
        assert_eq!(
            refresh_due(&e, hour, Some(&last(10, "0-x")), &rv, now),
            Some(Due::Changed)
        );
        assert_eq!(
            refresh_due(&e, Duration::ZERO, Some(&last(99999, &rv)), &rv, now),
            None
        );
        let once = es(Some(RefreshPolicy::CreatedOnce));
        assert_eq!(
            refresh_due(&once, hour, Some(&last(99999, "0-x")), &rv, now),
            None
        );
        let on_change = es(Some(RefreshPolicy::OnChange));
        assert_eq!(
            refresh_due(&on_change, hour, Some(&last(99999, &rv)), &rv, now),
            None
        );
        assert_eq!(
            refresh_due(&on_change, hour, Some(&last(1, "0-x")), &rv, now),
            Some(Due::Changed)
        );
    }

    #[test]
    fn a_planned_early_refresh_is_due_when_its_delay_is_over() {
        let now = OffsetDateTime::now_utc();
        let e = es(None);
        let rv = synced_resource_version(&e);
        let hour = Duration::from_secs(3600);
        let planned = |ago: u64| LastSync {
            at: now - Duration::from_secs(ago),
            synced_resource_version: rv.clone(),
            due_after: Some(hour / 2),
        };
        assert_eq!(refresh_due(&e, hour, Some(&planned(1000)), &rv, now), None);
        assert!(matches!(
            refresh_due(&e, hour, Some(&planned(1800)), &rv, now),
            Some(Due::Periodic(_))
        ));
        // A trigger in between waits for the planned time, not the whole interval.
        assert_eq!(
            next_refresh(&e, hour, Some(&planned(1000)), now),
            Action::requeue(Duration::from_secs(800))
        );
        // After a first sync the next refresh falls in the second half of the interval.
        for _ in 0..100 {
            let next = next_refresh_after(&e, hour, true).expect("periodic");
            assert!(next >= hour / 2 && next <= hour);
            let next = next_refresh_after(&e, hour, false).expect("periodic");
            assert!(next >= hour - hour / 10 && next <= hour);
        }
    }

    #[test]
    fn labels_and_annotations_change_the_synced_resource_version() {
        let a = es(None);
        let mut b = a.clone();
        b.metadata.annotations = Some([("force-sync".to_owned(), "1".to_owned())].into());
        assert_ne!(synced_resource_version(&a), synced_resource_version(&b));
        assert!(synced_resource_version(&a).starts_with("1-"));
    }
}
