//! Encrypting a YAML file without a tree.
//!
//! A tree of a file of a million small values costs ten times its text; encrypting needs one
//! path at a time. The loader reads the text twice: first to check it (every error a read into
//! a tree reports, and whether it can be read without one), then to hand each node to
//! [`Encryptor`], which encrypts each value where it stands and emits it at once, computing the
//! MAC on the way; the `sops` metadata, which holds the MAC, ends the root mapping. Memory is
//! the text, the keys' hashes of one mapping and a chunk of output.
//!
//! Reading twice costs more time than a tree: `seal encrypt` streams only a file whose tree
//! would cost more than its memory budget (`PlainFile::yaml_tree_exceeds_budget`, many short
//! lines). Decrypting reads once (the metadata is read first from the end of the file) and
//! streams whenever it can.
//!
//! Read this way: one document whose root is a mapping, without comments (no `#` at all),
//! anchors, aliases, keys that are not plain scalars or not strings, a top-level `sops` key or
//! a value over 1 MiB, encrypted under selectors that do not look at comments. Anything else goes through the tree
//! as before. The two give the same file (tested side by side).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::io::Write;

use super::emitter::{Event, Kind};
use super::splice::{Leaf, Ledger};
use super::{Builder, Loader, Visit, scalar_text, string_style, utf8};
use crate::sops::error::{Error, Result};
use crate::sops::mac::Mac;
use crate::sops::master_keys::DataKey;
use crate::sops::metadata::{Metadata, NilList};
use crate::sops::selectors::{Compiled, Hits};
use crate::sops::stash::IvStash;
use crate::sops::tree::{Branch, Item, Key, Scalar, Value};
use crate::sops::value::Cipher;
use crate::sops::walk::{Direction, Walker};
use crate::sops::{METADATA_KEY, now_rfc3339, prepare_for_encryption, seal_mac};

/// The longest value streamed. A file of a few large values is cheaper as a tree: the tree
/// path frees the text before it encrypts or decrypts, this one reads the text to the end.
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
    let sel = prepare_for_encryption(&mut metadata, false)?;
    if sel.uses_comments() {
        return Ok(false);
    }
    let cipher = Cipher::new(key);
    let metadata_item = OnceCell::new();
    let b = Builder::new(indent, 0, Some(sink));
    let mut enc = Encryptor::new(b, &cipher, &sel, metadata, None, &metadata_item)?;
    // Duplicate keys were looked for by `check`.
    let (read, declined) = read_alongside(src, false, &mut enc);
    if declined {
        return Err(Error::Unsupported(
            "internal error: a YAML file checked for streaming was declined".into(),
        ));
    }
    read?;
    enc.b.finish().map(|_| true)
}

/// Encrypts `text` under `metadata` with `key` in one read into memory (an error found late
/// loses nothing); when it is an edit of a file decrypted with `key` into `stash`, values
/// whose path, type and cleartext `stash` kept get their former ciphertext. `None` for anything a
/// tree reads (comments, anchors, several documents, …) or reports (every error): the caller
/// reads the text into a tree then.
pub(crate) fn reencrypt(
    text: &[u8],
    key: &DataKey,
    mut metadata: Metadata,
    stash: Option<&IvStash>,
    indent: usize,
) -> Option<Vec<u8>> {
    let src = utf8(text).ok()?;
    if src.as_bytes().contains(&b'#') {
        return None;
    }
    let sel = prepare_for_encryption(&mut metadata, false).ok()?;
    if sel.uses_comments() {
        return None;
    }
    let cipher = Cipher::new(key);
    let metadata_item = OnceCell::new();
    // An encrypted value is about twice its cleartext and the metadata.
    let b = Builder::new(indent, text.len().saturating_mul(5) / 2 + 4096, None);
    let mut enc = Encryptor::new(b, &cipher, &sel, metadata, stash, &metadata_item).ok()?;
    // On one thread: a second one reading (as `encrypt` does) measured slower here, its
    // allocations freed on this thread contending for the allocator's lock.
    let mut l = Loader::new(src, true, Some(&mut enc));
    let read = l.documents();
    let declined = l.declined;
    drop(l);
    // No document read: no metadata written (the tree path writes none either).
    if read.is_err() || declined || enc.metadata.is_some() {
        return None;
    }
    enc.b.finish().ok()
}

