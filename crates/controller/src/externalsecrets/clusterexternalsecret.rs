//! `ClusterExternalSecret` (`external-secrets.io/v1`, cluster-scoped, short name `ces`): one
//! ExternalSecret spec stamped into every namespace its selectors match (external-secrets
//! `pkg/controllers/clusterexternalsecret`).
//!
//! Each ExternalSecret gets the ClusterExternalSecret as its controller owner, so deleting the
//! ClusterExternalSecret deletes them (garbage collection). An ExternalSecret of the same name the
//! ClusterExternalSecret does not own is never touched (`external secret already exists in
//! namespace`), and one left in a namespace that no longer matches is deleted. The spec is
//! copied as written, so fields sealkit does not model reach the ExternalSecret and its `Ready`
//! condition names them.
//!
//! Where sealkit differs from ESO: it writes ExternalSecrets only into namespaces the bridge
//! serves (`--external-secrets-namespaces`); another matching namespace is listed in
//! `failedNamespaces` with the reason. It puts no finalizer on Namespaces (ESO adds
//! `externalsecrets.external-secrets.io/ces-<name>` to each, which needs write access to every
//! Namespace) and none on the ClusterExternalSecret: owner references do the cleanup. ESO's own
//! finalizer on a ClusterExternalSecret is honoured on deletion (the ExternalSecrets are deleted,
//! then the finalizer is removed), so objects written under ESO can be deleted after a switch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Client, CustomResource, Resource as _, ResourceExt as _};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::{Span, field, instrument, warn};

use super::crd::{Condition, ExternalSecret, ExternalSecretSpec, LabelSelector};
use super::error::Error;
use super::fields::{UnsupportedFields, track_unsupported_fields};
use super::stores::selector_matches;
use crate::duration::parse_go_duration;
use crate::reconciler::retry::exponential;
use crate::reconciler::status::now_rfc3339;
use crate::reconciler::{is_conflict, is_not_found};

/// ESO's finalizer on a ClusterExternalSecret (removed on deletion; sealkit adds none).
pub const ESO_FINALIZER: &str = "externalsecrets.external-secrets.io/clusterexternalsecret-cleanup";
/// Copied from the ClusterExternalSecret to each ExternalSecret, as ESO does.
pub const ANNOTATION_FORCE_SYNC: &str = "external-secrets.io/force-sync";
/// How often namespaces are checked again when `refreshTime` is unset (ESO: one hour).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

/// `ClusterExternalSecret.spec`.
// Several `printcolumn(...)` entries look like duplicated attributes to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(remote = "Self")]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ClusterExternalSecret",
    status = "ClusterExternalSecretStatus",
    shortname = "ces",
    category = "external-secrets",
    label("external-secrets.io/component", "controller"),
    printcolumn(
        name = "Store",
        type_ = "string",
        json_path = ".spec.externalSecretSpec.secretStoreRef.name"
    ),
    printcolumn(
        name = "Refresh Interval",
        type_ = "string",
        json_path = ".spec.refreshTime"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretSpec {
    /// The spec of each ExternalSecret, copied as written.
    #[schemars(with = "ExternalSecretSpec")]
    pub external_secret_spec: serde_json::Value,
    /// Name of each ExternalSecret (the ClusterExternalSecret's when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,
    /// Labels and annotations of each ExternalSecret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_metadata: Option<ExternalSecretMetadata>,
    /// Deprecated in ESO: one more selector, ORed with `namespaceSelectors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces whose labels match any of these selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Deprecated in ESO: namespaces by name, ORed with the selectors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Go duration between checks of the namespaces (1h when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    /// Fields present that sealkit does not model (named in the `Ready` condition).
    #[serde(skip)]
    #[schemars(skip)]
    pub unsupported: UnsupportedFields,
}
track_unsupported_fields!(ClusterExternalSecretSpec, "spec");

/// `spec.externalSecretMetadata`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ExternalSecretMetadata {
    /// Annotations of each ExternalSecret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels of each ExternalSecret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `ClusterExternalSecret.status`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretStatus {
    /// Name of the ExternalSecrets written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,
    /// Namespaces where writing the ExternalSecret failed, and why (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_namespaces: Vec<NamespaceFailure>,
    /// Namespaces holding the ExternalSecret (sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisioned_namespaces: Vec<String>,
    /// `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One `status.failedNamespaces[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NamespaceFailure {
    /// The namespace.
    pub namespace: String,
    /// Why the ExternalSecret is not there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the ClusterExternalSecret reconciler needs.
pub struct CesContext {
    /// API client.
    pub client: Client,
    /// Namespace cache (labels, for the selectors).
    pub namespaces: Store<Namespace>,
    /// The namespaces the bridge serves (`None`: all).
    pub served: Option<BTreeSet<String>>,
    failures: crate::reconciler::retry::Failures<String>,
}

impl CesContext {
    /// A context over `namespaces`, serving `served`.
    pub fn new(
        client: Client,
        namespaces: Store<Namespace>,
        served: Option<BTreeSet<String>>,
    ) -> Self {
        Self {
            client,
            namespaces,
            served,
            failures: Default::default(),
        }
    }
}

/// The ExternalSecrets' name: `externalSecretName`, else the ClusterExternalSecret's.
pub fn external_secret_name(ces: &ClusterExternalSecret) -> String {
    ces.spec
        .external_secret_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| ces.name_any())
}

