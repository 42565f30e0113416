//! The differential fuzz body: the matcher and the pattern algebra against brute force.

use crate::{Id, Pattern};

// --- matcher and algebra against brute force --------------------------------------

/// Does `p` match `id`? A table of "p[i..] matches id[j..]" filled from the
/// definition: nothing shared with the greedy matcher or the automata of the algebra.
/// Sized for the short inputs of [`differential`], on the stack (this runs
/// thousands of times per input).
fn naive_matches(p: &[&str], id: &[&str], eq: fn(&str, &str) -> bool) -> bool {
    const P: usize = 8;
    const N: usize = 64;
    let (m, n) = (p.len(), id.len());
    assert!(m < P && n < N, "naive_matches is for short inputs");
    let mut ok = [[false; N]; P];
    ok[m][n] = true;
    for i in (0..m).rev() {
        for j in (0..=n).rev() {
            ok[i][j] = match p[i] {
                "**" => ok[i + 1][j] || (j < n && ok[i][j + 1]),
                "*" => j < n && ok[i + 1][j + 1],
                lit => j < n && eq(lit, id[j]) && ok[i + 1][j + 1],
            };
        }
    }
    ok[0][0]
}

fn exact(a: &str, b: &str) -> bool {
    a == b
}

fn ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The first id of 1..=max components over `alphabet` for which `f` holds.
fn find_id<'a>(
    alphabet: &[&'a str],
    max: usize,
    mut f: impl FnMut(&[&'a str]) -> bool,
) -> Option<Vec<&'a str>> {
    let mut word = Vec::with_capacity(max);
    for len in 1..=max {
        // Count in base alphabet.len() over `len` digits.
        let mut digits = vec![0usize; len];
        loop {
            word.clear();
            word.extend(digits.iter().map(|d| alphabet[*d]));
            if f(&word) {
                return Some(word);
            }
            let Some(k) = digits.iter().rposition(|d| *d + 1 < alphabet.len()) else {
                break;
            };
            digits[k] += 1;
            digits[k + 1..].iter_mut().for_each(|d| *d = 0);
        }
    }
    None
}

/// The non-empty words of `q` with every wildcard a fresh component `x` and each
/// `**` repeated 0..=max times; `None` when there would be more than `limit`.
fn fresh_words<'a>(q: &[&'a str], max: usize, limit: usize) -> Option<Vec<Vec<&'a str>>> {
    let stars = q.iter().filter(|c| **c == "**").count() as u32;
    if (max + 1).checked_pow(stars)? > limit {
        return None;
    }
    let mut words: Vec<Vec<&str>> = vec![Vec::new()];
    for c in q {
        words = match *c {
            "**" => words
                .iter()
                .flat_map(|w| {
                    (0..=max).map(move |k| {
                        let mut w = w.clone();
                        w.extend(std::iter::repeat_n("x", k));
                        w
                    })
                })
                .collect(),
            "*" => words
                .into_iter()
                .map(|mut w| {
                    w.push("x");
                    w
                })
                .collect(),
            lit => words
                .into_iter()
                .map(|mut w| {
                    w.push(lit);
                    w
                })
                .collect(),
        };
    }
    words.retain(|w| !w.is_empty());
    Some(words)
}

/// Two short patterns and an id decoded from the bytes: the first byte gives the
/// lengths, then one byte per component.
fn decode(data: &[u8]) -> Option<(Vec<&'static str>, Vec<&'static str>, Vec<&'static str>)> {
    const SEGS: [&str; 8] = ["a", "b", "A", "*", "**", "a", "*", "**"];
    const NAMES: [&str; 5] = ["a", "b", "A", "B", "x"];
    let (&head, rest) = data.split_first()?;
    let (plen, qlen) = (1 + head as usize % 6, 1 + (head as usize / 6) % 6);
    let mut bytes = rest.iter();
    let mut take = |n: usize| -> Vec<&'static str> {
        bytes
            .by_ref()
            .take(n)
            .map(|b| SEGS[*b as usize % 8])
            .collect()
    };
    let (p, q) = (take(plen), take(qlen));
    let id: Vec<&str> = bytes.take(16).map(|b| NAMES[*b as usize % 5]).collect();
    if p.is_empty() || q.is_empty() {
        return None;
    }
    Some((p, q, if id.is_empty() { vec!["a"] } else { id }))
}

