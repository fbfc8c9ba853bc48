//! The only place that prints: data to stdout, messages to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, IsTerminal as _, Write as _};

/// Writes command output (stdout) and human messages (stderr).
#[derive(Debug, Default)]
pub struct Printer {}

impl Printer {
    /// A printer on the process's stdout and stderr.
    pub fn new() -> Self {
        Self {}
    }

    /// Writes data to stdout exactly as given, in one write.
    pub fn data(&self, text: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text)?;
        out.flush()
    }

    /// Stdout as a buffered writer, for data too large to build in memory first. Flush it
    /// before dropping it to see the last write's error.
    pub fn data_writer(&self) -> io::BufWriter<io::StdoutLock<'static>> {
        io::BufWriter::with_capacity(1 << 16, io::stdout().lock())
    }

    /// A warning line on stderr.
    pub fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }

    /// An informational line on stderr.
    pub fn info(&self, message: &str) {
        eprintln!("{message}");
    }

    /// A question on stderr, without a newline, for an answer typed on the same line.
    pub fn prompt(&self, question: &str) {
        let mut err = io::stderr().lock();
        // Nothing useful can be done if the terminal is gone; the read that follows fails.
        let _ = write!(err, "{question}").and_then(|()| err.flush());
    }

    /// A usage message on stderr, exactly as given (clap's form, several lines).
    pub fn usage(&self, text: &str) {
        eprint!("{text}");
    }

    /// An error line on stderr.
    pub fn error(&self, message: &str) {
        eprintln!("error: {message}");
    }

    /// A progress bar of `len` steps on stderr, drawn only when stderr is a terminal.
    pub fn progress(&self, len: u64, what: &str) -> Progress {
        let bar = if io::stderr().is_terminal() {
            indicatif::ProgressBar::new(len)
        } else {
            indicatif::ProgressBar::hidden()
        };
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ({eta})")
        {
            bar.set_style(style);
        }
        bar.set_message(what.to_owned());
        Progress { bar }
    }
}

/// A progress bar (see [`Printer::progress`]); shared by worker threads.
#[derive(Debug)]
pub struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    /// `n` more steps done.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
