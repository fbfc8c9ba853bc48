//! A port of the parts of go-yaml v3's emitter (`emitterc.go`) that sops output goes through:
//! block and empty flow collections, plain/single/double-quoted/literal scalars, head, foot
//! and tail comments, `---` between documents, indentation `best_indent`, no line folding
//! (go-yaml v3 sets `best_width` to unlimited). Ported state by state so that comment placement
//! and spacing match byte for byte.

use std::borrow::Cow;

use zeroize::Zeroize as _;

/// Scalar styles (`yaml_scalar_style_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    /// Plain after the tag `!!merge`: how go-yaml writes the string `<<` that sops holds for a
    /// merge key (`!!merge <<: …`).
    MergeTagged,
    /// After the tag `!!binary`: base64 of a string that is not UTF-8, plain on one line or
    /// literal over several, as go-yaml writes a Go string that is not valid UTF-8.
    BinaryTagged,
}

impl Style {
    /// The tag written before the scalar, if any.
    fn tag(self) -> Option<&'static [u8]> {
        match self {
            Style::MergeTagged => Some(b"!!merge"),
            Style::BinaryTagged => Some(b"!!binary"),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Kind<'a> {
    StreamStart,
    StreamEnd,
    DocStart,
    DocEnd,
    MapStart,
    MapEnd,
    SeqStart,
    SeqEnd,
    Scalar(Cow<'a, str>, Style),
}

/// One emitter event with its comments (`yaml_event_t`).
#[derive(Debug)]
pub(crate) struct Event<'a> {
    pub kind: Kind<'a>,
    /// Boxed: most events have none, and a file of a million values has two million events.
    comments: Option<Box<Comments>>,
}

/// The comments of an [`Event`].
#[derive(Debug, Default)]
struct Comments {
    head: String,
    line: String,
    foot: String,
    tail: String,
}

impl<'a> Event<'a> {
    pub fn new(kind: Kind<'a>) -> Self {
        Self {
            kind,
            comments: None,
        }
    }

    fn comments(&mut self) -> &mut Comments {
        self.comments.get_or_insert_with(Box::default)
    }

    /// Sets the head comment (lines with their `#`); nothing when empty.
    pub fn set_head(&mut self, text: String) {
        if !text.is_empty() {
            self.comments().head = text;
        }
    }

    /// Sets the foot comment; nothing when empty.
    pub fn set_foot(&mut self, text: String) {
        if !text.is_empty() {
            self.comments().foot = text;
        }
    }

