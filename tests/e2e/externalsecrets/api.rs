//! ESO API breadth (issue 16) end to end through the harness: `target.template.templateFrom`,
//! `ClusterExternalSecret`, the `Password` generator, and ESO's fields kept by the CRDs and
//! named in `Ready` when sealkit does not support them. The objects go through the harness's
//! schema handling (defaulting, pruning, validation) with the CRDs `seal-controller crds`
//! prints.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, ResourceExt as _};
use seal_controller::externalsecrets::clusterexternalsecret::ClusterExternalSecret;
use seal_controller::externalsecrets::crd::{ClusterSecretStore, ExternalSecret, SecretStore};
use seal_controller::externalsecrets::generators::Password;
use seal_controller::externalsecrets::metrics::EsMetrics;
use seal_controller::externalsecrets::providers::ProviderSettings;
use seal_controller::externalsecrets::{self, Config};
use sealkit_tests::harness;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{Bridge, NS, create_namespace, external_secret, fake_store, in_namespace};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A bridge serving `served` (`--external-secrets-namespaces`), one run per namespace as
/// seal-controller starts them; the first run also handles the cluster-scoped kinds.
async fn start_serving(served: &[&str]) -> Bridge {
    let h = harness::start().await;
    let client = h.client();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in externalsecrets::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("install the CRDs");
    }
    for ns in served {
        create_namespace(&client, ns, &[]).await;
    }
    let config = Config {
        store_qps: 0.0,
        providers: Arc::new(ProviderSettings {
            served_namespaces: Some(served.iter().map(|s| (*s).to_owned()).collect()),
            ..ProviderSettings::default()
        }),
        ..Config::default()
    };
    let metrics = Arc::new(EsMetrics::new());
    let (stop, rx) = watch::channel(false);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "seal-controller".into(),
            instance: None,
        },
    );
    let runs: Vec<_> = served
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            externalsecrets::run(
                client.clone(),
                config.clone(),
                metrics.clone(),
                recorder.clone(),
                Some((*ns).to_owned()),
                i == 0,
                rx.clone(),
            )
        })
        .collect();
    let task = tokio::spawn(async move {
        futures::future::join_all(runs).await;
    });
    Bridge {
        h,
        stop,
        task: Some(task),
        metrics,
        process: None,
    }
}

/// Creates an object from raw JSON (no typed round trip: what a user's `kubectl apply` sends).
async fn create_raw<K>(client: &Client, value: Value) -> Value
where
    K: kube::Resource<DynamicType = ()>,
{
    let ar = ApiResource::erase::<K>(&());
    let obj: DynamicObject = serde_json::from_value(value).expect("an object");
    let api: Api<DynamicObject> = match obj.namespace() {
        Some(ns) => Api::namespaced_with(client.clone(), &ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    serde_json::to_value(created).unwrap()
}

/// The object as the API server stores it.
async fn get_raw<K>(client: &Client, ns: Option<&str>, name: &str) -> Option<Value>
where
    K: kube::Resource<DynamicType = ()>,
{
    let ar = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    api.get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).unwrap())
}

async fn put_config_map(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    match api.get_opt(name).await.expect("get configmap") {
        None => {
            api.create(&PostParams::default(), &cm)
                .await
                .expect("create configmap");
        }
        Some(old) => {
            cm.metadata.resource_version = old.metadata.resource_version;
            api.replace(name, &PostParams::default(), &cm)
                .await
                .expect("replace configmap");
        }
    }
}

/// Polls `probe` every 100 ms for 40 s until it returns `Some`.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut last = String::new();
    for _ in 0..400 {
        match probe().await {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: still {last}");
}

fn cluster_fake_store(name: &str, data: &[(&str, &str)]) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": name},
        "spec": {"provider": {"fake": {"data": data.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()}}},
    })
}

// ---------------------------------------------------------------------------------------------
// templateFrom
// ---------------------------------------------------------------------------------------------

