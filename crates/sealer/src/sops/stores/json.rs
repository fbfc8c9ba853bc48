//! The JSON store (getsops/sops `stores/json/store.go`).
//!
//! Reading walks the tokens like Go's `json.Decoder`: object order and duplicate keys are kept,
//! every number becomes a `float64` (as in sops). Writing builds compact JSON with Go's
//! `json.Marshal` value forms (HTML-safe escapes, shortest floats) and re-indents it like
//! `json.Indent` (tab by default), plus a final newline.

use crate::budget;
use crate::sops::error::{Error, Result};
use crate::sops::gofmt;
use crate::sops::tree::{Branch, Item, Key, Scalar, Value};

fn malformed(src: &[u8], at: usize, message: impl Into<String>) -> Error {
    let line = src[..at.min(src.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1;
    Error::malformed("json", Some(line), message)
}

struct Reader<'a> {
    src: &'a [u8],
    pos: usize,
    /// Objects and arrays open around `pos`.
    depth: usize,
}

impl<'a> Reader<'a> {
    fn new(src: &'a [u8]) -> Self {
        Self {
            src,
            pos: 0,
            depth: 0,
        }
    }

    /// Enters an object or array: refused beyond [`budget::MAX_DEPTH`], before recursing.
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        budget::check_depth(self.depth).map_err(|e| self.err(e.to_string()))
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn ws(&mut self) {
        while self.pos < self.src.len()
            && matches!(self.src[self.pos], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
    }

    fn err(&self, m: impl Into<String>) -> Error {
        malformed(self.src, self.pos, m)
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        self.ws();
        if self.src.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected `{}`", c as char)))
        }
    }

    /// Reads one value. Recursive (once per level, [`budget::MAX_DEPTH`] at most): scalars are
    /// read in their own function, so this frame stays small in unoptimized builds too.
    fn value(&mut self) -> Result<Value> {
        self.ws();
        match self.src.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                Ok(Value::Branch(self.object_rest()?))
            }
            Some(b'[') => {
                self.pos += 1;
                self.enter()?;
                let items = self.array_rest()?;
                self.leave();
                Ok(Value::List(items))
            }
            _ => self.scalar().map(Value::Scalar),
        }
    }

    #[inline(never)]
    fn scalar(&mut self) -> Result<Scalar> {
        match self.src.get(self.pos) {
            Some(b'"') => Ok(Scalar::Str(self.string()?)),
            Some(b't') if self.src[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Scalar::Bool(true))
            }
            Some(b'f') if self.src[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Scalar::Bool(false))
            }
            Some(b'n') if self.src[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(Scalar::Null)
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while self.pos < self.src.len()
                    && matches!(
                        self.src[self.pos],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or_default();
                if !valid_number(text) {
                    return Err(malformed(
                        self.src,
                        start,
                        format!("invalid number `{text}`"),
                    ));
                }
                let f: f64 = text
                    .parse()
                    .map_err(|_| malformed(self.src, start, format!("invalid number `{text}`")))?;
                if f.is_infinite() {
                    return Err(malformed(
                        self.src,
                        start,
                        format!("number `{text}` out of range"),
                    ));
                }
                Ok(Scalar::Float(f))
            }
            _ => Err(self.err("invalid JSON value")),
        }
    }

    fn array_rest(&mut self) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        self.ws();
        if self.src.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.src.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }

    /// The members of an object whose `{` was just read.
    fn object_rest(&mut self) -> Result<Branch> {
        self.enter()?;
        let b = self.members()?;
        self.leave();
        Ok(b)
    }

    fn members(&mut self) -> Result<Branch> {
        let mut b = Branch::default();
        self.ws();
        if self.src.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(b);
        }
        loop {
            self.ws();
            if self.src.get(self.pos) != Some(&b'"') {
                return Err(self.err("expected an object key"));
            }
            let k = self.string()?;
            self.expect(b':')?;
            let v = self.value()?;
            b.items.push(Item::new(k, v));
            self.ws();
            match self.src.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(b);
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self
            .src
            .get(self.pos..self.pos + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String> {
        self.pos += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    // Go replaces invalid UTF-8 with U+FFFD.
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self
                        .src
                        .get(self.pos)
                        .copied()
                        .ok_or_else(|| self.err("bad escape"))?;
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.src[self.pos..].starts_with(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                        .unwrap_or('\u{FFFD}')
                                } else {
                                    self.pos = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return Err(self.err("invalid escape in string")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err("control character in string")),
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

fn valid_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

/// Reads a JSON document whose top level is an object.
pub(crate) fn load(src: &[u8]) -> Result<Branch> {
    let mut r = Reader::new(src);
    r.ws();
    if r.src.get(r.pos) != Some(&b'{') {
        return Err(r.err("expected a JSON object at the top level"));
    }
    r.pos += 1;
    let b = r.object_rest()?;
    r.ws();
    if r.pos != src.len() {
        return Err(r.err("unexpected data after the top-level object"));
    }
    Ok(b)
}

/// `sops set`'s JSON value (`jsonValueToTreeInsertableValue`).
pub(crate) fn value_from_json(text: &str) -> Result<Value> {
    let mut r = Reader::new(text.as_bytes());
    let v = r.value()?;
    r.ws();
    if r.pos != text.len() {
        return Err(r.err("unexpected data after the value"));
    }
    if let Value::List(_) = v {
        return Err(Error::Unsupported(
            "a list cannot be set as a value (sops refuses it too)".into(),
        ));
    }
    Ok(v)
}

/// Go's `json.Marshal` of a string (HTML-safe).
pub(crate) fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn scalar(s: &Scalar, out: &mut String) -> Result<()> {
    match s {
        Scalar::Null => out.push_str("null"),
        Scalar::Str(s) | Scalar::Time(s) => quote(s, out),
        Scalar::RawStr(b) => quote(&String::from_utf8_lossy(b), out),
        Scalar::Bytes(b) => quote(&crate::encoding::encode_std(b), out),
        Scalar::Int(i) => out.push_str(&i.to_string()),
        Scalar::Float(f) => {
            if !f.is_finite() {
                return Err(Error::Unsupported(format!(
                    "json: unsupported value: {}",
                    gofmt::format_float_g(*f, false)
                )));
            }
            out.push_str(&gofmt::format_float_json(*f));
        }
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
    Ok(())
}

/// Writes `v` indented like `json.Indent(dst, compact, "", indent)`.
fn write(v: &Value, level: usize, indent: &str, out: &mut String) -> Result<()> {
    let nl = |out: &mut String, level: usize| {
        out.push('\n');
        for _ in 0..level {
            out.push_str(indent);
        }
    };
    match v {
        Value::Branch(b) => {
            let mut first = true;
            out.push('{');
            for item in &b.items {
                let Key::Str(k) = &item.key else {
                    if let Key::Other(_) = &item.key {
                        return Err(Error::Unsupported("json: non-string map key".into()));
                    }
                    continue;
                };
                if !first {
                    out.push(',');
                }
                first = false;
                nl(out, level + 1);
                quote(k, out);
                out.push_str(": ");
                write(&item.value, level + 1, indent, out)?;
            }
            if !first {
                nl(out, level);
            }
            out.push('}');
        }
        Value::List(l) => {
            let mut first = true;
            out.push('[');
            for item in l {
                if let Value::Comment(_) = item {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                nl(out, level + 1);
                write(item, level + 1, indent, out)?;
            }
            if !first {
                nl(out, level);
            }
            out.push(']');
        }
        Value::Scalar(s) => scalar(s, out)?,
        Value::Comment(_) => {}
    }
    Ok(())
}

/// The indent string: `None` → tab (sops's default), `Some(n)` → `n` spaces.
pub(crate) fn indent_str(indent: Option<usize>) -> String {
    match indent {
        None => "\t".to_owned(),
        Some(n) => " ".repeat(n),
    }
}

/// `EmitPlainFile`/`EmitEncryptedFile`: the branch (plus `extra`) and a final newline.
pub(crate) fn emit(
    branch: &Branch,
    extra: Option<&Item>,
    indent: Option<usize>,
) -> Result<Vec<u8>> {
    let ind = indent_str(indent);
    let mut out = String::with_capacity(branch.items.len() * 64);
    let v;
    let branch = match extra {
        Some(item) => {
            let mut b = branch.clone();
            b.items.push(item.clone());
            v = b;
            &v
        }
        None => branch,
    };
    let wrapped = Value::Branch(branch.clone());
    write(&wrapped, 0, &ind, &mut out)?;
    out.push('\n');
    Ok(out.into_bytes())
}

/// `EmitValue`: one value, indented, no final newline.
pub(crate) fn emit_value(v: &Value, indent: Option<usize>) -> Result<Vec<u8>> {
    let mut out = String::new();
    write(v, 0, &indent_str(indent), &mut out)?;
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_with_its_line_not_a_stack_overflow() {
        // issue 14: 20,000 levels overflowed the stack.
        let n = 20_000;
        let text = format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        let err = load(text.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err,
            "malformed json file at line 1: nesting deeper than 128 levels"
        );
        let text = format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(load(text.as_bytes()).is_err());
        assert!(value_from_json(&format!("{}1{}", "[".repeat(n), "]".repeat(n))).is_err());
    }

    #[test]
    fn numbers_become_floats_and_print_like_go() {
        let b =
            load(br#"{"i": 42, "big": 9007199254740993, "f": 3.0, "e": 1e21, "s": 1e-7}"#).unwrap();
        let out = String::from_utf8(emit(&b, None, None).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n\t\"i\": 42,\n\t\"big\": 9007199254740992,\n\t\"f\": 3,\n\t\"e\": 1e+21,\n\t\"s\": 1e-7\n}\n"
        );
    }

    #[test]
    fn strings_are_escaped_html_safe_and_order_is_kept() {
        let b = load(r#"{"z": "<a>&\u00e9", "a": {"x": [], "y": {}}}"#.as_bytes()).unwrap();
        let out = String::from_utf8(emit(&b, None, Some(2)).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n  \"z\": \"\\u003ca\\u003e\\u0026é\",\n  \"a\": {\n    \"x\": [],\n    \"y\": {}\n  }\n}\n"
        );
    }

    #[test]
    fn malformed_json_names_the_line() {
        let err = load(b"{\n\"a\": 1,\n\"b\" 2}").unwrap_err();
        assert!(
            matches!(err, Error::Malformed { line: Some(3), .. }),
            "{err}"
        );
    }
}
