//! The HTTP client every network key shares, and how its failures become key errors.

use std::sync::OnceLock;
use std::time::Duration;

use crate::keys::error::{Error, Result};

/// How long a key service may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one key operation may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("sealkit/", env!("CARGO_PKG_VERSION")))
}

/// The shared client (connection pool, system roots, timeouts). Building it reads the
/// system's CA certificates (`SSL_CERT_FILE`, `SSL_CERT_DIR`), which can fail: that is an
/// error for `key`, never a panic.
pub(crate) fn client(key: &str) -> Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let built = builder().build().map_err(|e| Error::HttpClient {
        key: key.to_owned(),
        reason: "the system's CA certificates (SSL_CERT_FILE, SSL_CERT_DIR) hold no usable \
                 certificate"
            .into(),
        source: Some(Box::new(e)),
    })?;
    Ok(CLIENT.get_or_init(|| built))
}

/// A client that also trusts the PEM certificates in `ca_file` and, with `insecure`, skips
/// certificate checks (Vault's `VAULT_CACERT` and `VAULT_SKIP_VERIFY`).
pub(crate) fn client_with_tls(
    key: &str,
    ca_file: Option<&str>,
    insecure: bool,
) -> Result<reqwest::Client> {
    let mut b = builder();
    let bad = |reason: String| Error::InvalidKey {
        kind: "hc_vault",
        id: key.to_owned(),
        reason,
    };
    if let Some(path) = ca_file {
        let pem = fs_err::read(path).map_err(|e| bad(format!("reading VAULT_CACERT: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| bad(format!("VAULT_CACERT {path} holds no PEM certificate")))?;
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    if insecure {
        b = b.danger_accept_invalid_certs(true);
    }
    // reqwest checks the certificates' DER only here.
    b.build().map_err(|e| match ca_file {
        // reqwest's words ("invalid peer certificate") would point at the server.
        Some(path) => Error::HttpClient {
            key: key.to_owned(),
            reason: format!("VAULT_CACERT {path} holds a certificate that is not valid DER"),
            source: None,
        },
        None => Error::HttpClient {
            key: key.to_owned(),
            reason: "the system's CA certificates (SSL_CERT_FILE, SSL_CERT_DIR) hold no usable \
                     certificate"
                .into(),
            source: Some(Box::new(e)),
        },
    })
}

/// An answer: HTTP status and body text.
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, or a [`Error::BadResponse`].
    pub fn json(&self, key: &str, endpoint: &str) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).map_err(|_| Error::BadResponse {
            key: key.to_owned(),
            endpoint: endpoint.to_owned(),
            reason: "the body is not JSON".into(),
        })
    }
}

/// Sends `request`; a transport failure becomes [`Error::Unreachable`] naming `key` and
/// `endpoint` (the URL without query).
pub(crate) async fn send(
    key: &str,
    endpoint: &str,
    request: reqwest::RequestBuilder,
) -> Result<Answer> {
    let unreachable = |e: reqwest::Error| Error::Unreachable {
        key: key.to_owned(),
        endpoint: endpoint.to_owned(),
        source: Box::new(e.without_url()),
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(unreachable)?;
    Ok(Answer { status, body })
}

/// A service message fit for one error line: first line, at most 300 characters.
pub(crate) fn one_line(message: &str) -> String {
    let line = message.lines().map(str::trim).find(|l| !l.is_empty());
    let line = line.unwrap_or("no message");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// How a provider reads a failed answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The credentials or the operation were refused.
    Denied,
    /// The ciphertext is not for this key, or was altered.
    WrongKey,
    /// Anything else: decided by the status (401/403 denied, else a service error).
    ByStatus,
}

/// The error of a failed call.
pub(crate) fn refused(
    key: &str,
    endpoint: &str,
    status: u16,
    message: String,
    refusal: Refusal,
) -> Error {
    let key = key.to_owned();
    let endpoint = endpoint.to_owned();
    match refusal {
        Refusal::WrongKey => Error::WrongKey { key, message },
        Refusal::Denied => Error::AccessDenied {
            key,
            endpoint,
            status,
            message,
        },
        Refusal::ByStatus if matches!(status, 401 | 403) => Error::AccessDenied {
            key,
            endpoint,
            status,
            message,
        },
        Refusal::ByStatus => Error::Service {
            key,
            endpoint,
            status,
            message,
        },
    }
}

/// The error code and one-line message of a JSON error body (`code` and `message` are JSON
/// pointers, the first string found wins), formatted `CODE: message`; the body's first line
/// when it is not such JSON.
pub(crate) fn error_message(body: &str, code: &[&str], message: &[&str]) -> (String, String) {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let first = |pointers: &[&str]| {
        pointers
            .iter()
            .find_map(|p| value.pointer(p).and_then(serde_json::Value::as_str))
            .map(str::to_owned)
    };
    let code = first(code).unwrap_or_default();
    let text = first(message).map_or_else(|| one_line(body), |m| one_line(&m));
    let formatted = if code.is_empty() {
        text
    } else {
        format!("{code}: {text}")
    };
    (code, formatted)
}

/// A JSON string field, or a [`Error::BadResponse`] naming it.
pub(crate) fn str_field<'v>(
    value: &'v serde_json::Value,
    pointer: &str,
    key: &str,
    endpoint: &str,
) -> Result<&'v str> {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| Error::BadResponse {
            key: key.to_owned(),
            endpoint: endpoint.to_owned(),
            reason: format!(
                "no `{}` string in the answer",
                pointer.trim_start_matches('/')
            ),
        })
}

