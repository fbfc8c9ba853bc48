//! The `Synced` condition and the Events of a SealedSecret (Bitnami: `updateSealedSecretStatus`,
//! events `Unsealed`, `ErrUnsealFailed`, `ErrUpdateFailed`). Messages name items and objects,
//! never values.

use sealer::sealed::{Condition, SealedSecretStatus};

/// The only condition type.
pub const SYNCED: &str = "Synced";

/// Outcome of one reconcile, as status and events see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the Secret matches the SealedSecret.
    pub synced: bool,
    /// CamelCase reason (`Unsealed`, `ErrUnsealFailed`, `ErrUpdateFailed`).
    pub reason: &'static str,
    /// Human-readable message; empty on success, as Bitnami writes it.
    pub message: String,
}

impl Outcome {
    /// Success.
    pub fn synced() -> Self {
        Self {
            synced: true,
            reason: "Unsealed",
            message: String::new(),
        }
    }

    /// Failure.
    pub fn failed(reason: &'static str, message: String) -> Self {
        Self {
            synced: false,
            reason,
            message,
        }
    }
}

/// The status to write, or `None` when the current one already says the same (timestamps
/// aside): no write, no watch event, no loop. `sealing_keys` is what to record in
/// `status.sealingKeys` (`None`: keep what is there).
pub fn next_status(
    current: Option<&SealedSecretStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    sealing_keys: Option<Vec<String>>,
    now: &str,
) -> Option<SealedSecretStatus> {
    let status = if outcome.synced { "True" } else { "False" };
    let old = current.and_then(|s| s.conditions.iter().find(|c| c.type_ == SYNCED));
    let message = (!outcome.message.is_empty()).then(|| outcome.message.clone());
    let sealing_keys = sealing_keys.or_else(|| current.and_then(|s| s.sealing_keys.clone()));
    let same = old.is_some_and(|c| {
        c.status == status && c.reason.as_deref() == Some(outcome.reason) && c.message == message
    }) && current.and_then(|s| s.observed_generation) == generation
        && current.and_then(|s| s.sealing_keys.as_ref()) == sealing_keys.as_ref();
    if same {
        return None;
    }
    let transition = match old {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Some(now.to_owned()),
    };
    let synced = Condition {
        type_: SYNCED.into(),
        status: status.into(),
        last_update_time: Some(now.to_owned()),
        last_transition_time: transition,
        reason: Some(outcome.reason.into()),
        message,
    };
    // Synced first: the CRD's printer columns read `.status.conditions[0]`.
    let mut conditions = vec![synced];
    conditions.extend(
        current
            .iter()
            .flat_map(|s| s.conditions.iter())
            .filter(|c| c.type_ != SYNCED)
            .cloned(),
    );
    Some(SealedSecretStatus {
        observed_generation: generation,
        conditions,
        sealing_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_status_is_written_with_a_transition() {
        let s = next_status(None, Some(3), &Outcome::synced(), None, "t1").unwrap();
        assert_eq!(s.observed_generation, Some(3));
        let c = &s.conditions[0];
        assert_eq!((c.type_.as_str(), c.status.as_str()), ("Synced", "True"));
        assert_eq!(c.last_transition_time.as_deref(), Some("t1"));
        assert_eq!(c.message, None);
    }

    #[test]
    fn an_unchanged_outcome_writes_nothing() {
        let s = next_status(None, Some(3), &Outcome::synced(), None, "t1").unwrap();
        assert_eq!(
            next_status(Some(&s), Some(3), &Outcome::synced(), None, "t2"),
            None
        );
    }

    #[test]
    fn a_new_generation_or_message_is_written_keeping_the_transition_time() {
        let fail = Outcome::failed("ErrUnsealFailed", "item \"a\": no key".into());
        let s = next_status(None, Some(1), &fail, None, "t1").unwrap();
        let s2 = next_status(Some(&s), Some(2), &fail, None, "t2").unwrap();
        assert_eq!(s2.conditions[0].last_transition_time.as_deref(), Some("t1"));
        assert_eq!(s2.conditions[0].last_update_time.as_deref(), Some("t2"));
        let s3 = next_status(Some(&s2), Some(2), &Outcome::synced(), None, "t3").unwrap();
        assert_eq!(s3.conditions[0].status, "True");
        assert_eq!(s3.conditions[0].last_transition_time.as_deref(), Some("t3"));
    }

    // issue 17: which keys opened a SealedSecret is recorded, written when it changes, and
    // kept when a reconcile has nothing new to say about it.
    #[test]
    fn sealing_keys_are_recorded_kept_and_rewritten_only_when_they_change() {
        let keys = || Some(vec!["SHA256:a".to_owned()]);
        let s = next_status(None, Some(1), &Outcome::synced(), keys(), "t1").unwrap();
        assert_eq!(s.sealing_keys, keys());
        assert_eq!(
            next_status(Some(&s), Some(1), &Outcome::synced(), keys(), "t2"),
            None
        );
        assert_eq!(
            next_status(Some(&s), Some(1), &Outcome::synced(), None, "t2"),
            None
        );
        let fail = Outcome::failed("ErrUpdateFailed", "x".into());
        let s2 = next_status(Some(&s), Some(1), &fail, None, "t3").unwrap();
        assert_eq!(s2.sealing_keys, keys());
        let s3 = next_status(Some(&s2), Some(1), &fail, Some(vec![]), "t4").unwrap();
        assert_eq!(s3.sealing_keys, Some(vec![]));
    }

    #[test]
    fn other_conditions_are_kept_after_synced() {
        let mut s = next_status(None, Some(1), &Outcome::synced(), None, "t1").unwrap();
        s.conditions.insert(
            0,
            Condition {
                type_: "Other".into(),
                status: "True".into(),
                ..Condition::default()
            },
        );
        let fail = Outcome::failed("ErrUpdateFailed", "x".into());
        let s2 = next_status(Some(&s), Some(1), &fail, None, "t2").unwrap();
        assert_eq!(s2.conditions[0].type_, "Synced");
        assert_eq!(s2.conditions[1].type_, "Other");
    }
}
