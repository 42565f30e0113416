//! Property tests: the exact algebra against a naive reference.
//!
//! Patterns are drawn over the literals `a`, `b` plus `*` and `**` (often many `**`);
//! ids over `a`, `b` and `x`, where `x` plays the component no pattern names. Over that
//! alphabet, enumerating every id up to a length bound is a brute-force oracle for
//! `includes` and `overlaps`.

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
