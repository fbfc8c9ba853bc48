//! GCP Secret Manager (external-secrets `providers/v1/gcp/secretmanager`), spoken as the REST
//! API v1 over `reqwest` (ESO uses the gRPC client; the calls are the same).
//!
//! - `remoteRef.key` is a secret ID; `version` is `latest` (unset) or a version number or
//!   alias: `GET v1/projects/P/secrets/S/versions/V:access`, the payload's bytes. With
//!   `location`, the regional endpoint `secretmanager.L.rep.googleapis.com` and the parent
//!   `projects/P/locations/L`. `secretVersionSelectionPolicy: LatestOrFetch` falls back to the
//!   newest enabled version when `latest` is disabled or destroyed.
//! - `property` is a key of the JSON payload (exact key first, then a gjson path).
//! - `metadataPolicy: Fetch` reads the secret's labels and annotations
//!   (`{"annotations":…,"labels":…}`, or `labels.k` / `annotations.k` / a label `k`).
//! - `find` lists the secrets (`filter` `name:<path>` or `labels.k=v …`, paged) and reads
//!   `latest` of each whose ID matches `name.regexp`.
//!
//! Authentication, in ESO's order: `auth.secretRef` (a service account key JSON: only
//! `type: service_account`; google-cloud-auth signs a self-signed JWT with it, AIP-4111, so no
//! token endpoint the key names is called), `auth.workloadIdentity` (GKE: a TokenRequest token
//! for the cluster's identity pool `P.svc.id.goog`, traded at
//! `securetoken.googleapis.com/v1/identitybindingtoken`, then, when the ServiceAccount has the
//! `iam.gke.io/gcp-service-account` annotation, IAM Credentials `generateAccessToken` for that
//! Google service account), `auth.workloadIdentityFederation` with `serviceAccountRef` (a
//! TokenRequest token with the selector's audiences traded at `sts.googleapis.com/v1/token` for
//! `audience`, then `generateAccessToken` for `gcpServiceAccountEmail` or the annotation; its
//! `credConfig` and `awsSecurityCredentials` modes are named in the store's condition), else the
//! bridge's own Application Default Credentials, for ClusterSecretStores only
//! ([`super::cloud_identity`]). Every call goes through the
//! [`egress`](super::egress) policy except the metadata server's, which only the bridge's own
//! configuration can name.

use std::collections::BTreeMap;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use sealer::secret::SecretBytes;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use super::cloud_identity::{ambient_allowed, service_account_annotations};
use super::egress::{FoundValues, read_json};
use super::service_account::{TokenSpec, request_token};
use super::{
    ProviderError, SecretMap, SecretsClient, StoreAccess, Validation, json_value_bytes,
    name_matcher, select_gjson,
};
use crate::externalsecrets::crd::{
    ExternalSecretFind, GcpWorkloadIdentity, GcpWorkloadIdentityFederation, GcpsmProvider,
    MetadataPolicy, RemoteRef,
};

pub use sealkit_cloud::EnvSnapshot;

/// Pages of a listing `find` reads at most (a hostile upstream could page forever).
pub const MAX_FIND_PAGES: usize = 200;

const SERVICE: &str = "gcp secretmanager";
const STS_SERVICE: &str = "gcp securetoken";
const STS_SERVICE_FEDERATION: &str = "gcp sts";
const IAM_SERVICE: &str = "gcp iamcredentials";
const METADATA_SERVICE: &str = "gcp metadata server";

/// The OAuth scope every token is asked for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The annotation naming the Google service account a Kubernetes ServiceAccount acts as.
pub const GCP_SERVICE_ACCOUNT_ANNOTATION: &str = "iam.gke.io/gcp-service-account";

/// Lifetime of the TokenRequest token traded for a Google token (ESO: 15 minutes).
pub const WORKLOAD_IDENTITY_EXPIRATION: i64 = 900;

