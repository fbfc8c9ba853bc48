//! Google OAuth 2.0 access tokens from `google-cloud-auth`, found as sops finds them.
//!
//! Order (getsops/sops `gcpkms/keysource.go`, then Google's Application Default Credentials):
//! `GOOGLE_CREDENTIALS` (a credentials file path, or its JSON), `GOOGLE_OAUTH_ACCESS_TOKEN`,
//! `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's `application_default_credentials.json`
//! (`CLOUDSDK_CONFIG` or `~/.config/gcloud`), then the metadata server
//! (`http://$GCE_METADATA_HOST`, default `metadata.google.internal`).
//!
//! A credentials file is one of `service_account` (an RS256 JWT traded at its `token_uri`),
//! `authorized_user` (a refresh token), or `external_account` (workload identity federation:
//! a subject token from a file, URL or AWS, exchanged at the file's `token_url`, optionally
//! impersonating a service account). Each is built from the JSON with the crate's builder,
//! so nothing is read from the process environment.

use secrecy::SecretString;

use crate::env::EnvSnapshot;
use crate::error::{Error, Result};

/// The OAuth scope asked for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

const CLOUD: &str = "gcp";

/// How long the metadata server may take to answer before it is given up on (off Google
/// Cloud, its name does not resolve or nothing answers).
const METADATA_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// A token for [`SCOPE`] from the first source of `env` that has credentials.
pub async fn access_token(env: &EnvSnapshot) -> Result<SecretString> {
    if let Some(value) = env.get("GOOGLE_CREDENTIALS") {
        let (json, origin) = if std::path::Path::new(value).is_file() {
            (
                read(value, "GOOGLE_CREDENTIALS")?,
                format!("GOOGLE_CREDENTIALS {value}"),
            )
        } else {
            (
                zeroize::Zeroizing::new(value.to_owned()),
                "GOOGLE_CREDENTIALS".to_owned(),
            )
        };
        return token_from_json(&json, &origin).await;
    }
    if let Some(token) = env.get("GOOGLE_OAUTH_ACCESS_TOKEN") {
        return Ok(SecretString::from(token.to_owned()));
    }
    let adc = env
        .get("GOOGLE_APPLICATION_CREDENTIALS")
        .map(|p| {
            (
                std::path::PathBuf::from(p),
                "GOOGLE_APPLICATION_CREDENTIALS",
            )
        })
        .or_else(|| {
            let dir = match env.get("CLOUDSDK_CONFIG") {
                Some(d) => std::path::PathBuf::from(d),
                None => std::path::PathBuf::from(env.get("HOME")?)
                    .join(".config")
                    .join("gcloud"),
            };
            let file = dir.join("application_default_credentials.json");
            file.is_file()
                .then_some((file, "gcloud application default credentials"))
        });
    if let Some((path, name)) = adc {
        let origin = format!("{name} {}", path.display());
        let json = read(&path.to_string_lossy(), &origin)?;
        return token_from_json(&json, &origin).await;
    }
    metadata_server_token(env.get("GCE_METADATA_HOST")).await
}

fn read(path: &str, origin: &str) -> Result<zeroize::Zeroizing<String>> {
    fs_err::read_to_string(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| Error::NoCredentials {
            cloud: CLOUD,
            reason: format!("reading {origin}: {e}"),
        })
}

/// A token from a credentials JSON (`service_account`, `authorized_user` or
/// `external_account`); `origin` names it in errors.
pub async fn token_from_json(json: &str, origin: &str) -> Result<SecretString> {
    use google_cloud_auth::credentials::{external_account, service_account, user_account};
    let bad = |reason: &str| Error::NoCredentials {
        cloud: CLOUD,
        reason: format!("{origin}: {reason}"),
    };
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| bad("not a credentials JSON"))?;
    let built = match value.get("type").and_then(|t| t.as_str()) {
        Some("service_account") => service_account::Builder::new(value)
            .with_access_specifier(service_account::AccessSpecifier::from_scopes([SCOPE]))
            .build_access_token_credentials(),
        Some("authorized_user") => user_account::Builder::new(value)
            .with_scopes([SCOPE])
            .build_access_token_credentials(),
        Some("external_account") => external_account::Builder::new(value)
            .with_scopes([SCOPE])
            .build_access_token_credentials(),
        Some(other) => {
            return Err(bad(&format!(
                "credentials of type `{other}` are not supported (service_account, \
                 authorized_user and external_account are)"
            )));
        }
        None => return Err(bad("no `type` field")),
    };
    let credentials = built.map_err(|e| failed(origin, &e))?;
    let token = credentials
        .access_token()
        .await
        .map_err(|e| failed(origin, &e))?;
    Ok(SecretString::from(token.token))
}

/// A token from the metadata server at `host` (`GCE_METADATA_HOST`), or
/// `metadata.google.internal`.
pub async fn metadata_server_token(host: Option<&str>) -> Result<SecretString> {
    use google_cloud_auth::credentials::mds;
    let origin = format!(
        "the metadata server {}",
        host.unwrap_or("metadata.google.internal")
    );
    let mut builder = mds::Builder::default().with_scopes([SCOPE]);
    if let Some(host) = host {
        builder = builder.with_endpoint(format!("http://{host}"));
    }
    let credentials = builder
        .build_access_token_credentials()
        .map_err(|e| failed(&origin, &e))?;
    match tokio::time::timeout(METADATA_DEADLINE, credentials.access_token()).await {
        Ok(Ok(token)) => Ok(SecretString::from(token.token)),
        Ok(Err(e)) => Err(Error::NoCredentials {
            cloud: CLOUD,
            reason: format!(
                "set GOOGLE_OAUTH_ACCESS_TOKEN, GOOGLE_CREDENTIALS or \
                 GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default \
                 login`; {origin}: {}",
                one_line(&e)
            ),
        }),
        Err(_) => Err(Error::NoCredentials {
            cloud: CLOUD,
            reason: format!(
                "set GOOGLE_OAUTH_ACCESS_TOKEN, GOOGLE_CREDENTIALS or \
                 GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default \
                 login`; {origin} did not answer within {}s",
                METADATA_DEADLINE.as_secs()
            ),
        }),
    }
}

fn failed(origin: &str, e: &(dyn std::error::Error + Send + Sync + 'static)) -> Error {
    Error::Credentials {
        cloud: CLOUD,
        origin: origin.to_owned(),
        source: one_line(e).into(),
    }
}

fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    crate::error::error_line(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credentials_files_of_unknown_types_are_named_in_the_error() {
        let err = token_from_json(r#"{"type": "gdch_service_account"}"#, "GOOGLE_CREDENTIALS")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`gdch_service_account` are not supported"),
            "{err}"
        );
        let err = token_from_json("{", "GOOGLE_CREDENTIALS")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no gcp credentials: GOOGLE_CREDENTIALS: not a credentials JSON"
        );
    }
}
