//! GCP Secret Manager and Azure Key Vault stores end to end through the harness (issue 16).
//!
//! Neither cloud has an emulator that installs here, so each test starts a local server that
//! plays the cloud's REST API and its token services and **checks the documented request
//! shapes**: paths and query parameters, bearer tokens, the token-exchange bodies (GKE's
//! identity binding token, Google STS for federation, IAM Credentials `generateAccessToken`,
//! Entra ID client credentials with a secret, a certificate-signed or a federated client
//! assertion), and answers as the real APIs do (names with
//! project numbers, base64 payloads, `nextPageToken` / `nextLink` paging, Google and Key Vault
//! error bodies). ServiceAccount tokens come from the harness's TokenRequest, and the servers
//! check their audience and subject.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use seal_controller::externalsecrets::crd::{ClusterSecretStore, ExternalSecret, SecretStore};
use seal_controller::externalsecrets::providers::ProviderSettings;
use seal_controller::externalsecrets::providers::azure::AzureSettings;
use seal_controller::externalsecrets::providers::gcp::{EnvSnapshot, GcpSettings};
use sealkit_tests::http_server::{serve, serve_tls};
use serde_json::{Value, json};

use super::{Bridge, NS, external_secret, store};

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The JSON claims of a JWT (unverified).
fn jwt_claims(jwt: &str) -> Value {
    jwt.split('.')
        .nth(1)
        .and_then(|c| sealer::encoding::decode_url_safe(c).ok())
        .and_then(|c| serde_json::from_slice(&c).ok())
        .unwrap_or_default()
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
}

/// `k=v&…` (a query or a form body) decoded.
fn form_map(text: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{text}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    form_map(uri.query().unwrap_or_default())
}

async fn create_service_account(b: &Bridge, name: &str, annotations: &[(&str, &str)]) {
    let mut sa = ServiceAccount::default();
    sa.metadata.name = Some(name.into());
    sa.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    Api::<ServiceAccount>::namespaced(b.client(), NS)
        .create(&PostParams::default(), &sa)
        .await
        .expect("create serviceaccount");
}

async fn store_message(b: &Bridge, name: &str) -> String {
    let s = Api::<SecretStore>::namespaced(b.client(), NS)
        .get(name)
        .await
        .unwrap();
    s.status
        .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.message)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// GCP Secret Manager
// ---------------------------------------------------------------------------------------------

const GCP_PROJECT: &str = "my-project";
const GCP_PROJECT_NUMBER: &str = "123456789012";
const GCP_SA_EMAIL: &str = "eso-reader@my-project.iam.gserviceaccount.com";
const GCP_KEY_EMAIL: &str = "eso-key@my-project.iam.gserviceaccount.com";
const GCP_BINDING_TOKEN: &str = "ya29.identity-binding";
const GCP_IMPERSONATED_TOKEN: &str = "ya29.impersonated";
const GCP_AMBIENT_TOKEN: &str = "ya29.ambient";
const GCP_FEDERATED_TOKEN: &str = "ya29.federated";
const GCP_WIF_AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/k8s/providers/prod";

#[derive(Clone, Default)]
struct GcpSecret {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// Versions 1, 2, …: (enabled, data).
    versions: Vec<(bool, String)>,
}

struct GcpMock {
    /// PKCS#1 public key of the service account key the store holds.
    sa_public_key: Vec<u8>,
    secrets: Mutex<BTreeMap<String, GcpSecret>>,
    /// `METHOD path?query` of every request.
    seen: Mutex<Vec<String>>,
}

impl GcpMock {
    fn put(&self, id: &str, labels: &[(&str, &str)], data: &str) {
        let mut secrets = self.secrets.lock().unwrap();
        let s = secrets.entry(id.to_owned()).or_default();
        s.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        s.versions.push((true, data.to_owned()));
    }

    /// A self-signed service-account JWT (AIP-4111): RS256 by the key, its id as `kid`, the
    /// key's email as `iss` and `sub`, the cloud-platform scope.
    fn self_signed_ok(&self, jwt: &str) -> bool {
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return false;
        }
        let sig = sealer::encoding::decode_url_safe(parts[2]).unwrap_or_default();
        let signed = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.sa_public_key,
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .is_ok();
        let header: Value = sealer::encoding::decode_url_safe(parts[0])
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .unwrap_or_default();
        let claims = jwt_claims(jwt);
        signed
            && header["alg"] == "RS256"
            && header["kid"] == "key-id-1"
            && claims["iss"] == GCP_KEY_EMAIL
            && claims["sub"] == GCP_KEY_EMAIL
            && claims["scope"] == SCOPE
    }
}

fn google_error(status: StatusCode, name: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "message": message, "status": name}})),
    )
        .into_response()
}

