//! The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value codec (getsops/sops `aes/cipher.go`).
//!
//! AES-256-GCM with a **32-byte** random IV (sops calls `cipher.NewGCMWithNonceSize(…, 32)`; GCM
//! hashes a non-96-bit IV with GHASH, so a long random IV is as safe as a 12-byte one) and the
//! additional data = the key path joined as `a:b:c:`. `data` is the ciphertext without the
//! 16-byte tag; all three parts are standard padded base64.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use zeroize::Zeroize as _;

use super::error::{Error, Result};
use super::gofmt;
use super::stash::Kept;
use super::tree::Scalar;
use crate::sops::master_keys::DataKey;

/// AES-256-GCM with sops's 32-byte IV.
pub type SopsAead = AesGcm<Aes256, U32>;

/// IV length sops uses.
pub const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// What an `ENC[...]` value decrypts to: a scalar or a comment.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    /// A typed leaf.
    Scalar(Scalar),
    /// A `type:comment` value.
    Comment(String),
}

/// A parsed `ENC[...]` string (parse once, at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncValue {
    /// Ciphertext without the tag.
    pub data: Vec<u8>,
    /// The IV (32 bytes when written by sops).
    pub iv: Vec<u8>,
    /// The 16-byte GCM tag.
    pub tag: Vec<u8>,
    /// The `type:` field.
    pub ty: String,
}

impl EncValue {
    /// Parses like sops's regex `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`.
    pub fn parse(text: &str) -> Option<Self> {
        let f = EncFields::split(text)?;
        Some(Self {
            data: STANDARD.decode(f.data).ok()?,
            iv: STANDARD.decode(f.iv).ok()?,
            tag: STANDARD.decode(f.tag).ok()?,
            ty: f.ty.to_owned(),
        })
    }

    /// The `ENC[...]` text.
    pub fn to_text(&self) -> String {
        enc_text(&self.data, &self.iv, &self.tag, &self.ty)
    }
}

/// The four fields of an `ENC[...]` text, still base64 (what [`EncValue::parse`] decodes).
struct EncFields<'t> {
    data: &'t str,
    iv: &'t str,
    tag: &'t str,
    ty: &'t str,
}

impl<'t> EncFields<'t> {
    /// Splits like sops's regex `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`.
    fn split(text: &'t str) -> Option<Self> {
        let rest = text.strip_prefix("ENC[AES256_GCM,data:")?;
        // The Go regex is greedy: the last `,iv:` / `,tag:` / `,type:` win and `]` is the last one.
        let close = rest.rfind(']')?;
        let rest = &rest[..close];
        let (rest, ty) = rsplit_field(rest, ",type:")?;
        let (rest, tag) = rsplit_field(rest, ",tag:")?;
        let (data, iv) = rsplit_field(rest, ",iv:")?;
        if data.is_empty() || iv.is_empty() || tag.is_empty() || ty.is_empty() {
            return None;
        }
        Some(Self { data, iv, tag, ty })
    }
}

/// The IV and tag of an `ENC[…]` value, read without decrypting it.
pub(crate) fn kept_of(text: &str) -> Option<Kept> {
    let f = EncFields::split(text)?;
    Some(Kept {
        iv: decode_exact::<IV_LEN>(f.iv)?,
        tag: decode_exact::<TAG_LEN>(f.tag)?,
    })
}

/// Decodes base64 `text` that must hold exactly `N` bytes (an IV, a tag) without allocating.
fn decode_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    // Room for any text of up to N bytes plus padding slack: a longer one fails the length check.
    let mut buf = [0u8; 64];
    if text.len() > 4 * N.div_ceil(3) + 4 {
        return None;
    }
    let n = STANDARD.decode_slice(text, &mut buf).ok()?;
    if n != N {
        return None;
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[..N]);
    Some(out)
}

/// `text.rsplit_once(marker)` for a marker starting with `,`: looks at the commas from the
/// right only (a string searcher per field was a visible cost on large files).
fn rsplit_field<'t>(text: &'t str, marker: &str) -> Option<(&'t str, &'t str)> {
    let mut end = text.len();
    while let Some(comma) = text[..end].rfind(',') {
        if text[comma..].starts_with(marker) {
            return Some((&text[..comma], &text[comma + marker.len()..]));
        }
        end = comma;
    }
    None
}

