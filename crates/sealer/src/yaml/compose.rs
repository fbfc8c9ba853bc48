//! YAML text → a tree of [`Node`]s, for Kubernetes objects and configuration files.
//!
//! `saphyr-parser` gives the events; this module composes them the way kubectl's YAML reader
//! (go-yaml) does, within the budgets of [`crate::budget`]:
//! - aliases repeat their anchored node, charged to an [`AliasBudget`] before the copy, and
//!   an alias inside its own anchor is refused;
//! - merge keys (`<<: *base`, `<<: [*a, *b]`) are resolved: the mapping's own keys win, then
//!   the merged mappings in the order they are listed (<https://yaml.org/type/merge.html>);
//! - duplicate keys are refused, as kubectl refuses them;
//! - `!!binary` scalars hold their decoded bytes; `!!str`, `!!int`, `!!float`, `!!bool`,
//!   `!!null`, `!!timestamp`, `!!map` and `!!seq` are honoured; any other tag is refused by name;
//! - plain scalars are typed with the YAML 1.2 core schema as `serde_yaml_ng` types them (the
//!   reader sealkit used before): `null`/`~`, `true`/`false`, decimal, `0x`, `0o` and `0b`
//!   integers, floats and `.inf`/`.nan`; anything else is a string.
//!
//! Nesting is limited to [`budget::MAX_DEPTH`] levels, checked before recursing; each recursive
//! function keeps its frame small so the limit fits a 2 MiB stack in unoptimized builds.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};

use crate::budget::{self, AliasBudget};

/// A composed YAML node and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// 1-based line of the node's first event.
    pub line: usize,
    /// What it is.
    pub kind: NodeKind,
}

