//! The sops-compatible subcommands of `seal`, and sops's legacy top-level spellings.
//!
//! clap maps sops's flag forms onto the subcommands themselves (flag subcommands): `seal -d
//! FILE` is `seal decrypt FILE`, `-e` is `encrypt`, `-r` is `rotate`, with every flag of the
//! subcommand (helm-secrets runs `sops --decrypt --input-type yaml --output OUT FILE`). The
//! one form left, `seal --input-type yaml [--output-type yaml] FILE` (sops's implicit `edit`),
//! is [`LegacyEditArgs`] on the root.

use std::path::PathBuf;

use super::sops_args::TypeArgs;
use super::{
    decrypt, diff, edit, encrypt, exec_env, exec_file, filestatus, merge_driver, rotate, set,
    unset, updatekeys,
};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// The sops workflow: encrypt, decrypt and edit SOPS files.
#[derive(clap::Subcommand, Debug)]
pub enum SopsCommand {
    /// Encrypt a YAML, JSON, dotenv, INI or binary file with SOPS.
    #[command(short_flag = 'e', long_flag = "encrypt")]
    Encrypt(encrypt::Args),
    /// Decrypt a SOPS file.
    #[command(short_flag = 'd', long_flag = "decrypt")]
    Decrypt(decrypt::Args),
    /// Edit a SOPS file in $SOPS_EDITOR / $EDITOR, re-encrypting on save (values left alone
    /// keep their ciphertext).
    Edit(edit::Args),
    /// Set one value of a SOPS file: `seal set FILE '["a"]["b"]' '"value"'`.
    Set(set::Args),
    /// Remove one value of a SOPS file: `seal unset FILE '["a"]["b"]'`.
    Unset(unset::Args),
    /// Re-wrap the data key for the recipients the `.sops.yaml` rules give now (a file, or
    /// every SOPS file of a tree with -r).
    Updatekeys(updatekeys::Args),
    /// Generate a new data key and re-encrypt every value (a file, or a tree with -r).
    #[command(short_flag = 'r', long_flag = "rotate")]
    Rotate(rotate::Args),
    /// Run a command with the decrypted values in its environment.
    ExecEnv(exec_env::Args),
    /// Run a command with the decrypted file at a temporary path (`{}` in the command).
    ExecFile(exec_file::Args),
    /// Tell whether a file is SOPS-encrypted, as JSON: `{"encrypted":true}`.
    Filestatus(filestatus::Args),
    /// Show what changed between two versions of a SOPS file (values as fingerprints unless
    /// --show-values) or of SealedSecrets.
    Diff(diff::Args),
    /// git merge driver for SOPS files: three-way merge of the decrypted values (see `seal git
    /// setup`).
    MergeDriver(merge_driver::Args),
}

/// Runs one sops subcommand; messages go through `printer`.
pub fn run(cmd: SopsCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cmd {
        SopsCommand::Encrypt(args) => encrypt::run(args),
        SopsCommand::Decrypt(args) => decrypt::run(args),
        SopsCommand::Edit(args) => edit::run(args, printer),
        SopsCommand::Set(args) => set::run(args),
        SopsCommand::Unset(args) => unset::run(args),
        SopsCommand::Updatekeys(args) => updatekeys::run(args, printer),
        SopsCommand::Rotate(args) => rotate::run(args, printer),
        SopsCommand::ExecEnv(args) => exec_env::run(args),
        SopsCommand::ExecFile(args) => exec_file::run(args, printer),
        SopsCommand::Filestatus(args) => filestatus::run(args),
        SopsCommand::Diff(args) => diff::run(args, printer),
        SopsCommand::MergeDriver(args) => merge_driver::run(args, printer),
    }
}

/// sops's implicit edit, `sops --input-type yaml FILE`, as helm-secrets runs it.
#[derive(clap::Args, Debug, Default)]
pub struct LegacyEditArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

impl LegacyEditArgs {
    /// Whether the sops edit form was asked for.
    pub fn given(&self) -> bool {
        self.types.input_type.is_some() || self.types.output_type.is_some()
    }

    /// Runs `seal edit` on `file` with these types; without a FILE, a usage error in clap's
    /// form.
    pub fn run(self, file: Option<PathBuf>, printer: &Printer) -> anyhow::Result<ExitStatus> {
        let Some(file) = file else {
            return Err(crate::cli::Cli::usage_error(
                "missing FILE: `--input-type`/`--output-type` edit a SOPS file (sops's `sops \
                 --input-type yaml FILE`)",
            )
            .into());
        };
        edit::run(
            edit::Args {
                file,
                config: Default::default(),
                keys: Default::default(),
                selectors: Default::default(),
                types: self.types,
                ignore_mac: false,
                show_master_keys: false,
            },
            printer,
        )
    }
}
