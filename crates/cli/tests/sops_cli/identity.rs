//! Cloud identities `seal` finds in its process environment, each played by a local server
//! this test starts: AWS container credentials (as EKS Pod Identity, a token file) with the
//! real sops 3.11 reading and writing the same files, and Azure managed identity through
//! `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` (App Service, Container Apps), which azure_identity
//! reads from the process environment only.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sealkit_tests::http_server::serve;
use sealkit_tests::servers::Moto;

use super::{Sandbox, SopsSandbox, fails, stdout_of};

const PLAIN: &str = "db:\n    user: admin\n    password: hunter2\n";

#[derive(Default)]
struct Hits(AtomicUsize);

#[test]
fn aws_container_credentials_open_files_for_seal_and_for_real_sops() {
    let moto = Moto::start();
    let created = moto.json_call(
        "TrentService.CreateKey",
        &serde_json::json!({ "Description": "pod identity" }),
    );
    let arn = created["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    async fn agent(State(hits): State<Arc<Hits>>, headers: HeaderMap) -> Response {
        if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some("pod-token") {
            return (StatusCode::UNAUTHORIZED, "bad token").into_response();
        }
        hits.0.fetch_add(1, Ordering::SeqCst);
        axum::Json(serde_json::json!({
            "AccessKeyId": "ASIAPODIDENTITY",
            "SecretAccessKey": Moto::SECRET_ACCESS_KEY,
            "Token": "pod-session",
            "Expiration": "2099-01-01T00:00:00Z",
        }))
        .into_response()
    }
    let hits = Arc::new(Hits::default());
    let addr = serve(
        axum::Router::new()
            .route("/v1/credentials", axum::routing::get(agent))
            .with_state(hits.clone()),
    );
    let sb = Sandbox::new();
    let token_file = sb.write("pod-token", "pod-token");
    let uri = format!("http://{addr}/v1/credentials");
    let env = |mut cmd: std::process::Command| {
        cmd.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", Moto::REGION)
            .env("AWS_ENDPOINT_URL", moto.endpoint());
        cmd
    };
    let plain = sb.write("plain.yaml", PLAIN);
    let ours = sb.write(
        "ours.enc.yaml",
        stdout_of(env(sb.seal()).args(["encrypt", "--kms", &arn]).arg(&plain)),
    );
    let seen = hits.0.load(Ordering::SeqCst);
    assert!(seen >= 1, "seal did not ask the credential agent");
    assert_eq!(
        stdout_of(env(sb.sops()).arg("decrypt").arg(&ours)),
        PLAIN.as_bytes()
    );
    let theirs = sb.write(
        "theirs.enc.yaml",
        stdout_of(env(sb.sops()).args(["encrypt", "--kms", &arn]).arg(&plain)),
    );
    assert_eq!(
        stdout_of(env(sb.seal()).arg("decrypt").arg(&theirs)),
        PLAIN.as_bytes()
    );
    assert!(hits.0.load(Ordering::SeqCst) > seen);

    // Without the agent's token the chain has nothing: one line naming the key.
    let line = fails(
        env(sb.seal())
            .env(
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                sb.write("t", "other"),
            )
            .arg("decrypt")
            .arg(&ours),
    );
    assert!(
        line.contains(&format!("kms key {arn}: no credentials: ")),
        "{line}"
    );
}

#[test]
fn azure_managed_identity_from_identity_endpoint_opens_key_vault_files() {
    const TOKEN: &str = "eyJ0eXAi.managed.identity";
    /// App Service's token endpoint (api-version 2019-08-01): the secret in
    /// `X-IDENTITY-HEADER`, the resource (not a scope) in the query.
    async fn identity(
        State(hits): State<Arc<Hits>>,
        Query(query): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> Response {
        let secret = headers
            .get("x-identity-header")
            .and_then(|h| h.to_str().ok());
        if secret != Some("msi-secret")
            || query.get("api-version").map(String::as_str) != Some("2019-08-01")
            || query.get("resource").map(String::as_str) != Some("https://vault.azure.net")
        {
            return (StatusCode::BAD_REQUEST, "bad identity request").into_response();
        }
        hits.0.fetch_add(1, Ordering::SeqCst);
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        axum::Json(serde_json::json!({
            "access_token": TOKEN,
            "expires_on": expires.to_string(),
            "resource": "https://vault.azure.net",
            "token_type": "Bearer",
        }))
        .into_response()
    }
    /// A Key Vault whose "encryption" is a reversible tag: enough to see the token used.
    async fn key(headers: HeaderMap) -> Response {
        if headers.get("authorization").and_then(|h| h.to_str().ok())
            != Some(&format!("Bearer {TOKEN}"))
        {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        axum::Json(serde_json::json!({"key": {"kid": "http://kv/keys/sops/v1"}})).into_response()
    }
    async fn operation(
        UrlPath((version, op)): UrlPath<(String, String)>,
        headers: HeaderMap,
        axum::Json(body): axum::Json<serde_json::Value>,
    ) -> Response {
        if headers.get("authorization").and_then(|h| h.to_str().ok())
            != Some(&format!("Bearer {TOKEN}"))
            || version != "v1"
        {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let value = body["value"].as_str().unwrap_or_default();
        let out = match op.as_str() {
            "encrypt" => format!("kvkv{value}"),
            _ => value.strip_prefix("kvkv").unwrap_or_default().to_owned(),
        };
        axum::Json(serde_json::json!({"value": out})).into_response()
    }
    let hits = Arc::new(Hits::default());
    let addr = serve(
        axum::Router::new()
            .route("/msi/token", axum::routing::get(identity))
            .route("/keys/sops", axum::routing::get(key))
            .route("/keys/sops/{version}/{op}", axum::routing::post(operation))
            .with_state(hits.clone()),
    );
    let sb = Sandbox::new();
    let endpoint = format!("http://{addr}/msi/token");
    let env = |mut cmd: std::process::Command| {
        cmd.env("IDENTITY_ENDPOINT", &endpoint)
            .env("IDENTITY_HEADER", "msi-secret");
        cmd
    };
    let plain = sb.write("plain.yaml", PLAIN);
    let vault_key = format!("http://{addr}/keys/sops");
    let enc = sb.write(
        "mi.enc.yaml",
        stdout_of(
            env(sb.seal())
                .args(["encrypt", "--azure-kv", &vault_key])
                .arg(&plain),
        ),
    );
    assert!(
        fs_err::read_to_string(&enc)
            .unwrap()
            .contains("version: v1"),
        "the latest version is written into the metadata"
    );
    assert_eq!(
        stdout_of(env(sb.seal()).arg("decrypt").arg(&enc)),
        PLAIN.as_bytes()
    );
    assert!(hits.0.load(Ordering::SeqCst) >= 1);

    // A wrong IDENTITY_HEADER is refused by the endpoint: one line naming the key.
    let line = fails(
        env(sb.seal())
            .env("IDENTITY_HEADER", "wrong")
            .arg("decrypt")
            .arg(&enc),
    );
    assert!(
        line.contains(&format!(
            "azure_kv key http://{addr}/keys/sops: no credentials: "
        )),
        "{line}"
    );
    assert!(!line.contains("wrong"), "{line}");
}
