//! `seal filestatus FILE`: `{"encrypted":true}` or `{"encrypted":false}` on stdout.

use std::path::PathBuf;

use super::sops_args::{Target, TypeArgs};
use super::{sops_common, sops_io};
use crate::report::ExitStatus;

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
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    // No `.sops.yaml` is read: the store comes from the name or the flags alone.
    let formats = sops_common::Formats::resolve(&args.file, &args.types)?;
    let encrypted = sops_common::is_encrypted(&sops_io::read_input(&args.file)?, formats);
    let json = serde_json::json!({ "encrypted": encrypted });
    sops_common::write_output(&Target::Stdout, format!("{json}\n").as_bytes())?;
    Ok(ExitStatus::Success)
}
