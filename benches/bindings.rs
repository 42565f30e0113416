//! Per-call cost of one in-memory lookup from Rust (the blocking API the bindings
//! use). The C, Go and Python harnesses of scripts/bench-bindings run the same lookup
//! from their languages through the C ABI and uniffi.
//!
//! `cargo bench --bench bindings`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use secrets_engine::{ConfigLocation, Engine, Id, MemoryStore, Pattern, Registration};

fn bench(c: &mut Criterion) {
    let store: MemoryStore = [(Id::parse("bench/secret").unwrap(), b"value".to_vec())]
        .into_iter()
        .collect();
    let engine = Engine::builder()
        .config(ConfigLocation::None)
        .register(
            Registration::store("memory", Pattern::parse("**").unwrap(), Arc::new(store))
                .configurable(false),
        )
        .build()
        .unwrap();
    let pattern = Pattern::parse("bench/secret").unwrap();
    // A group, so criterion keeps the estimates under target/criterion/get_secrets/*
    // where benches/rows/40-bindings reads them.
    let mut g = c.benchmark_group("get_secrets");
    g.bench_function("rust_blocking", |b| {
        b.iter(|| black_box(engine.blocking().get_secrets(black_box(&pattern)).unwrap()))
    });

    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
