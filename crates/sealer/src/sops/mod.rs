//! SOPS files (getsops/sops 3.11), byte-compatible: the tree, the `ENC[AES256_GCM,…]` value
//! codec, the MAC, the `sops:` metadata, selectors, Shamir key groups and the five stores.
//!
//! # API sketch
//! ```no_run
//! use sealer::sops::master_keys::DataKey;
//! use sealer::sops::{EncryptedFile, Format, MacCheck, Metadata, MasterKeyStanza, PlainFile, Selectors, TreePath};
//! # fn main() -> Result<(), sealer::sops::Error> {
//! let format = Format::from_path("secrets.yaml".as_ref());
//! // Encrypt: parse the cleartext, wrap a fresh data key for each recipient (sealer::sops::master_keys),
//! // put the stanzas in the metadata, encrypt (sets `lastmodified` and `mac`).
//! let plain = PlainFile::parse(b"password: hunter2\n", format)?;
//! let key = DataKey::generate();
//! let stanza = MasterKeyStanza::age("age1...", "-----BEGIN AGE ENCRYPTED FILE-----\n...");
//! let metadata = Metadata::new(vec![vec![stanza]], Selectors::default());
//! let encrypted = plain.encrypt(&key, metadata)?;
//! let bytes = encrypted.to_bytes(format)?;
//! // Decrypt: parse, unwrap the data key from `metadata().key_groups()` (sealer::sops::master_keys, with
//! // `shamir::combine` when there are several groups), decrypt and check the MAC.
//! let file = EncryptedFile::parse(&bytes, format)?;
//! let plain = file.decrypt(&key, MacCheck::Verify)?;
//! let value = plain.extract(&r#"["password"]"#.parse::<TreePath>()?, format)?;
//! # Ok(()) }
//! ```
//!
//! Output formatting follows sops, not the input: YAML is re-emitted the way go-yaml v3 does
//! (indent 4, normalized scalar styles), JSON with tabs and every number as a float.

mod error;
mod gofmt;
mod mac;
pub mod mask;
pub mod master_keys;
pub mod merge;
pub mod metadata;
mod patch;
pub mod rules;
pub mod selectors;
pub mod shamir;
mod stash;
mod stores;
pub mod tree;
pub mod value;
mod walk;

use std::path::Path;
use std::str::FromStr;

pub use error::{Error, Result};
pub use metadata::{KeyGroup, KeyKind, MasterKeyStanza, Metadata, SOPS_FORMAT_VERSION};
pub use patch::Patched;
pub use selectors::Selectors;
pub use stash::IvStash;
pub use tree::{Branch, Item, Key, PathStep, Scalar, TreePath, Value};

use master_keys::DataKey;
use metadata::NilList;
use value::{Cipher, Plain};
use walk::{Direction, Walker};

/// The name of the metadata key.
pub const METADATA_KEY: &str = "sops";

/// A sops store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`); several documents allowed.
    Yaml,
    /// JSON (`.json`).
    Json,
    /// dotenv (`.env`).
    Dotenv,
    /// INI (`.ini`).
    Ini,
    /// Anything else: the file is one opaque value.
    Binary,
}

impl Format {
    /// The store sops picks from a file name (`.yaml`/`.yml`, `.json`, `.env`, `.ini`, else
    /// binary).
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            _ => Format::Binary,
        }
    }

    /// The store name as `--input-type` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            other => return Err(Error::UnknownFormat(other.to_owned())),
        })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Store settings from `.sops.yaml` `stores:` (`yaml.indent`, `json.indent`,
/// `json_binary.indent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// YAML indentation (sops default 4).
    pub yaml_indent: usize,
    /// JSON indentation in spaces; `None` = one tab (sops default).
    pub json_indent: Option<usize>,
    /// Indentation of the binary store's JSON envelope; `None` = one tab.
    pub binary_indent: Option<usize>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            yaml_indent: stores::yaml::DEFAULT_INDENT,
            json_indent: None,
            binary_indent: None,
        }
    }
}

/// Whether to check the MAC when decrypting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCheck {
    /// Fail with [`Error::MacMismatch`] when the MAC does not match.
    Verify,
    /// Decrypt anyway (`--ignore-mac`).
    Ignore,
}

impl MacCheck {
    /// [`MacCheck::Ignore`] for `--ignore-mac`, else [`MacCheck::Verify`].
    pub fn unless_ignored(ignore_mac: bool) -> Self {
        if ignore_mac {
            Self::Ignore
        } else {
            Self::Verify
        }
    }
}

/// An encrypted sops file: its documents (values as `ENC[...]`) and its metadata.
#[derive(Debug, Clone)]
pub struct EncryptedFile {
    docs: Vec<Branch>,
    metadata: Metadata,
}

/// Takes the `sops` metadata out of a document. A second `sops` key would stay among the data,
/// be written back before the metadata and be read as the metadata next time: which one holds
/// the metadata must not depend on who reads the file, so it is refused.
fn remove_sops_key(b: &mut Branch) -> Result<Option<Value>> {
    let is_sops = |i: &Item| i.key.as_str() == Some(METADATA_KEY);
    let Some(pos) = b.items.iter().position(is_sops) else {
        return Ok(None);
    };
    let metadata = b.items.remove(pos).value;
    if b.items.iter().any(is_sops) {
        return Err(Error::InvalidMetadata(format!(
            "more than one `{METADATA_KEY}` key"
        )));
    }
    Ok(Some(metadata))
}

impl EncryptedFile {
    /// Parses an encrypted file. [`Error::NotEncrypted`] when it has no `sops` metadata.
    pub fn parse(bytes: &[u8], format: Format) -> Result<Self> {
        match format {
            Format::Yaml => Self::from_yaml_documents(stores::yaml::load(bytes, false)?),
            _ => Self::parse_other(bytes, format),
        }
    }

