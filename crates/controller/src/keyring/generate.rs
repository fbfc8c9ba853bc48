//! New key pairs: RSA (`--key-size`) with a self-signed certificate shaped like Bitnami's
//! (`pkg/crypto/keys.go`: empty subject unless `--my-cn`, critical Encipher Only, CA:TRUE),
//! stored as a key Secret before it is used; with `--key-wrap-*`, its private key is stored
//! wrapped by the master key (see [`super::wrap`]).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use sealer::sealed::{Certificate, PrivateKey};

use super::store::{self, KeySecretMeta};
use super::wrap::KeyWrap;
use super::{KeyEntry, Keyring};
use crate::error::{Error, Result};
use crate::reconciler::cache::scrub;

/// How to make keys.
#[derive(Debug, Clone)]
pub struct KeyParams {
    /// RSA modulus size in bits.
    pub bits: usize,
    /// Certificate validity.
    pub ttl: Duration,
    /// Certificate common name (empty = empty subject).
    pub common_name: String,
    /// Where and how the Secret is stored.
    pub secret: KeySecretMeta,
}

/// Generates a key pair off the async runtime (RSA-4096 generation takes a while).
pub async fn generate_pair(params: &KeyParams) -> Result<(PrivateKey, Certificate)> {
    let bits = params.bits;
    let ttl = time::Duration::try_from(params.ttl)
        .map_err(|_| Error::Config("--key-ttl out of range".into()))?;
    let cn = params.common_name.clone();
    tokio::task::spawn_blocking(move || {
        let key = PrivateKey::generate(bits).map_err(Error::KeyGeneration)?;
        let cert = Certificate::self_signed(&key, ttl, &cn).map_err(Error::KeyGeneration)?;
        Ok((key, cert))
    })
    .await
    .map_err(Error::Join)?
}

/// Generates a key, stores it as a key Secret (its private key wrapped when `wrap` is given)
/// and, once the API server has it, adds it to the keyring (Bitnami registers a key only after
/// the create succeeds).
pub async fn generate_and_store(
    api: &Api<Secret>,
    params: &KeyParams,
    keyring: &Keyring,
    wrap: Option<&KeyWrap>,
) -> Result<Arc<KeyEntry>> {
    let (key, cert) = generate_pair(params).await?;
    let pem = zeroize::Zeroizing::new(
        secrecy::ExposeSecret::expose_secret(&key.to_pkcs1_pem())
            .as_bytes()
            .to_vec(),
    );
    let tls_key = match wrap {
        Some(wrap) => wrap.wrap(&pem).await?,
        None => pem.to_vec(),
    };
    let mut secret = store::key_secret_with(tls_key, &cert, &params.secret);
    let created = api.create(&PostParams::default(), &secret).await;
    scrub(&mut secret);
    let mut created = created.map_err(Error::kube(format!(
        "create key secret {}/{}*",
        params.secret.namespace, params.secret.prefix
    )))?;
    // The key in memory, not the stored (maybe wrapped) form: no second trip to the KMS.
    let entry = store::entry_with_key(&created, &pem, false);
    scrub(&mut created);
    let entry = Arc::new(entry?);
    tracing::info!(
        secret = %entry.secret_name,
        fingerprint = %entry.fingerprint,
        wrapped = entry.wrapped,
        certificate = %cert.to_pem(),
        "new sealing key generated"
    );
    keyring.insert(entry.clone());
    Ok(entry)
}
