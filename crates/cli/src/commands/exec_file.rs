//! `seal exec-file FILE CMD`: run CMD with `{}` replaced by the path of the decrypted file.
//!
//! The cleartext goes through a FIFO (default) or, with `--no-fifo`, a 0600 file, in a 0700
//! temp dir removed on every exit path: CMD's end, an error, and SIGINT/SIGTERM/SIGHUP (a
//! handler turns the signal into a flag, as in `seal edit`; CMD, in the same process group,
//! gets a terminal's signal too, and once it is gone the dir is removed and `seal` exits
//! 130). The exit status is CMD's.

use std::io::Write as _;
use std::path::PathBuf;

use std::sync::atomic::Ordering;

use anyhow::Context as _;

use super::sops_args::{ConfigArgs, TypeArgs};
use super::sops_common::{Purpose, SopsFile};
use super::sops_io;
use crate::printer::Printer;
use crate::report::ExitStatus;

/// Arguments of `seal exec-file`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  $ seal exec-file secrets.enc.json 'myapp --config {}'")]
pub struct Args {
    /// The SOPS file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The command line to run; `{}` becomes the path of the cleartext.
    #[arg(value_name = "CMD")]
    pub command: String,
    /// Use a regular file instead of a FIFO.
    #[arg(long)]
    pub no_fifo: bool,
    /// Name of the temporary file (default `tmp-file`).
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub types: TypeArgs,
}

/// Runs `seal exec-file`.
pub fn run(args: Args, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // Before any plaintext exists, so no signal can end the process with it on disk.
    let interrupted = sops_io::interrupt_flag()?;
    let file = SopsFile::new(&args.file, None, &args.types, &ConfigArgs::default(), None)?;
    let opened = file.open(args.ignore_mac, Purpose::Read)?;
    let plaintext = opened.plaintext_bytes()?;
    let name = args.filename.as_deref().unwrap_or("tmp-file");
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        anyhow::bail!("--filename must be a plain file name, got `{name}`");
    }
    if interrupted.load(Ordering::SeqCst) {
        printer.error("interrupted before running the command");
        return Ok(ExitStatus::INTERRUPTED);
    }
    let dir = sops_io::private_temp_dir()?;
    let path = dir.path().join(name);
    let command_line = args.command.replace("{}", &path.to_string_lossy());
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(&command_line);

    let status = if args.no_fifo {
        sops_io::write_private_file(&path, &plaintext)?;
        command.status()
    } else {
        let made = std::process::Command::new("mkfifo")
            .arg("-m")
            .arg("600")
            .arg(&path)
            .status()
            .context("running mkfifo")?;
        if !made.success() {
            anyhow::bail!("mkfifo {} failed ({made})", path.display());
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("running `{}`", args.command))?;
        let fifo = path.clone();
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            // Blocks until the command opens the FIFO for reading.
            let mut out = fs_err::OpenOptions::new().write(true).open(&fifo)?;
            match out.write_all(&plaintext) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            }
        });
        let status = child.wait();
        // If the command did not read everything (or never opened the FIFO), hold the read
        // end open and drain it until the writer thread is done, so it cannot block forever.
        let reader = {
            use fs_err::os::unix::fs::OpenOptionsExt as _;
            fs_err::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
        };
        if let Ok(mut reader) = reader {
            use std::io::Read as _;
            let mut buf = zeroize::Zeroizing::new([0u8; 8192]);
            while !writer.is_finished() {
                match reader.read(&mut buf[..]) {
                    Ok(n) if n > 0 => {}
                    Ok(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(_) => break,
                }
            }
        }
        let _ = writer.join();
        status
    }
    .with_context(|| format!("running `{}`", args.command));
    // Plaintext leaves the disk before anything else happens.
    drop(dir);
    if interrupted.load(Ordering::SeqCst) {
        printer.error("interrupted: the decrypted file was removed");
        return Ok(ExitStatus::INTERRUPTED);
    }
    Ok(ExitStatus::of_child(status?))
}