impl Node {
    /// The node of an empty document.
    pub(crate) fn null() -> Self {
        Self {
            line: 1,
            kind: NodeKind::Scalar(String::new(), Resolved::Null),
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.kind {
            NodeKind::Map(items) => items.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn kind_field(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Map(items) => {
                items
                    .iter()
                    .find(|(k, _)| k == "kind")
                    .and_then(|(_, v)| match &v.kind {
                        NodeKind::Scalar(text, Resolved::Str) => Some(text.as_str()),
                        _ => None,
                    })
            }
            _ => None,
        }
    }

    /// In a Secret (or each Secret of a `List`), moves the `!!binary` values of `stringData`
    /// to `data`: `stringData` holds text, and the bytes belong where Kubernetes keeps bytes
    /// (replacing a `data` item of the same name, as `stringData` wins in Kubernetes).
    pub(crate) fn move_binary_string_data(&mut self) {
        match self.kind_field() {
            Some("List") => {
                if let Some(Node {
                    kind: NodeKind::Seq(items),
                    ..
                }) = self.get_mut("items")
                {
                    for item in items {
                        if item.kind_field() == Some("Secret") {
                            item.move_binary_string_data();
                        }
                    }
                }
            }
            Some("Secret") => {
                let Some(Node {
                    kind: NodeKind::Map(string_data),
                    ..
                }) = self.get_mut("stringData")
                else {
                    return;
                };
                let (binary, text): (Vec<_>, Vec<_>) = std::mem::take(string_data)
                    .into_iter()
                    .partition(|(_, v)| matches!(v.kind, NodeKind::Scalar(_, Resolved::Binary(_))));
                *string_data = text;
                if binary.is_empty() {
                    return;
                }
                let line = binary[0].1.line;
                let NodeKind::Map(items) = &mut self.kind else {
                    return;
                };
                // A missing or empty `data` becomes a mapping.
                items.retain(|(k, v)| {
                    k != "data" || !matches!(v.kind, NodeKind::Scalar(_, Resolved::Null))
                });
                if !items.iter().any(|(k, _)| k == "data") {
                    items.push((
                        "data".to_owned(),
                        Node {
                            line,
                            kind: NodeKind::Map(Vec::new()),
                        },
                    ));
                }
                if let Some(Node {
                    kind: NodeKind::Map(data),
                    ..
                }) = self.get_mut("data")
                {
                    for (key, value) in binary {
                        match data.iter_mut().find(|(k, _)| *k == key) {
                            Some(slot) => slot.1 = value,
                            None => data.push((key, value)),
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The kinds of [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    /// A scalar: its text as written (after escapes) and its type.
    Scalar(String, Resolved),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, merge keys resolved, no duplicates.
    Map(Vec<(String, Node)>),
}

/// The type of a scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    /// `null`, `~`, empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer beyond `i64`.
    UInt(u64),
    /// A float (possibly infinite or NaN).
    Float(f64),
    /// A string (the text).
    Str,
    /// `!!binary`: the decoded bytes.
    Binary(Vec<u8>),
}

/// Why a YAML text could not be composed; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ComposeError {
    /// Where.
    pub line: usize,
    /// What is wrong (never a scalar's value).
    pub message: String,
}

fn fail(line: usize, message: impl Into<String>) -> ComposeError {
    ComposeError {
        line,
        message: message.into(),
    }
}

/// Size of a composed subtree, as an alias of it would copy it.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    nodes: u64,
    bytes: usize,
    /// Levels of collections (0 for a scalar).
    height: usize,
}

impl Stats {
    fn add(&mut self, child: Stats) {
        self.nodes = self.nodes.saturating_add(child.nodes);
        self.bytes = self.bytes.saturating_add(child.bytes);
        self.height = self.height.max(child.height + 1);
    }
}

/// A key of a mapping: a name, or the merge key `<<`.
enum MapKey {
    Name(String),
    Merge,
}

/// A mapping being composed: its items and, per key, where it is and whether it was written
/// in the mapping itself (a merged key may be overridden, a written one may not repeat).
#[derive(Default)]
struct MapBuilder {
    items: Vec<(String, Node)>,
    index: HashMap<String, (usize, bool)>,
}

impl MapBuilder {
    fn explicit(&mut self, key: String, value: Node, line: usize) -> Result<(), ComposeError> {
        match self.index.entry(key) {
            Entry::Occupied(mut e) => {
                let (pos, explicit) = *e.get();
                if explicit {
                    return Err(fail(
                        line,
                        format!("mapping key {:?} already defined", e.key()),
                    ));
                }
                // Written keys win over merged ones, wherever the merge key stands.
                self.items[pos].1 = value;
                e.insert((pos, true));
            }
            Entry::Vacant(e) => {
                let pos = self.items.len();
                self.items.push((e.key().clone(), value));
                e.insert((pos, true));
            }
        }
        Ok(())
    }

    fn merge(&mut self, value: Node) -> Result<(), ComposeError> {
        let line = value.line;
        match value.kind {
            NodeKind::Map(items) => {
                self.merge_items(items);
                Ok(())
            }
            NodeKind::Seq(maps) => {
                // Earlier mappings in the list win over later ones.
                for map in maps {
                    match map.kind {
                        NodeKind::Map(items) => self.merge_items(items),
                        _ => return Err(merge_error(map.line)),
                    }
                }
                Ok(())
            }
            NodeKind::Scalar(..) => Err(merge_error(line)),
        }
    }

    fn merge_items(&mut self, items: Vec<(String, Node)>) {
        for (key, value) in items {
            if let Entry::Vacant(e) = self.index.entry(key) {
                let pos = self.items.len();
                self.items.push((e.key().clone(), value));
                e.insert((pos, false));
            }
        }
    }
}

fn merge_error(line: usize) -> ComposeError {
    fail(
        line,
        "merge keys `<<` take a mapping or a list of mappings (an alias such as `*base`)",
    )
}

struct Anchor {
    node: Node,
    stats: Stats,
}

struct Composer<'s> {
    parser: Parser<'s, StrInput<'s>>,
    anchors: HashMap<usize, Anchor>,
    /// Anchors whose node is still being composed (an alias to one would contain itself).
    open_anchors: Vec<usize>,
    budget: AliasBudget,
}

/// Composes every document of a YAML stream; `None` for an empty document.
pub(crate) fn compose_stream(text: &str) -> Result<Vec<Option<Node>>, ComposeError> {
    let mut c = Composer {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        open_anchors: Vec::new(),
        budget: AliasBudget::new(text.len()),
    };
    let mut docs = Vec::new();
    loop {
        let (event, span) = c.next()?;
        match event {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                let (event, span) = c.next()?;
                let (root, _) = c.node(event, span, 1)?;
                docs.push(match root.kind {
                    NodeKind::Scalar(_, Resolved::Null) => None,
                    _ => Some(root),
                });
                let (end, span) = c.next()?;
                if !matches!(end, Event::DocumentEnd) {
                    return Err(fail(line_of(&span), "expected the end of the document"));
                }
            }
            other => return Err(unexpected(&other, &span)),
        }
    }
    Ok(docs)
}

fn line_of(span: &Span) -> usize {
    span.start.line()
}

#[inline(never)]
fn unexpected(event: &Event<'_>, span: &Span) -> ComposeError {
    let what = match event {
        Event::SequenceEnd | Event::MappingEnd => "end of a collection",
        Event::DocumentEnd => "end of a document",
        _ => "event",
    };
    fail(line_of(span), format!("unexpected YAML {what}"))
}

#[inline(never)]
fn scan_error(e: &ScanError) -> ComposeError {
    // saphyr counts flow levels in a byte: past 255 it stops, deeper than our own limit.
    let message = if e.info() == "recursion limit exceeded" {
        budget::Exceeded::Depth.to_string()
    } else {
        e.info().to_owned()
    };
    fail(e.marker().line(), message)
}

/// The name of a tag as written: `!vault`, `!!set`, `!<tag:example.com,2000:x>`.
fn tag_name(tag: &Tag) -> String {
    match tag.handle.as_str() {
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix),
        "" => format!("!<{}>", tag.suffix),
        handle => format!("{handle}{}", tag.suffix),
    }
}

/// The suffix of a core-schema tag (`!!str` → `str`), `None` for any other tag.
fn core_tag(tag: &Tag) -> Option<&str> {
    (tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:").then_some(tag.suffix.as_str())
}

#[inline(never)]
fn unsupported_tag(tag: &Tag, line: usize) -> ComposeError {
    let name = tag_name(tag);
    if core_tag(tag).is_some() {
        fail(line, format!("YAML tag `{name}` is not supported"))
    } else {
        fail(
            line,
            format!("custom YAML tag `{name}` is not supported (sealkit reads plain YAML values)"),
        )
    }
}

impl<'s> Composer<'s> {
    fn next(&mut self) -> Result<(Event<'s>, Span), ComposeError> {
        match self.parser.next() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err(scan_error(&e)),
            None => Err(fail(0, "unexpected end of YAML")),
        }
    }

    /// Composes the node that starts with `event`, at nesting `level` (a document's root
    /// collection is level 1). Recursive, [`budget::MAX_DEPTH`] levels at most.
    fn node(
        &mut self,
        event: Event<'s>,
        span: Span,
        level: usize,
    ) -> Result<(Node, Stats), ComposeError> {
        let line = line_of(&span);
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                self.scalar_node(value, style, anchor, tag.as_deref(), line)
            }
            Event::Alias(id) => self.alias(id, level, line),
            Event::MappingStart(anchor, tag) => {
                self.open(anchor, tag.as_deref(), "map", level, line)?;
                let composed = self.mapping(level, line)?;
                self.close(anchor, composed)
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(anchor, tag.as_deref(), "seq", level, line)?;
                let composed = self.sequence(level, line)?;
                self.close(anchor, composed)
            }
            other => Err(unexpected(&other, &span)),
        }
    }

    #[inline(never)]
    fn scalar_node(
        &mut self,
        value: Cow<'s, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        line: usize,
    ) -> Result<(Node, Stats), ComposeError> {
        self.budget.node().map_err(|e| fail(line, e.to_string()))?;
        let resolved = resolve_scalar(&value, style, tag, line)?;
        let bytes = match &resolved {
            Resolved::Binary(b) => b.len(),
            _ => value.len(),
        };
        let node = Node {
            line,
            kind: NodeKind::Scalar(crate::sops::owned_text(value), resolved),
        };
        let stats = Stats {
            nodes: 1,
            bytes,
            height: 0,
        };
        if anchor != 0 {
            self.remember(anchor, &node, stats, line)?;
        }
        Ok((node, stats))
    }

    /// An alias: its copy is charged to the budget, and its depth checked, before it is made.
    #[inline(never)]
    fn alias(
        &mut self,
        id: usize,
        level: usize,
        line: usize,
    ) -> Result<(Node, Stats), ComposeError> {
        if self.open_anchors.contains(&id) {
            return Err(fail(line, "an alias refers to the node that contains it"));
        }
        let anchor = self
            .anchors
            .get(&id)
            .ok_or_else(|| fail(line, "unknown alias"))?;
        let stats = anchor.stats;
        budget::check_depth(level - 1 + stats.height)
            .and_then(|()| self.budget.alias(stats.nodes, stats.bytes))
            .map_err(|e| fail(line, e.to_string()))?;
        let mut node = anchor.node.clone();
        node.line = line;
        Ok((node, stats))
    }

    /// Starts a collection: its tag, depth and budget are checked before anything is read.
    #[inline(never)]
    fn open(
        &mut self,
        anchor: usize,
        tag: Option<&Tag>,
        core: &str,
        level: usize,
        line: usize,
    ) -> Result<(), ComposeError> {
        if let Some(tag) = tag
            && core_tag(tag) != Some(core)
        {
            return Err(unsupported_tag(tag, line));
        }
        budget::check_depth(level)
            .and_then(|()| self.budget.node())
            .map_err(|e| fail(line, e.to_string()))?;
        if anchor != 0 {
            self.open_anchors.push(anchor);
        }
        Ok(())
    }

    /// Ends a collection, recording it under its anchor.
    #[inline(never)]
    fn close(
        &mut self,
        anchor: usize,
        composed: (Node, Stats),
    ) -> Result<(Node, Stats), ComposeError> {
        if anchor != 0 {
            self.open_anchors.retain(|a| *a != anchor);
            self.remember(anchor, &composed.0, composed.1, composed.0.line)?;
        }
        Ok(composed)
    }

    /// Keeps a copy of an anchored node for its aliases. The copy is charged to the budget
    /// like an alias: anchors nested in anchors would otherwise copy the same text once per
    /// level.
    fn remember(
        &mut self,
        anchor: usize,
        node: &Node,
        stats: Stats,
        line: usize,
    ) -> Result<(), ComposeError> {
        self.budget
            .alias(stats.nodes, stats.bytes)
            .map_err(|e| fail(line, e.to_string()))?;
        self.anchors.insert(
            anchor,
            Anchor {
                node: node.clone(),
                stats,
            },
        );
        Ok(())
    }

    fn mapping(&mut self, level: usize, line: usize) -> Result<(Node, Stats), ComposeError> {
        let mut map = MapBuilder::default();
        let mut stats = Stats {
            nodes: 1,
            bytes: 0,
            height: 1,
        };
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let key_line = line_of(&span);
            let (key, key_stats) = self.key(event, span, level)?;
            stats.add(key_stats);
            let (event, span) = self.next()?;
            let (value, value_stats) = self.node(event, span, level + 1)?;
            stats.add(value_stats);
            match key {
                MapKey::Name(name) => map.explicit(name, value, key_line)?,
                MapKey::Merge => map.merge(value)?,
            }
        }
        Ok((
            Node {
                line,
                kind: NodeKind::Map(map.items),
            },
            stats,
        ))
    }

