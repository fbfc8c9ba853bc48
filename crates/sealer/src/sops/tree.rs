//! The SOPS tree: ordered branches of items, lists, typed scalars and comments.
//!
//! Mirrors getsops/sops `sops.go` (`TreeBranch`, `TreeItem`, `Comment`) and the Go types its
//! stores produce: go-yaml v3 decodes scalars into `string`, `int`, `float64`, `bool`,
//! `time.Time` or `nil`; `encoding/json` turns every number into `float64`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use zeroize::Zeroize as _;

use super::error::{Error, Result};

/// A leaf value with the Go type sops gives it.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Scalar {
    /// `null` / `~` / empty: never encrypted, not part of the MAC.
    Null,
    /// A string (`type:str`).
    Str(String),
    /// A string that is not valid UTF-8 (the binary store keeps raw bytes as `type:str`).
    RawStr(Vec<u8>),
    /// A Go `int` (`type:int`).
    Int(i64),
    /// A Go `float64` (`type:float`).
    Float(f64),
    /// A bool (`type:bool`, `True`/`False` inside the ciphertext).
    Bool(bool),
    /// A `time.Time`, kept as Go's `MarshalText` (RFC 3339 with nanoseconds) prints it (`type:time`).
    Time(String),
    /// Raw bytes (`type:bytes`).
    Bytes(Vec<u8>),
}

impl Scalar {
    /// The `type:` name sops gives this value in `ENC[...]` (`None` for null).
    pub fn type_name(&self) -> Option<&'static str> {
        Some(match self {
            Scalar::Null => return None,
            Scalar::Str(_) | Scalar::RawStr(_) => "str",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Bool(_) => "bool",
            Scalar::Time(_) => "time",
            Scalar::Bytes(_) => "bytes",
        })
    }

    /// The string, if this is a UTF-8 string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes sops encrypts and feeds to the MAC (`sops.ToBytes`): strings as is, ints in
    /// decimal, floats in Go's shortest `'f'` form, bools as `True`/`False`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes().into_owned()
    }

    /// [`Scalar::to_bytes`] without a copy when the value holds them already.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Scalar::Null => Cow::Borrowed(b""),
            Scalar::Str(s) | Scalar::Time(s) => Cow::Borrowed(s.as_bytes()),
            Scalar::RawStr(b) | Scalar::Bytes(b) => Cow::Borrowed(b),
            Scalar::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Scalar::Float(f) => Cow::Owned(super::gofmt::format_float_f(*f).into_bytes()),
            Scalar::Bool(true) => Cow::Borrowed(b"True"),
            Scalar::Bool(false) => Cow::Borrowed(b"False"),
        }
    }

    /// [`Scalar::to_bytes`] that moves a string's or byte string's buffer out instead of
    /// copying it (the scalar is left empty).
    pub(crate) fn take_bytes(&mut self) -> Vec<u8> {
        match self {
            Scalar::Str(s) => std::mem::take(s).into_bytes(),
            Scalar::RawStr(b) | Scalar::Bytes(b) => std::mem::take(b),
            other => other.to_bytes(),
        }
    }

    /// Whether sops skips this value when encrypting (empty strings and byte strings).
    pub fn is_empty_for_cipher(&self) -> bool {
        match self {
            Scalar::Str(s) => s.is_empty(),
            Scalar::RawStr(b) | Scalar::Bytes(b) => b.is_empty(),
            _ => false,
        }
    }

    pub(crate) fn zeroize(&mut self) {
        match self {
            Scalar::Str(s) | Scalar::Time(s) => s.zeroize(),
            Scalar::RawStr(b) | Scalar::Bytes(b) => b.zeroize(),
            Scalar::Int(i) => *i = 0,
            Scalar::Float(f) => *f = 0.0,
            Scalar::Bool(b) => *b = false,
            Scalar::Null => {}
        }
    }
}

/// Redacted: shows the type and size, never the value.
impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("Null"),
            Scalar::Str(s) => write!(f, "Str(<{} bytes>)", s.len()),
            Scalar::RawStr(b) => write!(f, "RawStr(<{} bytes>)", b.len()),
            Scalar::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
            Scalar::Int(_) => f.write_str("Int(..)"),
            Scalar::Float(_) => f.write_str("Float(..)"),
            Scalar::Bool(_) => f.write_str("Bool(..)"),
            Scalar::Time(_) => f.write_str("Time(..)"),
        }
    }
}

/// A node of the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An ordered mapping.
    Branch(Branch),
    /// A list; may hold [`Value::Comment`]s between its items.
    List(Vec<Value>),
    /// A leaf.
    Scalar(Scalar),
    /// A comment line (without its `#`), inside a list.
    Comment(String),
}

