//! What the sops subcommands share: store types, `.sops.yaml` rules → master keys, opening
//! and re-sealing files. Every byte format and cipher lives in `sealer`; this is glue.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use sealer::sops::master_keys::{self, DataKey, KeyBuilder, KeyFlags, MasterKeyGroup, Unwrappers};
use sealer::sops::rules::{CreationRule, SopsConfig};
use sealer::sops::{
    self, EncryptedFile, Format, MacCheck, Metadata, PlainFile, Selectors, StoreOptions, TreePath,
};
use zeroize::Zeroizing;

use super::sops_args::{ConfigArgs, KeyArgs, SelectorArgs, TypeArgs};

/// Environment variables the sops subcommands read (sops's names).
pub mod env {
    /// Path of the `.sops.yaml` to use.
    pub const SOPS_CONFIG: &str = "SOPS_CONFIG";
    /// Default for `--age`.
    pub const SOPS_AGE_RECIPIENTS: &str = "SOPS_AGE_RECIPIENTS";
    /// Default for `--pgp`.
    pub const SOPS_PGP_FP: &str = "SOPS_PGP_FP";
    /// Default for `--kms`.
    pub const SOPS_KMS_ARN: &str = "SOPS_KMS_ARN";
    /// Default for `--gcp-kms`.
    pub const SOPS_GCP_KMS_IDS: &str = "SOPS_GCP_KMS_IDS";
    /// Default for `--azure-kv`.
    pub const SOPS_AZURE_KEYVAULT_URLS: &str = "SOPS_AZURE_KEYVAULT_URLS";
    /// Default for `--hc-vault-transit`.
    pub const SOPS_VAULT_URIS: &str = "SOPS_VAULT_URIS";
    /// Editor for `seal edit` (before `EDITOR`).
    pub const SOPS_EDITOR: &str = "SOPS_EDITOR";
    /// Editor for `seal edit`.
    pub const EDITOR: &str = "EDITOR";
}

/// The exit code of a finished child (128 + signal when killed).
pub fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        (None, Some(signal)) => ExitCode::from(u8::try_from(128 + signal).unwrap_or(1)),
        (None, None) => ExitCode::FAILURE,
    }
}

/// The name used to pick the store and match rules: `--filename-override` or FILE.
pub fn rules_path(file: &Path, filename_override: Option<&str>) -> PathBuf {
    filename_override.map_or_else(|| file.to_owned(), PathBuf::from)
}

/// Input and output store of a command.
#[derive(Clone, Copy, Debug)]
pub struct Formats {
    /// How the input is read.
    pub input: Format,
    /// How the output is written.
    pub output: Format,
    /// Indentation settings (`.sops.yaml` `stores:`, `--indent`).
    pub options: StoreOptions,
}

impl Formats {
    /// From `--input-type`/`--output-type`, else the extension of `name` (sops's
    /// `FormatForPath`: yaml/yml, json, env, ini, anything else binary). The output type
    /// defaults to the input type.
    pub fn resolve(name: &Path, types: &TypeArgs) -> anyhow::Result<Self> {
        let parse = |t: &str| -> anyhow::Result<Format> { Ok(t.parse::<Format>()?) };
        let input = match &types.input_type {
            Some(t) => parse(t)?,
            None => Format::from_path(name),
        };
        let output = match &types.output_type {
            Some(t) => parse(t)?,
            None if types.input_type.is_some() => input,
            None => Format::from_path(name),
        };
        Ok(Self {
            input,
            output,
            options: StoreOptions::default(),
        })
    }

    /// Applies `.sops.yaml` `stores:` settings (like sops, from the config found for FILE)
    /// and `--indent`.
    pub fn with_options(
        mut self,
        file: &Path,
        config: &ConfigArgs,
        indent: Option<usize>,
    ) -> anyhow::Result<Self> {
        if let Some(cfg) = load_config(config, file)? {
            let stores = cfg.stores();
            if let Some(i) = stores.yaml_indent {
                self.options.yaml_indent = i;
            }
            if let Some(i) = stores.json_indent {
                self.options.json_indent = usize::try_from(i).ok();
            }
            if let Some(i) = stores.json_binary_indent {
                self.options.binary_indent = usize::try_from(i).ok();
            }
        }
        if let Some(i) = indent {
            self.options.yaml_indent = i;
            self.options.json_indent = Some(i);
        }
        Ok(self)
    }
}

