//! Go's `fmt.Sprintf` (`fmt/print.go` `doPrintf`, `fmt/format.go`) for the values templates
//! hold: verbs `%v %s %q %x %X %d %b %o %c %t %f %F %e %E %g %G %%`, flags `- + # 0 space`,
//! width and precision, from the format or from an argument (`*`). Lists and maps apply the
//! verb to each element, as Go does; a verb that does not suit its value prints Go's
//! `%!d(string=x)`, and Go's `%!(NOVERB)`, `%!d(MISSING)`, `%!(EXTRA …)`, `%!(BADWIDTH)` and
//! `%!(BADPREC)` appear where Go prints them. Not here: explicit argument indexes (`%[2]d`),
//! `%U`, `%p`, `%T`, hexadecimal floats, and `%g` with a precision (printed as shortest).
//!
//! Go's own limit comes first: a width or precision whose digits pass 10^6 ends the format
//! (`%!(NOVERB)`), one from an argument outside ±10^6 is `%!(BADWIDTH)`/`%!(BADPREC)`. What
//! Go would still allocate (a width up to 10^7) is refused by the output budget before any
//! byte of it is written.

use super::super::budget::Limit;
use super::super::sink::Sink;
use super::super::value::{Value, go_float_g};
use super::decode_rune;

/// Go's `tooLarge`: the magnitude past which a width or precision is refused.
const TOO_LARGE: u64 = 1_000_000;

/// Flags, width and precision of one verb.
#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Formats `args` by `format` into `out`.
pub(super) fn sprintf(format: &[u8], args: &[Value], out: &mut Sink) -> Result<(), Limit> {
    let end = format.len();
    let mut next_arg = 0;
    let mut i = 0;
    while i < end {
        let start = i;
        while i < end && format[i] != b'%' {
            i += 1;
        }
        out.extend(&format[start..i])?;
        if i >= end {
            break;
        }
        i += 1;
        let mut spec = Spec::default();
        while i < end {
            match format[i] {
                b'#' => spec.sharp = true,
                // Zero padding only to the left.
                b'0' => spec.zero = !spec.minus,
                b'+' => spec.plus = true,
                b'-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        if format.get(i) == Some(&b'*') {
            i += 1;
            match int_from_arg(args, &mut next_arg) {
                Some(w) => {
                    if w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                None => out.extend(b"%!(BADWIDTH)")?,
            }
        } else {
            (spec.width, i) = parse_num(format, i);
        }
        if i + 1 < end && format[i] == b'.' {
            i += 1;
            if format[i] == b'*' {
                i += 1;
                match int_from_arg(args, &mut next_arg) {
                    Some(p) if p >= 0 => spec.precision = Some(p.unsigned_abs() as usize),
                    _ => out.extend(b"%!(BADPREC)")?,
                }
            } else {
                let (precision, after) = parse_num(format, i);
                spec.precision = Some(precision.unwrap_or(0));
                i = after;
            }
        }
        if i >= end {
            out.extend(b"%!(NOVERB)")?;
            break;
        }
        let (verb, size) = decode_rune(&format[i..]);
        i += size;
        if verb == '%' {
            out.push(b'%')?;
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.extend(b"%!")?;
            out.push_char(verb)?;
            out.extend(b"(MISSING)")?;
            continue;
        };
        next_arg += 1;
        format_arg(out, &spec, verb, arg)?;
    }
    if next_arg < args.len() {
        out.extend(b"%!(EXTRA ")?;
        for (j, v) in args[next_arg..].iter().enumerate() {
            if j > 0 {
                out.extend(b", ")?;
            }
            typed(out, v)?;
        }
        out.push(b')')?;
    }
    Ok(())
}

/// Go's `parsenum`: a decimal number at `start` and the index after it. Once the number
/// passes [`TOO_LARGE`] with digits still to come it is refused and the whole rest of the
/// format is consumed, so the verb goes missing (Go: "crazy long number most likely").
fn parse_num(format: &[u8], start: usize) -> (Option<usize>, usize) {
    let mut num: u64 = 0;
    let mut found = false;
    let mut i = start;
    while let Some(d) = format.get(i).filter(|b| b.is_ascii_digit()) {
        if num > TOO_LARGE {
            return (None, format.len());
        }
        num = num * 10 + u64::from(d - b'0');
        found = true;
        i += 1;
    }
    (found.then_some(num as usize), i)
}

/// Go's `intFromArg`: the next argument as a width or precision. An argument is consumed
/// whenever there is one; it counts only as an integer within ±[`TOO_LARGE`].
fn int_from_arg(args: &[Value], next_arg: &mut usize) -> Option<i64> {
    let arg = args.get(*next_arg)?;
    *next_arg += 1;
    match arg {
        Value::Int(n) if n.unsigned_abs() <= TOO_LARGE => Some(*n),
        _ => None,
    }
}

/// Go's `utf8.RuneCount`: each invalid byte counts as one.
fn rune_count(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|c| c.valid().chars().count() + c.invalid().len())
        .sum()
}

/// The byte length of the first `n` runes of `bytes`.
fn rune_prefix(bytes: &[u8], n: usize) -> usize {
    let mut left = n;
    let mut len = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if left == 0 {
                return len;
            }
            left -= 1;
            len += c.len_utf8();
        }
        for _ in chunk.invalid() {
            if left == 0 {
                return len;
            }
            left -= 1;
            len += 1;
        }
    }
    len
}

