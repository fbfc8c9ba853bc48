//! PushSecret to Vault/OpenBao KV v2 (external-secrets `providers/v1/vault/client_push.go`,
//! `client_delete.go`): the markers live in the secret's `custom_metadata`; KV v1 has no
//! metadata and is refused.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{SERVICE, VaultClient};
use crate::externalsecrets::crd::VaultKvVersion;
use crate::externalsecrets::providers::{
    MANAGED_BY, PUSHED_BY, ProviderError, PushRequest, check_push_markers, pushed_object,
};

impl VaultClient {
    fn kv2_only(&self) -> Result<(), ProviderError> {
        if self.version == VaultKvVersion::V1 {
            return Err(ProviderError::Unsupported(
                "PushSecret to vault kv v1 (no metadata to mark what sealkit pushed)".into(),
            ));
        }
        Ok(())
    }

    /// `custom_metadata` of a secret, `None` when it does not exist.
    async fn custom_metadata(
        &self,
        key: &str,
    ) -> Result<Option<Map<String, Value>>, ProviderError> {
        let path = self.metadata_path(key)?;
        Ok(self.call(Method::GET, &path, &[]).await?.map(|body| {
            body["data"]["custom_metadata"]
                .as_object()
                .cloned()
                .unwrap_or_default()
        }))
    }

    /// The current data map, `None` when missing or soft-deleted.
    async fn current(&self, key: &str) -> Result<Option<Map<String, Value>>, ProviderError> {
        match self.read_data(key, None).await {
            Ok(v) => Ok(v.as_object().cloned()),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn push(&self, request: &PushRequest<'_>) -> Result<(), ProviderError> {
        self.kv2_only()?;
        let key = request.remote_key;
        let meta = self.custom_metadata(key).await?;
        if let Some(meta) = &meta {
            check_push_markers(
                SERVICE,
                key,
                meta.get(MANAGED_BY.0).and_then(Value::as_str),
                meta.get(PUSHED_BY).and_then(Value::as_str),
                request.owner,
            )?;
        }
        let existing = if meta.is_some() {
            self.current(key).await?
        } else {
            None
        };
        let base = if request.property.is_some() {
            existing.clone()
        } else {
            None
        };
        let data = pushed_object(key, base, request)?;
        let marked = meta
            .as_ref()
            .and_then(|m| m.get(PUSHED_BY))
            .and_then(Value::as_str)
            == Some(request.owner);
        if marked && existing.as_ref() == Some(&data) {
            return Ok(());
        }
        let mut custom = meta.unwrap_or_default();
        custom.insert(MANAGED_BY.0.into(), Value::String(MANAGED_BY.1.into()));
        custom.insert(PUSHED_BY.into(), Value::String(request.owner.into()));
        let metadata_path = self.metadata_path(key)?;
        self.call_with(
            Method::POST,
            &metadata_path,
            &[],
            Some(&json!({"custom_metadata": custom})),
        )
        .await?;
        self.call_with(
            Method::POST,
            &self.data_path(key),
            &[],
            Some(&json!({"data": data})),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn exists(&self, request: &PushRequest<'_>) -> Result<bool, ProviderError> {
        let current = self.current(request.remote_key).await?;
        Ok(match (current, request.property) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(map), Some(p)) => map.contains_key(p),
        })
    }

    pub(super) async fn delete(&self, request: &PushRequest<'_>) -> Result<(), ProviderError> {
        self.kv2_only()?;
        let key = request.remote_key;
        let Some(meta) = self.custom_metadata(key).await? else {
            return Ok(());
        };
        if meta.get(PUSHED_BY).and_then(Value::as_str) != Some(request.owner) {
            // Not pushed by this PushSecret: never deleted.
            return Ok(());
        }
        if let Some(property) = request.property
            && let Some(mut data) = self.current(key).await?
        {
            data.remove(property);
            if !data.is_empty() {
                self.call_with(
                    Method::POST,
                    &self.data_path(key),
                    &[],
                    Some(&json!({"data": data})),
                )
                .await?;
                return Ok(());
            }
        }
        let metadata_path = self.metadata_path(key)?;
        self.call(Method::DELETE, &metadata_path, &[]).await?;
        Ok(())
    }
}
