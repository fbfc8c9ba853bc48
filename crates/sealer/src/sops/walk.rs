//! The tree walk that encrypts or decrypts every leaf and computes the MAC (getsops/sops
//! `sops.go` `walkBranch`/`walkSlice`/`shouldBeEncrypted`).
//!
//! The key path grows with map keys only (items of a list share their parent's path) and is
//! the AAD `a:b:c:` (`:` at the top level). Comments are walked as leaves with their branch's
//! path and are never part of the MAC; a comment that does not decrypt is kept as it is.
//!
//! [`walk_documents`] shares a large document between two threads: each walks one run of the
//! top-level items, and the MAC and the IV stash are put together in document order.

use super::error::{Error, Result};
use super::mac::Mac;
use super::selectors::{Compiled, Hits};
use super::stash::IvStash;
use super::tree::{Branch, Item, Key, Scalar, Value};
use super::value::{Cipher, Plain};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Encrypt,
    Decrypt,
}

pub(crate) struct Walker<'a> {
    cipher: &'a Cipher,
    sel: &'a Compiled,
    dir: Direction,
    pub(crate) mac: Mac,
    aad: String,
    comments: Vec<Vec<String>>,
    uses_comments: bool,
    /// Decrypting: where the IVs of the values go.
    keep: Option<&'a mut IvStash>,
    /// Encrypting: the IVs to try first.
    reuse: Option<&'a IvStash>,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(
        cipher: &'a Cipher,
        sel: &'a Compiled,
        dir: Direction,
        mac_only_encrypted: bool,
    ) -> Self {
        Self {
            cipher,
            sel,
            dir,
            mac: Mac::new(mac_only_encrypted),
            aad: String::with_capacity(128),
            comments: Vec::new(),
            uses_comments: sel.uses_comments(),
            keep: None,
            reuse: None,
        }
    }

    /// Keeps the IVs of the values decrypted in `stash`.
    pub(crate) fn keeping(mut self, stash: Option<&'a mut IvStash>) -> Self {
        self.keep = stash;
        self
    }

    /// Encrypts values with the IVs `stash` holds for the same path, type and cleartext.
    pub(crate) fn reusing(mut self, stash: Option<&'a IvStash>) -> Self {
        self.reuse = stash;
        self
    }

    /// Encrypts `bytes` (a value of type `ty` at the current path), re-using a kept IV.
    fn encrypt(&self, bytes: Vec<u8>, ty: &str) -> Result<String> {
        let aad = self.aad().as_bytes();
        let kept = self
            .reuse
            .and_then(|stash| stash.get(stash.key(aad, ty, &bytes)));
        self.cipher.encrypt_bytes_reusing(bytes, ty, aad, kept)
    }

    /// Decrypts `text` at the current path and keeps its IV when there is a stash.
    fn decrypt(&mut self, text: &str) -> Result<Plain> {
        let (plain, kept) = self.cipher.decrypt_keeping(text, self.aad().as_bytes())?;
        if let (Some(kept), Some(stash)) = (kept, self.keep.as_deref_mut()) {
            let aad = if self.aad.is_empty() { ":" } else { &self.aad };
            let key = match &plain {
                Plain::Scalar(s) => {
                    stash.key(aad.as_bytes(), s.type_name().unwrap_or(""), &s.bytes())
                }
                Plain::Comment(c) => stash.key(aad.as_bytes(), "comment", c.as_bytes()),
            };
            stash.keep(key, kept);
        }
        Ok(plain)
    }

    fn aad(&self) -> &str {
        if self.aad.is_empty() { ":" } else { &self.aad }
    }

    fn verdict(&self, hits: Hits, is_comment: bool) -> bool {
        let enc = self.sel.hits_encrypted(hits);
        if self.uses_comments {
            self.sel.should_encrypt(enc, &self.comments, is_comment)
        } else {
            enc
        }
    }

    pub(crate) fn walk_branch(&mut self, b: &mut Branch, hits: Hits) -> Result<()> {
        self.walk_items(&mut b.items, hits)
    }

    /// Walks `items` as the items of one branch.
    fn walk_items(&mut self, items: &mut [Item], hits: Hits) -> Result<()> {
        if self.uses_comments {
            self.comments.push(Vec::new());
        }
        for item in items {
            match &mut item.key {
                Key::Comment(c) => {
                    if self.uses_comments
                        && let Some(level) = self.comments.last_mut()
                    {
                        level.push(c.clone());
                    }
                    self.comment(c, hits)?;
                }
                Key::Str(k) => {
                    let child = self.sel.descend(hits, k);
                    let len = self.aad.len();
                    self.aad.push_str(k);
                    self.aad.push(':');
                    let r = self.walk_value(&mut item.value, child);
                    self.aad.truncate(len);
                    r?;
                    if self.uses_comments
                        && let Some(level) = self.comments.last_mut()
                    {
                        level.clear();
                    }
                }
                Key::Other(_) => {
                    return Err(Error::Unsupported(format!(
                        "tree contains a non-string key under `{}`: only string keys are supported",
                        self.aad()
                    )));
                }
            }
        }
        if self.uses_comments {
            self.comments.pop();
        }
        Ok(())
    }

    fn walk_value(&mut self, v: &mut Value, hits: Hits) -> Result<()> {
        match v {
            Value::Branch(b) => self.walk_branch(b, hits),
            Value::List(l) => {
                if self.uses_comments {
                    self.comments.push(Vec::new());
                }
                for item in l.iter_mut() {
                    if let Value::Comment(c) = item {
                        if self.uses_comments
                            && let Some(level) = self.comments.last_mut()
                        {
                            level.push(c.clone());
                        }
                        // sops's walkSlice stores what the cipher returns in the list: an
                        // encrypted comment becomes a string item `- ENC[…,type:comment]`.
                        if self.comment(c, hits)? && self.dir == Direction::Encrypt {
                            *item = Value::Scalar(Scalar::Str(std::mem::take(c)));
                        }
                    } else {
                        if let Value::Scalar(s) = item
                            && let Some(comment) = self.leaf(s, hits)?
                        {
                            // ... and such an item decrypts back to a comment line.
                            *item = Value::Comment(comment);
                        } else if !matches!(item, Value::Scalar(_)) {
                            self.walk_value(item, hits)?;
                        }
                        if self.uses_comments
                            && let Some(level) = self.comments.last_mut()
                        {
                            level.clear();
                        }
                    }
                }
                if self.uses_comments {
                    self.comments.pop();
                }
                Ok(())
            }
            Value::Scalar(s) => match self.leaf(s, hits)? {
                None => Ok(()),
                // Only a list item may hold an encrypted comment.
                Some(_) => Err(Error::InvalidPlaintext {
                    key_path: self.aad().to_owned(),
                    ty: "comment".into(),
                }),
            },
            Value::Comment(c) => self.comment(c, hits).map(drop),
        }
    }

    /// Encrypts or decrypts one leaf. `Some(text)` when the leaf decrypted to a comment (sops
    /// writes encrypted comments of lists as list items).
    fn leaf(&mut self, s: &mut Scalar, hits: Hits) -> Result<Option<String>> {
        if matches!(s, Scalar::Null) {
            return Ok(None);
        }
        let encrypted = self.verdict(hits, false);
        match self.dir {
            Direction::Encrypt => {
                // Go's walk turns []byte into a string before encrypting it.
                if let Scalar::Bytes(b) = s {
                    *s = Scalar::RawStr(std::mem::take(b));
                }
                if encrypted && !s.is_empty_for_cipher() {
                    let ty = s
                        .type_name()
                        .ok_or_else(|| Error::Unsupported("cannot encrypt a null value".into()))?;
                    // The value's own buffer is hashed, then overwritten by its ciphertext:
                    // no copy of the plaintext is made.
                    let bytes = s.take_bytes();
                    self.mac.leaf(&bytes, encrypted);
                    let text = self.encrypt(bytes, ty)?;
                    *s = Scalar::Str(text);
                } else {
                    self.mac.leaf(&s.bytes(), encrypted);
                }
            }
            Direction::Decrypt => {
                if encrypted {
                    let Scalar::Str(text) = s else {
                        return Err(Error::InvalidEncValue {
                            key_path: self.aad().to_owned(),
                        });
                    };
                    let plain = self.decrypt(text).map_err(|e| match e {
                        Error::DecryptionFailed => Error::TamperedValue {
                            key_path: self.aad().to_owned(),
                        },
                        other => other,
                    })?;
                    *s = match plain {
                        Plain::Scalar(p) => p,
                        // Comments are not part of the MAC.
                        Plain::Comment(text) => return Ok(Some(text)),
                    };
                }
                self.mac.leaf(&s.bytes(), encrypted);
            }
        }
        Ok(None)
    }

    /// Encrypts or decrypts a comment in place; returns whether it was encrypted.
    fn comment(&mut self, c: &mut String, hits: Hits) -> Result<bool> {
        let encrypted = self.verdict(hits, true);
        if !encrypted {
            return Ok(false);
        }
        match self.dir {
            Direction::Encrypt => {
                // sops turns an empty comment of a list into an empty string item; we keep it a
                // comment (nothing to hide, and the list keeps its items).
                if c.is_empty() {
                    return Ok(false);
                }
                let text = self.encrypt(c.as_bytes().to_vec(), "comment")?;
                if let Some(re) = &self.sel.unencrypted_comment_regex
                    && re.is_match(&text)
                {
                    return Err(Error::Unsupported(
                            "an encrypted comment matches unencrypted_comment_regex; make sure the regex cannot match an encrypted comment".into(),
                        ));
                }
                *c = text;
            }
            Direction::Decrypt => match self.decrypt(c) {
                Ok(Plain::Comment(t)) => *c = t,
                Ok(Plain::Scalar(Scalar::Str(t))) => *c = t,
                // Like sops: a comment that does not decrypt was probably never encrypted.
                _ => {}
            },
        }
        Ok(true)
    }
}

