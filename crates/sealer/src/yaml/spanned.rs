//! YAML and JSON documents that remember where each scalar sits in the source text, for edits
//! that replace a value's text and leave every other byte of the file as it was (comments,
//! key order, quoting, indentation, other documents).
//!
//! The events and their positions come from `saphyr-parser` (YAML 1.2, of which JSON is a
//! subset). Nothing is resolved or expanded: an alias stays an [`Node::Alias`], so a hostile
//! file cannot make the tree grow, and nesting deeper than [`MAX_DEPTH`] is refused.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 128;

/// Error reading a document with spans.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not YAML (or JSON) the parser accepts.
    #[error("line {line}: {message}")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// What the parser says.
        message: String,
    },
    /// Mappings and sequences nest deeper than [`MAX_DEPTH`].
    #[error("line {line}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// 1-based line.
        line: usize,
    },
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain (unquoted).
    Plain,
    /// `'single quoted'`.
    SingleQuoted,
    /// `"double quoted"` (every JSON string).
    DoubleQuoted,
    /// `|` or `>` block.
    Block,
}

/// A scalar and its place in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// The value the parser read.
    pub value: String,
    /// How it is written.
    pub style: Style,
    /// 1-based line where it starts.
    pub line: usize,
    /// The bytes to replace to give it another value of the same style: the whole plain
    /// scalar, or what lies between the quotes. `None` when no such single run exists (block
    /// scalars, plain scalars folded over several lines).
    pub text: Option<Range<usize>>,
}

/// A node of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A scalar.
    Scalar(Scalar),
    /// A mapping; keys that are not scalars are kept as `None`.
    Mapping(Vec<(Option<String>, Node)>),
    /// A sequence.
    Sequence(Vec<Node>),
    /// An alias (`*name`), not expanded.
    Alias,
}

impl Node {
    /// The value of `key` in a mapping (the first one, when a key repeats).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Mapping(entries) => entries
                .iter()
                .find(|(k, _)| k.as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The scalar's value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) => Some(&s.value),
            _ => None,
        }
    }

    /// The scalar, when this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The entries of a mapping (empty for anything else).
    pub fn entries(&self) -> &[(Option<String>, Node)] {
        match self {
            Node::Mapping(entries) => entries,
            _ => &[],
        }
    }

    /// The items of a sequence (empty for anything else).
    pub fn items(&self) -> &[Node] {
        match self {
            Node::Sequence(items) => items,
            _ => &[],
        }
    }
}

/// Parses every document of `text` (YAML or JSON; a JSON stream of several objects reads as
/// several documents). Empty documents give no node.
pub fn parse(text: &str) -> Result<Vec<Node>, Error> {
    if super::StreamFormat::detect(text) == super::StreamFormat::Yaml {
        return parse_yaml(text);
    }
    // `{…}{…}` is not one YAML stream: read each JSON value on its own and move its spans to
    // where it sits in the whole text.
    let mut documents = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    let mut start = 0;
    loop {
        match stream.next() {
            None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                return Err(Error::Malformed {
                    line: e.line(),
                    message: e.to_string(),
                });
            }
        }
        let end = stream.byte_offset();
        let lines_before = text[..start].matches('\n').count();
        for mut node in parse_yaml(&text[start..end])? {
            shift(&mut node, start, lines_before);
            documents.push(node);
        }
        start = end;
    }
    Ok(documents)
}

fn parse_yaml(text: &str) -> Result<Vec<Node>, Error> {
    let mut reader = Reader::new(text);
    let mut documents = Vec::new();
    while let Some((event, span)) = reader.next()? {
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentStart(_) | Event::DocumentEnd | Event::Nothing => {}
            event => documents.push(reader.node(event, span, 0)?),
        }
    }
    Ok(documents)
}

