//! Microsoft Entra ID tokens from `azure_identity`, found in the order of
//! `DefaultAzureCredential` (the chain the Azure SDK sops uses follows):
//!
//! 1. client secret: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`;
//! 2. workload identity: `AZURE_FEDERATED_TOKEN_FILE` with `AZURE_TENANT_ID` and
//!    `AZURE_CLIENT_ID` (AKS workload identity);
//! 3. managed identity: App Service / Container Apps (`IDENTITY_ENDPOINT` +
//!    `IDENTITY_HEADER`), else the instance metadata service (`169.254.169.254`, tried for
//!    [`IMDS_DEADLINE`] at most), user-assigned with `AZURE_CLIENT_ID`;
//! 4. the Azure CLI (`az account get-access-token`).
//!
//! Between 1 and 2, a client certificate: `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file with the
//! certificate and its RSA key) with tenant and client ID, as a signed client assertion
//! ([`super::ClientCertificate`]; azure_identity's own certificate credential needs OpenSSL).
//!
//! `AZURE_AUTHORITY_HOST` replaces `https://login.microsoftonline.com` (it must be https, as
//! azure_identity requires). Token requests go through the caller's [`crate::http`] client.
//! Limits of azure_identity 1.0: managed identity reads its variables from the process
//! environment (it has no other input), and the instance metadata address cannot be
//! changed.

use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    AzureCliCredential, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use secrecy::{ExposeSecret as _, SecretString};

use super::ClientCertificate;
use super::assertion::Assertion;
use crate::env::EnvSnapshot;
use crate::error::{Error, Result};

const CLOUD: &str = "azure";

/// The public cloud's authority.
pub const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";

/// How long the instance metadata service may take before managed identity is given up on
/// (off Azure nothing answers at that address).
pub const IMDS_DEADLINE: Duration = Duration::from_secs(3);

/// One Entra ID credential, given explicitly (what an ESO `azurekv` store names).
pub enum AzureIdentity {
    /// A service principal's client secret.
    ClientSecret {
        /// The tenant (directory) ID.
        tenant_id: String,
        /// The client (application) ID.
        client_id: String,
        /// The secret.
        secret: SecretString,
    },
    /// A client certificate: assertions signed with its key.
    ClientCertificate {
        /// The tenant ID.
        tenant_id: String,
        /// The client ID.
        client_id: String,
        /// The certificate and key.
        certificate: Arc<ClientCertificate>,
    },
    /// A client assertion in hand (ESO's workload identity with a `serviceAccountRef`: a
    /// TokenRequest token for audience `api://AzureADTokenExchange`).
    ClientAssertion {
        /// The tenant ID.
        tenant_id: String,
        /// The client ID.
        client_id: String,
        /// The assertion (a JWT).
        assertion: SecretString,
    },
    /// Workload identity: a federated token file (a projected ServiceAccount token).
    WorkloadIdentity {
        /// The tenant ID.
        tenant_id: String,
        /// The client ID.
        client_id: String,
        /// The token file.
        token_file: std::path::PathBuf,
    },
    /// Managed identity (system-assigned, or the user-assigned client ID given).
    ManagedIdentity {
        /// A user-assigned identity's client ID.
        client_id: Option<String>,
    },
    /// The Azure CLI's logged-in account.
    AzureCli,
}

impl std::fmt::Debug for AzureIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::ClientSecret { .. } => "ClientSecret",
            Self::ClientCertificate { .. } => "ClientCertificate",
            Self::ClientAssertion { .. } => "ClientAssertion",
            Self::WorkloadIdentity { .. } => "WorkloadIdentity",
            Self::ManagedIdentity { .. } => "ManagedIdentity",
            Self::AzureCli => "AzureCli",
        };
        f.write_str(name)
    }
}

impl AzureIdentity {
    fn describe(&self) -> &'static str {
        match self {
            Self::ClientSecret { .. } => "client secret",
            Self::ClientCertificate { .. } => "client certificate",
            Self::ClientAssertion { .. } => "client assertion",
            Self::WorkloadIdentity { .. } => "workload identity",
            Self::ManagedIdentity { .. } => "managed identity",
            Self::AzureCli => "the Azure CLI",
        }
    }
}

/// Client options: `http` as the transport, `authority` (an https URL) instead of the
/// public cloud's.
fn client_options(http: &reqwest::Client, authority: Option<&str>) -> ClientOptions {
    let mut options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        ..ClientOptions::default()
    };
    if let Some(host) = authority {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = host.trim_end_matches('/').to_owned();
        options.cloud = Some(Arc::new(CloudConfiguration::Custom(custom)));
    }
    options
}

