//! The INI store (getsops/sops `stores/ini/store.go` over `gopkg.in/ini.v1` 1.67).
//!
//! Sections become branches (the `DEFAULT` section always comes first), comments before a
//! section header become the section's comment, comments before a key (and inline ones after
//! its value) become that key's comment and sit after the key in the tree. Writing follows
//! ini.v1's `WriteTo`: ` = ` aligned to the longest key, a blank line between sections.

use crate::sops::error::{Error, Result};
use crate::sops::tree::{Branch, Item, Key, Scalar, Value};

use super::dotenv::val_to_string;

const DEFAULT: &str = "DEFAULT";

struct Section {
    name: String,
    comment: String,
    keys: Vec<(String, String, String)>,
}

fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_owned()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_owned()
    } else {
        c.to_owned()
    }
}

fn read_value(raw: &str, comment: &mut String) -> String {
    let line = raw.trim_start();
    if line.is_empty() {
        return String::new();
    }
    for q in ["\"\"\"", "`"] {
        if line.len() > q.len()
            && line.starts_with(q)
            && let Some(pos) = line[q.len()..].rfind(q)
        {
            return line[q.len()..q.len() + pos].to_owned();
        }
    }
    let mut line = line.trim().to_owned();
    if let Some(i) = line.find(['#', ';']) {
        comment.push_str(&line[i..]);
        line = line[..i].trim().to_owned();
    }
    let surrounded = |q: char| {
        line.len() >= 2
            && line.starts_with(q)
            && line.ends_with(q)
            && !line[1..line.len() - 1].contains(q)
    };
    if surrounded('\'') || surrounded('"') {
        line = line[1..line.len() - 1].to_owned();
    }
    line
}

/// ini.v1 `readKeyName`: the key of a `key = value` line and where its value starts. A key may
/// be quoted with `"`, `"""` or a backtick, which is how ini.v1 (and [`emit`]) writes a key that
/// holds a quote or a delimiter.
fn read_key_name(line: &str) -> std::result::Result<(String, usize), &'static str> {
    const DELIMITERS: [char; 2] = ['=', ':'];
    let quote = if line.starts_with("\"\"\"") && line.len() > 6 {
        "\"\"\""
    } else if line.starts_with('"') {
        "\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    let (key, value_at) = if quote.is_empty() {
        let end = line
            .find(DELIMITERS)
            .ok_or("key-value delimiter not found")?;
        (&line[..end], end + 1)
    } else {
        let start = quote.len();
        let close = line[start..]
            .find(quote)
            .ok_or("missing closing key quote")?
            + start;
        let delimiter = line[close + start..]
            .find(DELIMITERS)
            .ok_or("key-value delimiter not found")?;
        (&line[start..close], close + start + delimiter + 1)
    };
    let key = key.trim();
    if key.is_empty() {
        return Err("empty key name");
    }
    Ok((key.to_owned(), value_at))
}

fn parse(src: &[u8]) -> Result<Vec<Section>> {
    let text =
        std::str::from_utf8(src).map_err(|_| Error::malformed("ini", None, "invalid UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections = vec![Section {
        name: DEFAULT.into(),
        comment: String::new(),
        keys: Vec::new(),
    }];
    let mut comment = String::new();
    let mut cur = 0;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut n = 0;
    while n < lines.len() {
        let raw = lines[n];
        n += 1;
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') || line.starts_with(';') {
            comment.push_str(line);
            continue;
        }
        if line.starts_with('[') {
            let Some(close) = line.rfind(']') else {
                return Err(Error::malformed("ini", Some(n), "unclosed section"));
            };
            let name = line[1..close].to_owned();
            let rest = line[close + 1..].trim_start();
            if rest.starts_with('#') || rest.starts_with(';') {
                comment.push_str(rest);
            }
            let c = comment.trim().to_owned();
            comment.clear();
            // sops loads with ini.v1's `AllowNonUniqueSections`: every header, `[DEFAULT]`
            // included, starts a new section (the implicit DEFAULT one stays first).
            sections.push(Section {
                name,
                comment: c,
                keys: Vec::new(),
            });
            cur = sections.len() - 1;
            continue;
        }
        let (key, value_at) =
            read_key_name(line).map_err(|reason| Error::malformed("ini", Some(n), reason))?;
        let after = line[value_at..].trim_start_matches([' ', '\t']);
        let value =
            if after.len() > 3 && after.starts_with("\"\"\"") && !after[3..].contains("\"\"\"") {
                // ini.v1 `readMultilines`: everything up to the closing `"""` on a later line.
                let mut val = after[3..].to_owned();
                loop {
                    let Some(next) = lines.get(n) else {
                        return Err(Error::malformed("ini", Some(n), "missing closing \"\"\""));
                    };
                    n += 1;
                    if let Some(pos) = next.rfind("\"\"\"") {
                        val.push_str(&next[..pos]);
                        break;
                    }
                    val.push_str(next);
                }
                val
            } else {
                read_value(
                    line[value_at..].trim_end_matches(['\n', '\r']),
                    &mut comment,
                )
            };
        let c = comment.trim().to_owned();
        comment.clear();
        let section = &mut sections[cur];
        match section.keys.iter_mut().find(|(k, _, _)| *k == key) {
            Some(slot) => {
                slot.1 = value;
                slot.2 = c;
            }
            None => section.keys.push((key, value, c)),
        }
    }
    Ok(sections)
}

