//! Patterns over ids, and exact matching.

mod algebra;

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, excerpt};
use crate::grammar::{Token, tokenize};
use crate::id::Id;

/// One component of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A literal component: byte range in the pattern's text.
    Lit(u16, u16),
    /// `*`: exactly one component.
    One,
    /// `**`: zero or more components.
    Any,
}

/// A set of ids written with wildcards: `*` is exactly one component, `**` is zero or
/// more. `docker/auth/**` matches `docker/auth` and everything below it.
///
/// Every [`Id`] is a pattern that matches only itself. All three questions a pattern
/// answers are exact and polynomial:
///
/// | method | question | cost |
/// |---|---|---|
/// | [`matches`](Pattern::matches) | is the id in L(self)? | O(len(self)·len(id)), no allocation |
/// | [`overlaps`](Pattern::overlaps) | is L(self) ∩ L(other) non-empty? | O(len(self)·len(other)) |
/// | [`includes`](Pattern::includes) | is L(other) ⊆ L(self)? | see [`includes`](Pattern::includes) |
///
/// The languages are taken over the unbounded space of ids (the 4096-byte limit is an
/// input limit, not part of the algebra).
///
/// ```
/// use secrets_engine::{Id, Pattern};
/// let p: Pattern = "docker/*/auth/**".parse()?;
/// assert!(p.matches(&Id::parse("docker/hub/auth")?));
/// assert!(p.matches(&Id::parse("docker/hub/auth/alice/token")?));
/// assert!(!p.matches(&Id::parse("docker/auth")?));
/// # Ok::<(), secrets_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct Pattern {
    text: Box<str>,
    segs: Box<[Seg]>,
}

impl Pattern {
    /// Parses and validates a pattern.
    ///
    /// # Errors
    /// [`Error::InvalidPattern`] naming the offending component and why; a component that
    /// contains `*` must be exactly `*` or `**`.
    ///
    /// ```
    /// use secrets_engine::Pattern;
    /// assert!(Pattern::parse("a/**/b").is_ok());
    /// let err = Pattern::parse("a/b*").unwrap_err();
    /// assert!(err.to_string().contains("component 1"));
    /// ```
    pub fn parse(input: &str) -> Result<Pattern, Error> {
        let tokens = tokenize(input, true).map_err(|reason| Error::InvalidPattern {
            input: excerpt(input),
            reason,
        })?;
        Ok(Pattern::from_tokens(input, tokens))
    }

    fn from_tokens(text: &str, tokens: Vec<Token>) -> Pattern {
        let segs = tokens
            .into_iter()
            .map(|t| match t {
                Token::Name { start, end } => Seg::Lit(start, end),
                Token::One => Seg::One,
                Token::Any => Seg::Any,
            })
            .collect();
        Pattern {
            text: text.into(),
            segs,
        }
    }

    /// The pattern as written.
    ///
    /// ```
    /// # use secrets_engine::Pattern;
    /// assert_eq!(Pattern::parse("a/**")?.as_str(), "a/**");
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The components as written, wildcards included.
    ///
    /// ```
    /// # use secrets_engine::Pattern;
    /// assert_eq!(Pattern::parse("a/*/**")?.components().collect::<Vec<_>>(), ["a", "*", "**"]);
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn components(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.segs.iter().map(|s| match *s {
            Seg::Lit(a, b) => &self.text[a as usize..b as usize],
            Seg::One => "*",
            Seg::Any => "**",
        })
    }

    /// The pattern as an id when it has no wildcard.
    ///
    /// ```
    /// # use secrets_engine::Pattern;
    /// assert!(Pattern::parse("a/b")?.as_id().is_some());
    /// assert!(Pattern::parse("a/*")?.as_id().is_none());
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn as_id(&self) -> Option<Id> {
        if self.segs.iter().all(|s| matches!(s, Seg::Lit(..))) {
            Id::parse(&self.text).ok()
        } else {
            None
        }
    }

