//! `seal [FILE]`: Secrets in, SealedSecrets out (kubeseal's default mode).

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use sealer::sealed::{self, Certificate, Scope, SealOptions, SealedSecretManifest, SecretManifest};
use sealer::yaml::{self, Document, StreamFormat};

use crate::certsource;
use crate::cli::IoArgs;
use crate::controller_api::ControllerArgs;
use crate::env;
use crate::fsio::{self, Input};
use crate::printer::Printer;
use crate::report::{ExitStatus, UsageError};

/// Sealing flags (kubeseal's names where kubeseal has them).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Secrets to seal: YAML or JSON, one or many documents, or a `List`. `-` or nothing reads
    /// stdin.
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Input file (kubeseal's spelling of FILE).
    #[arg(
        short = 'f',
        long = "secret-file",
        value_name = "FILE",
        conflicts_with = "input"
    )]
    pub secret_file: Option<PathBuf>,

    /// Certificate to seal with: a PEM file, `file://…`, or an `http(s)://` URL serving it
    /// (for example the controller's `/v1/cert.pem`). Default: fetched from the controller
    /// through the API server (see --controller-namespace, --controller-name, --kubeconfig).
    #[arg(long, value_name = "FILE|URL", env = env::SEALED_SECRETS_CERT)]
    pub cert: Option<String>,

    /// With an http(s) --cert: seconds the whole download may take (connection, headers
    /// and body).
    #[arg(long, value_name = "SECONDS", default_value_t = certsource::DEFAULT_FETCH_TIMEOUT_SECS,
          env = env::SEAL_CERT_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub cert_timeout: u64,

    /// Scope: `strict` binds name and namespace, `namespace-wide` only the namespace,
    /// `cluster-wide` nothing. Default: the Secret's scope annotations, else strict.
    #[arg(long, value_name = "SCOPE", env = env::SEALED_SECRETS_SCOPE,
          value_parser = ["strict", "namespace-wide", "cluster-wide"])]
    pub scope: Option<String>,

    /// Name to seal under (overrides the Secret's name; required with --raw for strict scope).
    #[arg(long)]
    pub name: Option<String>,

    /// Namespace for Secrets without one (default: the kubeconfig's namespace when the
    /// certificate comes from the cluster, else `default`); must match a Secret's own.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,

    /// Seal one value and print only its base64 blob (value from stdin or --from-file).
    #[arg(long)]
    pub raw: bool,

    /// With --raw: read the value from this file (`[key=]path`; the key part is ignored).
    #[arg(long, value_name = "[KEY=]PATH", requires = "raw")]
    pub from_file: Option<String>,

    /// Add or replace the input Secret's items in this existing SealedSecret file, in place.
    #[arg(long, value_name = "SEALED_FILE", conflicts_with = "raw")]
    pub merge_into: Option<PathBuf>,

    /// Allow Secrets without any data.
    #[arg(long)]
    pub allow_empty_data: bool,

    /// kubeseal's spelling of `seal unseal` (offline recovery with private keys).
    #[arg(long, requires = "recovery_private_key", conflicts_with_all = ["raw", "merge_into"])]
    pub recovery_unseal: bool,

    /// With --recovery-unseal: private key files (PEM, or Secrets holding `tls.key`).
    #[arg(long, value_name = "FILE", value_delimiter = ',', env = env::SEALED_SECRETS_RECOVERY_PRIVATE_KEY)]
    pub recovery_private_key: Vec<PathBuf>,

    /// Print the sealing certificate (from --cert, else from the controller) and exit.
    #[arg(long, conflicts_with_all = ["raw", "merge_into", "recovery_unseal", "re_encrypt", "validate"])]
    pub fetch_cert: bool,

    /// Re-seal SealedSecrets with the controller's newest key (its /v1/rotate). With an input
    /// file and no -w, the file is rewritten in place, as kubeseal does.
    #[arg(long, conflicts_with_all = ["raw", "merge_into", "recovery_unseal", "validate"])]
    pub re_encrypt: bool,

    /// Check that the controller can decrypt SealedSecrets (its /v1/verify); prints nothing,
    /// fails naming the first one it cannot.
    #[arg(long, conflicts_with_all = ["raw", "merge_into", "recovery_unseal"])]
    pub validate: bool,

    #[command(flatten)]
    pub controller: ControllerArgs,

    #[command(flatten)]
    pub io: IoArgs,
}