    /// [`EncryptedFile::parse`] of bytes that are zeroized and freed as soon as they are
    /// parsed (for YAML, before the tree is assembled: a large file is not held twice).
    pub fn parse_owned(bytes: zeroize::Zeroizing<Vec<u8>>, format: Format) -> Result<Self> {
        match format {
            Format::Yaml => Self::from_yaml_documents(stores::yaml::load_owned(bytes, false)?),
            _ => Self::parse_other(&bytes, format),
        }
    }

    fn from_yaml_documents(mut docs: Vec<Branch>) -> Result<Self> {
        let mut found = None;
        for d in &mut docs {
            let v = remove_sops_key(d)?;
            if found.is_none() {
                found = v;
            }
        }
        // sops reads the metadata of the first document.
        let first_has = docs.is_empty() || found.is_some();
        let v = found.filter(|_| first_has).ok_or(Error::NotEncrypted)?;
        Ok(Self {
            docs,
            metadata: Metadata::from_value(&v)?,
        })
    }

    fn parse_other(bytes: &[u8], format: Format) -> Result<Self> {
        match format {
            Format::Yaml => Self::parse(bytes, format),
            Format::Json | Format::Binary => {
                let mut b = stores::json::load(bytes)?;
                let v = remove_sops_key(&mut b)?.ok_or(Error::NotEncrypted)?;
                Ok(Self {
                    docs: vec![b],
                    metadata: Metadata::from_value(&v)?,
                })
            }
            Format::Dotenv => {
                let b = stores::dotenv::load(bytes)?;
                let mut flat = Vec::new();
                let mut rest = Branch::default();
                for item in b.items {
                    match &item.key {
                        Key::Str(k) if k.starts_with(stores::dotenv::SOPS_PREFIX) => {
                            let v = match item.value {
                                Value::Scalar(Scalar::Str(s)) => s,
                                _ => String::new(),
                            };
                            // The loader already turned `\n` into newlines; the flat form wants them escaped.
                            flat.push((
                                k[stores::dotenv::SOPS_PREFIX.len()..].to_owned(),
                                v.replace('\n', "\\n"),
                            ));
                        }
                        _ => rest.items.push(item),
                    }
                }
                if flat.is_empty() {
                    return Err(Error::NotEncrypted);
                }
                Ok(Self {
                    docs: vec![rest],
                    metadata: Metadata::from_flat(&flat)?,
                })
            }
            Format::Ini => {
                let mut b = stores::ini::load(bytes)?;
                let flat = stores::ini::sops_section(&mut b)?.ok_or(Error::NotEncrypted)?;
                Ok(Self {
                    docs: vec![b],
                    metadata: Metadata::from_flat(&flat)?,
                })
            }
        }
    }

    /// An encrypted YAML `text` to decrypt without a tree: its metadata read from its end
    /// (where sops writes it). A large file then costs its text and its cleartext, not a tree.
    /// `None` (comments, no metadata found): use [`EncryptedFile::parse`].
    pub fn streamable_yaml(text: &[u8]) -> Option<EncryptedYamlStream<'_>> {
        let (src, metadata_value, metadata_at) = stores::yaml::stream::tail_metadata(text)?;
        let metadata = Metadata::from_value(&metadata_value).ok()?;
        Some(EncryptedYamlStream {
            src,
            metadata_value,
            metadata,
            metadata_at,
        })
    }

    /// Whether `bytes` parse as an encrypted file of `format` (sops `filestatus`).
    pub fn is_encrypted(bytes: &[u8], format: Format) -> bool {
        Self::parse(bytes, format).is_ok()
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable metadata (to replace key groups in `updatekeys`).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The documents, values still encrypted.
    pub fn documents(&self) -> &[Branch] {
        &self.docs
    }

    /// Decrypts every value and (with [`MacCheck::Verify`]) checks the MAC.
    ///
    /// Errors: [`Error::TamperedValue`] naming the key path when a value does not
    /// authenticate (wrong data key, or value changed or moved), [`Error::MacMismatch`],
    /// [`Error::MacUndecryptable`].
    pub fn decrypt(&self, key: &DataKey, mac: MacCheck) -> Result<PlainFile> {
        self.decrypt_documents(self.docs.clone(), key, mac, None)
    }

    /// [`EncryptedFile::decrypt`] that moves the documents out instead of copying them (a
    /// large file is not held twice); afterwards this file keeps only its metadata.
    pub fn take_decrypted(&mut self, key: &DataKey, mac: MacCheck) -> Result<PlainFile> {
        let docs = std::mem::take(&mut self.docs);
        self.decrypt_documents(docs, key, mac, None)
    }

    /// [`EncryptedFile::take_decrypted`] that keeps the IV of every value in `stash`, so that
    /// [`PlainFile::encrypt_reusing_ivs`] gives unchanged values their exact ciphertext back
    /// (sops's `edit`, `set`, `unset`). Several files may share one stash (a merge).
    pub fn take_decrypted_keeping_ivs(
        &mut self,
        key: &DataKey,
        mac: MacCheck,
        stash: &mut IvStash,
    ) -> Result<PlainFile> {
        let docs = std::mem::take(&mut self.docs);
        self.decrypt_documents(docs, key, mac, Some(stash))
    }

    fn decrypt_documents(
        &self,
        docs: Vec<Branch>,
        key: &DataKey,
        mac: MacCheck,
        stash: Option<&mut IvStash>,
    ) -> Result<PlainFile> {
        let sel = self.metadata.selectors.clone().with_default().compile()?;
        let cipher = Cipher::new(key);
        // Owned by a PlainFile from the start: values decrypted before a failure are zeroized.
        let mut plain = PlainFile {
            docs,
            single_value: false,
        };
        let mut w = Walker::new(
            &cipher,
            &sel,
            Direction::Decrypt,
            self.metadata.mac_only_encrypted,
        )
        .keeping(stash);
        for d in &mut plain.docs {
            w.walk_branch(d, Default::default())?;
        }
        check_mac(&self.metadata, &cipher, &w.mac.finish()?, mac)?;
        Ok(plain)
    }

    /// Writes the file in `format` with sops's default store settings.
    pub fn to_bytes(&self, format: Format) -> Result<Vec<u8>> {
        self.to_bytes_with(format, &StoreOptions::default())
    }

    /// Writes the file in `format` to `sink`; YAML goes in chunks, without holding the text.
    pub fn write_with(
        &self,
        format: Format,
        opts: &StoreOptions,
        sink: &mut dyn std::io::Write,
    ) -> Result<()> {
        if format == Format::Yaml {
            let item = Item::new(METADATA_KEY, self.metadata.to_value(NilList::EmptyList));
            return stores::yaml::emit_to(&self.docs, Some(&item), opts.yaml_indent, sink);
        }
        write_all(sink, &self.to_bytes_with(format, opts)?)
    }

    /// Writes the file in `format`.
    pub fn to_bytes_with(&self, format: Format, opts: &StoreOptions) -> Result<Vec<u8>> {
        let first = || self.docs.first().cloned().unwrap_or_default();
        match format {
            Format::Yaml => {
                let item = Item::new(METADATA_KEY, self.metadata.to_value(NilList::EmptyList));
                Ok(stores::yaml::emit(
                    &self.docs,
                    Some(&item),
                    opts.yaml_indent,
                ))
            }
            Format::Json | Format::Binary => {
                let item = Item::new(METADATA_KEY, self.metadata.to_value(NilList::Null));
                let indent = if format == Format::Json {
                    opts.json_indent
                } else {
                    opts.binary_indent
                };
                stores::json::emit(&first(), Some(&item), indent)
            }
            Format::Dotenv => stores::dotenv::emit(&first(), &self.metadata.to_flat()),
            Format::Ini => stores::ini::emit(&first(), Some(&self.metadata.to_flat())),
        }
    }
}