/// Go's type name of a value, as `%!d(string=x)` shows it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Nil | Value::Missing => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
    }
}

/// `type=value`, or `<nil>`.
fn typed(out: &mut Sink, v: &Value) -> Result<(), Limit> {
    if let Value::Nil | Value::Missing = v {
        return out.extend(b"<nil>");
    }
    out.extend(go_type(v).as_bytes())?;
    out.push(b'=')?;
    v.print(out)
}

fn bad_verb(out: &mut Sink, verb: char, v: &Value) -> Result<(), Limit> {
    out.extend(b"%!")?;
    out.push_char(verb)?;
    out.push(b'(')?;
    typed(out, v)?;
    out.push(b')')
}

fn format_arg(out: &mut Sink, spec: &Spec, verb: char, v: &Value) -> Result<(), Limit> {
    match (verb, v) {
        ('v', Value::Nil) => pad(out, spec, b"<nil>"),
        ('v', Value::Missing) => pad(out, spec, b"<no value>"),
        ('t' | 'v', Value::Bool(b)) => pad(out, spec, if *b { b"true" } else { b"false" }),
        ('v' | 'd', Value::Int(n)) => integer(out, spec, *n, 10, false),
        ('b', Value::Int(n)) => integer(out, spec, *n, 2, false),
        ('o', Value::Int(n)) => integer(out, spec, *n, 8, false),
        ('x', Value::Int(n)) => integer(out, spec, *n, 16, false),
        ('X', Value::Int(n)) => integer(out, spec, *n, 16, true),
        ('c', Value::Int(n)) => {
            let c = rune(*n);
            pad(out, spec, c.encode_utf8(&mut [0; 4]).as_bytes())
        }
        ('q', Value::Int(n)) => {
            let c = rune(*n);
            quoted(out, spec, c.encode_utf8(&mut [0; 4]).as_bytes(), b'\'')
        }
        ('v' | 'g' | 'G' | 'f' | 'F' | 'e' | 'E', Value::Float(f)) => float(out, spec, verb, *f),
        ('v' | 's', Value::Str(s)) => {
            let s = truncated(spec, s);
            pad(out, spec, s)
        }
        ('q', Value::Str(s)) => {
            let s = truncated(spec, s);
            if spec.sharp && can_backquote(s) {
                let mut piece = Sink::new(out.room(), out.over());
                piece.push(b'`')?;
                piece.extend(s)?;
                piece.push(b'`')?;
                pad(out, spec, piece.as_slice())
            } else {
                quoted(out, spec, s, b'"')
            }
        }
        ('x' | 'X', Value::Str(s)) => hex_bytes(out, spec, s, verb == 'X'),
        (_, Value::List(list)) => {
            out.push(b'[')?;
            for (i, item) in list.items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ')?;
                }
                format_arg(out, spec, verb, item)?;
            }
            out.push(b']')
        }
        (_, Value::Map(map)) => {
            out.extend(b"map[")?;
            for (i, (k, item)) in map.entries.iter().enumerate() {
                if i > 0 {
                    out.push(b' ')?;
                }
                format_arg(out, spec, verb, &Value::str(k.as_bytes()))?;
                out.push(b':')?;
                format_arg(out, spec, verb, item)?;
            }
            out.push(b']')
        }
        (verb, v) => bad_verb(out, verb, v),
    }
}

/// An integer as a rune; out of range is U+FFFD, as Go's `fmtC` does.
fn rune(n: i64) -> char {
    u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}')
}

/// `s` cut to the precision, in runes.
fn truncated<'s>(spec: &Spec, s: &'s [u8]) -> &'s [u8] {
    match spec.precision {
        Some(p) => &s[..rune_prefix(s, p)],
        None => s,
    }
}

