//! Where the sealing certificate comes from: a file, `file://`, or an `http(s)://` URL.

use std::time::Duration;

use anyhow::{Context as _, bail};
use sealer::sealed::Certificate;

use crate::printer::Printer;

/// Reads the certificate named by `--cert` (path or URL) and warns if it has expired.
pub fn load(source: &str, printer: &Printer) -> anyhow::Result<Certificate> {
    let bytes = read_source(source)?;
    let cert =
        Certificate::from_pem(&bytes).with_context(|| format!("reading certificate `{source}`"))?;
    let now = time::OffsetDateTime::now_utc();
    if cert.is_expired_at(now) {
        printer.warn(&format!(
            "certificate `{source}` expired on {}; the controller may have renewed its key (fetch the current one)",
            cert.not_after().date()
        ));
    }
    Ok(cert)
}

fn read_source(source: &str) -> anyhow::Result<Vec<u8>> {
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
