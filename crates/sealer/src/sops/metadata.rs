//! The `sops:` metadata block (getsops/sops `stores/stores.go` `Metadata`, `keygroup`, `*key`).
//!
//! Fields are written in the order of sops's Go structs, with sops's `omitempty` rules. Master
//! key stanzas keep every field they were read with, including ones sealkit does not know, so a
//! rewritten file loses nothing.

use std::collections::BTreeMap;

use super::error::{Error, Result};
use super::gofmt;
use super::selectors::Selectors;
use super::tree::{Branch, Item, Key, Scalar, Value};

/// The `version` sealkit writes into new files: the sops release whose format it follows.
pub const SOPS_FORMAT_VERSION: &str = "3.11.0";

/// The kinds of master key sops knows, in the order sops reads a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// AWS KMS (`kms`).
    Kms,
    /// GCP KMS (`gcp_kms`).
    GcpKms,
    /// Huawei Cloud KMS (`hckms`).
    HcKms,
    /// Azure Key Vault (`azure_kv`).
    AzureKv,
    /// HashiCorp Vault transit (`hc_vault`).
    HcVault,
    /// OpenPGP (`pgp`).
    Pgp,
    /// age (`age`).
    Age,
}

impl KeyKind {
    /// All kinds, in the order sops builds a key group from a file.
    pub const ALL: [KeyKind; 7] = [
        KeyKind::Kms,
        KeyKind::GcpKms,
        KeyKind::HcKms,
        KeyKind::AzureKv,
        KeyKind::HcVault,
        KeyKind::Pgp,
        KeyKind::Age,
    ];

    /// The metadata field name (`age`, `pgp`, `kms`, ...).
    pub fn field(self) -> &'static str {
        match self {
            KeyKind::Kms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::HcKms => "hckms",
            KeyKind::AzureKv => "azure_kv",
            KeyKind::HcVault => "hc_vault",
            KeyKind::Pgp => "pgp",
            KeyKind::Age => "age",
        }
    }

    fn from_field(name: &str) -> Option<Self> {
        KeyKind::ALL.into_iter().find(|k| k.field() == name)
    }

    /// Known stanza fields in sops's struct order, with their `omitempty` flag.
    fn known_fields(self) -> &'static [(&'static str, bool)] {
        match self {
            KeyKind::Kms => &[
                ("arn", false),
                ("role", true),
                ("context", true),
                ("created_at", false),
                ("enc", false),
                ("aws_profile", false),
            ],
            KeyKind::GcpKms => &[
                ("resource_id", false),
                ("created_at", false),
                ("enc", false),
            ],
            KeyKind::HcKms => &[("key_id", false), ("created_at", false), ("enc", false)],
            KeyKind::AzureKv => &[
                ("vault_url", false),
                ("name", false),
                ("version", false),
                ("created_at", false),
                ("enc", false),
            ],
            KeyKind::HcVault => &[
                ("vault_address", false),
                ("engine_path", false),
                ("key_name", false),
                ("created_at", false),
                ("enc", false),
            ],
            KeyKind::Pgp => &[("created_at", false), ("enc", false), ("fp", false)],
            KeyKind::Age => &[("recipient", false), ("enc", false)],
        }
    }
}

/// One master key entry (`{recipient, enc}` for age, `{created_at, enc, fp}` for PGP, ...).
///
/// Every field read from the file is kept, known or not, so unknown data survives a rewrite.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterKeyStanza {
    kind: KeyKind,
    fields: Vec<(String, Value)>,
}

