//! The command line: `seal [FILE]` seals, subcommands do the rest.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::env;

/// Seal Kubernetes Secrets so they can live in Git.
///
/// `seal` reads Secrets (YAML or JSON, one or many) and writes SealedSecrets
/// (bitnami.com/v1alpha1) that only the cluster's controller can open. It is a drop-in for
/// kubeseal: same ciphertext, same scopes, same annotations, same key format.
#[derive(Debug, Parser)]
#[command(
    name = "seal",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  $ seal secret.yaml --cert cert.pem > sealed.yaml\n  $ seal reseal deploy/\n  $ echo -n hunter2 | seal --raw --name db --namespace prod --cert cert.pem\n  $ seal encrypt --age age1... -i secrets.enc.yaml\n  $ seal demo"
)]
pub struct Cli {
    /// What to do; without a subcommand, `seal` seals Secrets.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Sealing options (the default command).
    #[command(flatten)]
    pub seal: commands::seal::Args,

    /// sops's top-level flags (`seal -d FILE`, `seal -e -i FILE`, `seal -r FILE`), as
    /// helm-secrets and older scripts call `sops`.
    #[command(flatten, next_help_heading = "sops compatibility")]
    pub legacy: commands::sops_cli::LegacySopsArgs,
}

impl Cli {
    /// A usage error found after parsing, in clap's form: the message, the root usage and
    /// `For more information, try '--help'.` (exit status 2).
    pub fn usage_error(message: impl std::fmt::Display) -> clap::Error {
        Self::command().error(clap::error::ErrorKind::MissingRequiredArgument, message)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Decrypt SealedSecrets offline with the controller's private key(s) (recovery).
    Unseal(commands::unseal::Args),
    /// Re-seal every SealedSecret in files and directory trees for the current key, in place
    /// (online through the controller, or offline with backed-up private keys).
    Reseal(commands::reseal::Args),
    /// The controller's sealing keys: list, retire, wrap/unwrap with a KMS, backup/restore.
    Keys(commands::keys::Args),
    /// Generate an RSA key pair and self-signed certificate, as the controller makes them.
    Keygen(commands::keygen::Args),
    /// Show the whole round trip on a throwaway key: keygen, seal, unseal.
    Demo(commands::demo::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
    /// Print the man page (or write one per subcommand with --out-dir).
    Man(commands::man::Args),
    /// Decrypt SOPS files at render time: kustomize generator (KRM function or KSOPS-style
    /// exec plugin), or a whole kustomize build for an Argo CD plugin.
    Render(commands::render::Args),
    /// Run helm with SOPS-encrypted values files decrypted to a private temporary directory
    /// (helm-secrets' wrapper), or serve helm's `secrets://` downloader protocol.
    Helm(commands::helm::Args),
    /// Serve the sealing page on this machine (sealing happens in the browser) with a
    /// certificate file, or write the page's files to open as a file.
    Web(commands::web::Args),
    /// SOPS file commands.
    #[command(flatten)]
    Sops(commands::sops_cli::SopsCommand),
}

/// Output format of objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// YAML documents, each introduced by `---`.
    Yaml,
    /// Pretty-printed JSON objects.
    Json,
}

impl From<OutputFormat> for sealer::yaml::StreamFormat {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Yaml => Self::Yaml,
            OutputFormat::Json => Self::Json,
        }
    }
}

/// Flags shared by commands that read objects and write objects.
#[derive(Debug, Clone, clap::Args)]
pub struct IoArgs {
    /// Output format; default: the input's format.
    #[arg(short = 'o', long = "format", value_enum, env = env::SEALED_SECRETS_FORMAT)]
    pub format: Option<OutputFormat>,

    /// Write the output to this file (atomically, only on success) instead of stdout.
    #[arg(short = 'w', long = "sealed-secret-file", value_name = "OUT")]
    pub out_file: Option<PathBuf>,
}
