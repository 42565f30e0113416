//! `docker-pass ls` over many items, in the keychain (a real gnome-keyring on a
//! private bus) and in the file store: every id listed exactly once, nothing else.
//!
//! The store is seeded through the library (one engine, one connection), which is
//! far faster than one `docker-pass set` process per item. `SE_LS_LOAD_ITEMS` sets the
//! number of items (default 300, what the test command runs; `scripts/soak` runs
//! 5,000). Each test prints one `ls-load ...` line with the seed and `ls` times, which
//! `scripts/soak` reports; they are figures, not assertions.
#![cfg(unix)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use assert_cmd::cargo::CommandCargoExt;
use secrets_engine::providers::file::{FileKey, FileStore};
use secrets_engine::providers::keychain::Keychain;
use secrets_engine::{ConfigLocation, Engine, Id, Metadata, Pattern, SecretValue, Store};

use secrets_engine_test_support::services;

const PASSPHRASE: &str = "ls-load-pass";

fn items() -> usize {
    match std::env::var("SE_LS_LOAD_ITEMS") {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("SE_LS_LOAD_ITEMS must be a number, not {n:?}")),
        Err(_) => 300,
    }
}

/// The ids seeded: zero-padded so their sorted order is their numeric order.
fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("ls-load/item-{i:05}")).collect()
}

/// Seeds `ids` into `store` through an engine whose default store it is, one after
/// the other (seeding the keychain from several connections at once is no faster:
/// gnome-keyring does the work, one request at a time); returns the seconds it took.
fn seed(store: Arc<dyn Store>, ids: &[String]) -> f64 {
    let engine = Engine::builder()
        .config(ConfigLocation::None)
        .store("seed", Pattern::parse("**").unwrap(), store)
        .build()
        .unwrap();
    let start = Instant::now();
    for id in ids {
        let value = SecretValue::from(format!("value of {id}"));
        engine
            .blocking()
            .set(&Id::parse(id).unwrap(), value, Metadata::new())
            .unwrap_or_else(|e| panic!("seeding {id}: {e}"));
    }
    start.elapsed().as_secs_f64()
}

/// `docker-pass` with a clean environment: a fresh HOME under `home`, the given bus.
fn docker_pass(home: &Path, bus: &str) -> Command {
    let mut c = Command::cargo_bin("docker-pass").unwrap();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("DBUS_SESSION_BUS_ADDRESS", bus);
    c
}

/// Runs `ls`, checks it lists exactly `want` (each once, sorted) and returns the
/// seconds it took.
fn ls(mut command: Command, want: &[String]) -> f64 {
    let start = Instant::now();
    let out = command.arg("ls").output().unwrap();
    let took = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "docker-pass ls failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(listed.len(), want.len(), "number of ids listed");
    // Equal to the sorted seed list: every id exactly once, nothing else, in order.
    assert!(
        listed.iter().zip(want).all(|(a, b)| a == b),
        "ls did not list exactly the seeded ids"
    );
    took
}

#[test]
fn ls_lists_every_keychain_item_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = dir.path().join("keyring");
    let bus = services::start_keyring(&keyring);
    let want = ids(items());
    // Items of another application in the same collection: never listed.
    let foreign = Keychain::with_names("com.example.other", "other").with_bus_address(&bus);
    seed(Arc::new(foreign), &ids(3));
    let seed_s = seed(Arc::new(Keychain::new().with_bus_address(&bus)), &want);
    let mut c = docker_pass(dir.path(), &bus);
    c.args(["--store", "keychain"]);
    let ls_s = ls(c, &want);
    println!(
        "ls-load store=keychain items={} seed_s={seed_s:.2} ls_s={ls_s:.2}",
        want.len()
    );
    services::stop("keyring", &keyring);
}

#[test]
fn ls_lists_every_file_item_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let want = ids(items());
    // A low scrypt work factor: this measures listing, not unlocking.
    let store = FileStore::new(&files, FileKey::passphrase(PASSPHRASE)).with_work_factor(10);
    let seed_s = seed(Arc::new(store), &want);
    // No Secret Service on this address: the file store is the only store.
    let mut c = docker_pass(dir.path(), "unix:path=/nonexistent/bus");
    c.env("SECRETS_ENGINE_FILE_DIR", &files)
        .env("SECRETS_ENGINE_FILE_PASSPHRASE", PASSPHRASE)
        .args(["--store", "file"]);
    let ls_s = ls(c, &want);
    println!(
        "ls-load store=file items={} seed_s={seed_s:.2} ls_s={ls_s:.2}",
        want.len()
    );
}
