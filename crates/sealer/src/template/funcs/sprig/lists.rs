//! Sprig's lists and dicts (`list.go`, `dict.go`, `strings.go`): `list dict get hasKey keys
//! sortAlpha split splitList join`.
//!
//! Each element is paid for before it is made, and a list or map deeper than
//! [`crate::template::Limits::depth`] is refused: a loop that wraps a list in itself
//! (`$x = list $x`) stops at the depth budget instead of building a value whose drop or print
//! would overflow the stack.

use std::collections::BTreeMap;

use memchr::memmem;
use zeroize::Zeroizing;

use super::super::super::budget::{Budget, SLOT};
use super::super::super::sink::Sink;
use super::super::super::value::Value;
use super::super::{
    Failure, Func, Outcome, exact, finish, invalid, list, printed, runes, string_arg,
};

/// The list or dict function called `name`, if there is one.
pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "list" => list_of,
        "dict" => dict,
        "get" | "hasKey" => get,
        "keys" => keys,
        "sortAlpha" => sort_alpha,
        "split" | "splitList" => split,
        "join" => join,
        _ => return None,
    })
}

/// `list a b…`.
fn list_of(_: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    list(args, budget)
}

/// A map key from any value: a string's bytes (invalid UTF-8 replaced), or the value printed.
fn key_of(v: &Value, budget: &mut Budget) -> Result<String, Failure> {
    let bytes = match v {
        Value::Str(s) => {
            budget.charge(s.len())?;
            String::from_utf8_lossy(s).into_owned()
        }
        other => String::from_utf8_lossy(&printed(other, budget)?).into_owned(),
    };
    Ok(bytes)
}

/// `dict k1 v1 k2 v2…`; a key without a value maps to `""`.
fn dict(_: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    budget.charge_slots(args.len().div_ceil(2))?;
    let mut entries = BTreeMap::new();
    let mut deepest = 0;
    let mut it = args.into_iter();
    while let Some(k) = it.next() {
        let key = key_of(&k, budget)?;
        let value = it.next().unwrap_or_else(|| Value::str(""));
        deepest = deepest.max(value.depth());
        entries.insert(key, value);
    }
    budget.check_depth(deepest + 1)?;
    Ok(Value::map(entries))
}

/// `get map key` (`""` when missing) and `hasKey map key`.
fn get(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [map, key] = exact::<2>(name, args)?;
    let Value::Map(map) = map else {
        return Err(invalid(format!(
            "{name}: first argument is a {}, not a map",
            map.kind()
        )));
    };
    let key = string_arg(name, &key)?;
    budget.charge(key.len())?;
    let found = map.entries.get(String::from_utf8_lossy(&key).as_ref());
    Ok(if name == "get" {
        found.cloned().unwrap_or_else(|| Value::str(""))
    } else {
        Value::Bool(found.is_some())
    })
}

/// `keys map…`: the keys of every map, in order.
fn keys(_: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let mut keys = Vec::new();
    for v in args {
        let Value::Map(map) = v else {
            return Err(invalid(format!(
                "keys: argument is a {}, not a map",
                v.kind()
            )));
        };
        for key in map.entries.keys() {
            budget.charge(SLOT.saturating_add(key.len()))?;
            keys.push(Value::str(key.as_bytes()));
        }
    }
    Ok(Value::list(keys))
}

/// `sortAlpha list`: the elements printed and sorted bytewise.
fn sort_alpha(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [list] = exact::<1>(name, args)?;
    let mut items: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    match &list {
        Value::List(l) => {
            budget.charge_slots(l.items.len())?;
            for item in &l.items {
                items.push(printed(item, budget)?);
            }
        }
        other => items.push(printed(other, budget)?),
    }
    items.sort_by(|a, b| a.as_slice().cmp(b.as_slice()));
    Ok(Value::list(items.into_iter().map(Value::bytes).collect()))
}

