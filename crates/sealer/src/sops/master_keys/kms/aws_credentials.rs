//! AWS credentials, found in the order of the AWS SDK for Go v2 (which sops uses), and STS.
//!
//! 1. a profile named on the key (`aws_profile`, `--aws-profile`): that profile, even when
//!    the environment has keys;
//! 2. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 3. `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (EKS IRSA): STS
//!    `AssumeRoleWithWebIdentity`;
//! 4. the profile `AWS_PROFILE` (default `default`) from `~/.aws/credentials`
//!    (`AWS_SHARED_CREDENTIALS_FILE`) and `~/.aws/config` (`AWS_CONFIG_FILE`): static keys,
//!    `credential_process`, or `role_arn` + `source_profile` (STS `AssumeRole`).
//!
//! Not implemented: SSO profiles and the EC2/ECS metadata endpoints; the error says so.
//! A `+role` on the key ARN assumes that role with the credentials found (STS `AssumeRole`,
//! session name `sops@HOSTNAME`, as sops names it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::http::{self, one_line};
use super::sigv4;
use crate::sops::master_keys::env::KeyEnv;
use crate::sops::master_keys::error::{Error, Result};

/// STS API version.
const STS_VERSION: &str = "2011-06-15";
/// AWS's limit on role session names.
const SESSION_NAME_LIMIT: usize = 64;

/// A set of AWS credentials.
pub(crate) struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where a lookup happens: the env, the region for STS and the key for messages.
pub(crate) struct Lookup<'a> {
    pub env: &'a KeyEnv,
    pub region: &'a str,
    pub key: &'a str,
}

