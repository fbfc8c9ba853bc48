//! The key of the `sealkit.dev/unsealed-digest` annotation: 32 random bytes the controller keeps
//! in a Secret of its key namespace (`<key-prefix>-digest`, item [`ITEM`]).
//!
//! The digest covers the plaintext the Secret was given (so an edited value is noticed without
//! decrypting anything). Unkeyed, it would let anyone who sees the annotation (metadata views,
//! GitOps diffs, backups of object metadata) test guesses of a low-entropy value offline; keyed
//! with HMAC-SHA256, it tells nothing without this key, which only the controller's identity
//! can read. The leader creates the Secret on its first start; whoever leads later reads it,
//! so every replica computes the same digests and a restart decrypts nothing that is in sync.

use std::collections::BTreeMap;

use hmac::Hmac;
use hmac::digest::KeyInit;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::reconciler::cache::scrub;

/// The data item that holds the key.
pub const ITEM: &str = "hmac-sha256.key";
/// Label on the key's Secret (not the sealing-key label: Bitnami must not read it as a key).
pub const LABEL: &str = "sealkit.dev/digest-key";

/// HMAC-SHA256 as the digest uses it.
pub type DigestMac = Hmac<Sha256>;

/// The digest key. Never printed.
pub struct DigestKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey([REDACTED])")
    }
}

impl DigestKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(SecretBox::init_with_mut(|k: &mut [u8; 32]| {
            rand::rngs::OsRng.fill_bytes(k);
        }))
    }

    /// The key stored in `bytes`, which must be exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let array: &[u8; 32] = bytes.try_into().ok()?;
        Some(Self(SecretBox::init_with_mut(|k: &mut [u8; 32]| {
            k.copy_from_slice(array);
        })))
    }

    /// A MAC keyed with it.
    pub fn mac(&self) -> DigestMac {
        // HMAC takes keys of any length (RFC 2104 section 2): the fallback is never taken.
        <DigestMac as KeyInit>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| <DigestMac as KeyInit>::new(&Default::default()))
    }
}

/// Name of the Secret holding the key: `<key-prefix>-digest`. Bitnami's generated key Secrets
/// are `<key-prefix>` plus five characters without `-`, so the names never meet.
pub fn secret_name(key_prefix: &str) -> String {
    format!("{key_prefix}-digest")
}

/// The Secret that stores `key`.
fn key_secret(name: &str, key: &DigestKey) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(LABEL.to_owned(), "true".to_owned())])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            ITEM.to_owned(),
            ByteString(key.0.expose_secret().to_vec()),
        )])),
        ..Secret::default()
    }
}

/// Reads the key from its Secret; an error when the item is missing or not 32 bytes.
fn key_from_secret(name: &str, mut secret: Secret) -> Result<DigestKey> {
    let key = secret
        .data
        .as_ref()
        .and_then(|d| d.get(ITEM))
        .and_then(|v| DigestKey::from_bytes(&v.0));
    scrub(&mut secret);
    key.ok_or_else(|| Error::InvalidKeySecret {
        name: name.to_owned(),
        reason: format!("item {ITEM} must hold 32 bytes"),
    })
}

/// Reads the key from the Secret `name` of `api`'s namespace, creating it with a fresh key when
/// there is none (a replica that loses the race to create it reads the winner's).
pub async fn load_or_create(api: &Api<Secret>, name: &str) -> Result<DigestKey> {
    let namespace = api.namespace().unwrap_or_default().to_owned();
    if let Some(secret) = api
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("get secret {namespace}/{name}")))?
    {
        return key_from_secret(name, secret);
    }
    let key = DigestKey::generate();
    let mut secret = key_secret(name, &key);
    let created = api.create(&PostParams::default(), &secret).await;
    scrub(&mut secret);
    match created {
        Ok(mut stored) => {
            scrub(&mut stored);
            tracing::info!(%namespace, secret = %name, "digest key created");
            Ok(key)
        }
        Err(e) if crate::reconciler::is_conflict(&e) => {
            let secret = api
                .get(name)
                .await
                .map_err(Error::kube(format!("get secret {namespace}/{name}")))?;
            key_from_secret(name, secret)
        }
        Err(e) => Err(Error::kube(format!("create secret {namespace}/{name}"))(e)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use hmac::Mac as _;

    use super::*;

    /// A fixed key for unit tests.
    pub(crate) fn test_key(byte: u8) -> DigestKey {
        DigestKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_stored_key_reads_back_and_a_short_one_is_refused_without_its_bytes() {
        let key = DigestKey::generate();
        let secret = key_secret("sealed-secrets-key-digest", &key);
        assert_eq!(
            secret.metadata.labels.as_ref().unwrap().get(LABEL),
            Some(&"true".to_owned())
        );
        assert!(
            !secret
                .metadata
                .labels
                .as_ref()
                .unwrap()
                .contains_key(crate::keyring::store::KEY_LABEL)
        );
        let back = key_from_secret("s", secret).unwrap();
        assert_eq!(
            back.mac().chain_update(b"x").finalize().into_bytes(),
            key.mac().chain_update(b"x").finalize().into_bytes()
        );
        let mut short = key_secret("s", &key);
        short
            .data
            .as_mut()
            .unwrap()
            .insert(ITEM.into(), ByteString(vec![1; 31]));
        let err = key_from_secret("s", short).unwrap_err().to_string();
        assert_eq!(
            err,
            "key secret \"s\": item hmac-sha256.key must hold 32 bytes"
        );
    }

    #[test]
    fn the_key_never_prints() {
        assert_eq!(format!("{:?}", test_key(7)), "DigestKey([REDACTED])");
    }

    #[test]
    fn the_digest_secret_name_cannot_be_a_generated_key_name() {
        // generateName appends 5 characters of [bcdfghjklmnpqrstvwxz2456789].
        let name = secret_name("sealed-secrets-key");
        assert_eq!(name, "sealed-secrets-key-digest");
        assert_ne!(name.len(), "sealed-secrets-key".len() + 5);
    }
}
