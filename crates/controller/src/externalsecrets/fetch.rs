//! Fetching an ExternalSecret's values from its stores (external-secrets
//! `pkg/controllers/externalsecret/externalsecret_controller_secret.go`): every `dataFrom`
//! then every `data` entry, through the store's client and rate limit; keys rewritten or
//! converted and values decoded as ESO does. A remote secret that does not exist is an error
//! under `deletionPolicy: Retain` and skipped under `Delete`/`Merge`, never an empty value.
//! A `dataFrom[].sourceRef.generatorRef` runs its generator ([`super::generators`]) on every
//! fetch, as ESO does; its keys are rewritten but not converted.

use std::sync::Arc;

use futures::FutureExt as _;
use kube::runtime::events::EventType;
use sealer::secret::SecretBytes;

use super::Context;
use super::crd::{
    ConversionStrategy, DecodingStrategy, DeletionPolicy, ExternalSecret, NullBytePolicy,
    StoreSourceRef,
};
use super::error::Error;
use super::generators::{self, Password};
use super::providers::{ProviderError, SecretMap};
use super::stores::{self, ResolvedStore};
use super::template;

/// Fetches every `dataFrom` and `data` entry, in ESO's order (dataFrom first, merged in order,
/// then data).
pub(super) async fn fetch(
    es: &ExternalSecret,
    ctx: &Context,
    namespace: &str,
    default_store: Option<&ResolvedStore>,
    deletion: DeletionPolicy,
) -> Result<SecretMap, Error> {
    let mut out = SecretMap::new();
    let store_for = async |source: Option<&StoreSourceRef>| -> Result<ResolvedStore, Error> {
        if let Some(r) = source.and_then(|s| s.store_ref.as_ref()) {
            return stores::resolve(ctx, r, namespace).await;
        }
        default_store
            .cloned()
            .ok_or_else(|| Error::Spec("spec.secretStoreRef is required".into()))
    };
    for (i, from) in es.spec.data_from.iter().enumerate() {
        if let Some(generator) = from
            .source_ref
            .as_ref()
            .and_then(|s| s.generator_ref.as_ref())
        {
            if from.extract.is_some() || from.find.is_some() {
                return Err(Error::Spec(format!(
                    "dataFrom[{i}] must set exactly one of extract, find or sourceRef.generatorRef"
                )));
            }
            let map = generate(ctx, namespace, generator).await?;
            out.extend(shape(map, &from.rewrite, (None, None, None), i, false)?);
            continue;
        }
        let store = store_for(from.source_ref.as_ref()).await?;
        let fetched = match (&from.extract, &from.find) {
            (Some(extract), None) => {
                let r = call(ctx, &store, namespace, |c| {
                    async move { c.get_secret_map(extract).await }.boxed()
                })
                .await;
                let r = missing_ok(r, deletion, ctx, es, &extract.key).await?;
                let Some(map) = r else { continue };
                let strategy = (
                    extract.conversion_strategy,
                    extract.decoding_strategy,
                    extract.null_byte_policy,
                );
                shape(map, &from.rewrite, strategy, i, true)?
            }
            (None, Some(find)) => {
                let map = call(ctx, &store, namespace, |c| {
                    async move { c.get_all_secrets(find).await }.boxed()
                })
                .await?;
                let strategy = (
                    find.conversion_strategy,
                    find.decoding_strategy,
                    find.null_byte_policy,
                );
                shape(map, &from.rewrite, strategy, i, true)?
            }
            _ => {
                return Err(Error::Spec(format!(
                    "dataFrom[{i}] must set exactly one of extract, find or sourceRef.generatorRef"
                )));
            }
        };
        out.extend(fetched);
    }
    for (i, d) in es.spec.data.iter().enumerate() {
        if !valid_key(&d.secret_key) {
            return Err(Error::Spec(format!(
                "data[{i}].secretKey {:?} is not a valid Secret key",
                d.secret_key
            )));
        }
        if d.source_ref
            .as_ref()
            .is_some_and(|s| s.generator_ref.is_some())
        {
            return Err(Error::Spec(format!(
                "data[{i}].sourceRef.generatorRef is not implemented for data[] (ESO neither): use dataFrom[]"
            )));
        }
        let store = store_for(d.source_ref.as_ref()).await?;
        let r = call(ctx, &store, namespace, |c| {
            async move { c.get_secret(&d.remote_ref).await }.boxed()
        })
        .await;
        let Some(value) = missing_ok(r, deletion, ctx, es, &d.remote_ref.key).await? else {
            continue;
        };
        let value = decode(value, d.remote_ref.decoding_strategy, &d.secret_key)?;
        check_nul(&value, d.remote_ref.null_byte_policy, &d.secret_key)?;
        out.insert(d.secret_key.clone(), value);
    }
    Ok(out)
}

