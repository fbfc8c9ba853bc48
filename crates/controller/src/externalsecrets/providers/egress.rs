//! Outbound HTTP of the providers: every call a store makes goes through one policy.
//!
//! - **Timeouts**: a connect timeout and a deadline per call ([`DEFAULT_TIMEOUT`] unless the
//!   store sets one), so a silent upstream holds a reconcile slot for a bounded time.
//! - **Size caps**: answers are read in chunks up to [`MAX_RESPONSE_BYTES`]; a larger one is an
//!   error before it is held in memory (`Content-Length` is checked first, then every chunk).
//! - **No link-local peers**: a store URL is written by a tenant, and link-local addresses are
//!   where clouds serve instance credentials (169.254.169.254, ECS/EKS credential agents at
//!   169.254.170.x, `fd00:ec2::254`, `fd00:ec2::23`). They are refused unless
//!   `--external-secrets-allow-link-local` is set: IP literals before the request, host names
//!   after DNS resolution (the resolver refuses a name with any link-local address), and every
//!   redirect hop (at most [`MAX_REDIRECTS`], as Go's client).
//!
//! An HTTP proxy configured in the environment resolves names itself: restrict it there.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::ProviderError;

/// Largest provider answer read (a Secret holds at most 1 MiB; lists of keys can be longer).
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// What a `find` collects, one value per secret, within [`MAX_RESPONSE_BYTES`] in total: the
/// values end up in one Secret, so stop well before holding more than any Secret could.
#[derive(Default)]
pub struct FoundValues {
    values: super::SecretMap,
    total: usize,
}

impl FoundValues {
    /// Adds `name`'s fetched value; a secret that does not exist (any more) is skipped.
    pub fn add(
        &mut self,
        service: &'static str,
        name: String,
        fetched: Result<super::SecretBytes, ProviderError>,
    ) -> Result<(), ProviderError> {
        match fetched {
            Ok(value) => {
                self.total += value.expose().len();
                if self.total > MAX_RESPONSE_BYTES {
                    return Err(ProviderError::TooLarge {
                        service,
                        limit: MAX_RESPONSE_BYTES,
                    });
                }
                self.values.insert(name, value);
                Ok(())
            }
            Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The values collected.
    pub fn into_map(self) -> super::SecretMap {
        self.values
    }
}

/// Deadline of every provider call unless the store sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest deadline a store may set (`webhook.timeout`): a reconcile slot is held that long.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Redirects followed per request (Go's `http.Client` stops after 10).
pub const MAX_REDIRECTS: usize = 10;

/// Whether `ip` is an address provider URLs may not reach by default: IPv4 link-local
/// (169.254.0.0/16, which holds the cloud metadata and credential endpoints), IPv6 link-local
/// (fe80::/10), AWS's IPv6 metadata and Pod Identity endpoints (`fd00:ec2::254`,
/// `fd00:ec2::23`), and the same addresses written as IPv4-mapped IPv6.
pub fn is_link_local(ip: IpAddr) -> bool {
    const AWS_IMDS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    const AWS_POD_IDENTITY_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23);
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => {
                (v6.segments()[0] & 0xffc0) == 0xfe80
                    || v6 == AWS_IMDS_V6
                    || v6 == AWS_POD_IDENTITY_V6
            }
        },
    }
}

/// How a resolver looks a host name up (the system resolver in production).
pub type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// The system resolver (`getaddrinfo` through tokio).
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(Iterator::collect)
        })
    })
}

/// The outbound policy of one bridge: built once from the controller's flags.
#[derive(Clone)]
pub struct Egress {
    allow_link_local: bool,
    lookup: Lookup,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("allow_link_local", &self.allow_link_local)
            .finish_non_exhaustive()
    }
}

impl Default for Egress {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Egress {
    /// The policy; `allow_link_local` is `--external-secrets-allow-link-local`.
    pub fn new(allow_link_local: bool) -> Self {
        Self {
            allow_link_local,
            lookup: system_lookup(),
        }
    }

    /// The same policy over another resolver (tests).
    pub fn with_lookup(mut self, lookup: Lookup) -> Self {
        self.lookup = lookup;
        self
    }

    /// Whether link-local peers are allowed.
    pub fn allows_link_local(&self) -> bool {
        self.allow_link_local
    }

