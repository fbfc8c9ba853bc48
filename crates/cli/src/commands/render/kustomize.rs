//! `seal render --kustomize DIR`: a whole `kustomize build` with sealkit as the generator
//! plugin, for an Argo CD Config Management Plugin.
//!
//! A private (0700) plugin home is made for the run, holding links to this binary at the
//! legacy exec-plugin paths of both generator kinds, a `ksops` link on `PATH` for KRM exec
//! functions (`exec: {path: ksops}`) and kustomize's `TMPDIR`; it is removed afterwards. kustomize's stdout is captured whole: on any
//! failure, and on an empty result, nothing is printed and the exit status is non-zero (Argo
//! CD prunes every resource of an application whose manifests come back empty).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use zeroize::Zeroizing;

use crate::printer::Printer;

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
/// kustomize's stderr is captured: on failure its reason becomes one line of our error (a
/// plugin's own `error:` line first, else kubectl's log line unwrapped), on success its
/// lines (warnings) are passed on.
pub fn build(
    mut command: Command,
    home: &PluginHome,
    dir: &Path,
    printer: &Printer,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .env("KUSTOMIZE_PLUGIN_HOME", home.plugins())
        .env("PATH", home.path_var()?)
        .env("TMPDIR", home.tmp())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = command
        .spawn()
        .and_then(std::process::Child::wait_with_output)
        .with_context(|| format!("running `{program}`"))?;
    let out = Zeroizing::new(output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        for line in stderr.lines().map(str::trim) {
            if let Some(warning) = line.strip_prefix("warning: ") {
                printer.warn(warning);
            }
        }
        let reason =
            failure_reason(&stderr).map_or_else(String::new, |reason| format!(": {reason}"));
        bail!(
            "kustomize build of `{}` failed ({}){reason}; nothing printed",
            dir.display(),
            output.status
        );
    }
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        printer.info(line);
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

/// The one-line reason in kustomize's stderr: a plugin's `error: …` line (sealkit's own, which
/// kubectl wraps in its log), else the `err` of kubectl's klog line
/// (`E… run.go:72] "command failed" err="…"`), else a standalone kustomize's `Error: …`, else
/// the last line.
fn failure_reason(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(reason) = lines.iter().find_map(|l| l.strip_prefix("error: ")) {
        return Some(reason.to_owned());
    }
    for line in &lines {
        if let Some(quoted) = line.split_once(" err=\"").map(|(_, rest)| rest) {
            return Some(go_unquote(quoted));
        }
    }
    if let Some(reason) = lines.iter().find_map(|l| l.strip_prefix("Error: ")) {
        return Some(reason.to_owned());
    }
    lines
        .iter()
        .rev()
        .find(|l| !matches!(**l, ">" | ""))
        .map(|l| (*l).to_owned())
}

/// The text of a Go-quoted string up to its closing quote (`rest` starts after the opening
/// one); escapes of line ends become spaces, to keep one line.
fn go_unquote(rest: &str) -> String {
    let mut text = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n' | 't' | 'r') => text.push(' '),
                Some(other) => text.push(other),
                None => break,
            },
            other => text.push(other),
        }
    }
    text
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

    // issue 14: `seal render --kustomize` passed kubectl's log line through before its own.
    #[test]
    fn the_failure_reason_is_the_plugins_error_line_else_kubectls_message() {
        let plugin_failed = "E1206 15:44:05.837878   23500 run.go:72] \"command failed\" err=<
\terror: /tmp/app/secret.enc.yaml: no age identity matches the file's recipients: age1xyz
\t: failure in plugin configured via /tmp/seal-x/tmp/kust-plugin-config-1; exit status 1
 >
";
        assert_eq!(
            failure_reason(plugin_failed).unwrap(),
            "/tmp/app/secret.enc.yaml: no age identity matches the file's recipients: age1xyz"
        );
        let kubectl_failed = "E1206 15:44:13.901280   24051 run.go:72] \"command failed\" \
             err=\"must build at directory: not a valid directory: evalsymlink failure on \
             'nodir' : lstat /tmp/nodir: no such file or directory\"\n";
        assert_eq!(
            failure_reason(kubectl_failed).unwrap(),
            "must build at directory: not a valid directory: evalsymlink failure on 'nodir' : \
             lstat /tmp/nodir: no such file or directory"
        );
        assert_eq!(
            failure_reason("Error: accumulating resources: x\n").unwrap(),
            "accumulating resources: x"
        );
        assert_eq!(go_unquote(r#"a \"b\"\nc" trailing"#), r#"a "b" c"#);
        assert_eq!(failure_reason("\n"), None);
    }

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
