//! Command-line flags, named as Bitnami's controller names them (`cmd/controller/main.go`), each
//! also settable through `SEALED_SECRETS_<FLAG>` (the command line wins), as Bitnami's `pflagenv`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, Args as ClapArgs, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use time::OffsetDateTime;

pub use crate::duration::parse_go_duration;
use crate::error::{Error, Result};

/// Turns SealedSecrets (bitnami.com/v1alpha1) into Secrets, manages the sealing keys and serves
/// the sealing certificate.
///
/// A drop-in replacement for Bitnami's sealed-secrets controller: it reads the same key Secrets
/// (`sealedsecrets.bitnami.com/sealed-secrets-key=active` in the controller namespace), the
/// same SealedSecrets, and serves the same HTTP API, so `kubeseal` keeps working.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "seal-controller",
    version,
    after_help = "Example:\n  $ seal-controller --key-renew-period=720h --leader-elect --log-format=json"
)]
pub struct Args {
    /// What to do instead of running the controller.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Controller flags.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Print the CustomResourceDefinitions the controller serves (YAML, multi-document).
    Crds,
}

/// Log line format.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[value(alias = "plain")]
    Text,
    /// One JSON object per line.
    Json,
}

/// Which time orders the keys (the newest seals).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyOrderPriority {
    /// The certificate's NotBefore (Bitnami's default).
    #[default]
    #[value(name = "CertNotBefore")]
    CertNotBefore,
    /// The key Secret's creationTimestamp.
    #[value(name = "SecretCreationTimestamp")]
    SecretCreationTimestamp,
}

