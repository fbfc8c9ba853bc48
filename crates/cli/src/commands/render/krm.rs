//! The KRM function protocol (kustomize `cmd/config/docs/api-conventions/functions-spec.md`):
//! a `ResourceList` on stdin, a `ResourceList` on stdout.
//!
//! Generators are taken from `items` (kustomize passes a generator there as well as in
//! `functionConfig`, and KSOPS reads `items`) and from `functionConfig` (kpt's
//! `--fn-config`) when it is not already among the items. Items that are not generators pass
//! through untouched; the generated objects follow them.
//!
//! On failure the output holds the input items unchanged (no plaintext) and one `results`
//! entry per failure with `severity: error`, the generator in `resourceRef` and the file in
//! `file.path`; the caller exits non-zero.

use std::path::Path;

use anyhow::Context as _;
use sealer::krm::{Error as KrmError, ResourceList};
use sealer::sops::master_keys::Unwrappers;
use sealer::yaml::StreamFormat;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::generator::{Generator, RenderError, Settings, is_generator};
use crate::printer::Printer;

/// The output of one function run.
pub struct Outcome {
    /// The serialized `ResourceList` (holds plaintext in `secret` output mode).
    pub text: Zeroizing<String>,
    /// Whether every generator succeeded.
    pub ok: bool,
}

/// Processes a serialized `ResourceList`.
pub fn process(
    input: &str,
    base: &Path,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let list = ResourceList::parse(input).map_err(|e| match e {
        KrmError::NotResourceList { kind } => anyhow::anyhow!(
            "stdin is not a KRM ResourceList (kind: {kind}); give a generator file to use the \
             legacy exec-plugin mode"
        ),
        other => anyhow::Error::new(other).context("reading the ResourceList"),
    })?;
    let ResourceList {
        format,
        api_version,
        items,
        function_config,
    } = list;
    let function_config = function_config.as_ref();

    let mut generators: Vec<&Value> = items.iter().filter(|i| is_generator(i)).collect();
    if let Some(config) = function_config.filter(|c| is_generator(c))
        && !generators.iter().any(|g| same_object(g, config))
    {
        generators.push(config);
    }

    let mut results = Vec::new();
    let mut generated = Vec::new();
    if generators.is_empty() {
        const NO_GENERATOR: &str = "no generator: functionConfig or items must hold a \
             `viaduct.ai/v1` `ksops` or a `sealkit.dev/v1alpha1` `SecretGenerator`";
        // The result is for the orchestrator; the person running it reads stderr.
        printer.error(NO_GENERATOR);
        results.push(result(NO_GENERATOR, None, None));
    }
    let keys = Unwrappers::from_process_env();
    for object in &generators {
        let outcome =
            Generator::from_object(object).and_then(|g| g.generate(base, settings, &keys, printer));
        match outcome {
            Ok(objects) => generated.extend(objects),
            Err(error) => {
                printer.error(&error.to_string());
                results.push(result(&error.to_string(), Some(object), error_file(&error)));
            }
        }
    }

    let ok = results.is_empty();
    let out_items: Vec<Value> = if ok {
        items
            .into_iter()
            .filter(|i| !is_generator(i))
            .chain(generated)
            .collect()
    } else {
        drop(generated);
        items
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("ResourceList"));
    out.insert("items".into(), Value::Array(out_items));
    if !results.is_empty() {
        out.insert("results".into(), Value::Array(results));
    }
    let out = Value::Object(out);
    let text = match format {
        StreamFormat::Json => {
            serde_json::to_string_pretty(&out).context("writing the ResourceList")? + "\n"
        }
        StreamFormat::Yaml => serde_yaml_ng::to_string(&out).context("writing the ResourceList")?,
    };
    Ok(Outcome {
        text: Zeroizing::new(text),
        ok,
    })
}

fn error_file(error: &RenderError) -> Option<&str> {
    error.file.as_deref()
}

fn same_object(a: &Value, b: &Value) -> bool {
    let key = |v: &Value| {
        (
            v.get("apiVersion").cloned(),
            v.get("kind").cloned(),
            v.pointer("/metadata/name").cloned(),
        )
    };
    key(a) == key(b)
}

/// A `results` entry with `severity: error`.
fn result(message: &str, generator: Option<&Value>, file: Option<&str>) -> Value {
    let mut entry = Map::new();
    entry.insert("message".into(), json!(message));
    entry.insert("severity".into(), json!("error"));
    if let Some(generator) = generator {
        let mut reference = Map::new();
        for field in ["apiVersion", "kind"] {
            if let Some(v) = generator.get(field) {
                reference.insert(field.into(), v.clone());
            }
        }
        for field in ["name", "namespace"] {
            if let Some(v) = generator.pointer(&format!("/metadata/{field}")) {
                reference.insert(field.into(), v.clone());
            }
        }
        entry.insert("resourceRef".into(), Value::Object(reference));
    }
    if let Some(file) = file {
        entry.insert("file".into(), json!({ "path": file }));
    }
    Value::Object(entry)
}
