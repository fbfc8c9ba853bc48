//! The sealing keys: every key pair the controller holds, newest first.
//!
//! Keys live in the controller namespace as Bitnami stores them (see [`store`]): the newest
//! `active` key seals (`/v1/cert.pem`, `/v1/rotate`); every key, `compromised` ones included,
//! decrypts. Follows bitnami-labs/sealed-secrets `pkg/controller/keyregistry.go`.
//!
//! sealkit adds two states a key Secret can be in without its key being used: `retired` (the
//! label an operator sets with `seal keys retire` once nothing needs the key; Bitnami's
//! controller, which reads only `active` keys, ignores it too) and locked (a private key
//! wrapped by a KMS master key that cannot be unwrapped, see [`wrap`]). While a key is
//! locked the keyring has no sealing key: no certificate is served and no key is made, so a
//! KMS outage or a wrong master key never leads to a new key nobody asked for.

pub mod decrypt;
pub mod generate;
pub mod import;
pub mod listing;
pub mod renewal;
pub mod store;
pub mod usage;
pub mod wrap;

use std::sync::{Arc, RwLock};

use sealer::sealed::{Certificate, PrivateKey};
use time::OffsetDateTime;
use tokio::sync::watch;

pub use self::decrypt::{Decryptor, KeyUse};
use crate::args::KeyOrderPriority;

/// One key pair and where it came from.
pub struct KeyEntry {
    /// Name of the key Secret.
    pub secret_name: String,
    /// The private key (decrypts).
    pub private: PrivateKey,
    /// The certificate handed out for sealing.
    pub certificate: Certificate,
    /// The key Secret's `creationTimestamp`, when known.
    pub created: Option<OffsetDateTime>,
    /// Labelled `compromised`: decrypts, never seals.
    pub compromised: bool,
    /// `SHA256:…` fingerprint of the public key (for logs; never secret).
    pub fingerprint: String,
    /// `resourceVersion` of the Secret it was read from, to skip re-parsing.
    pub resource_version: Option<String>,
    /// Whether the Secret holds the private key wrapped by a KMS master key.
    pub wrapped: bool,
}

/// A key Secret whose key the keyring does not use, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldBack {
    /// Name of the key Secret.
    pub secret_name: String,
    /// `SHA256:…` fingerprint of its certificate's key, when the certificate reads.
    pub fingerprint: Option<String>,
    /// The certificate's NotBefore and NotAfter, when it reads.
    pub validity: Option<(OffsetDateTime, OffsetDateTime)>,
    /// The Secret's `creationTimestamp`, when known.
    pub created: Option<OffsetDateTime>,
    /// Whether the private key is wrapped.
    pub wrapped: bool,
    /// Why it is held back.
    pub reason: HeldBackReason,
    /// `resourceVersion` of the Secret it was read from.
    pub resource_version: Option<String>,
}

/// Why a key Secret's key is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldBackReason {
    /// Labelled `retired`: kept for the record, neither seals nor decrypts.
    Retired,
    /// Its private key is wrapped and cannot be unwrapped; the text says why (never key
    /// bytes). Blocks sealing and key generation.
    Locked(String),
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("secret_name", &self.secret_name)
            .field("fingerprint", &self.fingerprint)
            .field("compromised", &self.compromised)
            .field("not_before", &self.certificate.not_before())
            .finish_non_exhaustive()
    }
}

impl KeyEntry {
    /// The time that orders keys under `priority`.
    pub fn order_time(&self, priority: KeyOrderPriority) -> OffsetDateTime {
        match priority {
            KeyOrderPriority::CertNotBefore => self.certificate.not_before(),
            KeyOrderPriority::SecretCreationTimestamp => self
                .created
                .unwrap_or_else(|| self.certificate.not_before()),
        }
    }
}

