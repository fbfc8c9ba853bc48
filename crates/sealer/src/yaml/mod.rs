//! Streams of Kubernetes objects in YAML or JSON: the only place that splits and joins them,
//! and the reader of YAML configuration files ([`from_str`]).
//!
//! Input may be a multi-document YAML stream, one JSON object, a stream of JSON objects, or a
//! `kind: List` (YAML or JSON) whose `items` are the objects. Documents keep their order and
//! their index (0-based) so errors can say which one failed.
//!
//! [`spanned`] reads the same streams keeping each scalar's place in the text, for edits that
//! change values and no other byte.
//!
//! YAML is read as kubectl reads it ([`compose`]): merge keys resolved, duplicate keys refused,
//! `!!binary` decoded, custom tags refused by name, aliases and nesting within
//! [`crate::budget`]. JSON refuses duplicate keys too. A `!!binary` value under a Secret's
//! `stringData` is moved to its `data` (as base64), so it is sealed as the bytes it stands for.

mod compose;
mod de;
mod json;
pub mod spanned;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use compose::ComposeError;
pub use de::DeError;

/// Error reading or writing a stream of objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A document is not valid YAML, or breaks a rule of the reader (duplicate key, custom
    /// tag, budget).
    #[error("document {index}: not valid YAML")]
    Yaml {
        /// 0-based document index.
        index: usize,
        /// What is wrong, with its line.
        #[source]
        source: ComposeError,
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
    /// Writing the output failed.
    #[error("cannot write the output")]
    Write(#[source] std::io::Error),
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

    /// The format a file name promises: `.yaml`/`.yml` or `.json`.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Some(Self::Yaml),
            Some("json") => Some(Self::Json),
            _ => None,
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

    /// [`Document::parse`] that moves the values instead of copying them (a large Secret is
    /// not held twice).
    pub fn into_parsed<T: DeserializeOwned>(self, expected: &'static str) -> Result<T, Error> {
        let name = self.name().map(str::to_owned);
        T::deserialize(self.value).map_err(|source| Error::Shape {
            index: self.index,
            name,
            expected,
            source,
        })
    }
}

/// A single YAML document could not be read as the type wanted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Not valid YAML, or against a rule of the reader.
    #[error(transparent)]
    Yaml(ComposeError),
    /// Valid YAML of the wrong shape.
    #[error(transparent)]
    Shape(DeError),
}

/// Reads the first document of a YAML configuration file (an empty file is `null`) as a `T`,
/// with merge keys resolved, duplicate keys refused and the budgets applied. Fields that want
/// a string accept any scalar, as go-yaml does.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ReadError> {
    let node = compose::compose_stream(text)
        .map_err(ReadError::Yaml)?
        .into_iter()
        .next()
        .flatten()
        .unwrap_or_else(compose::Node::null);
    T::deserialize(node).map_err(ReadError::Shape)
}

/// Splits a YAML or JSON stream into objects; empty YAML documents are skipped and `List`s
/// are expanded into their items. The format is detected from the text.
pub fn parse_stream(text: &str) -> Result<(StreamFormat, Vec<Document>), Error> {
    parse_stream_hinted(text, None)
}

/// [`parse_stream`] for a file whose name says `hint`: text that looks like JSON in a `.yaml`
/// file is read as JSON, and when that fails, as YAML, so the error is the YAML reader's.
pub fn parse_stream_hinted(
    text: &str,
    hint: Option<StreamFormat>,
) -> Result<(StreamFormat, Vec<Document>), Error> {
    let format = StreamFormat::detect(text);
    let raw = match (format, hint) {
        (StreamFormat::Json, Some(StreamFormat::Yaml)) => match json_values(text) {
            Ok(raw) => raw,
            Err(_) => return Ok((StreamFormat::Yaml, expand(yaml_values(text)?))),
        },
        (StreamFormat::Json, _) => json_values(text)?,
        (StreamFormat::Yaml, _) => yaml_values(text)?,
    };
    Ok((format, expand(raw)))
}

fn json_values(text: &str) -> Result<Vec<Value>, Error> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<json::StrictValue>()
        .enumerate()
        .map(|(index, value)| {
            value
                .map(|v| v.0)
                .map_err(|source| Error::Json { index, source })
        })
        .collect()
}

fn yaml_values(text: &str) -> Result<Vec<Value>, Error> {
    let docs = compose::compose_stream(text).map_err(|source| Error::Yaml {
        index: document_at(text, source.line),
        source,
    })?;
    Ok(docs
        .into_iter()
        .flatten()
        .map(|mut node| {
            node.move_binary_string_data();
            node.into_json()
        })
        .collect())
}

/// The 0-based index of the YAML document that holds 1-based `line` (counting `---` lines).
fn document_at(text: &str, line: usize) -> usize {
    let starts = text
        .lines()
        .take(line.saturating_sub(1))
        .filter(|l| l.starts_with("---"))
        .count();
    let first_is_marked = text.trim_start().starts_with("---");
    if first_is_marked {
        starts.saturating_sub(1)
    } else {
        starts
    }
}

