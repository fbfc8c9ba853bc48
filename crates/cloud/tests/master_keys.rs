//! Master keys against real peers: OpenBao (Vault transit), moto (AWS KMS and STS) and GnuPG;
//! GCP Cloud KMS and Azure Key Vault against local servers that check each request against
//! the shape the service documents (no emulator of either is installable from crates.io,
//! PyPI, Debian or npm); Azure's token endpoint over HTTPS, as azure_identity requires.

use std::net::SocketAddr;
use std::sync::Arc;

use sealer::sops::master_keys::{
    self, DataKey, KeyBuilder, KeyEnv, KeyFlags, MasterKey, MasterKeyGroup, RemoteKeys, Unwrappers,
    block_on,
};
use sealer::sops::{KeyKind, Metadata, Selectors};
use sealkit_cloud::CloudKeys;
use sealkit_tests::gnupg::GnupgHome;
use sealkit_tests::servers::{Moto, OpenBao};

#[path = "master_keys/aws_sources.rs"]
mod aws_sources;

fn cloud_keys() -> Arc<dyn RemoteKeys> {
    Arc::new(CloudKeys::default())
}

/// Cloud keys whose HTTP client also trusts `ca_pem` (a local HTTPS server's certificate).
fn cloud_keys_trusting(ca_pem: &str) -> Arc<dyn RemoteKeys> {
    let client = sealkit_cloud::http::ClientBuilder::new()
        .add_ca_pem(ca_pem.as_bytes(), "test server")
        .unwrap()
        .build()
        .unwrap();
    Arc::new(CloudKeys::with_http_client(client))
}

fn builder(vars: &[(&str, &str)]) -> KeyBuilder {
    builder_with(vars, cloud_keys())
}

fn builder_with(vars: &[(&str, &str)], keys: Arc<dyn RemoteKeys>) -> KeyBuilder {
    KeyBuilder::new(Arc::new(KeyEnv::from_vars(vars.iter().copied()))).with_remote_keys(keys)
}

fn unwrappers(builder: &KeyBuilder) -> Unwrappers {
    let with = Unwrappers::from_env(Default::default()).with_key_env((**builder.env()).clone());
    match builder.remote_keys() {
        Some(keys) => with.with_remote_keys(keys.clone()),
        None => with,
    }
}

/// Wraps a fresh secret, rebuilds the key from its stanza (metadata out and in) and unwraps.
fn round_trip(key: &dyn MasterKey, builder: &KeyBuilder) -> String {
    let secret = DataKey::generate();
    let enc = block_on(key.wrap(secret.expose())).unwrap_or_else(|e| panic!("wrap: {e}"));
    let stanza = key.to_stanza(&enc);
    let again = builder.key_for_stanza(&stanza).unwrap();
    assert_eq!(again.id(), key.id());
    let with = unwrappers(builder);
    let back = block_on(again.unwrap(&enc, &with)).unwrap_or_else(|e| panic!("unwrap: {e}"));
    assert_eq!(back.as_slice(), secret.expose());
    enc
}

fn wrap_err(key: &dyn MasterKey) -> String {
    block_on(key.wrap(&[7; 32])).unwrap_err().to_string()
}

fn one(builder: &KeyBuilder, flags: KeyFlags) -> Box<dyn MasterKey> {
    let mut group = builder.group_from_flags(&flags).unwrap();
    assert_eq!(group.len(), 1);
    group.remove(0)
}

fn vault_flags(uri: &str) -> KeyFlags {
    KeyFlags {
        hc_vault_transit: Some(uri.to_owned()),
        ..KeyFlags::default()
    }
}

/// An OpenBao dev server with transit mounted at `transit` and `team/transit`, keys `sops`
/// and `other`.
fn openbao_with_transit() -> OpenBao {
    let bao = OpenBao::start();
    for mount in ["transit", "team/transit"] {
        bao.mount(mount, "transit", serde_json::json!({}));
        for key in ["sops", "other"] {
            bao.api(reqwest::Method::POST, &format!("{mount}/keys/{key}"), None);
        }
    }
    bao
}

#[test]
fn vault_transit_round_trips_against_openbao_and_reports_each_failure() {
    let mut bao = openbao_with_transit();
    let uri = format!("{}/v1/transit/keys/sops", bao.url());
    let b = builder(&[("VAULT_TOKEN", OpenBao::ROOT_TOKEN)]);
    let key = one(&b, vault_flags(&uri));
    let enc = round_trip(key.as_ref(), &b);
    assert!(enc.starts_with("vault:v1:"), "{enc}");
    let stanza = key.to_stanza(&enc);
    assert_eq!(stanza.field("vault_address"), Some(bao.url().as_str()));
    assert_eq!(stanza.field("engine_path"), Some("transit"));
    assert_eq!(stanza.field("key_name"), Some("sops"));

    // A deeper engine path, and the token from ~/.vault-token.
    let home = tempfile::tempdir().unwrap();
    fs_err::write(
        home.path().join(".vault-token"),
        format!("{}\n", OpenBao::ROOT_TOKEN),
    )
    .unwrap();
    let from_file = builder(&[("HOME", home.path().to_str().unwrap())]);
    let team = one(
        &from_file,
        vault_flags(&format!("{}/v1/team/transit/keys/sops", bao.url())),
    );
    round_trip(team.as_ref(), &from_file);

    // The enc of one transit key does not open with another.
    let other = one(
        &b,
        vault_flags(&format!("{}/v1/transit/keys/other", bao.url())),
    );
    let err = block_on(other.unwrap(&enc, &unwrappers(&b)))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "hc_vault key {}/v1/transit/keys/other: the data key was not encrypted with this key",
            bao.url()
        )),
        "{err}"
    );

    // A bad token is refused, and the message says so without showing the token.
    let bad = builder(&[("VAULT_TOKEN", "s.not-a-token")]);
    let err = wrap_err(one(&bad, vault_flags(&uri)).as_ref());
    assert!(
        err.starts_with(&format!(
            "hc_vault key {uri}: access denied by {}/v1/transit/encrypt/sops (HTTP 403)",
            bao.url()
        )),
        "{err}"
    );
    assert!(!err.contains("s.not-a-token"), "{err}");
    let none = builder(&[("HOME", "/nonexistent")]);
    let err = wrap_err(one(&none, vault_flags(&uri)).as_ref());
    assert!(err.contains("no token: VAULT_TOKEN is unset"), "{err}");

    // A stopped server: the key and the URL it called.
    bao.kill();
    let err = wrap_err(key.as_ref());
    assert_eq!(
        err,
        format!(
            "hc_vault key {uri}: cannot reach {}/v1/transit/encrypt/sops",
            bao.url()
        )
    );
}

