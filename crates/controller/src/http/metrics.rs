//! `GET /metrics` (OpenMetrics text).

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(sealing) = &state.sealing {
        let keyring = &sealing.decryptor.keyring;
        let (active, compromised) = keyring.counts();
        state.metrics.set_keys(active, compromised);
        let usable = keyring.snapshot();
        let held = keyring.held_back();
        let fingerprints = usable
            .iter()
            .map(|k| k.fingerprint.as_str())
            .chain(held.iter().filter_map(|h| h.fingerprint.as_deref()));
        state
            .metrics
            .set_key_usage(fingerprints, sealing.usage.counts().as_ref());
    }
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::super::metrics_router;
    use super::super::tests::{call, state};
    use axum::body::Body;

    #[tokio::test]
    async fn metrics_report_keys_and_rsa_operations() {
        let (status, body, _) = call(
            metrics_router(state(&[(0, "a", false), (1, "b", true)], 1)),
            "GET",
            "/metrics",
            Body::empty(),
        )
        .await;
        assert!(status.is_success());
        assert!(body.contains("sealkit_keys{state=\"active\"} 1"), "{body}");
        assert!(body.contains("sealkit_keys{state=\"compromised\"} 1"));
        assert!(body.contains("sealkit_rsa_private_operations_total"));
    }

    // issue 17: the gauge of SealedSecrets per key.
    #[tokio::test]
    async fn metrics_count_sealed_secrets_per_key_once_known() {
        use kube::runtime::watcher::Event;
        let (s, usage) = super::super::tests::state_with_usage(&[(0, "a", false)]);
        let (_, body, _) = call(metrics_router(s.clone()), "GET", "/metrics", Body::empty()).await;
        assert!(!body.contains("sealkit_sealed_secrets_per_key{"), "{body}");
        usage.apply(0, Event::Init);
        usage.apply(0, Event::InitDone);
        let (_, body, _) = call(metrics_router(s), "GET", "/metrics", Body::empty()).await;
        let fp =
            sealer::sealed::Certificate::from_pem(crate::keyring::tests::TEST_KEYS[0].1.as_bytes())
                .unwrap()
                .public_key()
                .fingerprint();
        assert!(
            body.contains(&format!(
                "sealkit_sealed_secrets_per_key{{fingerprint=\"{fp}\"}} 0"
            )),
            "{body}"
        );
        assert!(
            body.contains("sealkit_sealed_secrets_unrecorded 0"),
            "{body}"
        );
    }
}
