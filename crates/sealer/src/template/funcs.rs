//! The functions a template may call: Go's `text/template` builtins and the Sprig functions
//! SealedSecret and ExternalSecret templates use.
//!
//! Deliberately absent (as in Bitnami's and ESO's function maps, and more): anything that reads
//! the environment, files, the clock or the network (`env`, `expandenv`, `getHostByName`, …).
//! An unknown name is an error, never an empty string. Error messages never carry a value.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use sha2::Digest as _;
use zeroize::Zeroizing;

use super::value::{Value, go_float_g};
use crate::encoding;

/// Largest count `repeat` and `indent` accept (a template cannot allocate without bound).
const MAX_REPEAT: i64 = 1 << 20;

type Outcome = Result<Value, String>;

/// Calls function `name` with evaluated `args` (a pipeline's previous value comes last).
pub(crate) fn call(name: &str, args: Vec<Value>) -> Outcome {
    match name {
        // Go builtins.
        "and" => {
            min_args(name, &args, 1)?;
            let pos = args
                .iter()
                .position(|v| !v.truthy())
                .unwrap_or(args.len() - 1);
            Ok(args.into_iter().nth(pos).unwrap_or(Value::Nil))
        }
        "or" => {
            min_args(name, &args, 1)?;
            let pos = args
                .iter()
                .position(Value::truthy)
                .unwrap_or(args.len() - 1);
            Ok(args.into_iter().nth(pos).unwrap_or(Value::Nil))
        }
        "not" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Value::Bool(!v.truthy()))
        }
        "eq" => {
            min_args(name, &args, 2)?;
            let mut found = false;
            for other in &args[1..] {
                found |= compare(name, &args[0], other)? == Ordering::Equal;
            }
            Ok(Value::Bool(found))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            let [a, b] = exact::<2>(name, args)?;
            let ord = compare(name, &a, &b)?;
            Ok(Value::Bool(match name {
                "ne" => ord != Ordering::Equal,
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        "len" => {
            let [v] = exact::<1>(name, args)?;
            let n = match &v {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => return Err(format!("len of type {}", other.kind())),
            };
            Ok(Value::Int(n as i64))
        }
        "index" => {
            min_args(name, &args, 1)?;
            let mut args = args.into_iter();
            let mut item = args.next().unwrap_or(Value::Nil);
            for key in args {
                item = index(item, &key)?;
            }
            Ok(item)
        }
        "print" => Ok(Value::str(sprint(&args))),
        "println" => {
            let mut out = Zeroizing::new(Vec::new());
            for (i, v) in args.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                v.write_to(&mut out);
            }
            out.push(b'\n');
            Ok(Value::Str(out))
        }
        "printf" => {
            min_args(name, &args, 1)?;
            let format = string_arg(name, &args[0])?;
            Ok(Value::Str(printf(&format, &args[1..])))
        }
        // Sprig: defaults and logic.
        "default" => match args.len() {
            1 => Ok(args.into_iter().next().unwrap_or(Value::Nil)),
            2 => {
                let [default, given] = exact::<2>(name, args)?;
                Ok(if given.truthy() { given } else { default })
            }
            n => Err(format!(
                "wrong number of args for default: want 1 or 2 got {n}"
            )),
        },
        "empty" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Value::Bool(!v.truthy()))
        }
        "coalesce" => Ok(args.into_iter().find(Value::truthy).unwrap_or(Value::Nil)),
        "ternary" => {
            let [yes, no, cond] = exact::<3>(name, args)?;
            Ok(if cond.truthy() { yes } else { no })
        }
        "fail" => {
            // The message could carry a secret value: report that the template failed, not why.
            Err("the template called fail".into())
        }
        // Sprig: strings.
        "toString" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Value::Str(v.to_bytes()))
        }
        "upper" | "lower" | "title" | "trim" => {
            let [v] = exact::<1>(name, args)?;
            let s = string_arg(name, &v)?;
            Ok(Value::str(match name {
                "upper" => map_text(&s, str::to_uppercase, <[u8]>::to_ascii_uppercase),
                "lower" => map_text(&s, str::to_lowercase, <[u8]>::to_ascii_lowercase),
                "title" => map_text(&s, title_case, |b| b.to_vec()),
                _ => map_text(&s, |t| t.trim().to_owned(), |b| b.trim_ascii().to_vec()),
            }))
        }
        "trimAll" | "trimPrefix" | "trimSuffix" | "contains" | "hasPrefix" | "hasSuffix" => {
            let [a, s] = exact::<2>(name, args)?;
            let (a, s) = (string_arg(name, &a)?, string_arg(name, &s)?);
            Ok(match name {
                "trimAll" => Value::str(trim_all(&s, &a)),
                "trimPrefix" => Value::str(s.strip_prefix(a.as_slice()).unwrap_or(&s)),
                "trimSuffix" => Value::str(s.strip_suffix(a.as_slice()).unwrap_or(&s)),
                "contains" => {
                    Value::Bool(a.is_empty() || s.windows(a.len()).any(|w| w == a.as_slice()))
                }
                "hasPrefix" => Value::Bool(s.starts_with(&a)),
                _ => Value::Bool(s.ends_with(&a)),
            })
        }
        "replace" => {
            let [old, new, s] = exact::<3>(name, args)?;
            let (old, new, s) = (
                string_arg(name, &old)?,
                string_arg(name, &new)?,
                string_arg(name, &s)?,
            );
            Ok(Value::str(replace_all(&s, &old, &new)))
        }
        "repeat" => {
            let [count, s] = exact::<2>(name, args)?;
            let count = bounded_count(name, &count)?;
            let s = string_arg(name, &s)?;
            Ok(Value::str(s.repeat(count)))
        }
        "substr" => {
            let [start, end, s] = exact::<3>(name, args)?;
            let (start, end, s) = (
                int_arg(name, &start)?,
                int_arg(name, &end)?,
                string_arg(name, &s)?,
            );
            let len = s.len() as i64;
            let (from, to) = if start < 0 {
                (0, end.clamp(0, len))
            } else if end < 0 || end > len {
                (start.min(len), len)
            } else {
                (start.min(end), end)
            };
            Ok(Value::str(&s[from as usize..to as usize]))
        }
        "trunc" => {
            let [n, s] = exact::<2>(name, args)?;
            let (n, s) = (int_arg(name, &n)?, string_arg(name, &s)?);
            let len = s.len() as i64;
            Ok(Value::str(if n >= 0 {
                &s[..n.min(len) as usize]
            } else {
                &s[(len + n).max(0) as usize..]
            }))
        }
        "quote" | "squote" => {
            let mut out = Zeroizing::new(Vec::new());
            for (i, v) in args.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                let s = v.to_bytes();
                if name == "quote" {
                    out.extend_from_slice(go_quote(&s).as_bytes());
                } else {
                    out.push(b'\'');
                    out.extend_from_slice(&s);
                    out.push(b'\'');
                }
            }
            Ok(Value::Str(out))
        }
        "cat" => {
            let kept: Vec<Value> = args
                .into_iter()
                .filter(|v| !matches!(v, Value::Nil))
                .collect();
            let mut out = Zeroizing::new(Vec::new());
            for (i, v) in kept.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                v.write_to(&mut out);
            }
            Ok(Value::Str(out))
        }
        "indent" | "nindent" => {
            let [n, s] = exact::<2>(name, args)?;
            let pad = b" ".repeat(bounded_count(name, &n)?);
            let s = string_arg(name, &s)?;
            let mut out = Zeroizing::new(Vec::new());
            if name == "nindent" {
                out.push(b'\n');
            }
            out.extend_from_slice(&pad);
            for &b in s.iter() {
                out.push(b);
                if b == b'\n' {
                    out.extend_from_slice(&pad);
                }
            }
            Ok(Value::Str(out))
        }
        "split" | "splitList" => {
            let [sep, s] = exact::<2>(name, args)?;
            let (sep, s) = (string_arg(name, &sep)?, string_arg(name, &s)?);
            let parts = split(&s, &sep);
            Ok(if name == "split" {
                Value::Map(
                    parts
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                        .collect(),
                )
            } else {
                Value::List(parts.into_iter().map(Value::str).collect())
            })
        }
        "join" => {
            let [sep, list] = exact::<2>(name, args)?;
            let sep = string_arg(name, &sep)?;
            let items = match list {
                Value::List(items) => items,
                Value::Nil => Vec::new(),
                other => vec![other],
            };
            let mut out = Zeroizing::new(Vec::new());
            for (i, v) in items
                .iter()
                .filter(|v| !matches!(v, Value::Nil))
                .enumerate()
            {
                if i > 0 {
                    out.extend_from_slice(&sep);
                }
                v.write_to(&mut out);
            }
            Ok(Value::Str(out))
        }
        // Sprig: lists and dicts.
        "list" => Ok(Value::List(args)),
        "dict" => {
            let mut map = BTreeMap::new();
            let mut it = args.into_iter();
            while let Some(k) = it.next() {
                let key = String::from_utf8_lossy(&k.to_bytes()).into_owned();
                map.insert(key, it.next().unwrap_or_else(|| Value::str("")));
            }
            Ok(Value::Map(map))
        }
        "get" | "hasKey" => {
            let [map, key] = exact::<2>(name, args)?;
            let Value::Map(map) = map else {
                return Err(format!(
                    "{name}: first argument is a {}, not a map",
                    map.kind()
                ));
            };
            let key = string_arg(name, &key)?;
            let found = map.get(String::from_utf8_lossy(&key).as_ref());
            Ok(if name == "get" {
                found.cloned().unwrap_or_else(|| Value::str(""))
            } else {
                Value::Bool(found.is_some())
            })
        }
        "keys" => {
            let mut keys = Vec::new();
            for v in args {
                match v {
                    Value::Map(m) => keys.extend(m.into_keys().map(Value::str)),
                    other => {
                        return Err(format!("keys: argument is a {}, not a map", other.kind()));
                    }
                }
            }
            Ok(Value::List(keys))
        }
        "sortAlpha" => {
            let [list] = exact::<1>(name, args)?;
            let mut items: Vec<Zeroizing<Vec<u8>>> = match list {
                Value::List(items) => items.iter().map(Value::to_bytes).collect(),
                other => vec![other.to_bytes()],
            };
            items.sort_by(|a, b| a.as_slice().cmp(b.as_slice()));
            Ok(Value::List(items.into_iter().map(Value::Str).collect()))
        }
        // Sprig: encodings and digests.
        "b64enc" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Value::str(encoding::encode_std(&string_arg(name, &v)?)))
        }
        "b64dec" => {
            let [v] = exact::<1>(name, args)?;
            let s = string_arg(name, &v)?;
            let text = std::str::from_utf8(&s)
                .map_err(|_| "b64dec: input is not valid base64".to_owned())?;
            encoding::decode_std(text)
                .map(Value::str)
                .map_err(|_| "b64dec: input is not valid base64".to_owned())
        }
        "sha256sum" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Value::str(hex::encode(sha2::Sha256::digest(
                string_arg(name, &v)?.as_slice(),
            ))))
        }
        "toJson" | "toRawJson" | "toPrettyJson" => {
            let [v] = exact::<1>(name, args)?;
            let json = v.to_json();
            let text = if name == "toPrettyJson" {
                serde_json::to_string_pretty(&json)
            } else {
                serde_json::to_string(&json)
            }
            .map_err(|_| format!("{name}: value cannot be encoded"))?;
            let text = Zeroizing::new(text);
            Ok(Value::str(if name == "toRawJson" {
                text.to_string()
            } else {
                html_escape_json(&text)
            }))
        }
        "fromJson" => {
            let [v] = exact::<1>(name, args)?;
            let s = string_arg(name, &v)?;
            serde_json::from_slice::<serde_json::Value>(&s)
                .map(Value::from_json)
                .map_err(|e| {
                    format!(
                        "fromJson: input is not valid JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    )
                })
        }
        "toYaml" => {
            let [v] = exact::<1>(name, args)?;
            let text = serde_yaml_ng::to_string(&v.to_json())
                .map_err(|_| "toYaml: value cannot be encoded".to_owned())?;
            let text = Zeroizing::new(text);
            Ok(Value::str(text.strip_suffix('\n').unwrap_or(&text)))
        }
        "fromYaml" => {
            let [v] = exact::<1>(name, args)?;
            let s = string_arg(name, &v)?;
            serde_yaml_ng::from_slice::<serde_json::Value>(&s)
                .map(Value::from_json)
                .map_err(|_| "fromYaml: input is not valid YAML".to_owned())
        }
        // Sprig: numbers.
        "atoi" => {
            let [v] = exact::<1>(name, args)?;
            let s = string_arg(name, &v)?;
            std::str::from_utf8(&s)
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .map(Value::Int)
                .ok_or_else(|| "atoi: input is not an integer".to_owned())
        }
        "int" | "int64" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Value::Int(int_arg(name, &v)?))
        }
        "float64" => {
            let [v] = exact::<1>(name, args)?;
            Ok(Value::Float(match v {
                Value::Int(n) => n as f64,
                Value::Float(f) => f,
                Value::Str(s) => std::str::from_utf8(&s)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .ok_or_else(|| "float64: input is not a number".to_owned())?,
                other => return Err(format!("float64: cannot convert a {}", other.kind())),
            }))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn min_args(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() < n {
        return Err(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn exact<const N: usize>(name: &str, args: Vec<Value>) -> Result<[Value; N], String> {
    let got = args.len();
    args.try_into()
        .map_err(|_| format!("wrong number of args for {name}: want {N} got {got}"))
}

/// A string argument; numbers and booleans are accepted in their printed form.
fn string_arg(name: &str, v: &Value) -> Result<Zeroizing<Vec<u8>>, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(v.to_bytes()),
        Value::Nil | Value::Missing => Ok(Zeroizing::new(Vec::new())),
        other => Err(format!("{name}: expected a string, got a {}", other.kind())),
    }
}

fn int_arg(name: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Float(f) => Ok(*f as i64),
        Value::Str(s) => std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| format!("{name}: expected an integer")),
        Value::Bool(b) => Ok(i64::from(*b)),
        other => Err(format!(
            "{name}: expected an integer, got a {}",
            other.kind()
        )),
    }
}

