//! RSA key pairs and the self-signed certificates that publish them.
//!
//! Bitnami `pkg/crypto/keys.go`: RSA-4096, a self-signed X.509 v3 certificate with an empty
//! subject (or `CN=<my-cn>`), key usage `critical, Encipher Only`, basic constraints `CA:TRUE`,
//! SHA256-RSA signature, a random 128-bit serial. Private keys are read from PEM in PKCS#1
//! (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) and written as PKCS#1, as Bitnami stores them.
//! PEM is written with LF line ends, as Go's `pem.Encode` writes it.
//!
//! Every parse error is one line that says what is wrong (an encrypted key, an EC key, an
//! RSA-1024 certificate, bytes that are not PEM or not DER), never a parser's debug output.

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
    /// Reads a DER `SubjectPublicKeyInfo` holding an RSA key (2048 to 8192 bits).
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let key = PublicEncryptingKey::from_der(der).map_err(|_| spki_error(der))?;
        let oaep = OaepPublicEncryptingKey::new(key).map_err(|_| spki_error(der))?;
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
    /// The `RSAPrivateKey` inside `pkcs8`, for `tls.key`.
    pkcs1: SecretBytes,
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
            return Err(Error::NotRsaKey {
                found: pkcs8_algorithm(der).map_or_else(
                    || "a PKCS#8 key of another algorithm".into(),
                    |name| format!("a PKCS#8 {name} key"),
                ),
            });
        }
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|e| Error::InvalidPrivateKey {
            reason: e.to_string(),
        })?;
        // Kept as aws-lc writes it (canonical DER), whatever encoding the input used.
        let canonical = key.as_der().map_err(|e| Error::InvalidPrivateKey {
            reason: e.to_string(),
        })?;
        let pkcs8 = SecretBytes::new(canonical.as_ref().to_vec());
        let pkcs1 = pkcs1_from_pkcs8(pkcs8.expose())
            .map(SecretBytes::new)
            .ok_or_else(|| Error::InvalidPrivateKey {
                reason: "not a PKCS#8 RSA key".into(),
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
            pkcs8,
            pkcs1,
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
        let blocks = parse_pem(text)?;
        let mut keys = Vec::new();
        for block in blocks {
            if block
                .headers()
                .get("Proc-Type")
                .is_some_and(|v| v.contains("ENCRYPTED"))
            {
                return Err(Error::EncryptedPrivateKey {
                    format: "Proc-Type: 4,ENCRYPTED",
                });
            }
            match block.tag() {
                "RSA PRIVATE KEY" => keys.push(Self::from_pkcs1_der(block.contents())?),
                "PRIVATE KEY" => keys.push(Self::from_pkcs8_der(block.contents())?),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::EncryptedPrivateKey {
                        format: "ENCRYPTED PRIVATE KEY",
                    });
                }
                tag @ ("EC PRIVATE KEY" | "OPENSSH PRIVATE KEY" | "DSA PRIVATE KEY") => {
                    return Err(Error::NotRsaKey { found: tag.into() });
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
        let block = pem::Pem::new("RSA PRIVATE KEY", self.pkcs1.expose().to_vec());
        SecretString::from(encode_pem(&block))
    }

    /// PKCS#8 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> SecretString {
        let block = pem::Pem::new("PRIVATE KEY", self.pkcs8.expose().to_vec());
        SecretString::from(encode_pem(&block))
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
        let blocks = parse_pem(text)?;
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
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(certificate_error)?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
            return Err(Error::CertificateNotRsa {
                algorithm: algorithm_name(&spki.algorithm.algorithm),
            });
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
        // `+` panics past the year 9999; a validity is caller input (`--validity-days`,
        // the controller's `--key-ttl`).
        params.not_after = now
            .checked_add(validity)
            .filter(|end| end.year() <= 9999)
            .ok_or_else(|| Error::KeyGeneration {
                reason: "the certificate's validity would end after the year 9999".into(),
            })?;
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
        encode_pem(&pem::Pem::new("CERTIFICATE", self.der.clone()))
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

    /// Whether `now` is before the start of validity (a clock skew, or a certificate made
    /// for later): the controller may not hold its key yet.
    pub fn is_not_yet_valid_at(&self, now: OffsetDateTime) -> bool {
        now < self.not_before
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

/// PEM with LF line ends, as Go's `pem.Encode` (the `pem` crate's default is CRLF).
fn encode_pem(block: &pem::Pem) -> String {
    pem::encode_config(
        block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Every PEM block of `text`; a broken armor is described in one line.
fn parse_pem(text: &[u8]) -> Result<Vec<pem::Pem>> {
    pem::parse_many(text).map_err(|e| Error::InvalidPem {
        reason: match e {
            pem::PemError::MismatchedTags(begin, end) => {
                format!("its BEGIN label `{begin}` and END label `{end}` differ")
            }
            pem::PemError::MalformedFraming => "malformed BEGIN/END lines".into(),
            pem::PemError::MissingBeginTag => "a BEGIN line is missing".into(),
            pem::PemError::MissingEndTag => "an END line is missing".into(),
            pem::PemError::MissingData => "a block has no content".into(),
            pem::PemError::InvalidData(_) => "a block's content is not valid base64".into(),
            pem::PemError::InvalidHeader(_) => "a block has an invalid header line".into(),
            pem::PemError::NotUtf8(_) => "a block is not text".into(),
        },
    })
}

/// A DER certificate that does not parse, in one line (x509-parser's error prints its
/// internal debug form).
fn certificate_error(e: x509_parser::nom::Err<x509_parser::error::X509Error>) -> Error {
    use x509_parser::error::X509Error;
    let reason = match e {
        x509_parser::nom::Err::Incomplete(_) => "the DER is truncated".to_owned(),
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => match e {
            X509Error::Der(_) | X509Error::NomError(_) => {
                "the bytes are not a DER certificate".into()
            }
            other => other.to_string(),
        },
    };
    Error::InvalidCertificate { reason }
}

/// Why a SubjectPublicKeyInfo is not a usable RSA key: its algorithm, or its RSA size.
fn spki_error(der: &[u8]) -> Error {
    use x509_parser::prelude::FromDer as _;
    use x509_parser::public_key::PublicKey as Parsed;
    let Ok((_, spki)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der) else {
        return Error::CertificateNotRsa {
            algorithm: "unreadable".into(),
        };
    };
    match spki.parsed() {
        Ok(Parsed::RSA(rsa)) => Error::UnsupportedRsaKeySize {
            bits: rsa.key_size(),
        },
        _ => Error::CertificateNotRsa {
            algorithm: algorithm_name(&spki.algorithm.algorithm),
        },
    }
}

/// A public-key algorithm's usual name, or its OID.
fn algorithm_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    match oid.to_id_string().as_str() {
        "1.2.840.10045.2.1" => "EC".into(),
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        "1.2.840.113549.1.1.1" => "RSA".into(),
        other => format!("the algorithm {other}"),
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

/// The algorithm of a PKCS#8 `PrivateKeyInfo`, by name.
fn pkcs8_algorithm(pkcs8: &[u8]) -> Option<String> {
    let (0x30, info, _) = read_tlv(pkcs8)? else {
        return None;
    };
    let (0x02, _version, rest) = read_tlv(info)? else {
        return None;
    };
    let (0x30, algorithm, _) = read_tlv(rest)? else {
        return None;
    };
    let (0x06, oid, _) = read_tlv(algorithm)? else {
        return None;
    };
    let oid = x509_parser::der_parser::oid::Oid::new(std::borrow::Cow::Borrowed(oid));
    Some(algorithm_name(&oid))
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

    // issue 14: `seal keygen --validity-days 999999999` panicked ("resulting value is out of
    // range").
    #[test]
    fn a_validity_past_the_year_9999_is_an_error_not_a_panic() {
        let key = PrivateKey::generate(2048).unwrap();
        let err =
            Certificate::self_signed(&key, time::Duration::days(999_999_999), "").unwrap_err();
        assert_eq!(
            err.to_string(),
            "key generation failed: the certificate's validity would end after the year 9999"
        );
        let err = Certificate::self_signed(&key, time::Duration::MAX, "").unwrap_err();
        assert!(matches!(err, Error::KeyGeneration { .. }));
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let key = PrivateKey::generate(2048).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("fingerprint"));
        assert!(!debug.contains("pkcs8"));
    }

    // Generated for these tests with OpenSSL 3.0 (`openssl req -x509 -newkey rsa:1024 …`,
    // `-newkey ec -pkeyopt ec_paramgen_curve:P-256`, `openssl pkcs8 -topk8 -v2 aes-256-cbc`);
    // throwaway keys, never used for anything else.
    const RSA_1024_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIICDDCCAXWgAwIBAgIUQk+go+psSbx5DhSwk89pPbW4BlUwDQYJKoZIhvcNAQEL\nBQAwFzEVMBMGA1UEAwwMcnNhMTAyNC10ZXN0MCAXDTI2MTIwNjE2MzA0NVoYDzIx\nMjYxMTEyMTYzMDQ1WjAXMRUwEwYDVQQDDAxyc2ExMDI0LXRlc3QwgZ8wDQYJKoZI\nhvcNAQEBBQADgY0AMIGJAoGBAJ1IER4/LINDxmEL03yCzFBUisCuQVmUdocybk7A\nVJ7l/MoL1dDu6RwGmVcdJBkjxyuc7lq9cWC8X3JW54zwv9zva4D5bqhemV7P2hC0\nPhR6hkWjz5VnIeDd62tAW/sAoxcPpsl+JhOJEp8Mzo9L6FZ9QP1wI60OHFCcHDEN\n83MvAgMBAAGjUzBRMB0GA1UdDgQWBBQ09DNuOEdLRwSFo4sUomA3c/S9xzAfBgNV\nHSMEGDAWgBQ09DNuOEdLRwSFo4sUomA3c/S9xzAPBgNVHRMBAf8EBTADAQH/MA0G\nCSqGSIb3DQEBCwUAA4GBAIHuZlejZgPnS1wENbpjP3vYIhrQvBobE1ALLTPz90zB\n24EgZK4yemI5lirm+UomE5wHlfVoSHRHvrXPqugzJlEJnI7W6RiWZDR0ZB1o1jCy\nZIAMFp5zbdxziNF76FmmL81hJDlpAdw86G7yqhimsSaaP6Hq7RB8dyMvHfxXhhdC\n-----END CERTIFICATE-----\n";
    const EC_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBejCCASGgAwIBAgIUYTWv061470ecGPmwCHFS2+krb3AwCgYIKoZIzj0EAwIw\nEjEQMA4GA1UEAwwHZWMtdGVzdDAgFw0yNjEyMDYxNjMwNDVaGA8yMTI2MTExMjE2\nMzA0NVowEjEQMA4GA1UEAwwHZWMtdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH\nA0IABCdgF+h19P3t/tVVu+eysdBvUZ9oOm1oU8gy4lGzh78MkTVW7ezlMDtLULCY\nIKwCeJhH4sUCmEPjZsFypcnvvD+jUzBRMB0GA1UdDgQWBBSCHFjXvU5bIdiRuYFs\nHYosATv5iDAfBgNVHSMEGDAWgBSCHFjXvU5bIdiRuYFsHYosATv5iDAPBgNVHRMB\nAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIEEu0uocBbzRTVpmSkqGYjoEIOvF\n78xvVcLU56heg423AiBKNr9VZb4lmgSPzt0Rt/L/zFkzVs+H0oDWLF2+4UWvRA==\n-----END CERTIFICATE-----\n";
    const ENCRYPTED_PKCS8_KEY: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFLTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI3CoEK30a3x4CAggA\nMAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAEqBBCfo4YH0NOrQb3I+uT9jg//BIIE\n0EHHeuCm85dd3f+KbCKs98N+bTrVPmWn2LmV084m9Tm8IyhwIorBqbrfJD5wC2nh\nFCyeVthLyvHzxHWnsOXAoYWGNI1ubLR0cn7I15+u3JPVynCDkG+o3DtZUgdaH97G\nPzqSRuXGhs6TvFjI9ALMDkHCKCsmILEqOOopp6plkdt6hr6QwAy3HsL7DkfmHZQR\neX0i4emnGHT9Fk7lEmUnCHJvWd/z6dZJ3pnbYzhXJSygQTACh9i7rlFXB7mh+6Hp\nbYIeOR10V6pkM1vdw+KDm5ZFf4GFnV4Dbmv2MzP/ipX4ZhkAIL+edP275/gkM/eC\nsMhATkguUkss+6o3cuVTGhkGB7/HYQYMTP/AUoZ/aYj2KOKXkBuI53Flly3tHbPl\n23wybyovMYAiewivgywr5pHfIuLdZ+puW1yFEJqxTgzVSALcW30dIRHR/1ySrGhR\nPeKbPwCylfIYS8S0/y7TvyQOYnOfWbRsUldWc2zkhKi99vejyiWlOuUe+p5zoE+K\n2YUDTY3c8tvhzILlN1DPVHD0oOeoiRp76ZuHbYnkt5UzALRcsIxSeDHbHKE/48Tx\np64hK6Qkv84xqYt2YZgjjWF7ISDzESu15rA49EIt1ZfcsAADdD0FkCqktJ6Yt91o\nR2vOF8C6AqPwVoIfpZZSKumoHbRr2a+3TdxrfKE/YCVxTuYRn+hiydXGhTYyDm09\nnA3ZnnwI5l3NCRggdBIXR3wWkJBYOSge+ISmxdyt1Xcz1Mww7X6rl3QJj7swwW8R\nXQZvuuI4OiqNL/rWa0HVtnlmDPt2jxu9st8oprbWtSxgj0/j6plWxLa/GlLHv3V1\nTMByfqHUkamEZJjbutGhpaK6rI/xfNYQ6DTPXvjzkLakW8GFvbJpZP/QhYC2+0mL\n+iQ6bcKE3gA9HnMNMaIJOUqlM14Wzxr+d/ZuANxGs1Z+N3bCfyh6tEoRFJ4OR0z1\nRNitqmYumDAzs7K2E3tYhz9qBG0RFuW4cvBu81TEnyUOArsoSoCd0LOHnguKsi7L\nQMQoXMQj6IyS5FsUpi8gNnetARA7AoAqDgmZVpf3rqEkc+wja8zw7/0iVztHWTJC\nUGWKzkdheTlzupwPiTLbshU7Zjt7g/vl5k7PrINsXSP0U1OANYceJ+kra4vywinN\nyUrZyRyVwKNFL9TEodMkmULGBxkoHtZHlo/3zSVRJcK/0fzR9vF4pQHGrpc2JrCV\nZMJ68L3joGlYJvyvcWYRTTnQF4AErQif7tJr24niw8tjFgLgHvIZTCru/0y+NOc/\nonE474SGxPG8y1OvmIMMu26ob5NT6wDdEsk0fzRo14s4DgHBD6213/Gdg1bwMJuu\nz1O+WQ1/X6hniY/+PuwKeneT92iyYwPThXr5uig/HdNt+jtQsr/HBe/ET3MxnHSO\nFxifmwE4YoLBxvCXDocVnSsIkbs9841uKYEiI5GyAQfdrSBnzwwkv1qe1cTIBPp/\nvULx8vEwpsVxHr6zMH+gFcdfkSrJPniIXRwCL8hLRqVo3sqEv5oPxnXv4UvhLpmU\nMBhhX7PaVkhmLXF/TzXqyREb02ZDeGkTAW1VUSd8B2ZtKB8G3YTilAruchxigvRP\nsR/dsN09QoW45n9Z96dVE3R7uOoXwlqzrLLwplg+jAqR\n-----END ENCRYPTED PRIVATE KEY-----\n";
    const EC_PKCS8_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgi3ls5NC6F2bYnczS\ny0gsG0yoeKdoZZQDnjNIRbTM73mhRANCAAQnYBfodfT97f7VVbvnsrHQb1GfaDpt\naFPIMuJRs4e/DJE1Vu3s5TA7S1CwmCCsAniYR+LFAphD42bBcqXJ77w/\n-----END PRIVATE KEY-----\n";

    #[test]
    fn every_pem_written_has_lf_line_ends_like_go() {
        // issue 14: `pem::encode` writes CRLF; Go's `pem.Encode`, kubeseal and Bitnami write LF.
        let key = PrivateKey::generate(2048).unwrap();
        let cert = Certificate::self_signed(&key, time::Duration::days(1), "").unwrap();
        let pkcs1 = key.to_pkcs1_pem();
        let pkcs8 = key.to_pkcs8_pem();
        for text in [
            cert.to_pem().as_str(),
            secrecy::ExposeSecret::expose_secret(&pkcs1),
            secrecy::ExposeSecret::expose_secret(&pkcs8),
        ] {
            assert!(!text.contains('\r'), "{text}");
            assert!(text.ends_with("-----\n"));
            assert!(text.lines().all(|l| l.len() <= 64));
        }
    }

    #[test]
    fn unusable_certificates_say_why_in_one_line() {
        // issue 14: an RSA-1024 certificate was "certificate public key is not RSA".
        let err = Certificate::from_pem(RSA_1024_CERT.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "certificate holds an RSA-1024 key, which is not supported: sealing needs an RSA key of 2048 to 8192 bits"
        );
        let err = Certificate::from_pem(EC_CERT.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "certificate public key is EC, not RSA; sealing needs an RSA certificate"
        );
        // issue 14: random bytes in the armor printed `Der(UnexpectedTag { … })`.
        let random = encode_pem(&pem::Pem::new("CERTIFICATE", vec![0x5a; 200]));
        let err = Certificate::from_pem(random.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid X.509 certificate: the bytes are not a DER certificate"
        );
        let err = Certificate::from_pem(&[0xff, 0x00, 0x13, 0x37]).unwrap_err();
        assert_eq!(err.to_string(), "no CERTIFICATE PEM block found");
    }

    #[test]
    fn unusable_private_keys_say_why_in_one_line() {
        // issue 14: an encrypted PKCS#8 key was "private key is not an RSA key".
        let err = PrivateKey::from_pem(ENCRYPTED_PKCS8_KEY.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "private key is encrypted (ENCRYPTED PRIVATE KEY); decrypt it first, e.g. `openssl pkey -in KEY -out PLAIN`"
        );
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let err = PrivateKey::from_pem(legacy.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::EncryptedPrivateKey { .. }), "{err}");
        let err = PrivateKey::from_pem(EC_PKCS8_KEY.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "private key is not an RSA key (a PKCS#8 EC key); sealed secrets use RSA keys"
        );
        // issue 14: random bytes gave "stream did not contain valid UTF-8".
        let err = PrivateKey::from_pem(&[0xff, 0xfe, 0x00, 0x80, 0x81]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no RSA PRIVATE KEY or PRIVATE KEY PEM block found"
        );
    }

    #[test]
    fn a_broken_pem_body_is_described_once() {
        // issue 14: the base64 error was printed by the error and again by its source.
        let err =
            PrivateKey::from_pem(b"-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n")
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid PEM: a block's content is not valid base64"
        );
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn a_certificate_valid_only_later_is_recognised() {
        let key = PrivateKey::generate(2048).unwrap();
        let pkcs8_pem = key.to_pkcs8_pem();
        let signer = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(
            secrecy::ExposeSecret::expose_secret(&pkcs8_pem),
            &rcgen::PKCS_RSA_SHA256,
        )
        .unwrap();
        let mut params = rcgen::CertificateParams::default();
        let now = OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(30);
        params.not_after = now + time::Duration::days(60);
        let der = params.self_signed(&signer).unwrap();
        let cert = Certificate::from_der(der.der()).unwrap();
        assert!(cert.is_not_yet_valid_at(now));
        assert!(!cert.is_expired_at(now));
        assert!(!cert.is_not_yet_valid_at(now + time::Duration::days(31)));
    }

    #[test]
    fn pem_without_a_key_is_reported() {
        let err =
            PrivateKey::from_pem(b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n").unwrap_err();
        assert!(matches!(err, Error::NoPemBlock { .. }));
    }
}
