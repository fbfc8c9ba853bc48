//! Where the sealing certificate comes from: a file, `file://`, an `http(s)://` URL, or (with
//! no `--cert`) the controller, through the API server's service proxy.
//!
//! A certificate is a few KB: whatever the source, more than [`MAX_CERT_BYTES`] is refused
//! before it is held in memory, and a download has one deadline for connecting, the headers
//! and the whole body (a server that never ends its answer cannot keep `seal` waiting).

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sealer::sealed::Certificate;

use crate::controller_api::{ControllerApi, ControllerArgs};
use crate::printer::Printer;

/// The largest certificate file or answer accepted.
pub const MAX_CERT_BYTES: usize = 64 * 1024;

/// The default of `--cert-timeout` (seconds).
pub const DEFAULT_FETCH_TIMEOUT_SECS: u64 = 30;

/// Reads the certificate named by `--cert` (path or URL) and warns if it has expired.
/// `timeout` bounds a download from start to end.
pub fn load(source: &str, timeout: Duration, printer: &Printer) -> anyhow::Result<Certificate> {
    let bytes = read_source(source, timeout)?;
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

/// Parses PEM `bytes` read from `source` and warns if the certificate has expired.
pub fn parse(bytes: &[u8], source: &str, printer: &Printer) -> anyhow::Result<Certificate> {
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

/// What a `--cert` value names.
#[derive(Debug, PartialEq, Eq)]
enum Source<'a> {
    /// A local file (a plain path or `file://PATH`).
    File(&'a Path),
    /// An `http://` or `https://` URL.
    Url(&'a str),
}

impl<'a> Source<'a> {
    /// Classifies `source`; a URL of any other scheme is refused rather than read as a path.
    fn parse(source: &'a str) -> anyhow::Result<Self> {
        let Some((scheme, rest)) = source.split_once("://") else {
            return Ok(Self::File(Path::new(source)));
        };
        // RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
        let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !is_scheme {
            return Ok(Self::File(Path::new(source)));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" => Ok(Self::Url(source)),
            "file" => Ok(Self::File(Path::new(rest))),
            _ => bail!(
                "certificate `{source}`: unsupported URL scheme `{scheme}` (give a PEM file, \
                 file://PATH, or an http:// or https:// URL)"
            ),
        }
    }
}

/// The bytes at `source`: a path, `file://…`, or an `http(s)://` URL (downloaded within
/// `timeout`), at most [`MAX_CERT_BYTES`].
pub fn read_source(source: &str, timeout: Duration) -> anyhow::Result<Vec<u8>> {
    match Source::parse(source)? {
        Source::Url(url) => fetch(url, timeout),
        Source::File(path) => {
            let mut bytes = Vec::new();
            fs_err::File::open(path)?
                .take(MAX_CERT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading certificate `{}`", path.display()))?;
            if bytes.len() > MAX_CERT_BYTES {
                bail!(
                    "certificate `{}` is larger than {} KiB: not a PEM certificate",
                    path.display(),
                    MAX_CERT_BYTES / 1024
                );
            }
            Ok(bytes)
        }
    }
}

/// Downloads `url` with one deadline for the whole exchange.
fn fetch(url: &str, timeout: Duration) -> anyhow::Result<Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match runtime.block_on(async { tokio::time::timeout(timeout, fetch_capped(url)).await }) {
        Ok(result) => result,
        Err(_) => bail!(
            "cannot fetch `{url}`: no complete answer within {} s (raise --cert-timeout or {})",
            timeout.as_secs(),
            crate::env::SEAL_CERT_TIMEOUT
        ),
    }
}

async fn fetch_capped(url: &str) -> anyhow::Result<Vec<u8>> {
    let too_large = || {
        anyhow::anyhow!(
            "cannot fetch `{url}`: the answer is larger than {} KiB, so it is not a certificate",
            MAX_CERT_BYTES / 1024
        )
    };
    let client = reqwest::Client::builder()
        .build()
        .context("setting up HTTPS (the system's CA certificates: SSL_CERT_FILE, SSL_CERT_DIR)")?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| transport_error(url, e))?;
    let status = response.status();
    if !status.is_success() {
        bail!("cannot fetch `{url}`: HTTP {status}");
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_CERT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(url, e))?
    {
        if body.len() + chunk.len() > MAX_CERT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failed request: a refused server certificate in words, anything else with its chain.
fn transport_error(url: &str, error: reqwest::Error) -> anyhow::Error {
    match tls_refusal(&error) {
        Some(reason) => anyhow::anyhow!("cannot fetch `{url}`: {reason}"),
        None => anyhow::Error::new(error.without_url()).context(format!("cannot fetch `{url}`")),
    }
}

/// Why rustls refused the server's certificate, for a person, if that is what happened.
fn tls_refusal(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(rustls::Error::InvalidCertificate(problem)) =
            error.downcast_ref::<rustls::Error>()
        {
            return Some(describe_certificate_problem(problem));
        }
        // hyper-rustls hands rustls's error on inside `io::Error`s (nested), whose `source()`
        // skips the error they wrap.
        next = match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

fn describe_certificate_problem(problem: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match problem {
        // webpki says BadSignature when a trusted CA has the issuer's name but not its key.
        E::UnknownIssuer | E::BadSignature => "the server's certificate is not signed by a CA \
             this machine trusts: add the CA to the system's trust store, or set SSL_CERT_FILE \
             to a PEM file that holds it"
            .into(),
        E::Expired | E::ExpiredContext { .. } => "the server's certificate has expired".into(),
        E::NotValidYet | E::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet".into()
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "the server's certificate is not valid for this host name".into()
        }
        other => format!("the server's certificate was refused ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_file_urls_and_http_urls_are_told_apart() {
        assert_eq!(
            Source::parse("certs/tls.crt").unwrap(),
            Source::File(Path::new("certs/tls.crt"))
        );
        assert_eq!(
            Source::parse("file:///etc/tls.crt").unwrap(),
            Source::File(Path::new("/etc/tls.crt"))
        );
        assert_eq!(
            Source::parse("HTTPS://h/v1/cert.pem").unwrap(),
            Source::Url("HTTPS://h/v1/cert.pem")
        );
        // Not a scheme: a path that happens to hold `://`.
        assert_eq!(
            Source::parse("./a://b").unwrap(),
            Source::File(Path::new("./a://b"))
        );
    }

    // issue 14: `--cert ftp://…` was read as a local path.
    #[test]
    fn a_url_of_another_scheme_is_refused_by_name() {
        let err = Source::parse("ftp://example.com/cert.pem").unwrap_err();
        assert_eq!(
            err.to_string(),
            "certificate `ftp://example.com/cert.pem`: unsupported URL scheme `ftp` (give a PEM \
             file, file://PATH, or an http:// or https:// URL)"
        );
    }

    #[test]
    fn an_unknown_issuer_is_described_in_words() {
        // As hyper-rustls reports it: rustls's error in an io::Error in an io::Error.
        let io = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature),
        ));
        let reason = tls_refusal(&io).unwrap();
        assert!(
            reason
                .starts_with("the server's certificate is not signed by a CA this machine trusts"),
            "{reason}"
        );
        let other = std::io::Error::other("connection reset");
        assert_eq!(tls_refusal(&other), None);
    }
}
