//! Faults against the real parts: a keyring daemon killed and restarted, a locked
//! collection, a sealed then stopped OpenBao, a credential helper and an `op` that never
//! answer, a store that panics, a full disk, a read-only store and `kill -9` in the
//! middle of file-store writes.
//!
//! Every fault must come back as a typed error within its deadline, lose nothing, and
//! leave the same engine working once the fault is gone.
//!
//! The file-store faults that need a process of their own (a mount namespace, a file
//! size limit, a writer to kill) re-run this test binary with `--ignored --exact
//! child_process` and `SE_FAULTS_CHILD` naming what to do; the child prints `@ok`
//! when its checks ran, so a child that did nothing cannot pass.

use secrets_engine_test_support as support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrets_engine::providers::credential_helper::CredentialHelper;
use secrets_engine::providers::file::{FileKey, FileStore};
use secrets_engine::providers::keychain::Keychain;
use secrets_engine::providers::onepassword::OnePassword;
use secrets_engine::providers::vault::{Vault, VaultConfig};
use secrets_engine::{
    Envelope, Error, Id, Listing, MemoryStore, Metadata, Pattern, ProviderState, Registration,
    Resolver, SecretValue, Store,
};
use support::bao::Bao;
use support::keyring::private;
use support::{builder, id, memory, p};

// ---------------------------------------------------------------------------------
// Keychain (gnome-keyring on a private bus)

fn keychain_engine(address: &str) -> secrets_engine::Engine {
    builder()
        .store(
            "keychain",
            p("**"),
            Arc::new(Keychain::new().with_bus_address(address)),
        )
        .provider("mem", p("**"), memory(&[("other/x", b"elsewhere")]))
        .default_store("keychain")
        .build()
        .unwrap()
}

/// Checks the keychain's failure in a resolution that failed or half-succeeded.
async fn assert_keychain_failure(
    engine: &secrets_engine::Engine,
    pattern: &str,
    check: impl Fn(&Error) -> bool,
) {
    match engine.get_secrets(&p(pattern)).await {
        Err(e) => assert!(check(e.specific()), "{e:?}"),
        Ok(r) => {
            let f = r
                .failures()
                .iter()
                .find(|f| f.provider == "keychain")
                .expect("the keychain failed");
            assert!(check(&f.error), "{:?}", f.error);
        }
    }
}

#[tokio::test]
async fn keyring_killed_mid_run_is_unavailable_then_the_same_engine_recovers() {
    let session = private();
    let engine = keychain_engine(&session.address);
    engine
        .set(&id("fault/x"), "before".into(), Metadata::new())
        .await
        .unwrap();
    session.kill_daemon();
    let t = Instant::now();
    assert_keychain_failure(&engine, "fault/x", |e| {
        matches!(e, Error::Unavailable { .. })
    })
    .await;
    // Other providers keep answering beside the failure.
    let r = engine.get_secrets(&p("other/x")).await.unwrap();
    assert_eq!(r.envelopes()[0].value().expose(), b"elsewhere");
    assert_eq!(r.failures()[0].provider, "keychain");
    for err in [
        engine
            .set(&id("fault/y"), "during".into(), Metadata::new())
            .await
            .unwrap_err(),
        engine.list(&p("**")).await.unwrap_err(),
        engine.remove(&id("fault/x")).await.unwrap_err(),
    ] {
        assert!(
            matches!(err.specific(), Error::Unavailable { .. }),
            "{err:?}"
        );
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // A transient fault does not take the provider out of service.
    let state = |name: &str| {
        engine
            .plugins()
            .into_iter()
            .find(|i| i.name == name)
            .unwrap()
            .state
    };
    assert_eq!(state("keychain"), ProviderState::Running);
    session.restart_daemon();
    // Same engine, same provider object: reads, writes and lists work again, and the
    // value written before the crash survived it.
    assert_eq!(
        engine.resolve_one(&p("fault/x")).await.unwrap().expose(),
        b"before"
    );
    engine
        .set(&id("fault/y"), "after".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(
        engine.resolve_one(&p("fault/y")).await.unwrap().expose(),
        b"after"
    );
    let ids: Vec<String> = engine
        .list(&p("fault/*"))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id.to_string())
        .collect();
    assert_eq!(ids, ["fault/x", "fault/y"]);
}

#[tokio::test]
async fn a_locked_collection_is_locked_through_the_engine_and_unlocking_recovers() {
    let session = private();
    let engine = keychain_engine(&session.address);
    engine
        .set(&id("lock/x"), "v".into(), Metadata::new())
        .await
        .unwrap();
    session.lock_default_collection().await;
    let t = Instant::now();
    assert_keychain_failure(&engine, "lock/x", |e| matches!(e, Error::Locked { .. })).await;
    let err = engine
        .set(&id("lock/x"), "w".into(), Metadata::new())
        .await
        .unwrap_err();
    assert!(matches!(err.specific(), Error::Locked { .. }), "{err:?}");
    assert!(matches!(
        engine.list(&p("**")).await.unwrap_err().specific(),
        Error::Locked { .. }
    ));
    // No prompt was waited on.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(
        engine
            .plugins()
            .iter()
            .find(|i| i.name == "keychain")
            .unwrap()
            .state,
        ProviderState::Running
    );
    // Logging in again (gnome-keyring-daemon --unlock with the password, as a session
    // start does) unlocks it; the same engine reads the unchanged value.
    session.restart_daemon();
    assert_eq!(
        engine.resolve_one(&p("lock/x")).await.unwrap().expose(),
        b"v"
    );
}

