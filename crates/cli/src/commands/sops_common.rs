//! What the sops subcommands share: the prologue (resolve the stores, read, open, decrypt,
//! pick the output target: [`SopsFile`]), `.sops.yaml` rules → master keys ([`Plan`]), and
//! re-sealing a changed file with its unchanged values' ciphertext kept ([`Opened`]). Every
//! byte format and cipher lives in `sealer`; this is glue.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sealer::sops::master_keys::{self, DataKey, KeyBuilder, KeyFlags, MasterKeyGroup, Unwrappers};
use sealer::sops::rules::{CreationRule, SopsConfig};
use sealer::sops::{
    self, EncryptedFile, Format, IvStash, MacCheck, Metadata, Patched, PlainFile, Selectors,
    StoreOptions, TreePath,
};
use zeroize::Zeroizing;

use super::sops_args::{ConfigArgs, KeyArgs, SelectorArgs, Target, TypeArgs};
use super::sops_io;

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
        let input = types.input_type.unwrap_or_else(|| Format::from_path(name));
        let output = match types.output_type {
            Some(t) => t,
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

/// The prologue the SOPS commands share: FILE (or stdin), the name its store and
/// `.sops.yaml` rule come from (`--filename-override` or FILE), its stores with the config's
/// `stores:` settings and `--indent`.
#[derive(Debug, Clone)]
pub struct SopsFile {
    /// The file read (`-` or `/dev/stdin` for standard input).
    pub path: PathBuf,
    /// The name rules and stores are matched against.
    pub rules_name: PathBuf,
    /// Input and output stores.
    pub formats: Formats,
    /// `--config`.
    pub config: ConfigArgs,
}

/// What an opened file will be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Reading only (decrypt, exec-env, diff): nothing is kept for re-encryption.
    Read,
    /// Changing and writing back (set, unset, edit, merge): each value's IV is kept so that
    /// unchanged values keep their ciphertext, as sops does.
    Rewrite,
}

impl SopsFile {
    /// Resolves the stores of `path` (named `filename_override` for stores and rules).
    pub fn new(
        path: &Path,
        filename_override: Option<&str>,
        types: &TypeArgs,
        config: &ConfigArgs,
        indent: Option<usize>,
    ) -> anyhow::Result<Self> {
        let rules_name = rules_path(path, filename_override);
        let formats =
            Formats::resolve(&rules_name, types)?.with_options(&rules_name, config, indent)?;
        Ok(Self {
            path: path.to_owned(),
            rules_name,
            formats,
            config: config.clone(),
        })
    }

    /// The file's bytes (standard input for `-`).
    pub fn read(&self) -> anyhow::Result<Vec<u8>> {
        sops_io::read_input(&self.path)
    }

    /// Reads, parses, unwraps the data key and decrypts (checking the MAC unless
    /// `ignore_mac`).
    pub fn open(&self, ignore_mac: bool, purpose: Purpose) -> anyhow::Result<Opened> {
        let input = self.read()?;
        Opened::decrypt_owned(input, None, self, ignore_mac, purpose)
    }

    /// [`SopsFile::open`] of bytes already read, with their data key when a decryption
    /// without a tree unwrapped it already (it is not unwrapped twice).
    pub fn open_bytes(
        &self,
        input: Vec<u8>,
        key: Option<DataKey>,
        ignore_mac: bool,
        purpose: Purpose,
    ) -> anyhow::Result<Opened> {
        Opened::decrypt_owned(input, key, self, ignore_mac, purpose)
    }

    /// The cleartext of a YAML file decrypted without a tree, in the output store's YAML
    /// settings. `Err` when the file needs a tree (comments, another store, a data key, value
    /// or MAC that fails: the tree reports those), with the data key if it was unwrapped.
    pub fn decrypt_streamed(
        &self,
        input: &[u8],
        ignore_mac: bool,
    ) -> Result<Zeroizing<Vec<u8>>, Option<DataKey>> {
        let (stream, key) = self.streamable(input).ok_or(None)?;
        let mac = MacCheck::unless_ignored(ignore_mac);
        stream
            .decrypt(&key, mac, &self.formats.options)
            .ok_or(Some(key))
    }