/// The flags of the controller proper.
#[derive(ClapArgs, Debug, Clone)]
pub struct RunArgs {
    /// Run the SealedSecret side: sealing keys, unsealing, /v1/cert.pem, /v1/verify, /v1/rotate (false: only the ExternalSecret bridge, which then never reads key Secrets)
    #[arg(long, env = "SEALED_SECRETS_SEALED_SECRETS", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true")]
    pub sealed_secrets: bool,
    /// Prefix of the key Secrets' names (generateName)
    #[arg(long, env = "SEALED_SECRETS_KEY_PREFIX", default_value = "sealed-secrets-key", value_parser = parse_key_prefix)]
    pub key_prefix: String,
    /// Size in bits of generated RSA keys
    #[arg(long, env = "SEALED_SECRETS_KEY_SIZE", default_value_t = 4096)]
    pub key_size: usize,
    /// Validity of generated certificates (Go duration: 87600h)
    #[arg(long, env = "SEALED_SECRETS_KEY_TTL", default_value = "87600h", value_parser = parse_go_duration)]
    pub key_ttl: Duration,
    /// Common name of generated certificates (empty subject when empty, as Bitnami)
    #[arg(long, env = "SEALED_SECRETS_MY_CN", default_value = "")]
    pub my_cn: String,
    /// Generate a new sealing key this often (Go duration; 0 disables renewal)
    #[arg(long, visible_alias = "rotate-period", env = "SEALED_SECRETS_KEY_RENEW_PERIOD", default_value = "720h", value_parser = parse_go_duration)]
    pub key_renew_period: Duration,
    /// Which time decides the newest key
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_ORDER_PRIORITY",
        value_enum,
        default_value = "CertNotBefore"
    )]
    pub key_order_priority: KeyOrderPriority,
    /// Generate a new key at start if the newest is older than this (RFC 1123 with numeric zone, as `date -R`)
    #[arg(long, env = "SEALED_SECRETS_KEY_CUTOFF_TIME", value_parser = parse_cutoff_time)]
    pub key_cutoff_time: Option<OffsetDateTime>,
    /// Namespace of the key Secrets and the leader Lease [default: the pod's namespace, else kube-system]
    #[arg(long, env = "SEALED_SECRETS_KEY_NAMESPACE")]
    pub key_namespace: Option<String>,
    /// Annotations (k=v,…) put on generated key Secrets
    #[arg(long, env = "SEALED_SECRETS_PRIVATEKEY_ANNOTATIONS", default_value = "", value_parser = parse_key_values)]
    pub privatekey_annotations: KeyValues,
    /// Labels (k=v,…) put on generated key Secrets (cannot replace the key label)
    #[arg(long, env = "SEALED_SECRETS_PRIVATEKEY_LABELS", default_value = "", value_parser = parse_key_values)]
    pub privatekey_labels: KeyValues,
    /// Decrypt the deprecated v1 `spec.data` format
    #[arg(long, env = "SEALED_SECRETS_ACCEPT_DEPRECATED_V1_DATA", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true")]
    pub accept_deprecated_v1_data: bool,
    /// Watch SealedSecrets in every namespace (false: the key namespace plus --additional-namespaces)
    #[arg(long, env = "SEALED_SECRETS_ALL_NAMESPACES", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true")]
    pub all_namespaces: bool,
    /// More namespaces to watch (comma-separated); switches off --all-namespaces
    #[arg(
        long,
        env = "SEALED_SECRETS_ADDITIONAL_NAMESPACES",
        value_delimiter = ','
    )]
    pub additional_namespaces: Vec<String>,
    /// Only SealedSecrets (and Secrets) matching this label selector
    #[arg(long, env = "SEALED_SECRETS_LABEL_SELECTOR", default_value = "")]
    pub label_selector: String,
    /// Requests per second allowed on /v1/verify per client
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT", default_value_t = 2)]
    pub rate_limit: u32,
    /// Burst of requests allowed on /v1/verify per client
    #[arg(long, env = "SEALED_SECRETS_RATE_LIMIT_BURST", default_value_t = 2)]
    pub rate_limit_burst: u32,
    /// Peers (CIDRs or addresses, comma-separated) whose X-Forwarded-For names the client for the rate limit, e.g. the API server's addresses (kubeseal comes through its service proxy); from other peers the header is ignored
    #[arg(long, env = "SEALED_SECRETS_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<IpNet>,
    /// Items (encryptedData entries) a /v1/verify or /v1/rotate request may carry
    #[arg(
        long,
        env = "SEALED_SECRETS_MAX_ITEMS_PER_REQUEST",
        default_value_t = 64
    )]
    pub max_items_per_request: usize,
    /// Decryptions /v1/verify and /v1/rotate may run at once, apart from the reconciler's [default: half the cores, at least 1]
    #[arg(long, env = "SEALED_SECRETS_API_DECRYPT_CONCURRENCY")]
    pub api_decrypt_concurrency: Option<usize>,
    /// Leave namespace/name labels out of /metrics (the inventory is sensitive)
    #[arg(long, env = "SEALED_SECRETS_METRICS_OMIT_SECRET_LABELS", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub metrics_omit_secret_labels: bool,
    /// Write status (Synced condition, observedGeneration) on SealedSecrets
    #[arg(long, env = "SEALED_SECRETS_UPDATE_STATUS", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true")]
    pub update_status: bool,
    /// Watch the key Secrets, so keys made by the leader, created externally or relabelled `compromised` are used without a restart (false: read them once at start, as Bitnami's default; refused with --leader-elect)
    #[arg(long, env = "SEALED_SECRETS_WATCH_FOR_SECRETS", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true")]
    pub watch_for_secrets: bool,
    /// Do not recreate Secrets deleted behind the controller's back
    #[arg(long, env = "SEALED_SECRETS_SKIP_RECREATE", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub skip_recreate: bool,
    /// Give up on a SealedSecret after this many failed decryptions (until it or the keys change)
    #[arg(long, env = "SEALED_SECRETS_MAX_UNSEAL_RETRIES", default_value_t = 5)]
    pub max_unseal_retries: u32,
    /// Decryptions the SealedSecret reconciler runs at once [default: number of cores]
    #[arg(long, env = "SEALED_SECRETS_DECRYPT_CONCURRENCY")]
    pub decrypt_concurrency: Option<usize>,
    /// Log level (error, warn, info, debug, trace, or a tracing filter)
    #[arg(long, env = "SEALED_SECRETS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format
    #[arg(
        long,
        env = "SEALED_SECRETS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Serve the sealing page at / on the API address (false: / is 404)
    #[arg(long, env = "SEALED_SECRETS_WEB", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true")]
    pub web: bool,
    /// Address of the API (/v1/cert.pem, /v1/verify, /v1/rotate, /healthz, /readyz)
    #[arg(long, env = "SEALED_SECRETS_LISTEN_ADDR", default_value = ":8080", value_parser = parse_listen_addr)]
    pub listen_addr: SocketAddr,
    /// Address of /metrics (and /healthz, /readyz)
    #[arg(long, env = "SEALED_SECRETS_LISTEN_METRICS_ADDR", default_value = ":8081", value_parser = parse_listen_addr)]
    pub listen_metrics_addr: SocketAddr,
    /// Elect one writer among replicas with a coordination.k8s.io Lease
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub leader_elect: bool,
    /// Name of the leader Lease
    #[arg(
        long,
        env = "SEALED_SECRETS_LEADER_ELECT_LEASE_NAME",
        default_value = "sealed-secrets-controller"
    )]
    pub leader_elect_lease_name: String,
    /// How long a leader's Lease holds without renewal (Go duration)
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT_LEASE_DURATION", default_value = "15s", value_parser = parse_go_duration)]
    pub leader_elect_lease_duration: Duration,
    /// How often the leader renews (and others retry) (Go duration)
    #[arg(long, env = "SEALED_SECRETS_LEADER_ELECT_RETRY_PERIOD", default_value = "2s", value_parser = parse_go_duration)]
    pub leader_elect_retry_period: Duration,
    /// Identity in the Lease [default: $POD_NAME, else the host name]
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Run the ExternalSecret bridge (external-secrets.io/v1) in this process
    #[arg(long, env = "SEALED_SECRETS_EXTERNAL_SECRETS", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub external_secrets: bool,
    /// Namespaces the ExternalSecret bridge serves, comma-separated (its ExternalSecrets, stores, target Secrets, and the only namespaces it reads credentials from) [default: every namespace]
    #[arg(
        long,
        env = "SEALED_SECRETS_EXTERNAL_SECRETS_NAMESPACES",
        value_delimiter = ','
    )]
    pub external_secrets_namespaces: Vec<String>,
    /// Let provider URLs reach link-local addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, fd00:ec2::23: cloud metadata and credential endpoints)
    #[arg(long, env = "SEALED_SECRETS_EXTERNAL_SECRETS_ALLOW_LINK_LOCAL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub external_secrets_allow_link_local: bool,
    /// ExternalSecrets reconciled at once
    #[arg(
        long,
        env = "SEALED_SECRETS_EXTERNAL_SECRETS_CONCURRENCY",
        default_value_t = 16
    )]
    pub external_secrets_concurrency: u16,
    /// Provider calls per second per secret store, burst twice that (0 = unlimited)
    #[arg(
        long,
        env = "SEALED_SECRETS_EXTERNAL_SECRETS_STORE_QPS",
        default_value_t = 200.0
    )]
    pub external_secrets_store_qps: f64,
    /// Controller class: stores whose spec.controller names another class are ignored
    #[arg(
        long,
        env = "SEALED_SECRETS_EXTERNAL_SECRETS_CONTROLLER_CLASS",
        default_value = ""
    )]
    pub external_secrets_controller_class: String,
    /// AWS Secrets Manager endpoint instead of https://secretsmanager.<region>.amazonaws.com
    #[arg(long, env = "AWS_SECRETSMANAGER_ENDPOINT")]
    pub aws_secretsmanager_endpoint: Option<String>,
    /// Keep sealing private keys wrapped by these Vault/OpenBao transit keys (https://HOST:8200/v1/transit/keys/NAME, comma-separated; token from VAULT_TOKEN): new keys are stored wrapped, wrapped keys are unwrapped at start
    #[arg(
        long,
        env = "SEALED_SECRETS_KEY_WRAP_HC_VAULT_TRANSIT",
        value_delimiter = ','
    )]
    pub key_wrap_hc_vault_transit: Vec<String>,
    /// Keep sealing private keys wrapped by these AWS KMS keys (ARNs, comma-separated; credentials and endpoint from AWS_*)
    #[arg(long, env = "SEALED_SECRETS_KEY_WRAP_KMS", value_delimiter = ',')]
    pub key_wrap_kms: Vec<String>,
    /// Keep sealing private keys wrapped by these GCP Cloud KMS keys (resource IDs, comma-separated; credentials from GOOGLE_*)
    #[arg(long, env = "SEALED_SECRETS_KEY_WRAP_GCP_KMS", value_delimiter = ',')]
    pub key_wrap_gcp_kms: Vec<String>,
    /// Keep sealing private keys wrapped by these Azure Key Vault keys (key URLs, comma-separated; credentials from AZURE_*)
    #[arg(long, env = "SEALED_SECRETS_KEY_WRAP_AZURE_KV", value_delimiter = ',')]
    pub key_wrap_azure_kv: Vec<String>,
}