/// The selectors and MAC mode a file is encrypted under: one selector at most, the default
/// suffix when none is set; none for the binary store, whose one value is always encrypted.
/// Returns the selectors compiled.
fn prepare_for_encryption(
    metadata: &mut Metadata,
    single_value: bool,
) -> Result<selectors::Compiled> {
    if metadata.selectors.count() > 1 {
        return Err(Error::InvalidMetadata(
            "cannot use more than one of the encrypted/unencrypted suffix, regex and comment regex selectors".into(),
        ));
    }
    if single_value {
        metadata.selectors = Selectors::default();
        metadata.mac_only_encrypted = false;
    } else {
        metadata.selectors = std::mem::take(&mut metadata.selectors).with_default();
    }
    metadata.selectors.clone().with_default().compile()
}

/// Compares the MAC computed from the values with the one `metadata` stores (unless ignored).
fn check_mac(metadata: &Metadata, cipher: &Cipher, computed: &str, mac: MacCheck) -> Result<()> {
    if mac == MacCheck::Ignore {
        return Ok(());
    }
    let aad = mac::mac_aad(&metadata.last_modified);
    let stored = cipher
        .decrypt(&metadata.mac, aad.as_bytes())
        .map_err(|_| Error::MacUndecryptable)?;
    match stored {
        Plain::Scalar(Scalar::Str(s)) if s == computed => Ok(()),
        _ => Err(Error::MacMismatch),
    }
}

/// Stores the MAC computed over the values, encrypted under `lastmodified`.
fn seal_mac(
    metadata: &mut Metadata,
    cipher: &Cipher,
    mac: String,
    last_modified: &str,
) -> Result<()> {
    metadata.last_modified = last_modified.to_owned();
    let aad = mac::mac_aad(last_modified);
    metadata.mac = cipher.encrypt(&Plain::Scalar(Scalar::Str(mac)), aad.as_bytes())?;
    Ok(())
}

/// A `set` path and value the tree can take: not empty, not nesting too deep.
fn check_set(path: &TreePath, value: &Value) -> Result<()> {
    if path.0.is_empty() {
        return Err(Error::Path("empty tree path".into()));
    }
    // The root branch is level 1; the path adds one level per step.
    if crate::budget::check_depth(1 + path.0.len() + value.depth()).is_err() {
        return Err(Error::Path(format!(
            "the value would nest deeper than {} levels",
            crate::budget::MAX_DEPTH
        )));
    }
    Ok(())
}

/// Writes `bytes` to `sink` and flushes it.
fn write_all(sink: &mut dyn std::io::Write, bytes: &[u8]) -> Result<()> {
    sink.write_all(bytes)
        .and_then(|()| sink.flush())
        .map_err(Error::Write)
}

/// A parser's scalar as an owned string without spare capacity: the YAML scanner reserves
/// room ahead of every plain scalar, which a file of a million short values would keep.
///
/// A short one is copied into a new allocation of its size rather than shrunk in place:
/// shrinking splits the scanner's buffer and leaves its tail as a hole the next (growing)
/// buffer does not fit, and a million such holes cost more than the strings. The scanner's
/// buffer is zeroized before it is freed. A long one is shrunk where it is (a large block is
/// remapped, not split; a copy would hold it twice).
pub(crate) fn owned_text(text: std::borrow::Cow<'_, str>) -> String {
    const COPIED_UP_TO: usize = 4096;
    match text {
        std::borrow::Cow::Borrowed(s) => s.to_owned(),
        std::borrow::Cow::Owned(s) if s.capacity() == s.len() => s,
        std::borrow::Cow::Owned(mut s) if s.len() > COPIED_UP_TO => {
            s.shrink_to_fit();
            s
        }
        std::borrow::Cow::Owned(mut s) => {
            let exact = String::from(s.as_str());
            zeroize::Zeroize::zeroize(&mut s);
            exact
        }
    }
}

