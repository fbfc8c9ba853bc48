//! The tree walk that encrypts or decrypts every leaf and computes the MAC (getsops/sops
//! `sops.go` `walkBranch`/`walkSlice`/`shouldBeEncrypted`).
//!
//! The key path grows with map keys only (items of a list share their parent's path) and is
//! the AAD `a:b:c:` (`:` at the top level). Comments are walked as leaves with their branch's
//! path and are never part of the MAC; a comment that does not decrypt is kept as it is.

use super::error::{Error, Result};
use super::mac::Mac;
use super::selectors::{Compiled, Hits};
use super::stash::IvStash;
use super::tree::{Branch, Key, Scalar, Value};
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
        if self.uses_comments {
            self.comments.push(Vec::new());
        }
        for item in &mut b.items {
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
