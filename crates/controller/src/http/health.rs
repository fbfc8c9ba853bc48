//! `/healthz` (the process answers) and `/readyz` (a sealing key is loaded; always ready with
//! `--sealed-secrets=false`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{AppState, text};

/// 200 `ok`, as Bitnami.
pub async fn healthz() -> Response {
    text(StatusCode::OK, "ok")
}

/// 200 once the keyring holds an active key, else 503; 200 without the SealedSecret side.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state
        .sealing
        .as_ref()
        .is_none_or(|s| s.decryptor.keyring.newest_active().is_some())
    {
        text(StatusCode::OK, "ok")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "no sealing key loaded yet")
    }
}

#[cfg(test)]
mod tests {
    use super::super::api_router;
    use super::super::tests::{call, state};
    use axum::body::Body;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn ready_only_with_an_active_key() {
        let (s, body, _) = call(api_router(state(&[], 1)), "GET", "/readyz", Body::empty()).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let (s, _, _) = call(
            api_router(state(&[(0, "k", true)], 1)),
            "GET",
            "/readyz",
            Body::empty(),
        )
        .await;
        assert_eq!(
            s,
            StatusCode::SERVICE_UNAVAILABLE,
            "a compromised key cannot seal"
        );
        let (s, body, _) = call(
            api_router(state(&[(0, "k", false)], 1)),
            "GET",
            "/healthz",
            Body::empty(),
        )
        .await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "ok\n"));
    }
}
