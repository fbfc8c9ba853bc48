//! `GET /v1/cert.pem`: the newest active key's certificate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{SealingApi, text};

/// PEM of the newest active certificate (`application/x-pem-file`); 500 when there is none,
/// as Bitnami.
pub async fn cert(State(state): State<SealingApi>) -> Response {
    match state.decryptor.keyring.newest_active() {
        Some(key) => (
            StatusCode::OK,
            [("content-type", "application/x-pem-file")],
            key.certificate.to_pem(),
        )
            .into_response(),
        None => text(StatusCode::INTERNAL_SERVER_ERROR, "cannot get certificate"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::api_router;
    use super::super::tests::{call, state};
    use crate::keyring::tests::TEST_KEYS;
    use axum::body::Body;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn the_newest_active_certificate_is_served_and_compromised_ones_never() {
        // Key 0 is marked compromised; key 1 is the only active one.
        let router = api_router(state(&[(0, "a", true), (1, "b", false)], 1));
        let (status, body, headers) = call(router, "GET", "/v1/cert.pem", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/x-pem-file");
        let served = sealer::sealed::Certificate::from_pem(body.as_bytes()).unwrap();
        let expected = sealer::sealed::Certificate::from_pem(TEST_KEYS[1].1.as_bytes()).unwrap();
        assert_eq!(served.public_key(), expected.public_key());
    }

    #[tokio::test]
    async fn no_key_is_a_500() {
        let (status, body, _) = call(
            api_router(state(&[], 1)),
            "GET",
            "/v1/cert.pem",
            Body::empty(),
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot get certificate\n"
            )
        );
    }
}
