//! HashiCorp Vault / OpenBao KV v1 and v2 (external-secrets `providers/v1/vault`: `client_get.go`,
//! `client_get_all_secrets.go`, `auth_*.go`), over the plain HTTP API.
//!
//! Paths follow ESO's `buildPath`: with `path: secret` a key `app/db` reads
//! `secret/data/app/db` (v2) or `secret/app/db` (v1), a key that already starts with the mount
//! is not prefixed twice; without `path` the key's first segment is the mount. A missing secret
//! (404, or KV v2's soft-deleted `data: null`) is [`ProviderError::NotFound`].
//! Auth, the first block set in ESO's order: `tokenSecretRef`, `appRole` (`roleId`/`roleRef` +
//! `secretRef`), `kubernetes` (`serviceAccountRef`: a TokenRequest for that ServiceAccount
//! with its audiences and a ten-minute lifetime, as ESO; else a `secretRef` JWT), `userPass`
//! (`PUT auth/<path>/login/<username>`), `jwt` (a `secretRef` JWT, or a TokenRequest token of
//! `kubernetesServiceAccountToken` with audiences `["vault"]` unless it names others) and
//! `cert` (the client certificate and key from Secrets, presented on the connection, so on
//! every later call too, as ESO). `ldap`, `iam` and `gcp` are refused by name; no method reads
//! or writes the process environment. Unlike ESO, Kubernetes auth with
//! neither is refused: ESO then sends the controller's own ServiceAccount token to a server the
//! store names (issue 13, attack 2), and sealkit's token never leaves the process. The token
//! obtained is held in a [`SecretString`] and sent only in `X-Vault-Token`. Every call goes
//! through the [`egress`](super::egress) policy.

use futures::FutureExt as _;
use futures::future::BoxFuture;
use reqwest::Method;
use sealer::secret::SecretBytes;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use super::egress::read_json;
use super::service_account::VAULT_LOGIN_EXPIRATION;
use super::{
    ProviderError, SecretMap, SecretsClient, StoreAccess, Validation, name_matcher, select_property,
};
use crate::externalsecrets::crd::{
    ExternalSecretFind, MetadataPolicy, RemoteRef, VaultKvVersion, VaultProvider,
};

mod push;

const SERVICE: &str = "vault";

/// A logged-in Vault client for one store.
pub struct VaultClient {
    http: reqwest::Client,
    server: url::Url,
    mount: Option<String>,
    version: VaultKvVersion,
    namespace: Option<String>,
    headers: Vec<(String, String)>,
    token: SecretString,
}

