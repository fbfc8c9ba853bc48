//! The dotenv store (getsops/sops `stores/dotenv/store.go`).
//!
//! One `KEY=value` per line, split at the first `=` with no trimming; `#` lines are comments;
//! `\n` in values is written as the two characters `\n`. Metadata is flattened under `sops_`.

use crate::sops::error::{Error, Result};
use crate::sops::gofmt;
use crate::sops::tree::{Branch, Item, Key, Scalar, Value};

/// The prefix of metadata keys.
pub(crate) const SOPS_PREFIX: &str = "sops_";

/// `LoadPlainFile`.
pub(crate) fn load(src: &[u8]) -> Result<Branch> {
    let text = std::str::from_utf8(src).map_err(|e| {
        let line = src[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        Error::malformed("dotenv", Some(line), "invalid UTF-8")
    })?;
    let mut b = Branch::default();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            b.items.push(Item::comment(c));
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::malformed(
                "dotenv",
                Some(n + 1),
                "invalid dotenv input line: no `=`",
            ));
        };
        b.items
            .push(Item::new(k, Value::str(v.replace("\\n", "\n"))));
    }
    Ok(b)
}

/// `stores.ValToString`.
pub(crate) fn val_to_string(s: &Scalar) -> String {
    match s {
        Scalar::Null => "<nil>".to_owned(),
        Scalar::Str(s) => s.clone(),
        Scalar::RawStr(b) => String::from_utf8_lossy(b).into_owned(),
        Scalar::Bytes(b) => format!("{b:?}").replace(',', ""),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => gofmt::val_to_string_float(*f),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Time(t) => gofmt::rfc3339_seconds(t),
    }
}

/// `EmitPlainFile` (and, with metadata lines appended, `EmitEncryptedFile`).
pub(crate) fn emit(b: &Branch, metadata: &[(String, String)]) -> Result<Vec<u8>> {
    let mut out = String::with_capacity(b.items.len() * 32);
    for item in &b.items {
        match (&item.key, &item.value) {
            (_, Value::Branch(_) | Value::List(_)) => {
                let key = match &item.key {
                    Key::Str(k) => k.clone(),
                    _ => String::new(),
                };
                return Err(Error::Unsupported(format!(
                    "cannot use complex value in dotenv file; offending key {key}"
                )));
            }
            (Key::Comment(c), _) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            (Key::Str(k), Value::Scalar(s)) => {
                out.push_str(k);
                out.push('=');
                match s {
                    Scalar::Str(v) => out.push_str(&v.replace('\n', "\\n")),
                    other => out.push_str(&val_to_string(other)),
                }
                out.push('\n');
            }
            (Key::Other(k), Value::Scalar(s)) => {
                out.push_str(&val_to_string(k));
                out.push('=');
                out.push_str(&val_to_string(s));
                out.push('\n');
            }
            (_, Value::Comment(_)) => {}
        }
    }
    for (k, v) in metadata {
        out.push_str(SOPS_PREFIX);
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_equals_without_trimming() {
        let b = load(b"foo = bar\nA=b=c\n#c\nM=x\\ny\n").unwrap();
        assert_eq!(b.items[0], Item::new("foo ", Value::str(" bar")));
        assert_eq!(b.items[1], Item::new("A", Value::str("b=c")));
        assert_eq!(b.items[2], Item::comment("c"));
        assert_eq!(b.items[3], Item::new("M", Value::str("x\ny")));
        assert_eq!(emit(&b, &[]).unwrap(), b"foo = bar\nA=b=c\n#c\nM=x\\ny\n");
    }

    #[test]
    fn lines_without_equals_are_malformed() {
        assert!(matches!(
            load(b"A=1\nnope\n"),
            Err(Error::Malformed { line: Some(2), .. })
        ));
    }
}
