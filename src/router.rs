//! [`Router`]: which providers a request goes to, without asking every declared pattern.
//!
//! The engine asks a provider when its declared pattern overlaps the request. Asking
//! [`Pattern::overlaps`] of every provider costs O(providers) per lookup; the router
//! answers the same question from a trie of the declared patterns, so the cost follows
//! the request and the few patterns that can match it, not the number registered.
//!
//! # Shape
//!
//! The declared patterns are merged into one trie over components. An edge is a literal
//! component, `*` or `**`; the node a `**` edge leads to loops on any component. A trie
//! read this way is a nondeterministic automaton for the union of the patterns, and every
//! node remembers which providers' patterns end there.
//!
//! - An id request is run through it as a set of live nodes: per component, each live
//!   node follows its literal edge for that component (one hash lookup), its `*` edge and
//!   its own loop; a `**` edge is also taken without reading (zero components). The
//!   providers at the live nodes after the last component are the answer. The cost is
//!   O(|id| · live nodes), where live nodes are the trie paths still compatible with the
//!   id's prefix: a handful for real pattern sets however many are registered.
//! - A pattern request walks the product of the trie and the request's own automaton, as
//!   [`Pattern::overlaps`] does for two patterns; literal edges are a hash lookup against
//!   a request literal and are all visited only under a request wildcard. Exact, like the
//!   id walk, and never more states than (trie nodes) × (request length + 1).
//!
//! Providers that compare case-insensitively live in a second trie whose literals are
//! ASCII-lowercased, and requests are lowercased for it: the same answer as
//! [`Pattern::matches_ignore_case`] and [`Pattern::overlaps_ignore_case`], since ids are
//! ASCII by grammar.
//!
//! # Why a trie and not a regex DFA
//!
//! A multi-pattern regex (each pattern as an anchored regex over the id's text, asked for
//! all overlapping matches) answers ids only, so pattern requests would still need the
//! scan; a full DFA over 10,000 patterns with many `**` can blow up in size, and a lazy
//! one's cache thrashes when ids differ. The trie is built in one pass (insertion is
//! O(len(pattern))), so [`Engine::register`](crate::Engine::register) adds a provider
//! without a rebuild, and it answers both request kinds exactly. The regex route was
//! not built for comparison: the trie already answers an id among 10,000 realistic
//! patterns in well under a microsecond, against about a millisecond for the scan
//! (`cargo bench --bench routing`, or the `20-routing` row of `scripts/bench`).

use std::collections::HashMap;

use crate::pattern::Pattern;

/// One request or pattern component, as the walks read it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part<'a> {
    Lit(&'a str),
    One,
    Any,
}

fn part(component: &str) -> Part<'_> {
    match component {
        "*" => Part::One,
        "**" => Part::Any,
        lit => Part::Lit(lit),
    }
}

#[derive(Default)]
struct Node {
    /// Literal edges.
    lit: HashMap<Box<str>, u32>,
    /// The `*` edge.
    one: Option<u32>,
    /// The `**` edge; its target loops on any component.
    any: Option<u32>,
    /// Reached through a `**` edge: reads any component and stays.
    looping: bool,
    /// Providers (by registration index) whose pattern ends here.
    accept: Vec<u32>,
}

