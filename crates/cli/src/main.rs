//! `seal`: the sealkit command line.
//!
//! TEMPORARY (sops branch): the lead's `main.rs`, `cli.rs`, `report.rs` replace these at
//! merge; they only wire the sops subcommands so they can be tested now.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        Some(cli::Command::Sops(cmd)) => commands::sops_cli::run(cmd),
        None => match commands::sops_cli::run_legacy_sops_flags(cli.legacy) {
            Ok(Some(code)) => Ok(code),
            Ok(None) => {
                use clap::CommandFactory as _;
                let _ = cli::Cli::command().print_help();
                Ok(ExitCode::from(2))
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // One line: the message and its causes.
            let mut line = err.to_string();
            for cause in err.chain().skip(1) {
                line.push_str(": ");
                line.push_str(&cause.to_string());
            }
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}
