//! The HTTP API, Bitnami's paths (`pkg/controller/server.go`): `GET /v1/cert.pem`,
//! `POST /v1/verify`, `POST /v1/rotate`, `/healthz`, `/readyz` on `--listen-addr`, and
//! `/metrics` on `--listen-metrics-addr`. `kubeseal` reaches them through the API server's
//! service proxy. sealkit adds `GET /v1/keys` (the keys and how many SealedSecrets need
//! each, read-only).
//!
//! Verify and rotate decrypt without rendering `spec.template.data` and answer only yes/no or
//! the re-sealed object, so a crafted template cannot turn them into a decryption oracle
//! (Bitnami #2019, #2049). Both are rate-limited per client ([`ratelimit`]), bound the body
//! size and the items per request, and decrypt in slots of their own, so a flood of them
//! cannot hold up unsealing, nor unsealing them.
//!
//! With `--sealed-secrets=false` (the ExternalSecret bridge alone) only `/healthz`, `/readyz`
//! and `/metrics` are served.

// Handlers return ready-made `Response`s as their error type.
#![allow(clippy::result_large_err)]

pub mod cert;
pub mod health;
pub mod keys;
pub mod metrics;
pub mod ratelimit;
pub mod rotate;
pub mod verify;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sealer::sealed::SealedSecretManifest;
use tokio::net::TcpListener;

pub use self::ratelimit::RateLimiter;
use crate::error::{Error, Result};
use crate::keyring::Decryptor;
use crate::keyring::usage::KeyUsage;
use crate::metrics::{HttpLabels, Metrics};

/// Largest request body accepted (a Secret is at most 1 MiB; sealing grows it by about 4/3).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The SealedSecret API; `None` with `--sealed-secrets=false`.
    pub sealing: Option<SealingApi>,
}

/// What `/v1/*` needs.
#[derive(Clone)]
pub struct SealingApi {
    /// Keys and decryption, with slots of its own (not the reconciler's).
    pub decryptor: Decryptor,
    /// Per-client limiter for verify and rotate.
    pub limiter: Arc<RateLimiter>,
    /// Accept the legacy `spec.data` format.
    pub accept_deprecated_v1_data: bool,
    /// Most items (`encryptedData` entries) a verify or rotate request may carry.
    pub max_items: usize,
    /// Which keys the SealedSecrets need (`/v1/keys`, `/metrics`).
    pub usage: KeyUsage,
}

/// The API router (port 8080).
pub fn api_router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state.clone());
    if let Some(sealing) = state.sealing.clone() {
        router = router.merge(
            Router::new()
                .route("/v1/cert.pem", get(cert::cert))
                .route("/v1/verify", post(verify::verify))
                .route("/v1/rotate", post(rotate::rotate))
                .route("/v1/keys", get(keys::keys))
                .with_state(sealing),
        );
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state, count_requests))
}

/// The metrics router (port 8081).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            path,
            code: response.status().as_u16().to_string(),
        })
        .inc();
    response
}

/// Serves `router` on `listener` until `shutdown` resolves; handlers see each connection's
/// peer address (the rate limit's client).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|source| Error::Serve { addr, source })
}

/// A plain-text error response.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut body = body.into();
    body.push('\n');
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Reads one SealedSecret (JSON or YAML, one document) from a request body, refusing one with
/// more than `max_items` items (413) before anything is decrypted.
pub fn parse_sealed_secret(
    body: &[u8],
    max_items: usize,
) -> Result<SealedSecretManifest, Response> {
    use sealer::yaml::Error as YamlError;
    // The parse is `sealer::yaml::parse_single`, which `fuzz/` fuzzes as `verify_body`.
    let ss =
        sealer::yaml::parse_single::<SealedSecretManifest>(body, "SealedSecret").map_err(|e| {
            let message = match e {
                YamlError::NotUtf8 => "request body is not UTF-8".to_owned(),
                YamlError::NotOneDocument { .. } => {
                    "expected exactly one SealedSecret document".to_owned()
                }
                YamlError::WrongKind { .. } => "expected kind SealedSecret".to_owned(),
                other => other.to_string(),
            };
            text(StatusCode::BAD_REQUEST, message)
        })?;
    let items = ss.spec.encrypted_data.len() + usize::from(ss.spec.data.is_some());
    if items > max_items {
        return Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the SealedSecret has {items} items; a request may carry at most {max_items} (--max-items-per-request)"
            ),
        ));
    }
    Ok(ss)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::args::KeyOrderPriority;
    use crate::keyring::Keyring;
    use crate::keyring::tests::entry;
    use axum::body::Body;
    use axum::http::HeaderMap;
    use tower::ServiceExt as _;

    pub(crate) fn state(keys: &[(usize, &str, bool)], rate: u32) -> AppState {
        let keyring = Keyring::new(KeyOrderPriority::CertNotBefore);
        keyring.replace(keys.iter().map(|(i, n, c)| entry(*i, n, *c)).collect());
        let metrics = Arc::new(Metrics::new(false));
        AppState {
            sealing: Some(SealingApi {
                decryptor: Decryptor::new(keyring, 2, metrics.rsa_private_operations.clone()),
                limiter: Arc::new(RateLimiter::new(rate, rate, vec![])),
                accept_deprecated_v1_data: true,
                max_items: 64,
                usage: KeyUsage::new(1),
            }),
            metrics,
        }
    }

    /// [`state`] (no rate limit to speak of) and the key usage index it serves.
    pub(crate) fn state_with_usage(keys: &[(usize, &str, bool)]) -> (AppState, KeyUsage) {
        let s = state(keys, 100);
        let usage = s
            .sealing
            .as_ref()
            .map(|s| s.usage.clone())
            .unwrap_or_default();
        (s, usage)
    }

    /// A POST to `path` from peer `peer` with extra headers; the status.
    pub(crate) async fn post_from(
        router: Router,
        peer: &str,
        headers: &[(&str, &str)],
        path: &str,
        body: impl Into<Body>,
    ) -> StatusCode {
        let peer: SocketAddr = peer.parse().unwrap();
        let mut request = Request::builder().method("POST").uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        router
            .layer(axum::extract::connect_info::MockConnectInfo(peer))
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap()
            .status()
    }

    pub(crate) async fn call(
        router: Router,
        method: &str,
        path: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, String, HeaderMap) {
        let response = router
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(body.into())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            String::from_utf8_lossy(&bytes).into_owned(),
            headers,
        )
    }

    #[tokio::test]
    async fn without_the_sealed_secret_side_only_health_and_metrics_are_served() {
        let state = AppState {
            metrics: Arc::new(Metrics::new(false)),
            sealing: None,
        };
        let api = api_router(state.clone());
        for (method, path) in [
            ("GET", "/v1/cert.pem"),
            ("POST", "/v1/verify"),
            ("POST", "/v1/rotate"),
            ("GET", "/v1/keys"),
        ] {
            let (status, _, _) = call(api.clone(), method, path, Body::empty()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let (status, body, _) = call(api, "GET", "/readyz", Body::empty()).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
        let (status, body, _) = call(metrics_router(state), "GET", "/metrics", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("sealkit_"), "{body}");
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused() {
        let router = api_router(state(&[(0, "k", false)], 100));
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        let (status, _, _) = call(router, "POST", "/v1/verify", big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_and_code() {
        let s = state(&[(0, "k", false)], 100);
        let router = api_router(s.clone());
        call(router, "GET", "/healthz", Body::empty()).await;
        let text = s.metrics.encode();
        assert!(
            text.contains("sealkit_http_requests_total{path=\"/healthz\",code=\"200\"} 1"),
            "{text}"
        );
    }
}