/// Runs the generator `reference` names, in the ExternalSecret's namespace.
async fn generate(
    ctx: &Context,
    namespace: &str,
    reference: &super::crd::GeneratorRef,
) -> Result<SecretMap, Error> {
    let wrap = |source| Error::Generator {
        name: reference.name.clone(),
        source,
    };
    generators::check_kind(reference.api_version.as_deref(), &reference.kind).map_err(wrap)?;
    let api: kube::Api<Password> = kube::Api::namespaced(ctx.client.clone(), namespace);
    let password = api
        .get_opt(&reference.name)
        .await
        .map_err(Error::kube(format!(
            "get password {namespace}/{}",
            reference.name
        )))?
        .ok_or_else(|| Error::GeneratorNotFound {
            kind: reference.kind.clone(),
            name: reference.name.clone(),
        })?;
    generators::generate_passwords(&password.spec).map_err(wrap)
}

/// One provider call through the store's client, rate limit and metrics; a failing client is
/// forgotten so the next try logs in again.
async fn call<'f, T, F>(
    ctx: &Context,
    store: &ResolvedStore,
    es_namespace: &str,
    f: F,
) -> Result<T, Error>
where
    F: FnOnce(
        Arc<dyn super::providers::SecretsClient>,
    ) -> futures::future::BoxFuture<'f, Result<T, ProviderError>>,
{
    let provider = super::providers::provider_name(&store.spec.provider).unwrap_or("unknown");
    let wrap = |source| Error::Provider { provider, source };
    let client = ctx
        .clients
        .client(ctx, store, es_namespace)
        .await
        .map_err(wrap)?;
    ctx.clients.throttle(store, ctx.config.store_qps).await;
    ctx.metrics
        .provider_calls
        .get_or_create(&super::metrics::SyncLabels {
            provider: provider.to_owned(),
        })
        .inc();
    let r = f(client).await;
    if let Err(e) = &r
        && e.invalidates_client()
    {
        ctx.clients.invalidate(store, es_namespace);
    }
    r.map_err(wrap)
}

/// A missing remote secret: an error under `Retain`, skipped (with an event) otherwise.
async fn missing_ok<T>(
    r: Result<T, Error>,
    deletion: DeletionPolicy,
    ctx: &Context,
    es: &ExternalSecret,
    key: &str,
) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::Provider {
            source: ProviderError::NotFound { .. },
            ..
        }) if deletion != DeletionPolicy::Retain => {
            ctx.publish(
                es,
                EventType::Normal,
                "MissingProviderSecret",
                format!("secret {key:?} does not exist at the provider"),
            )
            .await;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Rewrites, converts keys (when `convert` and no rewrite is given), decodes values of one
/// `dataFrom` result.
fn shape(
    map: SecretMap,
    rewrites: &[super::crd::ExternalSecretRewrite],
    (conversion, decoding, nul): (
        Option<ConversionStrategy>,
        Option<DecodingStrategy>,
        Option<NullBytePolicy>,
    ),
    index: usize,
    convert: bool,
) -> Result<SecretMap, Error> {
    let mut out = SecretMap::new();
    for (key, value) in map {
        let mut key = key;
        for (j, rw) in rewrites.iter().enumerate() {
            key = match (&rw.regexp, &rw.transform, &rw.merge) {
                (Some(re), None, None) => {
                    let regex = regex::Regex::new(&re.source).map_err(|_| {
                        Error::Spec(format!(
                            "dataFrom[{index}].rewrite[{j}].regexp.source is invalid"
                        ))
                    })?;
                    regex.replace_all(&key, re.target.as_str()).into_owned()
                }
                (None, Some(t), None) => template::rewrite_key(&t.template, &key)?,
                (None, None, Some(_)) => {
                    return Err(Error::Spec(
                        "dataFrom[].rewrite[].merge is not supported by sealkit".into(),
                    ));
                }
                _ => {
                    return Err(Error::Spec(format!(
                        "dataFrom[{index}].rewrite[{j}] must set exactly one operation"
                    )));
                }
            };
        }
        if rewrites.is_empty() && convert {
            key = convert_key(&key, conversion.unwrap_or_default());
        }
        if !valid_key(&key) {
            return Err(Error::Spec(format!(
                "dataFrom[{index}] produced key {key:?}, which is not a valid Secret key"
            )));
        }
        let value = decode(value, decoding, &key)?;
        check_nul(&value, nul, &key)?;
        out.insert(key, value);
    }
    Ok(out)
}

/// A Secret data key: `[-._a-zA-Z0-9]+`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// ESO's key conversion: `Default` replaces each invalid character by `_`, `Unicode` by
/// `_U<4 hex digits>_`.
pub fn convert_key(key: &str, strategy: ConversionStrategy) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c.to_string()
            } else {
                match strategy {
                    ConversionStrategy::Default => "_".into(),
                    ConversionStrategy::Unicode => format!("_U{:04x}_", u32::from(c)),
                }
            }
        })
        .collect()
}