    /// `input` to be decrypted without a tree, with its data key (unwrapped with the keys of
    /// the process's environment): a YAML file read and written as YAML whose metadata reads
    /// from its end. `None` otherwise, or when the key does not unwrap (the tree reports it).
    fn streamable<'i>(&self, input: &'i [u8]) -> Option<(sops::EncryptedYamlStream<'i>, DataKey)> {
        if self.formats.input != Format::Yaml || self.formats.output != Format::Yaml {
            return None;
        }
        let stream = EncryptedFile::streamable_yaml(input)?;
        let with = Unwrappers::from_process_env();
        let key = master_keys::unwrap_data_key(stream.metadata(), &with).ok()?;
        Some((stream, key))
    }

    /// `set` of a YAML file without a tree: decrypted as it is read, the value's ciphertext
    /// spliced into the text (see [`sops::YamlEdit::set`]) and the file replaced. `None`
    /// when that cannot be done (then nothing was written): set it with
    /// [`SopsFile::unlock_bytes`], given the data key if it was unwrapped here.
    /// `Ok(Ok(false))`: `idempotent` and the value was already set.
    pub fn set_streamed(
        &self,
        input: &[u8],
        path: &TreePath,
        value: &sops::Value,
        ignore_mac: bool,
        idempotent: bool,
    ) -> Result<anyhow::Result<bool>, Option<DataKey>> {
        let (stream, key) = self.streamable(input).ok_or(None)?;
        let mac = MacCheck::unless_ignored(ignore_mac);
        let opts = &self.formats.options;
        let Some((mut cleartext, edit)) = stream.decrypt_for_edit(&key, mac, opts) else {
            return Err(Some(key));
        };
        let Some(spliced) = edit.set(input, &cleartext, path, value, &key, opts) else {
            sops::zeroize_appended(&mut cleartext);
            edit.finish();
            return Err(Some(key));
        };
        let written = if !spliced.changed() && idempotent {
            Ok(false)
        } else {
            crate::fsio::write_atomic_with(&self.path, |w| {
                with_file(&self.path, spliced.write_to(w))
            })
            .map(|()| true)
        };
        sops::zeroize_appended(&mut cleartext);
        edit.finish();
        Ok(written)
    }

    /// Reads, parses and unwraps the data key; the values stay encrypted.
    pub fn unlock(&self) -> anyhow::Result<Unlocked> {
        self.unlock_bytes(self.read()?, None)
    }

    /// [`SopsFile::unlock`] of bytes already read, with their data key if it was unwrapped
    /// already.
    pub fn unlock_bytes(&self, input: Vec<u8>, key: Option<DataKey>) -> anyhow::Result<Unlocked> {
        let input = Zeroizing::new(input);
        let encrypted = with_file(
            &self.path,
            EncryptedFile::parse_owned(input, self.formats.input),
        )?;
        let data_key = match key {
            Some(key) => key,
            None => unwrap_key(&encrypted, &self.path, &Unwrappers::from_process_env())?,
        };
        Ok(Unlocked {
            path: self.path.clone(),
            formats: self.formats,
            encrypted,
            data_key,
        })
    }
}

/// A SOPS file with its data key, values still encrypted: `set` and `unset` change it in
/// place (one walk, unchanged values keep their `ENC[…]` text).
pub struct Unlocked {
    path: PathBuf,
    formats: Formats,
    encrypted: EncryptedFile,
    data_key: DataKey,
}

impl Unlocked {
    /// `set` without decrypting the file into a tree ([`Patched::Declined`]: use [`Opened`]).
    pub fn set(
        &mut self,
        path: &TreePath,
        value: &sops::Value,
        ignore_mac: bool,
    ) -> anyhow::Result<Patched> {
        let r = self.encrypted.set_in_place(
            &self.data_key,
            path,
            value,
            MacCheck::unless_ignored(ignore_mac),
        );
        with_file(&self.path, r)
    }

    /// `unset` without decrypting the file into a tree ([`Patched::Declined`]: use [`Opened`]).
    /// An absent path is an error unless `idempotent` (then nothing changed).
    pub fn unset(
        &mut self,
        path: &TreePath,
        ignore_mac: bool,
        idempotent: bool,
    ) -> anyhow::Result<Patched> {
        let r = self.encrypted.unset_in_place(
            &self.data_key,
            path,
            MacCheck::unless_ignored(ignore_mac),
        );
        match r {
            Err(sops::Error::Path(_)) if idempotent => Ok(Patched::Done { changed: false }),
            r => with_file(&self.path, r),
        }
    }