    /// A mapping key: a scalar (its text), or the merge key.
    #[inline(never)]
    fn key(
        &mut self,
        event: Event<'s>,
        span: Span,
        level: usize,
    ) -> Result<(MapKey, Stats), ComposeError> {
        let line = line_of(&span);
        let merge = match &event {
            Event::Scalar(text, ScalarStyle::Plain, _, None) => text == "<<",
            Event::Scalar(_, _, _, Some(tag)) => core_tag(tag) == Some("merge"),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                return Err(fail(line, "complex mapping keys are not supported"));
            }
            _ => false,
        };
        let (node, stats) = self.node(event, span, level + 1)?;
        match node.kind {
            _ if merge => Ok((MapKey::Merge, stats)),
            NodeKind::Scalar(text, Resolved::Binary(_)) | NodeKind::Scalar(text, _) => {
                Ok((MapKey::Name(text), stats))
            }
            _ => Err(fail(line, "complex mapping keys are not supported")),
        }
    }

    fn sequence(&mut self, level: usize, line: usize) -> Result<(Node, Stats), ComposeError> {
        let mut items = Vec::new();
        let mut stats = Stats {
            nodes: 1,
            bytes: 0,
            height: 1,
        };
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                break;
            }
            let (item, item_stats) = self.node(event, span, level + 1)?;
            stats.add(item_stats);
            items.push(item);
        }
        Ok((
            Node {
                line,
                kind: NodeKind::Seq(items),
            },
            stats,
        ))
    }
}

