//! The Secret a SealedSecret stands for, and whether the one in the cluster already is it.
//!
//! Bitnami's rules (`pkg/controller/controller.go` `unseal`, `sealedsecret_expansion.go`
//! `Unseal`): the Secret takes the template's labels, annotations, finalizers, `type` and
//! `immutable` (on create only), its name and namespace are the SealedSecret's, and it is owned
//! by the SealedSecret (controller=true) unless the template says
//! `sealedsecrets.bitnami.com/skip-set-owner-references: "true"`. An existing Secret is only
//! overwritten when the SealedSecret controls it or it says `managed: "true"`; with
//! `patch: "true"` the new items, labels and annotations are merged into it.
//!
//! sealkit adds two annotations: [`KEYS_ANNOTATION`] lists the fingerprints of the keys that
//! opened the items, and [`DIGEST_ANNOTATION`] is a SHA-256 over the inputs (name, namespace,
//! scope, spec), those keys (fingerprint and whether marked compromised) and the data the Secret
//! was given. When it matches the Secret in the cluster nothing is decrypted, so a restart over
//! thousands of in-sync objects costs no RSA operation; when a key it was made with is removed
//! or marked compromised, it no longer matches and the Secret is made again.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sealer::sealed::{SealedSecret, SecretManifest};
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::keyring::KeyUse;

/// Set on the Secret: digest of the inputs, the keys used and the data written.
pub const DIGEST_ANNOTATION: &str = "sealkit.dev/unsealed-digest";
/// Set on the Secret: fingerprints (comma-separated) of the keys that opened its items.
pub const KEYS_ANNOTATION: &str = "sealkit.dev/unsealed-keys";
/// On an existing Secret: the controller may take it over.
pub const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";
/// On an existing Secret: merge into it instead of replacing it.
pub const PATCH_ANNOTATION: &str = "sealedsecrets.bitnami.com/patch";
/// In the template: do not set an ownerReference.
pub const SKIP_OWNER_REFERENCES_ANNOTATION: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";

fn is_true(map: Option<&BTreeMap<String, String>>, key: &str) -> bool {
    map.and_then(|m| m.get(key)).is_some_and(|v| v == "true")
}

/// Everything about the Secret that is known without decrypting anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Secret name (the SealedSecret's).
    pub name: String,
    /// Secret namespace (the SealedSecret's).
    pub namespace: String,
    /// Labels from the template.
    pub labels: BTreeMap<String, String>,
    /// Annotations from the template (without [`DIGEST_ANNOTATION`] and [`KEYS_ANNOTATION`]).
    pub annotations: BTreeMap<String, String>,
    /// Finalizers from the template.
    pub finalizers: Option<Vec<String>>,
    /// The ownerReference, unless skipped.
    pub owner: Option<OwnerReference>,
    /// Secret type.
    pub type_: Option<String>,
    /// `immutable` (applied on create only).
    pub immutable: Option<bool>,
    /// The data keys the Secret will have, when known without decrypting (not for legacy
    /// `spec.data`).
    pub keys: Option<BTreeSet<String>>,
    /// Digest of the inputs.
    pub input_digest: [u8; 32],
}

/// The SealedSecret's top-level metadata as `sealer` reads it (name, namespace, scope).
pub fn sealer_meta(ss: &SealedSecret) -> sealer::sealed::ObjectMeta {
    sealer::sealed::ObjectMeta {
        name: ss.metadata.name.clone(),
        namespace: ss.metadata.namespace.clone(),
        annotations: ss.metadata.annotations.clone().unwrap_or_default(),
        ..sealer::sealed::ObjectMeta::default()
    }
}

