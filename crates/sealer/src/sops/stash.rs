//! The IVs of a decrypted file, kept so that re-encrypting a value whose cleartext, type and
//! key path did not change gives back its exact ciphertext (getsops/sops `aes/cipher.go`, the
//! cipher's `stash`). `edit`, `set`, `unset` and merges then rewrite only the lines that
//! changed, as sops does, and two people changing different values do not conflict.
//!
//! sops keys its stash by (additional data, Go value): an `int` 5 and a string `"5"` differ,
//! and of two equal values under one path (items of a list share their parent's path) the
//! later one's IV wins. Here the key is a keyed hash of (path, type, bytes) and the entry holds
//! the IV and the tag the value had. Reuse is proved, not assumed: the value is encrypted with
//! the kept IV and published only if that gives the kept tag, that is, only for the same data
//! key, path and cleartext. A hash collision or another data key costs a fresh IV, never an IV
//! used twice for two cleartexts.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hash as _, Hasher as _, RandomState};

use super::value::IV_LEN;

/// What a kept value looked like: its IV and GCM tag.
#[derive(Clone, Copy)]
pub(crate) struct Kept {
    pub(crate) iv: [u8; IV_LEN],
    pub(crate) tag: [u8; 16],
}

/// IVs of the values of a decrypted file, by key path, type and cleartext.
///
/// Holds no cleartext: keys are SipHash values under a random key, entries are IVs and tags
/// copied from the file.
pub struct IvStash {
    hasher: RandomState,
    entries: HashMap<u64, Kept>,
}

impl Default for IvStash {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for IvStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IvStash({} values)", self.entries.len())
    }
}

impl IvStash {
    /// An empty stash.
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            entries: HashMap::new(),
        }
    }

    /// Number of values kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn key(&self, aad: &[u8], ty: &str, plain: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        aad.hash(&mut h);
        ty.hash(&mut h);
        plain.hash(&mut h);
        h.finish()
    }

    /// Remembers the IV and tag of a value just decrypted (a later equal value wins, as in sops).
    pub(crate) fn keep(&mut self, key: u64, kept: Kept) {
        self.entries.insert(key, kept);
    }

    pub(crate) fn get(&self, key: u64) -> Option<&Kept> {
        self.entries.get(&key)
    }
}