impl MasterKeyStanza {
    /// A stanza of `kind` with the given string fields.
    pub fn new(kind: KeyKind, fields: &[(&str, &str)]) -> Self {
        Self {
            kind,
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::str(*v)))
                .collect(),
        }
    }

    /// An age stanza.
    pub fn age(recipient: &str, enc: &str) -> Self {
        Self::new(KeyKind::Age, &[("recipient", recipient), ("enc", enc)])
    }

    /// Its kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// A string field (`None` when absent or not a string).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_scalar())
            .and_then(Scalar::as_str)
    }

    /// Sets (or adds) a string field.
    pub fn set_field(&mut self, name: &str, value: &str) {
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = Value::str(value),
            None => self.fields.push((name.to_owned(), Value::str(value))),
        }
    }

    /// Sets (or adds) a map-of-strings field (the `context` of a `kms` stanza).
    pub fn set_map_field(&mut self, name: &str, entries: &[(&str, &str)]) {
        let mut b = Branch::default();
        for (k, v) in entries {
            b.push(*k, Value::str(*v));
        }
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = Value::Branch(b),
            None => self.fields.push((name.to_owned(), Value::Branch(b))),
        }
    }

    /// A map field's string entries in file order (`None` when absent or not a map).
    pub fn map_field(&self, name: &str) -> Option<Vec<(String, String)>> {
        let (_, Value::Branch(b)) = self.fields.iter().find(|(k, _)| k == name)? else {
            return None;
        };
        Some(
            b.items
                .iter()
                .filter_map(|item| match (&item.key, &item.value) {
                    (Key::Str(k), Value::Scalar(s)) => Some((k.clone(), scalar_text(s))),
                    _ => None,
                })
                .collect(),
        )
    }

    /// All fields as read, in order.
    pub fn fields(&self) -> &[(String, Value)] {
        &self.fields
    }

    /// The encrypted data key (`enc`).
    pub fn enc(&self) -> &str {
        self.field("enc").unwrap_or_default()
    }

    /// Replaces the encrypted data key.
    pub fn set_enc(&mut self, enc: &str) {
        self.set_field("enc", enc);
    }

    /// The age recipient (age stanzas).
    pub fn recipient(&self) -> Option<&str> {
        self.field("recipient")
    }

    /// A short name for messages: the recipient, fingerprint, ARN, resource ID, URL...
    pub fn identifier(&self) -> String {
        let name = match self.kind {
            KeyKind::Age => self.field("recipient"),
            KeyKind::Pgp => self.field("fp"),
            KeyKind::Kms => self.field("arn"),
            KeyKind::GcpKms => self.field("resource_id"),
            KeyKind::HcKms => self.field("key_id"),
            KeyKind::AzureKv => {
                return format!(
                    "{}/keys/{}/{}",
                    self.field("vault_url").unwrap_or_default(),
                    self.field("name").unwrap_or_default(),
                    self.field("version").unwrap_or_default()
                );
            }
            KeyKind::HcVault => {
                return format!(
                    "{}/v1/{}/keys/{}",
                    self.field("vault_address").unwrap_or_default(),
                    self.field("engine_path").unwrap_or_default(),
                    self.field("key_name").unwrap_or_default()
                );
            }
        };
        format!("{}: {}", self.kind.field(), name.unwrap_or_default())
    }

    fn from_value(kind: KeyKind, v: &Value) -> Result<Self> {
        let Value::Branch(b) = v else {
            return Err(Error::InvalidMetadata(format!(
                "`{}` entries must be maps",
                kind.field()
            )));
        };
        let mut fields = Vec::new();
        for item in &b.items {
            if let Key::Str(k) = &item.key {
                let value = match &item.value {
                    Value::Scalar(s) if !matches!(s, Scalar::Null) => Value::str(scalar_text(s)),
                    other => other.clone(),
                };
                fields.push((k.clone(), value));
            }
        }
        let known = kind.known_fields();
        fields.sort_by_key(|(k, _)| {
            known
                .iter()
                .position(|(n, _)| n == k)
                .unwrap_or(known.len())
        });
        Ok(Self { kind, fields })
    }

    fn to_value(&self) -> Value {
        let mut b = Branch::default();
        for (name, omitempty) in self.kind.known_fields() {
            let value = self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let empty = match value {
                None => true,
                Some(Value::Scalar(Scalar::Str(s))) => s.is_empty(),
                Some(Value::Scalar(Scalar::Null)) => true,
                Some(Value::Branch(b)) => b.items.is_empty(),
                Some(_) => false,
            };
            if *omitempty && empty {
                continue;
            }
            let value = match value {
                Some(Value::Scalar(Scalar::Null)) | None => Value::str(""),
                Some(v) => v.clone(),
            };
            b.push(*name, value);
        }
        let known = self.kind.known_fields();
        for (k, v) in &self.fields {
            if !known.iter().any(|(n, _)| n == k) {
                b.push(k.clone(), v.clone());
            }
        }
        Value::Branch(b)
    }
}