fn bounded_count(name: &str, v: &Value) -> Result<usize, String> {
    let n = int_arg(name, v)?;
    if !(0..=MAX_REPEAT).contains(&n) {
        return Err(format!("{name}: count {n} out of range 0..={MAX_REPEAT}"));
    }
    Ok(n as usize)
}

/// `index` one step: lists and strings by integer, maps by key (a missing key gives the map's
/// zero value, as Go's `index` does: `""` for a map of strings).
fn index(item: Value, key: &Value) -> Outcome {
    match item {
        Value::List(items) => {
            let i = int_arg("index", key)?;
            let len = items.len();
            usize::try_from(i)
                .ok()
                .and_then(|i| items.into_iter().nth(i))
                .ok_or_else(|| format!("index out of range: {i} (length {len})"))
        }
        Value::Str(s) => {
            let i = int_arg("index", key)?;
            usize::try_from(i)
                .ok()
                .and_then(|i| s.get(i).copied())
                .map(|b| Value::Int(i64::from(b)))
                .ok_or_else(|| format!("index out of range: {i} (length {})", s.len()))
        }
        Value::Map(mut map) => {
            let key = string_arg("index", key)?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let strings_only = map.values().all(|v| matches!(v, Value::Str(_)));
            Ok(map.remove(&key).unwrap_or_else(|| {
                if strings_only {
                    Value::str("")
                } else {
                    Value::Nil
                }
            }))
        }
        Value::Nil | Value::Missing => Err("index of untyped nil".into()),
        other => Err(format!("can't index item of type {}", other.kind())),
    }
}

