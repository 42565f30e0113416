//! The crate's one error type.
//!
//! Every variant documents when it happens. Messages name what was wrong (which
//! component of an id, which provider, which variable) and never carry a secret
//! value: ids, patterns and provider names are not secret, values always are.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::error_kind::ErrorKind;

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
    /// The input is not valid UTF-8 (an environment value on Unix can be any bytes).
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
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
            SyntaxError::NotUtf8 { offset } => {
                write!(f, "it is not UTF-8 (invalid byte at {offset})")
            }
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

    /// No enabled provider's declared pattern overlaps the request, so nobody was asked.
    /// Distinct from [`Error::NotFound`]: the request names a place no provider serves.
    #[error("no enabled provider serves {pattern}: no declared pattern overlaps it")]
    NoProvider {
        /// The request.
        pattern: String,
    },
    /// Every provider asked answered, and none holds a secret matching the request (also:
    /// [`Store::remove`](crate::Store::remove) of an absent id).
    #[error("no secret matches {pattern}")]
    NotFound {
        /// The request.
        pattern: String,
    },
    /// Nothing was found and at least one provider failed, so the answer is unknown
    /// rather than "not found". Each failure names its provider.
    #[error("{} for {pattern}", join_failures(failures))]
    ProvidersFailed {
        /// The request.
        pattern: String,
        /// What went wrong, per provider, in registration order.
        failures: Vec<ProviderFailure>,
    },
    /// A request resolving to one value matched several secrets with different values.
    /// Names ids and providers, never values.
    #[error("{pattern} is ambiguous: it matches {} secrets with different values: {}", candidates.len(), candidates.join(", "))]
    Ambiguous {
        /// The request.
        pattern: String,
        /// `id (provider)` of each match.
        candidates: Vec<String>,
    },
    /// Resolving the environment variable `name` failed; `source` says why.
    #[error("{name}: {source}")]
    Variable {
        /// The variable's name (lossily converted to UTF-8).
        name: String,
        /// Why it failed.
        source: Box<Error>,
    },
    /// A reference asks for ids outside what this resolution allows
    /// ([`EnvOptions::allow`](crate::EnvOptions::allow)), or inside the engine's
    /// internal realm; it was not looked up.
    #[error("se://{reference} is not allowed here: {why}")]
    NotAllowed {
        /// The reference's pattern.
        reference: String,
        /// Which rule refused it.
        why: &'static str,
    },
    /// An environment holds more distinct secret references than
    /// [`EnvOptions::max_references`](crate::EnvOptions::max_references); nothing was
    /// looked up.
    #[error(
        "the environment holds more than {limit} distinct secret references (the cap EnvOptions::max_references)"
    )]
    TooManyReferences {
        /// The cap.
        limit: usize,
    },
    /// A secret destined for an environment variable contains a NUL byte, which no
    /// environment can carry (or, on Windows, is not UTF-8).
    #[error("the value of {id} cannot be an environment value: {why}")]
    UnrepresentableValue {
        /// The secret's id.
        id: String,
        /// What makes it unrepresentable.
        why: &'static str,
    },
    /// A provider did not answer within its deadline; the call was abandoned.
    #[error("no answer within {after:?}")]
    Timeout {
        /// The deadline that passed.
        after: Duration,
    },
    /// A provider hit a condition it cannot recover from by itself (its binary is
    /// missing, the user refused authorization, it panicked). The provider shows as
    /// crashed until it is enabled again.
    #[error("crashed: {reason}")]
    Crashed {
        /// What happened.
        reason: String,
    },
    /// The backend cannot be reached (no Secret Service on the bus, connection refused).
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What was tried and what happened.
        reason: String,
    },
    /// The backend is reachable but locked (a locked keychain collection, a sealed vault).
    #[error("locked: {reason}")]
    Locked {
        /// What is locked.
        reason: String,
    },
    /// The backend refused the operation for lack of permission.
    #[error("permission denied: {reason}")]
    PermissionDenied {
        /// What was refused.
        reason: String,
    },
    /// The backend answered with an error not covered by a more specific variant.
    #[error("backend error: {message}")]
    Backend {
        /// The backend's message, stripped of any secret material.
        message: String,
    },
    /// The engine's config file could not be read, parsed or written. A corrupt file is
    /// reported, never silently reset.
    #[error("config file {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// No provider with this name is registered.
    #[error("no provider named {name:?}")]
    UnknownProvider {
        /// The name asked for.
        name: String,
    },
    /// The provider cannot be enabled or disabled (the OS keychain is always on).
    #[error("provider {name:?} is not configurable: it is always enabled")]
    NotConfigurable {
        /// The provider.
        name: String,
    },
    /// Two providers were registered under one name, or a name is not
    /// lowercase letters, digits and `-`.
    #[error("invalid provider registration {name:?}: {reason}")]
    InvalidProvider {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A write was asked for but the engine has no writable store, or the store is not
    /// enabled.
    #[error("no writable store: {reason}")]
    NoStore {
        /// Why.
        reason: String,
    },
    /// An env file could not be parsed. The line's text is never quoted (it may hold
    /// a secret).
    #[error("env file {path}, line {line}: {reason}")]
    EnvFile {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A credential given to the engine (a 1Password service-account token) does not
    /// have the expected shape. Never quotes the credential.
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A local I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One provider's failure during a lookup.
#[derive(Debug)]
pub struct ProviderFailure {
    /// The provider's name.
    pub provider: String,
    /// What went wrong.
    pub error: Error,
}

impl fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "provider {} failed: {}", self.provider, self.error)
    }
}

