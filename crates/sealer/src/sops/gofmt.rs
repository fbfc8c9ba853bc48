//! Go's `strconv`/`time` text forms that sops output depends on (shortest floats in `'f'`,
//! `'g'`, `'G'` and `encoding/json` form; `ParseInt(s, 0, 64)`; go-yaml timestamps).

/// Shortest decimal digits and decimal exponent of a finite, non-zero `f`: `(digits, exp)`
/// with value = 0.d1d2d3... × 10^exp (Go's `decimal.dp`).
fn shortest(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

fn special(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_float_f(f: f64) -> String {
    if let Some(s) = special(f) {
        return s.to_owned();
    }
    // Rust's Display prints the shortest round-trip digits without an exponent, as Go does.
    format!("{f}")
}

/// `%e` with the shortest digits, exponent at least two digits.
fn fmt_e(neg: bool, digits: &str, dp: i32, upper: bool) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = dp - 1;
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
    out
}

/// `strconv.FormatFloat(f, 'g' or 'G', -1, 64)`.
pub(crate) fn format_float_g(f: f64, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let (digits, dp) = shortest(f);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        return fmt_e(f < 0.0, &digits, dp, upper);
    }
    format_float_f(f)
}

/// `encoding/json`'s float form: `'f'`, or `'e'` below 1e-6 and from 1e21 (with `e-07` → `e-7`).
pub(crate) fn format_float_json(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (digits, dp) = shortest(f);
        let mut s = fmt_e(f < 0.0, &digits, dp, false);
        let n = s.len();
        let b = s.as_bytes();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
        s
    } else {
        format_float_f(f)
    }
}

/// sops `stores.ValToString` for floats: `'G'`, and `%.1f` when that looks like an integer.
pub(crate) fn val_to_string_float(f: f64) -> String {
    let s = format_float_g(f, true);
    if !s.contains('.') && !s.contains('E') && f.is_finite() {
        return format!("{f:.1}");
    }
    s
}

/// `strconv.ParseInt(s, 0, 64)` (after go-yaml removed `_`).
pub(crate) fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mag = parse_uint_base0(body)?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            Some((mag as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    }
}

/// `strconv.ParseUint(s, 0, 64)` (no sign).
pub(crate) fn parse_uint_base0(s: &str) -> Option<u64> {
    let (radix, digits) = if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, r)
    } else if let Some(r) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (8, r)
    } else if let Some(r) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (2, r)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `strconv.ParseFloat(s, 64)` for decimal text; `None` on syntax or range errors.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let lower = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    let special = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    if !special
        && !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() && !special {
        return None;
    }
    Some(f)
}