// ---------------------------------------------------------------------------------
// OpenBao

#[tokio::test]
async fn bao_sealed_is_locked_unsealed_recovers_stopped_is_unavailable() {
    let b = Bao::start();
    b.put_secret("s/db", serde_json::json!({"password": "pw"}))
        .await;
    let vault = Vault::new(VaultConfig::new(
        &b.address,
        SecretValue::from(b.token.as_str()),
    ))
    .unwrap();
    let engine = builder()
        .register(
            Registration::resolver("vault", p("vault/**"), Arc::new(vault))
                .deadline(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let pattern = p("vault/s/db/password");
    let one = || engine.resolve_one(&pattern);
    assert_eq!(one().await.unwrap().expose(), b"pw");
    b.api("PUT", "sys/seal", None, None).await;
    let err = one().await.unwrap_err();
    assert!(matches!(err.specific(), Error::Locked { .. }), "{err:?}");
    assert!(!err.to_string().contains(&b.token), "{err}");
    b.api(
        "PUT",
        "sys/unseal",
        Some(serde_json::json!({ "key": b.unseal_key() })),
        None,
    )
    .await;
    // The dev server's storage is in memory: unsealing keeps the data.
    assert_eq!(one().await.unwrap().expose(), b"pw");
    b.stop();
    // The script signals the server and returns; wait until the port is closed.
    let until = Instant::now() + Duration::from_secs(10);
    while reqwest::get(format!("{}/v1/sys/health", b.address))
        .await
        .is_ok()
    {
        assert!(Instant::now() < until, "bao did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let err = one().await.unwrap_err();
    assert!(
        matches!(err.specific(), Error::Unavailable { .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(engine.plugins()[0].state, ProviderState::Running);
}

// ---------------------------------------------------------------------------------
// Child processes that never answer

/// True while `pid` is a live process (a zombie awaiting its parent's wait is dead).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// Pids of live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .filter(|pid| alive(*pid))
        .collect()
}

async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < until, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_hanging_credential_helper_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let helper = dir.path().join("docker-credential-hang");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 600\n",
            pidfile.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // The engine's deadline, not the helper's own (which is long), ends the call.
    let engine = builder()
        .register(
            Registration::resolver(
                "helper",
                p("docker/auth/**"),
                Arc::new(
                    CredentialHelper::with_program(&helper).with_deadline(Duration::from_secs(600)),
                ),
            )
            // Long enough for the helper to have started and written its pid on a
            // loaded machine: what follows reads it.
            .deadline(Duration::from_secs(3)),
        )
        .build()
        .unwrap();
    for round in 0..2 {
        let _ = std::fs::remove_file(&pidfile);
        let started = Instant::now();
        let err = engine.get_secrets(&p("docker/auth/*")).await.unwrap_err();
        assert!(matches!(err.specific(), Error::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .expect("the helper ran")
            .trim()
            .parse()
            .unwrap();
        eventually(&format!("round {round}: helper {pid} still runs"), || {
            !alive(pid)
        })
        .await;
        // A timeout is not a crash: the next call asks the helper again.
        assert_eq!(engine.plugins()[0].state, ProviderState::Running);
    }
}

#[tokio::test]
async fn an_op_that_never_answers_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/op");
    std::os::unix::fs::symlink(real, dir.path().join("op")).unwrap();
    std::fs::write(
        dir.path().join("fake-op.json"),
        serde_json::json!({"mode": "hang", "fixture": {"vaults": []},
                           "log": dir.path().join("calls.jsonl")})
        .to_string(),
    )
    .unwrap();
    let op = OnePassword::cli()
        .with_op(dir.path().join("op"))
        .with_op_deadline(Duration::from_secs(600));
    let engine = builder()
        .register(
            // Long enough for the fake (Python) to have started and logged the call.
            Registration::resolver("op", p("**"), Arc::new(op)).deadline(Duration::from_secs(3)),
        )
        .store("mem", p("**"), memory(&[("team/x", b"v")]))
        .build()
        .unwrap();
    let started = Instant::now();
    // The other provider's answer comes back with the timeout beside it.
    let r = engine.get_secrets(&p("team/x")).await.unwrap();
    assert_eq!(r.envelopes()[0].value().expose(), b"v");
    assert!(
        matches!(r.failures()[0].error, Error::Timeout { .. }),
        "{:?}",
        r.failures()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        dir.path().join("calls.jsonl").exists(),
        "the fake op was started"
    );
    let needle = dir.path().to_str().unwrap().to_owned();
    eventually("the hanging op is still running", || {
        processes_mentioning(&needle).is_empty()
    })
    .await;
}

// ---------------------------------------------------------------------------------
// A store that panics

/// A store whose every call panics with a secret in the message.
struct PanickingStore;
#[async_trait]
impl Resolver for PanickingStore {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        panic!("get holding TOPSECRET-STORE")
    }
}
#[async_trait]
impl Store for PanickingStore {
    async fn set(&self, _: &Id, _: SecretValue, _: Metadata) -> Result<(), Error> {
        panic!("set holding TOPSECRET-STORE")
    }
    async fn remove(&self, _: &Id) -> Result<(), Error> {
        panic!("remove holding TOPSECRET-STORE")
    }
    async fn list(&self, _: &Pattern) -> Result<Vec<Listing>, Error> {
        panic!("list holding TOPSECRET-STORE")
    }
}

#[tokio::test]
async fn a_panicking_store_is_crashed_and_the_engine_keeps_serving() {
    let engine = builder()
        .store("boom", p("**"), Arc::new(PanickingStore))
        .provider("mem", p("**"), Arc::new(MemoryStore::new()))
        .default_store("boom")
        .build()
        .unwrap();
    let err = engine.get_secrets(&p("a")).await.unwrap_err();
    assert!(matches!(err.specific(), Error::Crashed { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("TOPSECRET"));
    assert!(matches!(
        engine.plugins()[0].state,
        ProviderState::Crashed(_)
    ));
    // Writes, removals and listings go to the store too: a panic there must not
    // unwind into the caller either.
    let engine = builder()
        .store("boom", p("**"), Arc::new(PanickingStore))
        .default_store("boom")
        .build()
        .unwrap();
    let err = engine
        .set(&id("a"), "TOPSECRET-VALUE".into(), Metadata::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Crashed { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("TOPSECRET"));
    assert!(matches!(
        engine.plugins()[0].state,
        ProviderState::Crashed(_)
    ));
    // A crashed store is not asked again until enabled.
    for err in [
        engine.remove(&id("a")).await.unwrap_err(),
        engine.list(&p("**")).await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::NoStore { .. }), "{err:?}");
    }
    engine.enable("boom").await.unwrap();
    let r = engine.remove(&id("a")).await;
    assert!(matches!(r, Err(Error::Crashed { .. })), "{r:?}");
    engine.enable("boom").await.unwrap();
    let r = engine.list(&p("**")).await;
    assert!(matches!(r, Err(Error::Crashed { .. })), "{r:?}");
}

// ---------------------------------------------------------------------------------
// The file store: full disk, read-only directory, kill -9

const CHILD: &str = "SE_FAULTS_CHILD";
const CHILD_DIR: &str = "SE_FAULTS_DIR";
const CHILD_GENERATION: &str = "SE_FAULTS_GENERATION";
const WRITES: usize = 100;

fn file_store(dir: &Path) -> FileStore {
    FileStore::new(dir, FileKey::passphrase("fault-pw")).with_work_factor(10)
}

async fn value_of(s: &FileStore, i: &str) -> Option<Vec<u8>> {
    let found = s
        .get_secrets(&p(i))
        .await
        .unwrap_or_else(|e| panic!("reading {i}: {e}"));
    found
        .into_iter()
        .next()
        .map(|e| e.value().expose().to_vec())
}

async fn ids(s: &FileStore) -> Vec<String> {
    s.list(&p("**"))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id.to_string())
        .collect()
}

/// Files of writes in progress (or abandoned).
fn pending(store: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(store.join("secrets/.tmp")) {
        Ok(l) => l.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn assert_os_error(err: &Error, code: i32) {
    match err {
        Error::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(code), "{err}"),
        other => panic!("expected Error::Io (os error {code}), got {other:?}"),
    }
}

/// This test binary, running only `child_process` in `mode`.
fn child(mode: &str, dir: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    child_args(&mut c, mode, dir);
    c
}

fn child_args(c: &mut Command, mode: &str, dir: &Path) {
    c.args([
        "--ignored",
        "--exact",
        // The full test path: this module is one of several in the test binary.
        concat!(module_path!(), "::child_process")
            .split_once("::")
            .map_or("child_process", |(_, path)| path),
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, mode)
    .env(CHILD_DIR, dir);
}

/// The child in a mount namespace of its own, so its mounts vanish with it. Without
/// root, a user namespace of its own too, in which it may mount (tmpfs, read-only bind).
fn child_in_mount_namespace(mode: &str, dir: &Path) -> Command {
    let mut c = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        c.args(["--user", "--map-root-user"]);
    }
    c.args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap());
    child_args(&mut c, mode, dir);
    c
}

fn assert_child_ok(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "@ok"),
        "child failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "the body of the child processes the file-store fault tests start"]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let dir = PathBuf::from(std::env::var_os(CHILD_DIR).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match mode.as_str() {
            "writer" => writer(&dir).await,
            "disk-full" => disk_full(&dir).await,
            "read-only" => read_only(&dir).await,
            "file-size" => file_size(&dir).await,
            other => panic!("unknown child mode {other}"),
        }
    });
    // On a line of its own: libtest's "test child_process ... " precedes it.
    println!("\n@ok");
}

fn key(i: usize) -> String {
    format!("crash/{i:03}")
}

/// Generation `g`'s value for secret `i`; lengths vary so a torn file cannot pass
/// for a whole one.
fn generation_value(g: u32, i: usize) -> String {
    format!(
        "gen{g}-{i}-{}",
        "x".repeat((i * 37 + g as usize * 101) % 700)
    )
}

/// Overwrites the 100 secrets with this generation's values, in order, reporting
/// each completed write.
async fn writer(dir: &Path) {
    let g: u32 = std::env::var(CHILD_GENERATION).unwrap().parse().unwrap();
    let s = file_store(dir);
    for i in 0..WRITES {
        s.set(&id(&key(i)), generation_value(g, i).into(), Metadata::new())
            .await
            .unwrap();
        println!("\n@wrote {i}");
    }
}

/// A tiny xorshift generator: random kill points without a dependency; the seed is
/// printed so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn kill_9_during_100_writes_leaves_every_secret_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let seed = std::env::var("SE_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("SE_FAULTS_SEED={seed}");
    let mut rng = Rng(seed);
    let rt = tokio::runtime::Runtime::new().unwrap();
    const ROUNDS: u32 = 7;
    let mut killed_mid_run = 0;
    // Which generation each secret holds.
    let mut holds: Vec<Option<u32>> = vec![None; WRITES];
    for g in 1..=ROUNDS {
        let last = g == ROUNDS;
        // Killed after 1..=99 reported writes (plus up to 3 ms) except in the last
        // round, which runs to the end.
        let kill_after = (!last).then(|| rng.below(WRITES as u64 - 1) as usize + 1);
        let mut c = child("writer", &store_dir)
            .env(CHILD_GENERATION, g.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut done = 0;
        for line in BufReader::new(c.stdout.take().unwrap()).lines() {
            if line.unwrap().starts_with("@wrote ") {
                done += 1;
                if Some(done) == kill_after {
                    std::thread::sleep(Duration::from_micros(rng.below(3000)));
                    c.kill().unwrap();
                    break;
                }
            }
        }
        let out = c.wait_with_output().unwrap();
        if last {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            // The writer may finish in the moment between its last report and the kill.
            assert!(
                out.status.signal() == Some(9) || out.status.success(),
                "{:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Every secret holds this generation's value or the one it held before (none
        // before its first write), and since the writer goes in order the new ones are
        // a prefix.
        let boundary = rt.block_on(async {
            let s = file_store(&store_dir);
            let mut boundary = None;
            for (i, held) in holds.iter_mut().enumerate() {
                let got = value_of(&s, &key(i)).await;
                let new = generation_value(g, i);
                if got.as_deref() == Some(new.as_bytes()) {
                    assert_eq!(
                        boundary,
                        None,
                        "round {g}: {} is new after old ones",
                        key(i)
                    );
                    *held = Some(g);
                } else {
                    let old = held.map(|h| generation_value(h, i));
                    assert_eq!(
                        got.as_deref(),
                        old.as_deref().map(str::as_bytes),
                        "round {g}: {} is neither the old nor the new value",
                        key(i)
                    );
                    boundary.get_or_insert(i);
                }
            }
            let boundary = boundary.unwrap_or(WRITES);
            assert!(
                boundary >= done,
                "round {g}: {done} writes reported, {boundary} kept"
            );
            let expected = holds.iter().filter(|h| h.is_some()).count();
            assert_eq!(ids(&s).await.len(), expected, "round {g}");
            boundary
        });
        eprintln!("round {g}: killed after {kill_after:?} reported writes, {boundary} new values");
        if boundary < WRITES {
            killed_mid_run += 1;
        }
    }
    assert!(killed_mid_run > 0, "no writer was killed mid-run");
    // The last writer removed whatever the killed ones left half-written.
    assert_eq!(pending(&store_dir), Vec::<PathBuf>::new());
}

/// In a 256 KiB tmpfs (its own mount namespace): fill it, then write.
async fn disk_full(dir: &Path) {
    run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=256k,mode=0700",
            "se-faults",
            dir.to_str().unwrap(),
        ],
    );
    let store_dir = dir.join("store");
    let s = file_store(&store_dir);
    s.set(&id("full/kept"), "old-value".into(), Metadata::new())
        .await
        .unwrap();
    s.set(&id("full/other"), "other".into(), Metadata::new())
        .await
        .unwrap();
    // Fill every free block.
    let filler = dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                    break;
                }
            }
        }
    }
    let big = SecretValue::new(vec![0x5a; 16 * 1024]);
    let err = s
        .set(&id("full/kept"), big.clone(), Metadata::new())
        .await
        .unwrap_err();
    assert_os_error(&err, libc::ENOSPC);
    let err = s
        .set(&id("full/new"), big.clone(), Metadata::new())
        .await
        .unwrap_err();
    assert_os_error(&err, libc::ENOSPC);
    // Nothing lost, nothing half-written, for this store object and a fresh one.
    for s in [&s, &file_store(&store_dir)] {
        assert_eq!(
            value_of(s, "full/kept").await.as_deref(),
            Some(&b"old-value"[..])
        );
        assert_eq!(ids(s).await, ["full/kept", "full/other"]);
    }
    assert_eq!(pending(&store_dir), Vec::<PathBuf>::new());
    // Space again: the same store object writes.
    std::fs::remove_file(&filler).unwrap();
    s.set(&id("full/kept"), big, Metadata::new()).await.unwrap();
    assert_eq!(
        value_of(&s, "full/kept").await.unwrap(),
        vec![0x5a; 16 * 1024]
    );
}

