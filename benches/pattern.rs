//! Pattern algebra timings: typical patterns, the many-`**` worst case, and `globset`
//! on the same vectors as a peer.
//!
//! `cargo bench --bench pattern`; `benches/rows/10-pattern` runs the subset the
//! performance table needs. The vectors live in `benches/vectors/*.tsv`, shared with
//! the Go peer (`benches/docker-match`) and `tests/zero_alloc.rs`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use globset::{Candidate, GlobBuilder, GlobMatcher};
use secrets_engine::{Id, Pattern};

const MATCH_TSV: &str = include_str!("vectors/match.tsv");
const WORST_TSV: &str = include_str!("vectors/worst.tsv");
const PAIRS_TSV: &str = include_str!("vectors/pairs.tsv");

fn p(s: &str) -> Pattern {
    Pattern::parse(s).unwrap()
}

/// Rows of a vectors file: tab-separated columns, `#` lines are comments.
fn rows(tsv: &str) -> impl Iterator<Item = Vec<&str>> {
    tsv.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
}

/// (pattern, id, expected) from match.tsv / worst.tsv, each checked against ours.
fn match_vectors(tsv: &str) -> Vec<(Pattern, Id, bool)> {
    rows(tsv)
        .map(|c| {
            let (pat, id, want) = (p(c[0]), Id::parse(c[1]).unwrap(), c[2] == "1");
            assert_eq!(pat.matches(&id), want, "ours: {pat} vs {id}");
            (pat, id, want)
        })
        .collect()
}

/// Our pattern syntax as a globset glob. `*` becomes `*` with `literal_separator(true)`,
/// i.e. `[^/]*`: it also matches an empty component, which no id has, so on ids it is
/// exactly one component. `**` as a whole component is zero or more components with
/// one difference: globset's trailing `a/**` requires at least one component after
/// `a` (ours and Docker's also match `a`), so the shared vectors avoid that case.
/// Agreement is asserted on every vector before timing.
fn glob(pattern: &str) -> GlobMatcher {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .unwrap()
        .compile_matcher()
}

fn match_set(c: &mut Criterion) {
    let vectors = match_vectors(MATCH_TSV);
    // The peer gets its prepared form too: a compiled matcher and a `Candidate`
    // (globset's pre-processed path), as ours gets a parsed `Pattern` and `Id`.
    let globs: Vec<(GlobMatcher, String, bool)> = vectors
        .iter()
        .map(|(pat, id, want)| {
            let g = glob(pat.as_str());
            assert_eq!(g.is_match(id.as_str()), *want, "globset: {pat} vs {id}");
            (g, id.as_str().to_owned(), *want)
        })
        .collect();
    let candidates: Vec<Candidate<'_>> = globs.iter().map(|(_, s, _)| Candidate::new(s)).collect();

    // One iteration runs the whole set; the row script divides by its length.
    let mut g = c.benchmark_group("match_set");
    g.bench_function("ours", |b| {
        b.iter(|| {
            for (pat, id, _) in &vectors {
                black_box(black_box(pat).matches(black_box(id)));
            }
        })
    });
    g.bench_function("globset", |b| {
        b.iter(|| {
            for ((m, _, _), cand) in globs.iter().zip(&candidates) {
                black_box(black_box(m).is_match_candidate(black_box(cand)));
            }
        })
    });
    g.finish();

    let pairs: Vec<(Pattern, Pattern)> = rows(PAIRS_TSV)
        .map(|c| {
            let (a, b) = (p(c[0]), p(c[1]));
            assert_eq!(a.includes(&b), c[2] == "1", "includes: {a} vs {b}");
            assert_eq!(a.overlaps(&b), c[3] == "1", "overlaps: {a} vs {b}");
            (a, b)
        })
        .collect();
    let mut g = c.benchmark_group("pair_set");
    g.bench_function("includes", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(black_box(x).includes(black_box(y)));
            }
        })
    });
    g.bench_function("overlaps", |b| {
        b.iter(|| {
            for (x, y) in &pairs {
                black_box(black_box(x).overlaps(black_box(y)));
            }
        })
    });
    g.finish();
}

