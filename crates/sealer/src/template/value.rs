//! Values a template works on, printed the way Go's `fmt` prints them with `%v`.
//!
//! Strings hold bytes (a Go string may hold any bytes, e.g. after `b64dec`) and are wiped when
//! dropped: template inputs are secret values. Strings, lists and maps are shared, as Go shares
//! them, so passing a value around costs nothing; a list or map knows its nesting depth and
//! its weight (a lower bound of its printed size), so no walk over a value is ever deeper than
//! [`super::Limits::depth`] or longer than the output it would print.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap as _, SerializeSeq as _};
use zeroize::Zeroizing;

use super::budget::Limit;
use super::sink::Sink;

/// A template value.
#[derive(Clone)]
pub(crate) enum Value {
    /// Go's `nil` (also the result of a missing map key with `missingkey=default`).
    Nil,
    /// A missing map key printed as `<no value>` (Go's invalid `reflect.Value`).
    Missing,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<Zeroizing<Vec<u8>>>),
    List(Arc<List>),
    /// Go maps iterate and print in sorted key order, as a `BTreeMap` does.
    Map(Arc<Map>),
}

/// Values print redacted: they may be secret.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}([REDACTED])", self.kind())
    }
}

/// The items of a list, with their nesting depth and weight.
pub(crate) struct List {
    pub items: Vec<Value>,
    depth: usize,
    weight: usize,
}

/// The entries of a map, with their nesting depth and weight.
pub(crate) struct Map {
    pub entries: BTreeMap<String, Value>,
    /// Every value is a string: a missing key then gives `""`, as from Go's
    /// `map[string]string`, and `nil` otherwise.
    pub strings_only: bool,
    depth: usize,
    weight: usize,
}

impl List {
    /// A list of `items`; one level deeper than its deepest item.
    pub(crate) fn new(items: Vec<Value>) -> Self {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        let weight = items
            .iter()
            .fold(1usize, |w, item| w.saturating_add(item.weight()));
        Self {
            items,
            depth,
            weight,
        }
    }
}

impl Map {
    /// A map of `entries`; one level deeper than its deepest value.
    pub(crate) fn new(entries: BTreeMap<String, Value>) -> Self {
        let depth = 1 + entries.values().map(Value::depth).max().unwrap_or(0);
        let weight = entries.iter().fold(1usize, |w, (k, v)| {
            w.saturating_add(k.len()).saturating_add(v.weight())
        });
        let strings_only = entries.values().all(|v| matches!(v, Value::Str(_)));
        Self {
            entries,
            strings_only,
            depth,
            weight,
        }
    }
}

impl Value {
    /// A string value.
    pub(crate) fn str(bytes: impl Into<Vec<u8>>) -> Self {
        Self::Str(Arc::new(Zeroizing::new(bytes.into())))
    }

    /// A string value from bytes already wiped on drop.
    pub(crate) fn bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self::Str(Arc::new(bytes))
    }

    /// A list value. Callers check the depth budget first.
    pub(crate) fn list(items: Vec<Self>) -> Self {
        Self::List(Arc::new(List::new(items)))
    }

    /// A map value. Callers check the depth budget first.
    pub(crate) fn map(entries: BTreeMap<String, Self>) -> Self {
        Self::Map(Arc::new(Map::new(entries)))
    }

    /// Go's notion of truth: false, 0, nil, and empty strings, lists and maps are false.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Self::Nil | Self::Missing => false,
            Self::Bool(b) => *b,
            Self::Int(n) => *n != 0,
            Self::Float(f) => *f != 0.0,
            Self::Str(s) => !s.is_empty(),
            Self::List(l) => !l.items.is_empty(),
            Self::Map(m) => !m.entries.is_empty(),
        }
    }

    /// Go's kind name, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Nil | Self::Missing => "nil",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float64",
            Self::Str(_) => "string",
            Self::List(_) => "slice",
            Self::Map(_) => "map",
        }
    }

    /// Levels of lists and maps: 0 for a scalar.
    pub(crate) fn depth(&self) -> usize {
        match self {
            Self::List(l) => l.depth,
            Self::Map(m) => m.depth,
            _ => 0,
        }
    }

    /// A lower bound of the size of any printed form (`%v`, JSON, YAML), and an upper bound of
    /// the nodes a walk over the value visits: each node counts at least 1, a string its
    /// length, a map entry its key too. Saturates.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Self::Str(s) => s.len().max(1),
            Self::List(l) => l.weight,
            Self::Map(m) => m.weight,
            _ => 1,
        }
    }

    /// `%v` formatting, appended to `out`.
    pub(crate) fn print(&self, out: &mut Sink) -> Result<(), Limit> {
        // Fail before walking a value whose printed form cannot fit (a list holding itself
        // twice per level is small in memory but exponential in print).
        out.check_room(self.weight().saturating_sub(1))?;
        self.print_unchecked(out)
    }

    fn print_unchecked(&self, out: &mut Sink) -> Result<(), Limit> {
        match self {
            Self::Nil => out.extend(b"<nil>"),
            Self::Missing => out.extend(b"<no value>"),
            Self::Bool(b) => out.extend(if *b { b"true" } else { b"false" }),
            Self::Int(n) => out.extend(n.to_string().as_bytes()),
            Self::Float(f) => out.extend(go_float_g(*f).as_bytes()),
            Self::Str(s) => out.extend(s),
            Self::List(l) => {
                out.push(b'[')?;
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ')?;
                    }
                    item.print_unchecked(out)?;
                }
                out.push(b']')
            }
            Self::Map(m) => {
                out.extend(b"map[")?;
                for (i, (k, v)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ')?;
                    }
                    out.extend(k.as_bytes())?;
                    out.push(b':')?;
                    v.print_unchecked(out)?;
                }
                out.push(b']')
            }
        }
    }

    /// Whole floats below 2^53 print without a fraction in Go's JSON (`8080`, not `8080.0`).
    fn json_int(f: f64) -> Option<i64> {
        (f.fract() == 0.0 && f.abs() < 9e15).then_some(f as i64)
    }
}

