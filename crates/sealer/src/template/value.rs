//! Values a template works on, printed the way Go's `fmt` prints them with `%v`.
//!
//! Strings hold bytes (a Go string may hold any bytes, e.g. after `b64dec`) and are wiped when
//! dropped: template inputs are secret values.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

/// A template value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// Go's `nil` (also the result of a missing map key with `missingkey=default`).
    Nil,
    /// A missing map key printed as `<no value>` (Go's invalid `reflect.Value`).
    Missing,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Zeroizing<Vec<u8>>),
    List(Vec<Value>),
    /// Go maps iterate and print in sorted key order, as a `BTreeMap` does.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// A string value.
    pub(crate) fn str(bytes: impl Into<Vec<u8>>) -> Self {
        Self::Str(Zeroizing::new(bytes.into()))
    }

    /// Go's notion of truth: false, 0, nil, and empty strings, lists and maps are false.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Self::Nil | Self::Missing => false,
            Self::Bool(b) => *b,
            Self::Int(n) => *n != 0,
            Self::Float(f) => *f != 0.0,
            Self::Str(s) => !s.is_empty(),
            Self::List(l) => !l.is_empty(),
            Self::Map(m) => !m.is_empty(),
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

    /// `%v` formatting, appended to `out`.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Nil => out.extend_from_slice(b"<nil>"),
            Self::Missing => out.extend_from_slice(b"<no value>"),
            Self::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Self::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Self::Float(f) => out.extend_from_slice(go_float_g(*f).as_bytes()),
            Self::Str(s) => out.extend_from_slice(s),
            Self::List(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.write_to(out);
                }
                out.push(b']');
            }
            Self::Map(map) => {
                out.extend_from_slice(b"map[");
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(k.as_bytes());
                    out.push(b':');
                    v.write_to(out);
                }
                out.push(b']');
            }
        }
    }

    /// `%v` formatting as owned bytes.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        self.write_to(&mut out);
        out
    }

    /// From a JSON value as Go's `encoding/json` decodes into `interface{}` (numbers are float64).
    pub(crate) fn from_json(json: serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Self::Nil,
            serde_json::Value::Bool(b) => Self::Bool(b),
            serde_json::Value::Number(n) => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Self::str(s),
            serde_json::Value::Array(a) => Self::List(a.into_iter().map(Self::from_json).collect()),
            serde_json::Value::Object(o) => Self::Map(
                o.into_iter()
                    .map(|(k, v)| (k, Self::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// To JSON, as Go's `encoding/json` encodes it (invalid UTF-8 becomes U+FFFD).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Nil | Self::Missing => serde_json::Value::Null,
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Int(n) => serde_json::Value::from(*n),
            Self::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, |n| {
                    // Whole floats print without a fraction in Go (`8080`, not `8080.0`).
                    if f.fract() == 0.0 && f.abs() < 9e15 {
                        serde_json::Value::from(*f as i64)
                    } else {
                        serde_json::Value::Number(n)
                    }
                })
            }
            Self::Str(s) => serde_json::Value::String(String::from_utf8_lossy(s).into_owned()),
            Self::List(l) => serde_json::Value::Array(l.iter().map(Self::to_json).collect()),
            Self::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
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
        let v = Value::Map(BTreeMap::from([
            (
                "b".to_owned(),
                Value::List(vec![Value::Int(1), Value::str("x")]),
            ),
            ("a".to_owned(), Value::Bool(true)),
        ]));
        assert_eq!(&*v.to_bytes(), b"map[a:true b:[1 x]]");
    }

    #[test]
    fn truth_follows_go() {
        assert!(!Value::str("").truthy());
        assert!(Value::str("0").truthy());
        assert!(!Value::Int(0).truthy());
        assert!(!Value::List(vec![]).truthy());
        assert!(!Value::Nil.truthy());
    }
}
