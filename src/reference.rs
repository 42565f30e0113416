//! `se://` secret references.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, SyntaxError, excerpt};
use crate::id::Id;
use crate::pattern::Pattern;

/// The scheme every reference starts with.
pub const SCHEME: &str = "se://";

/// A reference to one secret or a set of secrets: `se://` followed by an id or pattern.
///
/// ```
/// use secrets_engine::SecretRef;
/// let r: SecretRef = "se://docker/auth/hub/*".parse()?;
/// assert_eq!(r.pattern().as_str(), "docker/auth/hub/*");
/// assert_eq!(r.to_string(), "se://docker/auth/hub/*");
/// # Ok::<(), secrets_engine::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretRef {
    pattern: Pattern,
}

impl SecretRef {
    /// Parses `se://<id|pattern>`.
    ///
    /// # Errors
    /// [`Error::InvalidReference`]: the scheme is missing, or what follows is not a
    /// valid id or pattern (the reason names the component; offsets count from after
    /// `se://`).
    ///
    /// ```
    /// # use secrets_engine::SecretRef;
    /// assert!(SecretRef::parse("se://a/b").is_ok());
    /// assert!(SecretRef::parse("a/b").is_err());
    /// assert!(SecretRef::parse("se://a//b").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<SecretRef, Error> {
        let Some(rest) = input.strip_prefix(SCHEME) else {
            return Err(Error::InvalidReference {
                input: excerpt(input),
                reason: SyntaxError::MissingScheme,
            });
        };
        match Pattern::parse(rest) {
            Ok(pattern) => Ok(SecretRef { pattern }),
            Err(Error::InvalidPattern { reason, .. }) => Err(Error::InvalidReference {
                input: excerpt(input),
                reason,
            }),
            Err(other) => Err(other),
        }
    }

    /// Reads an environment value: `Ok(None)` when it does not start with `se://` (an
    /// ordinary value, to be passed through untouched), `Ok(Some(_))` for a valid
    /// reference, and an error when it starts with `se://` but the rest is invalid, so a
    /// typo never silently reaches a program as a literal string.
    ///
    /// ```
    /// # use secrets_engine::SecretRef;
    /// assert!(SecretRef::parse_env_value("hello")?.is_none());
    /// assert!(SecretRef::parse_env_value("se://db/password")?.is_some());
    /// assert!(SecretRef::parse_env_value("se://db password").is_err());
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn parse_env_value(value: &str) -> Result<Option<SecretRef>, Error> {
        if value.starts_with(SCHEME) {
            SecretRef::parse(value).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The id or pattern referred to.
    ///
    /// ```
    /// # use secrets_engine::SecretRef;
    /// assert!(SecretRef::parse("se://a/**")?.pattern().as_id().is_none());
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The id referred to, when the reference names exactly one id (no wildcard).
    ///
    /// ```
    /// # use secrets_engine::SecretRef;
    /// assert_eq!(SecretRef::parse("se://a/b")?.id().unwrap().as_str(), "a/b");
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn id(&self) -> Option<Id> {
        self.pattern.as_id()
    }
}

impl From<Pattern> for SecretRef {
    fn from(pattern: Pattern) -> SecretRef {
        SecretRef { pattern }
    }
}

impl From<Id> for SecretRef {
    fn from(id: Id) -> SecretRef {
        SecretRef { pattern: id.into() }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.pattern)
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({:?})", self.to_string())
    }
}

impl FromStr for SecretRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SecretRef::parse(s)
    }
}