fn join_failures(failures: &[ProviderFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// True when the error means "the secret is not there" (as opposed to "could not
    /// tell"): [`Error::NotFound`], possibly inside [`Error::Variable`].
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::NotFound { .. } => true,
            Error::Variable { source, .. } => source.is_not_found(),
            _ => false,
        }
    }

    /// What kind of failure this is, for callers that classify errors (the C
    /// status, Go's sentinel errors and Python's exception classes all derive from
    /// it). Looks through [`Error::Variable`] to its cause, and classifies
    /// [`Error::ProvidersFailed`] by the providers' common error when all failed the
    /// same specific way (all timed out, all locked); see [`Error::specific`].
    ///
    /// ```
    /// use secrets_engine::{Error, ErrorKind, ProviderFailure};
    /// let timeout = || Error::Timeout { after: std::time::Duration::from_secs(1) };
    /// let e = Error::ProvidersFailed {
    ///     pattern: "a".into(),
    ///     failures: vec![
    ///         ProviderFailure { provider: "x".into(), error: timeout() },
    ///         ProviderFailure { provider: "y".into(), error: timeout() },
    ///     ],
    /// };
    /// assert_eq!(e.kind(), ErrorKind::Timeout);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::of_variant(self.specific())
    }

    /// The error that says what kind of failure this is: the cause inside
    /// [`Error::Variable`], and for [`Error::ProvidersFailed`] the providers' common
    /// error when all failed the same specific way. A generic [`Error::Backend`]
    /// failure stays `ProvidersFailed`. Messages should still come from `self`, which
    /// names every provider.
    pub fn specific(&self) -> &Error {
        match self {
            Error::Variable { source, .. } => source.specific(),
            Error::ProvidersFailed { failures, .. } => match failures.split_first() {
                Some((first, rest))
                    if !matches!(first.error, Error::Backend { .. })
                        && rest.iter().all(|f| {
                            std::mem::discriminant(&f.error) == std::mem::discriminant(&first.error)
                        }) =>
                {
                    first.error.specific()
                }
                _ => self,
            },
            other => other,
        }
    }

    /// The same error again, for a failure that answers several lookups of a batch
    /// (`Error` is not `Clone`: `std::io::Error` is not). An I/O error keeps its OS
    /// code, or else its kind and message.
    #[cfg_attr(not(feature = "file"), allow(dead_code))] // the file store and the Linux keychain
    pub(crate) fn duplicate(&self) -> Error {
        use Error::*;
        match self {
            InvalidId { input, reason } => InvalidId {
                input: input.clone(),
                reason: reason.clone(),
            },
            InvalidPattern { input, reason } => InvalidPattern {
                input: input.clone(),
                reason: reason.clone(),
            },
            InvalidReference { input, reason } => InvalidReference {
                input: input.clone(),
                reason: reason.clone(),
            },
            NoProvider { pattern } => NoProvider {
                pattern: pattern.clone(),
            },
            NotFound { pattern } => NotFound {
                pattern: pattern.clone(),
            },
            ProvidersFailed { pattern, failures } => ProvidersFailed {
                pattern: pattern.clone(),
                failures: failures
                    .iter()
                    .map(|f| ProviderFailure {
                        provider: f.provider.clone(),
                        error: f.error.duplicate(),
                    })
                    .collect(),
            },
            Ambiguous {
                pattern,
                candidates,
            } => Ambiguous {
                pattern: pattern.clone(),
                candidates: candidates.clone(),
            },
            Variable { name, source } => Variable {
                name: name.clone(),
                source: Box::new(source.duplicate()),
            },
            NotAllowed { reference, why } => NotAllowed {
                reference: reference.clone(),
                why,
            },
            TooManyReferences { limit } => TooManyReferences { limit: *limit },
            UnrepresentableValue { id, why } => UnrepresentableValue {
                id: id.clone(),
                why,
            },
            Timeout { after } => Timeout { after: *after },
            Crashed { reason } => Crashed {
                reason: reason.clone(),
            },
            Unavailable { reason } => Unavailable {
                reason: reason.clone(),
            },
            Locked { reason } => Locked {
                reason: reason.clone(),
            },
            PermissionDenied { reason } => PermissionDenied {
                reason: reason.clone(),
            },
            Backend { message } => Backend {
                message: message.clone(),
            },
            Config { path, reason } => Config {
                path: path.clone(),
                reason: reason.clone(),
            },
            UnknownProvider { name } => UnknownProvider { name: name.clone() },
            NotConfigurable { name } => NotConfigurable { name: name.clone() },
            InvalidProvider { name, reason } => InvalidProvider {
                name: name.clone(),
                reason,
            },
            NoStore { reason } => NoStore {
                reason: reason.clone(),
            },
            EnvFile { path, line, reason } => EnvFile {
                path: path.clone(),
                line: *line,
                reason,
            },
            InvalidToken { reason } => InvalidToken { reason },
            Io { context, source } => Io {
                context: context.clone(),
                source: match source.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(source.kind(), source.to_string()),
                },
            },
        }
    }
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
