//! The `file` store: age-encrypted files on disk.

use secrets_engine_test_support as support;

use std::sync::Arc;
use std::time::Duration;

use secrets_engine::providers::file::{FileKey, FileStore};
use secrets_engine::{Error, Metadata, Resolver, SecretValue, Store};

use support::{id, p};

/// A store with a cheap work factor and no session cache (each object unlocks on its
/// own, as the tests of passphrases need).
fn store(dir: &std::path::Path, pass: &str) -> FileStore {
    FileStore::new(dir, FileKey::passphrase(pass))
        .with_work_factor(10)
        .with_session_timeout(Duration::ZERO)
}

/// A store with no key and no session cache: locked.
fn locked(dir: &std::path::Path) -> FileStore {
    FileStore::new(dir, FileKey::Missing).with_session_timeout(Duration::ZERO)
}

async fn value_of(s: &FileStore, i: &str) -> Option<Vec<u8>> {
    s.get_secrets(&p(i))
        .await
        .unwrap()
        .into_iter()
        .next()
        .map(|e| e.value().expose().to_vec())
}

fn secret_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    // Entries only: `.tmp/` holds writes in progress.
    let mut v: Vec<_> = std::fs::read_dir(dir.join("secrets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn round_trip_is_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), "pw");
    let mib: Vec<u8> = (0..1024 * 1024).map(|i| (i * 31 % 256) as u8).collect();
    let cases: [(&str, &[u8]); 4] = [
        ("f/empty", b""),
        ("f/bin", &[0, 1, 0xff, 0xfe]),
        ("f/text", b"hello"),
        ("f/mib", &mib),
    ];
    let meta = Metadata::from([("user".to_string(), "alice".to_string())]);
    for (i, v) in cases {
        s.set(&id(i), SecretValue::from(v), meta.clone())
            .await
            .unwrap();
    }
    // A fresh store object (a new process) reads them back.
    let again = store(dir.path(), "pw");
    for (i, v) in cases {
        assert_eq!(value_of(&again, i).await.as_deref(), Some(v), "{i}");
    }
    let listed = again.list(&p("f/*")).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["f/bin", "f/empty", "f/mib", "f/text"]
    );
    assert!(listed.iter().all(|l| l.metadata == meta));
    // Nothing readable on disk: neither values nor metadata nor ids.
    for f in secret_files(dir.path()) {
        let raw = std::fs::read(&f).unwrap();
        assert!(
            !raw.windows(5).any(|w| w == b"hello" || w == b"alice"),
            "{f:?}"
        );
    }
    again.remove(&id("f/text")).await.unwrap();
    assert!(matches!(
        again.remove(&id("f/text")).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(value_of(&again, "f/text").await, None);
}

#[tokio::test]
async fn wrong_passphrase_is_typed_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), "right")
        .set(&id("w/x"), "old".into(), Metadata::new())
        .await
        .unwrap();
    let before: Vec<_> = secret_files(dir.path())
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    let wrong = store(dir.path(), "wrong");
    let err = wrong
        .set(&id("w/x"), "new".into(), Metadata::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert!(!err.to_string().contains("right") && !err.to_string().contains("new"));
    assert!(matches!(
        wrong.get_secrets(&p("w/*")).await,
        Err(Error::Locked { .. })
    ));
    assert!(matches!(
        wrong.remove(&id("w/x")).await,
        Err(Error::Locked { .. })
    ));
    let after: Vec<_> = secret_files(dir.path())
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        value_of(&store(dir.path(), "right"), "w/x")
            .await
            .as_deref(),
        Some(&b"old"[..])
    );
}

#[tokio::test]
async fn missing_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), "pw")
        .set(&id("a"), "v".into(), Metadata::new())
        .await
        .unwrap();
    let err = locked(dir.path()).get_secrets(&p("a")).await.unwrap_err();
    assert!(
        err.to_string().contains("SECRETS_ENGINE_FILE_PASSPHRASE"),
        "{err}"
    );
}

