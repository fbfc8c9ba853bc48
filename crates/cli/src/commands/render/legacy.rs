//! kustomize's legacy exec-plugin mode (`api/internal/plugins/execplugin`): kustomize writes
//! the generator manifest to a temporary file, runs
//! `$KUSTOMIZE_PLUGIN_HOME/<group>/<version>/<kind>/<kind> FILE` with the kustomization root
//! as working directory, and reads a multi-document YAML stream from stdout.

use std::path::Path;

use anyhow::Context as _;
use sealer::sops::master_keys::Unwrappers;
use sealer::yaml::{self, StreamFormat};
use zeroize::Zeroizing;

use super::generator::{Generator, Settings, is_generator};
use crate::printer::Printer;

/// Renders every generator in `file` and returns the YAML stream (plaintext in `secret`
/// output mode).
pub fn render(
    file: &Path,
    base: &Path,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(fs_err::read_to_string(file)?);
    let (_, documents) = yaml::parse_stream(&text)
        .with_context(|| format!("reading generator `{}`", file.display()))?;
    let generators: Vec<_> = documents
        .iter()
        .filter(|d| is_generator(&d.value))
        .collect();
    if generators.is_empty() {
        anyhow::bail!(
            "{}: no generator (`apiVersion: viaduct.ai/v1`, `kind: ksops`, or \
             `apiVersion: sealkit.dev/v1alpha1`, `kind: SecretGenerator`)",
            file.display()
        );
    }
    let keys = Unwrappers::from_process_env();
    let mut objects = Vec::new();
    for doc in generators {
        let generator = Generator::from_object(&doc.value).map_err(|e| e.error)?;
        objects.extend(
            generator
                .generate(base, settings, &keys, printer)
                .map_err(|e| e.error)?,
        );
    }
    Ok(Zeroizing::new(yaml::write_stream(
        &objects,
        StreamFormat::Yaml,
    )?))
}