// issue 16: templateFrom with ConfigMap and Secret templates (Values and KeysAndValues), a
// literal, and Labels/Annotations targets; the templates are read from the ExternalSecret's
// own namespace only, and an edited template reaches the Secret at the next refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_from_renders_templates_kept_in_configmaps_and_secrets_of_its_own_namespace() {
    let b = Bridge::start().await;
    let client = b.client();
    b.create::<SecretStore>(fake_store(
        "fake",
        &[("user", "app"), ("password", "hunter2")],
    ))
    .await;
    put_config_map(
        &client,
        NS,
        "tpl",
        &[
            ("config.yml", "user: {{ .user }}\n"),
            (
                "env",
                "DB_USER: \"{{ .user }}\"\nDB_PASS: \"{{ .password }}\"\n",
            ),
            ("team", "{{ .user | upper }}"),
        ],
    )
    .await;
    b.put_secret(
        NS,
        "tpl-secret",
        &[("dsn", "postgres://{{ .user }}:{{ .password }}@db")],
    )
    .await;
    let data = json!([
        {"secretKey": "user", "remoteRef": {"key": "user"}},
        {"secretKey": "password", "remoteRef": {"key": "password"}},
    ]);
    b.create::<ExternalSecret>(external_secret(
        "app",
        "fake",
        json!({
            "data": data,
            "target": {"name": "app", "template": {
                "type": "Opaque",
                "engineVersion": "v2",
                "templateFrom": [
                    {"configMap": {"name": "tpl", "items": [
                        {"key": "config.yml", "templateAs": "Values"},
                        {"key": "env", "templateAs": "KeysAndValues"},
                    ]}},
                    {"secret": {"name": "tpl-secret", "items": [{"key": "dsn"}]}},
                    {"target": "Labels", "configMap": {"name": "tpl", "items": [{"key": "team"}]}},
                    {"target": "Annotations", "literal": "owner: \"{{ .user }}\""},
                ],
            }},
        }),
    ))
    .await;
    b.wait_data(
        NS,
        "app",
        &[
            ("DB_PASS", "hunter2"),
            ("DB_USER", "app"),
            ("config.yml", "user: app\n"),
            ("dsn", "postgres://app:hunter2@db"),
        ],
    )
    .await;
    let secret = b.secret_opt(NS, "app").await.unwrap();
    assert_eq!(secret.labels()["team"], "APP");
    assert_eq!(secret.annotations()["owner"], "app");
    b.wait_ready(NS, "app", "True", "SecretSynced").await;

    // An edited template reaches the Secret at the next refresh.
    put_config_map(
        &client,
        NS,
        "tpl",
        &[
            ("config.yml", "name: {{ .user }}\n"),
            ("env", "DB_USER: \"{{ .user }}\"\n"),
            ("team", "{{ .user }}"),
        ],
    )
    .await;
    b.wait_data(
        NS,
        "app",
        &[
            ("DB_USER", "app"),
            ("config.yml", "name: app\n"),
            ("dsn", "postgres://app:hunter2@db"),
        ],
    )
    .await;

    // A ConfigMap of another namespace is out of reach: there is no namespace field, and a
    // same-named object elsewhere is not used.
    create_namespace(&client, "other", &[]).await;
    put_config_map(&client, "other", "elsewhere", &[("k", "{{ .password }}")]).await;
    b.create::<ExternalSecret>(external_secret(
        "far",
        "fake",
        json!({
            "data": data,
            "target": {"template": {"templateFrom": [
                {"configMap": {"name": "elsewhere", "items": [{"key": "k"}]}},
            ]}},
        }),
    ))
    .await;
    let message = b.wait_ready(NS, "far", "False", "SecretSyncedError").await;
    assert_eq!(
        message,
        "invalid ExternalSecret: error in configmap elsewhere: not found"
    );
    assert!(b.secret_opt(NS, "far").await.is_none());

    // A missing key is named; the values never appear in conditions.
    b.create::<ExternalSecret>(external_secret(
        "missing",
        "fake",
        json!({
            "data": data,
            "target": {"template": {"templateFrom": [
                {"secret": {"name": "tpl-secret", "items": [{"key": "nope"}]}},
            ]}},
        }),
    ))
    .await;
    let message = b
        .wait_ready(NS, "missing", "False", "SecretSyncedError")
        .await;
    assert_eq!(
        message,
        "invalid ExternalSecret: error in secret tpl-secret: missing key nope"
    );
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// ClusterExternalSecret
// ---------------------------------------------------------------------------------------------

async fn ces_status(client: &Client, name: &str) -> Value {
    let ces = Api::<ClusterExternalSecret>::all(client.clone())
        .get(name)
        .await
        .expect("get clusterexternalsecret");
    serde_json::to_value(ces.status.unwrap_or_default()).unwrap()
}

async fn es_names(client: &Client, ns: &str) -> BTreeSet<String> {
    Api::<ExternalSecret>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .expect("list externalsecrets")
        .items
        .iter()
        .map(|e| e.name_any())
        .collect()
}

