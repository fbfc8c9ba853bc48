//! The generator manifest and what it produces.
//!
//! Two spellings of the same generator are accepted:
//! - KSOPS's (viaduct-ai/kustomize-sops `ksops.go`): `apiVersion: viaduct.ai/v1`, `kind: ksops`;
//! - sealkit's own: `apiVersion: sealkit.dev/v1alpha1`, `kind: SecretGenerator`.
//!
//! Both read `files` (whole SOPS-encrypted manifests, emitted after decryption) and
//! `secretFrom` (`metadata`, `type`, `files`, `binaryFiles`, `envs`: a Secret built from
//! encrypted files), and sealkit's extensions: `output: sealed` with `cert`, `scope` and
//! `namespace` (emit SealedSecrets instead of Secrets) and `allowUnencrypted`.
//!
//! Paths are relative to the kustomization root: the working directory kustomize gives
//! exec plugins and functions (or `KUSTOMIZE_PLUGIN_CONFIG_ROOT` when set). Nothing is
//! written to disk: files are read, decrypted in memory and printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sealer::sealed::{Certificate, Scope, SealOptions, SecretManifest};
use sealer::sops::master_keys::Unwrappers;
use sealer::sops::{Format, Key, PlainFile, Scalar, Value as TreeValue};
use sealer::yaml::Document;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::super::sops_args::TypeArgs;
use super::super::sops_common::{self, Formats, Opened};
use crate::printer::Printer;

/// KSOPS's generator `apiVersion`.
pub const KSOPS_API_VERSION: &str = "viaduct.ai/v1";
/// KSOPS's generator `kind`.
pub const KSOPS_KIND: &str = "ksops";
/// sealkit's generator `apiVersion`.
pub const SEALKIT_API_VERSION: &str = "sealkit.dev/v1alpha1";
/// sealkit's generator `kind`.
pub const SEALKIT_KIND: &str = "SecretGenerator";

/// Annotations kustomize reads as build directives; they never travel into a sealed template.
const KUSTOMIZE_ANNOTATION_PREFIX: &str = "kustomize.config.k8s.io/";

/// Whether an object is a generator manifest of either spelling.
pub fn is_generator(object: &Value) -> bool {
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let kind = object.get("kind").and_then(Value::as_str);
    matches!(
        (api_version, kind),
        (Some(KSOPS_API_VERSION), Some(KSOPS_KIND))
            | (Some(SEALKIT_API_VERSION), Some(SEALKIT_KIND))
    )
}

/// What the generator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// Plain `v1` Secrets (KSOPS's behaviour).
    Secret,
    /// SealedSecrets (`bitnami.com/v1alpha1`) sealed to `cert`: no plaintext in the output.
    Sealed,
}

/// A generator manifest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Generator {
    /// `metadata` (only `name` is used, in messages).
    #[serde(default)]
    metadata: GeneratorMeta,
    /// Whole SOPS-encrypted manifests.
    files: Option<Vec<String>>,
    /// Secrets built from encrypted files.
    secret_from: Option<Vec<SecretFrom>>,
    /// `secret` (default) or `sealed`.
    output: Option<OutputMode>,
    /// Sealing certificate (path or URL) for `output: sealed`.
    cert: Option<String>,
    /// Sealing scope for `output: sealed` (default: the Secret's annotations, else strict).
    scope: Option<String>,
    /// Namespace to seal Secrets without one for (`output: sealed`).
    namespace: Option<String>,
    /// Accept files that are not SOPS-encrypted (they must lie inside the kustomization root).
    #[serde(default)]
    allow_unencrypted: bool,
}

#[derive(Debug, Default, Deserialize)]
struct GeneratorMeta {
    name: Option<String>,
}

/// One `secretFrom` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretFrom {
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    binary_files: Vec<String>,
    #[serde(default)]
    envs: Vec<String>,
}

/// A failure while rendering, with the file it is about (for KRM `results`).
#[derive(Debug)]
pub struct RenderError {
    /// The file named in the generator, as written there.
    pub file: Option<String>,
    /// What went wrong (its message already names the file).
    pub error: anyhow::Error,
}

impl RenderError {
    fn about(file: &str, error: anyhow::Error) -> Self {
        Self {
            file: Some(file.to_owned()),
            error,
        }
    }

