//! age master keys, as sops uses them (getsops/sops `age/keysource.go`, v3.11.0).
//!
//! The `enc` value of a `sops.age[]` entry is an ASCII-armored age file
//! (age-encryption.org/v1) whose payload is the data key (32 bytes) or, with several key
//! groups, this group's Shamir share (33 bytes).
//!
//! Recipients: X25519 (`age1…`), post-quantum hybrid (`age1pq1…`, [`super::age_pq`]),
//! `ssh-ed25519 …` and `ssh-rsa …`. Plugin recipients are refused with a clear error.
//!
//! Identities are looked up where sops 3.11 looks, all of them loaded and all tried:
//! 1. `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, then `~/.ssh/id_ed25519` and `~/.ssh/id_rsa` if present;
//! 2. `SOPS_AGE_KEY` (identities, one per line);
//! 3. `SOPS_AGE_KEY_FILE` (a keys file);
//! 4. `SOPS_AGE_KEY_CMD` (a command whose stdout is a keys file);
//! 5. `<user config dir>/sops/age/keys.txt`, where the user config dir is `$XDG_CONFIG_HOME`
//!    if set and non-empty, else `~/.config` (on macOS `~/Library/Application Support`).
//!
//! In a keys file, empty lines and lines starting with `#` are skipped.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::Zeroizing;

use super::age_pq::{AgePqIdentity, AgePqRecipient};
use super::error::{Error, Result};

/// Env var holding age identities (one per line).
pub const SOPS_AGE_KEY: &str = "SOPS_AGE_KEY";
/// Env var naming an age keys file.
pub const SOPS_AGE_KEY_FILE: &str = "SOPS_AGE_KEY_FILE";
/// Env var holding a command that prints age identities.
pub const SOPS_AGE_KEY_CMD: &str = "SOPS_AGE_KEY_CMD";
/// Env var naming an ssh private key (ed25519 or rsa) used as an age identity.
pub const SOPS_AGE_SSH_PRIVATE_KEY_FILE: &str = "SOPS_AGE_SSH_PRIVATE_KEY_FILE";
/// The keys file below the user config directory.
pub const USER_KEYS_FILE: &str = "sops/age/keys.txt";

/// One age recipient: X25519, post-quantum hybrid or ssh public key.
#[derive(Clone)]
pub struct AgeRecipient {
    text: String,
    kind: RecipientKind,
}

#[derive(Clone)]
enum RecipientKind {
    X25519(age::x25519::Recipient),
    /// Boxed: the ML-KEM-768 + X25519 key is 1216 bytes.
    PostQuantum(Box<AgePqRecipient>),
    Ssh(age::ssh::Recipient),
}

impl std::fmt::Debug for AgeRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AgeRecipient").field(&self.text).finish()
    }
}

impl PartialEq for AgeRecipient {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for AgeRecipient {}

impl AgeRecipient {
    /// Parses one recipient (surrounding whitespace ignored), as sops `parseRecipient` does.
    pub fn parse(recipient: &str) -> Result<Self> {
        let text = recipient.trim();
        let invalid = |reason: &str| Error::InvalidRecipient {
            recipient: text.to_owned(),
            reason: reason.to_owned(),
        };
        let kind = if text.starts_with("age1pq1") {
            // ~2000 characters: name it by its start only.
            RecipientKind::PostQuantum(Box::new(AgePqRecipient::from_str(text).map_err(|e| {
                Error::InvalidRecipient {
                    recipient: shorten(text),
                    reason: e.to_string(),
                }
            })?))
        } else if let Some(rest) = text.strip_prefix("age1") {
            if rest.contains('1') {
                return Err(invalid("age plugin recipients are not supported"));
            }
            RecipientKind::X25519(
                age::x25519::Recipient::from_str(text)
                    .map_err(|_| invalid("not a Bech32-encoded age public key"))?,
            )
        } else if text.starts_with("ssh-") {
            RecipientKind::Ssh(
                age::ssh::Recipient::from_str(text)
                    .map_err(|_| invalid("not an ssh-ed25519 or ssh-rsa public key"))?,
            )
        } else {
            return Err(invalid("unknown recipient type"));
        };
        Ok(Self {
            text: text.to_owned(),
            kind,
        })
    }

