//! `seal set FILE PATH VALUE`: set one value in place, like `sops set`.
//!
//! VALUE is JSON (`'"text"'`, `5`, `'{"a": true}'`); `--value-stdin` / `--value-file` read
//! it from stdin or a file instead. Unchanged values keep their ciphertext; the MAC and
//! `lastmodified` are renewed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::sops_args::TypeArgs;
use super::{sops_common, sops_io};

/// Arguments of `seal set`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  $ seal set secrets.enc.yaml '[\"data\"][\"password\"]' '\"hunter2\"'"
)]
pub struct Args {
    /// The SOPS file (changed in place).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to set, e.g. `'["data"]["password"]'` or `'["list"][0]'`.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// The value as JSON (omit with --value-stdin / --value-file).
    #[arg(value_name = "VALUE", required_unless_present_any = ["value_stdin", "value_file"])]
    pub value: Option<String>,
    /// Read VALUE (JSON) from standard input.
    #[arg(long, conflicts_with_all = ["value", "value_file"])]
    pub value_stdin: bool,
    /// Read VALUE (JSON) from this file... or, like sops, treat VALUE as a file name.
    #[arg(long, conflicts_with = "value_stdin")]
    pub value_file: bool,
    /// Do nothing (exit 0) if the value is already set to VALUE.
    #[arg(long)]
    pub idempotent: bool,
    /// Modify the file even if its MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

/// Runs `seal set`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let value = if args.value_stdin {
        let bytes = sops_io::read_input(std::path::Path::new("-"))?;
        String::from_utf8(bytes).context("the value on standard input is not UTF-8")?
    } else if args.value_file {
        let file = args
            .value
            .as_deref()
            .context("--value-file needs VALUE to name the file")?;
        fs_err::read_to_string(file)?
    } else {
        args.value.clone().unwrap_or_default()
    };
    let formats = sops_common::Formats::resolve(&args.file, &args.types)?.with_options(
        &args.file,
        &Default::default(),
        None,
    )?;
    let input = sops_io::read_input(&args.file)?;
    let mut opened = sops_common::Opened::decrypt(&input, &args.file, formats, args.ignore_mac)?;
    let changed = opened.set(&args.path, &value)?;
    if !changed && args.idempotent {
        return Ok(ExitCode::SUCCESS);
    }
    let bytes = opened.reseal()?;
    crate::fsio::write_atomic(&args.file, &bytes)?;
    Ok(ExitCode::SUCCESS)
}
