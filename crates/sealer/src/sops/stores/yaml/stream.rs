//! Encrypting a YAML file without a tree.
//!
//! A tree of a file of a million small values costs ten times its text; encrypting needs one
//! path at a time. The loader reads the text twice: first to check it (every error a read into
//! a tree reports, and whether it can be read without one), then to hand each node to
//! [`Encryptor`], which encrypts each value where it stands and emits it at once, computing the
//! MAC on the way; the `sops` metadata, which holds the MAC, ends the root mapping. Memory is
//! the text, the keys' hashes of one mapping and a chunk of output.
//!
//! Read this way: one document whose root is a mapping, without comments (no `#` at all),
//! anchors, aliases, keys that are not plain scalars or not strings, a top-level `sops` key or
//! a value over 1 MiB, encrypted under selectors that do not look at comments. Anything else goes through the tree
//! as before. The two give the same file (tested side by side).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::io::Write;

use super::emitter::{Event, Kind};
use super::{Builder, Loader, Visit, scalar_text, string_style, utf8};
use crate::sops::error::{Error, Result};
use crate::sops::mac::Mac;
use crate::sops::master_keys::DataKey;
use crate::sops::metadata::{Metadata, NilList};
use crate::sops::selectors::Hits;
use crate::sops::tree::{Item, Key, Scalar};
use crate::sops::value::Cipher;
use crate::sops::walk::{Direction, Walker};
use crate::sops::{METADATA_KEY, now_rfc3339, prepare_for_encryption, seal_mac};

/// The longest value streamed. A file of a few large values is cheaper as a tree: the tree
/// path frees the text before it encrypts, this one reads the text to the end.
const LARGEST_STREAMED: usize = 1 << 20;

/// The first read: checks the text and whether it can be read without a tree (`None`: read
/// it into one, which also reports its errors).
pub(crate) fn check(text: &[u8]) -> Option<&str> {
    let src = utf8(text).ok()?;
    if src.as_bytes().contains(&b'#') {
        return None;
    }
    let mut probe = Probe::default();
    let mut l = Loader::new(src, true, Some(&mut probe));
    let read = l.documents();
    let declined = l.declined;
    drop(l);
    // A stream of no document is left to the tree (which writes no metadata for it).
    (read.is_ok() && !declined && probe.documents == 1).then_some(src)
}

/// Encrypts `src` (which [`check`] accepted) under `metadata` with `key` and writes it to
/// `sink` as it is read. `Ok(false)`: the selectors look at comments and nothing was written.
pub(crate) fn encrypt(
    src: &str,
    key: &DataKey,
    mut metadata: Metadata,
    indent: usize,
    sink: &mut dyn Write,
) -> Result<bool> {
    prepare_for_encryption(&mut metadata, false)?;
    let sel = metadata.selectors.clone().with_default().compile()?;
    if sel.uses_comments() {
        return Ok(false);
    }
    let cipher = Cipher::new(key);
    let stamp = now_rfc3339()?;
    let metadata_item = OnceCell::new();
    let only = metadata.mac_only_encrypted;
    let mut enc = Encryptor {
        b: Builder::new(indent, 0, Some(sink)),
        walker: Walker::new(&cipher, &sel, Direction::Encrypt, only),
        cipher: &cipher,
        frames: Vec::new(),
        metadata: Some(metadata),
        stamp,
        metadata_item: &metadata_item,
    };
    let mut l = Loader::new(src, false, Some(&mut enc));
    let read = l.documents();
    if l.declined {
        return Err(Error::Unsupported(
            "internal error: a YAML file checked for streaming was declined".into(),
        ));
    }
    drop(l);
    read?;
    enc.b.finish().map(|_| true)
}

/// The first read's visitor: refuses a top-level `sops` key and non-string keys, and drops
/// every value (zeroized: they are cleartext).
#[derive(Default)]
struct Probe {
    depth: usize,
    documents: usize,
}

impl Visit for Probe {
    fn map_start(&mut self) -> Result<()> {
        if self.depth == 0 {
            self.documents += 1;
        }
        self.depth += 1;
        Ok(())
    }

    fn key(&mut self, key: &Key) -> Result<()> {
        match key {
            Key::Str(k) if self.depth != 1 || k != METADATA_KEY => Ok(()),
            _ => Err(Error::AlreadyEncrypted),
        }
    }