#[tokio::test]
async fn key_file_instead_of_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    let identity = age::x25519::Identity::generate();
    use age::secrecy::ExposeSecret;
    std::fs::write(
        &key,
        format!("# created: now\n{}\n", identity.to_string().expose_secret()),
    )
    .unwrap();
    let s = FileStore::new(dir.path().join("store"), FileKey::KeyFile(key.clone()));
    s.set(&id("k/x"), "v".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(
        value_of(
            &FileStore::new(dir.path().join("store"), FileKey::KeyFile(key)),
            "k/x"
        )
        .await
        .as_deref(),
        Some(&b"v"[..])
    );
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "not a key").unwrap();
    assert!(matches!(
        FileStore::new(dir.path().join("store"), FileKey::KeyFile(bad))
            .get_secrets(&p("k/x"))
            .await,
        Err(Error::Locked { .. })
    ));
}

#[tokio::test]
async fn ids_differing_only_in_case_are_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), "pw");
    s.set(&id("Token"), "upper".into(), Metadata::new())
        .await
        .unwrap();
    s.set(&id("token"), "lower".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(value_of(&s, "Token").await.as_deref(), Some(&b"upper"[..]));
    assert_eq!(value_of(&s, "token").await.as_deref(), Some(&b"lower"[..]));
    // File names are lowercase only, so a case-insensitive file system keeps them apart too.
    for f in secret_files(dir.path()) {
        let name = f.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(name, name.to_lowercase());
    }
    assert_eq!(secret_files(dir.path()).len(), 2);
    // Ids too long for a hex file name still work.
    let long = format!("long/{}", "x".repeat(300));
    s.set(&id(&long), "v".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(value_of(&s, &long).await.as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), "pw")
        .set(&id("seed"), "s".into(), Metadata::new())
        .await
        .unwrap();
    // Two store objects (as two processes would have) and 16 tasks.
    let a = Arc::new(store(dir.path(), "pw"));
    let b = Arc::new(store(dir.path(), "pw"));
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16 {
        let s = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            for round in 0..10 {
                s.set(
                    &id(&format!("c/{t}")),
                    format!("{t}-{round}").into(),
                    Metadata::new(),
                )
                .await
                .unwrap();
                s.set(
                    &id("c/shared"),
                    format!("{t}-{round}").into(),
                    Metadata::new(),
                )
                .await
                .unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let s = store(dir.path(), "pw");
    for t in 0..16 {
        assert_eq!(
            value_of(&s, &format!("c/{t}")).await.unwrap(),
            format!("{t}-9").as_bytes()
        );
    }
    let shared = value_of(&s, "c/shared").await.unwrap();
    assert!(String::from_utf8(shared).unwrap().ends_with("-9"));
    assert_eq!(s.list(&p("**")).await.unwrap().len(), 18);
}

#[tokio::test]
async fn an_interrupted_write_leaves_the_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), "pw");
    s.set(&id("crash/x"), "old".into(), Metadata::new())
        .await
        .unwrap();
    // What a crash between write and rename leaves behind: a stray temporary file.
    std::fs::write(
        dir.path().join("secrets").join(".tmp-write-999-0"),
        b"half a ciphertext",
    )
    .unwrap();
    let s = store(dir.path(), "pw");
    assert_eq!(value_of(&s, "crash/x").await.as_deref(), Some(&b"old"[..]));
    assert_eq!(s.list(&p("**")).await.unwrap().len(), 1);
    s.set(&id("crash/x"), "new".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(value_of(&s, "crash/x").await.as_deref(), Some(&b"new"[..]));
}