/// `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, built in one allocation.
fn enc_text(data: &[u8], iv: &[u8], tag: &[u8], ty: &str) -> String {
    let b64 = |n: usize| n.div_ceil(3) * 4;
    let mut out =
        String::with_capacity(48 + b64(data.len()) + b64(iv.len()) + b64(tag.len()) + ty.len());
    out.push_str("ENC[AES256_GCM,data:");
    STANDARD.encode_string(data, &mut out);
    out.push_str(",iv:");
    STANDARD.encode_string(iv, &mut out);
    out.push_str(",tag:");
    STANDARD.encode_string(tag, &mut out);
    out.push_str(",type:");
    out.push_str(ty);
    out.push(']');
    out
}

/// A fresh IV from the thread-local CSPRNG (`rand`'s ChaCha12, seeded and periodically
/// reseeded from the OS): one `getrandom` call per value made encrypting large files slow.
fn random_iv() -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    rand::thread_rng().fill_bytes(&mut iv);
    iv
}

/// Whether `text` looks like an `ENC[AES256_GCM,...]` value.
pub fn is_enc(text: &str) -> bool {
    EncValue::parse(text).is_some()
}

/// Holds the AES key schedule for one data key (built once per file, not per leaf).
pub struct Cipher {
    aead: SopsAead,
}

impl Cipher {
    /// A cipher for `key`.
    pub fn new(key: &DataKey) -> Self {
        Self {
            aead: SopsAead::new(key.expose().into()),
        }
    }

    /// Encrypts `plain` under `aad` with a fresh random IV.
    pub fn encrypt(&self, plain: &Plain, aad: &[u8]) -> Result<String> {
        self.encrypt_with_iv(plain, aad, &random_iv())
    }

    /// Encrypts a leaf's `ToBytes` form (`buf`, overwritten by the ciphertext) as a value of
    /// type `ty`, first trying the IV the value had (`kept`, from an
    /// [`super::IvStash`]): the kept ciphertext comes back when the tag proves the same data
    /// key, path and cleartext; otherwise a fresh IV is used, as for a new value.
    pub(crate) fn encrypt_bytes_reusing(
        &self,
        mut buf: Vec<u8>,
        ty: &str,
        aad: &[u8],
        kept: Option<&Kept>,
    ) -> Result<String> {
        if let Some(kept) = kept {
            let nonce = Nonce::<U32>::from_slice(&kept.iv);
            let failed = |buf: &mut Vec<u8>| {
                buf.zeroize();
                Error::Unsupported("AES-GCM encryption failed".into())
            };
            let tag = match self.aead.encrypt_in_place_detached(nonce, aad, &mut buf) {
                Ok(tag) => tag,
                Err(_) => return Err(failed(&mut buf)),
            };
            if tag.as_slice() == kept.tag {
                return Ok(enc_text(&buf, &kept.iv, &tag, ty));
            }
            // Another cleartext under this IV: that ciphertext is never shown. Undo it (the
            // tag is the one just computed, so this cannot fail) and encrypt afresh.
            if self
                .aead
                .decrypt_in_place_detached(nonce, aad, &mut buf, &tag)
                .is_err()
            {
                return Err(failed(&mut buf));
            }
        }
        self.seal(buf, ty, aad, &random_iv())
    }

    fn seal(&self, mut buf: Vec<u8>, ty: &str, aad: &[u8], iv: &[u8; IV_LEN]) -> Result<String> {
        let tag = self
            .aead
            .encrypt_in_place_detached(Nonce::<U32>::from_slice(iv), aad, &mut buf)
            .map_err(|_| {
                // Still the plaintext.
                buf.zeroize();
                Error::Unsupported("AES-GCM encryption failed".into())
            })?;
        Ok(enc_text(&buf, iv, &tag, ty))
    }

    /// Encrypts with a given IV (tests and known-answer vectors only need this).
    pub fn encrypt_with_iv(&self, plain: &Plain, aad: &[u8], iv: &[u8; IV_LEN]) -> Result<String> {
        // Like sops, empty strings (and comments) are not encrypted.
        let empty = match plain {
            Plain::Scalar(s) => s.is_empty_for_cipher(),
            Plain::Comment(c) => c.is_empty(),
        };
        if empty {
            return Ok(String::new());
        }
        let (buf, ty) = match plain {
            Plain::Scalar(s) => (
                s.to_bytes(),
                s.type_name()
                    .ok_or_else(|| Error::Unsupported("cannot encrypt a null value".into()))?,
            ),
            Plain::Comment(c) => (c.as_bytes().to_vec(), "comment"),
        };
        self.seal(buf, ty, aad, iv)
    }

