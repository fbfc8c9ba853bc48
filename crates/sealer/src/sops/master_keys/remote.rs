//! Network master keys as sops records them, and the seam through which they are used.
//!
//! sealer holds the formats only: each key type's identifier as sops parses it and the
//! metadata entry it writes (getsops/sops v3.11.0 `kms/keysource.go`, `gcpkms/keysource.go`,
//! `azkv/keysource.go`, `hcvault/keysource.go`). Speaking to the services is the job of a
//! [`RemoteKeys`] implementation (the `sealkit-cloud` crate), as rage's `age-core` leaves I/O
//! to its callers. Without one, a [`RemoteKey`] still reads and writes its metadata entry
//! unchanged, and wrapping or unwrapping with it fails with
//! [`Error::UnsupportedKeyType`].

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use zeroize::Zeroizing;

use super::env::KeyEnv;
use super::error::{Error, Result};
use super::master::{KeyFuture, MasterKey, Unwrappers};
use crate::sops::{KeyKind, MasterKeyStanza};

/// Turns the description of a network key into a key that can wrap and unwrap.
pub trait RemoteKeys: Send + Sync + std::fmt::Debug {
    /// A usable key for `key`, reading credentials from `env`.
    fn connect(&self, key: RemoteKey, env: Arc<KeyEnv>) -> Result<Box<dyn MasterKey>>;
}

static INSTALLED: OnceLock<Arc<dyn RemoteKeys>> = OnceLock::new();

/// Makes `keys` the process's [`RemoteKeys`], used by every [`super::KeyBuilder`] and
/// [`Unwrappers`] that is not given one explicitly (as rustls's
/// `CryptoProvider::install_default`). Returns `false` when one was installed already.
pub fn install_remote_keys(keys: Arc<dyn RemoteKeys>) -> bool {
    INSTALLED.set(keys).is_ok()
}

/// The process's [`RemoteKeys`], if one was installed.
pub fn installed_remote_keys() -> Option<Arc<dyn RemoteKeys>> {
    INSTALLED.get().cloned()
}

/// A network master key: which service, which key, and its metadata fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteKey {
    /// AWS KMS (`kms`).
    Kms(AwsKmsKeyRef),
    /// GCP Cloud KMS (`gcp_kms`).
    GcpKms(GcpKmsKeyRef),
    /// Azure Key Vault (`azure_kv`).
    AzureKv(AzureKvKeyRef),
    /// HashiCorp Vault / OpenBao transit (`hc_vault`).
    HcVault(VaultKeyRef),
}

impl RemoteKey {
    /// The network key a metadata entry names (`created_at` kept); `None` for local kinds.
    pub fn from_stanza(stanza: &MasterKeyStanza) -> Option<Result<Self>> {
        Some(match stanza.kind() {
            KeyKind::Kms => AwsKmsKeyRef::from_stanza(stanza).map(Self::Kms),
            KeyKind::GcpKms => Ok(Self::GcpKms(GcpKmsKeyRef::from_stanza(stanza))),
            KeyKind::AzureKv => AzureKvKeyRef::from_stanza(stanza).map(Self::AzureKv),
            KeyKind::HcVault => VaultKeyRef::from_stanza(stanza).map(Self::HcVault),
            _ => return None,
        })
    }

    /// The key with a fresh `enc` as its metadata entry.
    pub fn stanza(&self, enc: &str) -> MasterKeyStanza {
        match self {
            Self::Kms(k) => k.to_stanza(enc),
            Self::GcpKms(k) => k.to_stanza(enc),
            Self::AzureKv(k) => k.to_stanza(enc),
            Self::HcVault(k) => k.to_stanza(enc),
        }
    }

    fn unsupported(&self) -> Error {
        Error::UnsupportedKeyType {
            kind: self.kind().field().to_owned(),
            id: self.id().to_owned(),
        }
    }
}

impl MasterKey for RemoteKey {
    fn kind(&self) -> KeyKind {
        match self {
            Self::Kms(_) => KeyKind::Kms,
            Self::GcpKms(_) => KeyKind::GcpKms,
            Self::AzureKv(_) => KeyKind::AzureKv,
            Self::HcVault(_) => KeyKind::HcVault,
        }
    }

    fn id(&self) -> &str {
        match self {
            Self::Kms(k) => k.id(),
            Self::GcpKms(k) => k.id(),
            Self::AzureKv(k) => k.id(),
            Self::HcVault(k) => k.id(),
        }
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        self.stanza(enc)
    }

    fn wrap<'a>(&'a self, _secret: &'a [u8]) -> KeyFuture<'a, Result<String>> {
        Box::pin(std::future::ready(Err(self.unsupported())))
    }

