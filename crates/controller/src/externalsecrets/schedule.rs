//! When an ExternalSecret is fetched again (external-secrets
//! `pkg/controllers/externalsecret/externalsecret_controller.go` `shouldRefresh`): never synced,
//! spec/labels/annotations changed, or `refreshInterval` elapsed, per `refreshPolicy`; and when
//! the next reconcile is queued, with jitter so objects created together spread out.

use std::time::Duration;

use kube::runtime::controller::Action;
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::crd::{ExternalSecret, RefreshPolicy};
use super::error::Error;
use crate::duration::parse_go_duration;

/// ESO's refresh interval when `refreshInterval` is unset.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);

/// The last successful sync of an ExternalSecret, remembered in memory so a reconcile that runs
/// before the status write is seen does not fetch again.
#[derive(Clone, Debug)]
pub struct LastSync {
    /// When.
    pub at: OffsetDateTime,
    /// The `syncedResourceVersion` it was made for.
    pub synced_resource_version: String,
    /// The delay to the next refresh chosen then; `None` when only the status says when the last
    /// sync was (after a restart): the refresh is then due at the interval, minus the jitter.
    pub due_after: Option<Duration>,
}

/// Why a fetch is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Due {
    /// Never synced, or the spec/labels/annotations changed.
    Changed,
    /// The refresh interval elapsed this long ago.
    Periodic(Duration),
}

pub(super) fn refresh_due(
    es: &ExternalSecret,
    interval: Duration,
    last: Option<&LastSync>,
    synced_rv: &str,
    now: OffsetDateTime,
) -> Option<Due> {
    let Some(last) = last else {
        return Some(Due::Changed);
    };
    let changed = last.synced_resource_version != synced_rv;
    match es.spec.refresh_policy {
        Some(RefreshPolicy::CreatedOnce) => None,
        Some(RefreshPolicy::OnChange) => changed.then_some(Due::Changed),
        Some(RefreshPolicy::Periodic) | None => {
            if changed {
                return Some(Due::Changed);
            }
            if interval.is_zero() {
                return None;
            }
            if last.at > now {
                return Some(Due::Changed);
            }
            let elapsed: Duration = (now - last.at).try_into().unwrap_or_default();
            // Reconciles are scheduled with jitter below the interval: fetch when the planned
            // delay is over, or up to 10% early when the plan is not known.
            let due_after = last.due_after.unwrap_or(interval - interval / 10);
            (elapsed >= due_after.min(interval))
                .then(|| Due::Periodic(elapsed.saturating_sub(interval)))
        }
    }
}

/// Requeue for the next refresh, `interval` minus up to 10% jitter so ExternalSecrets created
/// together spread out; staleness then stays within `refreshInterval`. After a first sync (or a
/// spec change) the next refresh comes anywhere in the second half of the interval: objects
/// created together (a `kubectl apply` of many, a controller start) would otherwise refresh
/// in bursts that queue behind each other for many cycles. `None`: no periodic refresh.
pub(super) fn next_refresh_after(
    es: &ExternalSecret,
    interval: Duration,
    first: bool,
) -> Option<Duration> {
    match es.spec.refresh_policy {
        Some(RefreshPolicy::CreatedOnce | RefreshPolicy::OnChange) => None,
        _ if interval.is_zero() => None,
        _ if first => Some(interval.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))),
        _ => Some(jittered(interval)),
    }
}

pub(super) fn next_refresh(
    es: &ExternalSecret,
    interval: Duration,
    last: Option<&LastSync>,
    now: OffsetDateTime,
) -> Action {
    match (es.spec.refresh_policy, last) {
        (Some(RefreshPolicy::CreatedOnce | RefreshPolicy::OnChange), _) => Action::await_change(),
        _ if interval.is_zero() => Action::await_change(),
        (_, Some(last)) => {
            let elapsed: Duration = (now - last.at).try_into().unwrap_or_default();
            let remaining = match last.due_after {
                Some(planned) => planned.min(interval).saturating_sub(elapsed),
                None => jittered(interval.saturating_sub(elapsed)),
            };
            Action::requeue(remaining.max(Duration::from_millis(50)))
        }
        (_, None) => Action::requeue(jittered(interval)),
    }
}

fn jittered(d: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.9..=1.0);
    d.mul_f64(factor)
}