    fn general(error: anyhow::Error) -> Self {
        Self { file: None, error }
    }
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// Settings that come from the command line and environment rather than the manifest.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--output` / `SEAL_RENDER_OUTPUT`: `sealed` here forces sealed output for every
    /// generator (the Argo CD operator's switch); `secret` is only a default.
    pub output: Option<OutputMode>,
    /// `--cert` / `SEAL_RENDER_CERT`: certificate when the generator names none.
    pub cert: Option<String>,
    /// `--cert-timeout` / `SEAL_CERT_TIMEOUT`: how long a certificate download may take.
    pub cert_timeout: std::time::Duration,
    /// `--root` / `SEAL_RENDER_ROOT`: every file must lie below this directory.
    pub root: Option<PathBuf>,
    /// Namespace of the Argo CD application (`ARGOCD_APP_NAMESPACE`): where Secrets without a
    /// namespace land, so what sealed output binds them to.
    pub app_namespace: Option<String>,
    /// Files decrypted at once (`KSOPS_CONCURRENCY_LIMIT`, default 20).
    pub concurrency: usize,
}

/// The default of `KSOPS_CONCURRENCY_LIMIT`.
pub const DEFAULT_CONCURRENCY: usize = 20;

impl Generator {
    /// Reads a generator from an object known to be one ([`is_generator`]).
    pub fn from_object(object: &Value) -> Result<Self, RenderError> {
        let generator = Self::deserialize(object).map_err(|e| {
            RenderError::general(anyhow::anyhow!(
                "generator {}: invalid manifest: {e}",
                object_name(object)
            ))
        })?;
        if generator.files.is_none() && generator.secret_from.is_none() {
            return Err(RenderError::general(anyhow::anyhow!(
                "generator {}: missing the required 'files' or 'secretFrom' key",
                object_name(object)
            )));
        }
        Ok(generator)
    }

    /// The generator's name for messages.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("<unnamed>")
    }

    /// Decrypts every file and returns the objects: the manifests of `files` in order,
    /// then one Secret per `secretFrom` entry (or their SealedSecrets).
    pub fn generate(
        &self,
        base: &Path,
        settings: &Settings,
        keys: &Unwrappers,
        printer: &Printer,
    ) -> Result<Vec<Value>, RenderError> {
        let reader = FileReader {
            base,
            root: settings.root.as_deref(),
            allow_unencrypted: self.allow_unencrypted,
            keys,
        };
        let limit = settings.concurrency.max(1);
        let mut objects = Vec::new();
        let files = self.files.as_deref().unwrap_or_default();
        for (spec, decrypted) in files
            .iter()
            .zip(parallel_map(files, limit, |f| reader.manifests(f)))
        {
            objects.extend(decrypted.map_err(|e| RenderError::about(spec, e))?);
        }
        for from in self.secret_from.as_deref().unwrap_or_default() {
            objects.push(from.build(&reader, limit)?);
        }
        match self.output_mode(settings) {
            OutputMode::Secret => Ok(objects),
            OutputMode::Sealed => self.seal(objects, settings, printer),
        }
    }

    fn output_mode(&self, settings: &Settings) -> OutputMode {
        if settings.output == Some(OutputMode::Sealed) {
            return OutputMode::Sealed;
        }
        self.output
            .or(settings.output)
            .unwrap_or(OutputMode::Secret)
    }

    /// Replaces every `v1` Secret by its SealedSecret; other objects pass unchanged.
    fn seal(
        &self,
        objects: Vec<Value>,
        settings: &Settings,
        printer: &Printer,
    ) -> Result<Vec<Value>, RenderError> {
        let name = self.name();
        let source = self
            .cert
            .as_deref()
            .or(settings.cert.as_deref())
            .ok_or_else(|| {
                RenderError::general(anyhow::anyhow!(
                    "generator {name}: `output: sealed` needs `cert:` (a PEM path or the \
                     controller's /v1/cert.pem URL) or SEAL_RENDER_CERT"
                ))
            })?;
        let cert = crate::certsource::load(source, settings.cert_timeout, printer)
            .map_err(|e| RenderError::general(e.context(format!("generator {name}"))))?;
        let scope = self
            .scope
            .as_deref()
            .map(str::parse::<Scope>)
            .transpose()
            .map_err(|e| {
                RenderError::general(anyhow::Error::new(e).context(format!(
                    "generator {name}: invalid scope (strict, namespace-wide or cluster-wide)"
                )))
            })?;
        let default_namespace = self
            .namespace
            .clone()
            .or_else(|| settings.app_namespace.clone());
        objects
            .into_iter()
            .enumerate()
            .map(|(index, object)| {
                if !is_v1_secret(&object) {
                    return Ok(object);
                }
                seal_object(object, index, &cert, scope, default_namespace.as_deref())
                    .map_err(|e| RenderError::general(e.context(format!("generator {name}"))))
            })
            .collect()
    }
}