/// `k=v,k2=v2` parsed.
pub type KeyValues = Vec<(String, String)>;

impl RunArgs {
    /// The `--key-wrap-*` master keys.
    pub fn key_wrap_flags(&self) -> crate::keyring::wrap::WrapFlags {
        crate::keyring::wrap::WrapFlags {
            hc_vault_transit: self.key_wrap_hc_vault_transit.clone(),
            kms: self.key_wrap_kms.clone(),
            gcp_kms: self.key_wrap_gcp_kms.clone(),
            azure_kv: self.key_wrap_azure_kv.clone(),
        }
    }

    /// The namespaces to watch, `None` for all.
    pub fn watched_namespaces(&self, key_namespace: &str) -> Option<Vec<String>> {
        let extra: Vec<String> = self
            .additional_namespaces
            .iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        if self.all_namespaces && extra.is_empty() {
            return None;
        }
        let mut all = vec![key_namespace.to_owned()];
        for n in extra {
            if !all.contains(&n) {
                all.push(n);
            }
        }
        Some(all)
    }

    /// The namespaces the ExternalSecret bridge serves, `None` for all (sorted, without
    /// duplicates or blanks).
    pub fn external_secrets_namespaces(&self) -> Option<Vec<String>> {
        let mut list: Vec<String> = self
            .external_secrets_namespaces
            .iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        list.sort();
        list.dedup();
        (!list.is_empty()).then_some(list)
    }

