//! `.sops.yaml`: creation rules (getsops/sops `config/config.go`, v3.11.0).
//!
//! The config file is `.sops.yaml` (sops warns about, and ignores, `.sops.yml`). sops looks
//! for it from the working directory upwards; sealkit first walks up from the file being
//! encrypted, then from the working directory, so both layouts find the same file.
//!
//! The first `creation_rules` entry whose `path_regex` matches decides (a rule without
//! `path_regex` matches everything). The path matched is the absolute path of the file with
//! the config file's directory and a `/` removed from its front, as sops does.
//! Key lists accept a comma-separated string or a YAML list. `key_groups` (with `merge`)
//! replaces the flat key lists when present.
//!
//! The file is read by [`crate::yaml::from_str`]: YAML merge keys resolve as in sops
//! (`key_groups: [{<<: *hosts}]`, `<<: [*users, *hosts]`), duplicate keys and hostile aliases
//! or nesting are refused. `hckms` keys are read so that a rule naming them fails with
//! "hckms is not supported" when it is used, instead of being dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

/// The config file name sops reads.
pub const CONFIG_FILE_NAME: &str = ".sops.yaml";
/// How many parent directories sops climbs at most.
const MAX_DEPTH: usize = 100;

/// Errors of `.sops.yaml` handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("reading {path}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape.
    #[error("{path}: malformed sops config: {reason}")]
    Malformed {
        /// The config file.
        path: PathBuf,
        /// What is wrong (from the YAML parser, with line and column).
        reason: String,
    },
    /// A rule is invalid.
    #[error("{path}: creation_rules[{index}]: {reason}")]
    InvalidRule {
        /// The config file.
        path: PathBuf,
        /// 0-based rule index.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// No rule matches the file.
    #[error("{path}: no creation rule matches {file}")]
    NoMatchingRule {
        /// The config file.
        path: PathBuf,
        /// The path that was matched against the rules.
        file: String,
    },
}

/// Result of config handling.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A parsed `.sops.yaml`.
#[derive(Debug, Clone)]
pub struct SopsConfig {
    path: PathBuf,
    creation_rules: Vec<CreationRule>,
    stores: StoresConfig,
}

/// The `stores:` section (output formatting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoresConfig {
    /// `stores.yaml.indent`.
    pub yaml_indent: Option<usize>,
    /// `stores.json.indent`.
    pub json_indent: Option<i64>,
    /// `stores.json_binary.indent`.
    pub json_binary_indent: Option<i64>,
}

/// One entry of `creation_rules`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreationRule {
    /// `path_regex` (`None` matches every file).
    pub path_regex: Option<Regex>,
    /// The key groups: from `key_groups`, or one group made of the flat key lists.
    pub key_groups: Vec<RuleKeyGroup>,
    /// `shamir_threshold` (0 = not set).
    pub shamir_threshold: usize,
    /// `unencrypted_suffix`.
    pub unencrypted_suffix: Option<String>,
    /// `encrypted_suffix`.
    pub encrypted_suffix: Option<String>,
    /// `unencrypted_regex`.
    pub unencrypted_regex: Option<String>,
    /// `encrypted_regex`.
    pub encrypted_regex: Option<String>,
    /// `unencrypted_comment_regex`.
    pub unencrypted_comment_regex: Option<String>,
    /// `encrypted_comment_regex`.
    pub encrypted_comment_regex: Option<String>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// The master keys of one key group, as written in the config (not yet parsed as keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleKeyGroup {
    /// age recipients (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
    pub age: Vec<String>,
    /// PGP fingerprints.
    pub pgp: Vec<String>,
    /// AWS KMS keys.
    pub kms: Vec<KmsRuleKey>,
    /// GCP KMS resource IDs.
    pub gcp_kms: Vec<String>,
    /// Azure Key Vault keys.
    pub azure_kv: Vec<AzureKvRuleKey>,
    /// Vault transit URIs (`https://vault/v1/transit/keys/NAME`).
    pub hc_vault: Vec<String>,
    /// Huawei Cloud KMS key IDs (`hckms`): read so that using them fails clearly.
    pub hckms: Vec<String>,
}

impl RuleKeyGroup {
    /// Whether the group names no key at all.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty()
            && self.pgp.is_empty()
            && self.kms.is_empty()
            && self.gcp_kms.is_empty()
            && self.azure_kv.is_empty()
            && self.hc_vault.is_empty()
            && self.hckms.is_empty()
    }
}

