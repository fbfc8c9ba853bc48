//! clap argument groups shared by the sops subcommands (sops 3.11 flag spellings).

use std::path::PathBuf;

use sealer::sops::master_keys::KeyFlags;

/// `--input-type` / `--output-type`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TypeArgs {
    /// Input store: yaml, json, dotenv, ini or binary (default: from the file extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output store: yaml, json, dotenv, ini or binary (default: the input type).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
}

/// `--config`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Path to the `.sops.yaml` to use (default: found walking up from the file, then from
    /// the working directory).
    #[arg(long, value_name = "PATH", env = super::sops_common::env::SOPS_CONFIG)]
    pub config: Option<PathBuf>,
}

/// Master keys given on the command line (replace the `.sops.yaml` rule's keys).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// age recipients, comma-separated (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
    #[arg(short = 'a', long, value_name = "RECIPIENTS", env = super::sops_common::env::SOPS_AGE_RECIPIENTS)]
    pub age: Option<String>,
    /// PGP fingerprints, comma-separated (keys of the GnuPG keyring, used through `gpg`).
    #[arg(short = 'p', long, value_name = "FPS", env = super::sops_common::env::SOPS_PGP_FP)]
    pub pgp: Option<String>,
    /// AWS KMS key ARNs, comma-separated; `ARN+ROLE_ARN` assumes that role first.
    #[arg(short = 'k', long, value_name = "ARNS", env = super::sops_common::env::SOPS_KMS_ARN)]
    pub kms: Option<String>,
    /// AWS profile (from ~/.aws) for the --kms keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// KMS encryption context for the --kms keys: `key:value,key2:value2`.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// GCP KMS resource IDs, comma-separated
    /// (`projects/P/locations/L/keyRings/R/cryptoKeys/K`).
    #[arg(long, value_name = "IDS", env = super::sops_common::env::SOPS_GCP_KMS_IDS)]
    pub gcp_kms: Option<String>,
    /// Azure Key Vault key URLs, comma-separated (`https://V.vault.azure.net/keys/K[/VERSION]`).
    #[arg(long, value_name = "URLS", env = super::sops_common::env::SOPS_AZURE_KEYVAULT_URLS)]
    pub azure_kv: Option<String>,
    /// Vault transit key URIs, comma-separated (`https://vault:8200/v1/transit/keys/NAME`).
    #[arg(long, value_name = "URIS", env = super::sops_common::env::SOPS_VAULT_URIS)]
    pub hc_vault_transit: Option<String>,
    /// Number of key groups needed to decrypt (Shamir threshold).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

impl KeyArgs {
    /// Whether any master key was given on the command line.
    pub fn any(&self) -> bool {
        self.flags().any()
    }

    /// The keys as the builder takes them.
    pub fn flags(&self) -> KeyFlags {
        KeyFlags {
            age: self.age.clone(),
            pgp: self.pgp.clone(),
            kms: self.kms.clone(),
            gcp_kms: self.gcp_kms.clone(),
            azure_kv: self.azure_kv.clone(),
            hc_vault_transit: self.hc_vault_transit.clone(),
            aws_profile: self.aws_profile.clone(),
            encryption_context: self.encryption_context.clone(),
        }
    }
}

/// `rotate`'s `--add-*` / `--rm-*` flags (sops 3.11 spellings), one comma-separated list each.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RotateKeyArgs {
    /// Add these age recipients.
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    /// Remove these age recipients.
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    /// Add these PGP fingerprints.
    #[arg(long, value_name = "FPS")]
    pub add_pgp: Option<String>,
    /// Remove these PGP fingerprints.
    #[arg(long, value_name = "FPS")]
    pub rm_pgp: Option<String>,
    /// Add these AWS KMS ARNs (with --encryption-context / --aws-profile).
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Option<String>,
    /// Remove these AWS KMS ARNs (with the same --encryption-context / --aws-profile).
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Option<String>,
    /// Add these GCP KMS resource IDs.
    #[arg(long, value_name = "IDS")]
    pub add_gcp_kms: Option<String>,
    /// Remove these GCP KMS resource IDs.
    #[arg(long, value_name = "IDS")]
    pub rm_gcp_kms: Option<String>,
    /// Add these Azure Key Vault key URLs.
    #[arg(long, value_name = "URLS")]
    pub add_azure_kv: Option<String>,
    /// Remove these Azure Key Vault key URLs.
    #[arg(long, value_name = "URLS")]
    pub rm_azure_kv: Option<String>,
    /// Add these Vault transit key URIs.
    #[arg(long, value_name = "URIS")]
    pub add_hc_vault_transit: Option<String>,
    /// Remove these Vault transit key URIs.
    #[arg(long, value_name = "URIS")]
    pub rm_hc_vault_transit: Option<String>,
}

impl RotateKeyArgs {
    /// The keys to add, with the KMS context and profile given.
    pub fn add(&self, aws_profile: Option<&str>, encryption_context: Option<&str>) -> KeyFlags {
        KeyFlags {
            age: self.add_age.clone(),
            pgp: self.add_pgp.clone(),
            kms: self.add_kms.clone(),
            gcp_kms: self.add_gcp_kms.clone(),
            azure_kv: self.add_azure_kv.clone(),
            hc_vault_transit: self.add_hc_vault_transit.clone(),
            aws_profile: aws_profile.map(str::to_owned),
            encryption_context: encryption_context.map(str::to_owned),
        }
    }

    /// The keys to remove, with the KMS context and profile given.
    pub fn remove(&self, aws_profile: Option<&str>, encryption_context: Option<&str>) -> KeyFlags {
        KeyFlags {
            age: self.rm_age.clone(),
            pgp: self.rm_pgp.clone(),
            kms: self.rm_kms.clone(),
            gcp_kms: self.rm_gcp_kms.clone(),
            azure_kv: self.rm_azure_kv.clone(),
            hc_vault_transit: self.rm_hc_vault_transit.clone(),
            aws_profile: aws_profile.map(str::to_owned),
            encryption_context: encryption_context.map(str::to_owned),
        }
    }
}

/// Which values get encrypted (at most one of these).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SelectorArgs {
    /// Keys ending with this suffix stay in clear (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Only keys ending with this suffix are encrypted.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Keys matching this regex stay in clear.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Only keys matching this regex are encrypted.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Values whose preceding comment matches stay in clear.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Only values whose preceding comment matches are encrypted.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// The MAC covers only the encrypted values.
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

impl SelectorArgs {
    /// Whether any selector flag was given.
    pub fn any(&self) -> bool {
        self.mac_only_encrypted
            || [
                &self.unencrypted_suffix,
                &self.encrypted_suffix,
                &self.unencrypted_regex,
                &self.encrypted_regex,
                &self.unencrypted_comment_regex,
                &self.encrypted_comment_regex,
            ]
            .iter()
            .any(|s| s.is_some())
    }
}