    /// Decrypts the whole file (when a change in place was declined).
    pub fn open(self, ignore_mac: bool, purpose: Purpose) -> anyhow::Result<Opened> {
        Opened::decrypt_parsed(
            self.encrypted,
            self.data_key,
            &self.path,
            self.formats,
            ignore_mac,
            purpose,
        )
    }

    /// Replaces the file atomically with its text, emitted as it is written.
    pub fn write_in_place(self) -> anyhow::Result<()> {
        crate::fsio::write_atomic_with(&self.path, |w| {
            Ok(self
                .encrypted
                .write_with(self.formats.output, &self.formats.options, w)?)
        })
    }
}

/// Writes command output to its target: a file atomically, or stdout.
pub fn write_output(target: &Target, bytes: &[u8]) -> anyhow::Result<()> {
    match target {
        Target::Stdout => sops_io::emit(None, bytes),
        Target::File(path) => sops_io::emit(Some(path), bytes),
    }
}

/// [`write_output`] of what `write` writes, never held whole (see [`sops_io::emit_with`]).
pub fn write_output_with(
    target: &Target,
    write: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match target {
        Target::Stdout => sops_io::emit_with(None, write),
        Target::File(path) => sops_io::emit_with(Some(path), write),
    }
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
        let mut mac_only_encrypted = selector_args.mac_only_encrypted;
        let mut selectors = selector_args.selectors().unwrap_or_default();
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

/// `seal encrypt`'s work: encrypts `input` and writes it to `target` as it is emitted.
///
/// `input` is taken and zeroized once parsed, the values are encrypted where they are and the
/// text is never held whole: a large file is not held more times than needed (everything that
/// can fail but writing is done before the first byte).
pub fn encrypt_to(
    input: Vec<u8>,
    file: &SopsFile,
    key_args: &KeyArgs,
    selector_args: &SelectorArgs,
    target: &Target,
) -> anyhow::Result<()> {
    let formats = file.formats;
    if formats.input == Format::Yaml && formats.output == Format::Yaml {
        let mut input = Zeroizing::new(input);
        if PlainFile::yaml_tree_exceeds_budget(&input)
            && let Some(stream) = PlainFile::streamable_yaml(&input)
        {
            // Checked whole first: every error but writing comes before the first byte.
            let plan = Plan::build(&file.rules_name, &file.config, key_args, selector_args)?;
            let data_key = DataKey::generate();
            let metadata = plan
                .metadata(&data_key)
                .with_context(|| file.path.display().to_string())?;
            return write_output_with(target, |w| {
                let streamed =
                    match stream.encrypt_to(&data_key, metadata.clone(), &formats.options, w) {
                        // Kept as the cause: a closed pipe (`| head`) is recognised as such.
                        Err(e @ sops::Error::Write(_)) => return Err(anyhow::Error::new(e)),
                        other => with_file(&file.path, other)?,
                    };
                if streamed {
                    return Ok(());
                }
                let plain = with_file(&file.path, PlainFile::parse(&input, formats.input))?;
                let encrypted = with_file(&file.path, plain.into_encrypted(&data_key, metadata))?;
                Ok(encrypted.write_with(formats.output, &formats.options, w)?)
            });
        }
        let data_key = DataKey::generate();
        if input.len() <= ENCRYPTED_IN_MEMORY
            && !input.contains(&b'#')
            && let Ok(plan) = Plan::build(&file.rules_name, &file.config, key_args, selector_args)
            && let Ok(metadata) = plan.metadata(&data_key)
        {
            // One read without a tree into memory, written once whole. Keys that fail, or a
            // file that needs a tree, go through the tree, which reports the file's errors
            // first.
            let opts = &formats.options;
            if let Some(bytes) = PlainFile::encrypt_yaml(&input, &data_key, metadata.clone(), opts)
            {
                return write_output(target, &bytes);
            }
            let plain = parse_plain(std::mem::take(&mut *input), file)?;
            let encrypted = with_file(&file.path, plain.into_encrypted(&data_key, metadata))?;
            return write_output_with(target, |w| {
                Ok(encrypted.write_with(formats.output, opts, w)?)
            });
        }
        let input = std::mem::take(&mut *input);
        return encrypt_tree(input, file, key_args, selector_args, target);
    }
    encrypt_tree(input, file, key_args, selector_args, target)
}

/// The largest YAML file `seal encrypt` encrypts in memory (text and output held whole, about
/// 3.5× the file): faster than a tree, within the memory budget of 3× the file + 32 MiB.
const ENCRYPTED_IN_MEMORY: usize = 16 << 20;

/// [`encrypt_to`] through a tree of the whole file.
fn encrypt_tree(
    input: Vec<u8>,
    file: &SopsFile,
    key_args: &KeyArgs,
    selector_args: &SelectorArgs,
    target: &Target,
) -> anyhow::Result<()> {
    let encrypted = encrypt_input(input, file, key_args, selector_args)?;
    write_output_with(target, |w| {
        Ok(encrypted.write_with(file.formats.output, &file.formats.options, w)?)
    })
}

fn encrypt_input(
    input: Vec<u8>,
    file: &SopsFile,
    key_args: &KeyArgs,
    selector_args: &SelectorArgs,
) -> anyhow::Result<EncryptedFile> {
    let plain = parse_plain(input, file)?;
    let plan = Plan::build(&file.rules_name, &file.config, key_args, selector_args)?;
    let data_key = DataKey::generate();
    let metadata = plan
        .metadata(&data_key)
        .with_context(|| file.path.display().to_string())?;
    with_file(&file.path, plain.into_encrypted(&data_key, metadata))
}

/// `input` read as a cleartext file to encrypt (zeroized once parsed).
fn parse_plain(input: Vec<u8>, file: &SopsFile) -> anyhow::Result<PlainFile> {
    let format = file.formats.input;
    let plain = with_file(
        &file.path,
        PlainFile::parse_owned(Zeroizing::new(input), format),
    )?;
    // A top-level `sops` key (dotenv: `sops_*`) means the file is encrypted already, as sops
    // finds by loading it as an encrypted file.
    if plain.has_sops_metadata(format) {
        anyhow::bail!("{}: {}", file.path.display(), sops::Error::AlreadyEncrypted);
    }
    Ok(plain)
}

/// A decrypted SOPS file with its data key, ready to be changed and re-sealed.
pub struct Opened {
    path: PathBuf,
    formats: Formats,
    encrypted: EncryptedFile,
    plain: Option<PlainFile>,
    data_key: DataKey,
    /// The IVs of its values, when opened to be rewritten.
    stash: Option<IvStash>,
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
        let data_key = unwrap_key(&encrypted, path, with)?;
        Ok((encrypted, data_key))
    }

    /// Parses, unwraps and decrypts `input`, which is zeroized once parsed (a large file is
    /// not held as text while it is decrypted).
    fn decrypt_owned(
        input: Vec<u8>,
        key: Option<DataKey>,
        file: &SopsFile,
        ignore_mac: bool,
        purpose: Purpose,
    ) -> anyhow::Result<Self> {
        let encrypted = with_file(
            &file.path,
            EncryptedFile::parse_owned(Zeroizing::new(input), file.formats.input),
        )?;
        let data_key = match key {
            Some(key) => key,
            None => unwrap_key(&encrypted, &file.path, &Unwrappers::from_process_env())?,
        };
        Self::decrypt_parsed(
            encrypted,
            data_key,
            &file.path,
            file.formats,
            ignore_mac,
            purpose,
        )
    }

    fn decrypt_parsed(
        mut encrypted: EncryptedFile,
        data_key: DataKey,
        path: &Path,
        formats: Formats,
        ignore_mac: bool,
        purpose: Purpose,
    ) -> anyhow::Result<Self> {
        let check = MacCheck::unless_ignored(ignore_mac);
        // The encrypted values are not needed again (only the metadata is): move them.
        let (plain, stash) = match purpose {
            Purpose::Read => (encrypted.take_decrypted(&data_key, check), None),
            Purpose::Rewrite => {
                let mut stash = IvStash::new();
                let plain = encrypted.take_decrypted_keeping_ivs(&data_key, check, &mut stash);
                (plain, Some(stash))
            }
        };
        Ok(Self {
            path: path.to_owned(),
            formats,
            encrypted,
            plain: Some(with_file(path, plain)?),
            data_key,
            stash,
        })
    }

    /// Parses, unwraps the data key and decrypts every value (checking the MAC unless
    /// `ignore_mac`), with the keys given (identities loaded once for many files, or from an
    /// environment other than the process's).
    pub fn decrypt_with(
        input: &[u8],
        path: &Path,
        formats: Formats,
        ignore_mac: bool,
        with: &Unwrappers,
    ) -> anyhow::Result<Self> {
        let (encrypted, data_key) = Self::parse_and_unwrap(input, path, formats, with)?;
        Self::decrypt_parsed(
            encrypted,
            data_key,
            path,
            formats,
            ignore_mac,
            Purpose::Read,
        )
    }

    /// The decrypted documents.
    pub fn plain(&self) -> anyhow::Result<&PlainFile> {
        self.plain
            .as_ref()
            .context("internal error: the file was opened without decrypting it")
    }

    fn plain_mut(&mut self) -> anyhow::Result<&mut PlainFile> {
        self.plain
            .as_mut()
            .context("internal error: the file was opened without decrypting it")
    }

    /// The file's data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The cleartext in the output store.
    pub fn plaintext_bytes(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(with_file(
            &self.path,
            self.plain()?
                .to_bytes_with(self.formats.output, &self.formats.options),
        )?))
    }

    /// Ends a command that exits next: the cleartext is zeroized and its memory left to the
    /// operating system (see [`PlainFile::zeroize_and_leak`]).
    pub fn finish(mut self) {
        if let Some(plain) = self.plain.take() {
            plain.zeroize_and_leak();
        }
    }

    /// [`Opened::plaintext_bytes`] written to `sink` as it is emitted (not held whole).
    pub fn write_plaintext(&self, sink: &mut dyn std::io::Write) -> anyhow::Result<()> {
        match self
            .plain()?
            .write_with(self.formats.output, &self.formats.options, sink)
        {
            // Kept as the cause: a closed pipe (`| head`) is recognised as such by the caller.
            Err(e @ sops::Error::Write(_)) => Err(anyhow::Error::new(e)),
            other => with_file(&self.path, other),
        }
    }

    /// `--extract`: a string value raw, anything else in the output store.
    pub fn extract(&self, path: &TreePath) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(with_file(
            &self.path,
            self.plain()?.extract(path, self.formats.output),
        )?))
    }

    /// `set`: returns whether anything changed.
    pub fn set(&mut self, path: &TreePath, value: sops::Value) -> anyhow::Result<bool> {
        let file = self.path.clone();
        with_file(&file, self.plain_mut()?.set(path, value))
    }

    /// `unset`: returns whether something was removed (an absent path is an error unless
    /// `idempotent`).
    pub fn unset(&mut self, path: &TreePath, idempotent: bool) -> anyhow::Result<bool> {
        let file = self.path.clone();
        match self.plain_mut()?.unset(path) {
            Ok(()) => Ok(true),
            Err(_) if idempotent => Ok(false),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", file.display())),
        }
    }

    /// Re-encrypts `plain` (edited documents of this file) where it is: only changed values,
    /// `lastmodified` and `mac` change when the file was opened to be rewritten.
    pub fn seal_owned(&self, plain: PlainFile) -> anyhow::Result<Vec<u8>> {
        let encrypted = self.encrypt_owned(plain)?;
        with_file(
            &self.path,
            encrypted.to_bytes_with(self.formats.output, &self.formats.options),
        )
    }

    fn encrypt_owned(&self, plain: PlainFile) -> anyhow::Result<EncryptedFile> {
        let metadata = self.encrypted.metadata().clone();
        let encrypted = match &self.stash {
            Some(stash) => plain.into_encrypted_reusing_ivs(&self.data_key, metadata, stash),
            None => plain.into_encrypted(&self.data_key, metadata),
        };
        with_file(&self.path, encrypted)
    }

    /// Re-encrypts the decrypted documents where they are (set, unset: no copy of the tree)
    /// and replaces the file atomically as the text is emitted.
    pub fn reseal_to_file(mut self) -> anyhow::Result<()> {
        let plain = self
            .plain
            .take()
            .context("internal error: the file was opened without decrypting it")?;
        let encrypted = self.encrypt_owned(plain)?;
        crate::fsio::write_atomic_with(&self.path, |w| {
            Ok(encrypted.write_with(self.formats.output, &self.formats.options, w)?)
        })
    }

    /// New data key, every value re-encrypted, keys re-wrapped (rotate). `add` joins the
    /// first key group; keys of `remove` leave every group (matched by their sops
    /// identifier, as sops does).
    pub fn rotate(&mut self, add: &KeyFlags, remove: &KeyFlags) -> anyhow::Result<Vec<u8>> {
        let change = RotatedKeys::of(self.encrypted.metadata(), &self.path, add, remove)?;
        let data_key = DataKey::generate();
        let mut metadata = self.encrypted.metadata().clone();
        let threshold = metadata.shamir_threshold;
        metadata.set_key_groups(master_keys::wrap_data_key(
            &change.groups,
            threshold,
            &data_key,
        )?);
        let encrypted = with_file(&self.path, self.plain()?.encrypt(&data_key, metadata))?;
        self.data_key = data_key;
        with_file(
            &self.path,
            encrypted.to_bytes_with(self.formats.output, &self.formats.options),
        )
    }

    /// Top-level values as environment variables (exec-env, sops `ValToString`).
    pub fn env_vars(&self) -> anyhow::Result<Vec<(String, Zeroizing<String>)>> {
        let mut vars = Vec::new();
        let Some(doc) = self.plain()?.documents().first() else {
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

    /// What updating `metadata`'s keys to this plan changes, as sops's `updatekeys` shows it
    /// (`Group N`, `    key`, `+++ key`, `--- key`); `None` when nothing would change.
    pub fn key_change(self, metadata: &Metadata) -> anyhow::Result<Option<KeyChange>> {
        let old: Vec<Vec<String>> = KeyBuilder::from_process_env()
            .groups_of(metadata)?
            .iter()
            .map(|g| g.iter().map(|k| k.id().to_owned()).collect())
            .collect();
        let new: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|g| g.iter().map(|k| k.id().to_owned()).collect())
            .collect();
        let threshold_for_file = self.threshold_for_file();
        if old == new && metadata.shamir_threshold == threshold_for_file {
            return Ok(None);
        }
        let mut lines = Vec::new();
        let (mut added, mut removed) = (0, 0);
        for (index, group) in new.iter().enumerate() {
            let before = old.get(index).cloned().unwrap_or_default();
            lines.push(format!("Group {}", index + 1));
            for key in group {
                if before.contains(key) {
                    lines.push(format!("    {key}"));
                } else {
                    added += 1;
                    lines.push(format!("+++ {key}"));
                }
            }
            for key in &before {
                if !group.contains(key) {
                    removed += 1;
                    lines.push(format!("--- {key}"));
                }
            }
        }
        for (index, group) in old.iter().enumerate().skip(new.len()) {
            lines.push(format!("Group {} (removed)", index + 1));
            for key in group {
                removed += 1;
                lines.push(format!("--- {key}"));
            }
        }
        Ok(Some(KeyChange {
            groups: self.groups,
            threshold: self.threshold,
            threshold_for_file,
            lines,
            added,
            removed,
        }))
    }
}

