//! `seal diff A B`: what changed between two versions of a SOPS file or of SealedSecrets.
//!
//! SOPS files are decrypted in memory and compared as cleartext, a unified diff of the two in
//! their store's format; each value and comment is shown as a fingerprint (`<secret 1a2b3c4d>`,
//! equal only for equal values under the same key) unless `--show-values`. SealedSecrets
//! cannot be decrypted here: for each one, the items added, removed or re-sealed, and changes
//! of scope, template, name or namespace.
//!
//! git forms: `seal diff --textconv FILE` prints one version as git's `diff.<driver>.textconv`
//! wants it (fingerprints derived from the file's data key, so equal values in two versions
//! of a file match), and the seven arguments git gives a `diff.<driver>.command` (`PATH OLD
//! OLD-HEX OLD-MODE NEW NEW-HEX NEW-MODE`) are taken as `OLD NEW` named PATH.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sealer::sealed::{Scope, SealedSecretManifest};
use sealer::sops::mask::{self, MaskKey};
use sealer::sops::{EncryptedFile, Format};
use zeroize::Zeroizing;

use super::sops_args::{ConfigArgs, TypeArgs};
use super::sops_common::{Purpose, SopsFile};
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Arguments of `seal diff`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  $ seal diff old.enc.yaml new.enc.yaml\n  $ \
                        git diff  # with `seal git setup` done"
)]
pub struct Args {
    /// The two versions (A B), or with --textconv one file, or git's seven diff-command
    /// arguments.
    #[arg(value_name = "FILE", required = true, num_args = 1..=7)]
    pub files: Vec<PathBuf>,
    /// Show the cleartext values instead of fingerprints.
    #[arg(long)]
    pub show_values: bool,
    /// Print one file as git's textconv wants it.
    #[arg(long)]
    pub textconv: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub config: ConfigArgs,
}

/// Runs `seal diff`.
pub fn run(args: Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.textconv {
        let [file] = args.files.as_slice() else {
            anyhow::bail!("--textconv takes one FILE");
        };
        let text = textconv(file, &args)?;
        printer.data(&text)?;
        return Ok(ExitStatus::Success);
    }
    let (name, a, b) = match args.files.as_slice() {
        [a, b] => (None, a, b),
        [path, a, _, _, b, _, _] => (Some(path), a, b),
        _ => anyhow::bail!("seal diff takes two files (or git's seven diff-command arguments)"),
    };
    let out = diff(a, b, name.map(PathBuf::as_path), &args)?;
    printer.data(out.as_bytes())?;
    Ok(ExitStatus::Success)
}

/// What a file is, for comparing.
enum Kind {
    /// A SOPS file.
    Sops,
    /// YAML or JSON SealedSecrets.
    Sealed,
    /// Anything else: compared as text.
    Text,
}

fn kind_of(bytes: &[u8], name: &Path, types: &TypeArgs) -> Kind {
    let format = types.input_type.unwrap_or_else(|| Format::from_path(name));
    if EncryptedFile::is_encrypted(bytes, format) {
        return Kind::Sops;
    }
    let sealed = std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| sealed_secrets(t).ok())
        .is_some_and(|s| !s.is_empty());
    if sealed { Kind::Sealed } else { Kind::Text }
}

fn sealed_secrets(text: &str) -> anyhow::Result<Vec<SealedSecretManifest>> {
    let (_, docs) = sealer::yaml::parse_stream(text)?;
    docs.iter()
        .filter(|d| d.value.get("kind").and_then(|k| k.as_str()) == Some("SealedSecret"))
        .map(|d| Ok(d.parse::<SealedSecretManifest>("SealedSecret")?))
        .collect()
}

/// The cleartext of a SOPS file, masked unless `--show-values`.
fn sops_text(
    path: &Path,
    name: &Path,
    args: &Args,
    key: Option<&MaskKey>,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let file = SopsFile::new(
        path,
        Some(&name.to_string_lossy()),
        &args.types,
        &args.config,
        None,
    )?;
    let opened = file.open(false, Purpose::Read)?;
    if args.show_values {
        return opened.plaintext_bytes();
    }
    let derived;
    let key = match key {
        Some(key) => key,
        None => {
            derived = MaskKey::for_data_key(opened.data_key());
            &derived
        }
    };
    let masked = mask::masked(opened.plain()?, key);
    let format = match file.formats.output {
        // The binary store's one value is shown as YAML `data: <secret …>`.
        Format::Binary => Format::Yaml,
        other => other,
    };
    Ok(Zeroizing::new(
        masked
            .to_bytes_with(format, &file.formats.options)
            .with_context(|| path.display().to_string())?,
    ))
}

fn textconv(file: &Path, args: &Args) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let bytes = fs_err::read(file)?;
    match kind_of(&bytes, file, &args.types) {
        Kind::Sops => sops_text(file, file, args, None),
        Kind::Sealed => {
            let text = String::from_utf8(bytes)?;
            Ok(Zeroizing::new(
                sealed_summary(&sealed_secrets(&text)?).into_bytes(),
            ))
        }
        Kind::Text => Ok(Zeroizing::new(bytes)),
    }
}

