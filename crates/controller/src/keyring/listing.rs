//! The key list `GET /v1/keys` serves and `seal keys list` prints: every key Secret the
//! controller reads, its state, its validity and how many SealedSecrets need it.
//!
//! No private key, no SealedSecret name: fingerprints, dates and counts only.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::usage::UsageCounts;
use super::{HeldBackReason, Keyring};

/// The answer of `GET /v1/keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    /// Every key, newest first.
    pub keys: Vec<KeyInfo>,
    /// What the counts are based on.
    pub usage: UsageSummary,
}

/// One key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// `SHA256:…` of the public key (absent when the certificate does not read).
    pub fingerprint: Option<String>,
    /// The key Secret's name (in the controller's key namespace).
    pub secret: String,
    /// `active`, `compromised`, `retired` or `locked`.
    pub state: String,
    /// Whether this key seals now (its certificate is `/v1/cert.pem`).
    pub sealing: bool,
    /// When the key was made: the Secret's creation time, else the certificate's NotBefore
    /// (RFC 3339).
    pub created: Option<String>,
    /// The certificate's NotAfter (RFC 3339).
    pub expires: Option<String>,
    /// Whether the private key is wrapped by a KMS master key.
    pub wrapped: bool,
    /// SealedSecrets that need it; absent until known.
    pub sealed_secrets: Option<u64>,
    /// Why a locked key is locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the counts cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSummary {
    /// Whether the counts are known (the controller has listed every SealedSecret it
    /// watches).
    pub complete: bool,
    /// SealedSecrets watched.
    pub sealed_secrets: u64,
    /// SealedSecrets with no key recorded yet: any key may be needed by them.
    pub unrecorded: u64,
    /// SealedSecrets that none of the keys opens.
    pub opened_by_none: u64,
}

/// RFC 3339, or nothing if the date cannot be written.
fn rfc3339(t: OffsetDateTime) -> Option<String> {
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The list for `keyring` with `counts` (when known).
pub fn list(keyring: &Keyring, counts: Option<&UsageCounts>) -> KeyList {
    let sealing = keyring.newest_active().map(|k| k.fingerprint.clone());
    let count = |fingerprint: Option<&str>| {
        counts.map(|c| {
            fingerprint
                .and_then(|f| c.per_key.get(f))
                .copied()
                .unwrap_or(0)
        })
    };
    let mut rows: Vec<(OffsetDateTime, KeyInfo)> = Vec::new();
    for key in keyring.snapshot().iter() {
        let order = key.order_time(keyring.priority());
        rows.push((
            order,
            KeyInfo {
                fingerprint: Some(key.fingerprint.clone()),
                secret: key.secret_name.clone(),
                state: if key.compromised {
                    "compromised"
                } else {
                    "active"
                }
                .into(),
                sealing: sealing.as_deref() == Some(key.fingerprint.as_str()),
                created: rfc3339(key.created.unwrap_or_else(|| key.certificate.not_before())),
                expires: rfc3339(key.certificate.not_after()),
                wrapped: key.wrapped,
                sealed_secrets: count(Some(&key.fingerprint)),
                reason: None,
            },
        ));
    }
    for held in keyring.held_back().iter() {
        let not_before = held.validity.map(|(b, _)| b);
        let (state, reason) = match &held.reason {
            HeldBackReason::Retired => ("retired", None),
            HeldBackReason::Locked(why) => ("locked", Some(why.clone())),
        };
        rows.push((
            held.created
                .or(not_before)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            KeyInfo {
                fingerprint: held.fingerprint.clone(),
                secret: held.secret_name.clone(),
                state: state.into(),
                sealing: false,
                created: held.created.or(not_before).and_then(rfc3339),
                expires: held.validity.and_then(|(_, a)| rfc3339(a)),
                wrapped: held.wrapped,
                sealed_secrets: count(held.fingerprint.as_deref()),
                reason,
            },
        ));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.secret.cmp(&a.1.secret)));
    KeyList {
        keys: rows.into_iter().map(|(_, k)| k).collect(),
        usage: UsageSummary {
            complete: counts.is_some(),
            sealed_secrets: counts.map_or(0, |c| c.total),
            unrecorded: counts.map_or(0, |c| c.unrecorded),
            opened_by_none: counts.map_or(0, |c| c.opened_by_none),
        },
    }
}