    fn unwrap<'a>(
        &'a self,
        _enc: &'a str,
        _with: &'a Unwrappers,
    ) -> KeyFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        Box::pin(std::future::ready(Err(self.unsupported())))
    }
}

// ---- AWS KMS ------------------------------------------------------------------------------

/// An AWS KMS key as sops names it: `ARN[+ROLE_ARN]`, an encryption context and a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsKmsKeyRef {
    arn: String,
    role: String,
    context: BTreeMap<String, String>,
    aws_profile: String,
    region: String,
    id: String,
    created_at: String,
}

/// The region of a KMS key ARN (sops's `arnRegex`), `None` if it is not one.
fn region_of(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:aws")?;
    let (partition_tail, rest) = rest.split_once(":kms:")?;
    if !partition_tail
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let (head, resource) = rest.rsplit_once(':')?;
    let (region, account) = head.rsplit_once(':')?;
    let account_ok = !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit());
    let resource_ok = ["key/", "alias/"]
        .iter()
        .any(|p| resource.strip_prefix(p).is_some_and(|r| !r.is_empty()));
    (account_ok && resource_ok && !region.is_empty()).then(|| region.to_owned())
}

impl AwsKmsKeyRef {
    /// A key from `ARN[+ROLE_ARN]` (spaces removed), context and profile, created now
    /// (sops `NewMasterKeyFromArn`).
    pub fn from_arn(
        arn: &str,
        context: BTreeMap<String, String>,
        aws_profile: Option<&str>,
    ) -> Result<Self> {
        let arn: String = arn.chars().filter(|c| *c != ' ').collect();
        let (arn, role) = match arn.find("+arn:") {
            Some(i) if i > 0 => (arn[..i].to_owned(), arn[i + 1..].to_owned()),
            _ => (arn, String::new()),
        };
        Self::new(&arn, &role, context, aws_profile.unwrap_or_default())
    }

    /// A key from its parts, created now.
    pub fn new(
        arn: &str,
        role: &str,
        context: BTreeMap<String, String>,
        aws_profile: &str,
    ) -> Result<Self> {
        let region = region_of(arn).ok_or_else(|| Error::InvalidKey {
            kind: "kms",
            id: arn.to_owned(),
            reason: "not a KMS key ARN (like arn:aws:kms:us-east-1:111122223333:key/ID)".into(),
        })?;
        let mut id = arn.to_owned();
        if !role.is_empty() {
            id = format!("{id}+{role}");
        }
        let context_text = context
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",");
        if !aws_profile.is_empty() {
            id = format!("{id}|{context_text}|{aws_profile}");
        } else if !context_text.is_empty() {
            id = format!("{id}|{context_text}");
        }
        Ok(Self {
            arn: arn.to_owned(),
            role: role.to_owned(),
            context,
            aws_profile: aws_profile.to_owned(),
            region,
            id,
            created_at: super::now_rfc3339(),
        })
    }

    /// The key a `kms` entry names (`created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza) -> Result<Self> {
        let context = stanza
            .map_field("context")
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut key = Self::new(
            stanza.field("arn").unwrap_or_default(),
            stanza.field("role").unwrap_or_default(),
            context,
            stanza.field("aws_profile").unwrap_or_default(),
        )?;
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        Ok(key)
    }

    /// The key or alias ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The role to assume first (`+ROLE_ARN`), empty for none.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The encryption context bound to the ciphertext.
    pub fn context(&self) -> &BTreeMap<String, String> {
        &self.context
    }

    /// The shared-config profile, empty for the default chain.
    pub fn aws_profile(&self) -> &str {
        &self.aws_profile
    }

    /// The ARN's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The identifier sops prints: `ARN[+ROLE][|CONTEXT][|PROFILE]`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The metadata entry holding `enc`.
    pub fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        let mut stanza = MasterKeyStanza::new(KeyKind::Kms, &[("arn", &self.arn)]);
        if !self.role.is_empty() {
            stanza.set_field("role", &self.role);
        }
        if !self.context.is_empty() {
            let pairs: Vec<(&str, &str)> = self
                .context
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            stanza.set_map_field("context", &pairs);
        }
        stanza.set_field("created_at", &self.created_at);
        stanza.set_field("enc", enc);
        stanza.set_field("aws_profile", &self.aws_profile);
        stanza
    }
}

// ---- GCP Cloud KMS ------------------------------------------------------------------------

/// A GCP Cloud KMS key: `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcpKmsKeyRef {
    resource_id: String,
    created_at: String,
}

