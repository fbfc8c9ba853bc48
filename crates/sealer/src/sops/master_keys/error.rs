//! Errors of master keys.

use std::path::PathBuf;

/// What went wrong while wrapping or unwrapping a data key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A recipient string is not an age (X25519 or post-quantum), ssh-ed25519 or ssh-rsa
    /// public key.
    #[error("invalid age recipient `{recipient}`: {reason}")]
    InvalidRecipient {
        /// The recipient as given.
        recipient: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An identity source (file, env var, command) holds something that is not an identity.
    #[error("{location}: line {line}: not an age identity ({reason})")]
    InvalidIdentity {
        /// Env var or file the identity came from.
        location: String,
        /// 1-based line number.
        line: usize,
        /// Why it was rejected (never the key itself).
        reason: &'static str,
    },
    /// An identity file could not be read.
    #[error("reading age identities from {location}")]
    IdentitySource {
        /// Env var or file the identity came from.
        location: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An ssh private key could not be used.
    #[error("ssh private key {path}: {reason}")]
    SshIdentity {
        /// Key file.
        path: PathBuf,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// `SOPS_AGE_KEY_CMD` failed.
    #[error("SOPS_AGE_KEY_CMD `{command}` failed: {reason}")]
    KeyCommand {
        /// The command line.
        command: String,
        /// Exit status or spawn error.
        reason: String,
    },
    /// No identity was found in any location sops looks in.
    #[error("no age identity found (looked in {looked_in})")]
    NoIdentities {
        /// The locations, comma-separated.
        looked_in: String,
    },
    /// None of the loaded identities opens any stanza of the file.
    #[error("no age identity matches the file's recipients: {recipients}")]
    NoMatchingIdentity {
        /// The file's recipients, comma-separated.
        recipients: String,
    },
    /// The `enc` value is not an armored age file.
    #[error("age stanza for {recipient} is not a valid armored age file")]
    MalformedStanza {
        /// The stanza's recipient.
        recipient: String,
    },
    /// No identity was loaded at all, so the file's recipients could not be tried.
    #[error("cannot open the data key for recipients {recipients}: {reason}")]
    NoIdentityForRecipients {
        /// The file's recipients, comma-separated.
        recipients: String,
        /// Why no identity was available (where sops looked, or the broken source).
        reason: String,
    },
    /// The age file opened but its content is not a key of the expected length.
    #[error("age stanza for {recipient} holds {len} bytes, not a data key")]
    WrongKeyLength {
        /// The stanza's recipient.
        recipient: String,
        /// Bytes found.
        len: usize,
    },
    /// age refused to encrypt (e.g. incompatible recipient labels).
    #[error("age encryption to {recipient} failed")]
    Encrypt {
        /// The recipient.
        recipient: String,
        /// The age error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The master key type is not implemented in this build.
    #[error("{kind} master keys are not supported in this build (key {id})")]
    UnsupportedKeyType {
        /// `pgp`, `kms`, `hc_vault`, ...
        kind: String,
        /// The key's identifier (fingerprint, ARN, URI).
        id: String,
    },
    /// A `.sops.yaml` rule names Huawei Cloud KMS keys, which sealkit cannot use.
    #[error(
        "hckms is not supported: the rule's Huawei Cloud KMS key `{id}` cannot be used (give the rule another key type)"
    )]
    HcKmsUnsupported {
        /// The key ID.
        id: String,
    },
    /// Not enough key groups could be opened to rebuild the data key.
    #[error(
        "could not decrypt the data key: {opened} of {groups} key groups opened, {needed} needed ({failures})"
    )]
    NotEnoughGroups {
        /// Groups whose share was decrypted.
        opened: usize,
        /// Number of key groups.
        groups: usize,
        /// Threshold.
        needed: usize,
        /// Why each failing group failed, `; `-separated.
        failures: String,
    },
    /// Every master key of a group failed (several kinds, each for its own reason).
    #[error("no master key could decrypt the data key: {failures}")]
    NoKeyOpened {
        /// Each key's failure, `; `-separated.
        failures: String,
    },
    /// Shamir recombination failed or produced a key of the wrong size.
    #[error("key group shares do not combine into a data key")]
    BadShares,
    /// The file has no master key at all.
    #[error("the file has no master keys")]
    NoMasterKeys,
    /// A master key's identifier cannot be used (ARN, Vault URI, resource ID, URL, fingerprint).
    #[error("invalid {kind} key `{id}`: {reason}")]
    InvalidKey {
        /// `kms`, `hc_vault`, `gcp_kms`, `azure_kv`, `pgp`.
        kind: &'static str,
        /// The key as given.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// GnuPG could not encrypt or decrypt the data key.
    #[error("pgp key {fingerprint}: cannot {action} the data key: {reason}")]
    Pgp {
        /// The key's fingerprint.
        fingerprint: String,
        /// `encrypt` or `decrypt`.
        action: &'static str,
        /// gpg's own explanation (its last stderr line).
        reason: String,
    },
    /// The key service did not answer (connection refused, DNS, TLS, timeout).
    #[error("{key}: cannot reach {endpoint}")]
    Unreachable {
        /// The key (`hc_vault key https://…`).
        key: String,
        /// The URL that was called.
        endpoint: String,
        /// The transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The key service refused the credentials or the operation.
    #[error("{key}: access denied by {endpoint} (HTTP {status}): {message}")]
    AccessDenied {
        /// The key.
        key: String,
        /// The URL that was called.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The service's message.
        message: String,
    },
    /// The key service cannot open this `enc` with this key (another key, or a changed value).
    #[error("{key}: the data key was not encrypted with this key or was altered ({message})")]
    WrongKey {
        /// The key.
        key: String,
        /// The service's message.
        message: String,
    },
    /// The key service failed otherwise.
    #[error("{key}: {endpoint} answered HTTP {status}: {message}")]
    Service {
        /// The key.
        key: String,
        /// The URL that was called.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The service's message.
        message: String,
    },
    /// The key service answered something its API does not document.
    #[error("{key}: unexpected answer from {endpoint}: {reason}")]
    BadResponse {
        /// The key.
        key: String,
        /// The URL that was called.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// No usable credentials were found for a key.
    #[error("{key}: no credentials: {reason}")]
    NoCredentials {
        /// The key.
        key: String,
        /// Where sealkit looked, or why a source could not be used.
        reason: String,
    },
}

/// Result of master-key operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
