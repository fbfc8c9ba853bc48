//! `target.template`: the Secret's data, labels and annotations rendered from the fetched values
//! with `sealer::template` (`.` = key → value, `{{ .password }}`, `{{ index . "tls.crt" }}`,
//! pipelines with `b64enc`, `b64dec`, `toJson`, `fromJson`, `upper`, `lower`, `trim`, …; no access
//! to the environment, files or the network). All the templates of one ExternalSecret share one
//! template budget (`sealer::template::Limits`): one hostile object fails alone.
//!
//! `templateFrom` (external-secrets `pkg/controllers/templating/parser.go`,
//! `runtime/template/v2/template.go`) adds templates kept in ConfigMaps and Secrets of the
//! ExternalSecret's own namespace ([`TemplateSources::load`], nowhere else: there is no namespace
//! field), or written inline (`literal`). Entries apply in order (each entry's `configMap`, then
//! `secret`, then `literal`), then `template.data` and the metadata templates, which win. An item
//! with `templateAs: Values` (the default) renders its value into the output of its key; one with
//! `KeysAndValues`, and every `literal`, renders one text that must be a YAML map of keys to
//! values (read with `sealer::yaml`'s budgets). `target` says where the outputs go: `Data`
//! (default), `Annotations` or `Labels`, in any case.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use sealer::secret::SecretBytes;
use sealer::template::{Budget, Data, Limits, Template};

use super::crd::{DecodingStrategy, ExternalSecretTemplate, TemplateFrom, TemplateScope};
use super::error::Error;
use super::fetch::decode;
use super::providers::SecretMap;
use crate::reconciler::cache::scrub;

