//! Where the sealing certificate comes from: a file, `file://`, an `http(s)://` URL, or (with
//! no `--cert`) the controller, through the API server's service proxy.

use std::time::Duration;

use anyhow::{Context as _, bail};
use sealer::sealed::Certificate;

use crate::controller_api::{ControllerApi, ControllerArgs};
use crate::printer::Printer;

/// Reads the certificate named by `--cert` (path or URL) and warns if it has expired.
pub fn load(source: &str, printer: &Printer) -> anyhow::Result<Certificate> {
    let bytes = read_source(source)?;
    parse(&bytes, source, printer)
}

/// Fetches the controller's certificate; also returns the kubeconfig's namespace (the default
/// for Secrets without one, as kubeseal).
pub fn from_controller(
    controller: &ControllerArgs,
    printer: &Printer,
) -> anyhow::Result<(Certificate, String)> {
    let api = ControllerApi::connect(controller)?;
    let bytes = api.fetch_cert()?;
    let source = format!(
        "{}/{} /v1/cert.pem",
        controller.controller_namespace, controller.controller_name
    );
    Ok((
        parse(&bytes, &source, printer)?,
        api.default_namespace().to_owned(),
    ))
}

fn parse(bytes: &[u8], source: &str, printer: &Printer) -> anyhow::Result<Certificate> {
    let cert =
        Certificate::from_pem(bytes).with_context(|| format!("reading certificate `{source}`"))?;
    let now = time::OffsetDateTime::now_utc();
    if cert.is_expired_at(now) {
        printer.warn(&format!(
            "certificate `{source}` expired on {}; the controller may have renewed its key (fetch the current one)",
            cert.not_after().date()
        ));
    }
    if cert.is_not_yet_valid_at(now) {
        printer.warn(&format!(
            "certificate `{source}` is not valid before {}; check the clock, or that this is the controller's current certificate",
            cert.not_before().date()
        ));
    }
    Ok(cert)
}

/// The bytes at `source`: a path, `file://…`, or an `http(s)://` URL.
pub fn read_source(source: &str) -> anyhow::Result<Vec<u8>> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        let response = client
            .get(source)
            .send()
            .with_context(|| format!("cannot fetch `{source}`"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("cannot fetch `{source}`: HTTP {status}");
        }
        let body = response
            .bytes()
            .with_context(|| format!("cannot fetch `{source}`"))?;
        return Ok(body.to_vec());
    }
    let path = source.strip_prefix("file://").unwrap_or(source);
    Ok(fs_err::read(path)?)
}