/// A node read, sent from the reading thread to the visitor.
enum Node {
    MapStart,
    Key(Key),
    ValueEnd,
    MapEnd,
    SeqStart,
    SeqEnd,
    Scalar(Scalar),
}

/// Nodes sent at once (one channel operation per batch, not per node).
const BATCH: usize = 512;

/// The reading thread's visitor: batches the nodes for the other thread.
struct Forward {
    batch: Vec<Node>,
    to: std::sync::mpsc::SyncSender<Vec<Node>>,
}

impl Forward {
    fn push(&mut self, node: Node) -> Result<()> {
        self.batch.push(node);
        if self.batch.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        // The other side stops listening when its visitor failed: stop reading too.
        self.to
            .send(batch)
            .map_err(|_| Error::Unsupported("the reading was stopped".into()))
    }
}

impl Drop for Forward {
    /// Nodes not sent (the read failed) are cleartext when encrypting.
    fn drop(&mut self) {
        for node in &mut self.batch {
            if let Node::Scalar(s) = node {
                s.zeroize();
            }
        }
    }
}

impl Visit for Forward {
    fn map_start(&mut self) -> Result<()> {
        self.push(Node::MapStart)
    }
    fn key(&mut self, key: &Key) -> Result<()> {
        self.push(Node::Key(key.clone()))
    }
    fn value_end(&mut self) -> Result<()> {
        self.push(Node::ValueEnd)
    }
    fn map_end(&mut self) -> Result<()> {
        self.push(Node::MapEnd)
    }
    fn seq_start(&mut self) -> Result<()> {
        self.push(Node::SeqStart)
    }
    fn seq_end(&mut self) -> Result<()> {
        self.push(Node::SeqEnd)
    }
    fn scalar(&mut self, s: Scalar) -> Result<()> {
        self.push(Node::Scalar(s))
    }
}

fn apply(visit: &mut dyn Visit, node: Node) -> Result<()> {
    match node {
        Node::MapStart => visit.map_start(),
        Node::Key(k) => visit.key(&k),
        Node::ValueEnd => visit.value_end(),
        Node::MapEnd => visit.map_end(),
        Node::SeqStart => visit.seq_start(),
        Node::SeqEnd => visit.seq_end(),
        Node::Scalar(s) => visit.scalar(s),
    }
}

/// Reads `src` without a tree on a second thread while `visit` takes its nodes on this one
/// (reading and encrypting use both cores). The read's result and whether it
/// declined; a failure of `visit` is returned, the nodes after it zeroized as they come.
fn read_alongside(src: &str, check_duplicates: bool, visit: &mut dyn Visit) -> (Result<()>, bool) {
    let (to, from) = std::sync::mpsc::sync_channel::<Vec<Node>>(16);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut forward = Forward {
                batch: Vec::with_capacity(BATCH),
                to,
            };
            let mut l = Loader::new(src, check_duplicates, Some(&mut forward));
            let read = l.documents();
            let declined = l.declined;
            drop(l);
            (read.and_then(|_| forward.send()), declined)
        });
        let mut applied = Ok(());
        for batch in from.iter() {
            for node in batch {
                match node {
                    // After a failure the rest is dropped; cleartext zeroized.
                    Node::Scalar(mut s) if applied.is_err() => s.zeroize(),
                    node if applied.is_ok() => applied = apply(visit, node),
                    _ => {}
                }
            }
        }
        let (read, declined) = reader.join().unwrap_or_else(|_| {
            (
                Err(Error::Unsupported(
                    "internal error: the YAML reader failed".into(),
                )),
                false,
            )
        });
        match applied {
            Err(e) => (Err(e), declined),
            Ok(()) => (read, declined),
        }
    })
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