/// `split sep s` (a dict `_0`, `_1`, … as Sprig makes it) and `splitList sep s`: Go's
/// `strings.Split` (an empty separator splits into UTF-8 sequences).
fn split(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [sep, s] = exact::<2>(name, args)?;
    let (sep, s) = (string_arg(name, &sep)?, string_arg(name, &s)?);
    budget.charge(s.len())?;
    let mut parts: Vec<&[u8]> = Vec::new();
    if sep.is_empty() {
        for rune in runes(&s) {
            budget.charge(SLOT.saturating_add(rune.len()))?;
            parts.push(rune);
        }
    } else {
        let mut last = 0;
        for at in memmem::find_iter(&s, sep.as_slice()) {
            budget.charge(SLOT.saturating_add(at - last))?;
            parts.push(&s[last..at]);
            last = at + sep.len();
        }
        budget.charge(SLOT.saturating_add(s.len() - last))?;
        parts.push(&s[last..]);
    }
    Ok(if name == "split" {
        Value::map(
            parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                .collect(),
        )
    } else {
        Value::list(parts.into_iter().map(Value::str).collect())
    })
}

/// `join sep list`: the elements printed, nil dropped, with `sep` between.
fn join(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [sep, list] = exact::<2>(name, args)?;
    let sep = string_arg(name, &sep)?;
    let single = [list.clone()];
    let items: &[Value] = match &list {
        Value::List(l) => &l.items,
        Value::Nil => &[],
        _ => &single,
    };
    let mut out = Sink::for_string(budget);
    for (i, v) in items
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .enumerate()
    {
        if i > 0 {
            out.extend(&sep)?;
        }
        v.print(&mut out)?;
    }
    finish(out, budget)
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::{failure, run, s, text};
    use super::*;
    use crate::template::{Limit, Limits};

    #[test]
    fn lists_and_dicts_follow_sprig() {
        assert_eq!(
            text(run(
                "join",
                vec![s(","), Value::list(vec![s("a"), Value::Int(2)])]
            )),
            "a,2"
        );
        assert_eq!(
            text(run("splitList", vec![s(","), s("a,b,,c")])),
            "[a b  c]"
        );
        assert_eq!(text(run("splitList", vec![s(""), s("hé")])), "[h é]");
        assert_eq!(text(run("split", vec![s(","), s("a,b")])), "map[_0:a _1:b]");
        let d = run("dict", vec![s("b"), Value::Int(1), s("a")]).unwrap();
        assert_eq!(text(Ok(d.clone())), "map[a: b:1]");
        assert_eq!(text(run("keys", vec![d.clone()])), "[a b]");
        assert_eq!(text(run("get", vec![d.clone(), s("b")])), "1");
        assert!(!run("hasKey", vec![d, s("c")]).unwrap().truthy());
        assert_eq!(
            text(run(
                "sortAlpha",
                vec![Value::list(vec![s("b"), Value::Int(10), s("a")])]
            )),
            "[10 a b]"
        );
    }

    #[test]
    fn nesting_lists_stops_at_the_depth_budget() {
        let mut budget = Budget::new(Limits {
            depth: 3,
            ..Limits::default()
        });
        let mut v = Value::Nil;
        for _ in 0..3 {
            v = super::super::super::call("list", vec![v], &mut budget).unwrap();
        }
        assert_eq!(
            failure(super::super::super::call(
                "list",
                vec![v.clone()],
                &mut budget
            )),
            Failure::Limit(Limit::Depth(3))
        );
        assert_eq!(
            failure(super::super::super::call(
                "dict",
                vec![s("k"), v],
                &mut budget
            )),
            Failure::Limit(Limit::Depth(3))
        );
    }

    #[test]
    fn splitting_into_many_parts_runs_out_of_work_budget() {
        let text = s(&",".repeat(1 << 20));
        assert_eq!(
            failure(run("splitList", vec![s(","), text])),
            Failure::Limit(Limit::Work(32 << 20))
        );
    }
}
