//! AWS credentials of a store (external-secrets `providers/v1/aws/auth/auth.go`), resolved
//! through `sealkit_cloud::aws` (aws-config and aws-sdk-sts) without touching the process
//! environment.
//!
//! The first credentials come from, in ESO's order:
//! 1. `auth.jwt.serviceAccountRef`: the ServiceAccount's `eks.amazonaws.com/role-arn`
//!    annotation (required) and a TokenRequest token for it with the audience of its
//!    `eks.amazonaws.com/audience` annotation or `sts.amazonaws.com` (then the selector's
//!    audiences), exchanged by an unsigned `AssumeRoleWithWebIdentity`;
//! 2. `auth.secretRef`: static access keys from Secrets;
//! 3. the bridge's own (ambient) AWS identity, the SDKs' default chain over the bridge's
//!    environment: **only for a ClusterSecretStore**, which only the cluster's operators can
//!    write. A namespaced SecretStore without `auth` is refused (ESO lends it the controller's
//!    identity: any namespace could read whatever the controller's role can).
//!
//! Then each of `additionalRoles` is assumed in order, and `role` last with `externalID`,
//! `sessionTags` and `transitiveTagKeys` (900 s, as ESO). Every STS call of a tenant's store
//! goes through the [`egress`](super::egress) client; the endpoints come from the bridge's
//! `AWS_ENDPOINT_URL[_STS]` (or ESO's `AWS_STS_ENDPOINT`).

use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use sealkit_cloud::EnvSnapshot;
use sealkit_cloud::aws::{AssumeRole, AwsIdentity, AwsSession, Credentials};

use super::service_account::{TokenSpec, request_token};
use super::{ProviderError, StoreAccess};
use crate::externalsecrets::crd::AwsProvider;

/// The annotation naming the role of a ServiceAccount (EKS IRSA).
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The annotation overriding the token audience (EKS IRSA).
pub const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
/// The default audience of web identity tokens.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// The session name of `AssumeRoleWithWebIdentity` (ESO's).
pub const WEB_IDENTITY_SESSION: &str = "external-secrets-provider-aws";
/// Lifetime of the web identity token (the API server's default).
const WEB_IDENTITY_TOKEN_EXPIRATION: i64 = 3600;
/// `DurationSeconds` of each AssumeRole (ESO's).
const ROLE_DURATION: Duration = Duration::from_secs(900);

/// The variables of the bridge's environment that choose endpoints: all a tenant's store
/// sees of it.
const ENDPOINT_VARIABLES: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
];

/// The bridge's AWS environment from its process variables: every `AWS_*` variable, with
/// ESO's `AWS_STS_ENDPOINT` and `AWS_SSM_ENDPOINT` as `AWS_ENDPOINT_URL_STS` /
/// `AWS_ENDPOINT_URL_SSM` where those are unset.
pub fn bridge_env(vars: impl IntoIterator<Item = (String, String)>) -> EnvSnapshot {
    let mut env = EnvSnapshot::from_vars(vars.into_iter().filter(|(k, _)| k.starts_with("AWS_")));
    for (eso, sdk) in [
        ("AWS_STS_ENDPOINT", "AWS_ENDPOINT_URL_STS"),
        ("AWS_SSM_ENDPOINT", "AWS_ENDPOINT_URL_SSM"),
    ] {
        if env.get(sdk).is_none()
            && let Some(v) = env.get(eso).map(str::to_owned)
        {
            env.set(sdk, &v);
        }
    }
    env
}

/// The endpoint variables of `env` only.
pub fn endpoint_env(env: &EnvSnapshot) -> EnvSnapshot {
    EnvSnapshot::from_vars(
        ENDPOINT_VARIABLES
            .iter()
            .filter_map(|name| env.get(name).map(|v| (*name, v.to_owned()))),
    )
}

