//! The HTTPS listener: kubectl (client-go's `clientcmd`) sends a kubeconfig's token or client
//! credentials only over TLS, so token-authenticated kubectl talks to this one.
//!
//! A CA and a server certificate for `127.0.0.1` and `localhost`, made once per process with
//! rcgen; the CA's PEM goes into kubeconfigs as `certificate-authority-data`. Handshakes run in
//! their own tasks, so a slow client does not hold up the others.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The CA and the server configuration.
pub(crate) struct Material {
    /// The CA certificate (PEM) clients trust.
    pub ca_pem: String,
    acceptor: TlsAcceptor,
}

/// The process's TLS material.
pub(crate) fn material() -> &'static Material {
    static MATERIAL: OnceLock<Material> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let ca_key = KeyPair::generate().expect("an ECDSA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "sealkit-harness-ca");
        let ca_cert = ca.self_signed(&ca_key).expect("a self-signed CA");
        let key = KeyPair::generate().expect("an ECDSA key");
        let mut server =
            CertificateParams::new(vec!["localhost".to_string()]).expect("server parameters");
        server
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        server
            .distinguished_name
            .push(DnType::CommonName, "sealkit-harness");
        let cert = server
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("a server certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("a matching certificate and key");
        Material {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    })
}

/// A listener whose connections are TLS streams.
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` until the returned task is aborted.
    pub fn new(tcp: TcpListener) -> std::io::Result<(Self, tokio::task::JoinHandle<()>)> {
        let addr = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let acceptor = material().acceptor.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    continue;
                };
                if tx.is_closed() {
                    return;
                }
                let (tx, acceptor) = (tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok((Self { rx, addr }, task))
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop ended: never resolve, as a listener without connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