/// The key groups a file gets from `updatekeys` ([`Plan::key_change`]).
pub struct KeyChange {
    groups: Vec<MasterKeyGroup>,
    threshold: usize,
    threshold_for_file: usize,
    /// The change as sops prints it.
    pub lines: Vec<String>,
    /// How many recipients join.
    pub added: usize,
    /// How many recipients leave.
    pub removed: usize,
}

impl KeyChange {
    /// Wraps `data_key` for the new groups and puts them in `encrypted`'s metadata; the values
    /// are untouched (same data key).
    pub fn apply(&self, encrypted: &mut EncryptedFile, data_key: &DataKey) -> anyhow::Result<()> {
        let wrapped = master_keys::wrap_data_key(&self.groups, self.threshold, data_key)?;
        let metadata = encrypted.metadata_mut();
        metadata.set_key_groups(wrapped);
        metadata.shamir_threshold = self.threshold_for_file;
        Ok(())
    }
}

/// The key groups `rotate` gives a file: `add` joins the first group, keys of `remove` leave
/// every group (matched by their sops identifier, as sops does).
pub struct RotatedKeys {
    groups: Vec<MasterKeyGroup>,
    /// Identifiers of the keys that join.
    pub added: Vec<String>,
    /// Identifiers of the keys that leave.
    pub removed: Vec<String>,
}

