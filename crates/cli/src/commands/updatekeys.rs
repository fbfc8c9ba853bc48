//! `seal updatekeys FILE` (or `-r DIR`): re-wrap the data key for the keys the `.sops.yaml`
//! rule governing each file names now.
//!
//! Values are untouched (same data key); only the `sops` key entries change. Shows the
//! change and asks for confirmation unless `-y`; `--dry-run` only shows it (and needs no
//! key). With `-r`, every SOPS file under DIR (found by its metadata) gets the rule that
//! governs it; the changes are shown first, confirmed once, then applied with a progress bar.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use sealer::sops::EncryptedFile;
use sealer::sops::master_keys::Unwrappers;

use super::sops_args::{ConfigArgs, KeyArgs, SelectorArgs, TypeArgs};
use super::sops_common::{self, KeyChange, Plan, SopsFile};
use super::sops_tree;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Arguments of `seal updatekeys`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  $ seal updatekeys -y secrets.enc.yaml\n  $ seal updatekeys -r --dry-run deploy/"
)]
pub struct Args {
    /// The SOPS file (changed in place), or with -r a directory.
    #[arg(value_name = "FILE|DIR")]
    pub file: PathBuf,
    /// Every SOPS file under the directory FILE|DIR (found by its metadata).
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Show which recipients each file would gain or lose; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

/// One file's pending change.
struct Pending {
    file: SopsFile,
    encrypted: EncryptedFile,
    change: KeyChange,
}

/// Reads `path` and compares its keys with its rule's; `None` when up to date.
fn pending(path: &Path, args: &Args) -> anyhow::Result<Option<Pending>> {
    let file = SopsFile::new(path, None, &args.types, &args.config, None)?;
    let input = file.read()?;
    let encrypted = EncryptedFile::parse(&input, file.formats.input)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let plan = Plan::build(
        &file.rules_name,
        &file.config,
        &KeyArgs::default(),
        &SelectorArgs::default(),
    )?;
    Ok(plan
        .key_change(encrypted.metadata())?
        .map(|change| Pending {
            file,
            encrypted,
            change,
        }))
}

impl Pending {
    /// Unwraps the data key, wraps it for the new keys and writes the file.
    fn apply(mut self, with: &Unwrappers) -> anyhow::Result<()> {
        let data_key = sops_common::unwrap_key(&self.encrypted, &self.file.path, with)?;
        self.change.apply(&mut self.encrypted, &data_key)?;
        let formats = self.file.formats;
        let bytes = self
            .encrypted
            .to_bytes_with(formats.output, &formats.options)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.file.path.display()))?;
        crate::fsio::write_atomic(&self.file.path, &bytes)
    }

    fn summary(&self) -> String {
        format!(
            "{}: {} recipient(s) added, {} removed",
            self.file.path.display(),
            self.change.added,
            self.change.removed
        )
    }
}

/// Asks `question` on the terminal; without one, `-y` is needed.
fn confirm(question: &str, printer: &Printer) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("confirmation needed: pass -y to update keys non-interactively");
    }
    printer.prompt(question);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Runs `seal updatekeys`.
pub fn run(args: Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.recursive {
        return run_tree(&args, printer);
    }
    let Some(pending) = pending(&args.file, &args)? else {
        printer.info(&format!("{}: already up to date", args.file.display()));
        return Ok(ExitStatus::Success);
    };
    printer.info("The following changes will be made to the file's key groups:");
    for line in &pending.change.lines {
        printer.info(line);
    }
    if args.dry_run {
        return Ok(ExitStatus::Success);
    }
    if !args.yes && !confirm("Is this okay? (y/n): ", printer)? {
        anyhow::bail!("changes not applied");
    }
    pending.apply(&Unwrappers::from_process_env())?;
    Ok(ExitStatus::Success)
}

fn run_tree(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (files, mut failures) = sops_tree::find(&args.file, &args.types)?;
    let total = files.len() + failures.len();
    let mut todo = Vec::new();
    for path in &files {
        match pending(path, args) {
            Ok(Some(p)) => {
                printer.info(&p.summary());
                for line in &p.change.lines {
                    printer.info(&format!("    {line}"));
                }
                todo.push(p);
            }
            Ok(None) => printer.info(&format!("{}: already up to date", path.display())),
            Err(e) => failures.push(sops_tree::Failure::new(path, &e)),
        }
    }
    if args.dry_run || todo.is_empty() {
        return Ok(sops_tree::report_failures(total, &failures, printer));
    }
    let question = format!("Update the keys of {} file(s)? (y/n): ", todo.len());
    if !args.yes && !confirm(&question, printer)? {
        anyhow::bail!("changes not applied");
    }
    // Identities are loaded once for every file.
    let with = Unwrappers::from_process_env();
    let paths: Vec<PathBuf> = todo.iter().map(|p| p.file.path.clone()).collect();
    let mut todo = todo.into_iter();
    Ok(sops_tree::run_each(
        &paths,
        failures,
        total,
        printer,
        |_| {
            if let Some(p) = todo.next() {
                p.apply(&with)?;
            }
            Ok(Vec::new())
        },
    ))
}