fn moto_key(moto: &Moto, description: &str) -> String {
    let created = moto.json_call(
        "TrentService.CreateKey",
        &serde_json::json!({ "Description": description }),
    );
    created["KeyMetadata"]["Arn"].as_str().unwrap().to_owned()
}

fn kms_flags(arn: &str, context: Option<&str>, profile: Option<&str>) -> KeyFlags {
    KeyFlags {
        kms: Some(arn.to_owned()),
        encryption_context: context.map(str::to_owned),
        aws_profile: profile.map(str::to_owned),
        ..KeyFlags::default()
    }
}

#[test]
fn aws_kms_round_trips_against_moto_with_context_role_and_profile() {
    let moto = Moto::start();
    let arn = moto_key(&moto, "sops");
    let endpoint = moto.endpoint();
    let env_keys = [
        ("AWS_ACCESS_KEY_ID", Moto::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", Moto::SECRET_ACCESS_KEY),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ];
    let b = builder(&env_keys);

    // Plain, then with an encryption context that must match on decrypt.
    let plain = one(&b, kms_flags(&arn, None, None));
    let enc = round_trip(plain.as_ref(), &b);
    assert!(sealer::encoding::decode_std(&enc).is_ok(), "{enc}");
    let with_context = one(&b, kms_flags(&arn, Some("app:demo,env:test"), None));
    let enc = round_trip(with_context.as_ref(), &b);
    let stanza = with_context.to_stanza(&enc);
    assert_eq!(
        stanza.map_field("context").unwrap(),
        [("app".into(), "demo".into()), ("env".into(), "test".into())]
    );
    let other_context = one(&b, kms_flags(&arn, Some("app:other"), None));
    let err = block_on(other_context.unwrap(&enc, &unwrappers(&b)))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "kms key {arn}: the data key was not encrypted with this key or was altered"
        )),
        "{err}"
    );

    // `ARN+ROLE`: STS AssumeRole first (moto implements STS), then KMS with the role's keys.
    let role = "arn:aws:iam::123456789012:role/sops-decrypt";
    let assumed = one(&b, kms_flags(&format!("{arn}+{role}"), None, None));
    assert_eq!(assumed.to_stanza("x").field("role"), Some(role));
    round_trip(assumed.as_ref(), &b);

    // aws_profile from ~/.aws/credentials in a private HOME; AWS_ENDPOINT_URL_KMS wins over
    // AWS_ENDPOINT_URL (which points at nothing here).
    let home = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(home.path().join(".aws")).unwrap();
    fs_err::write(
        home.path().join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = nope\n\n[team]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            Moto::ACCESS_KEY_ID,
            Moto::SECRET_ACCESS_KEY
        ),
    )
    .unwrap();
    let profile_env = builder(&[
        ("HOME", home.path().to_str().unwrap()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ENDPOINT_URL_KMS", endpoint.as_str()),
    ]);
    let profiled = one(&profile_env, kms_flags(&arn, None, Some("team")));
    let enc = round_trip(profiled.as_ref(), &profile_env);
    assert_eq!(profiled.to_stanza(&enc).field("aws_profile"), Some("team"));
    assert_eq!(profiled.id(), format!("{arn}||team"));

    // No credentials anywhere.
    let bare = builder(&[
        ("HOME", "/nonexistent"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ]);
    let err = wrap_err(one(&bare, kms_flags(&arn, None, None)).as_ref());
    assert!(
        err.starts_with(&format!("kms key {arn}: no credentials: ")),
        "{err}"
    );
}

#[test]
fn sigv4_signature_matches_botocore() {
    // botocore (installed with moto) signs the same request; both signatures must agree.
    let script = r#"
import sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
import datetime
from unittest import mock
body = b'{"KeyId":"alias/sops","Plaintext":"AAAA"}'
req = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=body,
                 headers={"Content-Type": "application/x-amz-json-1.1",
                          "X-Amz-Target": "TrentService.Encrypt"})
creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
with mock.patch("botocore.auth.get_current_datetime",
                return_value=datetime.datetime(2026, 1, 2, 3, 4, 5)):
    SigV4Auth(creds, "kms", "eu-west-1").add_auth(req)
print(req.headers["Authorization"])
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "botocore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let url = url::Url::parse("http://127.0.0.1:4566/").unwrap();
    let credentials = sealkit_cloud::aws::Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".into()),
        None,
        "test",
    );
    let ours = sealkit_cloud::aws::signing::sign(
        &sealkit_cloud::aws::signing::Request {
            method: "POST",
            url: &url,
            headers: &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "TrentService.Encrypt"),
            ],
            body: br#"{"KeyId":"alias/sops","Plaintext":"AAAA"}"#,
        },
        &credentials,
        "eu-west-1",
        "kms",
        // 2026-01-02T03:04:05Z
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_323_045),
    )
    .unwrap();
    let ours = &ours.iter().find(|(k, _)| k == "authorization").unwrap().1;
    assert_eq!(ours, &theirs);
}

