//! `seal --re-encrypt`: re-seal SealedSecrets with the controller's newest key (kubeseal
//! `--re-encrypt`, the controller's `POST /v1/rotate`). The controller decrypts and re-seals;
//! no plaintext reaches this machine.

use anyhow::{Context as _, bail};
use sealer::sealed::SealedSecretManifest;
use sealer::yaml::{self, Document};

use super::seal::{Args, document_context, read_input, write_output};
use crate::fsio::{self, Input};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Re-seals every SealedSecret of the input, in order, and writes them to `-w`, stdout, or
/// (input file without `-w`) back into the input file, atomically.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let input = args.input();
    let text = read_input(&input)?;
    let (format, documents) = yaml::parse_stream(&text).with_context(|| input.display())?;
    let sealed = parse_sealed_secrets(&input, &documents)?;
    if sealed.is_empty() {
        bail!("{}: no SealedSecret found in the input", input.display());
    }
    let api = crate::controller_api::ControllerApi::connect(&args.controller)?;
    let mut rotated = Vec::with_capacity(sealed.len());
    for (doc, ss) in documents.iter().zip(&sealed) {
        let context = || document_context(&input, doc);
        let body = serde_json::to_vec(ss).context("encoding the SealedSecret")?;
        let answer = api.rotate(body).with_context(context)?;
        let mut value: serde_json::Value = serde_json::from_slice(&answer)
            .context("the controller's answer is not JSON")
            .with_context(context)?;
        // Bitnami's controller leaves apiVersion and kind out; take the input's.
        if let Some(object) = value.as_object_mut() {
            object
                .entry("apiVersion")
                .or_insert_with(|| ss.api_version.clone().into());
            object
                .entry("kind")
                .or_insert_with(|| ss.kind.clone().into());
        }
        let new: SealedSecretManifest = serde_json::from_value(value)
            .context("the controller's answer is not a SealedSecret")
            .with_context(context)?;
        rotated.push(new);
    }
    let format = args.io.format.map(Into::into).unwrap_or(format);
    match (&input, &args.io.out_file) {
        (Input::File(path), None) => {
            let out = yaml::write_stream(&rotated, format)?;
            fsio::write_atomic(path, out.as_bytes())?;
        }
        _ => write_output(&rotated, format, &args.io, printer)?,
    }
    Ok(ExitStatus::Success)
}

/// Parses every document as a SealedSecret, with a clear error for anything else.
pub fn parse_sealed_secrets(
    input: &Input,
    documents: &[Document],
) -> anyhow::Result<Vec<SealedSecretManifest>> {
    documents
        .iter()
        .map(|doc| {
            if doc.kind() != Some("SealedSecret") {
                bail!(
                    "{}: not a SealedSecret (kind: {})",
                    document_context(input, doc),
                    doc.kind().unwrap_or("<none>")
                );
            }
            doc.parse("SealedSecret")
                .with_context(|| document_context(input, doc))
        })
        .collect()
}