impl RotatedKeys {
    /// The groups of `metadata` with `add` and `remove` applied; an emptied group is an error.
    pub fn of(
        metadata: &Metadata,
        path: &Path,
        add: &KeyFlags,
        remove: &KeyFlags,
    ) -> anyhow::Result<Self> {
        let builder = KeyBuilder::from_process_env();
        let mut groups = builder.groups_of(metadata)?;
        if groups.is_empty() {
            groups.push(Vec::new());
        }
        let to_remove: Vec<String> = builder
            .group_from_flags(remove)?
            .iter()
            .map(|k| k.id().to_owned())
            .collect();
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        for key in builder.group_from_flags(add)? {
            if !groups[0].iter().any(|k| k.id() == key.id()) {
                added.push(key.id().to_owned());
                groups[0].push(key);
            }
        }
        for group in &mut groups {
            group.retain(|k| {
                let leaves = to_remove.iter().any(|r| r == k.id());
                if leaves {
                    removed.push(k.id().to_owned());
                }
                !leaves
            });
        }
        if let Some(index) = groups.iter().position(Vec::is_empty) {
            anyhow::bail!(
                "{}: removing those keys leaves key group {} empty",
                path.display(),
                index + 1
            );
        }
        Ok(Self {
            groups,
            added,
            removed,
        })
    }
}

