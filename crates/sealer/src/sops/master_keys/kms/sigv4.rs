//! AWS Signature Version 4 request signing (the `AWS4-HMAC-SHA256` scheme documented in the
//! AWS General Reference, "Create a signed AWS API request").
//!
//! A protocol over HMAC-SHA256 and SHA-256 (`hmac`, `sha2`), written out because the only
//! maintained crate for it (`aws-sigv4`) drags in the smithy runtime of the AWS SDK. Checked
//! against the known-answer example of the AWS documentation and against botocore.
//!
//! 1. canonical request: method, URI path, sorted query, sorted lower-case headers, the
//!    signed header names and the hex SHA-256 of the body, one per line;
//! 2. string to sign: algorithm, `X-Amz-Date`, credential scope
//!    (`DATE/REGION/SERVICE/aws4_request`) and the hex SHA-256 of the canonical request;
//! 3. signing key: `HMAC("AWS4" + secret, DATE)` → region → service → `aws4_request`;
//! 4. `Authorization: AWS4-HMAC-SHA256 Credential=AKID/SCOPE, SignedHeaders=…, Signature=…`.

use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// Who signs and for what.
pub struct SigningParams<'a> {
    /// Access key ID.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a SecretString,
    /// Session token of temporary credentials (sent as `X-Amz-Security-Token`).
    pub session_token: Option<&'a SecretString>,
    /// Region of the credential scope (`us-east-1`).
    pub region: &'a str,
    /// Service of the credential scope (`kms`, `sts`).
    pub service: &'a str,
    /// Signing time.
    pub time: time::OffsetDateTime,
}

/// One request to sign: the parts the signature covers.
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The full URL (scheme, host, port, path, query).
    pub url: &'a reqwest::Url,
    /// Headers to send and sign besides `host`, `x-amz-date` and `x-amz-security-token`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// The headers to add to `request`: `x-amz-date`, `x-amz-security-token` (with a session
/// token) and `authorization`.
pub fn sign(request: &Request<'_>, params: &SigningParams<'_>) -> Vec<(String, String)> {
    let amz_date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        params.time.year(),
        u8::from(params.time.month()),
        params.time.day(),
        params.time.hour(),
        params.time.minute(),
        params.time.second()
    );
    let date = &amz_date[..8];
    let host = match request.url.port() {
        Some(port) => format!("{}:{port}", request.url.host_str().unwrap_or_default()),
        None => request.url.host_str().unwrap_or_default().to_owned(),
    };
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), normalize_value(v)))
        .collect();
    headers.push(("host".into(), host));
    headers.push(("x-amz-date".into(), amz_date.clone()));
    if let Some(token) = params.session_token {
        headers.push((
            "x-amz-security-token".into(),
            token.expose_secret().to_owned(),
        ));
    }
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_path(request.url.path()),
        canonical_query(request.url),
        canonical_headers,
        signed_headers,
        hex::encode(Sha256::digest(request.body))
    );
    let scope = format!("{date}/{}/{}/aws4_request", params.region, params.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let secret = Zeroizing::new(format!("AWS4{}", params.secret_access_key.expose_secret()));
    let mut key = hmac(secret.as_bytes(), date.as_bytes());
    for part in [params.region, params.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    let mut out = vec![("x-amz-date".to_owned(), amz_date)];
    if let Some(token) = params.session_token {
        out.push((
            "x-amz-security-token".to_owned(),
            token.expose_secret().to_owned(),
        ));
    }
    out.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            params.access_key_id
        ),
    ));
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

/// Trims and collapses runs of spaces, as the canonical headers require.
fn normalize_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3986 encoding of everything but the unreserved characters.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL path with each segment encoded; services other than S3 sign the already
/// encoded path encoded once more.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(url: &reqwest::Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the AWS General Reference ("Examples of the complete Signature
    /// Version 4 signing process", IAM `ListUsers`), with its published signature.
    #[test]
    fn signs_the_aws_documentation_example() {
        let url =
            reqwest::Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
                .unwrap();
        let secret = SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned());
        let headers = sign(
            &Request {
                method: "GET",
                url: &url,
                headers: &[(
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                body: b"",
            },
            &SigningParams {
                access_key_id: "AKIDEXAMPLE",
                secret_access_key: &secret,
                session_token: None,
                region: "us-east-1",
                service: "iam",
                time: time::macros::datetime!(2015-08-30 12:36:00 UTC),
            },
        );
        assert_eq!(
            headers.last().unwrap().1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
        assert_eq!(
            headers[0],
            ("x-amz-date".to_owned(), "20150830T123600Z".to_owned())
        );
    }

    #[test]
    fn a_session_token_is_signed_and_sent() {
        let url = reqwest::Url::parse("http://127.0.0.1:5000/").unwrap();
        let secret = SecretString::from("s".to_owned());
        let token = SecretString::from("tok".to_owned());
        let headers = sign(
            &Request {
                method: "POST",
                url: &url,
                headers: &[],
                body: b"{}",
            },
            &SigningParams {
                access_key_id: "AKID",
                secret_access_key: &secret,
                session_token: Some(&token),
                region: "eu-west-1",
                service: "kms",
                time: time::macros::datetime!(2026-01-02 03:04:05 UTC),
            },
        );
        assert_eq!(
            headers[1],
            ("x-amz-security-token".to_owned(), "tok".to_owned())
        );
        assert!(
            headers[2]
                .1
                .contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            "{:?}",
            headers[2]
        );
    }

    #[test]
    fn query_and_path_are_encoded_and_sorted() {
        let url = reqwest::Url::parse("https://h/a%20b/c?b=2&a=x y").unwrap();
        assert_eq!(canonical_query(&url), "a=x%20y&b=2");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("/a%20b"), "/a%2520b");
    }
}