/// A token for `scope` (`https://vault.azure.net/.default`) from `identity`, with the
/// authority `authority` (`None`: the public cloud).
pub async fn access_token(
    identity: &AzureIdentity,
    scope: &str,
    authority: Option<&str>,
    http: &reqwest::Client,
) -> Result<SecretString> {
    let failed = |e: azure_core::Error| Error::Credentials {
        cloud: CLOUD,
        origin: identity.describe().to_owned(),
        source: one_line(&e).into(),
    };
    let credential: Arc<dyn TokenCredential> = match identity {
        AzureIdentity::ClientSecret {
            tenant_id,
            client_id,
            secret,
        } => ClientSecretCredential::new(
            tenant_id,
            client_id.clone(),
            Secret::new(secret.expose_secret().to_owned()),
            Some(ClientSecretCredentialOptions {
                client_options: client_options(http, authority),
            }),
        )
        .map_err(failed)?,
        AzureIdentity::ClientCertificate {
            tenant_id,
            client_id,
            certificate,
        } => {
            let audience = format!(
                "{}/{tenant_id}/oauth2/v2.0/token",
                authority.unwrap_or(PUBLIC_AUTHORITY).trim_end_matches('/')
            );
            ClientAssertionCredential::new(
                tenant_id.clone(),
                client_id.clone(),
                Assertion::Certificate {
                    certificate: certificate.clone(),
                    client_id: client_id.clone(),
                    audience,
                },
                Some(ClientAssertionCredentialOptions {
                    client_options: client_options(http, authority),
                }),
            )
            .map_err(failed)?
        }
        AzureIdentity::ClientAssertion {
            tenant_id,
            client_id,
            assertion,
        } => ClientAssertionCredential::new(
            tenant_id.clone(),
            client_id.clone(),
            Assertion::Token(assertion.clone()),
            Some(ClientAssertionCredentialOptions {
                client_options: client_options(http, authority),
            }),
        )
        .map_err(failed)?,
        AzureIdentity::WorkloadIdentity {
            tenant_id,
            client_id,
            token_file,
        } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions {
                client_options: client_options(http, authority),
            },
            client_id: Some(client_id.clone()),
            tenant_id: Some(tenant_id.clone()),
            token_file_path: Some(token_file.clone()),
        }))
        .map_err(failed)?,
        AzureIdentity::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options: client_options(http, None),
            }))
            .map_err(failed)?
        }
        AzureIdentity::AzureCli => AzureCliCredential::new(None).map_err(failed)?,
    };
    let token = credential.get_token(&[scope], None).await.map_err(failed)?;
    Ok(SecretString::from(token.token.secret().to_owned()))
}

/// A token for `scope` from the first source of `env` that yields one (see the module
/// documentation for the order).
pub async fn default_chain(
    env: &EnvSnapshot,
    scope: &str,
    http: &reqwest::Client,
) -> Result<SecretString> {
    let authority = env.get("AZURE_AUTHORITY_HOST");
    let tenant = env.get("AZURE_TENANT_ID");
    let client = env.get("AZURE_CLIENT_ID");
    if let (Some(tenant), Some(client)) = (tenant, client) {
        if let Some(secret) = env.get("AZURE_CLIENT_SECRET") {
            let identity = AzureIdentity::ClientSecret {
                tenant_id: tenant.to_owned(),
                client_id: client.to_owned(),
                secret: SecretString::from(secret.to_owned()),
            };
            return access_token(&identity, scope, authority, http).await;
        }
        if let Some(path) = env.get("AZURE_CLIENT_CERTIFICATE_PATH") {
            let bad = |reason: String| Error::NoCredentials {
                cloud: CLOUD,
                reason: format!("AZURE_CLIENT_CERTIFICATE_PATH {path}: {reason}"),
            };
            if env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD").is_some() {
                return Err(bad(
                    "password-protected (PKCS#12) certificates are not read; give a PEM file \
                     with the certificate and its key"
                        .into(),
                ));
            }
            let pem = zeroize::Zeroizing::new(fs_err::read(path).map_err(|e| bad(e.to_string()))?);
            let certificate = ClientCertificate::from_pem(&pem).map_err(|r| bad(r.to_owned()))?;
            let identity = AzureIdentity::ClientCertificate {
                tenant_id: tenant.to_owned(),
                client_id: client.to_owned(),
                certificate: Arc::new(certificate),
            };
            return access_token(&identity, scope, authority, http).await;
        }
        if let Some(file) = env.get("AZURE_FEDERATED_TOKEN_FILE") {
            let identity = AzureIdentity::WorkloadIdentity {
                tenant_id: tenant.to_owned(),
                client_id: client.to_owned(),
                token_file: file.into(),
            };
            return access_token(&identity, scope, authority, http).await;
        }
    }
    let mut tried = Vec::new();
    let managed = AzureIdentity::ManagedIdentity {
        client_id: client.map(str::to_owned),
    };
    if env.get("IDENTITY_ENDPOINT").is_some() || env.get("MSI_ENDPOINT").is_some() {
        return access_token(&managed, scope, None, http).await;
    }
    match tokio::time::timeout(IMDS_DEADLINE, access_token(&managed, scope, None, http)).await {
        Ok(Ok(token)) => return Ok(token),
        Ok(Err(e)) => tried.push(format!("managed identity: {}", one_line(&e))),
        Err(_) => tried.push(format!(
            "managed identity: the instance metadata service did not answer within {}s",
            IMDS_DEADLINE.as_secs()
        )),
    }
    match access_token(&AzureIdentity::AzureCli, scope, None, http).await {
        Ok(token) => Ok(token),
        Err(e) => {
            tried.push(format!("Azure CLI: {}", one_line(&e)));
            Err(Error::NoCredentials {
                cloud: CLOUD,
                reason: format!(
                    "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or \
                     AZURE_FEDERATED_TOKEN_FILE), run on Azure with a managed identity, or \
                     log in with `az login` ({})",
                    tried.join("; ")
                ),
            })
        }
    }
}

/// An error and its causes on one line.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    crate::error::error_line(e)
}
