//! The functions a template may call: Go's `text/template` builtins ([`builtins`], with
//! `printf` in [`printf`]) and the Sprig functions SealedSecret and ExternalSecret templates use
//! ([`sprig`]).
//!
//! Deliberately absent (as in Bitnami's and ESO's function maps, and more): anything that reads
//! the environment, files, the clock or the network (`env`, `expandenv`, `getHostByName`, …).
//! An unknown name is an error, never an empty string.
//!
//! Every function pays for what it reads and builds from the [`Budget`], and checks before it
//! allocates: a string no larger than [`super::Limits::output`], a list or map no deeper than
//! [`super::Limits::depth`]. Error messages name the function, never a value, its length or a
//! position in it.

mod builtins;
mod printf;
mod sprig;

use std::sync::Arc;

use zeroize::Zeroizing;

use super::budget::{Budget, Limit};
use super::sink::Sink;
use super::value::Value;

/// Why a function failed.
#[derive(Debug, PartialEq)]
pub(crate) enum Failure {
    /// The arguments do not suit the function; the message names the function, never a value.
    Invalid(String),
    /// A budget ran out.
    Limit(Limit),
}

impl From<Limit> for Failure {
    fn from(limit: Limit) -> Self {
        Self::Limit(limit)
    }
}

/// A function's result.
pub(crate) type Outcome = Result<Value, Failure>;

/// A function: its name (several share one body), its evaluated arguments (a pipeline's
/// previous value comes last) and the budget to pay from.
type Func = fn(&str, Vec<Value>, &mut Budget) -> Outcome;

/// Calls function `name`.
pub(crate) fn call(name: &str, args: Vec<Value>, budget: &mut Budget) -> Outcome {
    match builtins::lookup(name).or_else(|| sprig::lookup(name)) {
        Some(func) => func(name, args, budget),
        None => Err(invalid(format!("function {name:?} not defined"))),
    }
}

fn invalid(reason: impl Into<String>) -> Failure {
    Failure::Invalid(reason.into())
}

fn min_args(name: &str, args: &[Value], n: usize) -> Result<(), Failure> {
    if args.len() < n {
        return Err(invalid(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn exact<const N: usize>(name: &str, args: Vec<Value>) -> Result<[Value; N], Failure> {
    let got = args.len();
    args.try_into().map_err(|_| {
        invalid(format!(
            "wrong number of args for {name}: want {N} got {got}"
        ))
    })
}

/// A string argument; numbers and booleans are accepted in their printed form, nil as "".
fn string_arg(name: &str, v: &Value) -> Result<Arc<Zeroizing<Vec<u8>>>, Failure> {
    match v {
        Value::Str(s) => Ok(Arc::clone(s)),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            let mut out = Sink::new(64, Limit::Output(64));
            v.print(&mut out)?;
            Ok(Arc::new(out.into_bytes()))
        }
        Value::Nil | Value::Missing => Ok(Arc::default()),
        other => Err(invalid(format!(
            "{name}: expected a string, got a {}",
            other.kind()
        ))),
    }
}

/// An integer argument; floats are truncated, strings parsed (after their cost is paid).
fn int_arg(name: &str, v: &Value, budget: &mut Budget) -> Result<i64, Failure> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Float(f) => Ok(*f as i64),
        Value::Str(s) => {
            budget.charge(s.len())?;
            std::str::from_utf8(s)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| invalid(format!("{name}: expected an integer")))
        }
        Value::Bool(b) => Ok(i64::from(*b)),
        other => Err(invalid(format!(
            "{name}: expected an integer, got a {}",
            other.kind()
        ))),
    }
}

/// `v` printed with `%v` into a new string, paid for.
fn printed(v: &Value, budget: &mut Budget) -> Result<Zeroizing<Vec<u8>>, Limit> {
    let mut out = Sink::for_string(budget);
    v.print(&mut out)?;
    budget.charge(out.len())?;
    Ok(out.into_bytes())
}

/// The string a function built in `out`, paid for.
fn finish(out: Sink, budget: &mut Budget) -> Outcome {
    budget.charge(out.len())?;
    Ok(Value::bytes(out.into_bytes()))
}

/// The character at the start of `bytes` and its length in bytes, as Go's
/// `utf8.DecodeRune` reads it: an invalid byte is U+FFFD of length 1. Looks at 4 bytes at most.
fn decode_rune(bytes: &[u8]) -> (char, usize) {
    let width = match bytes.first() {
        None => return ('\u{FFFD}', 0),
        Some(0x00..=0x7F) => 1,
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        Some(_) => return ('\u{FFFD}', 1),
    };
    bytes
        .get(..width)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| t.chars().next())
        .map_or(('\u{FFFD}', 1), |c| (c, width))
}

/// The UTF-8 sequences of `bytes` in order, as Go's `for range` over a string steps through
/// them: each invalid byte on its own.
fn runes(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (_, len) = decode_rune(rest);
        let (head, tail) = rest.split_at(len);
        rest = tail;
        Some(head)
    })
}

/// A list of `items`, paid for and within the depth budget.
fn list(items: Vec<Value>, budget: &mut Budget) -> Outcome {
    budget.charge_slots(items.len())?;
    let deepest = items.iter().map(Value::depth).max().unwrap_or(0);
    budget.check_depth(deepest + 1)?;
    Ok(Value::list(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn s(v: &str) -> Value {
        Value::str(v)
    }

    pub(super) fn run(name: &str, args: Vec<Value>) -> Outcome {
        call(name, args, &mut Budget::default())
    }

    pub(super) fn text(v: Outcome) -> String {
        let v = v.unwrap();
        let mut out = Sink::new(1 << 20, Limit::Output(1 << 20));
        v.print(&mut out).unwrap();
        String::from_utf8(out.into_bytes().to_vec()).unwrap()
    }

    pub(super) fn failure(v: Outcome) -> Failure {
        match v {
            Err(f) => f,
            Ok(v) => panic!("not a failure: {v:?}"),
        }
    }

    pub(super) fn reason(v: Outcome) -> String {
        match v {
            Err(Failure::Invalid(reason)) => reason,
            other => panic!("not an invalid call: {other:?}"),
        }
    }

    #[test]
    fn runes_step_like_go_ranging_over_a_string() {
        let bytes = b"a\xffh\xc3\xa9\xe2\x82";
        let steps: Vec<&[u8]> = runes(bytes).collect();
        assert_eq!(
            steps,
            [&b"a"[..], b"\xff", b"h", "é".as_bytes(), b"\xe2", b"\x82"]
        );
        assert_eq!(decode_rune(b"\xe2\x98\xbax"), ('☺', 3));
        assert_eq!(decode_rune(b"\xc0\x80"), ('\u{FFFD}', 1));
    }

    #[test]
    fn functions_that_reach_outside_the_template_do_not_exist() {
        for name in ["env", "expandenv", "getHostByName", "now", "readFile"] {
            assert_eq!(
                reason(run(name, vec![s("HOME")])),
                format!("function {name:?} not defined")
            );
        }
    }
}
