//! The tree walk that encrypts or decrypts every leaf and computes the MAC (getsops/sops
//! `sops.go` `walkBranch`/`walkSlice`/`shouldBeEncrypted`).
//!
//! The key path grows with map keys only (items of a list share their parent's path) and is
//! the AAD `a:b:c:` (`:` at the top level). Comments are walked as leaves with their branch's
//! path and are never part of the MAC; a comment that does not decrypt is kept as it is.
//!
//! A third direction, [`Direction::Verify`], leaves an encrypted tree as it is and only
//! decrypts its values for the MAC: with a [`Target`] it changes one node (set, unset) and
//! computes the MAC before and after the change in the same walk (see `patch.rs`).

use zeroize::Zeroize as _;

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
    /// Decrypt for the MAC only; the tree keeps its `ENC[…]` values.
    Verify,
}

/// The one node a [`Direction::Verify`] walk changes, found by address.
pub(crate) struct Target {
    /// The node's address in the tree walked (compared, never dereferenced).
    pub(crate) at: *const Value,
    pub(crate) edit: TargetEdit,
}

/// What happens at a [`Target`].
pub(crate) enum TargetEdit {
    /// The node (a placeholder in the tree) becomes `new`, encrypted where it stands; `old`
    /// is what it held (decrypted for the old MAC and compared with `new`).
    Replace(Pending),
    /// The node is removed after the walk: it counts for the old MAC only.
    Remove,
}

/// The cleartext of a change in progress, zeroized however the walk ends.
pub(crate) struct Pending {
    pub(crate) old: Option<Value>,
    pub(crate) new: Value,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(old) = &mut self.old {
            old.zeroize();
        }
        self.new.zeroize();
    }
}

