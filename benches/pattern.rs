//! Pattern algebra timings: typical patterns and the many-`**` worst case.
//!
//! `cargo bench --bench pattern`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use secrets_engine::{Id, Pattern};

fn p(s: &str) -> Pattern {
    Pattern::parse(s).unwrap()
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
    let mut g = c.benchmark_group("worst_case");
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

criterion_group!(benches, typical, worst_case);
criterion_main!(benches);
