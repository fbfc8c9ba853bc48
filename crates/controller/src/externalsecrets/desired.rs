//! The Secret an ExternalSecret stands for (external-secrets `mutationFunc` and
//! `ApplyTemplate`): values or the rendered `target.template`, the data keys, labels and
//! annotations its field manager owned removed first, the ownerReference per
//! `creationPolicy`, the managed label and the `data-hash` annotation.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt as _;
use sealer::secret::SecretBytes;
use sha2::{Digest as _, Sha256};

use super::crd::{CreationPolicy, ExternalSecret, TemplateMergePolicy};
use super::error::Error;
use super::providers::SecretMap;
use super::template::{self, TemplateSources};

/// Label on every Secret the bridge writes.
pub const LABEL_MANAGED: &str = "reconcile.external-secrets.io/managed";
/// Annotation holding the hash of the data the bridge wrote.
pub const ANNOTATION_DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";

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

/// The Secret as it should be (ESO's `mutationFunc` + `ApplyTemplate`).
pub(super) fn desired_secret(
    es: &ExternalSecret,
    existing: Option<&Secret>,
    values: SecretMap,
    sources: &TemplateSources,
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
            // ESO: the fetched keys too with `mergePolicy: Merge`, or when nothing is templated.
            let templated = !t.data.is_empty() || !t.template_from.is_empty();
            if t.merge_policy == Some(TemplateMergePolicy::Merge) || !templated {
                for (k, v) in &values {
                    data.insert(k.clone(), byte(v));
                }
            }
            let rendered = template::render(t, &values, sources)?;
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

pub(super) fn same_secret(a: &Secret, b: &Secret) -> bool {
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

pub(super) fn owned_by(secret: &Secret, es: &ExternalSecret) -> bool {
    let uid = es.metadata.uid.as_deref().unwrap_or_default();
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

/// `Kind/name` of a controller of the Secret other than this ExternalSecret.
pub(super) fn foreign_controller(secret: &Secret, es: &ExternalSecret) -> Option<String> {
    let uid = es.metadata.uid.as_deref().unwrap_or_default();
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true) && r.uid != uid)
        .map(|r| format!("{}/{}", r.kind, r.name))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
