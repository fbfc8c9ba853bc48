//! The Bitnami hybrid envelope: bytes in, bytes out.
//!
//! Spec (bitnami-labs/sealed-secrets `pkg/crypto/crypto.go` `HybridEncrypt`/`HybridDecrypt`):
//!
//! ```text
//! session_key = 32 random bytes
//! rsa_ct      = RSA-OAEP(SHA-256, MGF1-SHA-256, label)(session_key)
//! aes_ct      = AES-256-GCM(key = session_key, nonce = 12 zero bytes, aad = none)(plaintext) ‖ tag
//! blob        = u16 big-endian len(rsa_ct) ‖ rsa_ct ‖ aes_ct
//! ```
//!
//! The zero nonce is safe only because every session key encrypts exactly one message.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use aes_gcm::aead::{Aead as _, AeadInPlace as _, KeyInit as _};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

use super::keypair::{PrivateKey, PublicKey};
use super::scope::Label;
use super::{Error, Result};
use crate::secret::SecretBytes;

/// AES-192-GCM with the standard 12-byte nonce: Go's `aes.NewCipher` accepts 24-byte keys, so a
/// blob made by another implementation with such a session key still opens.
type Aes192Gcm = AesGcm<Aes192, aes_gcm::aead::consts::U12>;

/// Length of the session key sealkit generates (AES-256).
const SESSION_KEY_LEN: usize = 32;

/// RSA private-key operations performed by this process (each one costs milliseconds).
static RSA_PRIVATE_OPERATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The same count for the current thread, so a caller can measure exactly what one
    /// synchronous call cost even while other threads decrypt.
    static THREAD_RSA_PRIVATE_OPERATIONS: Cell<u64> = const { Cell::new(0) };
}

/// How many RSA private-key operations this process has performed so far.
pub fn rsa_private_operations() -> u64 {
    RSA_PRIVATE_OPERATIONS.load(Ordering::Relaxed)
}

/// How many RSA private-key operations the current thread has performed so far.
pub fn rsa_private_operations_on_this_thread() -> u64 {
    THREAD_RSA_PRIVATE_OPERATIONS.get()
}

/// A parsed envelope: the RSA-wrapped session key and the AES-GCM payload.
#[derive(Debug, Clone, Copy)]
pub struct SealedBlob<'a> {
    rsa_ciphertext: &'a [u8],
    aes_ciphertext: &'a [u8],
}

impl<'a> SealedBlob<'a> {
    /// Splits `u16 BE len ‖ rsa_ct ‖ aes_ct`; fails when shorter than its prefix says.
    pub fn parse(blob: &'a [u8]) -> Result<Self> {
        let (prefix, rest) = blob.split_first_chunk::<2>().ok_or(Error::Truncated)?;
        let rsa_len = usize::from(u16::from_be_bytes(*prefix));
        if rest.len() < rsa_len {
            return Err(Error::Truncated);
        }
        let (rsa_ciphertext, aes_ciphertext) = rest.split_at(rsa_len);
        Ok(Self {
            rsa_ciphertext,
            aes_ciphertext,
        })
    }

    /// The RSA-OAEP ciphertext of the session key.
    pub fn rsa_ciphertext(&self) -> &'a [u8] {
        self.rsa_ciphertext
    }

    /// The AES-GCM ciphertext and tag.
    pub fn aes_ciphertext(&self) -> &'a [u8] {
        self.aes_ciphertext
    }
}

/// Seals `plaintext` for `key` under `label` and returns the raw blob.
///
/// The plaintext is copied once, into the blob, and encrypted there: sealing a value needs
/// memory for the value and its blob, nothing more.
pub fn seal(key: &PublicKey, label: &Label, plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut session_key = Zeroizing::new([0u8; SESSION_KEY_LEN]);
    rand::rngs::OsRng.fill_bytes(session_key.as_mut());
    let rsa_ciphertext = key.encrypt_oaep(label.as_bytes(), session_key.as_ref())?;
    let rsa_len = u16::try_from(rsa_ciphertext.len()).map_err(|_| Error::EncryptionFailed)?;
    let aead =
        Aes256Gcm::new_from_slice(session_key.as_ref()).map_err(|_| Error::EncryptionFailed)?;
    let header = 2 + rsa_ciphertext.len();
    let len = header
        .checked_add(plaintext.len())
        .and_then(|l| l.checked_add(TAG_LEN))
        .ok_or(Error::EncryptionFailed)?;
    let mut blob = Vec::with_capacity(len);
    blob.extend_from_slice(&rsa_len.to_be_bytes());
    blob.extend_from_slice(&rsa_ciphertext);
    blob.extend_from_slice(plaintext);
    let tag = aead
        .encrypt_in_place_detached(&Nonce::default(), b"", &mut blob[header..])
        .map_err(|_| Error::EncryptionFailed)?;
    blob.extend_from_slice(&tag);
    Ok(blob)
}

/// Length of the AES-GCM tag after the ciphertext.
const TAG_LEN: usize = 16;

