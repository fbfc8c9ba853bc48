//! Sealing private keys wrapped by a KMS master key, on this machine: `seal keys wrap`,
//! `unwrap`, `backup`, and reading wrapped key Secrets wherever `--private-key` takes key
//! Secrets (`seal unseal`, `seal reseal`).
//!
//! The wrapped form is a SOPS document (see `sealer::sealed::wrapped_key`): wrapping takes
//! the master keys from sops's flags (`--hc-vault-transit`, `--kms`, `--gcp-kms`,
//! `--azure-kv`); unwrapping uses the master keys the document names with this machine's
//! credentials (`VAULT_TOKEN`, `AWS_*`, …), exactly as `sops decrypt` would.
//!
//! This is the only file of `seal` that names the master-key types (`sealer::sops::master_keys`).

use anyhow::{Context as _, bail};
use sealer::sealed::wrapped_key::{self, WrappedKey};
use sealer::sops::master_keys::{DataKey, KeyBuilder, KeyFlags, Unwrappers, wrap_data_key};
use zeroize::Zeroizing;

/// The master keys to wrap with (sops's flag names).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WrapArgs {
    /// Vault/OpenBao transit keys (https://HOST:8200/v1/transit/keys/NAME, comma-separated);
    /// token from VAULT_TOKEN.
    #[arg(long, value_name = "URI")]
    pub hc_vault_transit: Option<String>,
    /// AWS KMS key ARNs (comma-separated, each optionally `+ROLE_ARN`); credentials from AWS_*.
    #[arg(long, value_name = "ARN")]
    pub kms: Option<String>,
    /// GCP Cloud KMS key resource IDs (comma-separated); credentials from GOOGLE_*.
    #[arg(long, value_name = "RESOURCE_ID")]
    pub gcp_kms: Option<String>,
    /// Azure Key Vault key URLs (comma-separated); credentials from AZURE_*.
    #[arg(long, value_name = "URL")]
    pub azure_kv: Option<String>,
}

impl WrapArgs {
    /// Whether a master key is named.
    pub fn any(&self) -> bool {
        self.flags().any()
    }

    fn flags(&self) -> KeyFlags {
        KeyFlags {
            hc_vault_transit: self.hc_vault_transit.clone(),
            kms: self.kms.clone(),
            gcp_kms: self.gcp_kms.clone(),
            azure_kv: self.azure_kv.clone(),
            ..KeyFlags::default()
        }
    }
}

/// Master keys ready to wrap private keys.
pub struct Wrapper {
    keys: sealer::sops::master_keys::MasterKeyGroup,
}

impl Wrapper {
    /// The master keys `args` name (an error when there is none).
    pub fn new(args: &WrapArgs) -> anyhow::Result<Self> {
        if !args.any() {
            bail!("name a master key: --hc-vault-transit, --kms, --gcp-kms or --azure-kv");
        }
        let keys = KeyBuilder::from_process_env()
            .group_from_flags(&args.flags())
            .context("reading the master keys")?;
        Ok(Self { keys })
    }

    /// Wraps a PEM private key: the `tls.key` bytes of a wrapped key Secret.
    pub fn wrap(&self, pem: &[u8]) -> anyhow::Result<Vec<u8>> {
        let data_key = DataKey::generate();
        let groups = wrap_data_key(std::slice::from_ref(&self.keys), 0, &data_key)
            .context("wrapping the data key with the master keys")?;
        Ok(wrapped_key::wrap(pem, &data_key, groups)?)
    }
}

/// Whether a `tls.key` item holds a wrapped key.
pub fn is_wrapped(tls_key: &[u8]) -> bool {
    wrapped_key::is_wrapped(tls_key)
}

/// The PEM private key of a wrapped `tls.key`, unwrapped with the master keys it names and
/// this machine's credentials.
pub fn unwrap(tls_key: &[u8]) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let wrapped = WrappedKey::parse(tls_key)?;
    let with = Unwrappers::from_process_env();
    let data_key = sealer::sops::master_keys::unwrap_data_key(wrapped.metadata(), &with)
        .with_context(|| {
            format!(
                "unwrapping the private key (wrapped by {})",
                master_keys_of(tls_key).join(", ")
            )
        })?;
    Ok(wrapped.open(&data_key)?)
}

/// The master keys a wrapped `tls.key` names (empty when it does not parse).
pub fn master_keys_of(tls_key: &[u8]) -> Vec<String> {
    WrappedKey::parse(tls_key)
        .map(|w| {
            w.metadata()
                .key_groups()
                .iter()
                .flatten()
                .map(sealer::sops::MasterKeyStanza::identifier)
                .collect()
        })
        .unwrap_or_default()
}
