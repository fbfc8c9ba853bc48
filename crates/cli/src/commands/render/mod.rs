//! `seal render`: decrypt SOPS files at render time, as a kustomize generator.
//!
//! Modes (KSOPS's, viaduct-ai/kustomize-sops `ksops.go`, plus two of sealkit's):
//! - no argument: a KRM function ([`krm`]): `ResourceList` on stdin and stdout;
//! - `GENERATOR`: the legacy exec plugin ([`legacy`]): a manifest file, YAML out;
//! - `--kustomize DIR`: a whole kustomize build with this binary as the plugin
//!   ([`kustomize`]), for an Argo CD Config Management Plugin;
//! - `--install DIR`: copy the binary (and a `ksops` link) for an init container.
//!
//! Invoked as `ksops` (a link to `seal`), the binary behaves as KSOPS: `ksops` with a
//! `ResourceList` on stdin, `ksops FILE`, `ksops install DIR`. Invoked as `SecretGenerator`
//! (the legacy plugin path of sealkit's own kind) it takes the generator file.

mod generator;
mod krm;
mod kustomize;
mod legacy;

use std::ffi::OsString;
use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

pub use generator::OutputMode;
use generator::{DEFAULT_CONCURRENCY, Settings};

use crate::env;
use crate::printer::Printer;
use crate::report::{ExitStatus, UsageError};

/// Arguments of `seal render`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    $ kpt fn eval pkg --exec \"seal render\" --fn-config gen.yaml -o unwrap   # KRM function\n  \
    $ seal render secret-generator.yaml                  # legacy exec plugin\n  \
    $ seal render --kustomize overlays/prod              # Argo CD plugin\n  \
    $ ln -s \"$(command -v seal)\" ~/.config/kustomize/plugin/viaduct.ai/v1/ksops/ksops")]
pub struct Args {
    /// Generator manifest (legacy exec-plugin mode, as kustomize runs it). Without it, a KRM
    /// `ResourceList` is read from stdin.
    #[arg(value_name = "GENERATOR")]
    pub generator: Option<PathBuf>,

    /// Run `kustomize build` on DIR with sealkit as the generator plugin and print the
    /// result only if the build succeeds and is not empty.
    #[arg(long, value_name = "DIR", conflicts_with = "generator")]
    pub kustomize: Option<PathBuf>,

    /// With --kustomize: the `kustomize` or `kubectl` binary to run (default: `kustomize`
    /// on PATH, else `kubectl`).
    #[arg(long, value_name = "PROGRAM", requires = "kustomize")]
    pub kustomize_command: Option<String>,

    /// Copy this binary to DIR/seal and link DIR/ksops to it (for an init container).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["generator", "kustomize"])]
    pub install: Option<PathBuf>,

    /// `sealed` forces SealedSecret output for every generator; `secret` is the default for
    /// generators that do not say.
    #[arg(long, value_enum, env = env::SEAL_RENDER_OUTPUT)]
    pub output: Option<OutputMode>,

    /// Certificate for sealed output when a generator names none: a PEM file or the
    /// controller's `/v1/cert.pem` URL.
    #[arg(long, value_name = "FILE|URL", env = env::SEAL_RENDER_CERT)]
    pub cert: Option<String>,

    /// With an http(s) certificate URL: seconds the whole download may take.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::certsource::DEFAULT_FETCH_TIMEOUT_SECS,
          env = env::SEAL_CERT_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub cert_timeout: u64,

    /// Refuse files outside this directory (default with --kustomize under Argo CD: the
    /// repository root).
    #[arg(long, value_name = "DIR", env = env::SEAL_RENDER_ROOT)]
    pub root: Option<PathBuf>,
}

/// Runs `seal render`.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(dir) = &args.install {
        let exe = std::env::current_exe().context("finding this executable")?;
        for path in kustomize::install(&exe, dir)? {
            printer.info(&format!("installed {}", path.display()));
        }
        return Ok(ExitStatus::Success);
    }
    if let Some(dir) = &args.kustomize {
        return run_kustomize(args, dir, printer);
    }
    let settings = settings(args)?;
    let base = base_dir()?;
    match &args.generator {
        Some(file) => {
            let text = legacy::render(file, &base, &settings, printer)?;
            printer.data(text.as_bytes())?;
            Ok(ExitStatus::Success)
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(UsageError(
                    "no ResourceList on stdin: pipe one (KRM function mode) or give a generator \
                     file (legacy exec-plugin mode); see `seal render --help`"
                        .into(),
                )
                .into());
            }
            let mut input = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading the ResourceList from stdin")?;
            let outcome = krm::process(&input, &base, &settings, printer)?;
            printer.data(outcome.text.as_bytes())?;
            Ok(if outcome.ok {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            })
        }
    }
}