/// Now, as sops writes `lastmodified` (RFC 3339, seconds, UTC).
fn now_rfc3339() -> Result<String> {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .map_err(|_| Error::Unsupported("cannot format the current time".into()))
}

/// A YAML file checked to be encrypted as it is read, without a tree (see
/// [`PlainFile::streamable_yaml`]).
pub struct YamlStream<'t> {
    src: &'t str,
}

impl std::fmt::Debug for YamlStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "YamlStream(<{} bytes>)", self.src.len())
    }
}

impl YamlStream<'_> {
    /// Encrypts the file with `key` under `metadata` (as [`PlainFile::into_encrypted`] and
    /// [`EncryptedFile::write_with`] in YAML would) and writes it to `sink` as it is read.
    /// `Ok(false)`: the selectors look at comments; nothing was written, use the tree.
    pub fn encrypt_to(
        &self,
        key: &DataKey,
        metadata: Metadata,
        opts: &StoreOptions,
        sink: &mut dyn std::io::Write,
    ) -> Result<bool> {
        stores::yaml::stream::encrypt(self.src, key, metadata, opts.yaml_indent, sink)
    }
}

/// An encrypted YAML file to be decrypted without a tree (see
/// [`EncryptedFile::streamable_yaml`]).
pub struct EncryptedYamlStream<'t> {
    src: &'t str,
    metadata_value: Value,
    metadata: Metadata,
    /// Where the line of the `sops` key starts.
    metadata_at: usize,
}

impl std::fmt::Debug for EncryptedYamlStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedYamlStream(<{} bytes>)", self.src.len())
    }
}

impl EncryptedYamlStream<'_> {
    /// The metadata, read from the end of the file (to unwrap the data key with).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The cleartext (as [`EncryptedFile::decrypt`] and [`PlainFile::write_with`] in YAML
    /// would write it), its MAC checked unless ignored. `None` for anything a tree is needed
    /// for or reports: a value that does not authenticate, a MAC that does not match,
    /// encrypted comments, metadata that is not the file's. Read the file with
    /// [`EncryptedFile::parse`] then.
    pub fn decrypt(
        &self,
        key: &DataKey,
        mac: MacCheck,
        opts: &StoreOptions,
    ) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        let metadata = (&self.metadata_value, &self.metadata);
        stores::yaml::stream::decrypt(self.src, metadata, key, mac, opts.yaml_indent, None)
    }

    /// [`EncryptedYamlStream::decrypt`] that keeps what re-encrypting an edit of the
    /// cleartext needs ([`YamlEdit::encrypt`]).
    pub fn decrypt_for_edit(
        &self,
        key: &DataKey,
        mac: MacCheck,
        opts: &StoreOptions,
    ) -> Option<(zeroize::Zeroizing<Vec<u8>>, YamlEdit)> {
        let mut edit = YamlEdit {
            stash: std::sync::OnceLock::new(),
            ledger: stores::yaml::splice::Ledger::default(),
            metadata: self.metadata.clone(),
        };
        let keep = stores::yaml::stream::ForEdit {
            ledger: &mut edit.ledger,
            metadata_at: self.metadata_at,
        };
        let metadata = (&self.metadata_value, &self.metadata);
        let indent = opts.yaml_indent;
        let cleartext =
            stores::yaml::stream::decrypt(self.src, metadata, key, mac, indent, Some(keep))?;
        Some((cleartext, edit))
    }
}

/// What re-encrypting an edit of a YAML file decrypted without a tree needs: the IVs of its
/// values, where each stands in both texts, its metadata
/// ([`EncryptedYamlStream::decrypt_for_edit`]).
#[derive(Debug)]
pub struct YamlEdit {
    /// The IVs of the values, made from the ledger when first needed.
    stash: std::sync::OnceLock<IvStash>,
    ledger: stores::yaml::splice::Ledger,
    metadata: Metadata,
}

/// Zeroizes the bytes of `buf` and frees it without writing its spare capacity, for a buffer
/// that was only ever appended to (its spare capacity never held any byte: zeroizing it would
/// only fault in pages never touched). Such are the cleartext a YAML decryption without a tree
/// writes and what a [`YamlEdit`] keeps.
pub fn zeroize_appended(buf: &mut zeroize::Zeroizing<Vec<u8>>) {
    use zeroize::Zeroize as _;
    let mut bytes = std::mem::take(&mut **buf);
    bytes.as_mut_slice().zeroize();
    drop(bytes);
}

impl YamlEdit {
    /// Zeroizes what it keeps (see [`zeroize_appended`]) and frees it.
    pub fn finish(mut self) {
        zeroize_appended(&mut self.ledger.mac_input);
    }

    /// The IVs of the values of `original` (the text decrypted), for
    /// [`PlainFile::into_encrypted_reusing_ivs`] of an edit that needs a tree.
    pub fn stash(&self, original: &[u8]) -> &IvStash {
        self.stash.get_or_init(|| self.ledger.stash(original))
    }

    /// The file's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// `edited`, an edit of `cleartext` (the decryption of `original`), encrypted with `key`
    /// as [`PlainFile::parse`], [`PlainFile::into_encrypted_reusing_ivs`] and
    /// [`EncryptedFile::to_bytes_with`] would: an edit of one value of a mapping is spliced
    /// into `original` (nothing else is read again), another one read without a tree. `None`
    /// for what needs a tree (comments, anchors, several documents) and for every error:
    /// parse `edited` into a tree then, which reports it.
    pub fn encrypt<'e>(
        &'e self,
        original: &'e [u8],
        cleartext: &[u8],
        edited: &[u8],
        key: &'e DataKey,
        opts: &StoreOptions,
    ) -> Option<Reencrypted<'e>> {
        let (metadata, indent) = (self.metadata.clone(), opts.yaml_indent);
        let ledger = &self.ledger;
        let spliced = stores::yaml::splice::splice(
            original,
            cleartext,
            edited,
            ledger,
            key,
            metadata.clone(),
            indent,
        );
        if let Some(spliced) = spliced {
            return Some(Reencrypted::Spliced(Spliced(Box::new(spliced))));
        }
        let stash = self.stash(original);
        stores::yaml::stream::reencrypt(edited, key, metadata, Some(stash), indent)
            .map(Reencrypted::Text)
    }
}

