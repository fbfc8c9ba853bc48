//! Local HTTP servers for tests that play a cloud endpoint: an axum router on a free loopback
//! port, in plain HTTP ([`serve`]) or behind TLS ([`serve_tls`], with a fresh self-signed
//! certificate for `127.0.0.1` and `localhost`, for clients that refuse plain HTTP such as
//! azure_identity's authority; the certificate is its own CA: trust `ca_pem` in the client).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_rustls::rustls;

/// A running HTTPS server.
#[derive(Debug)]
pub struct TlsServer {
    /// Where it listens (`127.0.0.1:PORT`).
    pub addr: SocketAddr,
    /// The server's certificate in PEM, to trust in clients.
    pub ca_pem: String,
}

impl TlsServer {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `router` over plain HTTP on a free loopback port from a background thread.
pub fn serve(router: axum::Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("the port");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let tcp = tokio::net::TcpListener::from_std(listener).expect("the listener");
            let _ = axum::serve(tcp, router).await;
        });
    });
    addr
}

/// Serves `router` over HTTPS on a free loopback port from a background thread.
pub fn serve_tls(router: axum::Router) -> TlsServer {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("a self-signed certificate");
    let ca_pem = certified.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .expect("the server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.set_nonblocking(true).expect("non-blocking");
    let addr = listener.local_addr().expect("the port");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let tcp = tokio::net::TcpListener::from_std(listener).expect("the listener");
            let _ = axum::serve(TlsListener { tcp, acceptor }, router).await;
        });
    });
    TlsServer { addr, ca_pem }
}
