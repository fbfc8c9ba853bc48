//! What the SealedSecret reconciler shares between reconciles: the client, decryption,
//! metrics, Events, the Secret cache, the switches and the failure counts.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;

use super::digest_key::DigestKey;
use crate::keyring::Decryptor;
use crate::metrics::Metrics;
use crate::reconciler::retry::Failures;

/// What the SealedSecret reconciler needs.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Decryption.
    pub decryptor: Decryptor,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Cache of Secrets (the watch that also triggers reconciles).
    pub secrets: Store<Secret>,
    /// Behaviour switches.
    pub settings: Settings,
    /// Key of the `unsealed-digest` annotation.
    pub digest_key: Arc<DigestKey>,
    failures: Failures<(String, String)>,
}

/// Reconciler switches from the flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Write `status`.
    pub update_status: bool,
    /// Failed decryptions before giving up until the object or the keys change.
    pub max_unseal_retries: u32,
    /// Decrypt the legacy v1 `spec.data`.
    pub accept_deprecated_v1_data: bool,
}

impl Context {
    /// A context.
    pub fn new(
        client: Client,
        decryptor: Decryptor,
        metrics: Arc<Metrics>,
        recorder: Recorder,
        secrets: Store<Secret>,
        settings: Settings,
        digest_key: Arc<DigestKey>,
    ) -> Self {
        Self {
            client,
            decryptor,
            metrics,
            recorder,
            secrets,
            settings,
            digest_key,
            failures: Failures::default(),
        }
    }

    /// Counts one more failure of `namespace/name`; returns the count.
    pub fn record_failure(&self, namespace: &str, name: &str) -> u32 {
        self.failures
            .record((namespace.to_owned(), name.to_owned()))
    }

    /// Forgets the failures of `namespace/name`.
    pub fn clear_failures(&self, namespace: &str, name: &str) {
        self.failures
            .clear(&(namespace.to_owned(), name.to_owned()));
    }
}
