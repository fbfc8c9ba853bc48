//! The Secret a SealedSecret stands for, and whether the one in the cluster already is it.
//!
//! Bitnami's rules (`pkg/controller/controller.go` `unseal`, `sealedsecret_expansion.go`
//! `Unseal`): the Secret takes the template's labels, annotations, finalizers, `type` and
//! `immutable` (on create only), its name and namespace are the SealedSecret's, and it is owned
//! by the SealedSecret (controller=true) unless the template says
//! `sealedsecrets.bitnami.com/skip-set-owner-references: "true"`. An existing Secret is only
//! overwritten when the SealedSecret controls it (ownerReference with its uid) or it says
//! `managed: "true"`; with `patch: "true"` the new items, labels and annotations are merged
//! into it. Nothing else is proof of ownership: sealkit's own annotations can be copied.
//!
//! sealkit adds two annotations: [`KEYS_ANNOTATION`] lists the fingerprints of the keys that
//! opened the items, and [`DIGEST_ANNOTATION`] is an HMAC-SHA256, keyed with the controller's
//! [`DigestKey`], over the inputs (name, namespace, scope, spec), those keys (fingerprint and
//! whether marked compromised) and the data the Secret was given. When it matches the Secret in
//! the cluster nothing is decrypted, so a restart over thousands of in-sync objects costs no
//! RSA operation; when a key it was made with is removed or marked compromised, it no longer
//! matches and the Secret is made again. Keyed, it is no hash of the plaintext that someone
//! who sees the annotation could test guesses against.

use std::collections::{BTreeMap, BTreeSet};

use hmac::Mac as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sealer::sealed::{SealedSecret, SecretManifest};
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};

use super::digest_key::DigestKey;
use crate::error::{Error, Result};
use crate::keyring::KeyUse;