impl VaultClient {
    /// Reads the credentials and logs in.
    pub async fn connect(
        spec: &VaultProvider,
        access: &StoreAccess,
    ) -> Result<Self, ProviderError> {
        let server = url::Url::parse(spec.server.trim_end_matches('/')).map_err(|_| {
            ProviderError::Config(format!("vault.server {:?} is not a URL", spec.server))
        })?;
        access.settings.egress.check_url(&server)?;
        let ca = access
            .ca_pem(spec.ca_bundle.as_deref(), spec.ca_provider.as_ref())
            .await?;
        let http = access.http_client(ca.as_deref(), None)?;
        let mut this = Self {
            http,
            server,
            mount: spec
                .path
                .as_deref()
                .map(|p| p.trim_matches('/').to_owned())
                .filter(|p| !p.is_empty()),
            version: spec.version.unwrap_or_default(),
            namespace: spec.namespace.clone(),
            headers: spec
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            token: SecretString::from(String::new()),
        };
        let Some(auth) = &spec.auth else {
            return Err(ProviderError::Config("vault.auth is required".into()));
        };
        if let Some(other) = auth.other.keys().next() {
            return Err(ProviderError::Unsupported(format!(
                "vault auth method {other:?}"
            )));
        }
        let login_namespace = auth.namespace.clone().or_else(|| spec.namespace.clone());
        if auth.token_secret_ref.is_none()
            && auth.app_role.is_none()
            && auth.kubernetes.is_none()
            && auth.user_pass.is_none()
            && auth.jwt.is_none()
            && let Some(cert) = &auth.cert
        {
            // The certificate is part of the connection: every later call presents it too,
            // as ESO's transport does.
            let cert_pem = access.read_key(&cert.client_cert, Some("tls.crt")).await?;
            let key_pem = access.read_key(&cert.secret_ref, Some("tls.key")).await?;
            let mut both = zeroize::Zeroizing::new(Vec::with_capacity(
                cert_pem.expose().len() + key_pem.expose().len() + 1,
            ));
            both.extend_from_slice(cert_pem.expose());
            both.push(b'\n');
            both.extend_from_slice(key_pem.expose());
            let identity = reqwest::Identity::from_pem(&both).map_err(|_| {
                ProviderError::Config(
                    "vault.auth.cert: clientCert and secretRef hold no PEM certificate and private key"
                        .into(),
                )
            })?;
            this.http =
                access
                    .settings
                    .egress
                    .client_with_identity(ca.as_deref(), None, Some(identity))?;
        }
        this.token = if let Some(sel) = &auth.token_secret_ref {
            access.read_text(sel, Some("token")).await?
        } else if let Some(role) = &auth.app_role {
            let role_id = match (&role.role_id, &role.role_ref) {
                (Some(id), _) if !id.is_empty() => SecretString::from(id.clone()),
                (_, Some(sel)) => access.read_text(sel, None).await?,
                _ => {
                    return Err(ProviderError::Config(
                        "vault.auth.appRole needs roleId or roleRef".into(),
                    ));
                }
            };
            let secret_id = access.read_text(&role.secret_ref, None).await?;
            let path = format!(
                "{}/login",
                role.path.as_deref().unwrap_or("approle").trim_matches('/')
            );
            let body = serde_json::json!({
                "role_id": role_id.expose_secret(),
                "secret_id": secret_id.expose_secret(),
            });
            this.login(&path, login_namespace.as_deref(), body).await?
        } else if let Some(k8s) = &auth.kubernetes {
            let jwt = if let Some(sa) = &k8s.service_account_ref {
                access
                    .service_account_token(sa, &[], VAULT_LOGIN_EXPIRATION)
                    .await?
            } else if let Some(sel) = &k8s.secret_ref {
                access.read_text(sel, Some("token")).await?
            } else {
                return Err(ProviderError::Config(
                    "vault.auth.kubernetes needs serviceAccountRef or secretRef (sealkit never sends its own ServiceAccount token)"
                        .into(),
                ));
            };
            let path = format!(
                "{}/login",
                k8s.mount_path
                    .as_deref()
                    .unwrap_or("kubernetes")
                    .trim_matches('/')
            );
            let body = serde_json::json!({"role": k8s.role, "jwt": jwt.expose_secret()});
            this.login(&path, login_namespace.as_deref(), body).await?
        } else if let Some(up) = &auth.user_pass {
            let Some(sel) = &up.secret_ref else {
                return Err(ProviderError::Config(
                    "vault.auth.userPass needs secretRef (the password)".into(),
                ));
            };
            if up.username.is_empty()
                || up.username == "."
                || up.username == ".."
                || up.username.contains(['/', '?', '#', '%'])
            {
                return Err(ProviderError::Config(format!(
                    "vault.auth.userPass.username {:?} is not a user name",
                    up.username
                )));
            }
            let password = access.read_text(sel, None).await?;
            let path = non_empty(&up.path).unwrap_or("userpass");
            let body = serde_json::json!({"password": password.expose_secret()});
            this.login(
                &format!("{}/login/{}", path.trim_matches('/'), up.username),
                login_namespace.as_deref(),
                body,
            )
            .await?
        } else if let Some(jwt) = &auth.jwt {
            let token = if let Some(sel) = &jwt.secret_ref {
                access.read_text(sel, None).await?
            } else if let Some(k) = &jwt.kubernetes_service_account_token {
                let extra: Vec<&str> = match &k.audiences {
                    Some(a) => a.iter().map(String::as_str).collect(),
                    None => vec!["vault"],
                };
                access
                    .service_account_token(
                        &k.service_account_ref,
                        &extra,
                        k.expiration_seconds.unwrap_or(VAULT_LOGIN_EXPIRATION),
                    )
                    .await?
            } else {
                return Err(ProviderError::Config(
                    "neither `secretRef` nor `kubernetesServiceAccountToken` was supplied as token source for jwt authentication"
                        .into(),
                ));
            };
            let path = non_empty(&jwt.path).unwrap_or("jwt");
            let body = serde_json::json!({
                "role": jwt.role.clone().unwrap_or_default(),
                "jwt": token.expose_secret(),
            });
            this.login(
                &format!("{}/login", path.trim_matches('/')),
                login_namespace.as_deref(),
                body,
            )
            .await?
        } else if let Some(cert) = &auth.cert {
            let path = cert.path.as_deref().and_then(non_empty).unwrap_or("cert");
            let body = match cert.vault_role.as_deref().and_then(non_empty) {
                Some(role) => serde_json::json!({"name": role}),
                None => serde_json::json!({}),
            };
            this.login(
                &format!("{}/login", path.trim_matches('/')),
                login_namespace.as_deref(),
                body,
            )
            .await?
        } else {
            return Err(ProviderError::Config(
                "vault.auth names no method sealkit implements (tokenSecretRef, appRole, kubernetes, userPass, jwt, cert)"
                    .into(),
            ));
        };
        Ok(this)
    }

