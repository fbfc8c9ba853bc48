//! PushSecret to AWS Secrets Manager (external-secrets `providers/v1/aws/secretsmanager`
//! `PushSecret`/`DeleteSecret`): the markers are tags. A UTF-8 value is written as
//! `SecretString`, anything else as `SecretBinary` (ESO writes `SecretBinary` unless the entry's
//! metadata asks for a string; both read back the same through ESO and sealkit). Deletes use
//! Secrets Manager's default recovery window, as ESO without `secretsManager` settings.

use serde_json::{Map, Value, json};

use super::AwsClient;
use crate::externalsecrets::providers::{
    MANAGED_BY, PUSHED_BY, ProviderError, PushRequest, check_push_markers, pushed_object,
};
use sealer::secret::SecretBytes;

/// The value of tag `key` in a `DescribeSecret` answer.
fn tag<'v>(described: &'v Value, key: &str) -> Option<&'v str> {
    described["Tags"]
        .as_array()?
        .iter()
        .find(|t| t["Key"] == key)
        .and_then(|t| t["Value"].as_str())
}

/// `SecretString` for UTF-8, `SecretBinary` otherwise.
fn value_field(body: &mut Value, value: &[u8]) {
    match std::str::from_utf8(value) {
        Ok(s) => body["SecretString"] = json!(s),
        Err(_) => body["SecretBinary"] = json!(sealer::encoding::encode_std(value)),
    }
}

/// A random `ClientRequestToken` (UUID form).
fn request_token() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl AwsClient {
    async fn describe(&self, id: &str) -> Result<Option<Value>, ProviderError> {
        match self.call("DescribeSecret", &json!({"SecretId": id})).await {
            Ok(v) if v["DeletedDate"].is_null() => Ok(Some(v)),
            Ok(_) | Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn current(&self, id: &str) -> Result<Option<SecretBytes>, ProviderError> {
        let remote = crate::externalsecrets::crd::RemoteRef {
            key: id
                .strip_prefix(self.prefix.as_str())
                .unwrap_or(id)
                .to_owned(),
            ..Default::default()
        };
        match self.get_value(&remote).await {
            Ok(v) => Ok(Some(v)),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn existing_object(current: Option<&SecretBytes>) -> Option<Map<String, Value>> {
        current.and_then(|v| {
            serde_json::from_slice::<Value>(v.expose())
                .ok()?
                .as_object()
                .cloned()
        })
    }

    fn new_value(
        &self,
        request: &PushRequest<'_>,
        current: Option<&SecretBytes>,
    ) -> Result<Vec<u8>, ProviderError> {
        Ok(match request.property {
            None => request.value.expose().to_vec(),
            Some(_) => {
                let map =
                    pushed_object(request.remote_key, Self::existing_object(current), request)?;
                serde_json::to_vec(&map).unwrap_or_default()
            }
        })
    }

    pub(super) async fn push(&self, request: &PushRequest<'_>) -> Result<(), ProviderError> {
        let id = format!("{}{}", self.prefix, request.remote_key);
        let Some(described) = self.describe(&id).await? else {
            let value = self.new_value(request, None)?;
            let mut body = json!({
                "Name": id,
                "ClientRequestToken": request_token(),
                "Tags": [
                    {"Key": MANAGED_BY.0, "Value": MANAGED_BY.1},
                    {"Key": PUSHED_BY, "Value": request.owner},
                ],
            });
            value_field(&mut body, &value);
            self.call("CreateSecret", &body).await?;
            return Ok(());
        };
        check_push_markers(
            super::SERVICE,
            &id,
            tag(&described, MANAGED_BY.0),
            tag(&described, PUSHED_BY),
            request.owner,
        )?;
        let current = self.current(&id).await?;
        let value = self.new_value(request, current.as_ref())?;
        let ours = tag(&described, PUSHED_BY) == Some(request.owner);
        if ours
            && current
                .as_ref()
                .is_some_and(|c| c.expose() == value.as_slice())
        {
            return Ok(());
        }
        if !ours {
            self.call(
                "TagResource",
                &json!({"SecretId": id, "Tags": [{"Key": PUSHED_BY, "Value": request.owner}]}),
            )
            .await?;
        }
        let mut body = json!({"SecretId": id, "ClientRequestToken": request_token()});
        value_field(&mut body, &value);
        self.call("PutSecretValue", &body).await?;
        Ok(())
    }

    pub(super) async fn exists(&self, request: &PushRequest<'_>) -> Result<bool, ProviderError> {
        let id = format!("{}{}", self.prefix, request.remote_key);
        if self.describe(&id).await?.is_none() {
            return Ok(false);
        }
        let Some(property) = request.property else {
            return Ok(true);
        };
        let current = self.current(&id).await?;
        Ok(Self::existing_object(current.as_ref()).is_some_and(|m| m.contains_key(property)))
    }

    pub(super) async fn delete(&self, request: &PushRequest<'_>) -> Result<(), ProviderError> {
        let id = format!("{}{}", self.prefix, request.remote_key);
        let Some(described) = self.describe(&id).await? else {
            return Ok(());
        };
        if tag(&described, PUSHED_BY) != Some(request.owner) {
            // Not pushed by this PushSecret: never deleted.
            return Ok(());
        }
        if let Some(property) = request.property {
            let current = self.current(&id).await?;
            if let Some(mut map) = Self::existing_object(current.as_ref()) {
                map.remove(property);
                if !map.is_empty() {
                    let mut body = json!({"SecretId": id, "ClientRequestToken": request_token()});
                    value_field(&mut body, &serde_json::to_vec(&map).unwrap_or_default());
                    self.call("PutSecretValue", &body).await?;
                    return Ok(());
                }
            }
        }
        self.call("DeleteSecret", &json!({"SecretId": id})).await?;
        Ok(())
    }
}
