//! Whole trees for `updatekeys -r` and `rotate -r`: every SOPS file under a directory, found
//! by its `sops` metadata rather than by its name (getsops/sops#1071 asks for this). One file
//! that cannot be read or changed does not stop the others: each failure is reported at the
//! end, the exit status is 1, and a file that failed is left byte-identical (files are only
//! ever replaced whole, after everything about them succeeded).

use std::path::{Path, PathBuf};

use sealer::sops::{EncryptedFile, Format};

use super::sops_args::TypeArgs;
use crate::printer::Printer;
use crate::report::{self, ExitStatus};

/// Files larger than this are not considered (no SOPS file of a repository is near it).
const MAX_FILE_BYTES: u64 = 256 << 20;

/// SOPS files under `dir` (sorted; `.git` and symbolic links skipped), and the files that
/// could not be read to tell.
pub fn find(dir: &Path, types: &TypeArgs) -> anyhow::Result<(Vec<PathBuf>, Vec<Failure>)> {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<_> = match fs_err::read_dir(&dir) {
            Ok(entries) => entries.filter_map(Result::ok).collect(),
            Err(e) => {
                failures.push(Failure::new(&dir, &anyhow::Error::new(e)));
                continue;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        // Depth first, in name order: sub-directories are pushed in reverse.
        let mut subdirs = Vec::new();
        for entry in entries {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if entry.file_name() != ".git" {
                    subdirs.push(path);
                }
            } else if kind.is_file() {
                match is_sops_file(&path, types) {
                    Ok(true) => found.push(path),
                    Ok(false) => {}
                    Err(e) => failures.push(Failure::new(&path, &e)),
                }
            }
        }
        pending.extend(subdirs.into_iter().rev());
    }
    found.sort();
    Ok((found, failures))
}

/// Whether `path` is a SOPS file of its store (by its name, or `--input-type`).
fn is_sops_file(path: &Path, types: &TypeArgs) -> anyhow::Result<bool> {
    if fs_err::metadata(path)?.len() > MAX_FILE_BYTES {
        return Ok(false);
    }
    let bytes = fs_err::read(path)?;
    // Every store writes the word `sops` in its metadata: most files are ruled out here.
    if memchr::memmem::find(&bytes, b"sops").is_none() {
        return Ok(false);
    }
    let format = types.input_type.unwrap_or_else(|| Format::from_path(path));
    Ok(EncryptedFile::is_encrypted(&bytes, format))
}

/// A file that could not be handled, and why (one line).
#[derive(Debug)]
pub struct Failure {
    path: PathBuf,
    reason: String,
}

impl Failure {
    /// `error` as one line, without the path it may start with.
    pub fn new(path: &Path, error: &anyhow::Error) -> Self {
        let line = report::one_line(error);
        // Most errors name their file already; it is printed once, before them.
        let named = format!("{}: ", path.display());
        let reason = line.strip_prefix(&named).unwrap_or(&line).to_owned();
        Self {
            path: path.to_owned(),
            reason,
        }
    }
}

/// Runs `op` on each file with a progress bar, printing the lines it returns; reports the
/// failures (those found before included) at the end, out of `total` files.
pub fn run_each(
    files: &[PathBuf],
    mut failures: Vec<Failure>,
    total: usize,
    printer: &Printer,
    mut op: impl FnMut(&Path) -> anyhow::Result<Vec<String>>,
) -> ExitStatus {
    let progress = printer.progress(files.len() as u64, "");
    for file in files {
        progress.set_message(file.display().to_string());
        match op(file) {
            Ok(lines) => {
                for line in lines {
                    progress.println(&line);
                }
            }
            Err(e) => failures.push(Failure::new(file, &e)),
        }
        progress.inc(1);
    }
    progress.finish();
    report_failures(total, &failures, printer)
}

/// Prints the failures (if any) after the work: `error: N of M files failed`, one line each.
pub fn report_failures(total: usize, failures: &[Failure], printer: &Printer) -> ExitStatus {
    if failures.is_empty() {
        return ExitStatus::Success;
    }
    let total = total.max(failures.len());
    printer.error(&format!(
        "{} of {total} files failed (left unchanged):",
        failures.len()
    ));
    for failure in failures {
        printer.info(&format!("  {}: {}", failure.path.display(), failure.reason));
    }
    ExitStatus::Failure
}
