//! The SealedSecret controller: a kube-rs `Controller` over `bitnami.com/v1alpha1`
//! SealedSecrets that also watches Secrets (a deleted or edited Secret is put back, an unowned
//! Secret annotated `managed` is taken over) and reconciles everything again when the keys
//! change.

pub mod context;
pub mod desired;
pub mod digest_key;
#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod hostile_templates;
pub mod reconcile;
pub mod status;

use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::{Config, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};
use sealer::sealed::SealedSecret;
use tokio::sync::watch;

use self::context::{Context, Settings};
use self::digest_key::DigestKey;
use crate::keyring::Decryptor;
use crate::metrics::Metrics;
use crate::reconciler::cache::{cache_ready, scrub, trim_metadata};

/// What one SealedSecret controller needs.
#[derive(Clone)]
pub struct Deps {
    /// API client.
    pub client: Client,
    /// Decryption.
    pub decryptor: Decryptor,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: kube::runtime::events::Recorder,
    /// Switches.
    pub settings: Settings,
    /// `--label-selector`.
    pub label_selector: String,
    /// `--skip-recreate`.
    pub skip_recreate: bool,
    /// Reconciles in flight at once.
    pub concurrency: u16,
    /// Key of the `unsealed-digest` annotation.
    pub digest_key: Arc<DigestKey>,
}

/// Runs the controller over `namespace` (all namespaces when `None`) until `shutdown` turns
/// true.
pub async fn run(deps: Deps, namespace: Option<String>, shutdown: watch::Receiver<bool>) {
    let (ss_api, secret_api): (Api<SealedSecret>, Api<Secret>) = match &namespace {
        Some(ns) => (
            Api::namespaced(deps.client.clone(), ns),
            Api::namespaced(deps.client.clone(), ns),
        ),
        None => (Api::all(deps.client.clone()), Api::all(deps.client.clone())),
    };
    let mut wc = watcher::Config::default().any_semantic();
    if !deps.label_selector.is_empty() {
        wc = wc.labels(&deps.label_selector);
    }
    let (reader, writer) = reflector::store::<Secret>();
    // A relist of Secrets (after a 410 or a long outage) cannot tell which Secrets were
    // deleted meanwhile: reconcile every SealedSecret then (cheap: in-sync ones decrypt
    // nothing). The first list is the start, which reconciles everything anyway.
    let (relisted_tx, relisted) = futures::channel::mpsc::unbounded::<()>();
    let mut lists = 0u64;
    let secrets = reflector::reflector(
        writer,
        watcher(secret_api, wc.clone())
            .default_backoff()
            .modify(trim_cached_secret),
    )
    .inspect(move |event| {
        if let Ok(watcher::Event::InitDone) = event {
            lists += 1;
            if lists > 1 {
                let _ = relisted_tx.unbounded_send(());
            }
        }
    })
    .touched_objects();
    let ctx = Arc::new(Context::new(
        deps.client.clone(),
        deps.decryptor.clone(),
        deps.metrics.clone(),
        deps.recorder.clone(),
        reader.clone(),
        deps.settings.clone(),
        deps.digest_key.clone(),
    ));
    let keys_changed =
        futures::stream::unfold(deps.decryptor.keyring.subscribe(), |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        });
    let mut stop = shutdown.clone();
    let stop = async move {
        let _ = stop.wait_for(|v| *v).await;
    };
    // The SealedSecret cache keeps what reconciles read: managed fields and kubectl's copy of
    // the whole object (last-applied-configuration) are dropped, which halves its size.
    let (ss_reader, ss_writer) = reflector::store::<SealedSecret>();
    let sealed_secrets = reflector::reflector(
        ss_writer,
        watcher(ss_api, wc)
            .default_backoff()
            .modify(trim_cached_sealed_secret),
    )
    .applied_objects();
    let mut controller = Controller::for_stream(sealed_secrets, ss_reader)
        .with_config(Config::default().concurrency(deps.concurrency))
        .reconcile_all_on(keys_changed)
        .reconcile_all_on(relisted)
        .graceful_shutdown_on(stop);
    // The Secret watch runs on its own task, so the cache fills whatever the controller's
    // queue is doing: reconciles wait for that cache, and a watch polled only through the
    // controller's trigger queue could stall behind them. Secret events reach the controller
    // through a channel (not at all with --skip-recreate).
    let (touched_tx, touched) = futures::channel::mpsc::unbounded::<Secret>();
    let skip_recreate = deps.skip_recreate;
    let drain = tokio::spawn(secrets.for_each(move |event| {
        if let Ok(secret) = event
            && !skip_recreate
        {
            let _ = touched_tx.unbounded_send(secret);
        }
        async {}
    }));
    if !skip_recreate {
        controller =
            controller.watches_stream(touched.map(Ok::<_, watcher::Error>), |secret: Secret| {
                let name = secret.metadata.name?;
                let ns = secret.metadata.namespace?;
                Some(ObjectRef::<SealedSecret>::new(&name).within(&ns))
            });
    }
    // Reconcile only once the Secret cache is filled: in-sync objects then cost nothing.
    let ready = cache_ready(reader.clone());
    let ctx_ready = ctx.clone();
    controller
        .run(
            move |ss, ctx| {
                let ready = ready.clone();
                async move {
                    ready.await;
                    reconcile::reconcile(ss, ctx).await
                }
            },
            reconcile::error_policy,
            ctx_ready,
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(error = %error, "reconcile error");
            }
        })
        .await;
    drain.abort();
    drop(ctx);
}

