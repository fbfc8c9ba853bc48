//! Azure Key Vault (external-secrets `providers/v1/azure/keyvault`), spoken as the Key Vault
//! REST API (`api-version=7.4`) over `reqwest`, with Microsoft Entra ID tokens from
//! `azure_identity` (through `sealkit_cloud::azure`).
//!
//! - `remoteRef.key` is `[secret/|key/|cert/]<name>` (`secret/` when there is no prefix),
//!   `version` a version ID (the latest when unset):
//!   - `secret/`: `GET {vault}/secrets/<name>/<version>`, its `value`; `property` is a key of
//!     a JSON value (exact key first, then a gjson path);
//!   - `key/`: `GET {vault}/keys/<name>/<version>`, the JSON of its public JWK (`key`, members
//!     in the order ESO's Go SDK writes them); `property` selects a member such as `n`;
//!   - `cert/`: `GET {vault}/certificates/<name>/<version>`, the DER bytes of `cer`.
//! - `metadataPolicy: Fetch` (secrets): the secret's tags as JSON, or one tag (`property`).
//! - `find`: `GET {vault}/secrets` (paged by `nextLink`, which must stay on the vault's
//!   origin), enabled secrets whose name matches `name.regexp` and whose tags equal
//!   `find.tags`, then each one's value.
//!
//! Authentication (`authType`): `ServicePrincipal` (client ID and a client secret or a PEM
//! client certificate, from Secrets; tenant from `authSecretRef.tenantId` or `tenantId`),
//! `WorkloadIdentity` (with `serviceAccountRef`: a TokenRequest token for audience
//! `api://AzureADTokenExchange` as the client assertion, client ID from `authSecretRef.clientId`
//! or the ServiceAccount's `azure.workload.identity/client-id` annotation; without it, the
//! bridge's own federated token file), `ManagedIdentity` (the bridge's managed identity,
//! `identityId` for a user-assigned one). The last two without a ServiceAccount are the
//! bridge's own identity: ClusterSecretStores only ([`super::cloud_identity`]). The token
//! endpoint is the v2.0 one with scope `<vault resource>/.default` (what ESO's `useAzureSDK`
//! sends; its default legacy path asks the v1 endpoint for the same token). `vaultUrl` must be
//! `https` (a bearer token is sent to it). Calls go through the [`egress`](super::egress)
//! policy, except managed identity's, which only the bridge's environment can point.

use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use sealer::secret::SecretBytes;
use sealkit_cloud::azure::{AzureIdentity, ClientCertificate};
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
    AzureAuthType, AzureEnvironment, AzureKvProvider, ExternalSecretFind, MetadataPolicy, RemoteRef,
};

/// Pages of a listing `find` reads at most (a hostile upstream could page forever).
pub const MAX_FIND_PAGES: usize = 200;

const SERVICE: &str = "azure keyvault";
const ENTRA: &str = "azure entra id";

/// The Key Vault REST API version sent.
pub const API_VERSION: &str = "7.4";

/// Audience of the ServiceAccount token used as a federated client assertion.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Annotation naming the client ID of a workload identity.
pub const CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";

/// Annotation naming the tenant ID of a workload identity.
pub const TENANT_ID_ANNOTATION: &str = "azure.workload.identity/tenant-id";

/// Lifetime asked for the workload identity TokenRequest (ESO leaves the API server's
/// default, one hour).
pub const WORKLOAD_IDENTITY_EXPIRATION: i64 = 3600;

/// The bridge's Azure settings.
#[derive(Debug, Clone, Default)]
pub struct AzureSettings {
    /// Entra ID authority instead of the one of the store's `environmentType`
    /// (`AZURE_AUTHORITY_HOST`; https only, as azure_identity requires).
    pub authority_host: Option<String>,
    /// Extra PEM CA certificates trusted for the authority and the vaults (a private cloud's,
    /// or a test's).
    pub ca_pem: Option<Vec<u8>>,
    /// The bridge's own workload identity variables (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE`), taken from its environment at start.
    pub ambient: sealkit_cloud::EnvSnapshot,
}

