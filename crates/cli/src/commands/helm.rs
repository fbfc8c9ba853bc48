//! `seal helm`: helm with SOPS-encrypted values, as jkroepke/helm-secrets does it.
//!
//! - `seal helm <helm command> …` (helm-secrets' `helm secrets <cmd>` wrapper,
//!   `scripts/commands/helm.sh`): every `-f`/`--values` file (comma lists, `--values=…`) and
//!   every `--set-file key=path` that is SOPS-encrypted is decrypted into a 0700 temporary
//!   directory, helm runs with those paths, and the directory is removed afterwards on every
//!   exit path (helm's status, an error, SIGINT/SIGTERM/SIGHUP). Unencrypted files pass
//!   through; `?path` ignores a missing file; `secrets://…` URLs are decrypted here too.
//! - `seal helm downloader CERT KEY CA URL`: helm's downloader-plugin protocol
//!   (`pkg/getter/plugingetter.go`: the command gets cert, key and CA file and the URL, and
//!   prints the content on stdout) for `secrets://[?][sops!]path`,
//!   `secrets+age-import://KEYFILE?path`, `secrets+age-import-kubernetes://[ns/]secret#key?path`
//!   and `secrets+literal://…` (helm-secrets' `scripts/commands/downloader.sh`).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sealer::sops::Format;
use sealer::sops::master_keys::Unwrappers;
use sealer::sops::master_keys::age::IdentityEnv;
use zeroize::Zeroizing;

use super::sops_args::TypeArgs;
use super::sops_common::{self, Formats, Opened};
use super::sops_io;
use crate::env;
use crate::printer::Printer;
use crate::report::UsageError;

/// Arguments of `seal helm`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    $ seal helm upgrade --install app ./chart -f values.yaml -f secrets.prod.yaml\n  \
    $ seal helm template app ./chart -f secrets://secrets.yaml\n  \
    $ seal helm downloader '' '' '' secrets://secrets.yaml      # as helm's getter runs it")]
pub struct Args {
    /// `downloader CERT KEY CA URL`, or a helm command with its arguments (`template`,
    /// `install`, `upgrade`, `lint`, `diff upgrade`, …).
    #[arg(
        value_name = "HELM_ARGS",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<OsString>,
}

/// Runs `seal helm`.
pub fn run(args: &Args, printer: &Printer) -> anyhow::Result<ExitCode> {
    if args.args.first().map(OsString::as_os_str) == Some(OsStr::new("downloader")) {
        let [_, _cert, _key, _ca, url] = args.args.as_slice() else {
            return Err(UsageError(
                "usage: seal helm downloader CERT_FILE KEY_FILE CA_FILE URL (helm's downloader \
                 protocol)"
                    .into(),
            )
            .into());
        };
        let url = url
            .to_str()
            .context("the downloader URL is not valid UTF-8")?;
        let content = download(url)?;
        printer.data(&content)?;
        return Ok(ExitCode::SUCCESS);
    }
    wrap_helm(&args.args)
}

/// Where a values file comes from.
#[derive(Debug, PartialEq, Eq)]
enum ValuesSource {
    /// A local file.
    File { path: String, ignore_missing: bool },
    /// A local file, decrypted with the age identities in `key_file`.
    AgeImport {
        key_file: String,
        path: String,
        ignore_missing: bool,
    },
    /// A local file, decrypted with the age identities in a Kubernetes Secret.
    AgeImportKubernetes {
        namespace: Option<String>,
        secret: String,
        key: String,
        path: String,
        ignore_missing: bool,
    },
    /// A SOPS-encrypted JSON document given inline.
    Literal(String),
}

impl ValuesSource {
    /// The values file and whether a missing one is ignored, or the literal's text.
    fn file(&self) -> Result<(&str, bool), &str> {
        match self {
            Self::Literal(text) => Err(text),
            Self::File {
                path,
                ignore_missing,
            }
            | Self::AgeImport {
                path,
                ignore_missing,
                ..
            }
            | Self::AgeImportKubernetes {
                path,
                ignore_missing,
                ..
            } => Ok((path, *ignore_missing)),
        }
    }
}

/// Takes `?` (ignore a missing file) and `sops!` (the backend) off the front.
fn strip_flags(rest: &str) -> anyhow::Result<(&str, bool)> {
    let (rest, ignore_missing) = match rest.strip_prefix('?') {
        Some(r) => (r, true),
        None => (rest, false),
    };
    Ok((strip_backend(rest)?, ignore_missing))
}

