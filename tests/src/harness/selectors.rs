//! Label and field selectors, parsed as apimachinery `pkg/labels/selector.go` and
//! `pkg/fields/selector.go` do.
//!
//! Labels: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`, comma-joined
//! (all must hold). Fields: `metadata.name`, `metadata.namespace` and, for Secrets, `type`, with `=`,
//! `==`, `!=`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Gt(i64),
    Lt(i64),
}

/// A parsed label selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<(String, Op)>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = vec![];
        for term in split_terms(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            reqs.push(parse_term(term)?);
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.0.iter().all(|(k, op)| {
            let v = labels.and_then(|l| l.get(k)).and_then(Value::as_str);
            match op {
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Eq(x) => v == Some(x.as_str()),
                // `!=` and `notin` match objects without the label (selector.go `Matches`).
                Op::NotEq(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => v.is_none_or(|v| !xs.iter().any(|x| x == v)),
                Op::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
    });
    name_ok && prefix_ok
}

fn valid_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn parse_term(term: &str) -> Result<(String, Op), String> {
    let bad = |why: &str| format!("unable to parse requirement: {why}: {term:?}");
    if let Some(k) = term.strip_prefix('!') {
        let k = k.trim();
        return if valid_key(k) {
            Ok((k.into(), Op::NotExists))
        } else {
            Err(bad("invalid label key"))
        };
    }
    for (sym, which) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((k, v)) = term.split_once(sym) {
            let (k, v) = (k.trim(), v.trim());
            if !valid_key(k) {
                return Err(bad("invalid label key"));
            }
            return match which {
                0 | 1 if !valid_value(v) => Err(bad("invalid label value")),
                0 => Ok((k.into(), Op::NotEq(v.into()))),
                1 => Ok((k.into(), Op::Eq(v.into()))),
                2 => v
                    .parse()
                    .map(|n| (k.into(), Op::Gt(n)))
                    .map_err(|_| bad("for 'Gt', 'Lt' operators, the value must be an integer")),
                _ => v
                    .parse()
                    .map(|n| (k.into(), Op::Lt(n)))
                    .map_err(|_| bad("for 'Gt', 'Lt' operators, the value must be an integer")),
            };
        }
    }
    let mut words = term.splitn(2, char::is_whitespace);
    let k = words.next().unwrap_or_default().trim();
    let rest = words.next().unwrap_or_default().trim();
    if rest.is_empty() {
        return if valid_key(k) {
            Ok((k.into(), Op::Exists))
        } else {
            Err(bad("invalid label key"))
        };
    }
    if !valid_key(k) {
        return Err(bad("invalid label key"));
    }
    let (notin, list) = if let Some(l) = rest.strip_prefix("notin") {
        (true, l)
    } else if let Some(l) = rest.strip_prefix("in") {
        (false, l)
    } else {
        return Err(bad("found unexpected operator"));
    };
    let list = list.trim();
    let inner = list
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(|| bad("expected a parenthesised set"))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(|v| !valid_value(v)) {
        return Err(bad("invalid label value"));
    }
    Ok((
        k.into(),
        if notin {
            Op::NotIn(values)
        } else {
            Op::In(values)
        },
    ))
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses `s`; `extra` lists the kind's selectable fields beyond `metadata.name`/`metadata.namespace`.
    pub fn parse(s: &str, extra: &[&str]) -> Result<Self, String> {
        let mut out = vec![];
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, eq, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" && !extra.contains(&field)
            {
                return Err(format!("field label not supported: {field}"));
            }
            out.push((field.to_string(), eq, value.trim().to_string()));
        }
        Ok(Self(out))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, eq, want)| {
            let mut cur = obj;
            for part in field.split('.') {
                cur = &cur[part];
            }
            let have = cur.as_str().unwrap_or_default();
            (have == want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_label_operator_matches_as_the_api_server_does() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let yes = [
            "app",
            "app=web",
            "app==web",
            "app!=db",
            "missing!=x",
            "app in (web,db)",
            "tier notin (back)",
            "nolabel notin (x)",
            "!missing",
            "n>4",
            "n<6",
            "app=web,tier in (front)",
            "",
        ];
        let no = [
            "missing",
            "app=db",
            "app!=web",
            "app in (db)",
            "tier notin (front,back)",
            "!app",
            "n>5",
            "app=web,tier=back",
        ];
        for s in yes {
            assert!(
                LabelSelector::parse(s).unwrap().matches(Some(&l)),
                "{s} should match"
            );
        }
        for s in no {
            assert!(
                !LabelSelector::parse(s).unwrap().matches(Some(&l)),
                "{s} should not match"
            );
        }
    }

    #[test]
    fn malformed_label_selectors_are_rejected() {
        for s in ["app in web", "a b c", "-bad=x", "app=has space", "n>x"] {
            assert!(LabelSelector::parse(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn field_selectors_support_name_and_namespace_only_by_default() {
        let obj = json!({"metadata": {"name": "a", "namespace": "ns"}, "type": "Opaque"});
        assert!(
            FieldSelector::parse("metadata.name=a,metadata.namespace!=x", &[])
                .unwrap()
                .matches(&obj)
        );
        assert!(
            !FieldSelector::parse("metadata.name==b", &[])
                .unwrap()
                .matches(&obj)
        );
        assert!(FieldSelector::parse("spec.x=1", &[]).is_err());
        assert!(
            FieldSelector::parse("type=Opaque", &["type"])
                .unwrap()
                .matches(&obj)
        );
    }
}
