//! `seal reseal PATH…`: re-seal every SealedSecret of files and directory trees for the
//! current sealing key, in place.
//!
//! Only the values of `spec.encryptedData` change: every other byte of a file (comments,
//! order, quoting, other documents) stays as it was, and a file is replaced atomically
//! (temporary file and rename, through symlinks) only when all its SealedSecrets re-sealed.
//!
//! - Online (default): each SealedSecret goes to the controller's `POST /v1/rotate` through the
//!   API server's service proxy (or `--controller-url`); the controller decrypts and re-seals,
//!   no plaintext reaches this machine. Items the controller's newest key already opens come
//!   back unchanged and are left byte-identical.
//! - Offline (`--private-key` + `--cert`): backed-up private keys open the items here, and
//!   they are sealed for `--cert`. An item that the private key of `--cert` opens is already
//!   sealed for it and stays byte-identical; that is only known when that private key is among
//!   `--private-key` (RSA-OAEP ciphertexts are randomized: without the private key nothing
//!   tells which public key a blob was sealed to), so pass the whole key backup.
//!
//! Offline work runs on every core; a progress bar shows on a terminal; `--output json` prints
//! a report. Failed files are left untouched and named at the end (exit status 1).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context as _, bail};
use sealer::sealed::located::{self, LocatedSealedSecret};
use sealer::sealed::{Certificate, PrivateKey, PublicKey};
use sealer::yaml::spanned;
use serde::Serialize;

use crate::certsource;
use crate::controller_api::{Controller, ControllerArgs};
use crate::fsio;
use crate::printer::Printer;
use crate::report::{ExitStatus, UsageError};

/// Files larger than this are not read (no SealedSecret file comes near it).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Re-seal flags.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  $ seal reseal deploy/                       # through the controller\n  $ seal reseal --private-key backup.yaml --cert new.pem deploy/ secrets.yaml\n  $ seal reseal --dry-run --output json deploy/"
)]
pub struct Args {
    /// Files and directories (searched recursively for .yaml, .yml and .json files; hidden
    /// directories are skipped).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Offline: private keys that open the SealedSecrets (PEM, or key Secrets as `kubectl get
    /// secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` or `seal keys backup`
    /// print); needs --cert. Repeat or comma-separate.
    #[arg(
        long = "private-key",
        value_name = "FILE",
        value_delimiter = ',',
        requires = "cert"
    )]
    pub private_keys: Vec<PathBuf>,

    /// Offline: the certificate to re-seal for (a PEM file, `file://…` or an `http(s)://` URL).
    #[arg(long, value_name = "FILE|URL", requires = "private_keys")]
    pub cert: Option<String>,

    /// With an http(s) --cert: seconds the whole download may take.
    #[arg(long, value_name = "SECONDS", default_value_t = certsource::DEFAULT_FETCH_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub cert_timeout: u64,

    /// Online: the controller's URL (e.g. `http://127.0.0.1:8080` through `kubectl
    /// port-forward`) instead of the API server's service proxy.
    #[arg(long, value_name = "URL", conflicts_with = "private_keys")]
    pub controller_url: Option<String>,

    /// Namespace of SealedSecrets that name none (it is part of what they were sealed for).
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,

    /// Change nothing: say what would be re-sealed.
    #[arg(long)]
    pub dry_run: bool,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub output: ReportFormat,

    /// Offline: threads [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One line per file.
    Text,
    /// One JSON object.
    Json,
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// The path as found.
    pub path: String,
    /// `resealed`, `unchanged`, `would-reseal` (dry run) or `failed`.
    pub status: &'static str,
    /// SealedSecrets in the file.
    pub sealed_secrets: usize,
    /// Items sealed again.
    pub resealed_items: usize,
    /// Items already sealed for the target, left as they were.
    pub kept_items: usize,
    /// What failed (object and item names, never values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The whole run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Files with at least one SealedSecret (or that failed).
    pub files: Vec<FileReport>,
    /// Totals.
    pub summary: Summary,
}

/// Totals of a run.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Files with SealedSecrets.
    pub files: usize,
    /// Files rewritten (or that would be, on a dry run).
    pub resealed: usize,
    /// Files left as they were.
    pub unchanged: usize,
    /// Files that failed (left untouched).
    pub failed: usize,
    /// SealedSecrets seen.
    pub sealed_secrets: usize,
    /// Items sealed again.
    pub resealed_items: usize,
    /// Items kept.
    pub kept_items: usize,
    /// Whether files were written.
    pub dry_run: bool,
}

