//! Errors of the SOPS file format.

/// Result alias of [`crate::sops`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, decrypting, encrypting or writing a SOPS file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not valid for its store (YAML, JSON, dotenv, INI).
    #[error("malformed {format} file{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Malformed {
        /// Store name (`yaml`, `json`, ...).
        format: &'static str,
        /// 1-based line, when the parser knows it.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The output could not be written (a closed pipe, a full disk).
    #[error("cannot write the output: {0}")]
    Write(#[source] std::io::Error),
    /// The file has no `sops` metadata: it is not encrypted.
    #[error("sops metadata not found: the file is not encrypted")]
    NotEncrypted,
    /// The plaintext already has a top-level `sops` key.
    #[error("the file already has a top-level `sops` key: it is already encrypted")]
    AlreadyEncrypted,
    /// The `sops` metadata is present but invalid.
    #[error("invalid sops metadata: {0}")]
    InvalidMetadata(String),
    /// An `--input-type`/`--output-type` name sops does not know.
    #[error("unknown store type `{0}` (expected yaml, json, dotenv, ini or binary)")]
    UnknownFormat(String),
    /// A value is not a well-formed `ENC[AES256_GCM,...]` string.
    #[error("invalid encrypted value at `{key_path}`")]
    InvalidEncValue {
        /// The key path (`a:b:c:`).
        key_path: String,
    },
    /// The AEAD check failed on a value: wrong data key, or the value or its position was changed.
    #[error("value at `{key_path}` could not be decrypted: wrong data key or tampered value")]
    TamperedValue {
        /// The key path (`a:b:c:`).
        key_path: String,
    },
    /// A decrypted value does not parse as its declared type.
    #[error("value at `{key_path}` is not a valid `{ty}`")]
    InvalidPlaintext {
        /// The key path (`a:b:c:`).
        key_path: String,
        /// The declared `type:` of the value.
        ty: String,
    },
    /// The MAC over the decrypted values does not match the stored MAC.
    #[error(
        "MAC mismatch: the file was modified or not written by sops (use --ignore-mac to decrypt anyway)"
    )]
    MacMismatch,
    /// The stored MAC could not be decrypted with the data key.
    #[error(
        "the stored MAC could not be decrypted: wrong data key or tampered `lastmodified`/`mac`"
    )]
    MacUndecryptable,
    /// AES-GCM failed (opaque on purpose); the caller adds the path.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A tree shape the store cannot represent (e.g. nested values in dotenv).
    #[error("{0}")]
    Unsupported(String),
    /// `--extract`/`set`/`unset` path problems.
    #[error("{0}")]
    Path(String),
    /// Shamir secret sharing failed.
    #[error("shamir: {0}")]
    Shamir(&'static str),
    /// A selector regex does not compile.
    #[error("invalid selector regex `{regex}`")]
    InvalidRegex {
        /// The regex text.
        regex: String,
        /// Why it failed.
        #[source]
        source: regex::Error,
    },
}

impl Error {
    pub(crate) fn malformed(
        format: &'static str,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self::Malformed {
            format,
            line,
            message: message.into(),
        }
    }
}