/// Go's `fmt.pad`: `piece` padded to the width, on the left unless `-`, with zeros when `0`.
fn pad(out: &mut Sink, spec: &Spec, piece: &[u8]) -> Result<(), Limit> {
    let padding = spec.width.unwrap_or(0).saturating_sub(rune_count(piece));
    if spec.minus {
        out.extend(piece)?;
        out.fill(b' ', padding)
    } else {
        out.fill(if spec.zero { b'0' } else { b' ' }, padding)?;
        out.extend(piece)
    }
}

/// Go's `fmtInteger`: sign, `#` prefix, precision (or `0` with a width) as leading zeros.
fn integer(out: &mut Sink, spec: &Spec, n: i64, base: u32, upper: bool) -> Result<(), Limit> {
    let width = spec.width.unwrap_or(0);
    let u = n.unsigned_abs();
    if spec.precision == Some(0) && u == 0 {
        return out.fill(b' ', width);
    }
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if upper => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    let sign: &[u8] = if n < 0 {
        b"-"
    } else if spec.plus {
        b"+"
    } else if spec.space {
        b" "
    } else {
        b""
    };
    let precision = match spec.precision {
        Some(p) => p,
        None if spec.zero && spec.width.is_some() => width.saturating_sub(sign.len()),
        None => 0,
    };
    let zeros = precision.saturating_sub(digits.len());
    let prefix: &[u8] = match (spec.sharp, base) {
        (true, 8) if zeros == 0 && !digits.starts_with('0') => b"0",
        (true, 16) if upper => b"0X",
        (true, 16) => b"0x",
        (true, 2) => b"0b",
        _ => b"",
    };
    let len = sign.len() + prefix.len() + zeros.saturating_add(digits.len());
    let padding = width.saturating_sub(len);
    out.check_room(len.saturating_add(padding))?;
    if !spec.minus {
        out.fill(b' ', padding)?;
    }
    out.extend(sign)?;
    out.extend(prefix)?;
    out.fill(b'0', zeros)?;
    out.extend(digits.as_bytes())?;
    digits.clear();
    if spec.minus {
        out.fill(b' ', padding)?;
    }
    Ok(())
}

/// Go's `fmtFloat` for `%v %g %G` (shortest), `%f %F` and `%e %E` (precision 6 by default).
fn float(out: &mut Sink, spec: &Spec, verb: char, f: f64) -> Result<(), Limit> {
    let precision = spec.precision.unwrap_or(6);
    if matches!(verb, 'f' | 'F' | 'e' | 'E') {
        // At least the precision's digits will be written: refuse before formatting them.
        out.check_room(precision.saturating_add(2))?;
    }
    let num = if !f.is_finite() {
        go_float_g(f)
    } else {
        match verb {
            'f' | 'F' => format!("{f:.precision$}"),
            'e' | 'E' => go_exponent(&format!("{f:.precision$e}"), verb == 'E'),
            'G' => go_float_g(f).to_uppercase(),
            _ => go_float_g(f),
        }
    };
    let (negative, digits) = match num.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, num.strip_prefix('+').unwrap_or(&num)),
    };
    let sign: &[u8] = if negative {
        b"-"
    } else if spec.plus {
        b"+"
    } else if spec.space {
        b" "
    } else {
        b""
    };
    if f.is_nan() || f.is_infinite() {
        // Not numbers: never zero padded; NaN shows a sign only when asked for one.
        let no_zero = Spec {
            zero: false,
            ..*spec
        };
        let mut piece = Sink::new(8, Limit::Output(8));
        piece.extend(if f.is_nan() && !spec.plus && !spec.space {
            b""
        } else {
            sign
        })?;
        if f.is_infinite() && sign.is_empty() {
            piece.push(b'+')?;
        }
        piece.extend(digits.as_bytes())?;
        return pad(out, &no_zero, piece.as_slice());
    }
    let len = sign.len() + digits.len();
    let width = spec.width.unwrap_or(0);
    if spec.zero && !sign.is_empty() && width > len {
        // The sign goes before the leading zeros.
        out.extend(sign)?;
        out.fill(b'0', width - len)?;
        return out.extend(digits.as_bytes());
    }
    let mut piece = Sink::new(out.room(), out.over());
    piece.extend(sign)?;
    piece.extend(digits.as_bytes())?;
    pad(out, spec, piece.as_slice())
}

