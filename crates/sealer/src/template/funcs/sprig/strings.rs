//! Sprig's string functions (`strings.go`): `toString upper lower title trim trimAll
//! trimPrefix trimSuffix contains hasPrefix hasSuffix replace repeat substr trunc quote squote
//! cat indent nindent`.
//!
//! Each pays for the bytes it reads, and builds its result in a bounded buffer or checks the
//! result's size before allocating it. Searches run in linear time (`memchr::memmem`), so no
//! pair of strings makes one call quadratic.

use memchr::memmem;

use super::super::super::budget::Budget;
use super::super::super::sink::Sink;
use super::super::super::value::Value;
use super::super::printf::go_quote;
use super::super::{
    Failure, Func, Outcome, exact, finish, int_arg, invalid, printed, runes, string_arg,
};

/// The string function called `name`, if there is one.
pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "toString" => to_string,
        "upper" | "lower" | "title" => case,
        "trim" => trim,
        "trimAll" => trim_all,
        "trimPrefix" | "trimSuffix" => trim_affix,
        "contains" | "hasPrefix" | "hasSuffix" => search,
        "replace" => replace,
        "repeat" => repeat,
        "substr" => substr,
        "trunc" => trunc,
        "quote" | "squote" => quote,
        "cat" => cat,
        "indent" | "nindent" => indent,
        _ => return None,
    })
}

/// A copy of `bytes` as a new string, its size checked and paid for first.
fn copy(bytes: &[u8], budget: &mut Budget) -> Outcome {
    budget.charge_string(bytes.len())?;
    Ok(Value::str(bytes))
}

fn to_string(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    match v {
        Value::Str(_) => Ok(v),
        other => Ok(Value::bytes(printed(&other, budget)?)),
    }
}

/// Go's `isSeparator` in `strings.Title`: where a word ends.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    !c.is_alphanumeric() && c.is_whitespace()
}

/// Go's one-rune case mapping: a character whose full mapping is several characters (`ß` to
/// `SS`) stays as it is, as `unicode.ToUpper` leaves it.
fn one_rune(mut mapped: impl Iterator<Item = char>, c: char) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(m), None) => m,
        _ => c,
    }
}

/// `upper`, `lower` and `title` (Go's deprecated `strings.Title`). Bytes that are not UTF-8
/// are mapped as ASCII.
fn case(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let s = string_arg(name, &v)?;
    budget.charge(s.len())?;
    let mut out = Sink::for_string(budget);
    match std::str::from_utf8(&s) {
        Ok(text) => {
            let mut word_start = true;
            for c in text.chars() {
                out.push_char(match name {
                    "upper" => one_rune(c.to_uppercase(), c),
                    "lower" => one_rune(c.to_lowercase(), c),
                    _ if word_start => one_rune(c.to_uppercase(), c),
                    _ => c,
                })?;
                word_start = is_separator(c);
            }
        }
        Err(_) => {
            for &b in s.iter() {
                out.push(match name {
                    "upper" => b.to_ascii_uppercase(),
                    "lower" => b.to_ascii_lowercase(),
                    _ => b,
                })?;
            }
        }
    }
    finish(out, budget)
}

/// Go's `strings.TrimSpace`.
fn trim(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [v] = exact::<1>(name, args)?;
    let s = string_arg(name, &v)?;
    budget.charge(s.len())?;
    match std::str::from_utf8(&s) {
        Ok(text) => copy(text.trim().as_bytes(), budget),
        Err(_) => copy(s.trim_ascii(), budget),
    }
}

/// `trimAll cutset s`: Go's `strings.Trim(s, cutset)`. The cutset is sorted once, so a long
/// cutset costs a lookup, not a scan, per character.
fn trim_all(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [cutset, s] = exact::<2>(name, args)?;
    let (cutset, s) = (string_arg(name, &cutset)?, string_arg(name, &s)?);
    budget.charge(s.len().saturating_add(cutset.len().saturating_mul(4)))?;
    match (std::str::from_utf8(&s), std::str::from_utf8(&cutset)) {
        (Ok(text), Ok(cut)) => {
            let mut set: Vec<char> = cut.chars().collect();
            set.sort_unstable();
            set.dedup();
            copy(
                text.trim_matches(|c| set.binary_search(&c).is_ok())
                    .as_bytes(),
                budget,
            )
        }
        _ => {
            let mut set = [false; 256];
            for &b in cutset.iter() {
                set[usize::from(b)] = true;
            }
            let start = s
                .iter()
                .position(|&b| !set[usize::from(b)])
                .unwrap_or(s.len());
            let end = s
                .iter()
                .rposition(|&b| !set[usize::from(b)])
                .map_or(start, |e| e + 1);
            copy(&s[start..end.max(start)], budget)
        }
    }
}

