//! AWS credentials from the official crates: `aws-config` for the SDKs' default chain and
//! `aws-sdk-sts` for `AssumeRole` and `AssumeRoleWithWebIdentity`.
//!
//! An [`AwsSession`] holds the region, an [`EnvSnapshot`] and a [`crate::http`] client.
//! aws-config reads the snapshot (through `ConfigLoader::env`), never the process
//! environment, so a caller decides exactly what the chain sees: the CLI hands it the
//! process's variables, the controller an empty or chosen set for a tenant's store. The
//! default chain is the SDKs' ([`aws_config::default_provider::credentials`]):
//!
//! 1. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`);
//! 2. the shared config and credentials files (`AWS_PROFILE`, `AWS_CONFIG_FILE`,
//!    `AWS_SHARED_CREDENTIALS_FILE`, `~/.aws`): static keys, `role_arn` with
//!    `source_profile` or `credential_source`, `credential_process`, `web_identity_token_file`,
//!    SSO (`sso_session` / `sso_start_url`, tokens from `~/.aws/sso/cache`);
//! 3. web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`);
//! 4. container credentials (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `_FULL_URI`, with
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `_TOKEN`: ECS and EKS Pod Identity);
//! 5. IMDSv2 (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_EC2_METADATA_DISABLED`).
//!
//! Endpoints follow `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_SSO`, then `AWS_ENDPOINT_URL`
//! from the snapshot, as in the SDKs. A profile named explicitly (sops's `aws_profile`)
//! wins over keys in the environment, as in the Go SDK sops uses.

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_types::SdkConfig;
use aws_types::os_shim_internal::Env;
use aws_types::region::Region;
use secrecy::{ExposeSecret as _, SecretString};

use super::ReqwestHttpClient;
use crate::env::EnvSnapshot;
use crate::error::{Error, Result};

const CLOUD: &str = "aws";

/// Where the first credentials come from.
pub enum AwsIdentity {
    /// Access keys given directly (ESO `auth.secretRef`).
    Static {
        /// Access key ID.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: SecretString,
        /// Session token of temporary credentials.
        session_token: Option<SecretString>,
    },
    /// `sts:AssumeRoleWithWebIdentity` with a token in hand (ESO `auth.jwt`: a
    /// ServiceAccount token from a TokenRequest). The call is unsigned.
    WebIdentity {
        /// The role to assume.
        role_arn: String,
        /// The OIDC token (a JWT).
        token: SecretString,
        /// The session name.
        session_name: String,
    },
    /// The SDKs' default chain over the session's environment snapshot. `profile` names a
    /// shared-config profile that wins over environment keys (sops's `aws_profile`).
    DefaultChain {
        /// The profile, `None` for `AWS_PROFILE` or `default`.
        profile: Option<String>,
    },
}

impl std::fmt::Debug for AwsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Static { access_key_id, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            Self::WebIdentity { role_arn, .. } => f
                .debug_struct("WebIdentity")
                .field("role_arn", role_arn)
                .finish_non_exhaustive(),
            Self::DefaultChain { profile } => f
                .debug_struct("DefaultChain")
                .field("profile", profile)
                .finish(),
        }
    }
}

/// One `sts:AssumeRole` step on top of the credentials so far (sops's `+ROLE_ARN`; ESO's
/// `additionalRoles` and `role` with `externalID` and session tags).
#[derive(Clone, Debug, Default)]
pub struct AssumeRole {
    /// The role to assume.
    pub role_arn: String,
    /// The session name.
    pub session_name: String,
    /// `ExternalId`, when the role's trust policy asks for one.
    pub external_id: Option<String>,
    /// `DurationSeconds`; STS's default (one hour) when `None`.
    pub duration: Option<Duration>,
    /// Session tags.
    pub tags: Vec<(String, String)>,
    /// Tag keys that pass on to chained sessions.
    pub transitive_tag_keys: Vec<String>,
}

/// The region, environment snapshot and HTTP client credential calls use.
#[derive(Clone, Debug)]
pub struct AwsSession {
    region: String,
    env: EnvSnapshot,
    http: reqwest::Client,
}