    /// Parses a comma-separated list (sops `MasterKeysFromRecipients`); empty → none.
    pub fn parse_list(recipients: &str) -> Result<Vec<Self>> {
        if recipients.trim().is_empty() {
            return Ok(Vec::new());
        }
        recipients.split(',').map(Self::parse).collect()
    }

    /// The recipient as written in `.sops.yaml` and in `sops.age[].recipient`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Encrypts `secret` (a data key or a Shamir share) to this recipient as an
    /// ASCII-armored age file, the `enc` value sops writes.
    pub fn wrap(&self, secret: &[u8]) -> Result<String> {
        let recipient: &dyn age::Recipient = match &self.kind {
            RecipientKind::X25519(r) => r,
            RecipientKind::PostQuantum(r) => r.as_ref(),
            RecipientKind::Ssh(r) => r,
        };
        let encrypt_error = |e: Box<dyn std::error::Error + Send + Sync>| Error::Encrypt {
            recipient: self.text.clone(),
            source: e,
        };
        let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient))
            .map_err(|e| encrypt_error(e.into()))?;
        let io = |e: std::io::Error| encrypt_error(e.into());
        let armor = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).map_err(io)?;
        let mut writer = encryptor.wrap_output(armor).map_err(io)?;
        writer.write_all(secret).map_err(io)?;
        let armored = writer.finish().and_then(|a| a.finish()).map_err(io)?;
        String::from_utf8(armored).map_err(|e| encrypt_error(e.into()))
    }
}

impl std::fmt::Display for AgeRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn shorten(key: &str) -> String {
    let end = key
        .char_indices()
        .nth(24)
        .map_or(key.len(), |(index, _)| index);
    if end < key.len() {
        format!("{}…", &key[..end])
    } else {
        key.to_owned()
    }
}

/// Where identities come from: a snapshot of the environment sops reads.
///
/// [`IdentityEnv::from_process`] reads the real environment; tests build one by hand.
#[derive(Clone, Default)]
pub struct IdentityEnv {
    /// `SOPS_AGE_KEY`.
    pub age_key: Option<String>,
    /// `SOPS_AGE_KEY_FILE`.
    pub age_key_file: Option<PathBuf>,
    /// `SOPS_AGE_KEY_CMD`.
    pub age_key_cmd: Option<String>,
    /// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`.
    pub ssh_private_key_file: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
}

impl std::fmt::Debug for IdentityEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityEnv")
            .field("age_key", &self.age_key.as_ref().map(|_| "[REDACTED]"))
            .field("age_key_file", &self.age_key_file)
            .field("age_key_cmd", &self.age_key_cmd)
            .field("ssh_private_key_file", &self.ssh_private_key_file)
            .field("home", &self.home)
            .field("xdg_config_home", &self.xdg_config_home)
            .finish()
    }
}

impl IdentityEnv {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name);
        Self {
            age_key: var(SOPS_AGE_KEY).map(|v| v.to_string_lossy().into_owned()),
            age_key_file: var(SOPS_AGE_KEY_FILE).map(PathBuf::from),
            age_key_cmd: var(SOPS_AGE_KEY_CMD).map(|v| v.to_string_lossy().into_owned()),
            ssh_private_key_file: var(SOPS_AGE_SSH_PRIVATE_KEY_FILE).map(PathBuf::from),
            home: var("HOME").filter(|v| !v.is_empty()).map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    /// The user config directory as Go's `os.UserConfigDir` (and sops on macOS) finds it.
    pub fn user_config_dir(&self) -> Option<PathBuf> {
        if let Some(xdg) = &self.xdg_config_home {
            return Some(xdg.clone());
        }
        let home = self.home.as_ref()?;
        if cfg!(target_os = "macos") {
            Some(home.join("Library").join("Application Support"))
        } else {
            Some(home.join(".config"))
        }
    }

    /// The default keys file, `<user config dir>/sops/age/keys.txt`.
    pub fn user_keys_file(&self) -> Option<PathBuf> {
        self.user_config_dir().map(|dir| dir.join(USER_KEYS_FILE))
    }
}

type BoxedIdentity = Box<dyn age::Identity + Send + Sync>;

/// The age identities found in the environment, ready to open stanzas.
pub struct AgeIdentities {
    identities: Vec<BoxedIdentity>,
    looked_in: Vec<String>,
    problems: Vec<Error>,
}