/// A file found with SealedSecrets in it.
struct Found {
    path: PathBuf,
    text: String,
    sealed: Vec<LocatedSealedSecret>,
}

/// How items get their new blobs.
enum Mode {
    Offline {
        keys: Vec<PrivateKey>,
        target: PublicKey,
        /// Index of the target's own private key among `keys`.
        target_index: Option<usize>,
    },
    Online(Controller),
}

/// Runs the command.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mode = if args.private_keys.is_empty() {
        Mode::Online(Controller::connect(
            &args.controller,
            args.controller_url.as_deref(),
        )?)
    } else {
        let Some(cert) = &args.cert else {
            return Err(UsageError(
                "--private-key needs --cert (the certificate to re-seal for)".into(),
            )
            .into());
        };
        let cert: Certificate = certsource::load(
            cert,
            std::time::Duration::from_secs(args.cert_timeout),
            printer,
        )?;
        let mut keys = Vec::new();
        for path in &args.private_keys {
            keys.extend(super::unseal::load_private_keys(path)?);
        }
        let target = cert.public_key().clone();
        let target_index = keys.iter().position(|k| *k.public_key() == target);
        if target_index.is_none() {
            printer.warn(
                "the private key of --cert is not among --private-key: items already sealed for it cannot be recognised and will fail (pass the key backup that holds it)",
            );
        }
        Mode::Offline {
            keys,
            target,
            target_index,
        }
    };

    let mut reports = Vec::new();
    let files = discover(&args.paths, &mut reports)?;
    let found = read_all(files, &args.namespace, &mut reports);
    let total: usize = found.iter().map(|f| f.sealed.len()).sum();
    let progress = printer.progress(total as u64, "re-sealing");
    let results = match &mode {
        Mode::Offline {
            keys,
            target,
            target_index,
        } => offline(&found, keys, target, *target_index, args, &progress),
        Mode::Online(controller) => online(&found, controller, &progress),
    };
    progress.finish();
    for (file, outcome) in found.iter().zip(results) {
        reports.push(finish_file(file, outcome, args.dry_run));
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    let report = summarize(reports, args.dry_run);
    print_report(&report, args.output, printer)?;
    if report.summary.failed > 0 {
        let failed: Vec<&str> = report
            .files
            .iter()
            .filter(|f| f.status == "failed")
            .map(|f| f.path.as_str())
            .collect();
        for file in report.files.iter().filter(|f| f.status == "failed") {
            for error in &file.errors {
                printer.error(&format!("{}: {error}", file.path));
            }
        }
        printer.error(&format!(
            "{} file(s) failed and were left untouched: {}",
            failed.len(),
            failed.join(", ")
        ));
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

/// The files to look at: each PATH, or the .yaml/.yml/.json files below it.
fn discover(paths: &[PathBuf], reports: &mut Vec<FileReport>) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        let meta = fs_err::metadata(path)?;
        if meta.is_dir() {
            walk(path, &mut out, &mut seen, reports);
        } else if seen.insert(canonical(path)) {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn canonical(path: &Path) -> PathBuf {
    fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
    reports: &mut Vec<FileReport>,
) {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            reports.push(failed(dir, e.to_string()));
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        // Symlinked directories are not followed (no loops); symlinked files are.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !hidden {
                walk(&path, out, seen, reports);
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) && fs_err::metadata(&path).is_ok_and(|m| m.is_file())
            && seen.insert(canonical(&path))
        {
            out.push(path);
        }
    }
}

fn failed(path: &Path, error: String) -> FileReport {
    FileReport {
        path: path.display().to_string(),
        status: "failed",
        errors: vec![error],
        ..FileReport::default()
    }
}

/// Reads the files and finds their SealedSecrets; files without any are dropped, unreadable
/// ones reported.
fn read_all(files: Vec<PathBuf>, namespace: &str, reports: &mut Vec<FileReport>) -> Vec<Found> {
    let mut found = Vec::new();
    for path in files {
        match read_one(&path, namespace) {
            Ok(Some(f)) => found.push(f),
            Ok(None) => {}
            Err(e) => reports.push(failed(&path, format!("{e:#}"))),
        }
    }
    found
}

fn read_one(path: &Path, namespace: &str) -> anyhow::Result<Option<Found>> {
    let size = fs_err::metadata(path)?.len();
    if size > MAX_FILE_BYTES {
        bail!("larger than {} MiB: not read", MAX_FILE_BYTES >> 20);
    }
    let bytes = fs_err::read(path)?;
    // Cheap first look: most files of a tree hold no SealedSecret at all.
    if !bytes.windows(12).any(|w| w == b"SealedSecret") {
        return Ok(None);
    }
    let text = String::from_utf8(bytes).context("not UTF-8")?;
    let mut sealed = located::locate(&text).context("reading the YAML/JSON")?;
    if sealed.is_empty() {
        return Ok(None);
    }
    for ss in &mut sealed {
        if ss.metadata.namespace.as_deref().is_none_or(str::is_empty) {
            ss.metadata.namespace = Some(namespace.to_owned());
        }
    }
    Ok(Some(Found {
        path: path.to_path_buf(),
        text,
        sealed,
    }))
}

/// One SealedSecret's outcome: edits and items kept, or an error.
/// Text replacements (byte range → new text) and the number of items re-sealed.
type Edits = (Vec<(std::ops::Range<usize>, String)>, usize);
type SealedOutcome = Result<Edits, String>;

/// Offline: every SealedSecret of every file, on `--jobs` threads. The key that opened the
/// most items so far is tried first (a wrong key costs a full RSA private operation), so a
/// tree sealed with one old key costs about one operation per item.
fn offline(
    found: &[Found],
    keys: &[PrivateKey],
    target: &PublicKey,
    target_index: Option<usize>,
    args: &Args,
    progress: &crate::printer::Progress,
) -> Vec<Vec<SealedOutcome>> {
    let jobs: Vec<(usize, usize)> = found
        .iter()
        .enumerate()
        .flat_map(|(f, file)| (0..file.sealed.len()).map(move |s| (f, s)))
        .collect();
    let results: Vec<Mutex<Option<SealedOutcome>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    let opened: Vec<AtomicU64> = keys.iter().map(|_| AtomicU64::new(0)).collect();
    let next = AtomicUsize::new(0);
    let threads = args
        .jobs
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
        .clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(f, s)) = jobs.get(i) else { break };
                    // The order to try the keys in: most successful first, stable otherwise.
                    let mut order: Vec<usize> = (0..keys.len()).collect();
                    order.sort_by_key(|&k| std::cmp::Reverse(opened[k].load(Ordering::Relaxed)));
                    let ordered: Vec<&PrivateKey> = order.iter().map(|&k| &keys[k]).collect();
                    let target_at = target_index.and_then(|t| order.iter().position(|&k| k == t));
                    let ss = &found[f].sealed[s];
                    let outcome = match ss.reseal(&ordered, target, target_at) {
                        Ok(r) => {
                            for used in &r.opened_with {
                                if let Some(&k) = order.get(*used) {
                                    opened[k].fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Ok((r.edits, r.kept))
                        }
                        Err(e) => Err(format!("{}: {e}", ss.display_name())),
                    };
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(outcome);
                    }
                    progress.inc(1);
                }
            });
        }
    });
    let mut by_file: Vec<Vec<SealedOutcome>> = found.iter().map(|_| Vec::new()).collect();
    for ((f, _), slot) in jobs.iter().zip(results) {
        let outcome = slot
            .into_inner()
            .ok()
            .flatten()
            .unwrap_or_else(|| Err("not processed".into()));
        by_file[*f].push(outcome);
    }
    by_file
}

