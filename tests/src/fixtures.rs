//! Test data and private directories shared by every test binary of the workspace.
//!
//! The conformance files (written by the real sops, kubeseal and Bitnami's chart, with public test
//! keys) live in the repository under `tests/conformance/`; their READMEs give each file's
//! provenance. Tests find them through [`conformance`], never through a path outside the clone.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The conformance folder, `tests/conformance` of this repository.
///
/// # Panics
/// When the folder is missing (a broken checkout: the test cannot go on).
pub fn conformance() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
    assert!(
        dir.is_dir(),
        "conformance folder missing: {}",
        dir.display()
    );
    dir
}

/// A file of the conformance folder, e.g. `conformance_file("sealed-secrets/kubeseal_test_cert.pem")`.
///
/// # Panics
/// When the file is missing.
pub fn conformance_file(relative: &str) -> PathBuf {
    let path = conformance().join(relative);
    assert!(
        path.is_file(),
        "conformance file missing: {}",
        path.display()
    );
    path
}

/// Replaces `from` by `to` in a fixture's text, failing when `from` does not occur, so a test
/// that adapts a fixture breaks loudly when the fixture changes.
///
/// # Panics
/// When `from` is not in `text`.
pub fn replace_in_fixture(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the fixture no longer contains {from:?}: update the test"
    );
    text.replace(from, to)
}

/// A private directory for one test, removed when dropped:
///
/// - `work/`: the current directory of every [`Sandbox::command`], where [`Sandbox::write`] puts files;
/// - `home/`: `HOME`; `tmp/`: `TMPDIR` (so a test can check nothing was left behind);
/// - `bin/`: first on `PATH`, for stand-in tools.
///
/// Commands start from an empty environment (only `PATH`, `HOME`, `TMPDIR` and
/// `SOPS_DISABLE_VERSION_CHECK`), so nothing from the developer's shell (`SOPS_*`, `AWS_*`, …)
/// leaks into a test.
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// Creates the directory and its four sub-directories.
    ///
    /// # Panics
    /// When the temporary directory cannot be created.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        for sub in ["work", "home", "tmp", "bin"] {
            fs_err::create_dir_all(dir.path().join(sub)).expect("creating a sandbox directory");
        }
        Self { dir }
    }

    /// The sandbox's root (parent of `work/`, `home/`, `tmp/`, `bin/`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `HOME` of the sandbox's commands.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// The directory first on the commands' `PATH`.
    pub fn bin(&self) -> PathBuf {
        self.root().join("bin")
    }

    /// A path under `work/`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root().join("work").join(name)
    }

    /// Writes `bytes` to `work/name` (creating parent directories) and returns the path.
    ///
    /// # Panics
    /// On an I/O error.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).expect("creating a parent directory");
        }
        fs_err::write(&path, bytes).expect("writing a sandbox file");
        path
    }

    /// Copies `from` to `work/name` and returns the new path.
    ///
    /// # Panics
    /// On an I/O error.
    pub fn copy_in(&self, from: &Path, name: &str) -> PathBuf {
        self.write(name, fs_err::read(from).expect("reading a fixture"))
    }

    /// Whether `tmp/` (the commands' `TMPDIR`) is empty: nothing was left behind.
    ///
    /// # Panics
    /// On an I/O error.
    pub fn tmp_is_empty(&self) -> bool {
        fs_err::read_dir(self.root().join("tmp"))
            .expect("listing the sandbox's TMPDIR")
            .next()
            .is_none()
    }

    /// A command for `program` with the sandbox's clean environment, run in `work/`.
    ///
    /// # Panics
    /// When `PATH` cannot be joined (a directory name holding `:`).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let path = std::env::join_paths(
            std::iter::once(self.bin()).chain(
                std::env::var_os("PATH")
                    .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
        )
        .expect("joining PATH");
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.home())
            .env("TMPDIR", self.root().join("tmp"))
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .current_dir(self.root().join("work"));
        cmd
    }
}

/// PEM with LF line ends, as Go's `pem.Encode`, kubeseal and Google's key files write it (the
/// `pem` crate's default is CRLF).
pub fn pem_lf(label: &str, der: impl Into<Vec<u8>>) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.into()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