impl Value {
    /// A string leaf.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Scalar(Scalar::Str(s.into()))
    }

    /// The branch, if this is one.
    pub fn as_branch(&self) -> Option<&Branch> {
        match self {
            Value::Branch(b) => Some(b),
            _ => None,
        }
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// Parses a JSON value the way `sops set` does (objects keep their order, numbers are floats).
    pub fn from_json(text: &str) -> Result<Self> {
        super::stores::json::value_from_json(text)
    }

    /// Levels of nested branches and lists (0 for a scalar or comment).
    pub(crate) fn depth(&self) -> usize {
        match self {
            Value::Branch(b) => 1 + b.items.iter().map(|i| i.value.depth()).max().unwrap_or(0),
            Value::List(l) => 1 + l.iter().map(Value::depth).max().unwrap_or(0),
            Value::Scalar(_) | Value::Comment(_) => 0,
        }
    }

    pub(crate) fn zeroize(&mut self) {
        match self {
            Value::Branch(b) => b.zeroize(),
            Value::List(l) => l.iter_mut().for_each(Value::zeroize),
            Value::Scalar(s) => s.zeroize(),
            Value::Comment(c) => c.zeroize(),
        }
    }
}

/// The key of an [`Item`].
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    /// A string key (the only kind sops can encrypt under).
    Str(String),
    /// A comment line (without its `#`) standing between items of a branch.
    Comment(String),
    /// A non-string scalar key (e.g. `1: x` in YAML); sops refuses to walk it.
    Other(Scalar),
}

impl Key {
    /// The string key, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Key::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One entry of a [`Branch`]: a key and its value, or a comment (with a `Null` value).
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The key (or comment).
    pub key: Key,
    /// The value (`Null` for comments).
    pub value: Value,
}

impl Item {
    /// A `key: value` item.
    pub fn new(key: impl Into<String>, value: Value) -> Self {
        Self {
            key: Key::Str(key.into()),
            value,
        }
    }

    /// A comment item.
    pub fn comment(text: impl Into<String>) -> Self {
        Self {
            key: Key::Comment(text.into()),
            value: Value::Scalar(Scalar::Null),
        }
    }
}

/// An ordered mapping (sops `TreeBranch`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Branch {
    /// The items in document order.
    pub items: Vec<Item>,
}

impl Branch {
    /// The value under string key `key` (first match).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items
            .iter()
            .find(|i| i.key.as_str() == Some(key))
            .map(|i| &i.value)
    }

    /// Mutable access to the value under `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.items
            .iter_mut()
            .find(|i| i.key.as_str() == Some(key))
            .map(|i| &mut i.value)
    }

    /// Appends an item.
    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        self.items.push(Item::new(key, value));
    }

    fn zeroize(&mut self) {
        for item in &mut self.items {
            match &mut item.key {
                Key::Comment(c) => c.zeroize(),
                Key::Str(_) | Key::Other(_) => {}
            }
            item.value.zeroize();
        }
    }
}

/// One step of a [`TreePath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    /// A map key: `["key"]`.
    Key(String),
    /// A list index: `[0]`.
    Index(usize),
}

/// A path into the tree in sops's index syntax: `["a"]["b"][0]` (as taken by `--extract`,
/// `set` and `unset`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreePath(pub Vec<PathStep>);

impl FromStr for TreePath {
    type Err = Error;

    /// Parses like sops's `parseTreePath`: components split at `][`, quoted ones are keys,
    /// the others list indexes.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Path(format!(
                "invalid tree path `{s}` (expected e.g. [\"key\"][0])"
            ))
        };
        let mut steps = Vec::new();
        let t = s.trim();
        if t.is_empty() {
            return Ok(Self(steps));
        }
        if !t.starts_with('[') || !t.ends_with(']') {
            return Err(bad());
        }
        for component in t[1..t.len() - 1].split("][") {
            let first = component.chars().next().ok_or_else(bad)?;
            if first == '"' || first == '\'' {
                if component.len() < 2 || !component.ends_with(first) {
                    return Err(bad());
                }
                steps.push(PathStep::Key(component[1..component.len() - 1].to_owned()));
            } else {
                steps.push(PathStep::Index(component.parse().map_err(|_| bad())?));
            }
        }
        if steps.len() > crate::budget::MAX_DEPTH {
            return Err(Error::Path(format!(
                "tree path has more than {} components",
                crate::budget::MAX_DEPTH
            )));
        }
        Ok(Self(steps))
    }
}

impl fmt::Display for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.0 {
            match step {
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// `Truncate`: the value at `path` inside `branch`.
pub(crate) fn get<'a>(branch: &'a Branch, path: &TreePath) -> Result<&'a Value> {
    let mut steps = path.0.iter();
    let Some(first) = steps.next() else {
        return Err(Error::Path("empty tree path".into()));
    };
    let mut current = step_branch(branch, first)?;
    for step in steps {
        current = match (current, step) {
            (Value::Branch(b), _) => step_branch(b, step)?,
            (Value::List(l), PathStep::Index(i)) => l
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .nth(*i)
                .ok_or_else(|| Error::Path(format!("component [{i}] accesses out of bounds")))?,
            (_, PathStep::Index(i)) => {
                return Err(Error::Path(format!(
                    "component [{i}] is integer, but tree part is not a slice"
                )));
            }
            (_, PathStep::Key(k)) => {
                return Err(Error::Path(format!("component [{k:?}] not found")));
            }
        };
    }
    Ok(current)
}

