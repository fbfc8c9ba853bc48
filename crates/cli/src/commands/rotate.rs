//! `seal rotate FILE` (or `-r DIR`): new data key, every value re-encrypted, keys re-wrapped.
//!
//! `--add-{age,pgp,kms,gcp-kms,azure-kv,hc-vault-transit}` add keys to the first key group
//! and `--rm-*` remove keys from every group on the way, as sops's `rotate` does. Prints to
//! stdout unless `-i` or `--output`. With `-r`, every SOPS file under DIR (found by its
//! metadata) is rotated in place, with its own `.sops.yaml` store settings; `--dry-run`
//! shows per file which recipients would join or leave.

use std::path::{Path, PathBuf};

use sealer::sops::EncryptedFile;

use super::sops_args::{ConfigArgs, OutputArgs, RotateKeyArgs, TypeArgs};
use super::sops_common::{self, Purpose, RotatedKeys, SopsFile};
use super::sops_tree;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Arguments of `seal rotate` (also `seal -r`, sops's spelling).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  $ seal rotate -i --add-age age1... secrets.enc.yaml\n  $ seal rotate -r --dry-run --rm-age age1... deploy/"
)]
pub struct Args {
    /// The SOPS file, or with -r a directory.
    #[arg(value_name = "FILE|DIR")]
    pub file: PathBuf,
    /// Every SOPS file under the directory FILE|DIR (found by its metadata), in place.
    #[arg(short = 'r', long, conflicts_with = "output")]
    pub recursive: bool,
    /// Show which recipients each file would gain or lose; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub keys: RotateKeyArgs,
    /// AWS profile for the --add-kms / --rm-kms keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context for the --add-kms / --rm-kms keys: `key:value,key2:value2`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// Rotate even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
}

impl Args {
    fn key_flags(
        &self,
    ) -> (
        sealer::sops::master_keys::KeyFlags,
        sealer::sops::master_keys::KeyFlags,
    ) {
        let (profile, context) = (
            self.aws_profile.as_deref(),
            self.encryption_context.as_deref(),
        );
        (
            self.keys.add(profile, context),
            self.keys.remove(profile, context),
        )
    }

    /// The recipients `path` would gain and lose.
    fn dry_run_lines(&self, path: &Path) -> anyhow::Result<Vec<String>> {
        let file = SopsFile::new(path, None, &self.types, &self.config, None)?;
        let encrypted = EncryptedFile::parse(&file.read()?, file.formats.input)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let (add, remove) = self.key_flags();
        let change = RotatedKeys::of(encrypted.metadata(), path, &add, &remove)?;
        let mut lines = vec![format!(
            "{}: new data key; {} recipient(s) added, {} removed",
            path.display(),
            change.added.len(),
            change.removed.len()
        )];
        lines.extend(change.added.iter().map(|k| format!("    +++ {k}")));
        lines.extend(change.removed.iter().map(|k| format!("    --- {k}")));
        Ok(lines)
    }

    /// Rotates `path`; the bytes to write.
    fn rotated(&self, path: &Path) -> anyhow::Result<Vec<u8>> {
        let file = SopsFile::new(path, None, &self.types, &self.config, None)?;
        let mut opened = file.open(self.ignore_mac, Purpose::Read)?;
        let (add, remove) = self.key_flags();
        opened.rotate(&add, &remove)
    }
}

/// Runs `seal rotate`.
pub fn run(args: Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.recursive {
        let (files, failures) = sops_tree::find(&args.file, &args.types)?;
        let total = files.len() + failures.len();
        return Ok(sops_tree::run_each(
            &files,
            failures,
            total,
            printer,
            |path| {
                if args.dry_run {
                    return args.dry_run_lines(path);
                }
                let bytes = args.rotated(path)?;
                crate::fsio::write_atomic(path, &bytes)?;
                Ok(vec![format!("{}: rotated", path.display())])
            },
        ));
    }
    if args.dry_run {
        for line in args.dry_run_lines(&args.file)? {
            printer.info(&line);
        }
        return Ok(ExitStatus::Success);
    }
    let target = args.output.target(&args.file)?;
    let bytes = args.rotated(&args.file)?;
    sops_common::write_output(&target, &bytes)?;
    Ok(ExitStatus::Success)
}
