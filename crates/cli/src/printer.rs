//! The only place that prints: data to stdout, messages to stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{self, Write as _};

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
}
