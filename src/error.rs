//! The crate's one error type.
//!
//! Every variant documents when it happens. Messages name what was wrong (which
//! component of an id, which provider, which variable) and never carry a secret
//! value: ids, patterns and provider names are not secret, values always are.

use std::fmt;

/// Why an id, pattern or reference failed to parse.
///
/// Component indices are 0-based; byte offsets count from the start of the whole
/// input (after `se://` for references).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyntaxError {
    /// The input was the empty string.
    Empty,
    /// The input exceeded [`MAX_LEN`](crate::MAX_LEN) bytes.
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// A component was empty: a leading `/`, a trailing `/` or `//`.
    EmptyComponent {
        /// Index of the empty component.
        component: usize,
    },
    /// A character outside `A-Z a-z 0-9 . - _ :` (or `*` in a wildcard).
    InvalidChar {
        /// Index of the component holding the character.
        component: usize,
        /// The offending character.
        ch: char,
        /// Byte offset of the character in the input.
        offset: usize,
    },
    /// A component contained `*` but was not exactly `*` or `**` (`foo*`, `*a`, `***`).
    BadWildcard {
        /// Index of the component.
        component: usize,
    },
    /// An id contained a wildcard component (`*` or `**`); ids are exact names.
    WildcardInId {
        /// Index of the component.
        component: usize,
    },
    /// A reference did not start with `se://`.
    MissingScheme,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxError::Empty => f.write_str("it is empty"),
            SyntaxError::TooLong { len } => write!(
                f,
                "it is {len} bytes long, over the limit of {} bytes",
                crate::MAX_LEN
            ),
            SyntaxError::EmptyComponent { component } => write!(
                f,
                "component {component} is empty (leading, trailing or doubled '/')"
            ),
            SyntaxError::InvalidChar {
                component,
                ch,
                offset,
            } => write!(
                f,
                "component {component} has {ch:?} at byte {offset}; allowed are A-Z a-z 0-9 . - _ :"
            ),
            SyntaxError::BadWildcard { component } => write!(
                f,
                "component {component} mixes '*' with other characters; a wildcard component is exactly '*' or '**'"
            ),
            SyntaxError::WildcardInId { component } => write!(
                f,
                "component {component} is a wildcard, which an id cannot contain"
            ),
            SyntaxError::MissingScheme => f.write_str("it does not start with se://"),
        }
    }
}

impl std::error::Error for SyntaxError {}

/// The error type of every fallible operation in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string given as an [`Id`](crate::Id) does not follow the id grammar.
    #[error("invalid id {input:?}: {reason}")]
    InvalidId {
        /// The input, shortened to at most 128 characters.
        input: String,
        /// What is wrong with it.
        reason: SyntaxError,
    },
    /// A string given as a [`Pattern`](crate::Pattern) does not follow the pattern grammar.
    #[error("invalid pattern {input:?}: {reason}")]
    InvalidPattern {
        /// The input, shortened to at most 128 characters.
        input: String,
        /// What is wrong with it.
        reason: SyntaxError,
    },
    /// A string given as a [`SecretRef`](crate::SecretRef) is not `se://` followed by a
    /// valid id or pattern. Also returned when an environment value starts with `se://`
    /// but the rest does not parse: such values are never passed through silently.
    #[error("invalid secret reference {input:?}: {reason}")]
    InvalidReference {
        /// The input, shortened to at most 128 characters.
        input: String,
        /// What is wrong with it.
        reason: SyntaxError,
    },
}

/// Shortens user input quoted in an error so a 1 MiB argument cannot become a 1 MiB message.
pub(crate) fn excerpt(input: &str) -> String {
    const MAX: usize = 128;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let mut s: String = input.chars().take(MAX).collect();
        s.push('…');
        s
    }
}
