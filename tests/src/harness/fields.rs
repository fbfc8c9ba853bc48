//! `metadata.managedFields` and server-side apply, simplified.
//!
//! What is tracked: each manager (name, operation `Apply` or `Update`, subresource) owns a set of leaf
//! paths. A leaf is a scalar, an empty map, or a list: **every list is atomic** (the real server merges
//! associative lists such as `ownerReferences` by key). Writes by PUT/PATCH give their manager the leaves
//! they change and take them from everyone else (no conflicts, as on the real server). An apply
//! conflicts when another manager owns a path the applied configuration sets to a different value
//! (409 `Conflict` with one `FieldManagerConflict` cause per path) unless `force=true`, which takes
//! the path over. Paths a manager applied before and leaves out now are removed if nobody else owns
//! them. Entries are encoded as `FieldsV1` (`{"f:data":{"f:key":{}}}`), leaves only.

use super::status::ApiError;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A path from the object root through map keys.
pub(crate) type Path = Vec<String>;

/// Which part of the object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The main resource; `status` is excluded when it is a subresource.
    Main { status_subresource: bool },
    /// The `/status` subresource: only `status`.
    Status,
}

const SYSTEM_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

fn tracked(path: &[String], part: Part) -> bool {
    match path.first().map(String::as_str) {
        Some("apiVersion" | "kind") | None => false,
        Some("metadata") => {
            part != Part::Status
                && !path
                    .get(1)
                    .is_some_and(|k| SYSTEM_META.contains(&k.as_str()))
        }
        Some("status") => match part {
            Part::Status => true,
            Part::Main { status_subresource } => !status_subresource,
        },
        Some(_) => part != Part::Status,
    }
}

fn leaves_into(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                prefix.push(k.clone());
                leaves_into(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

fn leaves(v: &Value, part: Part) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    leaves_into(v, &mut vec![], &mut out);
    out.retain(|p| tracked(p, part));
    out
}

fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.as_object()?.get(k))
}

fn remove(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = &mut *v;
    for k in parents {
        match cur.as_object_mut().and_then(|m| m.get_mut(k)) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
    // Drop maps emptied by the removal.
    if parents.len() > 1
        && get(v, parents).is_some_and(|p| p.as_object().is_some_and(Map::is_empty))
    {
        remove(v, parents);
    }
}

struct Entry {
    manager: String,
    operation: String,
    subresource: String,
    api_version: String,
    time: Value,
    fields: BTreeSet<Path>,
}

impl Entry {
    fn same(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

fn to_fields_v1(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for k in path {
            cur = cur
                .entry(format!("f:{k}"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("built as objects");
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    let Some(m) = v.as_object() else { return };
    let children: Vec<_> = m.iter().filter(|(k, _)| k.starts_with("f:")).collect();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    for (k, child) in children {
        prefix.push(k[2..].to_string());
        from_fields_v1(child, prefix, out);
        prefix.pop();
    }
}

fn read(obj: &Value) -> Vec<Entry> {
    let items = obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .map(|e| {
            let mut fields = BTreeSet::new();
            from_fields_v1(&e["fieldsV1"], &mut vec![], &mut fields);
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                subresource: s("subresource"),
                api_version: s("apiVersion"),
                time: e["time"].clone(),
                fields,
            }
        })
        .collect()
}

fn write(obj: &mut Value, mut entries: Vec<Entry>) {
    for e in &mut entries {
        e.fields.retain(|p| get(obj, p).is_some());
    }
    entries.retain(|e| !e.fields.is_empty());
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if list.is_empty() && obj.get("metadata").is_none() {
        return;
    }
    if let Some(o) = obj.as_object_mut()
        && let Some(meta) = o
            .entry("metadata")
            .or_insert_with(|| json!({}))
            .as_object_mut()
    {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn subresource_name(part: Part) -> &'static str {
    if part == Part::Status { "status" } else { "" }
}

/// Records a PUT/PATCH/POST by `manager`: it takes the leaves that changed from `old` to `new`.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    part: Part,
    api_version: &str,
    now: &str,
) {
    let mut entries = old.map(read).unwrap_or_default();
    let null = Value::Null;
    let old_v = old.unwrap_or(&null);
    let changed: BTreeSet<Path> = leaves(new, part)
        .into_iter()
        .filter(|p| get(old_v, p) != get(new, p))
        .collect();
    if changed.is_empty() {
        write(new, entries);
        return;
    }
    for e in &mut entries {
        e.fields.retain(|p| !changed.contains(p));
    }
    let sub = subresource_name(part);
    match entries.iter_mut().find(|e| e.same(manager, "Update", sub)) {
        Some(e) => {
            e.fields.extend(changed);
            e.time = json!(now);
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Update".into(),
            subresource: sub.into(),
            api_version: api_version.to_string(),
            time: json!(now),
            fields: changed,
        }),
    }
    write(new, entries);
}

fn merge_into(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                if v.is_null() {
                    d.remove(k);
                } else if v.is_object() && d.get(k).is_some_and(Value::is_object) {
                    merge_into(d.get_mut(k).expect("checked"), v);
                } else {
                    d.insert(k.clone(), v.clone());
                }
            }
        }
        (d, s) => *d = s.clone(),
    }
}

/// The object after `manager` applies `applied` to `live` (or to nothing, for a create).
pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    part: Part,
    api_version: &str,
    now: &str,
) -> Result<Value, Vec<(String, String)>> {
    let mut entries = live.map(read).unwrap_or_default();
    let sub = subresource_name(part);
    let new_set = leaves(applied, part);
    let null = Value::Null;
    let live_v = live.unwrap_or(&null);
    let mut conflicts = vec![];
    for path in &new_set {
        for e in entries.iter().filter(|e| !e.same(manager, "Apply", sub)) {
            let overlaps = e
                .fields
                .iter()
                .any(|p| p.starts_with(path) || path.starts_with(p));
            if overlaps && get(live_v, path) != get(applied, path) {
                conflicts.push((e.manager.clone(), format!(".{}", path.join("."))));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    if force {
        for e in entries
            .iter_mut()
            .filter(|e| !e.same(manager, "Apply", sub))
        {
            e.fields.retain(|p| {
                !new_set.iter().any(|n| p.starts_with(n) || n.starts_with(p))
                    || get(live_v, p) == get(applied, p)
            });
        }
    }
    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    let previous: BTreeSet<Path> = entries
        .iter()
        .find(|e| e.same(manager, "Apply", sub))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for gone in previous.difference(&new_set) {
        let owned_elsewhere = entries
            .iter()
            .filter(|e| !e.same(manager, "Apply", sub))
            .any(|e| e.fields.contains(gone));
        if !owned_elsewhere {
            remove(&mut result, gone);
        }
    }
    let mut filtered = applied.clone();
    if let Some(m) = filtered.as_object_mut() {
        m.retain(|k, _| {
            tracked(std::slice::from_ref(k), part)
                || k == "metadata"
                || k == "apiVersion"
                || k == "kind"
        });
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| !SYSTEM_META.contains(&k.as_str()) || k == "resourceVersion");
        }
        if part == Part::Status {
            m.remove("metadata");
        }
    }
    merge_into(&mut result, &filtered);
    match entries.iter_mut().find(|e| e.same(manager, "Apply", sub)) {
        Some(e) => {
            e.fields = new_set;
            e.time = json!(now);
            e.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            subresource: sub.into(),
            api_version: api_version.to_string(),
            time: json!(now),
            fields: new_set,
        }),
    }
    write(&mut result, entries);
    Ok(result)
}