pub(crate) struct Walker<'a> {
    cipher: &'a Cipher,
    sel: &'a Compiled,
    dir: Direction,
    pub(crate) mac: Mac,
    /// Verifying with a target: the MAC of the tree before the change (`mac` is after it).
    pub(crate) mac_old: Option<Mac>,
    /// Verifying: the node to change.
    target: Option<Target>,
    /// Whether the target's value changed (false when `new` equals the cleartext it replaced).
    pub(crate) changed: bool,
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
            mac_old: None,
            target: None,
            changed: false,
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

    /// For a caller that walks by itself (the streaming YAML encryptor): the path grows by
    /// the map key `k`; returns the length to [`Walker::leave`] back to.
    pub(crate) fn enter(&mut self, k: &str) -> usize {
        let len = self.aad.len();
        self.aad.push_str(k);
        self.aad.push(':');
        len
    }

    /// Back to the path before the [`Walker::enter`] that returned `len`.
    pub(crate) fn leave(&mut self, len: usize) {
        self.aad.truncate(len);
    }

    /// The hits below map key `k`.
    pub(crate) fn descend(&self, hits: Hits, k: &str) -> Hits {
        self.sel.descend(hits, k)
    }

    /// The key path so far (`a:b:`; empty at the top).
    pub(crate) fn path(&self) -> &str {
        &self.aad
    }

    /// Sets the key path (one [`Walker::path`] gave) to walk a leaf found elsewhere.
    pub(crate) fn set_path(&mut self, path: &str) {
        self.aad.clear();
        self.aad.push_str(path);
    }

    /// Whether a (non-comment) leaf with `hits` is encrypted.
    pub(crate) fn encrypts(&self, hits: Hits) -> bool {
        self.verdict(hits, false)
    }

    /// Encrypts or decrypts one leaf at the current path: `Some(text)` when it decrypted to
    /// a comment (an item of a list).
    pub(crate) fn walk_item(&mut self, s: &mut Scalar, hits: Hits) -> Result<Option<String>> {
        self.leaf(s, hits)
    }

    /// Encrypts (or decrypts) one leaf at the current path; a leaf that decrypts to a
    /// comment is refused, as outside a list.
    pub(crate) fn walk_leaf(&mut self, s: &mut Scalar, hits: Hits) -> Result<()> {
        match self.leaf(s, hits)? {
            None => Ok(()),
            Some(_) => Err(Error::InvalidPlaintext {
                key_path: self.aad().to_owned(),
                ty: "comment".into(),
            }),
        }
    }

    /// Changes `target` during a [`Direction::Verify`] walk, computing both MACs.
    pub(crate) fn changing(mut self, target: Target) -> Self {
        self.mac_old = Some(Mac::new(self.mac.only_encrypted));
        self.target = Some(target);
        self
    }

    /// Whether the target is still to be reached (an internal error once the walk is over).
    pub(crate) fn target_missed(&self) -> bool {
        self.target.is_some()
    }

    fn is_target(&self, v: &Value) -> bool {
        self.target
            .as_ref()
            .is_some_and(|t| std::ptr::eq(t.at, v as *const Value))
    }

    /// Feeds a leaf to the MAC and, verifying a change, to the MAC before it.
    fn feed(&mut self, bytes: &[u8], encrypted: bool) {
        self.mac.leaf(bytes, encrypted);
        if let Some(old) = &mut self.mac_old {
            old.leaf(bytes, encrypted);
        }
    }

    /// Walks `v` in direction `dir` from the current path, feeding `mac` (which it returns).
    fn walk_detached(
        &self,
        v: &mut Value,
        hits: Hits,
        dir: Direction,
        mac: Mac,
        stash: &mut IvStash,
    ) -> Result<Mac> {
        let mut sub = Walker::new(self.cipher, self.sel, dir, mac.only_encrypted);
        sub.mac = mac;
        sub.aad.clone_from(&self.aad);
        sub.comments.clone_from(&self.comments);
        let mut sub = match dir {
            Direction::Encrypt => sub.reusing(Some(stash)),
            _ => sub.keeping(Some(stash)),
        };
        sub.walk_value(v, hits)?;
        Ok(sub.mac)
    }

    /// The target of a verifying walk: its old content counts for the old MAC, its new
    /// content (encrypted here, with the IVs of equal old values) for the new one.
    fn at_target(&mut self, slot: &mut Value, hits: Hits) -> Result<()> {
        let Some(target) = self.target.take() else {
            return Ok(());
        };
        let only = self.mac.only_encrypted;
        let mut stash = IvStash::new();
        let take = |m: &mut Option<Mac>| m.take().unwrap_or_else(|| Mac::new(only));
        match target.edit {
            TargetEdit::Remove => {
                let old = take(&mut self.mac_old);
                let old = self.walk_detached(slot, hits, Direction::Verify, old, &mut stash)?;
                self.mac_old = Some(old);
            }
            TargetEdit::Replace(mut pending) => {
                if let Some(old) = pending.old.as_mut() {
                    let mac = take(&mut self.mac_old);
                    let mac = self.walk_detached(old, hits, Direction::Decrypt, mac, &mut stash)?;
                    self.mac_old = Some(mac);
                }
                self.changed = pending.old.as_ref() != Some(&pending.new);
                let mac = std::mem::replace(&mut self.mac, Mac::new(only));
                let new = &mut pending.new;
                self.mac = self.walk_detached(new, hits, Direction::Encrypt, mac, &mut stash)?;
                *slot = std::mem::replace(new, Value::Scalar(Scalar::Null));
            }
        }
        Ok(())
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
                    let r = if self.is_target(&item.value) {
                        self.at_target(&mut item.value, child)
                    } else {
                        self.walk_value(&mut item.value, child)
                    };
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
                    if self.is_target(item) {
                        self.at_target(item, hits)?;
                    } else if let Value::Comment(c) = item {
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
                            if self.dir == Direction::Decrypt {
                                *item = Value::Comment(comment);
                            }
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
            // Only a list item may hold an encrypted comment.
            Value::Scalar(s) => self.walk_leaf(s, hits),
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
                    self.feed(&bytes, encrypted);
                    let text = self.encrypt(bytes, ty)?;
                    *s = Scalar::Str(text);
                } else {
                    self.feed(&s.bytes(), encrypted);
                }
            }
            Direction::Decrypt => {
                if encrypted {
                    let Scalar::Str(text) = s else {
                        return Err(Error::InvalidEncValue {
                            key_path: self.aad().to_owned(),
                        });
                    };
                    let plain = self.decrypt(text).map_err(|e| self.tampered(e))?;
                    *s = match plain {
                        Plain::Scalar(p) => p,
                        // Comments are not part of the MAC.
                        Plain::Comment(text) => return Ok(Some(text)),
                    };
                }
                self.feed(&s.bytes(), encrypted);
            }
            Direction::Verify => {
                if !encrypted {
                    self.feed(&s.bytes(), false);
                    return Ok(None);
                }
                let Scalar::Str(text) = s else {
                    return Err(Error::InvalidEncValue {
                        key_path: self.aad().to_owned(),
                    });
                };
                let plain = self.cipher.decrypt(text, self.aad().as_bytes());
                match plain.map_err(|e| self.tampered(e))? {
                    Plain::Scalar(mut p) => {
                        self.feed(&p.bytes(), true);
                        p.zeroize();
                    }
                    Plain::Comment(mut text) => {
                        text.zeroize();
                        return Ok(Some(String::new()));
                    }
                }
            }
        }
        Ok(None)
    }

    /// A value that does not authenticate names its path.
    fn tampered(&self, e: Error) -> Error {
        match e {
            Error::DecryptionFailed => Error::TamperedValue {
                key_path: self.aad().to_owned(),
            },
            other => other,
        }
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
            // Comments are not part of the MAC.
            Direction::Verify => {}
        }
        Ok(true)
    }
}