/// Works out the [`Shape`] of the Secret for `ss`.
pub fn shape(ss: &SealedSecret) -> Result<Shape> {
    let name = ss
        .metadata
        .name
        .clone()
        .ok_or(Error::MissingObjectKey("metadata.name"))?;
    let namespace = ss
        .metadata
        .namespace
        .clone()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let template = ss.spec.template.clone().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let skip_owner = meta
        .annotations
        .get(SKIP_OWNER_REFERENCES_ANNOTATION)
        .is_some_and(|v| v == "true");
    let owner = if skip_owner {
        None
    } else {
        Some(OwnerReference {
            api_version: "bitnami.com/v1alpha1".into(),
            kind: "SealedSecret".into(),
            name: name.clone(),
            uid: ss
                .metadata
                .uid
                .clone()
                .ok_or(Error::MissingObjectKey("metadata.uid"))?,
            controller: Some(true),
            block_owner_deletion: None,
        })
    };
    let finalizers = meta
        .extra
        .get("finalizers")
        .and_then(|f| serde_json::from_value::<Vec<String>>(f.clone()).ok())
        .filter(|f| !f.is_empty());
    let keys = ss.spec.data.is_none().then(|| {
        ss.spec
            .encrypted_data
            .keys()
            .chain(template.data.iter().flat_map(|d| d.keys()))
            .cloned()
            .collect()
    });
    let mut annotations = meta.annotations;
    annotations.remove(DIGEST_ANNOTATION);
    annotations.remove(KEYS_ANNOTATION);
    Ok(Shape {
        input_digest: input_digest(ss, &name, &namespace),
        name,
        namespace,
        labels: meta.labels,
        annotations,
        finalizers,
        owner,
        type_: template.type_,
        immutable: template.immutable,
        keys,
    })
}

/// SHA-256 over what decides the Secret: name, namespace, the top-level annotations that set
/// the scope, and the whole spec.
fn input_digest(ss: &SealedSecret, name: &str, namespace: &str) -> [u8; 32] {
    let scope = sealer::sealed::Scope::from_annotations(
        &ss.metadata.annotations.clone().unwrap_or_default(),
    );
    let mut h = Sha256::new();
    for part in [name, namespace, scope.as_str()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    // Serializing plain data structures cannot fail.
    let spec = serde_json::to_vec(&ss.spec).unwrap_or_default();
    h.update((spec.len() as u64).to_be_bytes());
    h.update(&spec);
    h.finalize().into()
}

/// The annotation value for a Secret with `data` made from inputs `input` with the keys
/// `used`.
pub fn digest(
    input: &[u8; 32],
    used: &[KeyUse],
    data: &BTreeMap<String, ByteString>,
    keys: Option<&BTreeSet<String>>,
) -> String {
    let mut h = Sha256::new();
    h.update(input);
    h.update((used.len() as u64).to_be_bytes());
    for key in used {
        h.update((key.fingerprint.len() as u64).to_be_bytes());
        h.update(key.fingerprint.as_bytes());
        h.update([u8::from(key.compromised)]);
    }
    for (k, v) in data {
        if keys.is_some_and(|keys| !keys.contains(k)) {
            continue;
        }
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.0.len() as u64).to_be_bytes());
        h.update(&v.0);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// How the controller stands to an existing Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Controlled by this SealedSecret, or made by the controller without an ownerReference.
    Owned,
    /// Annotated `managed: "true"` (taken over, replaced wholesale).
    Managed,
    /// Annotated `patch: "true"` (merged into; ownerReference set only if also managed).
    Patch {
        /// Also `managed`.
        managed: bool,
    },
    /// Someone else's: never touched.
    Foreign,
}

/// Decides [`Ownership`] of `existing` relative to `ss`.
pub fn ownership(existing: &Secret, ss: &SealedSecret) -> Ownership {
    let annotations = existing.metadata.annotations.as_ref();
    let managed = is_true(annotations, MANAGED_ANNOTATION);
    if is_true(annotations, PATCH_ANNOTATION) {
        return Ownership::Patch { managed };
    }
    let controller = existing
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    match controller {
        Some(o) if ss.metadata.uid.as_deref() == Some(o.uid.as_str()) => Ownership::Owned,
        _ if managed => Ownership::Managed,
        // Made by the controller for a template that skips ownerReferences.
        None if annotations.is_some_and(|a| a.contains_key(DIGEST_ANNOTATION)) => Ownership::Owned,
        _ => Ownership::Foreign,
    }
}

