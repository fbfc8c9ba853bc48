//! `kube-harness`: runs the test API server on a port, for `kubectl --server` or a controller.

use anyhow::Context as _;
use clap::Parser;
use std::path::PathBuf;

/// Run the sealkit Kubernetes API-server harness (plain HTTP on 127.0.0.1).
///
/// Point kubectl at it with `kubectl --server http://127.0.0.1:PORT`, or write a kubeconfig with
/// `--kubeconfig`. Requests without a token have full access; ServiceAccount tokens (`kubectl
/// create token`) are authorized by RBAC, over the HTTPS listener (kubectl sends tokens only over
/// TLS: write a kubeconfig for one with `--admin-kubeconfig` and replace its token).
#[derive(Parser)]
#[command(
    after_help = "Example:\n  $ kube-harness --port 8001 --kubeconfig /tmp/harness.kubeconfig"
)]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Also write a kubeconfig for the server here (plain HTTP, no credentials: full access).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Also write a kubeconfig that authenticates with the admin token over HTTPS here (for
    /// `kubectl auth can-i`, or to edit RBAC as an authenticated user).
    #[arg(long)]
    admin_kubeconfig: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let opts = sealkit_tests::harness::Options {
        port: args.port,
        ..Default::default()
    };
    let harness = sealkit_tests::harness::start_with(opts)
        .await
        .context("starting the harness")?;
    if let Some(path) = &args.kubeconfig {
        harness
            .write_kubeconfig(path)
            .with_context(|| format!("writing `{}`", path.display()))?;
    }
    if let Some(path) = &args.admin_kubeconfig {
        fs_err::write(path, harness.kubeconfig_for_token(&harness.admin_token()))
            .with_context(|| format!("writing `{}`", path.display()))?;
    }
    #[allow(clippy::print_stdout)]
    {
        println!("{}", harness.url());
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    harness.stop().await;
    Ok(())
}
