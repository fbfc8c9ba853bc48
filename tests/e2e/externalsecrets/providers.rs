//! Providers and auth modes of issue 16 end to end through the harness, against real servers on
//! loopback: AWS Parameter Store, IRSA web identity and role chaining at moto (SSM, STS,
//! Secrets Manager), and OpenBao's userpass, JWT (the harness's own token signer through its
//! JWKS, and a key pair the test makes), Kubernetes (OpenBao calls the harness's TokenReview)
//! and TLS certificate logins.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use seal_controller::externalsecrets::crd::{ClusterSecretStore, ExternalSecret, SecretStore};
use seal_controller::externalsecrets::providers::ProviderSettings;
use sealkit_cloud::EnvSnapshot;
use sealkit_tests::servers::{Moto, OpenBao};
use serde_json::{Value, json};

use super::{Bridge, NS, blocking, external_secret, store};

/// A bridge whose AWS environment is `vars` (the process's `AWS_*` in seal-controller).
async fn bridge_with_aws_env(vars: &[(&str, &str)]) -> Bridge {
    let env = EnvSnapshot::from_vars(vars.iter().map(|(k, v)| (*k, *v)));
    Bridge::start_with(|c| {
        c.providers = Arc::new(ProviderSettings {
            aws_env: env,
            ..(*c.providers).clone()
        });
    })
    .await
}

async fn put_aws_keys(b: &Bridge) {
    b.put_secret(
        NS,
        "aws-keys",
        &[
            ("id", Moto::ACCESS_KEY_ID),
            ("secret", Moto::SECRET_ACCESS_KEY),
        ],
    )
    .await;
}