fn shift(node: &mut Node, bytes: usize, lines: usize) {
    match node {
        Node::Scalar(s) => {
            s.line += lines;
            if let Some(r) = s.text.as_mut() {
                *r = r.start + bytes..r.end + bytes;
            }
        }
        Node::Mapping(entries) => entries.iter_mut().for_each(|(_, v)| shift(v, bytes, lines)),
        Node::Sequence(items) => items.iter_mut().for_each(|v| shift(v, bytes, lines)),
        Node::Alias => {}
    }
}

/// Returns `text` with each `(range, replacement)` spliced in; ranges must not overlap (they
/// are applied in order of position).
pub fn replace(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, replacement) in edits {
        if range.start < at || range.end > text.len() {
            continue;
        }
        out.push_str(&text[at..range.start]);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

struct Reader<'s> {
    src: &'s str,
    parser: Parser<'s, saphyr_parser::StrInput<'s>>,
    ascii: bool,
    line_starts: Vec<usize>,
}

impl<'s> Reader<'s> {
    fn new(src: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            src,
            parser: Parser::new_from_str(src),
            ascii: src.is_ascii(),
            line_starts,
        }
    }

    fn next(&mut self) -> Result<Option<(Event<'s>, Span)>, Error> {
        match self.parser.next_event() {
            None => Ok(None),
            Some(Ok(e)) => Ok(Some(e)),
            Some(Err(e)) => Err(Error::Malformed {
                line: e.marker().line(),
                message: e.info().to_owned(),
            }),
        }
    }

    /// The byte offset of a marker (saphyr counts characters).
    fn byte(&self, m: &saphyr_parser::Marker) -> usize {
        if self.ascii {
            return m.index().min(self.src.len());
        }
        let line = m.line().saturating_sub(1);
        let Some(&start) = self.line_starts.get(line) else {
            return self.src.len();
        };
        self.src[start..]
            .char_indices()
            .nth(m.col())
            .map_or(self.src.len(), |(b, _)| start + b)
    }

    fn node(&mut self, event: Event<'s>, span: Span, depth: usize) -> Result<Node, Error> {
        let line = span.start.line();
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { line });
        }
        match event {
            Event::Scalar(value, style, _, _) => {
                Ok(Node::Scalar(self.scalar(&value, style, &span)))
            }
            Event::Alias(_) => Ok(Node::Alias),
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
                loop {
                    let (event, span) = self.expect(line)?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = match self.node(event, span, depth + 1)? {
                        Node::Scalar(s) => Some(s.value),
                        _ => None,
                    };
                    let (event, span) = self.expect(line)?;
                    let value = self.node(event, span, depth + 1)?;
                    entries.push((key, value));
                }
                Ok(Node::Mapping(entries))
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.expect(line)?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                Ok(Node::Sequence(items))
            }
            _ => Err(Error::Malformed {
                line,
                message: "unexpected event".into(),
            }),
        }
    }

    fn expect(&mut self, line: usize) -> Result<(Event<'s>, Span), Error> {
        self.next()?.ok_or(Error::Malformed {
            line,
            message: "unexpected end of input".into(),
        })
    }

    fn scalar(&self, value: &str, style: ScalarStyle, span: &Span) -> Scalar {
        let start = self.byte(&span.start);
        let (style, text) = match style {
            ScalarStyle::Plain => {
                // A plain scalar folded over lines reads with spaces where its text has line
                // breaks: only a scalar written exactly as its value has one run to replace.
                let text = self.src[start..]
                    .starts_with(value)
                    .then(|| start..start + value.len());
                (Style::Plain, text)
            }
            ScalarStyle::DoubleQuoted => (Style::DoubleQuoted, self.between_quotes(start, b'"')),
            ScalarStyle::SingleQuoted => (Style::SingleQuoted, self.between_quotes(start, b'\'')),
            _ => (Style::Block, None),
        };
        Scalar {
            value: value.to_owned(),
            style,
            line: span.start.line(),
            text,
        }
    }

    /// The bytes between the opening quote at `start` and its closing quote (saphyr's span of
    /// a quoted scalar runs on over the spaces and comment after it).
    fn between_quotes(&self, start: usize, quote: u8) -> Option<Range<usize>> {
        let bytes = self.src.as_bytes();
        if bytes.get(start) != Some(&quote) {
            return None;
        }
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quote == b'"' => i += 2,
                b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
                b if b == quote => return Some(start + 1..i),
                _ => i += 1,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of<'a>(src: &'a str, node: &Node) -> &'a str {
        let range = node.as_scalar().unwrap().text.clone().unwrap();
        &src[range]
    }

    #[test]
    fn scalars_of_every_quoting_know_the_text_to_replace() {
        let src = "# head\na: plain # c\nb: \"dq\\\"x\" # c\nc: 'it''s'\nd: |\n  block\n";
        let docs = parse(src).unwrap();
        let doc = &docs[0];
        assert_eq!(text_of(src, doc.get("a").unwrap()), "plain");
        assert_eq!(text_of(src, doc.get("b").unwrap()), "dq\\\"x");
        assert_eq!(doc.get("b").unwrap().as_str(), Some("dq\"x"));
        assert_eq!(text_of(src, doc.get("c").unwrap()), "it''s");
        assert_eq!(doc.get("d").unwrap().as_scalar().unwrap().text, None);
        assert_eq!(
            doc.get("d").unwrap().as_scalar().unwrap().style,
            Style::Block
        );
    }

    #[test]
    fn json_with_spaces_or_tabs_and_several_objects_read_as_documents() {
        let src =
            "{\n\t\"kind\": \"A\",\n\t\"spec\": {\"x\": \"AgB+/=\"}\n}\n{\n  \"kind\": \"B\"\n}\n";
        let docs = parse(src).unwrap();
        assert_eq!(docs.len(), 2);
        let x = docs[0].get("spec").unwrap().get("x").unwrap();
        assert_eq!(text_of(src, x), "AgB+/=");
        assert_eq!(docs[1].get("kind").unwrap().as_str(), Some("B"));
    }

    #[test]
    fn offsets_are_bytes_after_multibyte_characters() {
        let src = "note: \"héllo wörld\"\nvalue: AgBxyz\n";
        let docs = parse(src).unwrap();
        assert_eq!(text_of(src, docs[0].get("value").unwrap()), "AgBxyz");
    }

    #[test]
    fn a_replacement_changes_only_the_value_bytes() {
        let src =
            "---\n# keep\nspec:\n  encryptedData:\n    a: AgBold # trailing\n    b: \"AgBold2\"\n";
        let docs = parse(src).unwrap();
        let data = docs[0].get("spec").unwrap().get("encryptedData").unwrap();
        let edits = vec![
            (
                data.get("b")
                    .unwrap()
                    .as_scalar()
                    .unwrap()
                    .text
                    .clone()
                    .unwrap(),
                "NEW2".to_owned(),
            ),
            (
                data.get("a")
                    .unwrap()
                    .as_scalar()
                    .unwrap()
                    .text
                    .clone()
                    .unwrap(),
                "NEW1".to_owned(),
            ),
        ];
        assert_eq!(
            replace(src, edits),
            "---\n# keep\nspec:\n  encryptedData:\n    a: NEW1 # trailing\n    b: \"NEW2\"\n"
        );
    }

    #[test]
    fn aliases_are_not_expanded_and_deep_nesting_is_refused() {
        let docs = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(docs[0].get("b"), Some(&Node::Alias));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert!(matches!(parse(&deep), Err(Error::TooDeep { .. })));
    }

    #[test]
    fn a_plain_scalar_folded_over_lines_has_no_single_run() {
        let docs = parse("a: AgB\n  more\n").unwrap();
        assert_eq!(docs[0].get("a").unwrap().as_str(), Some("AgB more"));
        assert_eq!(docs[0].get("a").unwrap().as_scalar().unwrap().text, None);
    }
}
