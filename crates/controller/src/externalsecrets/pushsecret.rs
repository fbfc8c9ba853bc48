//! `external-secrets.io/v1alpha1` PushSecret (external-secrets
//! `apis/externalsecrets/v1alpha1/pushsecret_types.go`, `pkg/controllers/pushsecret`): the keys
//! of a Secret in the PushSecret's namespace written to each store it names (Vault KV v2, AWS
//! Secrets Manager, Kubernetes).
//!
//! - Stores follow the ExternalSecret rules: a SecretStore of the same namespace, or a
//!   ClusterSecretStore whose `conditions` admit the namespace; credentials and egress as for
//!   reads ([`super::stores`]).
//! - `data[].match.secretKey` names one key; without it the whole Secret is pushed as the JSON
//!   object of its keys (values as strings). `remoteRef.property` writes one field of a JSON
//!   remote value.
//! - `updatePolicy: IfNotExists` skips remote secrets that exist (they are not recorded as
//!   pushed, so never deleted); `Replace` (default) writes when the value differs.
//! - **Ownership**: every remote value sealkit writes carries ESO's `managed-by:
//!   external-secrets` marker and `sealkit.io/pushed-by: <namespace>/<name>` of the
//!   PushSecret. Pushing over a remote secret without ESO's marker fails (as ESO), and over one
//!   another PushSecret pushed fails too (a tenant cannot take over another's remote secret
//!   through a shared ClusterSecretStore). With `deletionPolicy: Delete` (finalizer
//!   `pushsecret.externalsecrets.io/finalizer`) entries that leave the spec, the whole set when
//!   the PushSecret is deleted and when its source Secret is gone are deleted **only where the
//!   remote value carries this PushSecret's marker**; anything else is left alone. ESO's
//!   providers disagree here (some skip, Azure errors, Kubernetes never checks).
//! - Status: `Ready` (`Synced`, `Errored`, `SourceDeleted`), `syncedPushSecrets`
//!   (`"<Kind>/<store>"` → `"<remoteKey>[/<property>]"` → the data entry), `refreshTime`,
//!   `syncedResourceVersion`. The source Secret is read again every `refreshInterval` (1h by
//!   default; `0` pushes only when the PushSecret changes).
//! - Not supported (kept, and named in `Ready`): `dataTo`, `template`, `selector.generatorRef`,
//!   `secretStoreRefs[].labelSelector`, `data[].metadata`, `conversionStrategy: ReverseUnicode`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, CustomResource, ResourceExt as _};
use schemars::JsonSchema;
use sealer::secret::SecretBytes;
use serde::{Deserialize, Serialize};

use super::Context;
use super::crd::{Condition, SecretStoreRef, StoreKind};
use super::error::Error;
use super::fields::{UnsupportedFields, track_unsupported_fields};
use super::providers::{ProviderError, PushRequest, SecretMap, SecretsClient};
use super::stores::{self, ResolvedStore};
use crate::duration::parse_go_duration;
use crate::reconciler::status::now_rfc3339;

/// ESO's finalizer for `deletionPolicy: Delete`.
pub const FINALIZER: &str = "pushsecret.externalsecrets.io/finalizer";

/// `PushSecret.spec`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(remote = "Self")]
#[kube(
    group = "external-secrets.io",
    version = "v1alpha1",
    kind = "PushSecret",
    namespaced,
    status = "PushSecretStatus",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PushSecretSpec {
    /// Go duration between pushes (`1h0m0s` when unset; `0` pushes only on changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// The stores to push to.
    #[serde(default)]
    pub secret_store_refs: Vec<PushSecretStoreRef>,
    /// `Replace` (unset) or `IfNotExists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_policy: Option<PushSecretUpdatePolicy>,
    /// `None` (unset) or `Delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<PushSecretDeletionPolicy>,
    /// The source Secret.
    #[serde(default)]
    pub selector: PushSecretSelector,
    /// What to push where.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<PushSecretData>,
    /// Fields present that sealkit does not model (named in the `Ready` condition).
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: UnsupportedFields,
}
track_unsupported_fields!(PushSecretSpec, "spec");

/// One store of `secretStoreRefs`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PushSecretStoreRef {
    /// Store name (`labelSelector` is not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `SecretStore` (unset) or `ClusterSecretStore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StoreKind>,
}

