//! [`Node`] → typed values (serde), and → JSON values.
//!
//! Typing is as lenient as go-yaml's decoding into Go structs, which configuration files such
//! as `.sops.yaml` are written against: a field that wants a string takes any scalar's text
//! (`context: {version: 1}`), and `null` is an empty string, list or mapping. Errors name the
//! line and the path of the field (`creation_rules[0].age`).

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::compose::{Node, NodeKind, Resolved};

/// A node did not have the shape a type wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    line: Option<usize>,
    path: Vec<String>,
    message: String,
}

impl DeError {
    /// The 1-based line of the value, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    fn within(mut self, segment: String, line: usize) -> Self {
        self.path.push(segment);
        self.line.get_or_insert(line);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        let mut first = true;
        for segment in self.path.iter().rev() {
            if !first && !segment.starts_with('[') {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
            first = false;
        }
        if !self.path.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            line: None,
            path: Vec::new(),
            message: msg.to_string(),
        }
    }
}

impl Node {
    /// Converts into a JSON value, moving every string (no copy). `!!binary` becomes its
    /// standard base64; non-finite floats become `null`, as in `serde_json`.
    pub(crate) fn into_json(self) -> serde_json::Value {
        use serde_json::Value;
        match self.kind {
            NodeKind::Scalar(text, resolved) => match resolved {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Int(i) => Value::from(i),
                Resolved::UInt(u) => Value::from(u),
                Resolved::Float(f) => {
                    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
                }
                Resolved::Str => Value::String(text),
                Resolved::Binary(bytes) => Value::String(crate::encoding::encode_std(&bytes)),
            },
            NodeKind::Seq(items) => Value::Array(items.into_iter().map(Node::into_json).collect()),
            NodeKind::Map(items) => {
                Value::Object(items.into_iter().map(|(k, v)| (k, v.into_json())).collect())
            }
        }
    }

    fn scalar_text(text: String, resolved: Resolved) -> String {
        match resolved {
            Resolved::Null => String::new(),
            Resolved::Binary(bytes) => crate::encoding::encode_std(&bytes),
            _ => text,
        }
    }

    fn unexpected(&self) -> de::Unexpected<'_> {
        match &self.kind {
            NodeKind::Scalar(text, resolved) => match resolved {
                Resolved::Null => de::Unexpected::Unit,
                Resolved::Bool(b) => de::Unexpected::Bool(*b),
                Resolved::Int(i) => de::Unexpected::Signed(*i),
                Resolved::UInt(u) => de::Unexpected::Unsigned(*u),
                Resolved::Float(f) => de::Unexpected::Float(*f),
                Resolved::Str => de::Unexpected::Str(text),
                Resolved::Binary(b) => de::Unexpected::Bytes(b),
            },
            NodeKind::Seq(_) => de::Unexpected::Seq,
            NodeKind::Map(_) => de::Unexpected::Map,
        }
    }

    fn invalid(&self, expected: &dyn de::Expected) -> DeError {
        let mut e: DeError = de::Error::invalid_type(self.unexpected(), expected);
        e.line = Some(self.line);
        e
    }
}

struct Seq {
    items: std::vec::IntoIter<Node>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let (index, line) = (self.index, node.line);
        self.index += 1;
        seed.deserialize(node)
            .map(Some)
            .map_err(|e| e.within(format!("[{index}]"), line))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map {
    items: std::vec::IntoIter<(String, Node)>,
    value: Option<(String, Node)>,
}

impl<'de> de::MapAccess<'de> for Map {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, node)) = self.items.next() else {
            return Ok(None);
        };
        let k = seed.deserialize(key.as_str().into_deserializer())?;
        self.value = Some((key, node));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value without a key"))?;
        let line = node.line;
        seed.deserialize(node).map_err(|e| e.within(key, line))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

impl<'de> IntoDeserializer<'de, DeError> for Node {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Scalar(text, resolved) => match resolved {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::UInt(u) => visitor.visit_u64(u),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str => visitor.visit_string(text),
                Resolved::Binary(b) => visitor.visit_string(crate::encoding::encode_std(&b)),
            },
            NodeKind::Seq(items) => visitor.visit_seq(Seq {
                items: items.into_iter(),
                index: 0,
            }),
            NodeKind::Map(items) => visitor.visit_map(Map {
                items: items.into_iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Scalar(_, Resolved::Null) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Scalar(text, resolved) => {
                visitor.visit_string(Node::scalar_text(text, resolved))
            }
            _ => Err(self.invalid(&"a string")),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Scalar(_, Resolved::Null) => visitor.visit_seq(Seq {
                items: Vec::new().into_iter(),
                index: 0,
            }),
            NodeKind::Seq(_) => self.deserialize_any(visitor),
            _ => Err(self.invalid(&"a list")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Scalar(_, Resolved::Null) => visitor.visit_map(Map {
                items: Vec::new().into_iter(),
                value: None,
            }),
            NodeKind::Map(_) => self.deserialize_any(visitor),
            _ => Err(self.invalid(&"a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Scalar(text, Resolved::Str) => {
                visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(text))
            }
            _ => Err(self.invalid(&"a string")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct identifier
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::yaml::compose::compose_stream;

    fn node(text: &str) -> Node {
        compose_stream(text).unwrap().remove(0).unwrap()
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Rule {
        name: String,
        #[serde(default)]
        keys: Vec<String>,
        #[serde(default)]
        context: BTreeMap<String, Option<String>>,
        threshold: Option<usize>,
    }

    #[test]
    fn strings_take_any_scalar_text_like_go_yaml() {
        let rule = Rule::deserialize(node(
            "name: 0x10\nkeys:\ncontext: {v: 1, w: ~}\nthreshold: 2\n",
        ))
        .unwrap();
        assert_eq!(
            rule,
            Rule {
                name: "0x10".into(),
                keys: Vec::new(),
                context: BTreeMap::from([("v".into(), Some("1".into())), ("w".into(), None)]),
                threshold: Some(2),
            }
        );
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let err =
            Vec::<Rule>::deserialize(node("- name: a\n- name: b\n  keys: {x: 1}\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: [1].keys: invalid type: map, expected a list"
        );
        let err = Vec::<Rule>::deserialize(node("- name: a\n  threshold: x\n")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("line 2: [0].threshold: invalid type: string \"x\""),
            "{err}"
        );
    }

    #[test]
    fn json_conversion_moves_strings_and_encodes_binary() {
        let json = node("a: !!binary aGVsbG8=\nb: [1, 2.5, x, null, true]\n").into_json();
        assert_eq!(
            json,
            serde_json::json!({"a": "aGVsbG8=", "b": [1, 2.5, "x", null, true]})
        );
    }
}