impl GcpKmsKeyRef {
    /// A key from its resource ID (spaces removed, as sops does), created now.
    pub fn new(resource_id: &str) -> Self {
        Self {
            resource_id: resource_id.chars().filter(|c| *c != ' ').collect(),
            created_at: super::now_rfc3339(),
        }
    }

    /// The key a `gcp_kms` entry names (`created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza) -> Self {
        let mut key = Self::new(stanza.field("resource_id").unwrap_or_default());
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        key
    }

    /// The resource ID (also the identifier sops prints).
    pub fn id(&self) -> &str {
        &self.resource_id
    }

    /// Checks the shape `projects/P/locations/L/keyRings/R/cryptoKeys/K` (when used, so a
    /// file naming a malformed key can still be read).
    pub fn check(&self) -> Result<()> {
        let parts: Vec<&str> = self.resource_id.split('/').collect();
        let shape = [
            "projects",
            "",
            "locations",
            "",
            "keyRings",
            "",
            "cryptoKeys",
            "",
        ];
        let ok = parts.len() == shape.len()
            && parts
                .iter()
                .zip(shape)
                .all(|(part, want)| !part.is_empty() && (want.is_empty() || *part == want));
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidKey {
                kind: "gcp_kms",
                id: self.resource_id.clone(),
                reason: "not projects/P/locations/L/keyRings/R/cryptoKeys/K".into(),
            })
        }
    }

    /// The metadata entry holding `enc`.
    pub fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::new(
            KeyKind::GcpKms,
            &[
                ("resource_id", &self.resource_id),
                ("created_at", &self.created_at),
                ("enc", enc),
            ],
        )
    }
}

// ---- Azure Key Vault ----------------------------------------------------------------------

/// An Azure Key Vault key: `https://VAULT/keys/NAME[/VERSION]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AzureKvKeyRef {
    vault_url: String,
    name: String,
    version: String,
    id: String,
    created_at: String,
}

/// Whether `host` is `localhost` or a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl AzureKvKeyRef {
    /// Parses `https://VAULT/keys/KEY[/VERSION]` (sops `NewMasterKeyFromURL`).
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        let invalid = |reason: &str| Error::InvalidKey {
            kind: "azure_kv",
            id: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (base, rest) = url
            .split_once("/keys/")
            .ok_or_else(|| invalid("not https://VAULT/keys/KEY[/VERSION]"))?;
        let mut parts = rest.split('/');
        let name = parts.next().filter(|n| !n.is_empty());
        let version = parts.next().unwrap_or_default();
        match name {
            Some(name) if parts.next().is_none() => Self::new(base, name, version),
            _ => Err(invalid("not https://VAULT/keys/KEY[/VERSION]")),
        }
    }

    /// A key from its parts, created now. The vault URL must be `https://HOST` (or
    /// `http://` on a loopback address, for local test servers).
    pub fn new(vault_url: &str, name: &str, version: &str) -> Result<Self> {
        let id = format!("{vault_url}/keys/{name}/{version}");
        let invalid = |reason: &str| Error::InvalidKey {
            kind: "azure_kv",
            id: id.clone(),
            reason: reason.to_owned(),
        };
        let parsed = url::Url::parse(vault_url).map_err(|e| invalid(&e.to_string()))?;
        let host = parsed.host_str().unwrap_or_default();
        let scheme_ok =
            parsed.scheme() == "https" || (parsed.scheme() == "http" && is_loopback_host(host));
        if !scheme_ok || host.is_empty() || !matches!(parsed.path(), "" | "/") {
            return Err(invalid("the vault URL must be https://HOST"));
        }
        Ok(Self {
            vault_url: vault_url.trim_end_matches('/').to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            id,
            created_at: super::now_rfc3339(),
        })
    }

    /// The key an `azure_kv` entry names (`created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza) -> Result<Self> {
        let field = |name| stanza.field(name).unwrap_or_default();
        let mut key = Self::new(field("vault_url"), field("name"), field("version"))?;
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        Ok(key)
    }

    /// The vault URL (`https://NAME.vault.azure.net`).
    pub fn vault_url(&self) -> &str {
        &self.vault_url
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key version, empty for "the latest".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The identifier sops prints: `VAULT/keys/NAME/VERSION`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The same key at `version` (the latest one, once looked up).
    pub fn at_version(&self, version: &str) -> Self {
        Self {
            version: version.to_owned(),
            id: format!("{}/keys/{}/{version}", self.vault_url, self.name),
            ..self.clone()
        }
    }

    /// The metadata entry holding `enc`.
    pub fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::new(
            KeyKind::AzureKv,
            &[
                ("vault_url", &self.vault_url),
                ("name", &self.name),
                ("version", &self.version),
                ("created_at", &self.created_at),
                ("enc", enc),
            ],
        )
    }
}