/// `spec.updatePolicy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PushSecretUpdatePolicy {
    /// Write when the value differs.
    #[default]
    Replace,
    /// Leave existing remote secrets alone.
    IfNotExists,
}

/// `spec.deletionPolicy`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PushSecretDeletionPolicy {
    /// Delete what this PushSecret pushed when it is no longer wanted.
    Delete,
    /// Leave remote secrets alone.
    #[default]
    None,
}

/// `spec.selector`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PushSecretSelector {
    /// The Secret, in the PushSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<PushSecretSecret>,
}

/// `spec.selector.secret`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PushSecretSecret {
    /// Secret name (`selector` is not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One entry of `spec.data`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PushSecretData {
    /// Which key goes where.
    #[serde(rename = "match")]
    pub match_: PushSecretMatch,
    /// `None` (unset); `ReverseUnicode` is not supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<String>,
}

/// `data[].match`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretMatch {
    /// The key of the source Secret (unset: the whole Secret as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// Where it goes.
    pub remote_ref: PushSecretRemoteRef,
}

/// `data[].match.remoteRef`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretRemoteRef {
    /// The remote secret's name.
    pub remote_key: String,
    /// A field of the remote JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// `PushSecret.status`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretStatus {
    /// `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `"<Kind>/<store>"` → `"<remoteKey>[/<property>]"` → the data entry pushed there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub synced_push_secrets: BTreeMap<String, BTreeMap<String, PushSecretData>>,
    /// When the last push finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    /// `resourceVersion` of the PushSecret last pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,
}

/// What a PushSecret has pushed: store key → entry key → entry.
type Synced = BTreeMap<String, BTreeMap<String, PushSecretData>>;

fn entry_key(d: &PushSecretData) -> String {
    match d
        .match_
        .remote_ref
        .property
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        Some(p) => format!("{}/{p}", d.match_.remote_ref.remote_key),
        None => d.match_.remote_ref.remote_key.clone(),
    }
}

/// `"<Kind>/<name>"` → the store reference.
fn store_ref_of(key: &str) -> Option<SecretStoreRef> {
    let (kind, name) = key.split_once('/')?;
    let kind = match kind {
        "SecretStore" => StoreKind::SecretStore,
        "ClusterSecretStore" => StoreKind::ClusterSecretStore,
        _ => return None,
    };
    Some(SecretStoreRef {
        name: name.to_owned(),
        kind: Some(kind),
    })
}

/// Reconciles one PushSecret.
pub async fn reconcile(ps: Arc<PushSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = ps
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let name = ps.name_any();
    let owner = format!("{namespace}/{name}");
    let api: Api<PushSecret> = Api::namespaced(ctx.client.clone(), &namespace);
    let delete = ps.spec.deletion_policy == Some(PushSecretDeletionPolicy::Delete);
    let has_finalizer = ps.finalizers().iter().any(|f| f == FINALIZER);
    let old: Synced = ps
        .status
        .as_ref()
        .map(|s| s.synced_push_secrets.clone())
        .unwrap_or_default();

    if ps.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            if delete {
                let left = delete_entries(&ctx, &namespace, &owner, &old, &Synced::new()).await;
                if let Err(e) = left {
                    write_status(
                        &ctx,
                        &ps,
                        "False",
                        "Errored",
                        format!("Failed to Delete Secrets from Provider: {}", e.chain()),
                        &old,
                    )
                    .await?;
                    return Err(e);
                }
            }
            set_finalizer(&api, &ps, false).await?;
        }
        return Ok(Action::await_change());
    }
    if delete != has_finalizer {
        set_finalizer(&api, &ps, delete).await?;
        return Ok(Action::await_change());
    }

    let interval = match ps.spec.refresh_interval.as_deref() {
        None | Some("") => Duration::from_secs(3600),
        Some(s) => {
            parse_go_duration(s).map_err(|e| Error::Spec(format!("refreshInterval {s:?}: {e}")))?
        }
    };
    let next = if interval.is_zero() {
        Action::await_change()
    } else {
        Action::requeue(interval)
    };

    match push_all(&ctx, &ps, &namespace, &owner, &old, delete).await {
        Ok((synced, skipped)) => {
            let message = if skipped {
                "PushSecret synced successfully. Existing secrets in providers unchanged."
            } else {
                "PushSecret synced successfully"
            };
            write_status(&ctx, &ps, "True", "Synced", message.into(), &synced).await?;
            Ok(next)
        }
        Err(Failure::SourceDeleted) => {
            write_status(
                &ctx,
                &ps,
                "False",
                "SourceDeleted",
                "source secret deleted; provider secrets cleaned up".into(),
                &Synced::new(),
            )
            .await?;
            Ok(next)
        }
        Err(Failure::Error(e, synced)) => {
            let message = match &e {
                Error::Provider { .. } => format!("set secret failed: {}", e.chain()),
                _ => e.chain(),
            };
            write_status(&ctx, &ps, "False", "Errored", message, &synced).await?;
            Err(e)
        }
    }
}