/// A base64 field decoded, or a [`Error::BadResponse`].
pub(crate) fn decode_b64(
    text: &str,
    what: &str,
    key: &str,
    endpoint: &str,
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    crate::encoding::decode_std(text)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| Error::BadResponse {
            key: key.to_owned(),
            endpoint: endpoint.to_owned(),
            reason: format!("`{what}` is not base64"),
        })
}

/// `application/x-www-form-urlencoded` pairs.
pub(crate) fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("static URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

/// An OAuth 2.0 token request (RFC 6749 §4): `pairs` form-encoded to `endpoint`, the
/// `access_token` of the JSON answer back. Failures name the token endpoint and quote the
/// server's `error_description` (never the request).
pub(crate) async fn oauth_token(
    key: &str,
    endpoint: &str,
    pairs: &[(&str, &str)],
) -> Result<secrecy::SecretString> {
    let body = zeroize::Zeroizing::new(form_body(pairs));
    let request = client(key)?
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    let answer = send(key, endpoint, request).await?;
    let body = zeroize::Zeroizing::new(answer.body.clone());
    let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    if !answer.ok() {
        let text = value
            .get("error_description")
            .or_else(|| value.get("error"))
            .and_then(|m| m.as_str())
            .map_or_else(|| one_line(&body), one_line);
        return Err(Error::AccessDenied {
            key: key.to_owned(),
            endpoint: endpoint.to_owned(),
            status: answer.status,
            message: format!("token request refused: {text}"),
        });
    }
    value
        .get("access_token")
        .and_then(|t| t.as_str())
        .map(|t| secrecy::SecretString::from(t.to_owned()))
        .ok_or_else(|| Error::BadResponse {
            key: key.to_owned(),
            endpoint: endpoint.to_owned(),
            reason: "no `access_token` in the token answer".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_bodies_give_code_and_message_and_status_decides_the_rest() {
        let google = r#"{"error": {"code": 403, "message": "Permission denied.", "status": "PERMISSION_DENIED"}}"#;
        let (code, message) = error_message(google, &["/error/status"], &["/error/message"]);
        assert_eq!(code, "PERMISSION_DENIED");
        assert_eq!(message, "PERMISSION_DENIED: Permission denied.");
        let (_, html) = error_message("<html>\nbad gateway</html>", &["/x"], &["/y"]);
        assert_eq!(html, "<html>");
        let denied = refused("k", "u", 403, "no".into(), Refusal::ByStatus);
        assert!(matches!(denied, Error::AccessDenied { status: 403, .. }));
        let other = refused("k", "u", 500, "boom".into(), Refusal::ByStatus);
        assert_eq!(other.to_string(), "k: u answered HTTP 500: boom");
        let wrong = refused("k", "u", 400, "bad".into(), Refusal::WrongKey);
        assert!(matches!(wrong, Error::WrongKey { .. }));
    }

    // issue 14: a malformed certificate in VAULT_CACERT panicked `seal decrypt` (reqwest
    // checks the DER only when the client is built).
    #[test]
    fn a_vault_cacert_with_a_malformed_certificate_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        fs_err::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let path = path.to_str().unwrap();
        let err = client_with_tls("hc_vault key k", Some(path), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "hc_vault key k: cannot set up TLS: VAULT_CACERT {path} holds a certificate \
                 that is not valid DER"
            )
        );
    }

    #[test]
    fn messages_are_cut_to_one_short_line() {
        assert_eq!(one_line("\n  permission denied\nmore"), "permission denied");
        assert_eq!(one_line(""), "no message");
        let long = "x".repeat(400);
        assert_eq!(one_line(&long).chars().count(), 301);
    }
}