/// Decrypting without a tree: where the `sops` key of an encrypted YAML file starts, and its
/// value read from there (sops writes the metadata last), and where its line starts. `None`
/// when the text has comments
/// or no such key at the start of a line; the second read checks that this is the metadata
/// the file holds.
pub(crate) fn tail_metadata(text: &[u8]) -> Option<(&str, Value, usize)> {
    let src = utf8(text).ok()?;
    if src.as_bytes().contains(&b'#') {
        return None;
    }
    let key = format!("{METADATA_KEY}:");
    let at = if src.starts_with(&key) {
        src.rfind(&format!("\n{key}")).map_or(0, |i| i + 1)
    } else {
        src.rfind(&format!("\n{key}"))? + 1
    };
    let mut docs = super::load(&src.as_bytes()[at..], false).ok()?;
    if docs.len() != 1 {
        return None;
    }
    let mut items = docs.pop()?.items.into_iter();
    let item = items.next()?;
    (item.key.as_str() == Some(METADATA_KEY)).then_some((src, item.value, at))
}

/// What a decryption keeps to re-encrypt an edit of its cleartext.
pub(crate) struct ForEdit<'k> {
    /// Where each leaf stands (and, from there, the IVs of the values).
    pub(crate) ledger: &'k mut Ledger,
    /// Where the line of the `sops` key starts ([`tail_metadata`]).
    pub(crate) metadata_at: usize,
}

/// Decrypts `src` (whose metadata [`tail_metadata`] read as `metadata`) with `key` and writes
/// the cleartext in memory, checking the MAC (unless ignored) before it is returned; with
/// `keep`, what re-encrypting an edit of the cleartext needs is kept there. `None` for
/// anything a tree is needed for or reports better: the caller reads the file into a tree.
pub(crate) fn decrypt(
    src: &str,
    (metadata, parsed): (&Value, &Metadata),
    key: &DataKey,
    mac: crate::sops::MacCheck,
    indent: usize,
    keep: Option<ForEdit<'_>>,
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let sel = parsed.selectors.clone().with_default().compile().ok()?;
    if sel.uses_comments() {
        return None;
    }
    let cipher = Cipher::new(key);
    let only = parsed.mac_only_encrypted;
    let rec = match keep {
        Some(ForEdit {
            ledger,
            metadata_at,
        }) => {
            *ledger = Ledger {
                metadata_at: Some(metadata_at),
                ..Ledger::default()
            };
            let rec = Recording {
                ledger,
                src,
                span: 0..0,
                entry: 0,
                unended: None,
            };
            Some(rec)
        }
        None => None,
    };
    let mut walker = Walker::new(&cipher, &sel, Direction::Decrypt, only);
    if rec.is_some() {
        // The MAC's input is at most the cleartext, which is shorter than the text.
        walker.mac = Mac::new(only).recording(src.len() / 2 + 4096);
    }
    let mut dec = Decryptor {
        // Room for the whole cleartext: no regrowth leaves a copy of it behind.
        b: Builder::new(indent, src.len(), None),
        walker,
        at: Position::default(),
        capture: None,
        captured: None,
        rec,
    };
    // On one thread: the `ENC[…]` strings a second thread would read are freed here, and
    // freeing memory of another thread's heap cost more than the read saved (measured).
    let mut l = Loader::new(src, false, Some(&mut dec));
    let read = l.documents();
    let declined = l.declined;
    drop(l);
    let out = zeroize::Zeroizing::new(dec.b.finish().ok()?);
    if read.is_err() || declined || dec.captured.as_ref() != Some(metadata) {
        return None;
    }
    let mut computed = std::mem::replace(&mut dec.walker.mac, Mac::new(false));
    let input = computed.take_record();
    let computed = computed.finish().ok()?;
    crate::sops::check_mac(parsed, &cipher, &computed, mac).ok()?;
    if let (Some(rec), Some(input)) = (dec.rec, input) {
        rec.ledger.mac_input = input;
    }
    Some(out)
}

/// What a [`Decryptor`] records in a [`Ledger`].
struct Recording<'a> {
    ledger: &'a mut Ledger,
    /// The text read: a leaf is spliceable where its span holds the `ENC[…]` read.
    src: &'a str,
    /// The span of the scalar read next.
    span: std::ops::Range<usize>,
    /// Where the text before the entry being read ends (known once its key is pushed).
    entry: usize,
    /// The leaf whose value the emitter writes next (its end is known at the next push).
    unended: Option<usize>,
}