/// `trimPrefix prefix s` and `trimSuffix suffix s`.
fn trim_affix(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [affix, s] = exact::<2>(name, args)?;
    let (affix, s) = (string_arg(name, &affix)?, string_arg(name, &s)?);
    budget.charge(affix.len().min(s.len()))?;
    let kept = if name == "trimPrefix" {
        s.strip_prefix(affix.as_slice())
    } else {
        s.strip_suffix(affix.as_slice())
    };
    copy(kept.unwrap_or(&s), budget)
}

/// `contains sub s`, `hasPrefix prefix s`, `hasSuffix suffix s`.
fn search(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [needle, s] = exact::<2>(name, args)?;
    let (needle, s) = (string_arg(name, &needle)?, string_arg(name, &s)?);
    Ok(Value::Bool(match name {
        "contains" => {
            budget.charge(s.len().saturating_add(needle.len()))?;
            memmem::find(&s, &needle).is_some()
        }
        "hasPrefix" => {
            budget.charge(needle.len().min(s.len()))?;
            s.starts_with(&needle)
        }
        _ => {
            budget.charge(needle.len().min(s.len()))?;
            s.ends_with(&needle)
        }
    }))
}

/// `replace old new s`: Go's `strings.ReplaceAll(s, old, new)`; an empty `old` matches
/// before and after every UTF-8 sequence.
fn replace(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [old, new, s] = exact::<3>(name, args)?;
    let (old, new, s) = (
        string_arg(name, &old)?,
        string_arg(name, &new)?,
        string_arg(name, &s)?,
    );
    budget.charge(s.len().saturating_add(old.len()))?;
    let mut out = Sink::for_string(budget);
    if old.is_empty() {
        out.extend(&new)?;
        for rune in runes(&s) {
            out.extend(rune)?;
            out.extend(&new)?;
        }
    } else {
        let mut last = 0;
        for at in memmem::find_iter(&s, old.as_slice()) {
            out.extend(&s[last..at])?;
            out.extend(&new)?;
            last = at + old.len();
        }
        out.extend(&s[last..])?;
    }
    finish(out, budget)
}

/// A count for `repeat` and `indent`: Go's `strings.Repeat` refuses a negative one.
fn count(name: &str, v: &Value, budget: &mut Budget) -> Result<usize, Failure> {
    let n = int_arg(name, v, budget)?;
    usize::try_from(n).map_err(|_| invalid(format!("{name}: negative count")))
}

/// `repeat n s`: the size `n × len(s)` is checked before anything is allocated.
fn repeat(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [n, s] = exact::<2>(name, args)?;
    let n = count(name, &n, budget)?;
    let s = string_arg(name, &s)?;
    if s.is_empty() {
        return Ok(Value::str(""));
    }
    let mut out = Sink::for_string(budget);
    out.check_room(n.saturating_mul(s.len()))?;
    for _ in 0..n {
        out.extend(&s)?;
    }
    finish(out, budget)
}

/// `substr start end s`, in bytes, clamped to the string.
fn substr(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [start, end, s] = exact::<3>(name, args)?;
    let start = int_arg(name, &start, budget)?;
    let end = int_arg(name, &end, budget)?;
    let s = string_arg(name, &s)?;
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let (from, to) = if start < 0 {
        (0, end.clamp(0, len))
    } else if end < 0 || end > len {
        (start.min(len), len)
    } else {
        (start.min(end), end)
    };
    let (from, to) = (
        usize::try_from(from).unwrap_or(0),
        usize::try_from(to).unwrap_or(0),
    );
    copy(&s[from..to.max(from)], budget)
}

/// `trunc n s`: the first `n` bytes, or the last `-n`.
fn trunc(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [n, s] = exact::<2>(name, args)?;
    let n = int_arg(name, &n, budget)?;
    let s = string_arg(name, &s)?;
    let len = s.len();
    let keep = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    copy(
        if n >= 0 {
            &s[..keep.min(len)]
        } else {
            &s[len.saturating_sub(keep)..]
        },
        budget,
    )
}

/// `quote a b…` (Go's `%q` of each) and `squote a b…` (each in single quotes), nil arguments
/// dropped, joined by spaces.
fn quote(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let mut out = Sink::for_string(budget);
    for (i, v) in args.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
        if i > 0 {
            out.push(b' ')?;
        }
        if name == "quote" {
            let s = match v {
                Value::Str(s) => std::sync::Arc::clone(s),
                other => std::sync::Arc::new(printed(other, budget)?),
            };
            go_quote(&mut out, &s, b'"', false)?;
        } else {
            out.push(b'\'')?;
            v.print(&mut out)?;
            out.push(b'\'')?;
        }
    }
    finish(out, budget)
}

/// `cat a b…`: the arguments printed, nil dropped, joined by spaces.
fn cat(_: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let mut out = Sink::for_string(budget);
    for (i, v) in args.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
        if i > 0 {
            out.push(b' ')?;
        }
        v.print(&mut out)?;
    }
    finish(out, budget)
}