/// Drops from a cached SealedSecret what no reconcile reads.
fn trim_cached_sealed_secret(ss: &mut SealedSecret) {
    trim_metadata(&mut ss.metadata);
}

/// Keeps the cache small and free of plaintext it does not need: no managed fields, no kubectl
/// last-applied copy (it holds the plaintext of Secrets applied with `kubectl apply`) on any
/// Secret, and no data for Secrets the controller did not write (only those can be found in
/// sync).
fn trim_cached_secret(secret: &mut Secret) {
    trim_metadata(&mut secret.metadata);
    let ours = secret
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(desired::DIGEST_ANNOTATION));
    if !ours {
        scrub(secret);
        secret.data = None;
        secret.string_data = None;
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    use super::*;
    use crate::reconciler::cache::LAST_APPLIED_ANNOTATION;

    #[test]
    fn the_cached_sealed_secret_keeps_its_scope_and_spec_and_drops_kubectl_copies() {
        let mut ss = fixtures::sealed_secret()
            .annotation("sealedsecrets.bitnami.com/namespace-wide", "true")
            .annotation(LAST_APPLIED_ANNOTATION, "{\"whole\": \"object\"}")
            .item("password", "AgB…")
            .build();
        ss.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        let spec = ss.spec.clone();
        trim_cached_sealed_secret(&mut ss);
        assert_eq!(ss.spec, spec);
        assert_eq!(ss.metadata.managed_fields, None);
        let annotations = ss.metadata.annotations.expect("annotations");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            ["sealedsecrets.bitnami.com/namespace-wide"]
        );
    }

    // issue 13: the Secret cache kept every Secret's last-applied-configuration, which holds
    // the plaintext of a Secret applied with `kubectl apply`.
    #[test]
    fn no_cached_secret_keeps_kubectl_last_applied_copy() {
        let secret = |annotations: &[(&str, &str)]| Secret {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("db".into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                ..Default::default()
            },
            data: Some(
                [(
                    "password".to_owned(),
                    k8s_openapi::ByteString(b"hunter2".to_vec()),
                )]
                .into(),
            ),
            ..Secret::default()
        };
        let applied = "{\"stringData\":{\"password\":\"hunter2\"}}";
        // Someone else's Secret: no data, no copy.
        let mut theirs = secret(&[(LAST_APPLIED_ANNOTATION, applied)]);
        trim_cached_secret(&mut theirs);
        assert_eq!(theirs.data, None);
        assert_eq!(theirs.metadata.annotations, None);
        // A Secret the controller wrote (and someone then applied over): data kept, copy not.
        let mut ours = secret(&[
            (LAST_APPLIED_ANNOTATION, applied),
            (desired::DIGEST_ANNOTATION, "hmac-sha256:00"),
        ]);
        trim_cached_secret(&mut ours);
        assert!(ours.data.is_some());
        assert_eq!(ours.metadata.managed_fields, None);
        let annotations = ours.metadata.annotations.expect("annotations");
        assert_eq!(
            annotations.keys().collect::<Vec<_>>(),
            [desired::DIGEST_ANNOTATION]
        );
    }
}
