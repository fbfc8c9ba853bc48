//! The one place master keys are built: from command-line flags (and the `SOPS_*` variables
//! that stand in for them), from `.sops.yaml` rules, and from a file's metadata.
//!
//! Flag spellings and parsing follow sops 3.11 (`cmd/sops/main.go` `keyGroups`,
//! `getMasterKeys`): comma-separated lists, `--kms ARN[+ROLE]`, `--encryption-context
//! k:v,k2:v2` and `--aws-profile` for the KMS keys given with them. Network keys are made
//! usable by the builder's [`RemoteKeys`]; without one they are [`RemoteKey`]s that keep
//! their metadata and fail when used.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::age::AgeRecipient;
use super::env::KeyEnv;
use super::error::{Error, Result};
use super::groups::MasterKeyGroup;
use super::master::{MasterKey, UnsupportedKey};
use super::pgp::PgpKey;
use super::remote::{
    AwsKmsKeyRef, AzureKvKeyRef, GcpKmsKeyRef, RemoteKey, RemoteKeys, VaultKeyRef,
    installed_remote_keys,
};
use crate::sops::rules::RuleKeyGroup;
use crate::sops::{KeyKind, MasterKeyStanza, Metadata};

/// Master keys as text, one comma-separated list per kind, as `--age`, `--pgp`, `--kms`,
/// `--gcp-kms`, `--azure-kv` and `--hc-vault-transit` (or `--add-*`/`--rm-*`) give them.
#[derive(Debug, Clone, Default)]
pub struct KeyFlags {
    /// age recipients.
    pub age: Option<String>,
    /// PGP fingerprints.
    pub pgp: Option<String>,
    /// AWS KMS ARNs, each optionally `+ROLE_ARN`.
    pub kms: Option<String>,
    /// GCP KMS resource IDs.
    pub gcp_kms: Option<String>,
    /// Azure Key Vault key URLs.
    pub azure_kv: Option<String>,
    /// Vault transit key URIs.
    pub hc_vault_transit: Option<String>,
    /// `--aws-profile` for the `kms` keys.
    pub aws_profile: Option<String>,
    /// `--encryption-context` for the `kms` keys (`k:v,k2:v2`).
    pub encryption_context: Option<String>,
}

impl KeyFlags {
    /// Whether any key is named.
    pub fn any(&self) -> bool {
        [
            &self.age,
            &self.pgp,
            &self.kms,
            &self.gcp_kms,
            &self.azure_kv,
            &self.hc_vault_transit,
        ]
        .iter()
        .any(|k| k.as_deref().is_some_and(|k| !k.trim().is_empty()))
    }
}

fn split(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Builds master keys that read credentials from one environment snapshot.
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    env: Arc<KeyEnv>,
    remote: Option<Arc<dyn RemoteKeys>>,
}