/// The value of the `sops` key, built as it is read.
struct Capture {
    /// The collections open, under a list that receives the value itself.
    open: Vec<(Value, Option<String>)>,
}

impl Capture {
    fn new() -> Self {
        Self {
            open: vec![(Value::List(Vec::new()), None)],
        }
    }

    fn add(&mut self, v: Value) {
        if let Some((parent, key)) = self.open.last_mut() {
            match parent {
                Value::Branch(b) => b.items.push(Item::new(key.take().unwrap_or_default(), v)),
                Value::List(l) => l.push(v),
                _ => {}
            }
        }
    }

    fn close(&mut self) {
        if self.open.len() > 1
            && let Some((v, _)) = self.open.pop()
        {
            self.add(v);
        }
    }

    /// The value, once read whole.
    fn finished(&mut self) -> Option<Value> {
        match self.open.as_mut_slice() {
            [(Value::List(l), _)] if l.len() == 1 => l.pop(),
            _ => None,
        }
    }
}

/// The visitor of a decryption without a tree: decrypts each value and feeds the emitter;
/// keeps the `sops` value aside.
struct Decryptor<'a> {
    b: Builder<'a, 'a>,
    walker: Walker<'a>,
    at: Position,
    capture: Option<Capture>,
    captured: Option<Value>,
    rec: Option<Recording<'a>>,
}

impl Decryptor<'_> {
    /// Pushes an event; the leaf written by it gets its end.
    fn push(&mut self, event: Event<'static>) {
        self.b.push(event);
        if let Some(rec) = self.rec.as_mut()
            && let Some(i) = rec.unended.take()
        {
            let end = self.b.written();
            if let Some(leaf) = rec.ledger.leaves.get_mut(i) {
                leaf.clear.end = end;
            }
        }
    }

    /// Records the leaf just pushed (its value `was` before decryption, its part of the MAC's
    /// input `mac`).
    fn record(&mut self, was_enc: bool, ty: &'static str, mac: std::ops::Range<usize>, hits: Hits) {
        let key_at = self.at.key_at();
        let keys = self.at.keys();
        let encrypts = self.walker.encrypts(hits);
        let Some(rec) = self.rec.as_mut() else {
            return;
        };
        let start = rec.ledger.paths.len();
        rec.ledger.paths.push_str(self.walker.path());
        rec.ledger.leaves.push(Leaf {
            clear: rec.entry..rec.entry,
            encrypted: rec.span.clone(),
            path: start..rec.ledger.paths.len(),
            key_at: start + key_at.unwrap_or(0),
            mac,
            hits,
            keys,
            ty,
            was_enc: was_enc && encrypts,
            in_mapping: key_at.is_some(),
        });
        rec.unended = Some(rec.ledger.leaves.len() - 1);
    }
    fn open(&mut self, is_map: bool) {
        if let Some(c) = self.capture.as_mut() {
            let v = if is_map {
                Value::Branch(Branch::default())
            } else {
                Value::List(Vec::new())
            };
            c.open.push((v, None));
            return;
        }
        if self.at.depth() == 0 {
            self.push(Event::new(Kind::StreamStart));
            self.push(Event::new(Kind::DocStart));
        }
        self.push(Event::new(if is_map {
            Kind::MapStart
        } else {
            Kind::SeqStart
        }));
        self.at.open(is_map);
    }

    fn close(&mut self, is_map: bool) {
        if let Some(c) = self.capture.as_mut() {
            c.close();
            return;
        }
        let root = self.at.close();
        self.push(Event::new(if is_map { Kind::MapEnd } else { Kind::SeqEnd }));
        if root {
            self.push(Event::new(Kind::DocEnd));
            self.push(Event::new(Kind::StreamEnd));
        }
    }
}

/// Stops a read without a tree (the tree reports or handles it).
fn needs_tree() -> Error {
    Error::Unsupported("needs a tree".into())
}