/// Unwraps the data key of a parsed file with `with` (the path names the file in errors; the
/// key error's causes, a refused connection or a TLS failure, stay in the chain).
pub fn unwrap_key(
    encrypted: &EncryptedFile,
    path: &Path,
    with: &Unwrappers,
) -> anyhow::Result<DataKey> {
    master_keys::unwrap_data_key(encrypted.metadata(), with)
        .map_err(|e| anyhow::Error::new(e).context(path.display().to_string()))
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
    /// A YAML file decrypted without a tree: what re-encrypting its edit needs.
    Streamed(Box<StreamedEdit>),
    New(Box<Plan>),
}

/// A file's text left to a tree, with its data key if it was unwrapped already.
type ForTree = (Vec<u8>, Option<DataKey>);

/// A YAML file decrypted without a tree for `seal edit`: its text, data key and what
/// re-encrypting the edit needs.
struct StreamedEdit {
    original: Vec<u8>,
    data_key: DataKey,
    edit: sops::YamlEdit,
}

impl StreamedEdit {
    /// Decrypts `input` without a tree; `Err` when it needs one (see
    /// [`SopsFile::decrypt_streamed`]), with the data key if it was unwrapped.
    fn open(
        file: &SopsFile,
        input: Vec<u8>,
        ignore_mac: bool,
    ) -> Result<(Self, Zeroizing<Vec<u8>>), ForTree> {
        let Some((stream, data_key)) = file.streamable(&input) else {
            return Err((input, None));
        };
        let mac = MacCheck::unless_ignored(ignore_mac);
        match stream.decrypt_for_edit(&data_key, mac, &file.formats.options) {
            Some((plaintext, edit)) => Ok((
                Self {
                    original: input,
                    data_key,
                    edit,
                },
                plaintext,
            )),
            None => Err((input, Some(data_key))),
        }
    }