// ---- GCP Cloud KMS and Azure Key Vault: local servers checking the documented shapes -------

use sealkit_tests::http_server::serve;

mod gcp_mock {
    use axum::Json;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use serde_json::json;
    use std::sync::Arc;

    pub const TOKEN: &str = "ya29.mock-token";
    /// The subject token an `external_account` file's credential source holds.
    pub const SUBJECT_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.subject.token";
    /// The workload identity pool provider an `external_account` file names.
    pub const AUDIENCE: &str = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/sops";

    pub struct Mock {
        /// PKCS#1 public key of the service account (to check the JWT signature).
        pub sa_public_key: Vec<u8>,
    }

    fn google_error(status: StatusCode, name: &str, message: &str) -> Response {
        (
            status,
            Json(json!({"error": {"code": status.as_u16(), "message": message, "status": name}})),
        )
            .into_response()
    }

    /// Whether `jwt` is a self-signed service-account token (AIP-4111, what
    /// google-cloud-auth sends for service-account keys): RS256 by the key, `kid` the key's
    /// id, `iss` and `sub` its email, the cloud-platform scope, an hour or so of validity.
    fn self_signed(mock: &Mock, jwt: &str) -> bool {
        let parts: Vec<&str> = jwt.split('.').collect();
        let signed = parts.len() == 3 && {
            let sig = sealer::encoding::decode_url_safe(parts[2]).unwrap_or_default();
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                &mock.sa_public_key,
            )
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .is_ok()
        };
        let part = |i: usize| -> serde_json::Value {
            parts
                .get(i)
                .and_then(|c| sealer::encoding::decode_url_safe(c).ok())
                .and_then(|c| serde_json::from_slice(&c).ok())
                .unwrap_or_default()
        };
        let (header, claims) = (part(0), part(1));
        let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
        signed
            && header["alg"] == "RS256"
            && header["kid"] == "key-id-1"
            && claims["iss"] == "sops@project.iam.gserviceaccount.com"
            && claims["sub"] == "sops@project.iam.gserviceaccount.com"
            && claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
            && (3600..=4000).contains(&lifetime)
    }

    /// `POST /token`: a refresh-token grant (authorized_user) or an STS token exchange
    /// (external_account: RFC 8693, the subject token read from the credential source),
    /// form-encoded or JSON (Google's token endpoints take both; google-cloud-auth sends the
    /// refresh grant as JSON).
    pub async fn token(body: String) -> Response {
        let form: std::collections::HashMap<String, String> =
            match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&body) {
                Ok(map) => map
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                    .collect(),
                Err(_) => url_pairs(&body).into_iter().collect(),
            };
        let get = |k: &str| form.get(k).map(String::as_str);
        let ok = match get("grant_type") {
            Some("refresh_token") => {
                get("refresh_token") == Some("1//refresh")
                    && get("client_id") == Some("client.apps")
                    && get("client_secret") == Some("shh")
            }
            Some("urn:ietf:params:oauth:grant-type:token-exchange") => {
                get("subject_token") == Some(SUBJECT_TOKEN)
                    && get("subject_token_type") == Some("urn:ietf:params:oauth:token-type:jwt")
                    && get("audience") == Some(AUDIENCE)
                    && get("requested_token_type")
                        == Some("urn:ietf:params:oauth:token-type:access_token")
                    && get("scope") == Some("https://www.googleapis.com/auth/cloud-platform")
            }
            _ => false,
        };
        if ok {
            Json(json!({
                "access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            }))
            .into_response()
        } else {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant", "error_description": "Invalid grant."})),
            )
                .into_response()
        }
    }

    /// `GET /computeMetadata/v1/instance/service-accounts/default/token` (the metadata
    /// server): only with `Metadata-Flavor: Google`.
    pub async fn metadata_token(headers: HeaderMap) -> Response {
        if headers.get("metadata-flavor").and_then(|h| h.to_str().ok()) != Some("Google") {
            return (
                StatusCode::FORBIDDEN,
                "Missing Metadata-Flavor:Google header.",
            )
                .into_response();
        }
        Json(json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}))
            .into_response()
    }

    pub fn url_pairs(body: &str) -> Vec<(String, String)> {
        reqwest::Url::parse(&format!("http://x/?{body}"))
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// `POST /v1/{name}:encrypt|decrypt` (Cloud KMS REST v1). The "ciphertext" is the
    /// plaintext bound to the key name, enough to tell keys apart.
    pub async fn crypto(
        State(mock): State<Arc<Mock>>,
        Path(rest): Path<String>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> Response {
        let bearer = headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bearer != TOKEN && !self_signed(&mock, bearer) {
            return google_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            );
        }
        if headers.get("content-type").and_then(|h| h.to_str().ok()) != Some("application/json") {
            return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "not JSON");
        }
        let Some((name, op)) = rest.rsplit_once(':') else {
            return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no method");
        };
        let shape: Vec<&str> = name.split('/').collect();
        if shape.len() != 8 || shape[0] != "projects" || shape[6] != "cryptoKeys" {
            return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such resource");
        }
        let tag = format!("{name}|");
        match op {
            "encrypt" => {
                let Some(plain) = body["plaintext"]
                    .as_str()
                    .and_then(|p| sealer::encoding::decode_std(p).ok())
                else {
                    return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "plaintext");
                };
                let mut blob = tag.into_bytes();
                blob.extend(plain);
                Json(json!({"name": name, "ciphertext": sealer::encoding::encode_std(&blob)}))
                    .into_response()
            }
            "decrypt" => {
                let blob = body["ciphertext"]
                    .as_str()
                    .and_then(|c| sealer::encoding::decode_std(c).ok())
                    .unwrap_or_default();
                match blob.strip_prefix(tag.as_bytes()) {
                    Some(plain) => Json(json!({"plaintext": sealer::encoding::encode_std(plain)}))
                        .into_response(),
                    None => google_error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_ARGUMENT",
                        "Decryption failed: the ciphertext is invalid.",
                    ),
                }
            }
            _ => google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method"),
        }
    }
}

