//! `seal encrypt FILE`: encrypt a cleartext file with a fresh data key.
//!
//! Keys come from `--age` (and the other key flags) or else from the first matching
//! `.sops.yaml` creation rule; selectors likewise. Output goes to stdout, `--output`, or
//! back to FILE with `-i` (atomically; FILE is untouched on error).

use std::path::PathBuf;

use super::sops_args::{ConfigArgs, KeyArgs, OutputArgs, SelectorArgs, TypeArgs};
use super::sops_common::{self, SopsFile};
use crate::report::ExitStatus;

/// Arguments of `seal encrypt` (also `seal -e`, sops's spelling).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  $ seal encrypt --age age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p -i secrets.yaml"
)]
pub struct Args {
    /// The cleartext file (`-` or `/dev/stdin` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputArgs,
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
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let target = args.output.target(&args.file)?;
    let file = SopsFile::new(
        &args.file,
        args.filename_override.as_deref(),
        &args.types,
        &args.config,
        args.indent,
    )?;
    let input = file.read()?;
    sops_common::encrypt_to(input, &file, &args.keys, &args.selectors, &target)?;
    Ok(ExitStatus::Success)
}
