//! Inclusion and overlap of patterns, decided on automata over components.
//!
//! A pattern is a linear automaton: state `x` means "the first `x` components of the
//! pattern are matched"; a literal or `*` advances on one component, `**` loops and may
//! be skipped. The component alphabet is unbounded, so any component the other side
//! does not name can be represented by one fresh symbol: every literal of this pattern
//! rejects it and every wildcard accepts it. That makes both questions finite.

use super::{Pattern, Seg};

/// A set of automaton states `0..=len`, as bits.
#[derive(Clone, PartialEq, Eq)]
struct States(Vec<u64>);

impl States {
    fn empty(len: usize) -> States {
        States(vec![0; len / 64 + 1])
    }
    fn insert(&mut self, x: usize) {
        self.0[x / 64] |= 1 << (x % 64);
    }
    fn contains(&self, x: usize) -> bool {
        self.0[x / 64] & (1 << (x % 64)) != 0
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    fn clear_below(&mut self, x: usize) {
        let (word, bit) = (x / 64, x % 64);
        self.0[..word].iter_mut().for_each(|w| *w = 0);
        self.0[word] &= !((1u64 << bit) - 1);
    }
    fn is_subset(&self, other: &States) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a & !b == 0)
    }
}

/// A component fed to an automaton while exploring the other pattern's words.
#[derive(Clone, Copy)]
enum Symbol<'a> {
    /// A literal component of the other pattern.
    Name(&'a str),
    /// A component no literal of this pattern equals (what `*` and `**` can produce).
    Fresh,
}

impl Pattern {
    /// Adds the states reachable by skipping `**` components, then drops every state
    /// before the furthest `**` reached: any word accepted from such a state is
    /// accepted from that `**` too (the path passes it, and its loop can absorb what
    /// the path read before), so only partial matches within one `**`-free block of
    /// the pattern are ever kept.
    fn close(&self, set: &mut States) {
        let mut furthest = None;
        for x in 0..self.segs.len() {
            if self.segs[x] == Seg::Any && set.contains(x) {
                set.insert(x + 1);
                furthest = Some(x);
            }
        }
        if let Some(f) = furthest {
            set.clear_below(f);
        }
    }

    fn start(&self) -> States {
        let mut s = States::empty(self.segs.len());
        s.insert(0);
        self.close(&mut s);
        s
    }

    fn step(&self, from: &States, sym: Symbol<'_>) -> States {
        let mut to = States::empty(self.segs.len());
        for (x, seg) in self.segs.iter().enumerate() {
            if !from.contains(x) {
                continue;
            }
            match (*seg, sym) {
                (Seg::Any, _) => to.insert(x),
                (Seg::One, _) => to.insert(x + 1),
                (Seg::Lit(a, b), Symbol::Name(n)) if self.lit(a, b) == n => to.insert(x + 1),
                (Seg::Lit(..), _) => {}
            }
        }
        self.close(&mut to);
        to
    }

    /// True when every id `other` matches is also matched by `self`: L(other) ⊆ L(self).
    ///
    /// Exact, including the cases prefix- or string-based checks get wrong:
    ///
    /// ```
    /// # use secrets_engine::Pattern;
    /// let p = |s: &str| Pattern::parse(s).unwrap();
    /// assert!(p("*/**").includes(&p("**/*")) && p("**/*").includes(&p("*/**")));
    /// assert!(!p("foo/*").includes(&p("foo/**")));   // foo/** also matches foo
    /// assert!(!p("foo").includes(&p("*")));
    /// assert!(!p("*").includes(&p("**")));            // ** also matches a/b
    /// assert!(p("**/*").includes(&p("**")));          // ids are never empty
    /// assert!(p("**/a/*/**").includes(&p("a/**/b")));  // the a is always followed by something
    /// ```
    ///
    /// How: the words of `other` are its literals with each `*` replaced by a fresh
    /// component and each `**` by any number of them; `self` must accept all of them.
    /// Walking `other` left to right, each `**` contributes the (eventually constant)
    /// sequence of state sets `self` reaches on fresh components, and per position only
    /// the minimal state sets are kept, since a superset of states accepts a superset of
    /// continuations; states before the furthest `**` reached are dropped as dominated,
    /// so a state set is a set of partial matches inside one `**`-free block of `self`.
    /// Cost: O(2^b · len(self) · len(other)) where b is the length of the longest
    /// `**`-free block of `self`: linear-ish for real patterns (b is a handful of
    /// components), exponential only in b, for patterns built to defeat it (a literal
    /// followed by a long run of `*` in `self`, against many `**` in `other`).
    pub fn includes(&self, other: &Pattern) -> bool {
        if self.text == other.text {
            return true;
        }
        // Ids are never empty, so an all-`**` pattern means "one or more components".
        const NON_EMPTY: [Seg; 2] = [Seg::One, Seg::Any];
        let words: &[Seg] = if other.segs.iter().all(|s| *s == Seg::Any) {
            &NON_EMPTY
        } else {
            &other.segs
        };
        let m = self.segs.len();
        let k = words.len();
        // Minimal state sets seen at each position of `other` (an antichain).
        let mut seen: Vec<Vec<States>> = vec![Vec::new(); k + 1];
        let mut work = vec![(0usize, self.start())];
        while let Some((i, set)) = work.pop() {
            if set.is_empty() {
                return false; // some word of `other` already escapes `self`
            }
            if seen[i].iter().any(|s| s.is_subset(&set)) {
                continue;
            }
            seen[i].retain(|s| !set.is_subset(s));
            seen[i].push(set.clone());
            if i == k {
                if !set.contains(m) {
                    return false;
                }
                continue;
            }
            match words[i] {
                Seg::Lit(a, b) => {
                    work.push((i + 1, self.step(&set, Symbol::Name(other.lit(a, b)))))
                }
                Seg::One => work.push((i + 1, self.step(&set, Symbol::Fresh))),
                Seg::Any => {
                    // `**` becomes n fresh components for every n ≥ 0; the state sets
                    // on fresh components repeat after at most len(self) steps.
                    let mut run: Vec<States> = Vec::new();
                    let mut cur = set;
                    while !run.contains(&cur) {
                        let next = self.step(&cur, Symbol::Fresh);
                        run.push(cur);
                        cur = next;
                    }
                    work.extend(run.into_iter().map(|s| (i + 1, s)));
                }
            }
        }
        true
    }

