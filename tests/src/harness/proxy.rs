//! The Service proxy subresource: `/api/v1/namespaces/{ns}/services/[{scheme}:]{name}[:{port}]/proxy/{path}`
//! forwards the request to the address a test registered for that Service and port, as the API server
//! forwards to an endpoint of the Service. An unregistered Service answers 503 `ServiceUnavailable`
//! ("no endpoints available"), as a Service without ready endpoints does.

use super::status::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Where a Service's port leads.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub addr: SocketAddr,
}

/// Registered endpoints: (namespace, service) -> port (number or name) -> target.
#[derive(Debug, Default)]
pub(crate) struct Endpoints(pub HashMap<(String, String), Vec<(String, Target)>>);

/// `[scheme:]name[:port]` of the proxy path.
pub(crate) fn parse_service_ref(s: &str) -> (Option<String>, String, Option<String>) {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [name] => (None, name.to_string(), None),
        [scheme, name, port] => (
            Some(scheme.to_string()).filter(|s| !s.is_empty()),
            name.to_string(),
            Some(port.to_string()).filter(|p| !p.is_empty()),
        ),
        [name, port] => (
            None,
            name.to_string(),
            Some(port.to_string()).filter(|p| !p.is_empty()),
        ),
        _ => (None, s.to_string(), None),
    }
}

impl Endpoints {
    pub fn find(&self, ns: &str, name: &str, port: Option<&str>) -> Option<Target> {
        let ports = self.0.get(&(ns.to_string(), name.to_string()))?;
        match port {
            Some(p) => ports.iter().find(|(k, _)| k == p).map(|(_, t)| t.clone()),
            None if ports.len() == 1 => Some(ports[0].1.clone()),
            None => None,
        }
    }
}

/// Request headers that are not passed on: hop-by-hop headers (RFC 9110 §7.6.1), the ones the
/// client library sets for the new connection, `Accept-Encoding` (the answer is passed back
/// without its `Content-Encoding`), and `Authorization` (kube-apiserver drops the credentials
/// once it has authenticated the request).
const NOT_FORWARDED: [header::HeaderName; 11] = [
    header::ACCEPT_ENCODING,
    header::AUTHORIZATION,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::HOST,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
];

/// The headers sent to the Service, as kube-apiserver's proxy (`UpgradeAwareHandler`) sends
/// them: the client's end-to-end headers, and `X-Forwarded-For` with the client's address
/// appended (`utilnet.AppendForwardedForHeader`). The harness listens on 127.0.0.1 only, so
/// that is every client's address.
fn forwarded_headers(headers: &HeaderMap) -> Vec<(header::HeaderName, header::HeaderValue)> {
    let mut out: Vec<_> = headers
        .iter()
        .filter(|(name, _)| !NOT_FORWARDED.contains(name))
        .filter(|(name, _)| name.as_str() != "x-forwarded-for" && name.as_str() != "keep-alive")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let prior: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let chain = if prior.is_empty() {
        "127.0.0.1".to_owned()
    } else {
        format!("{}, 127.0.0.1", prior.join(", "))
    };
    if let Ok(value) = header::HeaderValue::from_str(&chain) {
        out.push((header::HeaderName::from_static("x-forwarded-for"), value));
    }
    out
}

/// Forwards one request.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn forward(
    http: &reqwest::Client,
    target: Target,
    scheme: Option<&str>,
    method: Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let scheme = scheme.unwrap_or("http");
    let mut url = format!(
        "{scheme}://{}/{}",
        target.addr,
        path.trim_start_matches('/')
    );
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut req = http.request(method, &url).body(body);
    for (name, value) in forwarded_headers(headers) {
        req = req.header(name, value);
    }
    let resp = req.send().await.map_err(|e| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("error trying to reach service: {e}"),
        )
    })?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await.map_err(|e| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("error reading from service: {e}"),
        )
    })?;
    let mut out = (status, bytes).into_response();
    if let Some(ct) = ct
        && let Ok(v) = ct.parse()
    {
        out.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(out)
}
