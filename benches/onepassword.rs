//! A cached 1Password lookup vs one that has to run `op`, side by side, against the
//! fake `op` of the tests (a Python script: the spawn cost is the point here).
//!
//! `cargo bench --bench onepassword`

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use secrets_engine::providers::onepassword::OnePassword;
use secrets_engine::{Pattern, Resolver};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/op"),
        dir.path().join("op"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fake-op.json"),
        r#"{"mode": "ok", "fixture": {"vaults": [{"id": "vltteam0000000000000000001", "name": "Team", "items": [
            {"id": "itmgh000000000000000000001", "title": "GitHub", "category": "LOGIN", "fields": [
              {"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "v"}]}]}]}}"#,
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pattern = Pattern::parse("team/github").unwrap();
    let op = dir.path().join("op");
    let warm = OnePassword::cli().with_op(&op);
    rt.block_on(warm.get_secrets(&pattern)).unwrap();
    let mut g = c.benchmark_group("onepassword_lookup");
    g.sample_size(10);
    g.bench_function("cached", |b| {
        b.to_async(&rt)
            .iter(|| async { warm.get_secrets(&pattern).await.unwrap() })
    });
    g.bench_function("spawning_op", |b| {
        // A fresh provider: whoami, vault list, item list and item get, each an `op` run.
        b.to_async(&rt).iter(|| async {
            OnePassword::cli()
                .with_op(&op)
                .get_secrets(&pattern)
                .await
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