enum Failure {
    /// The source Secret is gone (and, under `Delete`, what was pushed is deleted).
    SourceDeleted,
    /// An error, with what is known to be pushed.
    Error(Error, Synced),
}

async fn push_all(
    ctx: &Context,
    ps: &PushSecret,
    namespace: &str,
    owner: &str,
    old: &Synced,
    delete: bool,
) -> Result<(Synced, bool), Failure> {
    let fail = |e: Error| Failure::Error(e, old.clone());
    if !ps.spec.unsupported.is_empty() {
        return Err(fail(Error::UnsupportedFields {
            object: "PushSecret".into(),
            fields: ps.spec.unsupported.list(),
        }));
    }
    for (i, d) in ps.spec.data.iter().enumerate() {
        if d.conversion_strategy
            .as_deref()
            .is_some_and(|c| !c.is_empty() && c != "None")
        {
            return Err(fail(Error::Spec(format!(
                "data[{i}].conversionStrategy {:?} is not supported by sealkit",
                d.conversion_strategy.as_deref().unwrap_or_default()
            ))));
        }
        if d.match_.remote_ref.remote_key.is_empty() {
            return Err(fail(Error::Spec(format!(
                "data[{i}].match.remoteRef.remoteKey is required"
            ))));
        }
    }
    let Some(source) = ps
        .spec
        .selector
        .secret
        .as_ref()
        .and_then(|s| s.name.clone())
        .filter(|n| !n.is_empty())
    else {
        return Err(fail(Error::Spec(
            "spec.selector.secret.name is required".into(),
        )));
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = secrets
        .get_opt(&source)
        .await
        .map_err(|e| fail(Error::kube(format!("get secret {namespace}/{source}"))(e)))?;
    let Some(secret) = secret else {
        if delete {
            delete_entries(ctx, namespace, owner, old, &Synced::new())
                .await
                .map_err(|e| Failure::Error(e, old.clone()))?;
            return Err(Failure::SourceDeleted);
        }
        return Err(fail(Error::Spec(format!(
            "source secret {namespace}/{source} not found"
        ))));
    };
    let all: SecretMap = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, SecretBytes::new(v.0)))
        .collect();
    let whole = whole_secret_json(&all);

    let update = ps.spec.update_policy.unwrap_or_default();
    let mut synced = Synced::new();
    let mut skipped = false;
    let mut error = None;
    'stores: for (i, r) in ps.spec.secret_store_refs.iter().enumerate() {
        let Some(name) = r.name.clone().filter(|n| !n.is_empty()) else {
            error = Some(Error::Spec(format!(
                "secretStoreRefs[{i}] names no store (labelSelector is not supported by sealkit)"
            )));
            break;
        };
        let reference = SecretStoreRef {
            name: name.clone(),
            kind: r.kind,
        };
        let store_key = format!("{}/{name}", r.kind.unwrap_or_default());
        let store = match stores::resolve(ctx, &reference, namespace).await {
            Ok(s) => s,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        for (j, d) in ps.spec.data.iter().enumerate() {
            let (value, all_keys) = match d.match_.secret_key.as_deref().filter(|k| !k.is_empty()) {
                Some(k) => match all.get(k) {
                    Some(v) => (v.clone(), None),
                    None => {
                        error = Some(Error::Spec(format!(
                            "data[{j}]: key {k:?} not found in secret {namespace}/{source}"
                        )));
                        break 'stores;
                    }
                },
                None => (whole.clone(), Some(&all)),
            };
            let request = PushRequest {
                remote_key: &d.match_.remote_ref.remote_key,
                property: d
                    .match_
                    .remote_ref
                    .property
                    .as_deref()
                    .filter(|p| !p.is_empty()),
                value: &value,
                all: all_keys,
                owner,
            };
            if update == PushSecretUpdatePolicy::IfNotExists {
                match call(ctx, &store, namespace, |c| {
                    Box::pin(async move { c.pushed_exists(&request).await })
                })
                .await
                {
                    Ok(true) => {
                        skipped = true;
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        error = Some(e);
                        break 'stores;
                    }
                }
            }
            let pushed = call(ctx, &store, namespace, |c| {
                Box::pin(async move { c.push_secret(&request).await })
            })
            .await;
            if let Err(e) = pushed {
                error = Some(e);
                break 'stores;
            }
            synced
                .entry(store_key.clone())
                .or_default()
                .insert(entry_key(d), d.clone());
        }
    }
    if let Some(e) = error {
        // Keep every old entry (nothing is deleted after a failure) and what did get pushed.
        let mut known = old.clone();
        for (store, entries) in synced {
            known.entry(store).or_default().extend(entries);
        }
        return Err(Failure::Error(e, known));
    }
    if delete {
        delete_entries(ctx, namespace, owner, old, &synced)
            .await
            .map_err(|e| {
                let mut known = old.clone();
                for (store, entries) in &synced {
                    known
                        .entry(store.clone())
                        .or_default()
                        .extend(entries.clone());
                }
                Failure::Error(e, known)
            })?;
    }
    Ok((synced, skipped))
}

