//! Property tests: the exact algebra against a naive reference.
//!
//! Patterns are drawn over the literals `a`, `b` plus `*` and `**` (often many `**`);
//! ids over `a`, `b` and `x`, where `x` plays the component no pattern names. Over that
//! alphabet, enumerating every id up to a length bound is a brute-force oracle for
//! `includes` and `overlaps`.
//!
//! Longer patterns, beyond what enumeration can cover, are checked against a second,
//! independent decision procedure for inclusion: the subset construction on `self`'s
//! automaton explored over `other`'s words (exact, but exponential in the length of
//! `self`'s `**`-free blocks, so only usable on small inputs).

use proptest::prelude::*;
use secrets_engine::{Id, Pattern};

/// The obviously-correct, exponential matcher.
fn naive(p: &[&str], id: &[&str]) -> bool {
    match p.split_first() {
        None => id.is_empty(),
        Some((&"**", rest)) => (0..=id.len()).any(|k| naive(rest, &id[k..])),
        Some((&"*", rest)) => !id.is_empty() && naive(rest, &id[1..]),
        Some((lit, rest)) => id.first() == Some(lit) && naive(rest, &id[1..]),
    }
}

fn all_ids(max_len: usize) -> Vec<Vec<&'static str>> {
    let mut out = Vec::new();
    let mut layer: Vec<Vec<&'static str>> = vec![vec![]];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for w in &layer {
            for c in ["a", "b", "x"] {
                let mut v = w.clone();
                v.push(c);
                next.push(v);
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

fn segment() -> impl Strategy<Value = &'static str> {
    prop_oneof![2 => Just("a"), 1 => Just("b"), 2 => Just("*"), 3 => Just("**")]
}

fn segments(max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(segment(), 1..=max)
}

fn id_parts(max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("x")], 1..=max)
}

fn pat(v: &[&str]) -> Pattern {
    Pattern::parse(&v.join("/")).unwrap()
}

fn id(v: &[&str]) -> Id {
    Id::parse(&v.join("/")).unwrap()
}

/// Inclusion by exploring `container`'s state sets over `contained`'s words, a fresh
/// component standing for anything `container` does not name; state sets repeat, so the
/// search is finite. Independent of the library's greedy argument.
fn reference_includes(container: &[&str], contained: &[&str]) -> bool {
    use std::collections::{BTreeSet, HashSet};
    type Set = BTreeSet<usize>;
    let m = container.len();
    let close = |mut s: Set| {
        for (x, seg) in container.iter().enumerate() {
            if *seg == "**" && s.contains(&x) {
                s.insert(x + 1);
            }
        }
        s
    };
    // `None` is the fresh component.
    let step = |s: &Set, sym: Option<&str>| {
        let mut to = Set::new();
        for &x in s {
            match container.get(x) {
                Some(&"**") => {
                    to.insert(x);
                }
                Some(&"*") => {
                    to.insert(x + 1);
                }
                Some(lit) if Some(*lit) == sym => {
                    to.insert(x + 1);
                }
                _ => {}
            }
        }
        close(to)
    };
    let words: Vec<&str> = if contained.iter().all(|s| *s == "**") {
        vec!["*", "**"] // ids are never empty
    } else {
        contained.to_vec()
    };
    let mut seen: HashSet<(usize, Set)> = HashSet::new();
    let mut work = vec![(0usize, close(Set::from([0])))];
    while let Some((i, set)) = work.pop() {
        if !seen.insert((i, set.clone())) {
            continue;
        }
        if i == words.len() {
            if !set.contains(&m) {
                return false;
            }
            continue;
        }
        match words[i] {
            "**" => {
                let mut cur = set;
                let mut run = HashSet::new();
                while run.insert(cur.clone()) {
                    work.push((i + 1, cur.clone()));
                    cur = step(&cur, None);
                }
            }
            "*" => work.push((i + 1, step(&set, None))),
            lit => work.push((i + 1, step(&set, Some(lit)))),
        }
    }
    true
}

fn wide_segment() -> impl Strategy<Value = &'static str> {
    prop_oneof![2 => Just("a"), 1 => Just("b"), 1 => Just("c"), 3 => Just("*"), 3 => Just("**")]
}

fn wide_segments(max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(wide_segment(), 1..=max)
}