    async fn login(
        &self,
        mount: &str,
        namespace: Option<&str>,
        body: Value,
    ) -> Result<SecretString, ProviderError> {
        let url = self.url(&format!("auth/{}", mount.trim_matches('/')))?;
        let mut req = self.http.post(url.clone()).json(&body);
        if let Some(ns) = namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ProviderError::unreachable(SERVICE, &url, e))?;
        let status = resp.status().as_u16();
        let answer = read_json(resp, SERVICE).await?;
        if !(200..300).contains(&status) {
            let message = format!("login at auth/{mount} failed: {}", errors_of(&answer));
            return Err(if status == 400 || status == 403 {
                ProviderError::Denied {
                    service: SERVICE,
                    message,
                }
            } else {
                ProviderError::Upstream {
                    service: SERVICE,
                    status,
                    message,
                }
            });
        }
        answer["auth"]["client_token"]
            .as_str()
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| ProviderError::Answer {
                service: SERVICE,
                what: format!("login at auth/{mount} returned no client_token"),
            })
    }

    fn url(&self, path: &str) -> Result<url::Url, ProviderError> {
        self.server
            .join(&format!("/v1/{path}"))
            .map_err(|_| ProviderError::Config(format!("invalid vault path {path:?}")))
    }

    /// Sends a request; `Ok(None)` for 404.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Value>, ProviderError> {
        self.call_with(method, path, query, None).await
    }

    /// [`VaultClient::call`] with a JSON body.
    async fn call_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, ProviderError> {
        let url = self.url(path)?;
        let mut req = self
            .http
            .request(method, url.clone())
            .query(query)
            .header("X-Vault-Token", self.token.expose_secret());
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ProviderError::unreachable(SERVICE, &url, e))?;
        let status = resp.status().as_u16();
        let body = read_json(resp, SERVICE).await?;
        match status {
            200..=299 => Ok(Some(body)),
            404 => Ok(None),
            403 => Err(ProviderError::Denied {
                service: SERVICE,
                message: errors_of(&body),
            }),
            _ => Err(ProviderError::Upstream {
                service: SERVICE,
                status,
                message: errors_of(&body),
            }),
        }
    }

    /// ESO's `buildPath`.
    pub fn data_path(&self, key: &str) -> String {
        build_path(self.mount.as_deref(), self.version, key)
    }

    fn metadata_path(&self, key: &str) -> Result<String, ProviderError> {
        if self.version == VaultKvVersion::V1 {
            return Err(ProviderError::Unsupported(
                "metadata and tags with vault kv v1".into(),
            ));
        }
        Ok(match &self.mount {
            Some(mount) => {
                let rest = key
                    .strip_prefix(&format!("{mount}/"))
                    .map(|r| r.strip_prefix("metadata/").unwrap_or(r))
                    .unwrap_or(key);
                format!("{mount}/metadata/{rest}")
            }
            None => {
                let (mount, rest) = key.split_once('/').unwrap_or((key, ""));
                let rest = rest.strip_prefix("data/").unwrap_or(rest);
                format!("{mount}/metadata/{rest}")
            }
        })
    }

    async fn read_data(&self, key: &str, version: Option<&str>) -> Result<Value, ProviderError> {
        let query: Vec<(&str, &str)> = version.map(|v| ("version", v)).into_iter().collect();
        let not_found = || ProviderError::NotFound {
            key: key.to_owned(),
        };
        let body = self
            .call(Method::GET, &self.data_path(key), &query)
            .await?
            .ok_or_else(not_found)?;
        let data = match self.version {
            VaultKvVersion::V1 => &body["data"],
            VaultKvVersion::V2 => &body["data"]["data"],
        };
        if data.is_null() {
            return Err(not_found());
        }
        Ok(data.clone())
    }

    async fn read_metadata(&self, key: &str) -> Result<Value, ProviderError> {
        let body = self
            .call(Method::GET, &self.metadata_path(key)?, &[])
            .await?
            .ok_or_else(|| ProviderError::NotFound {
                key: key.to_owned(),
            })?;
        let mut out = serde_json::Map::new();
        for k in ["created_time", "current_version", "delete_version_after"] {
            match &body["data"][k] {
                Value::Null => {}
                Value::String(s) => {
                    out.insert(k.into(), Value::String(s.clone()));
                }
                v => {
                    out.insert(k.into(), Value::String(v.to_string()));
                }
            }
        }
        if let Some(custom) = body["data"]["custom_metadata"].as_object() {
            for (k, v) in custom {
                out.insert(k.clone(), v.clone());
            }
        }
        Ok(Value::Object(out))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ProviderError> {
        let mut out = Vec::new();
        let mut todo = vec![prefix.to_owned()];
        while let Some(dir) = todo.pop() {
            let path = self.metadata_path(&dir)?;
            let Some(body) = self.call(Method::GET, &path, &[("list", "true")]).await? else {
                continue;
            };
            for k in body["data"]["keys"].as_array().into_iter().flatten() {
                let Some(k) = k.as_str() else { continue };
                let full = format!("{dir}{k}");
                if k.ends_with('/') {
                    todo.push(full);
                } else {
                    out.push(full);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn get(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        let data = if remote.metadata_policy == Some(MetadataPolicy::Fetch) {
            self.read_metadata(&remote.key).await?
        } else {
            self.read_data(&remote.key, remote.version.as_deref())
                .await?
        };
        select_property(&remote.key, &data, remote.property.as_deref())
    }

    async fn find(&self, find: &ExternalSecretFind) -> Result<SecretMap, ProviderError> {
        if self.mount.is_none() {
            return Err(ProviderError::Config(
                "dataFrom.find needs vault.path (the KV mount)".into(),
            ));
        }
        let prefix = find
            .path
            .as_deref()
            .map(|p| format!("{}/", p.trim_matches('/')))
            .unwrap_or_default();
        let matcher = name_matcher(find)?;
        let mut out = SecretMap::new();
        for name in self.list(&prefix).await? {
            if matcher.as_ref().is_some_and(|m| !m.is_match(&name)) {
                continue;
            }
            if !find.tags.is_empty() {
                let meta = self.read_metadata(&name).await?;
                if !find
                    .tags
                    .iter()
                    .all(|(k, v)| meta.get(k).and_then(Value::as_str) == Some(v.as_str()))
                {
                    continue;
                }
            }
            let remote = RemoteRef {
                key: name.clone(),
                ..Default::default()
            };
            match self.get(&remote).await {
                Ok(v) => {
                    out.insert(name, v);
                }
                Err(ProviderError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

impl SecretsClient for VaultClient {
    fn provider(&self) -> &'static str {
        SERVICE
    }

    fn push_secret<'a>(
        &'a self,
        request: &'a super::PushRequest<'a>,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.push(request).boxed()
    }

    fn pushed_exists<'a>(
        &'a self,
        request: &'a super::PushRequest<'a>,
    ) -> BoxFuture<'a, Result<bool, ProviderError>> {
        self.exists(request).boxed()
    }

    fn delete_pushed<'a>(
        &'a self,
        request: &'a super::PushRequest<'a>,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.delete(request).boxed()
    }

    fn get_secret<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretBytes, ProviderError>> {
        self.get(remote).boxed()
    }

    fn get_all_secrets<'a>(
        &'a self,
        find: &'a ExternalSecretFind,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        self.find(find).boxed()
    }

    fn validate(&self) -> BoxFuture<'_, Result<Validation, ProviderError>> {
        async move {
            self.call(Method::GET, "auth/token/lookup-self", &[])
                .await?
                .ok_or_else(|| ProviderError::Answer {
                    service: SERVICE,
                    what: "auth/token/lookup-self answered 404".into(),
                })?;
            Ok(Validation::Ready)
        }
        .boxed()
    }
}

/// ESO's `buildPath` (see its doc comment in `client_get.go`).
pub fn build_path(mount: Option<&str>, version: VaultKvVersion, key: &str) -> String {
    let v2 = version == VaultKvVersion::V2;
    match mount {
        Some(mount) => {
            let mut rest = key;
            if let Some(r) = key.strip_prefix(&format!("{mount}/")) {
                rest = r;
                if v2 && let Some(r) = rest.strip_prefix("data/") {
                    rest = r;
                }
            }
            if v2 {
                format!("{mount}/data/{rest}")
            } else {
                format!("{mount}/{rest}")
            }
        }
        None if v2 && !key.contains("/data/") => match key.split_once('/') {
            Some((first, rest)) => format!("{first}/data/{rest}"),
            None => format!("{key}/data"),
        },
        None => key.to_owned(),
    }
}

/// `Some(s)` unless `s` is empty.
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Vault's `{"errors": [...]}` as one line.
fn errors_of(body: &Value) -> String {
    let list: Vec<&str> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if list.is_empty() {
        "no error message".into()
    } else {
        list.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;
    use crate::externalsecrets::crd::{ServiceAccountSelector, VaultAuth, VaultKubernetesAuth};
    use crate::externalsecrets::providers::testing::{MockApi, secret_store_access, serve};

    /// A Vault stand-in: Kubernetes login gives `s.vault` when the JWT is `jwt`; KV v2 read of
    /// `secret/app` with that token. Records every request (path and body).
    async fn vault(jwt: &'static str) -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
        let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    log.lock()
                        .unwrap()
                        .push((uri.path().to_owned(), body.clone()));
                    let token = headers.get("x-vault-token").and_then(|v| v.to_str().ok());
                    match uri.path() {
                        "/v1/auth/kubernetes/login"
                            if body["jwt"] == jwt && body["role"] == "app" =>
                        {
                            (
                                axum::http::StatusCode::OK,
                                axum::Json(json!({"auth": {"client_token": "s.vault"}})),
                            )
                        }
                        "/v1/secret/data/app" if token == Some("s.vault") => (
                            axum::http::StatusCode::OK,
                            axum::Json(json!({"data": {"data": {"password": "from-vault"}}})),
                        ),
                        _ => (
                            axum::http::StatusCode::FORBIDDEN,
                            axum::Json(json!({"errors": ["permission denied"]})),
                        ),
                    }
                }
            },
        );
        let addr = serve(app).await;
        (format!("http://{addr}"), seen)
    }

    fn kubernetes_store(server: &str, auth: VaultKubernetesAuth) -> VaultProvider {
        VaultProvider {
            server: server.into(),
            path: Some("secret".into()),
            auth: Some(VaultAuth {
                kubernetes: Some(auth),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn kubernetes_auth_without_a_reference_is_refused_and_nothing_is_sent() {
        // issue 13, attack 2: the controller's own ServiceAccount token was POSTed to a server
        // the store named.
        let (server, seen) = vault("unused").await;
        let (client, api_seen) = MockApi::default().client();
        let spec = kubernetes_store(
            &server,
            VaultKubernetesAuth {
                role: "app".into(),
                ..Default::default()
            },
        );
        let err = VaultClient::connect(&spec, &secret_store_access(client, "attacker"))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ProviderError::Config(_)), "{err}");
        assert!(
            err.to_string()
                .contains("needs serviceAccountRef or secretRef"),
            "{err}"
        );
        assert!(
            seen.lock().unwrap().is_empty(),
            "a login reached the store's server"
        );
        assert!(api_seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn kubernetes_auth_logs_in_with_a_token_requested_for_the_named_service_account() {
        let (server, seen) = vault("jwt-of-apps-app").await;
        let (client, api_seen) = MockApi::default()
            .service_account("apps", "app", "jwt-of-apps-app")
            .client();
        let spec = kubernetes_store(
            &server,
            VaultKubernetesAuth {
                role: "app".into(),
                service_account_ref: Some(ServiceAccountSelector {
                    name: "app".into(),
                    namespace: None,
                    audiences: vec!["vault".into()],
                }),
                ..Default::default()
            },
        );
        let c = VaultClient::connect(&spec, &secret_store_access(client, "apps"))
            .await
            .unwrap();
        let v = c
            .get_secret(&RemoteRef {
                key: "app".into(),
                property: Some("password".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(v.expose(), b"from-vault");
        assert_eq!(seen.lock().unwrap()[0].0, "/v1/auth/kubernetes/login");
        let api_seen = api_seen.lock().unwrap();
        let (_, path, body) = &api_seen[0];
        assert_eq!(path, "/api/v1/namespaces/apps/serviceaccounts/app/token");
        assert_eq!(body["spec"]["audiences"], json!(["vault"]));
        assert_eq!(body["spec"]["expirationSeconds"], 600);
    }

    #[tokio::test]
    async fn a_vault_server_at_a_link_local_address_is_refused_before_any_call() {
        let (client, api_seen) = MockApi::default()
            .secret("apps", "t", &[("token", "x")])
            .client();
        let spec = VaultProvider {
            server: "http://169.254.169.254".into(),
            auth: Some(VaultAuth {
                token_secret_ref: Some(crate::externalsecrets::crd::SecretKeySelector {
                    name: "t".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = VaultClient::connect(&spec, &secret_store_access(client, "apps"))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ProviderError::LinkLocal { .. }), "{err}");
        assert!(api_seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_userpass_username_cannot_steer_the_login_path() {
        // The username goes into `auth/<path>/login/<username>`: `../` would log in elsewhere.
        let (server, seen) = vault("unused").await;
        let (client, _) = MockApi::default()
            .secret("apps", "pw", &[("password", "x")])
            .client();
        for username in ["../../token/create", "a/b", "..", "x?y", ""] {
            let spec = VaultProvider {
                server: server.clone(),
                auth: Some(VaultAuth {
                    user_pass: Some(crate::externalsecrets::crd::VaultUserPassAuth {
                        path: "userpass".into(),
                        username: username.into(),
                        secret_ref: Some(crate::externalsecrets::crd::SecretKeySelector {
                            name: "pw".into(),
                            namespace: None,
                            key: Some("password".into()),
                        }),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let err = VaultClient::connect(&spec, &secret_store_access(client.clone(), "apps"))
                .await
                .err()
                .unwrap();
            assert!(
                err.to_string().contains("is not a user name"),
                "{username}: {err}"
            );
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "a login reached the server"
        );
    }

    #[test]
    fn paths_are_built_as_eso_builds_them() {
        use VaultKvVersion::{V1, V2};
        let cases = [
            (Some("secret/path"), V2, "foo", "secret/path/data/foo"),
            (Some("secret/path"), V1, "foo", "secret/path/foo"),
            (
                Some("secret/path"),
                V2,
                "secret/path/foo",
                "secret/path/data/foo",
            ),
            (
                Some("secret/path"),
                V2,
                "secret/path/data/foo",
                "secret/path/data/foo",
            ),
            (
                Some("secret/path"),
                V1,
                "secret/path/foo",
                "secret/path/foo",
            ),
            (None, V2, "secret/path/foo", "secret/data/path/foo"),
            (None, V2, "secret/path/data/foo", "secret/path/data/foo"),
            (None, V1, "secret/path/foo", "secret/path/foo"),
        ];
        for (mount, version, key, want) in cases {
            assert_eq!(build_path(mount, version, key), want, "{mount:?} {key}");
        }
    }

    #[test]
    fn vault_error_lists_become_one_line() {
        let body = serde_json::json!({"errors": ["permission denied", "x"]});
        assert_eq!(errors_of(&body), "permission denied; x");
        assert_eq!(errors_of(&Value::Null), "no error message");
    }
}
