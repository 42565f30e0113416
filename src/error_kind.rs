//! The categories a caller sorts errors into.
//!
//! [`Error`] carries the detail (which provider, which variable, which component of
//! an id); [`ErrorKind`] is the one mapping from that detail to a category. The C
//! ABI's `se_status`, Go's sentinel errors and Python's exception classes are each
//! derived from it in exactly one place, so a new variant of [`Error`] cannot be
//! classified three different ways.

use crate::error::Error;

/// What kind of failure an [`Error`] is; see [`Error::kind`].
///
/// New kinds may be added in minor releases: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A string given as an id does not follow the id grammar
    /// ([`Error::InvalidId`]).
    InvalidId,
    /// A string given as a pattern does not follow the pattern grammar
    /// ([`Error::InvalidPattern`]).
    InvalidPattern,
    /// A value starting with `se://` is not a valid reference
    /// ([`Error::InvalidReference`]).
    InvalidReference,
    /// An argument is malformed in a way no more specific kind names: a bad
    /// provider registration, an unparsable env file, a malformed token, an
    /// environment with too many references.
    InvalidArgument,
    /// Every provider asked answered, and none holds a matching secret
    /// ([`Error::NotFound`]).
    NotFound,
    /// No enabled provider's declared pattern overlaps the request
    /// ([`Error::NoProvider`]).
    NoProvider,
    /// Nothing was found and providers failed in different (or generic) ways
    /// ([`Error::ProvidersFailed`]); the message names each.
    ProviderFailed,
    /// A reference matched several secrets with different values
    /// ([`Error::Ambiguous`]).
    Ambiguous,
    /// A provider did not answer within its deadline ([`Error::Timeout`]).
    Timeout,
    /// A provider crashed, or hit a condition it cannot recover from by itself
    /// ([`Error::Crashed`]).
    Crashed,
    /// A backend could not be reached ([`Error::Unavailable`]).
    Unavailable,
    /// A backend is reachable but locked ([`Error::Locked`]).
    Locked,
    /// A backend refused for lack of permission ([`Error::PermissionDenied`]), or a
    /// reference is outside what an environment resolution allows
    /// ([`Error::NotAllowed`]).
    PermissionDenied,
    /// A backend answered with an error no more specific kind covers
    /// ([`Error::Backend`]).
    Backend,
    /// The engine's config file could not be read, parsed or written
    /// ([`Error::Config`]).
    Config,
    /// No provider has the name asked for ([`Error::UnknownProvider`]).
    UnknownProvider,
    /// The provider cannot be enabled or disabled ([`Error::NotConfigurable`]).
    NotConfigurable,
    /// No writable store is available ([`Error::NoStore`]).
    NoStore,
    /// A secret cannot be an environment value ([`Error::UnrepresentableValue`]).
    Unrepresentable,
    /// A local I/O operation failed ([`Error::Io`]).
    Io,
}

impl ErrorKind {
    /// Every kind, in declaration order (for exhaustive tests of a mapping).
    pub const ALL: [ErrorKind; 20] = [
        ErrorKind::InvalidId,
        ErrorKind::InvalidPattern,
        ErrorKind::InvalidReference,
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::NoProvider,
        ErrorKind::ProviderFailed,
        ErrorKind::Ambiguous,
        ErrorKind::Timeout,
        ErrorKind::Crashed,
        ErrorKind::Unavailable,
        ErrorKind::Locked,
        ErrorKind::PermissionDenied,
        ErrorKind::Backend,
        ErrorKind::Config,
        ErrorKind::UnknownProvider,
        ErrorKind::NotConfigurable,
        ErrorKind::NoStore,
        ErrorKind::Unrepresentable,
        ErrorKind::Io,
    ];

    /// The kind of `e`'s own variant, without looking inside it.
    pub(crate) fn of_variant(e: &Error) -> ErrorKind {
        match e {
            Error::InvalidId { .. } => ErrorKind::InvalidId,
            Error::InvalidPattern { .. } => ErrorKind::InvalidPattern,
            Error::InvalidReference { .. } => ErrorKind::InvalidReference,
            Error::NoProvider { .. } => ErrorKind::NoProvider,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::ProvidersFailed { .. } => ErrorKind::ProviderFailed,
            Error::Ambiguous { .. } => ErrorKind::Ambiguous,
            Error::Variable { source, .. } => ErrorKind::of_variant(source),
            Error::UnrepresentableValue { .. } => ErrorKind::Unrepresentable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Crashed { .. } => ErrorKind::Crashed,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::PermissionDenied { .. } | Error::NotAllowed { .. } => {
                ErrorKind::PermissionDenied
            }
            Error::Backend { .. } => ErrorKind::Backend,
            Error::Config { .. } => ErrorKind::Config,
            Error::UnknownProvider { .. } => ErrorKind::UnknownProvider,
            Error::NotConfigurable { .. } => ErrorKind::NotConfigurable,
            Error::NoStore { .. } => ErrorKind::NoStore,
            Error::Io { .. } => ErrorKind::Io,
            Error::InvalidProvider { .. }
            | Error::EnvFile { .. }
            | Error::InvalidToken { .. }
            | Error::TooManyReferences { .. } => ErrorKind::InvalidArgument,
        }
    }

    /// A short lowercase description ("not found", "locked"), stable across releases.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidId => "invalid id",
            ErrorKind::InvalidPattern => "invalid pattern",
            ErrorKind::InvalidReference => "invalid secret reference",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::NoProvider => "no provider serves the request",
            ErrorKind::ProviderFailed => "a provider failed",
            ErrorKind::Ambiguous => "ambiguous reference",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Crashed => "provider crashed",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Locked => "locked",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Backend => "backend error",
            ErrorKind::Config => "config file error",
            ErrorKind::UnknownProvider => "unknown provider",
            ErrorKind::NotConfigurable => "provider not configurable",
            ErrorKind::NoStore => "no writable store",
            ErrorKind::Unrepresentable => "value cannot be an environment value",
            ErrorKind::Io => "I/O error",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_kind_once() {
        let mut seen = std::collections::HashSet::new();
        for k in ErrorKind::ALL {
            assert!(seen.insert(k), "{k:?} twice");
            assert!(!k.as_str().is_empty());
        }
    }

    #[test]
    fn variable_is_classified_by_its_cause() {
        let e = Error::Variable {
            name: "K".into(),
            source: Box::new(Error::Locked { reason: "x".into() }),
        };
        assert_eq!(e.kind(), ErrorKind::Locked);
    }

    #[test]
    fn mixed_failures_stay_provider_failed() {
        use crate::error::ProviderFailure;
        let e = Error::ProvidersFailed {
            pattern: "a".into(),
            failures: vec![
                ProviderFailure {
                    provider: "x".into(),
                    error: Error::Locked { reason: "x".into() },
                },
                ProviderFailure {
                    provider: "y".into(),
                    error: Error::Timeout {
                        after: std::time::Duration::from_secs(1),
                    },
                },
            ],
        };
        assert_eq!(e.kind(), ErrorKind::ProviderFailed);
    }
}
