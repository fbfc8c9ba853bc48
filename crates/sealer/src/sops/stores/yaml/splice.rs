//! Re-encrypting an edit of one value by splicing the encrypted text (`seal edit` of a large
//! file).
//!
//! A decryption without a tree can keep a [`Ledger`]: for each leaf, where its entry stands in
//! the cleartext it wrote and where its `ENC[…]` stands in the encrypted text, its key path and
//! its part of the MAC's input. After the edit, the text before and after the first and last
//! byte that changed is the same in both cleartexts; when what lies between is one entry of a
//! mapping, on lines of its own, and reads on its own as the same key with another scalar, only
//! that value changed: its new ciphertext replaces the old one in the encrypted text, and the
//! MAC is computed again from the kept input with the new value in place. Reading the whole
//! edited text (as much work as decrypting it) is then not needed.
//!
//! Anything else (two entries changed, a key added, a value that became a mapping, a list
//! item, an unencrypted value, comments) is left to a read of the whole edit, and so is a file
//! not laid out as sops and seal write it (sops writes such a file whole): the splice then
//! gives the text the whole read gives, `ENC[…]` of the new value and `mac` aside (fuzzed).
//! `set` of a scalar splices the same way, the leaf found by its key path.

use std::ops::Range;

use zeroize::Zeroizing;

use super::emitter::{Event, Kind, Style};
use super::{Builder, Loader, Visit, string_style, utf8};
use crate::sops::error::{Error, Result};
use crate::sops::mac::Mac;
use crate::sops::master_keys::DataKey;
use crate::sops::metadata::{Metadata, NilList};
use crate::sops::selectors::Hits;
use crate::sops::stash::IvStash;
use crate::sops::tree::{Item, Key, PathStep, Scalar, TreePath, Value};
use crate::sops::value::{Cipher, kept_of};
use crate::sops::walk::{Direction, Walker};
use crate::sops::{METADATA_KEY, now_rfc3339, prepare_for_encryption, seal_mac};

/// Where each leaf of a file decrypted without a tree stands (see the module's text).
#[derive(Default)]
pub(crate) struct Ledger {
    pub(crate) leaves: Vec<Leaf>,
    /// The key paths of the leaves (`a:b:`), one after the other.
    pub(crate) paths: String,
    /// The MAC's input (cleartext, zeroized).
    pub(crate) mac_input: Zeroizing<Vec<u8>>,
    /// Where the line of the `sops` key starts in the encrypted text; `None` when something
    /// follows its value (then nothing is spliced).
    pub(crate) metadata_at: Option<usize>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ledger({} leaves)", self.leaves.len())
    }
}

/// One leaf of a [`Ledger`].
pub(crate) struct Leaf {
    /// In the cleartext: where the text before its entry ends, and where its value ends.
    pub(crate) clear: Range<usize>,
    /// In the encrypted text: its `ENC[…]`, written plain.
    pub(crate) encrypted: Range<usize>,
    /// Its key path in [`Ledger::paths`]; its key is the last step (from `key_at`).
    pub(crate) path: Range<usize>,
    pub(crate) key_at: usize,
    /// Its part of [`Ledger::mac_input`].
    pub(crate) mac: Range<usize>,
    pub(crate) hits: Hits,
    /// How many map keys its path has.
    pub(crate) keys: usize,
    /// Its type (sops's name), as decrypted.
    pub(crate) ty: &'static str,
    /// Encrypted, its `ENC[…]` found where the reader says.
    pub(crate) was_enc: bool,
    /// A value of a mapping (not an item of a list).
    pub(crate) in_mapping: bool,
}

impl Leaf {
    /// An encrypted value of a mapping: the only kind of leaf spliced.
    fn spliceable(&self) -> bool {
        self.was_enc && self.in_mapping
    }
}

impl Ledger {
    /// The IVs of the encrypted values of `original` (the text read), as a decryption into a
    /// tree keeps them: read from the `ENC[…]` texts, keyed by the paths and cleartexts kept.
    pub(crate) fn stash(&self, original: &[u8]) -> IvStash {
        let mut stash = IvStash::new();
        for leaf in self.leaves.iter().filter(|l| l.was_enc) {
            self.keep(&mut stash, original, leaf);
        }
        stash
    }