    /// The key namespace as Bitnami resolves it: flag/env, `$POD_NAMESPACE`, the service
    /// account's namespace file, else `kube-system` (outside a cluster).
    pub fn resolve_key_namespace(&self) -> String {
        if let Some(ns) = self.key_namespace.as_ref().filter(|n| !n.is_empty()) {
            return ns.clone();
        }
        if let Ok(ns) = std::env::var("POD_NAMESPACE")
            && !ns.is_empty()
        {
            return ns;
        }
        if let Ok(ns) =
            fs_err::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            && !ns.trim().is_empty()
        {
            return ns.trim().to_owned();
        }
        "kube-system".to_owned()
    }

    /// Identity of this replica in the Lease.
    pub fn resolve_identity(&self) -> String {
        self.identity
            .clone()
            .filter(|i| !i.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| format!("seal-controller-{}", std::process::id()))
    }
}

/// Parses `--key-cutoff-time` (Go `time.RFC1123Z`: `Mon, 02 Jan 2006 15:04:05 -0700`).
pub fn parse_cutoff_time(text: &str) -> Result<OffsetDateTime, String> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(text.trim(), &format)
        .or_else(|_| {
            OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc2822)
        })
        .map_err(|e| format!("invalid time {text:?} (expected RFC 1123 as `date -R` prints): {e}"))
}

/// Parses `k=v,k2=v2`.
pub fn parse_key_values(text: &str) -> Result<KeyValues, String> {
    let mut out = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got {pair:?}"))?;
        if k.is_empty() {
            return Err(format!("empty key in {pair:?}"));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

fn parse_key_prefix(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.len() > 245
        || !text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "invalid key prefix {text:?}: use 1 to 245 characters of [a-z0-9-]"
        ));
    }
    Ok(text.to_owned())
}

/// Parses one `--trusted-proxies` entry: a CIDR (`10.0.0.0/8`) or one address.
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("invalid trusted proxy {text:?} (expected a CIDR or an IP address)"))
}

/// Parses a Go listen address: `:8080` means every interface.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    full.parse()
        .map_err(|_| format!("invalid listen address {text:?} (expected host:port or :port)"))
}