fn aws_keys() -> Value {
    json!({"secretRef": {
        "accessKeyIDSecretRef": {"name": "aws-keys", "key": "id"},
        "secretAccessKeySecretRef": {"name": "aws-keys", "key": "secret"},
    }})
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

// ---------------------------------------------------------------------------------------------
// AWS Parameter Store (moto)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_parameter_store_reads_versions_and_tags_and_finds_by_path_and_by_tags() {
    let moto = blocking(Moto::start);
    blocking(|| {
        moto.json_call(
            "AmazonSSM.PutParameter",
            &json!({"Name": "/app/db", "Type": "SecureString", "Value": r#"{"password":"v1"}"#,
                    "Tags": [{"Key": "team", "Value": "a"}]}),
        );
        moto.json_call(
            "AmazonSSM.PutParameter",
            &json!({"Name": "/app/db", "Type": "SecureString", "Value": r#"{"password":"v2"}"#, "Overwrite": true}),
        );
        moto.json_call(
            "AmazonSSM.PutParameter",
            &json!({"Name": "/app/api", "Type": "String", "Value": "k-1"}),
        );
        moto.json_call(
            "AmazonSSM.PutParameter",
            &json!({"Name": "/other/x", "Type": "SecureString", "Value": "x-1",
                    "Tags": [{"Key": "team", "Value": "b"}]}),
        );
    });
    let b = bridge_with_aws_env(&[("AWS_ENDPOINT_URL", &moto.endpoint())]).await;
    put_aws_keys(&b).await;
    b.create::<SecretStore>(store(
        "ssm",
        json!({"aws": {"service": "ParameterStore", "region": Moto::REGION, "auth": aws_keys()}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "params",
        "ssm",
        json!({
            "data": [
                {"secretKey": "password", "remoteRef": {"key": "/app/db", "property": "password"}},
                {"secretKey": "first", "remoteRef": {"key": "/app/db", "property": "password", "version": "1"}},
                {"secretKey": "team", "remoteRef": {"key": "/app/db", "property": "team", "metadataPolicy": "Fetch"}},
            ],
            "dataFrom": [
                {"find": {"path": "/app", "name": {"regexp": "api$"}}},
                {"find": {"tags": {"team": "b"}}},
            ],
        }),
    ))
    .await;
    let want_with = |password: &'static str| {
        [
            ("_app_api", "k-1"),
            ("_other_x", "x-1"),
            ("first", "v1"),
            ("password", password),
            ("team", "a"),
        ]
    };
    b.wait_data(NS, "params", &want_with("v2")).await;
    b.wait_store_ready(false, NS, "ssm", ("True", "Valid"))
        .await;

    blocking(|| {
        moto.json_call(
            "AmazonSSM.PutParameter",
            &json!({"Name": "/app/db", "Type": "SecureString", "Value": r#"{"password":"v3"}"#, "Overwrite": true}),
        );
    });
    b.wait_data(NS, "params", &want_with("v3")).await;

    b.create::<ExternalSecret>(external_secret(
        "missing",
        "ssm",
        json!({"data": [{"secretKey": "x", "remoteRef": {"key": "/app/nope"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "missing", "False", "SecretSyncedError")
        .await;
    assert!(message.contains("does not exist"), "{message}");
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// AWS auth modes (moto's STS)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_irsa_assumes_the_service_account_role_then_chains_roles_with_external_id_and_tags() {
    let moto = blocking(Moto::start);
    blocking(|| {
        moto.json_call(
            "secretsmanager.CreateSecret",
            &json!({"Name": "app/db", "SecretString": r#"{"password":"via-irsa"}"#}),
        );
    });
    // The bridge's own keys are in its environment: a namespaced store must not get them.
    let b = bridge_with_aws_env(&[
        ("AWS_ENDPOINT_URL", &moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "AKIABRIDGEOWNKEY0001"),
        ("AWS_SECRET_ACCESS_KEY", "bridge-own-secret"),
    ])
    .await;
    let irsa_role = "arn:aws:iam::123456789012:role/irsa";
    let hop_role = "arn:aws:iam::123456789012:role/hop";
    let final_role = "arn:aws:iam::123456789012:role/final";
    create_service_account(&b, "eso", &[("eks.amazonaws.com/role-arn", irsa_role)]).await;
    create_service_account(&b, "plain", &[]).await;
    b.create::<SecretStore>(store(
        "irsa",
        json!({"aws": {
            "service": "SecretsManager", "region": Moto::REGION,
            "auth": {"jwt": {"serviceAccountRef": {"name": "eso"}}},
            "additionalRoles": [hop_role],
            "role": final_role,
            "externalID": "ext-42",
            "sessionTags": [{"key": "team", "value": "a"}],
            "transitiveTagKeys": ["team"],
        }}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "db",
        "irsa",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
    ))
    .await;
    b.wait_data(NS, "db", &[("password", "via-irsa")]).await;

    // What moto's STS issued: the web identity session for the ServiceAccount's role, then
    // the chain, with the external ID on the last role only.
    let state = blocking(|| moto.state());
    let assumed = state["sts"]["AssumedRole"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let find = |arn: &str| {
        assumed
            .iter()
            .find(|r| r["role_arn"] == arn)
            .unwrap_or_else(|| panic!("{arn} was not assumed: {assumed:?}"))
            .clone()
    };
    assert_eq!(
        find(irsa_role)["session_name"],
        "external-secrets-provider-aws"
    );
    assert_eq!(find(hop_role)["external_id"], Value::Null);
    assert_eq!(find(final_role)["external_id"], "ext-42");

    // A ServiceAccount without the role annotation, and a namespaced store without auth even
    // though the bridge has keys of its own.
    b.create::<SecretStore>(store(
        "no-role",
        json!({"aws": {"service": "SecretsManager", "region": Moto::REGION,
                       "auth": {"jwt": {"serviceAccountRef": {"name": "plain"}}}}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "no-role",
        "no-role",
        json!({"data": [{"secretKey": "p", "remoteRef": {"key": "app/db"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "no-role", "False", "SecretSyncedError")
        .await;
    assert!(message.contains("eks.amazonaws.com/role-arn"), "{message}");
    b.create::<SecretStore>(store(
        "ambient",
        json!({"aws": {"service": "SecretsManager", "region": Moto::REGION}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "ambient",
        "ambient",
        json!({"data": [{"secretKey": "p", "remoteRef": {"key": "app/db"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "ambient", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("lent only to ClusterSecretStores"),
        "{message}"
    );
    assert!(b.secret_opt(NS, "ambient").await.is_none());

    // A ClusterSecretStore (the operators' own) may use the bridge's identity.
    let cluster: ClusterSecretStore = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": "ambient"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": Moto::REGION}}},
    }))
    .unwrap();
    Api::<ClusterSecretStore>::all(b.client())
        .create(&PostParams::default(), &cluster)
        .await
        .expect("create clustersecretstore");
    let mut es = external_secret(
        "from-cluster",
        "ambient",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
    );
    es["spec"]["secretStoreRef"]["kind"] = json!("ClusterSecretStore");
    b.create::<ExternalSecret>(es).await;
    b.wait_data(NS, "from-cluster", &[("password", "via-irsa")])
        .await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Vault / OpenBao auth modes
// ---------------------------------------------------------------------------------------------

fn bao_setup(bao: &OpenBao, calls: &[(&str, Value)]) {
    blocking(|| {
        for (path, body) in calls {
            bao.api(reqwest::Method::POST, path, Some(body));
        }
    });
}

fn vault_store(name: &str, bao: &OpenBao, auth: Value) -> Value {
    store(
        name,
        json!({"vault": {"server": bao.url(), "path": "secret", "auth": auth}}),
    )
}

/// An ES256 JWT signed with `key_pem` (PKCS#8).
fn sign_jwt(key_pem: &str, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_ec_pem(key_pem.as_bytes()).expect("an EC key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        claims,
        &key,
    )
    .expect("a signed JWT")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_userpass_jwt_and_kubernetes_logins_work_at_openbao() {
    let b = Bridge::start().await;
    create_service_account(&b, "eso", &[]).await;
    let issuer = b.h.token_issuer().to_owned();
    let harness_url = b.h.url().to_owned();
    let admin = b.h.admin_token();
    // The test's own key pair for JWTs held in a Secret.
    let signer = rcgen::KeyPair::generate().expect("a key pair");
    let ca = fs_err::read_to_string(sealkit_tests::conformance_file(
        "sealed-secrets/kubeseal_test_cert.pem",
    ))
    .unwrap();
    let bao = blocking(OpenBao::start);
    blocking(|| bao.kv_put("secret", "app/db", &json!({"password": "many-doors"})));
    let subject = format!("system:serviceaccount:{NS}:eso");
    bao_setup(
        &bao,
        &[
            (
                "sys/policies/acl/reader",
                json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"}),
            ),
            ("sys/auth/userpass", json!({"type": "userpass"})),
            (
                "auth/userpass/users/eso",
                json!({"password": "pw-1", "token_policies": "reader"}),
            ),
            // JWTs from the harness's TokenRequest, checked against its JWKS.
            ("sys/auth/jwt", json!({"type": "jwt"})),
            (
                "auth/jwt/config",
                json!({"jwks_url": format!("{issuer}/openid/v1/jwks"), "bound_issuer": issuer}),
            ),
            (
                "auth/jwt/role/eso",
                json!({"role_type": "jwt", "bound_audiences": ["vault"], "user_claim": "sub",
                       "bound_subject": subject, "token_policies": ["reader"]}),
            ),
            // JWTs the test signs, checked against its public key.
            ("sys/auth/jwt-static", json!({"type": "jwt"})),
            (
                "auth/jwt-static/config",
                json!({"jwt_validation_pubkeys": [signer.public_key_pem()]}),
            ),
            (
                "auth/jwt-static/role/eso",
                json!({"role_type": "jwt", "bound_audiences": ["sealkit-test"], "user_claim": "sub",
                       "token_policies": ["reader"]}),
            ),
            // Kubernetes auth: OpenBao asks the harness's TokenReview.
            ("sys/auth/kubernetes", json!({"type": "kubernetes"})),
            (
                "auth/kubernetes/config",
                json!({"kubernetes_host": harness_url, "kubernetes_ca_cert": ca,
                       "disable_local_ca_jwt": true, "token_reviewer_jwt": admin}),
            ),
            (
                "auth/kubernetes/role/eso",
                json!({"bound_service_account_names": ["eso"], "bound_service_account_namespaces": [NS],
                       "audience": "vault", "token_policies": ["reader"]}),
            ),
        ],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good_jwt = sign_jwt(
        &signer.serialize_pem(),
        &json!({"sub": "eso", "aud": "sealkit-test", "iat": now, "exp": now + 3600}),
    );
    let stranger = rcgen::KeyPair::generate().expect("a key pair");
    let forged_jwt = sign_jwt(
        &stranger.serialize_pem(),
        &json!({"sub": "eso", "aud": "sealkit-test", "iat": now, "exp": now + 3600}),
    );
    b.put_secret(
        NS,
        "vault-creds",
        &[
            ("password", "pw-1"),
            ("jwt", &good_jwt),
            ("forged", &forged_jwt),
        ],
    )
    .await;

    let stores = [
        (
            "userpass",
            json!({"userPass": {"path": "userpass", "username": "eso",
                                "secretRef": {"name": "vault-creds", "key": "password"}}}),
        ),
        (
            "jwt-sa",
            json!({"jwt": {"path": "jwt", "role": "eso",
                           "kubernetesServiceAccountToken": {"serviceAccountRef": {"name": "eso"}}}}),
        ),
        (
            "jwt-secret",
            json!({"jwt": {"path": "jwt-static", "role": "eso",
                           "secretRef": {"name": "vault-creds", "key": "jwt"}}}),
        ),
        (
            "k8s-sa",
            json!({"kubernetes": {"mountPath": "kubernetes", "role": "eso",
                                  "serviceAccountRef": {"name": "eso", "audiences": ["vault"]}}}),
        ),
    ];
    for (name, auth) in &stores {
        b.create::<SecretStore>(vault_store(name, &bao, auth.clone()))
            .await;
        b.create::<ExternalSecret>(external_secret(
            name,
            name,
            json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
        ))
        .await;
    }
    for (name, _) in &stores {
        b.wait_data(NS, name, &[("password", "many-doors")]).await;
    }

    // A JWT signed by another key is refused, and the condition does not show it.
    b.create::<SecretStore>(vault_store(
        "forged",
        &bao,
        json!({"jwt": {"path": "jwt-static", "role": "eso",
                       "secretRef": {"name": "vault-creds", "key": "forged"}}}),
    ))
    .await;
    b.create::<ExternalSecret>(external_secret(
        "forged",
        "forged",
        json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "forged", "False", "SecretSyncedError")
        .await;
    assert!(message.contains("vault denied access"), "{message}");
    assert!(!message.contains(&forged_jwt), "{message}");
    assert!(b.secret_opt(NS, "forged").await.is_none());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_cert_auth_presents_the_client_certificate_over_tls() {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sealkit test client CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |cn: &str, issuer: Option<(&rcgen::Certificate, &KeyPair)>| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = match issuer {
            Some((c, k)) => p.signed_by(&key, c, k).unwrap(),
            None => p.self_signed(&key).unwrap(),
        };
        (cert.pem(), key.serialize_pem())
    };
    let (client_crt, client_key) = leaf("eso", Some((&ca_cert, &ca_key)));
    let (other_crt, other_key) = leaf("stranger", None);

    let bao = blocking(OpenBao::start_tls);
    blocking(|| bao.kv_put("secret", "app/db", &json!({"password": "mutual-tls"})));
    bao_setup(
        &bao,
        &[
            (
                "sys/policies/acl/reader",
                json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"}),
            ),
            ("sys/auth/cert", json!({"type": "cert"})),
            (
                "auth/cert/certs/eso",
                json!({"certificate": ca_cert.pem(), "token_policies": "reader"}),
            ),
        ],
    );
    let b = Bridge::start().await;
    b.put_secret(
        NS,
        "vault-client",
        &[("tls.crt", &client_crt), ("tls.key", &client_key)],
    )
    .await;
    b.put_secret(
        NS,
        "stranger-cert",
        &[("tls.crt", &other_crt), ("tls.key", &other_key)],
    )
    .await;
    use base64::Engine as _;
    let ca_bundle =
        base64::engine::general_purpose::STANDARD.encode(bao.ca_pem().expect("a TLS server"));
    for (name, secret) in [("cert", "vault-client"), ("stranger", "stranger-cert")] {
        b.create::<SecretStore>(store(
            name,
            json!({"vault": {"server": bao.url(), "path": "secret", "caBundle": ca_bundle,
                             "auth": {"cert": {"path": "cert", "vaultRole": "eso",
                                               "clientCert": {"name": secret},
                                               "secretRef": {"name": secret}}}}}),
        ))
        .await;
        b.create::<ExternalSecret>(external_secret(
            name,
            name,
            json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]}),
        ))
        .await;
    }
    b.wait_data(NS, "cert", &[("password", "mutual-tls")]).await;
    b.wait_store_ready(false, NS, "cert", ("True", "Valid"))
        .await;
    let message = b
        .wait_ready(NS, "stranger", "False", "SecretSyncedError")
        .await;
    assert!(message.contains("vault denied access"), "{message}");
    assert!(b.secret_opt(NS, "stranger").await.is_none());
    b.stop().await;
}