/// Rust's `1.5e0` as Go's `1.5e+00`.
fn go_exponent(rust: &str, upper: bool) -> String {
    let (mantissa, exp) = rust.split_once('e').unwrap_or((rust, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let e = if upper { 'E' } else { 'e' };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}{e}{sign}{:02}", exp.unsigned_abs())
}

/// Go's `fmtSbx`: each byte as two hex digits, `#` adding `0x`, space separating bytes.
fn hex_bytes(out: &mut Sink, spec: &Spec, s: &[u8], upper: bool) -> Result<(), Limit> {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let prefix: &[u8] = if upper { b"0X" } else { b"0x" };
    let length = spec.precision.map_or(s.len(), |p| p.min(s.len()));
    let width = spec.width.unwrap_or(0);
    if length == 0 {
        return out.fill(if spec.zero { b'0' } else { b' ' }, width);
    }
    let mut encoded = length.saturating_mul(2);
    if spec.space {
        if spec.sharp {
            encoded = encoded.saturating_mul(2);
        }
        encoded = encoded.saturating_add(length - 1);
    } else if spec.sharp {
        encoded = encoded.saturating_add(2);
    }
    let padding = width.saturating_sub(encoded);
    out.check_room(encoded.saturating_add(padding))?;
    if !spec.minus {
        out.fill(if spec.zero { b'0' } else { b' ' }, padding)?;
    }
    if spec.sharp {
        out.extend(prefix)?;
    }
    for (i, b) in s[..length].iter().enumerate() {
        if spec.space && i > 0 {
            out.push(b' ')?;
            if spec.sharp {
                out.extend(prefix)?;
            }
        }
        out.push(digits[usize::from(b >> 4)])?;
        out.push(digits[usize::from(b & 0xF)])?;
    }
    if spec.minus {
        out.fill(b' ', padding)?;
    }
    Ok(())
}

/// `s` quoted (Go's `strconv.Quote`, or `QuoteToASCII` with `+`) and padded.
fn quoted(out: &mut Sink, spec: &Spec, s: &[u8], quote: u8) -> Result<(), Limit> {
    let mut piece = Sink::new(out.room(), out.over());
    go_quote(&mut piece, s, quote, spec.plus)?;
    pad(out, spec, piece.as_slice())
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &[u8]) -> bool {
    std::str::from_utf8(s).is_ok_and(|t| {
        t.chars()
            .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
    })
}

/// Go's `strconv.Quote` (`quote` `"`) or `QuoteRune` (`'`), into `out`; with `ascii`, every
/// non-ASCII character is escaped too.
pub(super) fn go_quote(out: &mut Sink, bytes: &[u8], quote: u8, ascii: bool) -> Result<(), Limit> {
    out.push(quote)?;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.extend(b"\\\\")?,
                c if c == char::from(quote) => {
                    out.push(b'\\')?;
                    out.push(quote)?;
                }
                '\u{7}' => out.extend(b"\\a")?,
                '\u{8}' => out.extend(b"\\b")?,
                '\u{c}' => out.extend(b"\\f")?,
                '\n' => out.extend(b"\\n")?,
                '\r' => out.extend(b"\\r")?,
                '\t' => out.extend(b"\\t")?,
                '\u{b}' => out.extend(b"\\v")?,
                c if (c == ' ' || !(c.is_control() || c.is_whitespace()))
                    && (!ascii || c.is_ascii()) =>
                {
                    out.push_char(c)?;
                }
                c if (c as u32) < 0x80 => out.extend(format!("\\x{:02x}", c as u32).as_bytes())?,
                c if (c as u32) < 0x10000 => {
                    out.extend(format!("\\u{:04x}", c as u32).as_bytes())?;
                }
                c => out.extend(format!("\\U{:08x}", c as u32).as_bytes())?,
            }
        }
        for b in chunk.invalid() {
            out.extend(format!("\\x{b:02x}").as_bytes())?;
        }
    }
    out.push(quote)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn s(v: &str) -> Value {
        Value::str(v)
    }

    fn go(format: &str, args: &[Value]) -> String {
        let mut out = Sink::new(1 << 20, Limit::Output(1 << 20));
        sprintf(format.as_bytes(), args, &mut out).unwrap();
        String::from_utf8(out.into_bytes().to_vec()).unwrap()
    }

    #[test]
    fn printf_formats_like_go() {
        let out = go(
            "%s:%d|%5s|%-4d|%05d|%q|%.2f|%v|%x|%%|%d",
            &[
                s("a"),
                Value::Int(7),
                s("ab"),
                Value::Int(3),
                Value::Int(-42),
                s("q\"\n"),
                Value::Float(1.005),
                Value::list(vec![Value::Int(1)]),
                s("hi"),
            ],
        );
        assert_eq!(
            out,
            "a:7|   ab|3   |-0042|\"q\\\"\\n\"|1.00|[1]|6869|%|%!d(MISSING)"
        );
        assert_eq!(go("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(go("x", &[Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(
            go(
                "%x|%X|%o|%b",
                &[
                    Value::Int(-255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5)
                ]
            ),
            "-ff|FF|10|101"
        );
        assert_eq!(
            go(
                "%#x|%#o|%+d|% d",
                &[Value::Int(255), Value::Int(8), Value::Int(3), Value::Int(3)]
            ),
            "0xff|010|+3| 3"
        );
        assert_eq!(
            go(
                "%.3d|%8.3f|%-8.1f|%+.1e",
                &[
                    Value::Int(7),
                    Value::Float(1.23456),
                    Value::Float(2.0),
                    Value::Float(12345.0)
                ]
            ),
            "007|   1.235|2.0     |+1.2e+04"
        );
        assert_eq!(
            go(
                "%c|%q|%.2s|%5.1s|",
                &[Value::Int(0x263A), Value::Int(97), s("héllo"), s("xyz")]
            ),
            "☺|'a'|hé|    x|"
        );
        assert_eq!(go("% x|%#X", &[s("ab"), s("ab")]), "61 62|0X6162");
        assert_eq!(
            go("%v|%s|%t", &[Value::Nil, Value::Nil, Value::Bool(true)]),
            "<nil>|%!s(<nil>)|true"
        );
        assert_eq!(go("%05s|%-5s|", &[s("ab"), s("ab")]), "000ab|ab   |");
        assert_eq!(
            go("%3d", &[Value::list(vec![Value::Int(1), Value::Int(22)])]),
            "[  1  22]"
        );
        let map = Value::map(BTreeMap::from([("k".to_owned(), Value::Int(1))]));
        assert_eq!(
            go("%v %d", &[map.clone(), map]),
            "map[k:1] map[%!d(string=k):1]"
        );
        assert_eq!(go("%#q", &[s("a\"b")]), "`a\"b`");
    }

    #[test]
    fn widths_and_precisions_from_arguments_follow_go() {
        assert_eq!(go("%*d|", &[Value::Int(4), Value::Int(7)]), "   7|");
        assert_eq!(go("%*d|", &[Value::Int(-4), Value::Int(7)]), "7   |");
        assert_eq!(go("%.*f", &[Value::Int(1), Value::Float(2.25)]), "2.2");
        assert_eq!(go("%*d", &[s("x"), Value::Int(7)]), "%!(BADWIDTH)7");
        assert_eq!(go("%.*d", &[Value::Int(-1), Value::Int(7)]), "%!(BADPREC)7");
        assert_eq!(
            go("%*d", &[Value::Int(1_000_001), Value::Int(7)]),
            "%!(BADWIDTH)7"
        );
        assert_eq!(
            go("%.*d", &[Value::Int(2_000_000), Value::Int(7)]),
            "%!(BADPREC)7"
        );
    }

    // issue 13: `{{ printf "%999999999999d" 1 }}` aborted the controller (allocation failure).
    // Go stops reading a width whose digits pass 10^6 and loses the verb.
    #[test]
    fn an_overlong_width_or_precision_loses_the_verb_as_in_go() {
        assert_eq!(
            go("%999999999999d", &[Value::Int(1)]),
            "%!(NOVERB)%!(EXTRA int=1)"
        );
        assert_eq!(
            go("a%.999999999999fb", &[Value::Float(1.0)]),
            "a%!(NOVERB)%!(EXTRA float64=1)"
        );
    }

    #[test]
    fn widths_go_accepts_are_refused_by_the_budget_before_allocating() {
        // Go takes widths up to 10,000,009: more than the output budget allows.
        for format in [
            "%10000000d",
            "%.10000000d",
            "%.9999999f",
            "%10000000s",
            "%10000000x",
        ] {
            let mut out = Sink::new(1 << 20, Limit::Output(1 << 20));
            let arg = if format.ends_with('s') || format.ends_with('x') {
                s("a")
            } else if format.ends_with('f') {
                Value::Float(1.0)
            } else {
                Value::Int(1)
            };
            assert_eq!(
                sprintf(format.as_bytes(), &[arg], &mut out),
                Err(Limit::Output(1 << 20)),
                "{format}"
            );
            assert_eq!(out.len(), 0, "{format}");
        }
    }
}
