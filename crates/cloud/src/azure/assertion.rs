//! Client assertions for Entra ID (RFC 7521 / 7523 `client_assertion`): a token handed in (a
//! Kubernetes ServiceAccount token for workload identity), or a JWT signed with a client
//! certificate's RSA key, as Microsoft documents "certificate credentials": RS256, header
//! `x5t` = base64url(SHA-1 of the certificate's DER), claims `aud` = the token endpoint,
//! `iss` = `sub` = the client ID, a random `jti`, `nbf`, `exp` (ten minutes).
//!
//! azure_identity's own certificate credential needs OpenSSL; this one signs with aws-lc-rs,
//! which the workspace already builds. Only PEM files (certificate + PKCS#8 or PKCS#1 RSA
//! key) are read; PKCS#12 is refused.

use std::sync::Arc;

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use secrecy::{ExposeSecret as _, SecretString};

/// A client certificate: the key that signs assertions and the certificate's thumbprint.
pub struct ClientCertificate {
    key: RsaKeyPair,
    x5t: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads a PEM bundle holding the certificate and its RSA private key. The error says
    /// what is missing, never the key.
    pub fn from_pem(pem_text: &[u8]) -> Result<Self, &'static str> {
        let blocks = pem::parse_many(pem_text).map_err(|_| "not PEM (PKCS#12 is not read)")?;
        let cert = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or("no CERTIFICATE block")?;
        let key = blocks
            .iter()
            .find_map(|b| match b.tag() {
                "PRIVATE KEY" => Some(RsaKeyPair::from_pkcs8(b.contents())),
                "RSA PRIVATE KEY" => Some(RsaKeyPair::from_der(b.contents())),
                _ => None,
            })
            .ok_or("no PRIVATE KEY or RSA PRIVATE KEY block")?
            .map_err(|_| "the private key is not an RSA key")?;
        let thumbprint = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            cert.contents(),
        );
        Ok(Self {
            key,
            x5t: sealer::encoding::encode_url_nopad(thumbprint.as_ref()),
        })
    }

    /// A signed assertion for `client_id` at the token endpoint `audience`, issued `now`
    /// (Unix seconds).
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: i64,
    ) -> Result<String, &'static str> {
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| "no randomness")?;
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": self.x5t });
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": sealer::encoding::encode_url_nopad(&jti),
            "nbf": now,
            "exp": now + 600,
        });
        let encode =
            |v: &serde_json::Value| sealer::encoding::encode_url_nopad(v.to_string().as_bytes());
        let signing_input = format!("{}.{}", encode(&header), encode(&claims));
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the assertion failed")?;
        Ok(format!(
            "{signing_input}.{}",
            sealer::encoding::encode_url_nopad(&signature)
        ))
    }
}

/// What azure_identity's `ClientAssertionCredential` asks for each token.
#[derive(Debug)]
pub(crate) enum Assertion {
    /// A token handed in as it is.
    Token(SecretString),
    /// A JWT signed per request with a client certificate.
    Certificate {
        certificate: Arc<ClientCertificate>,
        client_id: String,
        audience: String,
    },
}

#[async_trait::async_trait]
impl ClientAssertion for Assertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        match self {
            Self::Token(token) => Ok(token.expose_secret().to_owned()),
            Self::Certificate {
                certificate,
                client_id,
                audience,
            } => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                certificate
                    .assertion(client_id, audience, now)
                    .map_err(|reason| {
                        azure_core::Error::with_message(ErrorKind::Credential, reason)
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_without_a_key_or_certificate_says_which_is_missing() {
        assert_eq!(
            ClientCertificate::from_pem(b"nothing").unwrap_err(),
            "no CERTIFICATE block"
        );
        let cert = rcgen::generate_simple_self_signed(vec!["client".into()]).unwrap();
        assert_eq!(
            ClientCertificate::from_pem(cert.cert.pem().as_bytes()).unwrap_err(),
            "no PRIVATE KEY or RSA PRIVATE KEY block"
        );
        // rcgen's default key is ECDSA: not an RSA key.
        let both = format!("{}{}", cert.cert.pem(), cert.key_pair.serialize_pem());
        assert_eq!(
            ClientCertificate::from_pem(both.as_bytes()).unwrap_err(),
            "the private key is not an RSA key"
        );
    }
}