#[tokio::test]
async fn a_key_for_another_store_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), "pw")
        .set(&id("k/x"), "original".into(), Metadata::new())
        .await
        .unwrap();
    let before: Vec<_> = secret_files(dir.path())
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    // An unrelated key file pointed at the passphrase store.
    let key = dir.path().join("other.key");
    use age::secrecy::ExposeSecret;
    std::fs::write(
        &key,
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret(),
    )
    .unwrap();
    let other = FileStore::new(dir.path(), FileKey::KeyFile(key));
    let err = other
        .set(&id("k/x"), "overwritten".into(), Metadata::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Locked { .. }) && err.to_string().contains("does not belong"),
        "{err}"
    );
    assert!(matches!(
        other.get_secrets(&p("k/*")).await,
        Err(Error::Locked { .. })
    ));
    let after: Vec<_> = secret_files(dir.path())
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        value_of(&store(dir.path(), "pw"), "k/x").await.as_deref(),
        Some(&b"original"[..])
    );
}

#[tokio::test]
async fn first_use_by_two_writers_agrees_on_one_key() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let a = store(dir.path(), "pw");
        let b = store(dir.path(), "pw");
        let (ia, ib) = (id("race/a"), id("race/b"));
        let (ra, rb) = tokio::join!(
            a.set(&ia, "va".into(), Metadata::new()),
            b.set(&ib, "vb".into(), Metadata::new())
        );
        ra.unwrap();
        rb.unwrap();
        let c = store(dir.path(), "pw");
        assert_eq!(value_of(&c, "race/a").await.as_deref(), Some(&b"va"[..]));
        assert_eq!(value_of(&c, "race/b").await.as_deref(), Some(&b"vb"[..]));
    }
}

#[tokio::test]
async fn one_unreadable_entry_does_not_hide_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), "pw");
    s.set(&id("ok/a"), "a".into(), Metadata::new())
        .await
        .unwrap();
    s.set(&id("ok/b"), "b".into(), Metadata::new())
        .await
        .unwrap();
    std::fs::write(
        dir.path().join("secrets").join("6a756e6b.age"),
        b"not age at all",
    )
    .unwrap();
    assert_eq!(s.list(&p("**")).await.unwrap().len(), 2);
    assert_eq!(s.get_secrets(&p("ok/*")).await.unwrap().len(), 2);
}

#[tokio::test]
async fn enabling_checks_the_store_can_be_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        locked(dir.path()).reinitialize().await,
        Err(Error::Locked { .. })
    ));
    assert!(store(dir.path(), "pw").reinitialize().await.is_ok());
}