/// Shared, cheaply cloned view of the keys. Writers replace the whole set; readers take a
/// snapshot.
#[derive(Clone)]
pub struct Keyring {
    keys: Arc<RwLock<Arc<Vec<Arc<KeyEntry>>>>>,
    held_back: Arc<RwLock<Arc<Vec<Arc<HeldBack>>>>>,
    priority: KeyOrderPriority,
    changed: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.snapshot().iter()).finish()
    }
}

impl Keyring {
    /// An empty keyring ordering keys by `priority`.
    pub fn new(priority: KeyOrderPriority) -> Self {
        Self {
            keys: Arc::default(),
            held_back: Arc::default(),
            priority,
            changed: Arc::new(watch::channel(0).0),
        }
    }

    /// The key Secrets whose keys are not used (retired, locked).
    pub fn held_back(&self) -> Arc<Vec<Arc<HeldBack>>> {
        self.held_back
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the held-back set; wakes subscribers when which keys are locked changes.
    pub fn replace_held_back(&self, entries: Vec<Arc<HeldBack>>) {
        let locked_names = |list: &[Arc<HeldBack>]| -> Vec<String> {
            let mut names: Vec<String> = list
                .iter()
                .filter(|h| matches!(h.reason, HeldBackReason::Locked(_)))
                .map(|h| h.secret_name.clone())
                .collect();
            names.sort();
            names
        };
        let mut guard = self.held_back.write().unwrap_or_else(|e| e.into_inner());
        let changed = locked_names(&guard) != locked_names(&entries);
        *guard = Arc::new(entries);
        drop(guard);
        if changed {
            self.changed.send_modify(|v| *v += 1);
        }
    }

    /// The key Secrets whose wrapped keys cannot be unwrapped. While there is one, the
    /// keyring has no sealing key ([`Keyring::newest_active`] is `None`) and no key is made.
    pub fn locked(&self) -> Vec<Arc<HeldBack>> {
        self.held_back()
            .iter()
            .filter(|h| matches!(h.reason, HeldBackReason::Locked(_)))
            .cloned()
            .collect()
    }

    /// Whether a key is locked (see [`Keyring::locked`]).
    pub fn is_locked(&self) -> bool {
        !self.locked().is_empty()
    }

    /// Every key, newest first.
    pub fn snapshot(&self) -> Arc<Vec<Arc<KeyEntry>>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the whole set (sorted newest first); wakes subscribers if it changed.
    pub fn replace(&self, mut entries: Vec<Arc<KeyEntry>>) {
        let priority = self.priority;
        entries.sort_by(|a, b| {
            b.order_time(priority)
                .cmp(&a.order_time(priority))
                .then_with(|| b.secret_name.cmp(&a.secret_name))
        });
        let mut guard = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let same = guard.len() == entries.len()
            && guard.iter().zip(&entries).all(|(a, b)| {
                a.secret_name == b.secret_name
                    && a.fingerprint == b.fingerprint
                    && a.compromised == b.compromised
            });
        *guard = Arc::new(entries);
        drop(guard);
        if !same {
            self.changed.send_modify(|v| *v += 1);
        }
    }

    /// Adds (or replaces, by Secret name) one key.
    pub fn insert(&self, entry: Arc<KeyEntry>) {
        let mut all: Vec<_> = self
            .snapshot()
            .iter()
            .filter(|e| e.secret_name != entry.secret_name)
            .cloned()
            .collect();
        all.push(entry);
        self.replace(all);
    }

    /// The key that seals: the newest one not marked compromised; none while a key is
    /// locked (the newest might be the locked one).
    pub fn newest_active(&self) -> Option<Arc<KeyEntry>> {
        if self.is_locked() {
            return None;
        }
        self.snapshot().iter().find(|e| !e.compromised).cloned()
    }

    /// Number of keys (active, compromised).
    pub fn counts(&self) -> (usize, usize) {
        let all = self.snapshot();
        let compromised = all.iter().filter(|e| e.compromised).count();
        (all.len() - compromised, compromised)
    }

    /// A receiver that changes whenever the set of keys does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The ordering in use.
    pub fn priority(&self) -> KeyOrderPriority {
        self.priority
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::LazyLock;

    /// Two small test keys (2048-bit, generated once per test run).
    pub(crate) static TEST_KEYS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
        (0..3)
            .map(|_| {
                let key = PrivateKey::generate(2048).unwrap();
                let cert = Certificate::self_signed(&key, time::Duration::days(3650), "").unwrap();
                (
                    secrecy::ExposeSecret::expose_secret(&key.to_pkcs1_pem()).to_owned(),
                    cert.to_pem(),
                )
            })
            .collect()
    });