fn strip_backend(rest: &str) -> anyhow::Result<&str> {
    match rest.split_once('!') {
        Some(("sops", path)) => Ok(path),
        Some((backend, _)) if !backend.contains('/') && !backend.is_empty() => bail!(
            "secret backend `{backend}` is not supported: seal decrypts with the sops backend only"
        ),
        _ => Ok(rest),
    }
}

/// `KEY?PATH` (helm-secrets splits at the first `?`).
fn key_and_path(rest: &str, scheme: &str) -> anyhow::Result<(String, String)> {
    match rest.split_once('?') {
        Some((key, path)) if !key.is_empty() && !path.is_empty() => {
            Ok((key.to_owned(), path.to_owned()))
        }
        _ => bail!("invalid syntax: {scheme}://[key location]?[path to values file]"),
    }
}

impl ValuesSource {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let env_allows = |name: &str| std::env::var(name).map_or(true, |v| v != "false");
        if let Some(rest) = url.strip_prefix("secrets://") {
            let (path, ignore_missing) = strip_flags(rest)?;
            return Ok(Self::File {
                path: path.to_owned(),
                ignore_missing,
            });
        }
        if let Some(rest) = url.strip_prefix("secrets+age-import://") {
            if !env_allows("HELM_SECRETS_ALLOW_AGE_IMPORT") {
                bail!("secrets+age-import:// is not allowed in this context");
            }
            let (rest, ignore_missing) = strip_flags(rest)?;
            let (key_file, path) = key_and_path(rest, "secrets+age-import")?;
            let prefix = std::env::var("HELM_SECRETS_KEY_LOCATION_PREFIX").unwrap_or_default();
            if !key_file.starts_with(&prefix) {
                bail!("key location `{key_file}` is not allowed");
            }
            return Ok(Self::AgeImport {
                key_file,
                path,
                ignore_missing,
            });
        }
        if let Some(rest) = url.strip_prefix("secrets+age-import-kubernetes://") {
            if !env_allows("HELM_SECRETS_ALLOW_AGE_IMPORT_KUBERNETES") {
                bail!("secrets+age-import-kubernetes:// is not allowed in this context");
            }
            let (rest, ignore_missing) = strip_flags(rest)?;
            let (location, path) = key_and_path(rest, "secrets+age-import-kubernetes")?;
            let (secret, key) = location.split_once('#').with_context(|| {
                format!("invalid key location `{location}`: expected [namespace/]secret#key")
            })?;
            let (namespace, secret) = match secret.split_once('/') {
                Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
                None => (None, secret.to_owned()),
            };
            return Ok(Self::AgeImportKubernetes {
                namespace,
                secret,
                key: key.to_owned(),
                path,
                ignore_missing,
            });
        }
        if let Some(rest) = url.strip_prefix("secrets+literal://") {
            return Ok(Self::Literal(strip_backend(rest)?.to_owned()));
        }
        if url.starts_with("secrets+gpg-import://")
            || url.starts_with("secrets+gpg-import-kubernetes://")
        {
            bail!(
                "secrets+gpg-import URLs are not supported: import the key into your GnuPG \
                 keyring and use secrets://"
            );
        }
        bail!("unknown protocol `{url}`")
    }
}

/// The age identities a source asks for, else the process environment's.
fn keys_for(source: &ValuesSource) -> anyhow::Result<Unwrappers> {
    let process = IdentityEnv::from_process();
    Ok(match source {
        ValuesSource::AgeImport { key_file, .. } => Unwrappers::from_env(IdentityEnv {
            age_key_file: Some(PathBuf::from(key_file)),
            ..process
        }),
        ValuesSource::AgeImportKubernetes {
            namespace,
            secret,
            key,
            ..
        } => {
            let identities = kubernetes_secret_value(namespace.as_deref(), secret, key)?;
            Unwrappers::from_env(IdentityEnv {
                age_key: Some(identities.to_string()),
                ..process
            })
        }
        _ => Unwrappers::from_process_env(),
    })
}