/// A key group: any one of its keys can recover the group's share of the data key.
pub type KeyGroup = Vec<MasterKeyStanza>;

/// The `sops:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Key groups; a single group is written as top-level `age:`/`pgp:`/... lists.
    pub key_groups: Vec<KeyGroup>,
    /// Shamir threshold (0 = unset: all groups are needed).
    pub shamir_threshold: usize,
    /// `lastmodified` (RFC 3339, UTC, seconds); the AAD of the MAC.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[...]`).
    pub mac: String,
    /// Which values are encrypted.
    pub selectors: Selectors,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
    /// `version` (the sops format version).
    pub version: String,
    /// Top-level fields sealkit does not know, kept as read.
    pub extra: Vec<(String, Value)>,
}

impl Default for Metadata {
    fn default() -> Self {
        Self::new(Vec::new(), Selectors::default())
    }
}

/// How nil Go slices print: YAML writes `[]`, JSON writes `null`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NilList {
    EmptyList,
    Null,
}

impl Metadata {
    /// New metadata for encryption: the groups, the selectors as given (encryption applies
    /// sops's default `_unencrypted` suffix when none is set, except for binary files),
    /// version [`SOPS_FORMAT_VERSION`]; `lastmodified` and `mac` are set by `encrypt`.
    pub fn new(key_groups: Vec<KeyGroup>, selectors: Selectors) -> Self {
        Self {
            key_groups,
            shamir_threshold: 0,
            last_modified: String::new(),
            mac: String::new(),
            selectors,
            mac_only_encrypted: false,
            version: SOPS_FORMAT_VERSION.to_owned(),
            extra: Vec::new(),
        }
    }

    /// The key groups.
    pub fn key_groups(&self) -> &[KeyGroup] {
        &self.key_groups
    }

    /// Replaces all key groups (updatekeys / rotate).
    pub fn set_key_groups(&mut self, groups: Vec<KeyGroup>) {
        self.key_groups = groups;
    }

    /// Mutable access to every stanza of every group (to set `enc` after wrapping a key).
    pub fn stanzas_mut(&mut self) -> impl Iterator<Item = &mut MasterKeyStanza> {
        self.key_groups.iter_mut().flatten()
    }

    /// The Shamir threshold actually used: the stored one, or all groups when unset.
    pub fn effective_threshold(&self) -> usize {
        if self.shamir_threshold == 0 {
            self.key_groups.len()
        } else {
            self.shamir_threshold
        }
    }

