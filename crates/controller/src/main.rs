//! `seal-controller`: parse flags → logging → [`seal_controller::run`].

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use seal_controller::args::{Args, Command};
use tokio::sync::watch;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Crds) = args.command {
        #[allow(clippy::print_stdout)]
        {
            print!("{}", seal_controller::crds::all_yaml());
        }
        return ExitCode::SUCCESS;
    }
    // Flag combinations clap cannot check are usage errors too (exit 2).
    if let Err(e) = seal_controller::args::validate(&args.run) {
        report(&e.into());
        return ExitCode::from(2);
    }
    if let Err(e) = seal_controller::telemetry::init(args.run.log_format, &args.run.log_level) {
        report(&e.into());
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            report(&anyhow::Error::new(e).context("starting the async runtime"));
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster config or kubeconfig)")?;
    let listeners = seal_controller::Listeners::bind(&args.run).await?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    seal_controller::run(client, args.run, listeners, rx).await?;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[allow(clippy::print_stderr)]
fn report(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  Caused by: {cause}");
    }
}