impl Visit for Decryptor<'_> {
    fn wants_spans(&self) -> bool {
        self.rec.is_some()
    }

    fn scalar_span(&mut self, at: std::ops::Range<usize>) {
        if let Some(rec) = self.rec.as_mut() {
            rec.span = at;
        }
    }

    fn map_start(&mut self) -> Result<()> {
        self.open(true);
        Ok(())
    }

    fn key(&mut self, key: &Key) -> Result<()> {
        let Key::Str(k) = key else {
            return Err(needs_tree());
        };
        if let Some(c) = self.capture.as_mut() {
            if let Some((_, slot)) = c.open.last_mut() {
                *slot = Some(k.clone());
            }
            return Ok(());
        }
        if self.at.depth() == 1
            && self.captured.is_some()
            && let Some(rec) = self.rec.as_mut()
        {
            // Something follows the metadata: a splice would drop it.
            rec.ledger.metadata_at = None;
        }
        if self.at.depth() == 1 && k == METADATA_KEY {
            if self.captured.is_some() {
                return Err(needs_tree());
            }
            self.capture = Some(Capture::new());
            return Ok(());
        }
        self.at.key(&mut self.walker, k)?;
        self.push(key_event(k));
        if let Some(rec) = self.rec.as_mut() {
            rec.entry = self.b.written();
        }
        Ok(())
    }

    fn value_end(&mut self) -> Result<()> {
        if let Some(c) = self.capture.as_mut() {
            if c.open.len() == 1 {
                self.captured = c.finished();
                self.capture = None;
            }
            return Ok(());
        }
        self.at.value_end(&mut self.walker);
        Ok(())
    }

    fn map_end(&mut self) -> Result<()> {
        self.close(true);
        Ok(())
    }

    fn seq_start(&mut self) -> Result<()> {
        self.open(false);
        Ok(())
    }

    fn seq_end(&mut self) -> Result<()> {
        self.close(false);
        Ok(())
    }

    fn scalar(&mut self, mut s: Scalar) -> Result<()> {
        if let Some(c) = self.capture.as_mut() {
            c.add(Value::Scalar(s));
            return Ok(());
        }
        if super::scalar_len(&s) > LARGEST_STREAMED {
            // The tree frees the text before it decrypts a large value.
            return Err(needs_tree());
        }
        let was_enc = self.rec.as_ref().is_some_and(|rec| match &s {
            Scalar::Str(t) => {
                t.starts_with("ENC[") && rec.src.get(rec.span.clone()) == Some(t.as_str())
            }
            _ => false,
        });
        let mac_start = self.walker.mac.recorded();
        let hits = self.at.hits();
        if self.walker.walk_item(&mut s, hits)?.is_some() {
            // An encrypted comment: the tree places it.
            return Err(needs_tree());
        }
        let mac = mac_start..self.walker.mac.recorded();
        let ty = s.type_name().unwrap_or("");
        self.push(scalar_event(s));
        self.record(was_enc, ty, mac, hits);
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

/// The collections open above the node being read.
#[derive(Default)]
struct Position {
    frames: Vec<Frame>,
}

impl Position {
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

    fn open(&mut self, is_map: bool) {
        let hits = self.hits();
        self.frames.push(if is_map {
            Frame::Map { hits, value: None }
        } else {
            Frame::Seq { hits }
        });
    }

    /// Closes the innermost collection; whether it was the root.
    fn close(&mut self) -> bool {
        self.frames.pop();
        self.frames.is_empty()
    }

    fn depth(&self) -> usize {
        self.frames.len()
    }

    /// How many map keys the walker's path holds (one a mapping open).
    fn keys(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| matches!(f, Frame::Map { .. }))
            .count()
    }

    /// Reading a mapping's value: where its key starts in the walker's path.
    fn key_at(&self) -> Option<usize> {
        match self.frames.last() {
            Some(Frame::Map {
                value: Some((_, len)),
                ..
            }) => Some(*len),
            _ => None,
        }
    }

    /// A key of the innermost mapping: the walker's path and the hits go below it.
    fn key(&mut self, walker: &mut Walker<'_>, k: &str) -> Result<()> {
        let Some(Frame::Map { hits, value }) = self.frames.last_mut() else {
            return Err(Error::Unsupported(
                "internal error: a key outside a mapping".into(),
            ));
        };
        let child = walker.descend(*hits, k);
        *value = Some((child, walker.enter(k)));
        Ok(())
    }

    /// The value of the last key was read: back to the mapping's path.
    fn value_end(&mut self, walker: &mut Walker<'_>) {
        if let Some(Frame::Map { value, .. }) = self.frames.last_mut()
            && let Some((_, len)) = value.take()
        {
            walker.leave(len);
        }
    }
}

