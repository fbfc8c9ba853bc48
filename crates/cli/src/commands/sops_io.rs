//! File plumbing of the sops subcommands: stdin paths, output, private temp dirs (atomic
//! writes go through `crate::fsio`).

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::Context as _;

/// Whether `path` means standard input (`-` or `/dev/stdin`, as sops accepts).
pub fn is_stdin(path: &Path) -> bool {
    path == Path::new("-") || path == Path::new("/dev/stdin")
}

/// Reads the input file, or standard input for `-` / `/dev/stdin`.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if is_stdin(path) {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Ok(buf)
    } else {
        fs_err::read(path).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Writes command output: to `output` (atomically) if given, else to stdout.
pub fn emit(output: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match output {
        Some(path) => crate::fsio::write_atomic(path, bytes),
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
                Ok(()) => Ok(()),
                // A closed pipe (`| head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(e).context("writing to standard output"),
            }
        }
    }
}

/// [`emit`] of what `write` writes, never held whole: to `output` (atomically: on failure the
/// file is untouched) or to stdout. Only call it once nothing but writing can fail: on stdout,
/// what was written before an error stays written.
pub fn emit_with(
    output: Option<&Path>,
    write: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match output {
        Some(path) => crate::fsio::write_atomic_with(path, write),
        None => {
            let mut stdout = std::io::stdout().lock();
            match write(&mut stdout) {
                Ok(()) => Ok(()),
                // A closed pipe (`| head`) is not an error.
                Err(e)
                    if e.chain().any(|c| {
                        c.downcast_ref::<std::io::Error>()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    }) =>
                {
                    Ok(())
                }
                Err(e) => Err(e).context("writing to standard output"),
            }
        }
    }
}

/// A 0700 temporary directory for plaintext, removed when dropped.
pub fn private_temp_dir() -> anyhow::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new()
        .prefix("seal-")
        .tempdir()
        .context("creating a private temporary directory")?;
    fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

/// Creates `path` with mode 0600 and writes `bytes`. Not synced: cleartext for an editor or
/// a child process is read back from the page cache and deleted; forcing it to the disk
/// would only leave it on the medium.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use fs_err::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    Ok(())
}

/// A flag set by SIGINT, SIGTERM and SIGHUP instead of dying, so a command that holds
/// plaintext on disk (a private temp dir) removes it before it exits.
pub fn interrupt_flag() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, std::sync::Arc::clone(&interrupted))
            .context("installing the signal handler")?;
    }
    Ok(interrupted)
}
