//! PushSecret end to end: a Secret's keys pushed to OpenBao (KV v2), moto (Secrets Manager)
//! and a second harness (kubernetes provider), followed when the Secret changes, refused over
//! remote secrets sealkit did not push, and deleted on PushSecret deletion only where the remote
//! value still carries this PushSecret's marker.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};
use seal_controller::externalsecrets::crd::SecretStore;
use seal_controller::externalsecrets::providers::ProviderSettings;
use seal_controller::externalsecrets::pushsecret::PushSecret;
use sealkit_cloud::EnvSnapshot;
use sealkit_tests::harness;
use sealkit_tests::servers::{Moto, OpenBao};
use serde_json::{Value, json};

use super::{Bridge, NS, blocking, store};

fn push_secret(name: &str, stores: &[(&str, &str)], data: Value) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1alpha1",
        "kind": "PushSecret",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "refreshInterval": "1s",
            "deletionPolicy": "Delete",
            "secretStoreRefs": stores.iter().map(|(kind, name)| json!({"kind": kind, "name": name})).collect::<Vec<_>>(),
            "selector": {"secret": {"name": "src"}},
            "data": data,
        },
    })
}

/// Polls `f` until it returns `Some`, or panics with `what`.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(v) = tokio::task::block_in_place(&mut f) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `(status, reason, message)` of a PushSecret's Ready condition.
async fn ready(b: &Bridge, name: &str) -> Option<(String, String, String)> {
    let ps = Api::<PushSecret>::namespaced(b.client(), NS)
        .get_opt(name)
        .await
        .expect("get pushsecret")?;
    let c = ps
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((
        c.status,
        c.reason.unwrap_or_default(),
        c.message.unwrap_or_default(),
    ))
}

async fn wait_ready(b: &Bridge, name: &str, reason: &str) -> String {
    let mut last = None;
    for _ in 0..300 {
        last = ready(b, name).await;
        if let Some((_, r, m)) = &last
            && r == reason
        {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pushsecret {name}: want {reason}, have {last:?}");
}

fn bao_kv(bao: &OpenBao, path: &str) -> Option<Value> {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/v1/{path}", bao.url()))
        .header("X-Vault-Token", bao.token())
        .send()
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json::<Value>().ok()
}

fn moto_value(moto: &Moto, id: &str) -> Option<String> {
    let resp = reqwest::blocking::Client::new()
        .post(moto.endpoint())
        .header("X-Amz-Target", "secretsmanager.GetSecretValue")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/20260101/{}/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
                Moto::ACCESS_KEY_ID,
                Moto::REGION
            ),
        )
        .json(&json!({"SecretId": id}))
        .send()
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json::<Value>().ok()?["SecretString"]
        .as_str()
        .map(str::to_owned)
}