/// A scalar as an event that owns its text.
fn scalar_event(s: Scalar) -> Event<'static> {
    match s {
        Scalar::Str(text) => {
            let style = string_style(&text);
            Event::new(Kind::Scalar(Cow::Owned(text), style))
        }
        other => {
            let (text, style) = scalar_text(&other);
            Event::new(Kind::Scalar(Cow::Owned(text.into_owned()), style))
        }
    }
}

/// A string key as an event.
fn key_event(k: &str) -> Event<'static> {
    Event::new(Kind::Scalar(Cow::Owned(k.to_owned()), string_style(k)))
}

/// The second read's visitor: encrypts each value and feeds the emitter.
struct Encryptor<'a, 'w> {
    b: Builder<'a, 'w>,
    walker: Walker<'a>,
    cipher: &'a Cipher,
    at: Position,
    /// Taken when the root mapping ends, to hold the MAC.
    metadata: Option<Metadata>,
    stamp: String,
    /// The `sops` item, made once the MAC is known; outlives the emitter that borrows it.
    metadata_item: &'a OnceCell<Item>,
}

impl<'a, 'w> Encryptor<'a, 'w> {
    /// Writes to `b` the values it encrypts with `cipher` under `sel` (with the IVs `stash`
    /// kept for the same path, type and cleartext), then `metadata` in `metadata_item`.
    fn new(
        b: Builder<'a, 'w>,
        cipher: &'a Cipher,
        sel: &'a Compiled,
        metadata: Metadata,
        stash: Option<&'a IvStash>,
        metadata_item: &'a OnceCell<Item>,
    ) -> Result<Self> {
        let only = metadata.mac_only_encrypted;
        Ok(Self {
            b,
            walker: Walker::new(cipher, sel, Direction::Encrypt, only).reusing(stash),
            cipher,
            at: Position::default(),
            metadata: Some(metadata),
            stamp: now_rfc3339()?,
            metadata_item,
        })
    }

    /// The end of the root mapping: the MAC is sealed into the metadata, written last.
    fn finish_document(&mut self) -> Result<()> {
        let mut metadata = self
            .metadata
            .take()
            .ok_or_else(|| Error::Unsupported("internal error: two YAML documents".into()))?;
        let only = self.walker.mac.only_encrypted;
        let mac = std::mem::replace(&mut self.walker.mac, Mac::new(only)).finish()?;
        seal_mac(&mut metadata, self.cipher, mac, &self.stamp)?;
        let item = self
            .metadata_item
            .get_or_init(|| Item::new(METADATA_KEY, metadata.to_value(NilList::EmptyList)));
        end_with_metadata(&mut self.b, item);
        Ok(())
    }
}

/// Pushes the `sops` entry `item` holds, then the ends of the root mapping, the document and
/// the stream (sops writes the metadata last).
pub(super) fn end_with_metadata<'a>(b: &mut Builder<'a, '_>, item: &'a Item) {
    b.push(key_event(METADATA_KEY));
    b.value(&item.value, String::new(), String::new());
    b.push(Event::new(Kind::MapEnd));
    b.push(Event::new(Kind::DocEnd));
    b.push(Event::new(Kind::StreamEnd));
}

impl Visit for Encryptor<'_, '_> {
    fn map_start(&mut self) -> Result<()> {
        if self.at.depth() == 0 {
            self.b.push(Event::new(Kind::StreamStart));
            self.b.push(Event::new(Kind::DocStart));
        }
        self.b.push(Event::new(Kind::MapStart));
        self.at.open(true);
        Ok(())
    }

