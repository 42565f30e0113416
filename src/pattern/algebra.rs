//! Inclusion and overlap of patterns.
//!
//! Both are exact and polynomial: [`overlaps`](Pattern::overlaps) is reachability in the
//! product of the two patterns' automata, O(len(a)·len(b)); [`includes`](Pattern::includes)
//! is a greedy game against the contained pattern, O(len(self)·len(other)), explained on
//! the method.
//!
//! The component alphabet is unbounded, so any component the other side does not name can
//! be represented by one fresh symbol: every literal rejects it and every wildcard accepts
//! it. That is what makes both questions finite.
//!
//! On the literature: containment of XPath tree patterns with `/`, `//` and `*` is
//! coNP-complete (Miklau & Suciu, "Containment and equivalence for a fragment of XPath",
//! J. ACM 51(1), 2004), but that hardness comes from combining all three features; the
//! same paper recalls that any two of them (branching, `*`, `//`) keep containment
//! efficient.
//! Our patterns are the branch-free case: the contained pattern offers one word at a
//! time, the container is matched against it greedily block by block, and the contained
//! pattern's best choice of `**` lengths is forced block by block (the argument is on
//! [`includes`](Pattern::includes)). It relies on the alphabet being unbounded (a fresh
//! component always exists); over a finite alphabet a wildcard could spell every letter,
//! which this argument does not cover.

use super::{Pattern, Seg};

/// A component of a word of the contained pattern.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Symbol<'a> {
    /// A literal component of the contained pattern.
    Name(&'a str),
    /// A component no literal of the container equals (what `*` and `**` can produce).
    Fresh,
}

/// The contained pattern as its container sees it: components, and gaps where any number
/// of fresh components may stand (a `**`, runs of `**` merged).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Item<'a> {
    Sym(Symbol<'a>),
    Gap,
}

/// A place in the contained pattern: the index of the next [`Item`]. At a gap, the gap's
/// length is still free (zero included), so a place at a gap offers every continuation
/// the place after it does, and more.
type Place = usize;

/// Patterns shorter than this many components get their scratch space on the stack.
const INLINE: usize = 32;

