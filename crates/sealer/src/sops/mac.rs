//! The SOPS MAC (getsops/sops `sops.go` `Tree.Encrypt`/`Tree.Decrypt`, `cmd/sops` encrypt and
//! decrypt).
//!
//! SHA-512 over the plaintext bytes (`ToBytes`) of every non-comment leaf in document order,
//! upper-case hex. With `mac_only_encrypted` only encrypted leaves count and the hash is first
//! fed a fixed 32-byte prefix, so the two kinds of MAC never collide. The hex string is stored
//! encrypted as a `str` value with additional data = `lastmodified` in RFC 3339.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest as _, Sha512};
use zeroize::Zeroizing;

use super::error::Error;

use super::gofmt;

/// sops's `MACOnlyEncryptedInitialization`.
pub const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Input hashed on this thread before the rest goes to a second one.
const HASHED_HERE: usize = 1 << 20;
/// Input handed to the hashing thread at once.
const BLOCK: usize = 256 << 10;

/// A running MAC. Past the first MiB, the hashing runs on a second thread (fed blocks of the
/// input, zeroized once hashed) while this one goes on decrypting or encrypting: SHA-512 of
/// every value was a tenth of the work.
pub(crate) struct Mac {
    hashing: Hashing,
    pub(crate) only_encrypted: bool,
    /// A copy of the input, when asked for (see [`Mac::recording`]).
    record: Option<Zeroizing<Vec<u8>>>,
}

enum Hashing {
    Here {
        hasher: Sha512,
        fed: usize,
    },
    Away {
        block: Zeroizing<Vec<u8>>,
        /// `None` once a block could not be handed over.
        to: Option<SyncSender<Zeroizing<Vec<u8>>>>,
        worker: JoinHandle<Sha512>,
    },
}

impl Mac {
    pub(crate) fn new(only_encrypted: bool) -> Self {
        Self {
            hashing: Hashing::Here {
                hasher: hasher(only_encrypted),
                fed: 0,
            },
            only_encrypted,
            record: None,
        }
    }

    /// Also keeps a copy of the input (cleartext, zeroized), room made for `capacity` bytes:
    /// the MAC of a file with one value changed is then computed without decrypting it again.
    pub(crate) fn recording(mut self, capacity: usize) -> Self {
        self.record = Some(Zeroizing::new(Vec::with_capacity(capacity)));
        self
    }

    /// The length of the input kept so far (0 when not recording).
    pub(crate) fn recorded(&self) -> usize {
        self.record.as_ref().map_or(0, |r| r.len())
    }

    /// The input kept, if recording.
    pub(crate) fn take_record(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        self.record.take()
    }

    /// Feeds a leaf (`encrypted`: whether the selectors encrypt it).
    pub(crate) fn leaf(&mut self, bytes: &[u8], encrypted: bool) {
        if self.only_encrypted && !encrypted {
            return;
        }
        if let Some(record) = &mut self.record {
            if record.len() + bytes.len() > record.capacity() {
                // Grown by hand: a reallocation would leave the old copy unzeroized.
                let wanted = (record.len() + bytes.len()).max(record.capacity() * 2);
                let mut bigger = Zeroizing::new(Vec::with_capacity(wanted));
                bigger.extend_from_slice(record);
                *record = bigger;
            }
            record.extend_from_slice(bytes);
        }
        self.hash(bytes);
    }

    fn hash(&mut self, bytes: &[u8]) {
        match &mut self.hashing {
            Hashing::Here { hasher, fed } => {
                hasher.update(bytes);
                *fed += bytes.len();
                if *fed > HASHED_HERE {
                    self.hand_over();
                }
            }
            Hashing::Away { block, to, .. } => {
                // Cut to the block's room: a block never reallocates (which would leave a
                // copy of its cleartext behind).
                let mut rest = bytes;
                while !rest.is_empty() {
                    let room = BLOCK.saturating_sub(block.len()).max(1);
                    let (now, later) = rest.split_at(room.min(rest.len()));
                    block.extend_from_slice(now);
                    rest = later;
                    if block.len() < BLOCK {
                        continue;
                    }
                    let full = std::mem::replace(block, Zeroizing::new(Vec::with_capacity(BLOCK)));
                    // Fails only if the worker is gone: `finish` reports it.
                    if let Some(sender) = to
                        && sender.send(full).is_err()
                    {
                        *to = None;
                    }
                }
            }
        }
    }

