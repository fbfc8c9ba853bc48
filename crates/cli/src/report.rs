//! Turns an error into one line on stderr and an exit status.

use std::process::ExitCode;

use crate::printer::Printer;

/// How the process ends (uv's convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything worked.
    Success,
    /// Bad input: a file, a key, a ciphertext.
    Failure,
    /// Wrong usage or an unexpected internal error.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}

/// A wrong use of the command line found after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Prints `error: <context>: <cause>: …` as one line and picks the exit status.
/// A broken pipe on stdout is not an error (ripgrep's rule).
pub fn report(error: &anyhow::Error, printer: &Printer) -> ExitStatus {
    if error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return ExitStatus::Success;
    }
    printer.error(&format!("{error:#}").replace('\n', " "));
    if error.downcast_ref::<UsageError>().is_some() {
        ExitStatus::Error
    } else {
        ExitStatus::Failure
    }
}
