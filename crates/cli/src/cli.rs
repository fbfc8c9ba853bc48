//! TEMPORARY root CLI of the sops branch (replaced by the lead's at merge).

use crate::commands::sops_cli::{LegacySopsArgs, SopsCommand};

/// Seal Kubernetes Secrets for Git: kubeseal- and sops-compatible.
#[derive(clap::Parser, Debug)]
#[command(name = "seal", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// sops's legacy top-level flags (`seal -d FILE`).
    #[command(flatten)]
    pub legacy: LegacySopsArgs,
}

/// All subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// The sops subcommands.
    #[command(flatten)]
    Sops(SopsCommand),
}
