//! `seal keys wrap` / `seal keys unwrap`: key Secret files between Bitnami's plain form
//! (`tls.key` = PEM) and the form wrapped by a KMS master key (`tls.key` = a SOPS document,
//! see `sealer::sealed::wrapped_key`). Everything else of each Secret is kept; server fields
//! (uid, resourceVersion, timestamps) are dropped so the output can be applied anywhere.

use std::path::PathBuf;

use anyhow::Context as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use sealer::yaml;

use super::strip_server_fields;
use crate::fsio::{self, Input};
use crate::keywrap::{self, WrapArgs, Wrapper};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// `seal keys wrap` flags.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  $ kubectl get secret -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml \\\n      | seal keys wrap --hc-vault-transit https://vault:8200/v1/transit/keys/sealkit | kubectl apply -f -"
)]
pub struct WrapCommand {
    /// Key Secrets (YAML or JSON, documents or a List); `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Write here (atomically) instead of stdout.
    #[arg(short = 'w', long = "output-file", value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub wrap: WrapArgs,
}

/// `seal keys unwrap` flags.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  $ seal keys unwrap backup.yaml -w plain-keys.yaml   # VAULT_TOKEN / AWS_* as for sops"
)]
pub struct UnwrapCommand {
    /// Key Secrets (YAML or JSON, documents or a List); `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Write here (0600, atomically) instead of stdout: the output holds private keys.
    #[arg(short = 'w', long = "output-file", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What to do with each `tls.key`.
enum Direction<'a> {
    Wrap(&'a Wrapper),
    Unwrap,
}

/// Converts the `tls.key` of every key Secret in `text`; returns the Secrets and how many
/// changed.
fn convert(
    text: &str,
    input: &Input,
    direction: &Direction<'_>,
) -> anyhow::Result<(Vec<Secret>, usize)> {
    let (_, documents) = yaml::parse_stream(text).with_context(|| input.display())?;
    let mut out = Vec::with_capacity(documents.len());
    let mut changed = 0;
    for doc in &documents {
        let context = || super::super::seal::document_context(input, doc);
        let mut secret: Secret = doc.parse("Secret").with_context(context)?;
        strip_server_fields(&mut secret);
        if let Some(key) = secret.data.as_mut().and_then(|d| d.get_mut("tls.key")) {
            let wrapped = keywrap::is_wrapped(&key.0);
            match direction {
                Direction::Wrap(wrapper) if !wrapped => {
                    let bytes = wrapper.wrap(&key.0).with_context(context)?;
                    zeroize::Zeroize::zeroize(&mut key.0);
                    *key = ByteString(bytes);
                    changed += 1;
                }
                Direction::Unwrap if wrapped => {
                    let pem = keywrap::unwrap(&key.0).with_context(context)?;
                    *key = ByteString(pem.to_vec());
                    changed += 1;
                }
                _ => {}
            }
        }
        out.push(secret);
    }
    Ok((out, changed))
}

fn emit(
    secrets: &[Secret],
    output: Option<&PathBuf>,
    private: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    let text = zeroize::Zeroizing::new(yaml::write_stream(secrets, yaml::StreamFormat::Yaml)?);
    match output {
        Some(path) if private => fsio::write_private(path, text.as_bytes(), true),
        Some(path) => fsio::write_atomic(path, text.as_bytes()),
        None => Ok(printer.data(text.as_bytes())?),
    }
}

/// Runs `seal keys wrap`.
pub fn run_wrap(args: &WrapCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let wrapper = Wrapper::new(&args.wrap)?;
    let input = Input::from_arg(args.input.as_deref());
    let text = input.read_to_string()?;
    let (secrets, changed) = convert(&text, &input, &Direction::Wrap(&wrapper))?;
    // The input may hold plain keys the output no longer has: keep the mode strict.
    emit(&secrets, args.output.as_ref(), true, printer)?;
    printer.info(&format!("{changed} private key(s) wrapped"));
    Ok(ExitStatus::Success)
}

/// Runs `seal keys unwrap`.
pub fn run_unwrap(args: &UnwrapCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let input = Input::from_arg(args.input.as_deref());
    let text = input.read_to_string()?;
    let (mut secrets, changed) = convert(&text, &input, &Direction::Unwrap)?;
    emit(&secrets, args.output.as_ref(), true, printer)?;
    for s in &mut secrets {
        for v in s.data.iter_mut().flat_map(|d| d.values_mut()) {
            zeroize::Zeroize::zeroize(&mut v.0);
        }
    }
    printer.info(&format!("{changed} private key(s) unwrapped"));
    Ok(ExitStatus::Success)
}
