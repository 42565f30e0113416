//! Secret identifiers.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, excerpt};
use crate::grammar::{Token, tokenize};

/// The name of one secret, such as `docker/auth/hub/alice`.
///
/// Grammar (docs/design.md §3): one or more components separated by `/`; each component is one
/// or more of `A-Z a-z 0-9 . - _ :`; at most [`MAX_LEN`](crate::MAX_LEN) bytes.
/// Comparison is case-sensitive and byte-wise.
///
/// ```
/// use secrets_engine::Id;
/// let id = Id::parse("docker/auth/127.0.0.1:5000")?;
/// assert_eq!(id.components().collect::<Vec<_>>(), ["docker", "auth", "127.0.0.1:5000"]);
/// assert!(Id::parse("docker//auth").is_err());
/// # Ok::<(), secrets_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct Id {
    text: Box<str>,
    /// Byte range of each component in `text`; kept so matching never re-splits.
    spans: Box<[(u16, u16)]>,
}

impl Id {
    /// Parses and validates an id.
    ///
    /// # Errors
    /// [`Error::InvalidId`] naming the offending component and why.
    ///
    /// ```
    /// use secrets_engine::Id;
    /// let err = Id::parse("a/b c").unwrap_err();
    /// assert!(err.to_string().contains("component 1"));
    /// ```
    pub fn parse(input: &str) -> Result<Id, Error> {
        let tokens = tokenize(input, false).map_err(|reason| Error::InvalidId {
            input: excerpt(input),
            reason,
        })?;
        let spans = tokens
            .into_iter()
            .map(|t| match t {
                Token::Name { start, end } => (start, end),
                // tokenize(_, false) rejects wildcards.
                Token::One | Token::Any => unreachable!("wildcard in a validated id"),
            })
            .collect();
        Ok(Id {
            text: input.into(),
            spans,
        })
    }

    /// The id as written.
    ///
    /// ```
    /// # use secrets_engine::Id;
    /// assert_eq!(Id::parse("a/b")?.as_str(), "a/b");
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The components, in order.
    ///
    /// ```
    /// # use secrets_engine::Id;
    /// assert_eq!(Id::parse("a/b")?.components().count(), 2);
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn components(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator + '_ {
        self.spans
            .iter()
            .map(|&(s, e)| &self.text[s as usize..e as usize])
    }

    /// Number of components.
    ///
    /// ```
    /// # use secrets_engine::Id;
    /// assert_eq!(Id::parse("a/b/c")?.len(), 3);
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // an id is never empty
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Component `i`; the matcher's random access, no iteration.
    #[inline]
    pub(crate) fn component(&self, i: usize) -> &str {
        let (s, e) = self.spans[i];
        &self.text[s as usize..e as usize]
    }

    /// True when the id lies in `realm` (a prefix of whole components) or equals it.
    ///
    /// ```
    /// # use secrets_engine::Id;
    /// let id = Id::parse("docker/secrets-engine/token")?;
    /// assert!(id.starts_with_components(&["docker", "secrets-engine"]));
    /// assert!(!id.starts_with_components(&["docker", "secrets"]));
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn starts_with_components(&self, realm: &[&str]) -> bool {
        realm.len() <= self.len()
            && realm
                .iter()
                .enumerate()
                .all(|(i, c)| self.component(i) == *c)
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Id {}
impl std::hash::Hash for Id {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}
impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Id {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({:?})", &*self.text)
    }
}

impl FromStr for Id {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::parse(s)
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl TryFrom<&str> for Id {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Id::parse(s)
    }
}
