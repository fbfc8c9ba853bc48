//! `target.template`: the Secret's data, labels and annotations rendered from the fetched values
//! with `sealer::template` (`.` = key → value, `{{ .password }}`, `{{ index . "tls.crt" }}`,
//! pipelines with `b64enc`, `b64dec`, `toJson`, `fromJson`, `upper`, `lower`, `trim`, …; no access
//! to the environment, files or the network). All the templates of one ExternalSecret share one
//! template budget (`sealer::template::Limits`): one hostile object fails alone.

use std::collections::BTreeMap;

use sealer::secret::SecretBytes;
use sealer::template::{Budget, Data, Limits, Template};

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
    let data = Data::new(values);
    let mut budget = Budget::new(Limits::default());
    let mut out = Rendered::default();
    for (key, src) in &template.data {
        out.data.insert(
            key.clone(),
            render_one(&format!("data[{key:?}]"), src, &data, &mut budget)?,
        );
    }
    if let Some(meta) = &template.metadata {
        for (key, src) in &meta.labels {
            let what = format!("metadata.labels[{key:?}]");
            let v = render_one(&what, src, &data, &mut budget)?;
            out.labels.insert(key.clone(), text(v, key)?);
        }
        for (key, src) in &meta.annotations {
            let what = format!("metadata.annotations[{key:?}]");
            let v = render_one(&what, src, &data, &mut budget)?;
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
    let mut budget = Budget::new(Limits::default());
    let out = render_one("rewrite.transform", src, &Data::new(&values), &mut budget)?;
    text(out, key)
}

fn text(v: SecretBytes, key: &str) -> Result<String, Error> {
    String::from_utf8(v.expose().to_vec())
        .map_err(|_| Error::Spec(format!("template for {key:?} did not render UTF-8 text")))
}

fn render_one(
    what: &str,
    src: &str,
    data: &Data,
    budget: &mut Budget,
) -> Result<SecretBytes, Error> {
    let wrap = |source| Error::Template {
        what: what.to_owned(),
        source,
    };
    Template::parse(src)
        .map_err(wrap)?
        .execute(data, budget)
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

    // issue 13: a template that attacks the renderer (a huge printf width, a range over 10^11,
    // 5,000 nested ifs) fails its own ExternalSecret with a budget error, on the 2 MiB stack
    // of an ordinary thread, and the next ExternalSecret renders.
    #[test]
    fn a_hostile_template_fails_its_object_and_the_next_one_renders() {
        let results = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let data = values(&[("user", "app"), ("password", "pw")]);
                let good = ExternalSecretTemplate {
                    data: [("dsn".to_owned(), "{{ .user }}:{{ .password }}".to_owned())].into(),
                    ..Default::default()
                };
                let attacks = [
                    r#"{{ printf "%10000000d" 1 }}"#.to_owned(),
                    "{{ range 100000000000 }}{{ end }}".to_owned(),
                    "{{ if 1 }}".repeat(5_000) + &"{{ end }}".repeat(5_000),
                    "{{ $x := list }}{{ range 100000 }}{{ $x = list $x }}{{ end }}".to_owned(),
                ];
                attacks
                    .into_iter()
                    .map(|attack| {
                        let bad = ExternalSecretTemplate {
                            data: [("dsn".to_owned(), attack)].into(),
                            ..Default::default()
                        };
                        let failed = render(&bad, &data).map(|_| ()).map_err(|e| e.chain());
                        let next = render(&good, &data).map(|r| r.data["dsn"].expose().to_vec());
                        (failed, next.map_err(|e| e.chain()))
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap()
            .join()
            .unwrap();
        for (failed, next) in results {
            let err = failed.unwrap_err();
            assert!(err.starts_with("template data[\"dsn\"] failed"), "{err}");
            assert!(err.contains(" exceeds the "), "{err}");
            assert_eq!(next.unwrap(), b"app:pw");
        }
    }

    #[test]
    fn transform_rewrites_keys() {
        assert_eq!(
            rewrite_key("{{ .value | upper }}", "db_user").unwrap(),
            "DB_USER"
        );
    }
}
