//! `seal keys backup` / `seal keys restore`: the key Secrets out of the cluster into one file
//! and back, with the user's own Kubernetes credentials.
//!
//! A backup is a `v1 List` of key Secrets (labels kept: `active`, `compromised`, `retired`),
//! server fields dropped. With a master key named (`--hc-vault-transit`, `--kms`, …) every
//! plain private key is wrapped on the way out, so the file is useless without the KMS; keys
//! the controller already keeps wrapped stay as they are. The file is written 0600.
//!
//! Restore creates each Secret in the key namespace; one that exists with the same data is
//! left alone, one that differs is an error unless `--replace`. With `--unwrap`, wrapped keys
//! are unwrapped first (for a controller that runs without `--key-wrap-*`).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ListParams, PostParams};
use sealer::yaml;

use super::{KEY_LABEL, strip_server_fields};
use crate::controller_api::{ControllerArgs, connect_cluster};
use crate::fsio::{self, Input};
use crate::keywrap::{self, WrapArgs, Wrapper};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// `seal keys backup` flags.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  $ seal keys backup -w keys.yaml --hc-vault-transit https://vault:8200/v1/transit/keys/sealkit"
)]
pub struct BackupArgs {
    /// Write the backup here (0600) instead of stdout.
    #[arg(short = 'w', long = "output-file", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Namespace of the key Secrets [default: --controller-namespace].
    #[arg(long, value_name = "NAMESPACE")]
    pub key_namespace: Option<String>,

    #[command(flatten)]
    pub wrap: WrapArgs,

    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// `seal keys restore` flags.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Example:\n  $ seal keys restore keys.yaml")]
pub struct RestoreArgs {
    /// The backup (YAML or JSON key Secrets); `-` reads stdin.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,

    /// Namespace to create the key Secrets in [default: --controller-namespace].
    #[arg(long, value_name = "NAMESPACE")]
    pub key_namespace: Option<String>,

    /// Unwrap wrapped private keys before restoring them (for a controller without
    /// --key-wrap-*); needs the master key's credentials here.
    #[arg(long)]
    pub unwrap: bool,

    /// Overwrite key Secrets that exist with other data.
    #[arg(long)]
    pub replace: bool,

    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// Runs `seal keys backup`.
pub fn run_backup(args: &BackupArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let wrapper = args
        .wrap
        .any()
        .then(|| Wrapper::new(&args.wrap))
        .transpose()?;
    let namespace = args
        .key_namespace
        .clone()
        .unwrap_or_else(|| args.controller.controller_namespace.clone());
    let (runtime, client, _) = connect_cluster(&args.controller)?;
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    let mut secrets = runtime
        .block_on(api.list(&ListParams::default().labels(KEY_LABEL)))
        .with_context(|| format!("listing the key Secrets in namespace {namespace}"))?
        .items;
    if secrets.is_empty() {
        bail!("no key Secret in namespace {namespace} (label {KEY_LABEL})");
    }
    secrets.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let (mut plain, mut wrapped) = (0, 0);
    for secret in &mut secrets {
        strip_server_fields(secret);
        if let Some(key) = secret.data.as_mut().and_then(|d| d.get_mut("tls.key")) {
            if keywrap::is_wrapped(&key.0) {
                wrapped += 1;
            } else if let Some(wrapper) = &wrapper {
                let bytes = wrapper.wrap(&key.0)?;
                zeroize::Zeroize::zeroize(&mut key.0);
                *key = ByteString(bytes);
                wrapped += 1;
            } else {
                plain += 1;
            }
        }
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": secrets});
    let text = zeroize::Zeroizing::new(serde_yaml_ng::to_string(&list)?);
    for s in &mut secrets {
        for v in s.data.iter_mut().flat_map(|d| d.values_mut()) {
            zeroize::Zeroize::zeroize(&mut v.0);
        }
    }
    match &args.output {
        Some(path) => fsio::write_private(path, text.as_bytes(), true)?,
        None => printer.data(text.as_bytes())?,
    }
    printer.info(&format!(
        "{} key Secret(s) backed up: {wrapped} wrapped, {plain} plain",
        wrapped + plain
    ));
    if plain > 0 {
        printer.warn("the backup holds plain private keys: keep it offline, or name a master key (--hc-vault-transit, --kms, --gcp-kms, --azure-kv) to wrap them");
    }
    Ok(ExitStatus::Success)
}

/// Runs `seal keys restore`.
pub fn run_restore(args: &RestoreArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let input = Input::from_arg(Some(&args.input));
    let text = input.read_to_string()?;
    let (_, documents) = yaml::parse_stream(&text).with_context(|| input.display())?;
    let namespace = args
        .key_namespace
        .clone()
        .unwrap_or_else(|| args.controller.controller_namespace.clone());
    let mut secrets = Vec::new();
    for doc in &documents {
        let context = || super::super::seal::document_context(&input, doc);
        let mut secret: Secret = doc.parse("Secret").with_context(context)?;
        strip_server_fields(&mut secret);
        secret.metadata.namespace = Some(namespace.clone());
        if secret.metadata.name.is_none() {
            bail!("{}: a key Secret needs a name", context());
        }
        if args.unwrap
            && let Some(key) = secret.data.as_mut().and_then(|d| d.get_mut("tls.key"))
            && keywrap::is_wrapped(&key.0)
        {
            *key = ByteString(keywrap::unwrap(&key.0).with_context(context)?.to_vec());
        }
        secrets.push(secret);
    }
    let (runtime, client, _) = connect_cluster(&args.controller)?;
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    let (mut created, mut same) = (0, 0);
    runtime.block_on(async {
        for secret in &secrets {
            let name = secret.metadata.name.clone().unwrap_or_default();
            match api.create(&PostParams::default(), secret).await {
                Ok(_) => created += 1,
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    let existing = api
                        .get(&name)
                        .await
                        .with_context(|| format!("reading key Secret {namespace}/{name}"))?;
                    if existing.data == secret.data {
                        same += 1;
                    } else if args.replace {
                        let mut next = secret.clone();
                        next.metadata.resource_version = existing.metadata.resource_version;
                        api.replace(&name, &PostParams::default(), &next)
                            .await
                            .with_context(|| format!("replacing key Secret {namespace}/{name}"))?;
                        created += 1;
                    } else {
                        bail!(
                            "key Secret {namespace}/{name} exists with other data (use --replace to overwrite it)"
                        );
                    }
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("creating key Secret {namespace}/{name}")));
                }
            }
        }
        anyhow::Ok(())
    })?;
    printer.info(&format!(
        "{created} key Secret(s) restored in {namespace}, {same} already there; the controller reads them at once with --watch-for-secrets, else at its next start"
    ));
    Ok(ExitStatus::Success)
}
