//! Which sealing keys the cluster's SealedSecrets need, from what the reconciler records in
//! `status.sealingKeys` (the keys that opened each one, also kept when a restart finds the
//! Secret in sync without decrypting anything).
//!
//! Every replica keeps this index with a watch of its own (only the leader reconciles, but
//! any replica answers `GET /v1/keys` and `/metrics`). Only the name and the recorded
//! fingerprints of each object are kept. Counts are `None` until every watch has listed once:
//! "no SealedSecret needs this key" is only said when it is known.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use futures::StreamExt as _;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client};
use sealer::sealed::SealedSecret;

/// What one SealedSecret needs: `None` when nothing is recorded yet.
type Recorded = Option<Vec<String>>;

/// The index.
#[derive(Clone, Debug, Default)]
pub struct KeyUsage {
    state: Arc<RwLock<State>>,
}

#[derive(Debug, Default)]
struct State {
    runs: Vec<Run>,
}

/// One watch (all namespaces, or one namespace).
#[derive(Debug, Default)]
struct Run {
    objects: HashMap<(String, String), Recorded>,
    /// Objects of a relist in progress.
    relisting: Option<HashMap<(String, String), Recorded>>,
    listed: bool,
}

/// Counts over every SealedSecret watched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// SealedSecrets seen.
    pub total: u64,
    /// Per key fingerprint: SealedSecrets that need it.
    pub per_key: BTreeMap<String, u64>,
    /// SealedSecrets with nothing recorded yet (not reconciled yet, status updates off, or
    /// Bitnami's CRD without the field): they may need any key.
    pub unrecorded: u64,
    /// SealedSecrets none of the keys opened.
    pub opened_by_none: u64,
}

impl KeyUsage {
    /// An index with `runs` watches to fill (one per watched namespace, or one for all).
    pub fn new(runs: usize) -> Self {
        let state = State {
            runs: (0..runs.max(1)).map(|_| Run::default()).collect(),
        };
        Self {
            state: Arc::new(RwLock::new(state)),
        }
    }

    /// The counts, once every watch has listed; `None` before.
    pub fn counts(&self) -> Option<UsageCounts> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        if !state.runs.iter().all(|r| r.listed) {
            return None;
        }
        let mut counts = UsageCounts::default();
        for recorded in state.runs.iter().flat_map(|r| r.objects.values()) {
            counts.total += 1;
            match recorded {
                None => counts.unrecorded += 1,
                Some(keys) if keys.is_empty() => counts.opened_by_none += 1,
                Some(keys) => {
                    for key in keys {
                        *counts.per_key.entry(key.clone()).or_default() += 1;
                    }
                }
            }
        }
        Some(counts)
    }

    /// Applies one watch event of run `run`.
    pub fn apply(&self, run: usize, event: Event<SealedSecret>) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let Some(run) = state.runs.get_mut(run) else {
            return;
        };
        match event {
            Event::Init => run.relisting = Some(HashMap::new()),
            Event::InitApply(ss) => {
                if let (Some(key), Some(list)) = (object_key(&ss), run.relisting.as_mut()) {
                    list.insert(key, recorded(&ss));
                }
            }
            Event::InitDone => {
                if let Some(list) = run.relisting.take() {
                    run.objects = list;
                }
                run.listed = true;
            }
            Event::Apply(ss) => {
                if let Some(key) = object_key(&ss) {
                    run.objects.insert(key, recorded(&ss));
                }
            }
            Event::Delete(ss) => {
                if let Some(key) = object_key(&ss) {
                    run.objects.remove(&key);
                }
            }
        }
    }

    /// Watches SealedSecrets (in `namespaces`, all when `None`; matching `label_selector`)
    /// and keeps the index current until the streams end.
    pub async fn watch(
        self,
        client: Client,
        namespaces: Option<Vec<String>>,
        label_selector: String,
    ) {
        let apis: Vec<Api<SealedSecret>> = match namespaces {
            None => vec![Api::all(client)],
            Some(list) => list
                .iter()
                .map(|ns| Api::namespaced(client.clone(), ns))
                .collect(),
        };
        let mut config = watcher::Config::default().any_semantic();
        if !label_selector.is_empty() {
            config = config.labels(&label_selector);
        }
        let streams = apis.into_iter().enumerate().map(|(run, api)| {
            watcher(api, config.clone())
                .default_backoff()
                .map(move |event| (run, event))
                .boxed()
        });
        let mut all = futures::stream::select_all(streams);
        while let Some((run, event)) = all.next().await {
            match event {
                Ok(event) => self.apply(run, event),
                Err(error) => {
                    tracing::debug!(error = %error, "key usage watch interrupted; retrying")
                }
            }
        }
    }
}

