//! File input and atomic output.
//!
//! Every file `seal` writes goes through a temporary file in the destination's directory and
//! a rename, so a failure leaves the destination as it was and no reader ever sees half a
//! file. Two policies:
//! - [`write_atomic`] (outputs and in-place edits): a symlink is written *through* to its
//!   target, as sops and kubeseal do (replacing the link by a regular file would leave the
//!   target holding the old plaintext); an existing file keeps its mode.
//! - [`write_private`] (private keys): the file is created 0600 whatever was there before; a
//!   symlink at the path is replaced, never followed; without `overwrite` an existing path is
//!   refused atomically (no window between a check and the write).

use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
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

/// Symlinks followed before giving up (Linux's `MAXSYMLINKS`).
const MAX_SYMLINK_HOPS: usize = 40;

/// The file a write to `path` lands in: `path` itself, or the end of its chain of symlinks
/// (which need not exist yet: writing through a dangling link creates its target, as
/// `os.WriteFile` does for sops and kubeseal).
pub fn resolve_symlinks(path: &Path) -> anyhow::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        match fs_err::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs_err::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            // Not a link (or nothing there yet): this is where the bytes go.
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e.into()),
        }
    }
    bail!("`{}`: too many levels of symbolic links", path.display())
}

/// The directory a temporary file for `path` goes in.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A 0600 temporary file next to `path` holding `contents`, flushed to disk.
fn temp_file_with(path: &Path, contents: &[u8]) -> anyhow::Result<tempfile::NamedTempFile> {
    temp_file_writing(path, |w| Ok(w.write_all(contents)?))
}

/// A 0600 temporary file next to `path` holding what `write` wrote, synced.
fn temp_file_writing(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path);
    // tempfile creates the file 0600 with O_EXCL: nobody else can open it in between.
    let mut temp = tempfile::Builder::new()
        .prefix(".seal-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in `{}`", dir.display()))?;
    write(&mut temp).with_context(|| format!("writing `{}`", path.display()))?;
    temp.as_file()
        .sync_all()
        .with_context(|| format!("writing `{}`", path.display()))?;
    Ok(temp)
}

/// Replaces the file at `path` with `contents` atomically: a temp file in the same directory,
/// fsync, rename. A symlink is written through to its target; an existing file keeps its
/// mode, a new one is 0600. On any failure the original is untouched and the temp file gone.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    write_atomic_with(path, |w| Ok(w.write_all(contents)?))
}

/// [`write_atomic`] of what `write` writes (a large output is never held whole). If `write`
/// fails, the original is untouched and the temp file gone.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let target = resolve_symlinks(path)?;
    let temp = temp_file_writing(&target, write)?;
    if let Ok(meta) = fs_err::metadata(&target) {
        temp.as_file()
            .set_permissions(meta.permissions())
            .with_context(|| format!("copying permissions of `{}`", target.display()))?;
    }
    temp.persist(&target)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing `{}`", target.display()))?;
    Ok(())
}

/// Writes a file only its owner can read (private keys): 0600 from the first byte, through a
/// temporary file and a rename. A symlink at `path` is replaced, not followed. Without
/// `overwrite`, an existing `path` (file or link) is refused, atomically.
pub fn write_private(path: &Path, contents: &[u8], overwrite: bool) -> anyhow::Result<()> {
    write_replacing(path, contents, 0o600, overwrite)
}

/// [`write_private`] for a file anyone may read (certificates): mode 0644.
pub fn write_public(path: &Path, contents: &[u8], overwrite: bool) -> anyhow::Result<()> {
    write_replacing(path, contents, 0o644, overwrite)
}

fn write_replacing(path: &Path, contents: &[u8], mode: u32, overwrite: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let temp = temp_file_with(path, contents)?;
    if mode != 0o600 {
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of `{}`", path.display()))?;
    }
    if overwrite {
        temp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("replacing `{}`", path.display()))?;
    } else {
        temp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "`{}` already exists (use --force to overwrite)",
                    path.display()
                )
            } else {
                anyhow::Error::new(e.error).context(format!("writing `{}`", path.display()))
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs_err::metadata(path).unwrap().permissions().mode() & 0o777
    }

    // issue 14: in-place writers replaced a symlink by a regular file, leaving the plaintext
    // in the link's target.
    #[test]
    fn a_write_to_a_chain_of_symlinks_lands_in_the_final_target() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/secret.yaml");
        fs_err::write(&target, "plain: text\n").unwrap();
        fs_err::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        symlink("real/secret.yaml", dir.path().join("hop")).unwrap();
        symlink(dir.path().join("hop"), dir.path().join("link")).unwrap();

        write_atomic(&dir.path().join("link"), b"enc: ENC[...]\n").unwrap();

        assert_eq!(fs_err::read(&target).unwrap(), b"enc: ENC[...]\n");
        assert_eq!(mode(&target), 0o640);
        assert!(
            fs_err::symlink_metadata(dir.path().join("link"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let names: Vec<_> = fs_err::read_dir(dir.path().join("real"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret.yaml"], "a temporary file was left behind");
    }

    #[test]
    fn a_dangling_symlink_is_written_through_to_a_new_0600_target() {
        let dir = tempfile::tempdir().unwrap();
        symlink("new.yaml", dir.path().join("link")).unwrap();
        write_atomic(&dir.path().join("link"), b"x: 1\n").unwrap();
        assert_eq!(
            fs_err::read(dir.path().join("new.yaml")).unwrap(),
            b"x: 1\n"
        );
        assert_eq!(mode(&dir.path().join("new.yaml")), 0o600);
    }

    #[test]
    fn a_symlink_loop_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let err = write_atomic(&dir.path().join("a"), b"x").unwrap_err();
        assert!(
            format!("{err:#}").ends_with("too many levels of symbolic links"),
            "{err:#}"
        );
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 2);
    }

    // issue 14: `seal keygen --force` kept a 0644 mode and followed symlinks.
    #[test]
    fn a_private_file_replaces_a_world_readable_file_and_a_symlink_with_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("tls.key");
        fs_err::write(&key, "old").unwrap();
        fs_err::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&key, b"new", true).unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(fs_err::read(&key).unwrap(), b"new");

        let elsewhere = dir.path().join("elsewhere");
        fs_err::write(&elsewhere, "untouched").unwrap();
        let link = dir.path().join("link.key");
        symlink(&elsewhere, &link).unwrap();
        write_private(&link, b"key", true).unwrap();
        assert_eq!(fs_err::read(&elsewhere).unwrap(), b"untouched");
        assert!(
            fs_err::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_file()
        );
        assert_eq!(mode(&link), 0o600);
    }

    #[test]
    fn a_private_file_never_overwrites_without_permission_not_even_through_a_dangling_link() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("tls.key");
        fs_err::write(&key, "old").unwrap();
        let err = write_private(&key, b"new", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`{}` already exists (use --force to overwrite)",
                key.display()
            )
        );
        assert_eq!(fs_err::read(&key).unwrap(), b"old");

        let link = dir.path().join("dangling.key");
        symlink(dir.path().join("nowhere"), &link).unwrap();
        assert!(write_private(&link, b"new", false).is_err());
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 2);
    }
}
