//! `seal --merge-into SEALED [FILE]`: add or replace items in an existing SealedSecret file.
//!
//! The input Secret's items are sealed under the target's name, namespace and scope; the
//! target's other items keep their ciphertext; labels and annotations of the input are merged
//! into the template. The file is replaced atomically, so a failure leaves it byte-identical.

use std::path::Path;

use anyhow::{Context as _, bail};
use sealer::sealed::{Scope, SealOptions, SealedSecretManifest};
use sealer::yaml;

use super::seal::{Args, document_context, parse_input, parse_secret, read_input};
use crate::fsio::{self, Input};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Merges the input Secret into `target_path` (the `--merge-into` file).
pub fn run(args: &Args, target_path: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let target_input = Input::File(target_path.to_path_buf());
    let target_text = target_input.read_to_string()?;
    let (target_format, target_docs) = parse_input(&target_input, &target_text)?;
    let [target_doc] = target_docs.as_slice() else {
        bail!(
            "{}: expected exactly one SealedSecret, found {} documents",
            target_input.display(),
            target_docs.len()
        );
    };
    if target_doc.kind() != Some("SealedSecret") {
        bail!(
            "{}: not a SealedSecret",
            document_context(&target_input, target_doc)
        );
    }
    let mut target: SealedSecretManifest = target_doc
        .parse("SealedSecret")
        .with_context(|| target_input.display())?;

    let cert = args.certificate(printer)?;
    let input = args.input();
    let text = read_input(&input)?;
    let (_, documents) = parse_input(&input, &text)?;
    let [doc] = documents.as_slice() else {
        bail!(
            "{}: --merge-into takes exactly one Secret, found {}",
            input.display(),
            documents.len()
        );
    };
    let mut secret = parse_secret(&input, doc)?;
    // Seal under the target's identity: its name, namespace and top-level scope.
    secret.metadata.name = target.metadata.name.clone();
    secret.metadata.namespace = target.metadata.namespace.clone();
    let options = SealOptions {
        scope: Some(Scope::from_annotations(&target.metadata.annotations)),
        default_namespace: "default".into(),
        ..SealOptions::default()
    };
    let sealed = sealer::sealed::seal_secret(&secret, cert.public_key(), &options)
        .with_context(|| document_context(&input, doc))?;

    target
        .spec
        .encrypted_data
        .extend(sealed.spec.encrypted_data);
    let template = target.spec.template.get_or_insert_with(Default::default);
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels.extend(secret.metadata.labels.clone());
    if let Some(new_meta) = sealed.spec.template.and_then(|t| t.metadata) {
        meta.annotations.extend(new_meta.annotations);
    }

    let format = args.io.format.map(Into::into).unwrap_or(target_format);
    let out = yaml::write_stream(&[target], format)?;
    fsio::write_atomic(target_path, out.as_bytes())?;
    Ok(ExitStatus::Success)
}
