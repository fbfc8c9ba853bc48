//! Post-quantum hybrid age keys: recipients `age1pq1…`, identities `AGE-SECRET-KEY-PQ-1…`,
//! header stanza `mlkem768x25519` (age v1.3, Go `filippo.io/age` `pq.go`; C2SP age spec,
//! "ML-KEM-768 + X25519 hybrid recipient type").
//!
//! The stanza is one HPKE (RFC 9180) base-mode single-shot seal of the 16-byte file key:
//! - KEM `MLKEM768-X25519` (X-Wing, KEM id `0x647a`, as `filippo.io/hpke`/draft-ietf-hpke-pq
//!   define it), KDF HKDF-SHA256, AEAD ChaCha20-Poly1305;
//! - `info` = `age-encryption.org/mlkem768x25519`, empty additional data;
//! - `-> mlkem768x25519 <enc>` with `enc` (1120 bytes) in unpadded standard base64, and the
//!   32-byte body = sealed file key ‖ tag.
//!
//! Keys are Bech32 (checksum variant Bech32, no length limit, like age's own encoder): the
//! recipient is the 1216-byte X-Wing encapsulation key under HRP `age1pq`, the identity the
//! 32-byte X-Wing seed under HRP `AGE-SECRET-KEY-PQ-` (upper case).
//!
//! Like Go age, the recipient labels its stanza `postquantum`, so the age crate refuses to mix
//! it with classical recipients in one file (sops wraps each recipient separately anyway).
//! All cryptography is the `hpke` crate's (RustCrypto `x-wing`, `ml-kem`, `chacha20poly1305`,
//! `hkdf`); this module only frames the stanza.

use std::collections::HashSet;
use std::str::FromStr;

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use bech32::{FromBase32 as _, ToBase32 as _, Variant};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::XWing;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use secrecy::SecretString;
use zeroize::Zeroizing;

/// The stanza type.
pub const STANZA_TAG: &str = "mlkem768x25519";
/// HPKE `info` (age's `pqLabel`).
const HPKE_INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// Bech32 HRP of recipients.
pub const RECIPIENT_HRP: &str = "age1pq";
/// Bech32 HRP of identities (lower case as Bech32 decodes it; printed upper case).
const IDENTITY_HRP: &str = "age-secret-key-pq-";
/// The recipient label that keeps post-quantum stanzas away from classical ones.
const POSTQUANTUM_LABEL: &str = "postquantum";
/// File key (16 bytes) + ChaCha20-Poly1305 tag (16 bytes).
const SEALED_FILE_KEY_LEN: usize = 32;
/// X-Wing's ciphertext ends with the sender's 32-byte X25519 share.
const X25519_SHARE_LEN: usize = 32;

type PublicKey = <XWing as hpke::Kem>::PublicKey;
type PrivateKey = <XWing as hpke::Kem>::PrivateKey;
type EncappedKey = <XWing as hpke::Kem>::EncappedKey;

/// Why a post-quantum key string was rejected (never holds key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not valid Bech32 (characters, mixed case, checksum).
    #[error("not valid Bech32")]
    Bech32,
    /// Bech32 with another human-readable part.
    #[error("not an {expected} key")]
    WrongType {
        /// The prefix that was expected.
        expected: &'static str,
    },
    /// The payload is not an X-Wing key of the right size.
    #[error("not an ML-KEM-768 + X25519 key")]
    InvalidKey,
}

fn decode(text: &str, hrp: &str, expected: &'static str) -> Result<Zeroizing<Vec<u8>>, ParseError> {
    let (found, data, variant) = bech32::decode(text).map_err(|_| ParseError::Bech32)?;
    if found != hrp {
        return Err(ParseError::WrongType { expected });
    }
    if variant != Variant::Bech32 {
        return Err(ParseError::Bech32);
    }
    Vec::<u8>::from_base32(&data)
        .map(Zeroizing::new)
        .map_err(|_| ParseError::Bech32)
}

/// A post-quantum hybrid recipient (`age1pq1…`).
#[derive(Clone)]
pub struct AgePqRecipient {
    public: PublicKey,
}

impl std::fmt::Debug for AgePqRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AgePqRecipient").finish_non_exhaustive()
    }
}