fn expand(raw: Vec<Value>) -> Vec<Document> {
    let mut documents = Vec::new();
    for value in raw {
        match value {
            Value::Object(mut map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                let items = match map.remove("items") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                };
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
    documents
}

/// [`write_stream`] into `out` as it goes, without building the whole text first (a large
/// object is not held twice). I/O errors are reported as [`Error::Write`].
pub fn write_stream_to<T: Serialize, W: std::io::Write>(
    out: &mut W,
    objects: &[T],
    format: StreamFormat,
) -> Result<(), Error> {
    for object in objects {
        match format {
            StreamFormat::Yaml => {
                out.write_all(b"---\n").map_err(Error::Write)?;
                let mut tracked = IoTracking {
                    inner: &mut *out,
                    error: None,
                };
                if let Err(e) = serde_yaml_ng::to_writer(&mut tracked, object) {
                    return Err(match tracked.error {
                        Some(io) => Error::Write(io),
                        None => Error::SerializeYaml(e),
                    });
                }
            }
            StreamFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, object).map_err(|e| {
                    if e.is_io() {
                        Error::Write(e.into())
                    } else {
                        Error::Serialize(e)
                    }
                })?;
                out.write_all(b"\n").map_err(Error::Write)?;
            }
        }
    }
    out.flush().map_err(Error::Write)
}

/// A writer that keeps the I/O error it saw (the YAML serializer reports it as its own).
struct IoTracking<'a, W> {
    inner: &'a mut W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> std::io::Write for IoTracking<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| {
            self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
        })
    }
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
    fn duplicate_keys_are_refused_in_yaml_and_json_like_kubectl() {
        // issue 14: the last `name` silently won.
        let err = parse_stream("kind: Secret\nmetadata:\n  name: a\n  name: b\n").unwrap_err();
        assert_eq!(err.to_string(), "document 0: not valid YAML");
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "line 4: mapping key \"name\" already defined"
        );
        let err = parse_stream("a: 1\n---\nb: 1\nb: 2\n").unwrap_err();
        assert_eq!(err.to_string(), "document 1: not valid YAML");
        let err = parse_stream(r#"{"kind":"Secret","kind":"Secret"}"#).unwrap_err();
        assert_eq!(err.to_string(), "document 0: not valid JSON");
    }

    #[test]
    fn merge_keys_resolve_in_secrets_as_kubectl_resolves_them() {
        let (_, docs) = parse_stream(
            "kind: Secret\nmetadata: &m\n  name: a\n  labels: {x: y}\nstringData:\n  <<: {a: '1', b: '2'}\n  b: '3'\n",
        )
        .unwrap();
        assert_eq!(
            docs[0].value["stringData"],
            serde_json::json!({"a": "1", "b": "3"})
        );
    }

    #[test]
    fn binary_string_data_moves_to_data_so_its_bytes_are_sealed() {
        // issue 14: `!!binary` values were sealed as their base64 text.
        let (_, docs) = parse_stream(
            "kind: Secret\ndata: ~\nstringData:\n  bin: !!binary AP8=\n  text: plain\n---\nkind: ConfigMap\nstringData: {b: !!binary AP8=}\n",
        )
        .unwrap();
        assert_eq!(docs[0].value["data"], serde_json::json!({"bin": "AP8="}));
        assert_eq!(
            docs[0].value["stringData"],
            serde_json::json!({"text": "plain"})
        );
        assert_eq!(
            docs[1].value["stringData"],
            serde_json::json!({"b": "AP8="})
        );
    }

    #[test]
    fn a_yaml_file_that_starts_like_json_gets_the_yaml_error() {
        // issue 14: `[[[…` in a `.yaml` file said "not valid JSON: recursion limit exceeded".
        let text = "[".repeat(5000);
        let err = parse_stream_hinted(&text, Some(StreamFormat::Yaml)).unwrap_err();
        assert_eq!(err.to_string(), "document 0: not valid YAML");
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "line 1: nesting deeper than 128 levels"
        );
        let (format, docs) =
            parse_stream_hinted(r#"{"kind":"Secret"}"#, Some(StreamFormat::Yaml)).unwrap();
        assert_eq!(
            (format, docs[0].kind()),
            (StreamFormat::Json, Some("Secret"))
        );
    }

    #[test]
    fn custom_tags_are_refused_by_name() {
        let err = parse_stream("kind: Secret\nstringData:\n  a: !vault x\n").unwrap_err();
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "line 3: custom YAML tag `!vault` is not supported (sealkit reads plain YAML values)"
        );
    }

    #[test]
    fn config_files_read_with_merge_keys_and_lenient_strings() {
        #[derive(serde::Deserialize)]
        struct Config {
            groups: Vec<std::collections::BTreeMap<String, Vec<String>>>,
        }
        let config: Config =
            from_str("hosts: &h {age: [a1]}\ngroups:\n  - <<: *h\n  - {age: [1]}\n").unwrap();
        assert_eq!(config.groups[0]["age"], ["a1"]);
        assert_eq!(config.groups[1]["age"], ["1"]);
        let empty: Option<Config> = from_str("").unwrap();
        assert!(empty.is_none());
        let err = from_str::<Config>("groups: 1\n").err().unwrap();
        assert_eq!(
            err.to_string(),
            "line 1: groups: invalid type: integer `1`, expected a list"
        );
    }

    #[test]
    fn streamed_output_is_the_text_write_stream_builds() {
        let objects = [serde_json::json!({"a": 1}), serde_json::json!({"b": [2]})];
        for format in [StreamFormat::Yaml, StreamFormat::Json] {
            let mut out = Vec::new();
            write_stream_to(&mut out, &objects, format).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                write_stream(&objects, format).unwrap()
            );
        }
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
