//! The crate's one error type. Messages name the policy path and key at fault (and the line when
//! the parser knows it) so an operator can fix the text; they never echo parameter values, which
//! might be sensitive.

use std::fmt;

/// Why a policy name or policy text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The policy name is unusable (empty, too long, contains `/` or control characters).
    #[error("invalid policy name: {reason}")]
    InvalidName {
        /// What is wrong with the name.
        reason: &'static str,
    },
    /// The text is not well-formed HCL or JSON.
    #[error("failed to parse policy: {}{message}", Location(*line, *column))]
    Syntax {
        /// 1-based line of the error, when the parser reports it.
        line: Option<usize>,
        /// 1-based column of the error, when the parser reports it.
        column: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// The text is well-formed but does not describe a valid policy.
    #[error("failed to parse policy: {}{message}", Location(*line, None))]
    Invalid {
        /// 1-based line of the offending `path` block, when known.
        line: Option<usize>,
        /// What is wrong, naming the path and key.
        message: String,
    },
}

impl PolicyError {
    pub(crate) fn invalid(line: Option<usize>, message: impl Into<String>) -> Self {
        PolicyError::Invalid {
            line,
            message: message.into(),
        }
    }
}

/// Renders the optional "line L, column C: " prefix of a message.
struct Location(Option<usize>, Option<usize>);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: "),
            (Some(line), None) => write!(f, "line {line}: "),
            _ => Ok(()),
        }
    }
}
