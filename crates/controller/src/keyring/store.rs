//! Key Secrets exactly as Bitnami stores them (`pkg/controller/keys.go` `writeKey`/`readKey`):
//! `type: kubernetes.io/tls`, `tls.key` = PKCS#1 PEM, `tls.crt` = PEM certificate, label
//! `sealedsecrets.bitnami.com/sealed-secrets-key: active`, `generateName: <key-prefix>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sealer::sealed::{Certificate, PrivateKey};
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;

use super::KeyEntry;
use crate::error::{Error, Result};

/// Label every key Secret carries.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Value of [`KEY_LABEL`] for a key in use.
pub const ACTIVE: &str = "active";
/// Value of [`KEY_LABEL`] for a key that must no longer seal.
pub const COMPROMISED: &str = "compromised";
/// The Secret type keys are stored as.
pub const TLS_TYPE: &str = "kubernetes.io/tls";

/// Reads a key Secret. `None` when its label says neither `active` nor `compromised`
/// (Bitnami ignores such keys); an error names what is wrong, never key bytes.
pub fn entry_from_secret(secret: &Secret, legacy_name: Option<&str>) -> Result<Option<KeyEntry>> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let label = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(KEY_LABEL))
        .map(String::as_str);
    let compromised = match label {
        Some(ACTIVE) => false,
        Some(COMPROMISED) => true,
        // The pre-0.9 key Secret named exactly `<key-prefix>` needs no label.
        None if legacy_name == Some(name.as_str()) => false,
        _ => return Ok(None),
    };
    let invalid = |reason: &str| Error::InvalidKeySecret {
        name: name.clone(),
        reason: reason.to_owned(),
    };
    let data = secret.data.as_ref().ok_or_else(|| invalid("no data"))?;
    let key_pem = data
        .get("tls.key")
        .ok_or_else(|| invalid("no tls.key item"))?;
    let cert_pem = data
        .get("tls.crt")
        .ok_or_else(|| invalid("no tls.crt item"))?;
    let private =
        PrivateKey::from_pem(&key_pem.0).map_err(|e| invalid(&format!("tls.key: {e}")))?;
    let certificate =
        Certificate::from_pem(&cert_pem.0).map_err(|e| invalid(&format!("tls.crt: {e}")))?;
    if private.public_key() != certificate.public_key() {
        return Err(invalid("tls.crt does not certify the key in tls.key"));
    }
    let created = secret
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.0.as_second()).ok());
    Ok(Some(KeyEntry {
        fingerprint: certificate.public_key().fingerprint(),
        secret_name: name,
        private,
        certificate,
        created,
        compromised,
        resource_version: secret.metadata.resource_version.clone(),
    }))
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
    let mut labels: BTreeMap<String, String> = meta.labels.iter().cloned().collect();
    labels.insert(KEY_LABEL.into(), ACTIVE.into());
    let annotations: BTreeMap<String, String> = meta.annotations.iter().cloned().collect();
    let pem = key.to_pkcs1_pem();
    let data = BTreeMap::from([
        (
            "tls.key".to_owned(),
            ByteString(pem.expose_secret().as_bytes().to_vec()),
        ),
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
