//! Who may do what on the harness (issue 13): ServiceAccount tokens from the TokenRequest API,
//! TokenReview, access reviews and the RBAC authorizer, through kube-rs, kubectl and OpenBao's
//! Kubernetes auth.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authentication::v1::{
    SelfSubjectReview, TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec,
};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec, SubjectAccessReview,
    SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchParams};
use sealkit_tests::harness::{self, Harness};
use std::time::Duration;

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn status_of<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String, String) {
    let s = api_error(r.expect_err("the request must fail"));
    (s.code, s.reason, s.message)
}

fn secret(name: &str) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s
}

fn config_map(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c
}

async fn create_namespace(client: &Client, name: &str) {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.into());
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
}

/// Namespace `team` with ServiceAccount `app` and a few objects, as the admin made them.
async fn team(h: &Harness) -> Client {
    let admin = h.client();
    create_namespace(&admin, "team").await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "team");
    for name in ["a", "b"] {
        secrets
            .create(&PostParams::default(), &secret(name))
            .await
            .unwrap();
    }
    Api::<Secret>::namespaced(admin.clone(), "kube-system")
        .create(&PostParams::default(), &secret("sealed-secrets-key"))
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(admin, "team")
        .create(&PostParams::default(), &config_map("settings"))
        .await
        .unwrap();
    h.client_for_token(&h.service_account_token("team", "app"))
}

const TEAM_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app, namespace: team}
rules:
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [a]
  verbs: [get, watch, list]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [list]
- apiGroups: [""]
  resources: [serviceaccounts/token]
  resourceNames: [app]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app}
subjects:
- kind: ServiceAccount
  name: app
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: namespace-reader}
rules:
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: team-reads-namespaces}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: namespace-reader}
subjects:
- kind: Group
  name: system:serviceaccounts:team
"#;