/// Fewer leaves than this are walked on one thread (a thread costs more than it saves).
const PARALLEL_LEAVES: usize = 2048;

/// Leaves under `v` (scalars and comments), counted up to `cap`.
fn leaves(v: &Value, cap: usize) -> usize {
    match v {
        Value::Branch(b) => {
            let mut n = 0;
            for i in &b.items {
                n += 1 + leaves(&i.value, cap - n.min(cap));
                if n >= cap {
                    return n;
                }
            }
            n
        }
        Value::List(l) => {
            let mut n = 0;
            for v in l {
                n += leaves(v, cap - n.min(cap));
                if n >= cap {
                    return n;
                }
            }
            n
        }
        Value::Scalar(_) | Value::Comment(_) => 1,
    }
}

/// Where to cut `items` so that each side holds about half the leaves: an index whose previous
/// item is a `key: value` (a run of comments stays whole, so the second walker starts with the
/// comment state the first would have). `None` when the items are too few to share.
fn split_point(items: &[Item]) -> Option<usize> {
    let weights: Vec<usize> = items
        .iter()
        .map(|i| 1 + leaves(&i.value, usize::MAX))
        .collect();
    let total: usize = weights.iter().sum();
    if total < PARALLEL_LEAVES {
        return None;
    }
    let mut acc = 0;
    let mut middle = 0;
    for (i, w) in weights.iter().enumerate() {
        if acc >= total / 2 {
            break;
        }
        acc += w;
        middle = i + 1;
    }
    (middle..items.len())
        .chain((1..middle).rev())
        .find(|&i| matches!(items[i - 1].key, Key::Str(_)))
}