#[cfg(test)]
thread_local! {
    /// Component comparisons made by `includes`, for the unit test that pins its bound.
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[inline]
fn count_step() {
    #[cfg(test)]
    STEPS.with(|s| s.set(s.get() + 1));
}

impl Pattern {
    /// Whether one non-`**` component of `self` accepts a component of the other side.
    fn accepts(&self, seg: Seg, sym: Symbol<'_>) -> bool {
        count_step();
        match (seg, sym) {
            (Seg::One, _) => true,
            (Seg::Lit(a, b), Symbol::Name(n)) => self.lit(a, b) == n,
            _ => false,
        }
    }

    /// Runs `f` on `self` as its container sees it ([`Item`]s). Typical patterns fit the
    /// stack buffer, so `includes` does not touch the allocator (embedders check
    /// requests against provider patterns with it, one call per pair).
    fn with_items<'a, R>(&'a self, f: impl FnOnce(&[Item<'a>]) -> R) -> R {
        if self.segs.len() < INLINE {
            let mut buf = [Item::Gap; INLINE];
            let n = self.fill_items(&mut buf);
            f(&buf[..n])
        } else {
            let mut buf = vec![Item::Gap; self.segs.len() + 1];
            let n = self.fill_items(&mut buf);
            f(&buf[..n])
        }
    }

    /// Writes the items into `out` (room for `segs.len() + 1`), returning how many.
    fn fill_items<'a>(&'a self, out: &mut [Item<'a>]) -> usize {
        // Ids are never empty, so an all-`**` pattern means "one or more components".
        if self.segs.iter().all(|s| *s == Seg::Any) {
            out[0] = Item::Sym(Symbol::Fresh);
            out[1] = Item::Gap;
            return 2;
        }
        let mut n = 0;
        for seg in self.segs.iter() {
            let item = match *seg {
                Seg::Any if n > 0 && out[n - 1] == Item::Gap => continue,
                Seg::Any => Item::Gap,
                Seg::One => Item::Sym(Symbol::Fresh),
                Seg::Lit(a, b) => Item::Sym(Symbol::Name(self.lit(a, b))),
            };
            out[n] = item;
            n += 1;
        }
        n
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
    /// Cost: O(len(self)·len(other)) component comparisons, whatever the shape of either
    /// pattern (no state sets, no backtracking).
    ///
    /// How. Look for a word of `other` that `self` rejects, choosing it like an adversary.
    /// Each `*` of `other` can be taken as a fresh component (if a word escapes `self`,
    /// so does the word with fresh components there: `self` could only match those with
    /// wildcards, which match anything), so the only choice left is how many fresh
    /// components each `**` of `other` stands for. Write `self` as blocks separated by
    /// `**`: `v0/**/v1/**/…/**/vm`. Against one word, `self` matches iff `v0` is a prefix,
    /// each middle block occurs after the previous one (taking its first occurrence is
    /// never worse), and `vm` is a suffix after the last one.
    ///
    /// 1. Later is better for the adversary: the rest of `self` after a block starts with
    ///    `**`, so if it rejects some continuation from a place of `other`, it rejects the
    ///    tail of that continuation from any later place too. So the adversary only has
    ///    to push each block's first occurrence as late as it can, one block at a time.
    ///    This composes: every word from an earlier place passes through any later one,
    ///    so the latest end of a block's first occurrence only rises with the place it
    ///    starts from. (A place at a gap is as good as the place just after it with
    ///    the gap still open, which is why places are item indices.)
    /// 2. A middle block is `*^l/x/*^r` with `x` starting and ending with a literal (or
    ///    only `*`s: it then just consumes its length). `x` cannot start within the first
    ///    `l` components, so the adversary spends them with empty `**`s, reaching the
    ///    latest place. From there, an occurrence of `x` that overlaps a `**` can always
    ///    be avoided by making that `**` longer than `x` (a literal of `x` would face a
    ///    fresh component), while an occurrence inside one `**`-free stretch of `other`
    ///    cannot be avoided. So the first occurrence is the first such stretch occurrence,
    ///    followed by `r` components spent with empty `**`s again; the block fails (and
    ///    `other` escapes) when there is no such occurrence or not enough room.
    /// 3. `v0` must accept every word's first components: the literal prefix of `other`
    ///    before its first `**`, and only `*` beyond it. `vm` likewise at the end, within
    ///    what follows the last block's place.
    pub fn includes(&self, other: &Pattern) -> bool {
        if self.text == other.text {
            return true;
        }
        other.with_items(|items| self.includes_items(items))
    }

    fn includes_items(&self, items: &[Item<'_>]) -> bool {
        let mut blocks = self.segs.split(|s| *s == Seg::Any);
        let first = blocks.next().expect("split yields at least one block");
        let Some(mut last) = blocks.next() else {
            // No `**`: every word of `other` must be one fixed-length word `self` accepts.
            return items.len() == first.len()
                && first.iter().zip(items).all(|(seg, item)| match *item {
                    Item::Sym(sym) => self.accepts(*seg, sym),
                    Item::Gap => false,
                });
        };
        if !self.accepts_start(first, items) {
            return false;
        }
        let Some(mut place) = advance(items, 0, first.len()) else {
            return false;
        };
        // Every block but the last is a middle block.
        for next in blocks {
            let middle = std::mem::replace(&mut last, next);
            if middle.is_empty() {
                continue;
            }
            match self.latest_end(middle, items, place) {
                Some(end) => place = end,
                None => return false,
            }
        }
        self.accepts_end(last, items, place)
    }

    /// Whether every word of `items` starts with components `block` accepts.
    fn accepts_start(&self, block: &[Seg], items: &[Item<'_>]) -> bool {
        if count_syms(items) < block.len() {
            return false; // some word is too short
        }
        // Up to the first gap the components are fixed; from there any may be fresh.
        let fixed = &items[..position_of_gap(items)];
        block.iter().enumerate().all(|(t, seg)| match fixed.get(t) {
            Some(Item::Sym(sym)) => self.accepts(*seg, *sym),
            _ => *seg == Seg::One,
        })
    }

    /// Whether every continuation of `items` from `place` ends with components `block`
    /// accepts, all of them after `place`.
    fn accepts_end(&self, block: &[Seg], items: &[Item<'_>], place: Place) -> bool {
        let tail = &items[place..];
        if count_syms(tail) < block.len() {
            return false; // some continuation is too short
        }
        // After the last gap the components are fixed; before it any may be fresh.
        let fixed = &tail[tail
            .iter()
            .rposition(|i| *i == Item::Gap)
            .map_or(0, |g| g + 1)..];
        block.iter().rev().enumerate().all(|(k, seg)| {
            match fixed.len().checked_sub(k + 1).map(|i| fixed[i]) {
                Some(Item::Sym(sym)) => self.accepts(*seg, sym),
                _ => *seg == Seg::One,
            }
        })
    }

    /// The latest place where the first occurrence of `block` (no `**`, not empty) can
    /// end, over all words from `place`; `None` when some word has no occurrence.
    fn latest_end(&self, block: &[Seg], items: &[Item<'_>], place: Place) -> Option<Place> {
        let Some(lo) = block.iter().position(|s| *s != Seg::One) else {
            return advance(items, place, block.len());
        };
        let hi = block
            .iter()
            .rposition(|s| *s != Seg::One)
            .expect("has a literal");
        let core = &block[lo..=hi];
        let mut at = advance(items, place, lo)?;
        // The first occurrence of the core inside one gap-free stretch of `items`.
        let end = loop {
            while items.get(at) == Some(&Item::Gap) {
                at += 1;
            }
            if at >= items.len() {
                return None;
            }
            let stretch = items[at..].iter().take_while(|i| **i != Item::Gap).count();
            let run = &items[at..at + stretch];
            let found = (0..(stretch + 1).saturating_sub(core.len())).find(|&s| {
                core.iter().zip(&run[s..]).all(|(seg, item)| match *item {
                    Item::Sym(sym) => self.accepts(*seg, sym),
                    Item::Gap => false,
                })
            });
            if let Some(s) = found {
                break at + s + core.len();
            }
            at += stretch;
        };
        advance(items, end, block.len() - 1 - hi)
    }
}

/// The latest place reached from `place` after exactly `n` components: every gap on the
/// way empty, stopping before a gap that follows (its length stays free). `None` when
/// fewer than `n` components can follow.
fn advance(items: &[Item<'_>], mut place: Place, mut n: usize) -> Option<Place> {
    while n > 0 {
        match items.get(place)? {
            Item::Gap => {}
            Item::Sym(_) => n -= 1,
        }
        place += 1;
    }
    Some(place)
}

fn count_syms(items: &[Item<'_>]) -> usize {
    items.iter().filter(|i| **i != Item::Gap).count()
}

fn position_of_gap(items: &[Item<'_>]) -> usize {
    items
        .iter()
        .position(|i| *i == Item::Gap)
        .unwrap_or(items.len())
}

impl Pattern {
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
        // Rows of typical patterns live on the stack: providers call this per candidate
        // item (1Password, Vault, AWS walks).
        let (mut row_buf, mut next_buf) = ([false; INLINE], [false; INLINE]);
        let (mut row_heap, mut next_heap) = (Vec::new(), Vec::new());
        let (mut row, mut next): (&mut [bool], &mut [bool]) = if m < INLINE {
            (&mut row_buf[..=m], &mut next_buf[..=m])
        } else {
            row_heap.resize(m + 1, false);
            next_heap.resize(m + 1, false);
            (&mut row_heap[..], &mut next_heap[..])
        };
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

#[cfg(test)]
mod tests {
    use super::{Pattern, STEPS};

    /// Component comparisons one `includes` call makes, with its answer.
    fn counted(container: &str, contained: &str) -> (bool, u64) {
        let (a, b) = (
            Pattern::parse(container).unwrap(),
            Pattern::parse(contained).unwrap(),
        );
        STEPS.with(|s| s.set(0));
        let answer = a.includes(&b);
        (answer, STEPS.with(|s| s.get()))
    }

    /// The bound in the docs, O(len(self)·len(other)), as a hard count rather than a
    /// timing: on the shapes that cost the former state-set search 2^n, and on random-ish
    /// long ones.
    #[test]
    fn comparisons_stay_within_the_product_of_lengths() {
        let rep = |part: &str, n: usize| vec![part; n].join("/");
        for n in [1, 5, 40, 300] {
            let cases = [
                (
                    format!("**/a/{}/**", rep("*", n)),
                    format!("{}/**", rep("**/a", n)),
                ),
                (
                    format!("**/a/{}/b/**", rep("*", n)),
                    format!("{}/{}/b", rep("**/a", n), rep("*", n)),
                ),
                (format!("**/{}/**", rep("a/*", n)), rep("**/a/*", n)),
                (format!("{}/**/b", rep("a/**/*/a", n)), rep("a/*/**/a", n)),
                (rep("**/a/b/*", n), rep("a/b/**/a/b/a", n)),
            ];
            for (a, b) in cases {
                let (_, steps) = counted(&a, &b);
                let (la, lb) = (a.split('/').count() as u64, b.split('/').count() as u64);
                assert!(
                    steps <= (la + 1) * (lb + 1),
                    "{steps} comparisons for {a} ⊇ {b}"
                );
            }
        }
    }
}