impl AzureSettings {
    /// `AZURE_AUTHORITY_HOST` and the workload identity variables of the bridge's environment.
    pub fn from_process_env() -> Self {
        let ambient = sealkit_cloud::EnvSnapshot::from_vars(std::env::vars().filter(|(k, _)| {
            matches!(
                k.as_str(),
                "AZURE_CLIENT_ID" | "AZURE_TENANT_ID" | "AZURE_FEDERATED_TOKEN_FILE"
            )
        }));
        Self {
            authority_host: std::env::var("AZURE_AUTHORITY_HOST")
                .ok()
                .filter(|h| !h.is_empty()),
            ca_pem: None,
            ambient,
        }
    }
}

/// Endpoints of one Azure cloud.
struct Cloud {
    authority: &'static str,
    /// The Key Vault resource (scope `<resource>/.default`).
    vault_resource: &'static str,
}

fn cloud(environment: AzureEnvironment) -> Result<Cloud, ProviderError> {
    Ok(match environment {
        AzureEnvironment::PublicCloud => Cloud {
            authority: "https://login.microsoftonline.com",
            vault_resource: "https://vault.azure.net",
        },
        AzureEnvironment::USGovernmentCloud => Cloud {
            authority: "https://login.microsoftonline.us",
            vault_resource: "https://vault.usgovcloudapi.net",
        },
        AzureEnvironment::ChinaCloud => Cloud {
            authority: "https://login.chinacloudapi.cn",
            vault_resource: "https://vault.azure.cn",
        },
        AzureEnvironment::GermanCloud => Cloud {
            authority: "https://login.microsoftonline.de",
            vault_resource: "https://vault.microsoftazure.de",
        },
        AzureEnvironment::AzureStackCloud => {
            return Err(ProviderError::Unsupported(
                "azurekv.environmentType AzureStackCloud (customCloudConfig)".into(),
            ));
        }
    })
}

/// A Key Vault client for one store.
pub struct AzureClient {
    http: reqwest::Client,
    vault: url::Url,
    token: SecretString,
}

/// The object a `remoteRef.key` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Secret,
    Key,
    Cert,
}

/// `[secret/|key/|cert/]name` split, the name checked (Key Vault names: letters, digits, `-`).
fn parse_key(key: &str) -> Result<(Object, &str), ProviderError> {
    let (object, name) = match key.split_once('/') {
        None => (Object::Secret, key),
        Some(("secret", n)) => (Object::Secret, n),
        Some(("key", n)) => (Object::Key, n),
        Some(("cert", n)) => (Object::Cert, n),
        Some((other, _)) => {
            return Err(ProviderError::Config(format!(
                "unknown Azure Keyvault object Type for {other}"
            )));
        }
    };
    check_name("remoteRef.key", name)?;
    Ok((object, name))
}

fn check_name(what: &str, s: &str) -> Result<(), ProviderError> {
    if s.is_empty() || s.len() > 127 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ProviderError::Config(format!(
            "{what} {s:?} is not a Key Vault object name (letters, digits and -)"
        )));
    }
    Ok(())
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

impl AzureClient {
    /// Gets an access token for the store's identity.
    pub async fn connect(
        spec: &AzureKvProvider,
        access: &StoreAccess,
    ) -> Result<Self, ProviderError> {
        let settings = &access.settings.azure;
        let vault = url::Url::parse(spec.vault_url.trim())
            .map_err(|_| ProviderError::Config(format!("invalid vaultUrl {:?}", spec.vault_url)))?;
        if vault.scheme() != "https" {
            return Err(ProviderError::Config(
                "azurekv.vaultUrl must be https (a bearer token is sent to it)".into(),
            ));
        }
        access.settings.egress.check_url(&vault)?;
        let cloud = cloud(spec.environment_type.unwrap_or_default())?;
        let authority = settings
            .authority_host
            .clone()
            .unwrap_or_else(|| cloud.authority.to_owned());
        let scope = format!("{}/.default", cloud.vault_resource);
        let http = match &settings.ca_pem {
            Some(pem) => access.settings.egress.client(Some(pem.as_slice()), None)?,
            None => access.http.clone(),
        };
        let (identity, token_http) = identity(spec, access, &http).await?;
        if let AzureIdentity::ClientSecret { tenant_id, .. }
        | AzureIdentity::ClientCertificate { tenant_id, .. }
        | AzureIdentity::ClientAssertion { tenant_id, .. }
        | AzureIdentity::WorkloadIdentity { tenant_id, .. } = &identity
        {
            // The tenant is a path segment of the token URL.
            if tenant_id.is_empty()
                || !tenant_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
                || tenant_id.starts_with('.')
            {
                return Err(ProviderError::Config(format!(
                    "tenant ID {tenant_id:?} is not a tenant ID or domain name"
                )));
            }
        }
        let token = sealkit_cloud::azure::access_token(
            &identity,
            &scope,
            Some(authority.as_str()),
            &token_http,
        )
        .await
        .map_err(|e| ProviderError::Denied {
            service: ENTRA,
            message: crate::reconciler::chain(&e),
        })?;
        Ok(Self { http, vault, token })
    }