/// The declared patterns of one case discipline, merged into a trie.
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn new() -> Trie {
        Trie {
            nodes: vec![Node::default()],
        }
    }

    fn is_empty(&self) -> bool {
        self.nodes.len() == 1 && self.nodes[0].accept.is_empty()
    }

    fn push_node(&mut self, looping: bool) -> u32 {
        self.nodes.push(Node {
            looping,
            ..Node::default()
        });
        (self.nodes.len() - 1) as u32
    }

    fn insert<'a>(&mut self, components: impl Iterator<Item = &'a str>, fold: bool, slot: u32) {
        let mut at = 0u32;
        for c in components {
            at = match part(c) {
                Part::Lit(l) => {
                    let key: Box<str> = if fold {
                        l.to_ascii_lowercase().into()
                    } else {
                        l.into()
                    };
                    match self.nodes[at as usize].lit.get(&key) {
                        Some(&next) => next,
                        None => {
                            let next = self.push_node(false);
                            self.nodes[at as usize].lit.insert(key, next);
                            next
                        }
                    }
                }
                Part::One => match self.nodes[at as usize].one {
                    Some(next) => next,
                    None => {
                        let next = self.push_node(false);
                        self.nodes[at as usize].one = Some(next);
                        next
                    }
                },
                Part::Any => match self.nodes[at as usize].any {
                    Some(next) => next,
                    None => {
                        let next = self.push_node(true);
                        self.nodes[at as usize].any = Some(next);
                        next
                    }
                },
            };
        }
        self.nodes[at as usize].accept.push(slot);
    }

    /// Adds `n` and the nodes its `**` edges reach without reading anything.
    fn add_closed(&self, live: &mut Vec<u32>, mut n: u32) {
        live.push(n);
        while let Some(next) = self.nodes[n as usize].any {
            live.push(next);
            n = next;
        }
    }

    /// Providers whose pattern matches the id given by its (non-empty) components.
    fn route_id<'a>(&self, components: impl Iterator<Item = &'a str>, out: &mut Vec<u32>) {
        let mut live = Vec::with_capacity(8);
        let mut next = Vec::with_capacity(8);
        self.add_closed(&mut live, 0);
        for c in components {
            next.clear();
            for &n in &live {
                let node = &self.nodes[n as usize];
                if node.looping {
                    next.push(n); // a `**` node's loop never leads anywhere new: no closure
                }
                if let Some(&m) = node.lit.get(c) {
                    self.add_closed(&mut next, m);
                }
                if let Some(m) = node.one {
                    self.add_closed(&mut next, m);
                }
            }
            if next.is_empty() {
                return;
            }
            next.sort_unstable();
            next.dedup();
            std::mem::swap(&mut live, &mut next);
        }
        for &n in &live {
            out.extend_from_slice(&self.nodes[n as usize].accept);
        }
    }

    /// Providers whose pattern overlaps the request pattern given by its components.
    fn route_pattern(&self, request: &[Part<'_>], out: &mut Vec<u32>) {
        let m = request.len();
        // Product states (node, request position) already explored, as bits: every
        // move goes deeper in the trie or further in the request, so there are no
        // cycles, but many paths can meet in one state.
        let mut seen = vec![0u64; (self.nodes.len() * (m + 1)).div_ceil(64)];
        let mut work: Vec<(u32, usize)> = vec![(0, 0)];
        while let Some((n, j)) = work.pop() {
            let bit = n as usize * (m + 1) + j;
            if seen[bit / 64] & (1 << (bit % 64)) != 0 {
                continue;
            }
            seen[bit / 64] |= 1 << (bit % 64);
            let node = &self.nodes[n as usize];
            let here = request.get(j).copied();
            if j == m {
                out.extend_from_slice(&node.accept);
            }
            // Moves that read nothing: either side's `**` matching zero components.
            if let Some(g) = node.any {
                work.push((g, j));
            }
            if here == Some(Part::Any) {
                work.push((n, j + 1));
            }
            // Moves that read one component, on both sides at once. The request's move:
            // its `**` loops, `*` or a literal advance; its literal, if any.
            let (req_next, req_lit) = match here {
                None => continue,
                Some(Part::Any) => (j, None),
                Some(Part::One) => (j + 1, None),
                Some(Part::Lit(l)) => (j + 1, Some(l)),
            };
            // The provider's wildcard moves accept whatever the request reads.
            if node.looping && req_next != j {
                work.push((n, req_next));
            }
            if let Some(o) = node.one {
                work.push((o, req_next));
            }
            match req_lit {
                Some(l) => {
                    if let Some(&c) = node.lit.get(l) {
                        work.push((c, req_next));
                    }
                }
                // A request wildcard reads any of the provider's literals.
                None => work.extend(node.lit.values().map(|&c| (c, req_next))),
            }
        }
    }
}

/// Values (providers, or anything else) keyed by a declared pattern, answering "whose
/// pattern overlaps this request" exactly as [`Pattern::overlaps`] (or
/// [`Pattern::overlaps_ignore_case`] for entries added case-insensitively) asked of
/// each entry would, in far less than one call per entry.
///
/// Entries are numbered in insertion order from 0, and every answer lists them in
/// that order. An id request is a pattern without wildcards: the entries whose
/// pattern matches the id. [`Engine`](crate::Engine) routes every lookup through one.
///
/// ```
/// use secrets_engine::{Pattern, Router};
/// let p = |s: &str| Pattern::parse(s).unwrap();
/// let mut router = Router::new();
/// router.insert(p("docker/auth/**"), "credential-helper");
/// router.insert(p("team/*/db"), "vault");
/// router.insert_case_insensitive(p("OPS/**"), "1password");
///
/// assert_eq!(router.route(&p("docker/auth/hub/alice")), [&"credential-helper"]);
/// assert_eq!(router.route(&p("team/app/*")), [&"vault"]);
/// assert_eq!(router.route(&p("ops/x")), [&"1password"]);
/// assert_eq!(router.route(&p("**")).len(), 3);
/// assert!(router.route(&p("elsewhere")).is_empty());
/// // Entries are numbered in insertion order; `ops/app/db` is in both of these.
/// assert_eq!(router.route_indices(&p("*/app/db")), [1, 2]);
/// ```
pub struct Router<T> {
    entries: Vec<Entry<T>>,
    exact: Trie,
    folded: Trie,
}

struct Entry<T> {
    pattern: Pattern,
    case_insensitive: bool,
    value: T,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router::new()
    }
}

impl<T> std::fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| e.pattern.as_str()))
            .finish()
    }
}

impl<T> Router<T> {
    /// A router with no entries.
    pub fn new() -> Router<T> {
        Router {
            entries: Vec::new(),
            exact: Trie::new(),
            folded: Trie::new(),
        }
    }