    /// Checks a URL before a request: `http` or `https`, a host, and no link-local IP literal.
    /// (Host names are checked when they are resolved.)
    pub fn check_url(&self, url: &url::Url) -> Result<(), ProviderError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProviderError::Config(format!(
                "provider urls use http or https, not {:?}",
                url.scheme()
            )));
        }
        let ip = match url.host() {
            None => return Err(ProviderError::Config("the provider url has no host".into())),
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(_)) => return Ok(()),
        };
        self.check_ip(&super::host_of(url), ip)
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), ProviderError> {
        if !self.allow_link_local && is_link_local(ip) {
            return Err(ProviderError::LinkLocal {
                host: host.to_owned(),
            });
        }
        Ok(())
    }

    /// Resolves `host` and checks every address it has; the addresses to connect to.
    pub async fn resolve_checked(&self, host: &str) -> Result<Vec<IpAddr>, ProviderError> {
        let addrs =
            (self.lookup)(host.to_owned())
                .await
                .map_err(|source| ProviderError::Resolve {
                    host: host.to_owned(),
                    source,
                })?;
        let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
        for ip in &ips {
            self.check_ip(host, *ip)?;
        }
        if ips.is_empty() {
            return Err(ProviderError::Resolve {
                host: host.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            });
        }
        Ok(ips)
    }

    /// An HTTP client under this policy, trusting `ca_pem` besides the system roots, with a
    /// deadline of `timeout` per request ([`DEFAULT_TIMEOUT`] when `None`).
    pub fn client(
        &self,
        ca_pem: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Client, ProviderError> {
        self.client_with_identity(ca_pem, timeout, None)
    }

    /// [`Egress::client`] presenting a TLS client certificate (Vault `cert` auth).
    pub fn client_with_identity(
        &self,
        ca_pem: Option<&[u8]>,
        timeout: Option<Duration>,
        identity: Option<reqwest::Identity>,
    ) -> Result<reqwest::Client, ProviderError> {
        let redirects = self.clone();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout.unwrap_or(DEFAULT_TIMEOUT))
            .connect_timeout(CONNECT_TIMEOUT)
            .dns_resolver(Arc::new(self.clone()))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(ProviderError::Config(format!(
                        "stopped after {MAX_REDIRECTS} redirects"
                    )));
                }
                match redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }));
        if let Some(pem_bytes) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem_bytes).map_err(|_| {
                ProviderError::Config("the CA bundle holds no PEM certificate".into())
            })?;
            if certs.is_empty() {
                return Err(ProviderError::Config(
                    "the CA bundle holds no PEM certificate".into(),
                ));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        builder
            .build()
            .map_err(|_| ProviderError::Config("cannot build an http client".into()))
    }
}