    fn value_end(&mut self) -> Result<()> {
        Ok(())
    }

    fn map_end(&mut self) -> Result<()> {
        self.depth -= 1;
        Ok(())
    }

    fn seq_start(&mut self) -> Result<()> {
        self.depth += 1;
        Ok(())
    }

    fn seq_end(&mut self) -> Result<()> {
        self.depth -= 1;
        Ok(())
    }

    fn scalar(&mut self, mut s: Scalar) -> Result<()> {
        let large = super::scalar_len(&s) > LARGEST_STREAMED;
        s.zeroize();
        if large {
            return Err(Error::Unsupported("a large value".into()));
        }
        Ok(())
    }
}

/// An open collection, with the selector hits of its values.
enum Frame {
    /// A mapping: its hits, and those of the value being read with the path length to go back to.
    Map {
        hits: Hits,
        value: Option<(Hits, usize)>,
    },
    /// A sequence: its items share its path and hits.
    Seq { hits: Hits },
}

/// The second read's visitor: encrypts each value and feeds the emitter.
struct Encryptor<'a, 'w> {
    b: Builder<'a, 'w>,
    walker: Walker<'a>,
    cipher: &'a Cipher,
    frames: Vec<Frame>,
    /// Taken when the root mapping ends, to hold the MAC.
    metadata: Option<Metadata>,
    stamp: String,
    /// The `sops` item, made once the MAC is known; outlives the emitter that borrows it.
    metadata_item: &'a OnceCell<Item>,
}

impl Encryptor<'_, '_> {
    /// The hits of the node being read.
    fn hits(&self) -> Hits {
        match self.frames.last() {
            Some(Frame::Map {
                value: Some((hits, _)),
                ..
            }) => *hits,
            Some(Frame::Map { hits, .. } | Frame::Seq { hits }) => *hits,
            None => Hits::default(),
        }
    }

    /// The end of the root mapping: the MAC is sealed into the metadata, written last.
    fn finish_document(&mut self) -> Result<()> {
        let mut metadata = self
            .metadata
            .take()
            .ok_or_else(|| Error::Unsupported("internal error: two YAML documents".into()))?;
        let only = self.walker.mac.only_encrypted;
        let mac = std::mem::replace(&mut self.walker.mac, Mac::new(only)).finish();
        seal_mac(&mut metadata, self.cipher, mac, &self.stamp)?;
        let item = self
            .metadata_item
            .get_or_init(|| Item::new(METADATA_KEY, metadata.to_value(NilList::EmptyList)));
        self.b.push(Event::new(Kind::Scalar(
            Cow::Borrowed(METADATA_KEY),
            string_style(METADATA_KEY),
        )));
        self.b.value(&item.value, String::new(), String::new());
        self.b.push(Event::new(Kind::MapEnd));
        self.b.push(Event::new(Kind::DocEnd));
        self.b.push(Event::new(Kind::StreamEnd));
        Ok(())
    }
}

impl Visit for Encryptor<'_, '_> {
    fn map_start(&mut self) -> Result<()> {
        if self.frames.is_empty() {
            self.b.push(Event::new(Kind::StreamStart));
            self.b.push(Event::new(Kind::DocStart));
        }
        let hits = self.hits();
        self.b.push(Event::new(Kind::MapStart));
        self.frames.push(Frame::Map { hits, value: None });
        Ok(())
    }

    fn key(&mut self, key: &Key) -> Result<()> {
        let Key::Str(k) = key else {
            return Err(Error::Unsupported(
                "internal error: a non-string key in a streamed YAML file".into(),
            ));
        };
        let Some(Frame::Map { hits, value }) = self.frames.last_mut() else {
            return Err(Error::Unsupported(
                "internal error: a key outside a mapping".into(),
            ));
        };
        let child = self.walker.descend(*hits, k);
        *value = Some((child, self.walker.enter(k)));
        self.b.push(Event::new(Kind::Scalar(
            Cow::Owned(k.clone()),
            string_style(k),
        )));
        Ok(())
    }