/// Secret Manager v1, the GKE metadata server, the identity binding token endpoint, Google STS
/// and IAM Credentials.
async fn gcp_api(
    State(mock): State<Arc<GcpMock>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = uri.path().to_owned();
    mock.seen.lock().unwrap().push(format!(
        "{method} {path}{}",
        uri.query().map(|q| format!("?{q}")).unwrap_or_default()
    ));
    let query = query_map(&uri);
    if let Some(item) = path.strip_prefix("/computeMetadata/v1/") {
        // The GKE metadata server: only with `Metadata-Flavor: Google`.
        if headers.get("metadata-flavor").and_then(|h| h.to_str().ok()) != Some("Google") {
            return (
                StatusCode::FORBIDDEN,
                "Missing Metadata-Flavor:Google header.",
            )
                .into_response();
        }
        return match item {
            "project/project-id" => GCP_PROJECT.into_response(),
            "instance/attributes/cluster-location" => "europe-west1".into_response(),
            "instance/attributes/cluster-name" => "prod".into_response(),
            _ => (StatusCode::NOT_FOUND, "not found").into_response(),
        };
    }
    if method == Method::POST && path == "/v1/identitybindingtoken" {
        // ESO's workload_identity.go: a JSON body, the TokenRequest token as subject.
        let json_body = headers
            .get("content-type")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        let b: Value = serde_json::from_str(&body).unwrap_or_default();
        let subject = jwt_claims(b["subject_token"].as_str().unwrap_or_default());
        let ok = json_body
            && b["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
            && b["subject_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
            && b["requested_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
            && b["scope"] == SCOPE
            && b["audience"]
                == "identitynamespace:my-project.svc.id.goog:https://container.googleapis.com/v1/projects/my-project/locations/europe-west1/clusters/prod"
            && subject["sub"] == "system:serviceaccount:apps:gke-sa"
            && subject["aud"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "my-project.svc.id.goog"));
        return if ok {
            Json(json!({"access_token": GCP_BINDING_TOKEN, "token_type": "Bearer", "expires_in": 3600}))
                .into_response()
        } else {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant", "error_description": "bad exchange"})),
            )
                .into_response()
        };
    }
    if method == Method::POST && path == "/v1/token" {
        // Google STS (RFC 8693), form-encoded: Workload Identity Federation.
        let form = form_map(&body);
        let get = |k: &str| form.get(k).map(String::as_str);
        let subject = jwt_claims(get("subject_token").unwrap_or_default());
        let ok = get("grant_type") == Some("urn:ietf:params:oauth:grant-type:token-exchange")
            && get("audience") == Some(GCP_WIF_AUDIENCE)
            && get("scope") == Some(SCOPE)
            && get("requested_token_type") == Some("urn:ietf:params:oauth:token-type:access_token")
            && get("subject_token_type") == Some("urn:ietf:params:oauth:token-type:jwt")
            && subject["sub"] == "system:serviceaccount:apps:gke-sa"
            && subject["aud"] == json!([GCP_WIF_AUDIENCE]);
        return if ok {
            Json(json!({"access_token": GCP_FEDERATED_TOKEN, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600}))
                .into_response()
        } else {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant", "error_description": "The audience in the subject token does not match."})),
            )
                .into_response()
        };
    }
    if method == Method::POST && path.ends_with(":generateAccessToken") {
        let b: Value = serde_json::from_str(&body).unwrap_or_default();
        // GKE (binding token, `scope`) or federation (STS token, `lifetime` and `scope`).
        let ok = path
            == format!("/v1/projects/-/serviceAccounts/{GCP_SA_EMAIL}:generateAccessToken")
            && ((bearer(&headers) == GCP_BINDING_TOKEN && b == json!({"scope": [SCOPE]}))
                || (bearer(&headers) == GCP_FEDERATED_TOKEN
                    && b == json!({"lifetime": "3600s", "scope": [SCOPE]})));
        return if ok {
            Json(json!({"accessToken": GCP_IMPERSONATED_TOKEN, "expireTime": "2030-01-01T00:00:00Z"}))
                .into_response()
        } else {
            google_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            )
        };
    }
    let token = bearer(&headers);
    if !(token == GCP_IMPERSONATED_TOKEN
        || token == GCP_AMBIENT_TOKEN
        || mock.self_signed_ok(token))
    {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    if method != Method::GET {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method");
    }
    let Some(rest) = path.strip_prefix(&format!("/v1/projects/{GCP_PROJECT}/secrets")) else {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Permission denied on resource project.",
        );
    };
    let secrets = mock.secrets.lock().unwrap().clone();
    let full = |id: &str| format!("projects/{GCP_PROJECT_NUMBER}/secrets/{id}");
    if rest.is_empty() {
        // list: `labels.k=v` terms and `name:<substring>`, two per page.
        let filter = query.get("filter").cloned().unwrap_or_default();
        let matching: Vec<(&String, &GcpSecret)> = secrets
            .iter()
            .filter(|(id, s)| {
                filter.split_whitespace().all(|term| {
                    if let Some(kv) = term.strip_prefix("labels.") {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        s.labels.get(k).map(String::as_str) == Some(v)
                    } else if let Some(n) = term.strip_prefix("name:") {
                        id.contains(n)
                    } else {
                        false
                    }
                })
            })
            .collect();
        let start: usize = query
            .get("pageToken")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(2)
            .map(|(id, s)| json!({"name": full(id), "labels": s.labels, "replication": {"automatic": {}}, "createTime": "2026-01-01T00:00:00Z"}))
            .collect();
        let mut answer = json!({"secrets": page, "totalSize": matching.len()});
        if start + 2 < matching.len() {
            answer["nextPageToken"] = json!((start + 2).to_string());
        }
        return Json(answer).into_response();
    }
    let rest = rest.trim_start_matches('/');
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(secret) = secrets.get(id) else {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("Secret [{}] not found or has no versions.", full(id)),
        );
    };
    if tail.is_empty() {
        return Json(json!({"name": full(id), "labels": secret.labels, "annotations": secret.annotations, "replication": {"automatic": {}}}))
            .into_response();
    }
    if tail == "versions" {
        assert_eq!(
            query.get("filter").map(String::as_str),
            Some("state:ENABLED")
        );
        let versions: Vec<Value> = secret
            .versions
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, (enabled, _))| *enabled)
            .map(|(i, _)| json!({"name": format!("{}/versions/{}", full(id), i + 1), "state": "ENABLED"}))
            .collect();
        return Json(json!({"versions": versions})).into_response();
    }
    let Some(version) = tail
        .strip_prefix("versions/")
        .and_then(|v| v.strip_suffix(":access"))
    else {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method");
    };
    let number = match version {
        "latest" => secret.versions.len(),
        n => n.parse().unwrap_or(0),
    };
    let Some((enabled, data)) = number.checked_sub(1).and_then(|i| secret.versions.get(i)) else {
        return google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!(
                "Secret Version [{}/versions/{version}] not found.",
                full(id)
            ),
        );
    };
    if !enabled {
        return google_error(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            &format!(
                "Secret Version [{}/versions/{number}] is in DISABLED state.",
                full(id)
            ),
        );
    }
    Json(json!({
        "name": format!("{}/versions/{number}", full(id)),
        "payload": {"data": sealer::encoding::encode_std(data.as_bytes()), "dataCrc32c": "0"},
    }))
    .into_response()
}

