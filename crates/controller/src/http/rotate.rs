//! `POST /v1/rotate`: the posted SealedSecret re-sealed with the newest active key.
//!
//! The scope comes only from the top-level annotations, and the template's scope annotations
//! are rewritten to match, so a template cannot widen it (CVE-2026-22728). Template data is
//! kept as written, never rendered (Bitnami #2049).
//!
//! A SealedSecret whose every item the newest active key already opens comes back with its
//! `encryptedData` unchanged, byte for byte (`seal reseal` then leaves the file alone): the
//! answer differs from the input only when something had to be re-sealed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sealer::sealed::model::{SEALED_SECRET_API_VERSION, SEALED_SECRET_KIND};
use sealer::sealed::{ObjectMeta, Scope, SealOptions, SealedSecretManifest, SecretManifest};

use super::ratelimit::Peer;
use super::verify::strip_template_data;
use super::{SealingApi, parse_sealed_secret, text};
use crate::error::Error;

/// The handler.
pub async fn rotate(
    State(state): State<SealingApi>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = state.limiter.check("/v1/rotate", peer, &headers) {
        return r;
    }
    let mut ss = match parse_sealed_secret(&body, state.max_items) {
        Ok(ss) => ss,
        Err(r) => return r,
    };
    if ss.spec.data.is_some() && !state.accept_deprecated_v1_data {
        return text(StatusCode::CONFLICT, "unable to decrypt sealed secret");
    }
    let Some(newest) = state.decryptor.keyring.newest_active() else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot get certificate");
    };
    let mut spec = ss.spec.clone();
    strip_template_data(&mut spec);
    let (opened, used) = match state
        .decryptor
        .unseal_reporting_keys(ss.metadata.clone(), spec)
        .await
    {
        Ok(opened) => opened,
        Err(Error::Unseal(_)) => {
            return text(StatusCode::CONFLICT, "unable to decrypt sealed secret");
        }
        Err(e) => {
            tracing::warn!(error = %e.chain(), "rotate failed");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot rotate");
        }
    };
    let scope = Scope::from_annotations(&ss.metadata.annotations);
    let current = ss.spec.data.is_none()
        && !used.is_empty()
        && used.iter().all(|k| k.fingerprint == newest.fingerprint);
    if current {
        drop(opened);
        return answer(ss, scope);
    }
    let namespace = ss.metadata.namespace.clone().unwrap_or_default();
    let mut scope_annotations = Default::default();
    scope.write_annotations(&mut scope_annotations);
    let plain = SecretManifest {
        metadata: ObjectMeta {
            name: ss.metadata.name.clone(),
            namespace: ss.metadata.namespace.clone(),
            annotations: scope_annotations,
            ..ObjectMeta::default()
        },
        data: opened.data,
        ..SecretManifest::default()
    };
    let options = SealOptions {
        scope: Some(scope),
        default_namespace: namespace,
        allow_empty_data: true,
        ..SealOptions::default()
    };
    let resealed = match tokio::task::spawn_blocking(move || {
        sealer::sealed::seal_secret(&plain, newest.certificate.public_key(), &options)
    })
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "rotate failed to re-seal");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot rotate");
        }
        Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot rotate"),
    };
    ss.spec.encrypted_data = resealed.spec.encrypted_data;
    ss.spec.data = None;
    answer(ss, scope)
}

/// The SealedSecret as answered: template scope annotations matching the top-level scope, no
/// status.
fn answer(mut ss: SealedSecretManifest, scope: Scope) -> Response {
    if let Some(meta) = ss.spec.template.as_mut().and_then(|t| t.metadata.as_mut()) {
        scope.write_annotations(&mut meta.annotations);
    }
    SEALED_SECRET_API_VERSION.clone_into(&mut ss.api_version);
    SEALED_SECRET_KIND.clone_into(&mut ss.kind);
    ss.status = None;
    (StatusCode::OK, Json(ss)).into_response()
}

