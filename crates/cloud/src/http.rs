//! The HTTP client cloud calls share: bounded in time and in answer size, with extra CA
//! certificates that are checked when the client is built (an unreadable or empty bundle is
//! an error, never a panic).
//!
//! reqwest with rustls (aws-lc-rs) and the platform's roots, as the rest of the workspace.
//! aws-config and azure_identity send their token requests through the same clients (see
//! [`crate::aws`] and [`crate::azure`]); google-cloud-auth builds its own reqwest client.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};

/// How long a server may take to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer read from a key or credential service (their answers are a few KiB).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Settings of a bounded client.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    roots: Vec<reqwest::Certificate>,
    accept_invalid_certs: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: CONNECT_TIMEOUT,
            timeout: REQUEST_TIMEOUT,
            roots: Vec::new(),
            accept_invalid_certs: false,
        }
    }
}

impl ClientBuilder {
    /// The defaults: [`CONNECT_TIMEOUT`], [`REQUEST_TIMEOUT`], the platform's roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Deadline of each request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Deadline of each connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Also trusts the PEM certificates in `pem` (a bundle); `origin` names them in errors.
    pub fn add_ca_pem(mut self, pem: &[u8], origin: &str) -> Result<Self> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::CaCertificates {
                origin: origin.to_owned(),
                reason: "holds no PEM certificate".into(),
            })?;
        // reqwest checks a certificate's DER only when a client is built: check each one now,
        // so a bad bundle is named instead of failing (or panicking) later.
        for cert in &certs {
            reqwest::Client::builder()
                .tls_certs_only([cert.clone()])
                .build()
                .map_err(|_| Error::CaCertificates {
                    origin: origin.to_owned(),
                    reason: "holds a certificate that is not valid DER".into(),
                })?;
        }
        self.roots.extend(certs);
        Ok(self)
    }

    /// Also trusts the PEM certificates in the file at `path` (`VAULT_CACERT`).
    pub fn add_ca_file(self, path: &Path, origin: &str) -> Result<Self> {
        let pem = fs_err::read(path).map_err(|e| Error::CaCertificates {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        self.add_ca_pem(&pem, origin)
    }

    /// Turns certificate checks off (`VAULT_SKIP_VERIFY`).
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// The reqwest client builder with these settings, for callers that add their own (a
    /// DNS resolver, a redirect policy).
    pub fn reqwest_builder(self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(concat!("sealkit/", env!("CARGO_PKG_VERSION")));
        for cert in self.roots {
            builder = builder.add_root_certificate(cert);
        }
        if self.accept_invalid_certs {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder
    }

    /// The client.
    pub fn build(self) -> Result<reqwest::Client> {
        self.reqwest_builder()
            .build()
            .map_err(|source| Error::Client { source })
    }
}

/// The shared default client (one connection pool), built on first use.
pub fn shared() -> Result<reqwest::Client> {
    static CLIENT: OnceLock<std::result::Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            ClientBuilder::new()
                .reqwest_builder()
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|reason| Error::Config {
            what: "the HTTP client".into(),
            reason,
        })
}

/// Reads `response`'s body, refusing one longer than `limit` before holding it in memory
/// (`Content-Length` first, then every chunk).
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    endpoint: &str,
) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge {
        endpoint: endpoint.to_owned(),
        limit,
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Error::Unreachable {
        endpoint: endpoint.to_owned(),
        source: e.without_url(),
    })? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_bundle_without_certificates_is_an_error_not_a_panic() {
        let err = ClientBuilder::new()
            .add_ca_pem(b"not pem", "VAULT_CACERT /tmp/x")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "VAULT_CACERT /tmp/x: holds no PEM certificate"
        );
        let err = ClientBuilder::new()
            .add_ca_pem(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "VAULT_CACERT /tmp/x",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "VAULT_CACERT /tmp/x: holds a certificate that is not valid DER"
        );
        let err = ClientBuilder::new()
            .add_ca_file(Path::new("/nonexistent/ca.pem"), "VAULT_CACERT")
            .unwrap_err();
        assert!(err.to_string().starts_with("VAULT_CACERT: "), "{err}");
    }

    #[test]
    fn a_real_certificate_is_accepted() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let client = ClientBuilder::new()
            .add_ca_pem(cert.cert.pem().as_bytes(), "test")
            .unwrap()
            .build();
        assert!(client.is_ok());
    }
}
