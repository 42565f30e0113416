//! Engine start: `default_engine` with every built-in provider configured and no
//! network, the work every `docker-pass` command and `se_engine_new(NULL)` does first.
//!
//! Providers connect lazily, so start is: the keychain probe (one D-Bus connection
//! and one name check; no session), reading Docker's config for a credential helper,
//! the vault provider's HTTP client (built, not connected), the file store and the
//! two 1Password providers (no `op` spawned), and the engine's config file.
//!
//! - `default_engine/keyring`: a private gnome-keyring on its own bus
//!   (`scripts/services/keyring`), so the keychain is the store.
//! - `default_engine/no_bus`: no session bus, so the probe fails at once and
//!   the file store is the store.
//!
//! `cargo bench --bench startup`

use criterion::{Criterion, criterion_group, criterion_main};
use secrets_engine::{ConfigLocation, DefaultOptions, SelectedStore, default_engine};

use secrets_engine_test_support::services;

use services::Keyring;

fn bench(c: &mut Criterion) {
    let home = tempfile::tempdir().unwrap();
    let docker = home.path().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        r#"{"credsStore":"secretservice"}"#,
    )
    .unwrap();
    // SAFETY: set before any other thread of this process exists (criterion runs the
    // benchmark on this thread; the runtime below is built afterwards).
    unsafe {
        std::env::set_var("DOCKER_CONFIG", &docker);
        std::env::set_var("SECRETS_ENGINE_FILE_DIR", home.path().join("files"));
        // Every provider that needs configuration gets it; nothing listens there.
        std::env::set_var("VAULT_ADDR", "http://127.0.0.1:9");
        std::env::set_var("VAULT_TOKEN", "startup-bench-token");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "startup");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "startup");
        std::env::set_var(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/secrets-engine-bench-bus",
        );
    }
    let keyring = Keyring::start();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = || {
        let mut o = DefaultOptions::default();
        o.config = Some(ConfigLocation::Path(home.path().join("engine.json")));
        o
    };
    let start = |expected: SelectedStore| {
        let (engine, selected) = rt.block_on(default_engine(options())).unwrap();
        assert_eq!(selected, expected);
        engine
    };

    let mut g = c.benchmark_group("default_engine");
    // No bus first: a failed connection leaves no zbus threads behind, so the
    // address can still be changed safely afterwards.
    g.bench_function("no_bus", |b| b.iter(|| start(SelectedStore::File)));
    // SAFETY: no thread of this process reads the environment concurrently (the
    // runtime is idle between benchmarks; the failed connections spawned nothing).
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &keyring.address) };
    let engine = start(SelectedStore::Keychain);
    let names: Vec<String> = engine.plugins().into_iter().map(|p| p.name).collect();
    eprintln!("startup: providers {names:?}");
    drop(engine);
    g.bench_function("keyring", |b| b.iter(|| start(SelectedStore::Keychain)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
