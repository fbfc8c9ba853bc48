//! Authentication: bearer tokens, as kube-apiserver's token authenticators read them.
//!
//! - A static admin token ([`Harness::admin_token`](super::Harness::admin_token)): user
//!   `harness-admin` in `system:masters`, like a cluster-admin kubeconfig.
//! - ServiceAccount tokens, issued by the TokenRequest subresource (`serviceaccounts/<name>/token`):
//!   RS256-signed JWTs with kube-apiserver's claims (`iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti`,
//!   `kubernetes.io.{namespace,serviceaccount.{name,uid}}`), signed with a key whose public half is
//!   served at `/openid/v1/jwks` (discovery document at `/.well-known/openid-configuration`). The
//!   issuer is the harness URL. A token authenticates while it is unexpired, its ServiceAccount still
//!   exists with the same uid, and its audiences meet the wanted ones (the API server's own
//!   audience, the issuer, for API requests).
//! - No `Authorization` header: no identity, and today's full access (the server does not look
//!   further). Any other token, an expired one, or a non-Bearer scheme: 401.
//!
//! The user of a ServiceAccount token is `system:serviceaccount:<ns>:<name>` with uid the
//! ServiceAccount's uid and groups `system:serviceaccounts`, `system:serviceaccounts:<ns>`,
//! `system:authenticated`.

use super::status::{ApiError, ApiResult};
use super::store::{State, meta, new_uid};
use super::types::GroupResource;
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The user name of the admin token.
pub(crate) const ADMIN_USER: &str = "harness-admin";

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    /// User name and groups, the key of the per-user rule cache.
    key: String,
}

impl Identity {
    pub fn new(
        username: String,
        uid: String,
        groups: Vec<String>,
        extra: BTreeMap<String, Vec<String>>,
    ) -> Self {
        let key = format!("{username}\n{}", groups.join("\n"));
        Self {
            username,
            uid,
            groups,
            extra,
            key,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// `UserInfo` as TokenReview and SelfSubjectReview write it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.username, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// Claims of a ServiceAccount token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    aud: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: i64,
    iss: String,
    jti: String,
    #[serde(rename = "kubernetes.io")]
    kubernetes: KubernetesClaims,
    sub: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KubernetesClaims {
    namespace: String,
    serviceaccount: ObjectRef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ObjectRef {
    name: String,
    uid: String,
}

/// The signing key, made once per process (RSA key generation is the slow part).
struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    /// The public key as a JWK (`kty`, `n`, `e`).
    jwk: Value,
}

fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
            .expect("generating an RSA-2048 key");
        let pkcs8 = pair.as_der().expect("PKCS#8 of a generated key");
        let pem = crate::pem_lf("PRIVATE KEY", pkcs8.as_ref());
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("a PKCS#8 RSA key");
        let public = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let (n, e) = (b64(&public.n), b64(&public.e));
        // kube-apiserver's key id: the base64url SHA-256 of the public key's DER.
        let spki = pair
            .public_key()
            .as_der()
            .expect("DER of a generated public key");
        let kid =
            b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki.as_ref()).as_ref());
        let decoding = DecodingKey::from_rsa_components(&n, &e).expect("the key's own components");
        SigningKey {
            encoding,
            decoding,
            jwk: json!({"use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256", "n": n, "e": e}),
            kid,
        }
    })
}

/// A token that authenticated once, remembered until the ServiceAccounts change.
#[derive(Debug, Clone)]
struct Known {
    identity: Arc<Identity>,
    audiences: Vec<String>,
    exp: i64,
    /// `State::access_rv` when the ServiceAccount was last found.
    checked_at: u64,
}

/// Why a token does not authenticate (TokenReview's `status.error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected(pub String);

/// The authenticator of one harness.
pub(crate) struct Authenticator {
    issuer: String,
    admin_token: String,
    admin: Arc<Identity>,
    known: Mutex<HashMap<String, Known>>,
    /// Seconds added to the wall clock when checking expiry (tests move time forward).
    clock_offset: AtomicI64,
}

fn service_account_gr() -> GroupResource {
    GroupResource {
        group: String::new(),
        resource: "serviceaccounts".into(),
    }
}

