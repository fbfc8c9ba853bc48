//! Static data for tests and demos (external-secrets `providers/v1/fake`): an entry answers a
//! request for its key and, when it has one, only for its version; `property` is a gjson path
//! into the value; `dataFrom.extract` reads the value as a JSON object; `find` matches keys by
//! regexp. `validationResult` forces the store's validation (0 ready, 1 unknown, 2 error).

use futures::FutureExt as _;
use futures::future::BoxFuture;
use sealer::secret::SecretBytes;

use super::{
    ProviderError, SecretMap, SecretsClient, Validation, json_object_map, name_matcher,
    select_gjson,
};
use crate::externalsecrets::crd::{ExternalSecretFind, FakeProvider, RemoteRef};

/// The fake store.
pub struct FakeClient {
    spec: FakeProvider,
}

impl FakeClient {
    /// A client over the store's data.
    pub fn new(spec: FakeProvider) -> Self {
        Self { spec }
    }

    fn lookup(&self, key: &str, version: Option<&str>) -> Result<&str, ProviderError> {
        let version = version.unwrap_or_default();
        self.spec
            .data
            .iter()
            .find(|d| d.key == key && d.version.as_deref().unwrap_or_default() == version)
            .map(|d| d.value.as_str())
            .ok_or_else(|| ProviderError::NotFound {
                key: key.to_owned(),
            })
    }

    fn get(&self, remote: &RemoteRef) -> Result<SecretBytes, ProviderError> {
        let value = self.lookup(&remote.key, remote.version.as_deref())?;
        match remote.property.as_deref().filter(|p| !p.is_empty()) {
            None => Ok(SecretBytes::new(value.as_bytes().to_vec())),
            Some(p) => select_gjson(&remote.key, value, p),
        }
    }
}

impl SecretsClient for FakeClient {
    fn provider(&self) -> &'static str {
        "fake"
    }

    fn get_secret<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretBytes, ProviderError>> {
        std::future::ready(self.get(remote)).boxed()
    }

    fn get_secret_map<'a>(
        &'a self,
        remote: &'a RemoteRef,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        let r = self
            .get(remote)
            .and_then(|v| json_object_map(&remote.key, v.expose()));
        std::future::ready(r).boxed()
    }

    fn get_all_secrets<'a>(
        &'a self,
        find: &'a ExternalSecretFind,
    ) -> BoxFuture<'a, Result<SecretMap, ProviderError>> {
        let r = (|| {
            if !find.tags.is_empty() {
                return Err(ProviderError::Unsupported(
                    "find.tags with the fake provider".into(),
                ));
            }
            let matcher = name_matcher(find)?;
            Ok(self
                .spec
                .data
                .iter()
                .filter(|d| d.version.as_deref().unwrap_or_default().is_empty())
                .filter(|d| matcher.as_ref().is_none_or(|m| m.is_match(&d.key)))
                .map(|d| (d.key.clone(), SecretBytes::new(d.value.as_bytes().to_vec())))
                .collect())
        })();
        std::future::ready(r).boxed()
    }

    fn validate(&self) -> BoxFuture<'_, Result<Validation, ProviderError>> {
        let r = match self.spec.validation_result {
            None | Some(0) => Ok(Validation::Ready),
            Some(1) => Ok(Validation::Unknown),
            Some(_) => Err(ProviderError::Config(
                "the fake store is configured to fail validation".into(),
            )),
        };
        std::future::ready(r).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::externalsecrets::crd::{FakeProviderData, FindName};

    fn store() -> FakeClient {
        let d = |key: &str, value: &str, version: Option<&str>| FakeProviderData {
            key: key.into(),
            value: value.into(),
            version: version.map(Into::into),
        };
        FakeClient::new(FakeProvider {
            data: vec![
                d("db", r#"{"user":"app","password":"s3cret"}"#, None),
                d("db", "old", Some("v1")),
                d("api-token", "t0k", None),
            ],
            validation_result: None,
        })
    }

    fn remote(key: &str, property: Option<&str>, version: Option<&str>) -> RemoteRef {
        RemoteRef {
            key: key.into(),
            property: property.map(Into::into),
            version: version.map(Into::into),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn versions_and_properties_select_exactly_one_value() {
        let s = store();
        let get = |r| async move { s_get(&store(), &r).await };
        assert_eq!(
            get(remote("db", Some("password"), None)).await.unwrap(),
            b"s3cret"
        );
        assert_eq!(get(remote("db", None, Some("v1"))).await.unwrap(), b"old");
        assert!(matches!(
            s.get_secret(&remote("db", None, Some("v9"))).await,
            Err(ProviderError::NotFound { .. })
        ));
        assert!(matches!(
            s.get_secret(&remote("db", Some("nope"), None)).await,
            Err(ProviderError::MissingProperty { .. })
        ));
        let map = s.get_secret_map(&remote("db", None, None)).await.unwrap();
        assert_eq!(map["user"].expose(), b"app");
        let found = s
            .get_all_secrets(&ExternalSecretFind {
                name: Some(FindName {
                    regexp: "^api-".into(),
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), ["api-token"]);
    }

    async fn s_get(s: &FakeClient, r: &RemoteRef) -> Result<Vec<u8>, ProviderError> {
        s.get_secret(r).await.map(|v| v.expose().to_vec())
    }
}
