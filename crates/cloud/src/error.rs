//! Errors of credential lookups and HTTP clients (master keys report
//! [`sealer::sops::master_keys::Error`] instead, naming the key).

/// What went wrong while finding credentials or setting up a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No source held credentials.
    #[error("no {cloud} credentials: {reason}")]
    NoCredentials {
        /// `aws`, `gcp`, `azure`, `vault`.
        cloud: &'static str,
        /// Where sealkit looked, or why a source could not be used.
        reason: String,
    },
    /// A credential source was found but did not yield credentials (refused, unreachable,
    /// malformed).
    #[error("{cloud} credentials from {origin} could not be obtained")]
    Credentials {
        /// `aws`, `gcp`, `azure`.
        cloud: &'static str,
        /// The source (`the default chain`, `web identity`, `AssumeRole arn:…`).
        origin: String,
        /// The crate's error (never carries a secret).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Extra CA certificates could not be used.
    #[error("{origin}: {reason}")]
    CaCertificates {
        /// Where they came from (`VAULT_CACERT /path`, `caBundle`).
        origin: String,
        /// What is wrong (`no PEM certificate`, a read error).
        reason: String,
    },
    /// The HTTP client could not be built (no TLS roots, a bad setting).
    #[error("building the HTTP client")]
    Client {
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// A setting is not usable (an endpoint that is not a URL, a region that is not one).
    #[error("{what}: {reason}")]
    Config {
        /// The setting (`AWS_ENDPOINT_URL_KMS`, `region`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A request could not be sent or its answer not read.
    #[error("cannot reach {endpoint}")]
    Unreachable {
        /// The URL called (without query).
        endpoint: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// An answer was larger than the cap for its kind of call.
    #[error("the answer of {endpoint} exceeds {limit} bytes")]
    TooLarge {
        /// The URL called.
        endpoint: String,
        /// The cap.
        limit: usize,
    },
    /// The background runtime for network I/O could not be started.
    #[error("starting the runtime for cloud calls")]
    Runtime {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line, each cause once (none of them carries a secret).
pub(crate) fn error_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}
