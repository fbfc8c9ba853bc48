//! File input and atomic output.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use zeroize::Zeroizing;

/// Where input comes from: a file, or stdin for `-` / no argument.
#[derive(Debug, Clone)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// `None` or `-` means stdin.
    pub fn from_arg(arg: Option<&Path>) -> Self {
        match arg {
            None => Self::Stdin,
            Some(p) if p.as_os_str() == "-" => Self::Stdin,
            Some(p) => Self::File(p.to_path_buf()),
        }
    }

    /// A name for messages.
    pub fn display(&self) -> String {
        match self {
            Self::Stdin => "<stdin>".into(),
            Self::File(p) => p.display().to_string(),
        }
    }

    /// Reads all of it as UTF-8; the buffer is wiped when dropped (it may hold plaintext).
    pub fn read_to_string(&self) -> anyhow::Result<Zeroizing<String>> {
        let mut text = Zeroizing::new(String::new());
        match self {
            Self::Stdin => {
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading <stdin>")?;
            }
            Self::File(path) => {
                fs_err::File::open(path)?
                    .read_to_string(&mut text)
                    .with_context(|| format!("reading `{}`", path.display()))?;
            }
        }
        Ok(text)
    }
}

/// Replaces `path` with `contents` atomically: a temp file in the same directory, fsync,
/// rename. The original mode is kept. On any failure the original is untouched.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".seal-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in `{}`", dir.display()))?;
    if let Ok(meta) = fs_err::metadata(path) {
        temp.as_file()
            .set_permissions(meta.permissions())
            .with_context(|| format!("copying permissions of `{}`", path.display()))?;
    }
    temp.write_all(contents)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("writing `{}`", path.display()))?;
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing `{}`", path.display()))?;
    Ok(())
}