/// Go's comparison rules, loosened to compare any two numbers.
fn compare(name: &str, a: &Value, b: &Value) -> Result<Ordering, String> {
    let incompatible = || {
        format!(
            "{name}: incompatible types for comparison ({} and {})",
            a.kind(),
            b.kind()
        )
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (x, y) = (as_f64(a), as_f64(b));
            x.partial_cmp(&y).ok_or_else(incompatible)
        }
        (Value::Str(x), Value::Str(y)) => Ok(x.as_slice().cmp(y.as_slice())),
        (Value::Bool(x), Value::Bool(y)) if name == "eq" || name == "ne" => Ok(x.cmp(y)),
        (Value::Nil | Value::Missing, Value::Nil | Value::Missing)
            if name == "eq" || name == "ne" =>
        {
            Ok(Ordering::Equal)
        }
        (Value::Nil | Value::Missing, _) | (_, Value::Nil | Value::Missing)
            if name == "eq" || name == "ne" =>
        {
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

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(b' ');
        }
        v.write_to(&mut out);
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %q %x %X %f %t %c %%`, with flags
/// `-`, `0`, `+`, width and precision.
fn printf(format: &[u8], args: &[Value]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    let mut next = 0;
    let mut i = 0;
    while i < format.len() {
        let c = format[i];
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let (mut minus, mut zero, mut plus) = (false, false, false);
        while let Some(&f) = format.get(i) {
            match f {
                b'-' => minus = true,
                b'0' => zero = true,
                b'+' => plus = true,
                b' ' | b'#' => {}
                _ => break,
            }
            i += 1;
        }
        let digits = |i: &mut usize| {
            let start = *i;
            while format.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            std::str::from_utf8(&format[start..*i])
                .ok()
                .and_then(|d| d.parse::<usize>().ok())
        };
        let width = digits(&mut i);
        let precision = if format.get(i) == Some(&b'.') {
            i += 1;
            Some(digits(&mut i).unwrap_or(0))
        } else {
            None
        };
        let Some(&verb) = format.get(i) else {
            out.extend_from_slice(b"%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == b'%' {
            out.push(b'%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.extend_from_slice(format!("%!{}(MISSING)", verb as char).as_bytes());
            continue;
        };
        next += 1;
        let mut piece = Zeroizing::new(Vec::new());
        let numeric = matches!(arg, Value::Int(_) | Value::Float(_));
        match (verb, arg) {
            (b'v' | b's', Value::Str(s)) => {
                let end = precision.map_or(s.len(), |p| p.min(s.len()));
                piece.extend_from_slice(&s[..end]);
            }
            (b'v', v) => v.write_to(&mut piece),
            (b's', v @ (Value::List(_) | Value::Map(_) | Value::Nil)) => v.write_to(&mut piece),
            (b'd', Value::Int(n)) => {
                if plus && *n >= 0 {
                    piece.push(b'+');
                }
                piece.extend_from_slice(n.to_string().as_bytes());
            }
            (b'f' | b'F', Value::Float(_) | Value::Int(_)) => {
                let f = as_f64(arg);
                let p = precision.unwrap_or(6);
                if plus && f >= 0.0 {
                    piece.push(b'+');
                }
                piece.extend_from_slice(format!("{f:.p$}").as_bytes());
            }
            (b'g', Value::Float(_) | Value::Int(_)) => {
                piece.extend_from_slice(go_float_g(as_f64(arg)).as_bytes())
            }
            (b'q', Value::Str(s)) => piece.extend_from_slice(go_quote(s).as_bytes()),
            (b'x' | b'X', Value::Str(s)) => {
                let h = hex::encode(s.as_slice());
                piece.extend_from_slice(if verb == b'X' { h.to_uppercase() } else { h }.as_bytes());
            }
            (b'x' | b'X', Value::Int(n)) => {
                let h = if verb == b'X' {
                    format!("{n:X}")
                } else {
                    format!("{n:x}")
                };
                piece.extend_from_slice(h.as_bytes());
            }
            (b't', Value::Bool(b)) => piece.extend_from_slice(if *b { b"true" } else { b"false" }),
            (b'c', Value::Int(n)) => {
                let ch = u32::try_from(*n)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                piece.extend_from_slice(ch.to_string().as_bytes());
            }
            (verb, arg) => {
                piece.extend_from_slice(format!("%!{}({}=", verb as char, arg.kind()).as_bytes());
                arg.write_to(&mut piece);
                piece.push(b')');
            }
        }
        let len = std::str::from_utf8(&piece).map_or(piece.len(), |s| s.chars().count());
        let pad = width.unwrap_or(0).saturating_sub(len);
        if minus {
            out.extend_from_slice(&piece);
            out.extend(std::iter::repeat_n(b' ', pad));
        } else if zero && numeric && !piece.is_empty() {
            let (sign, rest) = match piece[0] {
                b'-' | b'+' => (&piece[..1], &piece[1..]),
                _ => (&piece[..0], &piece[..]),
            };
            out.extend_from_slice(sign);
            out.extend(std::iter::repeat_n(b'0', pad));
            out.extend_from_slice(rest);
        } else {
            out.extend(std::iter::repeat_n(b' ', pad));
            out.extend_from_slice(&piece);
        }
    }
    if next < args.len() {
        out.extend_from_slice(b"%!(EXTRA ");
        for (j, v) in args[next..].iter().enumerate() {
            if j > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(v.kind().as_bytes());
            out.push(b'=');
            v.write_to(&mut out);
        }
        out.push(b')');
    }
    out
}

/// Go's `strconv.Quote`.
fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if c == ' ' || !(c.is_control() || c.is_whitespace()) => out.push(c),
                c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 (Sprig's `toJson` inherits it).
/// Those characters only occur inside strings of JSON text, so replacing them everywhere is exact.
fn html_escape_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Applies `text` to valid UTF-8 and `bytes` otherwise.
fn map_text(s: &[u8], text: impl Fn(&str) -> String, bytes: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    match std::str::from_utf8(s) {
        Ok(t) => text(t).into_bytes(),
        Err(_) => bytes(s),
    }
}

/// Go's (deprecated) `strings.Title`: upper-case the first letter of each word.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    for c in s.chars() {
        if at_word_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Go's `strings.Trim(s, cutset)`.
fn trim_all(s: &[u8], cutset: &[u8]) -> Vec<u8> {
    match (std::str::from_utf8(s), std::str::from_utf8(cutset)) {
        (Ok(s), Ok(cut)) => s.trim_matches(|c| cut.contains(c)).as_bytes().to_vec(),
        _ => {
            let start = s
                .iter()
                .position(|b| !cutset.contains(b))
                .unwrap_or(s.len());
            let end = s
                .iter()
                .rposition(|b| !cutset.contains(b))
                .map_or(start, |e| e + 1);
            s[start..end.max(start)].to_vec()
        }
    }
}

/// Go's `strings.ReplaceAll` (an empty `old` inserts `new` around every character).
fn replace_all(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    if old.is_empty() {
        let text = String::from_utf8_lossy(s);
        out.extend_from_slice(new);
        for c in text.chars() {
            out.extend_from_slice(c.to_string().as_bytes());
            out.extend_from_slice(new);
        }
        return out;
    }
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(old) {
            out.extend_from_slice(new);
            i += old.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Go's `strings.Split` (an empty separator splits into characters).
fn split(s: &[u8], sep: &[u8]) -> Vec<Vec<u8>> {
    if sep.is_empty() {
        return String::from_utf8_lossy(s)
            .chars()
            .map(|c| c.to_string().into_bytes())
            .collect();
    }
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= s.len() {
        if &s[i..i + sep.len()] == sep {
            parts.push(s[start..i].to_vec());
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(s[start..].to_vec());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::str(v)
    }

    fn text(v: Outcome) -> String {
        String::from_utf8(v.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn printf_formats_like_go() {
        let out = printf(
            b"%s:%d|%5s|%-4d|%05d|%q|%.2f|%v|%x|%%|%d",
            &[
                s("a"),
                Value::Int(7),
                s("ab"),
                Value::Int(3),
                Value::Int(-42),
                s("q\"\n"),
                Value::Float(1.005),
                Value::List(vec![Value::Int(1)]),
                s("hi"),
            ],
        );
        assert_eq!(
            String::from_utf8(out.to_vec()).unwrap(),
            "a:7|   ab|3   |-0042|\"q\\\"\\n\"|1.00|[1]|6869|%|%!d(MISSING)"
        );
        assert_eq!(&*printf(b"%d", &[s("x")]), b"%!d(string=x)");
        assert_eq!(&*printf(b"x", &[Value::Int(1)]), b"x%!(EXTRA int=1)");
    }

    #[test]
    fn sprig_string_functions_match_sprig() {
        assert_eq!(text(call("upper", vec![s("abc")])), "ABC");
        assert_eq!(text(call("trim", vec![s("  a b \n")])), "a b");
        assert_eq!(text(call("trimAll", vec![s("$"), s("$$5$")])), "5");
        assert_eq!(
            text(call("replace", vec![s("-"), s("_"), s("a-b-c")])),
            "a_b_c"
        );
        assert_eq!(
            text(call("quote", vec![s("a"), Value::Int(1)])),
            "\"a\" \"1\""
        );
        assert_eq!(text(call("squote", vec![s("a")])), "'a'");
        assert_eq!(
            text(call("indent", vec![Value::Int(2), s("a\nb")])),
            "  a\n  b"
        );
        assert_eq!(text(call("nindent", vec![Value::Int(1), s("a")])), "\n a");
        assert_eq!(
            text(call("title", vec![s("hello wide world")])),
            "Hello Wide World"
        );
        assert_eq!(
            text(call(
                "substr",
                vec![Value::Int(1), Value::Int(3), s("abcdef")]
            )),
            "bc"
        );
        assert_eq!(text(call("trunc", vec![Value::Int(-2), s("abcdef")])), "ef");
        assert_eq!(
            text(call(
                "join",
                vec![s(","), Value::List(vec![s("a"), Value::Int(2)])]
            )),
            "a,2"
        );
        assert_eq!(text(call("cat", vec![s("a"), Value::Nil, s("b")])), "a b");
        assert_eq!(text(call("default", vec![s("x"), s("")])), "x");
        assert_eq!(text(call("default", vec![s("x"), s("y")])), "y");
    }

    #[test]
    fn encodings_round_trip_and_reject_garbage() {
        assert_eq!(text(call("b64enc", vec![s("hunter2")])), "aHVudGVyMg==");
        assert_eq!(text(call("b64dec", vec![s("aHVudGVyMg==")])), "hunter2");
        let err = call("b64dec", vec![s("not base64!")]).unwrap_err();
        assert_eq!(err, "b64dec: input is not valid base64");
        assert_eq!(
            text(call("sha256sum", vec![s("abc")])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn json_and_yaml_follow_go() {
        let parsed = call("fromJson", vec![s(r#"{"b":[1,2.5],"a":"<x>"}"#)]).unwrap();
        assert_eq!(
            text(call("toJson", vec![parsed.clone()])),
            r#"{"a":"\u003cx\u003e","b":[1,2.5]}"#
        );
        assert_eq!(
            text(call("toRawJson", vec![parsed.clone()])),
            r#"{"a":"<x>","b":[1,2.5]}"#
        );
        assert_eq!(text(call("toYaml", vec![parsed])), "a: <x>\nb:\n- 1\n- 2.5");
        let yaml = call("fromYaml", vec![s("k: v\nn: 3")]).unwrap();
        assert_eq!(text(call("index", vec![yaml, s("n")])), "3");
        assert!(call("fromJson", vec![s("{")]).is_err());
    }

    #[test]
    fn comparisons_and_logic_follow_go() {
        assert!(call("eq", vec![s("a"), s("b"), s("a")]).unwrap().truthy());
        assert!(
            call("lt", vec![Value::Int(1), Value::Float(1.5)])
                .unwrap()
                .truthy()
        );
        assert!(call("lt", vec![s("a"), Value::Int(1)]).is_err());
        assert_eq!(text(call("and", vec![Value::Int(1), s(""), s("x")])), "");
        assert_eq!(text(call("or", vec![s(""), s("x")])), "x");
    }

    #[test]
    fn functions_that_reach_outside_the_template_do_not_exist() {
        for name in ["env", "expandenv", "getHostByName", "now", "readFile"] {
            assert_eq!(
                call(name, vec![s("HOME")]).unwrap_err(),
                format!("function {name:?} not defined")
            );
        }
    }

    #[test]
    fn index_reports_out_of_range_without_values() {
        let list = Value::List(vec![s("secret")]);
        assert_eq!(
            call("index", vec![list, Value::Int(3)]).unwrap_err(),
            "index out of range: 3 (length 1)"
        );
        let map = Value::Map(BTreeMap::from([("a".to_owned(), s("1"))]));
        assert_eq!(text(call("index", vec![map, s("missing")])), "");
    }
}