    /// The edited cleartext encrypted again (unchanged values keep their ciphertext): one
    /// changed value spliced into the file, else without a tree when the text allows, else
    /// through one.
    fn seal<'s>(
        &'s self,
        cleartext: &[u8],
        edited: &[u8],
        path: &Path,
        formats: Formats,
    ) -> anyhow::Result<Resealed<'s>> {
        let (key, opts) = (&self.data_key, &formats.options);
        match self
            .edit
            .encrypt(&self.original, cleartext, edited, key, opts)
        {
            Some(sops::Reencrypted::Spliced(spliced)) => return Ok(Resealed::Spliced(spliced)),
            Some(sops::Reencrypted::Text(bytes)) => return Ok(Resealed::Text(bytes)),
            None => {}
        }
        let plain = with_file(path, PlainFile::parse(edited, formats.output))?;
        let metadata = self.edit.metadata().clone();
        let stash = self.edit.stash(&self.original);
        let encrypted = with_file(path, plain.into_encrypted_reusing_ivs(key, metadata, stash))?;
        Ok(Resealed::Text(with_file(
            path,
            encrypted.to_bytes_with(formats.output, opts),
        )?))
    }
}

/// An edited file encrypted again, to be written ([`EditSource::seal`]).
pub enum Resealed<'s> {
    /// The encrypted text.
    Text(Vec<u8>),
    /// One value changed: the original text with that value replaced.
    Spliced(sops::Spliced<'s>),
}