/// Whether `bytes` parse as a SOPS file of this store (for `filestatus`).
pub fn is_encrypted(bytes: &[u8], formats: Formats) -> bool {
    EncryptedFile::is_encrypted(bytes, formats.input)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Loads `--config` / `SOPS_CONFIG`, else the `.sops.yaml` found from `file` upwards, else
/// from the working directory upwards. `None` when there is none.
pub fn load_config(config: &ConfigArgs, file: &Path) -> anyhow::Result<Option<SopsConfig>> {
    let path = match &config.config {
        Some(path) => Some(path.clone()),
        None => {
            let cwd = std::env::current_dir().context("reading the working directory")?;
            SopsConfig::find(file, &cwd)
        }
    };
    match path {
        Some(path) => Ok(Some(SopsConfig::load(&path)?)),
        None => Ok(None),
    }
}

/// What a new file is encrypted with: key groups, threshold, selectors.
pub struct Plan {
    groups: Vec<MasterKeyGroup>,
    threshold: usize,
    selectors: Selectors,
    mac_only_encrypted: bool,
}

impl Plan {
    /// Key flags win over the rule's keys; selector flags over the rule's selectors.
    pub fn build(
        rules_file: &Path,
        config: &ConfigArgs,
        key_args: &KeyArgs,
        selector_args: &SelectorArgs,
    ) -> anyhow::Result<Self> {
        let loaded = load_config(config, rules_file)?;
        let rule: Option<&CreationRule> = match &loaded {
            Some(cfg) => cfg.rule_for(&absolute(rules_file))?,
            None => None,
        };
        let builder = KeyBuilder::from_process_env();
        let (groups, mut threshold) = if key_args.any() {
            (vec![builder.group_from_flags(&key_args.flags())?], 0)
        } else if let Some(rule) = rule {
            let groups = rule
                .key_groups
                .iter()
                .filter(|g| !g.is_empty())
                .map(|g| builder.group_from_rule(g))
                .collect::<Result<Vec<_>, _>>()?;
            (groups, rule.shamir_threshold)
        } else {
            (Vec::new(), 0)
        };
        if groups.is_empty() {
            anyhow::bail!(
                "no master keys: pass --age, --pgp, --kms, --gcp-kms, --azure-kv or \
                 --hc-vault-transit, or add a creation rule to .sops.yaml"
            );
        }
        if let Some(t) = key_args.shamir_secret_sharing_threshold {
            threshold = t;
        }
        if threshold > groups.len() {
            anyhow::bail!(
                "shamir threshold {threshold} is larger than the number of key groups ({})",
                groups.len()
            );
        }
        let mut selectors = Selectors::default();
        let mut mac_only_encrypted = false;
        if selector_args.any() {
            let s = selector_args.clone();
            selectors.unencrypted_suffix = s.unencrypted_suffix.unwrap_or_default();
            selectors.encrypted_suffix = s.encrypted_suffix.unwrap_or_default();
            selectors.unencrypted_regex = s.unencrypted_regex.unwrap_or_default();
            selectors.encrypted_regex = s.encrypted_regex.unwrap_or_default();
            selectors.unencrypted_comment_regex = s.unencrypted_comment_regex.unwrap_or_default();
            selectors.encrypted_comment_regex = s.encrypted_comment_regex.unwrap_or_default();
            mac_only_encrypted = s.mac_only_encrypted;
        }
        if let Some(rule) = rule {
            if selectors.count() == 0 {
                let r = rule.clone();
                selectors.unencrypted_suffix = r.unencrypted_suffix.unwrap_or_default();
                selectors.encrypted_suffix = r.encrypted_suffix.unwrap_or_default();
                selectors.unencrypted_regex = r.unencrypted_regex.unwrap_or_default();
                selectors.encrypted_regex = r.encrypted_regex.unwrap_or_default();
                selectors.unencrypted_comment_regex =
                    r.unencrypted_comment_regex.unwrap_or_default();
                selectors.encrypted_comment_regex = r.encrypted_comment_regex.unwrap_or_default();
            }
            mac_only_encrypted |= rule.mac_only_encrypted;
        }
        if selectors.count() > 1 {
            anyhow::bail!(
                "cannot use more than one of --encrypted-suffix, --unencrypted-suffix, \
                 --encrypted-regex, --unencrypted-regex, --encrypted-comment-regex, \
                 --unencrypted-comment-regex"
            );
        }
        Ok(Self {
            groups,
            threshold,
            selectors,
            mac_only_encrypted,
        })
    }

    /// Fresh metadata with the data key wrapped for every key.
    pub fn metadata(&self, data_key: &DataKey) -> anyhow::Result<Metadata> {
        let groups = master_keys::wrap_data_key(&self.groups, self.threshold, data_key)?;
        let mut metadata = Metadata::new(groups, self.selectors.clone());
        metadata.shamir_threshold = if self.groups.len() > 1 {
            self.threshold
        } else {
            0
        };
        metadata.mac_only_encrypted = self.mac_only_encrypted;
        Ok(metadata)
    }
}

/// `seal encrypt`'s work: cleartext bytes in, encrypted bytes out.
#[allow(clippy::too_many_arguments)]
///
/// `input` is taken and zeroized once parsed, and the values are encrypted where they are:
/// a large file is not held more times than needed.
pub fn encrypt_bytes(
    input: Vec<u8>,
    file: &Path,
    rules_file: &Path,
    formats: Formats,
    config: &ConfigArgs,
    key_args: &KeyArgs,
    selector_args: &SelectorArgs,
) -> anyhow::Result<Vec<u8>> {
    let input = Zeroizing::new(input);
    let plain = PlainFile::parse(&input, formats.input)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    drop(input);
    // A top-level `sops` key (dotenv: `sops_*`) means the file is encrypted already, as sops
    // finds by loading it as an encrypted file.
    if plain.has_sops_metadata(formats.input) {
        anyhow::bail!("{}: {}", file.display(), sops::Error::AlreadyEncrypted);
    }
    let plan = Plan::build(rules_file, config, key_args, selector_args)?;
    let data_key = DataKey::generate();
    let metadata = plan
        .metadata(&data_key)
        .with_context(|| file.display().to_string())?;
    let encrypted = plain
        .into_encrypted(&data_key, metadata)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok(encrypted.to_bytes_with(formats.output, &formats.options)?)
}

/// A decrypted SOPS file with its data key, ready to be changed and re-sealed.
pub struct Opened {
    path: PathBuf,
    formats: Formats,
    encrypted: EncryptedFile,
    plain: Option<PlainFile>,
    data_key: DataKey,
}

fn with_file<T>(path: &Path, r: Result<T, impl std::fmt::Display>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

impl Opened {
    fn parse_and_unwrap(
        input: &[u8],
        path: &Path,
        formats: Formats,
        with: &Unwrappers,
    ) -> anyhow::Result<(EncryptedFile, DataKey)> {
        let encrypted = with_file(path, EncryptedFile::parse(input, formats.input))?;
        // Keep the key error's causes (a refused connection, a TLS failure) in the chain.
        let data_key = master_keys::unwrap_data_key(encrypted.metadata(), with)
            .map_err(|e| anyhow::Error::new(e).context(path.display().to_string()))?;
        Ok((encrypted, data_key))
    }

    /// [`Opened::decrypt`] that takes the input and zeroizes it once parsed (a large file is
    /// not held as text while it is decrypted).
    pub fn decrypt_owned(
        input: Vec<u8>,
        path: &Path,
        formats: Formats,
        ignore_mac: bool,
    ) -> anyhow::Result<Self> {
        let input = Zeroizing::new(input);
        let (mut encrypted, data_key) =
            Self::parse_and_unwrap(&input, path, formats, &Unwrappers::from_process_env())?;
        drop(input);
        let check = if ignore_mac {
            MacCheck::Ignore
        } else {
            MacCheck::Verify
        };
        let plain = with_file(path, encrypted.take_decrypted(&data_key, check))?;
        Ok(Self {
            path: path.to_owned(),
            formats,
            encrypted,
            plain: Some(plain),
            data_key,
        })
    }

    /// Parses, unwraps the data key and decrypts every value (checking the MAC unless
    /// `ignore_mac`).
    pub fn decrypt(
        input: &[u8],
        path: &Path,
        formats: Formats,
        ignore_mac: bool,
    ) -> anyhow::Result<Self> {
        Self::decrypt_with(
            input,
            path,
            formats,
            ignore_mac,
            &Unwrappers::from_process_env(),
        )
    }

    /// [`Opened::decrypt`] with the keys given (identities loaded once for many files, or
    /// from an environment other than the process's).
    pub fn decrypt_with(
        input: &[u8],
        path: &Path,
        formats: Formats,
        ignore_mac: bool,
        with: &Unwrappers,
    ) -> anyhow::Result<Self> {
        let (mut encrypted, data_key) = Self::parse_and_unwrap(input, path, formats, with)?;
        let check = if ignore_mac {
            MacCheck::Ignore
        } else {
            MacCheck::Verify
        };
        // The encrypted values are not needed again (only the metadata is): move them.
        let plain = with_file(path, encrypted.take_decrypted(&data_key, check))?;
        Ok(Self {
            path: path.to_owned(),
            formats,
            encrypted,
            plain: Some(plain),
            data_key,
        })
    }

    /// Parses and unwraps the data key only (updatekeys).
    pub fn open_key_only(input: &[u8], path: &Path, formats: Formats) -> anyhow::Result<Self> {
        let (encrypted, data_key) =
            Self::parse_and_unwrap(input, path, formats, &Unwrappers::from_process_env())?;
        Ok(Self {
            path: path.to_owned(),
            formats,
            encrypted,
            plain: None,
            data_key,
        })
    }

    fn plain(&self) -> &PlainFile {
        self.plain.as_ref().expect("opened with decrypt")
    }

    fn plain_mut(&mut self) -> &mut PlainFile {
        self.plain.as_mut().expect("opened with decrypt")
    }

    /// The cleartext in the output store.
    pub fn plaintext_bytes(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(with_file(
            &self.path,
            self.plain()
                .to_bytes_with(self.formats.output, &self.formats.options),
        )?))
    }

    /// `--extract`: a string value raw, anything else in the output store.
    pub fn extract(&self, path: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let tree_path: TreePath = path.parse()?;
        Ok(Zeroizing::new(with_file(
            &self.path,
            self.plain().extract(&tree_path, self.formats.output),
        )?))
    }

    /// `set`: VALUE is JSON. Returns whether anything changed.
    pub fn set(&mut self, path: &str, json: &str) -> anyhow::Result<bool> {
        let tree_path: TreePath = path.parse()?;
        let value = sops::Value::from_json(json)
            .map_err(|e| anyhow::anyhow!("invalid VALUE (expected JSON): {e}"))?;
        let file = self.path.clone();
        with_file(&file, self.plain_mut().set(&tree_path, value))
    }

    /// `unset`: returns whether something was removed (an absent path is an error unless
    /// `idempotent`).
    pub fn unset(&mut self, path: &str, idempotent: bool) -> anyhow::Result<bool> {
        let tree_path: TreePath = path.parse()?;
        let file = self.path.clone();
        match self.plain_mut().unset(&tree_path) {
            Ok(()) => Ok(true),
            Err(_) if idempotent => Ok(false),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", file.display())),
        }
    }

    /// Re-encrypts with the same data key and master keys (set, unset, edit).
    pub fn reseal(&self) -> anyhow::Result<Vec<u8>> {
        let metadata = self.encrypted.metadata().clone();
        let encrypted = with_file(&self.path, self.plain().encrypt(&self.data_key, metadata))?;
        with_file(
            &self.path,
            encrypted.to_bytes_with(self.formats.output, &self.formats.options),
        )
    }

    /// New data key, every value re-encrypted, keys re-wrapped (rotate). `add` joins the
    /// first key group; keys of `remove` leave every group (matched by their sops
    /// identifier, as sops does).
    pub fn rotate(&mut self, add: &KeyFlags, remove: &KeyFlags) -> anyhow::Result<Vec<u8>> {
        let builder = KeyBuilder::from_process_env();
        let mut groups = builder.groups_of(self.encrypted.metadata())?;
        if groups.is_empty() {
            groups.push(Vec::new());
        }
        let removed: Vec<String> = builder
            .group_from_flags(remove)?
            .iter()
            .map(|k| k.id().to_owned())
            .collect();
        for key in builder.group_from_flags(add)? {
            if !groups[0].iter().any(|k| k.id() == key.id()) {
                groups[0].push(key);
            }
        }
        for group in &mut groups {
            group.retain(|k| !removed.iter().any(|r| r == k.id()));
        }
        if let Some(index) = groups.iter().position(Vec::is_empty) {
            anyhow::bail!(
                "{}: removing those keys leaves key group {} empty",
                self.path.display(),
                index + 1
            );
        }
        let data_key = DataKey::generate();
        let mut metadata = self.encrypted.metadata().clone();
        let threshold = metadata.shamir_threshold;
        metadata.set_key_groups(master_keys::wrap_data_key(&groups, threshold, &data_key)?);
        let encrypted = with_file(&self.path, self.plain().encrypt(&data_key, metadata))?;
        self.data_key = data_key;
        with_file(
            &self.path,
            encrypted.to_bytes_with(self.formats.output, &self.formats.options),
        )
    }

    /// Compares the file's keys with those the rules give now; returns the change as
    /// `+ key` / `- key` lines (empty = nothing to do) and remembers the new groups.
    pub fn update_keys_from_config(&mut self, config: &ConfigArgs) -> anyhow::Result<Vec<String>> {
        let plan = Plan::build(
            &self.path.clone(),
            config,
            &KeyArgs::default(),
            &SelectorArgs::default(),
        )?;
        let old: Vec<Vec<String>> = KeyBuilder::from_process_env()
            .groups_of(self.encrypted.metadata())?
            .iter()
            .map(|g| g.iter().map(|k| k.id().to_owned()).collect())
            .collect();
        let new: Vec<Vec<String>> = plan
            .groups
            .iter()
            .map(|g| g.iter().map(|k| k.id().to_owned()).collect())
            .collect();
        let mut diff = Vec::new();
        if old == new && self.encrypted.metadata().shamir_threshold == plan.threshold_for_file() {
            return Ok(diff);
        }
        for (index, group) in new.iter().enumerate() {
            let before = old.get(index).cloned().unwrap_or_default();
            diff.push(format!("Group {}", index + 1));
            for key in group {
                if before.contains(key) {
                    diff.push(format!("    {key}"));
                } else {
                    diff.push(format!("+++ {key}"));
                }
            }
            for key in &before {
                if !group.contains(key) {
                    diff.push(format!("--- {key}"));
                }
            }
        }
        let threshold = plan.threshold_for_file();
        let wrapped = master_keys::wrap_data_key(&plan.groups, plan.threshold, &self.data_key)?;
        let metadata = self.encrypted.metadata_mut();
        metadata.set_key_groups(wrapped);
        metadata.shamir_threshold = threshold;
        Ok(diff)
    }

    /// Writes the file with its (re-wrapped) metadata and unchanged values (updatekeys).
    pub fn rewrap(&self) -> anyhow::Result<Vec<u8>> {
        with_file(
            &self.path,
            self.encrypted
                .to_bytes_with(self.formats.output, &self.formats.options),
        )
    }

    /// Top-level values as environment variables (exec-env, sops `ValToString`).
    pub fn env_vars(&self) -> anyhow::Result<Vec<(String, Zeroizing<String>)>> {
        let mut vars = Vec::new();
        let Some(doc) = self.plain().documents().first() else {
            return Ok(vars);
        };
        for item in &doc.items {
            let key = match &item.key {
                sops::Key::Comment(_) => continue,
                sops::Key::Str(k) => k.clone(),
                _ => anyhow::bail!("cannot use non-string keys in environment"),
            };
            if key.contains('=') {
                anyhow::bail!("cannot use keys with '=' in environment: {key}");
            }
            let value = match &item.value {
                sops::Value::Scalar(scalar) => match scalar {
                    sops::Scalar::Null => String::new(),
                    sops::Scalar::Bool(b) => b.to_string(),
                    other => String::from_utf8_lossy(&other.to_bytes()).into_owned(),
                },
                sops::Value::Comment(_) => continue,
                _ => anyhow::bail!("cannot use complex value in environment; offending key {key}"),
            };
            vars.push((key, Zeroizing::new(value)));
        }
        Ok(vars)
    }
}

impl Plan {
    fn threshold_for_file(&self) -> usize {
        if self.groups.len() > 1 {
            self.threshold
        } else {
            0
        }
    }
}

/// The file being edited: its cleartext and how to seal the edited text again.
pub struct EditSource {
    plaintext: Zeroizing<Vec<u8>>,
    kind: EditKind,
    path: PathBuf,
    formats: Formats,
}

enum EditKind {
    Existing(Box<Opened>),
    New(Box<Plan>),
}

/// sops's example document for a new file.
const EXAMPLE_YAML: &str = "hello: Welcome to SOPS! Edit this file as you please!\nexample_key: example_value\n# Example comment\nexample_array:\n    - example_value1\n    - example_value2\nexample_number: 1234.5678\nexample_booleans:\n    - true\n    - false\n";

/// Opens FILE for `seal edit` (a missing FILE starts from sops's example document).
pub fn open_for_edit(
    file: &Path,
    types: &TypeArgs,
    config: &ConfigArgs,
    key_args: &KeyArgs,
    selector_args: &SelectorArgs,
    ignore_mac: bool,
) -> anyhow::Result<EditSource> {
    let formats = Formats::resolve(file, types)?.with_options(file, config, None)?;
    if file.exists() {
        let input = fs_err::read(file)?;
        let opened = Opened::decrypt(&input, file, formats, ignore_mac)?;
        let plaintext = opened.plaintext_bytes()?;
        Ok(EditSource {
            plaintext,
            kind: EditKind::Existing(Box::new(opened)),
            path: file.to_owned(),
            formats,
        })
    } else {
        let plan = Plan::build(file, config, key_args, selector_args)?;
        let example = PlainFile::parse(EXAMPLE_YAML.as_bytes(), Format::Yaml)?;
        let plaintext = match formats.output {
            Format::Binary => Vec::new(),
            format => example
                .to_bytes_with(format, &formats.options)
                .unwrap_or_default(),
        };
        Ok(EditSource {
            plaintext: Zeroizing::new(plaintext),
            kind: EditKind::New(Box::new(plan)),
            path: file.to_owned(),
            formats,
        })
    }
}

impl EditSource {
    /// The cleartext to put in the editor.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// Whether FILE does not exist yet.
    pub fn is_new(&self) -> bool {
        matches!(self.kind, EditKind::New(_))
    }

    /// Encrypts the edited cleartext: same data key and keys for an existing file.
    pub fn seal(&self, edited: &[u8]) -> anyhow::Result<Vec<u8>> {
        let plain = with_file(&self.path, PlainFile::parse(edited, self.formats.output))?;
        match &self.kind {
            EditKind::Existing(opened) => {
                let metadata = opened.encrypted.metadata().clone();
                let encrypted = with_file(&self.path, plain.encrypt(&opened.data_key, metadata))?;
                Ok(with_file(
                    &self.path,
                    encrypted.to_bytes_with(self.formats.output, &self.formats.options),
                )?)
            }
            EditKind::New(plan) => {
                let data_key = DataKey::generate();
                let metadata = plan.metadata(&data_key)?;
                let encrypted = with_file(&self.path, plain.encrypt(&data_key, metadata))?;
                Ok(with_file(
                    &self.path,
                    encrypted.to_bytes_with(self.formats.output, &self.formats.options),
                )?)
            }
        }
    }
}
