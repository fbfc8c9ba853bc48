//! PushSecret to a cluster's Secrets (external-secrets `providers/v1/kubernetes/client.go`
//! `PushSecret`/`DeleteSecret`): the Secret `remoteKey` in `remoteNamespace`, under the store's
//! own credentials. Without `property` every key of the source Secret is copied (a `secretKey`
//! then needs a `property`, as in ESO); with one, that key is set.
//!
//! Stricter than ESO, which never checks ownership here: the Secret written carries the
//! annotation `sealkit.io/pushed-by`, a Secret that exists without this PushSecret's mark is
//! neither written over nor deleted.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, PostParams};

use super::KubernetesClient;
use crate::externalsecrets::providers::{MANAGED_BY, PUSHED_BY, ProviderError, PushRequest};

fn pushed_by(secret: &Secret) -> Option<&str> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(PUSHED_BY)
        .map(String::as_str)
}

impl KubernetesClient {
    async fn remote(&self, name: &str) -> Result<Option<Secret>, ProviderError> {
        match self.secret(name).await {
            Ok(s) => Ok(Some(s)),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn push(&self, request: &PushRequest<'_>) -> Result<(), ProviderError> {
        let name = request.remote_key;
        let existing = self.remote(name).await?;
        if let Some(s) = &existing
            && pushed_by(s) != Some(request.owner)
        {
            return Err(ProviderError::Config(format!(
                "kubernetes secret {}/{name} was not pushed by this PushSecret: sealkit does not write over it",
                self.namespace
            )));
        }
        let mut data: BTreeMap<String, ByteString> = existing
            .as_ref()
            .and_then(|s| s.data.clone())
            .unwrap_or_default();
        match (request.property, request.all) {
            (Some(property), _) => {
                data.insert(
                    property.to_owned(),
                    ByteString(request.value.expose().to_vec()),
                );
            }
            (None, Some(all)) => {
                data = all
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
                    .collect();
            }
            (None, None) => {
                return Err(ProviderError::Config(
                    "pushing one secretKey to the kubernetes provider requires property in RemoteRef"
                        .into(),
                ));
            }
        }
        if existing.as_ref().and_then(|s| s.data.as_ref()) == Some(&data) {
            return Ok(());
        }
        match existing {
            Some(mut s) => {
                s.data = Some(data);
                s.string_data = None;
                self.call(
                    format!("update secret {}/{name}", self.namespace),
                    self.api.replace(name, &PostParams::default(), &s),
                )
                .await?;
            }
            None => {
                let mut s = Secret::default();
                s.metadata.name = Some(name.to_owned());
                s.metadata.annotations =
                    Some([(PUSHED_BY.to_owned(), request.owner.to_owned())].into());
                s.metadata.labels =
                    Some([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned())].into());
                s.data = Some(data);
                self.call(
                    format!("create secret {}/{name}", self.namespace),
                    self.api.create(&PostParams::default(), &s),
                )
                .await?;
            }
        }
        Ok(())
    }

    pub(super) async fn exists(&self, request: &PushRequest<'_>) -> Result<bool, ProviderError> {
        let Some(s) = self.remote(request.remote_key).await? else {
            return Ok(false);
        };
        Ok(match request.property {
            None => true,
            Some(p) => s.data.as_ref().is_some_and(|d| d.contains_key(p)),
        })
    }

    pub(super) async fn delete(&self, request: &PushRequest<'_>) -> Result<(), ProviderError> {
        let name = request.remote_key;
        let Some(mut s) = self.remote(name).await? else {
            return Ok(());
        };
        if pushed_by(&s) != Some(request.owner) {
            // Not pushed by this PushSecret: never deleted.
            return Ok(());
        }
        if let Some(property) = request.property {
            let mut data = s.data.take().unwrap_or_default();
            data.remove(property);
            if !data.is_empty() {
                s.data = Some(data);
                self.call(
                    format!("update secret {}/{name}", self.namespace),
                    self.api.replace(name, &PostParams::default(), &s),
                )
                .await?;
                return Ok(());
            }
        }
        match self
            .call(
                format!("delete secret {}/{name}", self.namespace),
                self.api.delete(name, &DeleteParams::default()),
            )
            .await
        {
            Ok(_) | Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