impl YamlEdit {
    /// `sops set` of `value` at `path` in `original` (which decrypted to `cleartext`) as a
    /// splice: when `path` (map keys) holds an encrypted scalar and `value` is a scalar, only
    /// its ciphertext, `lastmodified` and `mac` change. `None` otherwise: set it in a tree.
    pub fn set<'e>(
        &'e self,
        original: &'e [u8],
        cleartext: &[u8],
        path: &TreePath,
        value: &Value,
        key: &'e DataKey,
        opts: &StoreOptions,
    ) -> Option<Spliced<'e>> {
        let how = (key, self.metadata.clone(), opts.yaml_indent);
        let ledger = &self.ledger;
        stores::yaml::splice::splice_set(original, cleartext, ledger, path, value, how)
            .map(|s| Spliced(Box::new(s)))
    }
}

/// An edit encrypted again ([`YamlEdit::encrypt`]).
#[derive(Debug)]
pub enum Reencrypted<'e> {
    /// One value changed: written as the original text with that value replaced.
    Spliced(Spliced<'e>),
    /// The encrypted file.
    Text(Vec<u8>),
}

/// An edit of one value of a file, to be written ([`Reencrypted::Spliced`]).
#[derive(Debug)]
pub struct Spliced<'e>(Box<stores::yaml::splice::Spliced<'e>>);

impl Spliced<'_> {
    /// Whether the value's ciphertext changed (not when it was set to what it held).
    pub fn changed(&self) -> bool {
        self.0.changed
    }

    /// Writes the encrypted file to `sink`: the original text with the value's ciphertext,
    /// `lastmodified` and `mac` replaced.
    pub fn write_to(self, sink: &mut dyn std::io::Write) -> Result<()> {
        self.0.write_to(sink)
    }
}

/// A decrypted (or never encrypted) file: its documents, without metadata.
///
/// Holds plaintext: `Debug` shows only the shape, and the values are zeroized on drop.
#[derive(Clone)]
pub struct PlainFile {
    docs: Vec<Branch>,
    /// Read by the binary store: one value that is always encrypted.
    single_value: bool,
}

impl std::fmt::Debug for PlainFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlainFile({} documents, [REDACTED])", self.docs.len())
    }
}

impl Drop for PlainFile {
    fn drop(&mut self) {
        for d in &mut self.docs {
            let mut v = Value::Branch(std::mem::take(d));
            v.zeroize();
        }
    }
}

impl PlainFile {
    /// Zeroizes every value, then leaves the tree's memory to the operating system instead of
    /// freeing it value by value: for a process about to exit, where freeing a large tree
    /// costs more than the exit does.
    pub fn zeroize_and_leak(mut self) {
        for d in &mut self.docs {
            let mut v = Value::Branch(std::mem::take(d));
            v.zeroize();
            std::mem::forget(v);
        }
    }

    /// Parses a cleartext file.
    pub fn parse(bytes: &[u8], format: Format) -> Result<Self> {
        let docs = match format {
            Format::Yaml => stores::yaml::load(bytes, true)?,
            Format::Json => vec![stores::json::load(bytes)?],
            Format::Dotenv => vec![stores::dotenv::load(bytes)?],
            Format::Ini => vec![stores::ini::load(bytes)?],
            Format::Binary => vec![stores::binary::load(bytes)],
        };
        Ok(Self {
            docs,
            single_value: format == Format::Binary,
        })
    }

    /// Whether a tree of the YAML `text` would cost more than the text's memory budget
    /// (3× the text + 32 MiB, the text included). A tree costs about 256 bytes a line; a file of
    /// many short lines is then better encrypted without one ([`PlainFile::streamable_yaml`]),
    /// any other faster with one (it reads the text once, not twice).
    pub fn yaml_tree_exceeds_budget(text: &[u8]) -> bool {
        const TREE_BYTES_PER_LINE: usize = 256;
        let lines = memchr::memchr_iter(b'\n', text).count() + 1;
        lines.saturating_mul(TREE_BYTES_PER_LINE) > text.len().saturating_mul(2) + (32 << 20)
    }