/// Checks combinations clap cannot.
pub fn validate(args: &RunArgs) -> Result<()> {
    if !matches!(args.key_size, 2048 | 3072 | 4096 | 8192) {
        return Err(Error::Config(format!(
            "--key-size {} is not supported (use 2048, 3072, 4096 or 8192)",
            args.key_size
        )));
    }
    if args.leader_elect && args.leader_elect_retry_period >= args.leader_elect_lease_duration {
        return Err(Error::Config(
            "--leader-elect-retry-period must be shorter than --leader-elect-lease-duration".into(),
        ));
    }
    if !args.sealed_secrets && !args.external_secrets {
        return Err(Error::Config(
            "--sealed-secrets=false and --external-secrets=false leave nothing to run".into(),
        ));
    }
    if args.sealed_secrets && args.leader_elect && !args.watch_for_secrets {
        return Err(Error::Config(
            "--watch-for-secrets=false cannot be used with --leader-elect: replicas would not see the keys the leader makes".into(),
        ));
    }
    if args.max_items_per_request == 0 {
        return Err(Error::Config(
            "--max-items-per-request must be at least 1".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        let mut full = vec!["seal-controller"];
        full.extend_from_slice(args);
        Args::try_parse_from(full).unwrap()
    }

    #[test]
    fn defaults_are_bitnamis() {
        let a = parse(&[]).run;
        assert_eq!(a.key_prefix, "sealed-secrets-key");
        assert_eq!(a.key_size, 4096);
        assert_eq!(a.key_renew_period, Duration::from_secs(720 * 3600));
        assert_eq!(a.key_ttl, Duration::from_secs(87600 * 3600));
        assert!(a.all_namespaces && a.update_status && a.accept_deprecated_v1_data);
        assert_eq!(a.max_unseal_retries, 5);
        assert_eq!(a.listen_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(a.listen_metrics_addr, "0.0.0.0:8081".parse().unwrap());
        assert_eq!(a.log_format, LogFormat::Text);
        assert!(
            !a.external_secrets,
            "the bridge is off by default (issue 13)"
        );
        assert_eq!(a.external_secrets_namespaces(), None);
        assert!(!a.external_secrets_allow_link_local);
        assert_eq!(a.external_secrets_concurrency, 16);
        assert_eq!(a.external_secrets_store_qps, 200.0);
        assert!(!a.leader_elect);
    }

    #[test]
    fn go_style_booleans_and_the_rotate_period_alias_parse() {
        let a = parse(&[
            "--update-status=false",
            "--leader-elect",
            "--rotate-period=0",
            "--additional-namespaces=a,b",
        ])
        .run;
        assert!(!a.update_status);
        assert!(a.leader_elect);
        assert_eq!(a.key_renew_period, Duration::ZERO);
        assert_eq!(
            a.watched_namespaces("kube-system").unwrap(),
            ["kube-system", "a", "b"]
        );
    }

    #[test]
    fn the_bridge_serves_the_listed_namespaces_only() {
        let a = parse(&[
            "--external-secrets",
            "--external-secrets-namespaces=team-b, team-a,,team-b",
            "--external-secrets-allow-link-local",
        ])
        .run;
        assert!(a.external_secrets && a.external_secrets_allow_link_local);
        assert_eq!(
            a.external_secrets_namespaces().unwrap(),
            ["team-a", "team-b"]
        );
        let off = parse(&["--external-secrets=false"]).run;
        assert!(!off.external_secrets);
    }

    #[test]
    fn all_namespaces_is_the_default_watch() {
        assert_eq!(parse(&[]).run.watched_namespaces("kube-system"), None);
        assert_eq!(
            parse(&["--all-namespaces=false"])
                .run
                .watched_namespaces("ks")
                .unwrap(),
            ["ks"]
        );
    }

    #[test]
    fn cutoff_time_takes_date_dash_r_output() {
        let t = parse_cutoff_time("Mon, 23 Nov 2026 10:00:00 +0100").unwrap();
        assert_eq!(t.unix_timestamp(), 1_795_424_400);
        assert!(parse_cutoff_time("2026-11-23").is_err());
    }

    #[test]
    fn key_values_and_prefix_are_validated() {
        assert_eq!(
            parse_key_values("a=1, b=x=y").unwrap(),
            [("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
        assert!(parse_key_values("novalue").is_err());
        assert!(Args::try_parse_from(["seal-controller", "--key-prefix=Bad_Prefix"]).is_err());
    }

    #[test]
    fn the_sealed_secret_side_and_the_key_watch_are_on_by_default() {
        let a = parse(&[]).run;
        assert!(a.sealed_secrets && a.watch_for_secrets);
        assert_eq!(a.max_items_per_request, 64);
        assert!(a.trusted_proxies.is_empty());
    }

    #[test]
    fn nothing_to_run_and_an_unwatched_keyring_under_leader_election_are_refused() {
        let err = |args: &[&str]| validate(&parse(args).run).unwrap_err().to_string();
        assert_eq!(
            err(&["--sealed-secrets=false", "--external-secrets=false"]),
            "invalid configuration: --sealed-secrets=false and --external-secrets=false leave nothing to run"
        );
        assert!(
            err(&["--watch-for-secrets=false", "--leader-elect"])
                .contains("--watch-for-secrets=false cannot be used with --leader-elect")
        );
        assert!(validate(&parse(&["--watch-for-secrets=false"]).run).is_ok());
        assert!(
            validate(&parse(&["--sealed-secrets=false", "--external-secrets=true"]).run).is_ok()
        );
    }

    #[test]
    fn trusted_proxies_take_cidrs_and_single_addresses() {
        let a = parse(&["--trusted-proxies=10.0.0.0/8, 192.168.1.1,fd00::/8"]).run;
        assert_eq!(
            a.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["10.0.0.0/8", "192.168.1.1/32", "fd00::/8"]
        );
        assert!(
            Args::try_parse_from(["seal-controller", "--trusted-proxies=example.com"]).is_err()
        );
    }

    #[test]
    fn crds_is_a_subcommand() {
        assert!(matches!(parse(&["crds"]).command, Some(Command::Crds)));
    }
}
