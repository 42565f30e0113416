//! Routing cost at 10,000 registered providers: the engine's routing index against a
//! linear scan over `Pattern::overlaps` (what the engine did before the index), for id
//! requests and pattern requests, and the time to build an engine (and its index) with
//! that many providers.
//!
//! The index is measured through `Engine::routed_providers`, which also takes the
//! providers' read lock, checks each routed provider's state and clones its name; the
//! scan only calls `overlaps`, so the comparison favours the scan.
//!
//! `cargo bench --bench routing`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use secrets_engine::{ConfigLocation, Engine, MemoryStore, Pattern, Registration, Resolver};

const PROVIDERS: usize = 10_000;

/// Declared patterns shaped like real ones: per-team service trees, exact ids, per-user
/// registry credentials, whole vault mounts, and a few catch-alls.
fn patterns() -> Vec<String> {
    let mut out = Vec::with_capacity(PROVIDERS);
    out.push("**/mcp/auth/**".to_owned());
    out.push("docker/secrets-engine/**".to_owned());
    out.push("ci/**/token".to_owned());
    let mut i = 0usize;
    while out.len() < PROVIDERS {
        out.push(match i % 10 {
            0..=3 => format!("team-{}/*/service-{}/**", i % 500, i / 500),
            4..=6 => format!("app-{i}/prod/db-password"),
            7 | 8 => format!("docker/auth/*/user-{i}"),
            _ => format!("vault-{i}/**"),
        });
        i += 1;
    }
    out
}

/// Ids to route: hits on every kind of pattern and misses.
fn ids() -> Vec<Pattern> {
    let mut out = Vec::new();
    for k in 0..20usize {
        for id in [
            format!("team-{}/staging/service-{}/db/password", k * 7, k % 8),
            format!("app-{}/prod/db-password", k * 10 + 4),
            format!("docker/auth/registry-{k}.example.com/user-{}", k * 10 + 7),
            format!("vault-{}/kv/app", k * 10 + 9),
            format!("unknown-{k}/nothing/here"),
        ] {
            out.push(Pattern::parse(&id).unwrap());
        }
    }
    out.push(Pattern::parse("docker/mcp/auth/github").unwrap());
    out
}

fn registrations(patterns: &[Pattern], store: &Arc<dyn Resolver>) -> Vec<Registration> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| Registration::resolver(&format!("p{i}"), p.clone(), store.clone()))
        .collect()
}

fn build(registrations: Vec<Registration>) -> Engine {
    let mut b = Engine::builder().config(ConfigLocation::None);
    for r in registrations {
        b = b.register(r);
    }
    b.build().unwrap()
}

fn scan(declared: &[Pattern], request: &Pattern) -> Vec<usize> {
    declared
        .iter()
        .enumerate()
        .filter(|(_, p)| p.overlaps(request))
        .map(|(i, _)| i)
        .collect()
}

fn bench(c: &mut Criterion) {
    let declared: Vec<Pattern> = patterns()
        .iter()
        .map(|p| Pattern::parse(p).unwrap())
        .collect();
    let store: Arc<dyn Resolver> = Arc::new(MemoryStore::new());
    let engine = build(registrations(&declared, &store));
    let ids = ids();
    // Same answers, so the two sides do the same work.
    for id in &ids {
        let names: Vec<String> = scan(&declared, id)
            .into_iter()
            .map(|i| format!("p{i}"))
            .collect();
        assert_eq!(engine.routed_providers(id), names, "{id}");
    }

    let mut g = c.benchmark_group("route_id");
    let mut i = 0usize;
    g.bench_function("index", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            black_box(engine.routed_providers(black_box(&ids[i])))
        })
    });
    let mut i = 0usize;
    g.bench_function("scan", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            black_box(scan(&declared, black_box(&ids[i])))
        })
    });
    g.finish();

    let requests: Vec<Pattern> = [
        "team-7/*/service-3/**",
        "docker/auth/*/*",
        "app-14/prod/*",
        "vault-19/**",
        "*/prod/db-password",
    ]
    .iter()
    .map(|p| Pattern::parse(p).unwrap())
    .collect();
    let mut g = c.benchmark_group("route_pattern");
    let mut i = 0usize;
    g.bench_function("index", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(engine.routed_providers(black_box(&requests[i])))
        })
    });
    let mut i = 0usize;
    g.bench_function("scan", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(scan(&declared, black_box(&requests[i])))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("engine_10k_providers", |b| {
        b.iter_batched(
            || registrations(&declared, &store),
            |r| black_box(build(r)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
