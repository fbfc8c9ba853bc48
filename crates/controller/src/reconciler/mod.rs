//! Plumbing the SealedSecret reconciler and the ExternalSecret bridge share: failed Kubernetes
//! calls and their classification, error chains, status patches and timestamps, Events,
//! retry backoff and failure counts, and the Secret caches (readiness, trimming, scrubbing).
//!
//! Each feature keeps its own rules in its folder ([`crate::sealedsecrets`],
//! [`crate::externalsecrets`]); what both do the same way lives here once.

pub mod cache;
pub mod errors;
pub mod events;
pub mod retry;
pub mod status;

pub use self::errors::{KubeError, chain, is_conflict, is_not_found};
