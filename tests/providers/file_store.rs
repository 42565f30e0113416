//! The `file` store: age-encrypted files on disk.

use secrets_engine_test_support as support;

use std::sync::Arc;

use secrets_engine::providers::file::{FileKey, FileStore};
use secrets_engine::{Error, Metadata, Resolver, SecretValue, Store};

use support::{id, p};

fn store(dir: &std::path::Path, pass: &str) -> FileStore {
    FileStore::new(dir, FileKey::passphrase(pass)).with_work_factor(10)
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
    let s = FileStore::new(dir.path(), FileKey::Missing);
    let err = s.get_secrets(&p("a")).await.unwrap_err();
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
    let locked = FileStore::new(dir.path(), FileKey::Missing);
    assert!(matches!(
        locked.reinitialize().await,
        Err(Error::Locked { .. })
    ));
    assert!(store(dir.path(), "pw").reinitialize().await.is_ok());
}