fn gcp_server() -> (SocketAddr, aws_lc_rs::signature::RsaKeyPair) {
    use aws_lc_rs::signature::KeyPair as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let mock = Arc::new(gcp_mock::Mock {
        sa_public_key: pair.public_key().as_ref().to_vec(),
    });
    let router = axum::Router::new()
        .route("/token", axum::routing::post(gcp_mock::token))
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/token",
            axum::routing::get(gcp_mock::metadata_token),
        )
        .route("/v1/{*rest}", axum::routing::post(gcp_mock::crypto))
        .with_state(mock);
    (serve(router), pair)
}

const GCP_KEY: &str = "projects/p/locations/global/keyRings/sops/cryptoKeys/k1";

#[test]
fn gcp_kms_speaks_the_rest_api_with_each_credential_kind() {
    use aws_lc_rs::encoding::AsDer as _;
    let (addr, pair) = gcp_server();
    let endpoint = format!("http://{addr}");
    let flags = KeyFlags {
        gcp_kms: Some(GCP_KEY.to_owned()),
        ..KeyFlags::default()
    };

    // GOOGLE_OAUTH_ACCESS_TOKEN.
    let b = builder(&[
        ("SOPS_GCP_KMS_ENDPOINT", endpoint.as_str()),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", gcp_mock::TOKEN),
    ]);
    let key = one(&b, flags.clone());
    let enc = round_trip(key.as_ref(), &b);
    let stanza = key.to_stanza(&enc);
    assert_eq!(stanza.field("resource_id"), Some(GCP_KEY));

    // A service-account JSON in GOOGLE_CREDENTIALS: google-cloud-auth signs its own JWT as
    // the bearer token (checked by the KMS server), no token exchange.
    let pem = sealkit_tests::pem_lf("PRIVATE KEY", pair.as_der().unwrap().as_ref());
    let sa = serde_json::json!({
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "key-id-1",
        "private_key": pem,
        "client_email": "sops@project.iam.gserviceaccount.com",
        "token_uri": format!("http://{addr}/token"),
    })
    .to_string();
    let b = builder(&[
        ("SOPS_GCP_KMS_ENDPOINT", endpoint.as_str()),
        ("GOOGLE_CREDENTIALS", sa.as_str()),
    ]);
    round_trip(one(&b, flags.clone()).as_ref(), &b);

    // An authorized_user file in GOOGLE_APPLICATION_CREDENTIALS.
    let dir = tempfile::tempdir().unwrap();
    let adc = dir.path().join("adc.json");
    fs_err::write(
        &adc,
        serde_json::json!({
            "type": "authorized_user",
            "client_id": "client.apps",
            "client_secret": "shh",
            "refresh_token": "1//refresh",
            "token_uri": format!("http://{addr}/token"),
        })
        .to_string(),
    )
    .unwrap();
    let b = builder(&[
        ("SOPS_GCP_KMS_ENDPOINT", endpoint.as_str()),
        ("GOOGLE_APPLICATION_CREDENTIALS", adc.to_str().unwrap()),
    ]);
    round_trip(one(&b, flags.clone()).as_ref(), &b);

    // An external_account file (workload identity federation): the subject token from a file
    // traded at the file's local STS `token_url`.
    let subject = dir.path().join("subject.jwt");
    fs_err::write(&subject, gcp_mock::SUBJECT_TOKEN).unwrap();
    let federated = dir.path().join("federated.json");
    fs_err::write(
        &federated,
        serde_json::json!({
            "type": "external_account",
            "audience": gcp_mock::AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("http://{addr}/token"),
            "credential_source": {"file": subject.to_str().unwrap()},
        })
        .to_string(),
    )
    .unwrap();
    let b = builder(&[
        ("SOPS_GCP_KMS_ENDPOINT", endpoint.as_str()),
        (
            "GOOGLE_APPLICATION_CREDENTIALS",
            federated.to_str().unwrap(),
        ),
    ]);
    round_trip(one(&b, flags.clone()).as_ref(), &b);

    // Nothing in the environment: the metadata server at GCE_METADATA_HOST.
    let metadata_host = addr.to_string();
    let b = builder(&[
        ("SOPS_GCP_KMS_ENDPOINT", endpoint.as_str()),
        ("HOME", "/nonexistent"),
        ("GCE_METADATA_HOST", metadata_host.as_str()),
    ]);
    round_trip(one(&b, flags.clone()).as_ref(), &b);

    // Another key's enc, a bad token, a bad resource id.
    let other = one(
        &b,
        KeyFlags {
            gcp_kms: Some(GCP_KEY.replace("k1", "k2")),
            ..KeyFlags::default()
        },
    );
    let err = block_on(other.unwrap(&enc, &unwrappers(&b)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "the data key was not encrypted with this key or was altered (INVALID_ARGUMENT"
        ),
        "{err}"
    );
    let bad = builder(&[
        ("SOPS_GCP_KMS_ENDPOINT", endpoint.as_str()),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", "expired"),
    ]);
    let err = wrap_err(one(&bad, flags).as_ref());
    assert_eq!(
        err,
        format!(
            "gcp_kms key {GCP_KEY}: access denied by {endpoint}/v1/{GCP_KEY}:encrypt (HTTP 401): \
             UNAUTHENTICATED: Request had invalid authentication credentials."
        )
    );
}

mod azure_mock {
    use axum::Json;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::Arc;

    use aws_lc_rs::rsa::{
        OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
        PrivateDecryptingKey,
    };

