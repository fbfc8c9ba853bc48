//! Decryption with the keyring's keys, bounded and ordered: the SealedSecret reconciler and
//! `/v1/verify`, `/v1/rotate` open SealedSecrets through a [`Decryptor`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use sealer::sealed::{ObjectMeta, SealedSecretSpec, SecretManifest};
use tokio::sync::Semaphore;

use super::{KeyEntry, Keyring};
use crate::error::{Error, Result};

/// Runs decryptions on blocking threads, at most `slots` at once, trying first the keys that
/// have opened the most SealedSecrets so far (newest first among equals). Used by the
/// reconciler and by `/v1/verify` and `/v1/rotate`.
///
/// A wrong key costs a full RSA private operation before OAEP rejects it, and a cluster's
/// SealedSecrets are mostly sealed with one or two of its keys: trying those first makes a cold
/// start over N objects cost about N operations instead of up to N × keys. The order changes
/// which key is tried first, never which key opens an item.
#[derive(Clone, Debug)]
pub struct Decryptor {
    /// The keys.
    pub keyring: Keyring,
    slots: Arc<Semaphore>,
    rsa_operations: Counter,
    /// SealedSecrets each key (by fingerprint) has opened items of.
    opened: Arc<Mutex<HashMap<String, u64>>>,
}

impl Decryptor {
    /// A decryptor allowing `concurrency` decryptions at once (at least one), counting the
    /// RSA private-key operations it does in `rsa_operations`.
    pub fn new(keyring: Keyring, concurrency: usize, rsa_operations: Counter) -> Self {
        Self {
            keyring,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            rsa_operations,
            opened: Arc::default(),
        }
    }

    /// A decryptor over the same keys with `concurrency` slots of its own (at least one) and
    /// its own record of which keys opened what, so that neither can hold up or reorder the
    /// other: the HTTP API gets one apart from the reconciler's.
    pub fn with_own_slots(&self, concurrency: usize) -> Self {
        Self {
            keyring: self.keyring.clone(),
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            rsa_operations: self.rsa_operations.clone(),
            opened: Arc::default(),
        }
    }

    /// The keys in the order to try them: most SealedSecrets opened first, then the keyring's
    /// order (newest first).
    fn keys_to_try(&self) -> Vec<Arc<KeyEntry>> {
        let mut keys = self.keyring.snapshot().as_ref().clone();
        let opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        // A stable sort: keys with equal counts keep the keyring's order.
        keys.sort_by_key(|k| std::cmp::Reverse(opened.get(&k.fingerprint).copied().unwrap_or(0)));
        keys
    }

    fn record_opened(&self, used: &[KeyUse]) {
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        for key in used {
            *opened.entry(key.fingerprint.clone()).or_default() += 1;
        }
    }

    /// Opens every item of a SealedSecret (`meta` = its top-level metadata, which sets the
    /// label). Template data is left to `sealer::sealed::unseal`; callers that must not render
    /// templates strip `spec.template.data` first.
    pub async fn unseal(&self, meta: ObjectMeta, spec: SealedSecretSpec) -> Result<SecretManifest> {
        self.unseal_reporting_keys(meta, spec)
            .await
            .map(|(secret, _)| secret)
    }

    /// Like [`Decryptor::unseal`], and also says which keys opened the items (their
    /// fingerprints and whether they are marked compromised), in fingerprint order.
    pub async fn unseal_reporting_keys(
        &self,
        meta: ObjectMeta,
        spec: SealedSecretSpec,
    ) -> Result<(SecretManifest, Vec<KeyUse>)> {
        let _permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Config("decryptor closed".into()))?;
        let keys = self.keys_to_try();
        if keys.is_empty() {
            return Err(Error::NoActiveKey);
        }
        let rsa_operations = self.rsa_operations.clone();
        let (secret, used) = tokio::task::spawn_blocking(move || {
            let refs: Vec<_> = keys.iter().map(|k| &k.private).collect();
            // Counted on this thread only, so concurrent decryptions elsewhere (or another
            // controller in the same process, as in tests) do not add up here.
            let before = sealer::sealed::rsa_private_operations_on_this_thread();
            let opened = sealer::sealed::unseal_reporting_keys(&meta, &spec, &refs);
            rsa_operations.inc_by(sealer::sealed::rsa_private_operations_on_this_thread() - before);
            let (secret, used) = opened.map_err(Error::Unseal)?;
            let mut used: Vec<KeyUse> = used
                .into_iter()
                .filter_map(|i| keys.get(i))
                .map(|k| KeyUse {
                    fingerprint: k.fingerprint.clone(),
                    compromised: k.compromised,
                })
                .collect();
            used.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
            Ok::<_, Error>((secret, used))
        })
        .await
        .map_err(Error::Join)??;
        self.record_opened(&used);
        Ok((secret, used))
    }
}

/// A key that opened items of a SealedSecret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// `SHA256:…` fingerprint of its public key.
    pub fingerprint: String,
    /// Whether the key is labelled `compromised`.
    pub compromised: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 13: verify/rotate shared the reconciler's decryption slots, so a flood of API
    // requests queued ahead of every reconcile (and the other way round).
    #[tokio::test]
    async fn a_decryptor_with_its_own_slots_is_not_held_up_by_the_other() {
        use crate::args::KeyOrderPriority;
        let ring = Keyring::new(KeyOrderPriority::CertNotBefore);
        let reconciles = Decryptor::new(ring, 1, Counter::default());
        let api = reconciles.with_own_slots(1);
        // Every API slot taken (a flood in progress)...
        let _busy = api.slots.clone().acquire_owned().await.unwrap();
        // ...and a reconcile still gets a slot at once (it fails later, for want of keys).
        let meta = ObjectMeta::default();
        let spec: SealedSecretSpec = serde_json::from_value(serde_json::json!({
            "encryptedData": {}
        }))
        .unwrap();
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            reconciles.unseal(meta, spec),
        )
        .await
        .expect("a reconcile waited for an API slot");
        assert!(matches!(r, Err(Error::NoActiveKey)));
        assert_eq!(reconciles.slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn keys_that_opened_secrets_before_are_tried_first() {
        use crate::args::KeyOrderPriority;
        use crate::keyring::tests::entry;
        use sealer::sealed::{SealOptions, seal_secret};

        let ring = Keyring::new(KeyOrderPriority::CertNotBefore);
        ring.replace(vec![
            entry(0, "a", false),
            entry(1, "b", false),
            entry(2, "c", false),
        ]);
        // Seal with the key tried last in the keyring's own order.
        let last = ring.snapshot().last().cloned().unwrap();
        let rsa = Counter::default();
        let decryptor = Decryptor::new(ring, 1, rsa.clone());
        let secret: SecretManifest = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "team-a"},
            "stringData": {"password": "hunter2"}
        }))
        .unwrap();
        let mut ops = vec![];
        for _ in 0..3 {
            let ss = seal_secret(
                &secret,
                last.certificate.public_key(),
                &SealOptions::default(),
            )
            .unwrap();
            let before = rsa.get();
            let (_, used) = decryptor
                .unseal_reporting_keys(ss.metadata.clone(), ss.spec.clone())
                .await
                .unwrap();
            assert_eq!(used.len(), 1);
            assert_eq!(used[0].fingerprint, last.fingerprint);
            ops.push(rsa.get() - before);
        }
        // The first costs one operation per key; then the key that opened it goes first.
        assert_eq!(ops, vec![3, 1, 1]);
    }
}