// issue 16: a ClusterExternalSecret stamps its ExternalSecret into the namespaces its selectors
// and names pick, only where the bridge serves, never over a same-named ExternalSecret it does
// not own; status lists provisioned and failed namespaces; relabelling a namespace, renaming
// the ExternalSecrets and deleting the ClusterExternalSecret clean up after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_external_secret_stamps_external_secrets_into_selected_served_namespaces() {
    let b = start_serving(&[NS, "team-a", "team-b", "team-c", "team-e"]).await;
    let client = b.client();
    let label = |ns: &'static str, labels: Value| {
        let client = client.clone();
        async move {
            let patch = json!({"metadata": {"labels": labels}});
            Api::<Namespace>::all(client)
                .patch(ns, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("label namespace");
        }
    };
    label("team-a", json!({"team": "x"})).await;
    label("team-b", json!({"team": "x"})).await;
    label("team-e", json!({"team": "x"})).await;
    create_namespace(&client, "team-d", &[("team", "x")]).await; // matches, not served
    create_raw::<ClusterSecretStore>(&client, cluster_fake_store("shared-store", &[("k", "v")]))
        .await;
    // A same-named ExternalSecret nobody's ClusterExternalSecret owns.
    b.create::<ExternalSecret>(in_namespace(
        external_secret(
            "shared",
            "local",
            json!({"data": [{"secretKey": "mine", "remoteRef": {"key": "mine"}}]}),
        ),
        "team-e",
    ))
    .await;

    create_raw::<ClusterExternalSecret>(
        &client,
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterExternalSecret",
            "metadata": {"name": "fleet", "annotations": {"external-secrets.io/force-sync": "7"}},
            "spec": {
                "externalSecretName": "shared",
                "externalSecretMetadata": {"labels": {"from": "ces"}},
                "namespaceSelectors": [{"matchLabels": {"team": "x"}}],
                "namespaces": ["team-c"],
                "refreshTime": "1m",
                "externalSecretSpec": {
                    "refreshInterval": "1s",
                    "secretStoreRef": {"name": "shared-store", "kind": "ClusterSecretStore"},
                    "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}],
                },
            },
        }),
    )
    .await;
    for ns in ["team-a", "team-b", "team-c"] {
        b.wait_data(ns, "shared", &[("k", "v")]).await;
        let es = Api::<ExternalSecret>::namespaced(client.clone(), ns)
            .get("shared")
            .await
            .unwrap();
        let owner = &es.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("ClusterExternalSecret", "fleet", Some(true))
        );
        assert_eq!(es.labels()["from"], "ces");
        assert_eq!(es.annotations()["external-secrets.io/force-sync"], "7");
    }
    let status = eventually("clusterexternalsecret status", || {
        let client = client.clone();
        async move {
            let s = ces_status(&client, "fleet").await;
            (s["provisionedNamespaces"] == json!(["team-a", "team-b", "team-c"])
                && s["failedNamespaces"]
                    .as_array()
                    .is_some_and(|f| f.len() == 2))
            .then_some(s.clone())
            .ok_or_else(|| s.to_string())
        }
    })
    .await;
    assert_eq!(status["externalSecretName"], "shared");
    assert_eq!(
        status["failedNamespaces"],
        json!([
            {"namespace": "team-d", "reason": "namespace is not served by this bridge (--external-secrets-namespaces)"},
            {"namespace": "team-e", "reason": "external secret already exists in namespace"},
        ])
    );
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][0]["status"], "False");
    assert_eq!(
        status["conditions"][0]["message"],
        "one or more namespaces failed"
    );
    // Nothing in the unserved namespace, nothing over the foreign ExternalSecret, nothing in
    // the unselected one.
    assert!(es_names(&client, "team-d").await.is_empty());
    let foreign = Api::<ExternalSecret>::namespaced(client.clone(), "team-e")
        .get("shared")
        .await
        .unwrap();
    assert!(foreign.owner_references().is_empty());
    assert_eq!(foreign.spec.data[0].secret_key, "mine");
    assert!(es_names(&client, NS).await.is_empty());

    // A namespace that stops matching loses its ExternalSecret (the Namespace watch, not the
    // one-minute refreshTime, brings the change).
    label("team-b", json!({"team": "y"})).await;
    eventually("externalsecret gone from team-b", || {
        let client = client.clone();
        async move {
            let names = es_names(&client, "team-b").await;
            names.is_empty().then_some(()).ok_or(format!("{names:?}"))
        }
    })
    .await;
    eventually("team-b no longer provisioned", || {
        let client = client.clone();
        async move {
            let s = ces_status(&client, "fleet").await;
            (s["provisionedNamespaces"] == json!(["team-a", "team-c"]))
                .then_some(())
                .ok_or_else(|| s.to_string())
        }
    })
    .await;

    // Renaming the ExternalSecrets replaces them.
    let patch = json!({"spec": {"externalSecretName": "renamed"}});
    Api::<ClusterExternalSecret>::all(client.clone())
        .patch("fleet", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    for ns in ["team-a", "team-c"] {
        eventually("renamed externalsecret", || {
            let client = client.clone();
            async move {
                let names = es_names(&client, ns).await;
                (names == BTreeSet::from(["renamed".to_owned()]))
                    .then_some(())
                    .ok_or(format!("{ns}: {names:?}"))
            }
        })
        .await;
    }
    b.wait_data("team-a", "renamed", &[("k", "v")]).await;

    // Deleting the ClusterExternalSecret deletes its ExternalSecrets (owner references); the
    // foreign one stays.
    Api::<ClusterExternalSecret>::all(client.clone())
        .delete("fleet", &DeleteParams::default())
        .await
        .unwrap();
    for ns in ["team-a", "team-c"] {
        eventually("externalsecrets collected", || {
            let client = client.clone();
            async move {
                let names = es_names(&client, ns).await;
                names
                    .is_empty()
                    .then_some(())
                    .ok_or(format!("{ns}: {names:?}"))
            }
        })
        .await;
    }
    assert_eq!(
        es_names(&client, "team-e").await,
        BTreeSet::from(["shared".to_owned()])
    );
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Password generator
// ---------------------------------------------------------------------------------------------

fn generated_es(name: &str, generator: Value, extra: Value) -> Value {
    let mut es = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "refreshInterval": "1s",
            "dataFrom": [{"sourceRef": {"generatorRef": generator}}],
        },
    });
    for (k, v) in extra.as_object().unwrap() {
        es["spec"][k] = v.clone();
    }
    es
}