// ---- Vault transit ------------------------------------------------------------------------

/// A Vault / OpenBao transit key: `https://HOST:PORT/v1/ENGINE/keys/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultKeyRef {
    address: String,
    engine_path: String,
    key_name: String,
    uri: String,
    created_at: String,
}

fn invalid_vault(uri: &str, reason: &str) -> Error {
    Error::InvalidKey {
        kind: "hc_vault",
        id: uri.to_owned(),
        reason: reason.to_owned(),
    }
}

impl VaultKeyRef {
    /// Parses `https://host:port/v1/ENGINE/keys/NAME` (sops `NewMasterKeyFromURI`).
    pub fn from_uri(uri: &str) -> Result<Self> {
        let uri = uri.trim();
        let url = url::Url::parse(uri).map_err(|e| invalid_vault(uri, &e.to_string()))?;
        if url.cannot_be_a_base() || url.host_str().is_none() {
            return Err(invalid_vault(
                uri,
                "missing scheme or host (like https://vault.example.com:8200/v1/transit/keys/NAME)",
            ));
        }
        let (engine_path, key_name) =
            engine_and_key(url.path()).map_err(|r| invalid_vault(uri, r))?;
        let mut address = url.clone();
        address.set_path("");
        address.set_query(None);
        let address = address.as_str().trim_end_matches('/').to_owned();
        Ok(Self::new(&address, &engine_path, &key_name))
    }

    /// A key from its parts, created now.
    pub fn new(address: &str, engine_path: &str, key_name: &str) -> Self {
        Self {
            uri: format!("{address}/v1/{engine_path}/keys/{key_name}"),
            address: address.to_owned(),
            engine_path: engine_path.to_owned(),
            key_name: key_name.to_owned(),
            created_at: super::now_rfc3339(),
        }
    }

    /// The key an `hc_vault` entry names (its `created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza) -> Result<Self> {
        let field = |name| stanza.field(name).unwrap_or_default();
        let mut key = Self::new(
            field("vault_address"),
            field("engine_path"),
            field("key_name"),
        );
        if key.address.is_empty() || key.key_name.is_empty() {
            return Err(invalid_vault(
                &key.uri,
                "stanza lacks vault_address or key_name",
            ));
        }
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        Ok(key)
    }

    /// The server address (`https://vault.example.com:8200`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The transit engine's mount path (`transit`, `team/transit`).
    pub fn engine_path(&self) -> &str {
        &self.engine_path
    }

    /// The key name.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The key's URI (also the identifier sops prints).
    pub fn id(&self) -> &str {
        &self.uri
    }

    /// The metadata entry holding `enc`.
    pub fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::new(
            KeyKind::HcVault,
            &[
                ("vault_address", &self.address),
                ("engine_path", &self.engine_path),
                ("key_name", &self.key_name),
                ("created_at", &self.created_at),
                ("enc", enc),
            ],
        )
    }
}