/// `LoadPlainFile`: one branch, one item per section.
pub(crate) fn load(src: &[u8]) -> Result<Branch> {
    let mut root = Branch::default();
    for s in parse(src)? {
        let mut b = Branch::default();
        if !s.comment.is_empty() {
            b.items.push(Item::comment(strip_comment_char(&s.comment)));
        }
        for (k, v, c) in s.keys {
            b.items.push(Item::new(k, Value::str(v)));
            if !c.is_empty() {
                b.items.push(Item::comment(strip_comment_char(&c)));
            }
        }
        root.items.push(Item::new(s.name, Value::Branch(b)));
    }
    Ok(root)
}

fn comment_lines(c: &str, trim: bool, out: &mut String) {
    for line in c.split('\n') {
        let first = line.chars().next();
        if first != Some('#') && first != Some(';') {
            out.push_str("; ");
            out.push_str(if trim { line.trim() } else { line });
        } else {
            out.push_str(&line[..1]);
            out.push(' ');
            out.push_str(line[1..].trim());
        }
        out.push('\n');
    }
}

/// `EmitPlainFile` / `EmitEncryptedFile` (with the `[sops]` section's flat items).
pub(crate) fn emit(root: &Branch, metadata: Option<&[(String, String)]>) -> Result<Vec<u8>> {
    struct Out<'a> {
        name: &'a str,
        comment: String,
        keys: Vec<(String, String, String)>,
    }
    let mut sections: Vec<Out<'_>> = Vec::new();
    for item in &root.items {
        let name = match &item.key {
            Key::Comment(_) => continue,
            Key::Str(s) => s.as_str(),
            Key::Other(_) => return Err(Error::Unsupported("ini: non-string section name".into())),
        };
        let Value::Branch(b) = &item.value else {
            return Err(Error::Unsupported(
                "error encoding section: section values should always be maps".into(),
            ));
        };
        let mut out = Out {
            name,
            comment: String::new(),
            keys: Vec::new(),
        };
        let mut first = 0;
        if let Some(Item {
            key: Key::Comment(c),
            ..
        }) = b.items.first()
        {
            out.comment = c.clone();
            first = 1;
        }
        for it in &b.items[first..] {
            match (&it.key, &it.value) {
                (Key::Comment(c), _) => {
                    if let Some(last) = out.keys.last_mut() {
                        last.2 = c.clone();
                    }
                }
                (k, Value::Scalar(s)) => {
                    let kname = match k {
                        Key::Str(s) => s.clone(),
                        Key::Other(o) => val_to_string(o),
                        Key::Comment(_) => unreachable!(),
                    };
                    let v = val_to_string(s);
                    match out.keys.iter_mut().find(|(k, _, _)| *k == kname) {
                        Some(slot) => slot.1 = v,
                        None => out.keys.push((kname, v, String::new())),
                    }
                }
                (_, _) => {
                    return Err(Error::Unsupported(
                        "cannot use complex value in an INI file".into(),
                    ));
                }
            }
        }
        sections.push(out);
    }
    if let Some(md) = metadata {
        sections.push(Out {
            name: "sops",
            comment: String::new(),
            keys: md
                .iter()
                .map(|(k, v)| (k.clone(), v.clone(), String::new()))
                .collect(),
        });
    }
    let mut out = String::new();
    let last = sections.len().saturating_sub(1);
    for (i, s) in sections.iter().enumerate() {
        if !s.comment.is_empty() {
            comment_lines(&s.comment, false, &mut out);
        }
        if i > 0 || s.name.to_uppercase() != DEFAULT {
            out.push('[');
            out.push_str(s.name);
            out.push_str("]\n");
        } else if s.keys.is_empty() {
            continue;
        }
        let quoted = |k: &str| -> String {
            if k.contains('"') || k.contains(['=', ':']) {
                format!("`{k}`")
            } else if k.contains('`') {
                format!("\"\"\"{k}\"\"\"")
            } else {
                k.to_owned()
            }
        };
        let align = s
            .keys
            .iter()
            .map(|(k, _, _)| {
                if k.contains('"') || k.contains(['=', ':']) {
                    k.len() + 2
                } else if k.contains('`') {
                    k.len() + 6
                } else {
                    k.len()
                }
            })
            .max()
            .unwrap_or(0);
        for (k, v, c) in &s.keys {
            if !c.is_empty() {
                comment_lines(c, true, &mut out);
            }
            // ini.v1 quotes such a key with backticks and cannot read it back: refuse it
            // rather than write a file whose key changes.
            if k.contains('`') && (k.contains('"') || k.contains(['=', ':'])) {
                return Err(Error::Unsupported(
                    "ini: a key holding a backtick and a quote or delimiter cannot be written"
                        .into(),
                ));
            }
            let kname = quoted(k);
            out.push_str(&kname);
            for _ in kname.len()..align {
                out.push(' ');
            }
            out.push_str(" = ");
            let written = if v.contains(['\n', '`']) {
                format!("\"\"\"{v}\"\"\"")
            } else if v.contains(['#', ';']) {
                format!("`{v}`")
            } else if v.trim().len() != v.len() {
                format!("\"{v}\"")
            } else {
                v.clone()
            };
            // ini.v1's quoting cannot hold every value (`"""` inside a multi-line one, quotes
            // around a plain one): refuse such a value rather than write one that changes.
            if !value_reads_back(&written, v) {
                return Err(Error::Unsupported(
                    "ini: a value no INI quoting can hold (quotes around it, or `\"\"\"` with a line break or backtick) cannot be written"
                        .into(),
                ));
            }
            out.push_str(&written);
            out.push('\n');
        }
        if i != last {
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

/// Whether `written`, the text after ` = `, reads back as `value`.
fn value_reads_back(written: &str, value: &str) -> bool {
    match parse(format!("k = {written}\n").as_bytes()).as_deref() {
        Ok([section]) => matches!(section.keys.as_slice(), [(_, v, _)] if v == value),
        _ => false,
    }
}

/// The flat `[sops]` section of an encrypted INI file, if any.
pub(crate) fn sops_section(root: &mut Branch) -> Result<Option<Vec<(String, String)>>> {
    let is_sops = |i: &Item| i.key.as_str() == Some("sops");
    let Some(pos) = root.items.iter().position(is_sops) else {
        return Ok(None);
    };
    let item = root.items.remove(pos);
    // A second `[sops]` would be written back before the metadata and read as it next time:
    // which one holds the metadata must not depend on who reads the file.
    if root.items.iter().any(is_sops) {
        return Err(Error::malformed(
            "ini",
            None,
            "more than one [sops] section",
        ));
    }
    let Value::Branch(b) = item.value else {
        return Ok(Some(Vec::new()));
    };
    Ok(Some(
        b.items
            .into_iter()
            .filter_map(|i| match (i.key, i.value) {
                (Key::Str(k), Value::Scalar(Scalar::Str(v))) => Some((k, v)),
                _ => None,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_like_ini_v1() {
        let src = "; file comment\ntop = 1\n\n[server]\n; c\nhost = example.com\nport = 80\n\n[db]\nempty =\n";
        let b = load(src.as_bytes()).unwrap();
        let out = String::from_utf8(emit(&b, None).unwrap()).unwrap();
        assert_eq!(
            out,
            "; file comment\ntop = 1\n\n[server]\n; c\nhost = example.com\nport = 80\n\n[db]\nempty = \n"
        );
    }

    #[test]
    fn every_default_header_starts_a_new_section_as_in_sops() {
        // sops 3.11 writes this file back unchanged, apart from ` = ` (checked by hand).
        let b = load(b"a=0\n[DEFAULT]\nk=v\n[s]\nx=1\n[DEFAULT]\nz=2\n").unwrap();
        let names: Vec<_> = b.items.iter().filter_map(|i| i.key.as_str()).collect();
        assert_eq!(names, ["DEFAULT", "DEFAULT", "s", "DEFAULT"]);
        assert_eq!(
            String::from_utf8(emit(&b, None).unwrap()).unwrap(),
            "a = 0\n\n[DEFAULT]\nk = v\n\n[s]\nx = 1\n\n[DEFAULT]\nz = 2\n"
        );
        // An explicit header first: the implicit section stays empty and unwritten.
        let b = load(b"[DEFAULT]\nk=v\n").unwrap();
        assert_eq!(emit(&b, None).unwrap(), b"[DEFAULT]\nk = v\n");
    }

    #[test]
    fn empty_default_section_is_not_written() {
        let b = load(b"[a]\nk = v\n").unwrap();
        assert_eq!(b.items[0].key.as_str(), Some("DEFAULT"));
        assert_eq!(emit(&b, None).unwrap(), b"[a]\nk = v\n");
    }

    // found by fuzzing: fuzz/sops_ini (a key holding a quote was written quoted with backticks,
    // as ini.v1 writes it, and read back with the backticks as part of the key).
    #[test]
    fn quoted_keys_are_read_as_ini_v1_writes_them() {
        let mut b = Branch::default();
        let mut section = Branch::default();
        for key in ["\"q", "a=b", "c:d", "back`tick"] {
            section.items.push(Item::new(key, Value::str("v")));
        }
        b.items.push(Item::new(DEFAULT, Value::Branch(section)));
        let out = emit(&b, None).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "`\"q`            = v\n`a=b`           = v\n`c:d`           = v\n\"\"\"back`tick\"\"\" = v\n"
        );
        assert_eq!(load(&out).unwrap(), b);
        let err = load(b"\"open = v\n").unwrap_err();
        assert!(
            err.to_string().contains("missing closing key quote"),
            "{err}"
        );
    }

    // found by fuzzing: fuzz/sops_ini (the second of two `[sops]` sections stayed among the
    // documents, was written before the metadata and read back as the metadata).
    #[test]
    fn an_encrypted_file_with_two_sops_sections_is_refused() {
        let mut b = load(b"k = v\n[sops]\nversion = 3.11.0\n[sops]\nmac = x\n").unwrap();
        let err = sops_section(&mut b).unwrap_err();
        assert!(
            err.to_string().contains("more than one [sops] section"),
            "{err}"
        );
        let mut one = load(b"k = v\n[sops]\nversion = 3.11.0\n").unwrap();
        let flat = sops_section(&mut one).unwrap().unwrap();
        assert_eq!(flat, [("version".to_owned(), "3.11.0".to_owned())]);
        assert_eq!(one.items.len(), 1);
    }

    // found by fuzzing: fuzz/sops_ini (the key ``C"` `` was written as ``C"`` `` in backticks,
    // as ini.v1 writes it, and read back as `C"`).
    #[test]
    fn a_key_no_quoting_can_hold_is_refused_not_changed() {
        let b = load(b"\"\"\"C\"`\"\"\" = v\n").unwrap();
        let section = b.items[0].value.as_branch().unwrap();
        assert_eq!(section.items[0].key.as_str(), Some("C\"`"));
        let err = emit(&b, None).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err}");
    }

    // found by fuzzing: fuzz/sops_ini (a value holding `"""` and a line break was written in
    // `"""` and read back cut at the inner `"""`; a value in quotes was written bare and read
    // back without them).
    #[test]
    fn a_value_no_quoting_can_hold_is_refused_not_changed() {
        for value in ["a\"\"\"\nb", "\"x\"", "'x'"] {
            let mut section = Branch::default();
            section.push("k", Value::str(value));
            let mut b = Branch::default();
            b.push("s", Value::Branch(section));
            let err = emit(&b, None).unwrap_err();
            assert!(matches!(err, Error::Unsupported(_)), "{value:?}: {err}");
        }
        for value in ["a\nb", "a`b", "x # y", " x ", "\"x", "x\"\"\"y", ""] {
            let mut section = Branch::default();
            section.push("k", Value::str(value));
            let mut b = Branch::default();
            b.push("s", Value::Branch(section));
            let again = load(&emit(&b, None).unwrap()).unwrap();
            assert_eq!(again.get("s"), b.get("s"), "{value:?}");
        }
    }
}
