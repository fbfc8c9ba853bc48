//! Retry timing: capped exponential backoff, and failure counts per object.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

/// `base` doubling per attempt (attempt 1 waits `base`), at most `cap`.
pub fn exponential(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(cap)
}

/// 200 ms doubling per attempt, at most 60 s: SealedSecrets, key loading and key storage.
pub fn backoff(attempt: u32) -> Duration {
    exponential(Duration::from_millis(200), Duration::from_secs(60), attempt)
}

/// Consecutive failures per object, for backoff and for giving up.
#[derive(Debug)]
pub struct Failures<K> {
    counts: Mutex<HashMap<K, u32>>,
}

impl<K> Default for Failures<K> {
    fn default() -> Self {
        Self {
            counts: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq> Failures<K> {
    /// Counts one more failure of `key`; returns the count.
    pub fn record(&self, key: K) -> u32 {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(key).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// Forgets the failures of `key`.
    pub fn clear(&self, key: &K) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(30), Duration::from_secs(60));
        assert_eq!(
            exponential(Duration::from_secs(1), Duration::from_secs(300), 9),
            Duration::from_secs(256)
        );
        assert_eq!(
            exponential(Duration::from_secs(1), Duration::from_secs(300), 10),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn failures_count_per_object_until_cleared() {
        let f = Failures::default();
        assert_eq!(f.record("a"), 1);
        assert_eq!(f.record("a"), 2);
        assert_eq!(f.record("b"), 1);
        f.clear(&"a");
        assert_eq!(f.record("a"), 1);
    }
}