/// Types a scalar from its style and tag.
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> Result<Resolved, ComposeError> {
    let Some(tag) = tag else {
        return Ok(if style == ScalarStyle::Plain {
            resolve_plain(text)
        } else {
            Resolved::Str
        });
    };
    if tag.handle == "!" && tag.suffix.is_empty() {
        // The non-specific tag `!`: a string.
        return Ok(Resolved::Str);
    }
    let Some(core) = core_tag(tag) else {
        return Err(unsupported_tag(tag, line));
    };
    let typed = |ok: bool, r: Resolved| {
        if ok {
            Ok(r)
        } else {
            Err(fail(
                line,
                format!("the value of a `!!{core}` is not a valid {core}"),
            ))
        }
    };
    match core {
        "str" | "timestamp" | "merge" => Ok(Resolved::Str),
        "binary" => {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            crate::encoding::decode_std(&compact)
                .map(Resolved::Binary)
                .map_err(|_| fail(line, "the value of a `!!binary` is not valid base64"))
        }
        "null" => typed(text.is_empty() || parse_null(text), Resolved::Null),
        "bool" => match parse_bool(text) {
            Some(b) => Ok(Resolved::Bool(b)),
            None => typed(false, Resolved::Null),
        },
        "int" => match parse_int(text) {
            Some(r) => Ok(r),
            None => typed(false, Resolved::Null),
        },
        "float" => {
            match parse_int(text).map_or_else(|| parse_float(text), |r| Some(as_float(&r))) {
                Some(f) => Ok(Resolved::Float(f)),
                None => typed(false, Resolved::Null),
            }
        }
        _ => Err(unsupported_tag(tag, line)),
    }
}

