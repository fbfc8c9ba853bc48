//! `seal completions SHELL`: shell completion script on stdout.

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Completion flags.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Example:\n  $ seal completions bash > /etc/bash_completion.d/seal")]
pub struct Args {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// Prints the script.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "seal", &mut out);
    printer.data(&out)?;
    Ok(ExitStatus::Success)
}
