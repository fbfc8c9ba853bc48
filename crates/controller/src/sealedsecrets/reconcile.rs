//! One SealedSecret → its Secret, idempotently; failures go through one [`error_policy`].

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource as _, ResourceExt as _};
use sealer::sealed::SealedSecret;
use tracing::{Span, field, info, instrument, warn};

use super::context::Context;
use super::desired::{self, Ownership};
use super::status::{self, Outcome};
use crate::error::{Error, Result};
use crate::reconciler::cache::scrub;
use crate::reconciler::retry::backoff;
use crate::reconciler::{events, status::now_rfc3339, status::patch_status};

/// What a successful reconcile did, and the fingerprints of the keys the SealedSecret needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    /// The Secret was already right: nothing decrypted (the keys are those its keyed digest
    /// vouches for).
    InSync(Vec<String>),
    /// The Secret was created or updated with the keys that opened the items.
    Written(Vec<String>),
}

fn fingerprints(used: &[crate::keyring::KeyUse]) -> Vec<String> {
    used.iter().map(|k| k.fingerprint.clone()).collect()
}

/// What to record in `status.sealingKeys` after a reconcile: the keys that opened it, none
/// when no key opened any item, and nothing new when it is not known.
fn sealing_keys(result: &Result<Synced>, ss: &SealedSecret) -> Option<Vec<String>> {
    match result {
        Ok(Synced::InSync(keys) | Synced::Written(keys)) => Some(keys.clone()),
        Err(Error::Unseal(e)) => {
            let none_opened = match e {
                sealer::sealed::ConvertError::Items(items) => {
                    ss.spec.data.is_none() && items.len() == ss.spec.encrypted_data.len()
                }
                sealer::sealed::ConvertError::Invalid(sealer::sealed::Error::DecryptionFailed) => {
                    true
                }
                _ => false,
            };
            none_opened.then(Vec::new)
        }
        Err(_) => None,
    }
}

/// Reconciles one SealedSecret: writes its Secret, its status and an Event.
#[instrument(skip(ss, ctx), fields(namespace = field::Empty, name = field::Empty))]
pub async fn reconcile(ss: Arc<SealedSecret>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer();
    let name = ss
        .metadata
        .name
        .clone()
        .ok_or(Error::MissingObjectKey("metadata.name"))?;
    let namespace = ss
        .metadata
        .namespace
        .clone()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    Span::current().record("namespace", namespace.as_str());
    Span::current().record("name", name.as_str());
    if ss.metadata.deletion_timestamp.is_some() {
        // The Secret goes with it through garbage collection.
        return Ok(Action::await_change());
    }

    let result = sync(&ss, &ctx, &namespace, &name).await;
    let outcome = match &result {
        Ok(_) => Outcome::synced(),
        Err(e @ Error::Unseal(_)) => Outcome::failed("ErrUnsealFailed", e.chain()),
        Err(e) => Outcome::failed("ErrUpdateFailed", e.chain()),
    };
    match &result {
        Ok(Synced::Written(_)) => {
            ctx.clear_failures(&namespace, &name);
            info!(%namespace, %name, "unsealed");
            publish(
                &ctx,
                &ss,
                EventType::Normal,
                "Unsealed",
                "SealedSecret unsealed successfully".into(),
            )
            .await;
        }
        Ok(Synced::InSync(_)) => ctx.clear_failures(&namespace, &name),
        Err(e) => {
            ctx.metrics.count_error(e.metric_label(), &namespace);
            warn!(%namespace, %name, error = %e.chain(), "reconcile failed");
            let note = match e {
                Error::Unseal(_) => format!("Failed to unseal: {}", e.chain()),
                _ => e.chain(),
            };
            publish(&ctx, &ss, EventType::Warning, outcome.reason, note).await;
        }
    }
    let status_result = if ctx.settings.update_status {
        let keys = sealing_keys(&result, &ss);
        write_status(&ss, &ctx, &namespace, &name, &outcome, keys).await
    } else {
        Ok(())
    };
    result?;
    status_result?;
    Ok(Action::await_change())
}