    /// Keeps the IV of `leaf` in `stash`.
    fn keep(&self, stash: &mut IvStash, original: &[u8], leaf: &Leaf) {
        let text = original.get(leaf.encrypted.clone());
        let kept = text.and_then(|t| kept_of(std::str::from_utf8(t).ok()?));
        if let (Some(kept), Some(plain)) = (kept, self.mac_input.get(leaf.mac.clone())) {
            let path = &self.paths[leaf.path.clone()];
            let aad = if path.is_empty() { ":" } else { path };
            stash.keep(stash.key(aad.as_bytes(), leaf.ty, plain), kept);
        }
    }

    /// The key of `leaf`.
    fn key(&self, leaf: &Leaf) -> &str {
        let path = &self.paths[leaf.path.clone()];
        let key = &path[leaf.key_at - leaf.path.start..];
        key.strip_suffix(':').unwrap_or(key)
    }
}

/// An edit of one value, ready to be written ([`splice`]).
pub(crate) struct Spliced<'e> {
    original: &'e [u8],
    /// Whether the value's ciphertext changed (not when it was set to what it was).
    pub(crate) changed: bool,
    /// The span of the old `ENC[…]` in `original` and where the metadata starts.
    replaced: Range<usize>,
    metadata_at: usize,
    ciphertext: String,
    /// The MAC's input: kept before and after the value, and the value's own.
    mac_before: &'e [u8],
    mac_value: Zeroizing<Vec<u8>>,
    mac_after: &'e [u8],
    metadata: Metadata,
    key: &'e DataKey,
    indent: usize,
}

impl std::fmt::Debug for Spliced<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spliced({} bytes replaced)", self.replaced.len())
    }
}

/// `edited` (an edit of `before`, the cleartext a decryption of `original` wrote and
/// recorded in `ledger`) as a splice, when it changes one value of a mapping: `original` with
/// that value's ciphertext, `lastmodified` and `mac` replaced. `None` for any other edit.
pub(crate) fn splice<'e>(
    original: &'e [u8],
    before: &[u8],
    edited: &[u8],
    ledger: &'e Ledger,
    key: &'e DataKey,
    metadata: Metadata,
    indent: usize,
) -> Option<Spliced<'e>> {
    let (leaf, window, indent_of_entry) = changed_entry(before, edited, ledger)?;
    let value = read_entry(window, indent_of_entry, ledger.key(leaf))?;
    splice_leaf(
        original,
        before,
        ledger,
        leaf,
        value,
        (key, metadata, indent),
    )
}

/// `sops set` of a scalar `value` at `path` (map keys only) as a splice ([`splice`]), when
/// that path holds an encrypted scalar of a mapping. `None` otherwise.
pub(crate) fn splice_set<'e>(
    original: &'e [u8],
    before: &[u8],
    ledger: &'e Ledger,
    path: &TreePath,
    value: &Value,
    how: (&'e DataKey, Metadata, usize),
) -> Option<Spliced<'e>> {
    let Value::Scalar(value) = value else {
        return None;
    };
    if matches!(value, Scalar::Null) || value.is_empty_for_cipher() {
        return None;
    }
    // The key path as the walker writes it: `a:b:`. Without a `:` in a key, one path is one
    // string (a key holding `:` could make two paths one string).
    let mut aad = String::new();
    for step in &path.0 {
        match step {
            PathStep::Key(k) if !k.contains(':') => {
                aad.push_str(k);
                aad.push(':');
            }
            _ => return None,
        }
    }
    let leaf = ledger.leaves.iter().find(|l| {
        l.spliceable() && l.keys == path.0.len() && ledger.paths.get(l.path.clone()) == Some(&aad)
    })?;
    splice_leaf(original, before, ledger, leaf, value.clone(), how)
}

/// `original` with the value of `leaf` replaced by `value` (encrypted here).
fn splice_leaf<'e>(
    original: &'e [u8],
    before: &[u8],
    ledger: &'e Ledger,
    leaf: &Leaf,
    mut value: Scalar,
    how: (&'e DataKey, Metadata, usize),
) -> Option<Spliced<'e>> {
    let spliced = encrypt_in_place_of(original, before, ledger, leaf, &mut value, how);
    // Cleartext, unless it was encrypted and taken: zeroized however that went.
    value.zeroize();
    spliced
}