    pub(crate) fn entry(index: usize, name: &str, compromised: bool) -> Arc<KeyEntry> {
        let (key, cert) = &TEST_KEYS[index];
        let private = PrivateKey::from_pem(key.as_bytes()).unwrap();
        let certificate = Certificate::from_pem(cert.as_bytes()).unwrap();
        Arc::new(KeyEntry {
            secret_name: name.into(),
            fingerprint: certificate.public_key().fingerprint(),
            private,
            certificate,
            created: None,
            compromised,
            resource_version: None,
            wrapped: false,
        })
    }

    #[test]
    fn compromised_keys_never_seal_but_stay_in_the_ring() {
        let ring = Keyring::new(KeyOrderPriority::CertNotBefore);
        ring.replace(vec![entry(0, "a", false), entry(1, "b", true)]);
        // Both certs share a NotBefore second at most; mark the later-named one compromised and
        // check that it is skipped whatever the order.
        assert_eq!(ring.newest_active().unwrap().secret_name, "a");
        assert_eq!(ring.counts(), (1, 1));
        assert_eq!(ring.snapshot().len(), 2);
    }

    #[test]
    fn subscribers_wake_only_when_the_set_changes() {
        let ring = Keyring::new(KeyOrderPriority::CertNotBefore);
        let mut rx = ring.subscribe();
        ring.replace(vec![entry(0, "a", false)]);
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        ring.replace(vec![entry(0, "a", false)]);
        assert!(!rx.has_changed().unwrap());
        ring.insert(entry(1, "b", false));
        assert!(rx.has_changed().unwrap());
    }

    // issue 17: a wrapped key that cannot be unwrapped must not lead to a certificate of an
    // older key or to a new key.
    #[test]
    fn while_a_key_is_locked_there_is_no_sealing_key() {
        let ring = Keyring::new(KeyOrderPriority::CertNotBefore);
        ring.replace(vec![entry(0, "a", false)]);
        let mut rx = ring.subscribe();
        rx.borrow_and_update();
        let locked = |reason: HeldBackReason| {
            Arc::new(HeldBack {
                secret_name: "b".into(),
                fingerprint: None,
                validity: None,
                created: None,
                wrapped: true,
                reason,
                resource_version: None,
            })
        };
        ring.replace_held_back(vec![locked(HeldBackReason::Locked("kms down".into()))]);
        assert!(rx.has_changed().unwrap());
        assert!(ring.newest_active().is_none());
        assert!(ring.is_locked());
        rx.borrow_and_update();
        ring.replace_held_back(vec![locked(HeldBackReason::Retired)]);
        assert!(rx.has_changed().unwrap());
        assert_eq!(ring.newest_active().unwrap().secret_name, "a");
    }

    #[test]
    fn secret_creation_order_can_decide_the_newest_key() {
        let ring = Keyring::new(KeyOrderPriority::SecretCreationTimestamp);
        let mut old = Arc::try_unwrap(entry(0, "old", false)).unwrap();
        old.created = Some(OffsetDateTime::UNIX_EPOCH + time::Duration::days(1));
        let mut new = Arc::try_unwrap(entry(1, "new", false)).unwrap();
        new.created = Some(OffsetDateTime::UNIX_EPOCH + time::Duration::days(2));
        ring.replace(vec![Arc::new(old), Arc::new(new)]);
        assert_eq!(ring.newest_active().unwrap().secret_name, "new");
    }
}