#[tokio::test]
async fn token_requests_issue_service_account_tokens_that_authenticate_until_they_expire() {
    let h = harness::start().await;
    create_namespace(&h.client(), "team").await;
    let sas: Api<ServiceAccount> = Api::namespaced(h.client(), "team");
    let request = |seconds: Option<i64>| TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: seconds,
            ..Default::default()
        },
        ..Default::default()
    };
    let (code, _, message) = status_of(
        sas.create_token_request("app", &PostParams::default(), &request(None))
            .await,
    )
    .await;
    assert_eq!(
        (code, message.as_str()),
        (404, "serviceaccounts \"app\" not found")
    );

    let mut sa = ServiceAccount::default();
    sa.metadata.name = Some("app".into());
    sas.create(&PostParams::default(), &sa).await.unwrap();
    let (code, reason, _) = status_of(
        sas.create_token_request("app", &PostParams::default(), &request(Some(599)))
            .await,
    )
    .await;
    assert_eq!((code, reason.as_str()), (422, "Invalid"));

    let issued = sas
        .create_token_request("app", &PostParams::default(), &request(Some(3600)))
        .await
        .unwrap();
    let status = issued.status.expect("a token");
    assert_eq!(issued.spec.audiences, vec![h.token_issuer().to_string()]);
    assert_eq!(issued.spec.expiration_seconds, Some(3600));
    // A JWT with kube-apiserver's claims.
    let payload = status.token.split('.').nth(1).expect("a JWT");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:team:app");
    assert_eq!(claims["kubernetes.io"]["namespace"], "team");
    assert_eq!(claims["kubernetes.io"]["serviceaccount"]["name"], "app");
    assert_eq!(claims["iss"], h.token_issuer());

    let as_app = h.client_for_token(&status.token);
    let me = Api::<SelfSubjectReview>::all(as_app.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap()
        .status
        .and_then(|s| s.user_info)
        .expect("user info");
    assert_eq!(
        me.username.as_deref(),
        Some("system:serviceaccount:team:app")
    );
    assert_eq!(
        me.groups.unwrap(),
        [
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated"
        ]
    );

    h.advance_token_clock(Duration::from_secs(3601));
    let (code, reason, _) = status_of(
        Api::<SelfSubjectReview>::all(as_app)
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await,
    )
    .await;
    assert_eq!((code, reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn unknown_tokens_other_audiences_and_deleted_service_accounts_get_401() {
    let h = harness::start().await;
    create_namespace(&h.client(), "team").await;
    let unauthorized = |client: Client| async move {
        let r = Api::<Namespace>::all(client).get("default").await;
        let s = api_error(r.expect_err("401 expected"));
        (s.code, s.reason)
    };
    let want = (401, "Unauthorized".to_string());
    assert_eq!(unauthorized(h.client_for_token("not-a-token")).await, want);
    // A token for another audience (a Vault role's) is not accepted by the API server.
    let vault_token =
        h.service_account_token_with("team", "app", &["vault"], Duration::from_secs(600));
    assert_eq!(unauthorized(h.client_for_token(&vault_token)).await, want);

    let token = h.service_account_token("team", "app");
    let client = h.client_for_token(&token);
    Api::<Namespace>::all(client.clone())
        .get("default")
        .await
        .expect_err("no grant yet: 403, not 401");
    Api::<ServiceAccount>::namespaced(h.client(), "team")
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(unauthorized(client).await, want);
    // A new ServiceAccount of the same name does not revive the old token.
    h.service_account_token("team", "app");
    assert_eq!(unauthorized(h.client_for_token(&token)).await, want);

    // Requests without a token keep full access; the admin token has it too.
    Api::<Namespace>::all(h.client())
        .get("default")
        .await
        .unwrap();
    Api::<Namespace>::all(h.client_for_token(&h.admin_token()))
        .get("default")
        .await
        .unwrap();
}

#[tokio::test]
async fn token_review_names_the_user_groups_and_audiences() {
    let h = harness::start().await;
    create_namespace(&h.client(), "team").await;
    let token =
        h.service_account_token_with("team", "app", &["vault", "other"], Duration::from_secs(600));
    let review = |token: &str, audiences: Vec<String>| TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.into()),
            audiences: Some(audiences),
        },
        ..Default::default()
    };
    let reviews: Api<TokenReview> = Api::all(h.client());
    let ok = reviews
        .create(
            &PostParams::default(),
            &review(&token, vec!["vault".into()]),
        )
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(ok.authenticated, Some(true));
    assert_eq!(ok.audiences, Some(vec!["vault".to_string()]));
    let user = ok.user.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:team:app")
    );
    let sa = Api::<ServiceAccount>::namespaced(h.client(), "team")
        .get("app")
        .await
        .unwrap();
    assert_eq!(user.uid, sa.metadata.uid);
    assert!(
        user.groups
            .unwrap()
            .contains(&"system:serviceaccounts:team".to_string())
    );

    // The wrong audience, the API server's own (none given), a forged token: not authenticated.
    for (t, aud) in [
        (token.as_str(), vec!["sts.amazonaws.com".to_string()]),
        (token.as_str(), vec![]),
        ("eyJhbGciOiJub25lIn0.e30.", vec![]),
    ] {
        let status = reviews
            .create(&PostParams::default(), &review(t, aud))
            .await
            .unwrap()
            .status
            .unwrap();
        assert_ne!(status.authenticated, Some(true));
        assert!(
            status
                .error
                .is_some_and(|e| e.contains("invalid bearer token"))
        );
    }

    // Creating a TokenReview is itself authorized: a plain ServiceAccount may not.
    let nobody = h.client_for_token(&h.service_account_token("team", "nobody"));
    let (code, _, message) = status_of(
        Api::<TokenReview>::all(nobody)
            .create(&PostParams::default(), &review(&token, vec![]))
            .await,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "tokenreviews.authentication.k8s.io is forbidden: User \"system:serviceaccount:team:nobody\" cannot create resource \"tokenreviews\" in API group \"authentication.k8s.io\" at the cluster scope"
    );
}