/// The engine path and key name of `/v1/ENGINE…/keys/NAME` (sops `engineAndKeyFromPath`).
fn engine_and_key(path: &str) -> std::result::Result<(String, String), &'static str> {
    const SHAPE: &str = "the path is not /v1/ENGINE/keys/NAME (like https://vault.example.com:8200/v1/transit/keys/NAME)";
    let is_version = |p: &str| {
        p.strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if !parts.first().is_some_and(|p| is_version(p)) {
        if parts.iter().skip(1).any(|p| is_version(p)) {
            return Err(
                "a Vault address with a path prefix is not supported (like https://vault.example.com:8200/v1/transit/keys/NAME)",
            );
        }
        return Err(SHAPE);
    }
    if parts.len() < 4 || parts.iter().any(|p| p.is_empty()) {
        return Err(SHAPE);
    }
    let key = parts[parts.len() - 1].to_owned();
    let engine = parts[1..parts.len() - 2].join("/");
    Ok((engine, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn arns_give_their_region_and_a_plus_role_is_split_off() {
        let key = AwsKmsKeyRef::from_arn(
            &format!("{ARN}+arn:aws:iam::111122223333:role/sops"),
            BTreeMap::new(),
            None,
        )
        .unwrap();
        assert_eq!(key.region(), "eu-west-1");
        assert_eq!(key.role(), "arn:aws:iam::111122223333:role/sops");
        assert_eq!(
            key.id(),
            format!("{ARN}+arn:aws:iam::111122223333:role/sops")
        );
        assert_eq!(
            region_of("arn:aws-cn:kms:cn-north-1:1:alias/x").as_deref(),
            Some("cn-north-1")
        );
        for bad in [
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:acct:key/x",
            "nope",
        ] {
            assert!(region_of(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn context_parses_like_sops_and_shows_in_the_id() {
        let context = super::super::kms_context("b:2,a:1").unwrap();
        assert!(super::super::kms_context("a=1").is_none());
        let key = AwsKmsKeyRef::from_arn(ARN, context, Some("dev")).unwrap();
        assert_eq!(key.id(), format!("{ARN}|a:1,b:2|dev"));
        let stanza = key.to_stanza("QUJD");
        let names: Vec<&str> = stanza.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["arn", "context", "created_at", "enc", "aws_profile"]
        );
        let back = AwsKmsKeyRef::from_stanza(&stanza).unwrap();
        assert_eq!(back, key);
    }

    #[test]
    fn resource_ids_must_name_a_crypto_key() {
        let good = GcpKmsKeyRef::new("projects/p/locations/global/keyRings/r/cryptoKeys/k");
        assert!(good.check().is_ok());
        let bad = GcpKmsKeyRef::new("projects/p/keyRings/r");
        assert!(
            bad.check()
                .unwrap_err()
                .to_string()
                .starts_with("invalid gcp_kms key `projects/p/keyRings/r`")
        );
        let stanza = good.to_stanza("Y2lwaGVy");
        let names: Vec<&str> = stanza.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["resource_id", "created_at", "enc"]);
    }

    #[test]
    fn azure_urls_split_into_vault_name_and_version_like_sops() {
        let key =
            AzureKvKeyRef::from_url("https://myvault.vault.azure.net/keys/sops/0123abcd").unwrap();
        assert_eq!(key.vault_url(), "https://myvault.vault.azure.net");
        assert_eq!(key.name(), "sops");
        assert_eq!(key.version(), "0123abcd");
        assert_eq!(
            key.id(),
            "https://myvault.vault.azure.net/keys/sops/0123abcd"
        );
        let latest = AzureKvKeyRef::from_url("https://v.vault.azure.cn/keys/k").unwrap();
        assert_eq!(latest.version(), "");
        assert_eq!(
            latest.at_version("7").id(),
            "https://v.vault.azure.cn/keys/k/7"
        );
        let stanza = key.to_stanza("abc");
        let names: Vec<&str> = stanza.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["vault_url", "name", "version", "created_at", "enc"]);
    }

    #[test]
    fn azure_plain_http_is_refused_except_on_loopback() {
        assert!(AzureKvKeyRef::from_url("http://v.vault.azure.net/keys/k/1").is_err());
        assert!(AzureKvKeyRef::from_url("http://127.0.0.1:8443/keys/k/1").is_ok());
        assert!(AzureKvKeyRef::from_url("https://v/keys/").is_err());
        assert!(AzureKvKeyRef::from_url("https://v/secrets/k").is_err());
    }

    #[test]
    fn vault_uri_splits_into_address_engine_and_key_like_sops() {
        let key = VaultKeyRef::from_uri("https://vault.example.com:8200/v1/team/transit/keys/sops")
            .unwrap();
        assert_eq!(key.address(), "https://vault.example.com:8200");
        assert_eq!(key.engine_path(), "team/transit");
        assert_eq!(key.key_name(), "sops");
        let stanza = key.to_stanza("vault:v1:abc");
        let names: Vec<&str> = stanza.fields().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "vault_address",
                "engine_path",
                "key_name",
                "created_at",
                "enc"
            ]
        );
        assert_eq!(VaultKeyRef::from_stanza(&stanza).unwrap(), key);
    }

    #[test]
    fn malformed_vault_uris_are_refused_with_the_expected_shape() {
        for bad in [
            "vault.example.com/v1/transit/keys/k",
            "https://vault.example.com/transit/keys/k",
            "https://vault.example.com/prefix/v1/transit/keys/k",
            "https://vault.example.com/v1/keys/k",
        ] {
            let err = VaultKeyRef::from_uri(bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid hc_vault key `{bad}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn without_a_connector_a_remote_key_keeps_its_entry_and_refuses_to_work() {
        let key = RemoteKey::HcVault(VaultKeyRef::new("http://v", "transit", "k"));
        let stanza = key.to_stanza("vault:v1:x");
        assert_eq!(RemoteKey::from_stanza(&stanza).unwrap().unwrap(), key);
        let err = super::super::block_on(key.wrap(b"secret")).unwrap_err();
        assert!(matches!(err, Error::UnsupportedKeyType { .. }), "{err}");
    }
}
