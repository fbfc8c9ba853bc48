//! The controller's error type.

use sealer::sealed::ConvertError;

use crate::reconciler::KubeError;

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// An object lacks a field the controller needs (a name, a namespace, a uid).
    #[error("object has no {0}")]
    MissingObjectKey(&'static str),
    /// The SealedSecret did not open: the message names the failing items, never a value.
    #[error("failed to unseal")]
    Unseal(#[source] ConvertError),
    /// A Secret of that name exists and is not ours to overwrite.
    #[error(
        "resource {name:?} already exists and is not managed by SealedSecret (annotate it with sealedsecrets.bitnami.com/managed: \"true\" to let the controller take it over)"
    )]
    Unmanaged {
        /// The Secret's name.
        name: String,
    },
    /// The existing Secret is immutable and its content would change.
    #[error("secret {name:?} is immutable and its content would change")]
    Immutable {
        /// The Secret's name.
        name: String,
    },
    /// No key to seal with or no key at all.
    #[error("the keyring holds no active key")]
    NoActiveKey,
    /// A key Secret could not be read.
    #[error("key secret {name:?}: {reason}")]
    InvalidKeySecret {
        /// The Secret's name.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Generating a key failed.
    #[error("generating a sealing key failed")]
    KeyGeneration(#[source] sealer::sealed::Error),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed")]
    Join(#[source] tokio::task::JoinError),
    /// Binding or serving a listener failed.
    #[error("http server on {addr} failed")]
    Serve {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Wrapping or unwrapping a sealing key with its KMS master key failed.
    #[error("sealing key wrapping failed")]
    KeyWrap(#[from] crate::keyring::wrap::Error),
}

impl Error {
    /// Builds a [`Error::Kube`] naming the action.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        KubeError::with_action(action)
    }

    /// A short, stable label for metrics (`unseal_errors_total{reason}`), Bitnami's reasons where
    /// they exist.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "update",
            Self::MissingObjectKey(_) => "fetch",
            Self::Unseal(_) => "unseal",
            Self::Unmanaged { .. } => "unmanaged",
            Self::Immutable { .. } => "immutable",
            Self::NoActiveKey => "nokey",
            Self::InvalidKeySecret { .. } | Self::KeyGeneration(_) | Self::KeyWrap(_) => "key",
            Self::Join(_) => "internal",
            Self::Serve { .. } | Self::Config(_) => "config",
        }
    }

    /// Whether retrying the same input can succeed: decryption failures and immutable Secrets
    /// only change when the object or the keyring changes.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Unseal(_) | Self::Immutable { .. } | Self::MissingObjectKey(_)
        )
    }

    /// Whether this is an HTTP 409 Conflict from the API server.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(e) if e.is_conflict())
    }

    /// The whole chain as one line (`a: b: c`), for status messages and events.
    pub fn chain(&self) -> String {
        crate::reconciler::chain(self)
    }
}