#[tokio::test]
async fn rbac_grants_exactly_the_verbs_resources_names_and_namespaces_bound() {
    let h = harness::start().await;
    let app = team(&h).await;
    h.apply_yaml(TEAM_RBAC).unwrap();
    let team_secrets: Api<Secret> = Api::namespaced(app.clone(), "team");
    team_secrets.get("a").await.unwrap();
    let (code, reason, message) = status_of(team_secrets.get("b").await).await;
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        "secrets \"b\" is forbidden: User \"system:serviceaccount:team:app\" cannot get resource \"secrets\" in API group \"\" in the namespace \"team\""
    );
    // resourceNames never cover a list or a create.
    let (code, _, message) = status_of(team_secrets.list(&ListParams::default()).await).await;
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "secrets is forbidden: User \"system:serviceaccount:team:app\" cannot list resource \"secrets\" in API group \"\" in the namespace \"team\""
    );
    // ... but a list of that one name by field selector is (as kube-apiserver does).
    let one = team_secrets
        .list(&ListParams::default().fields("metadata.name=a"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    let (code, _, _) = status_of(
        team_secrets
            .create(&PostParams::default(), &secret("c"))
            .await,
    )
    .await;
    assert_eq!(code, 403);

    // The key namespace stays out of reach.
    let (code, _, message) = status_of(
        Api::<Secret>::namespaced(app.clone(), "kube-system")
            .get("sealed-secrets-key")
            .await,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "secrets \"sealed-secrets-key\" is forbidden: User \"system:serviceaccount:team:app\" cannot get resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
    );

    // Verbs: list but not get or delete on config maps.
    let cms: Api<ConfigMap> = Api::namespaced(app.clone(), "team");
    assert_eq!(
        cms.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    assert_eq!(status_of(cms.get("settings").await).await.0, 403);
    let (code, _, message) = status_of(
        cms.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await,
    )
    .await;
    assert_eq!(code, 403);
    assert!(
        message.contains("cannot deletecollection resource \"configmaps\""),
        "{message}"
    );

    // Cluster scope: a ClusterRoleBinding to the namespace's ServiceAccount group.
    let namespaces: Api<Namespace> = Api::all(app.clone());
    namespaces.get("team").await.unwrap();
    let (code, _, message) = status_of(namespaces.list(&ListParams::default()).await).await;
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "namespaces is forbidden: User \"system:serviceaccount:team:app\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
    );

    // Subresources with names: its own token, not another ServiceAccount's.
    let sas: Api<ServiceAccount> = Api::namespaced(app.clone(), "team");
    sas.create_token_request("app", &PostParams::default(), &TokenRequest::default())
        .await
        .unwrap();
    h.service_account_token("team", "other");
    let (code, _, message) = status_of(
        sas.create_token_request("other", &PostParams::default(), &TokenRequest::default())
            .await,
    )
    .await;
    assert_eq!(code, 403);
    assert!(
        message.contains("cannot create resource \"serviceaccounts/token\""),
        "{message}"
    );

    // A change of a Role applies to the next request.
    h.apply_yaml(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: app, namespace: team}\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [\"*\"]\n",
    )
    .unwrap();
    team_secrets
        .create(&PostParams::default(), &secret("c"))
        .await
        .unwrap();
    assert_eq!(
        team_secrets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    // Every write is recorded with its user.
    assert!(h.requests().iter().any(|r| r.verb == harness::Verb::Create
        && r.resource == "secrets"
        && r.user.as_deref() == Some("system:serviceaccount:team:app")));
    // Deleting the binding takes everything back.
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(h.client(), "team")
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(status_of(team_secrets.get("a").await).await.0, 403);
}

#[tokio::test]
async fn watches_are_authorized_when_they_start() {
    let h = harness::start().await;
    let app = team(&h).await;
    h.apply_yaml(TEAM_RBAC).unwrap();
    let team_secrets: Api<Secret> = Api::namespaced(app.clone(), "team");
    let err = team_secrets
        .watch(&WatchParams::default(), "0")
        .await
        .map(|_| ())
        .expect_err("watching all secrets is not granted");
    assert_eq!(api_error(err).code, 403);
    // The watch of the one named Secret is.
    let mut stream = team_secrets
        .watch(&WatchParams::default().fields("metadata.name=a"), "0")
        .await
        .unwrap()
        .boxed();
    let first = stream.try_next().await.unwrap().expect("an event");
    assert!(
        matches!(first, kube::api::WatchEvent::Added(s) if s.metadata.name.as_deref() == Some("a"))
    );
    // kube-rs's watcher: a forbidden list is an error it reports.
    let w = kube::runtime::watcher(
        Api::<Secret>::namespaced(app, "kube-system"),
        kube::runtime::watcher::Config::default(),
    );
    let first: Vec<_> = w.take(2).collect().await;
    assert!(first.iter().any(Result::is_err), "{first:?}");
}

#[tokio::test]
async fn the_service_proxy_is_authorized_as_services_proxy() {
    let h = harness::start().await;
    let app = team(&h).await;
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        let app =
            axum::Router::new().route("/v1/cert.pem", axum::routing::get(|| async { "CERT" }));
        axum::serve(upstream, app).await.unwrap();
    });
    h.register_service_proxy("kube-system", "sealed-secrets-controller", "8080", addr);
    let get = |client: Client| async move {
        let req = axum::http::Request::get(
            "/api/v1/namespaces/kube-system/services/sealed-secrets-controller:8080/proxy/v1/cert.pem",
        )
        .body(Vec::new())
        .unwrap();
        client.request_text(req).await
    };
    let (code, _, message) = status_of(get(app.clone()).await).await;
    assert_eq!(code, 403);
    assert!(
        message.contains("cannot get resource \"services/proxy\" in API group \"\" in the namespace \"kube-system\""),
        "{message}"
    );
    h.apply_yaml(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cert-reader, namespace: kube-system}
rules:
- apiGroups: [""]
  resources: [services/proxy]
  resourceNames: ["sealed-secrets-controller:8080"]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cert-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cert-reader}
