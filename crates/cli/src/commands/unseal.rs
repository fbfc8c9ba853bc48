//! `seal unseal`: decrypt SealedSecrets offline with private keys (kubeseal
//! `--recovery-unseal --recovery-private-key`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sealer::sealed::{PrivateKey, SealedSecretManifest, SecretManifest};
use sealer::yaml;
use secrecy::ExposeSecret as _;

use super::seal::{document_context, read_input, write_output};
use crate::cli::IoArgs;
use crate::fsio::Input;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Recovery flags.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Example:\n  $ seal unseal --private-key tls.key sealed.yaml")]
pub struct Args {
    /// SealedSecrets to open (YAML or JSON, one or many); `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Private key file: PEM (PKCS#1 or PKCS#8), or YAML/JSON key Secrets holding `tls.key`
    /// (as `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` or
    /// `seal keys backup` print; wrapped keys are unwrapped with their master key and this
    /// machine's credentials). Repeat or comma-separate to try several keys.
    #[arg(
        long = "private-key",
        visible_alias = "recovery-private-key",
        value_name = "FILE",
        value_delimiter = ',',
        required = true
    )]
    pub private_keys: Vec<PathBuf>,

    /// Namespace for SealedSecrets that have none (default: `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,

    #[command(flatten)]
    pub io: IoArgs,
}

/// Opens every SealedSecret of the input and prints the Secrets, in order.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut keys = Vec::new();
    for path in &args.private_keys {
        keys.extend(load_private_keys(path)?);
    }
    let key_refs: Vec<&PrivateKey> = keys.iter().collect();
    let input = Input::from_arg(args.input.as_deref());
    let text = read_input(&input)?;
    let (format, documents) = yaml::parse_stream(&text).with_context(|| input.display())?;
    if documents.is_empty() {
        bail!("{}: no SealedSecret found in the input", input.display());
    }
    let mut secrets: Vec<SecretManifest> = Vec::with_capacity(documents.len());
    for doc in &documents {
        if doc.kind() != Some("SealedSecret") {
            bail!(
                "{}: not a SealedSecret (kind: {})",
                document_context(&input, doc),
                doc.kind().unwrap_or("<none>")
            );
        }
        let mut sealed: SealedSecretManifest =
            doc.parse("SealedSecret").with_context(|| input.display())?;
        if sealed
            .metadata
            .namespace
            .as_deref()
            .is_none_or(str::is_empty)
        {
            sealed.metadata.namespace =
                Some(args.namespace.clone().unwrap_or_else(|| "default".into()));
        }
        let secret = sealer::sealed::unseal(&sealed.metadata, &sealed.spec, &key_refs)
            .with_context(|| document_context(&input, doc))?;
        secrets.push(secret);
    }
    let format = args.io.format.map(Into::into).unwrap_or(format);
    write_output(&secrets, format, &args.io, printer)?;
    Ok(ExitStatus::Success)
}

/// Reads private keys from a PEM file, or from key Secrets (`tls.key`) in YAML/JSON.
pub fn load_private_keys(path: &Path) -> anyhow::Result<Vec<PrivateKey>> {
    let context = || format!("reading private key `{}`", path.display());
    let bytes = zeroize::Zeroizing::new(fs_err::read(path)?);
    // PEM, or anything that is not text (the PEM reader then says no key block was found).
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) if !text.contains("-----BEGIN") => text,
        _ => return PrivateKey::all_from_pem(&bytes).with_context(context),
    };
    let (_, documents) = yaml::parse_stream(text).with_context(context)?;
    let mut keys = Vec::new();
    for doc in &documents {
        let secret: SecretManifest = doc.parse("Secret").with_context(context)?;
        let Some(encoded) = secret.data.get("tls.key") else {
            continue;
        };
        let where_ = || {
            format!(
                "{}: tls.key",
                document_context(&Input::File(path.into()), doc)
            )
        };
        let mut pem = zeroize::Zeroizing::new(
            sealer::encoding::decode_std(encoded.expose_secret())
                .with_context(where_)
                .with_context(context)?,
        );
        if crate::keywrap::is_wrapped(&pem) {
            pem = crate::keywrap::unwrap(&pem)
                .with_context(where_)
                .with_context(context)?;
        }
        keys.extend(PrivateKey::all_from_pem(&pem).with_context(context)?);
    }
    if keys.is_empty() {
        bail!(
            "{}: no private key found (expected PEM or Secrets with tls.key)",
            context()
        );
    }
    Ok(keys)
}