fn step_branch<'a>(branch: &'a Branch, step: &PathStep) -> Result<&'a Value> {
    match step {
        PathStep::Key(k) => branch
            .get(k)
            .ok_or_else(|| Error::Path(format!("component [{k:?}] not found"))),
        PathStep::Index(i) => Err(Error::Path(format!(
            "component [{i}] is integer, but tree part is not a slice"
        ))),
    }
}

pub(crate) fn value_from_path(path: &[PathStep], leaf: Value) -> Value {
    let inner = if path.len() == 1 {
        leaf
    } else {
        value_from_path(&path[1..], leaf)
    };
    match &path[0] {
        PathStep::Index(_) => Value::List(vec![inner]),
        PathStep::Key(k) => Value::Branch(Branch {
            items: vec![Item::new(k.clone(), inner)],
        }),
    }
}

/// sops `set`: returns whether the tree changed.
pub(crate) fn set(target: &mut Value, path: &[PathStep], value: Value) -> bool {
    match target {
        Value::Branch(b) => {
            if let PathStep::Key(k) = &path[0]
                && let Some(slot) = b.get_mut(k)
            {
                if path.len() == 1 {
                    let changed = *slot != value;
                    *slot = value;
                    return changed;
                }
                return set(slot, &path[1..], value);
            }
            if let Value::Branch(mut nb) = value_from_path(path, value)
                && let Some(item) = nb.items.pop()
            {
                b.items.push(item);
            }
            true
        }
        Value::List(l) => {
            let PathStep::Index(pos) = path[0] else {
                let new = value_from_path(path, value);
                *target = new;
                return true;
            };
            // Comments are not addressable by index.
            let real: Vec<usize> = l
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(i, _)| i)
                .collect();
            match real.get(pos) {
                None => {
                    if path.len() == 1 {
                        l.push(value);
                    } else {
                        l.push(value_from_path(&path[1..], value));
                    }
                    true
                }
                Some(&i) => {
                    if path.len() == 1 {
                        let changed = l[i] != value;
                        l[i] = value;
                        changed
                    } else {
                        set(&mut l[i], &path[1..], value)
                    }
                }
            }
        }
        _ => {
            let new = value_from_path(path, value);
            let changed = *target != new;
            *target = new;
            changed
        }
    }
}

/// sops `unset`.
pub(crate) fn unset(target: &mut Value, path: &[PathStep]) -> Result<()> {
    match target {
        Value::Branch(b) => {
            let key = match &path[0] {
                PathStep::Key(k) => k,
                PathStep::Index(i) => return Err(Error::Path(format!("key not found: {i}"))),
            };
            let Some(pos) = b.items.iter().position(|i| i.key.as_str() == Some(key)) else {
                return Err(Error::Path(format!("key not found: {key}")));
            };
            if path.len() == 1 {
                b.items.remove(pos);
                Ok(())
            } else {
                unset(&mut b.items[pos].value, &path[1..])
            }
        }
        Value::List(l) => {
            let PathStep::Index(pos) = path[0] else {
                return Err(Error::Path("unsupported type: list indexed by key".into()));
            };
            let real: Vec<usize> = l
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(i, _)| i)
                .collect();
            let Some(&i) = real.get(pos) else {
                return Err(Error::Path(format!("index {pos} out of bounds")));
            };
            if path.len() == 1 {
                l.remove(i);
                Ok(())
            } else {
                unset(&mut l[i], &path[1..])
            }
        }
        _ => Err(Error::Path(
            "unsupported type: cannot unset inside a scalar".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_path_parses_keys_and_indexes() {
        let p: TreePath = r#"["a"]['b'][2]"#.parse().unwrap();
        assert_eq!(
            p.0,
            vec![
                PathStep::Key("a".into()),
                PathStep::Key("b".into()),
                PathStep::Index(2)
            ]
        );
        assert!("[x]".parse::<TreePath>().is_err());
        assert!("a".parse::<TreePath>().is_err());
    }

    #[test]
    fn set_adds_missing_keys_and_reports_changes() {
        let mut v = Value::Branch(Branch::default());
        let p: TreePath = r#"["a"]["b"]"#.parse().unwrap();
        assert!(set(&mut v, &p.0, Value::str("x")));
        assert!(!set(&mut v, &p.0, Value::str("x")));
        let Value::Branch(b) = &v else { panic!() };
        assert_eq!(get(b, &p).unwrap(), &Value::str("x"));
        unset(&mut v, &p.0).unwrap();
        assert!(unset(&mut v, &p.0).is_err());
    }
}
