//! `seal keys …`: the controller's sealing keys over their lifetime.
//!
//! - `list`: the keys, their state and how many SealedSecrets need each (the controller's
//!   `GET /v1/keys`, through the service proxy or `--controller-url`).
//! - `retire`: mark a key Secret `retired` once nothing needs it, with the user's own
//!   Kubernetes credentials (a label patch on the key Secret; the controller has no endpoint
//!   that changes keys).
//! - `wrap` / `unwrap`: convert key Secrets (files) between the plain Bitnami form and the
//!   form wrapped by a KMS master key.
//! - `backup` / `restore`: key Secrets out of the cluster into a file (wrapped on the way out
//!   when a master key is named) and back.

pub mod backup;
pub mod convert;
pub mod list;
pub mod retire;

use k8s_openapi::api::core::v1::Secret;

use crate::printer::Printer;
use crate::report::ExitStatus;

/// Label every key Secret carries (Bitnami's).
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// `seal keys` subcommands.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// List the controller's keys: state, validity, and how many SealedSecrets need each.
    List(list::Args),
    /// Mark a key retired (no longer used at all) once no SealedSecret needs it.
    Retire(retire::Args),
    /// Wrap the private keys of key Secret files with a KMS master key.
    Wrap(convert::WrapCommand),
    /// Unwrap the private keys of key Secret files (back to Bitnami's plain form).
    Unwrap(convert::UnwrapCommand),
    /// Copy the key Secrets out of the cluster into a file (wrapped with a master key if one
    /// is named).
    Backup(backup::BackupArgs),
    /// Create key Secrets from a backup file.
    Restore(backup::RestoreArgs),
}

/// Runs `seal keys …`.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match &args.command {
        KeysCommand::List(a) => list::run(a, printer),
        KeysCommand::Retire(a) => retire::run(a, printer),
        KeysCommand::Wrap(a) => convert::run_wrap(a, printer),
        KeysCommand::Unwrap(a) => convert::run_unwrap(a, printer),
        KeysCommand::Backup(a) => backup::run_backup(a, printer),
        KeysCommand::Restore(a) => backup::run_restore(a, printer),
    }
}

/// Drops what the API server sets (uid, resourceVersion, timestamps, managed fields, owner
/// references), so a key Secret written to a file can be created again anywhere.
pub fn strip_server_fields(secret: &mut Secret) {
    let m = &mut secret.metadata;
    m.uid = None;
    m.resource_version = None;
    m.creation_timestamp = None;
    m.managed_fields = None;
    m.generation = None;
    m.self_link = None;
    m.owner_references = None;
    m.deletion_timestamp = None;
    m.deletion_grace_period_seconds = None;
    if let Some(a) = m.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        if a.is_empty() {
            m.annotations = None;
        }
    }
}

/// The `SHA256:…` fingerprint of a key Secret's certificate.
pub fn fingerprint(secret: &Secret) -> Option<String> {
    let cert = secret.data.as_ref()?.get("tls.crt")?;
    sealer::sealed::Certificate::from_pem(&cert.0)
        .ok()
        .map(|c| c.public_key().fingerprint())
}

/// Whether `given` names `fingerprint` (with or without the `SHA256:` prefix).
pub fn same_fingerprint(given: &str, fingerprint: &str) -> bool {
    let strip = |f: &str| f.strip_prefix("SHA256:").unwrap_or(f).to_owned();
    !given.is_empty() && strip(given) == strip(fingerprint)
}