/// `spec.refreshInterval` (1h when unset).
pub fn refresh_interval(es: &ExternalSecret) -> Result<Duration, Error> {
    match es.spec.refresh_interval.as_deref() {
        None | Some("") => Ok(DEFAULT_REFRESH_INTERVAL),
        Some(s) => {
            parse_go_duration(s).map_err(|e| Error::Spec(format!("refreshInterval {s:?}: {e}")))
        }
    }
}

/// `"<generation>-<sha256 of labels and annotations>"`: a change of either forces a refresh,
/// as in ESO (this is how `kubectl annotate es x force-sync=$(date +%s)` works).
pub fn synced_resource_version(es: &ExternalSecret) -> String {
    let mut h = Sha256::new();
    for (k, v) in es.metadata.labels.iter().flatten() {
        h.update(format!("l:{}:{k}={}:{v}\n", k.len(), v.len()));
    }
    for (k, v) in es.metadata.annotations.iter().flatten() {
        h.update(format!("a:{}:{k}={}:{v}\n", k.len(), v.len()));
    }
    format!(
        "{}-{}",
        es.metadata.generation.unwrap_or_default(),
        &hex::encode(h.finalize())[..56]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(policy: Option<RefreshPolicy>) -> ExternalSecret {
        let mut es = ExternalSecret::new("db", Default::default());
        es.spec.refresh_policy = policy;
        es.metadata.generation = Some(1);
        es
    }

    #[test]
    fn refreshes_are_due_per_policy_interval_and_spec_changes() {
        let now = OffsetDateTime::now_utc();
        let e = es(None);
        let rv = synced_resource_version(&e);
        let last = |ago: u64, rv: &str| LastSync {
            at: now - Duration::from_secs(ago),
            synced_resource_version: rv.to_owned(),
            due_after: None,
        };
        let hour = Duration::from_secs(3600);
        assert_eq!(refresh_due(&e, hour, None, &rv, now), Some(Due::Changed));
        assert_eq!(refresh_due(&e, hour, Some(&last(10, &rv)), &rv, now), None);
        assert!(matches!(
            refresh_due(&e, hour, Some(&last(3700, &rv)), &rv, now),
            Some(Due::Periodic(_))
        ));
        assert_eq!(
            refresh_due(&e, hour, Some(&last(10, "0-x")), &rv, now),
            Some(Due::Changed)
        );
        assert_eq!(
            refresh_due(&e, Duration::ZERO, Some(&last(99999, &rv)), &rv, now),
            None
        );
        let once = es(Some(RefreshPolicy::CreatedOnce));
        assert_eq!(
            refresh_due(&once, hour, Some(&last(99999, "0-x")), &rv, now),
            None
        );
        let on_change = es(Some(RefreshPolicy::OnChange));
        assert_eq!(
            refresh_due(&on_change, hour, Some(&last(99999, &rv)), &rv, now),
            None
        );
        assert_eq!(
            refresh_due(&on_change, hour, Some(&last(1, "0-x")), &rv, now),
            Some(Due::Changed)
        );
    }

    #[test]
    fn a_planned_early_refresh_is_due_when_its_delay_is_over() {
        let now = OffsetDateTime::now_utc();
        let e = es(None);
        let rv = synced_resource_version(&e);
        let hour = Duration::from_secs(3600);
        let planned = |ago: u64| LastSync {
            at: now - Duration::from_secs(ago),
            synced_resource_version: rv.clone(),
            due_after: Some(hour / 2),
        };
        assert_eq!(refresh_due(&e, hour, Some(&planned(1000)), &rv, now), None);
        assert!(matches!(
            refresh_due(&e, hour, Some(&planned(1800)), &rv, now),
            Some(Due::Periodic(_))
        ));
        // A trigger in between waits for the planned time, not the whole interval.
        assert_eq!(
            next_refresh(&e, hour, Some(&planned(1000)), now),
            Action::requeue(Duration::from_secs(800))
        );
        // After a first sync the next refresh falls in the second half of the interval.
        for _ in 0..100 {
            let next = next_refresh_after(&e, hour, true).expect("periodic");
            assert!(next >= hour / 2 && next <= hour);
            let next = next_refresh_after(&e, hour, false).expect("periodic");
            assert!(next >= hour - hour / 10 && next <= hour);
        }
    }

    #[test]
    fn labels_and_annotations_change_the_synced_resource_version() {
        let a = es(None);
        let mut b = a.clone();
        b.metadata.annotations = Some([("force-sync".to_owned(), "1".to_owned())].into());
        assert_ne!(synced_resource_version(&a), synced_resource_version(&b));
        assert!(synced_resource_version(&a).starts_with("1-"));
    }
}
