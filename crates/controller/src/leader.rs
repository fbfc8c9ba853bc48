//! Leader election over a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection` does
//! it: the holder renews `renewTime` every retry period; others take the Lease over once they
//! have seen it unchanged for a whole `leaseDurationSeconds` (measured on their own clock, so
//! clock skew between nodes does not matter). Writes use the Lease's resourceVersion, so two
//! candidates never both win. A leader that cannot renew within two thirds of the duration
//! steps down before anyone else may take over.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;

use crate::error::Error;
use crate::reconciler::{is_conflict, is_not_found};

/// Lease parameters.
#[derive(Debug, Clone)]
pub struct LeaseParams {
    /// Lease name.
    pub name: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a Lease holds without renewal.
    pub lease_duration: Duration,
    /// How often to renew or retry.
    pub retry_period: Duration,
}

/// What was last seen of someone else's Lease.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    holder: Option<String>,
    renew: Option<Timestamp>,
    resource_version: Option<String>,
}

/// Pure state of one candidate.
#[derive(Debug)]
pub struct Candidate {
    params: LeaseParams,
    observed: Option<(Observed, Instant)>,
    last_renewed: Option<Instant>,
}

/// What to do with the Lease as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Write it with us as holder (create when `None` was read).
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds it and it is fresh.
    Wait,
}

impl Candidate {
    /// A candidate that holds nothing yet.
    pub fn new(params: LeaseParams) -> Self {
        Self {
            params,
            observed: None,
            last_renewed: None,
        }
    }

    /// Decides, from the Lease as just read at `now`.
    pub fn step(&mut self, lease: Option<&Lease>, now: Instant) -> Step {
        let Some(lease) = lease else {
            return Step::Acquire;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() == Some(self.params.identity.as_str()) {
            return Step::Renew;
        }
        if holder.is_none() {
            return Step::Acquire;
        }
        let seen = Observed {
            holder,
            renew: spec.renew_time.map(|t| t.0),
            resource_version: lease.metadata.resource_version.clone(),
        };
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.params.lease_duration, Duration::from_secs);
        match &self.observed {
            Some((old, since)) if *old == seen => {
                if now.duration_since(*since) >= duration {
                    Step::Acquire
                } else {
                    Step::Wait
                }
            }
            _ => {
                self.observed = Some((seen, now));
                Step::Wait
            }
        }
    }

    /// Whether we still count as leader at `now` (renewed recently enough).
    pub fn still_leading(&self, now: Instant) -> bool {
        self.last_renewed
            .is_some_and(|t| now.duration_since(t) < self.params.lease_duration * 2 / 3)
    }

    fn lease(&self, old: Option<&Lease>) -> Lease {
        let now = MicroTime(Timestamp::now());
        let old_spec = old.and_then(|l| l.spec.clone()).unwrap_or_default();
        let ours = old_spec.holder_identity.as_deref() == Some(self.params.identity.as_str());
        let transitions =
            old_spec.lease_transitions.unwrap_or(0) + i32::from(!ours && old.is_some());
        Lease {
            metadata: ObjectMeta {
                name: Some(self.params.name.clone()),
                resource_version: old.and_then(|l| l.metadata.resource_version.clone()),
                ..old.map(|l| l.metadata.clone()).unwrap_or_default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.params.identity.clone()),
                lease_duration_seconds: Some(
                    i32::try_from(self.params.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX),
                ),
                acquire_time: if ours {
                    old_spec.acquire_time
                } else {
                    Some(now.clone())
                },
                renew_time: Some(now),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }
}

/// Runs the election until `shutdown` is true, publishing leadership on `leader`. On shutdown
/// a leader releases the Lease so a standby takes over at once.
pub async fn run(
    api: Api<Lease>,
    params: LeaseParams,
    leader: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let retry = params.retry_period;
    let mut c = Candidate::new(params);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let result = try_once(&api, &mut c).await;
        if let Err(error) = &result {
            tracing::debug!(error = %error.chain(), "lease update failed");
        }
        let leading = c.still_leading(Instant::now());
        leader.send_if_modified(|v| {
            let changed = *v != leading;
            if changed {
                if leading {
                    tracing::info!(identity = %c.params.identity, "became leader");
                } else {
                    tracing::info!(identity = %c.params.identity, "not leading");
                }
            }
            *v = leading;
            changed
        });
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            _ = shutdown.wait_for(|v| *v) => break,
        }
    }
    if c.last_renewed.is_some() {
        release(&api, &c).await;
    }
    leader.send_replace(false);
}