/// One data value of a Secret, read with kubectl (helm-secrets' `_age_init_kubernetes`),
/// kept in memory.
fn kubernetes_secret_value(
    namespace: Option<&str>,
    secret: &str,
    key: &str,
) -> anyhow::Result<Zeroizing<String>> {
    let kubectl =
        std::env::var_os(env::HELM_SECRETS_KUBECTL_PATH).unwrap_or_else(|| "kubectl".into());
    let mut command = Command::new(&kubectl);
    command.args(["get", "secret"]);
    if let Some(ns) = namespace {
        command.args(["-n", ns]);
    }
    command
        .arg(secret)
        .arg("-o")
        .arg(format!("go-template={{{{ index .data \"{key}\" }}}}"));
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running `{}`", kubectl.to_string_lossy()))?;
    let location = match namespace {
        Some(ns) => format!("{ns}/{secret}"),
        None => secret.to_owned(),
    };
    if !output.status.success() {
        bail!("couldn't get kubernetes secret {location}");
    }
    let encoded = Zeroizing::new(output.stdout);
    let decoded = sealer::encoding::decode_std(String::from_utf8_lossy(&encoded).trim())
        .ok()
        .filter(|d| !d.is_empty())
        .with_context(|| format!("couldn't find key {key} in kubernetes secret {location}"))?;
    Ok(Zeroizing::new(
        String::from_utf8(decoded).context("the age key in the Secret is not text")?,
    ))
}

/// The store helm-secrets picks for a file it decrypts with type `auto`
/// (`_sops_dec_get_type`): YAML if a line is `sops:`, binary if it holds `"data": "ENC`,
/// else JSON.
fn sniff_format(bytes: &[u8]) -> Format {
    let text = String::from_utf8_lossy(bytes);
    if text.lines().any(|l| l.trim_end() == "sops:") {
        Format::Yaml
    } else if text.contains("\"data\": \"ENC") {
        Format::Binary
    } else {
        Format::Json
    }
}

/// The cleartext of a values file, or `None` when it is not SOPS-encrypted (helm-secrets
/// passes such files through unchanged).
fn decrypt_file(
    path: &Path,
    format: Option<Format>,
    keys: &Unwrappers,
) -> anyhow::Result<Option<Zeroizing<Vec<u8>>>> {
    let bytes = Zeroizing::new(fs_err::read(path)?);
    let format = format.unwrap_or_else(|| sniff_format(&bytes));
    let formats = Formats {
        input: format,
        output: format,
        ..Formats::resolve(path, &TypeArgs::default())?
    };
    if !sops_common::is_encrypted(&bytes, formats) {
        return Ok(None);
    }
    let opened = Opened::decrypt_with(&bytes, path, formats, false, keys)
        .with_context(|| format!("error while decrypting file: {}", path.display()))?;
    Ok(Some(opened.plaintext_bytes()?))
}

/// What the downloader prints for `url`.
fn download(url: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let source = ValuesSource::parse(url)?;
    let keys = keys_for(&source)?;
    let (path, ignore_missing) = match source.file() {
        Ok(file) => file,
        Err(literal) => return decrypt_literal(literal, &keys),
    };
    let path = checked_values_path(path)?;
    if !path.is_file() {
        if ignore_missing {
            return Ok(Zeroizing::new(Vec::new()));
        }
        bail!("file does not exist: {}", path.display());
    }
    match decrypt_file(&path, None, &keys)? {
        Some(plaintext) => Ok(plaintext),
        None => Ok(Zeroizing::new(fs_err::read(&path)?)),
    }
}

/// `secrets+literal://`: an encrypted JSON document is decrypted, anything else printed as is.
fn decrypt_literal(text: &str, keys: &Unwrappers) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let formats = Formats {
        input: Format::Json,
        output: Format::Json,
        ..Formats::resolve(Path::new("literal.json"), &TypeArgs::default())?
    };
    if !sops_common::is_encrypted(text.as_bytes(), formats) {
        return Ok(Zeroizing::new(text.as_bytes().to_vec()));
    }
    let opened = Opened::decrypt_with(
        text.as_bytes(),
        Path::new("secrets+literal"),
        formats,
        false,
        keys,
    )?;
    opened.plaintext_bytes()
}

