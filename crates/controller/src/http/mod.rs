//! The HTTP API, Bitnami's paths (`pkg/controller/server.go`): `GET /v1/cert.pem`,
//! `POST /v1/verify`, `POST /v1/rotate`, `/healthz`, `/readyz` on `--listen-addr`, and
//! `/metrics` on `--listen-metrics-addr`. `kubeseal` reaches them through the API server's
//! service proxy.
//!
//! Verify and rotate decrypt without rendering `spec.template.data` and answer only yes/no or
//! the re-sealed object, so a crafted template cannot turn them into a decryption oracle
//! (Bitnami #2019, #2049). Both are rate-limited per client and bound the body size.

// Handlers return ready-made `Response`s as their error type.
#![allow(clippy::result_large_err)]

pub mod cert;
pub mod health;
pub mod metrics;
pub mod rotate;
pub mod verify;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sealer::sealed::SealedSecretManifest;
use tokio::net::TcpListener;

use crate::context::Decryptor;
use crate::error::{Error, Result};
use crate::metrics::{HttpLabels, Metrics};

/// Largest request body accepted (a Secret is at most 1 MiB; sealing grows it by about 4/3).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Keys and decryption.
    pub decryptor: Decryptor,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Per-client limiter for verify and rotate.
    pub limiter: Arc<RateLimiter>,
    /// Accept the legacy `spec.data` format.
    pub accept_deprecated_v1_data: bool,
}

/// The API router (port 8080).
pub fn api_router(state: AppState) -> Router {
    Router::new()
        .route("/v1/cert.pem", get(cert::cert))
        .route("/v1/verify", post(verify::verify))
        .route("/v1/rotate", post(rotate::rotate))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
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

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    axum::serve(listener, router)
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

/// Reads one SealedSecret (JSON or YAML, one document) from a request body
/// ([`sealer::yaml::parse_single`], which `fuzz/` fuzzes as `verify_body`).
pub fn parse_sealed_secret(body: &[u8]) -> Result<SealedSecretManifest, Response> {
    use sealer::yaml::Error as YamlError;
    sealer::yaml::parse_single(body, "SealedSecret").map_err(|e| {
        let message = match e {
            YamlError::NotUtf8 => "request body is not UTF-8".to_owned(),
            YamlError::NotOneDocument { .. } => {
                "expected exactly one SealedSecret document".to_owned()
            }
            YamlError::WrongKind { .. } => "expected kind SealedSecret".to_owned(),
            other => other.to_string(),
        };
        text(StatusCode::BAD_REQUEST, message)
    })
}

/// GCRA-like token bucket per client (Bitnami: `--rate-limit` per second, `--rate-limit-burst`,
/// keyed by path and `X-Forwarded-For`, which the API server proxy sets).
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` requests per second with bursts of `burst`; 0 disables limiting.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `key`; false when the client must wait.
    pub fn allow(&self, key: &str) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            let per_second = self.per_second;
            let burst = self.burst;
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() * per_second < burst);
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Checks the client of `headers` for `path`; a 429 response when over the limit.
    pub fn check(&self, path: &str, headers: &HeaderMap) -> Result<(), Response> {
        let client = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .unwrap_or("")
            .trim();
        if self.allow(&format!("{path} {client}")) {
            Ok(())
        } else {
            Err(text(StatusCode::TOO_MANY_REQUESTS, "too many requests"))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::args::KeyOrderPriority;
    use crate::keyring::Keyring;
    use crate::keyring::tests::entry;
    use axum::body::Body;
    use tower::ServiceExt as _;

    pub(crate) fn state(keys: &[(usize, &str, bool)], rate: u32) -> AppState {
        let keyring = Keyring::new(KeyOrderPriority::CertNotBefore);
        keyring.replace(keys.iter().map(|(i, n, c)| entry(*i, n, *c)).collect());
        let metrics = Arc::new(Metrics::new(false));
        AppState {
            decryptor: Decryptor::new(keyring, 2, metrics.rsa_private_operations.clone()),
            metrics,
            limiter: Arc::new(RateLimiter::new(rate, rate)),
            accept_deprecated_v1_data: true,
        }
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

    #[test]
    fn the_rate_limiter_allows_a_burst_then_refuses() {
        let l = RateLimiter::new(1, 2);
        assert!(l.allow("a"));
        assert!(l.allow("a"));
        assert!(!l.allow("a"));
        assert!(l.allow("b"), "clients are limited separately");
        assert!(RateLimiter::new(0, 0).allow("x"));
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
