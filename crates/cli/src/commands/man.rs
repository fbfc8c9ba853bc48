//! `seal man`: the man page, from the same definitions as `--help`.

use std::path::PathBuf;

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Man page flags.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Example:\n  $ seal man | man -l -")]
pub struct Args {
    /// Write `seal.1` and one `seal-<subcommand>.1` per subcommand into this directory
    /// instead of printing `seal.1`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Renders the page(s).
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let command = Cli::command();
    match &args.out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command).render(&mut out)?;
            printer.data(&out)?;
        }
        Some(dir) => {
            fs_err::create_dir_all(dir)?;
            clap_mangen::generate_to(command, dir)?;
        }
    }
    Ok(ExitStatus::Success)
}
