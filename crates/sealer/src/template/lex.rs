//! Splits a template into text and actions, and actions into tokens, as Go's `text/template/parse`
//! lexer does: `{{`/`}}` delimiters, `{{- ` / ` -}}` trim markers, `{{/* comments */}}`.
//!
//! A template of a few bytes per token would cost tens of bytes of memory per token, so one
//! template holds at most [`Limits::work`] / [`SLOT`] tokens and texts, counted before each is
//! stored.

use super::budget::{Limit, Limits, SLOT};
use super::error::{Error, Result, limit_error, position};

/// One token inside an action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A function name or keyword (`if`, `range`, `end`, …).
    Ident(String),
    /// `.name` (one link of a field chain).
    Field(String),
    /// `.` on its own.
    Dot,
    /// `$` or `$name`.
    Var(String),
    /// A quoted or raw string.
    Str(String),
    /// An integer constant (also a character constant).
    Int(i64),
    /// A floating-point constant.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `|`.
    Pipe,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `,`.
    Comma,
}

/// A token with its byte offset and whether whitespace came right before it (a field chain
/// `.a.b` or `$x.a` is written without spaces).
#[derive(Debug, Clone)]
pub(crate) struct Spanned {
    pub token: Token,
    pub at: usize,
    pub spaced: bool,
}

/// Text or an action, in template order.
#[derive(Debug)]
pub(crate) enum Item {
    /// Literal text, trim markers applied, and its byte offset.
    Text { text: String, at: usize },
    /// The tokens of one `{{ … }}` (comments produce no item).
    Action { tokens: Vec<Spanned>, at: usize },
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn parse_error(src: &str, at: usize, reason: impl Into<String>) -> Error {
    let (line, column) = position(src, at);
    Error::Parse {
        line,
        column,
        reason: reason.into(),
    }
}

/// Tokens and texts one template may still hold.
struct Allowance {
    left: usize,
    work: usize,
}

impl Allowance {
    /// Takes one, or fails at `at` of `src`.
    fn take(&mut self, src: &str, at: usize) -> Result<()> {
        match self.left.checked_sub(1) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(limit_error(src, at, "template", Limit::Work(self.work))),
        }
    }
}

/// Lexes the whole template.
pub(crate) fn lex(src: &str, limits: &Limits) -> Result<Vec<Item>> {
    let bytes = src.as_bytes();
    let mut allowance = Allowance {
        left: limits.work / SLOT,
        work: limits.work,
    };
    let allowance = &mut allowance;
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next_text = false;
    loop {
        let Some(open) = src[pos..].find("{{").map(|i| pos + i) else {
            push_text(
                &mut items,
                src,
                pos,
                src.len(),
                (trim_next_text, false),
                allowance,
            )?;
            return Ok(items);
        };
        let mut inner = open + 2;
        // `{{- ` trims the whitespace before the action; the marker needs a space after it.
        let trim_before =
            bytes.get(inner) == Some(&b'-') && bytes.get(inner + 1).is_some_and(|b| is_space(*b));
        if trim_before {
            inner += 2;
        }
        push_text(
            &mut items,
            src,
            pos,
            open,
            (trim_next_text, trim_before),
            allowance,
        )?;
        let (end, trim_after) = if src[inner..]
            .trim_start_matches(|c: char| c.is_ascii_whitespace() && trim_before)
            .starts_with("/*")
        {
            lex_comment(src, inner)?
        } else {
            allowance.take(src, open)?;
            let (tokens, end, trim_after) = lex_action(src, open, inner, allowance)?;
            items.push(Item::Action { tokens, at: open });
            (end, trim_after)
        };
        pos = end;
        trim_next_text = trim_after;
    }
}

/// The text `src[from..to]`, trimmed at the start and the end as the markers around it say.
fn push_text(
    items: &mut Vec<Item>,
    src: &str,
    from: usize,
    to: usize,
    trim: (bool, bool),
    allowance: &mut Allowance,
) -> Result<()> {
    let mut text = &src[from..to];
    let mut at = from;
    if trim.0 {
        let trimmed = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
        at += text.len() - trimmed.len();
        text = trimmed;
    }
    if trim.1 {
        text = text.trim_end_matches(|c: char| c.is_ascii_whitespace());
    }
    if !text.is_empty() {
        allowance.take(src, at)?;
        items.push(Item::Text {
            text: text.to_owned(),
            at,
        });
    }
    Ok(())
}

/// A comment starting at or after `from`: returns the offset after `}}` and whether it trims.
fn lex_comment(src: &str, from: usize) -> Result<(usize, bool)> {
    let start = from + src[from..].find("/*").unwrap_or(0);
    let Some(close) = src[start + 2..].find("*/").map(|i| start + 2 + i) else {
        return Err(parse_error(src, start, "unclosed comment"));
    };
    let rest = &src[close + 2..];
    if let Some(after) = rest.strip_prefix(" -}}") {
        Ok((src.len() - after.len(), true))
    } else if let Some(after) = rest.strip_prefix("}}") {
        Ok((src.len() - after.len(), false))
    } else {
        Err(parse_error(
            src,
            close,
            "comment ends before closing delimiter",
        ))
    }
}

