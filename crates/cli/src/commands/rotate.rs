//! `seal rotate FILE`: new data key, every value re-encrypted, keys re-wrapped.
//!
//! `--add-{age,pgp,kms,gcp-kms,azure-kv,hc-vault-transit}` add keys to the first key group
//! and `--rm-*` remove keys from every group on the way, as sops's `rotate` does. Prints to
//! stdout unless `-i` or `--output`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::sops_args::{RotateKeyArgs, TypeArgs};
use super::{sops_common, sops_io};

/// Arguments of `seal rotate`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  $ seal rotate -i --add-age age1... secrets.enc.yaml")]
pub struct Args {
    /// The SOPS file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Rotate FILE in place.
    #[arg(short = 'i', long, conflicts_with = "output")]
    pub in_place: bool,
    /// Write the result here instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub keys: RotateKeyArgs,
    /// AWS profile for the --add-kms / --rm-kms keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context for the --add-kms / --rm-kms keys: `key:value,key2:value2`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// Rotate even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

/// Runs `seal rotate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let formats = sops_common::Formats::resolve(&args.file, &args.types)?.with_options(
        &args.file,
        &Default::default(),
        None,
    )?;
    let input = sops_io::read_input(&args.file)?;
    let mut opened = sops_common::Opened::decrypt(&input, &args.file, formats, args.ignore_mac)?;
    let (profile, context) = (
        args.aws_profile.as_deref(),
        args.encryption_context.as_deref(),
    );
    let bytes = opened.rotate(
        &args.keys.add(profile, context),
        &args.keys.remove(profile, context),
    )?;
    let target = if args.in_place {
        Some(args.file.as_path())
    } else {
        args.output.as_deref()
    };
    sops_io::emit(target, &bytes)?;
    Ok(ExitCode::SUCCESS)
}