/// An AWS KMS key of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KmsRuleKey {
    /// Key ARN (may carry `+role_arn`).
    pub arn: String,
    /// IAM role to assume.
    pub role: Option<String>,
    /// Encryption context.
    pub context: BTreeMap<String, String>,
    /// AWS profile.
    pub aws_profile: Option<String>,
}

/// An Azure Key Vault key of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AzureKvRuleKey {
    /// `https://NAME.vault.azure.net`.
    pub vault_url: String,
    /// Key name.
    pub key: String,
    /// Key version (empty = latest).
    pub version: String,
}

// ---- raw serde shapes -------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default)]
    creation_rules: Option<Vec<RawRule>>,
    #[serde(default)]
    stores: Option<RawStores>,
}

#[derive(Deserialize, Default)]
struct RawStores {
    #[serde(default)]
    yaml: Option<RawIndent>,
    #[serde(default)]
    json: Option<RawIndent>,
    #[serde(default)]
    json_binary: Option<RawIndent>,
}

#[derive(Deserialize, Default)]
struct RawIndent {
    #[serde(default)]
    indent: Option<i64>,
}

/// A string (comma-separated) or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    fn into_vec(self) -> Vec<String> {
        match self {
            KeyList::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            KeyList::Many(v) => v,
        }
    }
}

#[derive(Deserialize, Default)]
struct RawRule {
    path_regex: Option<String>,
    kms: Option<KeyList>,
    aws_profile: Option<String>,
    age: Option<KeyList>,
    pgp: Option<KeyList>,
    gcp_kms: Option<KeyList>,
    azure_keyvault: Option<KeyList>,
    hc_vault_transit_uri: Option<KeyList>,
    hckms: Option<KeyList>,
    #[serde(default)]
    key_groups: Vec<RawKeyGroup>,
    #[serde(default)]
    shamir_threshold: usize,
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<String>,
    encrypted_regex: Option<String>,
    unencrypted_comment_regex: Option<String>,
    encrypted_comment_regex: Option<String>,
    #[serde(default)]
    mac_only_encrypted: bool,
}

