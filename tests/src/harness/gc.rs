//! The controllers that run inside a real control plane and that our controllers rely on: the
//! garbage collector (ownerReferences; background, foreground and orphan deletion), the namespace
//! controller (a deleted namespace's content is deleted, then the namespace) and the CRD finalizer
//! (a deleted CRD's objects are deleted, then the CRD).
//!
//! Like the real ones they run asynchronously, after the write that triggers them, so a test must
//! wait for their effect (as it would in a cluster). Owners are resolved as kube-controller-manager's
//! garbage collector does: by `apiVersion`'s group, `kind` and `name` in the dependent's namespace (or
//! cluster-wide for cluster-scoped owners), then `uid`. An owner of a kind the server does not serve
//! is treated as present (the real GC would retry forever).

use super::store::{DeleteOpts, ObjKey, State, finalizers, is_deleting, meta, meta_mut};
use super::types::{GroupResource, ResourceType};
use serde_json::{Value, json};
use std::collections::HashSet;

enum Owner {
    Absent,
    /// Being deleted in the foreground: its dependents must go first.
    Waiting,
    Present,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// The least time between two collection passes; writes made meanwhile wait for the next one.
pub(crate) const PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// One pass of every controller; true if it changed anything.
pub(crate) fn collect(state: &mut State) -> bool {
    let mut changed = false;
    let mut any_deleting = false;
    // uids of the objects being deleted in the foreground (owners that make dependents wait).
    let mut foreground: HashSet<String> = HashSet::new();
    for rt in &state.types {
        for v in state.store(&rt.gr()).into_iter().flat_map(|m| m.values()) {
            if is_deleting(v) {
                any_deleting = true;
                if finalizers(v).iter().any(|f| f == "foregroundDeletion") {
                    foreground.insert(meta(v)["uid"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }
    // Copies of every object are needed only while something is being deleted (owners waiting
    // for dependents, namespaces, CRDs); otherwise only dependents are looked at, in place:
    // copying the whole store on every write made large stores slow.
    let mut all: Vec<(ResourceType, ObjKey, Value)> = vec![];
    let mut actions: Vec<(ResourceType, ObjKey, DependentAction)> = vec![];
    for rt in &state.types {
        for (k, v) in state.store(&rt.gr()).into_iter().flatten() {
            if any_deleting {
                all.push((rt.clone(), k.clone(), v.clone()));
            }
            if let Some(action) = dependent_action(state, &foreground, &k.0, v) {
                actions.push((rt.clone(), k.clone(), action));
            }
        }
    }

    // Dependents of absent or foreground-deleting owners.
    for (rt, key, action) in actions {
        match action {
            DependentAction::Delete(policy) => {
                let ns = (!key.0.is_empty()).then_some(key.0.as_str());
                let _ = state.delete(
                    &rt,
                    ns,
                    &key.1,
                    &DeleteOpts {
                        propagation: Some(policy.into()),
                        ..Default::default()
                    },
                );
            }
            DependentAction::Rewrite(new) => state.system_write(&rt, &key, new),
        }
        changed = true;
    }

    // Owners waiting for dependents (foreground) or orphaning them.
    for (rt, key, obj) in &all {
        if !is_deleting(obj) {
            continue;
        }
        let fins = finalizers(obj);
        let uid = meta(obj)["uid"].as_str().unwrap_or_default().to_string();
        let refers = |v: &Value| {
            meta(v)["ownerReferences"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["uid"].as_str() == Some(uid.as_str())))
        };
        if fins.iter().any(|f| f == "orphan") {
            for (drt, dkey, dep) in &all {
                if refers(dep) {
                    let mut new = dep.clone();
                    let keep: Vec<Value> = meta(dep)["ownerReferences"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["uid"].as_str() != Some(uid.as_str()))
                        .cloned()
                        .collect();
                    let m = meta_mut(&mut new);
                    if keep.is_empty() {
                        m.remove("ownerReferences");
                    } else {
                        m.insert("ownerReferences".into(), json!(keep));
                    }
                    state.system_write(drt, dkey, new);
                }
            }
            state.remove_finalizer(rt, key, "orphan");
            changed = true;
        } else if fins.iter().any(|f| f == "foregroundDeletion") {
            let blocking = all.iter().any(|(_, _, dep)| {
                meta(dep)["ownerReferences"].as_array().is_some_and(|rs| {
                    rs.iter().any(|r| {
                        r["uid"].as_str() == Some(uid.as_str())
                            && r["blockOwnerDeletion"] == json!(true)
                    })
                }) && still_exists(state, dep)
            });
            if !blocking {
                state.remove_finalizer(rt, key, "foregroundDeletion");
                changed = true;
            }
        }
    }

    // Namespace controller.
    let ns_gr = GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    };
    let terminating: Vec<String> = state
        .store(&ns_gr)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|n| is_deleting(n))
        .map(|n| meta(n)["name"].as_str().unwrap_or_default().to_string())
        .collect();
    for ns in terminating {
        let mut remaining = 0;
        for (rt, key, obj) in all.iter().filter(|(rt, k, _)| rt.namespaced && k.0 == ns) {
            if still_exists(state, obj) {
                remaining += 1;
                if !is_deleting(obj) {
                    let _ = state.delete(rt, Some(&ns), &key.1, &DeleteOpts::default());
                    changed = true;
                }
            }
        }
        if remaining == 0 && state.finalize_namespace(&ns) {
            changed = true;
        }
    }

    // CRD cleanup finalizer.
    for (rt, key, obj) in &all {
        if !(rt.group == "apiextensions.k8s.io"
            && rt.plural == "customresourcedefinitions"
            && is_deleting(obj))
        {
            continue;
        }
        if !finalizers(obj)
            .iter()
            .any(|f| f == "customresourcecleanup.apiextensions.k8s.io")
        {
            continue;
        }
        let Some(crt) = state
            .types
            .iter()
            .find(|t| t.crd.as_deref() == Some(key.1.as_str()))
            .cloned()
        else {
            state.remove_finalizer(rt, key, "customresourcecleanup.apiextensions.k8s.io");
            changed = true;
            continue;
        };
        let instances: Vec<(ObjKey, bool)> = state
            .store(&crt.gr())
            .into_iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| (k.clone(), is_deleting(v)))
            .collect();
        if instances.is_empty() {
            state.remove_finalizer(rt, key, "customresourcecleanup.apiextensions.k8s.io");
            changed = true;
        }
        for (k, deleting) in instances {
            if !deleting {
                let ns = (!k.0.is_empty()).then_some(k.0.as_str());
                let _ = state.delete(&crt, ns, &k.1, &DeleteOpts::default());
                changed = true;
            }
        }
    }
    changed
}

/// What the garbage collector does to one dependent.
enum DependentAction {
    /// Delete it with this propagation policy (every owner is gone or going).
    Delete(&'static str),
    /// Write it back with only its remaining owners.
    Rewrite(Value),
}

/// The action for `obj` (in namespace `ns`) if it has owners that are gone or going.
fn dependent_action(
    state: &State,
    foreground: &HashSet<String>,
    ns: &str,
    obj: &Value,
) -> Option<DependentAction> {
    let refs = meta(obj)["ownerReferences"]
        .as_array()
        .filter(|r| !r.is_empty())?;
    let states: Vec<Owner> = refs
        .iter()
        .map(|r| owner_state(state, foreground, ns, r))
        .collect();
    let solid = states.iter().any(|s| matches!(s, Owner::Present));
    let waiting = states.iter().any(|s| matches!(s, Owner::Waiting));
    let absent = states.iter().any(|s| matches!(s, Owner::Absent));
    if !solid {
        if is_deleting(obj) {
            return None;
        }
        Some(DependentAction::Delete(if waiting {
            "Foreground"
        } else {
            "Background"
        }))
    } else if absent || waiting {
        // Other owners remain: drop the references to the gone (or going) ones.
        let keep: Vec<Value> = refs
            .iter()
            .zip(&states)
            .filter(|(_, s)| matches!(s, Owner::Present))
            .map(|(r, _)| r.clone())
            .collect();
        let mut new = obj.clone();
        meta_mut(&mut new).insert("ownerReferences".into(), json!(keep));
        Some(DependentAction::Rewrite(new))
    } else {
        None
    }
}

/// Whether the owner `r` of a dependent in `dep_ns` exists (and is not being deleted in the
/// foreground).
fn owner_state(state: &State, foreground: &HashSet<String>, dep_ns: &str, r: &Value) -> Owner {
    let api_version = r["apiVersion"].as_str().unwrap_or_default();
    let kind = r["kind"].as_str().unwrap_or_default();
    let name = r["name"].as_str().unwrap_or_default();
    let uid = r["uid"].as_str().unwrap_or_default();
    let Some(rt) = state.type_by_kind(group_of(api_version), kind) else {
        return Owner::Present;
    };
    let ns = if rt.namespaced { dep_ns } else { "" };
    match state
        .store(&rt.gr())
        .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    {
        Some(o) if meta(o)["uid"].as_str() == Some(uid) => {
            if foreground.contains(uid) {
                Owner::Waiting
            } else {
                Owner::Present
            }
        }
        _ => Owner::Absent,
    }
}

fn still_exists(state: &State, obj: &Value) -> bool {
    let uid = meta(obj)["uid"].as_str();
    state.types.iter().any(|rt| {
        state
            .store(&rt.gr())
            .and_then(|m| m.get(&super::store::obj_key(obj)))
            .is_some_and(|o| meta(o)["uid"].as_str() == uid)
    })
}
