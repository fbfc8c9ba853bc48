//! `POST /v1/verify`: 200 when every item of the posted SealedSecret decrypts, 409 when not.
//!
//! Only `spec.encryptedData` (or the legacy `spec.data`) is opened; `spec.template.data` is
//! never rendered, so the answer says nothing about template output (Bitnami #2019).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::ratelimit::Peer;
use super::{SealingApi, parse_sealed_secret, text};
use crate::error::Error;

/// The handler.
pub async fn verify(
    State(state): State<SealingApi>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = state.limiter.check("/v1/verify", peer, &headers) {
        return r;
    }
    let mut ss = match parse_sealed_secret(&body, state.max_items) {
        Ok(ss) => ss,
        Err(r) => return r,
    };
    if ss.spec.data.is_some() && !state.accept_deprecated_v1_data {
        return text(StatusCode::CONFLICT, "unable to decrypt sealed secret");
    }
    strip_template_data(&mut ss.spec);
    match state.decryptor.unseal(ss.metadata, ss.spec).await {
        Ok(_) => text(StatusCode::OK, "ok"),
        Err(Error::Unseal(_)) => text(StatusCode::CONFLICT, "unable to decrypt sealed secret"),
        Err(e) => {
            tracing::warn!(error = %e.chain(), "verify failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "cannot verify")
        }
    }
}

/// Drops `spec.template.data` so that nothing is rendered.
pub fn strip_template_data(spec: &mut sealer::sealed::SealedSecretSpec) {
    if let Some(t) = spec.template.as_mut() {
        t.data = None;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::api_router;
    use super::super::tests::{call, post_from, state};
    use crate::keyring::tests::TEST_KEYS;
    use axum::http::StatusCode;
    use sealer::sealed::{Certificate, SealOptions, SecretManifest};

    /// A SealedSecret for `team-a/db` sealed to test key `index`, as JSON.
    pub(crate) fn sealed_json(index: usize, secret: serde_json::Value) -> serde_json::Value {
        let cert = Certificate::from_pem(TEST_KEYS[index].1.as_bytes()).unwrap();
        let secret: SecretManifest = serde_json::from_value(secret).unwrap();
        let ss = sealer::sealed::seal_secret(&secret, cert.public_key(), &SealOptions::default())
            .unwrap();
        serde_json::to_value(ss).unwrap()
    }

    pub(crate) fn db_secret() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "team-a"},
            "stringData": {"password": "hunter2"}
        })
    }

    #[tokio::test]
    async fn a_decryptable_sealed_secret_is_200_and_another_keys_is_409() {
        let ok = sealed_json(0, db_secret()).to_string();
        let (status, _, _) = call(
            api_router(state(&[(0, "a", false)], 100)),
            "POST",
            "/v1/verify",
            ok.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body, _) = call(
            api_router(state(&[(1, "b", false)], 100)),
            "POST",
            "/v1/verify",
            ok,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(!body.contains("hunter2"));
    }

    #[tokio::test]
    async fn a_compromised_key_still_verifies() {
        let ok = sealed_json(0, db_secret()).to_string();
        let (status, _, _) = call(
            api_router(state(&[(0, "a", true)], 100)),
            "POST",
            "/v1/verify",
            ok,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_renamed_strict_sealed_secret_is_409() {
        let mut ss = sealed_json(0, db_secret());
        ss["metadata"]["name"] = "other".into();
        let (status, _, _) = call(
            api_router(state(&[(0, "a", false)], 100)),
            "POST",
            "/v1/verify",
            ss.to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
    }

    #[tokio::test]
    async fn template_data_is_never_rendered_so_it_cannot_be_an_oracle() {
        // A victim's encryptedData with an attacker's template that would fail to render
        // unless a guess were right: verify must answer the same whatever the template says.
        let mut ss = sealed_json(0, db_secret());
        ss["spec"]["template"]["data"] =
            serde_json::json!({"probe": "{{ if eq .password \"hunter2\" }}{{ fail }}{{ end }}"});
        let (status, _, _) = call(
            api_router(state(&[(0, "a", false)], 100)),
            "POST",
            "/v1/verify",
            ss.to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn yaml_bodies_are_accepted_and_two_documents_refused() {
        let ss = sealed_json(0, db_secret());
        let yaml = serde_yaml_ng::to_string(&ss).unwrap();
        let (status, _, _) = call(
            api_router(state(&[(0, "a", false)], 100)),
            "POST",
            "/v1/verify",
            yaml.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let two = format!("{yaml}---\n{yaml}");
        let (status, _, _) = call(
            api_router(state(&[(0, "a", false)], 100)),
            "POST",
            "/v1/verify",
            two,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = call(
            api_router(state(&[(0, "a", false)], 100)),
            "POST",
            "/v1/verify",
            "kind: Secret\n",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    // issue 13: the limit was keyed on X-Forwarded-For whoever sent it, so a client that
    // changed the header on every request was never limited.
    #[tokio::test]
    async fn a_client_cannot_escape_the_rate_limit_by_forging_x_forwarded_for() {
        let router = api_router(state(&[(0, "a", false)], 1));
        let ok = sealed_json(0, db_secret()).to_string();
        let mut statuses = vec![];
        for forged in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
            let status = post_from(
                router.clone(),
                "198.51.100.9:40000",
                &[("x-forwarded-for", forged)],
                "/v1/verify",
                ok.clone(),
            )
            .await;
            statuses.push(status);
        }
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
        // Another peer has its own allowance.
        let other = post_from(router, "198.51.100.10:40000", &[], "/v1/verify", ok).await;
        assert_eq!(other, StatusCode::OK);
    }

    // issue 13: items per request were unbounded (each costs up to one RSA operation per key).
    #[tokio::test]
    async fn a_request_with_more_items_than_allowed_is_refused_before_anything_is_decrypted() {
        let s = state(&[(0, "a", false), (1, "b", false)], 100);
        let mut secret = db_secret();
        for i in 0..65 {
            secret["stringData"][format!("k{i}")] = "v".into();
        }
        let ss = sealed_json(2, secret).to_string();
        for path in ["/v1/verify", "/v1/rotate"] {
            let (status, body, _) = call(api_router(s.clone()), "POST", path, ss.clone()).await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
            assert_eq!(
                body,
                "the SealedSecret has 66 items; a request may carry at most 64 (--max-items-per-request)\n"
            );
        }
        let rsa = s.metrics.encode();
        assert!(
            rsa.contains("sealkit_rsa_private_operations_total 0"),
            "{rsa}"
        );
    }

    #[tokio::test]
    async fn verify_is_rate_limited() {
        let router = api_router(state(&[(0, "a", false)], 1));
        let ok = sealed_json(0, db_secret()).to_string();
        let (first, _, _) = call(router.clone(), "POST", "/v1/verify", ok.clone()).await;
        let (second, _, _) = call(router, "POST", "/v1/verify", ok).await;
        assert_eq!(
            (first, second),
            (StatusCode::OK, StatusCode::TOO_MANY_REQUESTS)
        );
    }
}