impl FromStr for AgePqRecipient {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bytes = decode(s, RECIPIENT_HRP, "age1pq1")?;
        let public = PublicKey::from_bytes(&bytes).map_err(|_| ParseError::InvalidKey)?;
        Ok(Self { public })
    }
}

impl std::fmt::Display for AgePqRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = bech32::encode(
            RECIPIENT_HRP,
            self.public.to_bytes().as_slice().to_base32(),
            Variant::Bech32,
        )
        .map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

impl age::Recipient for AgePqRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let (enc, body) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, XWing>(
            &OpModeS::Base,
            &self.public,
            HPKE_INFO,
            file_key.expose_secret(),
            b"",
        )
        .map_err(|e| age::EncryptError::Io(std::io::Error::other(e.to_string())))?;
        let stanza = Stanza {
            tag: STANZA_TAG.to_owned(),
            args: vec![STANDARD_NO_PAD.encode(enc.to_bytes())],
            body,
        };
        Ok((vec![stanza], HashSet::from([POSTQUANTUM_LABEL.to_owned()])))
    }
}

/// A post-quantum hybrid identity (`AGE-SECRET-KEY-PQ-1…`): the 32-byte X-Wing seed.
pub struct AgePqIdentity {
    secret: PrivateKey,
}

impl AgePqIdentity {
    /// A new random identity (as `age-keygen -pq` makes).
    pub fn generate() -> Self {
        let (secret, _) = XWing::gen_keypair();
        Self { secret }
    }

    /// The matching recipient.
    pub fn to_public(&self) -> AgePqRecipient {
        AgePqRecipient {
            public: XWing::sk_to_pk(&self.secret),
        }
    }

    /// The identity as a keys-file line, `AGE-SECRET-KEY-PQ-1…`.
    pub fn to_string(&self) -> SecretString {
        let seed = Zeroizing::new(self.secret.to_bytes());
        let text = bech32::encode(IDENTITY_HRP, seed.as_slice().to_base32(), Variant::Bech32)
            .map(|s| Zeroizing::new(s.to_uppercase()))
            .unwrap_or_default();
        SecretString::from(text.as_str())
    }
}

impl FromStr for AgePqIdentity {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let seed = decode(s, IDENTITY_HRP, "AGE-SECRET-KEY-PQ-1")?;
        let secret = PrivateKey::from_bytes(&seed).map_err(|_| ParseError::InvalidKey)?;
        Ok(Self { secret })
    }
}

impl age::Identity for AgePqIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        // Canonical stanza only (age spec): one argument, strict unpadded base64, fixed sizes.
        let [arg] = &stanza.args[..] else {
            return Some(Err(age::DecryptError::InvalidHeader));
        };
        let Some((enc, x25519_share)) = STANDARD_NO_PAD.decode(arg).ok().and_then(|bytes| {
            let enc = EncappedKey::from_bytes(&bytes).ok()?;
            let share: [u8; X25519_SHARE_LEN] =
                bytes[bytes.len() - X25519_SHARE_LEN..].try_into().ok()?;
            Some((enc, share))
        }) else {
            return Some(Err(age::DecryptError::InvalidHeader));
        };
        if is_low_order(x25519_share) {
            return Some(Err(age::DecryptError::InvalidHeader));
        }
        if stanza.body.len() != SEALED_FILE_KEY_LEN {
            return Some(Err(age::DecryptError::InvalidHeader));
        }
        // X-Wing rejects implicitly: another identity's key decapsulates to a different secret
        // and only the AEAD check fails. Like Go age, that means "not ours": try the next one.
        let opened = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, XWing>(
            &OpModeR::Base,
            &self.secret,
            &enc,
            HPKE_INFO,
            &stanza.body,
            b"",
        )
        .ok()?;
        let mut opened = Zeroizing::new(opened);
        let file_key: Result<[u8; 16], _> = opened[..].try_into();
        let result = match file_key {
            Ok(mut bytes) => {
                let key = FileKey::init_with_mut(|k| k.copy_from_slice(&bytes));
                zeroize::Zeroize::zeroize(&mut bytes);
                Ok(key)
            }
            Err(_) => Err(age::DecryptError::InvalidHeader),
        };
        zeroize::Zeroize::zeroize(&mut *opened);
        Some(result)
    }
}