    pub const TOKEN: &str = "eyJ0eXAi.mock.azure";
    pub const VERSION: &str = "5b4bd2a0a61243e19b2f0d1b9dd1a5f6";

    pub struct Mock {
        pub private: OaepPrivateDecryptingKey,
        pub public: OaepPublicEncryptingKey,
        pub base: std::sync::OnceLock<String>,
        /// The client certificate's RSA public key (PKCS#1) and its x5t.
        pub client_cert: std::sync::OnceLock<(Vec<u8>, String)>,
    }

    impl Mock {
        pub fn new() -> Self {
            let key = PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
            Self {
                public: OaepPublicEncryptingKey::new(key.public_key()).unwrap(),
                private: OaepPrivateDecryptingKey::new(key).unwrap(),
                base: std::sync::OnceLock::new(),
                client_cert: std::sync::OnceLock::new(),
            }
        }

        /// A certificate assertion: RS256 by the client certificate's key, its x5t, the
        /// token endpoint as `aud`, the client as `iss` and `sub`, ten minutes at most.
        fn certificate_assertion_ok(&self, tenant: &str, jwt: &str) -> bool {
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
            let part = |i: usize| -> serde_json::Value {
                sealer::encoding::decode_url_safe(parts[i])
                    .ok()
                    .and_then(|c| serde_json::from_slice(&c).ok())
                    .unwrap_or_default()
            };
            let (header, claims) = (part(0), part(1));
            let audience = format!("{}/{tenant}/oauth2/v2.0/token", self.base.get().unwrap());
            let lifetime =
                claims["exp"].as_i64().unwrap_or(0) - claims["nbf"].as_i64().unwrap_or(0);
            signed
                && header["alg"] == "RS256"
                && header["x5t"] == x5t.as_str()
                && claims["aud"] == audience.as_str()
                && claims["iss"] == "client-1"
                && claims["sub"] == "client-1"
                && claims["jti"].as_str().is_some_and(|j| !j.is_empty())
                && (1..=600).contains(&lifetime)
        }
    }

    fn kv_error(status: StatusCode, code: &str, message: &str) -> Response {
        (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    }

    fn checked(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<Response> {
        if query.get("api-version").map(String::as_str) != Some("7.4") {
            return Some(kv_error(
                StatusCode::BAD_REQUEST,
                "BadParameter",
                "api-version missing",
            ));
        }
        if headers.get("authorization").and_then(|h| h.to_str().ok())
            != Some(&format!("Bearer {TOKEN}"))
        {
            return Some(kv_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
            ));
        }
        None
    }

    /// `POST /{tenant}/oauth2/v2.0/token`: client credentials (a secret, a federated token, or
    /// a client certificate's signed assertion).
    pub async fn token(
        State(mock): State<Arc<Mock>>,
        Path(tenant): Path<String>,
        body: String,
    ) -> Response {
        let form: HashMap<String, String> = super::gcp_mock::url_pairs(&body).into_iter().collect();
        let get = |k: &str| form.get(k).map(String::as_str);
        let assertion = (get("client_assertion_type")
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
        .then(|| get("client_assertion").unwrap_or_default());
        let credential_ok = get("client_secret") == Some("azure-secret")
            || assertion == Some("federated.jwt")
            || assertion.is_some_and(|jwt| mock.certificate_assertion_ok(&tenant, jwt));
        if tenant == "tenant-1"
            && get("grant_type") == Some("client_credentials")
            && get("client_id") == Some("client-1")
            && get("scope") == Some("https://vault.azure.net/.default")
            && credential_ok
        {
            Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}))
                .into_response()
        } else {
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})),
            )
                .into_response()
        }
    }

    /// `GET /keys/{name}`: the latest version's key id.
    pub async fn get_key(
        State(mock): State<Arc<Mock>>,
        Path(name): Path<String>,
        Query(query): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> Response {
        if let Some(refused) = checked(&headers, &query) {
            return refused;
        }
        let kid = format!("{}/keys/{name}/{VERSION}", mock.base.get().unwrap());
        Json(json!({"key": {"kid": kid, "kty": "RSA", "key_ops": ["encrypt", "decrypt"]}}))
            .into_response()
    }

    /// `POST /keys/{name}/{version}/{encrypt|decrypt}` with RSA-OAEP-256, done for real.
    pub async fn operation(
        State(mock): State<Arc<Mock>>,
        Path((name, version, op)): Path<(String, String, String)>,
        Query(query): Query<HashMap<String, String>>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> Response {
        if let Some(refused) = checked(&headers, &query) {
            return refused;
        }
        if name != "sops" || version != VERSION {
            return kv_error(StatusCode::NOT_FOUND, "KeyNotFound", "no such key version");
        }
        if body["alg"] != "RSA-OAEP-256" {
            return kv_error(StatusCode::BAD_REQUEST, "BadParameter", "alg");
        }
        let Some(value) = body["value"]
            .as_str()
            .and_then(|v| sealer::encoding::decode_url_safe(v).ok())
        else {
            return kv_error(StatusCode::BAD_REQUEST, "BadParameter", "value");
        };
        let kid = format!("{}/keys/{name}/{VERSION}", mock.base.get().unwrap());
        match op.as_str() {
            "encrypt" => {
                let mut out = vec![0; mock.public.ciphertext_size()];
                let ct = mock
                    .public
                    .encrypt(&OAEP_SHA256_MGF1SHA256, &value, &mut out, None)
                    .unwrap();
                Json(json!({"kid": kid, "value": sealer::encoding::encode_url_nopad(ct)}))
                    .into_response()
            }
            "decrypt" => {
                let mut out = vec![0; mock.private.min_output_size()];
                match mock
                    .private
                    .decrypt(&OAEP_SHA256_MGF1SHA256, &value, &mut out, None)
                {
                    Ok(plain) => Json(
                        json!({"kid": kid, "value": sealer::encoding::encode_url_nopad(plain)}),
                    )
                    .into_response(),
                    Err(_) => kv_error(
                        StatusCode::BAD_REQUEST,
                        "BadParameter",
                        "Error decrypting the ciphertext.",
                    ),
                }
            }
            _ => kv_error(StatusCode::NOT_FOUND, "NotFound", "operation"),
        }
    }
}

/// The Key Vault and Entra ID mock over HTTPS (azure_identity refuses a plain-HTTP authority).
fn azure_server() -> sealkit_tests::http_server::TlsServer {
    let mock = Arc::new(azure_mock::Mock::new());
    let router = axum::Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            axum::routing::post(azure_mock::token),
        )
        .route("/keys/{name}", axum::routing::get(azure_mock::get_key))
        .route(
            "/keys/{name}/{version}/{op}",
            axum::routing::post(azure_mock::operation),
        )
        .with_state(mock.clone());
    let server = sealkit_tests::http_server::serve_tls(router);
    mock.base.set(server.url()).unwrap();
    AZURE_MOCKS.with(|m| m.borrow_mut().push(mock));
    server
}

