//! The file store against a planted path: links inside the store, a directory open to
//! others, FIFOs and oversized entries, a crafted identity (issue 16's demonstrations).

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use secrets_engine::providers::file::{FileKey, FileStore, MAX_ENTRY_BYTES};
use secrets_engine::{Error, ErrorKind, Metadata, Resolver, Store};
use secrets_engine_test_support::{id, p};

fn store(dir: &Path) -> FileStore {
    FileStore::new(dir, FileKey::passphrase("pw"))
        .with_work_factor(10)
        .with_session_timeout(Duration::ZERO)
}

/// The file name the store gives `id` (lowercase hex).
fn entry(dir: &Path, id: &str) -> std::path::PathBuf {
    let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    dir.join("secrets").join(format!("{hex}.age"))
}

/// A store holding `a/b`, ready for something to be planted in it.
async fn seeded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path())
        .set(&id("a/b"), "value".into(), Metadata::new())
        .await
        .unwrap();
    dir
}

/// A lookup that must answer, not hang: 10 s is far more than any of these takes.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the file store hung")
}

#[tokio::test]
async fn a_symlinked_tmp_directory_never_makes_set_delete_elsewhere() {
    let dir = seeded().await;
    let victim = tempfile::tempdir().unwrap();
    for f in ["one", "two"] {
        std::fs::write(victim.path().join(f), f).unwrap();
    }
    let tmp = dir.path().join("secrets").join(".tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    symlink(victim.path(), &tmp).unwrap();
    let err = bounded(store(dir.path()).set(&id("a/c"), "v".into(), Metadata::new()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".tmp"), "{err}");
    let mut left: Vec<_> = std::fs::read_dir(victim.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["one", "two"], "set deleted files outside the store");
}

#[tokio::test]
async fn the_lock_file_is_never_followed() {
    let dir = seeded().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("created-through-the-link");
    let lock = dir.path().join(".lock");
    let _ = std::fs::remove_file(&lock);
    symlink(&target, &lock).unwrap();
    let err = bounded(store(dir.path()).set(&id("a/c"), "v".into(), Metadata::new()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".lock"), "{err}");
    assert!(!target.exists(), "the lock was taken through a link");
}

#[tokio::test]
async fn an_entry_that_is_a_link_is_refused_not_read() {
    let dir = seeded().await;
    // A valid entry of this very store, moved outside and linked back in: following
    // the link would decrypt it.
    let outside = tempfile::tempdir().unwrap();
    let moved = outside.path().join("entry.age");
    std::fs::rename(entry(dir.path(), "a/b"), &moved).unwrap();
    symlink(&moved, entry(dir.path(), "a/b")).unwrap();
    let s = store(dir.path());
    let err = bounded(s.get_secrets(&p("a/b"))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("link"), "{err}");
    // A pattern skips it rather than read it.
    assert!(bounded(s.get_secrets(&p("a/*"))).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_fifo_planted_as_an_entry_does_not_hang() {
    let dir = seeded().await;
    let fifo = entry(dir.path(), "a/fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let s = store(dir.path());
    let err = bounded(s.get_secrets(&p("a/fifo"))).await.unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert!(
        err.to_string().contains(&fifo.display().to_string()),
        "{err}"
    );
    // The other entries are still listed.
    let listed = bounded(s.list(&p("a/*"))).await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn an_oversized_entry_is_an_error_and_never_read() {
    let dir = seeded().await;
    let big = entry(dir.path(), "a/big");
    // Sparse: 1 MiB past the cap costs no disk.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(MAX_ENTRY_BYTES + 1024 * 1024)
        .unwrap();
    let err = bounded(store(dir.path()).get_secrets(&p("a/big")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    // Planted as a link to /dev/zero: refused as a link, never read.
    std::fs::remove_file(&big).unwrap();
    symlink("/dev/zero", &big).unwrap();
    let err = bounded(store(dir.path()).get_secrets(&p("a/big")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("link"), "{err}");
}

#[tokio::test]
async fn a_value_too_large_for_an_entry_is_refused_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let huge = vec![7u8; MAX_ENTRY_BYTES as usize + 1];
    let err = store(dir.path())
        .set(&id("big/x"), huge.into(), Metadata::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
}

/// A directory that fails the check is never read: a candidate there is an error
/// naming the directory and what is wrong. An id it cannot hold is simply not there
/// (its names are looked at, nothing is read), so a broken store never fails a
/// reference that another provider answers.
#[tokio::test]
async fn a_store_directory_open_to_others_is_refused_with_its_path() {
    let dir = seeded().await;
    for (what, mode) in [("group", 0o770), ("others", 0o703)] {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        for candidate in ["a/b", "a/*", "**"] {
            let err = store(dir.path())
                .get_secrets(&p(candidate))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{what}: {err}");
            assert!(
                err.to_string().contains(&dir.path().display().to_string())
                    && err.to_string().contains("writable by group or others"),
                "{what}: {err}"
            );
        }
        assert!(store(dir.path()).list(&p("a/**")).await.is_err());
        for absent in ["x/y", "b/*", "vault/**"] {
            assert!(
                store(dir.path())
                    .get_secrets(&p(absent))
                    .await
                    .unwrap()
                    .is_empty(),
                "{what}: {absent}"
            );
        }
        assert!(store(dir.path()).list(&p("b/**")).await.unwrap().is_empty());
        // Writes are refused too.
        assert!(
            store(dir.path())
                .set(&id("a/b"), "x".into(), Metadata::new())
                .await
                .is_err()
        );
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // secrets/ is checked as well.
    let secrets = dir.path().join("secrets");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = store(dir.path()).get_secrets(&p("a/b")).await.unwrap_err();
    assert!(
        err.to_string().contains(&secrets.display().to_string()),
        "{err}"
    );
    assert!(
        store(dir.path())
            .get_secrets(&p("x/y"))
            .await
            .unwrap()
            .is_empty()
    );
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(
        store(dir.path())
            .get_secrets(&p("a/b"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_store_directory_owned_by_someone_else_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let dir = seeded().await;
    let me = std::fs::metadata(dir.path()).unwrap().uid();
    let refused = |err: Error, path: &Path| {
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().contains("owned by uid"), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    };
    if me == 0 {
        // As root, hand the store to nobody: its entry is refused, not read.
        std::os::unix::fs::chown(dir.path(), Some(65534), None).unwrap();
        let err = store(dir.path()).get_secrets(&p("a/b")).await.unwrap_err();
        refused(err, dir.path());
        assert!(
            store(dir.path())
                .get_secrets(&p("x/y"))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // A directory someone else owns, holding no entry: lookups find nothing (there
    // is nothing to read); writing there is refused.
    let holder = tempfile::tempdir().unwrap();
    let foreign = if me == 0 {
        let d = holder.path().join("store");
        std::fs::create_dir_all(d.join("secrets")).unwrap();
        std::os::unix::fs::chown(&d, Some(65534), None).unwrap();
        d
    } else {
        std::path::PathBuf::from("/usr")
    };
    assert!(
        store(&foreign)
            .get_secrets(&p("**"))
            .await
            .unwrap()
            .is_empty()
    );
    let err = store(&foreign)
        .set(&id("a/b"), "v".into(), Metadata::new())
        .await
        .unwrap_err();
    refused(err, &foreign);
}

/// Through the engine: a file store whose directory is open to others, beside a
/// provider that holds the reference, does not fail its resolution.
#[tokio::test]
async fn a_broken_store_directory_does_not_fail_a_reference_another_provider_holds() {
    use secrets_engine::Registration;
    use std::sync::Arc;
    let dir = seeded().await;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let engine = secrets_engine_test_support::builder()
        .register(Registration::store(
            "file",
            p("**"),
            Arc::new(store(dir.path())),
        ))
        .register(Registration::resolver(
            "vault",
            p("vault/**"),
            secrets_engine_test_support::memory(&[("vault/app/k", b"from-vault")]),
        ))
        .build()
        .unwrap();
    let value = engine.resolve_one(&p("vault/app/k")).await.unwrap();
    assert_eq!(value.expose(), b"from-vault");
    // The file store's own entry is refused, naming the directory.
    let err = engine.resolve_one(&p("a/b")).await.unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[tokio::test]
async fn a_crafted_work_factor_is_a_typed_error_naming_the_file() {
    let dir = seeded().await;
    let path = dir.path().join("identity.age");
    let mut bytes = std::fs::read(&path).unwrap();
    // The stanza line `-> scrypt <salt> 10` of the text header; the body is binary.
    let stanza = bytes
        .windows(10)
        .position(|w| w == b"-> scrypt ")
        .expect("a scrypt stanza");
    let end = stanza + bytes[stanza..].iter().position(|b| *b == b'\n').unwrap();
    assert_eq!(&bytes[end - 3..end], b" 10");
    let mut crafted = bytes[..end - 2].to_vec();
    crafted.extend_from_slice(b"30");
    crafted.extend_from_slice(&bytes[end..]);
    bytes.clear();
    std::fs::write(&path, crafted).unwrap();
    // Before: a 1 TiB allocation aborted the process. Now: an error, at once.
    let err = bounded(store(dir.path()).get_secrets(&p("a/b")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("2^30"), "{err}");
}