    /// Whether a YAML `text` can be encrypted as it is read, without a tree (one document
    /// whose root is a mapping, no comments, anchors, aliases, non-string keys or `sops` key):
    /// a large file then costs its text, not ten times it. Checks the whole text; `None`
    /// means read it with [`PlainFile::parse`], which also reports its errors.
    pub fn streamable_yaml(text: &[u8]) -> Option<YamlStream<'_>> {
        stores::yaml::stream::check(text).map(|src| YamlStream { src })
    }

    /// [`PlainFile::parse`] of bytes that are zeroized and freed as soon as they are parsed
    /// (for YAML, before the tree is assembled: a large file is not held twice).
    pub fn parse_owned(bytes: zeroize::Zeroizing<Vec<u8>>, format: Format) -> Result<Self> {
        if format == Format::Yaml {
            return Ok(Self {
                docs: stores::yaml::load_owned(bytes, true)?,
                single_value: false,
            });
        }
        Self::parse(&bytes, format)
    }

    /// A file made of these documents.
    pub fn from_documents(docs: Vec<Branch>) -> Self {
        Self {
            docs,
            single_value: false,
        }
    }

    /// The documents.
    pub fn documents(&self) -> &[Branch] {
        &self.docs
    }

    /// Mutable documents.
    pub fn documents_mut(&mut self) -> &mut Vec<Branch> {
        &mut self.docs
    }

    /// Whether a document already has sops metadata at the top level (`sops`, or `sops_*` keys
    /// in dotenv): such a file is already encrypted.
    pub fn has_sops_metadata(&self, format: Format) -> bool {
        self.docs.iter().any(|d| {
            d.items.iter().any(|i| match i.key.as_str() {
                Some(k) if format == Format::Dotenv => k.starts_with(stores::dotenv::SOPS_PREFIX),
                Some(k) => k == METADATA_KEY,
                None => false,
            })
        })
    }

    /// Writes the cleartext in `format` with sops's default store settings.
    pub fn to_bytes(&self, format: Format) -> Result<Vec<u8>> {
        self.to_bytes_with(format, &StoreOptions::default())
    }

    /// Writes the cleartext in `format` to `sink`; YAML goes in chunks, without holding the
    /// text (each chunk is zeroized once written).
    pub fn write_with(
        &self,
        format: Format,
        opts: &StoreOptions,
        sink: &mut dyn std::io::Write,
    ) -> Result<()> {
        if format == Format::Yaml {
            return stores::yaml::emit_to(&self.docs, None, opts.yaml_indent, sink);
        }
        write_all(
            sink,
            &zeroize::Zeroizing::new(self.to_bytes_with(format, opts)?),
        )
    }

    /// Writes the cleartext in `format`.
    pub fn to_bytes_with(&self, format: Format, opts: &StoreOptions) -> Result<Vec<u8>> {
        let first = || self.docs.first().cloned().unwrap_or_default();
        match format {
            Format::Yaml => Ok(stores::yaml::emit(&self.docs, None, opts.yaml_indent)),
            Format::Json => stores::json::emit(&first(), None, opts.json_indent),
            Format::Dotenv => stores::dotenv::emit(&first(), &[]),
            Format::Ini => stores::ini::emit(&first(), None),
            Format::Binary => stores::binary::emit(&self.docs),
        }
    }

    /// Encrypts with `key` under `metadata` (whose selectors decide what is encrypted); sets
    /// `lastmodified` to now and the encrypted MAC. [`Error::AlreadyEncrypted`] when a document
    /// has a top-level `sops` key.
    pub fn encrypt(&self, key: &DataKey, metadata: Metadata) -> Result<EncryptedFile> {
        self.encrypt_at(key, metadata, &now_rfc3339()?)
    }

    /// [`PlainFile::encrypt`] that encrypts the values where they are instead of copying the
    /// file first (a large file is not held twice).
    pub fn into_encrypted(mut self, key: &DataKey, metadata: Metadata) -> Result<EncryptedFile> {
        let stamp = now_rfc3339()?;
        let docs = std::mem::take(&mut self.docs);
        let single_value = self.single_value;
        // Whatever the walk leaves in plaintext (on error) is zeroized by this PlainFile.
        let mut plain = PlainFile { docs, single_value };
        let mut docs = Vec::new();
        let r = plain.encrypt_docs(&mut docs, key, metadata, &stamp, None);
        r.map(|metadata| EncryptedFile { docs, metadata })
    }

    /// [`PlainFile::encrypt`] that gives every value whose path, type and cleartext a
    /// decryption kept in `stash` its former ciphertext (sops's minimal diffs); `key` must be
    /// the data key those values were encrypted with, or every value gets a fresh IV.
    pub fn encrypt_reusing_ivs(
        &self,
        key: &DataKey,
        metadata: Metadata,
        stash: &IvStash,
    ) -> Result<EncryptedFile> {
        self.clone()
            .into_encrypted_reusing_ivs(key, metadata, stash)
    }

    /// A YAML `text` encrypted as [`PlainFile::parse`], [`PlainFile::into_encrypted`] and
    /// [`EncryptedFile::to_bytes_with`] would, in one read without a tree, into memory.
    /// `None` for what needs a tree (comments, anchors, several documents) and for every
    /// error: parse `text` into a tree then, which reports it.
    pub fn encrypt_yaml(
        text: &[u8],
        key: &DataKey,
        metadata: Metadata,
        opts: &StoreOptions,
    ) -> Option<Vec<u8>> {
        stores::yaml::stream::reencrypt(text, key, metadata, None, opts.yaml_indent)
    }

    /// [`PlainFile::encrypt_reusing_ivs`] that encrypts the values where they are instead of
    /// copying the file first.
    pub fn into_encrypted_reusing_ivs(
        mut self,
        key: &DataKey,
        metadata: Metadata,
        stash: &IvStash,
    ) -> Result<EncryptedFile> {
        let mut docs = Vec::new();
        let metadata = self.encrypt_docs(&mut docs, key, metadata, &now_rfc3339()?, Some(stash))?;
        Ok(EncryptedFile { docs, metadata })
    }

    /// [`PlainFile::encrypt`] with a given `lastmodified` (RFC 3339, UTC).
    pub fn encrypt_at(
        &self,
        key: &DataKey,
        metadata: Metadata,
        last_modified: &str,
    ) -> Result<EncryptedFile> {
        let mut copy = PlainFile {
            docs: self.docs.clone(),
            single_value: self.single_value,
        };
        let mut docs = Vec::new();
        let metadata = copy.encrypt_docs(&mut docs, key, metadata, last_modified, None)?;
        Ok(EncryptedFile { docs, metadata })
    }

    /// Encrypts this file's documents in place; on success they move to `out`.
    fn encrypt_docs(
        &mut self,
        out: &mut Vec<Branch>,
        key: &DataKey,
        mut metadata: Metadata,
        last_modified: &str,
        stash: Option<&IvStash>,
    ) -> Result<Metadata> {
        if self.docs.iter().any(|d| d.get(METADATA_KEY).is_some()) {
            return Err(Error::AlreadyEncrypted);
        }
        let sel = prepare_for_encryption(&mut metadata, self.single_value)?;
        let cipher = Cipher::new(key);
        let mut w = Walker::new(
            &cipher,
            &sel,
            Direction::Encrypt,
            metadata.mac_only_encrypted,
        )
        .reusing(stash);
        for d in &mut self.docs {
            w.walk_branch(d, Default::default())?;
        }
        seal_mac(&mut metadata, &cipher, w.mac.finish()?, last_modified)?;
        *out = std::mem::take(&mut self.docs);
        Ok(metadata)
    }

    /// The value at `path` in the first document (sops `Truncate`).
    pub fn get(&self, path: &TreePath) -> Result<&Value> {
        let first = self
            .docs
            .first()
            .ok_or_else(|| Error::Path("the file has no document".into()))?;
        tree::get(first, path)
    }

    /// `decrypt --extract`: a map is written as a file of `format`, a string as its raw bytes,
    /// anything else as the store writes a single value.
    pub fn extract(&self, path: &TreePath, format: Format) -> Result<Vec<u8>> {
        match self.get(path)? {
            Value::Branch(b) => {
                let mut docs = self.docs.clone();
                docs[0] = b.clone();
                PlainFile {
                    docs,
                    single_value: false,
                }
                .to_bytes(format)
            }
            Value::Scalar(Scalar::Str(s)) => Ok(s.as_bytes().to_vec()),
            v => match format {
                Format::Yaml => Ok(stores::yaml::emit_value(v, stores::yaml::DEFAULT_INDENT)),
                Format::Json | Format::Ini => stores::json::emit_value(v, None),
                Format::Dotenv => Err(Error::Unsupported(
                    "the dotenv store only supports emitting strings".into(),
                )),
                Format::Binary => Err(Error::Unsupported(
                    "binary files are not structured and extracting a single value is not possible"
                        .into(),
                )),
            },
        }
    }

    /// `sops set`: sets the value at `path` in the first document, creating missing maps;
    /// returns whether anything changed.
    pub fn set(&mut self, path: &TreePath, value: Value) -> Result<bool> {
        check_set(path, &value)?;
        let first = self
            .docs
            .first_mut()
            .ok_or_else(|| Error::Path("the file has no document".into()))?;
        let mut root = Value::Branch(std::mem::take(first));
        let changed = tree::set(&mut root, &path.0, value);
        if let Value::Branch(b) = root {
            *first = b;
        }
        Ok(changed)
    }

    /// `sops unset`: removes the value at `path` in the first document.
    pub fn unset(&mut self, path: &TreePath) -> Result<()> {
        if path.0.is_empty() {
            return Err(Error::Path("empty tree path".into()));
        }
        let first = self
            .docs
            .first_mut()
            .ok_or_else(|| Error::Path("the file has no document".into()))?;
        let mut root = Value::Branch(std::mem::take(first));
        let r = tree::unset(&mut root, &path.0);
        if let Value::Branch(b) = root {
            *first = b;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file nested exactly as deep as the readers accept: `{"a": {"a": … "secret" …}}`.
    fn deepest(format: Format) -> Vec<u8> {
        let n = crate::budget::MAX_DEPTH - 1;
        match format {
            Format::Json => format!("{}\"secret\"{}", "{\"a\":".repeat(n + 1), "}".repeat(n + 1)),
            _ => format!("a: {}secret{}\n", "{a: ".repeat(n), "}".repeat(n)),
        }
        .into_bytes()
    }

    // found by fuzzing: fuzz/sops_yaml (an encrypted YAML document with two `sops` keys kept the
    // second among its data, wrote it before the metadata and read it back as the metadata).
    #[test]
    fn a_document_with_two_sops_keys_is_refused() {
        let text = b"a: ENC[x]\nsops:\n  version: 3.11.0\nsops:\n  mac: x\n";
        let err = EncryptedFile::parse(text, Format::Yaml).unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::InvalidMetadata("more than one `sops` key".into()).to_string()
        );
        let json = br#"{"sops": {"version": "3.11.0"}, "sops": {"mac": "x"}}"#;
        let err = EncryptedFile::parse(json, Format::Json).unwrap_err();
        assert!(matches!(err, Error::InvalidMetadata(_)), "{err}");
    }

    #[test]
    fn the_deepest_file_accepted_round_trips_on_a_2_mib_stack() {
        // issue 14: every pass over a tree (load, walk, MAC, emit, drop) recurses; at the depth
        // limit they must all fit a test thread's default stack, in an unoptimized build.
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let key = DataKey::from_slice(&[9u8; 32]).unwrap();
                for format in [Format::Yaml, Format::Json] {
                    let text = deepest(format);
                    let plain = PlainFile::parse(&text, format).unwrap();
                    let stanza = MasterKeyStanza::age(
                        "age1test",
                        "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n",
                    );
                    let metadata = Metadata::new(vec![vec![stanza]], Selectors::default());
                    let encrypted = plain
                        .encrypt_at(&key, metadata, "2026-01-01T00:00:00Z")
                        .unwrap();
                    let bytes = encrypted.to_bytes(format).unwrap();
                    let file = EncryptedFile::parse(&bytes, format).unwrap();
                    let back = file.decrypt(&key, MacCheck::Verify).unwrap();
                    assert_eq!(back.documents(), plain.documents());
                    assert!(!back.to_bytes(format).unwrap().is_empty());
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    fn age_metadata() -> Metadata {
        let stanza = MasterKeyStanza::age(
            "age1test",
            "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n",
        );
        Metadata::new(vec![vec![stanza]], Selectors::default())
    }

    /// Lines of `after` that differ from the same line of `before` (both must have as many).
    fn changed_lines(before: &[u8], after: &[u8]) -> Vec<usize> {
        let (b, a) = (
            String::from_utf8_lossy(before),
            String::from_utf8_lossy(after),
        );
        let (b, a): (Vec<&str>, Vec<&str>) = (b.lines().collect(), a.lines().collect());
        assert_eq!(b.len(), a.len(), "{}\n----\n{}", b.join("\n"), a.join("\n"));
        (0..a.len()).filter(|&i| a[i] != b[i]).collect()
    }

    #[test]
    fn re_encrypting_with_kept_ivs_changes_only_the_changed_value_and_the_mac() {
        // issue 15: sops's cipher stash; a set/edit rewrote every value.
        let key = DataKey::from_slice(&[3u8; 32]).unwrap();
        let text = "# head\na: one\nb:\n    - x\n    # in list\n    - 2\nc: true\nd: 1.5\n";
        let plain = PlainFile::parse(text.as_bytes(), Format::Yaml).unwrap();
        let before = plain
            .encrypt_at(&key, age_metadata(), "2026-01-01T00:00:00Z")
            .unwrap()
            .to_bytes(Format::Yaml)
            .unwrap();
        let mut file = EncryptedFile::parse(&before, Format::Yaml).unwrap();
        let mut stash = IvStash::new();
        let mut plain = file
            .take_decrypted_keeping_ivs(&key, MacCheck::Verify, &mut stash)
            .unwrap();
        // values, comments (3), list items; not the empty MAC-less entries
        assert_eq!(stash.len(), 7);
        plain
            .set(
                &"[\"c\"]".parse().unwrap(),
                Value::Scalar(Scalar::Bool(false)),
            )
            .unwrap();
        let after = plain
            .encrypt_reusing_ivs(&key, file.metadata().clone(), &stash)
            .unwrap()
            .to_bytes(Format::Yaml)
            .unwrap();
        let changed = changed_lines(&before, &after);
        let lines: Vec<&str> = std::str::from_utf8(&after).unwrap().lines().collect();
        let names: Vec<&str> = changed
            .iter()
            .map(|&i| lines[i].trim_start().split(':').next().unwrap())
            .collect();
        assert_eq!(names, ["c", "lastmodified", "mac"], "{changed:?}");
        let back = EncryptedFile::parse(&after, Format::Yaml)
            .unwrap()
            .decrypt(&key, MacCheck::Verify)
            .unwrap();
        assert_eq!(back.documents(), plain.documents());
    }

    #[test]
    fn a_kept_iv_is_never_used_for_another_cleartext_or_another_data_key() {
        let key = DataKey::from_slice(&[3u8; 32]).unwrap();
        let other = DataKey::from_slice(&[4u8; 32]).unwrap();
        let plain = PlainFile::parse(b"a: one\n", Format::Yaml).unwrap();
        let before = plain
            .encrypt_at(&key, age_metadata(), "2026-01-01T00:00:00Z")
            .unwrap();
        let iv_of = |f: &EncryptedFile| {
            let v = f.documents()[0]
                .get("a")
                .unwrap()
                .as_scalar()
                .unwrap()
                .clone();
            value::EncValue::parse(v.as_str().unwrap()).unwrap().iv
        };
        let mut stash = IvStash::new();
        let mut copy = before.clone();
        let same = copy
            .take_decrypted_keeping_ivs(&key, MacCheck::Verify, &mut stash)
            .unwrap();
        let kept = same
            .encrypt_reusing_ivs(&key, age_metadata(), &stash)
            .unwrap();
        assert_eq!(iv_of(&kept), iv_of(&before));
        // Another data key: the tag does not match, a fresh IV.
        let rekeyed = same
            .encrypt_reusing_ivs(&other, age_metadata(), &stash)
            .unwrap();
        assert_ne!(iv_of(&rekeyed), iv_of(&before));
        // Another cleartext under the same path: a fresh IV.
        let changed = PlainFile::parse(b"a: two\n", Format::Yaml).unwrap();
        let changed = changed
            .encrypt_reusing_ivs(&key, age_metadata(), &stash)
            .unwrap();
        assert_ne!(iv_of(&changed), iv_of(&before));
        // The same cleartext as another type (the string "1" and the int 1) is a new value.
        let plain = PlainFile::parse(b"a: 1\n", Format::Yaml).unwrap();
        let int = plain
            .encrypt_at(&key, age_metadata(), "2026-01-01T00:00:00Z")
            .unwrap();
        let mut stash = IvStash::new();
        int.clone()
            .take_decrypted_keeping_ivs(&key, MacCheck::Verify, &mut stash)
            .unwrap();
        let string = PlainFile::parse(b"a: \"1\"\n", Format::Yaml).unwrap();
        let string = string
            .encrypt_reusing_ivs(&key, age_metadata(), &stash)
            .unwrap();
        assert_ne!(iv_of(&string), iv_of(&int));
    }

    #[test]
    fn one_level_more_is_refused_by_every_tree_reader() {
        let n = crate::budget::MAX_DEPTH;
        let yaml = format!("a: {}1{}\n", "{a: ".repeat(n), "}".repeat(n));
        let err = PlainFile::parse(yaml.as_bytes(), Format::Yaml).unwrap_err();
        assert!(
            err.to_string().ends_with("nesting deeper than 128 levels"),
            "{err}"
        );
        let json = format!("{}1{}", "{\"a\":".repeat(n + 1), "}".repeat(n + 1));
        let err = PlainFile::parse(json.as_bytes(), Format::Json).unwrap_err();
        assert!(
            err.to_string().ends_with("nesting deeper than 128 levels"),
            "{err}"
        );
        let mut file = PlainFile::parse(b"a: 1\n", Format::Yaml).unwrap();
        let deep = Value::from_json(&format!(
            "{}1{}",
            "{\"a\":".repeat(n - 1),
            "}".repeat(n - 1)
        ))
        .unwrap();
        let err = file
            .set(&"[\"b\"][\"c\"]".parse().unwrap(), deep)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value would nest deeper than 128 levels"
        );
        let path = "[\"a\"]".repeat(n + 1);
        assert_eq!(
            path.parse::<TreePath>().unwrap_err().to_string(),
            "tree path has more than 128 components"
        );
    }
}
