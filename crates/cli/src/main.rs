//! `seal`: seal Kubernetes Secrets for Git (kubeseal-compatible) and edit SOPS files.
#![forbid(unsafe_code)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod certsource;
mod cli;
mod commands;
mod controller_api;
mod env;
mod fsio;
mod keywrap;
mod printer;
mod report;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // The network SOPS master keys (Vault transit, AWS/GCP/Azure KMS) come from sealkit-cloud.
    sealkit_cloud::install();
    // Under a plugin name (`ksops`, `SecretGenerator`) the binary is `seal render`.
    let cli = match commands::render::command_line_for_program_name() {
        Some(line) => cli::Cli::parse_from(line),
        None => cli::Cli::parse(),
    };
    let printer = printer::Printer::new();
    match commands::run(cli, &printer) {
        Ok(code) => code,
        Err(error) => report::report(&error, &printer).into(),
    }
}