    /// Reads the `sops` value of a YAML/JSON file (`stores.Metadata.ToInternal`).
    pub(crate) fn from_value(v: &Value) -> Result<Self> {
        let Value::Branch(b) = v else {
            return Err(Error::InvalidMetadata("`sops` must be a map".into()));
        };
        let mut m = Metadata {
            version: String::new(),
            selectors: Selectors::default(),
            ..Metadata::new(Vec::new(), Selectors::default())
        };
        m.selectors = Selectors::default();
        let mut top: Vec<MasterKeyStanza> = Vec::new();
        let mut groups_value = None;
        for item in &b.items {
            let Key::Str(k) = &item.key else { continue };
            let text = || match &item.value {
                Value::Scalar(s) => Ok(scalar_text(s)),
                _ => Err(Error::InvalidMetadata(format!("`{k}` must be a scalar"))),
            };
            match k.as_str() {
                "shamir_threshold" => {
                    m.shamir_threshold = match &item.value {
                        Value::Scalar(Scalar::Int(i)) => usize::try_from(*i).unwrap_or(0),
                        Value::Scalar(Scalar::Float(f)) if f.fract() == 0.0 && *f >= 0.0 => {
                            *f as usize
                        }
                        Value::Scalar(Scalar::Null) => 0,
                        Value::Scalar(Scalar::Str(s)) => parse_threshold(s)?,
                        _ => {
                            return Err(Error::InvalidMetadata(
                                "shamir_threshold is not an integer".into(),
                            ));
                        }
                    }
                }
                "key_groups" => groups_value = Some(&item.value),
                "lastmodified" => m.last_modified = text()?,
                "mac" => m.mac = text()?,
                "unencrypted_suffix" => m.selectors.unencrypted_suffix = text()?,
                "encrypted_suffix" => m.selectors.encrypted_suffix = text()?,
                "unencrypted_regex" => m.selectors.unencrypted_regex = text()?,
                "encrypted_regex" => m.selectors.encrypted_regex = text()?,
                "unencrypted_comment_regex" => m.selectors.unencrypted_comment_regex = text()?,
                "encrypted_comment_regex" => m.selectors.encrypted_comment_regex = text()?,
                "mac_only_encrypted" => {
                    m.mac_only_encrypted = match &item.value {
                        Value::Scalar(Scalar::Bool(b)) => *b,
                        Value::Scalar(Scalar::Str(s)) => s == "true",
                        _ => false,
                    }
                }
                "version" => {
                    m.version = match &item.value {
                        Value::Scalar(Scalar::Float(_) | Scalar::Int(_)) => {
                            return Err(Error::InvalidMetadata(
                                "`version` is a number: files written by sops 1.x are not supported"
                                    .into(),
                            ));
                        }
                        _ => text()?,
                    }
                }
                name => {
                    if let Some(kind) = KeyKind::from_field(name) {
                        top.extend(stanzas(kind, &item.value)?);
                    } else {
                        m.extra.push((name.to_owned(), item.value.clone()));
                    }
                }
            }
        }
        if !top.is_empty() {
            top.sort_by_key(|s| KeyKind::ALL.iter().position(|k| *k == s.kind));
            m.key_groups = vec![top];
        } else if let Some(Value::List(groups)) = groups_value {
            for g in groups {
                let Value::Branch(gb) = g else {
                    continue;
                };
                let mut group = Vec::new();
                for kind in KeyKind::ALL {
                    if let Some(v) = gb.get(kind.field()) {
                        group.extend(stanzas(kind, v)?);
                    }
                }
                // A group without keys holds no share anyone can open, and the flat forms
                // (dotenv, INI) cannot even write it: it is no group.
                if !group.is_empty() {
                    m.key_groups.push(group);
                }
            }
        }
        if m.key_groups.is_empty() {
            return Err(Error::InvalidMetadata("no keys found in file".into()));
        }
        if m.selectors.count() > 1 {
            return Err(Error::InvalidMetadata(
                "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, \
                 unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file"
                    .into(),
            ));
        }
        if m.last_modified.is_empty() {
            return Err(Error::InvalidMetadata("missing `lastmodified`".into()));
        }
        Ok(m)
    }