/// [`splice_leaf`]: encrypts `value` (its ciphertext taken from it) for `leaf`'s place.
fn encrypt_in_place_of<'e>(
    original: &'e [u8],
    before: &[u8],
    ledger: &'e Ledger,
    leaf: &Leaf,
    value: &mut Scalar,
    (key, mut metadata, indent): (&'e DataKey, Metadata, usize),
) -> Option<Spliced<'e>> {
    let metadata_at = ledger.metadata_at?;
    if !laid_out_as_written(original, before, ledger, metadata_at) {
        return None;
    }
    let sel = prepare_for_encryption(&mut metadata, false).ok()?;
    let cipher = Cipher::new(key);
    let only = metadata.mac_only_encrypted;
    // A value edited back to what it was keeps its ciphertext.
    let mut stash = IvStash::new();
    ledger.keep(&mut stash, original, leaf);
    let mut walker = Walker::new(&cipher, &sel, Direction::Encrypt, only).reusing(Some(&stash));
    if !walker.encrypts(leaf.hits) {
        return None;
    }
    // The walker feeds the new value to the MAC: kept, to hash it between the others.
    walker.mac = Mac::new(only).recording(64);
    walker.set_path(&ledger.paths[leaf.path.clone()]);
    walker.walk_leaf(value, leaf.hits).ok()?;
    let mac_value = walker.mac.take_record()?;
    let ciphertext = match value {
        Scalar::Str(t) if t.starts_with("ENC[") && string_style(t) == Style::Plain => {
            std::mem::take(t)
        }
        _ => return None,
    };
    let replaced = leaf.encrypted.clone();
    let changed = original.get(replaced.clone()) != Some(ciphertext.as_bytes());
    if replaced.end > metadata_at || metadata_at > original.len() {
        return None;
    }
    let input = &ledger.mac_input;
    Some(Spliced {
        original,
        changed,
        replaced,
        metadata_at,
        ciphertext,
        mac_before: input.get(..leaf.mac.start)?,
        mac_value,
        mac_after: input.get(leaf.mac.end..)?,
        metadata,
        key,
        indent,
    })
}

impl Spliced<'_> {
    /// Writes the file: the text before the value, its new ciphertext, the text after it up
    /// to the metadata, then the metadata with the new MAC (hashed on a second thread
    /// meanwhile) and `lastmodified`.
    pub(crate) fn write_to(self, sink: &mut dyn std::io::Write) -> Result<()> {
        let Spliced {
            original,
            changed: _,
            replaced,
            metadata_at,
            ciphertext,
            mac_before,
            mac_value,
            mac_after,
            mut metadata,
            key,
            indent,
        } = self;
        let only = metadata.mac_only_encrypted;
        let parts = [mac_before, &mac_value[..], mac_after];
        let (mac, written) = std::thread::scope(|scope| {
            let mac = scope.spawn(move || Mac::of(only, &parts));
            let written = sink
                .write_all(&original[..replaced.start])
                .and_then(|()| sink.write_all(ciphertext.as_bytes()))
                .and_then(|()| sink.write_all(&original[replaced.end..metadata_at]));
            (mac.join(), written)
        });
        written.map_err(Error::Write)?;
        let mac = mac.map_err(|_| crate::sops::mac::hashing_thread_lost())?;
        let cipher = Cipher::new(key);
        seal_mac(&mut metadata, &cipher, mac, &now_rfc3339()?)?;
        let tail = metadata_text(metadata, indent)?;
        sink.write_all(&tail)
            .and_then(|()| sink.flush())
            .map_err(Error::Write)
    }
}

/// Whether `original` is laid out as seal (and sops) write it, up to its metadata: a tree
/// would write every line of it again as it is. The text between its `ENC[…]` values is then
/// the text between the values of the cleartext written from it, `before`. A file laid out
/// otherwise (another indentation, quotes) is written whole, as sops does.
fn laid_out_as_written(original: &[u8], before: &[u8], ledger: &Ledger, at: usize) -> bool {
    let (mut read, mut written) = (0, 0);
    for leaf in ledger.leaves.iter().filter(|l| l.was_enc) {
        let Some(between) = original.get(read..leaf.encrypted.start) else {
            return false;
        };
        let value_start = written + between.len();
        if value_start > leaf.clear.end || before.get(written..value_start) != Some(between) {
            return false;
        }
        (read, written) = (leaf.encrypted.end, leaf.clear.end);
    }
    original.get(read..at) == before.get(written..)
}