#[cfg(test)]
mod tests {
    use super::super::api_router;
    use super::super::tests::{call, state};
    use super::super::verify::tests::{db_secret, sealed_json};
    use crate::keyring::tests::TEST_KEYS;
    use axum::http::StatusCode;
    use sealer::sealed::{PrivateKey, SealedSecretManifest};

    fn open(index: usize, ss: &SealedSecretManifest) -> Result<String, String> {
        let key = PrivateKey::from_pem(TEST_KEYS[index].0.as_bytes()).unwrap();
        let secret =
            sealer::sealed::unseal(&ss.metadata, &ss.spec, &[&key]).map_err(|e| e.to_string())?;
        let v = secrecy::ExposeSecret::expose_secret(&secret.data["password"]).to_owned();
        Ok(String::from_utf8(sealer::encoding::decode_std(&v).unwrap()).unwrap())
    }

    #[tokio::test]
    async fn rotate_reseals_with_the_newest_active_key() {
        // Key 0 (old, compromised) sealed it; key 1 is the active one.
        let old = sealed_json(0, db_secret()).to_string();
        let router = api_router(state(&[(0, "old", true), (1, "new", false)], 100));
        let (status, body, _) = call(router, "POST", "/v1/rotate", old).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rotated: SealedSecretManifest = serde_json::from_str(&body).unwrap();
        assert_eq!(rotated.kind, "SealedSecret");
        assert_eq!(open(1, &rotated).unwrap(), "hunter2");
        assert!(open(0, &rotated).is_err());
        assert!(!body.contains("hunter2"));
    }

    #[tokio::test]
    async fn a_template_cannot_widen_the_scope_cve_2026_22728() {
        let mut ss = sealed_json(0, db_secret());
        ss["spec"]["template"]["metadata"]["annotations"] =
            serde_json::json!({"sealedsecrets.bitnami.com/cluster-wide": "true"});
        let router = api_router(state(&[(0, "k", false)], 100));
        let (status, body, _) = call(router, "POST", "/v1/rotate", ss.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut rotated: SealedSecretManifest = serde_json::from_str(&body).unwrap();
        let template_annotations = &rotated
            .spec
            .template
            .as_ref()
            .unwrap()
            .metadata
            .as_ref()
            .unwrap()
            .annotations;
        assert!(!template_annotations.contains_key("sealedsecrets.bitnami.com/cluster-wide"));
        // Still strict: renaming it breaks decryption.
        rotated.metadata.name = Some("stolen".into());
        assert!(open(0, &rotated).is_err());
    }

    #[tokio::test]
    async fn template_data_comes_back_as_written() {
        let mut ss = sealed_json(0, db_secret());
        ss["spec"]["template"]["data"] =
            serde_json::json!({"dsn": "postgres://u:{{ .password }}@db"});
        let router = api_router(state(&[(0, "k", false)], 100));
        let (status, body, _) = call(router, "POST", "/v1/rotate", ss.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rotated: SealedSecretManifest = serde_json::from_str(&body).unwrap();
        assert_eq!(
            rotated.spec.template.unwrap().data.unwrap()["dsn"],
            "postgres://u:{{ .password }}@db"
        );
        assert_eq!(rotated.spec.encrypted_data.len(), 1);
    }

    // issue 17: rotating a SealedSecret already sealed with the newest key changes nothing, so
    // `seal reseal` can leave its file byte-identical.
    #[tokio::test]
    async fn a_sealed_secret_already_for_the_newest_key_comes_back_unchanged() {
        let ss = sealed_json(1, db_secret());
        let router = api_router(state(&[(0, "old", true), (1, "new", false)], 100));
        let (status, body, _) = call(router, "POST", "/v1/rotate", ss.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rotated: SealedSecretManifest = serde_json::from_str(&body).unwrap();
        assert_eq!(
            serde_json::to_value(&rotated.spec.encrypted_data).unwrap(),
            ss["spec"]["encryptedData"]
        );
    }

    #[tokio::test]
    async fn undecryptable_input_is_409() {
        let ss = sealed_json(1, db_secret()).to_string();
        let (status, _, _) = call(
            api_router(state(&[(0, "k", false)], 100)),
            "POST",
            "/v1/rotate",
            ss,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
    }
}