/// Online: each SealedSecret to `/v1/rotate`, one after the other (the controller rate-limits
/// its clients; `Controller::rotate` waits when told to).
fn online(
    found: &[Found],
    controller: &Controller,
    progress: &crate::printer::Progress,
) -> Vec<Vec<SealedOutcome>> {
    found
        .iter()
        .map(|file| {
            file.sealed
                .iter()
                .map(|ss| {
                    let outcome = rotate_one(ss, controller)
                        .map_err(|e| format!("{}: {e:#}", ss.display_name()));
                    progress.inc(1);
                    outcome
                })
                .collect()
        })
        .collect()
}

/// Items per request (the controller's default `--max-items-per-request`).
const ITEMS_PER_REQUEST: usize = 64;

fn rotate_one(ss: &LocatedSealedSecret, controller: &Controller) -> anyhow::Result<Edits> {
    if ss.legacy_data {
        bail!("{}", sealer::sealed::Error::LegacyDataInPlace);
    }
    let mut edits = Vec::new();
    let mut kept = 0;
    // Items are independent blobs: large SealedSecrets go in several requests.
    for chunk in ss.items.chunks(ITEMS_PER_REQUEST) {
        let mut data = serde_json::Map::new();
        for item in chunk {
            if item.text.is_none() {
                bail!("item {:?}: {}", item.key, sealer::sealed::Error::NotInPlace);
            }
            data.insert(item.key.clone(), item.value.clone().into());
        }
        let body = serde_json::json!({
            "apiVersion": sealer::sealed::model::SEALED_SECRET_API_VERSION,
            "kind": sealer::sealed::model::SEALED_SECRET_KIND,
            "metadata": {
                "name": ss.metadata.name,
                "namespace": ss.metadata.namespace,
                "annotations": ss.metadata.annotations,
            },
            "spec": {"encryptedData": data},
        });
        let answer = controller.rotate(&serde_json::to_vec(&body)?)?;
        let answer: serde_json::Value =
            serde_json::from_slice(&answer).context("the controller's answer is not JSON")?;
        let returned = answer
            .pointer("/spec/encryptedData")
            .and_then(serde_json::Value::as_object)
            .context("the controller's answer has no spec.encryptedData")?;
        for item in chunk {
            let Some(new) = returned.get(&item.key).and_then(serde_json::Value::as_str) else {
                bail!("the controller's answer lacks item {:?}", item.key);
            };
            if new == item.value {
                kept += 1;
            } else if let Some(range) = item.text.clone() {
                edits.push((range, new.to_owned()));
            }
        }
    }
    Ok((edits, kept))
}