impl std::fmt::Debug for AgeIdentities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeIdentities")
            .field("count", &self.identities.len())
            .field("looked_in", &self.looked_in)
            .finish_non_exhaustive()
    }
}

impl AgeIdentities {
    /// Loads every identity sops would load from `env`. Sources that fail are remembered and
    /// reported only if no identity opens a stanza.
    pub fn load(env: &IdentityEnv) -> Self {
        let mut this = Self {
            identities: Vec::new(),
            looked_in: Vec::new(),
            problems: Vec::new(),
        };
        if let Some(path) = &env.ssh_private_key_file {
            this.add_ssh_file(path);
        } else {
            this.looked_in
                .push(SOPS_AGE_SSH_PRIVATE_KEY_FILE.to_owned());
        }
        if let Some(home) = &env.home {
            for name in ["id_ed25519", "id_rsa"] {
                let path = home.join(".ssh").join(name);
                if path.is_file() {
                    this.add_ssh_file(&path);
                } else {
                    this.looked_in.push(path.display().to_string());
                }
            }
        }
        if let Some(text) = &env.age_key {
            this.add_text(text, SOPS_AGE_KEY);
        } else {
            this.looked_in.push(SOPS_AGE_KEY.to_owned());
        }
        if let Some(path) = &env.age_key_file {
            this.add_file(path, SOPS_AGE_KEY_FILE);
        } else {
            this.looked_in.push(SOPS_AGE_KEY_FILE.to_owned());
        }
        if let Some(command) = &env.age_key_cmd {
            match run_key_command(command) {
                Ok(text) => this.add_text(&text, SOPS_AGE_KEY_CMD),
                Err(e) => this.problems.push(e),
            }
        } else {
            this.looked_in.push(SOPS_AGE_KEY_CMD.to_owned());
        }
        if let Some(path) = env.user_keys_file() {
            if path.exists() {
                let location = path.display().to_string();
                this.add_file(&path, &location);
            } else {
                this.looked_in.push(path.display().to_string());
            }
        }
        this
    }

    /// Loads from the process environment.
    pub fn from_process_env() -> Self {
        Self::load(&IdentityEnv::from_process())
    }

    /// Identities given directly as keys-file text (e.g. from a test or a `--key` flag).
    pub fn from_text(text: &str, location: &str) -> Result<Self> {
        let identities = parse_identities(text, location)?;
        Ok(Self {
            identities,
            looked_in: vec![location.to_owned()],
            problems: Vec::new(),
        })
    }

    /// Number of identities loaded.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// Whether no identity was loaded.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    fn add_text(&mut self, text: &str, location: &str) {
        match parse_identities(text, location) {
            Ok(mut ids) => self.identities.append(&mut ids),
            Err(e) => self.problems.push(e),
        }
    }

    fn add_file(&mut self, path: &Path, location: &str) {
        match fs_err::read_to_string(path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                self.add_text(&text, &path.display().to_string());
            }
            Err(source) => self.problems.push(Error::IdentitySource {
                location: location.to_owned(),
                source,
            }),
        }
    }

    fn add_ssh_file(&mut self, path: &Path) {
        match parse_ssh_identity(path) {
            Ok(identity) => self.identities.push(identity),
            Err(e) => self.problems.push(e),
        }
    }

    /// Opens an armored age file (`enc`) and returns its payload.
    ///
    /// `recipient` only names the stanza in errors.
    pub fn unwrap(&self, enc: &str, recipient: &str) -> Result<Zeroizing<Vec<u8>>> {
        if self.identities.is_empty() {
            return Err(self.no_identity_error());
        }
        let malformed = || Error::MalformedStanza {
            recipient: recipient.to_owned(),
        };
        let reader = ArmoredReader::new(enc.as_bytes());
        let decryptor = age::Decryptor::new(reader).map_err(|_| malformed())?;
        let mut stream = match decryptor.decrypt(
            self.identities
                .iter()
                .map(|i| i.as_ref() as &dyn age::Identity),
        ) {
            Ok(stream) => stream,
            Err(age::DecryptError::NoMatchingKeys) => {
                return Err(Error::NoMatchingIdentity {
                    recipients: recipient.to_owned(),
                });
            }
            Err(_) => return Err(malformed()),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(33));
        stream.read_to_end(&mut out).map_err(|_| malformed())?;
        Ok(out)
    }

    /// The error to report when no identity was loaded at all.
    pub fn no_identity_error(&self) -> Error {
        let mut problems = self.problems.iter();
        match problems.next() {
            // A broken source is the likelier cause: report it (one line, no key material).
            Some(first) => clone_error(first),
            None => Error::NoIdentities {
                looked_in: self.looked_in.join(", "),
            },
        }
    }

    /// Problems met while loading (unreadable files, bad lines); empty when all went well.
    pub fn problems(&self) -> &[Error] {
        &self.problems
    }
}

