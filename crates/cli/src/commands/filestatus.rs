//! `seal filestatus FILE`: `{"encrypted":true}` or `{"encrypted":false}` on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use super::sops_args::TypeArgs;
use super::{sops_common, sops_io};

/// Arguments of `seal filestatus`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  $ seal filestatus secrets.enc.yaml\n  {\"encrypted\":true}")]
pub struct Args {
    /// The file to inspect.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

/// Runs `seal filestatus`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let formats = sops_common::Formats::resolve(&args.file, &args.types)?;
    let input = sops_io::read_input(&args.file)?;
    let encrypted = sops_common::is_encrypted(&input, formats);
    let json = serde_json::json!({ "encrypted": encrypted });
    sops_io::emit(None, format!("{json}\n").as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
