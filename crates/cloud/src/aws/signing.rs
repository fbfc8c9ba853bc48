//! AWS Signature Version 4 headers for a request, by `aws-sigv4` (the signer the AWS SDKs
//! use): `x-amz-date`, `x-amz-security-token` for temporary credentials, and
//! `authorization`. Checked against the AWS documentation's known-answer example here and
//! against botocore in `tests/master_keys.rs`.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign as sigv4};
use aws_sigv4::sign::v4;

use crate::error::{Error, Result};

/// The parts of a request the signature covers.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The full URL (scheme, host, port, path, query).
    pub url: &'a url::Url,
    /// Headers to send and sign besides `host`, `x-amz-date` and `x-amz-security-token`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// The headers to add to `request` for `service` in `region`, signed at `time` with
/// `credentials`.
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>> {
    let failed = |reason: String| Error::Config {
        what: format!("signing a {service} request"),
        reason,
    };
    let identity = credentials.clone().into();
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url.as_str(),
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| failed(e.to_string()))?;
    let (instructions, _signature) = sigv4(signable, &params)
        .map_err(|e| failed(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
    }

    /// The example of the AWS General Reference ("Examples of the complete Signature
    /// Version 4 signing process", IAM `ListUsers`), with its published signature.
    #[test]
    fn signs_the_aws_documentation_example() {
        let url = url::Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
            .unwrap();
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let headers = sign(
            &Request {
                method: "GET",
                url: &url,
                headers: &[(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )],
                body: b"",
            },
            &credentials,
            "us-east-1",
            "iam",
            // 2015-08-30T12:36:00Z
            at(1_440_938_160),
        )
        .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
            )
        );
        assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
    }

    #[test]
    fn a_session_token_is_signed_and_sent() {
        let url = url::Url::parse("http://127.0.0.1:5000/").unwrap();
        let credentials = Credentials::new("AKID", "s", Some("tok".into()), None, "test");
        let headers = sign(
            &Request {
                method: "POST",
                url: &url,
                headers: &[],
                body: b"{}",
            },
            &credentials,
            "eu-west-1",
            "kms",
            at(1_767_323_045),
        )
        .unwrap();
        assert!(headers.contains(&("x-amz-security-token".to_owned(), "tok".to_owned())));
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            "{auth}"
        );
    }
}