fn diff(a: &Path, b: &Path, name: Option<&Path>, args: &Args) -> anyhow::Result<String> {
    let (a_bytes, b_bytes) = (fs_err::read(a)?, fs_err::read(b)?);
    let (a_name, b_name) = (name.unwrap_or(a), name.unwrap_or(b));
    let labels = (a.display().to_string(), b.display().to_string());
    let kinds = (
        kind_of(&a_bytes, a_name, &args.types),
        kind_of(&b_bytes, b_name, &args.types),
    );
    match kinds {
        (Kind::Sealed, Kind::Sealed) => {
            let a = sealed_secrets(std::str::from_utf8(&a_bytes)?)?;
            let b = sealed_secrets(std::str::from_utf8(&b_bytes)?)?;
            Ok(sealed_changes(&a, &b))
        }
        (Kind::Sops, Kind::Sops) => {
            // One key for both sides: equal values have equal fingerprints.
            let key = MaskKey::random();
            let a_text = sops_text(a, a_name, args, Some(&key))?;
            let b_text = sops_text(b, b_name, args, Some(&key))?;
            Ok(unified(&a_text, &b_text, &labels))
        }
        (Kind::Text, Kind::Text) => Ok(unified(&a_bytes, &b_bytes, &labels)),
        _ => anyhow::bail!(
            "{} and {} are not both SOPS files or both SealedSecrets",
            a.display(),
            b.display()
        ),
    }
}

fn unified(a: &[u8], b: &[u8], labels: &(String, String)) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    similar::TextDiff::from_lines(a.as_ref(), b.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(&labels.0, &labels.1)
        .to_string()
}

fn object_name(s: &SealedSecretManifest) -> String {
    format!(
        "{}/{}",
        s.metadata.namespace.as_deref().unwrap_or(""),
        s.metadata.name.as_deref().unwrap_or("")
    )
}

fn scope_of(s: &SealedSecretManifest) -> Scope {
    Scope::from_annotations(&s.metadata.annotations)
}

/// A fingerprint of a sealed item (the ciphertext is public: a hash of it says only whether
/// it changed).
fn blob_print(blob: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(blob.as_bytes())[..4])
}

/// One SealedSecret as lines that change when it does (git textconv).
fn sealed_summary(secrets: &[SealedSecretManifest]) -> String {
    let mut out = String::new();
    for s in secrets {
        out.push_str(&format!("SealedSecret {}\n", object_name(s)));
        out.push_str(&format!("  scope: {}\n", scope_of(s).as_str()));
        for (k, v) in &s.spec.encrypted_data {
            out.push_str(&format!("  item {k}: sealed {}\n", blob_print(v)));
        }
        if let Some(t) = &s.spec.template {
            let json = serde_json::to_string_pretty(t).unwrap_or_default();
            for line in json.lines() {
                out.push_str(&format!("  template {line}\n"));
            }
        }
    }
    out
}

/// What changed between two streams of SealedSecrets, matched by namespace/name.
fn sealed_changes(a: &[SealedSecretManifest], b: &[SealedSecretManifest]) -> String {
    let by_name = |list: &[SealedSecretManifest]| -> BTreeMap<String, SealedSecretManifest> {
        list.iter().map(|s| (object_name(s), s.clone())).collect()
    };
    let (a, b) = (by_name(a), by_name(b));
    let mut out = String::new();
    for (name, old) in &a {
        let Some(new) = b.get(name) else {
            out.push_str(&format!("- SealedSecret {name} (removed)\n"));
            continue;
        };
        let mut lines = Vec::new();
        let (so, sn) = (scope_of(old), scope_of(new));
        if so != sn {
            lines.push(format!("  scope: {} -> {}", so.as_str(), sn.as_str()));
        }
        for (k, v) in &old.spec.encrypted_data {
            match new.spec.encrypted_data.get(k) {
                None => lines.push(format!("  - {k} (removed)")),
                Some(nv) if nv != v => lines.push(format!("  ~ {k} (re-sealed)")),
                Some(_) => {}
            }
        }
        for k in new.spec.encrypted_data.keys() {
            if !old.spec.encrypted_data.contains_key(k) {
                lines.push(format!("  + {k} (added)"));
            }
        }
        if old.spec.template != new.spec.template {
            let show = |t: &Option<sealer::sealed::SecretTemplateSpec>| {
                serde_json::to_string_pretty(t).unwrap_or_default()
            };
            lines.push("  template changed:".to_owned());
            let diff =
                similar::TextDiff::from_lines(&show(&old.spec.template), &show(&new.spec.template))
                    .unified_diff()
                    .context_radius(1)
                    .to_string();
            lines.extend(diff.lines().map(|l| format!("    {l}")));
        }
        if !lines.is_empty() {
            out.push_str(&format!("~ SealedSecret {name}\n"));
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    for name in b.keys() {
        if !a.contains_key(name) {
            out.push_str(&format!("+ SealedSecret {name} (added)\n"));
        }
    }
    out
}
