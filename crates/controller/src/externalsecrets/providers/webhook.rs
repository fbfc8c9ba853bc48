//! A generic HTTP JSON API (external-secrets `providers/v1/webhook`).
//!
//! `url`, `headers` and `body` are templates over `.remoteRef.key`, `.remoteRef.version`,
//! `.remoteRef.property` and, for each `secrets[]` entry, `.<name>.<key>` (a Secret that must
//! carry the label `external-secrets.io/type: webhook`, as ESO requires). The answer is taken
//! whole, or through `result.jsonPath`: a string as it is, a number or boolean as text, an array
//! by its first element, an object as JSON. 404 is [`ProviderError::NotFound`]; any other
//! non-2xx is an error that names the status only (bodies can hold values). `find` is not
//! supported (ESO's webhook provider has none either). The rendered URL, its redirects and its
//! DNS answers go through the [`egress`](super::egress) policy; answers are capped at
//! [`MAX_RESPONSE_BYTES`].

use std::collections::BTreeMap;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use jsonpath_rust::JsonPath as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sealer::secret::SecretBytes;
use sealer::template::Template;
use serde_json::Value;

use super::egress::{MAX_RESPONSE_BYTES, read_body};
use super::{ProviderError, SecretMap, SecretsClient, StoreAccess, Validation, json_value_bytes};
use crate::externalsecrets::crd::{ExternalSecretFind, RemoteRef, WebhookProvider};

const SERVICE: &str = "webhook";

/// Label a Secret needs before a webhook store may read it.
pub const SECRET_LABEL: (&str, &str) = ("external-secrets.io/type", "webhook");

/// A webhook store.
pub struct WebhookClient {
    http: reqwest::Client,
    egress: super::egress::Egress,
    spec: WebhookProvider,
    method: reqwest::Method,
    url: Template,
    headers: Vec<(String, Template)>,
    body: Option<Template>,
    secrets: BTreeMap<String, BTreeMap<String, SecretBytes>>,
}

fn parse(what: &str, src: &str) -> Result<Template, ProviderError> {
    Template::parse(src).map_err(|source| ProviderError::Template {
        what: what.to_owned(),
        source,
    })
}