impl AwsSession {
    /// Calls for `region`, reading `env`, sent with `http`.
    pub fn new(region: &str, env: EnvSnapshot, http: reqwest::Client) -> Self {
        Self {
            region: region.to_owned(),
            env,
            http,
        }
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The environment snapshot.
    pub fn env(&self) -> &EnvSnapshot {
        &self.env
    }

    /// aws-config's shared configuration over the snapshot (no credentials resolved yet):
    /// what an SDK client or provider is built from.
    pub async fn sdk_config(&self, env: &EnvSnapshot, profile: Option<&str>) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .env(Env::from(env.to_map()))
            .http_client(ReqwestHttpClient::new(self.http.clone()))
            .region(Region::new(self.region.clone()));
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        loader.load().await
    }

    /// Credentials for `identity`, then through each of `roles` in order. Only
    /// [`AwsIdentity::DefaultChain`] consults the chain; the STS calls of the other identities
    /// and of the roles carry no credentials but the ones given.
    pub async fn credentials(
        &self,
        identity: &AwsIdentity,
        roles: &[AssumeRole],
    ) -> Result<Credentials> {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .env(Env::from(self.env.to_map()))
            .http_client(ReqwestHttpClient::new(self.http.clone()))
            .region(Region::new(self.region.clone()))
            .no_credentials()
            .load()
            .await;
        let mut credentials = match identity {
            AwsIdentity::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => Credentials::new(
                access_key_id,
                secret_access_key.expose_secret(),
                session_token.as_ref().map(|t| t.expose_secret().to_owned()),
                None,
                "sealkit-static",
            ),
            AwsIdentity::WebIdentity {
                role_arn,
                token,
                session_name,
            } => {
                self.web_identity(&base, role_arn, token, session_name)
                    .await?
            }
            AwsIdentity::DefaultChain { profile } => {
                self.default_chain(profile.as_deref().filter(|p| !p.is_empty()))
                    .await?
            }
        };
        for role in roles {
            credentials = assume_role(&base, credentials, role).await?;
        }
        Ok(credentials)
    }

    async fn default_chain(&self, profile: Option<&str>) -> Result<Credentials> {
        let mut env = self.env.clone();
        if profile.is_some() {
            // An explicit profile wins over environment credentials (Go SDK
            // `resolveCredentialChain`, which sops uses).
            for name in [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
            ] {
                env.remove(name);
            }
        }
        let config = self.sdk_config(&env, profile).await;
        let Some(provider) = config.credentials_provider() else {
            return Err(Error::NoCredentials {
                cloud: CLOUD,
                reason: "the default chain is not configured".into(),
            });
        };
        provider.provide_credentials().await.map_err(|e| match &e {
            aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_) => {
                Error::NoCredentials {
                    cloud: CLOUD,
                    reason: error_chain(&e),
                }
            }
            _ => Error::Credentials {
                cloud: CLOUD,
                origin: match profile {
                    Some(p) => format!("profile `{p}`"),
                    None => "the default chain".to_owned(),
                },
                source: error_chain(&e).into(),
            },
        })
    }

    async fn web_identity(
        &self,
        config: &SdkConfig,
        role_arn: &str,
        token: &SecretString,
        session_name: &str,
    ) -> Result<Credentials> {
        let client = aws_sdk_sts::Client::new(config);
        let answer = client
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .web_identity_token(token.expose_secret())
            .send()
            .await
            .map_err(|e| Error::Credentials {
                cloud: CLOUD,
                origin: format!("AssumeRoleWithWebIdentity {role_arn}"),
                source: sts_error(&e).into(),
            })?;
        sts_credentials(answer.credentials, "web identity", role_arn)
    }
}

