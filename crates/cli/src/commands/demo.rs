//! `seal demo`: the whole round trip on a throwaway key, for a first look.

use anyhow::{Context as _, ensure};
use sealer::sealed::{self, SealOptions, SecretManifest};
use sealer::yaml::{self, StreamFormat};
use secrecy::ExposeSecret as _;

use super::keygen;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// The sample Secret the demo seals.
const SAMPLE_SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: database
  namespace: demo
  labels:
    app: shop
type: kubernetes.io/basic-auth
stringData:
  username: admin
  password: correct-horse-battery-staple
";

/// Demo flags.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Example:\n  $ seal demo")]
pub struct Args {
    /// RSA key size of the throwaway key (the controller uses 4096).
    #[arg(long, default_value_t = 4096, value_parser = keygen::parse_bits)]
    pub bits: usize,
}

/// Generates a key pair in a temp dir, seals the sample Secret, unseals it, compares.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let dir = tempfile::Builder::new()
        .prefix("seal-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let (key, cert) = keygen::generate(args.bits, 3650, "")?;
    crate::fsio::write_private(
        &dir.path().join("tls.key"),
        key.to_pkcs1_pem().expose_secret().as_bytes(),
        false,
    )?;
    crate::fsio::write_public(&dir.path().join("tls.crt"), cert.to_pem().as_bytes(), false)?;

    let mut out = String::new();
    out.push_str(&format!(
        "# 1. Generated a throwaway RSA-{} key pair in {} ({})\n",
        args.bits,
        dir.path().display(),
        key.public_key().fingerprint()
    ));
    out.push_str("# 2. The Secret to seal:\n");
    out.push_str(SAMPLE_SECRET);

    let secret: SecretManifest = serde_yaml_ng::from_str(SAMPLE_SECRET).context("sample Secret")?;
    let options = SealOptions {
        default_namespace: "default".into(),
        ..SealOptions::default()
    };
    let sealed = sealed::seal_secret(&secret, cert.public_key(), &options)?;
    out.push_str("# 3. Sealed with the certificate (safe to commit):\n");
    out.push_str(&yaml::write_stream(&[&sealed], StreamFormat::Yaml)?);

    let unsealed = sealed::unseal(&sealed.metadata, &sealed.spec, &[&key])?;
    out.push_str("# 4. Unsealed with the private key (what the controller creates):\n");
    out.push_str(&yaml::write_stream(&[&unsealed], StreamFormat::Yaml)?);

    let original = sealed::convert::secret_items(&secret)?;
    let restored = sealed::convert::secret_items(&unsealed)?;
    ensure!(original == restored, "round trip changed the data");
    out.push_str(&format!(
        "# 5. Round trip OK: {} items identical; the key pair is deleted now.\n",
        restored.len()
    ));
    printer.data(out.as_bytes())?;
    Ok(ExitStatus::Success)
}
