//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the subset of strategic merge
//! patch the built-in kinds we serve need.
//!
//! Strategic merge (apimachinery `pkg/util/strategicpatch/patch.go`), as implemented here: maps merge
//! recursively and `null` deletes a key; lists are replaced, except `metadata.finalizers` (a set of
//! strings: union, `$deleteFromPrimitiveList/finalizers` removes), `metadata.ownerReferences` (merged by
//! `uid`) and a Service's `spec.ports` (merged by `port`). Directives: `$patch: replace` and
//! `$patch: delete` in maps and list items, `$retainKeys`, `$deleteFromPrimitiveList/<field>`;
//! `$setElementOrder/<field>` is accepted and ignored (list order follows the patch for merged items).

use super::status::ApiError;
use serde_json::{Map, Value};

/// Which PATCH content type was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next().unwrap_or_default().trim();
        Some(match ct {
            "application/json-patch+json" => Self::Json,
            "application/merge-patch+json" => Self::Merge,
            "application/strategic-merge-patch+json" => Self::Strategic,
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Self::Apply,
            _ => return None,
        })
    }
}

pub(crate) fn json_patch(target: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = target.clone();
    json_patch::patch(&mut doc, &patch).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })?;
    Ok(doc)
}

pub(crate) fn merge_patch(target: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal patch into Go value of type map[string]interface {}",
        ));
    }
    let mut doc = target.clone();
    json_patch::merge(&mut doc, &patch);
    Ok(doc)
}

pub(crate) fn strategic_patch(target: &Value, body: &[u8], kind: &str) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let Value::Object(p) = patch else {
        return Err(ApiError::bad_request(
            "strategic merge patch must be a JSON object",
        ));
    };
    let mut doc = target.clone();
    if let Value::Object(d) = &mut doc {
        merge_map(d, &p, "", kind)?;
    }
    Ok(doc)
}

/// The merge key of a list at `path` (dotted, from the object root), or `Some("")` for a set of
/// primitives; `None` means the list is replaced.
fn list_strategy(path: &str, kind: &str) -> Option<&'static str> {
    match (path, kind) {
        ("metadata.finalizers", _) => Some(""),
        ("metadata.ownerReferences", _) => Some("uid"),
        ("spec.ports", "Service") => Some("port"),
        _ => None,
    }
}

fn merge_map(
    d: &mut Map<String, Value>,
    p: &Map<String, Value>,
    path: &str,
    kind: &str,
) -> Result<(), ApiError> {
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut p = p.clone();
            p.remove("$patch");
            *d = p;
            return Ok(());
        }
        Some("delete") => {
            d.clear();
            return Ok(());
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch type: {other}"
            )));
        }
        None => {}
    }
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        d.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, pv) in p {
        if k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(del)) = (d.get_mut(field), pv.as_array()) {
                items.retain(|i| !del.contains(i));
            }
            continue;
        }
        let child = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match pv {
            Value::Null => {
                d.remove(k);
            }
            Value::Object(po) => match d.get_mut(k) {
                Some(Value::Object(dobj)) => merge_map(dobj, po, &child, kind)?,
                _ => {
                    let mut fresh = Map::new();
                    merge_map(&mut fresh, po, &child, kind)?;
                    d.insert(k.clone(), Value::Object(fresh));
                }
            },
            Value::Array(pa) => match (list_strategy(&child, kind), d.get_mut(k)) {
                (Some(key), Some(Value::Array(da))) => merge_list(da, pa, key),
                _ => {
                    let items = pa
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect();
                    d.insert(k.clone(), Value::Array(items));
                }
            },
            other => {
                d.insert(k.clone(), other.clone());
            }
        }
    }
    Ok(())
}

fn merge_list(d: &mut Vec<Value>, p: &[Value], key: &str) {
    if key.is_empty() {
        for item in p {
            if !d.contains(item) {
                d.push(item.clone());
            }
        }
        return;
    }
    for item in p {
        let id = &item[key];
        let pos = d.iter().position(|x| &x[key] == id);
        match (item.get("$patch").and_then(Value::as_str), pos) {
            (Some("delete"), Some(i)) => {
                d.remove(i);
            }
            (Some("delete"), None) => {}
            (Some("replace"), Some(i)) => {
                let mut v = item.clone();
                if let Some(o) = v.as_object_mut() {
                    o.remove("$patch");
                }
                d[i] = v;
            }
            (_, Some(i)) => {
                if let (Value::Object(dobj), Value::Object(pobj)) = (&mut d[i], item) {
                    for (k, v) in pobj {
                        if v.is_null() {
                            dobj.remove(k);
                        } else {
                            dobj.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            (_, None) => d.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_owner_references_by_uid_and_finalizers_as_a_set() {
        let live = json!({"metadata": {"finalizers": ["a"], "ownerReferences": [{"uid": "1", "name": "x"}],
            "labels": {"k": "v", "gone": "x"}}, "data": {"a": "YQ=="}});
        let patch = json!({"metadata": {"finalizers": ["b", "a"], "ownerReferences": [{"uid": "2", "name": "y"}],
            "labels": {"gone": null, "new": "n"}}, "data": {"b": "Yg=="}});
        let out = strategic_patch(&live, patch.to_string().as_bytes(), "Secret").unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([{"uid": "1", "name": "x"}, {"uid": "2", "name": "y"}])
        );
        assert_eq!(out["metadata"]["labels"], json!({"k": "v", "new": "n"}));
        assert_eq!(out["data"], json!({"a": "YQ==", "b": "Yg=="}));
    }

    #[test]
    fn strategic_merge_directives_replace_delete_and_remove_from_primitive_lists() {
        let live = json!({"metadata": {"finalizers": ["a", "b"], "ownerReferences": [{"uid": "1"}, {"uid": "2"}]},
            "data": {"a": "1", "b": "2"}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"],
            "ownerReferences": [{"uid": "1", "$patch": "delete"}]}, "data": {"$patch": "replace", "c": "3"}});
        let out = strategic_patch(&live, patch.to_string().as_bytes(), "Secret").unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(out["metadata"]["ownerReferences"], json!([{"uid": "2"}]));
        assert_eq!(out["data"], json!({"c": "3"}));
    }

    #[test]
    fn json_patch_test_failure_is_unprocessable() {
        let live = json!({"data": {"a": "1"}});
        let err =
            json_patch(&live, br#"[{"op":"test","path":"/data/a","value":"2"}]"#).unwrap_err();
        assert_eq!(err.code, 422);
    }
}