    /// The literal components before the first wildcard: every matching id starts with
    /// them. Backends use it to narrow a listing (a key prefix, a folder).
    ///
    /// ```
    /// # use secrets_engine::Pattern;
    /// assert_eq!(Pattern::parse("vault/team/*/db")?.literal_prefix().collect::<Vec<_>>(), ["vault", "team"]);
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn literal_prefix(&self) -> impl Iterator<Item = &str> + '_ {
        self.segs.iter().map_while(|s| match *s {
            Seg::Lit(a, b) => Some(&self.text[a as usize..b as usize]),
            _ => None,
        })
    }

    #[inline]
    fn lit(&self, a: u16, b: u16) -> &str {
        &self.text[a as usize..b as usize]
    }

    /// True when `id` is in L(self).
    ///
    /// Greedy matching that remembers only the latest `**`: O(len(self)·len(id)) in the
    /// worst case, no allocation, no recursion.
    ///
    /// ```
    /// # use secrets_engine::{Id, Pattern};
    /// let p = Pattern::parse("**/mcp/auth/**")?;
    /// assert!(p.matches(&Id::parse("mcp/auth")?));
    /// assert!(p.matches(&Id::parse("docker/mcp/auth/github")?));
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn matches(&self, id: &Id) -> bool {
        self.matches_by(id, |a, b| a == b)
    }

    /// Like [`matches`](Pattern::matches), comparing literal components ASCII
    /// case-insensitively (ids are ASCII by grammar). For providers whose backend
    /// names are case-insensitive, such as 1Password.
    ///
    /// ```
    /// # use secrets_engine::{Id, Pattern};
    /// let p = Pattern::parse("Vault/*")?;
    /// assert!(p.matches_ignore_case(&Id::parse("vault/Item")?));
    /// assert!(!p.matches(&Id::parse("vault/Item")?));
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn matches_ignore_case(&self, id: &Id) -> bool {
        self.matches_by(id, |a, b| a.eq_ignore_ascii_case(b))
    }

    #[inline]
    fn matches_by(&self, id: &Id, eq: impl Fn(&str, &str) -> bool) -> bool {
        let (m, n) = (self.segs.len(), id.len());
        let (mut p, mut t) = (0usize, 0usize);
        // Resume point after the latest `**`: (pattern index after it, id index it has eaten to).
        // Only the latest matters: a later `**` can absorb anything an earlier one could.
        let mut resume: Option<(usize, usize)> = None;
        while t < n {
            if p < m {
                match self.segs[p] {
                    Seg::Any => {
                        resume = Some((p + 1, t));
                        p += 1;
                        continue;
                    }
                    Seg::One => {
                        p += 1;
                        t += 1;
                        continue;
                    }
                    Seg::Lit(a, b) if eq(self.lit(a, b), id.component(t)) => {
                        p += 1;
                        t += 1;
                        continue;
                    }
                    Seg::Lit(..) => {}
                }
            }
            match resume {
                Some((rp, rt)) => {
                    // Let the latest `**` absorb one more component and retry.
                    p = rp;
                    t = rt + 1;
                    resume = Some((rp, rt + 1));
                }
                None => return false,
            }
        }
        self.segs[p..].iter().all(|s| *s == Seg::Any)
    }
}

impl From<Id> for Pattern {
    fn from(id: Id) -> Pattern {
        let segs = id.components().count();
        let mut out = Vec::with_capacity(segs);
        let text = id.as_str();
        let mut start = 0usize;
        for c in id.components() {
            out.push(Seg::Lit(start as u16, (start + c.len()) as u16));
            start += c.len() + 1;
        }
        Pattern {
            text: text.into(),
            segs: out.into(),
        }
    }
}

impl From<&Id> for Pattern {
    fn from(id: &Id) -> Pattern {
        Pattern::from(id.clone())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
impl Eq for Pattern {}
impl std::hash::Hash for Pattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", &*self.text)
    }
}

impl FromStr for Pattern {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::parse(s)
    }
}

impl TryFrom<&str> for Pattern {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Pattern::parse(s)
    }
}
