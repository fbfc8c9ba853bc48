//! The caches the reconcilers keep: waiting for their first list, trimming what is cached,
//! and scrubbing Secret values held in memory.

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::Store;
use zeroize::Zeroize as _;

/// Resolves once `store` has had its first full list; any number of reconciles may await
/// clones of it at once.
///
/// `Store::wait_until_ready` must not be awaited by many tasks at once: kube-runtime keeps its
/// readiness in a `futures` oneshot receiver, which remembers only the last waker that polled
/// it, so all but one concurrent waiters sleep for ever (seen as reconciles that never finish
/// once the controller's concurrency slots fill with them). A `Shared` future polls the store
/// from one place and wakes every waiter.
pub fn cache_ready<K>(store: Store<K>) -> Shared<BoxFuture<'static, ()>>
where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    async move {
        // Err only when the writer is dropped: then the controller is stopping anyway.
        let _ = store.wait_until_ready().await;
    }
    .boxed()
    .shared()
}

/// kubectl's copy of the applied object, kept on the object by client-side `kubectl apply`: on
/// a Secret it holds the plaintext.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops from a cached object's metadata what no reconcile reads: managed fields, and kubectl's
/// last-applied copy (on a Secret, its plaintext; on any object, a second copy of it all).
pub fn trim_metadata(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        if let Some(mut copy) = annotations.remove(LAST_APPLIED_ANNOTATION) {
            copy.zeroize();
        }
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// Overwrites the values of a Secret held in memory (keys, plaintext) before it is dropped.
pub fn scrub(secret: &mut Secret) {
    if let Some(data) = secret.data.as_mut() {
        for value in data.values_mut() {
            value.0.zeroize();
        }
    }
    if let Some(data) = secret.string_data.as_mut() {
        for value in data.values_mut() {
            value.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use k8s_openapi::ByteString;
    use kube::runtime::{reflector, watcher};

    use super::*;

    #[tokio::test]
    async fn every_reconcile_waiting_for_the_cache_wakes_when_it_is_filled() {
        let (reader, mut writer) = reflector::store::<Secret>();
        let ready = cache_ready(reader);
        let waiters: Vec<_> = (0..64).map(|_| tokio::spawn(ready.clone())).collect();
        // Let every waiter register before the cache fills.
        tokio::time::sleep(Duration::from_millis(50)).await;
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitDone);
        for waiter in waiters {
            // A bound against a hang, not a timing assertion.
            tokio::time::timeout(Duration::from_secs(30), waiter)
                .await
                .expect("a waiter was never woken")
                .expect("waiter task");
        }
    }

    #[test]
    fn trimming_drops_managed_fields_and_the_last_applied_copy_only() {
        let mut meta = ObjectMeta {
            annotations: Some(BTreeMap::from([
                (LAST_APPLIED_ANNOTATION.into(), "{\"stringData\":{}}".into()),
                ("note".into(), "kept".into()),
            ])),
            managed_fields: Some(vec![Default::default()]),
            ..ObjectMeta::default()
        };
        trim_metadata(&mut meta);
        assert_eq!(meta.managed_fields, None);
        assert_eq!(
            meta.annotations,
            Some(BTreeMap::from([("note".into(), "kept".into())]))
        );
    }

    #[test]
    fn scrubbing_zeroes_data_and_string_data() {
        let mut s = Secret {
            data: Some(BTreeMap::from([("k".into(), ByteString(b"abc".to_vec()))])),
            string_data: Some(BTreeMap::from([("s".into(), "xyz".into())])),
            ..Secret::default()
        };
        scrub(&mut s);
        assert!(s.data.unwrap()["k"].0.iter().all(|b| *b == 0));
        assert!(!s.string_data.unwrap()["s"].contains("xyz"));
    }
}
