//! Engine costs: fan-out to N in-memory providers, and resolving 50 env variables.
//!
//! `cargo bench --bench engine`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use secrets_engine::{ConfigLocation, Engine, Id, MemoryStore, Pattern, resolve_env};

fn engine_with(n: usize) -> Engine {
    let mut b = Engine::builder().config(ConfigLocation::None);
    for i in 0..n {
        let store: MemoryStore = (0..10)
            .map(|j| {
                (
                    Id::parse(&format!("p{i}/secret{j}")).unwrap(),
                    b"value".to_vec(),
                )
            })
            .collect();
        b = b.store(
            &format!("p{i}"),
            Pattern::parse("**").unwrap(),
            Arc::new(store),
        );
    }
    b.build().unwrap()
}

fn fan_out(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("fan_out");
    for n in [1usize, 10, 100] {
        let engine = engine_with(n);
        // Every provider is asked (declared `**`); one of them holds the id.
        let request = Pattern::parse("p0/secret3").unwrap();
        g.bench_with_input(BenchmarkId::new("providers", n), &n, |b, _| {
            b.to_async(&rt).iter(|| async {
                black_box(engine.get_secrets(black_box(&request)).await.unwrap())
            })
        });
    }
    g.finish();
}

fn env(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let engine = engine_with(1);
    // 50 variables: 10 references to distinct secrets, 40 plain values.
    let vars: Vec<(String, String)> = (0..50)
        .map(|i| {
            if i % 5 == 0 {
                (format!("VAR{i}"), format!("se://p0/secret{}", i / 5))
            } else {
                (format!("VAR{i}"), format!("plain-value-{i}"))
            }
        })
        .collect();
    c.bench_function("resolve_env_50_vars_10_refs", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(resolve_env(&engine, vars.clone()).await.unwrap()) })
    });
}

criterion_group!(benches, fan_out, env);
criterion_main!(benches);
