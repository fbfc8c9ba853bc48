//! AWS: credentials, STS role chaining, SigV4 signing, endpoints and the KMS master key.
//!
//! - [`credentials`]: [`AwsIdentity`] → [`Credentials`] through `aws-config` and
//!   `aws-sdk-sts`, reading an environment snapshot, never the process's.
//! - [`signing`]: SigV4 headers for a request (`aws-sigv4`).
//! - [`endpoint_url`]: `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, as the SDKs.
//! - [`AwsKmsKey`]: the `kms` SOPS master key (`TrentService.Encrypt` / `Decrypt`).

pub mod credentials;
mod http_client;
mod kms;
pub mod signing;

pub use aws_credential_types::Credentials;
pub use credentials::{AssumeRole, AwsIdentity, AwsSession};

use crate::env::EnvSnapshot;
pub use http_client::ReqwestHttpClient;
pub use kms::AwsKmsKey;

use crate::error::{Error, Result};

/// The DNS suffix of a region's partition.
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Whether `region` is a region name (`eu-west-1`): lower-case letters, digits and dashes,
/// so that it cannot steer a `https://SERVICE.REGION.amazonaws.com` URL elsewhere.
pub fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The endpoint of `service` as the AWS SDKs choose it: `AWS_ENDPOINT_URL_<ENV_NAME>`, else
/// `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`; else
/// `https://<prefix>.<region>.<partition suffix>`. `env_name` is the service's variable
/// suffix (`KMS`, `STS`, `SECRETS_MANAGER`, `SSM`), `prefix` its host prefix (`kms`,
/// `sts`, `secretsmanager`, `ssm`).
pub fn endpoint_url(
    env: &EnvSnapshot,
    env_name: &str,
    prefix: &str,
    region: &str,
) -> Result<url::Url> {
    let ignore = env
        .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let specific = format!("AWS_ENDPOINT_URL_{env_name}");
    let configured = (!ignore)
        .then(|| {
            env.get(&specific)
                .map(|v| (specific.as_str(), v))
                .or_else(|| env.get("AWS_ENDPOINT_URL").map(|v| ("AWS_ENDPOINT_URL", v)))
        })
        .flatten();
    let (what, text) = match configured {
        Some((name, value)) => (name.to_owned(), value.trim_end_matches('/').to_owned()),
        None => {
            if !is_region_name(region) {
                return Err(Error::Config {
                    what: "region".into(),
                    reason: format!("{region:?} is not a region name"),
                });
            }
            (
                "region".to_owned(),
                format!("https://{prefix}.{region}.{}", dns_suffix(region)),
            )
        }
    };
    url::Url::parse(&format!("{text}/")).map_err(|e| Error::Config {
        what,
        reason: format!("{text:?} is not a URL: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_sdks_service_variable_then_the_global_one() {
        let none = EnvSnapshot::default();
        assert_eq!(
            endpoint_url(&none, "KMS", "kms", "eu-west-1")
                .unwrap()
                .as_str(),
            "https://kms.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint_url(&none, "KMS", "kms", "cn-north-1")
                .unwrap()
                .as_str(),
            "https://kms.cn-north-1.amazonaws.com.cn/"
        );
        let both = EnvSnapshot::from_vars([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:2/"),
        ]);
        assert_eq!(
            endpoint_url(&both, "KMS", "kms", "x").unwrap().as_str(),
            "http://127.0.0.1:2/"
        );
        assert_eq!(
            endpoint_url(&both, "STS", "sts", "x").unwrap().as_str(),
            "http://127.0.0.1:1/"
        );
        let ignored = EnvSnapshot::from_vars([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(
            endpoint_url(&ignored, "SSM", "ssm", "us-east-1")
                .unwrap()
                .as_str(),
            "https://ssm.us-east-1.amazonaws.com/"
        );
    }

    #[test]
    fn a_region_that_is_not_a_region_name_cannot_steer_the_endpoint() {
        let none = EnvSnapshot::default();
        for region in ["@169.254.169.254#", "x/../y", "eu-west-1.evil.test:1", ""] {
            let err = endpoint_url(&none, "SECRETS_MANAGER", "secretsmanager", region)
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not a region name"), "{region}: {err}");
        }
    }
}