/// `indent n s` and `nindent n s`: `n` spaces before every line (after a newline for
/// `nindent`); the result's size is checked before it is built.
fn indent(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    let [n, s] = exact::<2>(name, args)?;
    let n = count(name, &n, budget)?;
    let s = string_arg(name, &s)?;
    budget.charge(s.len())?;
    let lines = memchr::memchr_iter(b'\n', &s).count() + 1;
    let size = lines
        .checked_mul(n)
        .and_then(|pad| pad.checked_add(s.len()))
        .and_then(|size| size.checked_add(usize::from(name == "nindent")))
        .unwrap_or(usize::MAX);
    let mut out = Sink::for_string(budget);
    out.check_room(size)?;
    if name == "nindent" {
        out.push(b'\n')?;
    }
    for (i, line) in s.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n')?;
        }
        out.fill(b' ', n)?;
        out.extend(line)?;
    }
    finish(out, budget)
}

#[cfg(test)]
mod tests {
    use super::super::super::tests::{failure, reason, run, s, text};
    use super::*;
    use crate::template::{Limit, Limits};

    #[test]
    fn sprig_string_functions_match_sprig() {
        assert_eq!(text(run("upper", vec![s("abc")])), "ABC");
        assert_eq!(text(run("upper", vec![s("straße")])), "STRAßE");
        assert_eq!(text(run("trim", vec![s("  a b \n")])), "a b");
        assert_eq!(text(run("trimAll", vec![s("$"), s("$$5$")])), "5");
        assert_eq!(text(run("trimPrefix", vec![s("a-"), s("a-b")])), "b");
        assert!(run("contains", vec![s("b-"), s("a-b-c")]).unwrap().truthy());
        assert_eq!(
            text(run("replace", vec![s("-"), s("_"), s("a-b-c")])),
            "a_b_c"
        );
        assert_eq!(text(run("replace", vec![s(""), s("."), s("ab")])), ".a.b.");
        assert_eq!(
            text(run("quote", vec![s("a"), Value::Int(1)])),
            "\"a\" \"1\""
        );
        assert_eq!(text(run("squote", vec![s("a")])), "'a'");
        assert_eq!(
            text(run("indent", vec![Value::Int(2), s("a\nb")])),
            "  a\n  b"
        );
        assert_eq!(text(run("nindent", vec![Value::Int(1), s("a")])), "\n a");
        assert_eq!(
            text(run("title", vec![s("hello wide world")])),
            "Hello Wide World"
        );
        assert_eq!(
            text(run(
                "substr",
                vec![Value::Int(1), Value::Int(3), s("abcdef")]
            )),
            "bc"
        );
        assert_eq!(text(run("trunc", vec![Value::Int(-2), s("abcdef")])), "ef");
        assert_eq!(
            text(run("trunc", vec![Value::Int(i64::MIN), s("abc")])),
            "abc"
        );
        assert_eq!(text(run("cat", vec![s("a"), Value::Nil, s("b")])), "a b");
        assert_eq!(text(run("repeat", vec![Value::Int(3), s("ab")])), "ababab");
        assert_eq!(text(run("toString", vec![Value::Int(3)])), "3");
    }

    #[test]
    fn growing_functions_stop_at_the_output_budget_before_allocating() {
        let big = s(&"x".repeat(1100));
        for (name, args) in [
            ("repeat", vec![Value::Int(i64::MAX), s("ab")]),
            ("repeat", vec![Value::Int(1 << 11), big.clone()]),
            ("indent", vec![Value::Int(1 << 21), s("a")]),
            (
                "nindent",
                vec![Value::Int(1 << 11), s(&"\n".repeat(1 << 10))],
            ),
            ("replace", vec![s("x"), big.clone(), big.clone()]),
            ("replace", vec![s(""), big.clone(), big.clone()]),
            ("quote", vec![s(&"\u{1}".repeat(300_000))]),
            ("upper", vec![s(&"ɐ".repeat(400_000))]),
        ] {
            assert_eq!(
                failure(run(name, args)),
                Failure::Limit(Limit::Output(1 << 20)),
                "{name}"
            );
        }
    }

    #[test]
    fn negative_counts_are_refused_without_the_count() {
        assert_eq!(
            reason(run("repeat", vec![Value::Int(-5), s("x")])),
            "repeat: negative count"
        );
        assert_eq!(
            reason(run("indent", vec![Value::Int(-5), s("x")])),
            "indent: negative count"
        );
    }

    #[test]
    fn reading_many_times_runs_out_of_work_budget() {
        let mut budget = Budget::new(Limits {
            work: 10_000,
            ..Limits::default()
        });
        let long = s(&"a".repeat(4_000));
        let mut calls = 0;
        let err = loop {
            match super::super::super::call("contains", vec![s("b"), long.clone()], &mut budget) {
                Ok(_) => calls += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(calls, 2);
        assert_eq!(err, Failure::Limit(Limit::Work(10_000)));
    }
}