impl Lookup<'_> {
    fn no_credentials(&self, reason: String) -> Error {
        Error::NoCredentials {
            key: self.key.to_owned(),
            reason,
        }
    }

    /// The credentials for a key with the given `aws_profile` (empty = none).
    pub async fn resolve(&self, profile: Option<&str>) -> Result<AwsCredentials> {
        if let Some(profile) = profile.filter(|p| !p.is_empty()) {
            return self.profile_credentials(profile, 0).await;
        }
        let env = self.env;
        if let (Some(id), Some(secret)) = (
            env.get("AWS_ACCESS_KEY_ID"),
            env.secret("AWS_SECRET_ACCESS_KEY"),
        ) {
            return Ok(AwsCredentials {
                access_key_id: id.to_owned(),
                secret_access_key: secret,
                session_token: env.secret("AWS_SESSION_TOKEN"),
            });
        }
        if let (Some(file), Some(role)) = (
            env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
            env.get("AWS_ROLE_ARN"),
        ) {
            let token = Zeroizing::new(fs_err::read_to_string(file).map_err(|e| {
                self.no_credentials(format!("reading AWS_WEB_IDENTITY_TOKEN_FILE: {e}"))
            })?);
            let session = env
                .get("AWS_ROLE_SESSION_NAME")
                .map_or_else(session_name, str::to_owned);
            return self
                .assume_role_with_web_identity(role, &session, token.trim())
                .await;
        }
        let profile = env.get("AWS_PROFILE").unwrap_or("default");
        self.profile_credentials(profile, 0).await
    }

    fn shared_files(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        let env = self.env;
        let home_file = |name: &str| env.home().map(|h| h.join(".aws").join(name));
        (
            env.get("AWS_SHARED_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .or_else(|| home_file("credentials")),
            env.get("AWS_CONFIG_FILE")
                .map(PathBuf::from)
                .or_else(|| home_file("config")),
        )
    }

    /// The settings of `profile`: the credentials file's `[name]` over the config file's
    /// `[profile name]` (`[default]` for the default profile).
    fn profile_settings(&self, profile: &str) -> Option<BTreeMap<String, SecretString>> {
        let (credentials, config) = self.shared_files();
        let mut found = None::<BTreeMap<String, SecretString>>;
        if let Some(text) = config.and_then(|p| fs_err::read_to_string(p).ok()) {
            let text = Zeroizing::new(text);
            let sections = parse_ini(&text);
            let wanted = if profile == "default" {
                "default".to_owned()
            } else {
                format!("profile {profile}")
            };
            if let Some(section) = sections.into_iter().find(|(name, _)| *name == wanted) {
                found = Some(section.1);
            }
        }
        if let Some(text) = credentials.and_then(|p| fs_err::read_to_string(p).ok()) {
            let text = Zeroizing::new(text);
            if let Some((_, section)) = parse_ini(&text).into_iter().find(|(n, _)| n == profile) {
                let merged = found.get_or_insert_with(BTreeMap::new);
                merged.extend(section);
            }
        }
        found
    }

    fn profile_credentials<'s>(
        &'s self,
        profile: &'s str,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<AwsCredentials>> + Send + 's>>
    {
        Box::pin(async move {
            let Some(settings) = self.profile_settings(profile) else {
                return Err(self.no_credentials(format!(
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are unset, and profile `{profile}` is \
                     in neither ~/.aws/credentials nor ~/.aws/config (SSO profiles and the EC2/ECS \
                     metadata endpoints are not supported)"
                )));
            };
            let get = |name: &str| {
                settings
                    .get(name)
                    .map(|v| v.expose_secret())
                    .filter(|v| !v.is_empty())
            };
            if let Some(role) = get("role_arn") {
                if depth > 4 {
                    return Err(self.no_credentials(format!(
                        "profile `{profile}`: source_profile chain is too long"
                    )));
                }
                let source = get("source_profile").ok_or_else(|| {
                    self.no_credentials(format!(
                        "profile `{profile}` has role_arn but no source_profile \
                         (credential_source is not supported)"
                    ))
                })?;
                let base = if source == profile {
                    self.static_keys(profile, &settings)?
                } else {
                    self.profile_credentials(source, depth + 1).await?
                };
                let session = get("role_session_name").map_or_else(session_name, str::to_owned);
                return self.assume_role(&base, role, &session).await;
            }
            if let Some(command) = get("credential_process") {
                return self.credential_process(profile, command);
            }
            self.static_keys(profile, &settings)
        })
    }

    fn static_keys(
        &self,
        profile: &str,
        settings: &BTreeMap<String, SecretString>,
    ) -> Result<AwsCredentials> {
        let get = |name: &str| {
            settings
                .get(name)
                .filter(|v| !v.expose_secret().is_empty())
                .cloned()
        };
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => Ok(AwsCredentials {
                access_key_id: id.expose_secret().to_owned(),
                secret_access_key: secret,
                session_token: get("aws_session_token"),
            }),
            _ => Err(self.no_credentials(format!(
                "profile `{profile}` has no aws_access_key_id/aws_secret_access_key \
                 (SSO profiles are not supported)"
            ))),
        }
    }

    fn credential_process(&self, profile: &str, command: &str) -> Result<AwsCredentials> {
        let failed = |reason: String| {
            self.no_credentials(format!(
                "profile `{profile}`: credential_process failed: {reason}"
            ))
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(format!("exit status {}", out.status)));
        }
        let stdout = Zeroizing::new(out.stdout);
        let value: serde_json::Value =
            serde_json::from_slice(&stdout).map_err(|_| failed("output is not JSON".into()))?;
        let field = |name: &str| value.get(name).and_then(|v| v.as_str());
        match (field("AccessKeyId"), field("SecretAccessKey")) {
            (Some(id), Some(secret)) => Ok(AwsCredentials {
                access_key_id: id.to_owned(),
                secret_access_key: SecretString::from(secret.to_owned()),
                session_token: field("SessionToken").map(|t| SecretString::from(t.to_owned())),
            }),
            _ => Err(failed("output lacks AccessKeyId/SecretAccessKey".into())),
        }
    }

    fn sts_endpoint(&self) -> String {
        self.env
            .get("AWS_ENDPOINT_URL_STS")
            .or_else(|| self.env.get("AWS_ENDPOINT_URL"))
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://sts.{}.{}", self.region, dns_suffix(self.region)))
    }

    /// STS `AssumeRole` with `base` credentials.
    pub async fn assume_role(
        &self,
        base: &AwsCredentials,
        role: &str,
        session: &str,
    ) -> Result<AwsCredentials> {
        let form = http::form_body(&[
            ("Action", "AssumeRole"),
            ("RoleArn", role),
            ("RoleSessionName", session),
            ("Version", STS_VERSION),
        ]);
        self.sts_call(
            Some(base),
            &form,
            &format!("failed to assume role '{role}'"),
        )
        .await
    }

    async fn assume_role_with_web_identity(
        &self,
        role: &str,
        session: &str,
        token: &str,
    ) -> Result<AwsCredentials> {
        let form = Zeroizing::new(http::form_body(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", role),
            ("RoleSessionName", session),
            ("Version", STS_VERSION),
            ("WebIdentityToken", token),
        ]));
        self.sts_call(
            None,
            &form,
            &format!("failed to assume role '{role}' with web identity"),
        )
        .await
    }

    async fn sts_call(
        &self,
        signer: Option<&AwsCredentials>,
        form: &str,
        what: &str,
    ) -> Result<AwsCredentials> {
        let endpoint = format!("{}/", self.sts_endpoint());
        let url = reqwest::Url::parse(&endpoint).map_err(|e| Error::InvalidKey {
            kind: "kms",
            id: endpoint.clone(),
            reason: format!("invalid STS endpoint: {e}"),
        })?;
        const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
        let mut request = http::client()
            .post(url.clone())
            .header("content-type", CONTENT_TYPE)
            .body(form.to_owned());
        if let Some(base) = signer {
            let headers = sigv4::sign(
                &sigv4::Request {
                    method: "POST",
                    url: &url,
                    headers: &[("content-type", CONTENT_TYPE)],
                    body: form.as_bytes(),
                },
                &sigv4::SigningParams {
                    access_key_id: &base.access_key_id,
                    secret_access_key: &base.secret_access_key,
                    session_token: base.session_token.as_ref(),
                    region: self.region,
                    service: "sts",
                    time: time::OffsetDateTime::now_utc(),
                },
            );
            for (name, value) in headers {
                request = request.header(name, value);
            }
        }
        let key = self.key;
        let answer = http::send(key, &endpoint, request).await?;
        let body = Zeroizing::new(answer.body.clone());
        let fields = xml_texts(
            &body,
            &[
                "AccessKeyId",
                "SecretAccessKey",
                "SessionToken",
                "Code",
                "Message",
            ],
        );
        if !answer.ok() {
            let message = format!(
                "{what}: {}: {}",
                fields.get("Code").map_or("error", |c| c.expose_secret()),
                one_line(fields.get("Message").map_or("", |m| m.expose_secret()))
            );
            return Err(http::refused(
                key,
                &endpoint,
                answer.status,
                message,
                http::Refusal::ByStatus,
            ));
        }
        let get = |name: &str| fields.get(name).cloned();
        match (get("AccessKeyId"), get("SecretAccessKey")) {
            (Some(id), Some(secret)) => Ok(AwsCredentials {
                access_key_id: id.expose_secret().to_owned(),
                secret_access_key: secret,
                session_token: get("SessionToken"),
            }),
            _ => Err(Error::BadResponse {
                key: key.to_owned(),
                endpoint,
                reason: format!("{what}: no Credentials in the STS answer"),
            }),
        }
    }
}