fn object_key(ss: &SealedSecret) -> Option<(String, String)> {
    Some((ss.metadata.namespace.clone()?, ss.metadata.name.clone()?))
}

fn recorded(ss: &SealedSecret) -> Recorded {
    ss.status.as_ref()?.sealing_keys.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealedsecrets::fixtures::sealed_secret;

    fn with_keys(name: &str, keys: Option<&[&str]>) -> SealedSecret {
        let mut ss = sealed_secret().build();
        ss.metadata.name = Some(name.into());
        if let Some(keys) = keys {
            ss.status = Some(sealer::sealed::SealedSecretStatus {
                sealing_keys: Some(keys.iter().map(|k| (*k).to_owned()).collect()),
                ..Default::default()
            });
        }
        ss
    }

    // issue 17: how many SealedSecrets need each key, through relists and deletions.
    #[test]
    fn counts_follow_lists_updates_and_deletions_and_are_unknown_before_the_first_list() {
        let usage = KeyUsage::new(1);
        assert_eq!(usage.counts(), None);
        usage.apply(0, Event::Init);
        usage.apply(0, Event::InitApply(with_keys("a", Some(&["k1"]))));
        usage.apply(0, Event::InitApply(with_keys("b", Some(&["k1", "k2"]))));
        usage.apply(0, Event::InitApply(with_keys("c", None)));
        assert_eq!(usage.counts(), None);
        usage.apply(0, Event::InitDone);
        let counts = usage.counts().unwrap();
        assert_eq!((counts.total, counts.unrecorded), (3, 1));
        assert_eq!(counts.per_key["k1"], 2);
        assert_eq!(counts.per_key["k2"], 1);

        usage.apply(0, Event::Apply(with_keys("b", Some(&["k2"]))));
        usage.apply(0, Event::Apply(with_keys("c", Some(&[]))));
        usage.apply(0, Event::Delete(with_keys("a", Some(&["k1"]))));
        let counts = usage.counts().unwrap();
        assert_eq!(counts.per_key.get("k1"), None);
        assert_eq!(counts.per_key["k2"], 1);
        assert_eq!(
            (counts.total, counts.unrecorded, counts.opened_by_none),
            (2, 0, 1)
        );

        // A relist replaces everything (objects deleted while the watch was down go).
        usage.apply(0, Event::Init);
        usage.apply(0, Event::InitApply(with_keys("d", Some(&["k3"]))));
        usage.apply(0, Event::InitDone);
        let counts = usage.counts().unwrap();
        assert_eq!(counts.total, 1);
        assert_eq!(counts.per_key.keys().collect::<Vec<_>>(), ["k3"]);
    }

    #[test]
    fn with_several_namespaces_counts_wait_for_every_list() {
        let usage = KeyUsage::new(2);
        usage.apply(0, Event::Init);
        usage.apply(0, Event::InitDone);
        assert_eq!(usage.counts(), None);
        usage.apply(1, Event::Init);
        usage.apply(1, Event::InitDone);
        assert_eq!(usage.counts().unwrap().total, 0);
    }
}
