//! `seal encrypt FILE`: encrypt a cleartext file with a fresh data key.
//!
//! Keys come from `--age` (and the other key flags) or else from the first matching
//! `.sops.yaml` creation rule; selectors likewise. Output goes to stdout, `--output`, or
//! back to FILE with `-i` (atomically; FILE is untouched on error).

use std::path::PathBuf;
use std::process::ExitCode;

use super::sops_args::{ConfigArgs, KeyArgs, SelectorArgs, TypeArgs};
use super::{sops_common, sops_io};

/// Arguments of `seal encrypt`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  $ seal encrypt --age age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p -i secrets.yaml"
)]
pub struct Args {
    /// The cleartext file (`-` or `/dev/stdin` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Encrypt FILE in place.
    #[arg(short = 'i', long, conflicts_with = "output")]
    pub in_place: bool,
    /// Write the encrypted file here instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Use this name to pick the store and match `.sops.yaml` rules (for stdin input).
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<String>,
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
    /// YAML/JSON indentation of the output.
    #[arg(long, value_name = "N")]
    pub indent: Option<usize>,
}

/// Runs `seal encrypt`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.in_place && sops_io::is_stdin(&args.file) {
        anyhow::bail!("--in-place needs a file, not standard input");
    }
    let name = sops_common::rules_path(&args.file, args.filename_override.as_deref());
    let formats = sops_common::Formats::resolve(&name, &args.types)?.with_options(
        &name,
        &args.config,
        args.indent,
    )?;
    let input = sops_io::read_input(&args.file)?;
    let bytes = sops_common::encrypt_bytes(
        input,
        &args.file,
        &name,
        formats,
        &args.config,
        &args.keys,
        &args.selectors,
    )?;
    let target = if args.in_place {
        Some(args.file.as_path())
    } else {
        args.output.as_deref()
    };
    sops_io::emit(target, &bytes)?;
    Ok(ExitCode::SUCCESS)
}
