//! How master keys call their services, and how failures become key errors (which name the
//! key and the URL, never a token or the secret).

use sealer::sops::master_keys::{Error, Result};

use crate::http::{self, MAX_ANSWER_BYTES};

/// The client master keys use: the one given to [`super::CloudKeys`], else the shared one
/// (or an error naming the key).
pub(crate) fn client(key: &str, given: Option<&reqwest::Client>) -> Result<reqwest::Client> {
    if let Some(client) = given {
        return Ok(client.clone());
    }
    http::shared().map_err(|e| Error::NoCredentials {
        key: key.to_owned(),
        reason: e.to_string(),
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
    let body = http::read_capped(response, MAX_ANSWER_BYTES, endpoint)
        .await
        .map_err(|e| Error::BadResponse {
            key: key.to_owned(),
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        })?;
    let body = String::from_utf8_lossy(&body).into_owned();
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
    sealer::encoding::decode_std(text)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| Error::BadResponse {
            key: key.to_owned(),
            endpoint: endpoint.to_owned(),
            reason: format!("`{what}` is not base64"),
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

    #[test]
    fn messages_are_cut_to_one_short_line() {
        assert_eq!(one_line("\n  permission denied\nmore"), "permission denied");
        assert_eq!(one_line(""), "no message");
        let long = "x".repeat(400);
        assert_eq!(one_line(&long).chars().count(), 301);
    }
}