    /// Decrypts an `ENC[...]` text. An empty text decrypts to an empty string, as in sops.
    ///
    /// Errors: [`Error::InvalidEncValue`] (not an `ENC[...]`), [`Error::DecryptionFailed`]
    /// (AEAD check), [`Error::InvalidPlaintext`] (type does not parse). The key path in the
    /// first and last is the AAD; callers replace [`Error::DecryptionFailed`] with context.
    pub fn decrypt(&self, text: &str, aad: &[u8]) -> Result<Plain> {
        self.decrypt_keeping(text, aad).map(|(plain, _)| plain)
    }

    /// [`Cipher::decrypt`] that also gives the value's IV and tag (none for an empty text),
    /// for an [`super::IvStash`].
    pub(crate) fn decrypt_keeping(&self, text: &str, aad: &[u8]) -> Result<(Plain, Option<Kept>)> {
        if text.is_empty() {
            return Ok((Plain::Scalar(Scalar::Str(String::new())), None));
        }
        let path = || String::from_utf8_lossy(aad).into_owned();
        let invalid = || Error::InvalidEncValue { key_path: path() };
        // The IV and tag are decoded on the stack: a large file costs one allocation a value.
        // Go accepts any IV length via NewGCMWithNonceSize; sops only ever writes 32.
        let f = EncFields::split(text).ok_or_else(invalid)?;
        let kept = Kept {
            iv: decode_exact::<IV_LEN>(f.iv).ok_or_else(invalid)?,
            tag: decode_exact::<TAG_LEN>(f.tag).ok_or_else(invalid)?,
        };
        let mut buf = STANDARD.decode(f.data).map_err(|_| invalid())?;
        let ty = f.ty;
        self.aead
            .decrypt_in_place_detached(
                Nonce::<U32>::from_slice(&kept.iv),
                aad,
                &mut buf,
                Tag::from_slice(&kept.tag),
            )
            .map_err(|_| Error::DecryptionFailed)?;
        let bad = |buf: &mut Vec<u8>| {
            buf.zeroize();
            Error::InvalidPlaintext {
                key_path: path(),
                ty: ty.to_owned(),
            }
        };
        let scalar = match ty {
            "str" => match String::from_utf8(buf) {
                Ok(s) => Scalar::Str(s),
                Err(e) => Scalar::RawStr(e.into_bytes()),
            },
            "bytes" => Scalar::Bytes(buf),
            "comment" => {
                return match String::from_utf8(buf) {
                    Ok(s) => Ok((Plain::Comment(s), Some(kept))),
                    Err(e) => Err(bad(&mut e.into_bytes())),
                };
            }
            "int" => {
                let parsed = std::str::from_utf8(&buf).ok().and_then(go_atoi);
                match parsed {
                    Some(i) => {
                        buf.zeroize();
                        Scalar::Int(i)
                    }
                    None => return Err(bad(&mut buf)),
                }
            }
            "float" => {
                let parsed = std::str::from_utf8(&buf).ok().and_then(gofmt::parse_float);
                match parsed {
                    Some(f) => {
                        buf.zeroize();
                        Scalar::Float(f)
                    }
                    None => return Err(bad(&mut buf)),
                }
            }
            "bool" => {
                let parsed = match &buf[..] {
                    b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Some(true),
                    b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Some(false),
                    _ => None,
                };
                match parsed {
                    Some(v) => {
                        buf.zeroize();
                        Scalar::Bool(v)
                    }
                    None => return Err(bad(&mut buf)),
                }
            }
            "time" => {
                let parsed = std::str::from_utf8(&buf)
                    .ok()
                    .and_then(gofmt::parse_yaml_timestamp);
                match parsed {
                    Some(t) => {
                        buf.zeroize();
                        Scalar::Time(t)
                    }
                    None => return Err(bad(&mut buf)),
                }
            }
            _ => return Err(bad(&mut buf)),
        };
        Ok((Plain::Scalar(scalar), Some(kept)))
    }
}