    /// Sets the tail comment; nothing when empty.
    pub fn set_tail(&mut self, text: String) {
        if !text.is_empty() {
            self.comments().tail = text;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StreamStart,
    FirstDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    FlowSequenceFirstItem,
    FlowSequenceTrailItem,
    FlowSequenceItem,
    FlowMappingFirstKey,
    FlowMappingTrailKey,
    FlowMappingKey,
    FlowMappingSimpleValue,
    FlowMappingValue,
    BlockSequenceFirstItem,
    BlockSequenceItem,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingSimpleValue,
    BlockMappingValue,
    End,
}

#[derive(Debug, Default, PartialEq)]
struct ScalarData {
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
    style: Option<Style>,
}

pub(crate) struct Emitter<'e> {
    out: Vec<u8>,
    events: Vec<Event<'e>>,
    head: usize,
    best_indent: i64,
    state: State,
    states: Vec<State>,
    indent: i64,
    indents: Vec<i64>,
    flow_level: i64,
    column: i64,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    foot_indent: i64,
    simple_key_context: bool,
    root_context: bool,
    scalar: ScalarData,
    head_comment: String,
    line_comment: String,
    foot_comment: String,
    tail_comment: String,
    key_line_comment: String,
}

fn width(b: u8) -> usize {
    if b & 0x80 == 0 {
        1
    } else if b & 0xE0 == 0xC0 {
        2
    } else if b & 0xF0 == 0xE0 {
        3
    } else if b & 0xF8 == 0xF0 {
        4
    } else {
        0
    }
}

fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn is_printable(b: &[u8], i: usize) -> bool {
    let c = at(b, i);
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (c == 0xC2 && at(b, i + 1) >= 0xA0)
        || (c > 0xC2 && c < 0xED)
        || (c == 0xED && at(b, i + 1) < 0xA0)
        || c == 0xEE
        || (c == 0xEF
            && !(at(b, i + 1) == 0xBB && at(b, i + 2) == 0xBF)
            && !(at(b, i + 1) == 0xBF && (at(b, i + 2) == 0xBE || at(b, i + 2) == 0xBF)))
}

fn is_space(b: &[u8], i: usize) -> bool {
    at(b, i) == b' '
}

fn is_blank(b: &[u8], i: usize) -> bool {
    matches!(at(b, i), b' ' | b'\t')
}

fn is_break(b: &[u8], i: usize) -> bool {
    let c = at(b, i);
    c == b'\r'
        || c == b'\n'
        || (c == 0xC2 && at(b, i + 1) == 0x85)
        || (c == 0xE2 && at(b, i + 1) == 0x80 && (at(b, i + 2) == 0xA8 || at(b, i + 2) == 0xA9))
}

fn is_blankz(b: &[u8], i: usize) -> bool {
    is_blank(b, i) || is_break(b, i) || at(b, i) == 0
}

fn is_bom(b: &[u8], i: usize) -> bool {
    at(b, i) == 0xEF && at(b, i + 1) == 0xBB && at(b, i + 2) == 0xBF
}

impl<'e> Emitter<'e> {
    /// An emitter whose text starts with room for `capacity` bytes; events come with
    /// [`Emitter::push`].
    pub fn new(indent: usize, capacity: usize) -> Self {
        let best_indent = if (2..=9).contains(&indent) {
            indent as i64
        } else {
            2
        };
        Self {
            out: Vec::with_capacity(capacity),
            events: Vec::new(),
            head: 0,
            best_indent,
            state: State::StreamStart,
            states: Vec::new(),
            indent: -1,
            indents: Vec::new(),
            flow_level: 0,
            column: 0,
            whitespace: true,
            indention: true,
            open_ended: false,
            foot_indent: -1,
            simple_key_context: false,
            root_context: false,
            scalar: ScalarData::default(),
            head_comment: String::new(),
            line_comment: String::new(),
            foot_comment: String::new(),
            tail_comment: String::new(),
            key_line_comment: String::new(),
        }
    }

    /// Runs every event and returns the text.
    pub fn finish(mut self) -> Vec<u8> {
        while self.head < self.events.len() {
            self.step();
        }
        std::mem::take(&mut self.out)
    }

    /// Takes the next event. An event is written once the one after it is known (the state
    /// machine looks one event ahead), so the list holds two events, not the document's.
    pub fn push(&mut self, event: Event<'e>) {
        self.events.push(event);
        while self.head + 1 < self.events.len() {
            self.step();
        }
        if self.head >= 64 {
            self.events.drain(..self.head);
            self.head = 0;
        }
    }

    /// The text written so far (the caller may move it out, e.g. to a file).
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    fn step(&mut self) {
        self.analyze_event();
        self.state_machine();
        self.head += 1;
    }

    // ----- low-level writers -----

    fn put(&mut self, c: u8) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push(b'\n');
        self.column = 0;
        self.indention = true;
    }

    fn write(&mut self, s: &[u8], i: &mut usize) {
        let w = width(s[*i]).max(1);
        let end = (*i + w).min(s.len());
        self.out.extend_from_slice(&s[*i..end]);
        self.column += 1;
        *i = end;
    }

    /// Writes whole characters (valid UTF-8) at once; the column counts characters.
    fn write_run(&mut self, s: &[u8]) {
        self.out.extend_from_slice(s);
        let chars = if s.is_ascii() {
            s.len()
        } else {
            s.iter().filter(|b| (**b & 0xC0) != 0x80).count()
        };
        self.column += chars as i64;
    }

    fn write_all(&mut self, s: &[u8]) {
        let mut i = 0;
        while i < s.len() {
            self.write(s, &mut i);
        }
    }

