//! `seal unset FILE PATH`: remove one value in place, like `sops unset`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::sops_args::TypeArgs;
use super::{sops_common, sops_io};

/// Arguments of `seal unset`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  $ seal unset secrets.enc.yaml '[\"data\"][\"old\"]'")]
pub struct Args {
    /// The SOPS file (changed in place).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// What to remove, e.g. `'["data"]["old"]'`.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// Exit 0 if PATH is already absent.
    #[arg(long)]
    pub idempotent: bool,
    /// Modify the file even if its MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

/// Runs `seal unset`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let formats = sops_common::Formats::resolve(&args.file, &args.types)?.with_options(
        &args.file,
        &Default::default(),
        None,
    )?;
    let input = sops_io::read_input(&args.file)?;
    let mut opened = sops_common::Opened::decrypt(&input, &args.file, formats, args.ignore_mac)?;
    if !opened.unset(&args.path, args.idempotent)? {
        return Ok(ExitCode::SUCCESS);
    }
    let bytes = opened.reseal()?;
    crate::fsio::write_atomic(&args.file, &bytes)?;
    Ok(ExitCode::SUCCESS)
}