fn clone_error(error: &Error) -> Error {
    match error {
        Error::IdentitySource { location, source } => Error::IdentitySource {
            location: location.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::InvalidIdentity {
            location,
            line,
            reason,
        } => Error::InvalidIdentity {
            location: location.clone(),
            line: *line,
            reason,
        },
        Error::SshIdentity { path, reason } => Error::SshIdentity {
            path: path.clone(),
            reason,
        },
        Error::KeyCommand { command, reason } => Error::KeyCommand {
            command: command.clone(),
            reason: reason.clone(),
        },
        other => Error::NoIdentities {
            looked_in: other.to_string(),
        },
    }
}

/// Parses a keys file: one identity per line, `#` comments and empty lines skipped
/// (sops `parseIdentities`).
pub fn parse_identities(text: &str, location: &str) -> Result<Vec<BoxedIdentity>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with("age-encryption.org/") || trimmed.starts_with("-----BEGIN AGE") {
        return Err(Error::InvalidIdentity {
            location: location.to_owned(),
            line: 1,
            reason: "passphrase-protected identity files are not supported",
        });
    }
    let mut identities: Vec<BoxedIdentity> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let invalid = |reason| Error::InvalidIdentity {
            location: location.to_owned(),
            line: index + 1,
            reason,
        };
        if line.starts_with("AGE-SECRET-KEY-PQ-1") {
            let identity = AgePqIdentity::from_str(line)
                .map_err(|_| invalid("malformed AGE-SECRET-KEY-PQ-1 key"))?;
            identities.push(Box::new(identity));
        } else if line.starts_with("AGE-PLUGIN-") {
            return Err(invalid("age plugin identities are not supported"));
        } else if line.starts_with("AGE-SECRET-KEY-1") {
            let identity = age::x25519::Identity::from_str(line)
                .map_err(|_| invalid("malformed AGE-SECRET-KEY-1 key"))?;
            identities.push(Box::new(identity));
        } else {
            return Err(invalid("unknown identity type"));
        }
    }
    Ok(identities)
}

fn parse_ssh_identity(path: &Path) -> Result<BoxedIdentity> {
    let bad = |reason| Error::SshIdentity {
        path: path.to_owned(),
        reason,
    };
    let bytes = Zeroizing::new(fs_err::read(path).map_err(|source| Error::IdentitySource {
        location: path.display().to_string(),
        source,
    })?);
    let identity = age::ssh::Identity::from_buffer(&bytes[..], Some(path.display().to_string()))
        .map_err(|_| bad("not an ssh private key"))?;
    match identity {
        age::ssh::Identity::Unencrypted(_) => Ok(Box::new(identity)),
        age::ssh::Identity::Encrypted(_) => {
            Err(bad("passphrase-protected ssh keys are not supported"))
        }
        age::ssh::Identity::Unsupported(_) => Err(bad("unsupported ssh key type")),
    }
}

fn run_key_command(command: &str) -> Result<String> {
    let failed = |reason: String| Error::KeyCommand {
        command: command.to_owned(),
        reason,
    };
    let words = split_command_line(command).ok_or_else(|| failed("unbalanced quotes".into()))?;
    let (program, args) = words
        .split_first()
        .ok_or_else(|| failed("empty command".into()))?;
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(output.status.to_string()));
    }
    String::from_utf8(output.stdout).map_err(|_| failed("output is not UTF-8".into()))
}

