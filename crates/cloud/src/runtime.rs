//! The runtime cloud I/O runs on when its caller has none of its own.
//!
//! Master keys are called from synchronous code (the CLI drives them with sealer's
//! `block_on`, which only parks its thread) and from async code. reqwest and the cloud
//! crates need tokio, so each operation is spawned on one shared background runtime and its
//! handle awaited: the handle wakes whatever executor polls it.

use std::future::Future;
use std::sync::OnceLock;

use crate::error::{Error, Result};

fn shared() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    let built = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sealkit-cloud")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    built.as_ref().map_err(|reason| Error::Runtime {
        source: std::io::Error::other(reason.clone()),
    })
}

/// Runs `future` on the shared runtime; the returned future completes with its output.
/// A panic inside `future` resumes in the caller.
pub(crate) fn spawn<F, T>(future: F) -> impl Future<Output = Result<T>> + Send
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handle = shared().map(|rt| rt.spawn(future));
    async move {
        match handle?.await {
            Ok(out) => Ok(out),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Runtime {
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}
