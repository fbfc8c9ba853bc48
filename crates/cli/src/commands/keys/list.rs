//! `seal keys list`: the controller's `GET /v1/keys`, as a table or as JSON.

use anyhow::Context as _;
use serde::Deserialize;

use crate::controller_api::{Controller, ControllerArgs};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Flags.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  $ seal keys list\n  $ seal keys list --controller-url http://127.0.0.1:8080 --output json"
)]
pub struct Args {
    /// The controller's URL instead of the API server's service proxy.
    #[arg(long, value_name = "URL")]
    pub controller_url: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: super::super::reseal::ReportFormat,

    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// The key list as the controller serves it (`seal-controller`'s `keyring::listing`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    /// Newest first.
    pub keys: Vec<KeyInfo>,
    /// What the counts cover.
    pub usage: UsageSummary,
}

/// One key.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// `SHA256:…`.
    pub fingerprint: Option<String>,
    /// The key Secret's name.
    pub secret: String,
    /// `active`, `compromised`, `retired`, `locked`.
    pub state: String,
    /// Whether it seals now.
    pub sealing: bool,
    /// RFC 3339.
    pub created: Option<String>,
    /// RFC 3339.
    pub expires: Option<String>,
    /// Wrapped by a KMS master key.
    pub wrapped: bool,
    /// SealedSecrets that need it, when known.
    pub sealed_secrets: Option<u64>,
    /// Why a locked key is locked.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What the counts cover.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSummary {
    /// Whether the counts are known.
    pub complete: bool,
    /// SealedSecrets watched.
    pub sealed_secrets: u64,
    /// SealedSecrets with nothing recorded yet.
    pub unrecorded: u64,
    /// SealedSecrets no key opens.
    pub opened_by_none: u64,
}

/// Fetches the key list.
pub fn fetch(controller: &Controller) -> anyhow::Result<(KeyList, Vec<u8>)> {
    let bytes = controller.keys()?;
    let list = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: the answer of /v1/keys is not a key list (is it a sealkit controller?)",
            controller.describe()
        )
    })?;
    Ok((list, bytes))
}

/// Runs the command.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let controller = Controller::connect(&args.controller, args.controller_url.as_deref())?;
    let (list, bytes) = fetch(&controller)?;
    match args.output {
        super::super::reseal::ReportFormat::Json => {
            let value: serde_json::Value = serde_json::from_slice(&bytes)?;
            let mut text = serde_json::to_string_pretty(&value)?;
            text.push('\n');
            printer.data(text.as_bytes())?;
        }
        super::super::reseal::ReportFormat::Text => {
            printer.data(table(&list).as_bytes())?;
        }
    }
    Ok(ExitStatus::Success)
}

fn day(t: Option<&str>) -> &str {
    t.map_or("-", |t| t.get(..10).unwrap_or(t))
}

/// The list as a table and a usage line.
pub fn table(list: &KeyList) -> String {
    let mut out = format!(
        "{:<52} {:<11} {:<7} {:<10} {:<10} {:<7} {:>13}  {}\n",
        "FINGERPRINT",
        "STATE",
        "SEALING",
        "CREATED",
        "EXPIRES",
        "WRAPPED",
        "SEALEDSECRETS",
        "SECRET"
    );
    for k in &list.keys {
        out.push_str(&format!(
            "{:<52} {:<11} {:<7} {:<10} {:<10} {:<7} {:>13}  {}\n",
            k.fingerprint.as_deref().unwrap_or("-"),
            k.state,
            if k.sealing { "yes" } else { "no" },
            day(k.created.as_deref()),
            day(k.expires.as_deref()),
            if k.wrapped { "yes" } else { "no" },
            k.sealed_secrets
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            k.secret
        ));
        if let Some(reason) = &k.reason {
            out.push_str(&format!("  locked: {reason}\n"));
        }
    }
    let u = &list.usage;
    if u.complete {
        out.push_str(&format!(
            "{} SealedSecrets: {} with no key recorded yet, {} that no key opens\n",
            u.sealed_secrets, u.unrecorded, u.opened_by_none
        ));
    } else {
        out.push_str("SealedSecret counts not known yet (the controller is still listing them)\n");
    }
    out
}
