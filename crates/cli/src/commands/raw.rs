//! `seal --raw`: seal one value and print only its base64 blob (kubeseal `--raw`).

use std::io::Read as _;

use anyhow::Context as _;
use sealer::sealed::{Scope, cipher};
use zeroize::Zeroizing;

use super::seal::Args;
use crate::printer::Printer;
use crate::report::{ExitStatus, UsageError};

/// Seals the value from stdin or `--from-file` for `--name`/`--namespace` under `--scope`.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let scope = args.scope()?.unwrap_or_default();
    let namespace = match (&args.namespace, scope) {
        (Some(ns), _) => ns.clone(),
        (None, Scope::ClusterWide) => String::new(),
        (None, _) => {
            return Err(UsageError(format!(
                "must provide the --namespace flag with --raw and --scope {scope}"
            ))
            .into());
        }
    };
    let name = match (&args.name, scope) {
        (Some(name), _) => name.clone(),
        (None, Scope::Strict) => {
            return Err(UsageError(
                "must provide the --name flag with --raw and --scope strict".into(),
            )
            .into());
        }
        (None, _) => String::new(),
    };
    let cert = args.certificate(printer)?;
    let value = Zeroizing::new(match &args.from_file {
        Some(spec) => {
            let path = spec.split_once('=').map_or(spec.as_str(), |(_, p)| p);
            fs_err::read(path)?
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the value from <stdin>")?;
            buf
        }
    });
    let label = scope.label(&namespace, &name);
    let blob = cipher::seal(cert.public_key(), &label, &value).context("sealing the value")?;
    printer.data(sealer::encoding::encode_std(&blob).as_bytes())?;
    Ok(ExitStatus::Success)
}
