//! `seal web`: the sealing page on this machine, for people who have a certificate and no
//! controller in reach. It serves the page (sealing happens in the browser, no value reaches
//! this process) and the certificate at `/v1/cert.pem`; there is no `/v1/verify`, and the page
//! says so. `--out-dir` writes the page's files instead, to open `index.html` as a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use axum::http::header;
use axum::routing::get;
use sealkit_webui::{ASSETS, Host};

use crate::printer::Printer;
use crate::report::ExitStatus;

/// `seal web` flags.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  $ seal web --cert cert.pem            # then open http://127.0.0.1:8090/\n  $ seal web --out-dir ./sealing-page   # then open ./sealing-page/index.html"
)]
pub struct Args {
    /// Certificate to seal with (PEM file, or an http(s) URL such as a controller's
    /// /v1/cert.pem), served to the page at /v1/cert.pem.
    #[arg(long, value_name = "FILE|URL", required_unless_present = "out_dir")]
    pub cert: Option<String>,

    /// With an http(s) --cert: seconds the whole download may take (connection, headers
    /// and body).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::certsource::DEFAULT_FETCH_TIMEOUT_SECS,
          env = crate::env::SEAL_CERT_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub cert_timeout: u64,

    /// Address to serve on. Browsers give pages WebCrypto only in a secure context: over
    /// plain http that means a loopback address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,

    /// Write the page's files to DIR and exit, instead of serving them.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["cert", "listen"])]
    pub out_dir: Option<PathBuf>,
}

/// Serves the page until Ctrl-C, or writes its files.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(dir) = &args.out_dir {
        write_files(dir)?;
        printer.info(&format!(
            "wrote the sealing page to `{}`: open `{}` in a browser",
            dir.display(),
            dir.join("index.html").display()
        ));
        return Ok(ExitStatus::Success);
    }
    let Some(source) = &args.cert else {
        bail!("--cert is required to serve the page");
    };
    let cert = crate::certsource::load(
        source,
        std::time::Duration::from_secs(args.cert_timeout),
        printer,
    )?;
    if !args.listen.ip().is_loopback() {
        printer.warn(&format!(
            "{} is not a loopback address: over plain http, browsers give the page no WebCrypto \
             there (serve it behind https, or use 127.0.0.1)",
            args.listen
        ));
    }
    let pem = cert.to_pem();
    let router = sealkit_webui::router(Host::SealWeb).route(
        "/v1/cert.pem",
        get(move || {
            let pem = pem.clone();
            async move { ([(header::CONTENT_TYPE, "application/x-pem-file")], pem) }
        }),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        printer.info(&format!(
            "serving the sealing page at http://{addr}/ (certificate {}, valid until {}); Ctrl-C stops",
            cert.public_key().fingerprint(),
            cert.not_after().date()
        ));
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .with_context(|| format!("serving on {addr}"))
    })?;
    Ok(ExitStatus::Success)
}

/// Writes every file of the page below `dir` (as a file opens it: no server, so the page asks
/// for a certificate to paste or upload).
fn write_files(dir: &Path) -> anyhow::Result<()> {
    for asset in &ASSETS {
        let path = dir.join(asset.path);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&path, asset.body)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_page_opens_as_a_file_with_its_script_style_and_library() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path()).unwrap();
        let page = fs_err::read_to_string(dir.path().join("index.html")).unwrap();
        assert!(page.contains("<body data-server=\"file\">"));
        for relative in ["sealkit.js", "sealkit.css", "vendor/js-yaml.min.js"] {
            assert!(page.contains(relative), "{relative}");
            assert!(dir.path().join(relative).is_file(), "{relative}");
        }
    }
}
