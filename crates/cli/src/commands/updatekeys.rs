//! `seal updatekeys FILE`: re-wrap the data key for the keys the `.sops.yaml` rule names now.
//!
//! Values are untouched (same data key); only the `sops` key entries change. Shows the
//! change and asks for confirmation unless `-y`.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::sops_args::{ConfigArgs, TypeArgs};
use super::{sops_common, sops_io};
use crate::printer::Printer;

/// Arguments of `seal updatekeys`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  $ seal updatekeys -y secrets.enc.yaml")]
pub struct Args {
    /// The SOPS file (changed in place).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

/// Runs `seal updatekeys`.
pub fn run(args: Args, printer: &Printer) -> anyhow::Result<ExitCode> {
    let formats = sops_common::Formats::resolve(&args.file, &args.types)?.with_options(
        &args.file,
        &args.config,
        None,
    )?;
    let input = sops_io::read_input(&args.file)?;
    let mut opened = sops_common::Opened::open_key_only(&input, &args.file, formats)?;
    let diff = opened.update_keys_from_config(&args.config)?;
    if diff.is_empty() {
        printer.info(&format!("{}: already up to date", args.file.display()));
        return Ok(ExitCode::SUCCESS);
    }
    printer.info("The following changes will be made to the file's key groups:");
    for line in &diff {
        printer.info(line);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("confirmation needed: pass -y to update keys non-interactively");
        }
        printer.prompt("Is this okay? (y/n): ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            anyhow::bail!("changes not applied");
        }
    }
    let bytes = opened.rewrap()?;
    crate::fsio::write_atomic(&args.file, &bytes)?;
    Ok(ExitCode::SUCCESS)
}