/// Tokens of one action whose inside starts at `from`: returns them, the offset after `}}` and
/// whether the action ends with ` -}}`.
fn lex_action(
    src: &str,
    open: usize,
    from: usize,
    allowance: &mut Allowance,
) -> Result<(Vec<Spanned>, usize, bool)> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = from;
    loop {
        let before_ws = i;
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        let spaced = i > before_ws || tokens.is_empty();
        if i >= bytes.len() {
            return Err(parse_error(src, open, "unclosed action"));
        }
        if spaced && i > before_ws && src[i..].starts_with("-}}") {
            return Ok((tokens, i + 3, true));
        }
        if src[i..].starts_with("}}") {
            return Ok((tokens, i + 2, false));
        }
        let at = i;
        let c = bytes[i];
        let token = match c {
            b'|' => {
                i += 1;
                Token::Pipe
            }
            b'(' => {
                i += 1;
                Token::LParen
            }
            b')' => {
                i += 1;
                Token::RParen
            }
            b',' => {
                i += 1;
                Token::Comma
            }
            b'=' => {
                i += 1;
                Token::Assign
            }
            b':' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Token::Declare
            }
            b'"' => {
                let (s, end) = lex_quoted(src, i)?;
                i = end;
                Token::Str(s)
            }
            b'`' => {
                let Some(close) = src[i + 1..].find('`').map(|j| i + 1 + j) else {
                    return Err(parse_error(src, i, "unterminated raw string"));
                };
                let s = src[i + 1..close].to_owned();
                i = close + 1;
                Token::Str(s)
            }
            b'\'' => {
                let (ch, end) = lex_char(src, i)?;
                i = end;
                Token::Int(i64::from(u32::from(ch)))
            }
            b'$' => {
                let end = ident_end(bytes, i + 1);
                let name = src[i..end].to_owned();
                i = end;
                Token::Var(name)
            }
            b'.' if bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()) => {
                let (t, end) = lex_number(src, i)?;
                i = end;
                t
            }
            b'.' => {
                let end = ident_end(bytes, i + 1);
                if end == i + 1 {
                    i += 1;
                    Token::Dot
                } else {
                    let name = src[i + 1..end].to_owned();
                    i = end;
                    Token::Field(name)
                }
            }
            b'0'..=b'9' => {
                let (t, end) = lex_number(src, i)?;
                i = end;
                t
            }
            b'-' | b'+'
                if bytes
                    .get(i + 1)
                    .is_some_and(|b| b.is_ascii_digit() || *b == b'.') =>
            {
                let (t, end) = lex_number(src, i)?;
                i = end;
                t
            }
            c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let end = ident_end(bytes, i);
                let word = &src[i..end];
                i = end;
                match word {
                    "true" => Token::Bool(true),
                    "false" => Token::Bool(false),
                    "nil" => Token::Nil,
                    _ => Token::Ident(word.to_owned()),
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(parse_error(src, i, format!("unexpected {ch:?} in action")));
            }
        };
        allowance.take(src, at)?;
        tokens.push(Spanned { token, at, spaced });
    }
}

/// End of an identifier (letters, digits, `_`, any non-ASCII) starting at `from`.
fn ident_end(bytes: &[u8], from: usize) -> usize {
    let mut end = from;
    while end < bytes.len()
        && (bytes[end] == b'_' || bytes[end].is_ascii_alphanumeric() || bytes[end] >= 0x80)
    {
        end += 1;
    }
    end
}

fn lex_number(src: &str, from: usize) -> Result<(Token, usize)> {
    let bytes = src.as_bytes();
    let mut end = from;
    if matches!(bytes[end], b'-' | b'+') {
        end += 1;
    }
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric()
            || matches!(bytes[end], b'.' | b'_')
            || (matches!(bytes[end], b'-' | b'+')
                && matches!(bytes[end - 1], b'e' | b'E' | b'p' | b'P')))
    {
        end += 1;
    }
    let text: String = src[from..end].chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let radix = |prefix: [&str; 2], radix: u32| {
        prefix
            .iter()
            .find_map(|p| digits.strip_prefix(p))
            .map(|rest| i64::from_str_radix(rest, radix))
    };
    let int = radix(["0x", "0X"], 16)
        .or_else(|| radix(["0o", "0O"], 8))
        .or_else(|| radix(["0b", "0B"], 2))
        .or_else(|| {
            (digits.len() > 1
                && digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| i64::from_str_radix(&digits[1..], 8))
        })
        .unwrap_or_else(|| digits.parse::<i64>());
    if let Ok(n) = int {
        return Ok((Token::Int(if negative { -n } else { n }), end));
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok((Token::Float(f), end)),
        _ => Err(parse_error(
            src,
            from,
            format!("bad number syntax: {:?}", &src[from..end]),
        )),
    }
}