// issue 16: the Password generator fills the keys it lists with passwords as its spec says;
// like ESO it runs on every refresh (a Periodic ExternalSecret rotates the password), and
// refreshPolicy CreatedOnce keeps the first one; missing or unsupported generators are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_generator_fills_secrets_rotates_per_refresh_and_created_once_keeps_it() {
    let b = Bridge::start().await;
    let client = b.client();
    create_raw::<Password>(
        &client,
        json!({
            "apiVersion": "generators.external-secrets.io/v1alpha1",
            "kind": "Password",
            "metadata": {"name": "db", "namespace": NS},
            "spec": {
                "length": 32, "digits": 6, "symbols": 4, "symbolCharacters": "-_.",
                "noUpper": false, "allowRepeat": true, "secretKeys": ["password", "admin"],
            },
        }),
    )
    .await;
    let generator = json!({"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "name": "db"});
    b.create::<ExternalSecret>(generated_es(
        "rotating",
        generator.clone(),
        json!({"dataFrom": [{"sourceRef": {"generatorRef": generator}, "rewrite": [{"regexp": {"source": "^(.*)$", "target": "db-$1"}}]}]}),
    ))
    .await;
    let first = eventually("generated secret", || {
        let b = &b;
        async move {
            let data = b.data(NS, "rotating").await.ok_or("no secret yet")?;
            (data.keys().cloned().collect::<Vec<_>>() == ["db-admin", "db-password"])
                .then_some(data.clone())
                .ok_or(format!("{:?}", data.keys()))
        }
    })
    .await;
    for p in first.values() {
        assert_eq!(p.chars().count(), 32, "{p}");
        assert_eq!(p.chars().filter(char::is_ascii_digit).count(), 6, "{p}");
        assert_eq!(p.chars().filter(|c| "-_.".contains(*c)).count(), 4, "{p}");
    }
    assert_ne!(first["db-admin"], first["db-password"]);
    // Periodic: a new password at a later refresh, as ESO does.
    eventually("password rotated", || {
        let b = &b;
        let first = first.clone();
        async move {
            let now = b.data(NS, "rotating").await.unwrap_or_default();
            (now["db-password"] != first["db-password"])
                .then_some(())
                .ok_or("same password".to_owned())
        }
    })
    .await;

    // CreatedOnce: generated once, kept across refreshes.
    b.create::<ExternalSecret>(generated_es(
        "stable",
        generator.clone(),
        json!({"refreshPolicy": "CreatedOnce"}),
    ))
    .await;
    let kept = eventually("stable secret", || {
        let b = &b;
        async move { b.data(NS, "stable").await.ok_or("no secret yet".to_owned()) }
    })
    .await;
    assert_eq!(kept["password"].chars().count(), 32);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(b.data(NS, "stable").await.unwrap(), kept);

    // A missing generator and a kind sealkit does not implement are named.
    b.create::<ExternalSecret>(generated_es(
        "missing",
        json!({"kind": "Password", "name": "nope"}),
        json!({}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "missing", "False", "SecretSyncedError")
        .await;
    assert_eq!(message, "Password \"nope\" not found");
    b.create::<ExternalSecret>(generated_es(
        "uuid",
        json!({"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "UUID", "name": "u"}),
        json!({}),
    ))
    .await;
    let message = b.wait_ready(NS, "uuid", "False", "SecretSyncedError").await;
    assert_eq!(
        message,
        "generator \"u\" failed: generator generators.external-secrets.io/v1alpha1/UUID is not supported by sealkit (only generators.external-secrets.io/v1alpha1/Password)"
    );
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// No field silently dropped
// ---------------------------------------------------------------------------------------------

// issue 16: fields of real ESO manifests that ESO v2.9's CRDs keep are kept by sealkit's CRDs
// (the harness prunes with them as an API server does), and each one sealkit does not
// implement is named in the store's or ExternalSecret's Ready condition instead of being
// ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esos_fields_are_kept_and_every_unsupported_one_is_named_in_ready() {
    let b = Bridge::start().await;
    let client = b.client();
    b.put_secret(NS, "vault-token", &[("token", "t")]).await;
    let vault = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "vault", "namespace": NS},
        "spec": {"provider": {"vault": {
            "server": "https://vault.example.invalid:8200",
            "path": "secret",
            "version": "v2",
            "caProvider": {"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt"},
            "readYourWrites": true,
            "forwardInconsistent": true,
            "checkAndSet": {"required": true},
            "tls": {
                "certSecretRef": {"name": "vault-client", "key": "tls.crt"},
                "keySecretRef": {"name": "vault-client", "key": "tls.key"},
            },
            "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}},
        }}},
    });
    create_raw::<SecretStore>(&client, vault).await;
    let webhook = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "hook", "namespace": NS},
        "spec": {"provider": {"webhook": {
            "url": "https://hook.example.invalid/{{ .remoteRef.key }}",
            "auth": {"ntlm": {
                "usernameSecret": {"name": "ntlm", "key": "user"},
                "passwordSecret": {"name": "ntlm", "key": "pass"},
            }},
        }}},
    });
    create_raw::<SecretStore>(&client, webhook).await;
    create_raw::<SecretStore>(&client, fake_store("fake", &[("k", "v")])).await;
    let es = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "windows", "namespace": NS},
        "spec": {
            "refreshInterval": "1s",
            "secretStoreRef": {"name": "fake", "kind": "SecretStore"},
            "syncWindows": {"kind": "deny", "windows": [{"schedule": "0 9 * * 1-5", "duration": "8h"}]},
            "target": {"name": "windows", "manifest": {"apiVersion": "v1", "kind": "ConfigMap"}},
            "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}],
        },
    });
    create_raw::<ExternalSecret>(&client, es).await;

    // Kept as written.
    let stored = get_raw::<SecretStore>(&client, Some(NS), "vault")
        .await
        .unwrap();
    let v = &stored["spec"]["provider"]["vault"];
    assert_eq!(v["readYourWrites"], true);
    assert_eq!(v["forwardInconsistent"], true);
    assert_eq!(v["checkAndSet"]["required"], true);
    assert_eq!(v["tls"]["keySecretRef"]["key"], "tls.key");
    assert_eq!(v["caProvider"]["name"], "vault-ca");
    let stored = get_raw::<SecretStore>(&client, Some(NS), "hook")
        .await
        .unwrap();
    assert_eq!(
        stored["spec"]["provider"]["webhook"]["auth"]["ntlm"]["usernameSecret"]["key"],
        "user"
    );
    let stored = get_raw::<ExternalSecret>(&client, Some(NS), "windows")
        .await
        .unwrap();
    assert_eq!(
        stored["spec"]["syncWindows"]["windows"][0]["duration"],
        "8h"
    );
    assert_eq!(stored["spec"]["target"]["manifest"]["kind"], "ConfigMap");

    // Named in Ready.
    let store_message = |name: &'static str| {
        let client = client.clone();
        async move {
            let s = Api::<SecretStore>::namespaced(client, NS)
                .get(name)
                .await
                .unwrap();
            let c = s.status.unwrap_or_default().conditions;
            c.into_iter()
                .find(|c| c.type_ == "Ready" && c.status == "False")
                .map(|c| (c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
                .ok_or("not failed yet".to_owned())
        }
    };
    let (reason, message) = eventually("vault store Ready", || store_message("vault")).await;
    assert_eq!(reason, "InvalidProviderConfig");
    assert_eq!(
        message,
        "fields not supported by sealkit: spec.provider.vault.readYourWrites, spec.provider.vault.forwardInconsistent, spec.provider.vault.checkAndSet and spec.provider.vault.tls"
    );
    let (_, message) = eventually("webhook store Ready", || store_message("hook")).await;
    assert_eq!(
        message,
        "fields not supported by sealkit: spec.provider.webhook.auth"
    );
    let message = b
        .wait_ready(NS, "windows", "False", "SecretSyncedError")
        .await;
    assert_eq!(
        message,
        "ExternalSecret has fields sealkit does not support: spec.syncWindows and spec.target.manifest"
    );
    assert!(b.secret_opt(NS, "windows").await.is_none());
    // An ExternalSecret of the Vault store fails with the store's fields.
    b.create::<ExternalSecret>(external_secret(
        "via-vault",
        "vault",
        json!({"data": [{"secretKey": "k", "remoteRef": {"key": "app/db"}}]}),
    ))
    .await;
    let message = b
        .wait_ready(NS, "via-vault", "False", "SecretSyncedError")
        .await;
    assert_eq!(
        message,
        "SecretStore \"vault\" has fields sealkit does not support: spec.provider.vault.readYourWrites, spec.provider.vault.forwardInconsistent, spec.provider.vault.checkAndSet and spec.provider.vault.tls"
    );
    b.stop().await;
}