/// Applies a file's outcomes: writes it (unless a dry run) when everything worked and
/// something changed.
fn finish_file(file: &Found, outcomes: Vec<SealedOutcome>, dry_run: bool) -> FileReport {
    let mut report = FileReport {
        path: file.path.display().to_string(),
        sealed_secrets: file.sealed.len(),
        ..FileReport::default()
    };
    let mut edits = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok((e, kept)) => {
                report.resealed_items += e.len();
                report.kept_items += kept;
                edits.extend(e);
            }
            Err(e) => report.errors.push(e),
        }
    }
    if !report.errors.is_empty() {
        report.status = "failed";
        report.resealed_items = 0;
        return report;
    }
    if edits.is_empty() {
        report.status = "unchanged";
        return report;
    }
    if dry_run {
        report.status = "would-reseal";
        return report;
    }
    let text = spanned::replace(&file.text, edits);
    match fsio::write_atomic(&file.path, text.as_bytes()) {
        Ok(()) => report.status = "resealed",
        Err(e) => {
            report.status = "failed";
            report.resealed_items = 0;
            report.errors.push(format!("{e:#}"));
        }
    }
    report
}

fn summarize(files: Vec<FileReport>, dry_run: bool) -> Report {
    let mut summary = Summary {
        dry_run,
        ..Summary::default()
    };
    for f in &files {
        summary.files += 1;
        summary.sealed_secrets += f.sealed_secrets;
        summary.resealed_items += f.resealed_items;
        summary.kept_items += f.kept_items;
        match f.status {
            "failed" => summary.failed += 1,
            "unchanged" => summary.unchanged += 1,
            _ => summary.resealed += 1,
        }
    }
    Report { files, summary }
}

fn print_report(report: &Report, format: ReportFormat, printer: &Printer) -> anyhow::Result<()> {
    match format {
        ReportFormat::Json => {
            let mut text = serde_json::to_string_pretty(report)?;
            text.push('\n');
            printer.data(text.as_bytes())?;
        }
        ReportFormat::Text => {
            let mut text = String::new();
            for f in report.files.iter().filter(|f| f.status != "failed") {
                text.push_str(&format!(
                    "{:<13} {} ({} SealedSecret{}, {} item{} re-sealed, {} kept)\n",
                    f.status,
                    f.path,
                    f.sealed_secrets,
                    plural(f.sealed_secrets),
                    f.resealed_items,
                    plural(f.resealed_items),
                    f.kept_items
                ));
            }
            printer.data(text.as_bytes())?;
            let s = &report.summary;
            printer.info(&format!(
                "{} file{} {}, {} unchanged, {} failed; {} item{} re-sealed, {} already current",
                s.resealed,
                plural(s.resealed),
                if s.dry_run {
                    "would be re-sealed"
                } else {
                    "re-sealed"
                },
                s.unchanged,
                s.failed,
                s.resealed_items,
                plural(s.resealed_items),
                s.kept_items
            ));
        }
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
