//! The `MasterKey` trait: what age, PGP and every KMS implement.
//!
//! A master key wraps a secret (the data key, or one key group's Shamir share) into the
//! string sops stores as `enc`, and unwraps it again. Local keys (age) answer at once;
//! network keys (Vault transit, AWS KMS, … behind feature `kms`) return a future that a
//! runtime drives. Async callers (the controller) await the futures directly; sync callers
//! (the CLI) use [`block_on`], which with feature `kms` runs them on one shared tokio
//! runtime, so the CLI stays synchronous and needs no runtime of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::age::{AgeIdentities, AgeRecipient, IdentityEnv};
use super::env::KeyEnv;
use super::error::{Error, Result};
use crate::sops::{KeyKind, MasterKeyStanza};

/// The future a master-key operation returns.
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Credentials and identities used to unwrap data keys, loaded lazily and once.
///
/// age identities come from the environment exactly as sops finds them (see
/// [`crate::sops::master_keys::age`]); tests inject their own with [`Unwrappers::with_age`]. Network and
/// PGP keys read their credentials from [`Unwrappers::key_env`].
#[derive(Debug, Default)]
pub struct Unwrappers {
    env: IdentityEnv,
    key_env: Arc<KeyEnv>,
    age: std::sync::OnceLock<AgeIdentities>,
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
        }
    }

    /// The same, with `env` as the environment of PGP and network keys.
    pub fn with_key_env(mut self, env: KeyEnv) -> Self {
        self.key_env = Arc::new(env);
        self
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

/// A key sealkit can read and keep in metadata but not use in this build (PGP, KMS
/// without feature `kms`). Wrapping or unwrapping with it fails with a clear error.
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

#[cfg(not(feature = "kms"))]
struct ThreadWaker(std::thread::Thread);

#[cfg(not(feature = "kms"))]
impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a master-key future to completion from synchronous code.
///
/// With feature `kms` the future runs on a shared tokio runtime (network keys use tokio
/// I/O); called from inside another tokio runtime it runs on a helper thread instead of
/// panicking. Without `kms`, every key is local and the current thread drives it.
#[cfg(feature = "kms")]
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sealer-keys")
            .enable_all()
            .build()
            .expect("starting the tokio runtime for master keys")
    });
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(future))
                .join()
                .expect("master-key thread panicked")
        })
    } else {
        runtime.block_on(future)
    }
}

/// Runs a master-key future to completion on the current thread (every key is local
/// without feature `kms`).
#[cfg(not(feature = "kms"))]
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
