//! Metrics of the bridge, registered under the controller's `sealkit` prefix. No label names a
//! namespace, an ExternalSecret or a key: the inventory of secrets is itself sensitive.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `externalsecret_sync_calls_total` and `externalsecret_provider_calls_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// `vault`, `aws`, `kubernetes`, `webhook`, `fake` (`unknown` before a store is found).
    pub provider: String,
}

/// Labels of `externalsecret_sync_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Provider.
    pub provider: String,
    /// `not_found`, `denied`, `unreachable`, `upstream`, `credentials`, `config`, `spec`,
    /// `store`, `owned`, `immutable`, `kubernetes`, `missing_property`.
    pub reason: String,
}

/// The bridge's metrics.
#[derive(Debug, Clone)]
pub struct EsMetrics {
    /// Reconciles that fetched from a provider (successful or not).
    pub sync_calls: Family<SyncLabels, Counter>,
    /// Failed syncs by provider and reason.
    pub sync_errors: Family<ErrorLabels, Counter>,
    /// Calls to providers (one per `data[]` entry, `extract` and `find`).
    pub provider_calls: Family<SyncLabels, Counter>,
    /// Reconciles that found the Secret in sync and fetched nothing.
    pub skipped: Counter,
    /// How late a periodic refresh ran after it was due.
    pub refresh_lag: Histogram,
}

impl EsMetrics {
    /// New metrics, not yet registered.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            sync_calls: Family::default(),
            sync_errors: Family::default(),
            provider_calls: Family::default(),
            skipped: Counter::default(),
            refresh_lag: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
        }
    }

    /// Registers every metric.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "externalsecret_sync_calls",
            "ExternalSecret syncs that fetched from a provider",
            self.sync_calls.clone(),
        );
        registry.register(
            "externalsecret_sync_errors",
            "Failed ExternalSecret syncs by provider and reason",
            self.sync_errors.clone(),
        );
        registry.register(
            "externalsecret_provider_calls",
            "Calls to secret store providers",
            self.provider_calls.clone(),
        );
        registry.register(
            "externalsecret_sync_skipped",
            "ExternalSecret reconciles that found everything in sync",
            self.skipped.clone(),
        );
        registry.register(
            "externalsecret_refresh_lag_seconds",
            "How late periodic refreshes ran after they were due",
            self.refresh_lag.clone(),
        );
    }
}
