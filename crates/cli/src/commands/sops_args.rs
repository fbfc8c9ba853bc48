//! clap argument groups shared by the sops subcommands (sops 3.11 flag spellings).

use std::path::PathBuf;

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
    /// PGP fingerprints, comma-separated (kept for issue 6: not usable yet).
    #[arg(short = 'p', long, value_name = "FPS", env = super::sops_common::env::SOPS_PGP_FP)]
    pub pgp: Option<String>,
    /// AWS KMS ARNs, comma-separated (not usable yet).
    #[arg(short = 'k', long, value_name = "ARNS", env = super::sops_common::env::SOPS_KMS_ARN)]
    pub kms: Option<String>,
    /// GCP KMS resource IDs, comma-separated (not usable yet).
    #[arg(long, value_name = "IDS", env = super::sops_common::env::SOPS_GCP_KMS_IDS)]
    pub gcp_kms: Option<String>,
    /// Azure Key Vault key URLs, comma-separated (not usable yet).
    #[arg(long, value_name = "URLS", env = super::sops_common::env::SOPS_AZURE_KEYVAULT_URLS)]
    pub azure_kv: Option<String>,
    /// Vault transit URIs, comma-separated (not usable yet).
    #[arg(long, value_name = "URIS", env = super::sops_common::env::SOPS_VAULT_URIS)]
    pub hc_vault_transit: Option<String>,
    /// Number of key groups needed to decrypt (Shamir threshold).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

impl KeyArgs {
    /// Whether any master key was given on the command line.
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
