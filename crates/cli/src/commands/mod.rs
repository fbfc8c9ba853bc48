//! One module per subcommand, each with its `Args` and `run`.

pub mod completions;
pub mod demo;
pub mod keygen;
pub mod man;
pub mod merge;
pub mod raw;
pub mod seal;
pub mod unseal;

use crate::cli::{Cli, Command};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Runs what the command line asked for.
pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Some(Command::Unseal(args)) => unseal::run(&args, printer),
        Some(Command::Keygen(args)) => keygen::run(&args, printer),
        Some(Command::Demo(args)) => demo::run(&args, printer),
        Some(Command::Completions(args)) => completions::run(&args, printer),
        Some(Command::Man(args)) => man::run(&args, printer),
        None => {
            let args = cli.seal;
            if args.recovery_unseal {
                unseal::run(&args.recovery_unseal_args()?, printer)
            } else if args.raw {
                raw::run(&args, printer)
            } else if args.merge_into.is_some() {
                merge::run(&args, printer)
            } else {
                seal::run(&args, printer)
            }
        }
    }
}