/// Where the Google APIs are (`None`: Google's public endpoints), and the bridge's own Google
/// identity for ClusterSecretStores without `auth`.
#[derive(Debug, Clone, Default)]
pub struct GcpSettings {
    /// Secret Manager base URL instead of `https://secretmanager.googleapis.com` (and of the
    /// regional `https://secretmanager.<location>.rep.googleapis.com`).
    pub secret_manager_endpoint: Option<String>,
    /// Instead of `https://securetoken.googleapis.com` (GKE identity binding tokens).
    pub secure_token_endpoint: Option<String>,
    /// Instead of `https://iamcredentials.googleapis.com` (`generateAccessToken`).
    pub iam_credentials_endpoint: Option<String>,
    /// Instead of `https://sts.googleapis.com` (Workload Identity Federation).
    pub sts_endpoint: Option<String>,
    /// The metadata server's `host:port` (`GCE_METADATA_HOST`; else
    /// `metadata.google.internal`): cluster project, location and name for workload identity.
    pub metadata_host: Option<String>,
    /// The variables Application Default Credentials read (`GOOGLE_APPLICATION_CREDENTIALS`,
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`, `GCE_METADATA_HOST`…), taken from the bridge's environment
    /// at start.
    pub ambient: EnvSnapshot,
}

impl GcpSettings {
    /// Google's endpoints, the metadata host from `GCE_METADATA_HOST`, and the variables
    /// Application Default Credentials read from the bridge's environment.
    pub fn from_process_env() -> Self {
        let ambient = EnvSnapshot::from_vars(std::env::vars().filter(|(k, _)| {
            k.starts_with("GOOGLE_")
                || matches!(k.as_str(), "GCE_METADATA_HOST" | "HOME" | "CLOUDSDK_CONFIG")
        }));
        Self {
            metadata_host: ambient.get("GCE_METADATA_HOST").map(str::to_owned),
            ambient,
            ..Self::default()
        }
    }
}

/// A Secret Manager client for one store.
pub struct GcpClient {
    http: reqwest::Client,
    base: url::Url,
    /// `projects/P` or `projects/P/locations/L`.
    parent: String,
    fetch_latest_enabled: bool,
    token: SecretString,
}

impl GcpClient {
    /// Gets an access token for the store's identity.
    pub async fn connect(
        spec: &GcpsmProvider,
        access: &StoreAccess,
    ) -> Result<Self, ProviderError> {
        let settings = &access.settings.gcp;
        let fetch_latest_enabled = match spec.secret_version_selection_policy.as_deref() {
            None | Some("" | "LatestOrFail") => false,
            Some("LatestOrFetch") => true,
            Some(other) => {
                return Err(ProviderError::Config(format!(
                    "gcpsm.secretVersionSelectionPolicy {other:?} is not LatestOrFail or LatestOrFetch"
                )));
            }
        };
        let auth = spec.auth.as_ref();
        let project = nonempty(spec.project_id.as_deref());
        let (token, project) = if let Some(key) = auth.and_then(|a| a.secret_ref.as_ref()) {
            let Some(project) = project else {
                return Err(ProviderError::Config(
                    "unable to find ProjectID in storeSpec (gcpsm.projectID)".into(),
                ));
            };
            let json = access
                .read_text(&key.secret_access_key_secret_ref, None)
                .await?;
            (service_account_token(&json).await?, project.to_owned())
        } else if let Some(wi) = auth.and_then(|a| a.workload_identity.as_ref()) {
            workload_identity_token(wi, project, access).await?
        } else if let Some(wif) = auth.and_then(|a| a.workload_identity_federation.as_ref()) {
            let Some(project) = project else {
                return Err(ProviderError::Config(
                    "unable to find ProjectID in storeSpec (gcpsm.projectID)".into(),
                ));
            };
            (federation_token(wif, access).await?, project.to_owned())
        } else {
            ambient_allowed(access, "gcpsm without auth")?;
            let Some(project) = project else {
                return Err(ProviderError::Config(
                    "unable to find ProjectID in storeSpec (gcpsm.projectID)".into(),
                ));
            };
            let token = sealkit_cloud::gcp::access_token(&settings.ambient)
                .await
                .map_err(|e| ProviderError::Denied {
                    service: SERVICE,
                    message: crate::reconciler::chain(&e),
                })?;
            (token, project.to_owned())
        };
        check_segment("gcpsm.projectID", &project)?;
        let location = nonempty(spec.location.as_deref());
        if let Some(l) = location {
            check_segment("gcpsm.location", l)?;
        }
        let base = match (&settings.secret_manager_endpoint, location) {
            (Some(e), _) => e.clone(),
            (None, Some(l)) => format!("https://secretmanager.{l}.rep.googleapis.com"),
            (None, None) => "https://secretmanager.googleapis.com".to_owned(),
        };
        let base = parse_endpoint(&base, access)?;
        let parent = match location {
            Some(l) => format!("projects/{project}/locations/{l}"),
            None => format!("projects/{project}"),
        };
        Ok(Self {
            http: access.http.clone(),
            base,
            parent,
            fetch_latest_enabled,
            token,
        })
    }

    /// `GET {base}/v1/{path}` with the bearer token.
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ProviderError> {
        let mut url = self.base.clone();
        url.set_path(&format!("/v1/{path}"));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let resp = self
            .http
            .get(url.clone())
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| ProviderError::unreachable(SERVICE, &url, e))?;
        let status = resp.status().as_u16();
        let answer = read_json(resp, SERVICE).await?;
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        Err(google_error(SERVICE, status, &answer))
    }

    /// The bytes of one version of `secret` (`latest` when `version` is unset).
    async fn access_version(
        &self,
        secret: &str,
        version: Option<&str>,
    ) -> Result<SecretBytes, ProviderError> {
        check_segment("remoteRef.key", secret)?;
        let version = nonempty(version).unwrap_or("latest");
        check_segment("remoteRef.version", version)?;
        let name = format!("{}/secrets/{secret}/versions/{version}", self.parent);
        let answer = match self.get(&format!("{name}:access"), &[]).await {
            Err(ProviderError::Upstream { status: 404, .. }) => {
                return Err(ProviderError::NotFound {
                    key: secret.to_owned(),
                });
            }
            Err(ProviderError::Upstream {
                status: 400,
                message,
                ..
            }) if self.fetch_latest_enabled
                && version == "latest"
                && (message.contains("DISABLED state") || message.contains("DESTROYED state")) =>
            {
                return self.access_newest_enabled(secret).await;
            }
            other => other?,
        };
        payload(secret, &answer)
    }

    /// `LatestOrFetch`: the newest version whose state is `ENABLED`.
    async fn access_newest_enabled(&self, secret: &str) -> Result<SecretBytes, ProviderError> {
        let list = self
            .get(
                &format!("{}/secrets/{secret}/versions", self.parent),
                &[("filter", "state:ENABLED")],
            )
            .await?;
        let newest = list["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["state"] == "ENABLED")
            .filter_map(|v| {
                let name = v["name"].as_str()?;
                let number: u64 = name.rsplit('/').next()?.parse().ok()?;
                Some(number)
            })
            .max();
        let Some(number) = newest else {
            return Err(ProviderError::NotFound {
                key: secret.to_owned(),
            });
        };
        let name = format!("{}/secrets/{secret}/versions/{number}", self.parent);
        let answer = self.get(&format!("{name}:access"), &[]).await?;
        payload(secret, &answer)
    }

    async fn get_secret_value(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        if remote.metadata_policy == Some(MetadataPolicy::Fetch) {
            return self.metadata(remote).await;
        }
        let value = self
            .access_version(&remote.key, remote.version.as_deref())
            .await?;
        match nonempty(remote.property.as_deref()) {
            None => Ok(value),
            Some(property) => property_of(&remote.key, &value, property),
        }
    }

    /// `metadataPolicy: Fetch`: labels and annotations of the secret.
    async fn metadata(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        check_segment("remoteRef.key", &remote.key)?;
        let secret = match self
            .get(&format!("{}/secrets/{}", self.parent, remote.key), &[])
            .await
        {
            Err(ProviderError::Upstream { status: 404, .. }) => {
                return Err(ProviderError::NotFound {
                    key: remote.key.clone(),
                });
            }
            other => other?,
        };
        let labels = object_or_empty(&secret["labels"]);
        let annotations = object_or_empty(&secret["annotations"]);
        let Some(property) = nonempty(remote.property.as_deref()) else {
            let all = json!({"annotations": annotations, "labels": labels});
            return Ok(SecretBytes::new(all.to_string().into_bytes()));
        };
        let found = if let Some(k) = property.strip_prefix("annotations.") {
            annotations.get(k)
        } else if let Some(k) = property.strip_prefix("labels.") {
            labels.get(k)
        } else {
            labels.get(property).or_else(|| annotations.get(property))
        };
        found
            .map(json_value_bytes)
            .ok_or_else(|| ProviderError::MissingProperty {
                key: remote.key.clone(),
                property: property.to_owned(),
            })
    }

    async fn find(&self, find: &ExternalSecretFind) -> Result<SecretMap, ProviderError> {
        let matcher = name_matcher(find)?;
        let path = nonempty(find.path.as_deref());
        let mut filter = label_filter(&find.tags);
        if let Some(p) = path {
            if !filter.is_empty() {
                filter.push(' ');
            }
            filter.push_str(&format!("name:{p}"));
        }
        let mut names = Vec::new();
        let mut page_token = String::new();
        for page_number in 0.. {
            if page_number == MAX_FIND_PAGES {
                return Err(ProviderError::Answer {
                    service: SERVICE,
                    what: format!("more than {MAX_FIND_PAGES} pages of secrets"),
                });
            }
            let mut query = vec![("pageSize", "100")];
            if !filter.is_empty() {
                query.push(("filter", filter.as_str()));
            }
            if !page_token.is_empty() {
                query.push(("pageToken", page_token.as_str()));
            }
            let page = self
                .get(&format!("{}/secrets", self.parent), &query)
                .await?;
            for s in page["secrets"].as_array().into_iter().flatten() {
                let Some(id) = s["name"]
                    .as_str()
                    .and_then(|n| n.rsplit_once("/secrets/"))
                    .map(|(_, id)| id)
                else {
                    continue;
                };
                if path.is_some_and(|p| !id.starts_with(p))
                    || matcher.as_ref().is_some_and(|m| !m.is_match(id))
                {
                    continue;
                }
                let labels = object_or_empty(&s["labels"]);
                if find
                    .tags
                    .iter()
                    .all(|(k, v)| labels.get(k).and_then(Value::as_str) == Some(v.as_str()))
                {
                    names.push(id.to_owned());
                }
            }
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => page_token = t.to_owned(),
                _ => break,
            }
        }
        let mut found = FoundValues::default();
        for name in names {
            let fetched = self.access_version(&name, None).await;
            found.add(SERVICE, name, fetched)?;
        }
        Ok(found.into_map())
    }
}

impl SecretsClient for GcpClient {
    fn provider(&self) -> &'static str {
        "gcpsm"
    }

    fn get_secret<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretBytes, ProviderError>> {
        self.get_secret_value(remote).boxed()
    }

    fn get_all_secrets<'a>(
        &'a self,
        find: &'a ExternalSecretFind,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        self.find(find).boxed()
    }

    fn validate(&self) -> BoxFuture<'_, Result<Validation, ProviderError>> {
        // The token was obtained when connecting (ESO fetches one up front too).
        async { Ok(Validation::Ready) }.boxed()
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

fn object_or_empty(v: &Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// A path segment of a resource name: letters, digits, `-`, `_` and `.` only, so a tenant's
/// key cannot reach another resource or another host.
fn check_segment(what: &str, s: &str) -> Result<(), ProviderError> {
    if s.is_empty()
        || s.len() > 255
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || s == "."
        || s == ".."
    {
        return Err(ProviderError::Config(format!(
            "{what} {s:?} is not a valid resource name segment"
        )));
    }
    Ok(())
}

fn parse_endpoint(text: &str, access: &StoreAccess) -> Result<url::Url, ProviderError> {
    let url = url::Url::parse(text)
        .map_err(|_| ProviderError::Config(format!("invalid endpoint {text:?}")))?;
    access.settings.egress.check_url(&url)?;
    Ok(url)
}

/// The decoded `payload.data` of an `:access` answer.
fn payload(secret: &str, answer: &Value) -> Result<SecretBytes, ProviderError> {
    let data = answer["payload"]["data"].as_str().unwrap_or_default();
    sealer::encoding::decode_std(data)
        .map(SecretBytes::new)
        .map_err(|_| ProviderError::Answer {
            service: SERVICE,
            what: format!("the payload of secret {secret:?} is not base64"),
        })
}

/// A property of a JSON payload: an exact top-level key first, then a gjson path.
fn property_of(
    key: &str,
    value: &SecretBytes,
    property: &str,
) -> Result<SecretBytes, ProviderError> {
    let text = std::str::from_utf8(value.expose()).map_err(|_| ProviderError::MissingProperty {
        key: key.to_owned(),
        property: property.to_owned(),
    })?;
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if let Some(v) = parsed.as_object().and_then(|m| m.get(property)) {
        return Ok(json_value_bytes(v));
    }
    select_gjson(key, text, property)
}

/// A Google API error (`{"error":{"code","message","status"}}`) as a provider error.
fn google_error(service: &'static str, status: u16, answer: &Value) -> ProviderError {
    let code = answer["error"]["status"].as_str().unwrap_or_default();
    let message = answer["error"]["message"]
        .as_str()
        .or_else(|| answer["error_description"].as_str())
        .or_else(|| answer["error"].as_str())
        .unwrap_or("no error message");
    let message = if code.is_empty() {
        message.to_owned()
    } else {
        format!("{code}: {message}")
    };
    match status {
        401 | 403 => ProviderError::Denied { service, message },
        _ => ProviderError::Upstream {
            service,
            status,
            message,
        },
    }
}

/// A token from a service account key JSON (self-signed JWT, no network call).
async fn service_account_token(json: &SecretString) -> Result<SecretString, ProviderError> {
    let kind = serde_json::from_str::<Value>(json.expose_secret())
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned));
    match kind.as_deref() {
        Some("service_account") => {}
        Some(other) => {
            // Other credential files name token endpoints, local files or commands the
            // bridge would call or read: only the tenant's own key is accepted.
            return Err(ProviderError::Unsupported(format!(
                "gcpsm.auth.secretRef credentials of type {other:?} (only service_account keys)"
            )));
        }
        None => {
            return Err(ProviderError::Config(
                "gcpsm.auth.secretRef does not hold a service account key JSON".into(),
            ));
        }
    }
    sealkit_cloud::gcp::token_from_json(json.expose_secret(), "gcpsm.auth.secretRef")
        .await
        .map_err(|e| ProviderError::Config(crate::reconciler::chain(&e)))
}

/// GKE Workload Identity (ESO's `workload_identity.go`): the token and the secrets' project.
async fn workload_identity_token(
    wi: &GcpWorkloadIdentity,
    store_project: Option<&str>,
    access: &StoreAccess,
) -> Result<(SecretString, String), ProviderError> {
    let settings = &access.settings.gcp;
    let (namespace, annotations) =
        service_account_annotations(access, &wi.service_account_ref).await?;
    let mut metadata = None;
    let cluster_project = match nonempty(wi.cluster_project_id.as_deref()).or(store_project) {
        Some(p) => p.to_owned(),
        None => metadata_value(access, &mut metadata, "project/project-id").await?,
    };
    let cluster_location = match nonempty(wi.cluster_location.as_deref()) {
        Some(l) => l.to_owned(),
        None => {
            metadata_value(
                access,
                &mut metadata,
                "instance/attributes/cluster-location",
            )
            .await?
        }
    };
    let cluster_name = match nonempty(wi.cluster_name.as_deref()) {
        Some(n) => n.to_owned(),
        None => metadata_value(access, &mut metadata, "instance/attributes/cluster-name").await?,
    };
    for (what, v) in [
        ("clusterProjectID", &cluster_project),
        ("clusterLocation", &cluster_location),
        ("clusterName", &cluster_name),
    ] {
        check_segment(&format!("gcpsm.auth.workloadIdentity.{what}"), v)?;
    }
    let pool = format!("{cluster_project}.svc.id.goog");
    let mut audiences = vec![pool.clone()];
    audiences.extend(wi.service_account_ref.audiences.iter().cloned());
    let k8s_token = request_token(
        &access.client,
        &TokenSpec {
            namespace,
            name: wi.service_account_ref.name.clone(),
            audiences,
            expiration_seconds: WORKLOAD_IDENTITY_EXPIRATION,
        },
    )
    .await?;
    let sts = parse_endpoint(
        settings
            .secure_token_endpoint
            .as_deref()
            .unwrap_or("https://securetoken.googleapis.com"),
        access,
    )?;
    let mut url = sts.clone();
    url.set_path("/v1/identitybindingtoken");
    let body = json!({
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject_token": k8s_token.expose_secret(),
        "audience": format!(
            "identitynamespace:{pool}:https://container.googleapis.com/v1/projects/{cluster_project}/locations/{cluster_location}/clusters/{cluster_name}"
        ),
        "scope": SCOPE,
    });
    let resp = access
        .http
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .map_err(|e| ProviderError::unreachable(STS_SERVICE, &url, e))?;
    let status = resp.status().as_u16();
    let answer = read_json(resp, STS_SERVICE).await?;
    if !(200..300).contains(&status) {
        return Err(ProviderError::Denied {
            service: STS_SERVICE,
            message: format!("could not get idbindtoken token, status: {status}"),
        });
    }
    let Some(binding) = answer["access_token"].as_str().filter(|t| !t.is_empty()) else {
        return Err(ProviderError::Answer {
            service: STS_SERVICE,
            what: "no access_token".into(),
        });
    };
    let binding = SecretString::from(binding.to_owned());
    let project = store_project.unwrap_or(&cluster_project).to_owned();
    let Some(email) = annotations
        .get(GCP_SERVICE_ACCOUNT_ANNOTATION)
        .filter(|e| !e.is_empty())
    else {
        return Ok((binding, project));
    };
    let token = impersonate(access, &binding, email, json!({"scope": [SCOPE]})).await?;
    Ok((token, project))
}

/// IAM Credentials `generateAccessToken` for `email`, authorized by `bearer`.
async fn impersonate(
    access: &StoreAccess,
    bearer: &SecretString,
    email: &str,
    body: Value,
) -> Result<SecretString, ProviderError> {
    if !email
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_'))
    {
        return Err(ProviderError::Config(format!(
            "{email:?} is not a service account email"
        )));
    }
    let iam = parse_endpoint(
        access
            .settings
            .gcp
            .iam_credentials_endpoint
            .as_deref()
            .unwrap_or("https://iamcredentials.googleapis.com"),
        access,
    )?;
    let mut url = iam.clone();
    url.set_path(&format!(
        "/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
    ));
    let resp = access
        .http
        .post(url.clone())
        .bearer_auth(bearer.expose_secret())
        .json(&body)
        .send()
        .await
        .map_err(|e| ProviderError::unreachable(IAM_SERVICE, &url, e))?;
    let status = resp.status().as_u16();
    let answer = read_json(resp, IAM_SERVICE).await?;
    if !(200..300).contains(&status) {
        return Err(match google_error(IAM_SERVICE, status, &answer) {
            ProviderError::Denied { service, message } => ProviderError::Denied {
                service,
                message: format!("unable to generate gcp access token: {message}"),
            },
            other => other,
        });
    }
    match answer["accessToken"].as_str().filter(|t| !t.is_empty()) {
        Some(t) => Ok(SecretString::from(t.to_owned())),
        None => Err(ProviderError::Answer {
            service: IAM_SERVICE,
            what: "no accessToken".into(),
        }),
    }
}

/// Workload Identity Federation with a ServiceAccount token (ESO's
/// `workload_identity_federation.go`, `serviceAccountRef` mode): a TokenRequest token with the
/// selector's audiences only (as ESO), traded at Google's STS (RFC 8693, form-encoded) for
/// `audience`, then `generateAccessToken` when a Google service account is named.
async fn federation_token(
    wif: &GcpWorkloadIdentityFederation,
    access: &StoreAccess,
) -> Result<SecretString, ProviderError> {
    let Some(sa) = &wif.service_account_ref else {
        return Err(ProviderError::Unsupported(
            "gcpsm.auth.workloadIdentityFederation without serviceAccountRef (credConfig, \
             awsSecurityCredentials)"
                .into(),
        ));
    };
    let Some(audience) = nonempty(wif.audience.as_deref()) else {
        return Err(ProviderError::Config(
            "gcpsm.auth.workloadIdentityFederation.audience is required with serviceAccountRef"
                .into(),
        ));
    };
    let (namespace, annotations) = service_account_annotations(access, sa).await?;
    let subject = request_token(
        &access.client,
        &TokenSpec {
            namespace,
            name: sa.name.clone(),
            audiences: sa.audiences.clone(),
            expiration_seconds: WORKLOAD_IDENTITY_EXPIRATION,
        },
    )
    .await?;
    let sts = parse_endpoint(
        access
            .settings
            .gcp
            .sts_endpoint
            .as_deref()
            .unwrap_or("https://sts.googleapis.com"),
        access,
    )?;
    let mut url = sts.clone();
    url.set_path("/v1/token");
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("audience", audience),
        ("scope", SCOPE),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("subject_token", subject.expose_secret()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
    ];
    let resp = access
        .http
        .post(url.clone())
        .form(&form)
        .send()
        .await
        .map_err(|e| ProviderError::unreachable(STS_SERVICE_FEDERATION, &url, e))?;
    let status = resp.status().as_u16();
    let answer = read_json(resp, STS_SERVICE_FEDERATION).await?;
    if !(200..300).contains(&status) {
        let message = answer["error_description"]
            .as_str()
            .or_else(|| answer["error"].as_str())
            .unwrap_or("no error message");
        return Err(ProviderError::Denied {
            service: STS_SERVICE_FEDERATION,
            message: format!("token exchange failed (http {status}): {message}"),
        });
    }
    let Some(federated) = answer["access_token"].as_str().filter(|t| !t.is_empty()) else {
        return Err(ProviderError::Answer {
            service: STS_SERVICE_FEDERATION,
            what: "no access_token".into(),
        });
    };
    let federated = SecretString::from(federated.to_owned());
    let email = nonempty(wif.gcp_service_account_email.as_deref()).or_else(|| {
        nonempty(
            annotations
                .get(GCP_SERVICE_ACCOUNT_ANNOTATION)
                .map(String::as_str),
        )
    });
    match email {
        None => Ok(federated),
        Some(email) => {
            impersonate(
                access,
                &federated,
                email,
                json!({"lifetime": "3600s", "scope": [SCOPE]}),
            )
            .await
        }
    }
}

/// One value of the metadata server (`computeMetadata/v1/<path>`), for cluster facts a
/// workload identity store leaves out.
async fn metadata_value(
    access: &StoreAccess,
    client: &mut Option<reqwest::Client>,
    path: &str,
) -> Result<String, ProviderError> {
    let host = access
        .settings
        .gcp
        .metadata_host
        .as_deref()
        .unwrap_or("metadata.google.internal");
    let url = url::Url::parse(&format!("http://{host}/computeMetadata/v1/{path}"))
        .map_err(|_| ProviderError::Config(format!("invalid metadata host {host:?}")))?;
    // The metadata server is link-local on Google Cloud, and only the bridge's own settings
    // name it: the only call allowed there.
    if client.is_none() {
        *client = Some(
            super::egress::Egress::new(true)
                .client(None, Some(std::time::Duration::from_secs(5)))?,
        );
    }
    let http = client.as_ref().expect("set above");
    let resp = http
        .get(url.clone())
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .map_err(|e| ProviderError::unreachable(METADATA_SERVICE, &url, e))?;
    let status = resp.status().as_u16();
    let body = super::egress::read_body(resp, METADATA_SERVICE, 4096).await?;
    let text = String::from_utf8(body).unwrap_or_default();
    if status != 200 || text.trim().is_empty() {
        return Err(ProviderError::Config(format!(
            "gcpsm workload identity: the metadata server has no {path} (set clusterProjectID, \
             clusterLocation and clusterName)"
        )));
    }
    Ok(text.trim().to_owned())
}

/// `find.tags` as a list filter (`labels.k=v` pairs, all required).
fn label_filter(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("labels.{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::externalsecrets::crd::{GcpsmAuth, GcpsmSecretRef, SecretKeySelector};
    use crate::externalsecrets::providers::testing::{
        MockApi, cluster_store_access, secret_store_access,
    };

    #[tokio::test]
    async fn a_secret_store_without_auth_may_not_use_the_bridge_identity() {
        let (client, seen) = MockApi::default().client();
        let spec = GcpsmProvider {
            project_id: Some("p".into()),
            ..Default::default()
        };
        let err = GcpClient::connect(&spec, &secret_store_access(client, "apps"))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ProviderError::Unsupported(_)), "{err}");
        assert!(
            err.to_string().contains("only ClusterSecretStores"),
            "{err}"
        );
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn credential_files_other_than_service_account_keys_are_refused() {
        let external = r#"{"type":"external_account","token_url":"http://169.254.169.254/","credential_source":{"file":"/var/run/secrets/kubernetes.io/serviceaccount/token"}}"#;
        let (client, _) = MockApi::default()
            .secret("apps", "gcp", &[("key.json", external)])
            .client();
        let spec = GcpsmProvider {
            project_id: Some("p".into()),
            auth: Some(GcpsmAuth {
                secret_ref: Some(GcpsmSecretRef {
                    secret_access_key_secret_ref: SecretKeySelector {
                        name: "gcp".into(),
                        namespace: None,
                        key: Some("key.json".into()),
                    },
                }),
                workload_identity: None,
                workload_identity_federation: None,
            }),
            ..Default::default()
        };
        let err = GcpClient::connect(&spec, &cluster_store_access(client, "apps", &["apps"]))
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("of type \"external_account\""),
            "{err}"
        );
    }

    #[test]
    fn keys_versions_and_projects_cannot_leave_their_path_segment() {
        for bad in ["a/b", "..", "x?y", "a#b", "", "s p"] {
            assert!(check_segment("remoteRef.key", bad).is_err(), "{bad}");
        }
        for good in ["db-password", "latest", "12", "my_secret.v2"] {
            assert!(check_segment("remoteRef.key", good).is_ok(), "{good}");
        }
        let tags = BTreeMap::from([
            ("env".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "a".to_owned()),
        ]);
        assert_eq!(label_filter(&tags), "labels.env=prod labels.team=a");
    }

    #[test]
    fn unimplemented_esos_fields_are_kept_and_named() {
        use crate::externalsecrets::crd::SecretStoreSpec;
        let spec: SecretStoreSpec = serde_json::from_value(json!({"provider": {
            "gcpsm": {"projectID": "p", "auth": {"workloadIdentityFederation": {
                "audience": "x", "credConfig": {"name": "c", "key": "k"},
            }}},
        }}))
        .unwrap();
        assert_eq!(
            spec.unsupported.paths(),
            ["spec.provider.gcpsm.auth.workloadIdentityFederation.credConfig"]
        );
        let spec: SecretStoreSpec = serde_json::from_value(json!({"provider": {
            "azurekv": {"vaultUrl": "https://v.vault.azure.net", "environmentType": "AzureStackCloud",
                        "customCloudConfig": {"activeDirectoryEndpoint": "https://login.local"}},
        }}))
        .unwrap();
        assert_eq!(
            spec.unsupported.paths(),
            ["spec.provider.azurekv.customCloudConfig"]
        );
    }

    #[test]
    fn google_errors_keep_their_status_name_and_denials_are_denied() {
        let answer = json!({"error": {"code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED"}});
        assert!(matches!(
            google_error(SERVICE, 403, &answer),
            ProviderError::Denied { message, .. } if message == "PERMISSION_DENIED: Permission denied"
        ));
        assert!(matches!(
            google_error(
                SERVICE,
                400,
                &json!({"error": {"status": "FAILED_PRECONDITION", "message": "Secret Version [x] is in DISABLED state."}})
            ),
            ProviderError::Upstream { status: 400, .. }
        ));
    }
}