    /// `GET {vault}/{path}?api-version=…` with the bearer token; `None` for a 404.
    async fn get(&self, path: &str) -> Result<Option<Value>, ProviderError> {
        let mut url = self.vault.clone();
        url.set_path(path);
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        self.get_url(url).await
    }

    async fn get_url(&self, url: url::Url) -> Result<Option<Value>, ProviderError> {
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
            return Ok(Some(answer));
        }
        let code = answer["error"]["code"].as_str().unwrap_or_default();
        let message = answer["error"]["message"]
            .as_str()
            .unwrap_or("no error message");
        let message = if code.is_empty() {
            message.to_owned()
        } else {
            format!("{code}: {message}")
        };
        match status {
            404 => Ok(None),
            401 | 403 => Err(ProviderError::Denied {
                service: SERVICE,
                message,
            }),
            _ => Err(ProviderError::Upstream {
                service: SERVICE,
                status,
                message,
            }),
        }
    }

    fn object_path(kind: &str, name: &str, version: Option<&str>) -> Result<String, ProviderError> {
        match nonempty(version) {
            None => Ok(format!("/{kind}/{name}")),
            Some(v) => {
                check_name("remoteRef.version", v)?;
                Ok(format!("/{kind}/{name}/{v}"))
            }
        }
    }

    async fn get_secret_value(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        let (object, name) = parse_key(&remote.key)?;
        let version = remote.version.as_deref();
        let not_found = || ProviderError::NotFound {
            key: remote.key.clone(),
        };
        let property = nonempty(remote.property.as_deref());
        match object {
            Object::Secret => {
                let answer = self
                    .get(&Self::object_path("secrets", name, version)?)
                    .await?
                    .ok_or_else(not_found)?;
                if remote.metadata_policy == Some(MetadataPolicy::Fetch) {
                    let tags = answer["tags"].as_object().cloned().unwrap_or_default();
                    return match property {
                        None => Ok(SecretBytes::new(
                            Value::Object(tags).to_string().into_bytes(),
                        )),
                        Some(p) => tags.get(p).map(json_value_bytes).ok_or_else(|| {
                            ProviderError::MissingProperty {
                                key: remote.key.clone(),
                                property: p.to_owned(),
                            }
                        }),
                    };
                }
                let value = answer["value"].as_str().unwrap_or_default();
                match property {
                    None => Ok(SecretBytes::new(value.as_bytes().to_vec())),
                    Some(p) => property_of(&remote.key, value, p),
                }
            }
            Object::Key => {
                let answer = self
                    .get(&Self::object_path("keys", name, version)?)
                    .await?
                    .ok_or_else(not_found)?;
                let jwk = eso_jwk(&answer["key"]);
                match property {
                    None => Ok(SecretBytes::new(jwk.into_bytes())),
                    Some(p) => property_of(&remote.key, &jwk, p),
                }
            }
            Object::Cert => {
                let answer = self
                    .get(&Self::object_path("certificates", name, version)?)
                    .await?
                    .ok_or_else(not_found)?;
                let cer = answer["cer"].as_str().unwrap_or_default();
                sealer::encoding::decode_std(cer)
                    .map(SecretBytes::new)
                    .map_err(|_| ProviderError::Answer {
                        service: SERVICE,
                        what: format!("the certificate {name:?} is not base64"),
                    })
            }
        }
    }

    async fn get_secret_map_of(&self, remote: &RemoteRef) -> Result<SecretMap, ProviderError> {
        let (object, _) = parse_key(&remote.key)?;
        if object != Object::Secret {
            return Err(ProviderError::Unsupported(
                "dataFrom.extract of an azurekv key/ or cert/ object".into(),
            ));
        }
        let bytes = self.get_secret_value(remote).await?;
        super::json_object_map(&remote.key, bytes.expose())
    }

    async fn find(&self, find: &ExternalSecretFind) -> Result<SecretMap, ProviderError> {
        let matcher = name_matcher(find)?;
        let mut names = Vec::new();
        let mut url = self.vault.clone();
        url.set_path("/secrets");
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION)
            .append_pair("maxresults", "25");
        let mut next = Some(url);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_FIND_PAGES {
                return Err(ProviderError::Answer {
                    service: SERVICE,
                    what: format!("more than {MAX_FIND_PAGES} pages of secrets"),
                });
            }
            let page = self.get_url(url).await?.unwrap_or(Value::Null);
            for s in page["value"].as_array().into_iter().flatten() {
                if s["attributes"]["enabled"] == Value::Bool(false) {
                    continue;
                }
                let Some(name) = s["id"].as_str().and_then(|id| id.rsplit('/').next()) else {
                    continue;
                };
                if matcher.as_ref().is_some_and(|m| !m.is_match(name)) {
                    continue;
                }
                let tags = s["tags"].as_object();
                if find.tags.iter().all(|(k, v)| {
                    tags.and_then(|t| t.get(k)).and_then(Value::as_str) == Some(v.as_str())
                }) {
                    names.push(name.to_owned());
                }
            }
            if let Some(link) = page["nextLink"].as_str().filter(|l| !l.is_empty()) {
                let link = url::Url::parse(link).map_err(|_| ProviderError::Answer {
                    service: SERVICE,
                    what: "invalid nextLink".into(),
                })?;
                // The bearer token goes with it: only to the vault itself.
                if link.origin() != self.vault.origin() {
                    return Err(ProviderError::Answer {
                        service: SERVICE,
                        what: "nextLink leaves the vault".into(),
                    });
                }
                next = Some(link);
            }
        }
        let mut found = FoundValues::default();
        for name in names {
            if check_name("secret", &name).is_err() {
                continue;
            }
            let remote = RemoteRef {
                key: name.clone(),
                ..Default::default()
            };
            let fetched = self.get_secret_value(&remote).await;
            found.add(SERVICE, name, fetched)?;
        }
        Ok(found.into_map())
    }
}