fn is_v1_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

fn object_name(object: &Value) -> String {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("?");
    match object.pointer("/metadata/name").and_then(Value::as_str) {
        Some(name) => format!("{kind}/{name}"),
        None => kind.to_owned(),
    }
}

/// Seals one Secret. A Secret without a namespace takes `default_namespace`; with none
/// there either, only cluster-wide sealing is possible (the ciphertext of the other scopes
/// binds the namespace, which kustomize or Argo CD would otherwise fill in later).
fn seal_object(
    mut object: Value,
    index: usize,
    cert: &Certificate,
    scope: Option<Scope>,
    default_namespace: Option<&str>,
) -> anyhow::Result<Value> {
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.retain(|k, _| !k.starts_with(KUSTOMIZE_ANNOTATION_PREFIX));
    }
    let label = object_name(&object);
    let secret: SecretManifest = Document {
        index,
        value: object,
    }
    .parse("Secret")?;
    let has_namespace = secret
        .metadata
        .namespace
        .as_deref()
        .is_some_and(|n| !n.is_empty());
    let effective_scope =
        scope.unwrap_or_else(|| Scope::from_annotations(&secret.metadata.annotations));
    let cluster_wide = effective_scope == Scope::ClusterWide;
    if !has_namespace && default_namespace.is_none() && !cluster_wide {
        bail!(
            "{label} has no namespace: sealing binds it, so set metadata.namespace, the \
             generator's `namespace:`, or `scope: cluster-wide`"
        );
    }
    let options = SealOptions {
        scope,
        name: None,
        namespace: None,
        default_namespace: default_namespace.unwrap_or("default").to_owned(),
        allow_empty_data: false,
    };
    let sealed = sealer::sealed::seal_secret(&secret, cert.public_key(), &options)
        .with_context(|| format!("sealing {label}"))?;
    let mut value = serde_json::to_value(&sealed).context("serializing a SealedSecret")?;
    if !has_namespace && default_namespace.is_none() {
        // Cluster-wide and namespace-less: leave the namespace to kustomize / Argo CD.
        for pointer in ["/metadata", "/spec/template/metadata"] {
            if let Some(meta) = value.pointer_mut(pointer).and_then(Value::as_object_mut) {
                meta.remove("namespace");
            }
        }
    }
    Ok(value)
}

/// Reads and decrypts the files a generator names.
struct FileReader<'a> {
    base: &'a Path,
    root: Option<&'a Path>,
    allow_unencrypted: bool,
    keys: &'a Unwrappers,
}

