//! The workspace's binaries (`seal`, `seal-controller`) for black-box tests.
//!
//! Cargo builds only the binaries of the package under test for its integration tests, so the
//! e2e binary (package `sealkit-tests`) cannot rely on `CARGO_BIN_EXE_seal`. [`path`] finds
//! them instead:
//!
//! 1. `SEALKIT_BIN_DIR`, when set: the binaries are taken from there as they are (CI or a
//!    person can build them once, e.g. `cargo build -p seal -p seal-controller`, and point at
//!    `target/debug`);
//! 2. otherwise the first call runs `cargo build --workspace --bins` (cargo is
//!    `$CARGO`, set by `cargo test`, else `cargo` on `PATH`) into the target directory this test
//!    binary was built in, so the binaries are never stale; later calls reuse that build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Names a directory holding prebuilt `seal` and `seal-controller`.
pub const BIN_DIR_ENV: &str = "SEALKIT_BIN_DIR";

/// Path of the workspace binary `name` (`seal` or `seal-controller`), built if needed.
///
/// # Panics
/// When the binary cannot be found or built (test support: the test cannot go on).
pub fn path(name: &str) -> PathBuf {
    let dir = bin_dir();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "`{}` does not exist (set {BIN_DIR_ENV} to a directory holding the sealkit binaries)",
        path.display()
    );
    path
}

/// A `Command` for the workspace binary `name`.
pub fn command(name: &str) -> Command {
    Command::new(path(name))
}

fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os(BIN_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => build(),
    })
}

/// Builds the binaries into the profile directory of the running test executable
/// (`<target>/<profile>/deps/e2e-…` → `<target>/<profile>`).
fn build() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running test binary");
    let profile_dir = exe
        .parent()
        .filter(|d| d.ends_with("deps"))
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .expect("<target>/<profile> has a parent")
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile directory name")
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // `cargo test` gives the test process the variables of its own package (CARGO_PKG_*,
    // CARGO_MANIFEST_DIR, …); build scripts that watch them would rebuild for nothing.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || key == "CARGO_TARGET_TMPDIR"
            || key == "OUT_DIR"
        {
            cmd.env_remove(&*key);
        }
    }
    // The whole workspace, so features resolve as in `cargo build` and its artifacts are
    // reused.
    cmd.args(["build", "--workspace", "--bins", "--target-dir"])
        .arg(&target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running `{cmd:?}`: {e}"));
    assert!(status.success(), "`{cmd:?}` failed: {status}");
    profile_dir
}