/// Opens a blob with the first of `keys` that can, under `label`.
///
/// Fails with the opaque [`Error::DecryptionFailed`] when no key opens it (wrong key, wrong
/// label, tampered bytes), or [`Error::Truncated`] for a blob shorter than its prefix.
pub fn open(keys: &[&PrivateKey], label: &Label, blob: &[u8]) -> Result<SecretBytes> {
    open_indexed(keys, label, blob).map(|(_, plaintext)| plaintext)
}

/// Like [`open`], and also says which of `keys` (its index) opened the blob, so a caller can
/// record the key a Secret was made with.
pub fn open_indexed(
    keys: &[&PrivateKey],
    label: &Label,
    blob: &[u8],
) -> Result<(usize, SecretBytes)> {
    let blob = SealedBlob::parse(blob)?;
    keys.iter()
        .enumerate()
        .find_map(|(i, key)| open_with(key, label, &blob).ok().map(|p| (i, p)))
        .ok_or(Error::DecryptionFailed)
}

/// Opens a blob with one key.
pub fn open_with(key: &PrivateKey, label: &Label, blob: &SealedBlob<'_>) -> Result<SecretBytes> {
    RSA_PRIVATE_OPERATIONS.fetch_add(1, Ordering::Relaxed);
    THREAD_RSA_PRIVATE_OPERATIONS.set(THREAD_RSA_PRIVATE_OPERATIONS.get() + 1);
    let session_key = key.decrypt_oaep(label.as_bytes(), blob.rsa_ciphertext)?;
    let nonce = Nonce::default();
    let opened = match session_key.len() {
        32 => Aes256Gcm::new_from_slice(session_key.expose())
            .ok()
            .and_then(|aead| aead.decrypt(&nonce, blob.aes_ciphertext).ok()),
        24 => Aes192Gcm::new_from_slice(session_key.expose())
            .ok()
            .and_then(|aead| aead.decrypt(&nonce, blob.aes_ciphertext).ok()),
        16 => Aes128Gcm::new_from_slice(session_key.expose())
            .ok()
            .and_then(|aead| aead.decrypt(&nonce, blob.aes_ciphertext).ok()),
        _ => None,
    };
    opened.map(SecretBytes::new).ok_or(Error::DecryptionFailed)
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;
    use crate::sealed::Scope;

    static KEY: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());
    static OTHER: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());

    #[test]
    fn blob_layout_is_length_prefix_rsa_then_gcm() {
        let label = Scope::Strict.label("ns", "name");
        let blob = seal(KEY.public_key(), &label, b"bar").unwrap();
        // 2048-bit key: prefix 0x0100, 256 bytes of RSA, 3 + 16 bytes of GCM.
        assert_eq!(&blob[..2], &[0x01, 0x00]);
        assert_eq!(blob.len(), 2 + 256 + 3 + 16);
    }

    #[test]
    fn each_scope_opens_under_its_own_label_only() {
        let strict = Scope::Strict.label("ns", "a");
        let blob = seal(KEY.public_key(), &strict, b"v").unwrap();
        assert_eq!(open(&[&KEY], &strict, &blob).unwrap().expose(), b"v");
        for wrong in [
            Scope::Strict.label("ns", "b"),
            Scope::Strict.label("other", "a"),
            Scope::NamespaceWide.label("ns", "a"),
            Scope::ClusterWide.label("ns", "a"),
        ] {
            assert!(matches!(
                open(&[&KEY], &wrong, &blob),
                Err(Error::DecryptionFailed)
            ));
        }
    }

    #[test]
    fn wrong_key_fails_and_any_of_several_keys_opens() {
        let label = Scope::ClusterWide.label("", "");
        let blob = seal(KEY.public_key(), &label, b"v").unwrap();
        assert!(matches!(
            open(&[&OTHER], &label, &blob),
            Err(Error::DecryptionFailed)
        ));
        assert_eq!(open(&[&OTHER, &KEY], &label, &blob).unwrap().expose(), b"v");
    }

    #[test]
    fn truncated_blob_is_reported_as_truncated() {
        assert!(matches!(SealedBlob::parse(&[0x02]), Err(Error::Truncated)));
        assert!(matches!(
            SealedBlob::parse(&[0x02, 0x00, 1, 2]),
            Err(Error::Truncated)
        ));
    }

    #[test]
    fn rsa_private_operations_are_counted() {
        let label = Scope::ClusterWide.label("", "");
        let blob = seal(KEY.public_key(), &label, b"v").unwrap();
        let before = rsa_private_operations();
        open(&[&OTHER, &KEY], &label, &blob).unwrap();
        assert!(rsa_private_operations() >= before + 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn arbitrary_bytes_round_trip(plaintext in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let label = Scope::NamespaceWide.label("ns", "");
            let blob = seal(KEY.public_key(), &label, &plaintext).unwrap();
            let opened = open(&[&KEY], &label, &blob).unwrap();
            prop_assert_eq!(opened.expose(), &plaintext[..]);
        }

        #[test]
        fn any_single_bit_flip_fails(plaintext in proptest::collection::vec(any::<u8>(), 1..64), bit in any::<proptest::sample::Index>()) {
            let label = Scope::Strict.label("ns", "n");
            let mut blob = seal(KEY.public_key(), &label, &plaintext).unwrap();
            let bit = bit.index(blob.len() * 8);
            blob[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(open(&[&KEY], &label, &blob).is_err());
        }
    }
}
