//! What the API server does to a custom resource with its version's `openAPIV3Schema`: defaulting,
//! pruning of unknown fields, and validation of `type`, `required`, `enum`, `nullable`, `minimum`/
//! `maximum`, `minLength`/`maxLength`, `minItems`/`maxItems`.
//!
//! Follows apiextensions-apiserver `pkg/apiserver/schema/{defaulting,pruning}` and
//! `pkg/apiserver/validation`. Not implemented: `pattern`, `format`, `oneOf`/`anyOf`/`allOf`/`not`,
//! CEL `x-kubernetes-validations`, list-type uniqueness.

use serde_json::{Map, Value};

/// Defaults, prunes and validates `obj` in place; errors are `(field, message)`.
pub(crate) fn apply_schema(obj: &mut Value, schema: &Value) -> Vec<(String, String)> {
    let mut errs = vec![];
    let Some(root) = obj.as_object_mut() else {
        return errs;
    };
    let props = schema["properties"].as_object();
    let root_preserve = schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
    let keys: Vec<String> = root.keys().cloned().collect();
    for k in keys {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(s) if drop_null(root, &k, s) => {}
            Some(s) => walk(root.get_mut(&k).expect("listed"), s, &k, &mut errs),
            None if root_preserve => {}
            None => {
                root.remove(&k);
            }
        }
    }
    if let Some(p) = props {
        for (k, s) in p {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if !root.contains_key(k)
                && let Some(d) = s.get("default")
            {
                let mut d = d.clone();
                walk(&mut d, s, k, &mut errs);
                root.insert(k.clone(), d);
            }
        }
    }
    required(root, schema, "", &mut errs);
    errs
}

/// A `null` in a field that is not `nullable` is defaulted, or else dropped (structural defaulting
/// prunes such nulls before validation). True if the field was handled.
fn drop_null(map: &mut Map<String, Value>, k: &str, schema: &Value) -> bool {
    if !map.get(k).is_some_and(Value::is_null) || schema["nullable"] == Value::Bool(true) {
        return false;
    }
    match schema.get("default") {
        Some(d) => {
            map.insert(k.to_string(), d.clone());
        }
        None => {
            map.remove(k);
        }
    }
    true
}

fn required(
    obj: &Map<String, Value>,
    schema: &Value,
    path: &str,
    errs: &mut Vec<(String, String)>,
) {
    for r in schema["required"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(r) = r.as_str()
            && !obj.contains_key(r)
        {
            let field = if path.is_empty() {
                r.to_string()
            } else {
                format!("{path}.{r}")
            };
            errs.push((field, "Required value".into()));
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(v: &mut Value, schema: &Value, path: &str, errs: &mut Vec<(String, String)>) {
    if v.is_null() {
        return;
    }
    let int_or_string = schema["x-kubernetes-int-or-string"] == Value::Bool(true);
    if let Some(t) = schema["type"].as_str() {
        let have = type_name(v);
        let ok = have == t
            || (t == "number" && have == "integer")
            || (int_or_string && matches!(have, "integer" | "string"));
        if !ok {
            errs.push((
                path.into(),
                format!(
                    "Invalid value: \"{have}\": {path} in body must be of type {t}: \"{have}\""
                ),
            ));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errs.push((
            path.into(),
            format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
        ));
    }
    match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if schema["minimum"].as_f64().is_some_and(|m| x < m) {
                errs.push((
                    path.into(),
                    format!(
                        "Invalid value: {x}: {path} in body should be greater than or equal to {}",
                        schema["minimum"]
                    ),
                ));
            }
            if schema["maximum"].as_f64().is_some_and(|m| x > m) {
                errs.push((
                    path.into(),
                    format!(
                        "Invalid value: {x}: {path} in body should be less than or equal to {}",
                        schema["maximum"]
                    ),
                ));
            }
        }
        Value::String(s) => {
            let n = s.chars().count() as u64;
            if schema["minLength"].as_u64().is_some_and(|m| n < m) {
                errs.push((
                    path.into(),
                    format!(
                        "Invalid value: \"{s}\": {path} in body should be at least {} chars long",
                        schema["minLength"]
                    ),
                ));
            }
            if schema["maxLength"].as_u64().is_some_and(|m| n > m) {
                errs.push((
                    path.into(),
                    format!(
                        "Too long: may not be more than {} bytes",
                        schema["maxLength"]
                    ),
                ));
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if schema["minItems"].as_u64().is_some_and(|m| n < m) {
                errs.push((
                    path.into(),
                    format!(
                        "Invalid value: {n}: {path} in body should have at least {} items",
                        schema["minItems"]
                    ),
                ));
            }
            if schema["maxItems"].as_u64().is_some_and(|m| n > m) {
                errs.push((
                    path.into(),
                    format!(
                        "Too many: {n}: must have at most {} items",
                        schema["maxItems"]
                    ),
                ));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, item_schema, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
            let embedded = schema["x-kubernetes-embedded-resource"] == Value::Bool(true);
            if let Some(props) = schema["properties"].as_object() {
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    match props.get(&k) {
                        Some(s) if drop_null(map, &k, s) => {}
                        Some(s) => walk(
                            map.get_mut(&k).expect("listed"),
                            s,
                            &format!("{path}.{k}"),
                            errs,
                        ),
                        None if preserve
                            || (embedded
                                && matches!(k.as_str(), "apiVersion" | "kind" | "metadata")) => {}
                        None => {
                            map.remove(&k);
                        }
                    }
                }
                for (k, s) in props {
                    if !map.contains_key(k)
                        && let Some(d) = s.get("default")
                    {
                        map.insert(k.clone(), d.clone());
                    }
                }
                required(map, schema, path, errs);
            } else if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object())
            {
                for (k, child) in map.iter_mut() {
                    walk(child, extra, &format!("{path}[{k}]"), errs);
                }
            } else if !preserve
                && !embedded
                && schema.get("additionalProperties").is_none()
                && schema["type"] == "object"
            {
                // A structural schema with `type: object` and neither properties nor
                // additionalProperties nor preserve-unknown-fields prunes everything.
                map.clear();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_pruned_defaults_applied_and_types_checked() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1},
                "mode": {"type": "string", "default": "fast", "enum": ["fast", "slow"]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"}, "junk": 1,
            "spec": {"size": 3, "extra": true, "free": {"any": 1}, "labels": {"a": "b"}}});
        assert!(apply_schema(&mut obj, &schema).is_empty());
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"size": 3, "mode": "fast", "free": {"any": 1}, "labels": {"a": "b"}}})
        );
        let mut bad = json!({"spec": {"size": "three", "mode": "medium"}});
        let errs = apply_schema(&mut bad, &schema);
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, vec!["spec.size", "spec.mode"]);
        let mut missing = json!({"spec": {}});
        assert_eq!(
            apply_schema(&mut missing, &schema),
            vec![("spec.size".to_string(), "Required value".to_string())]
        );
    }
}
