//! `set` and `unset` on an encrypted file, without decrypting it into a tree.
//!
//! sops decrypts the whole tree, changes it and encrypts it again, keeping the IV of every
//! value whose path and cleartext did not change. The same file comes out of one walk over
//! the encrypted tree: each value is decrypted once, for the stored MAC (checked) and the new
//! one, the changed node is encrypted where it stands (with the IVs of equal values it
//! replaces), and every other value keeps its `ENC[…]` text without being encrypted again.
//!
//! Declined (the caller decrypts the file whole instead) when a list on the path holds an
//! encrypted comment (`- ENC[…,type:comment]`): the decrypted tree has a comment there, not an
//! item, so list indexes would count differently.

use super::error::{Error, Result};
use super::master_keys::DataKey;
use super::tree::{self, Branch, PathStep, Scalar, TreePath, Value};
use super::value::Cipher;
use super::walk::{Direction, Pending, Target, TargetEdit, Walker};
use super::{EncryptedFile, MacCheck};

/// The outcome of changing an encrypted file in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Patched {
    /// Changed (`changed: false` when the value set equals the one there).
    Done {
        /// Whether the tree changed.
        changed: bool,
    },
    /// Not changed: this file is to be decrypted whole and changed there.
    Declined,
}

/// A list item that may be an encrypted comment (a comment, not an item, once decrypted).
fn may_be_comment(v: &Value) -> bool {
    match v {
        Value::Comment(_) => true,
        Value::Scalar(Scalar::Str(s)) => s.starts_with("ENC[") && s.ends_with(",type:comment]"),
        _ => false,
    }
}

/// Where `sops set` puts a value.
enum Slot<'t> {
    /// `slot` is to hold `new`; its old content counts when `existed`.
    At {
        slot: &'t mut Value,
        new: Value,
        existed: bool,
    },
    /// Nowhere: sops leaves the tree as it is (an index step on a map).
    Nowhere,
}

/// [`tree::set`]'s walk down `path`, stopping at the slot instead of writing it. Maps and
/// list items the path creates are added (holding a placeholder where the value goes).
/// `None`: a list on the way may hold encrypted comments.
fn set_slot<'t>(target: &'t mut Value, path: &[PathStep], value: Value) -> Option<Slot<'t>> {
    if let Value::List(l) = &*target
        && l.iter().any(may_be_comment)
    {
        return None;
    }
    match (target, &path[0]) {
        (Value::Branch(b), _) => set_slot_in_branch(b, path, value),
        (Value::List(l), &PathStep::Index(pos)) => {
            if pos < l.len() {
                return if path.len() == 1 {
                    Some(Slot::At {
                        slot: &mut l[pos],
                        new: value,
                        existed: true,
                    })
                } else {
                    set_slot(&mut l[pos], &path[1..], value)
                };
            }
            let new = if path.len() == 1 {
                value
            } else {
                tree::value_from_path(&path[1..], value)
            };
            l.push(Value::Scalar(Scalar::Null));
            let slot = l.last_mut()?;
            Some(Slot::At {
                slot,
                new,
                existed: false,
            })
        }
        // A list indexed by key, or a scalar: replaced by what the path makes.
        (slot, _) => Some(Slot::At {
            new: tree::value_from_path(path, value),
            slot,
            existed: true,
        }),
    }
}

fn set_slot_in_branch<'t>(b: &'t mut Branch, path: &[PathStep], value: Value) -> Option<Slot<'t>> {
    if let PathStep::Key(k) = &path[0]
        && let Some(pos) = b.items.iter().position(|i| i.key.as_str() == Some(k))
    {
        let slot = &mut b.items[pos].value;
        if path.len() == 1 {
            return Some(Slot::At {
                slot,
                new: value,
                existed: true,
            });
        }
        return set_slot(slot, &path[1..], value);
    }
    let Value::Branch(mut created) = tree::value_from_path(path, value) else {
        return Some(Slot::Nowhere);
    };
    let mut item = created.items.pop()?;
    let new = std::mem::replace(&mut item.value, Value::Scalar(Scalar::Null));
    b.items.push(item);
    let slot = &mut b.items.last_mut()?.value;
    Some(Slot::At {
        slot,
        new,
        existed: false,
    })
}

/// [`tree::unset`]'s walk down `path` (same errors), stopping at the node to remove.
/// `Ok(None)`: a list on the way may hold encrypted comments.
fn unset_slot<'t>(target: &'t mut Value, path: &[PathStep]) -> Result<Option<&'t mut Value>> {
    let next = match target {
        Value::Branch(b) => return unset_slot_in_branch(b, path),
        Value::List(l) => {
            if l.iter().any(may_be_comment) {
                return Ok(None);
            }
            let PathStep::Index(pos) = path[0] else {
                return Err(Error::Path("unsupported type: list indexed by key".into()));
            };
            l.get_mut(pos)
                .ok_or_else(|| Error::Path(format!("index {pos} out of bounds")))?
        }
        _ => {
            return Err(Error::Path(
                "unsupported type: cannot unset inside a scalar".into(),
            ));
        }
    };
    if path.len() == 1 {
        Ok(Some(next))
    } else {
        unset_slot(next, &path[1..])
    }
}