/// Set on the Secret: keyed digest of the inputs, the keys used and the data written.
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
/// `used`: `hmac-sha256:<hex>` keyed with `key`.
pub fn digest(
    key: &DigestKey,
    input: &[u8; 32],
    used: &[KeyUse],
    data: &BTreeMap<String, ByteString>,
    keys: Option<&BTreeSet<String>>,
) -> String {
    let mut h = key.mac();
    h.update(input);
    h.update(&(used.len() as u64).to_be_bytes());
    for opened in used {
        h.update(&(opened.fingerprint.len() as u64).to_be_bytes());
        h.update(opened.fingerprint.as_bytes());
        h.update(&[u8::from(opened.compromised)]);
    }
    for (k, v) in data {
        if keys.is_some_and(|keys| !keys.contains(k)) {
            continue;
        }
        h.update(&(k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update(&(v.0.len() as u64).to_be_bytes());
        h.update(&v.0);
    }
    format!("hmac-sha256:{}", hex::encode(h.finalize().into_bytes()))
}

/// How the controller stands to an existing Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Controlled by this SealedSecret (a controller ownerReference with its uid).
    Owned,
    /// Annotated `managed: "true"` (taken over, replaced wholesale).
    Managed,
    /// Annotated `patch: "true"` (merged into; ownerReference set only if also managed).
    Patch {
        /// Also `managed`.
        managed: bool,
    },
    /// Someone else's: never written.
    Foreign,
}

/// Decides [`Ownership`] of `existing` relative to `ss`, as Bitnami does (`IsControlledBy`,
/// `managed`, `patch`).
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
///
/// A Secret without any ownerReference, made for a template that skips them, is in sync when
/// its digest verifies under `key` (only the controller can have written it so); being in sync
/// it is left alone, and when it is not, it is not the controller's to overwrite.
pub fn in_sync(
    existing: &Secret,
    ss: &SealedSecret,
    shape: &Shape,
    key_state: &dyn Fn(&str) -> Option<bool>,
    key: &DigestKey,
) -> bool {
    keys_if_in_sync(existing, ss, shape, key_state, key).is_some()
}

/// [`in_sync`] that also says, when the Secret is in sync, which keys it was made with (the
/// fingerprints its [`KEYS_ANNOTATION`] lists, which the keyed digest covers): what the
/// SealedSecret needs, known without decrypting anything.
pub fn keys_if_in_sync(
    existing: &Secret,
    ss: &SealedSecret,
    shape: &Shape,
    key_state: &dyn Fn(&str) -> Option<bool>,
    key: &DigestKey,
) -> Option<Vec<KeyUse>> {
    let own = ownership(existing, ss);
    let unowned_by_design = shape.owner.is_none() && owner_refs(existing).is_empty();
    if own == Ownership::Foreign && !unowned_by_design {
        return None;
    }
    let empty = BTreeMap::new();
    let data = existing.data.as_ref().unwrap_or(&empty);
    let annotations = existing.metadata.annotations.clone().unwrap_or_default();
    let recorded = annotations.get(DIGEST_ANNOTATION)?;
    let used = recorded_keys(&annotations, key_state)?;
    if *recorded != digest(key, &shape.input_digest, &used, data, shape.keys.as_ref()) {
        return None;
    }
    if secret_type(&existing.type_) != secret_type(&shape.type_) {
        return None;
    }
    let labels = existing.metadata.labels.clone().unwrap_or_default();
    let same = match own {
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
    };
    same.then_some(used)
}

/// A Secret without `type` is `Opaque`.
fn secret_type(t: &Option<String>) -> &str {
    t.as_deref().unwrap_or("Opaque")
}

fn owner_refs(secret: &Secret) -> Vec<OwnerReference> {
    secret.metadata.owner_references.clone().unwrap_or_default()
}

/// Builds the Secret from the unsealed manifest, opened with the keys `used`, its digest keyed
/// with `key`. The caller scrubs it after use.
pub fn build(
    shape: &Shape,
    unsealed: SecretManifest,
    used: &[KeyUse],
    key: &DigestKey,
) -> Result<Secret> {
    let mut data = BTreeMap::new();
    for (k, v) in &unsealed.data {
        let bytes = sealer::encoding::decode_std(v.expose_secret())
            .map_err(|_| Error::Config(format!("unsealed item {k:?} is not base64")))?;
        data.insert(k.clone(), ByteString(bytes));
    }
    let mut annotations = shape.annotations.clone();
    annotations.insert(
        DIGEST_ANNOTATION.into(),
        digest(key, &shape.input_digest, used, &data, shape.keys.as_ref()),
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
    use crate::sealedsecrets::digest_key::tests::test_key;
    use crate::sealedsecrets::fixtures::{existing_secret, sealed_secret};

    /// The controller's digest key in these tests.
    fn key() -> DigestKey {
        test_key(1)
    }

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
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
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
    fn skip_set_owner_references_leaves_the_secret_unowned_and_in_sync_only_under_our_key() {
        let ss = sealed_secret()
            .template_annotation(SKIP_OWNER_REFERENCES_ANNOTATION, "true")
            .build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        assert!(secret.metadata.owner_references.is_none());
        // Not ours to overwrite (Bitnami: only a controller ownerReference or `managed`)...
        assert_eq!(ownership(&secret, &ss), Ownership::Foreign);
        // ...but recognised as in sync, so a restart neither decrypts nor complains.
        assert!(in_sync(&secret, &ss, &shape, &held, &key()));
        assert!(!in_sync(&secret, &ss, &shape, &held, &test_key(2)));
    }

    // issue 13: the digest annotation was accepted as proof of ownership, so a Secret carrying
    // a copy of it (replicated from elsewhere, or written by anyone) was overwritten.
    #[test]
    fn a_copied_digest_annotation_is_no_proof_of_ownership() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let ours = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        let mut other = existing_secret(&[("username", "someone else's")]);
        other.metadata.annotations = ours.metadata.annotations.clone();
        assert_eq!(ownership(&other, &ss), Ownership::Foreign);
        assert!(!in_sync(&other, &ss, &shape, &held, &key()));
        assert!(matches!(
            update(&other, &ours, Ownership::Foreign),
            Err(Error::Unmanaged { .. })
        ));
    }

    // issue 13: the digest was an unkeyed SHA-256 over public inputs and the plaintext, so
    // whoever saw the annotation could test guesses of a low-entropy value offline.
    #[test]
    fn the_digest_cannot_be_recomputed_from_public_inputs_and_a_guessed_value() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        let recorded = &secret.metadata.annotations.as_ref().unwrap()[DIGEST_ANNOTATION];
        // What an observer can compute: the unkeyed construction over the right guess.
        let guess = BTreeMap::from([("username".to_owned(), ByteString(b"admin".to_vec()))]);
        let mut h = Sha256::new();
        h.update(shape.input_digest);
        h.update(1u64.to_be_bytes());
        h.update((KEY_FINGERPRINT.len() as u64).to_be_bytes());
        h.update(KEY_FINGERPRINT.as_bytes());
        h.update([0u8]);
        for (k, v) in &guess {
            h.update((k.len() as u64).to_be_bytes());
            h.update(k.as_bytes());
            h.update((v.0.len() as u64).to_be_bytes());
            h.update(&v.0);
        }
        let unkeyed = hex::encode(h.finalize());
        assert!(!recorded.contains(&unkeyed), "{recorded}");
        assert!(recorded.starts_with("hmac-sha256:"), "{recorded}");
        // The same guess under another key gives another digest: only the key holder can
        // check a guess, and the key holder already holds the plaintext.
        let elsewhere = digest(&test_key(2), &shape.input_digest, &used(), &guess, None);
        assert_ne!(*recorded, elsewhere);
        assert_eq!(
            *recorded,
            digest(&key(), &shape.input_digest, &used(), &guess, None)
        );
    }

    #[test]
    fn a_written_secret_is_in_sync_until_its_data_or_inputs_change() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let mut secret =
            build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        assert!(in_sync(&secret, &ss, &shape, &held, &key()));

        // Someone edits the value in the cluster.
        secret
            .data
            .as_mut()
            .unwrap()
            .insert("username".into(), ByteString(b"root".to_vec()));
        assert!(!in_sync(&secret, &ss, &shape, &held, &key()));

        // The SealedSecret changes.
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        let changed = sealed_secret().item("username", "AgBnew").build();
        assert!(!in_sync(
            &secret,
            &changed,
            &super::shape(&changed).unwrap(),
            &held,
            &key()
        ));
    }

    #[test]
    fn a_secret_made_with_a_key_since_removed_or_compromised_is_out_of_sync() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        assert_eq!(
            secret.metadata.annotations.as_ref().unwrap()[KEYS_ANNOTATION],
            KEY_FINGERPRINT
        );
        assert!(in_sync(&secret, &ss, &shape, &held, &key()));
        assert!(!in_sync(&secret, &ss, &shape, &|_| None, &key()));
        assert!(!in_sync(&secret, &ss, &shape, &|_| Some(true), &key()));
        // Made again with the key now marked compromised: in sync under that state.
        let again = build(
            &shape,
            unsealed(&[("username", "admin")]),
            &[KeyUse {
                fingerprint: KEY_FINGERPRINT.into(),
                compromised: true,
            }],
            &key(),
        )
        .unwrap();
        assert!(in_sync(&again, &ss, &shape, &|_| Some(true), &key()));
    }

    #[test]
    fn a_scope_change_on_the_sealed_secret_breaks_sync() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let secret = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        let wide = sealed_secret()
            .annotation("sealedsecrets.bitnami.com/cluster-wide", "true")
            .build();
        assert!(!in_sync(
            &secret,
            &wide,
            &super::shape(&wide).unwrap(),
            &held,
            &key()
        ));
    }

    #[test]
    fn a_label_edit_on_the_secret_breaks_sync() {
        let ss = sealed_secret().label("app", "web").build();
        let shape = shape(&ss).unwrap();
        let mut secret =
            build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        secret
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("app".into(), "other".into());
        assert!(!in_sync(&secret, &ss, &shape, &held, &key()));
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
            &key(),
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
        let desired = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
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
        assert!(in_sync(&next, &ss, &shape, &held, &key()));
    }

    #[test]
    fn an_identical_secret_needs_no_update_and_an_immutable_one_refuses_changes() {
        let ss = sealed_secret().build();
        let shape = shape(&ss).unwrap();
        let desired = build(&shape, unsealed(&[("username", "admin")]), &used(), &key()).unwrap();
        assert!(
            update(&desired, &desired, Ownership::Owned)
                .unwrap()
                .is_none()
        );
        let mut existing = desired.clone();
        existing.immutable = Some(true);
        let changed = build(&shape, unsealed(&[("username", "root")]), &used(), &key()).unwrap();
        assert!(matches!(
            update(&existing, &changed, Ownership::Owned),
            Err(Error::Immutable { .. })
        ));
    }
}
