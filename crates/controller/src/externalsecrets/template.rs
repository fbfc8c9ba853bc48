//! `target.template`: the Secret's data, labels and annotations rendered from the fetched values
//! with `sealer::template` (`.` = key → value, `{{ .password }}`, `{{ index . "tls.crt" }}`,
//! pipelines with `b64enc`, `b64dec`, `toJson`, `fromJson`, `upper`, `lower`, `trim`, …; no access
//! to the environment, files or the network).

use std::collections::BTreeMap;

use sealer::secret::SecretBytes;
use sealer::template::Template;

use super::crd::ExternalSecretTemplate;
use super::error::Error;
use super::providers::SecretMap;

/// What a template produced (values print as `[REDACTED]`).
#[derive(Default, Debug)]
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
    let wrap = |source| Error::Template {
        what: what.to_owned(),
        source,
    };
    Template::parse(src)
        .map_err(wrap)?
        .render(values)
        .map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::externalsecrets::crd::TemplateMetadata;

    fn values(pairs: &[(&str, &str)]) -> SecretMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretBytes::new(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn data_labels_and_annotations_render_over_the_fetched_values() {
        let t = ExternalSecretTemplate {
            data: [(
                "dsn".to_owned(),
                "postgres://{{ .user }}:{{ .password | b64enc }}@db".to_owned(),
            )]
            .into(),
            metadata: Some(TemplateMetadata {
                labels: [("owner".to_owned(), "{{ .user | upper }}".to_owned())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = render(&t, &values(&[("user", "app"), ("password", "pw")])).unwrap();
        assert_eq!(r.data["dsn"].expose(), b"postgres://app:cHc=@db");
        assert_eq!(r.labels["owner"], "APP");
    }

    #[test]
    fn a_missing_key_fails_and_names_the_template_not_the_values() {
        let t = ExternalSecretTemplate {
            data: [("x".to_owned(), "{{ .nope }}".to_owned())].into(),
            ..Default::default()
        };
        let e = render(&t, &values(&[("user", "s3cret-value")])).unwrap_err();
        let text = e.chain();
        assert!(text.starts_with("template data[\"x\"] failed"), "{text}");
        assert!(!text.contains("s3cret-value"));
    }

    #[test]
    fn transform_rewrites_keys() {
        assert_eq!(
            rewrite_key("{{ .value | upper }}", "db_user").unwrap(),
            "DB_USER"
        );
    }
}
