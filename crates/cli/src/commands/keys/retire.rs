//! `seal keys retire FINGERPRINT`: label a key Secret `retired` (it then neither seals nor
//! decrypts; Bitnami's controller, which reads only `active` keys, ignores it too).
//!
//! Refused, unless `--force`, while the controller says SealedSecrets still need the key, while
//! it cannot say (counts not known yet, SealedSecrets with nothing recorded), or when the key
//! is the one that seals now. The change is a patch of the key Secret made with the user's
//! own Kubernetes credentials (RBAC decides who may retire keys), with its resourceVersion as
//! a precondition.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};

use super::list;
use super::{KEY_LABEL, fingerprint, same_fingerprint};
use crate::controller_api::{Controller, ControllerArgs, connect_cluster};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Value of [`KEY_LABEL`] for a retired key.
pub const RETIRED: &str = "retired";
/// When the key was retired (RFC 3339), set on the key Secret.
pub const RETIRED_AT_ANNOTATION: &str = "sealkit.dev/retired-at";

/// Flags.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Example:\n  $ seal keys list\n  $ seal keys retire SHA256:Xm3f…")]
pub struct Args {
    /// The key's fingerprint as `seal keys list` prints it (the `SHA256:` prefix may be left
    /// out).
    #[arg(value_name = "FINGERPRINT")]
    pub fingerprint: String,

    /// Retire it even if SealedSecrets need it (they stop opening), usage is unknown, or it is
    /// the key that seals now (the controller then makes a new one).
    #[arg(long)]
    pub force: bool,

    /// Namespace of the key Secrets [default: --controller-namespace].
    #[arg(long, value_name = "NAMESPACE")]
    pub key_namespace: Option<String>,

    /// The controller's URL instead of the API server's service proxy (for the usage check).
    #[arg(long, value_name = "URL")]
    pub controller_url: Option<String>,

    #[command(flatten)]
    pub controller: ControllerArgs,
}

/// Whether the controller's list allows retiring `given` (its row), or why not.
pub fn check(list: &list::KeyList, given: &str) -> anyhow::Result<()> {
    let Some(row) = list.keys.iter().find(|k| {
        k.fingerprint
            .as_deref()
            .is_some_and(|f| same_fingerprint(given, f))
    }) else {
        bail!("the controller holds no key {given} (see seal keys list)");
    };
    if row.state == RETIRED {
        return Ok(());
    }
    if row.sealing {
        bail!(
            "{given} is the key that seals now: retiring it makes the controller generate a new one (use --force to do it anyway)"
        );
    }
    if !list.usage.complete {
        bail!(
            "the controller does not know yet which SealedSecrets need {given}; try again shortly (or --force)"
        );
    }
    match row.sealed_secrets {
        Some(0) => {}
        Some(n) => bail!(
            "{n} SealedSecret{} still need{} {given}: re-seal them first (seal reseal), or use --force",
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" }
        ),
        None => {
            bail!("the controller does not say how many SealedSecrets need {given} (use --force)")
        }
    }
    if list.usage.unrecorded > 0 {
        bail!(
            "{} SealedSecret{} have no key recorded yet (not reconciled, or status updates off): they may need {given} (use --force)",
            list.usage.unrecorded,
            if list.usage.unrecorded == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if !args.force {
        let controller = Controller::connect(&args.controller, args.controller_url.as_deref())
            .context(
                "checking with the controller which SealedSecrets need the key (or --force)",
            )?;
        let (list, _) = list::fetch(&controller).context(
            "checking with the controller which SealedSecrets need the key (or --force)",
        )?;
        check(&list, &args.fingerprint)?;
    }
    let namespace = args
        .key_namespace
        .clone()
        .unwrap_or_else(|| args.controller.controller_namespace.clone());
    let (runtime, client, _) = connect_cluster(&args.controller)?;
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    let outcome = runtime.block_on(async {
        let secrets = api
            .list(&ListParams::default().labels(KEY_LABEL))
            .await
            .with_context(|| format!("listing the key Secrets in namespace {namespace}"))?;
        let Some(secret) = secrets
            .items
            .into_iter()
            .find(|s| fingerprint(s).is_some_and(|f| same_fingerprint(&args.fingerprint, &f)))
        else {
            bail!(
                "no key Secret in namespace {namespace} has the certificate {}",
                args.fingerprint
            );
        };
        let name = secret.metadata.name.clone().unwrap_or_default();
        let label = secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(KEY_LABEL))
            .cloned();
        if label.as_deref() == Some(RETIRED) {
            return Ok((name, false));
        }
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let patch = serde_json::json!({
            "metadata": {
                "resourceVersion": secret.metadata.resource_version,
                "labels": {KEY_LABEL: RETIRED},
                "annotations": {RETIRED_AT_ANNOTATION: now},
            }
        });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("labelling key Secret {namespace}/{name} retired"))?;
        anyhow::Ok((name, true))
    })?;
    let (name, changed) = outcome;
    if changed {
        printer.info(&format!(
            "key Secret {namespace}/{name} is now retired; the controller stops using it (at once with --watch-for-secrets, else at its next start)"
        ));
    } else {
        printer.info(&format!(
            "key Secret {namespace}/{name} was already retired"
        ));
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(
        rows: &[(&str, &str, bool, Option<u64>)],
        complete: bool,
        unrecorded: u64,
    ) -> list::KeyList {
        let value = serde_json::json!({
            "keys": rows.iter().map(|(fp, state, sealing, n)| serde_json::json!({
                "fingerprint": fp, "secret": "s", "state": state, "sealing": sealing,
                "created": null, "expires": null, "wrapped": false, "sealedSecrets": n,
            })).collect::<Vec<_>>(),
            "usage": {"complete": complete, "sealedSecrets": 3, "unrecorded": unrecorded, "openedByNone": 0},
        });
        serde_json::from_value(value).unwrap()
    }

    // issue 17: a key is retired only when nothing needs it.
    #[test]
    fn retiring_is_refused_while_needed_unknown_or_sealing() {
        let l = list(
            &[
                ("SHA256:new", "active", true, Some(2)),
                ("SHA256:old", "active", false, Some(1)),
            ],
            true,
            0,
        );
        let err = check(&l, "SHA256:old").unwrap_err().to_string();
        assert!(
            err.starts_with("1 SealedSecret still needs SHA256:old"),
            "{err}"
        );
        assert!(
            check(&l, "new")
                .unwrap_err()
                .to_string()
                .contains("seals now")
        );
        assert!(check(&l, "SHA256:gone").is_err());

        let l = list(&[("SHA256:old", "active", false, Some(0))], false, 0);
        assert!(
            check(&l, "old")
                .unwrap_err()
                .to_string()
                .contains("does not know yet")
        );
        let l = list(&[("SHA256:old", "active", false, Some(0))], true, 2);
        assert!(
            check(&l, "old")
                .unwrap_err()
                .to_string()
                .contains("no key recorded yet")
        );
        let l = list(&[("SHA256:old", "compromised", false, Some(0))], true, 0);
        check(&l, "old").unwrap();
    }
}