impl Default for KeyBuilder {
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl KeyBuilder {
    /// Keys reading `env`; network keys through the process's installed [`RemoteKeys`].
    pub fn new(env: Arc<KeyEnv>) -> Self {
        Self {
            env,
            remote: installed_remote_keys(),
        }
    }

    /// The same, with network keys made usable by `remote`.
    pub fn with_remote_keys(mut self, remote: Arc<dyn RemoteKeys>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The same, with network keys left unusable (their metadata is kept).
    pub fn without_remote_keys(mut self) -> Self {
        self.remote = None;
        self
    }

    /// Keys reading the process environment.
    pub fn from_process_env() -> Self {
        Self::new(Arc::new(KeyEnv::from_process()))
    }

    /// What makes network keys usable, if anything.
    pub fn remote_keys(&self) -> Option<&Arc<dyn RemoteKeys>> {
        self.remote.as_ref()
    }

    /// The environment the keys read.
    pub fn env(&self) -> &Arc<KeyEnv> {
        &self.env
    }

    /// One key group from flags, in sops's order (kms, gcp_kms, azure_kv, pgp, hc_vault,
    /// age).
    pub fn group_from_flags(&self, flags: &KeyFlags) -> Result<MasterKeyGroup> {
        let context = match flags.encryption_context.as_deref() {
            Some(text) if !text.is_empty() => {
                kms_context(text).ok_or_else(|| Error::InvalidKey {
                    kind: "kms",
                    id: text.to_owned(),
                    reason: "invalid encryption context (expected key:value,key2:value2)".into(),
                })?
            }
            _ => BTreeMap::new(),
        };
        let mut group: MasterKeyGroup = Vec::new();
        for arn in split(flags.kms.as_deref()) {
            group.push(self.kms(arn, &context, flags.aws_profile.as_deref())?);
        }
        for id in split(flags.gcp_kms.as_deref()) {
            group.push(self.gcp_kms(id)?);
        }
        for url in split(flags.azure_kv.as_deref()) {
            group.push(self.azure_kv_url(url)?);
        }
        for fp in split(flags.pgp.as_deref()) {
            group.push(Box::new(PgpKey::new(fp, self.env.clone())?));
        }
        for uri in split(flags.hc_vault_transit.as_deref()) {
            group.push(self.hc_vault(uri)?);
        }
        for recipient in AgeRecipient::parse_list(flags.age.as_deref().unwrap_or_default())? {
            group.push(Box::new(recipient));
        }
        Ok(group)
    }

    /// One key group of a `.sops.yaml` creation rule.
    pub fn group_from_rule(&self, rule: &RuleKeyGroup) -> Result<MasterKeyGroup> {
        if let Some(id) = rule.hckms.first() {
            return Err(Error::HcKmsUnsupported { id: id.clone() });
        }
        let mut group: MasterKeyGroup = Vec::new();
        for key in &rule.kms {
            let arn = match &key.role {
                Some(role) => format!("{}+{role}", key.arn),
                None => key.arn.clone(),
            };
            group.push(self.kms(&arn, &key.context, key.aws_profile.as_deref())?);
        }
        for id in &rule.gcp_kms {
            group.push(self.gcp_kms(id)?);
        }
        for key in &rule.azure_kv {
            group.push(self.azure_kv_parts(&key.vault_url, &key.key, &key.version)?);
        }
        for fp in &rule.pgp {
            group.push(Box::new(PgpKey::new(fp, self.env.clone())?));
        }
        for uri in &rule.hc_vault {
            group.push(self.hc_vault(uri)?);
        }
        for recipient in &rule.age {
            group.push(Box::new(AgeRecipient::parse(recipient)?));
        }
        Ok(group)
    }

    /// The master key a metadata stanza names (metadata in).
    pub fn key_for_stanza(&self, stanza: &MasterKeyStanza) -> Result<Box<dyn MasterKey>> {
        if let Some(remote) = RemoteKey::from_stanza(stanza) {
            return self.remote(remote?);
        }
        Ok(match stanza.kind() {
            KeyKind::Age => Box::new(AgeRecipient::parse(stanza.recipient().unwrap_or_default())?),
            KeyKind::Pgp => Box::new(PgpKey::from_stanza(stanza, self.env.clone())?),
            kind => Box::new(UnsupportedKey::new(kind, stanza.identifier())),
        })
    }

    /// The master-key groups a file's metadata names.
    pub fn groups_of(&self, metadata: &Metadata) -> Result<Vec<MasterKeyGroup>> {
        metadata
            .key_groups()
            .iter()
            .map(|group| group.iter().map(|s| self.key_for_stanza(s)).collect())
            .collect()
    }

    /// A network key, usable when the builder has [`RemoteKeys`].
    pub fn remote(&self, key: RemoteKey) -> Result<Box<dyn MasterKey>> {
        match &self.remote {
            Some(remote) => remote.connect(key, self.env.clone()),
            None => Ok(Box::new(key)),
        }
    }

    fn kms(
        &self,
        arn: &str,
        context: &BTreeMap<String, String>,
        profile: Option<&str>,
    ) -> Result<Box<dyn MasterKey>> {
        self.remote(RemoteKey::Kms(AwsKmsKeyRef::from_arn(
            arn,
            context.clone(),
            profile,
        )?))
    }

    fn gcp_kms(&self, id: &str) -> Result<Box<dyn MasterKey>> {
        self.remote(RemoteKey::GcpKms(GcpKmsKeyRef::new(id)))
    }

    fn azure_kv_url(&self, url: &str) -> Result<Box<dyn MasterKey>> {
        self.remote(RemoteKey::AzureKv(AzureKvKeyRef::from_url(url)?))
    }

    fn azure_kv_parts(&self, vault: &str, name: &str, version: &str) -> Result<Box<dyn MasterKey>> {
        self.remote(RemoteKey::AzureKv(AzureKvKeyRef::new(
            vault, name, version,
        )?))
    }

    fn hc_vault(&self, uri: &str) -> Result<Box<dyn MasterKey>> {
        self.remote(RemoteKey::HcVault(VaultKeyRef::from_uri(uri)?))
    }
}

/// `k:v,k2:v2` (sops `ParseKMSContext`); `None` when a pair is not `key:value`.
pub fn kms_context(text: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in text.split(',') {
        let parts: Vec<&str> = pair.split(':').collect();
        let [k, v] = parts.as_slice() else {
            return None;
        };
        out.insert((*k).to_owned(), (*v).to_owned());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: &str = "age17fj0nnh797lccasvdkcx2tmx2fyyf7qxvd4gjcwp7waup2h8nusqlav45n";

    #[test]
    fn a_rule_with_hckms_keys_fails_saying_hckms_is_not_supported() {
        // issue 14: the keys were dropped, then "no master keys … add a creation rule".
        let config = crate::sops::rules::SopsConfig::parse(
            &format!("creation_rules:\n  - age: {AGE}\n    hckms: [tenant:key1]\n"),
            std::path::Path::new("/r/.sops.yaml"),
        )
        .unwrap();
        let rule = &config.creation_rules()[0];
        let err = KeyBuilder::new(Arc::new(KeyEnv::default()))
            .group_from_rule(&rule.key_groups[0])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "hckms is not supported: the rule's Huawei Cloud KMS key `tenant:key1` cannot be used (give the rule another key type)"
        );
    }

    #[test]
    fn flags_give_one_group_in_sops_order() {
        let flags = KeyFlags {
            age: Some(AGE.into()),
            pgp: Some("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4".into()),
            hc_vault_transit: Some("https://v:8200/v1/transit/keys/a,".into()),
            kms: Some("arn:aws:kms:us-east-1:111122223333:key/k".into()),
            encryption_context: Some("app:demo".into()),
            ..KeyFlags::default()
        };
        let group = KeyBuilder::default().group_from_flags(&flags).unwrap();
        let kinds: Vec<KeyKind> = group.iter().map(|k| k.kind()).collect();
        assert_eq!(
            kinds,
            [KeyKind::Kms, KeyKind::Pgp, KeyKind::HcVault, KeyKind::Age]
        );
        assert_eq!(
            group[0].id(),
            "arn:aws:kms:us-east-1:111122223333:key/k|app:demo"
        );
        let bad = KeyFlags {
            kms: Some("arn:aws:kms:us-east-1:1:key/k".into()),
            encryption_context: Some("nocolon".into()),
            ..KeyFlags::default()
        };
        let err = KeyBuilder::default().group_from_flags(&bad).unwrap_err();
        assert!(
            err.to_string().contains("invalid encryption context"),
            "{err}"
        );
    }

    #[test]
    fn every_stanza_kind_builds_a_key_with_the_sops_identifier() {
        let builder = KeyBuilder::default();
        let stanza = MasterKeyStanza::new(
            KeyKind::Pgp,
            &[
                ("created_at", "2019-08-29T22:22:04Z"),
                ("enc", "x"),
                ("fp", "ABCD"),
            ],
        );
        let key = builder.key_for_stanza(&stanza).unwrap();
        assert_eq!((key.kind(), key.id()), (KeyKind::Pgp, "ABCD"));
        assert_eq!(key.to_stanza("x"), stanza);
        let vault = MasterKeyStanza::new(
            KeyKind::HcVault,
            &[
                ("vault_address", "http://127.0.0.1:8200"),
                ("engine_path", "transit"),
                ("key_name", "sops"),
                ("created_at", "2026-01-01T00:00:00Z"),
                ("enc", "vault:v1:x"),
            ],
        );
        let key = builder.key_for_stanza(&vault).unwrap();
        assert_eq!(key.kind(), KeyKind::HcVault);
        assert_eq!(key.id(), "http://127.0.0.1:8200/v1/transit/keys/sops");
        assert_eq!(key.to_stanza("vault:v1:x"), vault);
    }
}