    /// True when some id matches both patterns: L(self) ∩ L(other) ≠ ∅.
    ///
    /// Reachability in the product of the two automata, O(len(self)·len(other)).
    ///
    /// ```
    /// # use secrets_engine::Pattern;
    /// let p = |s: &str| Pattern::parse(s).unwrap();
    /// assert!(p("a/*/c").overlaps(&p("*/b/*")));          // both match a/b/c
    /// assert!(p("**/mcp/auth/**").overlaps(&p("docker/*/auth/foo/bar/*")));
    /// assert!(!p("a/*").overlaps(&p("b/**")));
    /// ```
    pub fn overlaps(&self, other: &Pattern) -> bool {
        self.overlaps_by(other, |x, y| x == y)
    }

    /// Like [`overlaps`](Pattern::overlaps), comparing literals ASCII
    /// case-insensitively: what routing uses for case-insensitive providers.
    ///
    /// ```
    /// # use secrets_engine::Pattern;
    /// let p = |s: &str| Pattern::parse(s).unwrap();
    /// assert!(p("vault/**").overlaps_ignore_case(&p("Vault/Item")));
    /// assert!(!p("vault/**").overlaps(&p("Vault/Item")));
    /// ```
    pub fn overlaps_ignore_case(&self, other: &Pattern) -> bool {
        self.overlaps_by(other, |x, y| x.eq_ignore_ascii_case(y))
    }

    fn overlaps_by(&self, other: &Pattern, eq: impl Fn(&str, &str) -> bool) -> bool {
        let (a, b) = (&self.segs, &other.segs);
        let (n, m) = (a.len(), b.len());
        let single = |s: Seg| s != Seg::Any;
        let compatible = |x: Seg, y: Seg| match (x, y) {
            (Seg::Lit(p, q), Seg::Lit(r, s)) => eq(self.lit(p, q), other.lit(r, s)),
            _ => true,
        };
        // reach[j] for the current row i: some word takes `self` to i and `other` to j.
        let mut row = vec![false; m + 1];
        let mut next = vec![false; m + 1];
        row[0] = true;
        for i in 0..=n {
            next.iter_mut().for_each(|r| *r = false);
            for j in 0..=m {
                if !row[j] {
                    continue;
                }
                if i == n && j == m {
                    return true;
                }
                let (x, y) = (a.get(i).copied(), b.get(j).copied());
                if x == Some(Seg::Any) {
                    next[j] = true; // skip self's `**`
                    if y.is_some_and(single) {
                        row[j + 1] = true; // self's `**` absorbs other's component
                    }
                }
                if y == Some(Seg::Any) {
                    row[j + 1] = true; // skip other's `**`
                    if x.is_some_and(single) {
                        next[j] = true; // other's `**` absorbs self's component
                    }
                }
                if let (Some(x), Some(y)) = (x, y)
                    && single(x)
                    && single(y)
                    && compatible(x, y)
                {
                    next[j + 1] = true;
                }
            }
            std::mem::swap(&mut row, &mut next);
        }
        false
    }
}