/// Decodes a value as `decodingStrategy` says (`None` when unset); errors name `key`.
pub(super) fn decode(
    value: SecretBytes,
    strategy: Option<DecodingStrategy>,
    key: &str,
) -> Result<SecretBytes, Error> {
    let text = || std::str::from_utf8(value.expose()).unwrap_or("");
    let fail = |what: &str| Error::Spec(format!("value of {key:?} is not {what}"));
    match strategy.unwrap_or_default() {
        DecodingStrategy::None => Ok(value),
        DecodingStrategy::Base64 => sealer::encoding::decode_std(text())
            .map(SecretBytes::new)
            .map_err(|_| fail("base64")),
        DecodingStrategy::Base64Url => sealer::encoding::decode_url_safe(text())
            .map(SecretBytes::new)
            .map_err(|_| fail("base64url")),
        DecodingStrategy::Auto => Ok(sealer::encoding::decode_std(text())
            .or_else(|_| sealer::encoding::decode_url_safe(text()))
            .map(SecretBytes::new)
            .unwrap_or(value)),
    }
}

fn check_nul(value: &SecretBytes, policy: Option<NullBytePolicy>, key: &str) -> Result<(), Error> {
    if policy == Some(NullBytePolicy::Fail) && value.expose().contains(&0) {
        return Err(Error::Spec(format!(
            "value of {key:?} contains a NUL byte and nullBytePolicy is Fail"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_converted_as_eso_converts_them() {
        assert_eq!(
            convert_key("app/db.user", ConversionStrategy::Default),
            "app_db.user"
        );
        assert_eq!(convert_key("a b", ConversionStrategy::Unicode), "a_U0020_b");
        assert!(valid_key("tls.crt"));
        assert!(!valid_key("a/b"));
        assert!(!valid_key(""));
    }

    #[test]
    fn decoding_strategies_decode_or_fail_clearly() {
        let v = |s: &str| SecretBytes::new(s.as_bytes().to_vec());
        assert_eq!(
            decode(v("aGk="), Some(DecodingStrategy::Base64), "k")
                .unwrap()
                .expose(),
            b"hi"
        );
        assert_eq!(
            decode(v("-_8"), Some(DecodingStrategy::Base64Url), "k")
                .unwrap()
                .expose(),
            b"\xfb\xff"
        );
        assert_eq!(
            decode(v("not base64!"), Some(DecodingStrategy::Auto), "k")
                .unwrap()
                .expose(),
            b"not base64!"
        );
        assert_eq!(
            decode(v("%%"), Some(DecodingStrategy::Base64), "k")
                .unwrap_err()
                .to_string(),
            "invalid ExternalSecret: value of \"k\" is not base64"
        );
    }
}