fn as_float(r: &Resolved) -> f64 {
    match r {
        Resolved::Int(i) => *i as f64,
        Resolved::UInt(u) => *u as f64,
        _ => 0.0,
    }
}

/// An untagged plain scalar, typed as `serde_yaml_ng` types it.
pub(crate) fn resolve_plain(text: &str) -> Resolved {
    if text.is_empty() || parse_null(text) {
        return Resolved::Null;
    }
    if let Some(b) = parse_bool(text) {
        return Resolved::Bool(b);
    }
    if let Some(r) = parse_int(text) {
        return r;
    }
    if !digits_but_not_number(text)
        && let Some(f) = parse_float(text)
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

fn parse_null(text: &str) -> bool {
    matches!(text, "~" | "null" | "Null" | "NULL")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// YAML 1.2: leading zeros followed by digits make a string, not a number.
fn digits_but_not_number(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    t.len() > 1 && t.starts_with('0') && t[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Decimal, `0x`, `0o` and `0b` integers with an optional sign.
fn parse_int(text: &str) -> Option<Resolved> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest.starts_with(['+', '-']) || rest.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = rest.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = rest.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = rest.strip_prefix("0b") {
        (2, d)
    } else {
        if digits_but_not_number(text) {
            return None;
        }
        (10, rest)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            Some(Resolved::Int((magnitude as i128).wrapping_neg() as i64))
        } else {
            None
        }
    } else if let Ok(i) = i64::try_from(magnitude) {
        Some(Resolved::Int(i))
    } else {
        Some(Resolved::UInt(magnitude))
    }
}

/// Finite floats in Rust's syntax, plus `.inf`, `-.inf` and `.nan` spellings.
fn parse_float(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => text,
    };
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        _ => {}
    }
    match text {
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        compose_stream(text).unwrap().remove(0).unwrap()
    }

    fn err(text: &str) -> String {
        compose_stream(text).unwrap_err().to_string()
    }

    fn map(node: &Node) -> Vec<(&str, &NodeKind)> {
        match &node.kind {
            NodeKind::Map(items) => items.iter().map(|(k, v)| (k.as_str(), &v.kind)).collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    fn int(i: i64, text: &str) -> NodeKind {
        NodeKind::Scalar(text.into(), Resolved::Int(i))
    }

    #[test]
    fn plain_scalars_are_typed_like_serde_yaml_ng() {
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("True"), Resolved::Bool(true));
        assert_eq!(resolve_plain("yes"), Resolved::Str);
        assert_eq!(resolve_plain("0x1F"), Resolved::Int(31));
        assert_eq!(resolve_plain("-0b11"), Resolved::Int(-3));
        assert_eq!(resolve_plain("0755"), Resolved::Str);
        assert_eq!(resolve_plain("1e3"), Resolved::Float(1000.0));
        assert_eq!(
            resolve_plain("-9223372036854775808"),
            Resolved::Int(i64::MIN)
        );
        assert_eq!(
            resolve_plain("18446744073709551615"),
            Resolved::UInt(u64::MAX)
        );
        assert_eq!(resolve_plain("inf"), Resolved::Str);
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str);
    }

    #[test]
    fn merge_keys_resolve_with_written_keys_winning_then_earlier_merges() {
        // issue 14: `<<` was kept as a key, or refused as "invalid type: map".
        let node = one(
            "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nm:\n  w: 0\n  <<: [*a, *b]\n  x: 3\nn: {<<: *b}\n",
        );
        let top = map(&node);
        let NodeKind::Map(m) = top[2].1 else { panic!() };
        let m: Vec<_> = m
            .iter()
            .map(|(k, v)| (k.as_str(), v.kind.clone()))
            .collect();
        assert_eq!(
            m,
            [
                ("w", int(0, "0")),
                ("x", int(3, "3")),
                ("y", int(1, "1")),
                ("z", int(2, "2"))
            ]
        );
        let NodeKind::Map(n) = top[3].1 else { panic!() };
        assert_eq!(n.len(), 2);
    }

    #[test]
    fn a_merge_key_that_is_not_a_mapping_is_a_clear_error() {
        assert_eq!(
            err("a: 1\nb:\n  <<: 1\n"),
            "line 3: merge keys `<<` take a mapping or a list of mappings (an alias such as `*base`)"
        );
        assert!(err("a: &a [1]\nb: {<<: [*a]}\n").contains("merge keys"));
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        assert_eq!(
            err("metadata:\n  name: a\n  name: b\n"),
            "line 3: mapping key \"name\" already defined"
        );
        // A merged key may be overridden, but not a written one twice.
        assert!(compose_stream("a: &a {x: 1}\nb: {x: 2, <<: *a}\n").is_ok());
    }

    #[test]
    fn binary_scalars_hold_their_decoded_bytes() {
        let node = one("a: !!binary aGVs\n  bG8=\nb: !!binary |\n  AP8=\n");
        let m = map(&node);
        assert_eq!(
            m[0].1,
            &NodeKind::Scalar("aGVs bG8=".into(), Resolved::Binary(b"hello".to_vec()))
        );
        assert!(matches!(m[1].1, NodeKind::Scalar(_, Resolved::Binary(b)) if b == &[0, 255]));
        assert_eq!(
            err("a: !!binary '%%%'\n"),
            "line 1: the value of a `!!binary` is not valid base64"
        );
    }

    #[test]
    fn custom_tags_are_refused_by_name() {
        // issue 14: `!vault` gave "invalid type: enum".
        assert_eq!(
            err("a: !vault secret/x\n"),
            "line 1: custom YAML tag `!vault` is not supported (sealkit reads plain YAML values)"
        );
        assert!(err("a: !!set {x: null}\n").contains("YAML tag `!!set` is not supported"));
        assert!(err("a: !!int x\n").contains("is not a valid int"));
        assert_eq!(
            one("a: !!str 1\n").kind,
            NodeKind::Map(vec![(
                "a".into(),
                Node {
                    line: 1,
                    kind: NodeKind::Scalar("1".into(), Resolved::Str)
                }
            )])
        );
    }

    #[test]
    fn billion_laughs_is_refused_before_anything_is_copied() {
        let text = crate::budget::billion_laughs();
        assert_eq!(err(&text), "line 3: document contains excessive aliasing");
    }

    #[test]
    fn anchors_nested_in_anchors_do_not_copy_a_large_value_once_per_level() {
        let big = "x".repeat(1 << 20);
        let text = format!("a: {}{big}{}\n", "&n [".repeat(100), "]".repeat(100));
        assert_eq!(err(&text), "line 1: document contains excessive aliasing");
        // A few anchors around large values are fine.
        assert!(compose_stream(&format!("a: &x [&y {big}]\nb: *y\n")).is_ok());
    }

    #[test]
    fn an_alias_inside_its_own_anchor_is_refused() {
        assert_eq!(
            err("a: &a [1, *a]\n"),
            "line 1: an alias refers to the node that contains it"
        );
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_before_recursing() {
        let n = 20_000;
        let text = format!("a: {}1{}\n", "[".repeat(n), "]".repeat(n));
        assert_eq!(err(&text), "line 1: nesting deeper than 128 levels");
        let mut block = String::new();
        for level in 0..200 {
            block.push_str(&" ".repeat(level));
            block.push_str("k:\n");
        }
        assert_eq!(err(&block), "line 129: nesting deeper than 128 levels");
    }

    #[test]
    fn empty_documents_are_none() {
        let docs = compose_stream("---\n---\na: 1\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert!(docs[0].is_none());
    }
}
