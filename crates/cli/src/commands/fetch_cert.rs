//! `seal --fetch-cert`: print the sealing certificate (kubeseal `--fetch-cert`), from `--cert`
//! or, without it, from the controller through the API server's service proxy.

use crate::certsource;
use crate::controller_api::ControllerApi;
use crate::fsio;
use crate::printer::Printer;
use crate::report::ExitStatus;

use super::seal::Args;

/// Copies the certificate's bytes to stdout or `-w FILE`.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let pem = match &args.cert {
        Some(source) => {
            let pem = certsource::read_source(source, args.cert_timeout())?;
            // Parse it so a wrong file fails here rather than at the next seal.
            certsource::parse(&pem, source, printer)?;
            pem
        }
        None => {
            let pem = ControllerApi::connect(&args.controller)?.fetch_cert()?;
            sealer::sealed::Certificate::from_pem(&pem).map_err(|e| {
                anyhow::Error::new(e).context("the controller's /v1/cert.pem is not a certificate")
            })?;
            pem
        }
    };
    match &args.io.out_file {
        Some(path) => fsio::write_atomic(path, &pem)?,
        None => printer.data(&pem)?,
    }
    Ok(ExitStatus::Success)
}