    /// Moves the hashing to a second thread (stays here if none can be started).
    fn hand_over(&mut self) {
        let Hashing::Here { hasher, .. } = &self.hashing else {
            return;
        };
        let mut state = hasher.clone();
        let (to, from) = sync_channel::<Zeroizing<Vec<u8>>>(4);
        let worker = std::thread::Builder::new()
            .name("sops-mac".into())
            .spawn(move || {
                for block in from {
                    state.update(&*block);
                }
                state
            });
        if let Ok(worker) = worker {
            self.hashing = Hashing::Away {
                block: Zeroizing::new(Vec::with_capacity(BLOCK)),
                to: Some(to),
                worker,
            };
        }
    }

    /// The MAC of `parts` (input a recording MAC kept, fed one after the other), hashed on
    /// this thread.
    pub(crate) fn of(only_encrypted: bool, parts: &[&[u8]]) -> String {
        let mut hasher = hasher(only_encrypted);
        for part in parts {
            hasher.update(part);
        }
        hex::encode_upper(hasher.finalize())
    }

    /// Upper-case hex, as `fmt.Sprintf("%X", …)`. An error only if the hashing thread was
    /// lost (never a MAC of part of the input).
    pub(crate) fn finish(self) -> Result<String, Error> {
        let hasher = match self.hashing {
            Hashing::Here { hasher, .. } => hasher,
            Hashing::Away { block, to, worker } => {
                let sent = to.is_some_and(|to| to.send(block).is_ok());
                let hasher = worker.join().map_err(|_| hashing_thread_lost())?;
                if !sent {
                    return Err(hashing_thread_lost());
                }
                hasher
            }
        };
        Ok(hex::encode_upper(hasher.finalize()))
    }
}

/// A hasher for the MAC, fed the prefix of `mac_only_encrypted` when it is set.
fn hasher(only_encrypted: bool) -> Sha512 {
    let mut hasher = Sha512::new();
    if only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    hasher
}

/// The error when a thread hashing a MAC was lost (a MAC of part of the input is never given).
pub(crate) fn hashing_thread_lost() -> Error {
    Error::Unsupported("internal error: the MAC's hashing thread stopped".into())
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

    fn hex(mac: Mac) -> String {
        mac.finish().expect("the MAC is computed")
    }

    #[test]
    fn mac_of_nothing_is_the_sha512_of_nothing() {
        assert!(hex(Mac::new(false)).starts_with("CF83E1357EEFB8BD"));
        assert_ne!(hex(Mac::new(true)), hex(Mac::new(false)));
    }

    #[test]
    fn only_encrypted_mode_skips_clear_leaves() {
        let mut a = Mac::new(true);
        a.leaf(b"x", false);
        assert_eq!(hex(a), hex(Mac::new(true)));
    }

    #[test]
    fn a_mac_hashed_partly_on_another_thread_is_the_sha512_of_all_its_input() {
        // 10 MB in leaves of 1 to 999 bytes: past the first MiB the hashing moves, blocks are
        // cut in the middle of leaves, and the last block is partial.
        let mut mac = Mac::new(false);
        let mut all = Sha512::new();
        let mut n: usize = 0;
        while n < 10_000_000 {
            let leaf: Vec<u8> = (0..(n % 999) + 1).map(|i| (i * 7 + n) as u8).collect();
            mac.leaf(&leaf, true);
            all.update(&leaf);
            n += leaf.len();
        }
        assert!(matches!(mac.hashing, Hashing::Away { .. }));
        assert_eq!(hex(mac), hex::encode_upper(all.finalize()));
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