fn unset_slot_in_branch<'t>(b: &'t mut Branch, path: &[PathStep]) -> Result<Option<&'t mut Value>> {
    let key = match &path[0] {
        PathStep::Key(k) => k,
        PathStep::Index(i) => return Err(Error::Path(format!("key not found: {i}"))),
    };
    let Some(pos) = b.items.iter().position(|i| i.key.as_str() == Some(key)) else {
        return Err(Error::Path(format!("key not found: {key}")));
    };
    let next = &mut b.items[pos].value;
    if path.len() == 1 {
        Ok(Some(next))
    } else {
        unset_slot(next, &path[1..])
    }
}

impl EncryptedFile {
    /// `sops set` on the encrypted file: checks the MAC (unless ignored), sets `value` at
    /// `path` in the first document, encrypted, and updates `lastmodified` and the MAC. Every
    /// other value keeps its ciphertext; the value set keeps its own when it did not change.
    ///
    /// Errors as [`EncryptedFile::decrypt`] and [`super::PlainFile::set`], the MAC checked
    /// first. After an error the file is not to be written (it may hold no documents).
    pub fn set_in_place(
        &mut self,
        key: &DataKey,
        path: &TreePath,
        value: &Value,
        mac: MacCheck,
    ) -> Result<Patched> {
        if let Err(e) = super::check_set(path, value) {
            // The MAC is checked first, as when the file is decrypted whole.
            self.rewalk(key, mac, None)?;
            return Err(e);
        }
        let first = self
            .docs
            .first_mut()
            .ok_or_else(|| Error::Path("the file has no document".into()))?;
        // Declined before anything is added to the tree.
        let target = match set_slot_in_branch(first, &path.0, value.clone()) {
            None => return Ok(Patched::Declined),
            // Nothing moves; the file is written again with a new MAC, as sops does.
            Some(Slot::Nowhere) => None,
            Some(Slot::At { slot, new, existed }) => {
                let old = existed.then(|| std::mem::replace(slot, Value::Scalar(Scalar::Null)));
                Some(Target {
                    at: slot,
                    edit: TargetEdit::Replace(Pending { old, new }),
                })
            }
        };
        let changed = self.rewalk(key, mac, target)?;
        Ok(Patched::Done { changed })
    }

    /// `sops unset` on the encrypted file: checks the MAC (unless ignored), removes the value
    /// at `path` from the first document and updates `lastmodified` and the MAC; every other
    /// value keeps its ciphertext. Errors as [`super::PlainFile::unset`] ([`Error::Path`])
    /// when there is no such value, the MAC checked first. After an error the file is not to
    /// be written (it may hold no documents).
    pub fn unset_in_place(
        &mut self,
        key: &DataKey,
        path: &TreePath,
        mac: MacCheck,
    ) -> Result<Patched> {
        let found = match self.docs.first_mut() {
            _ if path.0.is_empty() => Err(Error::Path("empty tree path".into())),
            None => Err(Error::Path("the file has no document".into())),
            Some(first) => unset_slot_in_branch(first, &path.0),
        };
        let slot = match found {
            Ok(Some(slot)) => slot,
            Ok(None) => return Ok(Patched::Declined),
            Err(e) => {
                // The MAC is checked first, as when the file is decrypted whole.
                self.rewalk(key, mac, None)?;
                return Err(e);
            }
        };
        // The walk reads the node where it is; it goes once both MACs are known.
        let target = Target {
            at: slot,
            edit: TargetEdit::Remove,
        };
        self.rewalk(key, mac, Some(target))?;
        let mut root = Value::Branch(std::mem::take(&mut self.docs[0]));
        let removed = tree::unset(&mut root, &path.0);
        if let Value::Branch(b) = root {
            self.docs[0] = b;
        }
        removed?;
        Ok(Patched::Done { changed: true })
    }

