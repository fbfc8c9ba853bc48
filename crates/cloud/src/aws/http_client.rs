//! aws-config's HTTP client, over reqwest: the credential providers (STS, SSO, container
//! credentials, IMDS) send their requests through a [`crate::http`] client, so they get its
//! timeouts, answer cap and CA certificates, and no second HTTP stack is built.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use crate::http::{MAX_ANSWER_BYTES, read_capped};

/// A reqwest client as aws-config's `HttpClient`.
#[derive(Clone, Debug)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
}

impl ReqwestHttpClient {
    /// Sends aws-config's requests with `client`.
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            client: self.client.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct Connector {
    client: reqwest::Client,
    read_timeout: Option<std::time::Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move { send(client, request, read_timeout).await })
    }
}

async fn send(
    client: reqwest::Client,
    request: HttpRequest,
    read_timeout: Option<std::time::Duration>,
) -> Result<HttpResponse, ConnectorError> {
    let user = |reason: &str| ConnectorError::user(reason.to_owned().into());
    let method = reqwest::Method::from_bytes(request.method().as_bytes())
        .map_err(|_| user("invalid HTTP method"))?;
    let url = reqwest::Url::parse(request.uri()).map_err(|_| user("invalid URL"))?;
    let endpoint = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path()
    );
    // Credential requests carry small in-memory bodies; a streaming one is not expected.
    let body = request
        .body()
        .bytes()
        .ok_or_else(|| user("streaming request bodies are not supported"))?
        .to_vec();
    let mut builder = client.request(method, url).body(body);
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    if let Some(timeout) = read_timeout {
        builder = builder.timeout(timeout);
    }
    let response = builder.send().await.map_err(|e| {
        if e.is_timeout() {
            ConnectorError::timeout(Box::new(e.without_url()))
        } else {
            ConnectorError::io(Box::new(e.without_url()))
        }
    })?;
    let mut out = http::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let bytes = read_capped(response, MAX_ANSWER_BYTES, &endpoint)
        .await
        .map_err(|e| ConnectorError::io(Box::new(e)))?;
    let out = out
        .body(SdkBody::from(bytes))
        .map_err(|e| ConnectorError::other(Box::new(e), None))?;
    HttpResponse::try_from(out).map_err(|e| ConnectorError::other(Box::new(e), None))
}