/// helm-secrets' hardening switches for values paths (`HELM_SECRETS_VALUES_ALLOW_SYMLINKS`,
/// `…_ABSOLUTE_PATH`, `…_PATH_TRAVERSAL`; all allowed unless set to `false`).
fn checked_values_path(path: &str) -> anyhow::Result<PathBuf> {
    let denied = |name: &str| std::env::var(name).is_ok_and(|v| v == "false");
    if path.starts_with("http://") || path.starts_with("https://") {
        bail!("remote values files ({path}) are not supported by seal; download them first");
    }
    let p = PathBuf::from(path);
    if denied("HELM_SECRETS_VALUES_ALLOW_SYMLINKS") && p.is_symlink() {
        bail!("values file '{path}' is a symlink; symlinks are not allowed");
    }
    if denied("HELM_SECRETS_VALUES_ALLOW_ABSOLUTE_PATH") && p.is_absolute() {
        bail!("values filepath '{path}' is an absolute path; absolute paths are not allowed");
    }
    if denied("HELM_SECRETS_VALUES_ALLOW_PATH_TRAVERSAL")
        && p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        bail!("values filepath '{path}' contains '..'; path traversal is not allowed");
    }
    Ok(p)
}

/// Splits a comma list at commas not preceded by a backslash (helm-secrets' `sed`).
fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let bytes = value.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b',' && i > 0 && bytes[i - 1] != b'\\' {
            parts.push(&value[start..i]);
            start = i + 1;
        }
    }
    parts.push(&value[start..]);
    parts
}

/// The private directory of one wrapped helm run and the files decrypted into it.
struct Decrypted {
    dir: tempfile::TempDir,
    count: usize,
}

impl Decrypted {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            dir: sops_io::private_temp_dir()?,
            count: 0,
        })
    }

    /// The path helm gets for one values entry (after `?` and `sops!`).
    fn replace(&mut self, entry: &str, format: Option<Format>) -> anyhow::Result<String> {
        let source = if entry.contains("://") {
            ValuesSource::parse(entry)?
        } else {
            let (path, ignore_missing) = strip_flags(entry)?;
            ValuesSource::File {
                path: path.to_owned(),
                ignore_missing,
            }
        };
        let keys = keys_for(&source)?;
        let Ok((path, ignore_missing)) = source.file() else {
            let plaintext = download(entry)?;
            return self.write("literal.json", &plaintext);
        };
        let path = path.to_owned();
        if path == "-" {
            return Ok(path);
        }
        let checked = checked_values_path(&path)?;
        if !checked.is_file() {
            if ignore_missing {
                // helm-secrets gives helm an empty file in place of a missing `?file`.
                return self.write("missing.yaml", b"");
            }
            bail!("file does not exist: {path}");
        }
        match decrypt_file(&checked, format, &keys)? {
            Some(plaintext) => {
                let name = checked
                    .file_name()
                    .map_or_else(|| "values".into(), |n| n.to_string_lossy().into_owned());
                self.write(&name, &plaintext)
            }
            None => Ok(path),
        }
    }

    fn write(&mut self, name: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        let path = self.dir.path().join(format!("{}-{name}", self.count));
        self.count += 1;
        sops_io::write_private_file(&path, plaintext)?;
        Ok(path.to_string_lossy().into_owned())
    }

    /// A `-f`/`--values` list (`a.yaml,secrets.yaml`), entries decrypted as YAML.
    fn values_list(&mut self, value: &str) -> anyhow::Result<String> {
        let mut out = Vec::new();
        for entry in split_list(value) {
            out.push(self.replace(entry, Some(Format::Yaml))?);
        }
        Ok(out.join(","))
    }

    /// A `--set-file` list (`key=path,key2=path2`), entries decrypted by sniffing.
    fn set_file_list(&mut self, value: &str) -> anyhow::Result<String> {
        let mut out = Vec::new();
        for entry in split_list(value) {
            let (key, path) = entry
                .split_once('=')
                .with_context(|| format!("--set-file `{entry}`: expected key=path"))?;
            out.push(format!("{key}={}", self.replace(path, None)?));
        }
        Ok(out.join(","))
    }
}