async fn remote_data(remote: &kube::Client, name: &str) -> Option<Value> {
    let s = Api::<Secret>::namespaced(remote.clone(), "default")
        .get_opt(name)
        .await
        .ok()??;
    Some(json!({
        "data": s.data.unwrap_or_default().into_iter()
            .map(|(k, v)| (k, Value::String(String::from_utf8_lossy(&v.0).into_owned())))
            .collect::<serde_json::Map<_, _>>(),
        "pushed_by": s.metadata.annotations.unwrap_or_default().get("sealkit.io/pushed-by").cloned(),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_secret_writes_to_vault_aws_and_kubernetes_and_deletes_only_what_it_pushed() {
    const REMOTE_TOKEN: &str = "remote-admin-t0ken";
    let remote = harness::start_with(harness::Options {
        admin_token: Some(REMOTE_TOKEN.into()),
        ..Default::default()
    })
    .await
    .expect("start the remote cluster");
    let bao = blocking(OpenBao::start);
    // A secret nobody pushed: sealkit must not write over it.
    blocking(|| bao.kv_put("secret", "foreign", &json!({"owner": "ops"})));
    let moto = blocking(Moto::start);
    let endpoint = moto.endpoint();
    let b = Bridge::start_with(|c| {
        c.providers = Arc::new(ProviderSettings {
            aws_env: EnvSnapshot::from_vars([("AWS_ENDPOINT_URL", endpoint.as_str())]),
            ..(*c.providers).clone()
        });
    })
    .await;
    b.put_secret(NS, "src", &[("password", "p-1"), ("user", "app")])
        .await;
    b.put_secret(
        NS,
        "creds",
        &[
            ("vault", OpenBao::ROOT_TOKEN),
            ("id", Moto::ACCESS_KEY_ID),
            ("secret", Moto::SECRET_ACCESS_KEY),
            ("remote", REMOTE_TOKEN),
        ],
    )
    .await;
    b.create::<SecretStore>(store(
        "vault",
        json!({"vault": {"server": bao.url(), "path": "secret",
                         "auth": {"tokenSecretRef": {"name": "creds", "key": "vault"}}}}),
    ))
    .await;
    b.create::<SecretStore>(store(
        "aws",
        json!({"aws": {"service": "SecretsManager", "region": Moto::REGION, "auth": {"secretRef": {
            "accessKeyIDSecretRef": {"name": "creds", "key": "id"},
            "secretAccessKeySecretRef": {"name": "creds", "key": "secret"},
        }}}}),
    ))
    .await;
    b.create::<SecretStore>(store(
        "remote",
        json!({"kubernetes": {"server": {"url": remote.url()}, "remoteNamespace": "default",
                              "auth": {"token": {"bearerToken": {"name": "creds", "key": "remote"}}}}}),
    ))
    .await;
    let stores = [
        ("SecretStore", "vault"),
        ("SecretStore", "aws"),
        ("SecretStore", "remote"),
    ];
    b.create::<PushSecret>(push_secret(
        "push",
        &stores,
        json!([
            {"match": {"secretKey": "password", "remoteRef": {"remoteKey": "pushed-db", "property": "password"}}},
            {"match": {"remoteRef": {"remoteKey": "pushed-all"}}},
        ]),
    ))
    .await;

    let check = |password: &'static str| {
        let bao = &bao;
        let moto = &moto;
        async move {
            eventually("vault values", || {
                let db = bao_kv(bao, "secret/data/pushed-db")?;
                let all = bao_kv(bao, "secret/data/pushed-all")?;
                (db["data"]["data"] == json!({"password": password})
                    && all["data"]["data"] == json!({"password": password, "user": "app"}))
                .then_some(())
            })
            .await;
            eventually("aws values", || {
                let db: Value = serde_json::from_str(&moto_value(moto, "pushed-db")?).ok()?;
                let all: Value = serde_json::from_str(&moto_value(moto, "pushed-all")?).ok()?;
                (db == json!({"password": password})
                    && all == json!({"password": password, "user": "app"}))
                .then_some(())
            })
            .await;
        }
    };
    check("p-1").await;
    let rc = remote.client();
    for _ in 0..300 {
        if remote_data(&rc, "pushed-all").await.is_some_and(|v| {
            v["data"] == json!({"password": "p-1", "user": "app"}) && v["pushed_by"] == "apps/push"
        }) && remote_data(&rc, "pushed-db")
            .await
            .is_some_and(|v| v["data"] == json!({"password": "p-1"}))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        remote_data(&rc, "pushed-db").await.unwrap()["data"],
        json!({"password": "p-1"})
    );
    let message = wait_ready(&b, "push", "Synced").await;
    assert_eq!(message, "PushSecret synced successfully");
    let meta = blocking(|| bao_kv(&bao, "secret/metadata/pushed-db")).unwrap();
    assert_eq!(
        meta["data"]["custom_metadata"],
        json!({"managed-by": "external-secrets", "sealkit.io/pushed-by": "apps/push"})
    );
    let ps = Api::<PushSecret>::namespaced(b.client(), NS)
        .get("push")
        .await
        .unwrap();
    let synced = ps.status.unwrap().synced_push_secrets;
    assert_eq!(
        synced.keys().collect::<Vec<_>>(),
        ["SecretStore/aws", "SecretStore/remote", "SecretStore/vault"]
    );
    assert!(synced["SecretStore/vault"].contains_key("pushed-db/password"));

    // The source changes: every store follows.
    b.put_secret(NS, "src", &[("password", "p-2"), ("user", "app")])
        .await;
    check("p-2").await;

    // Another PushSecret cannot write over what "push" pushed, nor over a foreign secret.
    b.create::<PushSecret>(push_secret(
        "thief",
        &[("SecretStore", "vault")],
        json!([{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "pushed-db", "property": "password"}}}]),
    ))
    .await;
    let message = wait_ready(&b, "thief", "Errored").await;
    assert!(
        message.contains("was pushed by PushSecret apps/push"),
        "{message}"
    );
    b.create::<PushSecret>(push_secret(
        "foreign",
        &[("SecretStore", "vault")],
        json!([{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "foreign", "property": "password"}}}]),
    ))
    .await;
    let message = wait_ready(&b, "foreign", "Errored").await;
    assert!(
        message.contains("is not managed by external-secrets"),
        "{message}"
    );
    assert!(!message.contains("p-2"));

    // IfNotExists leaves an existing remote secret alone (and does not record it as pushed).
    let mut gentle = push_secret(
        "gentle",
        &[("SecretStore", "vault")],
        json!([{"match": {"secretKey": "password", "remoteRef": {"remoteKey": "foreign", "property": "owner"}}}]),
    );
    gentle["spec"]["updatePolicy"] = json!("IfNotExists");
    b.create::<PushSecret>(gentle).await;
    let message = wait_ready(&b, "gentle", "Synced").await;
    assert_eq!(
        message,
        "PushSecret synced successfully. Existing secrets in providers unchanged."
    );
    let gentle = Api::<PushSecret>::namespaced(b.client(), NS)
        .get("gentle")
        .await
        .unwrap();
    assert!(gentle.status.unwrap().synced_push_secrets.is_empty());

    // Someone else takes over pushed-all in Vault: deleting "push" must leave it alone.
    blocking(|| {
        bao.api(
            reqwest::Method::POST,
            "secret/metadata/pushed-all",
            Some(&json!({"custom_metadata": {"managed-by": "external-secrets", "sealkit.io/pushed-by": "ops/other"}})),
        )
    });
    for name in ["thief", "foreign", "gentle", "push"] {
        Api::<PushSecret>::namespaced(b.client(), NS)
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete pushsecret");
    }
    let api = Api::<PushSecret>::namespaced(b.client(), NS);
    for _ in 0..300 {
        if api.get_opt("push").await.expect("get pushsecret").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        api.get_opt("push").await.unwrap().is_none(),
        "push was not deleted"
    );
    blocking(|| {
        assert!(bao_kv(&bao, "secret/metadata/pushed-db").is_none());
        assert!(bao_kv(&bao, "secret/data/pushed-all").is_some());
        assert_eq!(
            bao_kv(&bao, "secret/data/foreign").unwrap()["data"]["data"],
            json!({"owner": "ops"})
        );
        assert!(moto_value(&moto, "pushed-db").is_none());
        assert!(moto_value(&moto, "pushed-all").is_none());
    });
    assert!(remote_data(&rc, "pushed-db").await.is_none());
    assert!(remote_data(&rc, "pushed-all").await.is_none());
    b.stop().await;
}