impl Args {
    /// Where the Secrets come from.
    pub fn input(&self) -> Input {
        Input::from_arg(self.secret_file.as_deref().or(self.input.as_deref()))
    }

    /// The scope asked for on the command line.
    pub fn scope(&self) -> anyhow::Result<Option<Scope>> {
        self.scope
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("invalid --scope")
    }

    /// The same invocation as `seal unseal` arguments.
    pub fn recovery_unseal_args(&self) -> anyhow::Result<super::unseal::Args> {
        Ok(super::unseal::Args {
            input: self.secret_file.clone().or_else(|| self.input.clone()),
            private_keys: self.recovery_private_key.clone(),
            namespace: self.namespace.clone(),
            io: self.io.clone(),
        })
    }

    /// `--cert-timeout`.
    pub fn cert_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cert_timeout)
    }

    /// Loads the sealing certificate: `--cert`, else the controller's.
    pub fn certificate(&self, printer: &Printer) -> anyhow::Result<Certificate> {
        self.certificate_and_namespace(printer)
            .map(|(cert, _)| cert)
    }

    /// Loads the sealing certificate and, when it came from the cluster, the kubeconfig's
    /// namespace (the default for Secrets that name none).
    pub fn certificate_and_namespace(
        &self,
        printer: &Printer,
    ) -> anyhow::Result<(Certificate, Option<String>)> {
        match &self.cert {
            Some(source) => Ok((
                certsource::load(source, self.cert_timeout(), printer)?,
                None,
            )),
            None => crate::certsource::from_controller(&self.controller, printer)
                .map(|(cert, namespace)| (cert, Some(namespace)))
                .with_context(|| {
                    format!(
                        "no --cert given (nor {}), so the certificate comes from the controller",
                        env::SEALED_SECRETS_CERT
                    )
                }),
        }
    }
}

/// Reads the whole input, refusing to wait silently on an interactive terminal.
pub fn read_input(input: &Input) -> anyhow::Result<zeroize::Zeroizing<String>> {
    if matches!(input, Input::Stdin) && std::io::stdin().is_terminal() {
        bail!(UsageError(
            "no input: give a FILE or pipe a Secret on stdin (see `seal --help`)".into()
        ));
    }
    input.read_to_string()
}

/// Context for an error about one document.
pub fn document_context(input: &Input, doc: &Document) -> String {
    match doc.name() {
        Some(name) => format!("{}: document {} ({name})", input.display(), doc.index),
        None => format!("{}: document {}", input.display(), doc.index),
    }
}

/// Parses a document as a Secret, with a clear error for anything else.
pub fn parse_secret(input: &Input, doc: &Document) -> anyhow::Result<SecretManifest> {
    check_secret_kind(input, doc)?;
    doc.parse::<SecretManifest>("Secret")
        .with_context(|| input.display())
}

/// [`parse_secret`] that moves the document's values into the Secret.
pub fn parse_secret_owned(input: &Input, doc: Document) -> anyhow::Result<SecretManifest> {
    check_secret_kind(input, &doc)?;
    doc.into_parsed::<SecretManifest>("Secret")
        .with_context(|| input.display())
}

fn check_secret_kind(input: &Input, doc: &Document) -> anyhow::Result<()> {
    if let Some(kind) = doc.kind().filter(|k| *k != "Secret") {
        bail!(
            "{}: not a Secret (kind: {kind})",
            document_context(input, doc)
        );
    }
    Ok(())
}