    fn value_end(&mut self) -> Result<()> {
        if let Some(Frame::Map { value, .. }) = self.frames.last_mut()
            && let Some((_, len)) = value.take()
        {
            self.walker.leave(len);
        }
        Ok(())
    }

    fn map_end(&mut self) -> Result<()> {
        self.frames.pop();
        if self.frames.is_empty() {
            return self.finish_document();
        }
        self.b.push(Event::new(Kind::MapEnd));
        Ok(())
    }

    fn seq_start(&mut self) -> Result<()> {
        let hits = self.hits();
        self.b.push(Event::new(Kind::SeqStart));
        self.frames.push(Frame::Seq { hits });
        Ok(())
    }

    fn seq_end(&mut self) -> Result<()> {
        self.frames.pop();
        self.b.push(Event::new(Kind::SeqEnd));
        Ok(())
    }

    fn scalar(&mut self, mut s: Scalar) -> Result<()> {
        let hits = self.hits();
        self.walker.walk_leaf(&mut s, hits)?;
        let event = match s {
            Scalar::Str(text) => {
                let style = string_style(&text);
                Event::new(Kind::Scalar(Cow::Owned(text), style))
            }
            other => {
                let (text, style) = scalar_text(&other);
                Event::new(Kind::Scalar(Cow::Owned(text.into_owned()), style))
            }
        };
        self.b.push(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::{MasterKeyStanza, Selectors};

    fn metadata(selectors: Selectors) -> Metadata {
        let stanza = MasterKeyStanza::age(
            "age1test",
            "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n",
        );
        Metadata::new(vec![vec![stanza]], selectors)
    }

    #[test]
    fn what_needs_a_tree_is_left_to_it() {
        for text in [
            "a: 1 # a comment\n",
            "# head\na: 1\n",
            "a: &x 1\nb: *x\n",
            "a: &x {b: 1}\n",
            "a: 1\n---\nb: 2\n",
            "",
            "...\n",
            "sops: 1\n",
            "1: a\n",
            "a: {true: b}\n",
            "? [a]\n: b\n",
            "- a\n",
            "just text\n",
            "a: [1\n",
            "a: 1\na: 2\n",
            "a: \"\\xff\"\n\u{0}",
            &format!("a: {}\n", "x".repeat(LARGEST_STREAMED + 1)),
        ] {
            assert!(check(text.as_bytes()).is_none(), "{text:?}");
        }
        for text in [
            "a: 1\n",
            "---\na: [1, {b: c}]\n...\n",
            "s:\n    sops: nested\n",
            "{}\n",
        ] {
            assert!(check(text.as_bytes()).is_some(), "{text:?}");
        }
        assert!(check(b"a: \xff\n").is_none());
    }

    #[test]
    fn selectors_that_read_comments_decline_before_writing() {
        let src = check(b"a: 1\n").unwrap();
        let key = DataKey::from_slice(&[1u8; 32]).unwrap();
        let selectors = Selectors {
            encrypted_comment_regex: "x".into(),
            ..Selectors::default()
        };
        let mut out = Vec::new();
        let written = encrypt(src, &key, metadata(selectors), 4, &mut out).unwrap();
        assert!(!written);
        assert!(out.is_empty());
    }

    #[test]
    fn the_metadata_ends_the_root_mapping_with_the_mac_of_every_value() {
        let src = check(b"a: 1\nb:\n  - x\n  - {c: 2.5, d_unencrypted: clear}\ne: {}\n").unwrap();
        let key = DataKey::from_slice(&[1u8; 32]).unwrap();
        let mut out = Vec::new();
        assert!(encrypt(src, &key, metadata(Selectors::default()), 4, &mut out).unwrap());
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("a: ENC[AES256_GCM,"), "{text}");
        assert!(text.contains("\n      d_unencrypted: clear\n"), "{text}");
        assert!(text.contains("\ne: {}\nsops:\n"), "{text}");
        let file = crate::sops::EncryptedFile::parse(&out, crate::sops::Format::Yaml).unwrap();
        let plain = file
            .decrypt(&key, crate::sops::MacCheck::Verify)
            .unwrap()
            .to_bytes(crate::sops::Format::Yaml)
            .unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "a: 1\nb:\n    - x\n    - c: 2.5\n      d_unencrypted: clear\ne: {}\n"
        );
    }
}
