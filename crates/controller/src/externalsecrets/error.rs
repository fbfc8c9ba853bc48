//! Errors of the ExternalSecret bridge. None carries a secret value or a credential: provider
//! messages are the upstream's own error strings, HTTP failures name only `host:port`.

use super::providers::ProviderError;
use crate::reconciler::KubeError;

/// Everything a reconcile of the bridge can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// An object lacks a name or namespace.
    #[error("object has no {0}")]
    MissingObjectKey(&'static str),
    /// The referenced store does not exist.
    #[error("{kind} {name:?} not found")]
    StoreNotFound {
        /// `SecretStore` or `ClusterSecretStore`.
        kind: String,
        /// Its name.
        name: String,
    },
    /// A ClusterSecretStore's conditions exclude the ExternalSecret's namespace.
    #[error(
        "using cluster store {name:?} is not allowed from namespace {namespace:?}: denied by spec.conditions"
    )]
    StoreNotAllowed {
        /// The store.
        name: String,
        /// The ExternalSecret's namespace.
        namespace: String,
    },
    /// The store belongs to another controller class.
    #[error("store {name:?} belongs to controller class {class:?}")]
    OtherController {
        /// The store.
        name: String,
        /// Its `spec.controller`.
        class: String,
    },
    /// Connecting to or reading from the provider failed.
    #[error("could not get secret data from provider {provider}")]
    Provider {
        /// Provider name.
        provider: &'static str,
        /// What went wrong.
        #[source]
        source: ProviderError,
    },
    /// The ExternalSecret asks for something invalid or unsupported.
    #[error("invalid ExternalSecret: {0}")]
    Spec(String),
    /// A template failed.
    #[error("template {what} failed")]
    Template {
        /// Which template (`data["config.yml"]`, `metadata.labels["x"]`…).
        what: String,
        /// The template error (it names positions and functions, never values).
        #[source]
        source: sealer::template::Error,
    },
    /// The target Secret is controlled by something else.
    #[error("target secret {name:?} is owned by another object ({owner}): not overwriting it")]
    Owned {
        /// Secret name.
        name: String,
        /// `Kind/name` of its controller.
        owner: String,
    },
    /// The target Secret is immutable and its data would change.
    #[error("could not update secret {name:?}, target is immutable")]
    Immutable {
        /// Secret name.
        name: String,
    },
    /// The object holds fields sealkit does not model: they are not ignored.
    #[error("{object} has fields sealkit does not support: {fields}")]
    UnsupportedFields {
        /// `ExternalSecret`, `SecretStore "name"`…
        object: String,
        /// The fields' paths.
        fields: String,
    },
    /// The generator an ExternalSecret names does not exist.
    #[error("{kind} {name:?} not found")]
    GeneratorNotFound {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
    /// A generator could not produce values.
    #[error("generator {name:?} failed")]
    Generator {
        /// Its name.
        name: String,
        /// Why (never a generated value).
        #[source]
        source: super::generators::Error,
    },
    /// `deletionPolicy: Delete` without `creationPolicy: Owner`.
    #[error("unable to delete secret {name:?}: creationPolicy={policy} is not Owner")]
    DeleteNotOwner {
        /// Secret name.
        name: String,
        /// The creation policy.
        policy: String,
    },
}

impl Error {
    /// Builds an [`Error::Kube`] naming the action.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        KubeError::with_action(action)
    }

    /// Label for `externalsecret_sync_errors_total{reason}`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kubernetes",
            Self::MissingObjectKey(_) | Self::Spec(_) | Self::Template { .. } => "spec",
            Self::StoreNotFound { .. }
            | Self::StoreNotAllowed { .. }
            | Self::OtherController { .. } => "store",
            Self::Provider { source, .. } => source.metric_label(),
            Self::Owned { .. } => "owned",
            Self::Immutable { .. } => "immutable",
            Self::DeleteNotOwner { .. } | Self::UnsupportedFields { .. } => "spec",
            Self::GeneratorNotFound { .. } | Self::Generator { .. } => "generator",
        }
    }

    /// Whether only a change of the objects can fix it (retries back off to the maximum).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Spec(_)
                | Self::Template { .. }
                | Self::Owned { .. }
                | Self::Immutable { .. }
                | Self::DeleteNotOwner { .. }
                | Self::OtherController { .. }
                | Self::UnsupportedFields { .. }
                | Self::Generator { .. }
                | Self::Provider {
                    source: ProviderError::Unsupported(_) | ProviderError::Config(_),
                    ..
                }
        )
    }

    /// Whether this is an HTTP 409 from the API server.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(e) if e.is_conflict())
    }

    /// The chain as one line, for conditions and events.
    pub fn chain(&self) -> String {
        crate::reconciler::chain(self)
    }
}
