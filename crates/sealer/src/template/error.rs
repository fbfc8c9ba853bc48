//! Errors of template parsing and execution.

use super::budget::Limit;

/// Result alias of [`crate::template`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A template that does not parse, fails while running or runs out of budget. Messages name
/// the place in the template and the function, never a value, its length or a position in it:
/// the data a template sees is secret, and whoever may edit a template may not read it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template text is not valid.
    #[error("template: line {line}, column {column}: {reason}")]
    Parse {
        /// 1-based line of the offending action.
        line: usize,
        /// 1-based column (in characters) where it starts.
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// Running the template failed.
    #[error("template: line {line}, column {column}: {reason}")]
    Exec {
        /// 1-based line of the failing action.
        line: usize,
        /// 1-based column (in characters) where it starts.
        column: usize,
        /// What failed.
        reason: String,
    },
    /// Parsing or running the template ran out of one of its [`super::Limits`].
    #[error("template: line {line}, column {column}: {what} exceeds the {limit}")]
    Limit {
        /// 1-based line of the action, text or control structure that ran over.
        line: usize,
        /// 1-based column (in characters) where it starts.
        column: usize,
        /// The function or construct that ran over (`repeat`, `range`, `output`, …).
        what: String,
        /// The budget.
        limit: Limit,
    },
}

/// 1-based line and column of byte offset `at` in `src`.
pub(crate) fn position(src: &str, at: usize) -> (usize, usize) {
    let at = at.min(src.len());
    let at = (0..=at)
        .rev()
        .find(|&i| src.is_char_boundary(i))
        .unwrap_or(0);
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A [`Error::Limit`] at byte offset `at` of `src`.
pub(crate) fn limit_error(src: &str, at: usize, what: &str, limit: Limit) -> Error {
    let (line, column) = position(src, at);
    Error::Limit {
        line,
        column,
        what: what.to_owned(),
        limit,
    }
}