/// A double-quoted string with Go escapes, starting at the quote.
fn lex_quoted(src: &str, from: usize) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[from + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, from + 1 + off + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                let simple = match e {
                    'n' => Some('\n'),
                    't' => Some('\t'),
                    'r' => Some('\r'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'v' => Some('\u{b}'),
                    '\\' => Some('\\'),
                    '"' => Some('"'),
                    '\'' => Some('\''),
                    _ => None,
                };
                if let Some(s) = simple {
                    out.push(s);
                    continue;
                }
                let width = match e {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    '0'..='7' => 2,
                    _ => {
                        return Err(parse_error(
                            src,
                            from + 1 + off,
                            format!("unknown escape \\{e}"),
                        ));
                    }
                };
                let mut digits = String::new();
                if e.is_ascii_digit() {
                    digits.push(e);
                }
                for _ in 0..width {
                    match chars.next() {
                        Some((_, d)) => digits.push(d),
                        None => return Err(parse_error(src, from, "unterminated quoted string")),
                    }
                }
                let value = u32::from_str_radix(&digits, if e.is_ascii_digit() { 8 } else { 16 })
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| parse_error(src, from + 1 + off, "invalid escape"))?;
                out.push(value);
            }
            c => out.push(c),
        }
    }
    Err(parse_error(src, from, "unterminated quoted string"))
}

/// A character constant (`'a'`, `'\n'`), starting at the quote.
fn lex_char(src: &str, from: usize) -> Result<(char, usize)> {
    let rest = &src[from + 1..];
    let mut chars = rest.char_indices();
    let ch = match chars.next() {
        Some((_, '\\')) => match chars.next() {
            Some((_, 'n')) => '\n',
            Some((_, 't')) => '\t',
            Some((_, 'r')) => '\r',
            Some((_, '\\')) => '\\',
            Some((_, '\'')) => '\'',
            Some((_, '0')) => '\0',
            _ => return Err(parse_error(src, from, "unsupported character escape")),
        },
        Some((_, c)) if c != '\'' => c,
        _ => return Err(parse_error(src, from, "empty character constant")),
    };
    match chars.next() {
        Some((off, '\'')) => Ok((ch, from + 1 + off + 1)),
        _ => Err(parse_error(src, from, "unterminated character constant")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Vec<Token> {
        match lex(src, &Limits::default()).unwrap().into_iter().next() {
            Some(Item::Action { tokens, .. }) => tokens.into_iter().map(|t| t.token).collect(),
            other => panic!("no action: {other:?}"),
        }
    }

    #[test]
    fn trim_markers_eat_the_surrounding_whitespace() {
        let items = lex("a  \n{{- .x -}}\n  b", &Limits::default()).unwrap();
        let texts: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Item::Text { text, .. } => Some(text.as_str()),
                Item::Action { .. } => None,
            })
            .collect();
        assert_eq!(texts, ["a", "b"]);
    }

    #[test]
    fn a_minus_without_space_is_a_number_not_a_trim_marker() {
        assert_eq!(tokens("{{-3}}"), [Token::Int(-3)]);
    }

    #[test]
    fn comments_produce_nothing() {
        let items = lex("a{{/* hidden }} */}}b{{- /* x */ -}} c", &Limits::default()).unwrap();
        let texts: Vec<_> = items
            .iter()
            .map(|i| match i {
                Item::Text { text, .. } => text.as_str(),
                Item::Action { .. } => panic!("a comment became an action"),
            })
            .collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }

    #[test]
    fn strings_numbers_fields_and_variables_are_tokens() {
        assert_eq!(
            tokens(r#"{{ $x := index .a.b "k\t\"" `raw` 0x1F 1.5e3 'a' | f }}"#),
            [
                Token::Var("$x".into()),
                Token::Declare,
                Token::Ident("index".into()),
                Token::Field("a".into()),
                Token::Field("b".into()),
                Token::Str("k\t\"".into()),
                Token::Str("raw".into()),
                Token::Int(31),
                Token::Float(1500.0),
                Token::Int(97),
                Token::Pipe,
                Token::Ident("f".into()),
            ]
        );
    }

    #[test]
    fn a_closing_delimiter_inside_a_string_does_not_end_the_action() {
        assert_eq!(tokens(r#"{{ "}}" }}"#), [Token::Str("}}".into())]);
    }

    #[test]
    fn a_template_of_more_tokens_than_the_work_budget_allows_is_refused() {
        let limits = Limits {
            work: 10 * SLOT,
            ..Limits::default()
        };
        // One action and its 9 tokens fit; one more text does not.
        assert!(lex("{{ 1 2 3 4 5 6 7 8 9 }}", &limits).is_ok());
        let err = lex("{{ 1 2 3 4 5 6 7 8 9 }}x", &limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template: line 1, column 24: template exceeds the work budget of 640 bytes"
        );
        assert!(lex("{{ 1 2 3 4 5 6 7 8 9 10 }}", &limits).is_err());
    }

    #[test]
    fn unclosed_actions_and_strings_are_errors_with_a_position() {
        let err = lex("line1\n  {{ .x", &Limits::default())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "template: line 2, column 3: unclosed action");
        assert!(lex(r#"{{ "abc }}"#, &Limits::default()).is_err());
        assert!(lex("{{ /* x }}", &Limits::default()).is_err());
    }
}
