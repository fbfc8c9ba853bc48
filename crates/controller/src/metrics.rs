//! Prometheus metrics, prefix `sealkit` (Bitnami's are `sealed_secrets_controller_*`; the names
//! below say what each one counts in sealkit's terms).

use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `unseal_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// [`crate::error::Error::metric_label`].
    pub reason: String,
    /// The SealedSecret's namespace (empty with `--metrics-omit-secret-labels`).
    pub namespace: String,
}

/// Labels of `keys`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    /// `active` or `compromised`.
    pub state: String,
}

/// Labels of `sealed_secrets_per_key`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FingerprintLabels {
    /// `SHA256:…` of the key.
    pub fingerprint: String,
}

/// Labels of `http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Route.
    pub path: String,
    /// Status code.
    pub code: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    omit_namespace: bool,
    /// Reconciles that had to unseal.
    pub unseal_requests: Counter,
    /// Reconciles that found the Secret in sync and did no decryption.
    pub unseal_skipped: Counter,
    /// Failures by reason.
    pub unseal_errors: Family<ErrorLabels, Counter>,
    /// RSA private-key operations done by this controller's decryptions.
    pub rsa_private_operations: Counter,
    /// Reconcile wall time.
    pub reconcile_duration: Histogram,
    /// Keys held, by state.
    pub keys: Family<KeyLabels, Gauge>,
    /// SealedSecrets that need each key (as recorded in their status).
    pub sealed_secrets_per_key: Family<FingerprintLabels, Gauge>,
    /// SealedSecrets with no key recorded yet.
    pub sealed_secrets_unrecorded: Gauge,
    /// 1 while this replica is the leader (or leader election is off).
    pub leader: Gauge,
    /// HTTP requests by route and status.
    pub http_requests: Family<HttpLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric under the `sealkit` prefix.
    pub fn new(omit_namespace: bool) -> Self {
        let mut registry = Registry::with_prefix("sealkit");
        let this = Self {
            registry: Mutex::new(Registry::default()),
            omit_namespace,
            unseal_requests: Counter::default(),
            unseal_skipped: Counter::default(),
            unseal_errors: Family::default(),
            rsa_private_operations: Counter::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            keys: Family::default(),
            sealed_secrets_per_key: Family::default(),
            sealed_secrets_unrecorded: Gauge::default(),
            leader: Gauge::default(),
            http_requests: Family::default(),
        };
        registry.register(
            "unseal_requests",
            "SealedSecrets decrypted into a Secret",
            this.unseal_requests.clone(),
        );
        registry.register(
            "unseal_skipped",
            "Reconciles that found the Secret in sync and decrypted nothing",
            this.unseal_skipped.clone(),
        );
        registry.register(
            "unseal_errors",
            "Failed reconciles by reason",
            this.unseal_errors.clone(),
        );
        registry.register(
            "rsa_private_operations",
            "RSA private-key operations performed by this controller",
            this.rsa_private_operations.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent reconciling one SealedSecret",
            this.reconcile_duration.clone(),
        );
        registry.register("keys", "Sealing keys held, by state", this.keys.clone());
        registry.register(
            "sealed_secrets_per_key",
            "SealedSecrets whose status records that this key opened them",
            this.sealed_secrets_per_key.clone(),
        );
        registry.register(
            "sealed_secrets_unrecorded",
            "SealedSecrets with no sealing key recorded yet (they may need any key)",
            this.sealed_secrets_unrecorded.clone(),
        );
        registry.register(
            "leader",
            "1 when this replica writes (leader, or leader election off)",
            this.leader.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status code",
            this.http_requests.clone(),
        );
        *this.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
        this
    }

    /// Registers more metrics (the ExternalSecret bridge's) under the same `sealkit` prefix.
    pub fn register_more(&self, register: impl FnOnce(&mut Registry)) {
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        register(&mut registry);
    }

    /// Counts a failed reconcile.
    pub fn count_error(&self, reason: &str, namespace: &str) {
        let namespace = if self.omit_namespace {
            String::new()
        } else {
            namespace.to_owned()
        };
        self.unseal_errors
            .get_or_create(&ErrorLabels {
                reason: reason.to_owned(),
                namespace,
            })
            .inc();
    }

    /// Sets the key gauges.
    pub fn set_keys(&self, active: usize, compromised: usize) {
        for (state, n) in [("active", active), ("compromised", compromised)] {
            self.keys
                .get_or_create(&KeyLabels {
                    state: state.into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Sets the key usage gauges: one series per key fingerprint (0 when nothing needs it);
    /// none while the counts are not known.
    pub fn set_key_usage<'a>(
        &self,
        fingerprints: impl IntoIterator<Item = &'a str>,
        counts: Option<&crate::keyring::usage::UsageCounts>,
    ) {
        self.sealed_secrets_per_key.clear();
        let Some(counts) = counts else {
            self.sealed_secrets_unrecorded.set(0);
            return;
        };
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for fingerprint in fingerprints {
            self.sealed_secrets_per_key
                .get_or_create(&FingerprintLabels {
                    fingerprint: fingerprint.to_owned(),
                })
                .set(gauge(counts.per_key.get(fingerprint).copied().unwrap_or(0)));
        }
        self.sealed_secrets_unrecorded.set(gauge(counts.unrecorded));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// A timer that records into `reconcile_duration` when dropped.
    pub fn reconcile_timer(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            start: Instant::now(),
            histogram: &self.reconcile_duration,
        }
    }
}

/// Records elapsed time on drop.
pub struct ReconcileTimer<'a> {
    start: Instant,
    histogram: &'a Histogram,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_uses_the_sealkit_prefix_and_omits_namespaces_on_request() {
        let m = Metrics::new(true);
        m.count_error("unseal", "team-a");
        m.set_keys(2, 1);
        {
            let _t = m.reconcile_timer();
        }
        let text = m.encode();
        assert!(
            text.contains("sealkit_unseal_errors_total{reason=\"unseal\",namespace=\"\"} 1"),
            "{text}"
        );
        assert!(!text.contains("team-a"));
        assert!(text.contains("sealkit_keys{state=\"active\"} 2"));
        assert!(text.contains("sealkit_rsa_private_operations_total"));
        assert!(text.contains("sealkit_reconcile_duration_seconds_count 1"));
    }

    #[test]
    fn namespaces_are_labelled_by_default() {
        let m = Metrics::new(false);
        m.count_error("unmanaged", "team-a");
        assert!(m.encode().contains("namespace=\"team-a\""));
    }
}
