//! `seal exec-env FILE CMD`: run CMD (through `sh -c`) with the file's top-level values in
//! its environment. Nothing is written to disk. The exit status is CMD's.

use std::path::PathBuf;

use anyhow::Context as _;

use super::sops_args::{ConfigArgs, TypeArgs};
use super::sops_common::{Purpose, SopsFile};
use crate::report::ExitStatus;

/// Arguments of `seal exec-env`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  $ seal exec-env secrets.enc.env './deploy.sh'")]
pub struct Args {
    /// The SOPS file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The command line to run.
    #[arg(value_name = "CMD")]
    pub command: String,
    /// Pass only the decrypted values, not the current environment.
    #[arg(long)]
    pub pristine: bool,
    /// Accepted for sops compatibility; the command always runs as a child.
    #[arg(long)]
    pub same_process: bool,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

/// Runs `seal exec-env`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let file = SopsFile::new(&args.file, None, &args.types, &ConfigArgs::default(), None)?;
    let opened = file.open(args.ignore_mac, Purpose::Read)?;
    let vars = opened.env_vars()?;
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(&args.command);
    if args.pristine {
        command.env_clear();
    }
    for (key, value) in &vars {
        command.env(key, value.as_str());
    }
    let status = command
        .status()
        .with_context(|| format!("running `{}`", args.command))?;
    Ok(ExitStatus::of_child(status))
}
