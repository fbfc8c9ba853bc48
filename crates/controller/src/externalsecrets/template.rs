//! `target.template`: the Secret's data, labels and annotations rendered from the fetched values
//! with `sealer::template` (`.` = key → value, `{{ .password }}`, `{{ index . "tls.crt" }}`,
//! pipelines with `b64enc`, `b64dec`, `toJson`, `fromJson`, `upper`, `lower`, `trim`, …; no access
//! to the environment, files or the network).

use std::collections::BTreeMap;

use sealer::secret::SecretBytes;

use super::crd::ExternalSecretTemplate;
use super::error::Error;
use super::providers::SecretMap;

/// What a template produced.
#[derive(Default)]
pub struct Rendered {
    /// Secret data from `template.data`.
    pub data: SecretMap,
    /// Labels from `template.metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Annotations from `template.metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// Renders every template of `template` over `values`.
pub fn render(template: &ExternalSecretTemplate, values: &SecretMap) -> Result<Rendered, Error> {
    if !template.template_from.is_empty() {
        return Err(Error::Spec(
            "target.template.templateFrom is not supported by sealkit".into(),
        ));
    }
    if let Some(v) = template.engine_version.as_deref()
        && v != "v2"
    {
        return Err(Error::Spec(format!(
            "target.template.engineVersion {v:?} is not supported (only v2)"
        )));
    }
    let mut out = Rendered::default();
    for (key, src) in &template.data {
        out.data.insert(
            key.clone(),
            render_one(&format!("data[{key:?}]"), src, values)?,
        );
    }
    if let Some(meta) = &template.metadata {
        for (key, src) in &meta.labels {
            let v = render_one(&format!("metadata.labels[{key:?}]"), src, values)?;
            out.labels.insert(key.clone(), text(v, key)?);
        }
        for (key, src) in &meta.annotations {
            let v = render_one(&format!("metadata.annotations[{key:?}]"), src, values)?;
            out.annotations.insert(key.clone(), text(v, key)?);
        }
    }
    Ok(out)
}

/// `rewrite[].transform`: the key rendered with `.value` = the key.
pub fn rewrite_key(src: &str, key: &str) -> Result<String, Error> {
    let values: SecretMap = [(
        "value".to_owned(),
        SecretBytes::new(key.as_bytes().to_vec()),
    )]
    .into();
    let out = render_one("rewrite.transform", src, &values)?;
    text(out, key)
}

fn text(v: SecretBytes, key: &str) -> Result<String, Error> {
    String::from_utf8(v.expose().to_vec())
        .map_err(|_| Error::Spec(format!("template for {key:?} did not render UTF-8 text")))
}

fn render_one(what: &str, src: &str, values: &SecretMap) -> Result<SecretBytes, Error> {
    let _ = (src, values);
    Err(Error::Spec(format!(
        "template {what}: waiting for sealer::template"
    )))
}
