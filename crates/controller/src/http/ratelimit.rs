//! The per-client limit of `/v1/verify` and `/v1/rotate` (Bitnami: `--rate-limit` per second,
//! `--rate-limit-burst`).
//!
//! The client is the connection's peer address. `X-Forwarded-For` is read only when the peer is
//! one of `--trusted-proxies` (the API server's service proxy appends the caller's address), and
//! then the client is the rightmost hop that is not itself a trusted proxy: hops further left
//! are whatever the caller chose to send. Bitnami keys the limit on the header whoever sends
//! it, so a client that varies it is never limited.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ipnet::IpNet;

use super::text;

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 10_000;

/// The connection's peer address, when the server was started with connect info.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Missing only when the router is served without connect info (as in unit tests that
        // set none).
        let info = ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await;
        Ok(Self(info.ok().map(|c| c.0.ip())))
    }
}

/// Who a request comes from, for the limit: the peer, or behind a trusted proxy the rightmost
/// untrusted `X-Forwarded-For` hop (the leftmost hop when every one is trusted). A hop that is
/// not an address stands for itself: only a client can have written it.
pub fn client(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> String {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let Some(peer) = peer else {
        return "unknown".to_owned();
    };
    // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut leftmost = None;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => leftmost = Some(ip.to_string()),
            Ok(ip) => return ip.to_string(),
            Err(_) => return (*hop).to_owned(),
        }
    }
    leftmost.unwrap_or_else(|| peer.to_string())
}

/// Token bucket per client and path.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    trusted: Vec<IpNet>,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` requests per second with bursts of `burst` (0 disables limiting), reading
    /// `X-Forwarded-For` only from `trusted` peers.
    pub fn new(per_second: u32, burst: u32, trusted: Vec<IpNet>) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            trusted,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `key`; false when the client must wait.
    pub fn allow(&self, key: &str) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > MAX_BUCKETS {
            let per_second = self.per_second;
            let burst = self.burst;
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() * per_second < burst);
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Checks the client of a request to `path`; a 429 response when over the limit.
    pub fn check(&self, path: &str, peer: Peer, headers: &HeaderMap) -> Result<(), Response> {
        let client = client(peer.0, headers, &self.trusted);
        if self.allow(&format!("{path} {client}")) {
            Ok(())
        } else {
            Err(text(StatusCode::TOO_MANY_REQUESTS, "too many requests"))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_rate_limiter_allows_a_burst_then_refuses() {
        let l = RateLimiter::new(1, 2, vec![]);
        assert!(l.allow("a"));
        assert!(l.allow("a"));
        assert!(!l.allow("a"));
        assert!(l.allow("b"), "clients are limited separately");
        assert!(RateLimiter::new(0, 0, vec![]).allow("x"));
    }

    // issue 13: the limit was keyed on a header any client can set.
    #[test]
    fn an_untrusted_peer_is_the_client_whatever_its_forwarded_header_says() {
        let h = xff(&["203.0.113.7"]);
        assert_eq!(client(ip("198.51.100.1"), &h, &[]), "198.51.100.1");
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client(ip("198.51.100.1"), &h, &trusted), "198.51.100.1");
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), parse_one("192.168.1.1")];
        // The caller forged the first hop; the proxies appended the rest.
        let h = xff(&["1.2.3.4, 5.6.7.8", "192.168.1.1"]);
        assert_eq!(client(ip("10.0.0.5"), &h, &trusted), "5.6.7.8");
        // Only trusted hops: the leftmost is the origin.
        let h = xff(&["10.1.1.1, 10.2.2.2"]);
        assert_eq!(client(ip("10.0.0.5"), &h, &trusted), "10.1.1.1");
        // An IPv4 proxy seen by a dual-stack listener is still trusted.
        let h = xff(&["5.6.7.8"]);
        assert_eq!(client(ip("::ffff:10.0.0.5"), &h, &trusted), "5.6.7.8");
        // No header: the proxy itself.
        assert_eq!(client(ip("10.0.0.5"), &xff(&[]), &trusted), "10.0.0.5");
        // Garbage can only come from the caller, and stops the walk where it stands.
        let h = xff(&["whatever, 10.9.9.9"]);
        assert_eq!(client(ip("10.0.0.5"), &h, &trusted), "whatever");
    }

    fn parse_one(s: &str) -> IpNet {
        crate::args::parse_trusted_proxy(s).unwrap()
    }
}
