//! `seal keygen`: an RSA key and self-signed certificate, as the controller makes them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sealer::sealed::{Certificate, PrivateKey};
use secrecy::ExposeSecret as _;

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

    /// Certificate validity in days.
    #[arg(long, default_value_t = 3650)]
    pub validity_days: u32,

    /// Certificate common name (Bitnami's `--my-cn`; empty subject by default).
    #[arg(long, default_value = "")]
    pub my_cn: String,

    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

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
        for path in [&key_path, &cert_path] {
            if path.exists() {
                bail!(
                    "`{}` already exists (use --force to overwrite)",
                    path.display()
                );
            }
        }
    }
    fs_err::create_dir_all(&args.out_dir)?;
    let (key, cert) = generate(args.bits, args.validity_days, &args.my_cn)?;
    write_private(&key_path, key.to_pkcs1_pem().expose_secret().as_bytes())?;
    fs_err::write(&cert_path, cert.to_pem())?;
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

/// Writes a file readable by its owner only (created 0600, never world-readable in between).
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use fs_err::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
        .with_context(|| format!("writing `{}`", path.display()))?;
    Ok(())
}
