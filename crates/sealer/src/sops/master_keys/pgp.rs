//! OpenPGP master keys through GnuPG, as sops uses them (getsops/sops `pgp/keysource.go`,
//! v3.11.0).
//!
//! The `enc` value of a `sops.pgp[]` entry is an ASCII-armored OpenPGP message whose
//! payload is the data key (or a key group's Shamir share), encrypted to the key with
//! fingerprint `fp`.
//!
//! sops first tries Go's OpenPGP library on the GnuPG 1.x keyrings (`pubring.gpg`,
//! `secring.gpg`), which GnuPG ≥ 2.1 no longer writes, and then runs the `gpg` binary.
//! sealkit runs the `gpg` binary only, with sops's arguments, so keys come from the user's
//! keyring and gpg-agent exactly as with sops: passphrase prompts through pinentry and
//! smartcards (YubiKey) work, and secret keys never pass through sealkit's memory.
//!
//! - encrypt: `gpg --no-default-recipient --yes --encrypt -a -r FP --trusted-key SHORTID
//!   --no-encrypt-to` with the secret on stdin;
//! - decrypt: `gpg -d` with the armored message on stdin.
//!
//! `SOPS_GPG_EXEC` names another binary; `GNUPGHOME` picks the keyring.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::env::KeyEnv;
use super::error::{Error, Result};
use super::master::{KeyFuture, MasterKey, Unwrappers};
use crate::sops::{KeyKind, MasterKeyStanza};

/// Env var naming the GnuPG binary (default `gpg`).
pub const SOPS_GPG_EXEC: &str = "SOPS_GPG_EXEC";

/// A PGP master key: a fingerprint in the GnuPG keyring.
#[derive(Clone, Debug)]
pub struct PgpKey {
    fingerprint: String,
    created_at: String,
    env: Arc<KeyEnv>,
}

impl PgpKey {
    /// A key from its fingerprint (spaces removed, as sops does), created now.
    pub fn new(fingerprint: &str, env: Arc<KeyEnv>) -> Result<Self> {
        let fingerprint: String = fingerprint.chars().filter(|c| *c != ' ').collect();
        if fingerprint.is_empty() {
            return Err(Error::InvalidKey {
                kind: "pgp",
                id: fingerprint,
                reason: "empty fingerprint".into(),
            });
        }
        Ok(Self {
            fingerprint,
            created_at: super::now_rfc3339(),
            env,
        })
    }

    /// The key a `pgp` stanza names (its `created_at` kept).
    pub fn from_stanza(stanza: &MasterKeyStanza, env: Arc<KeyEnv>) -> Result<Self> {
        let mut key = Self::new(stanza.field("fp").unwrap_or_default(), env)?;
        if let Some(created) = stanza.field("created_at") {
            key.created_at = created.to_owned();
        }
        Ok(key)
    }

    /// The fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn gpg(&self) -> Command {
        let binary = self.env.get(SOPS_GPG_EXEC).unwrap_or("gpg");
        let mut cmd = Command::new(binary);
        if let Some(home) = self.env.get("GNUPGHOME") {
            cmd.env("GNUPGHOME", home);
        }
        cmd
    }

    /// Runs gpg with `input` on stdin; stdout on success, a one-line reason on failure.
    fn run(&self, args: &[&str], input: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
        let mut cmd = self.gpg();
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            format!(
                "cannot run `{}`: {e}",
                self.env.get(SOPS_GPG_EXEC).unwrap_or("gpg")
            )
        })?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = Zeroizing::new(input.to_vec());
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child
            .wait_with_output()
            .map_err(|e| format!("waiting for gpg: {e}"))?;
        let _ = writer.join();
        let stdout = Zeroizing::new(out.stdout);
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(last_gpg_line(&out.stderr))
        }
    }

    fn encrypt(&self, secret: &[u8]) -> Result<String> {
        let short = short_id(&self.fingerprint);
        let out = self
            .run(
                &[
                    "--no-default-recipient",
                    "--yes",
                    "--encrypt",
                    "-a",
                    "-r",
                    &self.fingerprint,
                    "--trusted-key",
                    short,
                    "--no-encrypt-to",
                ],
                secret,
            )
            .map_err(|reason| Error::Pgp {
                fingerprint: self.fingerprint.clone(),
                action: "encrypt",
                reason,
            })?;
        let text = String::from_utf8_lossy(&out).trim().to_owned();
        Ok(text)
    }

    fn decrypt(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>> {
        let failed = |reason: String| Error::Pgp {
            fingerprint: self.fingerprint.clone(),
            action: "decrypt",
            reason,
        };
        let out = self.run(&["-d"], enc.as_bytes()).map_err(failed)?;
        if out.is_empty() {
            // Old GnuPG drops AEAD packets it does not know and exits 0 (sops issue 896).
            return Err(failed("gpg returned zero bytes".into()));
        }
        Ok(out)
    }
}

/// The last 16 hex digits of a fingerprint (with a trailing `!` kept), for `--trusted-key`.
fn short_id(fingerprint: &str) -> &str {
    let mut offset = fingerprint.len().saturating_sub(16);
    if fingerprint.ends_with('!') {
        offset = offset.saturating_sub(1);
    }
    &fingerprint[offset..]
}

/// The most telling line of gpg's stderr (gpg prints one `gpg: …` line per event; the
/// last one says why it failed).
fn last_gpg_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .rev()
        .find(|l| {
            l.contains("decryption failed")
                || l.contains("No secret key")
                || l.contains("No public key")
                || l.contains("skipped")
                || l.contains("unusable")
        })
        .or(lines.last())
        .copied()
        .unwrap_or("gpg failed without a message");
    pick.strip_prefix("gpg: ").unwrap_or(pick).to_owned()
}

impl MasterKey for PgpKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Pgp
    }

    fn id(&self) -> &str {
        &self.fingerprint
    }

    fn to_stanza(&self, enc: &str) -> MasterKeyStanza {
        MasterKeyStanza::new(
            KeyKind::Pgp,
            &[
                ("created_at", &self.created_at),
                ("enc", enc),
                ("fp", &self.fingerprint),
            ],
        )
    }

    fn wrap<'a>(&'a self, secret: &'a [u8]) -> KeyFuture<'a, Result<String>> {
        Box::pin(std::future::ready(self.encrypt(secret)))
    }

    fn unwrap<'a>(
        &'a self,
        enc: &'a str,
        _with: &'a Unwrappers,
    ) -> KeyFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        Box::pin(std::future::ready(self.decrypt(enc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_id_is_the_last_sixteen_digits_keeping_a_bang() {
        assert_eq!(
            short_id("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
            "3D16CEE4A27381B4"
        );
        assert_eq!(
            short_id("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4!"),
            "3D16CEE4A27381B4!"
        );
        assert_eq!(short_id("ABCD"), "ABCD");
    }

    #[test]
    fn gpg_failure_reason_is_the_telling_line() {
        let stderr =
            b"gpg: encrypted with rsa2048 key, ID 1234\ngpg: decryption failed: No secret key\n";
        assert_eq!(last_gpg_line(stderr), "decryption failed: No secret key");
    }

    #[test]
    fn fingerprints_lose_their_spaces() {
        let key = PgpKey::new("FBC7 B9E2 A4F9", Arc::default()).unwrap();
        assert_eq!(key.id(), "FBC7B9E2A4F9");
    }
}
