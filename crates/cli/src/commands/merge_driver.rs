//! `seal merge-driver %O %A %B %P`: git's merge driver for SOPS files (set up by `seal git
//! setup`), the one getsops/sops#52 asks for.
//!
//! The three versions are decrypted in memory and merged on their trees
//! (`sealer::sops::merge`); the result is encrypted with our data key and keys (theirs when
//! only their side changed the keys) and written over %A, where git takes it from. Values
//! whose cleartext did not change keep their exact ciphertext, so the merged file differs
//! from each side only where the other side changed something. When both sides changed the
//! same value differently, %A gets the merge with our side of each such value (encrypted),
//! the conflicting paths are printed and the exit status is 1: git then marks the file as
//! conflicted (its index keeps both sides). No cleartext is written anywhere.
//!
//! A file that none of the three versions shows as a SOPS file (a pattern in
//! `.gitattributes` that is wider than the SOPS files) is merged as text by `git merge-file`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sealer::sops::master_keys::{self, DataKey, Unwrappers};
use sealer::sops::{EncryptedFile, IvStash, MacCheck, Metadata, PlainFile, merge};

use super::sops_args::{ConfigArgs, TypeArgs};
use super::sops_common::SopsFile;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Arguments of `seal merge-driver` (git's `%O %A %B %P`).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Set up by `seal git setup`; git runs it as:\n  seal merge-driver %O %A %B %P"
)]
pub struct Args {
    /// The common ancestor's version (git's %O; empty when there is none).
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// Our version, replaced by the merge result (git's %A).
    #[arg(value_name = "OURS")]
    pub ours: PathBuf,
    /// Their version (git's %B).
    #[arg(value_name = "THEIRS")]
    pub theirs: PathBuf,
    /// The file's path in the repository (git's %P): picks the store and `.sops.yaml` rule.
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
}

/// One version, decrypted.
struct Version {
    plain: PlainFile,
    metadata: Metadata,
    data_key: DataKey,
}

/// Runs `seal merge-driver`.
pub fn run(args: Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let name = args.path.clone().unwrap_or_else(|| args.ours.clone());
    let file = SopsFile::new(
        &args.ours,
        Some(&name.to_string_lossy()),
        &args.types,
        &args.config,
        None,
    )?;
    let format = file.formats.input;
    let read = |p: &Path| fs_err::read(p).map_err(anyhow::Error::from);
    let (base, ours, theirs) = (read(&args.base)?, read(&args.ours)?, read(&args.theirs)?);
    let is_sops = |b: &[u8]| EncryptedFile::is_encrypted(b, format);
    let sops = [is_sops(&base), is_sops(&ours), is_sops(&theirs)];
    if sops == [false; 3] {
        return merge_as_text(&args, &name);
    }
    if !sops[1] || !sops[2] || (!sops[0] && !base.is_empty()) {
        printer.error(&format!(
            "{}: one side of the merge is a SOPS file and the other is not; merge it by hand \
             (`seal edit`)",
            name.display()
        ));
        return Ok(ExitStatus::Failure);
    }
    let with = Unwrappers::from_process_env();
    let mut stash = IvStash::new();
    // Theirs first: where both sides hold the same value, our IV is the one kept.
    let theirs = open(&theirs, &name, &file, &with, Some(&mut stash))?;
    let ours = open(&ours, &name, &file, &with, Some(&mut stash))?;
    let base = if base.is_empty() {
        None
    } else {
        Some(open(&base, &name, &file, &with, None)?)
    };
    let empty = PlainFile::from_documents(Vec::new());
    let merged = merge::merge(
        base.as_ref().map_or(&empty, |b| &b.plain),
        &ours.plain,
        &theirs.plain,
    );
    let conflicts = merged.conflicts.clone();
    // Our keys, unless only their side changed them (rotate, updatekeys).
    let base_groups = base.as_ref().map(|b| &b.metadata.key_groups);
    let keys = if base_groups == Some(&ours.metadata.key_groups)
        && base_groups != Some(&theirs.metadata.key_groups)
    {
        &theirs
    } else {
        &ours
    };
    let encrypted = merged
        .file
        .encrypt_reusing_ivs(&keys.data_key, keys.metadata.clone(), &stash)
        .with_context(|| name.display().to_string())?;
    let bytes = encrypted
        .to_bytes_with(file.formats.output, &file.formats.options)
        .with_context(|| name.display().to_string())?;
    crate::fsio::write_atomic(&args.ours, &bytes)?;
    if conflicts.is_empty() {
        return Ok(ExitStatus::Success);
    }
    printer.error(&format!(
        "{}: both sides changed {} value(s) differently; the file (encrypted) holds the merge \
         with our side of each:",
        name.display(),
        conflicts.len()
    ));
    for path in &conflicts {
        printer.info(&format!("  {path}"));
    }
    printer.info(&format!(
        "hint: fix them with `seal edit {}` (or `git checkout --theirs`/`--ours`), then `git \
         add` it",
        name.display()
    ));
    Ok(ExitStatus::Failure)
}

fn open(
    bytes: &[u8],
    name: &Path,
    file: &SopsFile,
    with: &Unwrappers,
    stash: Option<&mut IvStash>,
) -> anyhow::Result<Version> {
    let context = || name.display().to_string();
    let mut encrypted = EncryptedFile::parse(bytes, file.formats.input).with_context(context)?;
    let data_key =
        master_keys::unwrap_data_key(encrypted.metadata(), with).with_context(context)?;
    let plain = match stash {
        Some(stash) => encrypted.take_decrypted_keeping_ivs(&data_key, MacCheck::Verify, stash),
        None => encrypted.take_decrypted(&data_key, MacCheck::Verify),
    }
    .with_context(context)?;
    Ok(Version {
        plain,
        metadata: encrypted.metadata().clone(),
        data_key,
    })
}

/// git's own text merge, for files that are not SOPS files.
fn merge_as_text(args: &Args, name: &Path) -> anyhow::Result<ExitStatus> {
    let status = std::process::Command::new("git")
        .arg("merge-file")
        .args(["-L", "ours", "-L", "base", "-L", "theirs"])
        .args([&args.ours, &args.base, &args.theirs])
        .status()
        .with_context(|| format!("{}: running `git merge-file`", name.display()))?;
    Ok(if status.success() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