/// As Go's `encoding/json` encodes the value (invalid UTF-8 becomes U+FFFD, NaN and infinities
/// `null`); `toYaml` goes through the same shape, as Sprig's does through JSON.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Nil | Self::Missing => s.serialize_unit(),
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Int(n) => s.serialize_i64(*n),
            Self::Float(f) if !f.is_finite() => s.serialize_unit(),
            Self::Float(f) => match Self::json_int(*f) {
                Some(n) => s.serialize_i64(n),
                None => s.serialize_f64(*f),
            },
            Self::Str(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => s.serialize_str(text),
                Err(_) => {
                    let text = Zeroizing::new(String::from_utf8_lossy(bytes).into_owned());
                    s.serialize_str(&text)
                }
            },
            Self::List(l) => {
                let mut seq = s.serialize_seq(Some(l.items.len()))?;
                for item in &l.items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Map(m) => {
                let mut map = s.serialize_map(Some(m.entries.len()))?;
                for (k, v) in &m.entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, which `%v` uses: the shortest digits that round
/// trip, in exponent form when the exponent is below -4 or at least 6 (`1e+06`, the output Helm
/// users know).
pub(crate) fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `d.ddde±x`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(v: &Value) -> String {
        let mut out = Sink::new(1 << 20, Limit::Output(1 << 20));
        v.print(&mut out).unwrap();
        String::from_utf8(out.into_bytes().to_vec()).unwrap()
    }

    #[test]
    fn floats_print_like_go_percent_v() {
        assert_eq!(go_float_g(8080.0), "8080");
        assert_eq!(go_float_g(1.5), "1.5");
        assert_eq!(go_float_g(123456.0), "123456");
        assert_eq!(go_float_g(1e6), "1e+06");
        assert_eq!(go_float_g(123456789.0), "1.23456789e+08");
        assert_eq!(go_float_g(-2.5e-7), "-2.5e-07");
        assert_eq!(go_float_g(0.00001), "1e-05");
        assert_eq!(go_float_g(0.0001), "0.0001");
    }

    #[test]
    fn collections_print_like_go() {
        let v = Value::map(BTreeMap::from([
            (
                "b".to_owned(),
                Value::list(vec![Value::Int(1), Value::str("x")]),
            ),
            ("a".to_owned(), Value::Bool(true)),
        ]));
        assert_eq!(printed(&v), "map[a:true b:[1 x]]");
    }

    #[test]
    fn truth_follows_go() {
        assert!(!Value::str("").truthy());
        assert!(Value::str("0").truthy());
        assert!(!Value::Int(0).truthy());
        assert!(!Value::list(vec![]).truthy());
        assert!(!Value::Nil.truthy());
    }

    #[test]
    fn weight_bounds_the_printed_size_from_below() {
        let values = [
            Value::list(vec![Value::str(""), Value::str("")]),
            Value::map(BTreeMap::from([("k".to_owned(), Value::str(""))])),
            Value::list(vec![Value::Nil, Value::list(vec![]), Value::Int(7)]),
        ];
        for v in values {
            assert!(v.weight() <= printed(&v).len(), "{}", printed(&v));
        }
    }

    #[test]
    fn a_value_shared_at_every_level_is_refused_before_printing() {
        let mut v = Value::str("x");
        for _ in 0..40 {
            v = Value::list(vec![v.clone(), v]);
        }
        assert_eq!(v.depth(), 40);
        let mut out = Sink::new(1 << 20, Limit::Output(1 << 20));
        assert_eq!(v.print(&mut out), Err(Limit::Output(1 << 20)));
        assert_eq!(out.len(), 0);
    }

    #[test]
    fn debug_never_shows_a_value() {
        assert_eq!(format!("{:?}", Value::str("hunter2")), "string([REDACTED])");
    }
}