/// Rewrites helm's arguments, runs helm, removes the decrypted files, returns helm's status.
fn wrap_helm(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let interrupted = sops_io::interrupt_flag()?;
    let mut decrypted = Decrypted::new()?;
    let helm_args = rewrite_args(args, &mut decrypted)?;
    // helm sets HELM_BIN for plugins (`helm sealkit upgrade …` runs this wrapper).
    let helm = std::env::var_os(env::HELM_SECRETS_HELM_PATH)
        .or_else(|| std::env::var_os(env::HELM_BIN))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "helm".into());
    let mut child = Command::new(&helm)
        .args(&helm_args)
        .spawn()
        .with_context(|| {
            format!(
                "running `{}` (install helm or set {})",
                helm.to_string_lossy(),
                env::HELM_SECRETS_HELM_PATH
            )
        })?;
    let mut forwarded = false;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for helm")? {
            break status;
        }
        if interrupted.load(Ordering::SeqCst) && !forwarded {
            // A terminal's Ctrl-C reached helm already (same process group); a SIGTERM sent
            // to seal alone is passed on so helm stops and the files go.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            forwarded = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The plaintext leaves the disk before anything else happens.
    drop(decrypted);
    if interrupted.load(Ordering::SeqCst) {
        return Ok(ExitCode::from(130));
    }
    Ok(sops_common::exit_code_of(status))
}

/// helm's arguments with encrypted values files replaced by their decrypted copies.
fn rewrite_args(args: &[OsString], decrypted: &mut Decrypted) -> anyhow::Result<Vec<OsString>> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg.clone());
            continue;
        };
        match text {
            "-f" | "--values" | "--set-file" => {
                let value = iter
                    .next()
                    .with_context(|| format!("`{text}` needs a value"))?;
                let value = value
                    .to_str()
                    .with_context(|| format!("`{text}` value is not valid UTF-8"))?;
                out.push(arg.clone());
                let replaced = if text == "--set-file" {
                    decrypted.set_file_list(value)?
                } else {
                    decrypted.values_list(value)?
                };
                out.push(replaced.into());
            }
            _ => {
                if let Some(value) = text.strip_prefix("--values=") {
                    out.push(format!("--values={}", decrypted.values_list(value)?).into());
                } else if let Some(value) = text.strip_prefix("--set-file=") {
                    out.push(format!("--set-file={}", decrypted.set_file_list(value)?).into());
                } else {
                    out.push(arg.clone());
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloader_urls_parse_as_helm_secrets_reads_them() {
        assert_eq!(
            ValuesSource::parse("secrets://values/secrets.yaml").unwrap(),
            ValuesSource::File {
                path: "values/secrets.yaml".into(),
                ignore_missing: false
            }
        );
        assert_eq!(
            ValuesSource::parse("secrets://?sops!missing.yaml").unwrap(),
            ValuesSource::File {
                path: "missing.yaml".into(),
                ignore_missing: true
            }
        );
        assert_eq!(
            ValuesSource::parse("secrets+age-import:///keys/key.txt?secrets.yaml").unwrap(),
            ValuesSource::AgeImport {
                key_file: "/keys/key.txt".into(),
                path: "secrets.yaml".into(),
                ignore_missing: false
            }
        );
        assert_eq!(
            ValuesSource::parse("secrets+age-import-kubernetes://argocd/age#key.txt?s.yaml")
                .unwrap(),
            ValuesSource::AgeImportKubernetes {
                namespace: Some("argocd".into()),
                secret: "age".into(),
                key: "key.txt".into(),
                path: "s.yaml".into(),
                ignore_missing: false
            }
        );
        assert!(
            ValuesSource::parse("secrets://vals!ref+vault://x")
                .unwrap_err()
                .to_string()
                .contains("`vals` is not supported")
        );
        assert!(ValuesSource::parse("secrets+age-import://nokey").is_err());
        assert!(ValuesSource::parse("https://example.com/v.yaml").is_err());
    }

    #[test]
    fn lists_split_at_unescaped_commas() {
        assert_eq!(split_list("a.yaml,b.yaml"), ["a.yaml", "b.yaml"]);
        assert_eq!(split_list(r"a\,b.yaml,c"), [r"a\,b.yaml", "c"]);
        assert_eq!(split_list("one"), ["one"]);
    }

    #[test]
    fn file_type_is_sniffed_like_helm_secrets() {
        assert_eq!(sniff_format(b"a: 1\nsops:\n    mac: x\n"), Format::Yaml);
        assert_eq!(
            sniff_format(b"{\n\t\"data\": \"ENC[AES256_GCM,x]\"\n}"),
            Format::Binary
        );
        assert_eq!(sniff_format(b"{\"a\": 1}"), Format::Json);
    }
}