/// Splits a command line like `github.com/google/shlex` (quotes and backslashes).
fn split_command_line(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => word.push(chars.next()?),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated for these tests with age-keygen 1.1.1.
    const KEY: &str = "AGE-SECRET-KEY-1L587LPYXVNQK8NT5UURPVCQN052QKY4ZJTHXSEVKX2KWFZAJMVQQY2TFLN";
    const RECIPIENT: &str = "age17fj0nnh797lccasvdkcx2tmx2fyyf7qxvd4gjcwp7waup2h8nusqlav45n";

    #[test]
    fn wrapped_key_unwraps_with_matching_identity() {
        let recipient = AgeRecipient::parse(RECIPIENT).unwrap();
        let enc = recipient.wrap(&[7u8; 32]).unwrap();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(enc.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        let ids = AgeIdentities::from_text(KEY, "test").unwrap();
        assert_eq!(&ids.unwrap(&enc, RECIPIENT).unwrap()[..], &[7u8; 32]);
    }

    #[test]
    fn other_identity_reports_the_recipients() {
        let enc = AgeRecipient::parse(RECIPIENT)
            .unwrap()
            .wrap(&[1u8; 32])
            .unwrap();
        let other = age::x25519::Identity::generate();
        use secrecy::ExposeSecret as _;
        let ids = AgeIdentities::from_text(other.to_string().expose_secret(), "t").unwrap();
        let err = ids.unwrap(&enc, RECIPIENT).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no age identity matches the file's recipients: {RECIPIENT}")
        );
    }

    #[test]
    fn recipients_of_every_kind_parse_and_bad_ones_say_why() {
        assert_eq!(
            AgeRecipient::parse_list(&format!(" {RECIPIENT} ,{RECIPIENT}"))
                .unwrap()
                .len(),
            2
        );
        assert!(AgeRecipient::parse_list("").unwrap().is_empty());
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICOpJU5s/Q/R4112suQhRwRt2mjR79ijVhA7bZu7BA09 sops-conformance-test";
        assert_eq!(AgeRecipient::parse(ssh).unwrap().as_str(), ssh);
        let err = AgeRecipient::parse("age1pq1abcdefghijklmnopqrstuvwxyz0123456789").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid age recipient `age1pq1abcdefghijklmnopq…`: not valid Bech32"
        );
        let pq = super::super::age_pq::AgePqIdentity::generate()
            .to_public()
            .to_string();
        assert_eq!(AgeRecipient::parse(&pq).unwrap().as_str(), pq);
        assert_eq!(
            AgeRecipient::parse("pgp:1234").unwrap_err().to_string(),
            "invalid age recipient `pgp:1234`: unknown recipient type"
        );
    }

    #[test]
    fn keys_file_skips_comments_and_rejects_junk_with_line_number() {
        let text = format!("# created: now\n\n{KEY}\n");
        assert_eq!(parse_identities(&text, "f").unwrap().len(), 1);
        let err = parse_identities("# c\nnonsense\n", "keys.txt")
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "keys.txt: line 2: not an age identity (unknown identity type)"
        );
    }

    #[test]
    fn lookup_follows_sops_order_and_reports_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let env = IdentityEnv {
            home: Some(dir.path().to_owned()),
            ..IdentityEnv::default()
        };
        let ids = AgeIdentities::load(&env);
        assert!(ids.is_empty());
        let msg = ids.no_identity_error().to_string();
        assert!(msg.contains("SOPS_AGE_KEY_FILE"), "{msg}");
        assert!(msg.contains(".config/sops/age/keys.txt"), "{msg}");

        let xdg = dir.path().join("xdg");
        fs_err::create_dir_all(xdg.join("sops/age")).unwrap();
        fs_err::write(xdg.join("sops/age/keys.txt"), KEY).unwrap();
        let env = IdentityEnv {
            home: Some(dir.path().to_owned()),
            xdg_config_home: Some(xdg),
            age_key: Some(KEY.to_owned()),
            age_key_cmd: Some(format!("printf '%s\\n' {KEY}")),
            ..IdentityEnv::default()
        };
        assert_eq!(AgeIdentities::load(&env).len(), 3);
    }

    #[test]
    fn command_lines_split_like_shlex() {
        assert_eq!(
            split_command_line(r#"a 'b c' "d \" e" f\ g"#).unwrap(),
            vec!["a", "b c", "d \" e", "f g"]
        );
        assert!(split_command_line("a 'b").is_none());
    }
}