/// The 409 an apply conflict answers with (fieldmanager `NewConflictError`).
pub(crate) fn conflict_error(
    group: &str,
    resource: &str,
    name: &str,
    conflicts: &[(String, String)],
) -> ApiError {
    let lines: Vec<String> = conflicts
        .iter()
        .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
        .collect();
    let mut e = ApiError::new(
        409,
        "Conflict",
        format!(
            "Apply failed with {} conflict{}: {}",
            conflicts.len(),
            if conflicts.len() == 1 { "" } else { "s" },
            lines.join("\n")
        ),
    );
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": f}))
        .collect();
    e.details = Some(Box::new(
        json!({"name": name, "group": group, "kind": resource, "causes": causes}),
    ));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Part = Part::Main {
        status_subresource: true,
    };

    #[test]
    fn apply_conflicts_with_another_managers_differing_value_unless_forced() {
        let a = apply(
            None,
            &json!({"metadata": {"name": "s"}, "data": {"x": "1"}}),
            "a",
            false,
            MAIN,
            "v1",
            "t",
        )
        .unwrap();
        let err = apply(
            Some(&a),
            &json!({"data": {"x": "2"}}),
            "b",
            false,
            MAIN,
            "v1",
            "t",
        )
        .unwrap_err();
        assert_eq!(err, vec![("a".to_string(), ".data.x".to_string())]);
        // Same value: shared ownership, no conflict.
        apply(
            Some(&a),
            &json!({"data": {"x": "1"}}),
            "b",
            false,
            MAIN,
            "v1",
            "t",
        )
        .unwrap();
        let forced = apply(
            Some(&a),
            &json!({"data": {"x": "2"}}),
            "b",
            true,
            MAIN,
            "v1",
            "t",
        )
        .unwrap();
        assert_eq!(forced["data"]["x"], "2");
        let managers: Vec<_> = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].clone())
            .collect();
        assert_eq!(managers, vec![json!("b")]);
    }

    #[test]
    fn apply_removes_fields_the_manager_no_longer_sets() {
        let a = apply(
            None,
            &json!({"data": {"x": "1", "y": "2"}}),
            "a",
            false,
            MAIN,
            "v1",
            "t",
        )
        .unwrap();
        let b = apply(
            Some(&a),
            &json!({"data": {"x": "1"}}),
            "a",
            false,
            MAIN,
            "v1",
            "t",
        )
        .unwrap();
        assert_eq!(b["data"], json!({"x": "1"}));
        assert_eq!(
            b["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {"f:x": {}}})
        );
    }

    #[test]
    fn updates_take_ownership_of_changed_fields() {
        let a = apply(
            None,
            &json!({"data": {"x": "1"}}),
            "a",
            false,
            MAIN,
            "v1",
            "t",
        )
        .unwrap();
        let mut b = a.clone();
        b["data"]["x"] = json!("2");
        record_update(Some(&a), &mut b, "editor", MAIN, "v1", "t");
        let mf = b["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0]["manager"], "editor");
        assert_eq!(mf[0]["operation"], "Update");
    }
}
