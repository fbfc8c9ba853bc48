//! Loading key Secrets from the controller namespace and keeping the keyring current.
//!
//! Every replica reads the keys of an existing install as they are (Bitnami's labelled Secrets
//! plus the pre-0.9 Secret named exactly `<key-prefix>`), then watches the labelled Secrets so
//! keys made by the leader, restored from a backup or relabelled `compromised` or `retired`
//! are picked up without a restart. Wrapped private keys are unwrapped here, with the
//! configured master keys only (see [`super::wrap`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt as _, reflector};

use super::store::{self, KEY_LABEL, LabelState};
use super::wrap::{self, KeyWrap};
use super::{HeldBack, HeldBackReason, KeyEntry, Keyring};
use crate::error::{Error, Result};
use crate::reconciler::cache::scrub;
use crate::reconciler::retry::backoff;

/// The keys read from a batch of key Secrets.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Keys that seal or decrypt.
    pub usable: Vec<Arc<KeyEntry>>,
    /// Retired keys and wrapped keys that did not unwrap.
    pub held_back: Vec<Arc<HeldBack>>,
}

/// What was read before, by Secret name, to skip re-reading (and re-unwrapping) a Secret
/// whose `resourceVersion` did not change.
#[derive(Debug, Default)]
pub struct Previous<'a> {
    usable: HashMap<&'a str, &'a Arc<KeyEntry>>,
    retired: HashMap<&'a str, &'a Arc<HeldBack>>,
}

impl<'a> Previous<'a> {
    /// What `keyring` holds now.
    pub fn of(usable: &'a [Arc<KeyEntry>], held_back: &'a [Arc<HeldBack>]) -> Self {
        Self {
            usable: usable.iter().map(|e| (e.secret_name.as_str(), e)).collect(),
            retired: held_back
                .iter()
                .filter(|h| h.reason == HeldBackReason::Retired)
                .map(|h| (h.secret_name.as_str(), h))
                .collect(),
        }
    }
}

/// Reads one key Secret. Bad plain Secrets are logged and skipped (as before); a wrapped key
/// that does not unwrap is held back as locked, with the reason.
pub async fn read_secret(
    secret: &Secret,
    legacy_name: &str,
    previous: &Previous<'_>,
    wrap: Option<&KeyWrap>,
) -> Option<Loaded> {
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let unchanged = |rv: &Option<String>| rv.is_some() && *rv == secret.metadata.resource_version;
    let state = store::label_state(secret, Some(legacy_name))?;
    if state == LabelState::Retired {
        let held = match previous.retired.get(name) {
            Some(old) if unchanged(&old.resource_version) => Arc::clone(old),
            _ => Arc::new(store::held_back(secret, HeldBackReason::Retired)),
        };
        return Some(Loaded {
            usable: vec![],
            held_back: vec![held],
        });
    }
    if let Some(old) = previous.usable.get(name)
        && unchanged(&old.resource_version)
    {
        return Some(Loaded {
            usable: vec![Arc::clone(old)],
            held_back: vec![],
        });
    }
    let compromised = state == LabelState::Compromised;
    let entry = match store::tls_key(secret) {
        Some(tls_key) if wrap::is_wrapped(tls_key) => {
            let unwrapped = match sealer::sealed::wrapped_key::WrappedKey::parse(tls_key) {
                Ok(wrapped) => wrap::unwrap_with(wrap, &wrapped).await,
                Err(e) => Err(wrap::Error::Format(e)),
            };
            match unwrapped {
                Ok(pem) => store::entry_with_key(secret, &pem, compromised),
                Err(e) => {
                    let reason = crate::reconciler::chain(&e);
                    tracing::error!(secret = %name, error = %reason, "cannot unwrap the sealing key: serving no certificate and making no key until it unwraps");
                    return Some(Loaded {
                        usable: vec![],
                        held_back: vec![Arc::new(store::held_back(
                            secret,
                            HeldBackReason::Locked(reason),
                        ))],
                    });
                }
            }
        }
        _ => store::entry_from_secret(secret, Some(legacy_name)).and_then(|e| {
            e.ok_or_else(|| Error::InvalidKeySecret {
                name: name.to_owned(),
                reason: "not a key Secret".into(),
            })
        }),
    };
    match entry {
        Ok(entry) => Some(Loaded {
            usable: vec![Arc::new(entry)],
            held_back: vec![],
        }),
        Err(error) => {
            tracing::error!(error = %error, "skipping unusable key secret");
            None
        }
    }
}