#[test]
fn a_full_disk_is_a_typed_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = child_in_mount_namespace("disk-full", dir.path())
        .output()
        .expect("unshare (util-linux) runs");
    assert_child_ok(&out);
}

/// With the store directory bind-mounted read-only.
async fn read_only(dir: &Path) {
    let d = dir.to_str().unwrap();
    run("mount", &["--bind", d, d]);
    run("mount", &["-o", "remount,bind,ro", d]);
    let s = file_store(dir);
    // Reads work on a read-only store.
    assert_eq!(value_of(&s, "ro/kept").await.as_deref(), Some(&b"old"[..]));
    let err = s
        .set(&id("ro/kept"), "new".into(), Metadata::new())
        .await
        .unwrap_err();
    assert_os_error(&err, libc::EROFS);
    let err = s
        .set(&id("ro/new"), "new".into(), Metadata::new())
        .await
        .unwrap_err();
    assert_os_error(&err, libc::EROFS);
    assert_os_error(&s.remove(&id("ro/kept")).await.unwrap_err(), libc::EROFS);
    assert_eq!(value_of(&s, "ro/kept").await.as_deref(), Some(&b"old"[..]));
    assert_eq!(ids(&s).await, ["ro/kept"]);
}

#[test]
fn a_read_only_store_is_a_typed_error_and_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(file_store(&store_dir).set(&id("ro/kept"), "old".into(), Metadata::new()))
        .unwrap();
    let before = std::fs::read_dir(store_dir.join("secrets"))
        .unwrap()
        .count();
    let out = child_in_mount_namespace("read-only", &store_dir)
        .output()
        .expect("unshare (util-linux) runs");
    assert_child_ok(&out);
    // Back on the writable directory: unchanged, and writable.
    rt.block_on(async {
        let s = file_store(&store_dir);
        assert_eq!(value_of(&s, "ro/kept").await.as_deref(), Some(&b"old"[..]));
        assert_eq!(
            std::fs::read_dir(store_dir.join("secrets"))
                .unwrap()
                .count(),
            before
        );
        s.set(&id("ro/kept"), "new".into(), Metadata::new())
            .await
            .unwrap();
        assert_eq!(value_of(&s, "ro/kept").await.as_deref(), Some(&b"new"[..]));
    });
}