#[derive(Deserialize, Default)]
struct RawKeyGroup {
    #[serde(default)]
    merge: Vec<RawKeyGroup>,
    #[serde(default)]
    kms: Vec<RawKms>,
    #[serde(default)]
    gcp_kms: Vec<RawGcp>,
    #[serde(default)]
    azure_keyvault: Vec<RawAzure>,
    #[serde(default)]
    hc_vault: Vec<String>,
    #[serde(default)]
    hckms: Vec<RawHcKms>,
    #[serde(default)]
    age: Vec<String>,
    #[serde(default)]
    pgp: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawHcKms {
    #[serde(default)]
    key_id: String,
}

#[derive(Deserialize, Default)]
struct RawKms {
    #[serde(default)]
    arn: String,
    role: Option<String>,
    #[serde(default)]
    context: BTreeMap<String, Option<String>>,
    aws_profile: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawGcp {
    #[serde(default)]
    resource_id: String,
}

#[derive(Deserialize, Default)]
struct RawAzure {
    #[serde(default, rename = "vaultUrl")]
    vault_url: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    version: String,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn flatten_group(raw: RawKeyGroup, into: &mut RuleKeyGroup) {
    for sub in raw.merge {
        flatten_group(sub, into);
    }
    // An `age` entry may itself be a comma-separated list (sops MasterKeysFromRecipients).
    for entry in raw.age {
        for key in entry.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            push_unique(&mut into.age, key.to_owned());
        }
    }
    for key in raw.pgp {
        push_unique(&mut into.pgp, key);
    }
    for k in raw.kms {
        let key = KmsRuleKey {
            arn: k.arn,
            role: non_empty(k.role),
            context: k
                .context
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            aws_profile: non_empty(k.aws_profile),
        };
        push_unique(&mut into.kms, key);
    }
    for k in raw.gcp_kms {
        push_unique(&mut into.gcp_kms, k.resource_id);
    }
    for k in raw.azure_keyvault {
        push_unique(
            &mut into.azure_kv,
            AzureKvRuleKey {
                vault_url: k.vault_url,
                key: k.key,
                version: k.version,
            },
        );
    }
    for k in raw.hc_vault {
        push_unique(&mut into.hc_vault, k);
    }
    for k in raw.hckms {
        push_unique(&mut into.hckms, k.key_id);
    }
}

// sops deduplicates each key group (config.deduplicateKeygroup).
fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

impl SopsConfig {
    /// Parses config text; `path` names the file in errors and anchors relative matching.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            crate::yaml::from_str(text).map_err(|e| Error::Malformed {
                path: path.to_owned(),
                reason: e.to_string(),
            })?
        };
        let mut creation_rules = Vec::new();
        for (index, rule) in raw
            .creation_rules
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            creation_rules.push(Self::build_rule(rule, path, index)?);
        }
        let stores = raw.stores.unwrap_or_default();
        let indent = |i: Option<RawIndent>| i.and_then(|i| i.indent);
        let yaml_indent = indent(stores.yaml);
        Ok(Self {
            path: path.to_owned(),
            creation_rules,
            stores: StoresConfig {
                yaml_indent: yaml_indent.and_then(|i| usize::try_from(i).ok()),
                json_indent: indent(stores.json),
                json_binary_indent: indent(stores.json_binary),
            },
        })
    }

    fn build_rule(rule: RawRule, path: &Path, index: usize) -> Result<CreationRule> {
        let invalid = |reason: String| Error::InvalidRule {
            path: path.to_owned(),
            index,
            reason,
        };
        let path_regex = match non_empty(rule.path_regex) {
            Some(src) => Some(
                Regex::new(&src)
                    .map_err(|e| invalid(format!("invalid path_regex `{src}`: {e}")))?,
            ),
            None => None,
        };
        let selectors = [
            &rule.unencrypted_suffix,
            &rule.encrypted_suffix,
            &rule.unencrypted_regex,
            &rule.encrypted_regex,
            &rule.unencrypted_comment_regex,
            &rule.encrypted_comment_regex,
        ];
        if selectors
            .iter()
            .filter(|s| s.as_deref().is_some_and(|s| !s.is_empty()))
            .count()
            > 1
        {
            return Err(invalid(
                "cannot use more than one of encrypted_suffix, unencrypted_suffix, \
                 encrypted_regex, unencrypted_regex, encrypted_comment_regex, or \
                 unencrypted_comment_regex"
                    .to_owned(),
            ));
        }
        for (name, regex) in [
            ("unencrypted_regex", &rule.unencrypted_regex),
            ("encrypted_regex", &rule.encrypted_regex),
            ("unencrypted_comment_regex", &rule.unencrypted_comment_regex),
            ("encrypted_comment_regex", &rule.encrypted_comment_regex),
        ] {
            if let Some(src) = regex.as_deref().filter(|s| !s.is_empty()) {
                Regex::new(src).map_err(|e| invalid(format!("invalid {name} `{src}`: {e}")))?;
            }
        }
        let key_groups = if rule.key_groups.is_empty() {
            let list = |l: Option<KeyList>| l.map(KeyList::into_vec).unwrap_or_default();
            let mut group = RuleKeyGroup::default();
            for key in list(rule.age) {
                push_unique(&mut group.age, key);
            }
            group.pgp = list(rule.pgp);
            group.kms = list(rule.kms)
                .into_iter()
                .map(|arn| KmsRuleKey {
                    arn,
                    aws_profile: non_empty(rule.aws_profile.clone()),
                    ..KmsRuleKey::default()
                })
                .collect();
            group.gcp_kms = list(rule.gcp_kms);
            group.azure_kv = list(rule.azure_keyvault)
                .into_iter()
                .map(|url| {
                    parse_azure_url(&url)
                        .ok_or_else(|| invalid(format!("invalid azure_keyvault key `{url}`")))
                })
                .collect::<Result<_>>()?;
            group.hc_vault = list(rule.hc_vault_transit_uri);
            group.hckms = list(rule.hckms);
            vec![group]
        } else {
            rule.key_groups
                .into_iter()
                .map(|raw| {
                    let mut group = RuleKeyGroup::default();
                    flatten_group(raw, &mut group);
                    group
                })
                .collect()
        };
        Ok(CreationRule {
            path_regex,
            key_groups,
            shamir_threshold: rule.shamir_threshold,
            unencrypted_suffix: non_empty(rule.unencrypted_suffix),
            encrypted_suffix: non_empty(rule.encrypted_suffix),
            unencrypted_regex: non_empty(rule.unencrypted_regex),
            encrypted_regex: non_empty(rule.encrypted_regex),
            unencrypted_comment_regex: non_empty(rule.unencrypted_comment_regex),
            encrypted_comment_regex: non_empty(rule.encrypted_comment_regex),
            mac_only_encrypted: rule.mac_only_encrypted,
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = fs_err::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Finds `.sops.yaml` from `file`'s directory upwards, then from `cwd` upwards.
    pub fn find(file: &Path, cwd: &Path) -> Option<PathBuf> {
        let file = if file.is_absolute() {
            file.to_owned()
        } else {
            cwd.join(file)
        };
        let from_file = file.parent().and_then(find_upwards);
        from_file.or_else(|| find_upwards(cwd))
    }

    /// The config file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `stores:` settings.
    pub fn stores(&self) -> &StoresConfig {
        &self.stores
    }

    /// All creation rules in order.
    pub fn creation_rules(&self) -> &[CreationRule] {
        &self.creation_rules
    }

    /// The first rule matching `file` (an absolute path), `Ok(None)` if the config has no
    /// `creation_rules` at all, an error if it has rules and none matches.
    pub fn rule_for(&self, file: &Path) -> Result<Option<&CreationRule>> {
        if self.creation_rules.is_empty() {
            return Ok(None);
        }
        let matched = self.match_path(file);
        self.creation_rules
            .iter()
            .find(|rule| {
                rule.path_regex
                    .as_ref()
                    .is_none_or(|re| re.is_match(&matched))
            })
            .map(Some)
            .ok_or_else(|| Error::NoMatchingRule {
                path: self.path.clone(),
                file: matched,
            })
    }

    /// The string rules are matched against: `file` relative to the config's directory when
    /// it lies below it, else `file` as given.
    pub fn match_path(&self, file: &Path) -> String {
        let file_text = file.to_string_lossy().into_owned();
        let dir = self
            .path
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d.to_owned()
                }
            })
            .and_then(|d| std::path::absolute(d).ok());
        match dir {
            Some(dir) => {
                let prefix = format!("{}{}", dir.display(), std::path::MAIN_SEPARATOR);
                file_text
                    .strip_prefix(&prefix)
                    .map(str::to_owned)
                    .unwrap_or(file_text)
            }
            None => file_text,
        }
    }
}

