//! What the GCP and Azure providers share about whose identity a store uses: the annotations
//! of a ServiceAccount a store names (GKE's `iam.gke.io/gcp-service-account`, Azure's
//! `azure.workload.identity/client-id`), and the rule that the bridge's own (ambient) cloud
//! identity serves ClusterSecretStores only.
//!
//! ESO lends its controller's identity to any store that names no credentials (Google
//! Application Default Credentials, Azure managed identity or the pod's workload identity
//! environment), so every namespace that may create a SecretStore inherits it. sealkit refuses
//! that for a namespaced SecretStore: only a ClusterSecretStore, which a cluster administrator
//! writes, may use it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;

use super::egress::DEFAULT_TIMEOUT;
use super::{ProviderError, StoreAccess};
use crate::externalsecrets::crd::{ServiceAccountSelector, StoreKind};

/// Refuses the bridge's own identity (`what`, e.g. `gcpsm without auth`) for a namespaced
/// SecretStore.
pub fn ambient_allowed(access: &StoreAccess, what: &str) -> Result<(), ProviderError> {
    match access.kind {
        StoreKind::ClusterSecretStore => Ok(()),
        StoreKind::SecretStore => Err(ProviderError::Unsupported(format!(
            "{what} on a SecretStore: it would use the bridge's own cloud identity, which only \
             ClusterSecretStores may use"
        ))),
    }
}

/// The namespace and annotations of the ServiceAccount `selector` names (resolved as a
/// credential Secret would be, [`StoreAccess::namespace_of`]).
pub async fn service_account_annotations(
    access: &StoreAccess,
    selector: &ServiceAccountSelector,
) -> Result<(String, BTreeMap<String, String>), ProviderError> {
    let namespace = access.namespace_of(selector.namespace.as_deref())?;
    let fail = |reason: String| ProviderError::ServiceAccountToken {
        namespace: namespace.clone(),
        name: selector.name.clone(),
        reason,
    };
    if selector.name.is_empty() {
        return Err(fail("the serviceaccount reference has no name".into()));
    }
    let api: Api<ServiceAccount> = Api::namespaced(access.client.clone(), &namespace);
    let found = match tokio::time::timeout(DEFAULT_TIMEOUT, api.get_opt(&selector.name)).await {
        Err(_) => return Err(fail("reading the serviceaccount timed out".into())),
        Ok(Err(kube::Error::Api(s))) => return Err(fail(format!("http {} {}", s.code, s.reason))),
        Ok(Err(_)) => return Err(fail("kubernetes api call failed".into())),
        Ok(Ok(None)) => return Err(fail("serviceaccount not found".into())),
        Ok(Ok(Some(sa))) => sa,
    };
    Ok((namespace, found.metadata.annotations.unwrap_or_default()))
}