impl FileReader<'_> {
    /// The path of a file named in the generator (for messages and its format) and the
    /// file it really is (symlinks resolved), checked to lie inside the kustomization root,
    /// or inside `--root` when one is given; an unencrypted file must lie inside the
    /// kustomization root in any case (checked by [`Self::plaintext`]).
    fn resolve(&self, spec: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        // `./x` and `x` name the same file; keep messages free of `/./`.
        let path: PathBuf = self
            .base
            .components()
            .chain(
                Path::new(spec)
                    .components()
                    .filter(|c| *c != std::path::Component::CurDir),
            )
            .collect();
        let real = match fs_err::canonicalize(&path) {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{}: no such file", path.display())
            }
            Err(e) => return Err(e.into()),
        };
        let (allowed, which) = match self.root {
            Some(root) => {
                let root = canonical(root)?;
                let which = format!(
                    "the allowed root {} (--root, SEAL_RENDER_ROOT)",
                    root.display()
                );
                (root, which)
            }
            None => {
                let base = canonical(self.base)?;
                let which = format!(
                    "the kustomization root {} (--root or SEAL_RENDER_ROOT allow a wider \
                     directory)",
                    base.display()
                );
                (base, which)
            }
        };
        if !real.starts_with(&allowed) {
            bail!("{spec}: resolves to {} outside {which}", real.display());
        }
        Ok((path, real))
    }

    /// The cleartext of a file in its own store (KSOPS's `decrypt.DataWithFormat` with the
    /// format from the extension), and that store.
    fn plaintext(&self, spec: &str, input: Format) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let (path, real) = self.resolve(spec)?;
        let bytes = Zeroizing::new(fs_err::read(&real)?);
        let formats = Formats {
            input,
            output: input,
            ..Formats::resolve(&path, &TypeArgs::default())?
        };
        if !sops_common::is_encrypted(&bytes, formats) {
            if self.allow_unencrypted {
                let base = canonical(self.base)?;
                if !real.starts_with(&base) {
                    bail!(
                        "{spec}: not SOPS-encrypted, and unencrypted files must lie inside the \
                         kustomization root {}",
                        base.display()
                    );
                }
                return Ok(bytes);
            }
            let error = match Opened::decrypt_with(&bytes, &path, formats, false, self.keys) {
                Ok(_) => anyhow::anyhow!("{}: not a SOPS file", path.display()),
                Err(e) => e,
            };
            return Err(error.context(
                "a generator only takes SOPS-encrypted files (set `allowUnencrypted: true` to \
                 include plain files)",
            ));
        }
        let opened = Opened::decrypt_with(&bytes, &path, formats, false, self.keys)?;
        opened.plaintext_bytes()
    }

    /// A `files` entry: the Kubernetes objects in a YAML or JSON file.
    fn manifests(&self, spec: &str) -> anyhow::Result<Vec<Value>> {
        let format = Format::from_path(Path::new(spec));
        if !matches!(format, Format::Yaml | Format::Json) {
            bail!(
                "{spec}: a `files` entry must hold Kubernetes objects in YAML or JSON, not \
                 {format} (use `secretFrom` to build a Secret from it)"
            );
        }
        let plaintext = self.plaintext(spec, format)?;
        let text = std::str::from_utf8(&plaintext)
            .with_context(|| format!("{spec}: decrypted content is not UTF-8"))?;
        let (_, documents) =
            sealer::yaml::parse_stream(text).with_context(|| format!("{spec}: decrypted"))?;
        documents
            .into_iter()
            .map(|doc| {
                if doc.value.is_object() && doc.kind().is_some() {
                    Ok(doc.value)
                } else {
                    bail!(
                        "{spec}: document {} is not a Kubernetes object (no `kind`)",
                        doc.index
                    )
                }
            })
            .collect()
    }

    /// A `secretFrom` file: `(key, cleartext)`.
    fn keyed_file(&self, spec: &str) -> anyhow::Result<(String, Zeroizing<Vec<u8>>)> {
        let (key, path) = file_key_path(spec)?;
        let plaintext = self.plaintext(path, Format::from_path(Path::new(path)))?;
        Ok((key, plaintext))
    }

    /// A `secretFrom.envs` file: its top-level keys and values (a dotenv file, or any flat
    /// YAML/JSON/INI-less file; files without a known extension are read as dotenv, as Flux
    /// does).
    fn env_pairs(&self, spec: &str) -> anyhow::Result<Vec<(String, Zeroizing<String>)>> {
        let format = match Format::from_path(Path::new(spec)) {
            Format::Binary => Format::Dotenv,
            other => other,
        };
        let plaintext = self.plaintext(spec, format)?;
        let plain =
            PlainFile::parse(&plaintext, format).with_context(|| format!("{spec}: decrypted"))?;
        let mut pairs = Vec::new();
        let Some(document) = plain.documents().first() else {
            return Ok(pairs);
        };
        for item in &document.items {
            let key = match &item.key {
                Key::Comment(_) => continue,
                Key::Str(k) => k.clone(),
                _ => bail!("{spec}: non-string key in an env file"),
            };
            let value = match &item.value {
                TreeValue::Scalar(Scalar::Null) => String::new(),
                TreeValue::Scalar(Scalar::Bool(b)) => b.to_string(),
                TreeValue::Scalar(scalar) => String::from_utf8_lossy(&scalar.to_bytes()).into(),
                TreeValue::Comment(_) => continue,
                _ => bail!("{spec}: `{key}` is not a plain value (an env file is flat)"),
            };
            pairs.push((key, Zeroizing::new(value)));
        }
        Ok(pairs)
    }
}

fn canonical(path: &Path) -> anyhow::Result<PathBuf> {
    fs_err::canonicalize(path).map_err(Into::into)
}

/// `key=path` or `path` (the key is the file name), as KSOPS splits it.
fn file_key_path(spec: &str) -> anyhow::Result<(String, &str)> {
    let parts: Vec<&str> = spec.split('=').collect();
    match parts.as_slice() {
        [path] => {
            let key = Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .with_context(|| format!("{spec}: no file name to use as the key"))?;
            Ok((key, path))
        }
        [key, path] if !key.is_empty() && !path.is_empty() => Ok(((*key).to_owned(), path)),
        _ => bail!("invalid format in file generator `{spec}` (expected `[key=]path`)"),
    }
}