/// What a template produced (values print as `[REDACTED]`).
#[derive(Default, Debug)]
pub struct Rendered {
    /// Secret data from `templateFrom` and `template.data`.
    pub data: SecretMap,
    /// Labels from `templateFrom` and `template.metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Annotations from `templateFrom` and `template.metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// The template texts `templateFrom` names, read from the ExternalSecret's namespace: only the
/// keys its items list.
#[derive(Default, Debug)]
pub struct TemplateSources {
    config_maps: BTreeMap<String, BTreeMap<String, String>>,
    secrets: BTreeMap<String, BTreeMap<String, SecretBytes>>,
}

impl TemplateSources {
    /// Reads the ConfigMaps and Secrets `template.templateFrom` names, in `namespace` (the
    /// ExternalSecret's); a missing object is an error, a missing key is one when rendering.
    pub async fn load(
        client: &Client,
        namespace: &str,
        template: Option<&ExternalSecretTemplate>,
    ) -> Result<Self, Error> {
        let mut out = Self::default();
        let Some(template) = template else {
            return Ok(out);
        };
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        for from in &template.template_from {
            if let Some(r) = &from.config_map
                && !out.config_maps.contains_key(&r.name)
            {
                let cm = config_maps
                    .get_opt(&r.name)
                    .await
                    .map_err(Error::kube(format!("get configmap {namespace}/{}", r.name)))?
                    .ok_or_else(|| {
                        Error::Spec(format!("error in configmap {}: not found", r.name))
                    })?;
                let mut data = cm.data.unwrap_or_default();
                data.retain(|k, _| wanted(template, |f| f.config_map.as_ref(), &r.name, k));
                out.config_maps.insert(r.name.clone(), data);
            }
            if let Some(r) = &from.secret
                && !out.secrets.contains_key(&r.name)
            {
                let mut secret = secrets
                    .get_opt(&r.name)
                    .await
                    .map_err(Error::kube(format!("get secret {namespace}/{}", r.name)))?
                    .ok_or_else(|| Error::Spec(format!("error in secret {}: not found", r.name)))?;
                let data = secret
                    .data
                    .iter()
                    .flatten()
                    .filter(|(k, _)| wanted(template, |f| f.secret.as_ref(), &r.name, k))
                    .map(|(k, v)| (k.clone(), SecretBytes::new(v.0.clone())))
                    .collect();
                scrub(&mut secret);
                out.secrets.insert(r.name.clone(), data);
            }
        }
        Ok(out)
    }
}

/// Whether some item of `template` names key `key` of object `name` (of the kind `pick` picks).
fn wanted(
    template: &ExternalSecretTemplate,
    pick: impl Fn(&TemplateFrom) -> Option<&super::crd::TemplateRef>,
    name: &str,
    key: &str,
) -> bool {
    template
        .template_from
        .iter()
        .filter_map(pick)
        .filter(|r| r.name == name)
        .any(|r| r.items.iter().any(|i| i.key == key))
}

/// Where `templateFrom` outputs go.
#[derive(Clone, Copy)]
enum Target {
    Data,
    Annotations,
    Labels,
}

/// Renders every template of `template` over `values`, with `sources` for `templateFrom`.
pub fn render(
    template: &ExternalSecretTemplate,
    values: &SecretMap,
    sources: &TemplateSources,
) -> Result<Rendered, Error> {
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
    for (i, from) in template.template_from.iter().enumerate() {
        render_from(i, from, sources, &data, &mut budget, &mut out)?;
    }
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

/// One `templateFrom[i]` entry: its `configMap`, `secret` and `literal`, in that order.
fn render_from(
    i: usize,
    from: &TemplateFrom,
    sources: &TemplateSources,
    data: &Data,
    budget: &mut Budget,
    out: &mut Rendered,
) -> Result<(), Error> {
    let target = match from
        .target
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("data") => Target::Data,
        Some("annotations") => Target::Annotations,
        Some("labels") => Target::Labels,
        Some(_) => {
            return Err(Error::Spec(format!(
                "templateFrom[{i}].target {:?} applies only to generic targets (target.manifest), which sealkit does not support: use Data, Annotations or Labels",
                from.target.as_deref().unwrap_or_default()
            )));
        }
    };
    let decoding = from.values_decoding_strategy;
    if let Some(r) = &from.config_map {
        for item in &r.items {
            let src = sources
                .config_maps
                .get(&r.name)
                .and_then(|m| m.get(&item.key))
                .ok_or_else(|| {
                    Error::Spec(format!(
                        "error in configmap {}: missing key {}",
                        r.name, item.key
                    ))
                })?;
            let what = format!(
                "templateFrom[{i}].configMap {:?} key {:?}",
                r.name, item.key
            );
            apply(
                &what,
                &item.key,
                src,
                item.template_as,
                target,
                decoding,
                data,
                budget,
                out,
            )?;
        }
    }
    if let Some(r) = &from.secret {
        for item in &r.items {
            let src = sources
                .secrets
                .get(&r.name)
                .and_then(|m| m.get(&item.key))
                .ok_or_else(|| {
                    Error::Spec(format!(
                        "error in secret {}: missing key {}",
                        r.name, item.key
                    ))
                })?;
            let src = std::str::from_utf8(src.expose()).map_err(|_| {
                Error::Spec(format!(
                    "error in secret {}: key {} is not a UTF-8 template",
                    r.name, item.key
                ))
            })?;
            let what = format!("templateFrom[{i}].secret {:?} key {:?}", r.name, item.key);
            apply(
                &what,
                &item.key,
                src,
                item.template_as,
                target,
                decoding,
                data,
                budget,
                out,
            )?;
        }
    }
    if let Some(src) = &from.literal {
        let what = format!("templateFrom[{i}].literal");
        let scope = Some(TemplateScope::KeysAndValues);
        apply(&what, "", src, scope, target, decoding, data, budget, out)?;
    }
    Ok(())
}

/// Renders one template text and puts its output(s) in `target`.
#[allow(clippy::too_many_arguments)]
fn apply(
    what: &str,
    key: &str,
    src: &str,
    scope: Option<TemplateScope>,
    target: Target,
    decoding: Option<DecodingStrategy>,
    data: &Data,
    budget: &mut Budget,
    out: &mut Rendered,
) -> Result<(), Error> {
    let rendered = render_one(what, src, data, budget)?;
    let outputs: Vec<(String, SecretBytes)> = match scope.unwrap_or_default() {
        TemplateScope::Values => vec![(key.to_owned(), rendered)],
        TemplateScope::KeysAndValues => {
            // The rendered text holds secret values: a parse error must not quote it.
            let not_a_map = || {
                Error::Spec(format!(
                    "template {what} did not render a YAML map of keys to string values"
                ))
            };
            let text = std::str::from_utf8(rendered.expose()).map_err(|_| not_a_map())?;
            let map: Option<BTreeMap<String, String>> =
                sealer::yaml::from_str(text).map_err(|_| not_a_map())?;
            map.unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, SecretBytes::new(v.into_bytes())))
                .collect()
        }
    };
    for (k, v) in outputs {
        let v = decode(v, decoding, &k)?;
        match target {
            Target::Data => {
                out.data.insert(k, v);
            }
            Target::Annotations => {
                let v = text(v, &k)?;
                out.annotations.insert(k, v);
            }
            Target::Labels => {
                let v = text(v, &k)?;
                out.labels.insert(k, v);
            }
        }
    }
    Ok(())
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
        let r = render(
            &t,
            &values(&[("user", "app"), ("password", "pw")]),
            &TemplateSources::default(),
        )
        .unwrap();
        assert_eq!(r.data["dsn"].expose(), b"postgres://app:cHc=@db");
        assert_eq!(r.labels["owner"], "APP");
    }

    #[test]
    fn a_missing_key_fails_and_names_the_template_not_the_values() {
        let t = ExternalSecretTemplate {
            data: [("x".to_owned(), "{{ .nope }}".to_owned())].into(),
            ..Default::default()
        };
        let e = render(
            &t,
            &values(&[("user", "s3cret-value")]),
            &TemplateSources::default(),
        )
        .unwrap_err();
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
                        let failed = render(&bad, &data, &TemplateSources::default())
                            .map(|_| ())
                            .map_err(|e| e.chain());
                        let next = render(&good, &data, &TemplateSources::default())
                            .map(|r| r.data["dsn"].expose().to_vec());
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

    fn sources() -> TemplateSources {
        TemplateSources {
            config_maps: [(
                "tpl".to_owned(),
                [
                    ("config.yml".to_owned(), "user: {{ .user }}".to_owned()),
                    (
                        "env".to_owned(),
                        "DB_USER: {{ .user }}\nDB_PASS: {{ .password }}".to_owned(),
                    ),
                    ("team".to_owned(), "{{ .user | upper }}".to_owned()),
                ]
                .into(),
            )]
            .into(),
            secrets: [(
                "tpl-secret".to_owned(),
                [(
                    "dsn".to_owned(),
                    SecretBytes::new(b"postgres://{{ .user }}:{{ .password }}@db".to_vec()),
                )]
                .into(),
            )]
            .into(),
        }
    }

    fn from(json: serde_json::Value) -> ExternalSecretTemplate {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn template_from_renders_configmap_secret_and_literal_templates_in_order() {
        let t = from(serde_json::json!({
            "templateFrom": [
                {"configMap": {"name": "tpl", "items": [
                    {"key": "config.yml"},
                    {"key": "env", "templateAs": "KeysAndValues"},
                ]}},
                {"secret": {"name": "tpl-secret", "items": [{"key": "dsn", "templateAs": "Values"}]}},
                {"target": "labels", "configMap": {"name": "tpl", "items": [{"key": "team"}]}},
                {"target": "Annotations", "literal": "note: \"for {{ .user }}\"\nconfig.yml: ignored"},
                {"literal": "config.yml: overridden by data", "target": "Data"},
            ],
            "data": {"config.yml": "final {{ .user }}"},
        }));
        let r = render(
            &t,
            &values(&[("user", "app"), ("password", "pw")]),
            &sources(),
        )
        .unwrap();
        let data: BTreeMap<&str, &[u8]> = r
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(
            data,
            BTreeMap::from([
                ("DB_PASS", &b"pw"[..]),
                ("DB_USER", b"app"),
                ("config.yml", b"final app"),
                ("dsn", b"postgres://app:pw@db"),
            ])
        );
        assert_eq!(
            r.labels,
            BTreeMap::from([("team".to_owned(), "APP".to_owned())])
        );
        assert_eq!(
            r.annotations,
            BTreeMap::from([
                ("config.yml".to_owned(), "ignored".to_owned()),
                ("note".to_owned(), "for app".to_owned()),
            ])
        );
    }

    #[test]
    fn template_from_values_can_be_decoded() {
        let t = from(serde_json::json!({"templateFrom": [{
            "literal": "bin: {{ .password | b64enc }}",
            "valuesDecodingStrategy": "Base64",
        }]}));
        let r = render(&t, &values(&[("password", "pw")]), &sources()).unwrap();
        assert_eq!(r.data["bin"].expose(), b"pw");
    }

    #[test]
    fn template_from_errors_name_the_source_and_never_the_values() {
        let v = values(&[("user", "app"), ("password", "s3cret-value")]);
        let err =
            |json: serde_json::Value| render(&from(json), &v, &sources()).unwrap_err().chain();
        assert_eq!(
            err(
                serde_json::json!({"templateFrom": [{"configMap": {"name": "tpl", "items": [{"key": "nope"}]}}]})
            ),
            "invalid ExternalSecret: error in configmap tpl: missing key nope"
        );
        assert_eq!(
            err(
                serde_json::json!({"templateFrom": [{"secret": {"name": "other", "items": [{"key": "dsn"}]}}]})
            ),
            "invalid ExternalSecret: error in secret other: missing key dsn"
        );
        let not_a_map =
            err(serde_json::json!({"templateFrom": [{"literal": "- {{ .password }}"}]}));
        assert_eq!(
            not_a_map,
            "invalid ExternalSecret: template templateFrom[0].literal did not render a YAML map of keys to string values"
        );
        let nested =
            err(serde_json::json!({"templateFrom": [{"literal": "a: {b: '{{ .password }}'}"}]}));
        assert!(!nested.contains("s3cret-value"), "{nested}");
        let target =
            err(serde_json::json!({"templateFrom": [{"target": "spec.data", "literal": "a: b"}]}));
        assert!(
            target.contains("applies only to generic targets"),
            "{target}"
        );
        let missing = err(serde_json::json!({"templateFrom": [{"literal": "a: {{ .nope }}"}]}));
        assert!(
            missing.starts_with("template templateFrom[0].literal failed"),
            "{missing}"
        );
    }

    // issue 16: templateFrom items draw on the ExternalSecret's one template budget (forty
    // items of 1 MiB each cannot each spend a full one), and a KeysAndValues text that expands
    // YAML aliases is refused by the YAML reader's budgets, without quoting it.
    #[test]
    fn template_from_items_share_one_budget_and_yaml_aliases_are_bounded() {
        let v = values(&[("password", "s3cret-value")]);
        let items: Vec<serde_json::Value> = (0..40)
            .map(|i| serde_json::json!({"literal": format!("k{i}: \"{{{{ printf \"%1000000d\" 1 }}}}\"")}))
            .collect();
        let one = render(
            &from(serde_json::json!({"templateFrom": [items[0].clone()]})),
            &v,
            &sources(),
        )
        .unwrap();
        assert_eq!(one.data["k0"].expose().len(), 1_000_000);
        let err = render(
            &from(serde_json::json!({"templateFrom": items})),
            &v,
            &sources(),
        )
        .unwrap_err()
        .chain();
        assert!(err.contains(" exceeds the "), "{err}");

        let mut bomb = String::from(
            "a: &a [\"{{ .password }}\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\", \"x\"]\n",
        );
        for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            bomb.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            ));
        }
        let err = render(
            &from(serde_json::json!({"templateFrom": [{"literal": bomb}]})),
            &v,
            &sources(),
        )
        .unwrap_err()
        .chain();
        assert_eq!(
            err,
            "invalid ExternalSecret: template templateFrom[0].literal did not render a YAML map of keys to string values"
        );
    }

    #[test]
    fn transform_rewrites_keys() {
        assert_eq!(
            rewrite_key("{{ .value | upper }}", "db_user").unwrap(),
            "DB_USER"
        );
    }
}