/// The exact matcher against the naive one; `overlaps` and `includes` against brute
/// force over every id that can tell (ids over the literals and one fresh name,
/// up to the length a shortest witness can have).
pub fn differential(data: &[u8]) {
    let Some((p_parts, q_parts, id_parts)) = decode(data) else {
        return;
    };
    let p = Pattern::parse(&p_parts.join("/")).expect("decoded patterns are valid");
    let q = Pattern::parse(&q_parts.join("/")).expect("decoded patterns are valid");
    let id = Id::parse(&id_parts.join("/")).expect("decoded ids are valid");

    for (pat, parts) in [(&p, &p_parts), (&q, &q_parts)] {
        assert_eq!(
            pat.matches(&id),
            naive_matches(parts, &id_parts, exact),
            "{pat} matches {id}"
        );
        assert_eq!(
            pat.matches_ignore_case(&id),
            naive_matches(parts, &id_parts, ignore_case),
            "{pat} matches {id} ignoring case"
        );
    }

    // Overlap: a shortest common id advances at least one of the two patterns past
    // a non-`**` component at every step, so it has at most n + m components.
    let overlaps = p.overlaps(&q);
    assert_eq!(overlaps, q.overlaps(&p), "overlaps is symmetric");
    let singles = |parts: &[&str]| parts.iter().filter(|c| **c != "**").count();
    let bound = (singles(&p_parts) + singles(&q_parts)).max(1);
    if bound <= 5 {
        let common = find_id(&["a", "b", "A", "x"], bound, |w| {
            naive_matches(&p_parts, w, exact) && naive_matches(&q_parts, w, exact)
        });
        assert_eq!(overlaps, common.is_some(), "{p} overlaps {q}: {common:?}");
    }
    let overlaps_ic = p.overlaps_ignore_case(&q);
    assert_eq!(overlaps_ic, q.overlaps_ignore_case(&p));
    assert!(overlaps_ic || !overlaps);
    if bound <= 6 {
        let common = find_id(&["a", "b", "x"], bound, |w| {
            naive_matches(&p_parts, w, ignore_case) && naive_matches(&q_parts, w, ignore_case)
        });
        assert_eq!(
            overlaps_ic,
            common.is_some(),
            "{p} overlaps {q} ignoring case"
        );
    }

    // Inclusion. Sound: no short id of q escapes p when p includes q.
    let includes = p.includes(&q);
    if includes {
        assert!(overlaps, "{p} includes {q} but does not overlap it");
    }
    if includes && q.includes(&p) {
        assert_eq!(
            p.matches(&id),
            q.matches(&id),
            "{p} and {q} are equivalent but disagree on {id}"
        );
    }
    let escape = find_id(&["a", "b", "A", "x"], 4, |w| {
        naive_matches(&q_parts, w, exact) && !naive_matches(&p_parts, w, exact)
    });
    if let Some(w) = escape {
        assert!(!includes, "{p} includes {q}, but not {w:?}");
    }
    // Complete: when a wildcard of q can take a value p rejects, the fresh name
    // is rejected too (p only accepts it by a wildcard), and p's states on a run of
    // fresh names settle after len(p) of them: the fresh words with each `**`
    // repeated at most len(p) + 1 times decide it.
    if let Some(words) = fresh_words(&q_parts, p_parts.len() + 1, 1024) {
        let escapes = words.iter().find(|w| !naive_matches(&p_parts, w, exact));
        assert_eq!(includes, escapes.is_none(), "{p} includes {q}: {escapes:?}");
    }
}