/// The [`KEYS_ANNOTATION`] value for `used`.
pub fn keys_annotation(used: &[KeyUse]) -> String {
    used.iter()
        .map(|k| k.fingerprint.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The keys a Secret says it was made with, in their current state (`key_state` answers
/// "is this fingerprint marked compromised", `None` when the key is gone). `None` when the
/// annotation is missing or names a key the controller no longer holds.
fn recorded_keys(
    annotations: &BTreeMap<String, String>,
    key_state: &dyn Fn(&str) -> Option<bool>,
) -> Option<Vec<KeyUse>> {
    let recorded = annotations.get(KEYS_ANNOTATION)?;
    recorded
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|fingerprint| {
            key_state(fingerprint).map(|compromised| KeyUse {
                fingerprint: fingerprint.to_owned(),
                compromised,
            })
        })
        .collect()
}

/// Whether `existing` is exactly what `shape` describes, with data matching its digest: then
/// nothing needs decrypting. `key_state` tells, for a key fingerprint, whether the controller
/// still holds that key (`Some`) and whether it is marked compromised: a Secret made with a key
/// since removed or marked compromised is not in sync.
pub fn in_sync(
    existing: &Secret,
    ss: &SealedSecret,
    shape: &Shape,
    key_state: &dyn Fn(&str) -> Option<bool>,
) -> bool {
    let own = ownership(existing, ss);
    if own == Ownership::Foreign {
        return false;
    }
    let empty = BTreeMap::new();
    let data = existing.data.as_ref().unwrap_or(&empty);
    let annotations = existing.metadata.annotations.clone().unwrap_or_default();
    let Some(recorded) = annotations.get(DIGEST_ANNOTATION) else {
        return false;
    };
    let Some(used) = recorded_keys(&annotations, key_state) else {
        return false;
    };
    if *recorded != digest(&shape.input_digest, &used, data, shape.keys.as_ref()) {
        return false;
    }
    if secret_type(&existing.type_) != secret_type(&shape.type_) {
        return false;
    }
    let labels = existing.metadata.labels.clone().unwrap_or_default();
    match own {
        Ownership::Patch { managed } => {
            let contains = |have: &BTreeMap<String, String>, want: &BTreeMap<String, String>| {
                want.iter().all(|(k, v)| have.get(k) == Some(v))
            };
            contains(&labels, &shape.labels)
                && contains(&annotations, &shape.annotations)
                && shape
                    .keys
                    .as_ref()
                    .is_none_or(|k| k.iter().all(|k| data.contains_key(k)))
                && (!managed
                    || owner_refs(existing) == shape.owner.iter().cloned().collect::<Vec<_>>())
        }
        _ => {
            let mut want_annotations = shape.annotations.clone();
            want_annotations.insert(DIGEST_ANNOTATION.into(), recorded.clone());
            want_annotations.insert(KEYS_ANNOTATION.into(), keys_annotation(&used));
            labels == shape.labels
                && annotations == want_annotations
                && shape.keys.as_ref().is_none_or(|k| data.keys().eq(k.iter()))
                && owner_refs(existing) == shape.owner.iter().cloned().collect::<Vec<_>>()
        }
    }
}

/// A Secret without `type` is `Opaque`.
fn secret_type(t: &Option<String>) -> &str {
    t.as_deref().unwrap_or("Opaque")
}

fn owner_refs(secret: &Secret) -> Vec<OwnerReference> {
    secret.metadata.owner_references.clone().unwrap_or_default()
}

/// Builds the Secret from the unsealed manifest, opened with the keys `used`. The caller scrubs
/// it after use.
pub fn build(shape: &Shape, unsealed: SecretManifest, used: &[KeyUse]) -> Result<Secret> {
    let mut data = BTreeMap::new();
    for (k, v) in &unsealed.data {
        let bytes = sealer::encoding::decode_std(v.expose_secret())
            .map_err(|_| Error::Config(format!("unsealed item {k:?} is not base64")))?;
        data.insert(k.clone(), ByteString(bytes));
    }
    let mut annotations = shape.annotations.clone();
    annotations.insert(
        DIGEST_ANNOTATION.into(),
        digest(&shape.input_digest, used, &data, shape.keys.as_ref()),
    );
    annotations.insert(KEYS_ANNOTATION.into(), keys_annotation(used));
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(shape.name.clone()),
            namespace: Some(shape.namespace.clone()),
            labels: (!shape.labels.is_empty()).then(|| shape.labels.clone()),
            annotations: Some(annotations),
            finalizers: shape.finalizers.clone(),
            owner_references: shape.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: shape.type_.clone(),
        immutable: shape.immutable,
        data: Some(data),
        ..Secret::default()
    })
}