/// `bao server -dev-tls`: OpenBao over HTTPS with a CA it makes itself (in `dir`).
struct TlsOpenBao {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TlsOpenBao {
    fn start() -> Self {
        let bao = sealkit_tests::servers::require_tool("bao");
        let dir = tempfile::tempdir().unwrap();
        let port = sealkit_tests::servers::free_port();
        let child = Command::new(bao)
            .args([
                "server",
                "-dev",
                "-dev-tls",
                "-dev-no-store-token",
                &format!("-dev-tls-cert-dir={}", dir.path().display()),
                &format!(
                    "-dev-root-token-id={}",
                    sealkit_tests::servers::OpenBao::ROOT_TOKEN
                ),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_TOKEN")
            .env_remove("BAO_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bao");
        let this = Self { child, port, dir };
        let ca = this.ca();
        let client = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
            .build()
            .unwrap();
        for _ in 0..300 {
            if client
                .get(format!("{}/v1/sys/health", this.url()))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return this;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("OpenBao over TLS did not start");
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn ca(&self) -> String {
        let path = self.dir.path().join("vault-ca.pem");
        for _ in 0..300 {
            if let Ok(pem) = fs_err::read_to_string(&path)
                && pem.contains("END CERTIFICATE")
            {
                return pem;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no CA at {}", path.display());
    }

    fn kv_put(&self, path: &str, data: Value) {
        let client = reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca().as_bytes()).unwrap())
            .build()
            .unwrap();
        let req = client
            .post(format!("{}/v1/secret/data/{path}", self.url()))
            .header("X-Vault-Token", sealkit_tests::servers::OpenBao::ROOT_TOKEN)
            .json(&json!({ "data": data }));
        let (status, text) = sealkit_tests::servers::send_while_kv_upgrades(req).unwrap();
        assert!(status.is_success(), "{status}: {text}");
    }
}

impl Drop for TlsOpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// issue 16: a Vault store with a self-signed CA works through caProvider (a ConfigMap or a
// Secret of the store's namespace; for a ClusterSecretStore, of the namespace it must name);
// without it the store fails on TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_over_tls_with_a_self_signed_ca_works_through_ca_provider() {
    let bao = tokio::task::block_in_place(TlsOpenBao::start);
    tokio::task::block_in_place(|| bao.kv_put("app/db", json!({"password": "over-tls"})));
    let b = Bridge::start().await;
    let client = b.client();
    b.put_secret(
        NS,
        "vault-token",
        &[("token", sealkit_tests::servers::OpenBao::ROOT_TOKEN)],
    )
    .await;
    put_config_map(&client, NS, "vault-ca", &[("ca.crt", &bao.ca())]).await;
    b.put_secret(NS, "vault-ca-secret", &[("ca.crt", &bao.ca())])
        .await;
    let store = |name: &str, ca: Option<Value>| {
        let mut vault = json!({
            "server": bao.url(), "path": "secret", "version": "v2",
            "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}},
        });
        if let Some(ca) = ca {
            vault["caProvider"] = ca;
        }
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "SecretStore",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"provider": {"vault": vault}},
        })
    };
    create_raw::<SecretStore>(
        &client,
        store(
            "with-configmap",
            Some(json!({"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt"})),
        ),
    )
    .await;
    create_raw::<SecretStore>(
        &client,
        store(
            "with-secret",
            Some(json!({"type": "Secret", "name": "vault-ca-secret", "key": "ca.crt"})),
        ),
    )
    .await;
    create_raw::<SecretStore>(&client, store("without", None)).await;
    let data = json!({"data": [{"secretKey": "password", "remoteRef": {"key": "app/db", "property": "password"}}]});
    for name in ["with-configmap", "with-secret", "without"] {
        b.create::<ExternalSecret>(external_secret(name, name, data.clone()))
            .await;
    }
    b.wait_data(NS, "with-configmap", &[("password", "over-tls")])
        .await;
    b.wait_data(NS, "with-secret", &[("password", "over-tls")])
        .await;
    b.wait_store_ready(false, NS, "with-configmap", ("True", "Valid"))
        .await;
    let message = b
        .wait_ready(NS, "without", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("cannot reach vault at 127.0.0.1:")
            && message.contains("invalid peer certificate: UnknownIssuer"),
        "{message}"
    );
    assert!(b.secret_opt(NS, "without").await.is_none());