impl Resolve for Egress {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = this.resolve_checked(&host).await?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The body of `resp`, at most `limit` bytes: a longer answer is an error, and no more than
/// `limit` bytes are ever held.
pub async fn read_body(
    mut resp: reqwest::Response,
    service: &'static str,
    limit: usize,
) -> Result<Vec<u8>, ProviderError> {
    let too_large = || ProviderError::TooLarge { service, limit };
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let url = resp.url().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ProviderError::unreachable(service, &url, e))?
    {
        if chunk.len() > limit.saturating_sub(body.len()) {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of `resp` as JSON (`null` when it is not JSON), read under [`MAX_RESPONSE_BYTES`].
pub async fn read_json(
    resp: reqwest::Response,
    service: &'static str,
) -> Result<serde_json::Value, ProviderError> {
    let body = read_body(resp, service, MAX_RESPONSE_BYTES).await?;
    Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_lookup(ip: &'static str) -> Lookup {
        Arc::new(move |_host: String| {
            Box::pin(async move {
                let ip: IpAddr = ip.parse().map_err(std::io::Error::other)?;
                Ok(vec![SocketAddr::new(ip, 0)])
            })
        })
    }

    async fn serve(app: axum::Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn chain(e: &dyn std::error::Error) -> String {
        crate::reconciler::chain(e)
    }

    #[test]
    fn metadata_and_link_local_addresses_are_recognised_in_every_spelling() {
        for ip in [
            "169.254.169.254",
            "169.254.170.2",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "fd00:ec2::254",
            "fd00:ec2::23",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_link_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "169.255.0.1",
            "::1",
            "fec0::1",
            "fd00:ec2::1",
            "2001:db8::1",
        ] {
            assert!(!is_link_local(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn link_local_ip_literals_are_refused_unless_allowed() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        let deny = Egress::new(false);
        let err = deny
            .check_url(&url("http://169.254.169.254/latest/meta-data/"))
            .unwrap_err();
        assert!(matches!(err, ProviderError::LinkLocal { .. }));
        assert_eq!(
            err.to_string(),
            "169.254.169.254:80 leads to a link-local address, which provider urls may not reach (see --external-secrets-allow-link-local)"
        );
        assert!(deny.check_url(&url("http://[fd00:ec2::254]/")).is_err());
        assert!(deny.check_url(&url("http://[fe80::1]:8200/")).is_err());
        assert!(deny.check_url(&url("https://vault.example.com/")).is_ok());
        assert!(deny.check_url(&url("http://127.0.0.1:8200/")).is_ok());
        assert!(deny.check_url(&url("file:///etc/passwd")).is_err());
        let allow = Egress::new(true);
        assert!(allow.check_url(&url("http://169.254.169.254/")).is_ok());
    }

    #[tokio::test]
    async fn a_host_name_resolving_to_a_link_local_address_is_refused_before_connecting() {
        let egress = Egress::new(false).with_lookup(fixed_lookup("169.254.169.254"));
        let err = egress
            .resolve_checked("metadata.attacker.test")
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::LinkLocal { ref host } if host == "metadata.attacker.test")
        );
        // Through a real client: the request fails at resolution.
        let client = egress.client(None, None).unwrap();
        let err = client
            .get("http://metadata.attacker.test/latest/meta-data/")
            .send()
            .await
            .unwrap_err();
        assert!(
            chain(&err).contains("leads to a link-local address"),
            "{}",
            chain(&err)
        );
        // Allowed by the flag, resolution passes (the connection itself then fails here).
        let allowed = Egress::new(true).with_lookup(fixed_lookup("169.254.169.254"));
        assert_eq!(
            allowed
                .resolve_checked("metadata.attacker.test")
                .await
                .unwrap(),
            ["169.254.169.254".parse::<IpAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn a_redirect_to_a_link_local_address_is_not_followed() {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [("location", "http://169.254.169.254/latest/meta-data/iam/")],
                )
            }),
        );
        let addr = serve(app).await;
        let client = Egress::new(false).client(None, None).unwrap();
        let err = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_redirect(), "{}", chain(&err));
        assert!(
            chain(&err).contains("leads to a link-local address"),
            "{}",
            chain(&err)
        );
    }

    #[tokio::test]
    async fn redirect_loops_stop_after_ten_hops() {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async { (axum::http::StatusCode::FOUND, [("location", "/")]) }),
        );
        let addr = serve(app).await;
        let client = Egress::new(false).client(None, None).unwrap();
        let err = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(
            chain(&err).contains("stopped after 10 redirects"),
            "{}",
            chain(&err)
        );
    }

    #[tokio::test]
    async fn answers_over_the_limit_are_refused_with_or_without_a_length() {
        let big = vec![b'x'; 64 * 1024];
        let sized = big.clone();
        let app = axum::Router::new()
            .route("/sized", axum::routing::get(move || async move { sized }))
            .route(
                "/streamed",
                axum::routing::get(move || async move {
                    let chunks = (0..16).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 4096]));
                    axum::body::Body::from_stream(futures::stream::iter(chunks))
                }),
            )
            .route("/small", axum::routing::get(|| async { "ok" }));
        let addr = serve(app).await;
        let client = Egress::new(false).client(None, None).unwrap();
        for path in ["sized", "streamed"] {
            let resp = client
                .get(format!("http://{addr}/{path}"))
                .send()
                .await
                .unwrap();
            let err = read_body(resp, "webhook", 10_000).await.unwrap_err();
            assert!(
                matches!(err, ProviderError::TooLarge { limit: 10_000, .. }),
                "{path}"
            );
            assert_eq!(
                err.to_string(),
                "the answer of webhook exceeds the limit of 10000 bytes"
            );
        }
        let resp = client
            .get(format!("http://{addr}/small"))
            .send()
            .await
            .unwrap();
        assert_eq!(read_body(resp, "webhook", 10_000).await.unwrap(), b"ok");
    }

    #[tokio::test]
    async fn a_silent_server_hits_the_deadline() {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(futures::future::pending::<&'static str>),
        );
        let addr = serve(app).await;
        let client = Egress::new(false)
            .client(None, Some(Duration::from_millis(200)))
            .unwrap();
        let err = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{}", chain(&err));
    }
}
