//! Key Secrets exactly as Bitnami stores them (`pkg/controller/keys.go` `writeKey`/`readKey`):
//! `type: kubernetes.io/tls`, `tls.key` = PKCS#1 PEM, `tls.crt` = PEM certificate, label
//! `sealedsecrets.bitnami.com/sealed-secrets-key: active`, `generateName: <key-prefix>`.
//!
//! Two sealkit additions keep that shape: the label value `retired` ([`RETIRED`]), and a
//! `tls.key` holding the private key wrapped by a KMS master key (see [`super::wrap`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sealer::sealed::{Certificate, PrivateKey};
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;

use super::{HeldBack, HeldBackReason, KeyEntry};
use crate::error::{Error, Result};

/// Label every key Secret carries.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Value of [`KEY_LABEL`] for a key in use.
pub const ACTIVE: &str = "active";
/// Value of [`KEY_LABEL`] for a key that must no longer seal.
pub const COMPROMISED: &str = "compromised";
/// Value of [`KEY_LABEL`] for a key that is no longer used at all (`seal keys retire`).
pub const RETIRED: &str = "retired";

/// What a key Secret's label says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelState {
    /// `active` (or the unlabelled legacy Secret): seals and decrypts.
    Active,
    /// `compromised`: decrypts, never seals.
    Compromised,
    /// `retired`: neither.
    Retired,
}

/// The state a key Secret's label gives it; `None` for anything else (Bitnami ignores
/// those).
pub fn label_state(secret: &Secret, legacy_name: Option<&str>) -> Option<LabelState> {
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let label = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(KEY_LABEL))
        .map(String::as_str);
    match label {
        Some(ACTIVE) => Some(LabelState::Active),
        Some(COMPROMISED) => Some(LabelState::Compromised),
        Some(RETIRED) => Some(LabelState::Retired),
        // The pre-0.9 key Secret named exactly `<key-prefix>` needs no label.
        None if legacy_name == Some(name) => Some(LabelState::Active),
        _ => None,
    }
}

/// The `tls.key` item of a key Secret, as stored (PEM, or a wrapped key).
pub fn tls_key(secret: &Secret) -> Option<&[u8]> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get("tls.key"))
        .map(|k| k.0.as_slice())
}

/// What the keyring keeps of a key Secret whose key it does not use: the certificate's
/// fingerprint and validity (when it reads), never the private key.
pub fn held_back(secret: &Secret, reason: HeldBackReason) -> HeldBack {
    let cert = secret
        .data
        .as_ref()
        .and_then(|d| d.get("tls.crt"))
        .and_then(|c| Certificate::from_pem(&c.0).ok());
    HeldBack {
        secret_name: secret.metadata.name.clone().unwrap_or_default(),
        fingerprint: cert.as_ref().map(|c| c.public_key().fingerprint()),
        validity: cert.as_ref().map(|c| (c.not_before(), c.not_after())),
        created: created(secret),
        wrapped: tls_key(secret).is_some_and(super::wrap::is_wrapped),
        reason,
        resource_version: secret.metadata.resource_version.clone(),
    }
}

fn created(secret: &Secret) -> Option<OffsetDateTime> {
    secret
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.0.as_second()).ok())
}
/// The Secret type keys are stored as.
pub const TLS_TYPE: &str = "kubernetes.io/tls";

/// Reads a key Secret holding a plain PEM key. `None` when its label says neither `active`
/// nor `compromised` (Bitnami ignores such keys); an error names what is wrong, never key
/// bytes.
pub fn entry_from_secret(secret: &Secret, legacy_name: Option<&str>) -> Result<Option<KeyEntry>> {
    let compromised = match label_state(secret, legacy_name) {
        Some(LabelState::Active) => false,
        Some(LabelState::Compromised) => true,
        _ => return Ok(None),
    };
    let name = secret.metadata.name.clone().unwrap_or_default();
    let key_pem = tls_key(secret).ok_or_else(|| Error::InvalidKeySecret {
        name,
        reason: "no tls.key item".into(),
    })?;
    entry_with_key(secret, key_pem, compromised).map(Some)
}

/// Reads a key Secret with its private key given as PEM (read from `tls.key`, or unwrapped
/// from it).
pub fn entry_with_key(secret: &Secret, key_pem: &[u8], compromised: bool) -> Result<KeyEntry> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let invalid = |reason: &str| Error::InvalidKeySecret {
        name: name.clone(),
        reason: reason.to_owned(),
    };
    let data = secret.data.as_ref().ok_or_else(|| invalid("no data"))?;
    let cert_pem = data
        .get("tls.crt")
        .ok_or_else(|| invalid("no tls.crt item"))?;
    let private = PrivateKey::from_pem(key_pem).map_err(|e| invalid(&format!("tls.key: {e}")))?;
    let certificate =
        Certificate::from_pem(&cert_pem.0).map_err(|e| invalid(&format!("tls.crt: {e}")))?;
    if private.public_key() != certificate.public_key() {
        return Err(invalid("tls.crt does not certify the key in tls.key"));
    }
    Ok(KeyEntry {
        fingerprint: certificate.public_key().fingerprint(),
        secret_name: name,
        private,
        certificate,
        created: created(secret),
        compromised,
        resource_version: secret.metadata.resource_version.clone(),
        wrapped: tls_key(secret).is_some_and(super::wrap::is_wrapped),
    })
}

/// What a new key Secret carries besides the key.
#[derive(Debug, Clone, Default)]
pub struct KeySecretMeta {
    /// `generateName`.
    pub prefix: String,
    /// Namespace.
    pub namespace: String,
    /// Extra labels (`--privatekey-labels`); cannot replace [`KEY_LABEL`].
    pub labels: Vec<(String, String)>,
    /// Annotations (`--privatekey-annotations`).
    pub annotations: Vec<(String, String)>,
}