/// The leaf whose entry holds every byte `edited` changed in `before`, the lines of
/// `edited` that replace that entry's, and the indentation of the entry's key.
fn changed_entry<'e>(
    before: &[u8],
    edited: &'e [u8],
    ledger: &'e Ledger,
) -> Option<(&'e Leaf, &'e [u8], usize)> {
    let same_start = alike(before, edited, false);
    let same_end = alike(&before[same_start..], &edited[same_start..], true);
    let changed_end = before.len() - same_end;
    // The first entry that ends after the first change.
    let at = ledger
        .leaves
        .partition_point(|l| entry_end(before, l.clear.end) <= same_start);
    let leaf = ledger.leaves.get(at)?;
    if !leaf.spliceable() {
        return None;
    }
    let start = entry_start(before, leaf.clear.start)?;
    let end = entry_end(before, leaf.clear.end);
    if start > same_start || changed_end > end {
        return None;
    }
    let edited_end = (end + edited.len()).checked_sub(before.len())?;
    let window = edited.get(start..edited_end)?;
    let indent = before[start..].iter().take_while(|&&b| b == b' ').count();
    let whole_lines = window.ends_with(b"\n") || edited_end == edited.len();
    whole_lines.then_some((leaf, window, indent))
}

/// How many bytes `a` and `b` have alike at their start, or (`from_end`) at their end.
fn alike(a: &[u8], b: &[u8], from_end: bool) -> usize {
    let n = a.len().min(b.len());
    // Where the `len` bytes `i` bytes in from the start (or the end) of `s` stand.
    let part = |s: &'_ [u8], i: usize, len: usize| -> std::ops::Range<usize> {
        if from_end {
            s.len() - i - len..s.len() - i
        } else {
            i..i + len
        }
    };
    let mut same = 0;
    // A chunk at a time (one comparison of memory), then the bytes of the chunk that differs.
    while same < n {
        let len = (n - same).min(64);
        if a[part(a, same, len)] != b[part(b, same, len)] {
            break;
        }
        same += len;
    }
    while same < n && a[part(a, same, 1)] == b[part(b, same, 1)] {
        same += 1;
    }
    same
}

