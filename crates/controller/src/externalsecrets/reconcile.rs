//! One ExternalSecret → its Secret (external-secrets
//! `pkg/controllers/externalsecret/externalsecret_controller.go`).
//!
//! A reconcile fetches only when a refresh is due ([`super::schedule`]) or the Secret is not
//! what was written (deleted, edited: its data no longer matches the `data-hash` annotation).
//! Values come from [`super::fetch`], the Secret from [`super::desired`]; it is written only
//! when it would change. A provider error marks `Ready=False` (`SecretSyncedError`) and leaves
//! the Secret untouched.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use time::OffsetDateTime;
use tracing::{Span, field, info, instrument, warn};

use super::Context;
use super::crd::{
    Binding, Condition, CreationPolicy, DeletionPolicy, ExternalSecret, ExternalSecretStatus,
    SecretStoreRef,
};
use super::desired::{
    ANNOTATION_DATA_HASH, data_hash, desired_secret, field_manager, foreign_controller, owned_by,
    same_secret,
};
use super::error::Error;
use super::fetch::fetch;
use super::providers::SecretMap;
use super::schedule::{
    Due, LastSync, next_refresh, next_refresh_after, refresh_due, refresh_interval,
    synced_resource_version,
};
use super::stores;
use super::template::TemplateSources;
use crate::reconciler::cache::scrub;
use crate::reconciler::is_not_found;
use crate::reconciler::retry::exponential;
use crate::reconciler::status::{now_rfc3339, patch_status};

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
            ctx.publish(&es, EventType::Warning, "UpdateFailed", message.clone())
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
    if !es.spec.unsupported.is_empty() {
        return Err(Error::UnsupportedFields {
            object: "ExternalSecret".into(),
            fields: es.spec.unsupported.list(),
        });
    }
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
    let template = es.spec.target.as_ref().and_then(|t| t.template.as_ref());
    let sources = TemplateSources::load(&ctx.client, namespace, template).await?;

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
        &sources,
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

#[allow(clippy::too_many_arguments)]
async fn write(
    es: &ExternalSecret,
    ctx: &Context,
    api: &Api<Secret>,
    existing: Option<&Secret>,
    values: SecretMap,
    sources: &TemplateSources,
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
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(Error::kube(format!("delete secret {target}"))(e)),
                    }
                    ctx.publish(
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
    let mut desired = desired_secret(es, existing, values, sources, target, creation, &manager)?;
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
        ctx.publish(es, EventType::Normal, reason, note.into())
            .await;
    }
    result
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
    patch_status::<ExternalSecret>(&ctx.client, namespace, name, status).await?;
    Ok(())
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
    Action::requeue(exponential(Duration::from_secs(1), cap, n))
}
