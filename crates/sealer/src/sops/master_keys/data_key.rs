//! The 32-byte SOPS data key.

use secrecy::{ExposeSecret, SecretBox};

/// A SOPS data key: 32 random bytes that encrypt every value of one file.
///
/// Never printed: `Debug` shows `[REDACTED]`.
pub struct DataKey(SecretBox<[u8; 32]>);

impl DataKey {
    /// Length of a data key in bytes.
    pub const LEN: usize = 32;

    /// Generates a fresh random data key.
    pub fn generate() -> Self {
        use rand::RngCore as _;
        Self(SecretBox::init_with_mut(|bytes: &mut [u8; 32]| {
            rand::rngs::OsRng.fill_bytes(bytes)
        }))
    }

    /// Wraps existing key bytes; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(SecretBox::new(Box::new(array))))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        Self(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}