/// The DNS suffix of a region's partition.
pub(crate) fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// `sops@HOSTNAME`, the hostname stripped of characters STS refuses, at most 64 characters
/// (sops `stsSessionName`).
pub(crate) fn session_name() -> String {
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c))
        .collect();
    let mut name = format!("sops@{clean}");
    name.truncate(SESSION_NAME_LIMIT);
    name
}

/// The text of the first element of each of `names` in an XML document.
fn xml_texts(xml: &str, names: &[&str]) -> BTreeMap<String, SecretString> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                current = names.contains(&name.as_str()).then_some(name);
            }
            Ok(Event::Text(text)) => {
                if let Some(name) = current.take()
                    && let Ok(value) = text.unescape()
                {
                    out.entry(name)
                        .or_insert_with(|| SecretString::from(value.trim().to_owned()));
                }
            }
            Ok(Event::End(_)) => current = None,
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

/// `[section]` → `key = value` maps of an AWS config or credentials file.
fn parse_ini(text: &str) -> Vec<(String, BTreeMap<String, SecretString>)> {
    let mut sections: Vec<(String, BTreeMap<String, SecretString>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.push((name, BTreeMap::new()));
        } else if let Some((k, v)) = line.split_once('=')
            && let Some((_, section)) = sections.last_mut()
        {
            section.insert(
                k.trim().to_ascii_lowercase(),
                SecretString::from(v.trim().to_owned()),
            );
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_and_keys_are_read() {
        let sections = parse_ini(
            "# c\n[default]\naws_access_key_id = AKID\n\n[profile  dev]\nregion=eu-west-1\n",
        );
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[1].0, "profile dev");
        assert_eq!(sections[0].1["aws_access_key_id"].expose_secret(), "AKID");
    }

    #[test]
    fn sts_answers_and_errors_are_read() {
        let ok = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
                  <Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s/k</SecretAccessKey>\
                  <SessionToken>t&amp;1</SessionToken></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let got = xml_texts(ok, &["AccessKeyId", "SecretAccessKey", "SessionToken"]);
        assert_eq!(got["AccessKeyId"].expose_secret(), "ASIA1");
        assert_eq!(got["SessionToken"].expose_secret(), "t&1");
        let err = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>nope</Message></Error></ErrorResponse>";
        assert_eq!(
            xml_texts(err, &["Code"])["Code"].expose_secret(),
            "AccessDenied"
        );
    }

    #[test]
    fn session_names_are_sops_at_host_within_limits() {
        let name = session_name();
        assert!(name.starts_with("sops@") && name.len() <= 64, "{name}");
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
        let env = KeyEnv::from_vars([
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", "FROMENV"),
            ("AWS_SECRET_ACCESS_KEY", "e"),
        ]);
        let lookup = Lookup {
            env: &env,
            region: "us-east-1",
            key: "k",
        };
        assert_eq!(
            lookup.resolve(Some("team")).await.unwrap().access_key_id,
            "FROMFILE"
        );
        assert_eq!(lookup.resolve(None).await.unwrap().access_key_id, "FROMENV");
        let err = lookup
            .resolve(Some("missing"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("k: no credentials: "), "{err}");
    }
}