async fn try_once(api: &Api<Lease>, c: &mut Candidate) -> Result<(), Error> {
    let name = c.params.name.clone();
    let lease = match api.get(&name).await {
        Ok(l) => Some(l),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(Error::kube(format!("get lease {name}"))(e)),
    };
    let now = Instant::now();
    match c.step(lease.as_ref(), now) {
        Step::Wait => {
            c.last_renewed = None;
            Ok(())
        }
        Step::Acquire | Step::Renew => {
            let next = c.lease(lease.as_ref());
            let written = match &lease {
                None => api.create(&PostParams::default(), &next).await,
                Some(_) => api.replace(&name, &PostParams::default(), &next).await,
            };
            match written {
                Ok(_) => {
                    c.last_renewed = Some(now);
                    c.observed = None;
                    Ok(())
                }
                Err(e) if is_conflict(&e) => {
                    // Someone else wrote first; read again next round.
                    Ok(())
                }
                Err(e) => Err(Error::kube(format!("write lease {name}"))(e)),
            }
        }
    }
}

async fn release(api: &Api<Lease>, c: &Candidate) {
    let Ok(lease) = api.get(&c.params.name).await else {
        return;
    };
    if lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        != Some(c.params.identity.as_str())
    {
        return;
    }
    let mut released = lease;
    if let Some(spec) = released.spec.as_mut() {
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
    }
    if let Err(error) = api
        .replace(&c.params.name, &PostParams::default(), &released)
        .await
    {
        tracing::warn!(error = %error, "could not release the lease");
    } else {
        tracing::info!("lease released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(id: &str) -> LeaseParams {
        LeaseParams {
            name: "sealed-secrets-controller".into(),
            identity: id.into(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }

    fn held_by(id: &str, rv: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("sealed-secrets-controller".into()),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(id.into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(Timestamp::now())),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn a_missing_or_released_lease_is_acquired() {
        let mut c = Candidate::new(params("a"));
        assert_eq!(c.step(None, Instant::now()), Step::Acquire);
        let mut released = held_by("b", "1");
        released.spec.as_mut().unwrap().holder_identity = None;
        assert_eq!(c.step(Some(&released), Instant::now()), Step::Acquire);
    }

    #[test]
    fn a_fresh_lease_of_another_is_respected_until_it_goes_stale() {
        let mut c = Candidate::new(params("a"));
        let t0 = Instant::now();
        let lease = held_by("b", "1");
        assert_eq!(c.step(Some(&lease), t0), Step::Wait);
        assert_eq!(
            c.step(Some(&lease), t0 + Duration::from_secs(10)),
            Step::Wait
        );
        assert_eq!(
            c.step(Some(&lease), t0 + Duration::from_secs(16)),
            Step::Acquire
        );
    }

    #[test]
    fn a_renewed_lease_restarts_the_clock() {
        let mut c = Candidate::new(params("a"));
        let t0 = Instant::now();
        let (first, renewed) = (held_by("b", "1"), held_by("b", "2"));
        assert_eq!(c.step(Some(&first), t0), Step::Wait);
        assert_eq!(
            c.step(Some(&renewed), t0 + Duration::from_secs(14)),
            Step::Wait
        );
        assert_eq!(
            c.step(Some(&renewed), t0 + Duration::from_secs(20)),
            Step::Wait
        );
        assert_eq!(
            c.step(Some(&renewed), t0 + Duration::from_secs(30)),
            Step::Acquire
        );
    }

    #[test]
    fn our_own_lease_is_renewed_and_leadership_lapses_without_renewal() {
        let mut c = Candidate::new(params("a"));
        let t0 = Instant::now();
        assert_eq!(c.step(Some(&held_by("a", "1")), t0), Step::Renew);
        c.last_renewed = Some(t0);
        assert!(c.still_leading(t0 + Duration::from_secs(9)));
        assert!(!c.still_leading(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn taking_over_counts_a_transition() {
        let c = Candidate::new(params("a"));
        let l = c.lease(Some(&held_by("b", "5")));
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(l.metadata.resource_version.as_deref(), Some("5"));
    }
}