/// The Secret to write over `existing` (carrying its resourceVersion), or `None` when it
/// already is that.
pub fn update(existing: &Secret, desired: &Secret, own: Ownership) -> Result<Option<Secret>> {
    let mut next = existing.clone();
    let name = existing.metadata.name.clone().unwrap_or_default();
    match own {
        Ownership::Foreign => return Err(Error::Unmanaged { name }),
        Ownership::Patch { managed } => {
            let data = next.data.get_or_insert_with(BTreeMap::new);
            for (k, v) in desired.data.iter().flatten() {
                data.insert(k.clone(), v.clone());
            }
            let labels = next.metadata.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(desired.metadata.labels.clone().unwrap_or_default());
            let annotations = next.metadata.annotations.get_or_insert_with(BTreeMap::new);
            annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
            if managed {
                next.metadata.owner_references = desired.metadata.owner_references.clone();
            }
        }
        Ownership::Owned | Ownership::Managed => {
            next.data = desired.data.clone();
            next.metadata.labels = desired.metadata.labels.clone();
            next.metadata.annotations = desired.metadata.annotations.clone();
            next.metadata.owner_references = desired.metadata.owner_references.clone();
        }
    }
    next.type_ = desired.type_.clone().or(next.type_);
    if next.data == existing.data
        && next.metadata == existing.metadata
        && next.type_ == existing.type_
    {
        return Ok(None);
    }
    if existing.immutable == Some(true) && next.data != existing.data {
        return Err(Error::Immutable { name });
    }
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealedsecrets::fixtures::{existing_secret, sealed_secret};

    const KEY_FINGERPRINT: &str = "SHA256:test-key";

    fn used() -> Vec<KeyUse> {
        vec![KeyUse {
            fingerprint: KEY_FINGERPRINT.into(),
            compromised: false,
        }]
    }

    /// The controller holds the test key, not compromised.
    fn held(fingerprint: &str) -> Option<bool> {
        (fingerprint == KEY_FINGERPRINT).then_some(false)
    }

    fn unsealed(items: &[(&str, &str)]) -> SecretManifest {
        let mut m = SecretManifest::default();
        for (k, v) in items {
            m.data.insert(
                (*k).into(),
                secrecy::SecretString::from(sealer::encoding::encode_std(v.as_bytes())),
            );
        }
        m
    }

    #[test]
    fn the_secret_copies_the_template_and_is_owned_by_the_sealed_secret() {
        let ss = sealed_secret()
            .label("app", "web")
            .type_("kubernetes.io/basic-auth")
            .build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        assert_eq!(secret.metadata.name.as_deref(), Some("db"));
        assert_eq!(secret.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(secret.metadata.labels.as_ref().unwrap()["app"], "web");
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("SealedSecret", "uid-1", Some(true))
        );
        assert_eq!(secret.data.as_ref().unwrap()["username"].0, b"admin");
    }

    #[test]
    fn skip_set_owner_references_leaves_the_secret_unowned_but_still_ours() {
        let ss = sealed_secret()
            .template_annotation(SKIP_OWNER_REFERENCES_ANNOTATION, "true")
            .build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        assert!(secret.metadata.owner_references.is_none());
        assert_eq!(ownership(&secret, &ss), Ownership::Owned);
        assert!(in_sync(&secret, &ss, &shape, &held));
    }

    #[test]
    fn a_written_secret_is_in_sync_until_its_data_or_inputs_change() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let mut secret = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        assert!(in_sync(&secret, &ss, &shape, &held));

        // Someone edits the value in the cluster.
        secret
            .data
            .as_mut()
            .unwrap()
            .insert("username".into(), ByteString(b"root".to_vec()));
        assert!(!in_sync(&secret, &ss, &shape, &held));

        // The SealedSecret changes.
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        let changed = sealed_secret().item("username", "AgBnew").build();
        assert!(!in_sync(
            &secret,
            &changed,
            &super::shape(&changed).unwrap(),
            &held
        ));
    }

    #[test]
    fn a_secret_made_with_a_key_since_removed_or_compromised_is_out_of_sync() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        assert_eq!(
            secret.metadata.annotations.as_ref().unwrap()[KEYS_ANNOTATION],
            KEY_FINGERPRINT
        );
        assert!(in_sync(&secret, &ss, &shape, &held));
        assert!(!in_sync(&secret, &ss, &shape, &|_| None));
        assert!(!in_sync(&secret, &ss, &shape, &|_| Some(true)));
        // Made again with the key now marked compromised: in sync under that state.
        let again = build(
            &shape,
            unsealed(&[("username", "admin")]),
            &[KeyUse {
                fingerprint: KEY_FINGERPRINT.into(),
                compromised: true,
            }],
        )
        .unwrap();
        assert!(in_sync(&again, &ss, &shape, &|_| Some(true)));
    }

    #[test]
    fn a_scope_change_on_the_sealed_secret_breaks_sync() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        let wide = sealed_secret()
            .annotation("sealedsecrets.bitnami.com/cluster-wide", "true")
            .build();
        assert!(!in_sync(
            &secret,
            &wide,
            &super::shape(&wide).unwrap(),
            &held
        ));
    }

    #[test]
    fn a_label_edit_on_the_secret_breaks_sync() {
        let ss = sealed_secret().label("app", "web").build();
        let shape = shape(&ss).unwrap();
        let mut secret = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        secret
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("app".into(), "other".into());
        assert!(!in_sync(&secret, &ss, &shape, &held));
    }

    #[test]
    fn an_unowned_secret_is_foreign_unless_annotated_managed() {
        let ss = sealed_secret().build();
        let mut existing = existing_secret(&[]);
        assert_eq!(ownership(&existing, &ss), Ownership::Foreign);
        let desired = build(
            &shape(&ss).unwrap(),
            unsealed(&[("username", "admin")]),
            &used(),
        )
        .unwrap();
        assert!(matches!(
            update(&existing, &desired, Ownership::Foreign),
            Err(Error::Unmanaged { .. })
        ));
        existing.metadata.annotations =
            Some(BTreeMap::from([(MANAGED_ANNOTATION.into(), "true".into())]));
        assert_eq!(ownership(&existing, &ss), Ownership::Managed);
        let next = update(&existing, &desired, Ownership::Managed)
            .unwrap()
            .unwrap();
        assert_eq!(
            next.metadata.owner_references,
            desired.metadata.owner_references
        );
        assert_eq!(next.data, desired.data);
    }

    #[test]
    fn a_secret_owned_by_another_sealed_secret_is_foreign() {
        let ss = sealed_secret().build();
        let mut existing = existing_secret(&[]);
        existing.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "bitnami.com/v1alpha1".into(),
            kind: "SealedSecret".into(),
            name: "db".into(),
            uid: "old-uid".into(),
            controller: Some(true),
            block_owner_deletion: None,
        }]);
        assert_eq!(ownership(&existing, &ss), Ownership::Foreign);
    }

    #[test]
    fn patch_mode_merges_items_labels_and_annotations() {
        let ss = sealed_secret().label("app", "web").build();
        let mut existing = existing_secret(&[("other", "keep")]);
        existing.metadata.annotations =
            Some(BTreeMap::from([(PATCH_ANNOTATION.into(), "true".into())]));
        existing.metadata.labels = Some(BTreeMap::from([("team".into(), "a".into())]));
        let own = ownership(&existing, &ss);
        assert_eq!(own, Ownership::Patch { managed: false });
        let shape = shape(&ss).unwrap();
        let desired = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        let next = update(&existing, &desired, own).unwrap().unwrap();
        let data = next.data.as_ref().unwrap();
        assert_eq!(data["other"].0, b"keep");
        assert_eq!(data["username"].0, b"admin");
        let labels = next.metadata.labels.as_ref().unwrap();
        assert_eq!(
            (labels["team"].as_str(), labels["app"].as_str()),
            ("a", "web")
        );
        assert!(next.metadata.owner_references.is_none());
        assert!(in_sync(&next, &ss, &shape, &held));
    }

    #[test]
    fn an_identical_secret_needs_no_update_and_an_immutable_one_refuses_changes() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let desired = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        assert!(
            update(&desired, &desired, Ownership::Owned)
                .unwrap()
                .is_none()
        );
        let mut existing = desired.clone();
        existing.immutable = Some(true);
        let changed = build(&shape, unsealed(&[("username", "root")]), &used()).unwrap();
        assert!(matches!(
            update(&existing, &changed, Ownership::Owned),
            Err(Error::Immutable { .. })
        ));
    }

    #[test]
    fn the_digest_is_not_the_plain_hash_of_a_value() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used()).unwrap();
        let recorded = &secret.metadata.annotations.as_ref().unwrap()[DIGEST_ANNOTATION];
        let plain = hex::encode(Sha256::digest(b"admin"));
        assert!(!recorded.contains(&plain));
        assert!(!recorded.contains("admin"));
    }
}