    /// Adds `value` under `pattern`, compared exactly; returns its number. Costs
    /// O(len(pattern)): nothing is rebuilt.
    ///
    /// # Panics
    /// With 2^32 entries already present.
    pub fn insert(&mut self, pattern: Pattern, value: T) -> usize {
        self.push(pattern, false, value)
    }

    /// Adds `value` under `pattern`, compared ignoring ASCII case (as a provider that
    /// declares itself case-insensitive is); returns its number.
    ///
    /// # Panics
    /// With 2^32 entries already present.
    pub fn insert_case_insensitive(&mut self, pattern: Pattern, value: T) -> usize {
        self.push(pattern, true, value)
    }

    fn push(&mut self, pattern: Pattern, case_insensitive: bool, value: T) -> usize {
        let at = self.entries.len();
        let slot = u32::try_from(at).expect("fewer than 2^32 routes");
        if case_insensitive {
            self.folded.insert(pattern.components(), true, slot);
        } else {
            self.exact.insert(pattern.components(), false, slot);
        }
        self.entries.push(Entry {
            pattern,
            case_insensitive,
            value,
        });
        at
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `index`'s value.
    pub fn get(&self, index: usize) -> Option<&T> {
        self.entries.get(index).map(|e| &e.value)
    }

    /// Entry `index`'s pattern, and whether it is compared case-insensitively.
    pub fn pattern(&self, index: usize) -> Option<(&Pattern, bool)> {
        self.entries
            .get(index)
            .map(|e| (&e.pattern, e.case_insensitive))
    }

    /// Every value, in insertion order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        self.entries.iter().map(|e| &e.value)
    }

    /// The values whose pattern overlaps `request`, in insertion order.
    pub fn route(&self, request: &Pattern) -> Vec<&T> {
        self.route_indices(request)
            .into_iter()
            .map(|i| &self.entries[i].value)
            .collect()
    }

    /// The numbers of the entries whose pattern overlaps `request`, ascending.
    pub fn route_indices(&self, request: &Pattern) -> Vec<usize> {
        let mut out = Vec::new();
        let is_id = request.components().all(|c| c != "*" && c != "**");
        if is_id {
            // An id overlaps a pattern exactly when the pattern matches it.
            if !self.exact.is_empty() {
                self.exact.route_id(request.components(), &mut out);
            }
            if !self.folded.is_empty() {
                let lower = request.as_str().to_ascii_lowercase();
                self.folded.route_id(lower.split('/'), &mut out);
            }
        } else {
            if !self.exact.is_empty() {
                let parts: Vec<Part<'_>> = request.components().map(part).collect();
                self.exact.route_pattern(&parts, &mut out);
            }
            if !self.folded.is_empty() {
                let lower = request.as_str().to_ascii_lowercase();
                let parts: Vec<Part<'_>> = lower.split('/').map(part).collect();
                self.folded.route_pattern(&parts, &mut out);
            }
        }
        out.sort_unstable();
        out.into_iter().map(|i| i as usize).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    fn index(patterns: &[(&str, bool)]) -> Router<()> {
        let mut ix = Router::new();
        for (s, ci) in patterns {
            if *ci {
                ix.insert_case_insensitive(p(s), ());
            } else {
                ix.insert(p(s), ());
            }
        }
        ix
    }

    #[test]
    fn ids_route_like_matches() {
        let ix = index(&[
            ("a/**", false),
            ("a/*", false),
            ("**/b", false),
            ("a/b", false),
            ("A/B", true),
            ("**", false),
            ("x/**/y/**", false),
        ]);
        assert_eq!(ix.route_indices(&p("a/b")), [0, 1, 2, 3, 4, 5]);
        assert_eq!(ix.route_indices(&p("a")), [0, 5]);
        assert_eq!(ix.route_indices(&p("a/B")), [0, 1, 4, 5]);
        assert_eq!(ix.route_indices(&p("x/y")), [5, 6]);
        assert_eq!(ix.route_indices(&p("x/q/y/r/s")), [5, 6]);
        assert_eq!(ix.route_indices(&p("q")), [5]);
    }

    #[test]
    fn patterns_route_like_overlaps() {
        let ix = index(&[("a/*/c", false), ("b/**", false), ("VAULT/**", true)]);
        assert_eq!(ix.route_indices(&p("*/b/*")), [0, 1, 2]);
        assert_eq!(ix.route_indices(&p("a/*/*")), [0]);
        assert_eq!(ix.route_indices(&p("**")), [0, 1, 2]);
        assert_eq!(ix.route_indices(&p("vault/*")), [2]);
        assert_eq!(ix.route_indices(&p("b")), [1]);
        assert!(ix.route_indices(&p("c/**")).is_empty());
        assert_eq!(ix.len(), 3);
        assert_eq!(
            ix.pattern(2).map(|(p, ci)| (p.as_str(), ci)),
            Some(("VAULT/**", true))
        );
    }
}
