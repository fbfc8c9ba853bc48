//! One module per subcommand, each with its `Args` and `run`.

pub mod completions;
pub mod decrypt;
pub mod demo;
pub mod edit;
pub mod encrypt;
pub mod exec_env;
pub mod exec_file;
pub mod fetch_cert;
pub mod filestatus;
pub mod helm;
pub mod keygen;
pub mod keys;
pub mod man;
pub mod merge;
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
pub mod unseal;
pub mod unset;
pub mod updatekeys;
pub mod validate;
pub mod web;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Runs what the command line asked for.
pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitCode> {
    let Cli {
        command,
        seal,
        mut legacy,
    } = cli;
    if let Some(Command::Sops(command)) = command {
        return sops_cli::run(command, printer);
    }
    if let Some(Command::Helm(args)) = &command {
        return helm::run(args, printer);
    }
    // `seal --input-type yaml --output-type yaml FILE` is sops's edit form (helm-secrets
    // runs it); the sealing flags have no type options.
    let sops_edit = legacy.types.input_type.is_some() || legacy.types.output_type.is_some();
    if legacy.decrypt || legacy.encrypt || legacy.rotate || sops_edit {
        legacy.file = seal.secret_file.clone().or_else(|| seal.input.clone());
        return sops_cli::run_legacy_sops_flags(legacy, printer);
    }
    run_sealing(command, seal, printer).map(Into::into)
}

fn run_sealing(
    command: Option<Command>,
    seal: seal::Args,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    match command {
        Some(Command::Unseal(args)) => unseal::run(&args, printer),
        Some(Command::Reseal(args)) => reseal::run(&args, printer),
        Some(Command::Keys(args)) => keys::run(&args, printer),
        Some(Command::Keygen(args)) => keygen::run(&args, printer),
        Some(Command::Demo(args)) => demo::run(&args, printer),
        Some(Command::Completions(args)) => completions::run(&args, printer),
        Some(Command::Man(args)) => man::run(&args, printer),
        Some(Command::Render(args)) => render::run(&args, printer),
        Some(Command::Web(args)) => web::run(&args, printer),
        Some(Command::Helm(_)) => unreachable!("dispatched above"),
        Some(Command::Sops(_)) => unreachable!("dispatched above"),
        None => {
            let args = seal;
            // kubeseal's order of modes.
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
    }
}