/// The whole Secret as ESO pushes it without `secretKey`: `{"key": "<value as a string>"}`.
fn whole_secret_json(all: &SecretMap) -> SecretBytes {
    let map: serde_json::Map<String, serde_json::Value> = all
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::Value::String(String::from_utf8_lossy(v.expose()).into_owned()),
            )
        })
        .collect();
    SecretBytes::new(serde_json::to_vec(&map).unwrap_or_default())
}

/// Deletes every entry of `old` that `keep` lacks (only where the remote value carries
/// `owner`'s marker: the providers check it).
async fn delete_entries(
    ctx: &Context,
    namespace: &str,
    owner: &str,
    old: &Synced,
    keep: &Synced,
) -> Result<(), Error> {
    for (store_key, entries) in old {
        let gone: Vec<&PushSecretData> = entries
            .iter()
            .filter(|(k, _)| !keep.get(store_key).is_some_and(|m| m.contains_key(*k)))
            .map(|(_, d)| d)
            .collect();
        if gone.is_empty() {
            continue;
        }
        let Some(reference) = store_ref_of(store_key) else {
            continue;
        };
        let store = match stores::resolve(ctx, &reference, namespace).await {
            Ok(s) => s,
            // A store that is gone has nothing sealkit can delete.
            Err(Error::StoreNotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        for d in gone {
            let empty = SecretBytes::new(Vec::new());
            let request = PushRequest {
                remote_key: &d.match_.remote_ref.remote_key,
                property: d
                    .match_
                    .remote_ref
                    .property
                    .as_deref()
                    .filter(|p| !p.is_empty()),
                value: &empty,
                all: None,
                owner,
            };
            call(ctx, &store, namespace, |c| {
                Box::pin(async move { c.delete_pushed(&request).await })
            })
            .await?;
        }
    }
    Ok(())
}

/// One provider call through the store's cached client and rate limit.
async fn call<'f, T, F>(
    ctx: &Context,
    store: &ResolvedStore,
    namespace: &str,
    f: F,
) -> Result<T, Error>
where
    F: FnOnce(Arc<dyn SecretsClient>) -> futures::future::BoxFuture<'f, Result<T, ProviderError>>,
{
    let provider = super::providers::provider_name(&store.spec.provider).unwrap_or("unknown");
    let wrap = |source| Error::Provider { provider, source };
    let client = ctx
        .clients
        .client(ctx, store, namespace)
        .await
        .map_err(wrap)?;
    ctx.clients.throttle(store, ctx.config.store_qps).await;
    let r = f(client).await;
    if let Err(e) = &r
        && e.invalidates_client()
    {
        ctx.clients.invalidate(store, namespace);
    }
    r.map_err(wrap)
}

async fn set_finalizer(api: &Api<PushSecret>, ps: &PushSecret, present: bool) -> Result<(), Error> {
    let mut finalizers: Vec<String> = ps
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(FINALIZER.to_owned());
    }
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": ps.resource_version()},
    });
    api.patch(
        &ps.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::kube(format!(
        "update finalizers of pushsecret {}",
        ps.name_any()
    )))?;
    Ok(())
}