async fn sync(ss: &SealedSecret, ctx: &Context, namespace: &str, name: &str) -> Result<Synced> {
    let shape = desired::shape(ss)?;
    let keys = ctx.decryptor.keyring.snapshot();
    let key_state = |fingerprint: &str| {
        keys.iter()
            .find(|k| k.fingerprint == fingerprint)
            .map(|k| k.compromised)
    };
    let cached = ctx
        .secrets
        .get(&ObjectRef::<Secret>::new(name).within(namespace));
    let digest_key = ctx.digest_key.as_ref();
    if let Some(used) =
        cached.and_then(|s| desired::keys_if_in_sync(&s, ss, &shape, &key_state, digest_key))
    {
        ctx.metrics.unseal_skipped.inc();
        return Ok(Synced::InSync(fingerprints(&used)));
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut existing = api
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("get secret {namespace}/{name}")))?;
    let in_sync = existing
        .as_ref()
        .and_then(|s| desired::keys_if_in_sync(s, ss, &shape, &key_state, digest_key));
    let own = existing.as_ref().map(|e| desired::ownership(e, ss));
    if in_sync.is_some() || own == Some(Ownership::Foreign) {
        if let Some(s) = existing.as_mut() {
            scrub(s);
        }
        if let Some(used) = in_sync {
            ctx.metrics.unseal_skipped.inc();
            return Ok(Synced::InSync(fingerprints(&used)));
        }
        return Err(Error::Unmanaged {
            name: name.to_owned(),
        });
    }
    if ss.spec.data.is_some() && !ctx.settings.accept_deprecated_v1_data {
        return Err(Error::Config(
            "spec.data (deprecated v1 format) is refused: --accept-deprecated-v1-data=false".into(),
        ));
    }

    ctx.metrics.unseal_requests.inc();
    let (unsealed, used) = ctx
        .decryptor
        .unseal_reporting_keys(desired::sealer_meta(ss), ss.spec.clone())
        .await?;
    for key in used.iter().filter(|k| k.compromised) {
        warn!(%namespace, %name, fingerprint = %key.fingerprint, "unsealed with a key marked compromised: re-seal it (seal --re-encrypt)");
    }
    let mut secret = desired::build(&shape, unsealed, &used, digest_key)?;
    let result = match (existing, own) {
        (None, _) => api
            .create(&PostParams::default(), &secret)
            .await
            .map(|mut s| scrub(&mut s))
            .map_err(Error::kube(format!("create secret {namespace}/{name}"))),
        (Some(mut existing), Some(own)) => {
            let next = desired::update(&existing, &secret, own);
            scrub(&mut existing);
            match next {
                Ok(Some(mut next)) => {
                    let r = api
                        .replace(name, &PostParams::default(), &next)
                        .await
                        .map(|mut s| scrub(&mut s))
                        .map_err(Error::kube(format!("update secret {namespace}/{name}")));
                    scrub(&mut next);
                    r
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
        }
        (Some(_), None) => Ok(()),
    };
    scrub(&mut secret);
    result.map(|()| Synced::Written(fingerprints(&used)))
}

async fn write_status(
    ss: &SealedSecret,
    ctx: &Context,
    namespace: &str,
    name: &str,
    outcome: &Outcome,
    sealing_keys: Option<Vec<String>>,
) -> Result<()> {
    let Some(next) = status::next_status(
        ss.status.as_ref(),
        ss.metadata.generation,
        outcome,
        sealing_keys,
        &now_rfc3339(),
    ) else {
        return Ok(());
    };
    patch_status::<SealedSecret>(&ctx.client, namespace, name, &next).await?;
    Ok(())
}

async fn publish(ctx: &Context, ss: &SealedSecret, type_: EventType, reason: &str, note: String) {
    events::publish(
        &ctx.recorder,
        &ss.object_ref(&()),
        type_,
        "Unseal",
        reason,
        note,
    )
    .await;
}

/// Requeue policy: API errors retry with capped exponential backoff for ever; failures that
/// only a change can fix (decryption, immutable Secret) retry `--max-unseal-retries` times,
/// then wait for the SealedSecret, its Secret or the keys to change.
pub fn error_policy(ss: Arc<SealedSecret>, error: &Error, ctx: Arc<Context>) -> Action {
    let namespace = ss.namespace().unwrap_or_default();
    let name = ss.name_any();
    let n = ctx.record_failure(&namespace, &name);
    if (error.is_permanent() || matches!(error, Error::Unmanaged { .. }))
        && n >= ctx.settings.max_unseal_retries
    {
        warn!(%namespace, %name, attempts = n, "giving up until the object or the keys change");
        return Action::await_change();
    }
    Action::requeue(backoff(n))
}
