//! `seal-controller`: the in-cluster half of sealkit.

use clap::Parser;

/// Turns SealedSecrets (bitnami.com/v1alpha1) and ExternalSecrets into Secrets, and serves the
/// sealing certificate. (Work in progress: the controller is built in its own issue.)
#[derive(Parser)]
#[command(name = "seal-controller", version)]
struct Args {}

fn main() {
    let _args = Args::parse();
}
