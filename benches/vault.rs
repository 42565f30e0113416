//! Vault/OpenBao lookups against a real `bao server -dev` on 127.0.0.1: one exact
//! read over a warm connection, and a pattern walk over 200 nested secrets.
//!
//! `cargo bench --bench vault`

use criterion::{Criterion, criterion_group, criterion_main};
use secrets_engine::providers::vault::{Vault, VaultConfig};
use secrets_engine::{Pattern, Resolver, SecretValue};

use secrets_engine_test_support::services;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = services::start("bao", dir.path(), &[]);
    let (addr, token) = (
        vars.remove("VAULT_ADDR").unwrap(),
        vars.remove("VAULT_TOKEN").unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        for i in 0..200 {
            client
                .post(format!("{addr}/v1/secret/data/walk/{}/s{i}", i % 10))
                .header("X-Vault-Token", &token)
                .json(&serde_json::json!({"data": {"v": format!("value-{i}")}}))
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap();
        }
    });
    let v = Vault::new(VaultConfig::new(&addr, SecretValue::from(token.as_str()))).unwrap();
    let exact = Pattern::parse("vault/walk/3/s13/v").unwrap();
    let walk = Pattern::parse("vault/walk/**").unwrap();
    assert_eq!(rt.block_on(v.get_secrets(&walk)).unwrap().len(), 200);
    let mut g = c.benchmark_group("vault");
    g.sample_size(20);
    g.bench_function("exact_read_warm", |b| {
        b.to_async(&rt)
            .iter(|| async { v.get_secrets(&exact).await.unwrap() })
    });
    g.bench_function("walk_200_secrets", |b| {
        b.to_async(&rt)
            .iter(|| async { v.get_secrets(&walk).await.unwrap() })
    });
    g.finish();
    services::stop("bao", dir.path());
}

criterion_group!(benches, bench);
criterion_main!(benches);
