//! Fault injection: make matching requests fail or slow down.

use std::time::Duration;

/// A kind of request, as the API server's audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH (every patch type, server-side apply included).
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
    /// Any request through a Service's `/proxy/`.
    Proxy,
}

/// One request the harness served, as recorded by [`Harness::requests`](super::Harness::requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// What the request did.
    pub verb: Verb,
    /// API group (`""` for core).
    pub group: String,
    /// Resource (plural).
    pub resource: String,
    /// `status`, `proxy` or `token` when the request addressed a subresource.
    pub subresource: Option<String>,
    /// Namespace in the path.
    pub namespace: Option<String>,
    /// Object name in the path.
    pub name: Option<String>,
    /// `fieldManager` (or the User-Agent-derived manager) of writes.
    pub field_manager: Option<String>,
    /// The authenticated user (`system:serviceaccount:<ns>:<name>`, `harness-admin`); `None` for
    /// a request without a token.
    pub user: Option<String>,
}

/// A failure (or delay) to inject into the requests that match it.
///
/// ```
/// use sealkit_tests::harness::{Fault, Verb};
/// let f = Fault::too_many_requests(1).verb(Verb::Patch).resource("secrets").times(2);
/// # let _ = f;
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    pub(crate) verb: Option<Verb>,
    pub(crate) resource: Option<String>,
    pub(crate) subresource: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) remaining: Option<u32>,
    pub(crate) status: Option<u16>,
    pub(crate) retry_after: Option<u32>,
    pub(crate) latency: Option<Duration>,
}

impl Fault {
    fn base() -> Self {
        Self {
            verb: None,
            resource: None,
            subresource: None,
            namespace: None,
            name: None,
            remaining: Some(1),
            status: None,
            retry_after: None,
            latency: None,
        }
    }

    /// Answer with this HTTP status and its usual `Status` reason (500 `InternalError`,
    /// 503 `ServiceUnavailable`, 409 `Conflict`, 504 `Timeout`, ...). Once, unless [`Fault::times`].
    pub fn status(code: u16) -> Self {
        Self {
            status: Some(code),
            ..Self::base()
        }
    }

    /// 429 `TooManyRequests` with `Retry-After: secs` (and `details.retryAfterSeconds`).
    pub fn too_many_requests(retry_after_secs: u32) -> Self {
        Self {
            status: Some(429),
            retry_after: Some(retry_after_secs),
            ..Self::base()
        }
    }

    /// 409 `Conflict`, as an optimistic-concurrency failure would answer.
    pub fn conflict() -> Self {
        Self::status(409)
    }

    /// Delay matching requests by `d` and then serve them normally (every time, unless [`Fault::times`]).
    pub fn latency(d: Duration) -> Self {
        Self {
            latency: Some(d),
            remaining: None,
            ..Self::base()
        }
    }

    /// Only requests of this verb.
    #[must_use]
    pub fn verb(mut self, v: Verb) -> Self {
        self.verb = Some(v);
        self
    }

    /// Only requests for this resource (plural, e.g. `secrets`, `sealedsecrets`).
    #[must_use]
    pub fn resource(mut self, r: impl Into<String>) -> Self {
        self.resource = Some(r.into());
        self
    }

    /// Only requests for this subresource (`status`, `proxy`).
    #[must_use]
    pub fn subresource(mut self, s: impl Into<String>) -> Self {
        self.subresource = Some(s.into());
        self
    }

    /// Only requests in this namespace.
    #[must_use]
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Only requests for the object of this name.
    #[must_use]
    pub fn name(mut self, n: impl Into<String>) -> Self {
        self.name = Some(n.into());
        self
    }

    /// Apply to the next `n` matching requests.
    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Apply to every matching request until [`Harness::clear_faults`](super::Harness::clear_faults).
    #[must_use]
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    pub(crate) fn matches(&self, r: &RequestRecord) -> bool {
        self.verb.is_none_or(|v| v == r.verb)
            && self.resource.as_ref().is_none_or(|x| x == &r.resource)
            && self
                .subresource
                .as_ref()
                .is_none_or(|x| Some(x) == r.subresource.as_ref())
            && self
                .namespace
                .as_ref()
                .is_none_or(|x| Some(x) == r.namespace.as_ref())
            && self
                .name
                .as_ref()
                .is_none_or(|x| Some(x) == r.name.as_ref())
    }
}

/// What the matching faults decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub delay: Duration,
    pub fail: Option<(u16, Option<u32>)>,
}

/// Active faults.
#[derive(Debug, Default)]
pub(crate) struct Faults(Vec<Fault>);

impl Faults {
    pub fn add(&mut self, f: Fault) {
        self.0.push(f);
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Consumes one use of each matching fault.
    pub fn check(&mut self, r: &RequestRecord) -> Outcome {
        let mut out = Outcome::default();
        for f in self.0.iter_mut().filter(|f| f.matches(r)) {
            if f.remaining == Some(0) {
                continue;
            }
            if let Some(d) = f.latency {
                out.delay += d;
            } else if out.fail.is_some() {
                continue;
            }
            if let Some(code) = f.status {
                out.fail = Some((code, f.retry_after));
            }
            if let Some(n) = &mut f.remaining {
                *n -= 1;
            }
        }
        self.0.retain(|f| f.remaining != Some(0));
        out
    }
}
