//! Go's `text/template` builtins (`text/template/funcs.go`): `and or not eq ne lt le gt ge len
//! index print println printf`.

use std::cmp::Ordering;

use super::super::budget::Budget;
use super::super::sink::Sink;
use super::super::value::Value;
use super::{Failure, Func, Outcome, exact, finish, int_arg, invalid, min_args, string_arg};

/// The builtin called `name`, if there is one.
pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "and" | "or" => and_or,
        "not" => not,
        "eq" => eq,
        "ne" | "lt" | "le" | "gt" | "ge" => ordered,
        "len" => len,
        "index" => index,
        "print" => print,
        "println" => println,
        "printf" => printf,
        _ => return None,
    })
}

/// `and` returns the first false argument or the last; `or` the first true one or the last.
fn and_or(name: &str, args: Vec<Value>, _: &mut Budget) -> Outcome {
    min_args(name, &args, 1)?;
    let pos = args
        .iter()
        .position(|v| v.truthy() == (name == "or"))
        .unwrap_or(args.len() - 1);
    Ok(args.into_iter().nth(pos).unwrap_or(Value::Nil))
}

fn not(name: &str, args: Vec<Value>, _: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    Ok(Value::Bool(!v.truthy()))
}

/// `eq a b c…`: whether `a` equals any of the others.
fn eq(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    min_args(name, &args, 2)?;
    let mut found = false;
    for other in &args[1..] {
        found |= compare(name, &args[0], other, budget)? == Ordering::Equal;
    }
    Ok(Value::Bool(found))
}

fn ordered(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [a, b] = exact::<2>(name, args)?;
    let ord = compare(name, &a, &b, budget)?;
    Ok(Value::Bool(match name {
        "ne" => ord != Ordering::Equal,
        "lt" => ord == Ordering::Less,
        "le" => ord != Ordering::Greater,
        "gt" => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    }))
}

fn len(name: &str, args: Vec<Value>, _: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let n = match &v {
        Value::Str(s) => s.len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.entries.len(),
        other => return Err(invalid(format!("len of type {}", other.kind()))),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// `index item k1 k2…`: `item[k1][k2]…`.
fn index(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    min_args(name, &args, 1)?;
    let mut args = args.into_iter();
    let mut item = args.next().unwrap_or(Value::Nil);
    for key in args {
        item = index_one(&item, &key, budget)?;
    }
    Ok(item)
}

/// One step of `index`: lists and strings by integer, maps by key (a missing key gives the
/// map's zero value, as Go's `index` does: `""` for a map of strings). Out of range is an
/// error that names neither the index nor the length: either may tell a secret's size.
fn index_one(item: &Value, key: &Value, budget: &mut Budget) -> Outcome {
    match item {
        Value::List(list) => {
            let i = int_arg("index", key, budget)?;
            usize::try_from(i)
                .ok()
                .and_then(|i| list.items.get(i).cloned())
                .ok_or_else(|| invalid("index out of range"))
        }
        Value::Str(s) => {
            let i = int_arg("index", key, budget)?;
            usize::try_from(i)
                .ok()
                .and_then(|i| s.get(i).copied())
                .map(|b| Value::Int(i64::from(b)))
                .ok_or_else(|| invalid("index out of range"))
        }
        Value::Map(map) => {
            let key = string_arg("index", key)?;
            budget.charge(key.len())?;
            let key = String::from_utf8_lossy(&key);
            Ok(map.entries.get(key.as_ref()).cloned().unwrap_or_else(|| {
                if map.strings_only {
                    Value::str("")
                } else {
                    Value::Nil
                }
            }))
        }
        Value::Nil | Value::Missing => Err(invalid("index of untyped nil")),
        other => Err(invalid(format!(
            "can't index item of type {}",
            other.kind()
        ))),
    }
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn print(_: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let mut out = Sink::for_string(budget);
    for (i, v) in args.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(b' ')?;
        }
        v.print(&mut out)?;
    }
    finish(out, budget)
}

/// Go's `fmt.Sprintln`: spaces between all operands and a newline.
fn println(_: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let mut out = Sink::for_string(budget);
    for (i, v) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ')?;
        }
        v.print(&mut out)?;
    }
    out.push(b'\n')?;
    finish(out, budget)
}

fn printf(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    min_args(name, &args, 1)?;
    let format = string_arg(name, &args[0])?;
    let mut out = Sink::for_string(budget);
    super::printf::sprintf(&format, &args[1..], &mut out)?;
    finish(out, budget)
}

/// Go's comparison rules, loosened to compare any two numbers.
fn compare(name: &str, a: &Value, b: &Value, budget: &mut Budget) -> Result<Ordering, Failure> {
    let incompatible = || {
        invalid(format!(
            "{name}: incompatible types for comparison ({} and {})",
            a.kind(),
            b.kind()
        ))
    };
    let is_eq = name == "eq" || name == "ne";
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (x, y) = (as_f64(a), as_f64(b));
            x.partial_cmp(&y).ok_or_else(incompatible)
        }
        (Value::Str(x), Value::Str(y)) => {
            budget.charge(x.len().min(y.len()))?;
            Ok(x.as_slice().cmp(y.as_slice()))
        }
        (Value::Bool(x), Value::Bool(y)) if is_eq => Ok(x.cmp(y)),
        (Value::Nil | Value::Missing, Value::Nil | Value::Missing) if is_eq => Ok(Ordering::Equal),
        (Value::Nil | Value::Missing, _) | (_, Value::Nil | Value::Missing) if is_eq => {
            Ok(Ordering::Less)
        }
        _ => Err(incompatible()),
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(n) => *n as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::tests::{reason, run, s, text};
    use super::*;

    #[test]
    fn comparisons_and_logic_follow_go() {
        assert!(run("eq", vec![s("a"), s("b"), s("a")]).unwrap().truthy());
        assert!(
            run("lt", vec![Value::Int(1), Value::Float(1.5)])
                .unwrap()
                .truthy()
        );
        assert!(run("lt", vec![s("a"), Value::Int(1)]).is_err());
        assert_eq!(text(run("and", vec![Value::Int(1), s(""), s("x")])), "");
        assert_eq!(text(run("or", vec![s(""), s("x")])), "x");
        assert_eq!(text(run("or", vec![s(""), Value::Int(0)])), "0");
    }

    #[test]
    fn print_and_println_space_like_go() {
        assert_eq!(
            text(run(
                "print",
                vec![s("a"), Value::Int(1), Value::Int(2), s("b")]
            )),
            "a1 2b"
        );
        assert_eq!(text(run("println", vec![s("a"), Value::Int(1)])), "a 1\n");
    }

    // issue 13: `index .password 99` said "index out of range: 99 (length 14)", an oracle
    // for the length of a value the template's author may not read.
    #[test]
    fn index_reports_out_of_range_without_the_index_or_length() {
        let list = Value::list(vec![s("secret")]);
        assert_eq!(
            reason(run("index", vec![list, Value::Int(3)])),
            "index out of range"
        );
        assert_eq!(
            reason(run("index", vec![s("hunter2"), Value::Int(99)])),
            "index out of range"
        );
        let map = Value::map(BTreeMap::from([("a".to_owned(), s("1"))]));
        assert_eq!(text(run("index", vec![map, s("missing")])), "");
    }
}