    fn key(&mut self, key: &Key) -> Result<()> {
        let Key::Str(k) = key else {
            return Err(needs_tree());
        };
        if self.at.depth() == 1 && k == METADATA_KEY {
            return Err(Error::AlreadyEncrypted);
        }
        self.at.key(&mut self.walker, k)?;
        self.b.push(key_event(k));
        Ok(())
    }

    fn value_end(&mut self) -> Result<()> {
        self.at.value_end(&mut self.walker);
        Ok(())
    }

    fn map_end(&mut self) -> Result<()> {
        if self.at.close() {
            return self.finish_document();
        }
        self.b.push(Event::new(Kind::MapEnd));
        Ok(())
    }

    fn seq_start(&mut self) -> Result<()> {
        self.b.push(Event::new(Kind::SeqStart));
        self.at.open(false);
        Ok(())
    }

    fn seq_end(&mut self) -> Result<()> {
        self.at.close();
        self.b.push(Event::new(Kind::SeqEnd));
        Ok(())
    }

    fn scalar(&mut self, mut s: Scalar) -> Result<()> {
        self.walker.walk_leaf(&mut s, self.at.hits())?;
        self.b.push(scalar_event(s));
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

    /// `text` encrypted with the tree, with `key`.
    fn encrypted(text: &str, key: &DataKey) -> String {
        let plain = crate::sops::PlainFile::parse(text.as_bytes(), crate::sops::Format::Yaml);
        let file = plain
            .unwrap()
            .encrypt_at(key, metadata(Selectors::default()), "2026-01-01T00:00:00Z")
            .unwrap();
        String::from_utf8(file.to_bytes(crate::sops::Format::Yaml).unwrap()).unwrap()
    }

    fn decrypted(text: &str, key: &DataKey, mac: crate::sops::MacCheck) -> Option<String> {
        let (src, value, _) = tail_metadata(text.as_bytes())?;
        let parsed = Metadata::from_value(&value).ok()?;
        let out = decrypt(src, (&value, &parsed), key, mac, 4, None)?;
        Some(String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn a_decryption_without_a_tree_gives_the_cleartext_or_leaves_the_file_to_the_tree() {
        use crate::sops::MacCheck::{Ignore, Verify};
        let key = DataKey::from_slice(&[2u8; 32]).unwrap();
        let text = "a: 1\nb:\n    - x\n    - c: 2.5\nd_unencrypted: clear\n";
        let file = encrypted(text, &key);
        assert_eq!(decrypted(&file, &key, Verify).as_deref(), Some(text));
        // Keys after the metadata are read too.
        let after = format!("{file}z_unencrypted: last\n");
        assert_eq!(
            decrypted(&after, &key, Ignore).as_deref(),
            Some(&*format!("{text}z_unencrypted: last\n"))
        );
        // …but change the MAC.
        assert_eq!(decrypted(&after, &key, Verify), None);
        // Another data key, a value moved, a second `sops` key: the tree reports them.
        let other = DataKey::from_slice(&[3u8; 32]).unwrap();
        assert_eq!(decrypted(&file, &other, Ignore), None);
        let a = file.lines().find(|l| l.starts_with("a: ")).unwrap();
        let moved = file.replace(a, &a.replace("a: ", "e: "));
        assert_eq!(decrypted(&moved, &key, Ignore), None);
        let twice = format!("sops: 1\n{file}");
        assert_eq!(decrypted(&twice, &key, Ignore), None);
        // A `sops:` line inside a value after the metadata is not taken for it.
        let fake = format!("{file}q: 'x\nsops: {{version: 1}}'\n");
        if let Some(out) = decrypted(&fake, &key, Ignore) {
            assert!(out.starts_with(text) && out.contains("q: "), "{out}");
        }
        // Comments and files without metadata are left to the tree.
        assert!(tail_metadata(format!("# c\n{file}").as_bytes()).is_none());
        assert!(tail_metadata(b"a: 1\n").is_none());
        // A large value: the tree frees the text first.
        let large = encrypted(&format!("a: {}\n", "x".repeat(LARGEST_STREAMED)), &key);
        assert_eq!(decrypted(&large, &key, Verify), None);
    }
}
