//! RSA key pairs and the self-signed certificates that publish them.
//!
//! Bitnami `pkg/crypto/keys.go`: RSA-4096, a self-signed X.509 v3 certificate with an empty
//! subject (or `CN=<my-cn>`), key usage `critical, Encipher Only`, basic constraints `CA:TRUE`,
//! SHA256-RSA signature, a random 128-bit serial. Private keys are read from PEM in PKCS#1
//! (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) and written as PKCS#1, as Bitnami stores them.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{
    KeyPair as RsaSigningKeyPair, KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::{Error, Result};
use crate::secret::SecretBytes;

/// DER of the rsaEncryption algorithm identifier: `SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }`.
const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// An RSA public key that seals (RSA-OAEP-SHA256 encrypt).
#[derive(Clone)]
pub struct PublicKey {
    oaep: Arc<OaepPublicEncryptingKey>,
    spki_der: Arc<[u8]>,
}

impl PublicKey {
    /// Reads a DER `SubjectPublicKeyInfo` holding an RSA key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let key = PublicEncryptingKey::from_der(der).map_err(|_| Error::CertificateNotRsa)?;
        let oaep = OaepPublicEncryptingKey::new(key).map_err(|_| Error::CertificateNotRsa)?;
        Ok(Self {
            oaep: Arc::new(oaep),
            spki_der: der.into(),
        })
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.oaep.key_size_bits()
    }

    /// `SHA256:` and the hex SHA-256 of the DER public key: identifies a key in logs and metrics.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", hex::encode(Sha256::digest(&self.spki_der)))
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256) encryption of a short message under `label`.
    pub(crate) fn encrypt_oaep(&self, label: &[u8], message: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.oaep.ciphertext_size()];
        let label = (!label.is_empty()).then_some(label);
        let len = self
            .oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, message, &mut out, label)
            .map_err(|_| Error::EncryptionFailed)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("bits", &self.bits())
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

/// An RSA private key that unseals (RSA-OAEP-SHA256 decrypt). `Debug` is redacted.
pub struct PrivateKey {
    oaep: OaepPrivateDecryptingKey,
    pkcs8: SecretBytes,
    public: PublicKey,
}