fn take_num(s: &[u8], i: &mut usize, max: usize) -> Option<u32> {
    let start = *i;
    while *i < s.len() && *i - start < max && s[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i == start {
        return None;
    }
    std::str::from_utf8(&s[start..*i]).ok()?.parse().ok()
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// go-yaml v3 `parseTimestamp` followed by `time.Time.MarshalText` (RFC 3339 with nanoseconds).
pub(crate) fn parse_yaml_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year: u32 = s[..4].parse().ok()?;
    let mut i = 5;
    let month = take_num(b, &mut i, 2)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = take_num(b, &mut i, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let (mut hour, mut min, mut sec, mut nanos) = (0, 0, 0, 0u32);
    let mut offset: Option<i32> = Some(0);
    if i < b.len() {
        let sep = b[i];
        let needs_tz = match sep {
            b'T' | b't' => true,
            b' ' => false,
            _ => return None,
        };
        i += 1;
        hour = take_num(b, &mut i, 2)?;
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        min = take_num(b, &mut i, 2)?;
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        sec = take_num(b, &mut i, 2)?;
        if hour >= 24 || min >= 60 || sec >= 60 {
            return None;
        }
        if i + 1 < b.len() && (b[i] == b'.' || b[i] == b',') && b[i + 1].is_ascii_digit() {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let mut frac = s[start..i].to_owned();
            frac.truncate(9);
            while frac.len() < 9 {
                frac.push('0');
            }
            nanos = frac.parse().ok()?;
        }
        if needs_tz {
            match b.get(i) {
                Some(b'Z') => i += 1,
                Some(&c @ (b'+' | b'-')) => {
                    if b.len() < i + 6 || b[i + 3] != b':' {
                        return None;
                    }
                    let hh: i32 = s.get(i + 1..i + 3)?.parse().ok()?;
                    let mm: i32 = s.get(i + 4..i + 6)?.parse().ok()?;
                    if !s[i + 1..i + 3].bytes().all(|c| c.is_ascii_digit())
                        || !s[i + 4..i + 6].bytes().all(|c| c.is_ascii_digit())
                        || hh > 24
                        || mm > 60
                    {
                        return None;
                    }
                    let off = hh * 60 + mm;
                    offset = Some(if c == b'-' { -off } else { off });
                    i += 6;
                }
                _ => return None,
            }
        }
    }
    if i != b.len() {
        return None;
    }
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}");
    if nanos != 0 {
        let mut frac = format!("{nanos:09}");
        while frac.ends_with('0') {
            frac.pop();
        }
        out.push('.');
        out.push_str(&frac);
    }
    match offset {
        Some(0) | None => out.push('Z'),
        Some(off) => {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.abs();
            out.push_str(&format!("{sign}{:02}:{:02}", a / 60, a % 60));
        }
    }
    Some(out)
}

/// `time.Time.Format(time.RFC3339)` of a value printed by [`parse_yaml_timestamp`] (drops the
/// fraction).
pub(crate) fn rfc3339_seconds(t: &str) -> String {
    match (t.find('.'), t.rfind(['Z', '+', '-'])) {
        (Some(dot), Some(tz)) if dot < tz => format!("{}{}", &t[..dot], &t[tz..]),
        _ => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float_g(1.5e30, false), "1.5e+30");
        assert_eq!(format_float_g(1e-7, false), "1e-07");
        assert_eq!(format_float_g(3.0, false), "3");
        assert_eq!(format_float_g(0.75, false), "0.75");
        assert_eq!(format_float_g(1234567.0, false), "1.234567e+06");
        assert_eq!(format_float_g(123456.0, false), "123456");
        assert_eq!(format_float_f(1.5e30), "1500000000000000000000000000000");
        assert_eq!(format_float_f(1e-7), "0.0000001");
        assert_eq!(format_float_json(1e21), "1e+21");
        assert_eq!(format_float_json(1e-7), "1e-7");
        assert_eq!(format_float_json(9007199254740993.0), "9007199254740992");
        assert_eq!(val_to_string_float(3.0), "3.0");
        assert_eq!(val_to_string_float(1e21), "1E+21");
    }

    #[test]
    fn ints_parse_like_go_base_zero() {
        assert_eq!(parse_int_base0("0755"), Some(493));
        assert_eq!(parse_int_base0("0x1F"), Some(31));
        assert_eq!(parse_int_base0("-7"), Some(-7));
        assert_eq!(parse_int_base0("08"), None);
        assert_eq!(parse_int_base0("-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn timestamps_parse_like_go_yaml() {
        assert_eq!(
            parse_yaml_timestamp("2024-01-01").as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_yaml_timestamp("2006-01-02T15:04:05+07:00").as_deref(),
            Some("2006-01-02T15:04:05+07:00")
        );
        assert_eq!(
            parse_yaml_timestamp("2001-12-14 21:59:43.10").as_deref(),
            Some("2001-12-14T21:59:43.1Z")
        );
        assert_eq!(parse_yaml_timestamp("2024-02-30"), None);
        assert_eq!(parse_yaml_timestamp("2024-01-01x"), None);
        assert_eq!(
            rfc3339_seconds("2001-12-14T21:59:43.1Z"),
            "2001-12-14T21:59:43Z"
        );
    }
}