impl SecretsClient for AzureClient {
    fn provider(&self) -> &'static str {
        "azurekv"
    }

    fn get_secret<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretBytes, ProviderError>> {
        self.get_secret_value(remote).boxed()
    }

    fn get_secret_map<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        self.get_secret_map_of(remote).boxed()
    }

    fn get_all_secrets<'a>(
        &'a self,
        find: &'a ExternalSecretFind,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        self.find(find).boxed()
    }

    fn validate(&self) -> BoxFuture<'_, Result<Validation, ProviderError>> {
        // The token was obtained when connecting.
        async { Ok(Validation::Ready) }.boxed()
    }
}

/// A property of a JSON text: an exact top-level key first, then a gjson path.
fn property_of(key: &str, text: &str, property: &str) -> Result<SecretBytes, ProviderError> {
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if let Some(v) = parsed.as_object().and_then(|m| m.get(property)) {
        return Ok(json_value_bytes(v));
    }
    select_gjson(key, text, property)
}

/// The JWK as ESO writes it (`json.Marshal` of the Go SDK's `JSONWebKey`: its members in
/// declaration order, absent ones left out).
fn eso_jwk(key: &Value) -> String {
    const ORDER: [&str; 16] = [
        "kid", "kty", "key_ops", "n", "e", "d", "dp", "dq", "qi", "p", "q", "k", "key_hsm", "crv",
        "x", "y",
    ];
    let mut out = String::from("{");
    for name in ORDER {
        if let Some(v) = key.get(name).filter(|v| !v.is_null()) {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&json!(name).to_string());
            out.push(':');
            out.push_str(&v.to_string());
        }
    }
    out.push('}');
    out
}