impl SecretFrom {
    /// The Secret: `files` and `envs` into `stringData`, `binaryFiles` base64 into `data`.
    fn build(&self, reader: &FileReader<'_>, limit: usize) -> Result<Value, RenderError> {
        let mut string_data: BTreeMap<String, Value> = BTreeMap::new();
        let mut data: BTreeMap<String, Value> = BTreeMap::new();
        for (spec, result) in self
            .files
            .iter()
            .zip(parallel_map(&self.files, limit, |f| reader.keyed_file(f)))
        {
            let (key, bytes) = result.map_err(|e| RenderError::about(spec, e))?;
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                RenderError::about(
                    spec,
                    anyhow::anyhow!(
                        "{spec}: decrypted content is not UTF-8 text (list it under \
                         `binaryFiles`)"
                    ),
                )
            })?;
            string_data.insert(key, Value::String(text));
        }
        for (spec, result) in
            self.binary_files
                .iter()
                .zip(parallel_map(&self.binary_files, limit, |f| {
                    reader.keyed_file(f)
                }))
        {
            let (key, bytes) = result.map_err(|e| RenderError::about(spec, e))?;
            data.insert(key, Value::String(sealer::encoding::encode_std(&bytes)));
        }
        for (spec, result) in self
            .envs
            .iter()
            .zip(parallel_map(&self.envs, limit, |f| reader.env_pairs(f)))
        {
            for (key, value) in result.map_err(|e| RenderError::about(spec, e))? {
                string_data.insert(key, Value::String(value.to_string()));
            }
        }
        let mut secret = Map::new();
        secret.insert("apiVersion".into(), json!("v1"));
        secret.insert("kind".into(), json!("Secret"));
        secret.insert("metadata".into(), Value::Object(self.metadata.clone()));
        if let Some(t) = self.type_.as_deref().filter(|t| !t.is_empty()) {
            secret.insert("type".into(), json!(t));
        }
        if !data.is_empty() {
            secret.insert("data".into(), json!(data));
        }
        if !string_data.is_empty() {
            secret.insert("stringData".into(), json!(string_data));
        }
        Ok(Value::Object(secret))
    }
}

/// Runs `f` on every item with at most `limit` threads at once; results keep the order.
fn parallel_map<T, R, F>(items: &[T], limit: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    if items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    let mut results = Vec::with_capacity(items.len());
    for chunk in items.chunks(limit.max(1)) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk.iter().map(|item| scope.spawn(|| f(item))).collect();
            for handle in handles {
                results.push(handle.join().expect("decryption thread panicked"));
            }
        });
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_key_path_splits_like_ksops() {
        assert_eq!(
            file_key_path("./a/secret.enc.yaml").unwrap(),
            ("secret.enc.yaml".to_owned(), "./a/secret.enc.yaml")
        );
        assert_eq!(
            file_key_path("k.yaml=./x.enc.yaml").unwrap(),
            ("k.yaml".to_owned(), "./x.enc.yaml")
        );
        assert!(file_key_path("a=b=c").is_err());
        assert!(file_key_path("=b").is_err());
    }

    #[test]
    fn both_generator_spellings_are_recognised() {
        assert!(is_generator(
            &json!({"apiVersion": "viaduct.ai/v1", "kind": "ksops"})
        ));
        assert!(is_generator(
            &json!({"apiVersion": "sealkit.dev/v1alpha1", "kind": "SecretGenerator"})
        ));
        assert!(!is_generator(
            &json!({"apiVersion": "v1", "kind": "ConfigMap"})
        ));
    }

    #[test]
    fn a_generator_without_files_or_secret_from_is_refused() {
        let err = Generator::from_object(&json!({
            "apiVersion": "viaduct.ai/v1", "kind": "ksops", "metadata": {"name": "g"}
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "generator ksops/g: missing the required 'files' or 'secretFrom' key"
        );
    }

    #[test]
    fn sealed_from_the_environment_overrides_the_manifest() {
        let g = Generator::from_object(&json!({
            "apiVersion": "viaduct.ai/v1", "kind": "ksops", "files": [], "output": "secret"
        }))
        .unwrap();
        let forced = Settings {
            output: Some(OutputMode::Sealed),
            ..Settings::default()
        };
        assert_eq!(g.output_mode(&forced), OutputMode::Sealed);
        let default = Settings {
            output: Some(OutputMode::Secret),
            ..Settings::default()
        };
        assert_eq!(g.output_mode(&default), OutputMode::Secret);
    }

    #[test]
    fn parallel_map_keeps_the_order() {
        let items: Vec<usize> = (0..50).collect();
        assert_eq!(
            parallel_map(&items, 7, |i| i * 2),
            (0..50).map(|i| i * 2).collect::<Vec<_>>()
        );
    }
}