    /// The `sops` value in sops's field order (`stores.MetadataFromInternal` + Go marshalling).
    pub(crate) fn to_value(&self, nil: NilList) -> Value {
        let nil_value = || match nil {
            NilList::EmptyList => Value::List(Vec::new()),
            NilList::Null => Value::Scalar(Scalar::Null),
        };
        let list_of = |group: &KeyGroup, kind: KeyKind| -> Option<Value> {
            let items: Vec<Value> = group
                .iter()
                .filter(|s| s.kind == kind)
                .map(MasterKeyStanza::to_value)
                .collect();
            (!items.is_empty()).then_some(Value::List(items))
        };
        let mut b = Branch::default();
        if self.shamir_threshold != 0 {
            b.push(
                "shamir_threshold",
                Value::Scalar(Scalar::Int(self.shamir_threshold as i64)),
            );
        }
        let single = self.key_groups.len() == 1;
        if !single && !self.key_groups.is_empty() {
            let mut groups = Vec::new();
            for g in &self.key_groups {
                let mut gb = Branch::default();
                for kind in [
                    KeyKind::Pgp,
                    KeyKind::Kms,
                    KeyKind::GcpKms,
                    KeyKind::HcKms,
                    KeyKind::AzureKv,
                ] {
                    if let Some(v) = list_of(g, kind) {
                        gb.push(kind.field(), v);
                    }
                }
                for kind in [KeyKind::HcVault, KeyKind::Age] {
                    gb.push(kind.field(), list_of(g, kind).unwrap_or_else(nil_value));
                }
                groups.push(Value::Branch(gb));
            }
            b.push("key_groups", Value::List(groups));
        }
        let group = if single {
            self.key_groups.first()
        } else {
            None
        };
        if let Some(g) = group {
            for kind in [
                KeyKind::Kms,
                KeyKind::GcpKms,
                KeyKind::HcKms,
                KeyKind::AzureKv,
                KeyKind::HcVault,
                KeyKind::Age,
            ] {
                if let Some(v) = list_of(g, kind) {
                    b.push(kind.field(), v);
                }
            }
        }
        b.push("lastmodified", Value::str(&self.last_modified));
        b.push("mac", Value::str(&self.mac));
        if let Some(v) = group.and_then(|g| list_of(g, KeyKind::Pgp)) {
            b.push("pgp", v);
        }
        let s = &self.selectors;
        for (name, v) in [
            ("unencrypted_suffix", &s.unencrypted_suffix),
            ("encrypted_suffix", &s.encrypted_suffix),
            ("unencrypted_regex", &s.unencrypted_regex),
            ("encrypted_regex", &s.encrypted_regex),
            ("unencrypted_comment_regex", &s.unencrypted_comment_regex),
            ("encrypted_comment_regex", &s.encrypted_comment_regex),
        ] {
            if !v.is_empty() {
                b.push(name, Value::str(v));
            }
        }
        if self.mac_only_encrypted {
            b.push("mac_only_encrypted", Value::Scalar(Scalar::Bool(true)));
        }
        for (k, v) in &self.extra {
            b.push(k.clone(), v.clone());
        }
        b.push("version", Value::str(&self.version));
        Value::Branch(b)
    }

    /// The flat `key → text` form dotenv and INI use (`FlattenMetadata` + `EncodeNonStrings`
    /// + `EncodeNewLines`), sorted by key. Null values are left out.
    pub(crate) fn to_flat(&self) -> Vec<(String, String)> {
        let mut out = BTreeMap::new();
        if let Value::Branch(b) = self.to_value(NilList::Null) {
            for item in &b.items {
                if let Key::Str(k) = &item.key {
                    flatten(&mut out, k.clone(), &item.value);
                }
            }
        }
        out.into_iter()
            .map(|(k, v)| (k, v.replace('\n', "\\n")))
            .collect()
    }

