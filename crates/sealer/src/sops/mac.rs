//! The SOPS MAC (getsops/sops `sops.go` `Tree.Encrypt`/`Tree.Decrypt`, `cmd/sops` encrypt and
//! decrypt).
//!
//! SHA-512 over the plaintext bytes (`ToBytes`) of every non-comment leaf in document order,
//! upper-case hex. With `mac_only_encrypted` only encrypted leaves count and the hash is first
//! fed a fixed 32-byte prefix, so the two kinds of MAC never collide. The hex string is stored
//! encrypted as a `str` value with additional data = `lastmodified` in RFC 3339.

use sha2::{Digest as _, Sha512};

use super::gofmt;

/// sops's `MACOnlyEncryptedInitialization`.
pub const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// A running MAC.
pub(crate) struct Mac {
    hasher: Sha512,
    pub(crate) only_encrypted: bool,
}

impl Mac {
    pub(crate) fn new(only_encrypted: bool) -> Self {
        let mut hasher = Sha512::new();
        if only_encrypted {
            hasher.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        Self {
            hasher,
            only_encrypted,
        }
    }

    /// Feeds a leaf (`encrypted`: whether the selectors encrypt it).
    pub(crate) fn leaf(&mut self, bytes: &[u8], encrypted: bool) {
        if !self.only_encrypted || encrypted {
            self.hasher.update(bytes);
        }
    }

    /// Upper-case hex, as `fmt.Sprintf("%X", …)`.
    pub(crate) fn finish(self) -> String {
        hex::encode_upper(self.hasher.finalize())
    }
}

/// The additional data of the MAC: `lastmodified` parsed and printed again as Go's RFC 3339.
pub(crate) fn mac_aad(last_modified: &str) -> String {
    gofmt::parse_yaml_timestamp(last_modified)
        .map(|t| gofmt::rfc3339_seconds(&t))
        .unwrap_or_else(|| last_modified.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_of_nothing_is_the_sha512_of_nothing() {
        assert!(Mac::new(false).finish().starts_with("CF83E1357EEFB8BD"));
        assert_ne!(Mac::new(true).finish(), Mac::new(false).finish());
    }

    #[test]
    fn only_encrypted_mode_skips_clear_leaves() {
        let mut a = Mac::new(true);
        a.leaf(b"x", false);
        assert_eq!(a.finish(), Mac::new(true).finish());
    }

    #[test]
    fn lastmodified_is_normalized_like_go() {
        assert_eq!(mac_aad("2026-11-23T06:56:20Z"), "2026-11-23T06:56:20Z");
        assert_eq!(
            mac_aad("2026-11-23T06:56:20.5+00:00"),
            "2026-11-23T06:56:20Z"
        );
    }
}