/// The Secret that stores a new key pair, Bitnami's shape.
pub fn key_secret(key: &PrivateKey, cert: &Certificate, meta: &KeySecretMeta) -> Secret {
    let pem = key.to_pkcs1_pem();
    key_secret_with(pem.expose_secret().as_bytes().to_vec(), cert, meta)
}

/// The Secret that stores a key pair whose `tls.key` item is `tls_key` (PEM, or the wrapped
/// form), Bitnami's shape otherwise.
pub fn key_secret_with(tls_key: Vec<u8>, cert: &Certificate, meta: &KeySecretMeta) -> Secret {
    let mut labels: BTreeMap<String, String> = meta.labels.iter().cloned().collect();
    labels.insert(KEY_LABEL.into(), ACTIVE.into());
    let annotations: BTreeMap<String, String> = meta.annotations.iter().cloned().collect();
    let data = BTreeMap::from([
        ("tls.key".to_owned(), ByteString(tls_key)),
        ("tls.crt".to_owned(), ByteString(cert.to_pem().into_bytes())),
    ]);
    Secret {
        metadata: ObjectMeta {
            generate_name: Some(meta.prefix.clone()),
            namespace: Some(meta.namespace.clone()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        },
        type_: Some(TLS_TYPE.into()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Wraps a parsed entry.
pub fn shared(entry: KeyEntry) -> Arc<KeyEntry> {
    Arc::new(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::tests::TEST_KEYS;
    use crate::reconciler::cache::scrub;

    fn bitnami_secret(label: Option<&str>, key: &str, cert: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("sealed-secrets-keyab12c".into()),
                namespace: Some("kube-system".into()),
                labels: label.map(|l| BTreeMap::from([(KEY_LABEL.to_owned(), l.to_owned())])),
                ..ObjectMeta::default()
            },
            type_: Some(TLS_TYPE.into()),
            data: Some(BTreeMap::from([
                ("tls.key".to_owned(), ByteString(key.as_bytes().to_vec())),
                ("tls.crt".to_owned(), ByteString(cert.as_bytes().to_vec())),
            ])),
            ..Secret::default()
        }
    }

    #[test]
    fn a_bitnami_key_secret_is_read_as_an_active_key() {
        let (key, cert) = &TEST_KEYS[0];
        let entry = entry_from_secret(&bitnami_secret(Some("active"), key, cert), None)
            .unwrap()
            .unwrap();
        assert!(!entry.compromised);
        assert_eq!(entry.secret_name, "sealed-secrets-keyab12c");
        assert!(entry.fingerprint.starts_with("SHA256:"));
    }

    #[test]
    fn compromised_and_unknown_labels_are_told_apart() {
        let (key, cert) = &TEST_KEYS[0];
        let s = bitnami_secret(Some("compromised"), key, cert);
        assert!(entry_from_secret(&s, None).unwrap().unwrap().compromised);
        let s = bitnami_secret(Some("retired"), key, cert);
        assert!(entry_from_secret(&s, None).unwrap().is_none());
        assert_eq!(label_state(&s, None), Some(LabelState::Retired));
        let held = held_back(&s, HeldBackReason::Retired);
        assert_eq!(
            held.fingerprint.as_deref(),
            Some(
                Certificate::from_pem(cert.as_bytes())
                    .unwrap()
                    .public_key()
                    .fingerprint()
                    .as_str()
            )
        );
        let s = bitnami_secret(Some("other"), key, cert);
        assert_eq!(label_state(&s, None), None);
    }

    #[test]
    fn the_legacy_unlabelled_key_secret_is_read_only_under_its_exact_name() {
        let (key, cert) = &TEST_KEYS[0];
        let s = bitnami_secret(None, key, cert);
        assert!(
            entry_from_secret(&s, Some("sealed-secrets-key"))
                .unwrap()
                .is_none()
        );
        assert!(
            entry_from_secret(&s, Some("sealed-secrets-keyab12c"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_certificate_of_another_key_is_rejected_without_printing_key_bytes() {
        let (key, _) = &TEST_KEYS[0];
        let (_, other_cert) = &TEST_KEYS[1];
        let err = entry_from_secret(&bitnami_secret(Some("active"), key, other_cert), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not certify"), "{err}");
        assert!(!err.contains("PRIVATE KEY"));
    }

    #[test]
    fn a_new_key_secret_has_bitnamis_shape_and_reads_back() {
        let (key, cert) = &TEST_KEYS[0];
        let key = PrivateKey::from_pem(key.as_bytes()).unwrap();
        let cert = Certificate::from_pem(cert.as_bytes()).unwrap();
        let meta = KeySecretMeta {
            prefix: "sealed-secrets-key".into(),
            namespace: "kube-system".into(),
            labels: vec![
                (KEY_LABEL.into(), "compromised".into()),
                ("team".into(), "a".into()),
            ],
            annotations: vec![("note".into(), "x".into())],
        };
        let mut secret = key_secret(&key, &cert, &meta);
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(
            secret.metadata.generate_name.as_deref(),
            Some("sealed-secrets-key")
        );
        let labels = secret.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[KEY_LABEL], "active");
        assert_eq!(labels["team"], "a");
        let tls_key = &secret.data.as_ref().unwrap()["tls.key"].0;
        assert!(tls_key.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
        secret.metadata.name = Some("sealed-secrets-keyxyz".into());
        let back = entry_from_secret(&secret, None).unwrap().unwrap();
        assert_eq!(back.fingerprint, cert.public_key().fingerprint());
        scrub(&mut secret);
        assert!(secret.data.unwrap()["tls.key"].0.iter().all(|b| *b == 0));
    }
}
