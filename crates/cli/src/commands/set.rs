//! `seal set FILE PATH VALUE`: set one value in place, like `sops set`.
//!
//! VALUE is JSON (`'"text"'`, `5`, `'{"a": true}'`); `--value-stdin` / `--value-file` read
//! it from stdin or a file instead. As with sops, only the value set, `lastmodified` and the
//! MAC change: every other value keeps its ciphertext.

use std::path::PathBuf;

use anyhow::Context as _;
use sealer::sops::{self, Patched, TreePath};

use super::sops_args::{ConfigArgs, TypeArgs};
use super::sops_common::{Purpose, SopsFile};
use super::sops_io;
use crate::report::ExitStatus;

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
    pub path: TreePath,
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
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
}

impl Args {
    /// VALUE as JSON text, from the argument, standard input or a file.
    fn value_text(&self) -> anyhow::Result<String> {
        if self.value_stdin {
            let bytes = sops_io::read_input(std::path::Path::new("-"))?;
            String::from_utf8(bytes).context("the value on standard input is not UTF-8")
        } else if self.value_file {
            let file = self
                .value
                .as_deref()
                .context("--value-file needs VALUE to name the file")?;
            Ok(fs_err::read_to_string(file)?)
        } else {
            Ok(self.value.clone().unwrap_or_default())
        }
    }
}

/// Runs `seal set`.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let value = sops::Value::from_json(&args.value_text()?)
        .map_err(|e| anyhow::anyhow!("invalid VALUE (expected JSON): {e}"))?;
    let file = SopsFile::new(&args.file, None, &args.types, &args.config, None)?;
    let input = file.read()?;
    let key = match file.set_streamed(&input, &args.path, &value, args.ignore_mac, args.idempotent)
    {
        Ok(done) => {
            done?;
            return Ok(ExitStatus::Success);
        }
        Err(unwrapped) => unwrapped,
    };
    let mut unlocked = file.unlock_bytes(input, key)?;
    match unlocked.set(&args.path, &value, args.ignore_mac)? {
        Patched::Done { changed } => {
            if !changed && args.idempotent {
                return Ok(ExitStatus::Success);
            }
            unlocked.write_in_place()?;
        }
        Patched::Declined => {
            let mut opened = unlocked.open(args.ignore_mac, Purpose::Rewrite)?;
            let changed = opened.set(&args.path, value)?;
            if !changed && args.idempotent {
                return Ok(ExitStatus::Success);
            }
            opened.reseal_to_file()?;
        }
    }
    Ok(ExitStatus::Success)
}