/// The mock, its address, and a service account key JSON it accepts.
fn gcp_server() -> (Arc<GcpMock>, String, String) {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let mock = Arc::new(GcpMock {
        sa_public_key: pair.public_key().as_ref().to_vec(),
        secrets: Mutex::default(),
        seen: Mutex::default(),
    });
    let addr = serve(Router::new().fallback(gcp_api).with_state(mock.clone()));
    let endpoint = format!("http://{addr}");
    let key = json!({
        "type": "service_account",
        "project_id": GCP_PROJECT,
        "private_key_id": "key-id-1",
        "private_key": sealkit_tests::pem_lf("PRIVATE KEY", pair.as_der().unwrap().as_ref()),
        "client_email": GCP_KEY_EMAIL,
        "client_id": "1234",
        // Never called: the key signs its own JWT (AIP-4111).
        "token_uri": format!("{endpoint}/token"),
    })
    .to_string();
    (mock, endpoint, key)
}

fn gcp_settings(endpoint: &str, ambient: &[(&str, &str)]) -> GcpSettings {
    GcpSettings {
        secret_manager_endpoint: Some(endpoint.to_owned()),
        secure_token_endpoint: Some(endpoint.to_owned()),
        iam_credentials_endpoint: Some(endpoint.to_owned()),
        sts_endpoint: Some(endpoint.to_owned()),
        metadata_host: Some(endpoint.trim_start_matches("http://").to_owned()),
        ambient: EnvSnapshot::from_vars(ambient.iter().copied()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_secret_manager_with_a_key_reads_versions_properties_labels_and_finds_by_name_and_label()
 {
    let (mock, endpoint, key) = gcp_server();
    mock.put(
        "db-creds",
        &[("team", "a")],
        r#"{"user":"app","password":"v1-pw"}"#,
    );
    mock.put(
        "db-creds",
        &[("team", "a")],
        r#"{"user":"app","password":"v2-pw"}"#,
    );
    mock.put("app-one", &[("team", "b")], "one");
    mock.put("app-two", &[("team", "b")], "two");
    mock.put("app-three", &[("team", "c")], "three");
    mock.put("rotating", &[], "old");
    mock.put("rotating", &[], "new");
    mock.secrets
        .lock()
        .unwrap()
        .get_mut("rotating")
        .unwrap()
        .versions[1]
        .0 = false;
    mock.secrets
        .lock()
        .unwrap()
        .get_mut("db-creds")
        .unwrap()
        .annotations
        .insert("owner".into(), "dba".into());
    let settings = gcp_settings(&endpoint, &[]);
    let b = Bridge::start_with(|c| {
        c.providers = Arc::new(ProviderSettings {
            gcp: settings,
            ..(*c.providers).clone()
        });
    })
    .await;
    b.put_secret(NS, "gcp-key", &[("secret-access-credentials", &key)])
        .await;
    let auth = json!({"secretRef": {"secretAccessKeySecretRef": {"name": "gcp-key", "key": "secret-access-credentials"}}});
    b.create::<SecretStore>(store(
        "gcp",
        json!({"gcpsm": {"projectID": GCP_PROJECT, "auth": auth}}),
    ))
    .await;
    b.create::<SecretStore>(store(
        "gcp-fetch",
        json!({"gcpsm": {"projectID": GCP_PROJECT, "secretVersionSelectionPolicy": "LatestOrFetch", "auth": auth}}),
    ))
    .await;
    b.wait_store_ready(false, NS, "gcp", ("True", "Valid"))
        .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "gcp",
        json!({
            "data": [
                {"secretKey": "password", "remoteRef": {"key": "db-creds", "property": "password"}},
                {"secretKey": "first", "remoteRef": {"key": "db-creds", "version": "1", "property": "password"}},
                {"secretKey": "team", "remoteRef": {"key": "db-creds", "metadataPolicy": "Fetch", "property": "labels.team"}},
                {"secretKey": "owner", "remoteRef": {"key": "db-creds", "metadataPolicy": "Fetch", "property": "annotations.owner"}},
            ],
            "dataFrom": [
                {"find": {"name": {"regexp": "^app-t"}}},
                {"find": {"tags": {"team": "b"}}, "rewrite": [{"regexp": {"source": "^(.*)$", "target": "label-$1"}}]},
            ],
        }),
    ))
    .await;
    b.wait_data(
        NS,
        "db",
        &[
            ("password", "v2-pw"),
            ("first", "v1-pw"),
            ("team", "a"),
            ("owner", "dba"),
            ("app-two", "two"),
            ("app-three", "three"),
            ("label-app-one", "one"),
            ("label-app-two", "two"),
        ],
    )
    .await;
    {
        let seen = mock.seen.lock().unwrap();
        assert!(
            seen.iter().any(|s| s
                == &format!(
                    "GET /v1/projects/{GCP_PROJECT}/secrets/db-creds/versions/latest:access"
                )),
            "{seen:?}"
        );
        assert!(
            seen.iter().any(
                |s| s.starts_with(&format!("GET /v1/projects/{GCP_PROJECT}/secrets?"))
                    && s.contains("filter=labels.team%3Db")
            ),
            "{seen:?}"
        );
        // Three secrets named app-*: the listing is paged (two per page).
        assert!(seen.iter().any(|s| s.contains("pageToken=2")), "{seen:?}");
        assert!(
            !seen.iter().any(|s| s.contains("/token")),
            "no token endpoint is called: {seen:?}"
        );
    }

    // A new version is followed.
    mock.put(
        "db-creds",
        &[("team", "a")],
        r#"{"user":"app","password":"v3-pw"}"#,
    );
    b.wait_data(
        NS,
        "db",
        &[
            ("password", "v3-pw"),
            ("first", "v1-pw"),
            ("team", "a"),
            ("owner", "dba"),
            ("app-two", "two"),
            ("app-three", "three"),
            ("label-app-one", "one"),
            ("label-app-two", "two"),
        ],
    )
    .await;

    // A disabled latest version: LatestOrFail errors, LatestOrFetch takes the newest enabled.
    b.create::<ExternalSecret>(external_secret(
        "rot-fail",
        "gcp",
        json!({"data": [{"secretKey": "v", "remoteRef": {"key": "rotating"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "rot-fail", "False", "SecretSyncedError")
        .await;
    assert!(message.contains("DISABLED state"), "{message}");
    b.create::<ExternalSecret>(external_secret(
        "rot-fetch",
        "gcp-fetch",
        json!({"data": [{"secretKey": "v", "remoteRef": {"key": "rotating"}}]}),
    ))
    .await;
    b.wait_data(NS, "rot-fetch", &[("v", "old")]).await;

    // A key that would leave its path segment is refused before any call.
    b.create::<ExternalSecret>(external_secret(
        "escape",
        "gcp",
        json!({"data": [{"secretKey": "v", "remoteRef": {"key": "../../other-project/secrets/x"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "escape", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("is not a valid resource name segment"),
        "{message}"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_workload_identity_and_federation_trade_a_service_account_token_and_only_cluster_stores_use_the_bridge_identity()
 {
    let (mock, endpoint, _) = gcp_server();
    mock.put("api-key", &[], "wi-value");
    let settings = gcp_settings(
        &endpoint,
        &[("GOOGLE_OAUTH_ACCESS_TOKEN", GCP_AMBIENT_TOKEN)],
    );
    let b = Bridge::start_with(|c| {
        c.providers = Arc::new(ProviderSettings {
            gcp: settings,
            ..(*c.providers).clone()
        });
    })
    .await;
    create_service_account(
        &b,
        "gke-sa",
        &[("iam.gke.io/gcp-service-account", GCP_SA_EMAIL)],
    )
    .await;
    b.create::<SecretStore>(store(
        "gke",
        json!({"gcpsm": {"projectID": GCP_PROJECT, "auth": {"workloadIdentity": {
            "serviceAccountRef": {"name": "gke-sa"},
            "clusterLocation": "europe-west1", "clusterName": "prod", "clusterProjectID": GCP_PROJECT,
        }}}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "wi",
        "gke",
        json!({"data": [{"secretKey": "k", "remoteRef": {"key": "api-key"}}]}),
    ))
    .await;
    b.wait_data(NS, "wi", &[("k", "wi-value")]).await;
    {
        let seen = mock.seen.lock().unwrap();
        let exchange = seen
            .iter()
            .position(|s| s == "POST /v1/identitybindingtoken");
        let impersonate = seen
            .iter()
            .position(|s| s.ends_with(":generateAccessToken"));
        assert!(exchange.is_some() && impersonate > exchange, "{seen:?}");
    }

    // Cluster location and name left out: the metadata server's.
    b.create::<SecretStore>(store(
        "gke-meta",
        json!({"gcpsm": {"projectID": GCP_PROJECT, "auth": {"workloadIdentity": {
            "serviceAccountRef": {"name": "gke-sa"},
        }}}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "wi-meta",
        "gke-meta",
        json!({"data": [{"secretKey": "k", "remoteRef": {"key": "api-key"}}]}),
    ))
    .await;
    b.wait_data(NS, "wi-meta", &[("k", "wi-value")]).await;
    {
        let seen = mock.seen.lock().unwrap();
        assert!(
            seen.iter()
                .any(|s| s == "GET /computeMetadata/v1/instance/attributes/cluster-name"),
            "{seen:?}"
        );
    }

    // Workload Identity Federation: the ServiceAccount token (its audiences only, as ESO) at STS,
    // then the named Google service account.
    b.create::<SecretStore>(store(
        "wif",
        json!({"gcpsm": {"projectID": GCP_PROJECT, "auth": {"workloadIdentityFederation": {
            "serviceAccountRef": {"name": "gke-sa", "audiences": [GCP_WIF_AUDIENCE]},
            "audience": GCP_WIF_AUDIENCE,
            "gcpServiceAccountEmail": GCP_SA_EMAIL,
        }}}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "wif",
        "wif",
        json!({"data": [{"secretKey": "k", "remoteRef": {"key": "api-key"}}]}),
    ))
    .await;
    b.wait_data(NS, "wif", &[("k", "wi-value")]).await;
    assert!(
        mock.seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s == "POST /v1/token")
    );

    // No auth: the bridge's own identity, for a ClusterSecretStore only.
    b.create::<SecretStore>(store("own", json!({"gcpsm": {"projectID": GCP_PROJECT}})))
        .await;
    b.wait_store_ready(false, NS, "own", ("False", "InvalidProviderConfig"))
        .await;
    let message = store_message(&b, "own").await;
    assert!(message.contains("only ClusterSecretStores"), "{message}");
    let cluster: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "gcp-cluster"},
        "spec": {"provider": {"gcpsm": {"projectID": GCP_PROJECT}}},
    }))
    .unwrap();
    Api::<ClusterSecretStore>::all(b.client())
        .create(&PostParams::default(), &cluster)
        .await
        .unwrap();
    let mut es = external_secret(
        "ambient",
        "gcp-cluster",
        json!({"data": [{"secretKey": "k", "remoteRef": {"key": "api-key"}}]}),
    );
    es["spec"]["secretStoreRef"]["kind"] = json!("ClusterSecretStore");
    b.create::<ExternalSecret>(es).await;
    b.wait_data(NS, "ambient", &[("k", "wi-value")]).await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Azure Key Vault
// ---------------------------------------------------------------------------------------------

const AZURE_TENANT: &str = "tenant-1";
const AZURE_CLIENT: &str = "client-1";
const AZURE_WI_CLIENT: &str = "wi-client-9";
const AZURE_SP_TOKEN: &str = "eyJ0eXAi.sp.token";
const AZURE_WI_TOKEN: &str = "eyJ0eXAi.wi.token";
/// The managed identity endpoint's secret header and its tokens (system- and user-assigned).
const AZURE_MI_HEADER: &str = "msi-header-secret";
const AZURE_MI_TOKEN: &str = "eyJ0eXAi.mi.system";
const AZURE_MI_USER_TOKEN: &str = "eyJ0eXAi.mi.user";
const AZURE_MI_CLIENT: &str = "mi-client-7";
const AZURE_VERSION_1: &str = "0f0e0d0c0b0a09080706050403020100";
const AZURE_VERSION_2: &str = "5b4bd2a0a61243e19b2f0d1b9dd1a5f6";

/// name → (enabled, tags, versions oldest first as (id, value)).
type AzureSecrets = BTreeMap<String, (bool, BTreeMap<String, String>, Vec<(String, String)>)>;

struct AzureMock {
    base: std::sync::OnceLock<String>,
    /// name → (enabled, tags, versions oldest first as (id, value)).
    secrets: Mutex<AzureSecrets>,
    seen: Mutex<Vec<String>>,
    /// The DER of the certificate `cert/tls` serves.
    cert_der: Vec<u8>,
    /// The client certificate's RSA public key (PKCS#1) and its x5t.
    client_cert: std::sync::OnceLock<(Vec<u8>, String)>,
}

fn kv_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// Entra ID's v2.0 token endpoint and the Key Vault REST API.
async fn azure_api(
    State(mock): State<Arc<AzureMock>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = uri.path().to_owned();
    let query = query_map(&uri);
    mock.seen.lock().unwrap().push(format!("{method} {path}"));
    let base = mock.base.get().unwrap().clone();
    if method == Method::POST && path == format!("/{AZURE_TENANT}/oauth2/v2.0/token") {
        let form = form_map(&body);
        let get = |k: &str| form.get(k).map(String::as_str);
        let common = get("grant_type") == Some("client_credentials")
            && get("scope") == Some("https://vault.azure.net/.default");
        let assertion = (get("client_assertion_type")
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
        .then(|| jwt_claims(get("client_assertion").unwrap_or_default()));
        // A service principal with its secret or a certificate-signed assertion.
        let service_principal = get("client_secret") == Some("sp-secret")
            || (assertion.is_some()
                && mock
                    .certificate_assertion_ok(&base, get("client_assertion").unwrap_or_default()));
        let token = if common && get("client_id") == Some(AZURE_CLIENT) && service_principal {
            Some(AZURE_SP_TOKEN)
        } else if common
            && get("client_id") == Some(AZURE_WI_CLIENT)
            && assertion.as_ref().is_some_and(|c| {
                c["aud"] == json!(["api://AzureADTokenExchange"])
                    && c["sub"] == "system:serviceaccount:apps:azure-sa"
            })
        {
            Some(AZURE_WI_TOKEN)
        } else {
            None
        };
        return match token {
            Some(t) => Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": t}))
                .into_response(),
            None => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})),
            )
                .into_response(),
        };
    }
    if query.get("api-version").map(String::as_str) != Some("7.4") {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "api-version missing",
        );
    }
    if ![
        AZURE_SP_TOKEN,
        AZURE_WI_TOKEN,
        AZURE_MI_TOKEN,
        AZURE_MI_USER_TOKEN,
    ]
    .contains(&bearer(&headers))
    {
        return kv_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let secrets = mock.secrets.lock().unwrap().clone();
    match parts.as_slice() {
        ["secrets"] => {
            let names: Vec<&String> = secrets.keys().collect();
            let start: usize = query.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
            let page: Vec<Value> = names
                .iter()
                .skip(start)
                .take(2)
                .map(|n| {
                    let (enabled, tags, _) = &secrets[*n];
                    json!({"id": format!("{base}/secrets/{n}"), "attributes": {"enabled": enabled}, "tags": tags})
                })
                .collect();
            let next = (start + 2 < names.len())
                .then(|| format!("{base}/secrets?api-version=7.4&$skiptoken={}&maxresults=25", start + 2));
            Json(json!({"value": page, "nextLink": next})).into_response()
        }
        ["secrets", name] | ["secrets", name, ""] => secret_answer(&base, &secrets, name, None),
        ["secrets", name, version] => secret_answer(&base, &secrets, name, Some(version)),
        ["keys", "rsa-1"] => Json(json!({
            "key": {"kid": format!("{base}/keys/rsa-1/{AZURE_VERSION_1}"), "kty": "RSA", "key_ops": ["encrypt", "decrypt"], "n": "0vx7agoebGcQSuu", "e": "AQAB"},
            "attributes": {"enabled": true},
        }))
        .into_response(),
        ["certificates", "tls"] => Json(json!({
            "id": format!("{base}/certificates/tls/{AZURE_VERSION_1}"),
            "cer": sealer::encoding::encode_std(&mock.cert_der),
            "attributes": {"enabled": true},
        }))
        .into_response(),
        _ => kv_error(StatusCode::NOT_FOUND, "NotFound", "not found"),
    }
}

/// App Service's managed identity endpoint (api-version 2019-08-01), as azure_identity calls
/// it: `GET` with the secret in `X-IDENTITY-HEADER`, the resource (not a scope) and the
/// user-assigned identity's `client_id` in the query.
async fn azure_identity_endpoint(
    State(mock): State<Arc<AzureMock>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let query = query_map(&uri);
    let client_id = query.get("client_id").cloned();
    mock.seen.lock().unwrap().push(format!(
        "{method} {} client_id={}",
        uri.path(),
        client_id.as_deref().unwrap_or("")
    ));
    let header = headers
        .get("x-identity-header")
        .and_then(|h| h.to_str().ok());
    if method != Method::GET
        || uri.path() != "/msi/token"
        || header != Some(AZURE_MI_HEADER)
        || query.get("api-version").map(String::as_str) != Some("2019-08-01")
        || query.get("resource").map(String::as_str) != Some("https://vault.azure.net")
    {
        return (StatusCode::BAD_REQUEST, "bad identity request").into_response();
    }
    let token = match client_id.as_deref() {
        None => AZURE_MI_TOKEN,
        Some(AZURE_MI_CLIENT) => AZURE_MI_USER_TOKEN,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"statusCode": 400, "message": "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."})),
            )
                .into_response();
        }
    };
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    Json(json!({
        "access_token": token, "expires_on": expires.to_string(),
        "resource": "https://vault.azure.net", "token_type": "Bearer",
        "client_id": client_id.unwrap_or_else(|| "system-assigned".into()),
    }))
    .into_response()
}

fn secret_answer(
    base: &str,
    secrets: &AzureSecrets,
    name: &str,
    version: Option<&str>,
) -> Response {
    let missing = || {
        kv_error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            &format!("A secret with (name/id) {name} was not found in this key vault."),
        )
    };
    let Some((enabled, tags, versions)) = secrets.get(name) else {
        return missing();
    };
    let found = match version {
        None => versions.last(),
        Some(v) => versions.iter().find(|(id, _)| id == v),
    };
    let Some((id, value)) = found else {
        return missing();
    };
    Json(json!({
        "value": value, "id": format!("{base}/secrets/{name}/{id}"),
        "attributes": {"enabled": enabled, "created": 1_767_225_600, "updated": 1_767_225_600, "recoveryLevel": "Recoverable+Purgeable"},
        "tags": tags,
    }))
    .into_response()
}

fn azure_server() -> (Arc<AzureMock>, sealkit_tests::http_server::TlsServer) {
    let cert = rcgen::generate_simple_self_signed(vec!["tls.example".into()]).unwrap();
    let mock = Arc::new(AzureMock {
        base: std::sync::OnceLock::new(),
        secrets: Mutex::default(),
        seen: Mutex::default(),
        cert_der: cert.cert.der().to_vec(),
        client_cert: std::sync::OnceLock::new(),
    });
    let server = serve_tls(Router::new().fallback(azure_api).with_state(mock.clone()));
    mock.base.set(server.url()).unwrap();
    (mock, server)
}

impl AzureMock {
    /// A certificate assertion: RS256 by the client certificate's key, its x5t, the token
    /// endpoint as `aud`, the client as `iss` and `sub`.
    fn certificate_assertion_ok(&self, base: &str, jwt: &str) -> bool {
        let Some((public, x5t)) = self.client_cert.get() else {
            return false;
        };
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return false;
        }
        let sig = sealer::encoding::decode_url_safe(parts[2]).unwrap_or_default();
        let signed = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            public,
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .is_ok();
        let header: Value = sealer::encoding::decode_url_safe(parts[0])
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .unwrap_or_default();
        let claims = jwt_claims(jwt);
        signed
            && header["alg"] == "RS256"
            && header["x5t"] == x5t.as_str()
            && claims["aud"] == format!("{base}/{AZURE_TENANT}/oauth2/v2.0/token")
            && claims["iss"] == AZURE_CLIENT
            && claims["sub"] == AZURE_CLIENT
    }

    /// A client certificate and its key as one PEM text, registered as the client's.
    fn client_certificate_pem(&self) -> String {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let key_pem = sealkit_tests::pem_lf("PRIVATE KEY", pair.as_der().unwrap().as_ref());
        let key =
            rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["eso-client".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            cert.der().as_ref(),
        );
        let x5t = sealer::encoding::encode_url_nopad(digest.as_ref());
        self.client_cert
            .set((pair.public_key().as_ref().to_vec(), x5t))
            .unwrap();
        format!("{}{key_pem}", cert.pem())
    }

    fn put(&self, name: &str, tags: &[(&str, &str)], versions: &[(&str, &str)]) {
        self.secrets.lock().unwrap().insert(
            name.to_owned(),
            (
                true,
                tags.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                versions
                    .iter()
                    .map(|(id, v)| ((*id).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
        );
    }
}

fn azure_settings(server: &sealkit_tests::http_server::TlsServer) -> AzureSettings {
    AzureSettings {
        authority_host: Some(server.url()),
        ca_pem: Some(server.ca_pem.clone().into_bytes()),
        ambient: EnvSnapshot::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_key_vault_service_principal_reads_secrets_keys_certificates_tags_and_finds() {
    let (mock, server) = azure_server();
    mock.put(
        "db-creds",
        &[("team", "a")],
        &[
            (AZURE_VERSION_1, r#"{"password":"old"}"#),
            (AZURE_VERSION_2, r#"{"password":"new"}"#),
        ],
    );
    mock.put("app-one", &[("team", "b")], &[(AZURE_VERSION_1, "one")]);
    mock.put("app-two", &[("team", "b")], &[(AZURE_VERSION_1, "two")]);
    mock.put("app-off", &[("team", "b")], &[(AZURE_VERSION_1, "off")]);
    mock.secrets.lock().unwrap().get_mut("app-off").unwrap().0 = false;
    let settings = azure_settings(&server);
    let b = Bridge::start_with(|c| {
        c.providers = Arc::new(ProviderSettings {
            azure: settings,
            ..(*c.providers).clone()
        });
    })
    .await;
    b.put_secret(
        NS,
        "azure-sp",
        &[("client-id", AZURE_CLIENT), ("client-secret", "sp-secret")],
    )
    .await;
    b.put_secret(
        NS,
        "azure-bad",
        &[
            ("client-id", AZURE_CLIENT),
            ("client-secret", "not-the-secret"),
        ],
    )
    .await;
    let sp = |secret: &str| {
        json!({"azurekv": {
            "vaultUrl": server.url(), "tenantId": AZURE_TENANT, "authType": "ServicePrincipal",
            "authSecretRef": {"clientId": {"name": secret, "key": "client-id"}, "clientSecret": {"name": secret, "key": "client-secret"}},
        }})
    };
    b.create::<SecretStore>(store("azure", sp("azure-sp")))
        .await;
    b.wait_store_ready(false, NS, "azure", ("True", "Valid"))
        .await;
    b.create::<ExternalSecret>(external_secret(
        "kv",
        "azure",
        json!({
            "data": [
                {"secretKey": "password", "remoteRef": {"key": "db-creds", "property": "password"}},
                {"secretKey": "old", "remoteRef": {"key": "secret/db-creds", "version": AZURE_VERSION_1, "property": "password"}},
                {"secretKey": "tags", "remoteRef": {"key": "db-creds", "metadataPolicy": "Fetch"}},
                {"secretKey": "jwk", "remoteRef": {"key": "key/rsa-1"}},
                {"secretKey": "n", "remoteRef": {"key": "key/rsa-1", "property": "n"}},
            ],
            "dataFrom": [{"find": {"name": {"regexp": "^app-"}, "tags": {"team": "b"}}}],
        }),
    ))
    .await;
    let jwk = format!(
        r#"{{"kid":"{}/keys/rsa-1/{AZURE_VERSION_1}","kty":"RSA","key_ops":["encrypt","decrypt"],"n":"0vx7agoebGcQSuu","e":"AQAB"}}"#,
        server.url()
    );
    b.wait_data(
        NS,
        "kv",
        &[
            ("password", "new"),
            ("old", "old"),
            ("tags", r#"{"team":"a"}"#),
            ("jwk", &jwk),
            ("n", "0vx7agoebGcQSuu"),
            ("app-one", "one"),
            ("app-two", "two"),
        ],
    )
    .await;
    // cert/: the DER bytes of the certificate.
    b.create::<ExternalSecret>(external_secret(
        "tls",
        "azure",
        json!({"data": [{"secretKey": "tls.der", "remoteRef": {"key": "cert/tls"}}]}),
    ))
    .await;
    let mut cert = None;
    for _ in 0..300 {
        cert = b.secret_opt(NS, "tls").await;
        if cert.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let cert = cert.expect("the tls secret");
    assert_eq!(cert.data.unwrap()["tls.der"].0, mock.cert_der);
    {
        let seen = mock.seen.lock().unwrap();
        assert!(
            seen.iter()
                .any(|s| s == &format!("POST /{AZURE_TENANT}/oauth2/v2.0/token")),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .any(|s| s == &format!("GET /secrets/db-creds/{AZURE_VERSION_1}")),
            "{seen:?}"
        );
        // Four secrets, two per page: the nextLink was followed.
        assert!(
            seen.iter().filter(|s| *s == "GET /secrets").count() >= 2,
            "{seen:?}"
        );
    }
    // A value change is followed.
    mock.put(
        "db-creds",
        &[("team", "a")],
        &[
            (AZURE_VERSION_1, r#"{"password":"old"}"#),
            (AZURE_VERSION_2, r#"{"password":"newer"}"#),
        ],
    );
    b.wait_data(
        NS,
        "kv",
        &[
            ("password", "newer"),
            ("old", "old"),
            ("tags", r#"{"team":"a"}"#),
            ("jwk", &jwk),
            ("n", "0vx7agoebGcQSuu"),
            ("app-one", "one"),
            ("app-two", "two"),
        ],
    )
    .await;

    // A client certificate (PEM with its key) instead of a secret: a signed assertion.
    let client_pem = mock.client_certificate_pem();
    b.put_secret(
        NS,
        "azure-cert",
        &[("client-id", AZURE_CLIENT), ("tls.pem", &client_pem)],
    )
    .await;
    b.create::<SecretStore>(store(
        "azure-cert",
        json!({"azurekv": {
            "vaultUrl": server.url(), "tenantId": AZURE_TENANT,
            "authSecretRef": {"clientId": {"name": "azure-cert", "key": "client-id"}, "clientCertificate": {"name": "azure-cert", "key": "tls.pem"}},
        }}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "by-cert",
        "azure-cert",
        json!({"data": [{"secretKey": "v", "remoteRef": {"key": "app-one"}}]}),
    ))
    .await;
    b.wait_data(NS, "by-cert", &[("v", "one")]).await;

    // A wrong client secret: denied, and the secret is not shown.
    b.create::<SecretStore>(store("azure-bad", sp("azure-bad")))
        .await;
    b.wait_store_ready(false, NS, "azure-bad", ("False", "ValidationFailed"))
        .await;
    let message = store_message(&b, "azure-bad").await;
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(!message.contains("not-the-secret"), "{message}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_workload_identity_uses_a_service_account_token_as_the_client_assertion() {
    let (mock, server) = azure_server();
    mock.put("wi-secret", &[], &[(AZURE_VERSION_1, "from-wi")]);
    let settings = azure_settings(&server);
    let b = Bridge::start_with(|c| {
        c.providers = Arc::new(ProviderSettings {
            azure: settings,
            ..(*c.providers).clone()
        });
    })
    .await;
    create_service_account(
        &b,
        "azure-sa",
        &[("azure.workload.identity/client-id", AZURE_WI_CLIENT)],
    )
    .await;
    b.create::<SecretStore>(store(
        "azure-wi",
        json!({"azurekv": {
            "vaultUrl": server.url(), "tenantId": AZURE_TENANT, "authType": "WorkloadIdentity",
            "serviceAccountRef": {"name": "azure-sa"},
        }}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "wi",
        "azure-wi",
        json!({"data": [{"secretKey": "v", "remoteRef": {"key": "wi-secret"}}]}),
    ))
    .await;
    b.wait_data(NS, "wi", &[("v", "from-wi")]).await;

    // Managed identity and the bridge's own workload identity: ClusterSecretStores only.
    b.create::<SecretStore>(store(
        "azure-mi",
        json!({"azurekv": {"vaultUrl": server.url(), "authType": "ManagedIdentity"}}),
    ))
    .await;
    b.wait_store_ready(false, NS, "azure-mi", ("False", "InvalidProviderConfig"))
        .await;
    let message = store_message(&b, "azure-mi").await;
    assert!(message.contains("only ClusterSecretStores"), "{message}");
    let _ = mock;
    b.stop().await;
}

fn cluster_store(name: &str, provider: Value) -> ClusterSecretStore {
    serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": name},
        "spec": {"provider": provider},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_managed_identity_in_the_seal_controller_binary_serves_cluster_stores_only() {
    let (mock, server) = azure_server();
    mock.put("mi-secret", &[], &[(AZURE_VERSION_1, "from-mi")]);
    mock.put("mi-user-secret", &[], &[(AZURE_VERSION_1, "from-user-mi")]);
    let identity = serve(
        Router::new()
            .fallback(azure_identity_endpoint)
            .with_state(mock.clone()),
    );
    // The vault's CA, trusted the way a pod trusts one: the system's CA file.
    let ca = tempfile::NamedTempFile::new().unwrap();
    fs_err::write(ca.path(), &server.ca_pem).unwrap();
    let endpoint = format!("http://{identity}/msi/token");
    let b = Bridge::start_binary(&[
        ("IDENTITY_ENDPOINT", &endpoint),
        ("IDENTITY_HEADER", AZURE_MI_HEADER),
        ("SSL_CERT_FILE", ca.path().to_str().unwrap()),
    ])
    .await;

    // The bridge's own identity: system-assigned, and user-assigned through identityId.
    let clusters = Api::<ClusterSecretStore>::all(b.client());
    for (name, provider) in [
        (
            "azure-mi",
            json!({"azurekv": {"vaultUrl": server.url(), "authType": "ManagedIdentity"}}),
        ),
        (
            "azure-mi-user",
            json!({"azurekv": {"vaultUrl": server.url(), "authType": "ManagedIdentity", "identityId": AZURE_MI_CLIENT}}),
        ),
    ] {
        clusters
            .create(&PostParams::default(), &cluster_store(name, provider))
            .await
            .unwrap();
    }
    for (es_name, store_name, key) in [
        ("mi", "azure-mi", "mi-secret"),
        ("mi-user", "azure-mi-user", "mi-user-secret"),
    ] {
        let mut es = external_secret(
            es_name,
            store_name,
            json!({"data": [{"secretKey": "v", "remoteRef": {"key": key}}]}),
        );
        es["spec"]["secretStoreRef"]["kind"] = json!("ClusterSecretStore");
        b.create::<ExternalSecret>(es).await;
    }
    b.wait_data(NS, "mi", &[("v", "from-mi")]).await;
    b.wait_data(NS, "mi-user", &[("v", "from-user-mi")]).await;
    {
        let seen = mock.seen.lock().unwrap();
        assert!(
            seen.iter().any(|s| s == "GET /msi/token client_id="),
            "{seen:?}"
        );
        assert!(
            seen.iter()
                .any(|s| s == &format!("GET /msi/token client_id={AZURE_MI_CLIENT}")),
            "{seen:?}"
        );
        assert!(
            seen.iter().any(|s| s.starts_with("GET /secrets/mi-secret")),
            "{seen:?}"
        );
    }

    // A namespaced store may not borrow the bridge's identity.
    b.create::<SecretStore>(store(
        "azure-mi",
        json!({"azurekv": {"vaultUrl": server.url(), "authType": "ManagedIdentity"}}),
    ))
    .await;
    b.wait_store_ready(false, NS, "azure-mi", ("False", "InvalidProviderConfig"))
        .await;
    let message = store_message(&b, "azure-mi").await;
    assert!(message.contains("only ClusterSecretStores"), "{message}");
    assert!(message.contains("ManagedIdentity"), "{message}");

    let logs = b.logs();
    for secret in [
        AZURE_MI_HEADER,
        AZURE_MI_TOKEN,
        AZURE_MI_USER_TOKEN,
        "from-mi",
        "from-user-mi",
    ] {
        assert!(!logs.contains(secret), "{secret} in the bridge's logs");
    }
    b.stop().await;
}