    // A ClusterSecretStore names the namespace of its CA (ESO's rule); without it the store is
    // refused before any call.
    let cluster_store = |name: &str, ca: Value| {
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterSecretStore",
            "metadata": {"name": name},
            "spec": {"provider": {"vault": {
                "server": bao.url(), "path": "secret", "version": "v2",
                "caProvider": ca,
                "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token", "namespace": NS}},
            }}},
        })
    };
    create_raw::<ClusterSecretStore>(
        &client,
        cluster_store(
            "cluster-ca",
            json!({"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt", "namespace": NS}),
        ),
    )
    .await;
    create_raw::<ClusterSecretStore>(
        &client,
        cluster_store(
            "cluster-ca-no-namespace",
            json!({"type": "ConfigMap", "name": "vault-ca", "key": "ca.crt"}),
        ),
    )
    .await;
    for name in ["cluster-ca", "cluster-ca-no-namespace"] {
        let mut es = external_secret(name, name, data.clone());
        es["spec"]["secretStoreRef"]["kind"] = json!("ClusterSecretStore");
        b.create::<ExternalSecret>(es).await;
    }
    b.wait_data(NS, "cluster-ca", &[("password", "over-tls")])
        .await;
    b.wait_store_ready(true, "", "cluster-ca", ("True", "Valid"))
        .await;
    let message = b
        .wait_ready(NS, "cluster-ca-no-namespace", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains("caProvider.namespace is required on a ClusterSecretStore"),
        "{message}"
    );
    b.wait_store_ready(
        true,
        "",
        "cluster-ca-no-namespace",
        ("False", "InvalidProviderConfig"),
    )
    .await;
    b.stop().await;
    drop(bao);
}

/// A webhook endpoint over HTTPS with a self-signed certificate: `GET /v1/secrets/{key}`
/// answers `{"data": "tls-<key>"}`.
fn webhook_over_tls() -> sealkit_tests::http_server::TlsServer {
    use axum::extract::Path;
    let router = axum::Router::new().route(
        "/v1/secrets/{key}",
        axum::routing::get(|Path(key): Path<String>| async move {
            axum::Json(json!({"data": format!("tls-{key}")}))
        }),
    );
    sealkit_tests::http_server::serve_tls(router)
}

/// `Ready` (status, reason, message) of a SecretStore once it has one.
async fn store_condition(client: &Client, name: &'static str) -> (String, String, String) {
    eventually("store Ready", || {
        let client = client.clone();
        async move {
            let s = Api::<SecretStore>::namespaced(client, NS)
                .get(name)
                .await
                .map_err(|e| e.to_string())?;
            s.status
                .unwrap_or_default()
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| {
                    (
                        c.status,
                        c.reason.unwrap_or_default(),
                        c.message.unwrap_or_default(),
                    )
                })
                .ok_or("no Ready yet".to_owned())
        }
    })
    .await
}

