//! Every AWS credential source of the SDKs' chain (aws-config), each against a local server
//! the test starts, then used for real: a KMS round trip against moto. Each server counts
//! the requests it answered, so a test fails if the credentials came from elsewhere.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::*;

/// Keys from a credential source, in the JSON shape the ECS agent and IMDS answer with.
fn container_credentials() -> serde_json::Value {
    let expiration = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    serde_json::json!({
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": "ASIASOURCE",
        "SecretAccessKey": Moto::SECRET_ACCESS_KEY,
        "Token": "session-from-source",
        "Expiration": expiration,
        "LastUpdated": "2026-01-01T00:00:00Z",
    })
}

/// A KMS key in moto, and an environment with nothing else to find: no HOME, no IMDS.
fn kms_key() -> (Moto, String) {
    let moto = Moto::start();
    let arn = moto_key(&moto, "credential source");
    (moto, arn)
}

#[derive(Default)]
struct Hits(AtomicUsize);

impl Hits {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn container_credentials_with_a_token_file_work_as_eks_pod_identity() {
    let (moto, arn) = kms_key();
    // The EKS Pod Identity agent: GET with the token file's content as Authorization.
    async fn agent(State(hits): State<Arc<Hits>>, headers: HeaderMap) -> Response {
        if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some("pod-token") {
            return (StatusCode::UNAUTHORIZED, "bad token").into_response();
        }
        hits.0.fetch_add(1, Ordering::SeqCst);
        axum::Json(container_credentials()).into_response()
    }
    let hits = Arc::new(Hits::default());
    let addr = serve(
        axum::Router::new()
            .route("/v1/credentials", axum::routing::get(agent))
            .with_state(hits.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("eks-pod-identity-token");
    fs_err::write(&token_file, "pod-token").unwrap();
    let uri = format!("http://{addr}/v1/credentials");
    let endpoint = moto.endpoint();
    let vars = [
        ("HOME", "/nonexistent"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.to_str().unwrap(),
        ),
    ];
    let b = builder(&vars);
    round_trip(one(&b, kms_flags(&arn, None, None)).as_ref(), &b);
    assert!(hits.count() >= 1);

    // The token file is read on each fetch: a wrong token is refused by the agent.
    fs_err::write(&token_file, "stale").unwrap();
    let err = wrap_err(one(&builder(&vars), kms_flags(&arn, None, None)).as_ref());
    assert!(
        err.starts_with(&format!("kms key {arn}: no credentials: ")),
        "{err}"
    );
}

#[test]
fn imdsv2_credentials_come_from_the_metadata_endpoint_with_a_session_token() {
    let (moto, arn) = kms_key();
    async fn token(State(hits): State<Arc<Hits>>, headers: HeaderMap) -> Response {
        let Some(ttl) = headers.get("x-aws-ec2-metadata-token-ttl-seconds").cloned() else {
            return (StatusCode::BAD_REQUEST, "no ttl").into_response();
        };
        hits.0.fetch_add(1, Ordering::SeqCst);
        // IMDS echoes the TTL it granted.
        (
            [("x-aws-ec2-metadata-token-ttl-seconds", ttl)],
            "imds-session",
        )
            .into_response()
    }
    fn session_ok(headers: &HeaderMap) -> bool {
        headers
            .get("x-aws-ec2-metadata-token")
            .and_then(|h| h.to_str().ok())
            == Some("imds-session")
    }
    async fn roles(headers: HeaderMap) -> Response {
        if !session_ok(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        "sops-instance-role".into_response()
    }
    async fn role(headers: HeaderMap) -> Response {
        if !session_ok(&headers) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        axum::Json(container_credentials()).into_response()
    }
    let hits = Arc::new(Hits::default());
    let base = "/latest/meta-data/iam/security-credentials/";
    let addr = serve(
        axum::Router::new()
            .route("/latest/api/token", axum::routing::put(token))
            .route(base, axum::routing::get(roles))
            .route(
                &format!("{base}sops-instance-role"),
                axum::routing::get(role),
            )
            .with_state(hits.clone()),
    );
    let imds = format!("http://{addr}");
    let endpoint = moto.endpoint();
    let b = builder(&[
        ("HOME", "/nonexistent"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str()),
    ]);
    round_trip(one(&b, kms_flags(&arn, None, None)).as_ref(), &b);
    assert!(hits.count() >= 1, "no IMDSv2 session token was asked for");
}

#[test]
fn web_identity_from_a_token_file_assumes_the_role_at_motos_sts() {
    let (moto, arn) = kms_key();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    fs_err::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.irsa.token").unwrap();
    let endpoint = moto.endpoint();
    let b = builder(&[
        ("HOME", "/nonexistent"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"),
        ("AWS_ROLE_SESSION_NAME", "sealkit-test"),
    ]);
    round_trip(one(&b, kms_flags(&arn, None, None)).as_ref(), &b);

    // STS unreachable: the error names the key and says no credentials were obtained.
    let b = builder(&[
        ("HOME", "/nonexistent"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL_KMS", endpoint.as_str()),
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"),
    ]);
    let err = wrap_err(one(&b, kms_flags(&arn, None, None)).as_ref());
    assert!(
        err.starts_with(&format!("kms key {arn}: no credentials: ")),
        "{err}"
    );
}

#[test]
fn an_sso_profile_reads_the_cached_token_and_asks_the_local_portal() {
    let (moto, arn) = kms_key();
    #[derive(serde::Deserialize)]
    struct RoleQuery {
        account_id: String,
        role_name: String,
    }
    async fn portal(
        State(hits): State<Arc<Hits>>,
        Query(query): Query<RoleQuery>,
        headers: HeaderMap,
    ) -> Response {
        let bearer = headers
            .get("x-amz-sso_bearer_token")
            .and_then(|h| h.to_str().ok());
        if bearer != Some("sso-access-token")
            || query.account_id != "123456789012"
            || query.role_name != "SopsRole"
        {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"message": "Session token not found or invalid"})),
            )
                .into_response();
        }
        hits.0.fetch_add(1, Ordering::SeqCst);
        let expiration = (time::OffsetDateTime::now_utc().unix_timestamp() + 3600) * 1000;
        axum::Json(serde_json::json!({"roleCredentials": {
            "accessKeyId": "ASIASSO",
            "secretAccessKey": Moto::SECRET_ACCESS_KEY,
            "sessionToken": "sso-session",
            "expiration": expiration,
        }}))
        .into_response()
    }
    let hits = Arc::new(Hits::default());
    let addr = serve(
        axum::Router::new()
            .route("/federation/credentials", axum::routing::get(portal))
            .with_state(hits.clone()),
    );
    // The legacy SSO profile (`sso_start_url` in the profile) and the token `aws sso login`
    // leaves in ~/.aws/sso/cache/<sha1 of the start URL>.json.
    let home = tempfile::tempdir().unwrap();
    let start_url = "https://sealkit.awsapps.com/start";
    fs_err::create_dir_all(home.path().join(".aws/sso/cache")).unwrap();
    fs_err::write(
        home.path().join(".aws/config"),
        format!(
            "[profile team-sso]\nsso_start_url = {start_url}\nsso_region = us-east-1\n\
             sso_account_id = 123456789012\nsso_role_name = SopsRole\n"
        ),
    )
    .unwrap();
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        start_url.as_bytes(),
    );
    let name: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    fs_err::write(
        home.path().join(format!(".aws/sso/cache/{name}.json")),
        serde_json::json!({
            "startUrl": start_url,
            "region": "us-east-1",
            "accessToken": "sso-access-token",
            "expiresAt": "2099-01-01T00:00:00Z",
        })
        .to_string(),
    )
    .unwrap();
    let portal_url = format!("http://{addr}");
    let endpoint = moto.endpoint();
    let b = builder(&[
        ("HOME", home.path().to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL_KMS", endpoint.as_str()),
        ("AWS_ENDPOINT_URL_SSO", portal_url.as_str()),
    ]);
    round_trip(
        one(&b, kms_flags(&arn, None, Some("team-sso"))).as_ref(),
        &b,
    );
    assert!(hits.count() >= 1, "the SSO portal was not asked");
}

#[test]
fn credential_process_and_a_role_chain_in_the_shared_config_work() {
    let (moto, arn) = kms_key();
    let home = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(home.path().join(".aws")).unwrap();
    let script = home.path().join("creds.sh");
    let marker = home.path().join("ran");
    fs_err::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\nprintf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCESS\", \
             \"SecretAccessKey\": \"{}\"}}'\n",
            marker.display(),
            Moto::SECRET_ACCESS_KEY
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    fs_err::write(
        home.path().join(".aws/config"),
        format!(
            "[profile process]\ncredential_process = {}\n\n\
             [profile chained]\nrole_arn = arn:aws:iam::123456789012:role/chained\n\
             source_profile = process\nrole_session_name = sealkit-chain\n",
            script.display()
        ),
    )
    .unwrap();
    let endpoint = moto.endpoint();
    let b = builder(&[
        ("HOME", home.path().to_str().unwrap()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ]);
    round_trip(one(&b, kms_flags(&arn, None, Some("process"))).as_ref(), &b);
    assert!(marker.exists(), "credential_process did not run");
    fs_err::remove_file(&marker).unwrap();
    // role_arn + source_profile: the process's keys, then STS AssumeRole at moto.
    round_trip(one(&b, kms_flags(&arn, None, Some("chained"))).as_ref(), &b);
    assert!(
        marker.exists(),
        "the source profile's credential_process did not run"
    );
}

/// What an ExternalSecret store's `auth.jwt` with `role`, `externalID` and session tags comes
/// to: a token in hand traded at STS, then one `AssumeRole`, with an environment snapshot that
/// names nothing but moto's STS endpoint (no keys, no HOME, no chain).
#[tokio::test]
async fn a_token_in_hand_and_a_role_chain_with_external_id_and_tags_need_no_environment() {
    use sealkit_cloud::EnvSnapshot;
    use sealkit_cloud::aws::{AssumeRole, AwsIdentity, AwsSession};
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let env = EnvSnapshot::from_vars([("AWS_ENDPOINT_URL_STS", moto.endpoint())]);
    let session = AwsSession::new("us-east-1", env, sealkit_cloud::http::shared().unwrap());
    let identity = AwsIdentity::WebIdentity {
        role_arn: "arn:aws:iam::123456789012:role/irsa".into(),
        token: secrecy::SecretString::from("eyJhbGciOiJSUzI1NiJ9.sa.token".to_owned()),
        session_name: "external-secrets-provider-aws".into(),
    };
    let role = AssumeRole {
        role_arn: "arn:aws:iam::123456789012:role/target".into(),
        session_name: "eso".into(),
        external_id: Some("tenant-42".into()),
        duration: Some(std::time::Duration::from_secs(900)),
        tags: vec![("namespace".into(), "apps".into())],
        transitive_tag_keys: vec!["namespace".into()],
    };
    let first = session.credentials(&identity, &[]).await.unwrap();
    let chained = session
        .credentials(&identity, std::slice::from_ref(&role))
        .await
        .unwrap();
    assert!(first.session_token().is_some() && chained.session_token().is_some());
    assert_ne!(first.access_key_id(), chained.access_key_id());

    // Static keys are used as given: nothing is looked up.
    let given = session
        .credentials(
            &AwsIdentity::Static {
                access_key_id: "AKIAGIVEN".into(),
                secret_access_key: secrecy::SecretString::from("s".to_owned()),
                session_token: None,
            },
            &[],
        )
        .await
        .unwrap();
    assert_eq!(given.access_key_id(), "AKIAGIVEN");
    drop(moto);
}