/// The credentials of a store, after its role chain.
pub async fn credentials(
    spec: &AwsProvider,
    access: &StoreAccess,
) -> Result<Credentials, ProviderError> {
    let bridge_env = &access.settings.aws_env;
    let auth = spec.auth.as_ref();
    let (identity, session) = if let Some(jwt) = auth.and_then(|a| a.jwt.as_ref()) {
        let Some(sa) = &jwt.service_account_ref else {
            return Err(ProviderError::Config(
                "aws.auth.jwt needs serviceAccountRef".into(),
            ));
        };
        let namespace = access.namespace_of(sa.namespace.as_deref())?;
        let fail = |reason: String| ProviderError::ServiceAccountToken {
            namespace: namespace.clone(),
            name: sa.name.clone(),
            reason,
        };
        let api: Api<ServiceAccount> = Api::namespaced(access.client.clone(), &namespace);
        let account = match api.get_opt(&sa.name).await {
            Ok(Some(a)) => a,
            Ok(None) => return Err(fail("serviceaccount not found".into())),
            Err(kube::Error::Api(s)) => return Err(fail(format!("http {} {}", s.code, s.reason))),
            Err(_) => return Err(fail("kubernetes api call failed".into())),
        };
        let annotations = account.metadata.annotations.unwrap_or_default();
        let Some(role_arn) = annotations
            .get(ROLE_ARN_ANNOTATION)
            .filter(|r| !r.trim().is_empty())
        else {
            return Err(ProviderError::Config(format!(
                "an IAM role must be associated with service account {} (namespace: {namespace}): annotation {ROLE_ARN_ANNOTATION} is missing",
                sa.name
            )));
        };
        let mut audiences = vec![
            annotations
                .get(AUDIENCE_ANNOTATION)
                .filter(|a| !a.is_empty())
                .cloned()
                .unwrap_or_else(|| STS_AUDIENCE.to_owned()),
        ];
        audiences.extend(sa.audiences.iter().cloned());
        let token = request_token(
            &access.client,
            &TokenSpec {
                namespace: namespace.clone(),
                name: sa.name.clone(),
                audiences,
                expiration_seconds: WEB_IDENTITY_TOKEN_EXPIRATION,
            },
        )
        .await?;
        (
            AwsIdentity::WebIdentity {
                role_arn: role_arn.trim().to_owned(),
                token,
                session_name: WEB_IDENTITY_SESSION.to_owned(),
            },
            tenant_session(spec, access),
        )
    } else if let Some(keys) = auth.and_then(|a| a.secret_ref.as_ref()) {
        let access_key_id = access.read_text(&keys.access_key_id, None).await?;
        let secret_access_key = access.read_text(&keys.secret_access_key, None).await?;
        let session_token = match &keys.session_token {
            Some(sel) => Some(access.read_text(sel, None).await?),
            None => None,
        };
        (
            AwsIdentity::Static {
                access_key_id: secrecy::ExposeSecret::expose_secret(&access_key_id).to_owned(),
                secret_access_key,
                session_token,
            },
            tenant_session(spec, access),
        )
    } else if access.store_namespace.is_none() {
        // A ClusterSecretStore: the bridge's own identity (its environment, profile, web
        // identity file, container or instance credentials). These endpoints are the
        // operator's, so the unrestricted client is used (IMDS and Pod Identity are
        // link-local).
        let http = sealkit_cloud::http::shared()
            .map_err(|_| ProviderError::Config("cannot build an http client".into()))?;
        (
            AwsIdentity::DefaultChain { profile: None },
            AwsSession::new(&spec.region, bridge_env.clone(), http),
        )
    } else {
        return Err(ProviderError::Config(
            "a SecretStore needs aws.auth (secretRef or jwt): the bridge's own AWS identity is lent only to ClusterSecretStores"
                .into(),
        ));
    };
    let roles = role_chain(spec);
    session
        .credentials(&identity, &roles)
        .await
        .map_err(|e| ProviderError::Denied {
            service: "aws sts",
            message: chain_line(&e),
        })
}

/// A session for a tenant's credentials: the bridge's endpoint variables only, the egress
/// client.
fn tenant_session(spec: &AwsProvider, access: &StoreAccess) -> AwsSession {
    AwsSession::new(
        &spec.region,
        endpoint_env(&access.settings.aws_env),
        access.http.clone(),
    )
}

/// `additionalRoles` in order, then `role` with `externalID` and the session tags.
pub fn role_chain(spec: &AwsProvider) -> Vec<AssumeRole> {
    let session_name = format!(
        "sealkit-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    );
    let mut roles: Vec<AssumeRole> = spec
        .additional_roles
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| AssumeRole {
            role_arn: r.clone(),
            session_name: session_name.clone(),
            duration: Some(ROLE_DURATION),
            ..Default::default()
        })
        .collect();
    if let Some(role) = spec.role.as_deref().filter(|r| !r.is_empty()) {
        roles.push(AssumeRole {
            role_arn: role.to_owned(),
            session_name,
            external_id: spec.external_id.clone().filter(|e| !e.is_empty()),
            duration: Some(ROLE_DURATION),
            tags: spec
                .session_tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            transitive_tag_keys: spec.transitive_tag_keys.clone(),
        });
    }
    roles
}