impl PrivateKey {
    /// Generates a fresh key of `bits` (2048, 3072, 4096 or 8192).
    pub fn generate(bits: usize) -> Result<Self> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            bits => return Err(Error::UnsupportedKeySize { bits }),
        };
        let key = PrivateDecryptingKey::generate(size).map_err(|e| Error::KeyGeneration {
            reason: e.to_string(),
        })?;
        let pkcs8 = key.as_der().map_err(|e| Error::KeyGeneration {
            reason: e.to_string(),
        })?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` (DER).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let rsa_oid = &RSA_ALGORITHM_ID[2..13];
        if !der.windows(rsa_oid.len()).any(|w| w == rsa_oid) {
            return Err(Error::NotRsaKey);
        }
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|e| Error::InvalidPrivateKey {
            reason: e.to_string(),
        })?;
        let public_der = key
            .public_key()
            .as_der()
            .map_err(|e| Error::InvalidPrivateKey {
                reason: e.to_string(),
            })?;
        let public = PublicKey::from_spki_der(public_der.as_ref())?;
        let oaep = OaepPrivateDecryptingKey::new(key).map_err(|e| Error::InvalidPrivateKey {
            reason: e.to_string(),
        })?;
        Ok(Self {
            oaep,
            pkcs8: SecretBytes::new(der.to_vec()),
            public,
        })
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (DER).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        // Validate as PKCS#1 first so the error names the right format.
        let pair = RsaSigningKeyPair::from_der(der).map_err(|e| Error::InvalidPrivateKey {
            reason: e.to_string(),
        })?;
        let pkcs8 = pair.as_der().map_err(|e| Error::InvalidPrivateKey {
            reason: e.to_string(),
        })?;
        Self::from_pkcs8_der(pkcs8.as_ref())
    }

    /// Reads every private key in a PEM text (`RSA PRIVATE KEY` or `PRIVATE KEY` blocks; other
    /// blocks such as certificates are skipped).
    pub fn all_from_pem(text: &[u8]) -> Result<Vec<Self>> {
        let blocks = pem::parse_many(text).map_err(Error::InvalidPem)?;
        let mut keys = Vec::new();
        for block in blocks {
            match block.tag() {
                "RSA PRIVATE KEY" => keys.push(Self::from_pkcs1_der(block.contents())?),
                "PRIVATE KEY" => keys.push(Self::from_pkcs8_der(block.contents())?),
                "EC PRIVATE KEY" | "OPENSSH PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::NotRsaKey);
                }
                _ => {}
            }
        }
        if keys.is_empty() {
            return Err(Error::NoPemBlock {
                expected: "RSA PRIVATE KEY or PRIVATE KEY",
            });
        }
        Ok(keys)
    }

    /// The first private key in a PEM text.
    pub fn from_pem(text: &[u8]) -> Result<Self> {
        Ok(Self::all_from_pem(text)?.swap_remove(0))
    }

    /// PKCS#1 PEM (`RSA PRIVATE KEY`), the form Bitnami writes to `tls.key`.
    pub fn to_pkcs1_pem(&self) -> SecretString {
        let pkcs1 = pkcs1_from_pkcs8(self.pkcs8.expose()).expect("aws-lc-rs writes valid PKCS#8");
        let block = pem::Pem::new("RSA PRIVATE KEY", pkcs1);
        SecretString::from(pem::encode(&block))
    }

    /// PKCS#8 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> SecretString {
        let block = pem::Pem::new("PRIVATE KEY", self.pkcs8.expose().to_vec());
        SecretString::from(pem::encode(&block))
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256) decryption under `label`. Constant time in aws-lc.
    pub(crate) fn decrypt_oaep(&self, label: &[u8], ciphertext: &[u8]) -> Result<SecretBytes> {
        let mut out = vec![0u8; self.oaep.min_output_size()];
        let label = (!label.is_empty()).then_some(label);
        let result = self
            .oaep
            .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, label)
            .map(|plain| plain.len());
        match result {
            Ok(len) => {
                out.truncate(len);
                Ok(SecretBytes::new(out))
            }
            Err(_) => {
                zeroize::Zeroize::zeroize(&mut out);
                Err(Error::DecryptionFailed)
            }
        }
    }

    /// PKCS#8 DER bytes (secret).
    pub fn pkcs8_der(&self) -> &[u8] {
        self.pkcs8.expose()
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// An X.509 certificate carrying an RSA public key (what `/v1/cert.pem` serves).
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    public: PublicKey,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl Certificate {
    /// Reads the first `CERTIFICATE` block of a PEM text (other blocks are skipped).
    pub fn from_pem(text: &[u8]) -> Result<Self> {
        let blocks = pem::parse_many(text).map_err(Error::InvalidPem)?;
        let block = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or(Error::NoPemBlock {
                expected: "CERTIFICATE",
            })?;
        Self::from_der(block.contents())
    }

    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| Error::InvalidCertificate {
                reason: e.to_string(),
            })?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
            return Err(Error::CertificateNotRsa);
        }
        let public = PublicKey::from_spki_der(spki.raw)?;
        let to_time = |t: x509_parser::time::ASN1Time| {
            OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(|e| {
                Error::InvalidCertificate {
                    reason: e.to_string(),
                }
            })
        };
        Ok(Self {
            not_before: to_time(cert.validity().not_before)?,
            not_after: to_time(cert.validity().not_after)?,
            der: der.to_vec(),
            public,
        })
    }

    /// A self-signed certificate for `key`, shaped like Bitnami's (empty subject unless
    /// `common_name` is given, critical Encipher Only key usage, CA:TRUE, random serial).
    pub fn self_signed(
        key: &PrivateKey,
        validity: time::Duration,
        common_name: &str,
    ) -> Result<Self> {
        use rand::RngCore as _;
        let generation = |e: rcgen::Error| Error::KeyGeneration {
            reason: e.to_string(),
        };
        let pkcs8_pem = key.to_pkcs8_pem();
        let signer = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(
            secrecy::ExposeSecret::expose_secret(&pkcs8_pem),
            &rcgen::PKCS_RSA_SHA256,
        )
        .map_err(generation)?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if !common_name.is_empty() {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, common_name);
        }
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::now_utc());
        params.not_before = now;
        params.not_after = now + validity;
        let mut serial = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut serial);
        serial[0] &= 0x7f; // keep it positive
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.key_usages = vec![rcgen::KeyUsagePurpose::EncipherOnly];
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&signer).map_err(generation)?;
        Self::from_der(cert.der())
    }

    /// PEM (`CERTIFICATE`).
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }

    /// DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certified public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Whether `now` is past the end of validity.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        now > self.not_after
    }
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("public", &self.public)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// Reads one DER TLV with a definite length: `(tag, contents, rest)`.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, after) = rest.split_at(count);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5).
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (0x30, info, _) = read_tlv(pkcs8)? else {
        return None;
    };
    let (0x02, _version, rest) = read_tlv(info)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = read_tlv(rest)? else {
        return None;
    };
    let (0x04, private_key, _) = read_tlv(rest)? else {
        return None;
    };
    Some(private_key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_export_reads_back_as_the_same_key() {
        let key = PrivateKey::generate(2048).unwrap();
        let pem = key.to_pkcs1_pem();
        let text = secrecy::ExposeSecret::expose_secret(&pem);
        assert!(text.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let back = PrivateKey::from_pem(text.as_bytes()).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let pkcs8 = key.to_pkcs8_pem();
        let back8 =
            PrivateKey::from_pem(secrecy::ExposeSecret::expose_secret(&pkcs8).as_bytes()).unwrap();
        assert_eq!(back8.public_key(), key.public_key());
    }

    #[test]
    fn self_signed_certificate_carries_the_key_and_validity() {
        let key = PrivateKey::generate(2048).unwrap();
        let cert = Certificate::self_signed(&key, time::Duration::days(10), "").unwrap();
        let back = Certificate::from_pem(cert.to_pem().as_bytes()).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let days = (back.not_after() - back.not_before()).whole_days();
        assert_eq!(days, 10);
        assert!(!back.is_expired_at(OffsetDateTime::now_utc()));
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let key = PrivateKey::generate(2048).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("fingerprint"));
        assert!(!debug.contains("pkcs8"));
    }

    #[test]
    fn pem_without_a_key_is_reported() {
        let err =
            PrivateKey::from_pem(b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n").unwrap_err();
        assert!(matches!(err, Error::NoPemBlock { .. }));
    }
}