fn run_kustomize(args: &Args, dir: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let home = kustomize::PluginHome::new(&exe)?;
    let mut command = kustomize::build_command(args.kustomize_command.as_deref(), dir)?;
    if let Some(output) = args.output {
        command.env(
            env::SEAL_RENDER_OUTPUT,
            match output {
                OutputMode::Secret => "secret",
                OutputMode::Sealed => "sealed",
            },
        );
    }
    if let Some(cert) = &args.cert {
        command.env(env::SEAL_RENDER_CERT, absolute_source(cert)?);
    }
    command.env(env::SEAL_CERT_TIMEOUT, args.cert_timeout.to_string());
    let root = match &args.root {
        Some(root) => Some(root.clone()),
        None => match std::env::var(env::ARGOCD_APP_SOURCE_PATH) {
            Ok(source) => {
                let cwd = std::env::current_dir().context("reading the working directory")?;
                kustomize::argocd_repo_root(&cwd, &source)
            }
            Err(_) => None,
        },
    };
    if let Some(root) = root {
        command.env(env::SEAL_RENDER_ROOT, std::path::absolute(&root)?);
    }
    let out = kustomize::build(command, &home, dir, printer)?;
    drop(home);
    printer.data(&out)?;
    Ok(ExitStatus::Success)
}

/// A relative certificate path made absolute (plugins run in the kustomization directory).
fn absolute_source(cert: &str) -> anyhow::Result<OsString> {
    if cert.contains("://") {
        return Ok(cert.into());
    }
    Ok(std::path::absolute(cert)?.into_os_string())
}

/// The directory generator paths are relative to: kustomize's plugin config root, else the
/// working directory (kustomize runs plugins and functions in the kustomization root).
fn base_dir() -> anyhow::Result<PathBuf> {
    if let Some(root) =
        std::env::var_os(env::KUSTOMIZE_PLUGIN_CONFIG_ROOT).filter(|r| !r.is_empty())
    {
        return Ok(PathBuf::from(root));
    }
    std::env::current_dir().context("reading the working directory")
}

fn settings(args: &Args) -> anyhow::Result<Settings> {
    let concurrency = match std::env::var(env::KSOPS_CONCURRENCY_LIMIT) {
        Ok(text) if !text.is_empty() => match text.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(UsageError(format!(
                    "invalid {} `{text}`: expected a number >= 1",
                    env::KSOPS_CONCURRENCY_LIMIT
                ))
                .into());
            }
        },
        _ => DEFAULT_CONCURRENCY,
    };
    Ok(Settings {
        output: args.output,
        cert: args.cert.clone(),
        cert_timeout: std::time::Duration::from_secs(args.cert_timeout),
        root: args.root.clone(),
        app_namespace: std::env::var(env::ARGOCD_APP_NAMESPACE)
            .ok()
            .filter(|n| !n.is_empty()),
        concurrency,
    })
}

/// When the binary runs under a plugin name (`ksops`, `SecretGenerator`), the `seal`
/// command line it stands for; `None` under any other name.
pub fn command_line_for_program_name() -> Option<Vec<OsString>> {
    let mut argv = std::env::args_os();
    let program = argv.next()?;
    let name = Path::new(&program)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    if name != generator::KSOPS_KIND && name != generator::SEALKIT_KIND {
        return None;
    }
    let rest: Vec<OsString> = argv.collect();
    let mut line: Vec<OsString> = vec!["seal".into(), "render".into()];
    match rest.first().and_then(|a| a.to_str()) {
        Some("install") => {
            line.push("--install".into());
            // KSOPS can also copy a kustomize binary; sealkit does not ship one.
            line.extend(
                rest[1..]
                    .iter()
                    .filter(|a| *a != "--with-kustomize")
                    .cloned(),
            );
        }
        _ => line.extend(rest),
    }
    Some(line)
}
