//! Throwaway GnuPG homes for the PGP master-key tests: a private `GNUPGHOME` (mode 0700)
//! with keys imported or generated, whose gpg-agent is stopped when the home drops.
//!
//! ```no_run
//! let home = sealkit_tests::gnupg::GnupgHome::new();
//! home.import(&sealkit_tests::conformance_file("sops/sops-nix/key.asc"));
//! let fp = home.generate("sealkit test");
//! std::process::Command::new("gpg").env("GNUPGHOME", home.path());
//! ```

use std::path::Path;
use std::process::{Command, Stdio};

use crate::servers::require_tool;

/// A temporary GnuPG home.
pub struct GnupgHome {
    dir: tempfile::TempDir,
}

impl Default for GnupgHome {
    fn default() -> Self {
        Self::new()
    }
}

impl GnupgHome {
    /// An empty home (fails the test with an install hint when `gpg` is missing).
    pub fn new() -> Self {
        require_tool("gpg");
        // gpg-agent's socket path must stay short: keep the home under /tmp.
        let dir = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .expect("temp GNUPGHOME");
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod 700 GNUPGHOME");
        Self { dir }
    }

    /// The directory (`GNUPGHOME`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn gpg(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.path())
            .args(["--batch", "--yes"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running gpg");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Imports an armored key file (public or secret).
    pub fn import(&self, file: &Path) {
        self.gpg(&["--import", &file.to_string_lossy()]);
    }

    /// Generates an unprotected key (GnuPG's default algorithms, with an encryption subkey)
    /// for `name` and returns its fingerprint.
    pub fn generate(&self, name: &str) -> String {
        self.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("{name} <{}@sealkit.invalid>", name.replace(' ', ".")),
            "default",
            "default",
            "never",
        ]);
        let out = self.gpg(&["--with-colons", "--list-secret-keys", name]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .expect("fingerprint of the generated key")
            .to_owned()
    }

    /// Removes the secret key of `fingerprint` (the public key stays).
    pub fn delete_secret_key(&self, fingerprint: &str) {
        self.gpg(&["--delete-secret-keys", fingerprint]);
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.path())
            .args(["--kill", "gpg-agent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
