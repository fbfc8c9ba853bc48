//! `seal unset FILE PATH`: remove one value in place, like `sops unset` (every other value
//! keeps its ciphertext).

use std::path::PathBuf;

use sealer::sops::{Patched, TreePath};

use super::sops_args::{ConfigArgs, TypeArgs};
use super::sops_common::{Purpose, SopsFile};
use crate::report::ExitStatus;

/// Arguments of `seal unset`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  $ seal unset secrets.enc.yaml '[\"data\"][\"old\"]'")]
pub struct Args {
    /// The SOPS file (changed in place).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// What to remove, e.g. `'["data"]["old"]'`.
    #[arg(value_name = "PATH")]
    pub path: TreePath,
    /// Exit 0 if PATH is already absent.
    #[arg(long)]
    pub idempotent: bool,
    /// Modify the file even if its MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
}

/// Runs `seal unset`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let file = SopsFile::new(&args.file, None, &args.types, &args.config, None)?;
    let mut unlocked = file.unlock()?;
    match unlocked.unset(&args.path, args.ignore_mac, args.idempotent)? {
        Patched::Done { changed: false } => {}
        Patched::Done { changed: true } => unlocked.write_in_place()?,
        Patched::Declined => {
            let mut opened = unlocked.open(args.ignore_mac, Purpose::Rewrite)?;
            if opened.unset(&args.path, args.idempotent)? {
                opened.reseal_to_file()?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