/// Reads a batch of key Secrets.
pub async fn read_secrets(
    secrets: &[Secret],
    legacy_name: &str,
    previous: &Previous<'_>,
    wrap: Option<&KeyWrap>,
) -> Loaded {
    let mut out = Loaded::default();
    for secret in secrets {
        if let Some(loaded) = read_secret(secret, legacy_name, previous, wrap).await {
            out.usable.extend(loaded.usable);
            out.held_back.extend(loaded.held_back);
        }
    }
    out
}

/// Lists the key Secrets once (labelled ones and the legacy one) and reads them.
pub async fn load(api: &Api<Secret>, key_prefix: &str, wrap: Option<&KeyWrap>) -> Result<Loaded> {
    load_reusing(api, key_prefix, wrap, &Previous::default()).await
}

async fn load_reusing(
    api: &Api<Secret>,
    key_prefix: &str,
    wrap: Option<&KeyWrap>,
    previous: &Previous<'_>,
) -> Result<Loaded> {
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
    let loaded = read_secrets(&secrets, key_prefix, previous, wrap).await;
    for s in &mut secrets {
        scrub(s);
    }
    Ok(loaded)
}

/// Whenever a key is locked, lists and reads the key Secrets again with growing pauses, so a
/// KMS that comes back (or a fixed master key) unlocks the keyring without a restart. Runs
/// until the keyring is dropped.
pub async fn retry_locked(
    api: Api<Secret>,
    key_prefix: String,
    keyring: Keyring,
    wrap: Option<Arc<KeyWrap>>,
) {
    let mut changed = keyring.subscribe();
    loop {
        if !keyring.is_locked() {
            if changed.changed().await.is_err() {
                return;
            }
            continue;
        }
        unlock(&api, &key_prefix, &keyring, wrap.as_deref()).await;
        changed.borrow_and_update();
    }
}

async fn unlock(api: &Api<Secret>, key_prefix: &str, keyring: &Keyring, wrap: Option<&KeyWrap>) {
    let mut attempt = 0;
    while keyring.is_locked() {
        attempt += 1;
        tokio::time::sleep(backoff(attempt).max(Duration::from_secs(1))).await;
        let usable = keyring.snapshot();
        let held = keyring.held_back();
        let previous = Previous::of(&usable, &held);
        match load_reusing(api, key_prefix, wrap, &previous).await {
            Ok(loaded) => {
                keyring.replace(loaded.usable);
                keyring.replace_held_back(loaded.held_back);
            }
            Err(e) => tracing::warn!(error = %e.chain(), "cannot list key secrets"),
        }
    }
    tracing::info!("every sealing key unwrapped");
}

/// Watches labelled key Secrets and mirrors them into `keyring`: new and changed Secrets are
/// (re)read, a Secret relabelled to anything but `active`/`compromised`/`retired` leaves the
/// ring. Like Bitnami, a deleted key Secret stays usable until restart (keys are never dropped
/// by accident). Runs until the stream ends.
pub async fn watch(
    api: Api<Secret>,
    key_prefix: String,
    keyring: Keyring,
    wrap: Option<Arc<KeyWrap>>,
) {
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
        let usable = keyring.snapshot();
        let held = keyring.held_back();
        let previous = Previous::of(&usable, &held);
        let mut by_name: BTreeMap<String, Loaded> = BTreeMap::new();
        for entry in usable.iter() {
            by_name
                .entry(entry.secret_name.clone())
                .or_default()
                .usable
                .push(Arc::clone(entry));
        }
        for entry in held.iter() {
            by_name
                .entry(entry.secret_name.clone())
                .or_default()
                .held_back
                .push(Arc::clone(entry));
        }
        for secret in reader.state() {
            let name = secret.metadata.name.clone().unwrap_or_default();
            match read_secret(&secret, &key_prefix, &previous, wrap.as_deref()).await {
                Some(loaded) => {
                    by_name.insert(name, loaded);
                }
                None => {
                    by_name.remove(&name);
                }
            }
        }
        let mut next = Loaded::default();
        for loaded in by_name.into_values() {
            next.usable.extend(loaded.usable);
            next.held_back.extend(loaded.held_back);
        }
        keyring.replace(next.usable);
        keyring.replace_held_back(next.held_back);
    }
}
