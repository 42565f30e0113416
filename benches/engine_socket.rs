//! One `GetSecrets` round trip over the engine socket (EngineClient → EngineServer,
//! application/proto, a reused connection) for an in-memory secret, beside the same
//! lookup in process: the difference is what the socket costs.
//!
//! `cargo bench --features engine-server --bench engine_socket`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use secrets_engine::server::{EngineListener, EngineServer};
use secrets_engine::{
    ConfigLocation, Engine, EngineClient, EngineSocket, Id, MemoryStore, Pattern,
};

fn round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store: MemoryStore = [(Id::parse("db/password").unwrap(), b"s3cret".to_vec())]
        .into_iter()
        .collect();
    let engine = Engine::builder()
        .config(ConfigLocation::None)
        .store("memory", Pattern::parse("**").unwrap(), Arc::new(store))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = EngineSocket::Path(dir.path().join("engine.sock"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Bound inside the runtime (tokio registers the socket there), served on it.
    let listener = rt.block_on(async { EngineListener::bind(&socket).unwrap() });
    let server = {
        let _in_runtime = rt.enter();
        tokio::spawn(
            EngineServer::new(engine.clone()).serve(vec![listener], async {
                let _ = stopped.await;
            }),
        )
    };
    let client = EngineClient::new(socket);
    let request = Pattern::parse("db/password").unwrap();
    rt.block_on(async { client.get_secrets(&request).await.unwrap() });

    let mut g = c.benchmark_group("engine_socket");
    g.bench_function("get_secrets_round_trip", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(client.get_secrets(black_box(&request)).await.unwrap()) })
    });
    g.bench_function("in_process", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(engine.get_secrets(black_box(&request)).await.unwrap()) })
    });
    g.finish();
    let _ = stop.send(());
    let _ = rt.block_on(server);
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
