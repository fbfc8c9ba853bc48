//! Masked cleartext for `seal diff`: every value and comment replaced by a fingerprint, so a
//! diff shows which values changed without showing them.
//!
//! A fingerprint is HMAC-SHA-256 over the value's key path, type and bytes, cut to 8 hex
//! digits, under a [`MaskKey`]: random for one comparison (fingerprints mean nothing outside
//! it), or derived from the file's data key for git's textconv, which runs once per version
//! and needs the same fingerprint for the same value (only whoever holds the data key can
//! compute or test one). Nulls and empty strings, which sops never encrypts, stay as they are.

use aws_lc_rs::hmac;

use super::PlainFile;
use super::master_keys::DataKey;
use super::tree::{Branch, Item, Key, Scalar, Value};

/// The key fingerprints are computed with.
pub struct MaskKey(hmac::Key);

impl MaskKey {
    /// A fresh random key (for comparing two files in one process).
    pub fn random() -> Self {
        let key = DataKey::generate();
        Self::from_bytes(key.expose())
    }

    /// A key derived from a file's data key (same fingerprints for the same values in every
    /// version of a file that keeps its data key).
    pub fn for_data_key(data_key: &DataKey) -> Self {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, data_key.expose());
        let tag = hmac::sign(&derive, b"sealkit diff fingerprint v1");
        Self::from_bytes(tag.as_ref())
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    fn fingerprint(&self, path: &str, kind: &str, bytes: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in [path.as_bytes(), kind.as_bytes()] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        ctx.update(bytes);
        let tag = ctx.sign();
        hex::encode(&tag.as_ref()[..4])
    }
}

/// `file` with every value and comment replaced by `<secret XXXXXXXX>` /
/// `<comment XXXXXXXX>`.
pub fn masked(file: &PlainFile, key: &MaskKey) -> PlainFile {
    let docs = file.docs.iter().map(|d| mask_branch(d, "", key)).collect();
    PlainFile {
        docs,
        single_value: false,
    }
}

fn mask_branch(branch: &Branch, path: &str, key: &MaskKey) -> Branch {
    let items = branch
        .items
        .iter()
        .map(|item| match &item.key {
            Key::Comment(c) => Item::comment(format!(
                " <comment {}>",
                key.fingerprint(path, "comment", c.as_bytes())
            )),
            Key::Str(k) => {
                let inner = format!("{path}{k}:");
                Item {
                    key: item.key.clone(),
                    value: mask_value(&item.value, &inner, key),
                }
            }
            Key::Other(_) => Item {
                key: item.key.clone(),
                value: mask_value(&item.value, path, key),
            },
        })
        .collect();
    Branch { items }
}

fn mask_value(value: &Value, path: &str, key: &MaskKey) -> Value {
    match value {
        Value::Branch(b) => Value::Branch(mask_branch(b, path, key)),
        Value::List(l) => Value::List(l.iter().map(|v| mask_value(v, path, key)).collect()),
        Value::Comment(c) => Value::Comment(format!(
            " <comment {}>",
            key.fingerprint(path, "comment", c.as_bytes())
        )),
        Value::Scalar(s) if matches!(s, Scalar::Null) || s.is_empty_for_cipher() => value.clone(),
        Value::Scalar(s) => Value::str(format!(
            "<secret {}>",
            key.fingerprint(path, s.type_name().unwrap_or("null"), &s.bytes())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::Format;

    fn masked_text(text: &str, key: &MaskKey) -> String {
        let file = PlainFile::parse(text.as_bytes(), Format::Yaml).unwrap();
        String::from_utf8(masked(&file, key).to_bytes(Format::Yaml).unwrap()).unwrap()
    }

    #[test]
    fn masked_files_show_which_values_changed_and_never_the_values() {
        let key = MaskKey::random();
        let a = masked_text("# c\npassword: hunter2\nport: 5432\nempty: ''\n", &key);
        let b = masked_text("# c\npassword: hunter3\nport: 5432\nempty: ''\n", &key);
        assert!(!a.contains("hunter") && !a.contains("5432"), "{a}");
        let (la, lb): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
        assert_eq!(la[0], lb[0]);
        assert_ne!(la[1], lb[1]);
        assert_eq!(la[2], lb[2]);
        assert_eq!(la[3], "empty: \"\"");
    }

    #[test]
    fn the_same_value_under_another_key_or_type_has_another_fingerprint() {
        let key = MaskKey::random();
        let text = masked_text("a: '5'\nb: '5'\nc: 5\n", &key);
        let prints: Vec<&str> = text.lines().map(|l| &l[3..]).collect();
        assert_ne!(prints[0], prints[1]);
        assert_ne!(prints[0], prints[2]);
    }

    #[test]
    fn a_data_key_gives_the_same_fingerprints_every_time() {
        let data_key = DataKey::generate();
        let a = masked_text("a: x\n", &MaskKey::for_data_key(&data_key));
        let b = masked_text("a: x\n", &MaskKey::for_data_key(&data_key));
        assert_eq!(a, b);
    }
}