fn find_upwards(start: &Path) -> Option<PathBuf> {
    let mut dir = start.to_owned();
    for _ in 0..MAX_DEPTH {
        let candidate = dir.join(CONFIG_FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
    None
}

/// `https://NAME.vault.azure.net/keys/KEY/VERSION` (sops `azkv.NewMasterKeyFromURL`).
fn parse_azure_url(url: &str) -> Option<AzureKvRuleKey> {
    let (base, rest) = url.split_once("/keys/")?;
    let mut parts = rest.trim_end_matches('/').split('/');
    let key = parts.next().filter(|k| !k.is_empty())?;
    let version = parts.next().unwrap_or_default();
    Some(AzureKvRuleKey {
        vault_url: base.to_owned(),
        key: key.to_owned(),
        version: version.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
stores:
  yaml:
    indent: 2
creation_rules:
  - path_regex: secrets/prod/.*\.yaml$
    encrypted_regex: ^(data|stringData)$
    key_groups:
      - age: ["age1aaa", "age1bbb,age1ccc"]
        merge:
          - pgp: [ABCD]
            age: [age1aaa]
      - kms:
          - arn: arn:aws:kms:eu-west-1:1:key/x
            role: arn:aws:iam::1:role/r
            context: {app: demo}
        hc_vault: [https://vault:8200/v1/transit/keys/sops]
    shamir_threshold: 2
  - path_regex: \.env$
    age: age1xxx, age1yyy,
    mac_only_encrypted: true
  - age:
      - age1zzz
    hc_vault_transit_uri: https://v/v1/transit/keys/k
"#;

    fn config() -> SopsConfig {
        SopsConfig::parse(CONFIG, Path::new("/repo/.sops.yaml")).unwrap()
    }

    #[test]
    fn first_matching_rule_wins_relative_to_the_config_dir() {
        let config = config();
        let rule = config
            .rule_for(Path::new("/repo/secrets/prod/db.yaml"))
            .unwrap()
            .unwrap();
        assert_eq!(rule.shamir_threshold, 2);
        assert_eq!(rule.encrypted_regex.as_deref(), Some("^(data|stringData)$"));
        assert_eq!(rule.key_groups.len(), 2);
        assert_eq!(rule.key_groups[0].age, ["age1aaa", "age1bbb", "age1ccc"]);
        assert_eq!(rule.key_groups[0].pgp, ["ABCD"]);
        assert_eq!(rule.key_groups[1].kms[0].context["app"], "demo");
        assert_eq!(rule.key_groups[1].hc_vault.len(), 1);

        let env = config.rule_for(Path::new("/repo/a/.env")).unwrap().unwrap();
        assert!(env.mac_only_encrypted);
        assert_eq!(env.key_groups[0].age, ["age1xxx", "age1yyy"]);

        let fallback = config
            .rule_for(Path::new("/repo/other.json"))
            .unwrap()
            .unwrap();
        assert_eq!(fallback.key_groups[0].age, ["age1zzz"]);
        assert_eq!(
            fallback.key_groups[0].hc_vault,
            ["https://v/v1/transit/keys/k"]
        );
        assert_eq!(config.stores().yaml_indent, Some(2));
    }

    #[test]
    fn no_matching_rule_is_an_error_naming_the_file() {
        let config = SopsConfig::parse(
            "creation_rules:\n  - path_regex: ^x$\n    age: age1a\n",
            Path::new("/r/.sops.yaml"),
        )
        .unwrap();
        let err = config.rule_for(Path::new("/r/y.yaml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/r/.sops.yaml: no creation rule matches y.yaml"
        );
        let empty = SopsConfig::parse("", Path::new("/r/.sops.yaml")).unwrap();
        assert!(empty.rule_for(Path::new("/r/y.yaml")).unwrap().is_none());
    }

    #[test]
    fn malformed_config_names_the_path() {
        let err =
            SopsConfig::parse("creation_rules: {oops", Path::new("/r/.sops.yaml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/r/.sops.yaml: malformed sops config: "),
            "{err}"
        );
        let err = SopsConfig::parse(
            "creation_rules:\n  - path_regex: '('\n",
            Path::new("/r/.sops.yaml"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/r/.sops.yaml: creation_rules[0]: invalid path_regex `(`"),
            "{err}"
        );
        let err = SopsConfig::parse(
            "creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: _u\n",
            Path::new("/r/.sops.yaml"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("cannot use more than one of"),
            "{err}"
        );
    }

    #[test]
    fn config_is_found_walking_up_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        fs_err::create_dir_all(&deep).unwrap();
        fs_err::write(dir.path().join("a/.sops.yaml"), "creation_rules: []\n").unwrap();
        let found = SopsConfig::find(&deep.join("f.yaml"), Path::new("/")).unwrap();
        assert_eq!(found, dir.path().join("a/.sops.yaml"));
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            SopsConfig::find(&other.path().join("f.yaml"), &deep).unwrap(),
            dir.path().join("a/.sops.yaml")
        );
    }

    #[test]
    fn merge_keys_in_key_groups_resolve_as_sops_resolves_them() {
        // issue 14: real configs use anchors and merge keys; they were silently dropped.
        let config = SopsConfig::parse(
            r#"
keys:
  users: &users
    age: [age1user]
  hosts: &hosts
    pgp: [ABCD]
defaults: &defaults
  encrypted_regex: ^data$
creation_rules:
  - path_regex: one/
    key_groups:
      - <<: *hosts
  - path_regex: two/
    <<: *defaults
    key_groups:
      - <<: [*users, *hosts]
        age: [age1own]
"#,
            Path::new("/r/.sops.yaml"),
        )
        .unwrap();
        let rules = config.creation_rules();
        assert_eq!(rules[0].key_groups[0].pgp, ["ABCD"]);
        assert_eq!(rules[1].key_groups[0].age, ["age1own"]);
        assert_eq!(rules[1].key_groups[0].pgp, ["ABCD"]);
        assert_eq!(rules[1].encrypted_regex.as_deref(), Some("^data$"));
    }

    #[test]
    fn hckms_keys_are_kept_so_using_them_fails_clearly() {
        let config = SopsConfig::parse(
            "creation_rules:\n  - hckms: [tenant:key]\n  - key_groups:\n      - hckms:\n          - key_id: t:k\n",
            Path::new("/r/.sops.yaml"),
        )
        .unwrap();
        assert_eq!(
            config.creation_rules()[0].key_groups[0].hckms,
            ["tenant:key"]
        );
        assert_eq!(config.creation_rules()[1].key_groups[0].hckms, ["t:k"]);
        assert!(!config.creation_rules()[1].key_groups[0].is_empty());
    }

    #[test]
    fn hostile_configs_fail_with_a_reason() {
        let laughs = crate::budget::billion_laughs();
        let err = SopsConfig::parse(&laughs, Path::new("/r/.sops.yaml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/r/.sops.yaml: malformed sops config: line 3: document contains excessive aliasing"
        );
        let err = SopsConfig::parse(
            "creation_rules:\n  - age: a\n    age: b\n",
            Path::new("/r/.sops.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/r/.sops.yaml: malformed sops config: line 3: mapping key \"age\" already defined"
        );
    }

    #[test]
    fn azure_urls_split_into_vault_key_and_version() {
        let key = parse_azure_url("https://v.vault.azure.net/keys/k/123").unwrap();
        assert_eq!((key.key.as_str(), key.version.as_str()), ("k", "123"));
    }
}