impl WebhookClient {
    /// Parses the templates and reads the `secrets[]`.
    pub async fn connect(
        spec: &WebhookProvider,
        access: &StoreAccess,
    ) -> Result<Self, ProviderError> {
        let method = spec
            .method
            .as_deref()
            .filter(|m| !m.is_empty())
            .unwrap_or("GET")
            .parse::<reqwest::Method>()
            .map_err(|_| ProviderError::Config(format!("webhook.method {:?}", spec.method)))?;
        let timeout = match spec.timeout.as_deref() {
            Some(t) => Some(
                crate::duration::parse_go_duration(t)
                    .map_err(|e| ProviderError::Config(format!("webhook.timeout {t:?}: {e}")))?,
            ),
            None => None,
        };
        let ca = access
            .ca_pem(spec.ca_bundle.as_deref(), spec.ca_provider.as_ref())
            .await?;
        let http = access.http_client(ca.as_deref(), timeout)?;
        let mut secrets = BTreeMap::new();
        for s in &spec.secrets {
            let namespace = access.namespace_of(s.secret_ref.namespace.as_deref())?;
            let fail = |reason: &str| ProviderError::Credentials {
                namespace: namespace.clone(),
                name: s.secret_ref.name.clone(),
                reason: reason.to_owned(),
            };
            let api: Api<Secret> = Api::namespaced(access.client.clone(), &namespace);
            let secret = api
                .get_opt(&s.secret_ref.name)
                .await
                .map_err(|_| fail("kubernetes api call failed"))?
                .ok_or_else(|| fail("secret not found"))?;
            if secret
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SECRET_LABEL.0))
                != Some(&SECRET_LABEL.1.to_owned())
            {
                return Err(fail(
                    "a webhook store only reads secrets labelled external-secrets.io/type=webhook",
                ));
            }
            let data = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, SecretBytes::new(v.0)))
                .collect();
            secrets.insert(s.name.clone(), data);
        }
        Ok(Self {
            http,
            egress: access.settings.egress.clone(),
            method,
            url: parse("url", &spec.url)?,
            headers: spec
                .headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), parse(&format!("headers[{k:?}]"), v)?)))
                .collect::<Result<_, ProviderError>>()?,
            body: spec
                .body
                .as_deref()
                .filter(|b| !b.is_empty())
                .map(|b| parse("body", b))
                .transpose()?,
            secrets,
            spec: spec.clone(),
        })
    }

    fn render(
        &self,
        what: &str,
        t: &Template,
        values: &BTreeMap<String, BTreeMap<String, SecretBytes>>,
    ) -> Result<SecretBytes, ProviderError> {
        t.render_nested(values)
            .map_err(|source| ProviderError::Template {
                what: what.to_owned(),
                source,
            })
    }

    async fn get(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        let mut values = self.secrets.clone();
        let text = |s: &str| SecretBytes::new(s.as_bytes().to_vec());
        values.insert(
            "remoteRef".into(),
            [
                ("key".to_owned(), text(&remote.key)),
                (
                    "version".to_owned(),
                    text(remote.version.as_deref().unwrap_or_default()),
                ),
                (
                    "property".to_owned(),
                    text(remote.property.as_deref().unwrap_or_default()),
                ),
            ]
            .into(),
        );
        let url = self.render("url", &self.url, &values)?;
        let url = std::str::from_utf8(url.expose())
            .ok()
            .and_then(|u| url::Url::parse(u).ok())
            .ok_or_else(|| ProviderError::Config("webhook url does not render to a URL".into()))?;
        self.egress.check_url(&url)?;
        let mut req = self.http.request(self.method.clone(), url.clone());
        for (name, t) in &self.headers {
            let v = self.render(&format!("headers[{name:?}]"), t, &values)?;
            req = req.header(name, v.expose());
        }
        if let Some(t) = &self.body {
            req = req.body(self.render("body", t, &values)?.expose().to_vec());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ProviderError::unreachable(SERVICE, &url, e))?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Err(ProviderError::NotFound {
                key: remote.key.clone(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(ProviderError::Upstream {
                service: SERVICE,
                status,
                message: "request failed".into(),
            });
        }
        let body = SecretBytes::new(read_body(resp, SERVICE, MAX_RESPONSE_BYTES).await?);
        match self
            .spec
            .result
            .as_ref()
            .and_then(|r| r.json_path.as_deref())
            .filter(|p| !p.is_empty())
        {
            None => Ok(body),
            Some(path) => select(&remote.key, body.expose(), path),
        }
    }
}

/// ESO's result handling: the first match of `path`; an array gives its first element.
fn select(key: &str, body: &[u8], path: &str) -> Result<SecretBytes, ProviderError> {
    let json: Value = serde_json::from_slice(body).map_err(|_| ProviderError::Answer {
        service: SERVICE,
        what: "the answer is not JSON".into(),
    })?;
    let found = json.query(path).map_err(|_| {
        ProviderError::Config(format!("webhook result.jsonPath {path:?} is invalid"))
    })?;
    let Some(mut v) = found.first().copied() else {
        return Err(ProviderError::MissingProperty {
            key: key.to_owned(),
            property: path.to_owned(),
        });
    };
    if let Value::Array(items) = v {
        v = items
            .first()
            .ok_or_else(|| ProviderError::MissingProperty {
                key: key.to_owned(),
                property: path.to_owned(),
            })?;
    }
    Ok(json_value_bytes(v))
}

impl SecretsClient for WebhookClient {
    fn provider(&self) -> &'static str {
        SERVICE
    }

    fn get_secret<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretBytes, ProviderError>> {
        self.get(remote).boxed()
    }

    fn get_all_secrets<'a>(
        &'a self,
        _find: &'a ExternalSecretFind,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        async {
            Err(ProviderError::Unsupported(
                "dataFrom.find with the webhook provider".into(),
            ))
        }
        .boxed()
    }

    fn validate(&self) -> BoxFuture<'_, Result<Validation, ProviderError>> {
        // Nothing can be asked without a key (ESO does the same).
        async { Ok(Validation::Unknown) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_results_follow_eso_rules() {
        let body = br#"{"data":{"s":"v","n":3,"a":["first","second"],"o":{"k":1}}}"#;
        let get = |p: &str| select("k", body, p).map(|v| v.expose().to_vec());
        assert_eq!(get("$.data.s").unwrap(), b"v");
        assert_eq!(get("$.data.n").unwrap(), b"3");
        assert_eq!(get("$.data.a").unwrap(), b"first");
        assert_eq!(get("$.data.o").unwrap(), br#"{"k":1}"#);
        assert!(matches!(
            select("k", body, "$.data.missing"),
            Err(ProviderError::MissingProperty { .. })
        ));
    }
}
