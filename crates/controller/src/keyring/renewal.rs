//! When to generate the next key: Bitnami's `ScheduleJobWithTrigger` (`pkg/controller/main.go`):
//! a first key when there is none or the newest predates `--key-cutoff-time`, then every
//! `--key-renew-period` counted from the newest key (0 = never).

use std::time::Duration;

use time::OffsetDateTime;

/// The renewal decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Generate a key now.
    Now,
    /// Generate one after this long.
    After(Duration),
    /// Renewal is off and a key exists.
    Never,
}

/// Decides when the next key is due, given the newest key's ordering time.
pub fn next_renewal(
    newest: Option<OffsetDateTime>,
    period: Duration,
    cutoff: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Renewal {
    let Some(newest) = newest else {
        return Renewal::Now;
    };
    // A cutoff still ahead (and after the newest key) is a due date of its own.
    let cutoff = cutoff.filter(|cutoff| newest < *cutoff);
    if cutoff.is_some_and(|cutoff| cutoff <= now) {
        return Renewal::Now;
    }
    let periodic = time::Duration::try_from(period)
        .ok()
        .filter(|p| !p.is_zero())
        .map(|p| newest.saturating_add(p));
    let due = match (periodic, cutoff) {
        (Some(p), Some(c)) => p.min(c),
        (Some(p), None) => p,
        (None, Some(c)) => c,
        (None, None) => return Renewal::Never,
    };
    if due <= now {
        Renewal::Now
    } else {
        Renewal::After(Duration::try_from(due - now).unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(days: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(days)
    }

    #[test]
    fn no_key_means_a_key_now_even_with_renewal_off() {
        assert_eq!(
            next_renewal(None, Duration::ZERO, None, at(1)),
            Renewal::Now
        );
    }

    #[test]
    fn renewal_counts_from_the_newest_key() {
        assert_eq!(
            next_renewal(Some(at(10)), 30 * DAY, None, at(25)),
            Renewal::After(15 * DAY)
        );
        assert_eq!(
            next_renewal(Some(at(10)), 30 * DAY, None, at(40)),
            Renewal::Now
        );
        assert_eq!(
            next_renewal(Some(at(10)), 30 * DAY, None, at(90)),
            Renewal::Now
        );
    }

    #[test]
    fn a_zero_period_never_renews() {
        assert_eq!(
            next_renewal(Some(at(10)), Duration::ZERO, None, at(9_000)),
            Renewal::Never
        );
    }

    #[test]
    fn a_key_older_than_the_cutoff_is_replaced_at_once() {
        assert_eq!(
            next_renewal(Some(at(10)), Duration::ZERO, Some(at(20)), at(21)),
            Renewal::Now
        );
        // A key made after the cutoff satisfies it.
        assert_eq!(
            next_renewal(Some(at(22)), Duration::ZERO, Some(at(20)), at(23)),
            Renewal::Never
        );
        // A cutoff in the future is not yet in force: it is due when it arrives.
        assert_eq!(
            next_renewal(Some(at(10)), Duration::ZERO, Some(at(30)), at(21)),
            Renewal::After(9 * DAY)
        );
    }

    #[test]
    fn a_cutoff_ahead_is_due_when_it_arrives_even_with_renewal_off() {
        assert_eq!(
            next_renewal(Some(at(1)), Duration::ZERO, Some(at(3)), at(2)),
            Renewal::After(DAY)
        );
        assert_eq!(
            next_renewal(Some(at(1)), 30 * DAY, Some(at(3)), at(2)),
            Renewal::After(DAY)
        );
        // Once a key newer than the cutoff exists, the cutoff no longer matters.
        assert_eq!(
            next_renewal(Some(at(4)), Duration::ZERO, Some(at(3)), at(5)),
            Renewal::Never
        );
    }
}
