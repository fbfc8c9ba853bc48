//! Errors of template parsing and execution.

/// Result alias of [`crate::template`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A template that does not parse or fails while running. Messages name the place and the
/// function, never a value: the data a template sees is secret.
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
    /// The output grew past [`super::MAX_OUTPUT`] bytes.
    #[error("template: output exceeds {limit} bytes")]
    OutputTooLarge {
        /// The limit.
        limit: usize,
    },
}

/// 1-based line and column of byte offset `at` in `src`.
pub(crate) fn position(src: &str, at: usize) -> (usize, usize) {
    let at = at.min(src.len());
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