/// Splits the input into documents; a `.yaml`/`.yml` file is read as YAML even when it starts
/// like JSON, so its errors are YAML errors.
pub fn parse_input(input: &Input, text: &str) -> anyhow::Result<(StreamFormat, Vec<Document>)> {
    let hint = match input {
        Input::File(path) => StreamFormat::from_path(path),
        Input::Stdin => None,
    };
    yaml::parse_stream_hinted(text, hint).with_context(|| input.display())
}

/// Writes objects to `-w FILE` atomically or to stdout.
pub fn write_output<T: serde::Serialize>(
    objects: &[T],
    format: StreamFormat,
    io: &IoArgs,
    printer: &Printer,
) -> anyhow::Result<()> {
    let format = match &io.out_file {
        Some(path) if io.format.is_none() => match path.extension().and_then(|e| e.to_str()) {
            Some("json") => StreamFormat::Json,
            Some("yaml" | "yml") => StreamFormat::Yaml,
            _ => format,
        },
        _ => format,
    };
    match &io.out_file {
        Some(path) => {
            let text = zeroize::Zeroizing::new(yaml::write_stream(objects, format)?);
            fsio::write_atomic(path, text.as_bytes())
        }
        // Streamed: a large object is not also held as text.
        None => match yaml::write_stream_to(&mut printer.data_writer(), objects, format) {
            Err(yaml::Error::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => Ok(r?),
        },
    }
}

/// Seals every Secret of the input, in order.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let input = args.input();
    let scope = args.scope()?;
    let (cert, cluster_namespace) = args.certificate_and_namespace(printer)?;
    // The text goes (zeroized) as soon as it is parsed, and each Secret's values as soon as
    // they are sealed: a large value is not held more times than needed.
    let (format, documents) = parse_input(&input, &read_input(&input)?)?;
    if documents.is_empty() {
        bail!("{}: no Secret found in the input", input.display());
    }
    let options = SealOptions {
        scope,
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        default_namespace: cluster_namespace.unwrap_or_else(|| "default".into()),
        allow_empty_data: args.allow_empty_data,
    };
    let contexts: Vec<String> = documents
        .iter()
        .map(|doc| document_context(&input, doc))
        .collect();
    let secrets = documents
        .into_iter()
        .map(|doc| parse_secret_owned(&input, doc))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sealed = seal_all(secrets, &cert, &options, |i| contexts[i].clone())?;
    let format = args.io.format.map(Into::into).unwrap_or(format);
    write_output(&sealed, format, &args.io, printer)?;
    Ok(ExitStatus::Success)
}

/// Seals many Secrets on every core, keeping their order; the first failure (in input order)
/// is returned with `context(index)`. Each Secret's values are let go once sealed.
pub fn seal_all(
    secrets: Vec<SecretManifest>,
    cert: &Certificate,
    options: &SealOptions,
    context: impl Fn(usize) -> String + Sync,
) -> anyhow::Result<Vec<SealedSecretManifest>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = secrets.len().div_ceil(threads).max(1);
    let mut parts: Vec<Vec<SecretManifest>> = Vec::new();
    let mut rest = secrets.into_iter();
    loop {
        let part: Vec<SecretManifest> = rest.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let results: Vec<Result<SealedSecretManifest, (usize, sealed::ConvertError)>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .into_iter()
                .enumerate()
                .map(|(c, part)| {
                    scope.spawn(move || {
                        part.into_iter()
                            .enumerate()
                            .map(|(i, s)| {
                                sealed::seal_secret_owned(s, cert.public_key(), options)
                                    .map_err(|e| (c * chunk + i, e))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("sealing thread panicked"))
                .collect()
        });
    results
        .into_iter()
        .map(|r| r.map_err(|(i, e)| anyhow::Error::new(e).context(context(i))))
        .collect()
}