    /// Reads the flat form (`DecodeNewLines`, `DecodeNonStrings`, `UnflattenMetadata`).
    pub(crate) fn from_flat(items: &[(String, String)]) -> Result<Self> {
        let mut root = Value::Branch(Branch::default());
        let mut list_items = 0;
        for (k, v) in items {
            let text = v.replace("\\n", "\n");
            let value = match k.as_str() {
                "mac_only_encrypted" => Value::Scalar(Scalar::Bool(text == "true")),
                "shamir_threshold" => Value::Scalar(Scalar::Int(parse_threshold(&text)? as i64)),
                _ => Value::str(text),
            };
            let tokens = tokenize(k);
            // A hostile file may not nest the tree deeper than any reader allows, nor make a
            // list longer than the entries that could fill it.
            if crate::budget::check_depth(tokens.len()).is_err() {
                return Err(Error::InvalidMetadata(format!(
                    "metadata key `{k}` nests deeper than {} levels",
                    crate::budget::MAX_DEPTH
                )));
            }
            // The bound does not depend on the number of entries: a list with holes is written
            // with fewer entries than it was read from, and must still read back.
            if let Some(Token::List(i)) = tokens
                .iter()
                .find(|t| matches!(t, Token::List(i) if *i >= MAX_FLAT_LIST_ITEMS))
            {
                return Err(Error::InvalidMetadata(format!(
                    "metadata key `{k}` has list index {i}, beyond the {MAX_FLAT_LIST_ITEMS} items metadata lists may hold"
                )));
            }
            unflatten_into(&mut root, &tokens, value, &mut list_items).map_err(|()| {
                Error::InvalidMetadata(format!(
                    "metadata key `{k}` makes the metadata lists longer than {MAX_FLAT_LIST_ITEMS} items in all"
                ))
            })?;
        }
        Self::from_value(&root)
    }
}

/// How many list items the flat metadata of a dotenv or INI file may make in all (holes
/// included): far more than any key list, little memory. A written file never makes more than
/// the file it was read from, so every file read writes a file that reads.
const MAX_FLAT_LIST_ITEMS: usize = 1 << 16;

fn parse_threshold(s: &str) -> Result<usize> {
    if let Ok(i) = s.parse::<usize>() {
        return Ok(i);
    }
    match gofmt::parse_float(s) {
        Some(f) if f.fract() == 0.0 && f >= 0.0 => Ok(f as usize),
        _ => Err(Error::InvalidMetadata(format!(
            "shamir_threshold is not an integer: {s}"
        ))),
    }
}

fn stanzas(kind: KeyKind, v: &Value) -> Result<Vec<MasterKeyStanza>> {
    match v {
        Value::List(items) => items
            .iter()
            .filter(|i| !matches!(i, Value::Comment(_)))
            .map(|i| MasterKeyStanza::from_value(kind, i))
            .collect(),
        Value::Scalar(Scalar::Null) => Ok(Vec::new()),
        _ => Err(Error::InvalidMetadata(format!(
            "`{}` must be a list",
            kind.field()
        ))),
    }
}

/// The text of a metadata scalar, as Go would unmarshal it into a `string` field.
fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => String::new(),
        Scalar::Str(s) | Scalar::Time(s) => s.clone(),
        Scalar::RawStr(b) | Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => gofmt::format_float_g(*f, false),
        Scalar::Bool(b) => b.to_string(),
    }
}

fn flatten(out: &mut BTreeMap<String, String>, prefix: String, v: &Value) {
    match v {
        Value::Branch(b) => {
            for item in &b.items {
                if let Key::Str(k) = &item.key {
                    flatten(out, format!("{prefix}__map_{k}"), &item.value);
                }
            }
        }
        Value::List(l) => {
            for (i, item) in l.iter().enumerate() {
                flatten(out, format!("{prefix}__list_{i}"), item);
            }
        }
        Value::Scalar(Scalar::Null) | Value::Comment(_) => {}
        Value::Scalar(Scalar::Bool(b)) => {
            out.insert(prefix, b.to_string());
        }
        Value::Scalar(s) => {
            out.insert(prefix, scalar_text(s));
        }
    }
}

enum Token {
    Map(String),
    List(usize),
}

