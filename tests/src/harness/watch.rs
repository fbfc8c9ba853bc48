//! WATCH: newline-delimited JSON `WatchEvent`s over a chunked response, as the API server's watch
//! cache serves them (apiserver `pkg/storage/cacher`).
//!
//! - `resourceVersion` unset or `"0"`: synthetic ADDED events for the current objects, then changes.
//! - `resourceVersion=N`: every change after N from the history; if N is older than the history (see
//!   [`State::compact`](super::store::State::compact)) the stream carries one ERROR event with a 410
//!   `Expired` Status (HTTP 200, as the real server does once the watch is established).
//! - `sendInitialEvents=true` (streaming lists): synthetic ADDED events, then a BOOKMARK annotated
//!   `k8s.io/initial-events-end: "true"`.
//! - Selectors: an object that starts matching arrives as ADDED, one that stops matching as DELETED
//!   (its previous state with the event's resourceVersion).
//! - `allowWatchBookmarks=true`: a BOOKMARK every `bookmark_interval` and on demand; its
//!   resourceVersion is never behind an event already sent.
//! - `timeoutSeconds` closes the stream; so does [`Harness::cut_watches`](super::Harness::cut_watches).

use super::selectors::{FieldSelector, LabelSelector};
use super::server::Shared;
use super::status::{ApiError, ApiResult};
use super::store::{EventKind, LogEvent, State, meta};
use super::types::ResourceType;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// A parsed watch request.
pub(crate) struct WatchRequest {
    pub rt: ResourceType,
    pub version: String,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub resource_version: Option<String>,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
}

impl WatchRequest {
    fn matches(&self, obj: &Value) -> bool {
        (!self.rt.namespaced
            || self
                .namespace
                .as_deref()
                .is_none_or(|ns| meta(obj)["namespace"].as_str() == Some(ns)))
            && self.labels.matches(meta(obj)["labels"].as_object())
            && self.fields.matches(obj)
    }

    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        let mut s = json!({"type": kind, "object": State::render(&self.rt, &self.version, obj)})
            .to_string();
        s.push('\n');
        Bytes::from(s)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut m = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            m["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(&self.version), "metadata": m});
        let mut s = json!({"type": "BOOKMARK", "object": obj}).to_string();
        s.push('\n');
        Bytes::from(s)
    }

    /// The line for a change, after selector filtering.
    fn event_line(&self, ev: &LogEvent) -> Option<Bytes> {
        if ev.gr != self.rt.gr() {
            return None;
        }
        let now = self.matches(&ev.obj);
        let before = ev.prev.as_ref().is_some_and(|p| self.matches(p));
        match ev.kind {
            EventKind::Added if now => Some(self.line("ADDED", &ev.obj)),
            EventKind::Deleted if now => Some(self.line("DELETED", &ev.obj)),
            EventKind::Modified => match (before, now) {
                (true, true) => Some(self.line("MODIFIED", &ev.obj)),
                (false, true) => Some(self.line("ADDED", &ev.obj)),
                (true, false) => {
                    let mut old = ev.prev.clone().expect("before implies prev");
                    old["metadata"]["resourceVersion"] = json!(ev.rv.to_string());
                    Some(self.line("DELETED", &old))
                }
                (false, false) => None,
            },
            _ => None,
        }
    }
}

/// Starts a watch; the response streams until timeout, a cut, or the client goes.
pub(crate) fn serve(shared: Arc<Shared>, req: WatchRequest) -> ApiResult<Response> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut first: Vec<Bytes> = vec![];
    let (events, start_rv, ok) = {
        let state = shared.state.lock().expect("state lock");
        let events = state.tx.subscribe();
        let rv_param = req.resource_version.as_deref().filter(|s| !s.is_empty());
        let mut ok = true;
        if req.send_initial_events || rv_param.is_none_or(|r| r == "0") {
            let mut objs: Vec<&Value> = state
                .store(&req.rt.gr())
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|o| req.matches(o))
                .collect();
            objs.sort_by_key(|o| {
                (
                    meta(o)["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    meta(o)["name"].as_str().unwrap_or_default().to_string(),
                )
            });
            first.extend(objs.into_iter().map(|o| req.line("ADDED", o)));
            if req.send_initial_events {
                first.push(req.bookmark(state.rv, true));
            }
        } else {
            let n: u64 = rv_param.unwrap_or_default().parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resource version: {}",
                    rv_param.unwrap_or_default()
                ))
            })?;
            if n < state.compacted {
                let err = ApiError::expired(format!(
                    "too old resource version: {n} ({})",
                    state.compacted + 1
                ));
                let mut s = json!({"type": "ERROR", "object": err.to_status()}).to_string();
                s.push('\n');
                first.push(Bytes::from(s));
                ok = false;
            } else {
                first.extend(
                    state
                        .log
                        .iter()
                        .filter(|e| e.rv > n)
                        .filter_map(|e| req.event_line(e)),
                );
            }
        }
        (events, state.rv, ok)
    };
    shared
        .watches_started
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    tokio::spawn(run(shared, req, events, tx, first, start_rv, ok));
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    }));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn run(
    shared: Arc<Shared>,
    req: WatchRequest,
    mut events: broadcast::Receiver<Arc<LogEvent>>,
    tx: mpsc::Sender<Bytes>,
    first: Vec<Bytes>,
    start_rv: u64,
    ok: bool,
) {
    for line in first {
        if tx.send(line).await.is_err() {
            return;
        }
    }
    if !ok {
        return;
    }
    let mut cut = shared.cut.subscribe();
    let mut bookmark_now = shared.bookmark_now.subscribe();
    let deadline = tokio::time::sleep(req.timeout.unwrap_or(Duration::from_secs(3600)));
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(shared.bookmark_interval);
    ticker.tick().await;
    let mut last_sent = start_rv;
    loop {
        let bookmark = tokio::select! {
            _ = &mut deadline => return,
            _ = cut.changed() => return,
            _ = ticker.tick() => true,
            _ = bookmark_now.changed() => true,
            ev = events.recv() => {
                match ev {
                    Ok(ev) => {
                        last_sent = last_sent.max(ev.rv);
                        if let Some(line) = req.event_line(&ev)
                            && tx.send(line).await.is_err()
                        {
                            return;
                        }
                    }
                    // A watcher that falls behind is closed; the client resumes from its last version.
                    Err(_) => return,
                }
                false
            }
        };
        if bookmark && req.bookmarks {
            let current = shared.state.lock().expect("state lock").rv;
            // Everything up to `current` is already queued: send it before the bookmark.
            loop {
                match events.try_recv() {
                    Ok(ev) => {
                        last_sent = last_sent.max(ev.rv);
                        if let Some(line) = req.event_line(&ev)
                            && tx.send(line).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(_) => return,
                }
            }
            if tx
                .send(req.bookmark(current.max(last_sent), false))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}
