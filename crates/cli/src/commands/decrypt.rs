//! `seal decrypt FILE`: print (or write) the cleartext of a SOPS file.

use std::path::PathBuf;

use sealer::sops::TreePath;
use zeroize::Zeroizing;

use super::sops_args::{ConfigArgs, OutputArgs, TypeArgs};
use super::sops_common::{self, Purpose, SopsFile};
use crate::report::ExitStatus;

/// Arguments of `seal decrypt` (also `seal -d`, sops's spelling).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  $ seal decrypt --extract '[\"data\"][\"password\"]' secrets.enc.yaml"
)]
pub struct Args {
    /// The SOPS file (`-` or `/dev/stdin` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub output: OutputArgs,
    /// Print only this part of the tree, e.g. `'["data"]["password"]'`.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<TreePath>,
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
    let mut key = None;
    if args.extract.is_none() {
        match file.decrypt_streamed(&input, args.ignore_mac) {
            Ok(cleartext) => {
                drop(Zeroizing::new(input));
                sops_common::write_output(&target, &cleartext)?;
                return Ok(ExitStatus::Success);
            }
            Err(unwrapped) => key = unwrapped,
        }
    }
    let opened = file.open_bytes(input, key, args.ignore_mac, Purpose::Read)?;
    match &args.extract {
        Some(path) => sops_common::write_output(&target, &opened.extract(path)?)?,
        // Decrypted and its MAC checked: only writing is left, as the text is emitted.
        None => sops_common::write_output_with(&target, |w| opened.write_plaintext(w))?,
    }
    opened.finish();
    Ok(ExitStatus::Success)
}
