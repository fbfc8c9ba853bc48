//! `GET /metrics` (OpenMetrics text).

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(sealing) = &state.sealing {
        let (active, compromised) = sealing.decryptor.keyring.counts();
        state.metrics.set_keys(active, compromised);
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
}
