//! `GET /v1/keys`: every key the controller reads (fingerprint, state, validity, whether it
//! is wrapped) and how many SealedSecrets need it (see `keyring::listing`).
//!
//! Read-only and unauthenticated like `/v1/cert.pem`; it names no SealedSecret. Changing a
//! key's state (`seal keys retire`) goes through the Kubernetes API with the caller's own
//! credentials, never through this controller.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::SealingApi;
use crate::keyring::listing;

/// The handler.
pub async fn keys(State(state): State<SealingApi>) -> Response {
    let counts = state.usage.counts();
    Json(listing::list(&state.decryptor.keyring, counts.as_ref())).into_response()
}

#[cfg(test)]
mod tests {
    use super::super::api_router;
    use super::super::tests::{call, state_with_usage};
    use crate::keyring::listing::KeyList;
    use crate::keyring::tests::TEST_KEYS;
    use axum::body::Body;
    use axum::http::StatusCode;
    use kube::runtime::watcher::Event;

    fn fingerprint(index: usize) -> String {
        sealer::sealed::Certificate::from_pem(TEST_KEYS[index].1.as_bytes())
            .unwrap()
            .public_key()
            .fingerprint()
    }

    // issue 17: the key list says which key seals and how many SealedSecrets need each one.
    #[tokio::test]
    async fn the_key_list_names_states_and_counts_once_they_are_known() {
        let (s, usage) = state_with_usage(&[(0, "old", true), (1, "new", false)]);
        let (status, body, _) = call(api_router(s.clone()), "GET", "/v1/keys", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        let list: KeyList = serde_json::from_str(&body).unwrap();
        assert!(!list.usage.complete);
        assert!(list.keys.iter().all(|k| k.sealed_secrets.is_none()));

        let mut ss = crate::sealedsecrets::fixtures::sealed_secret().build();
        ss.status = Some(sealer::sealed::SealedSecretStatus {
            sealing_keys: Some(vec![fingerprint(0)]),
            ..Default::default()
        });
        usage.apply(0, Event::Init);
        usage.apply(0, Event::InitApply(ss));
        usage.apply(0, Event::InitDone);
        let (_, body, _) = call(api_router(s), "GET", "/v1/keys", Body::empty()).await;
        let list: KeyList = serde_json::from_str(&body).unwrap();
        assert!(list.usage.complete);
        let row = |fp: String| {
            list.keys
                .iter()
                .find(|k| k.fingerprint.as_deref() == Some(fp.as_str()))
                .unwrap()
                .clone()
        };
        let old = row(fingerprint(0));
        let new = row(fingerprint(1));
        assert_eq!(
            (old.state.as_str(), old.sealing, old.sealed_secrets),
            ("compromised", false, Some(1))
        );
        assert_eq!(
            (new.state.as_str(), new.sealing, new.sealed_secrets),
            ("active", true, Some(0))
        );
        assert!(!body.contains("PRIVATE"));
    }
}
