//! `seal keygen`: an RSA key and self-signed certificate, as the controller makes them.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use sealer::sealed::{Certificate, PrivateKey};
use secrecy::ExposeSecret as _;

use crate::fsio;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Key generation flags (Bitnami's `--key-size`, `--key-ttl`, `--my-cn`).
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  $ seal keygen --out-dir ./keys && seal secret.yaml --cert ./keys/tls.crt"
)]
pub struct Args {
    /// Directory for `tls.key` (PKCS#1 PEM, mode 0600) and `tls.crt` (PEM certificate).
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,

    /// RSA modulus size.
    #[arg(long, default_value_t = 4096, value_parser = parse_bits)]
    pub bits: usize,

    /// Certificate validity in days (at most 36500, a hundred years).
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=MAX_VALIDITY_DAYS))]
    pub validity_days: u32,

    /// Certificate common name (Bitnami's `--my-cn`; empty subject by default).
    #[arg(long, default_value = "")]
    pub my_cn: String,

    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// The longest certificate validity `--validity-days` accepts: a hundred years (X.509 dates
/// end with the year 9999).
pub const MAX_VALIDITY_DAYS: i64 = 36500;

/// Accepts the RSA sizes aws-lc generates.
pub fn parse_bits(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bits @ (2048 | 3072 | 4096 | 8192)) => Ok(bits),
        _ => Err(format!("{text:?} is not one of 2048, 3072, 4096, 8192")),
    }
}

/// Generates and writes the pair.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let key_path = args.out_dir.join("tls.key");
    let cert_path = args.out_dir.join("tls.crt");
    if !args.force {
        // A friendly early answer before seconds of key generation; the writes below refuse
        // an existing file again, atomically.
        for path in [&key_path, &cert_path] {
            if fs_err::symlink_metadata(path).is_ok() {
                bail!(
                    "`{}` already exists (use --force to overwrite)",
                    path.display()
                );
            }
        }
    }
    fs_err::create_dir_all(&args.out_dir)?;
    let (key, cert) = generate(args.bits, args.validity_days, &args.my_cn)?;
    fsio::write_private(
        &key_path,
        key.to_pkcs1_pem().expose_secret().as_bytes(),
        args.force,
    )?;
    if let Err(error) = fsio::write_public(&cert_path, cert.to_pem().as_bytes(), args.force) {
        if !args.force {
            // No new key without its certificate: take back the key this run created.
            let _ = fs_err::remove_file(&key_path);
        }
        return Err(error);
    }
    printer.info(&format!(
        "wrote `{}` and `{}` (RSA-{}, {}, valid until {})",
        key_path.display(),
        cert_path.display(),
        args.bits,
        key.public_key().fingerprint(),
        cert.not_after().date()
    ));
    Ok(ExitStatus::Success)
}

/// A key of `bits` and its self-signed certificate valid for `days`.
pub fn generate(
    bits: usize,
    days: u32,
    common_name: &str,
) -> anyhow::Result<(PrivateKey, Certificate)> {
    let key = PrivateKey::generate(bits).context("generating the RSA key")?;
    let cert = Certificate::self_signed(&key, time::Duration::days(i64::from(days)), common_name)
        .context("signing the certificate")?;
    Ok((key, cert))
}
