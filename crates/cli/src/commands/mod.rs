//! One module per subcommand, each with its `Args` and `run`, and one dispatch.

pub mod completions;
pub mod decrypt;
pub mod demo;
pub mod diff;
pub mod edit;
pub mod encrypt;
pub mod exec_env;
pub mod exec_file;
pub mod fetch_cert;
pub mod filestatus;
pub mod git;
pub mod helm;
pub mod keygen;
pub mod keys;
pub mod man;
pub mod merge;
pub mod merge_driver;
pub mod raw;
pub mod reencrypt;
pub mod render;
pub mod reseal;
pub mod rotate;
pub mod seal;
pub mod set;
pub mod sops_args;
pub mod sops_cli;
pub mod sops_common;
pub mod sops_io;
pub mod sops_tree;
pub mod unseal;
pub mod unset;
pub mod updatekeys;
pub mod validate;
pub mod web;

use crate::cli::{Cli, Command};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Runs what the command line asked for.
pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let Cli {
        command,
        seal,
        legacy,
    } = cli;
    match command {
        Some(Command::Sops(command)) => sops_cli::run(command, printer),
        Some(Command::Helm(args)) => helm::run(&args, printer),
        Some(Command::Unseal(args)) => unseal::run(&args, printer),
        Some(Command::Reseal(args)) => reseal::run(&args, printer),
        Some(Command::Keys(args)) => keys::run(&args, printer),
        Some(Command::Keygen(args)) => keygen::run(&args, printer),
        Some(Command::Demo(args)) => demo::run(&args, printer),
        Some(Command::Completions(args)) => completions::run(&args, printer),
        Some(Command::Man(args)) => man::run(&args, printer),
        Some(Command::Render(args)) => render::run(&args, printer),
        Some(Command::Web(args)) => web::run(&args, printer),
        Some(Command::Git(args)) => git::run(args, printer),
        // `seal --input-type yaml --output-type yaml FILE` is sops's edit form (helm-secrets
        // runs it); the sealing flags have no type options.
        None if legacy.given() => {
            let file = seal.secret_file.clone().or_else(|| seal.input.clone());
            legacy.run(file, printer)
        }
        None => run_sealing(seal, printer),
    }
}

/// `seal [FILE]` with kubeseal's modes, in kubeseal's order.
fn run_sealing(args: seal::Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.recovery_unseal {
        unseal::run(&args.recovery_unseal_args()?, printer)
    } else if args.validate {
        validate::run(&args, printer)
    } else if args.re_encrypt {
        reencrypt::run(&args, printer)
    } else if args.fetch_cert {
        fetch_cert::run(&args, printer)
    } else if args.raw {
        raw::run(&args, printer)
    } else if let Some(target) = &args.merge_into {
        merge::run(&args, target, printer)
    } else {
        seal::run(&args, printer)
    }
}