/// The identity a store names, and the HTTP client its token request goes through.
async fn identity(
    spec: &AzureKvProvider,
    access: &StoreAccess,
    http: &reqwest::Client,
) -> Result<(AzureIdentity, reqwest::Client), ProviderError> {
    let auth = spec.auth_secret_ref.as_ref();
    match spec.auth_type.unwrap_or_default() {
        AzureAuthType::ServicePrincipal => {
            let tenant_id = match auth.and_then(|a| a.tenant_id.as_ref()) {
                Some(sel) => access
                    .read_text(sel, None)
                    .await?
                    .expose_secret()
                    .to_owned(),
                None => nonempty(spec.tenant_id.as_deref())
                    .ok_or_else(|| {
                        ProviderError::Config("missing tenantID in store config".into())
                    })?
                    .to_owned(),
            };
            let (Some(client_sel), Some(auth)) = (auth.and_then(|a| a.client_id.as_ref()), auth)
            else {
                return Err(ProviderError::Config(
                    "missing clientID in store config (authSecretRef.clientId)".into(),
                ));
            };
            let client_id = access
                .read_text(client_sel, None)
                .await?
                .expose_secret()
                .to_owned();
            let identity = match (&auth.client_secret, &auth.client_certificate) {
                (Some(_), Some(_)) => {
                    return Err(ProviderError::Config(
                        "both clientSecret and clientCertificate set".into(),
                    ));
                }
                (None, None) => {
                    return Err(ProviderError::Config(
                        "missing clientSecret or clientCertificate in store config".into(),
                    ));
                }
                (Some(sel), None) => AzureIdentity::ClientSecret {
                    tenant_id,
                    client_id,
                    secret: access.read_text(sel, None).await?,
                },
                (None, Some(sel)) => {
                    let pem = access.read_key(sel, None).await?;
                    let certificate = ClientCertificate::from_pem(pem.expose()).map_err(|r| {
                        ProviderError::Credentials {
                            namespace: access
                                .namespace_of(sel.namespace.as_deref())
                                .unwrap_or_default(),
                            name: sel.name.clone(),
                            reason: format!("the client certificate: {r}"),
                        }
                    })?;
                    AzureIdentity::ClientCertificate {
                        tenant_id,
                        client_id,
                        certificate: Arc::new(certificate),
                    }
                }
            };
            Ok((identity, http.clone()))
        }
        AzureAuthType::WorkloadIdentity => {
            let Some(sa) = &spec.service_account_ref else {
                ambient_allowed(access, "azurekv WorkloadIdentity without serviceAccountRef")?;
                let env = &access.settings.azure.ambient;
                let (Some(client_id), Some(tenant_id), Some(file)) = (
                    env.get("AZURE_CLIENT_ID"),
                    env.get("AZURE_TENANT_ID"),
                    env.get("AZURE_FEDERATED_TOKEN_FILE"),
                ) else {
                    return Err(ProviderError::Config(
                        "missing environment variables. AZURE_CLIENT_ID, AZURE_TENANT_ID and \
                         AZURE_FEDERATED_TOKEN_FILE must be set"
                            .into(),
                    ));
                };
                return Ok((
                    AzureIdentity::WorkloadIdentity {
                        tenant_id: tenant_id.to_owned(),
                        client_id: client_id.to_owned(),
                        token_file: file.into(),
                    },
                    http.clone(),
                ));
            };
            let (namespace, annotations) = service_account_annotations(access, sa).await?;
            let annotated = |k: &str| nonempty(annotations.get(k).map(String::as_str));
            let client_id = match (
                auth.and_then(|a| a.client_id.as_ref()),
                annotated(CLIENT_ID_ANNOTATION),
            ) {
                (Some(_), Some(_)) => {
                    return Err(ProviderError::Config(
                        "multiple clientID found. Check secretRef and serviceAccountRef".into(),
                    ));
                }
                (Some(sel), None) => access
                    .read_text(sel, None)
                    .await?
                    .expose_secret()
                    .to_owned(),
                (None, Some(id)) => id.to_owned(),
                (None, None) => {
                    return Err(ProviderError::Config(format!(
                        "missing clientID: either serviceAccountRef or service account annotation \
                         '{CLIENT_ID_ANNOTATION}' is missing"
                    )));
                }
            };
            let earlier = match auth.and_then(|a| a.tenant_id.as_ref()) {
                Some(sel) => Some(
                    access
                        .read_text(sel, None)
                        .await?
                        .expose_secret()
                        .to_owned(),
                ),
                None => nonempty(spec.tenant_id.as_deref()).map(str::to_owned),
            };
            let tenant_id = match (earlier, annotated(TENANT_ID_ANNOTATION)) {
                (Some(_), Some(_)) => {
                    return Err(ProviderError::Config(
                        "multiple tenantID found. Check secretRef, tenantId and serviceAccountRef"
                            .into(),
                    ));
                }
                (Some(t), None) => t,
                (None, Some(t)) => t.to_owned(),
                (None, None) => access
                    .settings
                    .azure
                    .ambient
                    .get("AZURE_TENANT_ID")
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        ProviderError::Config("missing tenantID in store config".into())
                    })?,
            };
            let mut audiences = vec![TOKEN_EXCHANGE_AUDIENCE.to_owned()];
            audiences.extend(sa.audiences.iter().cloned());
            let assertion = request_token(
                &access.client,
                &TokenSpec {
                    namespace,
                    name: sa.name.clone(),
                    audiences,
                    expiration_seconds: WORKLOAD_IDENTITY_EXPIRATION,
                },
            )
            .await?;
            Ok((
                AzureIdentity::ClientAssertion {
                    tenant_id,
                    client_id,
                    assertion,
                },
                http.clone(),
            ))
        }
        AzureAuthType::ManagedIdentity => {
            ambient_allowed(access, "azurekv ManagedIdentity")?;
            // The instance metadata service is link-local; only the bridge's environment
            // points managed identity anywhere.
            let http = super::egress::Egress::new(true).client(None, None)?;
            Ok((
                AzureIdentity::ManagedIdentity {
                    client_id: nonempty(spec.identity_id.as_deref()).map(str::to_owned),
                },
                http,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::externalsecrets::providers::testing::{MockApi, secret_store_access};

    #[test]
    fn keys_name_an_object_type_and_a_plain_name() {
        assert_eq!(parse_key("db").unwrap(), (Object::Secret, "db"));
        assert_eq!(parse_key("secret/db").unwrap(), (Object::Secret, "db"));
        assert_eq!(parse_key("key/rsa-1").unwrap(), (Object::Key, "rsa-1"));
        assert_eq!(parse_key("cert/tls").unwrap(), (Object::Cert, "tls"));
        assert_eq!(
            parse_key("blob/x").unwrap_err().to_string(),
            "invalid store configuration: unknown Azure Keyvault object Type for blob"
        );
        for bad in ["secret/a/b", "secret/../x", "x?api-version=1", "secret/"] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_jwk_keeps_the_member_order_of_esos_go_sdk() {
        let key = json!({"e": "AQAB", "n": "xyz", "kty": "RSA", "kid": "https://v/keys/k/1",
                         "key_ops": ["encrypt"], "extra": 1});
        assert_eq!(
            eso_jwk(&key),
            r#"{"kid":"https://v/keys/k/1","kty":"RSA","key_ops":["encrypt"],"n":"xyz","e":"AQAB"}"#
        );
    }

    #[tokio::test]
    async fn managed_identity_and_ambient_workload_identity_are_refused_on_a_secret_store() {
        for auth_type in [
            AzureAuthType::ManagedIdentity,
            AzureAuthType::WorkloadIdentity,
        ] {
            let (client, seen) = MockApi::default().client();
            let spec = AzureKvProvider {
                vault_url: "https://v.vault.azure.net".into(),
                auth_type: Some(auth_type),
                ..Default::default()
            };
            let err = AzureClient::connect(&spec, &secret_store_access(client, "apps"))
                .await
                .err()
                .unwrap();
            assert!(matches!(err, ProviderError::Unsupported(_)), "{err}");
            assert!(seen.lock().unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn a_vault_that_pages_forever_or_off_its_origin_is_an_error() {
        let app = axum::Router::new().route(
            "/secrets",
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                // Always named by address: reached as `localhost`, the link leaves the origin.
                let host = headers["host"].to_str().unwrap();
                let port = host.rsplit(':').next().unwrap().to_owned();
                axum::Json(json!({"value": [], "nextLink": format!("http://127.0.0.1:{port}/secrets?api-version=7.4&$skiptoken=x")}))
            }),
        );
        let addr = crate::externalsecrets::providers::testing::serve(app).await;
        let client = |base: String| AzureClient {
            http: reqwest::Client::new(),
            vault: url::Url::parse(&base).unwrap(),
            token: SecretString::from("t"),
        };
        let err = client(format!("http://{addr}"))
            .find(&ExternalSecretFind::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than 200 pages"), "{err}");
        // The same server under another name: its nextLink leaves the vault's origin.
        let err = client(format!("http://localhost:{}", addr.port()))
            .find(&ExternalSecretFind::default())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("nextLink leaves the vault"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_plain_http_vault_is_refused() {
        let (client, _) = MockApi::default().client();
        let spec = AzureKvProvider {
            vault_url: "http://v.vault.azure.net".into(),
            ..Default::default()
        };
        let err = AzureClient::connect(&spec, &secret_store_access(client, "apps"))
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("must be https"), "{err}");
    }
}
