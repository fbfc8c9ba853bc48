//! The `MasterKey` trait: what age, PGP and every KMS implement.
//!
//! A master key wraps a secret (the data key, or one key group's Shamir share) into the
//! string sops stores as `enc`, and unwraps it again. Local keys (age) answer at once;
//! network keys (Vault transit, AWS KMS, … from a [`RemoteKeys`] implementation) return a
//! future. Async callers await the futures directly; sync callers (the CLI) use
//! [`block_on`], so the CLI stays synchronous and needs no runtime of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::age::{AgeIdentities, AgeRecipient, IdentityEnv};
use super::env::KeyEnv;
use super::error::{Error, Result};
use super::remote::{RemoteKeys, installed_remote_keys};
use crate::sops::{KeyKind, MasterKeyStanza};

/// The future a master-key operation returns.
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Credentials and identities used to unwrap data keys, loaded lazily and once.
///
/// age identities come from the environment exactly as sops finds them (see
/// [`crate::sops::master_keys::age`]); tests inject their own with [`Unwrappers::with_age`].
/// Network and PGP keys read their credentials from [`Unwrappers::key_env`]; network keys
/// are made usable by [`Unwrappers::remote_keys`] (the process's installed one unless set).
#[derive(Debug)]
pub struct Unwrappers {
    env: IdentityEnv,
    key_env: Arc<KeyEnv>,
    age: std::sync::OnceLock<AgeIdentities>,
    remote: Option<Arc<dyn RemoteKeys>>,
}

impl Default for Unwrappers {
    fn default() -> Self {
        Self::from_env(IdentityEnv::default())
    }
}

impl Unwrappers {
    /// Unwrappers reading the process environment.
    pub fn from_process_env() -> Self {
        Self::from_env(IdentityEnv::from_process()).with_key_env(KeyEnv::from_process())
    }

    /// Unwrappers reading the given environment snapshot.
    pub fn from_env(env: IdentityEnv) -> Self {
        Self {
            env,
            key_env: Arc::default(),
            age: std::sync::OnceLock::new(),
            remote: installed_remote_keys(),
        }
    }

    /// Unwrappers with exactly these age identities.
    pub fn with_age(identities: AgeIdentities) -> Self {
        let age = std::sync::OnceLock::new();
        let _ = age.set(identities);
        Self {
            env: IdentityEnv::default(),
            key_env: Arc::default(),
            age,
            remote: installed_remote_keys(),
        }
    }

    /// The same, with `env` as the environment of PGP and network keys.
    pub fn with_key_env(mut self, env: KeyEnv) -> Self {
        self.key_env = Arc::new(env);
        self
    }

    /// The same, with `remote` making network keys usable.
    pub fn with_remote_keys(mut self, remote: Arc<dyn RemoteKeys>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// What makes network keys usable, if anything.
    pub fn remote_keys(&self) -> Option<&Arc<dyn RemoteKeys>> {
        self.remote.as_ref()
    }

    /// The age identities (loaded on first use).
    pub fn age(&self) -> &AgeIdentities {
        self.age.get_or_init(|| AgeIdentities::load(&self.env))
    }

    /// The environment PGP and network keys read (tokens, credentials, endpoints).
    pub fn key_env(&self) -> &Arc<KeyEnv> {
        &self.key_env
    }
}

/// A key that wraps and unwraps the data key (or a key group's Shamir share).
pub trait MasterKey: Send + Sync + std::fmt::Debug {
    /// Which kind of key this is.
    fn kind(&self) -> KeyKind;

    /// The key's identifier as sops prints it (recipient, fingerprint, ARN, URI).
    fn id(&self) -> &str;

    /// The metadata entry for this key holding `enc` (metadata out).
    fn to_stanza(&self, enc: &str) -> MasterKeyStanza;

    /// Encrypts `secret` and returns the `enc` string sops stores for this key.
    fn wrap<'a>(&'a self, secret: &'a [u8]) -> KeyFuture<'a, Result<String>>;

    /// Decrypts an `enc` string written for this key.
    fn unwrap<'a>(
        &'a self,
        enc: &'a str,
        with: &'a Unwrappers,
    ) -> KeyFuture<'a, Result<Zeroizing<Vec<u8>>>>;
}

impl MasterKey for AgeRecipient {
    fn kind(&self) -> KeyKind {
        KeyKind::Age
    }

    fn id(&self) -> &str {
        self.as_str()
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::age(self.as_str(), enc)
    }

    fn wrap<'a>(&'a self, secret: &'a [u8]) -> KeyFuture<'a, Result<String>> {
        Box::pin(std::future::ready(AgeRecipient::wrap(self, secret)))
    }

    fn unwrap<'a>(
        &'a self,
        enc: &'a str,
        with: &'a Unwrappers,
    ) -> KeyFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        Box::pin(std::future::ready(with.age().unwrap(enc, self.as_str())))
    }
}

/// A key sealkit can read and keep in metadata but not use (a kind this build does not
/// know). Wrapping or unwrapping with it fails with a clear error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedKey {
    kind: KeyKind,
    id: String,
}

impl UnsupportedKey {
    /// A placeholder for a key of `kind` named `id`.
    pub fn new(kind: KeyKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }

    fn error(&self) -> Error {
        Error::UnsupportedKeyType {
            kind: self.kind.field().to_owned(),
            id: self.id.clone(),
        }
    }
}

impl MasterKey for UnsupportedKey {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::new(self.kind, &[("enc", enc)])
    }

    fn wrap<'a>(&'a self, _secret: &'a [u8]) -> KeyFuture<'a, Result<String>> {
        Box::pin(std::future::ready(Err(self.error())))
    }

    fn unwrap<'a>(
        &'a self,
        _enc: &'a str,
        _with: &'a Unwrappers,
    ) -> KeyFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        Box::pin(std::future::ready(Err(self.error())))
    }
}

struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a master-key future to completion on the current thread.
///
/// Local keys answer at once. Network keys (from a [`super::RemoteKeys`]) do their I/O on a
/// runtime of their own and wake this thread when done, so this works from any thread,
/// inside an async runtime or not.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}