const BOUND: usize = 9;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn matches_agrees_with_naive(p in segments(10), i in id_parts(10)) {
        prop_assert_eq!(pat(&p).matches(&id(&i)), naive(&p, &i), "{} vs {}", p.join("/"), i.join("/"));
    }

    #[test]
    fn id_as_pattern(a in id_parts(5), b in id_parts(5), p in segments(5)) {
        let (ia, ib) = (id(&a), id(&b));
        let pa = Pattern::from(ia.clone());
        prop_assert_eq!(pa.matches(&ib), a == b);
        let q = pat(&p);
        prop_assert_eq!(q.includes(&pa), q.matches(&ia));
        prop_assert_eq!(q.overlaps(&pa), q.matches(&ia));
        prop_assert_eq!(pa.overlaps(&q), q.matches(&ia));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200), ..ProptestConfig::default() })]

    #[test]
    fn includes_and_overlaps_agree_with_brute_force(a in segments(5), b in segments(5)) {
        let (pa, pb) = (pat(&a), pat(&b));
        let ids = all_ids(BOUND);
        let in_a: Vec<bool> = ids.iter().map(|w| naive(&a, w)).collect();
        let in_b: Vec<bool> = ids.iter().map(|w| naive(&b, w)).collect();
        let brute_includes = in_a.iter().zip(&in_b).all(|(&x, &y)| x || !y);
        let brute_overlaps = in_a.iter().zip(&in_b).any(|(&x, &y)| x && y);
        prop_assert_eq!(pa.includes(&pb), brute_includes, "{} includes {}", pa, pb);
        prop_assert_eq!(pa.overlaps(&pb), brute_overlaps, "{} overlaps {}", pa, pb);
    }

    #[test]
    fn includes_agrees_with_the_state_set_reference(a in wide_segments(14), b in wide_segments(14)) {
        prop_assert_eq!(pat(&a).includes(&pat(&b)), reference_includes(&a, &b), "{} includes {}", a.join("/"), b.join("/"));
        prop_assert_eq!(pat(&b).includes(&pat(&a)), reference_includes(&b, &a), "{} includes {}", b.join("/"), a.join("/"));
    }

    #[test]
    fn reference_agrees_with_brute_force(a in segments(5), b in segments(5)) {
        // Keeps the reference honest, so the comparison above means something.
        let ids = all_ids(7);
        let brute = ids.iter().all(|w| naive(&a, w) || !naive(&b, w));
        prop_assert_eq!(reference_includes(&a, &b), brute, "{} includes {}", a.join("/"), b.join("/"));
    }

    #[test]
    fn algebraic_laws(a in segments(6), b in segments(6), c in segments(6)) {
        let (pa, pb, pc) = (pat(&a), pat(&b), pat(&c));
        prop_assert!(pa.includes(&pa));
        prop_assert!(pa.overlaps(&pa));
        prop_assert_eq!(pa.overlaps(&pb), pb.overlaps(&pa));
        // Patterns are never empty, so inclusion implies overlap.
        if pa.includes(&pb) {
            prop_assert!(pa.overlaps(&pb));
        }
        if pa.includes(&pb) && pb.includes(&pc) {
            prop_assert!(pa.includes(&pc));
        }
        // Mutual inclusion is language equality: both agree on every id.
        if pa.includes(&pb) && pb.includes(&pa) {
            for w in all_ids(6) {
                prop_assert_eq!(naive(&a, &w), naive(&b, &w));
            }
        }
    }

    #[test]
    fn round_trip(a in segments(8)) {
        let text = a.join("/");
        let p = Pattern::parse(&text).unwrap();
        prop_assert_eq!(p.to_string(), text.clone());
        prop_assert_eq!(p.components().collect::<Vec<_>>(), a);
        prop_assert_eq!(text.parse::<Pattern>().unwrap(), p);
    }
}

/// `part` repeated `n` times, joined with `/`.
fn rep(part: &str, n: usize) -> String {
    vec![part; n].join("/")
}

/// Shapes built to defeat a state-set search: a literal followed by a long run of `*` in
/// the container, against many `**` in the contained pattern (2^n state sets). The answer
/// does not depend on n (argued per family), the reference confirms it for small n, and
/// the library must give it for large n too; each family at n = 400 (patterns stay under the 4096-byte limit) is instant for a
/// polynomial algorithm and out of reach for an exponential one.
#[test]
fn adversarial_families() {
    type Family = (fn(usize) -> (String, String), bool);
    let families: &[Family] = &[
        // The word a^n has no `a` followed by n components.
        (
            |n| {
                (
                    format!("**/a/{}/**", rep("*", n)),
                    format!("{}/**", rep("**/a", n)),
                )
            },
            false,
        ),
        // Every word ends with an `a` and exactly n more components.
        (
            |n| {
                (
                    format!("**/a/{}/**", rep("*", n)),
                    format!("{}/{}", rep("**/a", n), rep("*", n)),
                )
            },
            true,
        ),
        // The last `a` is exactly n+1 components before the final `b`.
        (
            |n| {
                (
                    format!("**/a/{}/b/**", rep("*", n)),
                    format!("{}/{}/b", rep("**/a", n), rep("*", n)),
                )
            },
            true,
        ),
        // ... unless a `**` may stretch that distance (and every other `a` is further).
        (
            |n| {
                (
                    format!("**/a/{}/b/**", rep("*", n)),
                    format!("{}/**/{}/b", rep("**/a", n), rep("*", n)),
                )
            },
            false,
        ),
        // n `a`s, each followed by anything.
        (|n| (format!("{}/**", rep("**/a", n)), rep("a/**", n)), true),
        // At least n components, but not n+1.
        (|n| (format!("{}/**", rep("*", n)), rep("**/a", n)), true),
        (
            |n| (format!("{}/**", rep("*", n + 1)), rep("**/a", n)),
            false,
        ),
        // `**/a/**` blocks interleaved with stars on both sides.
        (
            |n| (format!("**/{}/**", rep("a/*", n)), rep("**/a/*", n)),
            false,
        ),
        (
            |n| (format!("**/{}/**", rep("a/*", n)), rep("a/*", n)),
            true,
        ),
    ];
    for (k, (make, want)) in families.iter().enumerate() {
        for n in 2..=9 {
            let (a, b) = make(n);
            let (va, vb): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
            assert_eq!(
                reference_includes(&va, &vb),
                *want,
                "family {k}, n = {n}: reference on {a} ⊇ {b}"
            );
            assert_eq!(
                Pattern::parse(&a)
                    .unwrap()
                    .includes(&Pattern::parse(&b).unwrap()),
                *want,
                "family {k}, n = {n}"
            );
        }
        for n in [40, 400] {
            let (a, b) = make(n);
            assert_eq!(
                Pattern::parse(&a)
                    .unwrap()
                    .includes(&Pattern::parse(&b).unwrap()),
                *want,
                "family {k}, n = {n}"
            );
        }
    }
}