/// `strconv.Atoi`: optional sign, decimal digits only.
fn go_atoi(s: &str) -> Option<i64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> DataKey {
        DataKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn known_answer_from_sops_3_11_kitchen_file() {
        // kitchen.enc.yaml (sops 3.11.0), data key from its expected.json.
        let key = DataKey::from_slice(
            &hex::decode("1b19906780390b077237cb4000849a5c2666126bba84ee882cc6c8b6fadfd3aa")
                .unwrap(),
        )
        .unwrap();
        let c = Cipher::new(&key);
        let text = "ENC[AES256_GCM,data:I4g=,iv:mHp10d4ZlfG8dYDiI0m6uY0KY0GUbXW/P1PDQRun1gg=,tag:sPFRlFhmpXyNVkHwxfB/HA==,type:int]";
        assert_eq!(
            c.decrypt(text, b"int:").unwrap(),
            Plain::Scalar(Scalar::Int(42))
        );
        assert!(matches!(
            c.decrypt(text, b"other:"),
            Err(Error::DecryptionFailed)
        ));
        // Re-encrypting with the same IV gives the same bytes.
        let ev = EncValue::parse(text).unwrap();
        let iv: [u8; 32] = ev.iv.try_into().unwrap();
        assert_eq!(
            c.encrypt_with_iv(&Plain::Scalar(Scalar::Int(42)), b"int:", &iv)
                .unwrap(),
            text
        );
    }

    #[test]
    fn ivs_and_tags_of_another_length_or_bad_base64_are_invalid_values() {
        let c = Cipher::new(&key());
        let good = c
            .encrypt_with_iv(&Plain::Scalar(Scalar::Str("v".into())), b"k:", &[1; IV_LEN])
            .unwrap();
        assert_eq!(
            c.decrypt(&good, b"k:").unwrap(),
            Plain::Scalar(Scalar::Str("v".into()))
        );
        let ev = EncValue::parse(&good).unwrap();
        let with = |iv: &[u8], tag: &[u8]| enc_text(&ev.data, iv, tag, "str");
        for text in [
            with(&[1; IV_LEN - 1], &ev.tag),
            with(&[1; IV_LEN + 1], &ev.tag),
            with(&[1; 48], &ev.tag),
            with(&ev.iv, &ev.tag[..TAG_LEN - 1]),
            with(&ev.iv, &[0; TAG_LEN + 1]),
            good.replace(",iv:", ",iv:*"),
            good.replace(",tag:", ",tag:="),
            good.replace("data:", "data:!"),
        ] {
            let err = c.decrypt(&text, b"k:").unwrap_err();
            assert!(
                matches!(&err, Error::InvalidEncValue { key_path } if key_path == "k:"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn fields_split_at_their_last_marker_like_the_greedy_go_regex() {
        assert_eq!(rsplit_field("a,iv:b,iv:c", ",iv:"), Some(("a,iv:b", "c")));
        assert_eq!(rsplit_field("a,ivb,c", ",iv:"), None);
        assert_eq!(rsplit_field(",iv:", ",iv:"), Some(("", "")));
    }

    #[test]
    fn empty_values_are_left_empty_like_sops() {
        let c = Cipher::new(&key());
        assert_eq!(
            c.encrypt(&Plain::Scalar(Scalar::Str(String::new())), b"a:")
                .unwrap(),
            ""
        );
        assert_eq!(
            c.encrypt(&Plain::Comment(String::new()), b"a:").unwrap(),
            ""
        );
    }

    #[test]
    fn empty_text_decrypts_to_empty_string() {
        assert_eq!(
            Cipher::new(&key()).decrypt("", b"a:").unwrap(),
            Plain::Scalar(Scalar::Str(String::new()))
        );
    }

    #[test]
    fn malformed_values_are_rejected_with_their_path() {
        let c = Cipher::new(&key());
        for bad in [
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
            "hello",
            "ENC[]",
        ] {
            assert!(
                matches!(c.decrypt(bad, b"a:b:"), Err(Error::InvalidEncValue { ref key_path }) if key_path == "a:b:")
            );
        }
    }

    fn scalar() -> impl Strategy<Value = Scalar> {
        prop_oneof![
            ".*".prop_map(Scalar::Str),
            any::<i64>().prop_map(Scalar::Int),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Scalar::Float),
            any::<bool>().prop_map(Scalar::Bool),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Scalar::Bytes),
        ]
    }

    proptest! {
        #[test]
        fn encrypt_then_decrypt_returns_the_value(s in scalar(), aad in "[a-z:]{0,20}") {
            prop_assume!(!s.is_empty_for_cipher());
            let c = Cipher::new(&key());
            let text = c.encrypt(&Plain::Scalar(s.clone()), aad.as_bytes()).unwrap();
            let back = c.decrypt(&text, aad.as_bytes()).unwrap();
            match (&s, back) {
                (Scalar::Float(a), Plain::Scalar(Scalar::Float(b))) => prop_assert_eq!(a.to_bits() == b.to_bits() || *a == b, true),
                (_, back) => prop_assert_eq!(back, Plain::Scalar(s)),
            }
        }

        #[test]
        fn comments_round_trip(text in ".+") {
            let c = Cipher::new(&key());
            let enc = c.encrypt(&Plain::Comment(text.clone()), b"x:").unwrap();
            prop_assert_eq!(c.decrypt(&enc, b"x:").unwrap(), Plain::Comment(text));
        }
    }
}