    /// Walks the documents (with `target` to change) decrypting every value once: checks the
    /// MAC of the file as it was, then seals the new one. On error the documents are dropped.
    fn rewalk(&mut self, key: &DataKey, mac: MacCheck, target: Option<Target>) -> Result<bool> {
        let mut metadata = self.metadata.clone();
        let sel = super::prepare_for_encryption(&mut metadata, false)?;
        let cipher = Cipher::new(key);
        let only = self.metadata.mac_only_encrypted;
        let mut w = Walker::new(&cipher, &sel, Direction::Verify, only);
        let has_target = target.is_some();
        // Moving the documents out leaves the target's address where it is.
        let mut docs = std::mem::take(&mut self.docs);
        if let Some(target) = target {
            w = w.changing(target);
        }
        for d in &mut docs {
            w.walk_branch(d, Default::default())?;
        }
        if w.target_missed() {
            return Err(Error::Unsupported(
                "internal error: the value to change was not found in the walk".into(),
            ));
        }
        let changed = !has_target || w.changed;
        let new_mac = w.mac.finish()?;
        let old_mac = match w.mac_old {
            Some(m) => m.finish()?,
            None => new_mac.clone(),
        };
        super::check_mac(&self.metadata, &cipher, &old_mac, mac)?;
        super::seal_mac(&mut metadata, &cipher, new_mac, &super::now_rfc3339()?)?;
        self.docs = docs;
        self.metadata = metadata;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, MasterKeyStanza, Metadata, PlainFile, Selectors};
    use super::*;

    const TEXT: &str = "# head\na: one\nb:\n    - x\n    - 2\nc: true\n# before d\nd:\n    e: 1.5\n    f_unencrypted: clear\n";

    fn key() -> DataKey {
        DataKey::from_slice(&[5u8; 32]).unwrap()
    }

    fn sealed(text: &str) -> Vec<u8> {
        let stanza = MasterKeyStanza::age(
            "age1test",
            "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n",
        );
        let metadata = Metadata::new(vec![vec![stanza]], Selectors::default());
        PlainFile::parse(text.as_bytes(), Format::Yaml)
            .unwrap()
            .encrypt_at(&key(), metadata, "2026-01-01T00:00:00Z")
            .unwrap()
            .to_bytes(Format::Yaml)
            .unwrap()
    }

    fn open(bytes: &[u8]) -> EncryptedFile {
        EncryptedFile::parse(bytes, Format::Yaml).unwrap()
    }

    fn cleartext(file: &EncryptedFile) -> Vec<u8> {
        let bytes = file.to_bytes(Format::Yaml).unwrap();
        open(&bytes)
            .decrypt(&key(), MacCheck::Verify)
            .unwrap()
            .to_bytes(Format::Yaml)
            .unwrap()
    }

    /// The lines of `after` not in `before`, `lastmodified` and `mac` left out.
    fn new_lines(before: &[u8], after: &[u8]) -> Vec<String> {
        let before = String::from_utf8_lossy(before);
        let old: Vec<&str> = before.lines().collect();
        String::from_utf8_lossy(after)
            .lines()
            .filter(|l| !old.contains(l))
            .map(|l| l.trim_start().split(':').next().unwrap_or("").to_owned())
            .filter(|k| k != "lastmodified" && k != "mac")
            .collect()
    }

    /// What the whole-tree path gives: decrypt, change, encrypt with the kept IVs.
    fn whole_tree(before: &[u8], change: impl FnOnce(&mut PlainFile)) -> Vec<u8> {
        let mut file = open(before);
        let mut stash = crate::sops::IvStash::new();
        let mut plain = file
            .take_decrypted_keeping_ivs(&key(), MacCheck::Verify, &mut stash)
            .unwrap();
        change(&mut plain);
        plain.to_bytes(Format::Yaml).unwrap()
    }