/// Whether `namespace` (name and labels) is one `spec` selects (ESO's `GetTargetNamespaces`:
/// listed names, then each selector, ORed).
pub fn selects(
    spec: &ClusterExternalSecretSpec,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Result<bool, Error> {
    if spec.namespaces.iter().any(|n| n == name) {
        return Ok(true);
    }
    for selector in spec
        .namespace_selector
        .iter()
        .chain(&spec.namespace_selectors)
    {
        if selector_matches(selector, labels)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn es_resource() -> ApiResource {
    ApiResource::erase::<ExternalSecret>(&())
}

/// Whether the ExternalSecret's controller is the ClusterExternalSecret `ces_name` (by kind and
/// name, as ESO checks).
fn owned_by(es: &DynamicObject, ces_name: &str) -> bool {
    es.owner_references().iter().any(|r| {
        r.controller == Some(true)
            && r.kind == "ClusterExternalSecret"
            && r.api_version.starts_with("external-secrets.io/")
            && r.name == ces_name
    })
}

/// Reconciles one ClusterExternalSecret.
#[instrument(skip(ces, ctx), fields(name = field::Empty))]
pub async fn reconcile(
    ces: Arc<ClusterExternalSecret>,
    ctx: Arc<CesContext>,
) -> Result<Action, Error> {
    let name = ces
        .metadata
        .name
        .clone()
        .ok_or(Error::MissingObjectKey("metadata.name"))?;
    Span::current().record("name", name.as_str());
    let api: Api<ClusterExternalSecret> = Api::all(ctx.client.clone());
    let status = ces.status.clone().unwrap_or_default();
    if ces.metadata.deletion_timestamp.is_some() {
        if ces.finalizers().iter().any(|f| f == ESO_FINALIZER) {
            let es_name = status
                .external_secret_name
                .clone()
                .unwrap_or_else(|| name.clone());
            for ns in &status.provisioned_namespaces {
                delete_owned(&ctx.client, ns, &es_name, &name).await?;
            }
            let rest: Vec<&String> = ces
                .finalizers()
                .iter()
                .filter(|f| *f != ESO_FINALIZER)
                .collect();
            let patch = serde_json::json!({"metadata": {
                "finalizers": rest,
                "resourceVersion": ces.resource_version(),
            }});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(Error::kube(format!(
                    "remove finalizer of clusterexternalsecret {name}"
                )))?;
        }
        ctx.failures.clear(&name);
        return Ok(Action::await_change());
    }

    let refresh = match ces.spec.refresh_time.as_deref().filter(|s| !s.is_empty()) {
        None => DEFAULT_REFRESH,
        Some(s) => parse_go_duration(s)
            .map_err(|_| Error::Spec(format!("spec.refreshTime {s:?} is not a Go duration")))?,
    };
    let es_name = external_secret_name(&ces);
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut provisioned = Vec::new();
    let mut conflict = false;

    // A renamed ExternalSecret: the old ones go.
    if let Some(previous) = status.external_secret_name.as_deref()
        && previous != es_name
    {
        for ns in &status.provisioned_namespaces {
            if let Err(e) = delete_owned(&ctx.client, ns, previous, &name).await {
                failed.insert(ns.clone(), e.chain());
            }
        }
    }

    let targets = if !ces.spec.unsupported.is_empty() {
        failed.insert(
            "unknown".into(),
            format!(
                "fields not supported by sealkit: {}",
                ces.spec.unsupported.list()
            ),
        );
        None
    } else {
        match target_namespaces(&ces.spec, &ctx.namespaces) {
            Ok(t) => Some(t),
            Err(e) => {
                failed.insert("unknown".into(), e.chain());
                None
            }
        }
    };
    if let Some(targets) = targets {
        // Namespaces that stopped matching lose their ExternalSecret.
        for ns in status
            .provisioned_namespaces
            .iter()
            .filter(|n| !targets.contains(*n))
        {
            if let Err(e) = delete_owned(&ctx.client, ns, &es_name, &name).await {
                failed.insert(ns.clone(), e.chain());
            }
        }
        for ns in &targets {
            if ctx.served.as_ref().is_some_and(|s| !s.contains(ns)) {
                failed.insert(
                    ns.clone(),
                    "namespace is not served by this bridge (--external-secrets-namespaces)".into(),
                );
                continue;
            }
            match apply_external_secret(&ctx.client, &ces, ns, &es_name).await {
                Ok(()) => provisioned.push(ns.clone()),
                Err(Apply::Foreign) => {
                    failed.insert(
                        ns.clone(),
                        "external secret already exists in namespace".into(),
                    );
                }
                Err(Apply::Kube(e)) => {
                    conflict |= is_conflict(&e);
                    failed.insert(
                        ns.clone(),
                        format!("could not create or update ExternalSecret: {e}"),
                    );
                }
            }
        }
    }

    provisioned.sort();
    let previous_ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    let (ready, message) = if failed.is_empty() {
        ("True", None)
    } else {
        ("False", Some("one or more namespaces failed".to_owned()))
    };
    let next = ClusterExternalSecretStatus {
        external_secret_name: Some(es_name),
        failed_namespaces: failed
            .into_iter()
            .map(|(namespace, reason)| NamespaceFailure {
                namespace,
                reason: Some(reason),
            })
            .collect(),
        provisioned_namespaces: provisioned,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: ready.into(),
            reason: None,
            message,
            last_transition_time: match previous_ready {
                Some(p) if p.status == ready => p.last_transition_time.clone(),
                _ => Some(now_rfc3339()),
            },
        }],
    };
    if ces.status.as_ref() != Some(&next) {
        let patch = serde_json::json!({ "status": next });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(Error::kube(format!(
                "update status of clusterexternalsecret {name}"
            )))?;
    }
    if conflict {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    ctx.failures.clear(&name);
    Ok(Action::requeue(refresh))
}

/// Requeue with capped exponential backoff (1 s doubling to 5 min).
pub fn error_policy(
    ces: Arc<ClusterExternalSecret>,
    error: &Error,
    ctx: Arc<CesContext>,
) -> Action {
    let name = ces.name_any();
    warn!(%name, error = %error.chain(), "clusterexternalsecret reconcile failed");
    let n = ctx.failures.record(name);
    Action::requeue(exponential(
        Duration::from_secs(1),
        Duration::from_secs(300),
        n,
    ))
}

/// The namespaces `spec` selects, from the cache (those being deleted are left alone).
fn target_namespaces(
    spec: &ClusterExternalSecretSpec,
    namespaces: &Store<Namespace>,
) -> Result<BTreeSet<String>, Error> {
    let mut out = BTreeSet::new();
    for ns in namespaces.state() {
        if ns.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = ns.name_any();
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        if selects(spec, &name, &labels)? {
            out.insert(name);
        }
    }
    Ok(out)
}

enum Apply {
    /// A same-named ExternalSecret this ClusterExternalSecret does not own.
    Foreign,
    /// The API refused.
    Kube(kube::Error),
}

/// Creates or updates the ExternalSecret `namespace/es_name` of `ces` (ESO's
/// `createOrUpdateExternalSecret`): labels and annotations from `externalSecretMetadata` (plus
/// the force-sync annotation), the spec as written, the ClusterExternalSecret as controller.
async fn apply_external_secret(
    client: &Client,
    ces: &ClusterExternalSecret,
    namespace: &str,
    es_name: &str,
) -> Result<(), Apply> {
    let ar = es_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    let existing = api.get_opt(es_name).await.map_err(Apply::Kube)?;
    let ces_name = ces.name_any();
    if let Some(es) = &existing
        && !owned_by(es, &ces_name)
    {
        return Err(Apply::Foreign);
    }
    let meta = ces
        .spec
        .external_secret_metadata
        .clone()
        .unwrap_or_default();
    let mut annotations = meta.annotations;
    match ces.annotations().get(ANNOTATION_FORCE_SYNC) {
        Some(v) => {
            annotations.insert(ANNOTATION_FORCE_SYNC.into(), v.clone());
        }
        None => {
            annotations.remove(ANNOTATION_FORCE_SYNC);
        }
    }
    let owner = OwnerReference {
        api_version: ClusterExternalSecret::api_version(&()).into_owned(),
        kind: ClusterExternalSecret::kind(&()).into_owned(),
        name: ces_name,
        uid: ces.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let mut desired = existing
        .clone()
        .unwrap_or_else(|| DynamicObject::new(es_name, &ar).within(namespace));
    desired.metadata.labels = (!meta.labels.is_empty()).then_some(meta.labels);
    desired.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    let mut refs: Vec<OwnerReference> = desired
        .metadata
        .owner_references
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.controller != Some(true))
        .collect();
    refs.push(owner);
    desired.metadata.owner_references = Some(refs);
    desired.metadata.managed_fields = None;
    desired.data["spec"] = ces.spec.external_secret_spec.clone();
    let params = PostParams {
        field_manager: Some("seal-controller".into()),
        ..Default::default()
    };
    match existing {
        None => api.create(&params, &desired).await.map(drop),
        Some(current) => {
            let same = current.metadata.labels == desired.metadata.labels
                && current.metadata.annotations == desired.metadata.annotations
                && current.metadata.owner_references == desired.metadata.owner_references
                && current.data.get("spec") == desired.data.get("spec");
            if same {
                return Ok(());
            }
            api.replace(es_name, &params, &desired).await.map(drop)
        }
    }
    .map_err(Apply::Kube)
}

/// Deletes `namespace/es_name` if the ClusterExternalSecret `ces_name` controls it (404 is
/// success).
async fn delete_owned(
    client: &Client,
    namespace: &str,
    es_name: &str,
    ces_name: &str,
) -> Result<(), Error> {
    let ar = es_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    let what = || format!("delete externalsecret {namespace}/{es_name}");
    let Some(es) = api.get_opt(es_name).await.map_err(Error::kube(what()))? else {
        return Ok(());
    };
    if !owned_by(&es, ces_name) {
        return Ok(());
    }
    match api.delete(es_name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::kube(what())(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> ClusterExternalSecretSpec {
        serde_json::from_value(json).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn names_and_every_selector_are_ored() {
        let s = spec(serde_json::json!({
            "externalSecretSpec": {},
            "namespaces": ["listed"],
            "namespaceSelector": {"matchLabels": {"old": "yes"}},
            "namespaceSelectors": [
                {"matchLabels": {"team": "a"}},
                {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]},
            ],
        }));
        assert!(selects(&s, "listed", &labels(&[])).unwrap());
        assert!(selects(&s, "x", &labels(&[("old", "yes")])).unwrap());
        assert!(selects(&s, "x", &labels(&[("team", "a")])).unwrap());
        assert!(selects(&s, "x", &labels(&[("tier", "gold")])).unwrap());
        assert!(!selects(&s, "x", &labels(&[("team", "b")])).unwrap());
        // No selector at all selects nothing; an empty selector selects everything.
        let none = spec(serde_json::json!({"externalSecretSpec": {}}));
        assert!(!selects(&none, "x", &labels(&[])).unwrap());
        let all = spec(serde_json::json!({"externalSecretSpec": {}, "namespaceSelectors": [{}]}));
        assert!(selects(&all, "x", &labels(&[])).unwrap());
    }

    #[test]
    fn the_external_secret_spec_is_kept_as_written() {
        let s = spec(serde_json::json!({
            "externalSecretSpec": {"syncWindows": {"kind": "deny"}, "data": []},
            "externalSecretNam": "typo",
        }));
        assert_eq!(s.external_secret_spec["syncWindows"]["kind"], "deny");
        assert_eq!(s.unsupported.paths(), ["spec.externalSecretNam"]);
    }
}