/// The store's files and their contents, to show a lookup changed nothing.
fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in listing {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_locked_store_answers_not_found_without_a_candidate_and_locked_with_one() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing there at all: not even a store directory.
    let absent = dir.path().join("never-created");
    let s = locked(&absent);
    assert!(
        s.get_secrets(&p("vault/app/k1/value"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.get_secrets(&p("vault/**")).await.unwrap().is_empty());
    assert!(s.list(&p("**")).await.unwrap().is_empty());
    assert!(matches!(
        s.remove(&id("vault/app/k1/value")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(!absent.exists(), "a lookup created the store");

    store(dir.path(), "pw")
        .set(&id("team/db/password"), "v".into(), Metadata::new())
        .await
        .unwrap();
    let before = snapshot(dir.path());
    let s = locked(dir.path());
    // No candidate by name: not found, no key asked, locked or not.
    for miss in ["vault/app/k1/value", "vault/**", "team/*/user", "other/*"] {
        assert!(s.get_secrets(&p(miss)).await.unwrap().is_empty(), "{miss}");
    }
    let many = s
        .get_secrets_many(&[p("vault/a/b"), p("vault/c/d"), p("x/**")])
        .await;
    assert!(many.iter().all(|r| matches!(r, Ok(v) if v.is_empty())));
    // A candidate: locked, as before.
    for hit in ["team/db/password", "team/**", "**", "*/db/*"] {
        assert!(
            matches!(s.get_secrets(&p(hit)).await, Err(Error::Locked { .. })),
            "{hit}"
        );
    }
    assert!(matches!(
        s.list(&p("team/**")).await,
        Err(Error::Locked { .. })
    ));
    assert!(s.list(&p("vault/**")).await.unwrap().is_empty());
    assert_eq!(
        before,
        snapshot(dir.path()),
        "a locked lookup changed the store"
    );
}

#[tokio::test]
async fn hashed_long_ids_are_candidates_for_patterns_only() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("long/{}", "x".repeat(300));
    store(dir.path(), "pw")
        .set(&id(&long), "v".into(), Metadata::new())
        .await
        .unwrap();
    let s = locked(dir.path());
    // Its name is a hash: an exact lookup of another id never touches it...
    assert!(s.get_secrets(&p("long/y")).await.unwrap().is_empty());
    // ...but a pattern must decrypt it to know its id.
    assert!(matches!(
        s.get_secrets(&p("long/*")).await,
        Err(Error::Locked { .. })
    ));
    let open = store(dir.path(), "pw");
    assert_eq!(open.get_secrets(&p("long/*")).await.unwrap().len(), 1);
    assert!(open.get_secrets(&p("short/*")).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_locked_file_store_does_not_fail_a_reference_another_provider_holds() {
    use secrets_engine::{ConfigLocation, Engine, Registration};
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), "pw")
        .set(&id("mine/x"), "v".into(), Metadata::new())
        .await
        .unwrap();
    let engine = Engine::builder()
        .config(ConfigLocation::None)
        .register(Registration::store(
            "file",
            p("**"),
            Arc::new(locked(dir.path())),
        ))
        .register(Registration::resolver(
            "vault",
            p("vault/**"),
            support::memory(&[("vault/app/k1/value", b"from-vault")]),
        ))
        .build()
        .unwrap();
    let got = engine.resolve_one(&p("vault/app/k1/value")).await.unwrap();
    assert_eq!(got.expose(), b"from-vault");
    let plugins = engine.plugins();
    assert_eq!(plugins[0].state, secrets_engine::ProviderState::Locked);
    assert_eq!(plugins[0].state.to_string(), "locked");
    assert_eq!(plugins[1].state, secrets_engine::ProviderState::Running);
    // The ids it holds still say it is locked.
    let err = engine.resolve_one(&p("mine/x")).await.unwrap_err();
    assert_eq!(err.kind(), secrets_engine::ErrorKind::Locked, "{err}");
}

/// The `-> scrypt <salt> <log_n>` stanza's work factor of an identity file.
fn work_factor_of(identity: &[u8]) -> u8 {
    let text = String::from_utf8_lossy(identity);
    let line = text
        .lines()
        .find(|l| l.starts_with("-> scrypt "))
        .expect("a scrypt stanza");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn work_factor_defaults_to_18_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let s =
        FileStore::new(dir.path(), FileKey::passphrase("pw")).with_session_timeout(Duration::ZERO);
    s.set(&id("w/x"), "v".into(), Metadata::new())
        .await
        .unwrap();
    let written = std::fs::read(dir.path().join("identity.age")).unwrap();
    assert_eq!(work_factor_of(&written), 18);
    assert_eq!(secrets_engine::providers::file::DEFAULT_WORK_FACTOR, 18);

    for bad in [9, 21, 30] {
        let other = tempfile::tempdir().unwrap();
        let err = FileStore::new(other.path(), FileKey::passphrase("pw"))
            .with_work_factor(bad)
            .set(&id("w/x"), "v".into(), Metadata::new())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("10 to 20"), "{bad}: {err}");
        assert!(!other.path().join("identity.age").exists());
    }
}

#[tokio::test]
async fn an_identity_written_at_work_factor_20_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    // What earlier versions wrote: age's calibration gave 2^20 here.
    FileStore::new(dir.path(), FileKey::passphrase("old"))
        .with_work_factor(20)
        .with_session_timeout(Duration::ZERO)
        .set(&id("old/x"), "still-here".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(
        work_factor_of(&std::fs::read(dir.path().join("identity.age")).unwrap()),
        20
    );
    let today =
        FileStore::new(dir.path(), FileKey::passphrase("old")).with_session_timeout(Duration::ZERO);
    assert_eq!(
        value_of(&today, "old/x").await.as_deref(),
        Some(&b"still-here"[..])
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A store unlocked with a passphrase, cached in the session keyring for `secs`.
fn cached(d: &std::path::Path, secs: u64) -> FileStore {
    FileStore::new(d, FileKey::passphrase("pw"))
        .with_work_factor(10)
        .with_session_timeout(Duration::from_secs(secs))
}

/// A store with no key, reading the session cache (the next process).
fn no_key(d: &std::path::Path) -> FileStore {
    FileStore::new(d, FileKey::Missing)
}

/// In a session keyring of its own (support::session_keyring), so the cache is never
/// written to, nor read from, the keyring of whoever runs the tests.
#[cfg(target_os = "linux")]
#[test]
fn the_session_cache_is_used_expires_and_is_dropped_by_lock() {
    use support::session_keyring;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let key = session_keyring::own("file-cache", || {
        runtime().block_on(async {
            let a = cached(dir, 60);
            a.set(&id("s/x"), "v".into(), Metadata::new())
                .await
                .unwrap();
            let key = session_keyring::file_store_key(dir);
            assert!(session_keyring::holds(&key));
            assert!(!no_key(dir).is_locked());
            // A new object without any key (the next process) unlocks from the cache.
            let b = no_key(dir);
            assert_eq!(value_of(&b, "s/x").await.as_deref(), Some(&b"v"[..]));
            // With the cache turned off, the same object is locked.
            let off = no_key(dir).with_session_timeout(Duration::ZERO);
            assert!(off.is_locked());
            assert!(matches!(
                off.get_secrets(&p("s/x")).await,
                Err(Error::Locked { .. })
            ));
            // lock() drops it: for new objects and for itself.
            a.lock().unwrap();
            assert!(!session_keyring::holds(&key));
            assert!(no_key(dir).is_locked());
            assert!(matches!(
                no_key(dir).get_secrets(&p("s/x")).await,
                Err(Error::Locked { .. })
            ));
            // It expires (5 s: room for a loaded machine between the two reads below).
            let short = cached(dir, 5);
            assert_eq!(value_of(&short, "s/x").await.as_deref(), Some(&b"v"[..]));
            assert_eq!(
                value_of(&no_key(dir), "s/x").await.as_deref(),
                Some(&b"v"[..])
            );
            tokio::time::sleep(Duration::from_millis(6500)).await;
            assert!(no_key(dir).is_locked());
            assert!(matches!(
                no_key(dir).get_secrets(&p("s/x")).await,
                Err(Error::Locked { .. })
            ));
            // Cached again, for the check below.
            value_of(&cached(dir, 60), "s/x").await.unwrap();
            assert!(session_keyring::holds(&key));
            key
        })
    });
    // The caller's keyring never saw it (its keyring is the test's, now gone).
    assert!(!session_keyring::holds(&key));
    assert!(!session_keyring::user_session_holds(&key));
    assert!(no_key(dir).is_locked());
}

/// Without a session keyring of its own (cron, a CI job, a service: the kernel then
/// gives the user-session keyring, shared by every process of the uid), nothing is
/// cached: every later process needs the passphrase again.
#[cfg(target_os = "linux")]
#[test]
fn without_a_session_keyring_of_its_own_nothing_is_cached() {
    use support::session_keyring;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    session_keyring::shared(|| {
        runtime().block_on(async {
            let a = cached(dir, 60);
            a.set(&id("s/x"), "v".into(), Metadata::new())
                .await
                .unwrap();
            let key = session_keyring::file_store_key(dir);
            assert!(
                !session_keyring::user_session_holds(&key),
                "the identity was cached in the user-session keyring"
            );
            assert!(no_key(dir).is_locked());
            assert!(matches!(
                no_key(dir).get_secrets(&p("s/x")).await,
                Err(Error::Locked { .. })
            ));
            // The store still works with its passphrase.
            assert_eq!(value_of(&a, "s/x").await.as_deref(), Some(&b"v"[..]));
        })
    });
    // The same store in a session keyring of its own is cached: the check above can
    // fail.
    session_keyring::own("file-shared", || {
        runtime().block_on(async {
            value_of(&cached(dir, 60), "s/x").await.unwrap();
            assert!(!no_key(dir).is_locked());
        })
    });
}

/// Through an engine whose deadline (1.5 s) is shorter than the person takes to
/// type (2 s): the prompt runs before the call, outside the deadline, so the
/// lookup still succeeds. It is asked once per object, twice on first use (the
/// prompter confirms), and only when the call needs the identity.
#[tokio::test]
async fn a_prompt_runs_outside_the_deadline_once_per_object_and_only_when_needed() {
    use secrets_engine::Registration;
    use secrets_engine::providers::file::Prompt;
    let dir = tempfile::tempdir().unwrap();
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let prompt = |answer: &'static str| {
        let asked = asked.clone();
        Some(Prompt::new(move |first_use| {
            asked.lock().unwrap().push(first_use);
            std::thread::sleep(Duration::from_millis(2000));
            Some(zeroize::Zeroizing::new(answer.to_owned()))
        }))
    };
    // Not shorter: the calls themselves write and fsync files, which a busy disk
    // can hold up for hundreds of milliseconds.
    let engine_with = |s: FileStore| {
        support::builder()
            .deadline(Duration::from_millis(1500))
            .register(Registration::store("file", p("**"), Arc::new(s)).configurable(false))
            .build()
            .unwrap()
    };
    let with = |answer| {
        FileStore::new(dir.path(), FileKey::Missing)
            .with_work_factor(10)
            .with_session_timeout(Duration::ZERO)
            .with_prompt(prompt(answer))
    };
    let s = with("typed");
    assert!(s.is_locked());
    let e = engine_with(s);
    // Nothing to read: no prompt.
    assert!(matches!(
        e.get_secrets(&p("none/*")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(asked.lock().unwrap().is_empty());
    e.set(&id("t/x"), "v".into(), Metadata::new())
        .await
        .unwrap();
    e.set(&id("t/y"), "w".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(*asked.lock().unwrap(), [true]);
    let again = engine_with(with("typed"));
    assert!(matches!(
        again.get_secrets(&p("none/*")).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(again.resolve_one(&p("t/x")).await.unwrap().expose(), b"v");
    assert_eq!(again.resolve_one(&p("t/y")).await.unwrap().expose(), b"w");
    assert_eq!(*asked.lock().unwrap(), [true, false]);
    // A wrong passphrase: the lookup says so, and the next call asks again.
    let wrong = engine_with(with("nope"));
    let err = wrong.resolve_one(&p("t/x")).await.unwrap_err();
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert_eq!(asked.lock().unwrap().len(), 3);
    assert!(wrong.resolve_one(&p("t/x")).await.is_err());
    assert_eq!(asked.lock().unwrap().len(), 4);
    // Used directly, the store never prompts within a call: it is locked.
    let direct = with("typed");
    assert!(matches!(
        direct.get_secrets(&p("t/x")).await,
        Err(Error::Locked { .. })
    ));
    assert_eq!(asked.lock().unwrap().len(), 4);
    // A passphrase set wins over the prompt.
    let set = engine_with(store(dir.path(), "typed").with_prompt(prompt("nope")));
    assert_eq!(set.resolve_one(&p("t/y")).await.unwrap().expose(), b"w");
    assert_eq!(asked.lock().unwrap().len(), 4);
}

/// Each answer as (id, value, metadata) or the error's message.
type Answer = Result<Vec<(String, Vec<u8>, Vec<(String, String)>)>, String>;

fn answer(r: Result<Vec<secrets_engine::Envelope>, Error>) -> Answer {
    r.map(|v| {
        v.into_iter()
            .map(|e| {
                let metadata = e
                    .metadata()
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                (e.id().to_string(), e.value().expose().to_vec(), metadata)
            })
            .collect()
    })
    .map_err(|e| e.to_string())
}

/// The batch answers each pattern as a lookup of that pattern alone would.
async fn batch_agrees(s: &FileStore, patterns: &[&str]) -> Vec<Answer> {
    let ps: Vec<_> = patterns.iter().map(|x| p(x)).collect();
    let many: Vec<Answer> = s
        .get_secrets_many(&ps)
        .await
        .into_iter()
        .map(answer)
        .collect();
    assert_eq!(many.len(), ps.len());
    for (pattern, got) in ps.iter().zip(&many) {
        assert_eq!(got, &answer(s.get_secrets(pattern).await), "{pattern}");
    }
    many
}

#[tokio::test]
async fn a_batch_answers_each_lookup_as_alone() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), "pw");
    let long = format!("long/{}", "x".repeat(300));
    let mut m = Metadata::new();
    m.insert("owner".into(), "ops".into());
    s.set(&id("ok/a"), "a".into(), m).await.unwrap();
    s.set(&id("ok/b"), "b".into(), Metadata::new())
        .await
        .unwrap();
    s.set(&id(&long), "l".into(), Metadata::new())
        .await
        .unwrap();
    s.set(&id("moved/from"), "m".into(), Metadata::new())
        .await
        .unwrap();
    let secrets = dir.path().join("secrets");
    let name = |i: &str| {
        format!(
            "{}.age",
            i.bytes().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    // An entry holding another id under this one's name is not this id's answer;
    // an entry that is not age at all fails an exact lookup of its id and is skipped
    // by a pattern.
    std::fs::copy(
        secrets.join(name("moved/from")),
        secrets.join(name("moved/to")),
    )
    .unwrap();
    std::fs::write(secrets.join(name("ok/junk")), b"not age at all").unwrap();
    let patterns = [
        "ok/a",
        "ok/absent",
        "ok/*",
        "**",
        "long/*",
        "moved/to",
        "ok/junk",
        "none/**",
        "ok/a",
    ];
    let open = store(dir.path(), "pw");
    let many = batch_agrees(&open, &patterns).await;
    let ids = |a: &Answer| {
        a.as_ref()
            .unwrap()
            .iter()
            .map(|e| e.0.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&many[0]), ["ok/a"]);
    assert_eq!(
        many[0].as_ref().unwrap()[0].2,
        [("owner".to_owned(), "ops".to_owned())]
    );
    assert!(ids(&many[1]).is_empty());
    assert_eq!(ids(&many[2]), ["ok/a", "ok/b"]);
    // The copy answers under the id it holds, as the original does.
    assert_eq!(
        ids(&many[3]),
        [long.as_str(), "moved/from", "moved/from", "ok/a", "ok/b"]
    );
    assert_eq!(ids(&many[4]), [long.as_str()]);
    assert!(ids(&many[5]).is_empty());
    assert!(
        many[6].as_ref().unwrap_err().contains("cannot decrypt"),
        "{:?}",
        many[6]
    );
    assert!(ids(&many[7]).is_empty());
    assert_eq!(many[8], many[0]);

    // Locked: only the patterns with a candidate say so (the hashed long id's file
    // is a candidate for every pattern that is not an id).
    let locked_many = batch_agrees(&locked(dir.path()), &patterns).await;
    for (i, a) in locked_many.iter().enumerate() {
        let candidate = i != 1;
        assert_eq!(
            a.as_ref().is_err_and(|e| e.starts_with("locked: ")),
            candidate,
            "{}: {a:?}",
            patterns[i]
        );
    }

    // A secrets/ directory others may write: refused where it holds a candidate.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o777)).unwrap();
    let distrusted = batch_agrees(&store(dir.path(), "pw"), &patterns).await;
    for (i, a) in distrusted.iter().enumerate() {
        let candidate = i != 1;
        assert_eq!(a.is_err(), candidate, "{}: {a:?}", patterns[i]);
    }
}