    fn write_break(&mut self, s: &[u8], i: &mut usize) {
        if s[*i] == b'\n' {
            self.put_break();
            *i += 1;
        } else {
            self.write(s, i);
            self.column = 0;
            self.indention = true;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.foot_indent == indent {
            self.put_break();
        }
        while self.column < indent {
            self.put(b' ');
        }
        self.whitespace = true;
        self.foot_indent = -1;
    }

    fn write_indicator(&mut self, ind: &[u8], need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(b' ');
        }
        self.write_all(ind);
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    fn write_comment(&mut self, comment: &str) {
        let c = comment.as_bytes();
        let mut breaks = false;
        let mut pound = false;
        let mut i = 0;
        while i < c.len() {
            if is_break(c, i) {
                self.write_break(c, &mut i);
                breaks = true;
                pound = false;
            } else {
                if breaks {
                    self.write_indent();
                }
                if !pound {
                    if c[i] != b'#' {
                        self.put(b'#');
                        self.put(b' ');
                    }
                    pound = true;
                }
                self.write(c, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
        if !breaks {
            self.put_break();
        }
        self.whitespace = true;
    }

    // ----- comments -----

    fn process_head_comment(&mut self) {
        if !self.tail_comment.is_empty() {
            self.write_indent();
            let t = std::mem::take(&mut self.tail_comment);
            self.write_comment(&t);
            self.foot_indent = self.indent.max(0);
        }
        if self.head_comment.is_empty() {
            return;
        }
        self.write_indent();
        let h = std::mem::take(&mut self.head_comment);
        self.write_comment(&h);
    }

    fn process_line_comment(&mut self) {
        if self.line_comment.is_empty() {
            return;
        }
        if !self.whitespace {
            self.put(b' ');
        }
        let l = std::mem::take(&mut self.line_comment);
        self.write_comment(&l);
    }

    fn process_foot_comment(&mut self) {
        if self.foot_comment.is_empty() {
            return;
        }
        self.write_indent();
        let f = std::mem::take(&mut self.foot_comment);
        self.write_comment(&f);
        self.foot_indent = self.indent.max(0);
    }

    // ----- events -----

    fn analyze_event(&mut self) {
        if let Some(c) = self.events[self.head].comments.take() {
            let Comments {
                head,
                line,
                foot,
                tail,
            } = *c;
            if !head.is_empty() {
                self.head_comment = head;
            }
            if !line.is_empty() {
                self.line_comment = line;
            }
            if !foot.is_empty() {
                self.foot_comment = foot;
            }
            if !tail.is_empty() {
                self.tail_comment = tail;
            }
        }
        if let Kind::Scalar(v, _) = &self.events[self.head].kind {
            self.scalar = analyze_scalar(v.as_bytes());
        }
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::End);
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            if self.states.last() == Some(&State::BlockSequenceItem) {
                self.indent += 2;
            } else {
                self.indent =
                    self.best_indent * ((self.indent + self.best_indent) / self.best_indent);
            }
        }
    }

    fn kind_at(&self, i: usize) -> Option<&Kind<'e>> {
        self.events.get(i).map(|e| &e.kind)
    }

    fn state_machine(&mut self) {
        match self.state {
            State::StreamStart => {
                self.indent = -1;
                self.column = 0;
                self.whitespace = true;
                self.indention = true;
                self.foot_indent = -1;
                self.state = State::FirstDocumentStart;
            }
            State::FirstDocumentStart => self.emit_document_start(true),
            State::DocumentStart => self.emit_document_start(false),
            State::DocumentContent => {
                self.states.push(State::DocumentEnd);
                self.process_head_comment();
                self.emit_node(true, false);
                self.process_line_comment();
                self.process_foot_comment();
            }
            State::DocumentEnd => {
                self.foot_indent = 0;
                self.process_foot_comment();
                self.foot_indent = -1;
                self.write_indent();
                self.state = State::DocumentStart;
            }
            State::FlowSequenceFirstItem => self.emit_flow_sequence_item(true, false),
            State::FlowSequenceTrailItem => self.emit_flow_sequence_item(false, true),
            State::FlowSequenceItem => self.emit_flow_sequence_item(false, false),
            State::FlowMappingFirstKey => self.emit_flow_mapping_key(true, false),
            State::FlowMappingTrailKey => self.emit_flow_mapping_key(false, true),
            State::FlowMappingKey => self.emit_flow_mapping_key(false, false),
            State::FlowMappingSimpleValue => self.emit_flow_mapping_value(true),
            State::FlowMappingValue => self.emit_flow_mapping_value(false),
            State::BlockSequenceFirstItem => self.emit_block_sequence_item(true),
            State::BlockSequenceItem => self.emit_block_sequence_item(false),
            State::BlockMappingFirstKey => self.emit_block_mapping_key(true),
            State::BlockMappingKey => self.emit_block_mapping_key(false),
            State::BlockMappingSimpleValue => self.emit_block_mapping_value(true),
            State::BlockMappingValue => self.emit_block_mapping_value(false),
            State::End => {}
        }
    }

    fn emit_document_start(&mut self, first: bool) {
        match self.kind_at(self.head) {
            Some(Kind::DocStart) => {
                if !first {
                    self.write_indent();
                    self.write_indicator(b"---", true, false, false);
                    self.write_indent();
                }
                if !self.head_comment.is_empty() {
                    self.process_head_comment();
                    self.put_break();
                }
                self.state = State::DocumentContent;
            }
            _ => {
                // STREAM-END: go-yaml's `finish` clears `open_ended` first, so no `...`.
                self.open_ended = false;
                self.state = State::End;
            }
        }
    }

    fn is_end(&self, seq: bool) -> bool {
        matches!(
            (self.kind_at(self.head), seq),
            (Some(Kind::SeqEnd), true) | (Some(Kind::MapEnd), false)
        )
    }

    fn pending_trail(&self) -> bool {
        !self.line_comment.is_empty()
            || !self.foot_comment.is_empty()
            || !self.tail_comment.is_empty()
    }

    fn emit_flow_sequence_item(&mut self, first: bool, trail: bool) {
        if first {
            self.write_indicator(b"[", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
        }
        if self.is_end(true) {
            self.flow_level -= 1;
            self.pop_indent();
            if self.column == 0 {
                self.write_indent();
            }
            self.write_indicator(b"]", false, false, false);
            self.process_line_comment();
            self.process_foot_comment();
            self.pop_state();
            return;
        }
        if !first && !trail {
            self.write_indicator(b",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.pending_trail() {
            self.states.push(State::FlowSequenceTrailItem);
        } else {
            self.states.push(State::FlowSequenceItem);
        }
        self.emit_node(false, false);
        if self.pending_trail() {
            self.write_indicator(b",", false, false, false);
        }
        self.process_line_comment();
        self.process_foot_comment();
    }

    fn emit_flow_mapping_key(&mut self, first: bool, trail: bool) {
        if first {
            self.write_indicator(b"{", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
        }
        if self.is_end(false) {
            if (!self.head_comment.is_empty()
                || !self.foot_comment.is_empty()
                || !self.tail_comment.is_empty())
                && !first
                && !trail
            {
                self.write_indicator(b",", false, false, false);
            }
            self.process_head_comment();
            self.flow_level -= 1;
            self.pop_indent();
            self.write_indicator(b"}", false, false, false);
            self.process_line_comment();
            self.process_foot_comment();
            self.pop_state();
            return;
        }
        if !first && !trail {
            self.write_indicator(b",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.check_simple_key() {
            self.states.push(State::FlowMappingSimpleValue);
            self.emit_node(false, true);
        } else {
            self.write_indicator(b"?", true, false, false);
            self.states.push(State::FlowMappingValue);
            self.emit_node(false, false);
        }
    }

    fn emit_flow_mapping_value(&mut self, simple: bool) {
        if simple {
            self.write_indicator(b":", false, false, false);
        } else {
            self.write_indicator(b":", true, false, false);
        }
        if self.pending_trail() {
            self.states.push(State::FlowMappingTrailKey);
        } else {
            self.states.push(State::FlowMappingKey);
        }
        self.emit_node(false, false);
        if self.pending_trail() {
            self.write_indicator(b",", false, false, false);
        }
        self.process_line_comment();
        self.process_foot_comment();
    }

    fn emit_block_sequence_item(&mut self, first: bool) {
        if first {
            self.increase_indent(false, false);
        }
        if self.is_end(true) {
            self.pop_indent();
            self.pop_state();
            return;
        }
        self.process_head_comment();
        self.write_indent();
        self.write_indicator(b"-", true, false, true);
        self.states.push(State::BlockSequenceItem);
        self.emit_node(false, false);
        self.process_line_comment();
        self.process_foot_comment();
    }

    fn emit_block_mapping_key(&mut self, first: bool) {
        if first {
            self.increase_indent(false, false);
        }
        // The foot of a collection that ended the previous value is still pending: it is
        // written above this key, as sops 3.11 does (after the key it would stand between the
        // key and its value).
        if !first && !self.foot_comment.is_empty() {
            let foot = std::mem::take(&mut self.foot_comment);
            self.head_comment = super::prepend(foot, std::mem::take(&mut self.head_comment));
        }
        self.process_head_comment();
        if self.is_end(false) {
            self.pop_indent();
            self.pop_state();
            return;
        }
        self.write_indent();
        if !self.line_comment.is_empty() {
            self.key_line_comment = std::mem::take(&mut self.line_comment);
        }
        if self.check_simple_key() {
            self.states.push(State::BlockMappingSimpleValue);
            self.emit_node(false, true);
        } else {
            self.write_indicator(b"?", true, false, true);
            self.states.push(State::BlockMappingValue);
            self.emit_node(false, false);
        }
    }

    fn emit_block_mapping_value(&mut self, simple: bool) {
        if simple {
            self.write_indicator(b":", false, false, false);
        } else {
            self.write_indent();
            self.write_indicator(b":", true, false, true);
        }
        if !self.key_line_comment.is_empty() {
            match self.kind_at(self.head) {
                Some(Kind::Scalar(..)) if self.line_comment.is_empty() => {
                    self.line_comment = std::mem::take(&mut self.key_line_comment);
                }
                Some(Kind::MapStart | Kind::SeqStart) => {
                    std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
                    self.process_line_comment();
                    std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
                }
                _ => {}
            }
        }
        self.states.push(State::BlockMappingKey);
        self.emit_node(false, false);
        self.process_line_comment();
        self.process_foot_comment();
    }

    fn emit_node(&mut self, root: bool, simple_key: bool) {
        self.root_context = root;
        self.simple_key_context = simple_key;
        let empty_next =
            |this: &Self, end: fn(&Kind<'_>) -> bool| this.kind_at(this.head + 1).is_some_and(end);
        match self.kind_at(self.head) {
            Some(Kind::Scalar(..)) => self.emit_scalar(),
            Some(Kind::SeqStart) => {
                if self.flow_level > 0 || empty_next(self, |k| matches!(k, Kind::SeqEnd)) {
                    self.state = State::FlowSequenceFirstItem;
                } else {
                    self.state = State::BlockSequenceFirstItem;
                }
            }
            Some(Kind::MapStart) => {
                if self.flow_level > 0 || empty_next(self, |k| matches!(k, Kind::MapEnd)) {
                    self.state = State::FlowMappingFirstKey;
                } else {
                    self.state = State::BlockMappingFirstKey;
                }
            }
            _ => {}
        }
    }

    fn check_simple_key(&self) -> bool {
        match self.kind_at(self.head) {
            // go-yaml counts the tag in the length of a simple key.
            Some(Kind::Scalar(v, style)) => {
                !self.scalar.multiline && v.len() + style.tag().map_or(0, <[u8]>::len) <= 128
            }
            Some(Kind::SeqStart) => matches!(self.kind_at(self.head + 1), Some(Kind::SeqEnd)),
            Some(Kind::MapStart) => matches!(self.kind_at(self.head + 1), Some(Kind::MapEnd)),
            _ => false,
        }
    }

    fn select_scalar_style(&mut self, requested: Style, value: &str) -> Style {
        let empty = value.is_empty();
        // NEL, LS and PS are line breaks to go-yaml (YAML 1.1) and text to a YAML 1.2 reader:
        // outside double quotes (`\N`, `\L`, `\P`) the two read them differently, and a value
        // holding one would not read back as it was (found by fuzz/sops_yaml).
        if !value.is_ascii() && value.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
            return Style::DoubleQuoted;
        }
        let mut style = requested;
        let d = &self.scalar;
        if self.simple_key_context && d.multiline {
            style = Style::DoubleQuoted;
        }
        if style == Style::Plain {
            if (self.flow_level > 0 && !d.flow_plain_allowed)
                || (self.flow_level == 0 && !d.block_plain_allowed)
            {
                style = Style::SingleQuoted;
            }
            if empty && (self.flow_level > 0 || self.simple_key_context) {
                style = Style::SingleQuoted;
            }
        }
        if style == Style::SingleQuoted && !d.single_quoted_allowed {
            style = Style::DoubleQuoted;
        }
        if style == Style::Literal
            && (!d.block_allowed || self.flow_level > 0 || self.simple_key_context)
        {
            style = Style::DoubleQuoted;
        }
        style
    }

    fn emit_scalar(&mut self) {
        let (value, requested) = match &mut self.events[self.head].kind {
            Kind::Scalar(v, s) => (std::mem::take(v), *s),
            _ => return,
        };
        let requested = match requested.tag() {
            // `yaml_emitter_process_tag`: the tag handle and suffix, then the scalar.
            Some(tag) => {
                self.write_indicator(tag, true, false, false);
                if value.contains('\n') {
                    Style::Literal
                } else {
                    Style::Plain
                }
            }
            None => requested,
        };
        let style = self.select_scalar_style(requested, &value);
        self.scalar.style = Some(style);
        self.increase_indent(true, false);
        let v = value.as_bytes();
        let allow_breaks = !self.simple_key_context;
        match style {
            Style::Plain => self.write_plain(v),
            Style::SingleQuoted => self.write_single(v, allow_breaks),
            Style::DoubleQuoted => self.write_double(v),
            Style::Literal => self.write_literal(v),
            Style::MergeTagged | Style::BinaryTagged => self.write_plain(v),
        }
        // Text the event owned may be cleartext (a value decrypted as it was read).
        if let Cow::Owned(mut text) = value {
            text.zeroize();
        }
        self.pop_indent();
        self.pop_state();
    }

    fn write_plain(&mut self, v: &[u8]) {
        if !v.is_empty() && !self.whitespace {
            self.put(b' ');
        }
        // Checked once: each run below searches only up to its own end.
        let ascii = v.is_ascii();
        let mut breaks = false;
        let mut i = 0;
        while i < v.len() {
            if is_space(v, i) {
                self.write(v, &mut i);
            } else if is_break(v, i) {
                if !breaks && v[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(v, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                // The run up to the next space or possible break is written as one slice;
                // the column advances by its characters, as one `write` each would.
                let rest = &v[i..];
                // ASCII holds no 0xC2/0xE2: a vectorized search for the other three.
                let stop = if ascii {
                    memchr::memchr3(b' ', b'\r', b'\n', rest)
                } else {
                    rest.iter()
                        .position(|b| matches!(b, b' ' | b'\r' | b'\n' | 0xC2 | 0xE2))
                };
                let run = stop.map_or(v.len(), |n| {
                    // A 0xC2/0xE2 that starts no break: write that one character.
                    let n = if n == 0 { width(v[i]).max(1) } else { n };
                    (i + n).min(v.len())
                });
                self.write_run(&v[i..run]);
                i = run;
                self.indention = false;
                breaks = false;
            }
        }
        if !v.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
        if self.root_context {
            self.open_ended = true;
        }
    }

    fn write_single(&mut self, v: &[u8], _allow_breaks: bool) {
        self.write_indicator(b"'", true, false, false);
        let mut breaks = false;
        let mut i = 0;
        while i < v.len() {
            if is_space(v, i) {
                self.write(v, &mut i);
            } else if is_break(v, i) {
                if !breaks && v[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(v, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if v[i] == b'\'' {
                    self.put(b'\'');
                }
                self.write(v, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
        self.write_indicator(b"'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, v: &[u8]) {
        self.write_indicator(b"\"", true, false, false);
        let mut i = 0;
        while i < v.len() {
            if !is_printable(v, i)
                || is_bom(v, i)
                || is_break(v, i)
                || v[i] == b'"'
                || v[i] == b'\\'
            {
                let octet = v[i];
                let (w, mut c) = match octet {
                    o if o & 0x80 == 0 => (1, u32::from(o & 0x7F)),
                    o if o & 0xE0 == 0xC0 => (2, u32::from(o & 0x1F)),
                    o if o & 0xF0 == 0xE0 => (3, u32::from(o & 0x0F)),
                    o => (4, u32::from(o & 0x07)),
                };
                for k in 1..w {
                    c = (c << 6) + u32::from(at(v, i + k) & 0x3F);
                }
                i += w;
                self.put(b'\\');
                let simple = match c {
                    0x00 => Some(b'0'),
                    0x07 => Some(b'a'),
                    0x08 => Some(b'b'),
                    0x09 => Some(b't'),
                    0x0A => Some(b'n'),
                    0x0B => Some(b'v'),
                    0x0C => Some(b'f'),
                    0x0D => Some(b'r'),
                    0x1B => Some(b'e'),
                    0x22 => Some(b'"'),
                    0x5C => Some(b'\\'),
                    0x85 => Some(b'N'),
                    0xA0 => Some(b'_'),
                    0x2028 => Some(b'L'),
                    0x2029 => Some(b'P'),
                    _ => None,
                };
                match simple {
                    Some(ch) => self.put(ch),
                    None => {
                        let (letter, digits) = if c <= 0xFF {
                            (b'x', 2)
                        } else if c <= 0xFFFF {
                            (b'u', 4)
                        } else {
                            (b'U', 8)
                        };
                        self.put(letter);
                        for k in (0..digits).rev() {
                            let d = ((c >> (k * 4)) & 0x0F) as u8;
                            self.put(if d < 10 { b'0' + d } else { b'A' + d - 10 });
                        }
                    }
                }
            } else {
                self.write(v, &mut i);
            }
        }
        self.write_indicator(b"\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_block_hints(&mut self, v: &[u8]) {
        if is_space(v, 0) || is_break(v, 0) {
            // A reader takes the indicator from the parent node's indentation (the mapping's
            // keys, the sequence's `-`); go-yaml writes `best_indent`, which is that only for a
            // mapping at a multiple of it: under a `- ` its text did not read back.
            let parent = self.indents.last().copied().unwrap_or(-1).max(0);
            let hint = (self.indent - parent).clamp(1, 9) as u8;
            self.write_indicator(&[b'0' + hint], false, false, false);
        }
        self.open_ended = false;
        let mut chomp = None;
        if v.is_empty() {
            chomp = Some(b'-');
        } else {
            let mut i = v.len() - 1;
            while i > 0 && v[i] & 0xC0 == 0x80 {
                i -= 1;
            }
            if !is_break(v, i) {
                chomp = Some(b'-');
            } else if i == 0 {
                chomp = Some(b'+');
                self.open_ended = true;
            } else {
                i -= 1;
                while i > 0 && v[i] & 0xC0 == 0x80 {
                    i -= 1;
                }
                if is_break(v, i) {
                    chomp = Some(b'+');
                    self.open_ended = true;
                }
            }
        }
        if let Some(c) = chomp {
            self.write_indicator(&[c], false, false, false);
        }
    }

    fn write_literal(&mut self, v: &[u8]) {
        self.write_indicator(b"|", true, false, false);
        self.write_block_hints(v);
        // go-yaml v3 `yaml_emitter_process_line_comment_linebreak(emitter, true)` (go-yaml
        // #755): the header line ends here, so a value's leading line break is written as an
        // empty line instead of ending the header.
        if self.line_comment.is_empty() {
            self.put_break();
        } else {
            self.process_line_comment();
        }
        self.whitespace = true;
        let mut breaks = true;
        let mut i = 0;
        while i < v.len() {
            if is_break(v, i) {
                self.write_break(v, &mut i);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write(v, &mut i);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// [`analyze_scalar`] for the common case, a non-empty scalar of printable ASCII without
/// spaces (keys, `ENC[...]` values, tokens): no breaks, blanks or special characters can occur,
/// so only the indicator rules remain. `None` for anything else. Gives exactly what the full
/// analysis gives (tested below); it only saves its per-byte branches.
fn analyze_simple_scalar(v: &[u8]) -> Option<ScalarData> {
    let (&first, rest) = v.split_first()?;
    // One branch-free pass: is any byte not printable non-space ASCII? is any byte after the
    // first a flow indicator? (`#` only counts after whitespace, which this scalar has none of.)
    let class = rest
        .iter()
        .fold(BYTE_CLASS[usize::from(first)] & NOT_SIMPLE, |acc, b| {
            acc | BYTE_CLASS[usize::from(*b)]
        });
    if class & NOT_SIMPLE != 0 {
        return None;
    }
    let alone = rest.is_empty();
    let (mut flow_ind, mut block_ind) = match first {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => (true, true),
        // Followed by whitespace only when it is the last byte.
        b'?' | b':' => (true, alone),
        b'-' => (alone, alone),
        _ => (false, false),
    };
    if v.starts_with(b"---") || v.starts_with(b"...") {
        flow_ind = true;
        block_ind = true;
    }
    if class & FLOW != 0 {
        flow_ind = true;
    }
    // A `:` at the end is followed by the end of the scalar, which counts as whitespace.
    if !alone && rest.last() == Some(&b':') {
        block_ind = true;
    }
    Some(ScalarData {
        multiline: false,
        flow_plain_allowed: !flow_ind,
        block_plain_allowed: !block_ind,
        single_quoted_allowed: true,
        block_allowed: true,
        style: None,
    })
}

/// [`BYTE_CLASS`] bit: a flow indicator when not the first byte (`,?[]{}:`).
const FLOW: u8 = 1;
/// [`BYTE_CLASS`] bit: not printable ASCII, or a space.
const NOT_SIMPLE: u8 = 2;

/// The class bits of each byte for [`analyze_simple_scalar`].
const BYTE_CLASS: [u8; 256] = {
    let mut table = [NOT_SIMPLE; 256];
    let mut b = 0x21;
    while b <= 0x7E {
        table[b] = 0;
        b += 1;
    }
    let flow = *b",?[]{}:";
    let mut i = 0;
    while i < flow.len() {
        table[flow[i] as usize] = FLOW;
        i += 1;
    }
    table
};

/// `yaml_emitter_analyze_scalar`.
fn analyze_scalar(v: &[u8]) -> ScalarData {
    analyze_simple_scalar(v).unwrap_or_else(|| analyze_any_scalar(v))
}

/// `yaml_emitter_analyze_scalar`, byte by byte.
fn analyze_any_scalar(v: &[u8]) -> ScalarData {
    if v.is_empty() {
        return ScalarData {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
            style: None,
        };
    }
    let mut block_ind = false;
    let mut flow_ind = false;
    let mut line_breaks = false;
    let mut special = false;
    let mut tabs = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if v.len() >= 3 && (v.starts_with(b"---") || v.starts_with(b"...")) {
        block_ind = true;
        flow_ind = true;
    }
    let mut preceded_ws = true;
    let mut i = 0;
    while i < v.len() {
        let w = width(v[i]).max(1);
        let followed_ws = i + w >= v.len() || is_blank(v, i + w);
        let c = v[i];
        if i == 0 {
            match c {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => {
                    flow_ind = true;
                    block_ind = true;
                }
                b'?' | b':' => {
                    flow_ind = true;
                    if followed_ws {
                        block_ind = true;
                    }
                }
                b'-' if followed_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        } else {
            match c {
                b',' | b'?' | b'[' | b']' | b'{' | b'}' => flow_ind = true,
                b':' => {
                    flow_ind = true;
                    if followed_ws {
                        block_ind = true;
                    }
                }
                b'#' if preceded_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        }
        if c == b'\t' {
            tabs = true;
        } else if !is_printable(v, i) {
            special = true;
        }
        if is_space(v, i) {
            if i == 0 {
                leading_space = true;
            }
            if i + w == v.len() {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(v, i) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + w == v.len() {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = is_blankz(v, i);
        i += w;
    }
    let mut d = ScalarData {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
        style: None,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        d.flow_plain_allowed = false;
        d.block_plain_allowed = false;
    }
    if trailing_space {
        d.block_allowed = false;
    }
    if break_space {
        d.flow_plain_allowed = false;
        d.block_plain_allowed = false;
        d.single_quoted_allowed = false;
    }
    if space_break || tabs || special {
        d.flow_plain_allowed = false;
        d.block_plain_allowed = false;
        d.single_quoted_allowed = false;
    }
    if space_break || special {
        d.block_allowed = false;
    }
    if line_breaks {
        d.flow_plain_allowed = false;
        d.block_plain_allowed = false;
    }
    if flow_ind {
        d.flow_plain_allowed = false;
    }
    if block_ind {
        d.block_plain_allowed = false;
    }
    d
}

/// Events not written (an emitter dropped on an error) may own cleartext: zeroized.
impl Drop for Emitter<'_> {
    fn drop(&mut self) {
        for event in &mut self.events {
            if let Kind::Scalar(Cow::Owned(text), _) = &mut event.kind {
                text.zeroize();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_fast_scalar_analysis_agrees_with_the_full_one(
            v in "[!-~]{1,12}|[-:?#,\\[\\]{}.a]{1,6}"
        ) {
            let fast = analyze_simple_scalar(v.as_bytes());
            prop_assert!(fast.is_some());
            prop_assert_eq!(fast.unwrap(), analyze_any_scalar(v.as_bytes()));
        }
    }

    #[test]
    fn scalars_with_spaces_or_non_ascii_take_the_full_analysis() {
        for v in ["a b", "é", "a\tb", "", "a\n"] {
            assert!(analyze_simple_scalar(v.as_bytes()).is_none(), "{v:?}");
        }
    }
}
