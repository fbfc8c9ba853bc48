//! ServiceAccount tokens from the TokenRequest API
//! (`POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`), the way ESO's `kubernetes`
//! provider (`runtime/esutils/k8s_rest_config.go`) and Vault Kubernetes auth
//! (`providers/v1/vault/auth.go`) get a store's identity: a short-lived token of a
//! ServiceAccount the store names, never the controller's own.
//!
//! The request is made with the bridge's client (RBAC `create serviceaccounts/token` in each
//! served namespace). The token is a [`SecretString`]; errors name the ServiceAccount and the
//! HTTP status, never the token.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use secrecy::SecretString;

use super::ProviderError;
use super::egress::DEFAULT_TIMEOUT;

/// What to ask the API server for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// Namespace of the ServiceAccount.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `aud` claims (empty: the API server's default audience).
    pub audiences: Vec<String>,
    /// Lifetime asked for (the API server may shorten it; 600 is its minimum).
    pub expiration_seconds: i64,
}

/// Lifetime of tokens for the `kubernetes` provider (ESO: one hour).
pub const KUBERNETES_PROVIDER_EXPIRATION: i64 = 3600;

/// Lifetime of tokens for Vault Kubernetes auth (ESO: ten minutes).
pub const VAULT_LOGIN_EXPIRATION: i64 = 600;

/// Requests a token for `spec` with `client` (the bridge's own API client).
pub async fn request_token(
    client: &kube::Client,
    spec: &TokenSpec,
) -> Result<SecretString, ProviderError> {
    let fail = |reason: String| ProviderError::ServiceAccountToken {
        namespace: spec.namespace.clone(),
        name: spec.name.clone(),
        reason,
    };
    if spec.name.is_empty() {
        return Err(fail("the serviceaccount reference has no name".into()));
    }
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &spec.namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: spec.audiences.clone(),
            expiration_seconds: Some(spec.expiration_seconds),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    let params = PostParams::default();
    let call = api.create_token_request(&spec.name, &params, &request);
    let answer = match tokio::time::timeout(DEFAULT_TIMEOUT, call).await {
        Err(_) => return Err(fail("the token request timed out".into())),
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
            return Err(fail("serviceaccount not found".into()));
        }
        Ok(Err(kube::Error::Api(s))) => {
            return Err(fail(format!("http {} {}", s.code, s.reason)));
        }
        Ok(Err(_)) => return Err(fail("kubernetes api call failed".into())),
        Ok(Ok(answer)) => answer,
    };
    match answer.status {
        Some(status) if !status.token.is_empty() => Ok(SecretString::from(status.token)),
        _ => Err(fail("the answer holds no token".into())),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;
    use serde_json::json;

    use super::*;
    use crate::externalsecrets::providers::testing::MockApi;

    #[tokio::test]
    async fn a_token_request_names_the_service_account_audiences_and_lifetime() {
        let (client, seen) = MockApi::default()
            .service_account("apps", "eso", "minted-token")
            .client();
        let token = request_token(
            &client,
            &TokenSpec {
                namespace: "apps".into(),
                name: "eso".into(),
                audiences: vec!["vault".into()],
                expiration_seconds: VAULT_LOGIN_EXPIRATION,
            },
        )
        .await
        .unwrap();
        assert_eq!(token.expose_secret(), "minted-token");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (method, path, body) = &seen[0];
        assert_eq!(method, "POST");
        assert_eq!(path, "/api/v1/namespaces/apps/serviceaccounts/eso/token");
        assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
        assert_eq!(body["kind"], "TokenRequest");
        assert_eq!(body["spec"]["audiences"], json!(["vault"]));
        assert_eq!(body["spec"]["expirationSeconds"], 600);
    }

    #[tokio::test]
    async fn a_missing_service_account_is_an_error_that_names_it() {
        let (client, _) = MockApi::default().client();
        let err = request_token(
            &client,
            &TokenSpec {
                namespace: "apps".into(),
                name: "nobody".into(),
                audiences: vec![],
                expiration_seconds: KUBERNETES_PROVIDER_EXPIRATION,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot get a token for serviceaccount apps/nobody: serviceaccount not found"
        );
    }
}