impl Authenticator {
    pub fn new(issuer: String, admin_token: Option<String>) -> Self {
        let admin_token = admin_token.unwrap_or_else(|| {
            format!("harness-admin-{}", hex::encode(rand::random::<[u8; 16]>()))
        });
        let admin = Identity::new(
            ADMIN_USER.into(),
            String::new(),
            vec![super::rbac::MASTERS.into(), "system:authenticated".into()],
            BTreeMap::new(),
        );
        Self {
            issuer,
            admin_token,
            admin: Arc::new(admin),
            known: Mutex::default(),
            clock_offset: AtomicI64::new(0),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences of the API server itself (kube-apiserver's `--api-audiences` defaults to the
    /// issuer).
    pub fn api_audiences(&self) -> Vec<String> {
        vec![self.issuer.clone()]
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Now, in seconds since the epoch, on the harness's clock.
    pub fn now(&self) -> i64 {
        k8s_openapi::jiff::Timestamp::now().as_second() + self.clock_offset.load(Ordering::SeqCst)
    }

    /// Moves the harness's clock forward (token expiry).
    pub fn advance(&self, secs: i64) {
        self.clock_offset.fetch_add(secs, Ordering::SeqCst);
    }

    /// Signs a token for the ServiceAccount `sa` (its stored object) in `namespace`.
    pub fn issue(
        &self,
        namespace: &str,
        sa: &Value,
        audiences: &[String],
        ttl_secs: i64,
    ) -> (String, i64) {
        let name = meta(sa)["name"].as_str().unwrap_or_default().to_string();
        let uid = meta(sa)["uid"].as_str().unwrap_or_default().to_string();
        let now = self.now();
        let claims = Claims {
            aud: audiences.to_vec(),
            exp: now + ttl_secs,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            jti: new_uid(),
            sub: format!("system:serviceaccount:{namespace}:{name}"),
            kubernetes: KubernetesClaims {
                namespace: namespace.into(),
                serviceaccount: ObjectRef { name, uid },
            },
        };
        let key = signing_key();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .expect("signing with a valid RSA key");
        (token, claims.exp)
    }

    /// The user of `token` if it authenticates for one of `audiences`; the audiences it was
    /// accepted for.
    pub fn review(
        &self,
        state: &State,
        token: &str,
        audiences: &[String],
    ) -> Result<(Arc<Identity>, Vec<String>), Rejected> {
        if token == self.admin_token {
            return Ok((self.admin.clone(), audiences.to_vec()));
        }
        let known = self
            .known
            .lock()
            .expect("token cache lock")
            .get(token)
            .cloned();
        let known = match known {
            Some(k) if k.checked_at == state.access_rv => k,
            _ => {
                let k = self.verify(state, token)?;
                self.known
                    .lock()
                    .expect("token cache lock")
                    .insert(token.to_string(), k.clone());
                k
            }
        };
        if known.exp <= self.now() {
            return Err(Rejected(
                "[invalid bearer token, service account token has expired]".into(),
            ));
        }
        let accepted: Vec<String> = audiences
            .iter()
            .filter(|a| known.audiences.contains(a))
            .cloned()
            .collect();
        if accepted.is_empty() {
            return Err(Rejected(format!(
                "[invalid bearer token, token audiences {:?} is invalid for the target audiences {:?}]",
                known.audiences, audiences
            )));
        }
        Ok((known.identity, accepted))
    }

    /// Checks the signature and claims of a ServiceAccount token, and that its ServiceAccount still
    /// exists.
    fn verify(&self, state: &State, token: &str) -> Result<Known, Rejected> {
        let invalid = || Rejected("[invalid bearer token]".into());
        let key = signing_key();
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims = HashSet::new();
        v.set_issuer(&[&self.issuer]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &v)
            .map_err(|_| invalid())?
            .claims;
        let ns = &claims.kubernetes.namespace;
        let sa = &claims.kubernetes.serviceaccount;
        let stored = state
            .store(&service_account_gr())
            .and_then(|m| m.get(&(ns.clone(), sa.name.clone())));
        match stored {
            Some(obj) if meta(obj)["uid"].as_str() == Some(sa.uid.as_str()) => {}
            Some(obj) => {
                return Err(Rejected(format!(
                    "[invalid bearer token, service account UID ({}) does not match claim ({})]",
                    meta(obj)["uid"].as_str().unwrap_or_default(),
                    sa.uid
                )));
            }
            None => {
                return Err(Rejected(format!(
                    "[invalid bearer token, serviceaccounts \"{}\" not found]",
                    sa.name
                )));
            }
        }
        let identity = Identity::new(
            format!("system:serviceaccount:{ns}:{}", sa.name),
            sa.uid.clone(),
            vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            BTreeMap::from([(
                "authentication.kubernetes.io/credential-id".to_string(),
                vec![format!("JTI={}", claims.jti)],
            )]),
        );
        Ok(Known {
            identity: Arc::new(identity),
            audiences: claims.aud,
            exp: claims.exp,
            checked_at: state.access_rv,
        })
    }

    /// Authenticates an API request's `Authorization` header value: 401 unless it is a valid
    /// Bearer token for the API server's audience.
    pub fn authenticate(&self, state: &State, header: &[u8]) -> ApiResult<Arc<Identity>> {
        let token = std::str::from_utf8(header)
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(unauthorized)?;
        self.review(state, token, &self.api_audiences())
            .map(|(id, _)| id)
            .map_err(|_| unauthorized())
    }

    /// `/.well-known/openid-configuration`.
    pub fn openid_configuration(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/openid/v1/jwks", self.issuer),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    /// `/openid/v1/jwks`.
    pub fn jwks(&self) -> Value {
        json!({"keys": [signing_key().jwk.clone()]})
    }
}

/// 401, as kube-apiserver answers a request it cannot authenticate.
pub(crate) fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}
