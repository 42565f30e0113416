//! Resolving keychain secrets in-process vs running `secret-tool lookup`, side by side,
//! against a private gnome-keyring started through `scripts/services/keyring`.
//!
//! `cargo bench --bench keychain`

use std::process::{Command, Stdio};
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use secrets_engine::providers::keychain::{DOCKER_GROUP, DOCKER_NAME, Keychain};
use secrets_engine::{
    ConfigLocation, Engine, EnvOptions, Id, Metadata, Pattern, Registration, Store,
};

use secrets_engine_test_support::services;

use services::Keyring;

fn lookup(address: &str, id: &str) {
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service:group",
            DOCKER_GROUP,
            "service:name",
            DOCKER_NAME,
            "id",
            id,
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.stdout.is_empty());
}

fn bench(c: &mut Criterion) {
    let keyring = Keyring::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ids: Vec<String> = (0..10).map(|i| format!("bench/secret{i}")).collect();
    let make_engine = || {
        Engine::builder()
            .config(ConfigLocation::None)
            .register(
                Registration::store(
                    "docker-pass",
                    Pattern::parse("**").unwrap(),
                    Arc::new(Keychain::new().with_bus_address(&keyring.address)),
                )
                .configurable(false),
            )
            .build()
            .unwrap()
    };
    let engine = make_engine();
    rt.block_on(async {
        let k = Keychain::new().with_bus_address(&keyring.address);
        for i in &ids {
            k.set(
                &Id::parse(i).unwrap(),
                format!("value-of-{i}").into(),
                Metadata::new(),
            )
            .await
            .unwrap();
        }
    });
    let env_of = |n: usize| -> Vec<(String, String)> {
        ids[..n]
            .iter()
            .enumerate()
            .map(|(k, i)| (format!("V{k}"), format!("se://{i}")))
            .collect()
    };

    let mut g = c.benchmark_group("keychain_resolve");
    g.sample_size(20);
    for n in [1usize, 10] {
        let vars = env_of(n);
        g.bench_with_input(BenchmarkId::new("in_process_warm", n), &n, |b, _| {
            b.iter(|| {
                engine
                    .blocking()
                    .resolve_env(
                        vars.iter().map(|(k, v)| (k.into(), v.into())).collect(),
                        EnvOptions::host(),
                    )
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("in_process_cold", n), &n, |b, _| {
            // New engine and connection each time: what a short-lived CLI pays.
            b.iter(|| {
                make_engine()
                    .blocking()
                    .resolve_env(
                        vars.iter().map(|(k, v)| (k.into(), v.into())).collect(),
                        EnvOptions::host(),
                    )
                    .unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("secret_tool_lookup", n), &n, |b, _| {
            b.iter(|| {
                for i in &ids[..n] {
                    lookup(&keyring.address, i);
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
