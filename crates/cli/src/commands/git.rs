//! `seal git setup`: makes git merge SOPS files with `seal merge-driver` and diff them with
//! `seal diff --textconv`.
//!
//! Writes `PATTERN merge=sops diff=sops` lines to the repository's top-level `.gitattributes`
//! (for the patterns given, or else for each SOPS file found in the work tree by its
//! metadata) and, in the repository's local config, `merge.sops.driver` and
//! `diff.sops.textconv` naming this `seal` binary. Says what it wrote; running it again adds
//! only what is missing.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::sops_args::TypeArgs;
use super::sops_tree;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Arguments of `seal git`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub command: GitCommand,
}

/// `seal git` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum GitCommand {
    /// Set up the merge driver and diff textconv for SOPS files in this repository.
    #[command(
        after_help = "Examples:\n  $ seal git setup\n  $ seal git setup '*.enc.yaml' 'secrets/**'"
    )]
    Setup(SetupArgs),
}

/// Arguments of `seal git setup`.
#[derive(clap::Args, Debug)]
pub struct SetupArgs {
    /// gitattributes patterns of the SOPS files (default: every SOPS file in the work tree,
    /// found by its metadata).
    #[arg(value_name = "PATTERN")]
    pub patterns: Vec<String>,
}

/// The attributes given to SOPS files.
const ATTRIBUTES: &str = "merge=sops diff=sops";

/// Runs `seal git`.
pub fn run(args: Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match args.command {
        GitCommand::Setup(args) => setup(&args, printer),
    }
}

fn git(args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        anyhow::bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `path` quoted for the shell git runs drivers with.
fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A work-tree path as a gitattributes pattern anchored at the top.
fn anchored(top: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(top).unwrap_or(file);
    let text = relative.to_string_lossy();
    // Glob characters are escaped; a pattern with a space or a quote is C-quoted, as
    // gitattributes reads it.
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | '\\' | '!' | '#' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let pattern = format!("/{escaped}");
    if pattern.contains([' ', '"', '\t']) {
        format!("\"{}\"", pattern.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        pattern
    }
}

fn setup(args: &SetupArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    let patterns = if args.patterns.is_empty() {
        let (files, _) = sops_tree::find(&top, &TypeArgs::default())?;
        if files.is_empty() {
            anyhow::bail!(
                "no SOPS file found under {}; name them with patterns, e.g. `seal git setup \
                 '*.enc.yaml'`",
                top.display()
            );
        }
        files.iter().map(|f| anchored(&top, f)).collect()
    } else {
        args.patterns.clone()
    };

    let attributes = top.join(".gitattributes");
    let existing = match fs_err::read_to_string(&attributes) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let present = |pattern: &str| {
        existing.lines().any(|line| {
            line.strip_prefix(pattern).is_some_and(|rest| {
                let words: Vec<&str> = rest.split_whitespace().collect();
                rest.starts_with([' ', '\t'])
                    && words.contains(&"merge=sops")
                    && words.contains(&"diff=sops")
            })
        })
    };
    let added: Vec<String> = patterns
        .iter()
        .filter(|p| !present(p))
        .map(|p| format!("{p} {ATTRIBUTES}"))
        .collect();
    if added.is_empty() {
        printer.info(&format!("{}: already set up", attributes.display()));
    } else {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for line in &added {
            text.push_str(line);
            text.push('\n');
        }
        crate::fsio::write_atomic(&attributes, text.as_bytes())?;
        printer.info(&format!("added to {}:", attributes.display()));
        for line in &added {
            printer.info(&format!("  {line}"));
        }
    }

    let seal = std::env::current_exe().context("finding the seal binary")?;
    let seal = shell_quote(&seal);
    let config = [
        (
            "merge.sops.name",
            "seal: three-way merge of SOPS files on their decrypted values".to_owned(),
        ),
        (
            "merge.sops.driver",
            format!("{seal} merge-driver %O %A %B %P"),
        ),
        ("diff.sops.textconv", format!("{seal} diff --textconv")),
    ];
    printer.info("set in the repository's local git config (.git/config):");
    for (key, value) in &config {
        git(&["config", "--local", key, value])?;
        printer.info(&format!("  {key} = {value}"));
    }
    printer.info(
        "commit .gitattributes so that everyone merges these files this way; each clone runs \
         `seal git setup` once for its own config",
    );
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_files_become_anchored_escaped_patterns() {
        let top = Path::new("/repo");
        assert_eq!(
            anchored(top, Path::new("/repo/a/b.enc.yaml")),
            "/a/b.enc.yaml"
        );
        assert_eq!(anchored(top, Path::new("/repo/x[1].env")), "/x\\[1].env");
        assert_eq!(anchored(top, Path::new("/repo/x y.env")), "\"/x y.env\"");
    }

    #[test]
    fn paths_with_spaces_are_quoted_for_the_shell() {
        assert_eq!(shell_quote(Path::new("/usr/bin/seal")), "/usr/bin/seal");
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