/// `sts:AssumeRole` with `base`; the role's credentials.
async fn assume_role(
    config: &SdkConfig,
    base: Credentials,
    role: &AssumeRole,
) -> Result<Credentials> {
    let conf = aws_sdk_sts::config::Builder::from(config)
        .credentials_provider(SharedCredentialsProvider::new(base))
        .build();
    let client = aws_sdk_sts::Client::from_conf(conf);
    let mut request = client
        .assume_role()
        .role_arn(&role.role_arn)
        .role_session_name(&role.session_name)
        .set_external_id(role.external_id.clone())
        .set_duration_seconds(
            role.duration
                .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)),
        )
        .set_transitive_tag_keys(
            (!role.transitive_tag_keys.is_empty()).then(|| role.transitive_tag_keys.clone()),
        );
    for (key, value) in &role.tags {
        let tag = aws_sdk_sts::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| Error::Config {
                what: format!("session tag {key:?}"),
                reason: e.to_string(),
            })?;
        request = request.tags(tag);
    }
    let answer = request.send().await.map_err(|e| Error::Credentials {
        cloud: CLOUD,
        origin: format!("AssumeRole {}", role.role_arn),
        source: sts_error(&e).into(),
    })?;
    sts_credentials(answer.credentials, "AssumeRole", &role.role_arn)
}

fn sts_credentials(
    credentials: Option<aws_sdk_sts::types::Credentials>,
    provider: &'static str,
    role_arn: &str,
) -> Result<Credentials> {
    let Some(c) = credentials else {
        return Err(Error::Credentials {
            cloud: CLOUD,
            origin: format!("{provider} {role_arn}"),
            source: "STS answered without credentials".into(),
        });
    };
    let expiry = SystemTime::try_from(c.expiration).ok();
    Ok(Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        Some(c.session_token),
        expiry,
        provider,
    ))
}

/// An STS failure as one line: the service's code and message when it answered.
fn sts_error<E, R>(e: &aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_sts::error::ProvideErrorMetadata as _;
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => error_chain(e),
    }
}

/// aws-config's errors on one line: the chain lists each source it tried on its own line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    for line in crate::error::error_line(e)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
}

/// `sops@HOSTNAME`, the hostname stripped of characters STS refuses, at most 64 characters
/// (sops `stsSessionName`).
pub fn sops_session_name() -> String {
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c))
        .collect();
    let mut name = format!("sops@{clean}");
    name.truncate(64);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_sops_at_host_within_limits() {
        let name = sops_session_name();
        assert!(name.starts_with("sops@") && name.len() <= 64, "{name}");
    }

    #[test]
    fn identities_never_print_their_secrets() {
        let identity = AwsIdentity::Static {
            access_key_id: "AKIA".into(),
            secret_access_key: SecretString::from("s3cret".to_owned()),
            session_token: Some(SecretString::from("t0ken".to_owned())),
        };
        let debug = format!("{identity:?}");
        assert!(debug.contains("AKIA") && !debug.contains("s3cret") && !debug.contains("t0ken"));
    }

    #[tokio::test]
    async fn a_named_profile_wins_over_environment_keys() {
        let home = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(home.path().join(".aws")).unwrap();
        fs_err::write(
            home.path().join(".aws/credentials"),
            "[team]\naws_access_key_id = FROMFILE\naws_secret_access_key = s\n",
        )
        .unwrap();
        let env = EnvSnapshot::from_vars([
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", "FROMENV"),
            ("AWS_SECRET_ACCESS_KEY", "e"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let session = AwsSession::new("us-east-1", env, crate::http::shared().unwrap());
        let named = AwsIdentity::DefaultChain {
            profile: Some("team".into()),
        };
        let got = session.credentials(&named, &[]).await.unwrap();
        assert_eq!(got.access_key_id(), "FROMFILE");
        let unnamed = AwsIdentity::DefaultChain { profile: None };
        let got = session.credentials(&unnamed, &[]).await.unwrap();
        assert_eq!(got.access_key_id(), "FROMENV");
        let missing = AwsIdentity::DefaultChain {
            profile: Some("missing".into()),
        };
        let err = session
            .credentials(&missing, &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no aws credentials: "), "{err}");
        assert!(err.contains("profile `missing` was not defined"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