    #[test]
    fn set_in_place_gives_the_whole_tree_cleartext_and_keeps_every_other_ciphertext() {
        let before = sealed(TEXT);
        for (path, value) in [
            (r#"["a"]"#, Value::str("two")),
            (r#"["b"][1]"#, Value::Scalar(Scalar::Int(3))),
            (r#"["b"][5]"#, Value::str("pushed")),
            (r#"["d"]["e"]"#, Value::str("nested")),
            (r#"["d"]["f_unencrypted"]"#, Value::str("still clear")),
            (r#"["new"]["deep"]"#, Value::Scalar(Scalar::Bool(false))),
            (r#"["c"]["through"][0]"#, Value::str("x")),
            (r#"["d"]"#, Value::Scalar(Scalar::Null)),
        ] {
            let path: TreePath = path.parse().unwrap();
            let mut file = open(&before);
            let r = file.set_in_place(&key(), &path, &value, MacCheck::Verify);
            assert_eq!(r.unwrap(), Patched::Done { changed: true }, "{path}");
            let want = whole_tree(&before, |p| {
                p.set(&path, value.clone()).unwrap();
            });
            assert_eq!(
                String::from_utf8(cleartext(&file)).unwrap(),
                String::from_utf8(want).unwrap(),
                "{path}"
            );
            let after = file.to_bytes(Format::Yaml).unwrap();
            let changed = new_lines(&before, &after);
            assert!(
                changed.len() <= 3 && !changed.iter().any(|k| k == "#ENC[AES256_GCM,data"),
                "{path}: {changed:?}"
            );
        }
    }

    #[test]
    fn setting_the_value_already_there_changes_nothing_but_the_mac() {
        let before = sealed(TEXT);
        let mut file = open(&before);
        let r = file.set_in_place(
            &key(),
            &r#"["d"]["e"]"#.parse().unwrap(),
            &Value::Scalar(Scalar::Float(1.5)),
            MacCheck::Verify,
        );
        assert_eq!(r.unwrap(), Patched::Done { changed: false });
        let after = file.to_bytes(Format::Yaml).unwrap();
        assert_eq!(new_lines(&before, &after), Vec::<String>::new());
        assert_eq!(cleartext(&file), whole_tree(&before, |_| {}));
    }

    #[test]
    fn unset_in_place_removes_the_value_and_keeps_every_other_ciphertext() {
        let before = sealed(TEXT);
        for path in [
            r#"["a"]"#,
            r#"["b"][1]"#,
            r#"["d"]"#,
            r#"["d"]["f_unencrypted"]"#,
        ] {
            let path: TreePath = path.parse().unwrap();
            let mut file = open(&before);
            let r = file.unset_in_place(&key(), &path, MacCheck::Verify);
            assert_eq!(r.unwrap(), Patched::Done { changed: true }, "{path}");
            let want = whole_tree(&before, |p| p.unset(&path).unwrap());
            assert_eq!(cleartext(&file), want, "{path}");
            let after = file.to_bytes(Format::Yaml).unwrap();
            assert_eq!(new_lines(&before, &after), Vec::<String>::new(), "{path}");
        }
    }

    #[test]
    fn a_list_holding_an_encrypted_comment_is_declined_untouched() {
        let before = sealed("b:\n    - x\n    # in list\n    - 2\n");
        assert!(String::from_utf8_lossy(&before).contains("type:comment]\n"));
        let mut file = open(&before);
        let path: TreePath = r#"["b"][1]"#.parse().unwrap();
        let r = file.set_in_place(&key(), &path, &Value::str("y"), MacCheck::Verify);
        assert_eq!(r.unwrap(), Patched::Declined);
        assert_eq!(
            file.unset_in_place(&key(), &path, MacCheck::Verify)
                .unwrap(),
            Patched::Declined
        );
        assert_eq!(file.to_bytes(Format::Yaml).unwrap(), before);
    }

    #[test]
    fn a_tampered_value_or_mac_is_refused_before_a_missing_path_is_reported() {
        let before = String::from_utf8(sealed(TEXT)).unwrap();
        let line = before.lines().find(|l| l.starts_with("a: ENC[")).unwrap();
        let other = before.lines().find(|l| l.starts_with("c: ENC[")).unwrap();
        // `a`'s ciphertext under `c`: it does not authenticate there.
        let moved = before.replace(other, &line.replace("a: ", "c: "));
        let mut file = open(moved.as_bytes());
        let err = file
            .set_in_place(
                &key(),
                &r#"["a"]"#.parse().unwrap(),
                &Value::str("z"),
                MacCheck::Verify,
            )
            .unwrap_err();
        assert!(
            matches!(&err, Error::TamperedValue { key_path } if key_path == "c:"),
            "{err}"
        );
        // A valid value from another file of the same key: only the MAC tells.
        let swapped = before.replace(line, "a: ENC[AES256_GCM,data:x,iv:x,tag:x,type:str]");
        let mut file = open(swapped.as_bytes());
        let err = file
            .unset_in_place(&key(), &r#"["absent"]"#.parse().unwrap(), MacCheck::Verify)
            .unwrap_err();
        assert!(!matches!(err, Error::Path(_)), "{err}");
        let mut file = open(before.as_bytes());
        let mac_line = before
            .lines()
            .find(|l| l.trim_start().starts_with("mac: ENC["))
            .unwrap();
        let other_mac =
            mac_line.replace("mac: ENC[AES256_GCM,data:", "mac: ENC[AES256_GCM,data:AA");
        let mut bad = open(before.replace(mac_line, &other_mac).as_bytes());
        let err = bad
            .unset_in_place(&key(), &r#"["absent"]"#.parse().unwrap(), MacCheck::Verify)
            .unwrap_err();
        assert!(
            matches!(err, Error::MacUndecryptable | Error::MacMismatch),
            "{err}"
        );
        let err = file
            .unset_in_place(&key(), &r#"["absent"]"#.parse().unwrap(), MacCheck::Verify)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Path(m) if m.contains("absent")),
            "{err}"
        );
    }
}