fn typical(c: &mut Criterion) {
    let id = Id::parse("docker/auth/registry-1.docker.io/alice").unwrap();
    let cases = [
        ("literal", "docker/auth/registry-1.docker.io/alice"),
        ("one_star", "docker/auth/*/alice"),
        ("double_star_tail", "docker/auth/**"),
        ("double_star_head", "**/alice"),
        ("two_wildcards_miss", "docker/*/auth/**/bob"),
    ];
    let mut g = c.benchmark_group("matches");
    for (name, pat) in cases {
        let pat = p(pat);
        g.bench_function(name, |b| b.iter(|| black_box(&pat).matches(black_box(&id))));
    }
    g.finish();

    let pairs = [
        ("prefix_vs_child", "docker/**", "docker/auth/*/alice"),
        ("star_swap", "*/**", "**/*"),
        ("mcp_vs_docker", "**/mcp/auth/**", "docker/*/auth/foo/bar/*"),
        ("disjoint", "docker/auth/*", "vault/**"),
    ];
    let mut g = c.benchmark_group("includes");
    for (name, a, b_) in pairs {
        let (a, b_) = (p(a), p(b_));
        g.bench_function(name, |b| b.iter(|| black_box(&a).includes(black_box(&b_))));
    }
    g.finish();
    let mut g = c.benchmark_group("overlaps");
    for (name, a, b_) in pairs {
        let (a, b_) = (p(a), p(b_));
        g.bench_function(name, |b| b.iter(|| black_box(&a).overlaps(black_box(&b_))));
    }
    g.finish();
}

fn worst_case(c: &mut Criterion) {
    let stars = p(&vec!["**"; 100].join("/"));
    let stars_then_z = p(&format!("{}/z", vec!["**"; 100].join("/")));
    let alternating = p(&vec!["**/a"; 50].join("/"));
    let twelve = p(&["**"; 12].join("/"));
    let twelve_x = p(&format!("{}/x", ["**/a"; 12].join("/")));
    let id64 = Id::parse(&vec!["a"; 64].join("/")).unwrap();
    let id24 = Id::parse(&vec!["a"; 24].join("/")).unwrap();
    let (twelve_dstar_miss, id24_worst, _) = match_vectors(WORST_TSV).remove(0);
    let mut g = c.benchmark_group("worst_case");
    // The row the performance table reports: the vector Docker's Go Match is timed on.
    g.bench_function("matches_12_dstar_miss_vs_24", |b| {
        b.iter(|| black_box(&twelve_dstar_miss).matches(black_box(&id24_worst)))
    });
    g.bench_function("matches_100_dstar_vs_64", |b| {
        b.iter(|| black_box(&stars).matches(black_box(&id64)))
    });
    g.bench_function("matches_100_dstar_then_miss_vs_64", |b| {
        b.iter(|| black_box(&stars_then_z).matches(black_box(&id64)))
    });
    g.bench_function("matches_50_dstar_a_vs_64", |b| {
        b.iter(|| black_box(&alternating).matches(black_box(&id64)))
    });
    g.bench_function("matches_12_dstar_a_miss_vs_24", |b| {
        b.iter(|| black_box(&twelve_x).matches(black_box(&id24)))
    });
    g.bench_function("includes_100_dstar", |b| {
        b.iter(|| black_box(&stars).includes(black_box(&stars_then_z)))
    });
    g.bench_function("includes_12_dstar_vs_alternating", |b| {
        b.iter(|| black_box(&twelve_x).includes(black_box(&twelve)))
    });
    g.bench_function("overlaps_100_dstar_vs_50_alternating", |b| {
        b.iter(|| black_box(&stars_then_z).overlaps(black_box(&alternating)))
    });
    g.finish();
}

/// The family that made the previous `includes` (a search over sets of automaton states)
/// exponential: `**/a/*^n/**` against `(**/a)^n/**`. It must now grow at most as the
/// product of the two lengths; n = 400 is close to the 4096-byte limit.
fn includes_adversarial(c: &mut Criterion) {
    let mut g = c.benchmark_group("includes_adversarial");
    for n in [10usize, 40, 400] {
        let container = p(&format!("**/a/{}/**", vec!["*"; n].join("/")));
        let contained = p(&format!("{}/**", vec!["**/a"; n].join("/")));
        assert!(!container.includes(&contained), "the word a^n escapes");
        g.bench_function(format!("n={n}"), |b| {
            b.iter(|| black_box(&container).includes(black_box(&contained)))
        });
    }
    g.finish();
}

criterion_group!(benches, match_set, typical, worst_case, includes_adversarial);
criterion_main!(benches);