/// Whether an X25519 share lies in the small subgroup, so that every shared secret made with
/// it is all zeros: Go age (`crypto/ecdh`) refuses such a stanza as malformed, and the age test
/// kit expects that. A clamped scalar is a multiple of the cofactor 8, so multiplying by any
/// one of them gives zero exactly for those points.
fn is_low_order(share: [u8; X25519_SHARE_LEN]) -> bool {
    x25519_dalek::x25519([1; 32], share) == [0; 32]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    fn roundtrip(recipient: &AgePqRecipient, identity: &AgePqIdentity) -> Option<Vec<u8>> {
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
                .unwrap();
        let mut out = Vec::new();
        let mut w = encryptor.wrap_output(&mut out).unwrap();
        w.write_all(b"the data key").unwrap();
        w.finish().unwrap();
        let decryptor = age::Decryptor::new(&out[..]).unwrap();
        let mut reader = decryptor
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .ok()?;
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).unwrap();
        Some(plain)
    }

    #[test]
    fn a_generated_identity_opens_what_its_recipient_sealed_and_no_other_does() {
        let identity = AgePqIdentity::generate();
        let recipient = identity.to_public();
        assert_eq!(
            roundtrip(&recipient, &identity).as_deref(),
            Some(&b"the data key"[..])
        );
        assert_eq!(roundtrip(&recipient, &AgePqIdentity::generate()), None);
    }

    #[test]
    fn keys_print_and_parse_back_with_age_prefixes() {
        let identity = AgePqIdentity::generate();
        let text = identity.to_string();
        let text = text.expose_secret();
        assert!(text.starts_with("AGE-SECRET-KEY-PQ-1"), "{}", &text[..20]);
        let back: AgePqIdentity = text.parse().unwrap();
        let recipient = identity.to_public().to_string();
        assert!(recipient.starts_with("age1pq1"));
        assert_eq!(back.to_public().to_string(), recipient);
        assert_eq!(
            recipient.parse::<AgePqRecipient>().unwrap().to_string(),
            recipient
        );
    }

    #[test]
    fn wrong_prefix_bad_checksum_and_wrong_size_are_told_apart() {
        let recipient = AgePqIdentity::generate().to_public().to_string();
        let mut broken = recipient.clone().into_bytes();
        let last = broken.len() - 1;
        broken[last] = if broken[last] == b'q' { b'p' } else { b'q' };
        assert_eq!(
            String::from_utf8(broken)
                .unwrap()
                .parse::<AgePqRecipient>()
                .unwrap_err(),
            ParseError::Bech32
        );
        assert_eq!(
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
                .parse::<AgePqRecipient>()
                .unwrap_err(),
            ParseError::WrongType {
                expected: "age1pq1"
            }
        );
        let short = bech32::encode(RECIPIENT_HRP, [1u8; 32].to_base32(), Variant::Bech32).unwrap();
        assert_eq!(
            short.parse::<AgePqRecipient>().unwrap_err(),
            ParseError::InvalidKey
        );
    }

    #[test]
    fn malformed_stanzas_are_invalid_headers_and_other_types_are_skipped() {
        let identity = AgePqIdentity::generate();
        let other = Stanza {
            tag: "X25519".into(),
            args: vec!["x".into()],
            body: vec![0; 32],
        };
        assert!(identity.unwrap_stanza_for_test(&other).is_none());
        for (args, body) in [
            (vec![], vec![0u8; 32]),
            (vec!["AAAA".to_owned()], vec![0u8; 32]),
            (vec![STANDARD_NO_PAD.encode([0u8; 1120])], vec![0u8; 31]),
        ] {
            let stanza = Stanza {
                tag: STANZA_TAG.into(),
                args,
                body,
            };
            assert!(matches!(
                identity.unwrap_stanza_for_test(&stanza),
                Some(Err(age::DecryptError::InvalidHeader))
            ));
        }
    }

    impl AgePqIdentity {
        fn unwrap_stanza_for_test(
            &self,
            stanza: &Stanza,
        ) -> Option<Result<FileKey, age::DecryptError>> {
            age::Identity::unwrap_stanza(self, stanza)
        }
    }
}
