//! Loading key Secrets from the controller namespace and keeping the keyring current.
//!
//! Every replica reads the keys of an existing install as they are (Bitnami's labelled Secrets
//! plus the pre-0.9 Secret named exactly `<key-prefix>`), then watches the labelled Secrets so
//! keys made by the leader, restored from a backup or relabelled `compromised` are picked up
//! without a restart.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt as _, reflector};

use super::store::{self, KEY_LABEL};
use super::{KeyEntry, Keyring};
use crate::error::{Error, Result};
use crate::reconciler::cache::scrub;

/// Reads one batch of key Secrets into entries, reusing already parsed entries whose
/// `resourceVersion` did not change. Bad Secrets are logged and skipped.
pub fn entries_from_secrets<'a>(
    secrets: impl IntoIterator<Item = &'a Secret>,
    legacy_name: &str,
    previous: &[Arc<KeyEntry>],
) -> Vec<Arc<KeyEntry>> {
    let previous: HashMap<&str, &Arc<KeyEntry>> = previous
        .iter()
        .map(|e| (e.secret_name.as_str(), e))
        .collect();
    let mut out = Vec::new();
    for secret in secrets {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        if let Some(old) = previous.get(name)
            && old.resource_version.is_some()
            && old.resource_version == secret.metadata.resource_version
        {
            out.push(Arc::clone(old));
            continue;
        }
        match store::entry_from_secret(secret, Some(legacy_name)) {
            Ok(Some(entry)) => out.push(Arc::new(entry)),
            Ok(None) => {}
            Err(error) => tracing::error!(error = %error, "skipping unusable key secret"),
        }
    }
    out
}

/// Lists the key Secrets once (labelled ones and the legacy one).
pub async fn load(api: &Api<Secret>, key_prefix: &str) -> Result<Vec<Arc<KeyEntry>>> {
    let mut list = api
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .map_err(Error::kube("list key secrets"))?;
    let legacy = api
        .get_opt(key_prefix)
        .await
        .map_err(Error::kube(format!("get legacy key secret {key_prefix}")))?;
    let mut secrets = std::mem::take(&mut list.items);
    if let Some(legacy) = legacy
        && !secrets
            .iter()
            .any(|s| s.metadata.name == legacy.metadata.name)
    {
        secrets.push(legacy);
    }
    let entries = entries_from_secrets(&secrets, key_prefix, &[]);
    for s in &mut secrets {
        scrub(s);
    }
    Ok(entries)
}

/// Watches labelled key Secrets and mirrors them into `keyring`: new and changed Secrets are
/// (re)read, a Secret relabelled to anything but `active`/`compromised` leaves the ring. Like
/// Bitnami, a deleted key Secret stays usable until restart (keys are never dropped by
/// accident). Runs until the stream ends.
pub async fn watch(api: Api<Secret>, key_prefix: String, keyring: Keyring) {
    let (reader, writer) = reflector::store::<Secret>();
    let stream = reflector(
        writer,
        watcher(api, watcher::Config::default().labels(KEY_LABEL)),
    )
    .default_backoff()
    .touched_objects();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        if let Err(error) = event {
            tracing::warn!(error = %error, "key secret watch interrupted; retrying");
            continue;
        }
        let previous = keyring.snapshot();
        let mut by_name: std::collections::BTreeMap<String, Arc<KeyEntry>> = previous
            .iter()
            .map(|e| (e.secret_name.clone(), Arc::clone(e)))
            .collect();
        for secret in reader.state() {
            let name = secret.metadata.name.clone().unwrap_or_default();
            match entries_from_secrets([secret.as_ref()], &key_prefix, &previous).pop() {
                Some(entry) => {
                    by_name.insert(name, entry);
                }
                None => {
                    by_name.remove(&name);
                }
            }
        }
        keyring.replace(by_name.into_values().collect());
    }
}