thread_local! {
    /// The mocks `azure_server` started on this thread (a test reaches its own).
    static AZURE_MOCKS: std::cell::RefCell<Vec<Arc<azure_mock::Mock>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A client certificate (self-signed, RSA 2048) as a PEM file of certificate and PKCS#8 key,
/// registered with the last Azure mock started on this thread.
fn azure_client_certificate(dir: &std::path::Path) -> std::path::PathBuf {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = pair.as_der().unwrap();
    let key_pem = sealkit_tests::pem_lf("PRIVATE KEY", pkcs8.as_ref());
    let key = rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["sops-client".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        cert.der().as_ref(),
    );
    let x5t = sealer::encoding::encode_url_nopad(digest.as_ref());
    AZURE_MOCKS.with(|m| {
        m.borrow()
            .last()
            .unwrap()
            .client_cert
            .set((pair.public_key().as_ref().to_vec(), x5t))
            .unwrap()
    });
    let path = dir.join("client.pem");
    fs_err::write(&path, format!("{}{key_pem}", cert.pem())).unwrap();
    path
}

#[test]
fn azure_key_vault_speaks_the_rest_api_with_client_credentials() {
    let server = azure_server();
    let keys = cloud_keys_trusting(&server.ca_pem);
    let builder = |vars: &[(&str, &str)]| builder_with(vars, keys.clone());
    let base = server.url();
    let authority = format!("{base}/");
    let secret_env = [
        ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_CLIENT_ID", "client-1"),
        ("AZURE_CLIENT_SECRET", "azure-secret"),
    ];
    let b = builder(&secret_env);

    // Without a version the latest one is looked up and written into the metadata.
    let key = one(
        &b,
        KeyFlags {
            azure_kv: Some(format!("{base}/keys/sops")),
            ..KeyFlags::default()
        },
    );
    let enc = round_trip(key.as_ref(), &b);
    assert!(
        !enc.contains('=') && !enc.contains('+') && !enc.contains('/'),
        "{enc}"
    );
    assert_eq!(sealer::encoding::decode_url_safe(&enc).unwrap().len(), 256);
    let stanza = key.to_stanza(&enc);
    assert_eq!(stanza.field("vault_url"), Some(base.as_str()));
    assert_eq!(stanza.field("name"), Some("sops"));
    assert_eq!(stanza.field("version"), Some(azure_mock::VERSION));

    // Workload identity (a federated token file).
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    fs_err::write(&token_file, "federated.jwt").unwrap();
    let wi = builder(&[
        ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_CLIENT_ID", "client-1"),
        ("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap()),
    ]);
    let versioned = one(
        &wi,
        KeyFlags {
            azure_kv: Some(format!("{base}/keys/sops/{}", azure_mock::VERSION)),
            ..KeyFlags::default()
        },
    );
    round_trip(versioned.as_ref(), &wi);

    // A client certificate (PEM), as a signed client assertion.
    let client_pem = azure_client_certificate(dir.path());
    let certified = builder(&[
        ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_CLIENT_ID", "client-1"),
        (
            "AZURE_CLIENT_CERTIFICATE_PATH",
            client_pem.to_str().unwrap(),
        ),
    ]);
    let with_cert = one(
        &certified,
        KeyFlags {
            azure_kv: Some(format!("{base}/keys/sops/{}", azure_mock::VERSION)),
            ..KeyFlags::default()
        },
    );
    round_trip(with_cert.as_ref(), &certified);

    // A tampered enc, a wrong client secret.
    let mut raw = sealer::encoding::decode_url_safe(&enc).unwrap();
    raw[10] ^= 1;
    let tampered = sealer::encoding::encode_url_nopad(&raw);
    let err = block_on(key.unwrap(&tampered, &unwrappers(&b)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the data key was not encrypted with this key or was altered (BadParameter"),
        "{err}"
    );
    let bad = builder(&[
        ("AZURE_AUTHORITY_HOST", authority.as_str()),
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_CLIENT_ID", "client-1"),
        ("AZURE_CLIENT_SECRET", "wrong"),
    ]);
    let err = wrap_err(
        one(
            &bad,
            KeyFlags {
                azure_kv: Some(format!("{base}/keys/sops")),
                ..KeyFlags::default()
            },
        )
        .as_ref(),
    );
    assert!(
        err.starts_with(&format!(
            "azure_kv key {base}/keys/sops: no credentials: azure credentials from client \
             secret could not be obtained"
        )),
        "{err}"
    );
    assert!(err.contains("AADSTS7000215"), "{err}");
    assert!(!err.contains("wrong"), "{err}");
}

// ---- PGP through GnuPG --------------------------------------------------------------------

#[test]
fn pgp_round_trips_through_gpg_and_names_the_key_when_it_cannot_decrypt() {
    let home = GnupgHome::new();
    let fp = home.generate("sealkit pgp");
    let b = builder(&[("GNUPGHOME", home.path().to_str().unwrap())]);
    let key = one(
        &b,
        KeyFlags {
            pgp: Some(fp.clone()),
            ..KeyFlags::default()
        },
    );
    let enc = round_trip(key.as_ref(), &b);
    assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----"), "{enc}");
    assert_eq!(key.to_stanza(&enc).field("fp"), Some(fp.as_str()));

    home.delete_secret_key(&fp);
    let err = block_on(key.unwrap(&enc, &unwrappers(&b)))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("pgp key {fp}: cannot decrypt the data key: ")),
        "{err}"
    );
    let unknown = one(
        &b,
        KeyFlags {
            pgp: Some("0000000000000000000000000000000000000000".into()),
            ..KeyFlags::default()
        },
    );
    let err = wrap_err(unknown.as_ref());
    assert!(
        err.starts_with("pgp key 0000000000000000000000000000000000000000: cannot encrypt"),
        "{err}"
    );
}

// ---- key groups across kinds ----------------------------------------------------------------

fn metadata_for(groups: &[MasterKeyGroup], threshold: usize, data_key: &DataKey) -> Metadata {
    let mut m = Metadata::new(
        master_keys::wrap_data_key(groups, threshold, data_key).unwrap(),
        Selectors::default(),
    );
    m.shamir_threshold = if groups.len() > 1 { threshold } else { 0 };
    m
}

#[test]
fn age_and_vault_in_one_group_each_open_the_file_and_two_of_three_groups_suffice() {
    let mut bao = openbao_with_transit();
    let moto = Moto::start();
    let arn = moto_key(&moto, "groups");
    let home = GnupgHome::new();
    let fp = home.generate("sealkit groups");
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let age_secret = {
        use secrecy::ExposeSecret as _;
        identity.to_string().expose_secret().to_owned()
    };
    let uri = format!("{}/v1/transit/keys/sops", bao.url());
    let endpoint = moto.endpoint();
    let gnupg = home.path().to_str().unwrap().to_owned();
    let all = [
        ("VAULT_TOKEN", OpenBao::ROOT_TOKEN),
        ("AWS_ACCESS_KEY_ID", Moto::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", Moto::SECRET_ACCESS_KEY),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("GNUPGHOME", gnupg.as_str()),
    ];
    let b = builder(&all);
    let with_age = |vars: &[(&str, &str)]| {
        Unwrappers::with_age(
            master_keys::age::AgeIdentities::from_text(&age_secret, "test").unwrap(),
        )
        .with_key_env(KeyEnv::from_vars(vars.iter().copied()))
        .with_remote_keys(cloud_keys())
    };
    // Without the PGP home in `vars`, gpg gets an empty one (never the user's ~/.gnupg).
    let empty_gnupg = GnupgHome::new();
    let no_age = |vars: &[(&str, &str)]| {
        let mut env = KeyEnv::from_vars([("GNUPGHOME", empty_gnupg.path().to_str().unwrap())]);
        for (k, v) in vars {
            env.set(k, v);
        }
        Unwrappers::from_env(Default::default())
            .with_key_env(env)
            .with_remote_keys(cloud_keys())
    };

    // One group: age + Vault transit. Either alone opens it.
    let data_key = DataKey::generate();
    let group = b
        .group_from_flags(&KeyFlags {
            age: Some(recipient.clone()),
            hc_vault_transit: Some(uri.clone()),
            ..KeyFlags::default()
        })
        .unwrap();
    let one_group = metadata_for(&[group], 0, &data_key);
    let opened = master_keys::unwrap_data_key(&one_group, &no_age(&all[..1])).unwrap();
    assert_eq!(opened.expose(), data_key.expose());
    let opened = master_keys::unwrap_data_key(&one_group, &with_age(&[])).unwrap();
    assert_eq!(opened.expose(), data_key.expose());

    // Three groups (Vault, AWS KMS, PGP), threshold 2: any two open it, one does not.
    let groups: Vec<MasterKeyGroup> = [
        vault_flags(&uri),
        kms_flags(&arn, None, None),
        KeyFlags {
            pgp: Some(fp.clone()),
            ..KeyFlags::default()
        },
    ]
    .iter()
    .map(|f| b.group_from_flags(f).unwrap())
    .collect();
    let shamir = metadata_for(&groups, 2, &data_key);
    let kinds: Vec<KeyKind> = shamir.key_groups().iter().map(|g| g[0].kind()).collect();
    assert_eq!(kinds, [KeyKind::HcVault, KeyKind::Kms, KeyKind::Pgp]);
    for pair in [[0, 1], [0, 4], [1, 4]] {
        let vars: Vec<(&str, &str)> = pair
            .iter()
            .flat_map(|&i| match i {
                0 => vec![all[0]],
                1 => vec![all[1], all[2], all[3]],
                _ => vec![all[4]],
            })
            .collect();
        let opened = master_keys::unwrap_data_key(&shamir, &no_age(&vars))
            .unwrap_or_else(|e| panic!("{pair:?}: {e}"));
        assert_eq!(opened.expose(), data_key.expose());
    }
    bao.kill();
    let err = master_keys::unwrap_data_key(&shamir, &no_age(&all[..1]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("could not decrypt the data key: 0 of 3 key groups opened, 2 needed"),
        "{err}"
    );
    assert!(
        err.contains(&format!("group 1: hc_vault key {uri}: cannot reach")),
        "{err}"
    );
    let err = master_keys::unwrap_data_key(&shamir, &no_age(&all[4..]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("could not decrypt the data key: 1 of 3 key groups opened, 2 needed"),
        "{err}"
    );
}

// ---- metadata of every kind, checked by the real sops ---------------------------------------

fn sops_cmd(home: &std::path::Path) -> std::process::Command {
    let sops = sealkit_tests::servers::require_tool("sops");
    let mut cmd = std::process::Command::new(sops);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SOPS_DISABLE_VERSION_CHECK", "1");
    cmd
}

/// One key group holding every kind (age, PGP, Vault transit, AWS KMS, GCP KMS, Azure Key
/// Vault), written by us: the real sops opens it with the age key, and its own `set` writes
/// every key entry back byte for byte, so our entries are exactly the ones sops writes. Then
/// each kind alone opens sops's file with us.
#[test]
fn a_group_of_every_kind_is_read_and_rewritten_unchanged_by_real_sops() {
    let bao = openbao_with_transit();
    let moto = Moto::start();
    let arn = moto_key(&moto, "every kind");
    let gnupg = GnupgHome::new();
    let fp = gnupg.generate("sealkit every kind");
    let gcp = format!("http://{}", gcp_server().0);
    let azure_server = azure_server();
    let keys = cloud_keys_trusting(&azure_server.ca_pem);
    let azure = azure_server.url();
    let identity = age::x25519::Identity::generate();
    let dir = tempfile::tempdir().unwrap();
    let age_file = dir.path().join("age.txt");
    {
        use secrecy::ExposeSecret as _;
        fs_err::write(&age_file, identity.to_string().expose_secret()).unwrap();
    }

    let uri = format!("{}/v1/transit/keys/sops", bao.url());
    let endpoint = moto.endpoint();
    let gnupg_dir = gnupg.path().to_str().unwrap().to_owned();
    let authority = format!("{azure}/");
    let vars: Vec<(&str, &str)> = vec![
        ("VAULT_TOKEN", OpenBao::ROOT_TOKEN),
        ("AWS_ACCESS_KEY_ID", Moto::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", Moto::SECRET_ACCESS_KEY),
        ("AWS_ENDPOINT_URL", &endpoint),
        ("GNUPGHOME", &gnupg_dir),
        ("SOPS_GCP_KMS_ENDPOINT", &gcp),
        ("GOOGLE_OAUTH_ACCESS_TOKEN", gcp_mock::TOKEN),
        ("AZURE_AUTHORITY_HOST", &authority),
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_CLIENT_ID", "client-1"),
        ("AZURE_CLIENT_SECRET", "azure-secret"),
    ];
    let b = builder_with(&vars, keys.clone());
    let group = b
        .group_from_flags(&KeyFlags {
            age: Some(identity.to_public().to_string()),
            pgp: Some(fp.clone()),
            hc_vault_transit: Some(uri.clone()),
            kms: Some(arn.clone()),
            encryption_context: Some("app:every".into()),
            gcp_kms: Some(GCP_KEY.into()),
            azure_kv: Some(format!("{azure}/keys/sops")),
            ..KeyFlags::default()
        })
        .unwrap();
    let data_key = DataKey::generate();
    let metadata = metadata_for(&[group], 0, &data_key);
    let plain = sealer::sops::PlainFile::parse(
        b"user: admin\npassword: hunter2\n",
        sealer::sops::Format::Yaml,
    )
    .unwrap();
    let ours = plain
        .encrypt(&data_key, metadata)
        .unwrap()
        .to_bytes(sealer::sops::Format::Yaml)
        .unwrap();
    let file = dir.path().join("every.enc.yaml");
    fs_err::write(&file, &ours).unwrap();
    let text = String::from_utf8(ours).unwrap();
    for field in ["kms:", "gcp_kms:", "azure_kv:", "hc_vault:", "age:", "pgp:"] {
        assert!(text.contains(field), "{field} missing:\n{text}");
    }

    // The real sops reads every entry (and opens the file with the age key).
    let out = sops_cmd(dir.path())
        .env("SOPS_AGE_KEY_FILE", &age_file)
        .arg("decrypt")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sops decrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"user: admin\npassword: hunter2\n");
    let out = sops_cmd(dir.path())
        .env("SOPS_AGE_KEY_FILE", &age_file)
        .args(["set"])
        .arg(&file)
        .args([r#"["user"]"#, r#""root""#])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sops set: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys_of = |yaml: &str| -> String {
        yaml[yaml.find("sops:").unwrap()..]
            .lines()
            .filter(|l| !l.trim_start().starts_with("lastmodified:"))
            .filter(|l| !l.trim_start().starts_with("mac:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let theirs = fs_err::read_to_string(&file).unwrap();
    assert_eq!(keys_of(&theirs), keys_of(&text));

    // Each kind alone opens sops's file with us.
    let encrypted =
        sealer::sops::EncryptedFile::parse(theirs.as_bytes(), sealer::sops::Format::Yaml).unwrap();
    let empty_gnupg = GnupgHome::new();
    let only = |names: &[&str]| -> Unwrappers {
        let mut env = KeyEnv::from_vars([("GNUPGHOME", empty_gnupg.path().to_str().unwrap())]);
        for (k, v) in vars.iter().filter(|(k, _)| names.contains(k)) {
            env.set(k, v);
        }
        Unwrappers::from_env(Default::default())
            .with_key_env(env)
            .with_remote_keys(keys.clone())
    };
    for names in [
        &["VAULT_TOKEN"][..],
        &[
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
        ],
        &["GNUPGHOME"],
        &["SOPS_GCP_KMS_ENDPOINT", "GOOGLE_OAUTH_ACCESS_TOKEN"],
        &[
            "AZURE_AUTHORITY_HOST",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
        ],
    ] {
        let opened = master_keys::unwrap_data_key(encrypted.metadata(), &only(names))
            .unwrap_or_else(|e| panic!("{names:?}: {e}"));
        assert_eq!(opened.expose(), data_key.expose(), "{names:?}");
    }
}