impl Resealed<'_> {
    /// Replaces `path` with the encrypted file, atomically.
    pub fn write_to_file(self, path: &Path) -> anyhow::Result<()> {
        match self {
            Resealed::Text(bytes) => crate::fsio::write_atomic(path, &bytes),
            Resealed::Spliced(spliced) => {
                crate::fsio::write_atomic_with(path, |w| with_file(path, spliced.write_to(w)))
            }
        }
    }
}

/// sops's example document for a new file.
const EXAMPLE_YAML: &str = "hello: Welcome to SOPS! Edit this file as you please!\nexample_key: example_value\n# Example comment\nexample_array:\n    - example_value1\n    - example_value2\nexample_number: 1234.5678\nexample_booleans:\n    - true\n    - false\n";

/// Opens FILE for `seal edit` (a missing FILE starts from sops's example document).
pub fn open_for_edit(
    file: &SopsFile,
    key_args: &KeyArgs,
    selector_args: &SelectorArgs,
    ignore_mac: bool,
) -> anyhow::Result<EditSource> {
    let formats = file.formats;
    if file.path.exists() {
        let (input, key) = match StreamedEdit::open(file, file.read()?, ignore_mac) {
            Ok((streamed, plaintext)) => {
                return Ok(EditSource {
                    plaintext,
                    kind: EditKind::Streamed(Box::new(streamed)),
                    path: file.path.clone(),
                    formats,
                });
            }
            Err(tree) => tree,
        };
        let opened = file.open_bytes(input, key, ignore_mac, Purpose::Rewrite)?;
        let plaintext = opened.plaintext_bytes()?;
        Ok(EditSource {
            plaintext,
            kind: EditKind::Existing(Box::new(opened)),
            path: file.path.clone(),
            formats,
        })
    } else {
        let plan = Plan::build(&file.rules_name, &file.config, key_args, selector_args)?;
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
            path: file.path.clone(),
            formats,
        })
    }
}

impl EditSource {
    /// Zeroizes the cleartext and what was kept to re-encrypt it, then frees them (a large
    /// file's buffers: only the bytes written are zeroized, see [`sops::zeroize_appended`]).
    pub fn finish(mut self) {
        if let EditKind::Streamed(streamed) = self.kind {
            sops::zeroize_appended(&mut self.plaintext);
            streamed.edit.finish();
        }
    }

    /// The cleartext to put in the editor.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// Whether FILE does not exist yet.
    pub fn is_new(&self) -> bool {
        matches!(self.kind, EditKind::New(_))
    }

    /// Encrypts the edited cleartext: for an existing file, same data key and keys, and the
    /// values the edit left alone keep their ciphertext.
    pub fn seal(&self, edited: &[u8]) -> anyhow::Result<Resealed<'_>> {
        let parse = || with_file(&self.path, PlainFile::parse(edited, self.formats.output));
        match &self.kind {
            EditKind::Streamed(streamed) => {
                streamed.seal(&self.plaintext, edited, &self.path, self.formats)
            }
            EditKind::Existing(opened) => Ok(Resealed::Text(opened.seal_owned(parse()?)?)),
            EditKind::New(plan) => {
                let plain = parse()?;
                let data_key = DataKey::generate();
                let metadata = plan.metadata(&data_key)?;
                let encrypted = with_file(&self.path, plain.encrypt(&data_key, metadata))?;
                Ok(Resealed::Text(with_file(
                    &self.path,
                    encrypted.to_bytes_with(self.formats.output, &self.formats.options),
                )?))
            }
        }
    }
}