// issue 16: the kubernetes provider's `server.caProvider` and the webhook's `caProvider` trust
// a self-signed CA kept in a ConfigMap or a Secret of the store's namespace; without it the
// TLS handshake fails, and a SecretStore cannot take its CA from another namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_and_webhook_stores_trust_a_self_signed_ca_from_ca_provider() {
    const REMOTE_TOKEN: &str = "remote-admin-t0ken";
    let remote = harness::start_with(harness::Options {
        admin_token: Some(REMOTE_TOKEN.into()),
        ..Default::default()
    })
    .await
    .expect("start the remote cluster");
    {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(remote.client(), "default");
        let mut s = k8s_openapi::api::core::v1::Secret::default();
        s.metadata.name = Some("db".into());
        s.string_data = Some([("password".to_owned(), "remote-over-tls".to_owned())].into());
        api.create(&PostParams::default(), &s).await.unwrap();
    }
    let hook = tokio::task::block_in_place(webhook_over_tls);

    let b = Bridge::start().await;
    let client = b.client();
    b.put_secret(NS, "remote-token", &[("token", REMOTE_TOKEN)])
        .await;
    put_config_map(&client, NS, "cluster-ca", &[("ca.crt", remote.ca_pem())]).await;
    b.put_secret(NS, "hook-ca", &[("ca.pem", &hook.ca_pem)])
        .await;
    create_namespace(&client, "other", &[]).await;
    put_config_map(
        &client,
        "other",
        "cluster-ca",
        &[("ca.crt", remote.ca_pem())],
    )
    .await;

    let kubernetes = |name: &str, ca: Option<Value>| {
        let mut server = json!({"url": remote.https_url()});
        if let Some(ca) = ca {
            server["caProvider"] = ca;
        }
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "SecretStore",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"provider": {"kubernetes": {
                "server": server,
                "auth": {"token": {"bearerToken": {"name": "remote-token", "key": "token"}}},
                "remoteNamespace": "default",
            }}},
        })
    };
    let webhook = |name: &str, ca: Option<Value>| {
        let mut hook_spec = json!({
            "url": format!("{}/v1/secrets/{{{{ .remoteRef.key }}}}", hook.url()),
            "result": {"jsonPath": "$.data"},
        });
        if let Some(ca) = ca {
            hook_spec["caProvider"] = ca;
        }
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "SecretStore",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"provider": {"webhook": hook_spec}},
        })
    };
    let cm_ca = json!({"type": "ConfigMap", "name": "cluster-ca", "key": "ca.crt"});
    create_raw::<SecretStore>(&client, kubernetes("k8s-ca", Some(cm_ca))).await;
    create_raw::<SecretStore>(&client, kubernetes("k8s-no-ca", None)).await;
    create_raw::<SecretStore>(
        &client,
        kubernetes(
            "k8s-foreign-ca",
            Some(json!({"type": "ConfigMap", "name": "cluster-ca", "key": "ca.crt", "namespace": "other"})),
        ),
    )
    .await;
    create_raw::<SecretStore>(
        &client,
        webhook(
            "hook-ca",
            Some(json!({"type": "Secret", "name": "hook-ca", "key": "ca.pem"})),
        ),
    )
    .await;
    create_raw::<SecretStore>(&client, webhook("hook-no-ca", None)).await;

    let k8s_data = json!({"data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}]});
    let hook_data = json!({"data": [{"secretKey": "value", "remoteRef": {"key": "app"}}]});
    for (name, data) in [
        ("k8s-ca", &k8s_data),
        ("k8s-no-ca", &k8s_data),
        ("k8s-foreign-ca", &k8s_data),
        ("hook-ca", &hook_data),
        ("hook-no-ca", &hook_data),
    ] {
        b.create::<ExternalSecret>(external_secret(name, name, data.clone()))
            .await;
    }
    b.wait_data(NS, "k8s-ca", &[("password", "remote-over-tls")])
        .await;
    b.wait_data(NS, "hook-ca", &[("value", "tls-app")]).await;
    b.wait_store_ready(false, NS, "k8s-ca", ("True", "Valid"))
        .await;

    // No CA: the handshake fails (the system roots do not know it) and nothing is written.
    for name in ["k8s-no-ca", "hook-no-ca"] {
        let message = b.wait_ready(NS, name, "False", "SecretSyncedError").await;
        assert!(
            message.contains("invalid peer certificate: UnknownIssuer"),
            "{name}: {message}"
        );
        assert!(!message.contains(REMOTE_TOKEN), "{message}");
        assert!(b.secret_opt(NS, name).await.is_none(), "{name}");
    }
    // A SecretStore's CA comes from its own namespace only.
    let message = b
        .wait_ready(NS, "k8s-foreign-ca", "False", "SecretSyncedError")
        .await;
    assert!(
        message.contains(
            "a SecretStore may only read credentials from its own namespace, not \"other\""
        ),
        "{message}"
    );
    assert!(b.secret_opt(NS, "k8s-foreign-ca").await.is_none());
    let (status, _, message) = store_condition(&client, "k8s-foreign-ca").await;
    assert_eq!(
        (status.as_str(), message.as_str()),
        (
            "False",
            "invalid store configuration: a SecretStore may only read credentials from its own namespace, not \"other\""
        )
    );
    b.stop().await;
    remote.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Under the shipped RBAC
// ---------------------------------------------------------------------------------------------

/// `deploy/external-secrets/<file>`.
fn deploy_file(file: &str) -> String {
    fs_err::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/external-secrets")
            .join(file),
    )
    .expect("a file of deploy/external-secrets")
}

// issue 16: a ClusterExternalSecret, templateFrom from a ConfigMap and a Secret, and a Password
// generator all work with nothing but the grants deploy/external-secrets ships (the harness
// enforces RBAC on the bridge's ServiceAccount token); a selected namespace the bridge does
// not serve gets nothing and is named in the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_external_secrets_templates_and_passwords_work_under_the_shipped_rbac() {
    const SERVED: &str = "apps";
    const BRIDGE_NS: &str = "sealkit-external-secrets";
    let h = harness::start().await;
    let admin = h.client();
    let crds: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(admin.clone());
    for crd in externalsecrets::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("install the CRDs");
    }
    h.apply_yaml(&deploy_file("namespace.yaml"))
        .expect("namespace.yaml");
    create_namespace(&admin, SERVED, &[("tier", "app")]).await;
    create_namespace(&admin, "unserved", &[("tier", "app")]).await;
    for file in ["serviceaccount.yaml", "rbac.yaml", "tenant-apps.yaml"] {
        h.apply_yaml(&deploy_file(file)).expect(file);
    }
    let bridge =
        h.client_for_token(&h.service_account_token(BRIDGE_NS, "sealkit-external-secrets"));
    // The bridge's identity cannot read a Secret outside the namespaces it serves.
    let denied = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(bridge.clone(), "unserved")
        .list(&Default::default())
        .await;
    assert!(
        matches!(&denied, Err(kube::Error::Api(s)) if s.code == 403),
        "{denied:?}"
    );

    let config = Config {
        store_qps: 0.0,
        providers: Arc::new(ProviderSettings {
            served_namespaces: Some([SERVED.to_owned()].into()),
            ..ProviderSettings::default()
        }),
        ..Config::default()
    };
    let (stop, rx) = watch::channel(false);
    let recorder = Recorder::new(
        bridge.clone(),
        Reporter {
            controller: "seal-controller".into(),
            instance: None,
        },
    );
    let task = tokio::spawn(externalsecrets::run(
        bridge,
        config,
        Arc::new(EsMetrics::new()),
        recorder,
        Some(SERVED.to_owned()),
        true,
        rx,
    ));

    create_raw::<ClusterSecretStore>(&admin, cluster_fake_store("shared", &[("user", "app")]))
        .await;
    put_config_map(&admin, SERVED, "tpl", &[("greeting", "hello {{ .user }}")]).await;
    {
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(admin.clone(), SERVED);
        let mut s = k8s_openapi::api::core::v1::Secret::default();
        s.metadata.name = Some("tpl-secret".into());
        s.string_data =
            Some([("login".to_owned(), "{{ .user }}:{{ .password }}".to_owned())].into());
        api.create(&PostParams::default(), &s).await.unwrap();
    }
    create_raw::<Password>(
        &admin,
        json!({
            "apiVersion": "generators.external-secrets.io/v1alpha1",
            "kind": "Password",
            "metadata": {"name": "pw", "namespace": SERVED},
            "spec": {"length": 20, "digits": 5, "symbols": 0, "noUpper": true},
        }),
    )
    .await;
    create_raw::<ClusterExternalSecret>(
        &admin,
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterExternalSecret",
            "metadata": {"name": "fleet"},
            "spec": {
                "externalSecretName": "app",
                "namespaceSelectors": [{"matchLabels": {"tier": "app"}}],
                "externalSecretSpec": {
                    "refreshInterval": "0s",
                    "secretStoreRef": {"name": "shared", "kind": "ClusterSecretStore"},
                    "data": [{"secretKey": "user", "remoteRef": {"key": "user"}}],
                    "dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}],
                    "target": {"template": {"templateFrom": [
                        {"configMap": {"name": "tpl", "items": [{"key": "greeting"}]}},
                        {"secret": {"name": "tpl-secret", "items": [{"key": "login"}]}},
                    ]}},
                },
            },
        }),
    )
    .await;

    let data = eventually("the templated Secret", || {
        let admin = admin.clone();
        async move {
            let s = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(admin, SERVED)
                .get_opt("app")
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no secret yet")?;
            let data: std::collections::BTreeMap<String, String> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
                .collect();
            (data.len() == 2)
                .then_some(data.clone())
                .ok_or(format!("{:?}", data.keys()))
        }
    })
    .await;
    assert_eq!(data["greeting"], "hello app");
    let (user, password) = data["login"].split_once(':').unwrap();
    assert_eq!(user, "app");
    assert_eq!(password.len(), 20);
    assert_eq!(password.chars().filter(char::is_ascii_digit).count(), 5);
    let status = eventually("clusterexternalsecret status", || {
        let admin = admin.clone();
        async move {
            let s = ces_status(&admin, "fleet").await;
            (s["provisionedNamespaces"] == json!([SERVED]))
                .then_some(s.clone())
                .ok_or_else(|| s.to_string())
        }
    })
    .await;
    assert_eq!(
        status["failedNamespaces"],
        json!([{"namespace": "unserved", "reason": "namespace is not served by this bridge (--external-secrets-namespaces)"}])
    );
    assert!(es_names(&admin, "unserved").await.is_empty());
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}