subjects:
- {kind: Group, name: system:authenticated}
"#,
    )
    .unwrap();
    assert_eq!(get(app).await.unwrap(), "CERT");
}

#[tokio::test]
async fn access_reviews_answer_from_the_authorizer() {
    let h = harness::start().await;
    let app = team(&h).await;
    h.apply_yaml(TEAM_RBAC).unwrap();
    let attrs = |verb: &str, resource: &str, ns: &str, name: Option<&str>| ResourceAttributes {
        verb: Some(verb.into()),
        resource: Some(resource.into()),
        namespace: Some(ns.into()),
        name: name.map(str::to_string),
        ..Default::default()
    };
    let ssar = |a: ResourceAttributes| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(a),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(app.clone());
    let allowed = |a| {
        let reviews = reviews.clone();
        async move {
            reviews
                .create(&PostParams::default(), &ssar(a))
                .await
                .unwrap()
                .status
                .unwrap()
        }
    };
    let yes = allowed(attrs("get", "secrets", "team", Some("a"))).await;
    assert!(yes.allowed);
    assert_eq!(
        yes.reason.as_deref(),
        Some(
            "RBAC: allowed by RoleBinding \"app/team\" of Role \"app\" to ServiceAccount \"app/team\""
        )
    );
    assert!(
        !allowed(attrs("get", "secrets", "kube-system", Some("a")))
            .await
            .allowed
    );
    assert!(
        !allowed(attrs("list", "secrets", "team", None))
            .await
            .allowed
    );

    // SubjectAccessReview: the admin asks about someone else.
    let sar = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("system:serviceaccount:team:app".into()),
            groups: Some(vec!["system:serviceaccounts:team".into()]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some("get".into()),
                resource: Some("namespaces".into()),
                name: Some("team".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SubjectAccessReview>::all(h.client())
        .create(&PostParams::default(), &sar)
        .await
        .unwrap();
    assert!(answer.status.unwrap().allowed);
    // Without the group, the ClusterRoleBinding to it does not apply.
    let mut no_group = sar.clone();
    no_group.spec.groups = None;
    let answer = Api::<SubjectAccessReview>::all(h.client())
        .create(&PostParams::default(), &no_group)
        .await
        .unwrap();
    assert!(!answer.status.unwrap().allowed);

    // SelfSubjectRulesReview lists the namespace's rules.
    let rules = Api::<SelfSubjectRulesReview>::all(app)
        .create(
            &PostParams::default(),
            &SelfSubjectRulesReview {
                spec: SelfSubjectRulesReviewSpec {
                    namespace: Some("team".into()),
                },
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(rules.resource_rules.iter().any(|r| r.resources.as_deref()
        == Some(&["secrets".to_string()][..])
        && r.resource_names.as_deref() == Some(&["a".to_string()][..])));
}

#[tokio::test]
async fn role_bindings_must_name_a_role_that_never_changes() {
    let h = harness::start().await;
    create_namespace(&h.client(), "team").await;
    let err = h
        .apply_yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: x}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n",
        )
        .unwrap_err();
    assert!(err.to_string().contains("roleRef.kind"), "{err}");
    h.apply_yaml(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: x, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n",
    )
    .unwrap();
    let err = h
        .apply_yaml(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: x, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n",
        )
        .unwrap_err();
    assert!(err.to_string().contains("cannot change roleRef"), "{err}");
}

fn kubectl(h: &Harness, args: &[&str]) -> std::process::Output {
    std::process::Command::new("kubectl")
        .arg("--server")
        .arg(h.url())
        .args(args)
        .output()
        .expect("kubectl is installed (scripts/deps/harness.sh)")
}

/// kubectl with a kubeconfig for `token` (client-go sends tokens only over TLS: the harness's
/// HTTPS listener).
fn kubectl_as(
    h: &Harness,
    dir: &std::path::Path,
    token: &str,
    args: &[&str],
) -> std::process::Output {
    let path = dir.join(format!("kubeconfig-{}", args.len() + token.len()));
    h.write_kubeconfig_for_token(&path, token).unwrap();
    std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&path)
        .args(args)
        .output()
        .expect("kubectl is installed (scripts/deps/harness.sh)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_is_authorized_by_token_and_auth_can_i_answers_from_rbac() {
    let h = harness::start().await;
    team(&h).await;
    h.apply_yaml(TEAM_RBAC).unwrap();
    let token = h.service_account_token("team", "app");
    let dir = tempfile::tempdir().unwrap();
    let run = |token: &str, args: &[&str]| {
        tokio::task::block_in_place(|| kubectl_as(&h, dir.path(), token, args))
    };

    let out = run(&token, &["get", "secrets", "-n", "kube-system"]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error from server (Forbidden): secrets is forbidden: User \"system:serviceaccount:team:app\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\""),
        "{stderr}"
    );
    let out = run(&token, &["get", "secret", "a", "-n", "team", "-o", "name"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "secret/a");
    let out = run("garbage", &["get", "secrets"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"));

    let can_i = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        let out = run(&token, &all);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(can_i(&["get", "secrets", "-n", "kube-system"]), "no");
    assert_eq!(can_i(&["get", "secret/a", "-n", "team"]), "yes");
    assert_eq!(can_i(&["get", "secret/b", "-n", "team"]), "no");
    assert_eq!(can_i(&["list", "configmaps", "-n", "team"]), "yes");
    assert_eq!(
        can_i(&[
            "create",
            "serviceaccounts/app",
            "--subresource=token",
            "-n",
            "team"
        ]),
        "yes"
    );
    // The admin token can do anything.
    let admin = h.admin_token();
    let out = run(&admin, &["auth", "can-i", "delete", "secrets", "-A"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");
    let out = run(
        &admin,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "harness-admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_imperative_create_sends_protobuf_and_works() {
    let h = harness::start().await;
    let run = |args: &[&str]| {
        let out = tokio::task::block_in_place(|| kubectl(&h, args));
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    run(&["create", "namespace", "x"]);
    run(&[
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "x",
        "--from-literal=password=hunter2",
        "--type=Opaque",
    ]);
    run(&["create", "configmap", "c", "-n", "x", "--from-literal=k=v"]);
    run(&["create", "serviceaccount", "app", "-n", "x"]);
    run(&[
        "create",
        "role",
        "reader",
        "-n",
        "x",
        "--verb=get",
        "--resource=secrets",
        "--resource-name=s",
    ]);
    run(&[
        "create",
        "rolebinding",
        "reader",
        "-n",
        "x",
        "--role=reader",
        "--serviceaccount=x:app",
    ]);
    run(&[
        "create",
        "clusterrole",
        "ns-reader",
        "--verb=get,list",
        "--resource=namespaces",
    ]);
    run(&[
        "create",
        "clusterrolebinding",
        "ns-reader",
        "--clusterrole=ns-reader",
        "--group=system:serviceaccounts",
    ]);
    let token = run(&["create", "token", "app", "-n", "x", "--duration=20m"]);

    let admin = h.client();
    let s = Api::<Secret>::namespaced(admin.clone(), "x")
        .get("s")
        .await
        .unwrap();
    assert_eq!(s.data.unwrap()["password"].0, b"hunter2");
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    let c = Api::<ConfigMap>::namespaced(admin.clone(), "x")
        .get("c")
        .await
        .unwrap();
    assert_eq!(c.data.unwrap()["k"], "v");
    let ns = Api::<Namespace>::all(admin).get("x").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));

    // The token kubectl got, and the RBAC it created, work together.
    let app = h.client_for_token(token.trim());
    Api::<Secret>::namespaced(app.clone(), "x")
        .get("s")
        .await
        .unwrap();
    assert_eq!(
        status_of(
            Api::<Secret>::namespaced(app.clone(), "x")
                .list(&ListParams::default())
                .await
        )
        .await
        .0,
        403
    );
    Api::<Namespace>::all(app)
        .list(&ListParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_issuer_serves_its_openid_configuration_and_keys() {
    let h = harness::start().await;
    let http = reqwest::Client::new();
    let config: serde_json::Value = http
        .get(format!("{}/.well-known/openid-configuration", h.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["issuer"], h.token_issuer());
    let jwks: serde_json::Value = http
        .get(config["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    create_namespace(&h.client(), "team").await;
    let token = h.service_account_token("team", "app");
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], key["kid"]);
}

/// OpenBao's Kubernetes auth method against the harness: it parses the JWT, then asks the
/// harness's TokenReview (with a reviewer token bound to `system:auth-delegator`) whether it is
/// valid: the wire format of both is what real Vault and OpenBao expect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openbao_kubernetes_auth_logs_in_with_a_harness_service_account_token() {
    let h = harness::start().await;
    create_namespace(&h.client(), "team").await;
    h.apply_yaml(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: bao-reviewer}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}\nsubjects:\n- {kind: ServiceAccount, name: bao, namespace: kube-system}\n",
    )
    .unwrap();
    let reviewer = h.service_account_token("kube-system", "bao");
    let app = h.service_account_token_with("team", "app", &["bao"], Duration::from_secs(600));
    let other = h.service_account_token_with("team", "other", &["bao"], Duration::from_secs(600));
    let url = h.https_url().to_string();
    let ca = h.ca_pem().to_string();
    tokio::task::spawn_blocking(move || {
        use sealkit_tests::servers::OpenBao;
        let bao = OpenBao::start();
        bao.api(
            reqwest::Method::POST,
            "sys/auth/kubernetes",
            Some(&serde_json::json!({"type": "kubernetes"})),
        );
        bao.api(
            reqwest::Method::POST,
            "auth/kubernetes/config",
            Some(&serde_json::json!({
                "kubernetes_host": url,
                "kubernetes_ca_cert": ca,
                "token_reviewer_jwt": reviewer,
                "disable_local_ca_jwt": true,
            })),
        );
        bao.api(
            reqwest::Method::POST,
            "auth/kubernetes/role/app",
            Some(&serde_json::json!({
                "bound_service_account_names": ["app"],
                "bound_service_account_namespaces": ["team"],
                "audience": "bao",
            })),
        );
        let login = |jwt: &str| {
            reqwest::blocking::Client::new()
                .post(format!("{}/v1/auth/kubernetes/login", bao.url()))
                .json(&serde_json::json!({"role": "app", "jwt": jwt}))
                .send()
                .unwrap()
        };
        let ok = login(&app);
        assert!(
            ok.status().is_success(),
            "{}",
            ok.text().unwrap_or_default()
        );
        let body: serde_json::Value = ok.json().unwrap();
        assert_eq!(body["auth"]["metadata"]["service_account_name"], "app");
        assert_eq!(
            body["auth"]["metadata"]["service_account_namespace"],
            "team"
        );
        assert!(!login(&other).status().is_success());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_user_cannot_grant_or_bind_rights_they_do_not_hold() {
    let h = harness::start().await;
    let app = team(&h).await;
    h.apply_yaml(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: delegate, namespace: team}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, update, patch, get]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: delegate, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: delegate}
subjects: [{kind: ServiceAccount, name: app}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secret-reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list]}]
"#,
    )
    .unwrap();
    let yaml = |s: &str| serde_yaml_ng::from_str::<serde_json::Value>(s).unwrap();
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(app.clone(), "team");
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(app.clone(), "team");
    let role = |verbs: &str| {
        serde_json::from_value(yaml(&format!(
            "metadata: {{name: sub}}\nrules: [{{apiGroups: [\"\"], resources: [secrets], verbs: [{verbs}]}}]"
        )))
        .unwrap()
    };
    roles
        .create(&PostParams::default(), &role("get"))
        .await
        .unwrap();
    let (code, _, message) = status_of(
        roles
            .replace("sub", &PostParams::default(), &role("get, delete"))
            .await,
    )
    .await;
    assert_eq!(code, 403);
    assert!(
        message.starts_with("roles.rbac.authorization.k8s.io \"sub\" is forbidden: user \"system:serviceaccount:team:app\""),
        "{message}"
    );
    assert!(
        message.contains("attempting to grant RBAC permissions not currently held"),
        "{message}"
    );
    assert!(message.contains("Verbs:[\"delete\"]"), "{message}");

    let binding = |kind: &str, role: &str| {
        serde_json::from_value(yaml(&format!(
            "metadata: {{name: b-{role}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: {role}}}\nsubjects: [{{kind: ServiceAccount, name: other, namespace: team}}]"
        )))
        .unwrap()
    };
    // Binding a role whose rules one holds in the namespace is fine ...
    bindings
        .create(
            &PostParams::default(),
            &binding("ClusterRole", "secret-reader"),
        )
        .await
        .unwrap();
    // ... binding cluster-admin is not.
    let (code, _, message) = status_of(
        bindings
            .create(
                &PostParams::default(),
                &binding("ClusterRole", "cluster-admin"),
            )
            .await,
    )
    .await;
    assert_eq!(code, 403);
    assert!(message.contains("not currently held"), "{message}");
    // The admin may do both.
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(
        h.client_for_token(&h.admin_token()),
        "team",
    )
    .create(
        &PostParams::default(),
        &binding("ClusterRole", "cluster-admin"),
    )
    .await
    .unwrap();
}