/// Writes `Ready` and `syncedPushSecrets` (a merge patch: entries no longer synced are
/// nulled out).
async fn write_status(
    ctx: &Context,
    ps: &PushSecret,
    status: &str,
    reason: &str,
    message: String,
    synced: &Synced,
) -> Result<(), Error> {
    let previous = ps.status.clone().unwrap_or_default();
    let prev_ready = previous.conditions.iter().find(|c| c.type_ == "Ready");
    let condition = Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: match prev_ready {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Some(now_rfc3339()),
        },
    };
    let mut synced_patch = serde_json::Map::new();
    for (store, entries) in &previous.synced_push_secrets {
        match synced.get(store) {
            None => {
                synced_patch.insert(store.clone(), serde_json::Value::Null);
            }
            Some(now) => {
                let mut m = serde_json::Map::new();
                for k in entries.keys().filter(|k| !now.contains_key(*k)) {
                    m.insert(k.clone(), serde_json::Value::Null);
                }
                synced_patch.insert(store.clone(), serde_json::Value::Object(m));
            }
        }
    }
    for (store, entries) in synced {
        let value = serde_json::to_value(entries).unwrap_or_default();
        match synced_patch.get_mut(store) {
            Some(serde_json::Value::Object(m)) => {
                if let serde_json::Value::Object(new) = value {
                    m.extend(new);
                }
            }
            _ => {
                synced_patch.insert(store.clone(), value);
            }
        }
    }
    let patch = serde_json::json!({"status": {
        "conditions": [condition],
        "syncedPushSecrets": synced_patch,
        "refreshTime": now_rfc3339(),
        "syncedResourceVersion": ps.resource_version(),
    }});
    let api: Api<PushSecret> =
        Api::namespaced(ctx.client.clone(), &ps.namespace().unwrap_or_default());
    api.patch_status(
        &ps.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::kube(format!(
        "update status of pushsecret {}",
        ps.name_any()
    )))?;
    Ok(())
}

/// Requeue after an error: 5 s, then the refresh.
pub fn error_policy(_: Arc<PushSecret>, error: &Error, _: Arc<Context>) -> Action {
    if error.is_permanent() {
        Action::requeue(Duration::from_secs(300))
    } else {
        Action::requeue(Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_keyed_by_remote_key_and_property_and_stores_by_kind_and_name() {
        let d = |p: Option<&str>| PushSecretData {
            match_: PushSecretMatch {
                secret_key: Some("k".into()),
                remote_ref: PushSecretRemoteRef {
                    remote_key: "app/db".into(),
                    property: p.map(str::to_owned),
                },
            },
            conversion_strategy: None,
        };
        assert_eq!(entry_key(&d(None)), "app/db");
        assert_eq!(entry_key(&d(Some("password"))), "app/db/password");
        let r = store_ref_of("ClusterSecretStore/shared").unwrap();
        assert_eq!(r.name, "shared");
        assert_eq!(r.kind, Some(StoreKind::ClusterSecretStore));
        assert!(store_ref_of("Other/x").is_none());
    }

    #[test]
    fn the_whole_secret_is_pushed_as_a_json_object_of_strings() {
        let all: SecretMap = [
            ("a".to_owned(), SecretBytes::new(b"1".to_vec())),
            ("b".to_owned(), SecretBytes::new(b"two".to_vec())),
        ]
        .into();
        assert_eq!(whole_secret_json(&all).expose(), br#"{"a":"1","b":"two"}"#);
    }

    #[test]
    fn unknown_fields_are_kept_and_named() {
        let spec: PushSecretSpec = serde_json::from_value(serde_json::json!({
            "secretStoreRefs": [{"name": "s"}],
            "selector": {"secret": {"name": "src"}},
            "dataTo": [{"storeRef": {"name": "s"}}],
            "data": [{"match": {"remoteRef": {"remoteKey": "k"}}, "metadata": {"x": 1}}],
        }))
        .unwrap();
        let mut paths = spec.unsupported.paths().to_vec();
        paths.sort();
        assert_eq!(paths, ["spec.dataTo", "spec.data[0].metadata"]);
    }
}