/// sops `tokenize`: splits `a__map_b__list_0` into map and list steps.
fn tokenize(path: &str) -> Vec<Token> {
    const MAP: &str = "__map_";
    const LIST: &str = "__list_";
    let mut tokens = Vec::new();
    let mut state = 0; // 0 normal, 1 map, 2 list
    let mut last = 0;
    let mut i = 0;
    let finish = |state: i32, last: usize, i: usize, tokens: &mut Vec<Token>| match state {
        0 => tokens.push(Token::Map(path[last..i].to_owned())),
        1 => tokens.push(Token::Map(path[last + MAP.len()..i].to_owned())),
        _ => tokens.push(Token::List(path[last + LIST.len()..i].parse().unwrap_or(0))),
    };
    while i < path.len() {
        if path[i..].starts_with(MAP) {
            finish(state, last, i, &mut tokens);
            last = i;
            state = 1;
            i += MAP.len();
        } else if path[i..].starts_with(LIST) {
            finish(state, last, i, &mut tokens);
            last = i;
            state = 2;
            i += LIST.len();
        } else {
            i += path[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    finish(state, last, i, &mut tokens);
    tokens
}

/// Places `leaf` at `tokens` under `node`; `list_items` counts the list items made so far and
/// may not pass [`MAX_FLAT_LIST_ITEMS`] (`Err` when it would).
fn unflatten_into(
    node: &mut Value,
    tokens: &[Token],
    leaf: Value,
    list_items: &mut usize,
) -> std::result::Result<(), ()> {
    let Some((first, rest)) = tokens.split_first() else {
        *node = leaf;
        return Ok(());
    };
    let fresh = |next: Option<&Token>| match next {
        Some(Token::List(_)) => Value::List(Vec::new()),
        _ => Value::Branch(Branch::default()),
    };
    match first {
        Token::Map(k) => {
            if !matches!(node, Value::Branch(_)) {
                *node = Value::Branch(Branch::default());
            }
            let Value::Branch(b) = node else {
                return Ok(());
            };
            if b.get(k).is_none() {
                b.items.push(Item::new(k.clone(), fresh(rest.first())));
            }
            match b.get_mut(k) {
                Some(child) => unflatten_into(child, rest, leaf, list_items),
                None => Ok(()),
            }
        }
        Token::List(i) => {
            if !matches!(node, Value::List(_)) {
                *node = Value::List(Vec::new());
            }
            let Value::List(l) = node else {
                return Ok(());
            };
            if l.len() <= *i {
                let more = *i + 1 - l.len();
                *list_items = list_items
                    .checked_add(more)
                    .filter(|n| *n <= MAX_FLAT_LIST_ITEMS)
                    .ok_or(())?;
                l.resize(*i + 1, Value::Scalar(Scalar::Null));
            }
            if matches!(l[*i], Value::Scalar(Scalar::Null)) {
                l[*i] = fresh(rest.first());
            }
            unflatten_into(&mut l[*i], rest, leaf, list_items)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_metadata_keys_may_not_nest_deep_or_index_far() {
        // issue 14: a dotenv or INI file's `sops_*` keys build a tree: unbounded, they
        // overflowed the stack or allocated a list of a billion items.
        let deep = format!("key_groups{}", "__map_a".repeat(200));
        let err = Metadata::from_flat(&[(deep, "x".into())]).unwrap_err();
        assert!(
            err.to_string().ends_with("nests deeper than 128 levels"),
            "{err}"
        );
        let far = "age__list_999999999999__map_recipient".to_owned();
        let err = Metadata::from_flat(&[(far, "x".into())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid sops metadata: metadata key `age__list_999999999999__map_recipient` has list index 999999999999, beyond the 65536 items metadata lists may hold"
        );
        // Many lists, each under the bound, may not add up past it either.
        let many: Vec<_> = (0..3)
            .map(|n| (format!("x{n}__list_40000"), "x".to_owned()))
            .collect();
        let err = Metadata::from_flat(&many).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid sops metadata: metadata key `x1__list_40000` makes the metadata lists longer than 65536 items in all"
        );
    }

    // found by fuzzing: fuzz/sops_dotenv (a list index bounded by the number of entries: a key
    // given twice counted twice, was written once, and the written file no longer read).
    #[test]
    fn flat_metadata_written_from_a_file_read_reads_back() {
        let flat: Vec<(String, String)> = [
            ("lastmodified", "2026-01-01T00:00:00Z"),
            ("mac", "x"),
            ("version", "3.11.0"),
            ("age__list_0__map_recipient", "age1x"),
            ("age__list_0__map_enc", "y"),
            ("x__list_6", "a"),
            ("x__list_6", "b"),
            ("x__list_6", "c"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let read = Metadata::from_flat(&flat).unwrap();
        let written = read.to_flat();
        assert!(written.len() <= 6, "{written:?}");
        assert_eq!(Metadata::from_flat(&written).unwrap(), read);
    }

    fn sample() -> Metadata {
        let mut m = Metadata::new(
            vec![vec![MasterKeyStanza::age(
                "age1xyz",
                "-----BEGIN AGE ENCRYPTED FILE-----\nabc\n-----END AGE ENCRYPTED FILE-----\n",
            )]],
            Selectors::default().with_default(),
        );
        m.last_modified = "2026-11-23T06:56:20Z".into();
        m.mac = "ENC[...]".into();
        m
    }

    #[test]
    fn single_group_is_written_at_top_level_in_sops_order() {
        let Value::Branch(b) = sample().to_value(NilList::EmptyList) else {
            panic!()
        };
        let keys: Vec<_> = b.items.iter().filter_map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "age",
                "lastmodified",
                "mac",
                "unencrypted_suffix",
                "version"
            ]
        );
    }

    #[test]
    fn flat_form_round_trips() {
        let m = sample();
        let flat = m.to_flat();
        assert!(flat.iter().any(|(k, _)| k == "age__list_0__map_recipient"));
        assert!(flat.iter().any(|(_, v)| v.contains("\\n")));
        assert_eq!(Metadata::from_flat(&flat).unwrap(), m);
    }

    #[test]
    fn several_groups_use_key_groups_with_nil_lists() {
        let mut m = sample();
        m.key_groups
            .push(vec![MasterKeyStanza::age("age1abc", "x")]);
        m.shamir_threshold = 2;
        let v = m.to_value(NilList::EmptyList);
        let Value::Branch(b) = &v else { panic!() };
        assert_eq!(b.items[0].key.as_str(), Some("shamir_threshold"));
        let Some(Value::List(groups)) = b.get("key_groups") else {
            panic!()
        };
        assert_eq!(
            groups[0].as_branch().unwrap().get("hc_vault"),
            Some(&Value::List(vec![]))
        );
        assert_eq!(Metadata::from_value(&v).unwrap(), m);
    }

    // found by fuzzing: fuzz/sops_ini (`key_groups__list___map_=` read as one group without
    // keys; written back, the group vanished and the file no longer read).
    #[test]
    fn a_key_group_without_keys_is_no_group() {
        let flat = [
            ("key_groups__list___map_".to_owned(), String::new()),
            ("lastmodified".to_owned(), String::new()),
        ];
        let err = Metadata::from_flat(&flat).unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::InvalidMetadata("no keys found in file".into()).to_string()
        );
        let mut m = sample();
        m.key_groups.push(Vec::new());
        m.shamir_threshold = 1;
        let back = Metadata::from_value(&m.to_value(NilList::EmptyList)).unwrap();
        assert_eq!(back.key_groups().len(), 1);
    }

    #[test]
    fn unknown_fields_survive() {
        let mut m = sample();
        m.key_groups[0][0].set_field("future", "kept");
        m.extra.push(("new_top".into(), Value::str("also")));
        let v = m.to_value(NilList::EmptyList);
        assert_eq!(Metadata::from_value(&v).unwrap(), m);
    }
}
