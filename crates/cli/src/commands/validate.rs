//! `seal --validate`: ask the controller whether it can decrypt SealedSecrets (kubeseal
//! `--validate`, the controller's `POST /v1/verify`: 200 yes, 409 no).

use anyhow::{Context as _, bail};
use sealer::sealed::SealedSecretManifest;
use sealer::yaml;

use super::seal::{Args, document_context, read_input};
use crate::controller_api::ControllerApi;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Sends every SealedSecret of the input to `/v1/verify`; fails on the first one the
/// controller cannot decrypt. Prints nothing on success.
pub fn run(args: &Args, _printer: &Printer) -> anyhow::Result<ExitStatus> {
    let input = args.input();
    let text = read_input(&input)?;
    let (_, documents) = yaml::parse_stream(&text).with_context(|| input.display())?;
    let sealed = super::reencrypt::parse_sealed_secrets(&input, &documents)?;
    if sealed.is_empty() {
        bail!("{}: no SealedSecret found in the input", input.display());
    }
    let api = ControllerApi::connect(&args.controller)?;
    for (doc, ss) in documents.iter().zip(&sealed) {
        let body = serde_json::to_vec(ss).context("encoding the SealedSecret")?;
        if !api
            .verify(body)
            .with_context(|| document_context(&input, doc))?
        {
            bail!(
                "{}: unable to decrypt sealed secret: {}",
                document_context(&input, doc),
                name(ss)
            );
        }
    }
    Ok(ExitStatus::Success)
}

fn name(ss: &SealedSecretManifest) -> String {
    match (&ss.metadata.namespace, &ss.metadata.name) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        (None, Some(name)) => name.clone(),
        _ => "<unnamed>".into(),
    }
}