/// An error and its causes on one line (each cause once).
fn chain_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::externalsecrets::crd::{AwsAuth, AwsJwtAuth, AwsTag, ServiceAccountSelector};
    use crate::externalsecrets::providers::ProviderSettings;
    use crate::externalsecrets::providers::testing::{MockApi, secret_store_access, serve};

    /// An STS stand-in answering `AssumeRoleWithWebIdentity`; records each form body and
    /// whether the request was signed.
    async fn sts() -> (String, Arc<Mutex<Vec<(String, bool)>>>) {
        let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |headers: axum::http::HeaderMap, body: String| {
                let log = log.clone();
                async move {
                    log.lock()
                        .unwrap()
                        .push((body, headers.contains_key("authorization")));
                    (
                        [("content-type", "text/xml")],
                        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIATESTIRSA</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/irsa/x</Arn><AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"#,
                    )
                }
            },
        );
        let addr = serve(app).await;
        (format!("http://{addr}"), seen)
    }

    fn irsa_spec(sa: &str) -> AwsProvider {
        AwsProvider {
            service: "SecretsManager".into(),
            region: "us-east-1".into(),
            auth: Some(AwsAuth {
                secret_ref: None,
                jwt: Some(AwsJwtAuth {
                    service_account_ref: Some(ServiceAccountSelector {
                        name: sa.into(),
                        namespace: None,
                        audiences: vec!["extra".into()],
                    }),
                }),
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn irsa_requests_a_token_for_the_sts_audience_and_exchanges_it_unsigned_for_the_annotated_role()
     {
        let (url, sts_seen) = sts().await;
        let (client, api_seen) = MockApi::default()
            .annotated_service_account(
                "apps",
                "eso",
                "minted-jwt",
                &[(ROLE_ARN_ANNOTATION, "arn:aws:iam::123456789012:role/irsa")],
            )
            .annotated_service_account(
                "apps",
                "custom",
                "custom-jwt",
                &[
                    (ROLE_ARN_ANNOTATION, "arn:aws:iam::123456789012:role/irsa"),
                    (AUDIENCE_ANNOTATION, "my-audience"),
                ],
            )
            .service_account("apps", "bare", "bare-jwt")
            .client();
        let mut access = secret_store_access(client, "apps");
        access.settings = Arc::new(ProviderSettings {
            aws_env: EnvSnapshot::from_vars([("AWS_ENDPOINT_URL_STS", url.as_str())]),
            ..Default::default()
        });
        let creds = credentials(&irsa_spec("eso"), &access).await.unwrap();
        assert_eq!(creds.access_key_id(), "ASIATESTIRSA");
        credentials(&irsa_spec("custom"), &access).await.unwrap();
        let err = credentials(&irsa_spec("bare"), &access).await.unwrap_err();
        assert!(err.to_string().contains(ROLE_ARN_ANNOTATION), "{err}");

        let requests: Vec<serde_json::Value> = api_seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _)| m == "POST" && p.ends_with("/token"))
            .map(|(_, _, b)| b["spec"].clone())
            .collect();
        assert_eq!(
            requests.len(),
            2,
            "no token is asked for without the role annotation"
        );
        assert_eq!(
            requests[0]["audiences"],
            serde_json::json!(["sts.amazonaws.com", "extra"])
        );
        assert_eq!(
            requests[1]["audiences"],
            serde_json::json!(["my-audience", "extra"])
        );
        let sts_seen = sts_seen.lock().unwrap();
        assert_eq!(sts_seen.len(), 2);
        let (form, signed) = &sts_seen[0];
        assert!(!signed, "AssumeRoleWithWebIdentity is unsigned");
        let form: std::collections::BTreeMap<String, String> =
            url::form_urlencoded::parse(form.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(form["Action"], "AssumeRoleWithWebIdentity");
        assert_eq!(form["RoleArn"], "arn:aws:iam::123456789012:role/irsa");
        assert_eq!(form["RoleSessionName"], WEB_IDENTITY_SESSION);
        assert_eq!(form["WebIdentityToken"], "minted-jwt");
    }

    #[test]
    fn additional_roles_come_before_the_role_which_alone_carries_external_id_and_tags() {
        let spec = AwsProvider {
            role: Some("arn:aws:iam::1:role/last".into()),
            additional_roles: vec![
                "arn:aws:iam::1:role/a".into(),
                "arn:aws:iam::1:role/b".into(),
            ],
            external_id: Some("ext".into()),
            session_tags: vec![AwsTag {
                key: "team".into(),
                value: "a".into(),
            }],
            transitive_tag_keys: vec!["team".into()],
            ..Default::default()
        };
        let chain = role_chain(&spec);
        let arns: Vec<&str> = chain.iter().map(|r| r.role_arn.as_str()).collect();
        assert_eq!(
            arns,
            [
                "arn:aws:iam::1:role/a",
                "arn:aws:iam::1:role/b",
                "arn:aws:iam::1:role/last"
            ]
        );
        assert!(
            chain[..2]
                .iter()
                .all(|r| r.external_id.is_none() && r.tags.is_empty())
        );
        assert_eq!(chain[2].external_id.as_deref(), Some("ext"));
        assert_eq!(chain[2].tags, [("team".to_owned(), "a".to_owned())]);
        assert_eq!(chain[2].transitive_tag_keys, ["team"]);
        assert!(chain.iter().all(|r| r.duration == Some(ROLE_DURATION)));
    }

    #[test]
    fn a_tenant_store_sees_only_the_bridges_endpoint_variables() {
        let env = EnvSnapshot::from_vars([
            ("AWS_ACCESS_KEY_ID", "AKIABRIDGE"),
            ("AWS_SECRET_ACCESS_KEY", "bridge-secret"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"),
        ]);
        let only = endpoint_env(&env);
        assert_eq!(only.get("AWS_ENDPOINT_URL_STS"), Some("http://127.0.0.1:1"));
        for name in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ] {
            assert_eq!(only.get(name), None, "{name}");
        }
    }
}
