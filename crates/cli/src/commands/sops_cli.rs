//! The sops-compatible subcommands of `seal`, and sops's legacy top-level flags.
//!
//! The root CLI flattens [`SopsCommand`] into its `Command` enum and calls [`run`]; for
//! `seal -d FILE`, `seal --decrypt --input-type yaml --output OUT FILE` (the shapes
//! helm-secrets runs) it flattens [`LegacySopsArgs`] into the root and calls
//! [`run_legacy_sops_flags`] when no subcommand was given.

use std::path::PathBuf;
use std::process::ExitCode;

use super::sops_args::{ConfigArgs, KeyArgs, RotateKeyArgs, SelectorArgs, TypeArgs};
use super::{
    decrypt, edit, encrypt, exec_env, exec_file, filestatus, rotate, set, unset, updatekeys,
};
use crate::printer::Printer;

/// The sops workflow: encrypt, decrypt and edit SOPS files.
#[derive(clap::Subcommand, Debug)]
pub enum SopsCommand {
    /// Encrypt a YAML, JSON, dotenv, INI or binary file with SOPS.
    Encrypt(encrypt::Args),
    /// Decrypt a SOPS file.
    Decrypt(decrypt::Args),
    /// Edit a SOPS file in $SOPS_EDITOR / $EDITOR, re-encrypting on save.
    Edit(edit::Args),
    /// Set one value of a SOPS file: `seal set FILE '["a"]["b"]' '"value"'`.
    Set(set::Args),
    /// Remove one value of a SOPS file: `seal unset FILE '["a"]["b"]'`.
    Unset(unset::Args),
    /// Re-wrap the data key for the recipients the `.sops.yaml` rules give now.
    Updatekeys(updatekeys::Args),
    /// Generate a new data key and re-encrypt every value.
    Rotate(rotate::Args),
    /// Run a command with the decrypted values in its environment.
    ExecEnv(exec_env::Args),
    /// Run a command with the decrypted file at a temporary path (`{}` in the command).
    ExecFile(exec_file::Args),
    /// Tell whether a file is SOPS-encrypted, as JSON: `{"encrypted":true}`.
    Filestatus(filestatus::Args),
}

/// Runs one sops subcommand; messages go through `printer`.
pub fn run(cmd: SopsCommand, printer: &Printer) -> anyhow::Result<ExitCode> {
    match cmd {
        SopsCommand::Encrypt(args) => encrypt::run(args),
        SopsCommand::Decrypt(args) => decrypt::run(args),
        SopsCommand::Edit(args) => edit::run(args, printer),
        SopsCommand::Set(args) => set::run(args),
        SopsCommand::Unset(args) => unset::run(args),
        SopsCommand::Updatekeys(args) => updatekeys::run(args, printer),
        SopsCommand::Rotate(args) => rotate::run(args),
        SopsCommand::ExecEnv(args) => exec_env::run(args),
        SopsCommand::ExecFile(args) => exec_file::run(args, printer),
        SopsCommand::Filestatus(args) => filestatus::run(args),
    }
}

/// sops's legacy top-level flags (`sops -d FILE`, `sops --encrypt -i FILE`, `sops -r FILE`,
/// `sops FILE` = edit), as helm-secrets and older scripts call them.
#[derive(clap::Args, Debug, Default)]
pub struct LegacySopsArgs {
    /// sops compatibility: decrypt FILE (same as `seal decrypt`).
    #[arg(short = 'd', long, conflicts_with_all = ["encrypt", "rotate"])]
    pub decrypt: bool,
    /// sops compatibility: encrypt FILE (same as `seal encrypt`).
    #[arg(short = 'e', long, conflicts_with = "rotate")]
    pub encrypt: bool,
    /// sops compatibility: rotate the data key of FILE (same as `seal rotate`).
    #[arg(short = 'r', long)]
    pub rotate: bool,
    /// sops compatibility: write the result back to FILE.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// sops compatibility: write the result to this file.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// sops compatibility: print only this part of the tree (`'["a"]["b"]'`).
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// sops compatibility: decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    /// sops compatibility: match `.sops.yaml` rules against this name instead of FILE.
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<String>,
    /// sops compatibility: YAML indentation of the output.
    #[arg(long, value_name = "N")]
    pub indent: Option<usize>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub keys: KeyArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub selectors: SelectorArgs,
    /// sops compatibility: rotate — `--add-*` / `--rm-*` keys.
    #[command(flatten)]
    pub rotation: RotateKeyArgs,
    /// The file (sops's positional argument).
    #[arg(skip)]
    pub file: Option<PathBuf>,
}

/// Runs the legacy sops flag form; without a FILE, a usage error in clap's form.
pub fn run_legacy_sops_flags(args: LegacySopsArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let Some(file) = args.file else {
        let message = if args.decrypt || args.encrypt || args.rotate {
            "missing FILE: sops-style `-d/-e/-r` need a file (or `-` for stdin)"
        } else {
            "missing FILE: `--input-type`/`--output-type` edit a SOPS file (sops's `sops \
             --input-type yaml FILE`)"
        };
        return Err(crate::cli::Cli::usage_error(message).into());
    };
    let code = if args.decrypt {
        decrypt::run(decrypt::Args {
            file,
            in_place: args.in_place,
            output: args.output,
            extract: args.extract,
            ignore_mac: args.ignore_mac,
            filename_override: args.filename_override,
            types: args.types,
            config: args.config,
            indent: args.indent,
        })?
    } else if args.encrypt {
        encrypt::run(encrypt::Args {
            file,
            in_place: args.in_place,
            output: args.output,
            filename_override: args.filename_override,
            types: args.types,
            config: args.config,
            keys: args.keys,
            selectors: args.selectors,
            indent: args.indent,
        })?
    } else if args.rotate {
        rotate::run(rotate::Args {
            file,
            in_place: args.in_place,
            output: args.output,
            keys: args.rotation,
            aws_profile: args.keys.aws_profile.clone(),
            encryption_context: args.keys.encryption_context.clone(),
            ignore_mac: args.ignore_mac,
            types: args.types,
        })?
    } else {
        edit::run(
            edit::Args {
                file,
                config: args.config,
                keys: args.keys,
                selectors: args.selectors,
                types: args.types,
                ignore_mac: args.ignore_mac,
                show_master_keys: false,
            },
            printer,
        )?
    };
    Ok(code)
}