/// Under a file size limit of 8 KiB (RLIMIT_FSIZE, SIGXFSZ ignored): a 64 KiB write
/// fails with EFBIG part-way through its temporary file.
async fn file_size(dir: &Path) {
    let s = file_store(dir);
    let err = s
        .set(
            &id("fs/kept"),
            SecretValue::new(vec![1; 64 * 1024]),
            Metadata::new(),
        )
        .await
        .unwrap_err();
    assert_os_error(&err, libc::EFBIG);
    assert_eq!(value_of(&s, "fs/kept").await.as_deref(), Some(&b"old"[..]));
    assert_eq!(pending(dir), Vec::<PathBuf>::new());
    // Small writes still fit: the failed one left nothing in the way.
    s.set(&id("fs/kept"), "small-new".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(
        value_of(&s, "fs/kept").await.as_deref(),
        Some(&b"small-new"[..])
    );
}

#[test]
fn a_write_past_the_file_size_limit_is_a_typed_error_and_loses_nothing() {
    // Needs no privileges, unlike the tmpfs test: the same failure path, another errno.
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(file_store(dir.path()).set(&id("fs/kept"), "old".into(), Metadata::new()))
        .unwrap();
    let mut c = child("file-size", dir.path());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 8192,
                rlim_max: 8192,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    assert_child_ok(&c.output().unwrap());
    rt.block_on(async {
        assert_eq!(
            value_of(&file_store(dir.path()), "fs/kept")
                .await
                .as_deref(),
            Some(&b"small-new"[..])
        );
    });
}
