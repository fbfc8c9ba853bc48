//! Streams of Kubernetes objects in YAML or JSON: the only place that splits and joins them.
//!
//! Input may be a multi-document YAML stream, one JSON object, a stream of JSON objects, or a
//! `kind: List` (YAML or JSON) whose `items` are the objects. Documents keep their order and
//! their index (0-based) so errors can say which one failed.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Error reading or writing a stream of objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A document is not valid YAML.
    #[error("document {index}: not valid YAML")]
    Yaml {
        /// 0-based document index.
        index: usize,
        /// Parser error (with line and column).
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A document is not valid JSON.
    #[error("document {index}: not valid JSON")]
    Json {
        /// 0-based document index.
        index: usize,
        /// Parser error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A document has the wrong shape for what was expected.
    #[error("document {index}{}: not a valid {expected}", name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
    Shape {
        /// 0-based document index.
        index: usize,
        /// `metadata.name` when there is one.
        name: Option<String>,
        /// What was expected (`Secret`, `SealedSecret`).
        expected: &'static str,
        /// Which field is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// Serialization failed.
    #[error("cannot serialize output")]
    Serialize(#[source] serde_json::Error),
    /// YAML serialization failed.
    #[error("cannot serialize output as YAML")]
    SerializeYaml(#[source] serde_yaml_ng::Error),
    /// The input is not UTF-8 text.
    #[error("not UTF-8")]
    NotUtf8,
    /// A stream that must hold exactly one object holds none or several.
    #[error("expected exactly one {expected} document, found {found}")]
    NotOneDocument {
        /// The kind expected (`SealedSecret`).
        expected: &'static str,
        /// How many documents the stream holds.
        found: usize,
    },
    /// A document's `kind` is not the one expected.
    #[error("document {index}: expected kind {expected}")]
    WrongKind {
        /// 0-based document index.
        index: usize,
        /// The kind expected.
        expected: &'static str,
    },
}

/// Whether a stream is JSON or YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// YAML (`---`-separated documents).
    Yaml,
    /// JSON (one or more objects).
    Json,
}

impl StreamFormat {
    /// JSON when the first non-blank character opens an object or array, else YAML.
    pub fn detect(text: &str) -> Self {
        match text.trim_start().chars().next() {
            Some('{' | '[') => Self::Json,
            _ => Self::Yaml,
        }
    }
}

/// One object of a stream with its position.
#[derive(Debug, Clone)]
pub struct Document {
    /// 0-based index in the stream (after `List` expansion).
    pub index: usize,
    /// The object.
    pub value: Value,
}

impl Document {
    /// `metadata.name`, if present.
    pub fn name(&self) -> Option<&str> {
        self.value.pointer("/metadata/name").and_then(Value::as_str)
    }

    /// `kind`, if present.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(Value::as_str)
    }

    /// Converts into a typed object, naming the document on failure.
    pub fn parse<T: DeserializeOwned>(&self, expected: &'static str) -> Result<T, Error> {
        T::deserialize(&self.value).map_err(|source| Error::Shape {
            index: self.index,
            name: self.name().map(str::to_owned),
            expected,
            source,
        })
    }
}

/// Splits a YAML or JSON stream into objects; empty YAML documents are skipped and `List`s
/// are expanded into their items.
pub fn parse_stream(text: &str) -> Result<(StreamFormat, Vec<Document>), Error> {
    let format = StreamFormat::detect(text);
    let mut raw = Vec::new();
    match format {
        StreamFormat::Json => {
            for (index, value) in serde_json::Deserializer::from_str(text)
                .into_iter::<Value>()
                .enumerate()
            {
                raw.push(value.map_err(|source| Error::Json { index, source })?);
            }
        }
        StreamFormat::Yaml => {
            for (index, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
                let value = <Value as serde::Deserialize>::deserialize(doc)
                    .map_err(|source| Error::Yaml { index, source })?;
                if !value.is_null() {
                    raw.push(value);
                }
            }
        }
    }
    let mut documents = Vec::new();
    for value in raw {
        match value {
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                let items = map
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for item in items {
                    documents.push(Document {
                        index: documents.len(),
                        value: item,
                    });
                }
            }
            Value::Array(items) => {
                for item in items {
                    documents.push(Document {
                        index: documents.len(),
                        value: item,
                    });
                }
            }
            value => documents.push(Document {
                index: documents.len(),
                value,
            }),
        }
    }
    Ok((format, documents))
}

/// Reads bytes that must hold exactly one object of `kind` (YAML or JSON; a document without
/// `kind` is taken as one): what the controller's `/v1/verify` and `/v1/rotate` receive.
pub fn parse_single<T: DeserializeOwned>(bytes: &[u8], kind: &'static str) -> Result<T, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::NotUtf8)?;
    let (_, docs) = parse_stream(text)?;
    let [doc] = docs.as_slice() else {
        return Err(Error::NotOneDocument {
            expected: kind,
            found: docs.len(),
        });
    };
    if doc.kind().is_some_and(|k| k != kind) {
        return Err(Error::WrongKind {
            index: doc.index,
            expected: kind,
        });
    }
    doc.parse::<T>(kind)
}

/// Writes objects as a stream: YAML documents each introduced by `---`, or JSON objects
/// pretty-printed one after another (kubeseal's shape).
pub fn write_stream<T: Serialize>(objects: &[T], format: StreamFormat) -> Result<String, Error> {
    let mut out = String::new();
    for object in objects {
        match format {
            StreamFormat::Yaml => {
                out.push_str("---\n");
                out.push_str(&serde_yaml_ng::to_string(object).map_err(Error::SerializeYaml)?);
            }
            StreamFormat::Json => {
                out.push_str(&serde_json::to_string_pretty(object).map_err(Error::Serialize)?);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_keeps_order_and_skips_empty_documents() {
        let (format, docs) =
            parse_stream("---\nkind: A\n---\n---\nkind: B\nmetadata: {name: b}\n").unwrap();
        assert_eq!(format, StreamFormat::Yaml);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].kind(), Some("B"));
        assert_eq!(docs[1].name(), Some("b"));
        assert_eq!(docs[1].index, 1);
    }

    #[test]
    fn json_list_is_expanded_into_its_items() {
        let (format, docs) =
            parse_stream(r#"{"kind":"List","items":[{"kind":"A"},{"kind":"B"}]}"#).unwrap();
        assert_eq!(format, StreamFormat::Json);
        assert_eq!(
            docs.iter().map(|d| d.kind().unwrap()).collect::<Vec<_>>(),
            ["A", "B"]
        );
    }

    #[test]
    fn invalid_yaml_names_the_document() {
        let err = parse_stream("kind: A\n---\nkey: [unclosed\n").unwrap_err();
        assert!(
            err.to_string().starts_with("document 1: not valid YAML"),
            "{err}"
        );
    }

    #[test]
    fn a_single_document_must_be_one_object_of_the_kind_asked_for() {
        let one: Value = parse_single(b"kind: A\nx: 1\n", "A").unwrap();
        assert_eq!(one["x"], 1);
        let untyped: Value = parse_single(br#"{"x": 2}"#, "A").unwrap();
        assert_eq!(untyped["x"], 2);
        let two = parse_single::<Value>(b"kind: A\n---\nkind: A\n", "A").unwrap_err();
        assert_eq!(two.to_string(), "expected exactly one A document, found 2");
        let other = parse_single::<Value>(b"kind: B\n", "A").unwrap_err();
        assert_eq!(other.to_string(), "document 0: expected kind A");
        let binary = parse_single::<Value>(b"\xff", "A").unwrap_err();
        assert_eq!(binary.to_string(), "not UTF-8");
    }

    #[test]
    fn yaml_output_introduces_each_document() {
        let text = write_stream(
            &[serde_json::json!({"a": 1}), serde_json::json!({"b": 2})],
            StreamFormat::Yaml,
        )
        .unwrap();
        assert_eq!(text, "---\na: 1\n---\nb: 2\n");
    }
}
