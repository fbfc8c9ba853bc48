//! `seal decrypt FILE`: print (or write) the cleartext of a SOPS file.

use std::path::PathBuf;
use std::process::ExitCode;

use super::sops_args::{ConfigArgs, TypeArgs};
use super::{sops_common, sops_io};

/// Arguments of `seal decrypt`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  $ seal decrypt --extract '[\"data\"][\"password\"]' secrets.enc.yaml"
)]
pub struct Args {
    /// The SOPS file (`-` or `/dev/stdin` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Decrypt FILE in place.
    #[arg(short = 'i', long, conflicts_with = "output")]
    pub in_place: bool,
    /// Write the cleartext here instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Print only this part of the tree, e.g. `'["data"]["password"]'`.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    /// Use this name to pick the store (for stdin input).
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
    /// YAML/JSON indentation of the output.
    #[arg(long, value_name = "N")]
    pub indent: Option<usize>,
}

/// Runs `seal decrypt`.
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
    let opened = sops_common::Opened::decrypt_owned(input, &args.file, formats, args.ignore_mac)?;
    let bytes = match &args.extract {
        Some(path) => opened.extract(path)?,
        None => opened.plaintext_bytes()?,
    };
    let target = if args.in_place {
        Some(args.file.as_path())
    } else {
        args.output.as_deref()
    };
    sops_io::emit(target, &bytes)?;
    Ok(ExitCode::SUCCESS)
}
