//! Errors of the SealedSecret format.

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something wrong with a key, a certificate, a blob or a manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No key opened the blob: wrong private key, or the blob was sealed for another
    /// name/namespace/scope, or it was tampered with. Deliberately opaque.
    #[error(
        "no key could decrypt it: wrong private key, or sealed for a different name/namespace or scope, or tampered"
    )]
    DecryptionFailed,
    /// The blob is shorter than its own length prefix says.
    #[error("sealed data is too short or truncated")]
    Truncated,
    /// The blob is not standard padded base64.
    #[error("sealed data is not valid base64")]
    InvalidBase64(#[source] crate::encoding::Error),
    /// A Secret `data` value is not valid base64.
    #[error("data value is not valid base64")]
    InvalidDataBase64(#[source] crate::encoding::Error),
    /// A `spec.template.data` value did not render (the cause names line, column and
    /// function, never a value).
    // Not a `#[source]`: item errors are printed one per line without their chain, and the
    // template error only names a position and a function.
    #[error("template data did not render: {0}")]
    Template(crate::template::Error),
    /// `spec.template.data` uses a template but no template engine was supplied.
    #[error("template data needs rendering, which this build does not support yet")]
    TemplateUnsupported,
    /// The RSA encryption itself failed (e.g. a key too small for OAEP-SHA256).
    #[error("rsa-oaep encryption failed")]
    EncryptionFailed,
    /// No PEM block of the expected kind was found.
    #[error("no {expected} PEM block found")]
    NoPemBlock {
        /// What was looked for (`CERTIFICATE`, `PRIVATE KEY`).
        expected: &'static str,
    },
    /// The PEM armor itself is broken.
    #[error("invalid PEM: {reason}")]
    InvalidPem {
        /// What is wrong with the armor (never its content).
        reason: String,
    },
    /// The key is not an RSA key.
    #[error("private key is not an RSA key ({found}); sealed secrets use RSA keys")]
    NotRsaKey {
        /// What was found instead (`EC PRIVATE KEY`, a PKCS#8 key of another algorithm…).
        found: String,
    },
    /// The private key is encrypted with a passphrase.
    #[error(
        "private key is encrypted ({format}); decrypt it first, e.g. `openssl pkey -in KEY -out PLAIN`"
    )]
    EncryptedPrivateKey {
        /// `ENCRYPTED PRIVATE KEY` (PKCS#8) or `Proc-Type: 4,ENCRYPTED` (legacy PEM).
        format: &'static str,
    },
    /// The private key bytes were rejected.
    #[error("invalid RSA private key: {reason}")]
    InvalidPrivateKey {
        /// Why, as the crypto library says it (never key material).
        reason: String,
    },
    /// The certificate could not be parsed.
    #[error("invalid X.509 certificate: {reason}")]
    InvalidCertificate {
        /// Why the parser rejected it.
        reason: String,
    },
    /// The certificate's public key is not RSA.
    #[error("certificate public key is {algorithm}, not RSA; sealing needs an RSA certificate")]
    CertificateNotRsa {
        /// The key's algorithm (`EC`, `Ed25519`, or its OID).
        algorithm: String,
    },
    /// The certificate's RSA key has a size the cipher does not take.
    #[error(
        "certificate holds an RSA-{bits} key, which is not supported: sealing needs an RSA key of 2048 to 8192 bits"
    )]
    UnsupportedRsaKeySize {
        /// Modulus size in bits.
        bits: usize,
    },
    /// Key or certificate generation failed.
    #[error("key generation failed: {reason}")]
    KeyGeneration {
        /// Why.
        reason: String,
    },
    /// An unsupported RSA key size was asked for.
    #[error("unsupported RSA key size {bits} (use 2048, 3072, 4096 or 8192)")]
    UnsupportedKeySize {
        /// The size asked for.
        bits: usize,
    },
    /// The Secret has no name and none was given.
    #[error("secret has no metadata.name (give one with --name)")]
    MissingName,
    /// The Secret's namespace differs from the one explicitly asked for.
    #[error(
        "namespace mismatch: input secret is in namespace {input:?} but {requested:?} was specified"
    )]
    NamespaceMismatch {
        /// Namespace in the input.
        input: String,
        /// Namespace asked for on the command line.
        requested: String,
    },
    /// The Secret has neither `data` nor `stringData`.
    #[error("secret has no data and no stringData (allow with --allow-empty-data)")]
    EmptySecret,
    /// The SealedSecret has both the legacy `spec.data` and `spec.encryptedData`.
    #[error("sealed secret has both spec.data and spec.encryptedData")]
    BothDataFormats,
    /// The legacy `spec.data` payload decrypted but is not a Secret.
    #[error("legacy spec.data does not hold a Secret")]
    InvalidLegacyData(#[source] serde_json::Error),
    /// A value written as a YAML block, over several lines or as an alias: no single run of
    /// text to replace.
    #[error(
        "value is written as a YAML block, over several lines or as an alias: cannot be replaced in place"
    )]
    NotInPlace,
    /// The legacy `spec.data` cannot be re-sealed by replacing values.
    #[error(
        "legacy spec.data cannot be re-sealed in place (seal --re-encrypt rewrites the whole object)"
    )]
    LegacyDataInPlace,
    /// A wrapped private key is not a valid SOPS document.
    #[error("wrapped private key is not a valid SOPS document")]
    WrappedKey(#[source] crate::sops::Error),
    /// A wrapped private key names no master key.
    #[error("wrapped private key names no master key")]
    WrappedKeyNoMasterKey,
    /// Unknown scope name.
    #[error("unknown scope {0:?} (expected strict, namespace-wide or cluster-wide)")]
    UnknownScope(String),
}

/// Failure of one item of a SealedSecret.
#[derive(Debug, thiserror::Error)]
#[error("item {item:?}: {error}")]
pub struct ItemError {
    /// The item (key of `spec.encryptedData`).
    pub item: String,
    /// What went wrong with it.
    pub error: Error,
}

/// Failure to seal or unseal: one entry per failing item (other items may have worked), or a
/// problem with the object as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// Some items did not open.
    #[error("{}", format_items(.0))]
    Items(Vec<ItemError>),
    /// The SealedSecret as a whole is unusable.
    #[error(transparent)]
    Invalid(#[from] Error),
}

fn format_items(items: &[ItemError]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConvertError {
    /// Names of the items that failed.
    pub fn failed_items(&self) -> Vec<&str> {
        match self {
            Self::Items(items) => items.iter().map(|i| i.item.as_str()).collect(),
            Self::Invalid(_) => Vec::new(),
        }
    }
}
