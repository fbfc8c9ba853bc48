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
    /// The status of a command `seal` ran for the user (`exec-env`, `helm`), or 130 after an
    /// interrupt.
    External(u8),
}

impl ExitStatus {
    /// The status of a finished child: its code, or 128 + the signal that ended it.
    pub fn of_child(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt as _;
        match (status.code(), status.signal()) {
            (Some(0), _) => Self::Success,
            (Some(code), _) => Self::External(u8::try_from(code).unwrap_or(1)),
            (None, Some(signal)) => Self::External(u8::try_from(128 + signal).unwrap_or(1)),
            (None, None) => Self::Failure,
        }
    }

    /// The status after SIGINT/SIGTERM/SIGHUP was caught and cleaned up after (130).
    pub const INTERRUPTED: Self = Self::External(130);
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
            ExitStatus::External(code) => ExitCode::from(code),
        }
    }
}

/// A wrong use of the command line found after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Prints `error: <context>: <cause>: …` as one line and picks the exit status. A cause whose
/// text its context already ends with (libraries that both quote and chain their source) is
/// not repeated. A usage error made with clap (a missing FILE) prints in clap's own form, as
/// the parser's errors do. A broken pipe on stdout is not an error (ripgrep's rule).
pub fn report(error: &anyhow::Error, printer: &Printer) -> ExitStatus {
    if error
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return ExitStatus::Success;
    }
    if let Some(usage) = error.downcast_ref::<clap::Error>() {
        printer.usage(&usage.render().to_string());
        return ExitStatus::Error;
    }
    printer.error(&one_line(error));
    if error.downcast_ref::<UsageError>().is_some() {
        ExitStatus::Error
    } else {
        ExitStatus::Failure
    }
}

/// The error chain as one line, `: `-separated, each cause once.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string().replace('\n', " ");
        let text = text.trim();
        if text.is_empty() || line.ends_with(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to read kubeconfig from '/nowhere': {0}")]
    struct QuotesAndChains(#[source] std::io::Error);

    // issue 14: a missing kubeconfig repeated the OS error.
    #[test]
    fn a_cause_already_quoted_by_its_context_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = io.to_string();
        let error = anyhow::Error::new(QuotesAndChains(io)).context("no --cert given");
        assert_eq!(
            one_line(&error),
            format!("no --cert given: failed to read kubeconfig from '/nowhere': {text}")
        );
    }

    #[test]
    fn every_cause_shows_on_one_line() {
        let error = anyhow::anyhow!("inner\nsecond line")
            .context("middle")
            .context("outer");
        assert_eq!(one_line(&error), "outer: middle: inner second line");
    }
}