impl<'a> Walker<'a> {
    /// A walker for a run of items after this walker's: same cipher, selectors and direction, a
    /// MAC that records its input (see [`Mac::absorb`]), IVs kept in `stash` when this walker
    /// keeps them.
    fn second<'b>(&self, stash: Option<&'b mut IvStash>) -> Walker<'b>
    where
        'a: 'b,
    {
        Walker {
            cipher: self.cipher,
            sel: self.sel,
            dir: self.dir,
            mac: Mac::recording(self.mac.only_encrypted),
            aad: String::with_capacity(128),
            comments: Vec::new(),
            uses_comments: self.uses_comments,
            keep: stash,
            reuse: self.reuse,
        }
    }
}

/// Walks every document in order with `walker`. A document with enough leaves is shared with a
/// second walker on another thread (two cores where the machine has them): the first walks the
/// top-level items before the split point, the second those after, then the second's MAC input
/// and kept IVs are added after the first's. The result (values, MAC, stash, first error in
/// document order) is that of one walk.
pub(crate) fn walk_documents(walker: &mut Walker<'_>, docs: &mut [Branch]) -> Result<()> {
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    for doc in docs {
        let split = if two_cores {
            split_point(&doc.items)
        } else {
            None
        };
        let Some(split) = split else {
            walker.walk_branch(doc, Default::default())?;
            continue;
        };
        let (first, second) = doc.items.split_at_mut(split);
        let mut stash = walker.keep.as_deref().map(IvStash::sibling);
        let mut other = walker.second(stash.as_mut());
        let (a, b) = std::thread::scope(|s| {
            let handle = s.spawn(|| {
                let r = other.walk_items(second, Default::default());
                (r, other.mac)
            });
            let a = walker.walk_items(first, Default::default());
            let b = match handle.join() {
                Ok(b) => b,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            (a, b)
        });
        a?;
        let (b, mac) = b;
        b?;
        walker.mac.absorb(mac);
        if let (Some(kept), Some(stash)) = (walker.keep.as_deref_mut(), stash) {
            kept.absorb(stash);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::master_keys::DataKey;
    use crate::sops::selectors::Selectors;

    /// A document of `sections` top-level items around comments, lists with comments,
    /// `_unencrypted` keys and values marked by comments, enough leaves to be shared.
    fn document(sections: usize) -> Branch {
        let mut doc = Branch::default();
        for s in 0..sections {
            if s % 7 == 3 {
                doc.items.push(Item::comment(format!(" before {s}")));
                doc.items.push(Item::comment(" secret".to_owned()));
            }
            let mut inner = Branch::default();
            for k in 0..40 {
                inner.push(format!("key_{k}"), Value::str(format!("value {s} {k}")));
            }
            inner.push("port_unencrypted", Value::Scalar(Scalar::Int(s as i64)));
            inner.items.push(Item::comment(" secret".to_owned()));
            inner.push(
                "list",
                Value::List(vec![
                    Value::Comment(" in a list".into()),
                    Value::Scalar(Scalar::Bool(s % 2 == 0)),
                    Value::Scalar(Scalar::Float(1.5)),
                ]),
            );
            doc.push(format!("section_{s}"), Value::Branch(inner));
        }
        doc
    }

    fn walk(
        cipher: &Cipher,
        sel: &Compiled,
        dir: Direction,
        docs: &mut [Branch],
        shared: bool,
        keep: Option<&mut IvStash>,
    ) -> Result<String> {
        let mut w = Walker::new(cipher, sel, dir, false).keeping(keep);
        if shared {
            walk_documents(&mut w, docs)?;
        } else {
            for d in docs {
                w.walk_branch(d, Default::default())?;
            }
        }
        Ok(w.mac.finish())
    }

    #[test]
    fn a_document_walked_on_two_threads_gives_the_values_mac_and_ivs_of_one_walk() {
        let key = DataKey::generate();
        let cipher = Cipher::new(&key);
        for selectors in [
            Selectors::default(),
            Selectors {
                encrypted_comment_regex: "secret".into(),
                ..Selectors::default()
            },
            Selectors {
                unencrypted_regex: "^key_1".into(),
                ..Selectors::default()
            },
        ] {
            let sel = selectors.with_default().compile().unwrap();
            let plain = vec![document(120), document(3)];
            assert!(split_point(&plain[0].items).is_some());
            assert!(split_point(&plain[1].items).is_none());

            let mut encrypted = plain.clone();
            let mac_shared = walk(
                &cipher,
                &sel,
                Direction::Encrypt,
                &mut encrypted,
                true,
                None,
            );
            let mut again = plain.clone();
            let mac_one = walk(&cipher, &sel, Direction::Encrypt, &mut again, false, None);
            assert_eq!(mac_shared.unwrap(), mac_one.unwrap());

            let mut stash_shared = IvStash::new();
            let mut stash_one = stash_shared.sibling();
            let mut a = encrypted.clone();
            let mut b = encrypted.clone();
            let mac_a = walk(
                &cipher,
                &sel,
                Direction::Decrypt,
                &mut a,
                true,
                Some(&mut stash_shared),
            );
            let mac_b = walk(
                &cipher,
                &sel,
                Direction::Decrypt,
                &mut b,
                false,
                Some(&mut stash_one),
            );
            assert_eq!(mac_a.unwrap(), mac_b.unwrap());
            assert_eq!(a, b);
            assert_eq!(a, plain);
            assert_eq!(stash_shared.len(), stash_one.len());
            assert!(!stash_shared.is_empty());
        }
    }

    #[test]
    fn the_first_error_in_document_order_is_the_one_reported() {
        let key = DataKey::generate();
        let cipher = Cipher::new(&key);
        let sel = Selectors::default().with_default().compile().unwrap();
        let mut docs = vec![document(120)];
        walk(&cipher, &sel, Direction::Encrypt, &mut docs, true, None).unwrap();
        // Tamper with one value near the start and one near the end.
        let tamper = |item: &mut Item| {
            let Value::Branch(b) = &mut item.value else {
                panic!()
            };
            b.items[0].value = Value::str(
                "ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]",
            );
        };
        let n = docs[0].items.len();
        tamper(&mut docs[0].items[n - 1]);
        tamper(&mut docs[0].items[0]);
        let err = walk(&cipher, &sel, Direction::Decrypt, &mut docs, true, None).unwrap_err();
        assert!(
            err.to_string().contains("section_0:key_0:"),
            "reported: {err}"
        );
    }
}
