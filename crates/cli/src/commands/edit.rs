//! `seal edit FILE`: decrypt to a private temp file, run the editor, re-encrypt on change.
//!
//! The plaintext exists only in a 0600 file inside a 0700 temp dir; the dir is removed on
//! every exit path: success, no change, invalid edit, editor failure, and SIGINT/SIGTERM/
//! SIGHUP (a handler turns the signal into a flag; the editor, in the same process group,
//! gets the signal too, and once it is gone we clean up and exit 130).
//! An unchanged file is not rewritten. An edit that does not parse re-opens the editor when
//! a terminal is attached (sops's behaviour), else fails leaving the original untouched.
//! A missing FILE is created from the `.sops.yaml` rules (or `--age`), starting from sops's
//! example document.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use zeroize::Zeroizing;

use super::sops_args::{ConfigArgs, KeyArgs, SelectorArgs, TypeArgs};
use super::sops_common::{self, EditSource, Resealed, SopsFile, env};
use super::sops_io;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Arguments of `seal edit` (also `seal --input-type T FILE`, sops's spelling).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  $ EDITOR=vim seal edit secrets.enc.yaml")]
pub struct Args {
    /// The file to edit (created if missing).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub keys: KeyArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub selectors: SelectorArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
    /// Open the file even if its MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Accepted for sops compatibility (the `sops` metadata is never shown for editing).
    #[arg(short = 's', long)]
    pub show_master_keys: bool,
}

/// Runs `seal edit`.
pub fn run(args: Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let interrupted = sops_io::interrupt_flag()?;

    let file = SopsFile::new(&args.file, None, &args.types, &args.config, None)?;
    let source = sops_common::open_for_edit(&file, &args.keys, &args.selectors, args.ignore_mac)?;
    let dir = sops_io::private_temp_dir()?;
    let name = args
        .file
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let temp_path = dir.path().join(name);
    sops_io::write_private_file(&temp_path, source.plaintext())?;
    let result = edit_loop(&source, &temp_path, &interrupted, printer);
    // Plaintext leaves the disk before anything else happens.
    drop(dir);
    if interrupted.load(Ordering::SeqCst) {
        printer.error(&format!(
            "interrupted: {} left unchanged",
            args.file.display()
        ));
        return Ok(ExitStatus::INTERRUPTED);
    }
    match result? {
        Some(sealed) => {
            sealed.write_to_file(&args.file)?;
            source.finish();
            Ok(ExitStatus::Success)
        }
        None => {
            printer.info(&format!(
                "file has not changed: {} left as is",
                args.file.display()
            ));
            Ok(ExitStatus::Success)
        }
    }
}

/// Runs the editor until the result parses; `None` when nothing changed.
fn edit_loop<'s>(
    source: &'s EditSource,
    temp_path: &std::path::Path,
    interrupted: &AtomicBool,
    printer: &Printer,
) -> anyhow::Result<Option<Resealed<'s>>> {
    loop {
        run_editor(temp_path, interrupted)?;
        let after = Zeroizing::new(fs_err::read(temp_path)?);
        if after.as_slice() == source.plaintext() && !source.is_new() {
            return Ok(None);
        }
        match source.seal(&after) {
            Ok(bytes) => return Ok(Some(bytes)),
            Err(err) if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
                printer.error(&format!("{err:#}"));
                printer.info("Press Enter to return to the editor, or Ctrl-C to abort");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                if interrupted.load(Ordering::SeqCst) {
                    anyhow::bail!("interrupted");
                }
            }
            Err(err) => {
                return Err(err.context("the edited file is invalid; the original is untouched"));
            }
        }
    }
}

fn run_editor(path: &std::path::Path, interrupted: &AtomicBool) -> anyhow::Result<()> {
    let editor = std::env::var(env::SOPS_EDITOR)
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var(env::EDITOR)
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| "vim".to_owned());
    // Like sops: the editor value is a command line (`code --wait`), the file its last
    // argument; run through `sh -c` so quoting works as in a shell.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("starting editor `{editor}`"))?;
    if interrupted.load(Ordering::SeqCst) {
        anyhow::bail!("interrupted");
    }
    if !status.success() {
        anyhow::bail!("editor `{editor}` failed ({status}); file left unchanged");
    }
    Ok(())
}
