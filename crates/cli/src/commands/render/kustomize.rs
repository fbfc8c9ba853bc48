//! `seal render --kustomize DIR`: a whole `kustomize build` with sealkit as the generator
//! plugin, for an Argo CD Config Management Plugin.
//!
//! A private (0700) plugin home is made for the run, holding links to this binary at the
//! legacy exec-plugin paths of both generator kinds, a `ksops` link on `PATH` for KRM exec
//! functions (`exec: {path: ksops}`) and kustomize's `TMPDIR`; it is removed afterwards. kustomize's stdout is captured whole: on any
//! failure, and on an empty result, nothing is printed and the exit status is non-zero (Argo
//! CD prunes every resource of an application whose manifests come back empty).

use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use zeroize::Zeroizing;

use super::generator::{KSOPS_API_VERSION, KSOPS_KIND, SEALKIT_API_VERSION, SEALKIT_KIND};

/// The plugin home and `PATH` entry of one run, removed when dropped.
pub struct PluginHome {
    dir: tempfile::TempDir,
}

impl PluginHome {
    /// Creates the links to `exe`.
    pub fn new(exe: &Path) -> anyhow::Result<Self> {
        let dir = super::super::sops_io::private_temp_dir()?;
        let plugins = dir.path().join("plugins");
        for (api_version, kind) in [
            (KSOPS_API_VERSION, KSOPS_KIND),
            (SEALKIT_API_VERSION, SEALKIT_KIND),
        ] {
            let (group, version) = api_version
                .split_once('/')
                .expect("generator apiVersions have a group");
            let at = plugins
                .join(group)
                .join(version)
                .join(kind.to_lowercase())
                .join(kind);
            fs_err::create_dir_all(at.parent().expect("has a parent"))?;
            fs_err::os::unix::fs::symlink(exe, &at)?;
        }
        let bin = dir.path().join("bin");
        fs_err::create_dir_all(&bin)?;
        fs_err::create_dir_all(dir.path().join("tmp"))?;
        fs_err::os::unix::fs::symlink(exe, bin.join(KSOPS_KIND))?;
        Ok(Self { dir })
    }

    /// `KUSTOMIZE_PLUGIN_HOME`.
    pub fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// `TMPDIR` for kustomize: it leaves its plugin config files behind when a plugin fails.
    pub fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// `PATH` with the `ksops` link first.
    pub fn path_var(&self) -> anyhow::Result<OsString> {
        let mut dirs = vec![self.dir.path().join("bin")];
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).context("building PATH")
    }
}

/// Finds a program on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The build command: `program` if given (a `kustomize` or `kubectl` binary), else a
/// standalone `kustomize` on `PATH` (which also runs KRM exec functions), else
/// `kubectl kustomize` (legacy exec plugins only).
pub fn build_command(program: Option<&str>, dir: &Path) -> anyhow::Result<Command> {
    let program = match program {
        Some(p) => PathBuf::from(p),
        None => on_path("kustomize")
            .or_else(|| on_path("kubectl"))
            .context("neither `kustomize` nor `kubectl` is on PATH")?,
    };
    let is_kubectl = program
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("kubectl"));
    let mut command = Command::new(&program);
    if is_kubectl {
        command.args(["kustomize", "--enable-alpha-plugins"]);
    } else {
        command.args(["build", "--enable-alpha-plugins", "--enable-exec"]);
    }
    command.arg(dir);
    Ok(command)
}

/// Runs the build and returns its whole output, or an error (never partial output).
pub fn build(
    mut command: Command,
    home: &PluginHome,
    dir: &Path,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .env("KUSTOMIZE_PLUGIN_HOME", home.plugins())
        .env("PATH", home.path_var()?)
        .env("TMPDIR", home.tmp())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .with_context(|| format!("running `{program}`"))?;
    let mut out = Zeroizing::new(Vec::new());
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_end(&mut out)
        .with_context(|| format!("reading the output of `{program}`"))?;
    let status = child
        .wait()
        .with_context(|| format!("running `{program}`"))?;
    if !status.success() {
        bail!(
            "kustomize build of `{}` failed ({status}); nothing printed",
            dir.display()
        );
    }
    if out.iter().all(u8::is_ascii_whitespace) {
        bail!(
            "kustomize build of `{}` produced no objects; printing nothing rather than an empty \
             manifest (a generator carrying the `config.kubernetes.io/function` annotation is \
             skipped by `kubectl kustomize`: drop the annotation to use the exec-plugin mode)",
            dir.display()
        );
    }
    Ok(out)
}

/// The repository root of an Argo CD application: the working directory with
/// `ARGOCD_APP_SOURCE_PATH` taken off its end.
pub fn argocd_repo_root(cwd: &Path, source_path: &str) -> Option<PathBuf> {
    let source = Path::new(source_path.trim_matches('/'));
    if source.as_os_str().is_empty() || source == Path::new(".") {
        return Some(cwd.to_path_buf());
    }
    let mut root = cwd.to_path_buf();
    for _ in source.components() {
        if !root.pop() {
            return None;
        }
    }
    (root.join(source) == cwd).then_some(root)
}

/// `--install DIR`: copies this binary to `DIR/seal` (mode 0755) and links `DIR/ksops` to
/// it, for an init container that has no shell (KSOPS's `ksops install`).
pub fn install(exe: &Path, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::create_dir_all(dir)?;
    let seal = dir.join("seal");
    let temp = dir.join(".seal.tmp");
    fs_err::copy(exe, &temp)?;
    fs_err::set_permissions(&temp, std::fs::Permissions::from_mode(0o755))?;
    fs_err::rename(&temp, &seal)?;
    let ksops = dir.join(KSOPS_KIND);
    if fs_err::symlink_metadata(&ksops).is_ok() {
        fs_err::remove_file(&ksops)?;
    }
    fs_err::os::unix::fs::symlink("seal", &ksops)?;
    Ok(vec![seal, ksops])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repo_root_is_the_working_directory_minus_the_source_path() {
        let cwd = Path::new("/tmp/_argocd-repo/abc/apps/prod");
        assert_eq!(
            argocd_repo_root(cwd, "apps/prod"),
            Some(PathBuf::from("/tmp/_argocd-repo/abc"))
        );
        assert_eq!(argocd_repo_root(cwd, "."), Some(cwd.to_path_buf()));
        assert_eq!(argocd_repo_root(cwd, "other/prod"), None);
    }
}