/// Where the entry whose value ends at `end` ends: past the line break that ends its last
/// line (a block scalar may have written it already), or at the end of `text`.
fn entry_end(text: &[u8], end: usize) -> usize {
    if end > 0 && text.get(end - 1) == Some(&b'\n') {
        return end;
    }
    text.get(end..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(text.len(), |i| end + i + 1)
}

/// Where the line of the entry written from `start` (where the text before it ends) starts:
/// there if that is the start of a line, past the line break the emitter wrote first
/// otherwise. `None` when the entry shares its line with other text (`- key: …`).
fn entry_start(text: &[u8], start: usize) -> Option<usize> {
    if start == 0 || text.get(start - 1) == Some(&b'\n') {
        Some(start)
    } else if text.get(start) == Some(&b'\n') {
        Some(start + 1)
    } else {
        None
    }
}

/// The scalar of `window` (whole lines) when it reads as one entry `key: scalar` of a
/// mapping whose keys are indented by `indent`.
fn read_entry(window: &[u8], indent: usize, key: &str) -> Option<Scalar> {
    let text = utf8(window).ok()?;
    if text.contains(['#', '\u{feff}'])
        || text.bytes().take_while(|&b| b == b' ').count() != indent
        || text.split('\n').any(starts_a_document)
    {
        return None;
    }
    // Each line without the indentation of the first (blank lines may have less).
    let mut outdented = Zeroizing::new(String::with_capacity(text.len()));
    for line in text.split_inclusive('\n') {
        match line.get(..indent) {
            Some(spaces) if spaces.bytes().all(|b| b == b' ') => {
                outdented.push_str(&line[indent..])
            }
            _ if line
                .trim_end_matches(['\n', '\r'])
                .trim_matches(' ')
                .is_empty() =>
            {
                outdented.push_str(if line.ends_with('\n') { "\n" } else { "" })
            }
            _ => return None,
        }
    }
    let mut one = OneEntry::default();
    let mut l = Loader::new(&outdented, false, Some(&mut one));
    let read = l.documents();
    let declined = l.declined;
    drop(l);
    if read.is_err() || declined || one.documents != 1 || one.key.as_deref() != Some(key) {
        return None;
    }
    match one.value.take()? {
        s if matches!(s, Scalar::Null) || s.is_empty_for_cipher() => None,
        s => Some(s),
    }
}

/// Whether a line is a document marker or a directive: in the file it would start another
/// document, read alone it may not.
fn starts_a_document(line: &str) -> bool {
    line.starts_with("---") || line.starts_with("...") || line.starts_with('%')
}

/// The visitor of [`read_entry`]: one mapping of one key whose value is a scalar.
#[derive(Default)]
struct OneEntry {
    depth: usize,
    documents: usize,
    key: Option<String>,
    value: Option<Scalar>,
}

impl Drop for OneEntry {
    fn drop(&mut self) {
        if let Some(v) = &mut self.value {
            v.zeroize();
        }
    }
}

/// Stops [`read_entry`]: not one entry.
fn other() -> Error {
    Error::Unsupported("not one entry".into())
}

impl Visit for OneEntry {
    fn map_start(&mut self) -> Result<()> {
        if self.depth != 0 || self.documents != 0 {
            return Err(other());
        }
        self.documents += 1;
        self.depth += 1;
        Ok(())
    }

    fn key(&mut self, key: &Key) -> Result<()> {
        match key {
            Key::Str(k) if self.key.is_none() => {
                self.key = Some(k.clone());
                Ok(())
            }
            _ => Err(other()),
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
        Err(other())
    }

    fn seq_end(&mut self) -> Result<()> {
        Err(other())
    }

    fn scalar(&mut self, mut s: Scalar) -> Result<()> {
        if self.depth != 1 || self.value.is_some() {
            s.zeroize();
            return Err(other());
        }
        self.value = Some(s);
        Ok(())
    }
}

/// The `sops` entry holding `metadata`, as it ends the root mapping.
fn metadata_text(metadata: Metadata, indent: usize) -> Result<Vec<u8>> {
    let item = Item::new(METADATA_KEY, metadata.to_value(NilList::EmptyList));
    let mut b = Builder::new(indent, 4096, None);
    b.push(Event::new(Kind::StreamStart));
    b.push(Event::new(Kind::DocStart));
    b.push(Event::new(Kind::MapStart));
    super::stream::end_with_metadata(&mut b, &item);
    b.finish()
}

#[cfg(test)]
mod tests {
    use crate::sops::master_keys::DataKey;
    use crate::sops::{
        EncryptedFile, Format, MacCheck, MasterKeyStanza, Metadata, PlainFile, Reencrypted,
        Selectors, StoreOptions,
    };

    fn key() -> DataKey {
        DataKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn metadata() -> Metadata {
        let stanza = MasterKeyStanza::age(
            "age1test",
            "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n",
        );
        Metadata::new(vec![vec![stanza]], Selectors::default())
    }

    /// `text` encrypted through a tree, as sops lays it out.
    fn encrypted(text: &str) -> Vec<u8> {
        let plain = PlainFile::parse(text.as_bytes(), Format::Yaml).unwrap();
        let file = plain
            .encrypt_at(&key(), metadata(), "2026-01-01T00:00:00Z")
            .unwrap();
        file.to_bytes(Format::Yaml).unwrap()
    }

    /// What an edit of the cleartext of `text` (`from` replaced by `to`) gives: the spliced
    /// file if it was spliced, and the file a tree writes.
    fn edit(text: &str, from: &str, to: &str) -> (Vec<u8>, Option<Vec<u8>>, Vec<u8>) {
        let original = encrypted(text);
        let opts = StoreOptions::default();
        let stream = EncryptedFile::streamable_yaml(&original).expect("streamed");
        let key = key();
        let (cleartext, ledger) = stream
            .decrypt_for_edit(&key, MacCheck::Verify, &opts)
            .expect("decrypted");
        let before = std::str::from_utf8(&cleartext).unwrap();
        assert!(before.contains(from), "{from:?} in {before:?}");
        let edited = before.replacen(from, to, 1);
        let spliced = match ledger.encrypt(&original, &cleartext, edited.as_bytes(), &key, &opts) {
            Some(Reencrypted::Spliced(s)) => {
                let mut out = Vec::new();
                s.write_to(&mut out).unwrap();
                Some(out)
            }
            _ => None,
        };
        let tree = PlainFile::parse(edited.as_bytes(), Format::Yaml)
            .unwrap()
            .into_encrypted_reusing_ivs(&key, ledger.metadata().clone(), ledger.stash(&original))
            .unwrap()
            .to_bytes(Format::Yaml)
            .unwrap();
        if let Some(spliced) = &spliced {
            // It decrypts, its MAC checked, to the edited cleartext…
            let file = EncryptedFile::parse(spliced, Format::Yaml).unwrap();
            let plain = file.decrypt(&key, MacCheck::Verify).unwrap();
            let expected = PlainFile::parse(edited.as_bytes(), Format::Yaml).unwrap();
            assert_eq!(
                plain.to_bytes(Format::Yaml).unwrap(),
                expected.to_bytes(Format::Yaml).unwrap()
            );
            // …and differs from the original only where the tree's file does.
            assert_eq!(
                changed_lines(&original, spliced),
                changed_lines(&original, &tree)
            );
        }
        (original, spliced, tree)
    }

    /// The lines of `b` that differ from those of `a` (same number of lines), `lastmodified`
    /// left out (it may fall in the same second).
    fn changed_lines(a: &[u8], b: &[u8]) -> Vec<String> {
        let (a, b) = (
            std::str::from_utf8(a).unwrap(),
            std::str::from_utf8(b).unwrap(),
        );
        assert_eq!(a.lines().count(), b.lines().count(), "{a}\n---\n{b}");
        a.lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y && !x.trim_start().starts_with("lastmodified:"))
            .map(|(x, _)| x.split(": ").next().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn an_edit_of_one_value_is_spliced_and_changes_the_lines_a_tree_would() {
        let nested = "s:\n    k0: v0\n    k1: v1\nt: 2\nl:\n    - x\n";
        for (text, from, to, changed) in [
            ("a: 1\nb: x\n", "b: x", "b: y", vec!["b", "    mac"]),
            ("a: 1\nb: x\n", "a: 1", "a: 2", vec!["a", "    mac"]),
            (
                nested,
                "k1: v1",
                "k1: changed, with spaces",
                vec!["    k1", "    mac"],
            ),
            (
                nested,
                "k0: v0",
                "k0: |\n        one\n        two",
                vec!["    k0", "    mac"],
            ),
            (nested, "t: 2", "t: '2'", vec!["t", "    mac"]),
            (
                "a: |-\n    x\n    y\nb: z\n",
                "a: |-\n    x\n    y",
                "a: w",
                vec![],
            ),
            (
                "a: héllo\nb: wörld\nc: ü\n",
                "b: wörld",
                "b: wörld!",
                vec!["b", "    mac"],
            ),
            // The same value written another way keeps its ciphertext.
            ("a: 1\nb: x\n", "b: x", "b: \"x\"", vec!["    mac"]),
            ("a: 1\nb: x\n", "b: x", "b:   x  ", vec!["    mac"]),
        ] {
            let (original, spliced, _) = edit(text, from, to);
            let spliced = spliced.unwrap_or_else(|| panic!("{text:?}: {from:?} -> {to:?}"));
            if !changed.is_empty() {
                assert_eq!(changed_lines(&original, &spliced), changed, "{text:?}");
            }
        }
    }

    #[test]
    fn other_edits_are_read_whole() {
        let text = "s:\n    k0: v0\n    k1: v1\nt: 2\nl:\n    - x\n    - w\nu_unencrypted: clear\n";
        for (from, to) in [
            // A key added, removed or renamed; two values; a value that becomes a mapping.
            ("t: 2", "t: 2\nn: 3"),
            ("    k1: v1\n", ""),
            ("k1: v1", "k2: v1"),
            ("k0: v0\n    k1: v1", "k0: a\n    k1: b"),
            ("t: 2", "t:\n    m: 1"),
            // A list item, a value left in clear, a structure line, the indentation.
            ("- w", "- z"),
            ("u_unencrypted: clear", "u_unencrypted: other"),
            ("s:", "s2:"),
            ("    k1: v1", "k1: v1"),
            // Another document started.
            ("t: 2", "---\nt: 2"),
            ("t: 2", "...\n---\nt: 2"),
            ("t: 2", "t: 2\n---"),
            // Null and empty values are not encrypted.
            ("t: 2", "t: ~"),
            ("t: 2", "t: ''"),
        ] {
            let (_, spliced, _) = edit(text, from, to);
            assert!(spliced.is_none(), "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn set_splices_an_encrypted_scalar_of_a_mapping_and_leaves_the_rest_to_the_tree() {
        let text = "s:\n    k0: v0\n    k1: v1\nt: 2\nl:\n    - x\na:b: c\nu_unencrypted: d\n";
        let original = encrypted(text);
        let opts = StoreOptions::default();
        let key = key();
        let stream = EncryptedFile::streamable_yaml(&original).unwrap();
        let (cleartext, ledger) = stream
            .decrypt_for_edit(&key, MacCheck::Verify, &opts)
            .unwrap();
        let set = |path: &str, json: &str| {
            let path: crate::sops::TreePath = path.parse().unwrap();
            let value = crate::sops::Value::from_json(json).unwrap();
            ledger
                .set(&original, &cleartext, &path, &value, &key, &opts)
                .map(|s| {
                    let changed = s.changed();
                    let mut out = Vec::new();
                    s.write_to(&mut out).unwrap();
                    (changed, out)
                })
        };
        let (changed, out) = set(r#"["s"]["k1"]"#, r#""new""#).expect("spliced");
        assert!(changed);
        assert_eq!(changed_lines(&original, &out), ["    k1", "    mac"]);
        let plain = EncryptedFile::parse(&out, Format::Yaml)
            .unwrap()
            .decrypt(&key, MacCheck::Verify)
            .unwrap()
            .to_bytes(Format::Yaml)
            .unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            text.replace("k1: v1", "k1: new")
        );
        // The value it holds: its ciphertext stays.
        let (changed, out) = set(r#"["s"]["k0"]"#, r#""v0""#).expect("spliced");
        assert!(!changed);
        assert_eq!(changed_lines(&original, &out), ["    mac"]);
        // Another type is another value (JSON numbers are floats, as in sops).
        assert!(set(r#"["t"]"#, "2").unwrap().0);
        assert!(set(r#"["t"]"#, r#""2""#).unwrap().0);
        // Not a scalar of a mapping, a new key, a key holding `:`, a clear value, a map,
        // null, an empty string.
        for (path, json) in [
            (r#"["l"][0]"#, r#""y""#),
            (r#"["n"]"#, "1"),
            (r#"["s"]["k9"]"#, "1"),
            (r#"["a:b"]"#, r#""e""#),
            (r#"["u_unencrypted"]"#, r#""e""#),
            (r#"["t"]"#, r#"{"m": 1}"#),
            (r#"["t"]"#, "null"),
            (r#"["t"]"#, r#""""#),
        ] {
            assert!(set(path, json).is_none(), "{path} = {json}");
        }
    }

    #[test]
    fn alike_counts_the_bytes_two_texts_share_at_either_end() {
        let naive = |a: &[u8], b: &[u8], from_end: bool| {
            let pairs: Vec<(u8, u8)> = if from_end {
                a.iter()
                    .rev()
                    .copied()
                    .zip(b.iter().rev().copied())
                    .collect()
            } else {
                a.iter().copied().zip(b.iter().copied()).collect()
            };
            pairs.iter().take_while(|(x, y)| x == y).count()
        };
        let base: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        for cut in [0, 1, 63, 64, 65, 128, 200, 299, 300] {
            for change in [0, 1, 63, 64, 65, 150, 299] {
                let mut other = base[..cut].to_vec();
                other.extend_from_slice(&base);
                if let Some(b) = other.get_mut(change) {
                    *b ^= 0xff;
                }
                for (a, b) in [(&base, &other), (&other, &base)] {
                    for from_end in [false, true] {
                        assert_eq!(
                            super::alike(a, b, from_end),
                            naive(a, b, from_end),
                            "{cut} {change} {from_end}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_edit_that_breaks_the_yaml_is_not_spliced() {
        let text = "a: x\nb: y\nc: z\n";
        let original = encrypted(text);
        let opts = StoreOptions::default();
        let stream = EncryptedFile::streamable_yaml(&original).unwrap();
        let key = key();
        let (cleartext, ledger) = stream
            .decrypt_for_edit(&key, MacCheck::Verify, &opts)
            .unwrap();
        for edited in [
            "a: x\nb: \"y\nc: z\n",
            "a: x\nb: [y\nc: z\n",
            "a: x\nb: y # note\nc: z\n",
            "a: x\nb: &y y\nc: z\n",
            "a: x\nb: y\n c: z\n",
            "a: x\nb: y: z\nc: z\n",
            "a: x\n\u{feff}b: y\nc: z\n",
        ] {
            let r = ledger.encrypt(&original, &cleartext, edited.as_bytes(), &key, &opts);
            assert!(
                !matches!(r, Some(Reencrypted::Spliced(_))),
                "{edited:?} was spliced"
            );
        }
    }
}
