//! The persisted config file under the file store's rules: no planted link is ever
//! followed, a directory others can write (or that another user owns) is refused
//! with an error naming it, and a planted FIFO or huge file cannot hang the engine
//! or exhaust its memory.

use secrets_engine_test_support as support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrets_engine::{Engine, Error, ProviderState};
use support::{Fixed, p};

fn build(path: &Path) -> Result<Engine, Error> {
    Engine::builder()
        .config_path(path)
        .provider("a", p("**"), Arc::new(Fixed::new(&[])))
        .build()
}

/// A file outside the config's directory that a planted link points at.
fn victim() -> (tempfile::TempDir, std::path::PathBuf) {
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("precious");
    std::fs::write(&victim, b"precious").unwrap();
    (elsewhere, victim)
}

#[test]
fn a_link_planted_at_the_old_temporary_name_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let engine = build(&path).unwrap();
    let (_elsewhere, victim) = victim();
    // The name older versions wrote to with `File::create`, which follows links.
    let planted = dir
        .path()
        .join(format!(".config.json.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();

    engine.disable("a").unwrap();

    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.is_file(), "the config is a regular file, not a link");
    assert_eq!(
        build(&path).unwrap().plugins()[0].state,
        ProviderState::Disabled
    );
    // The planted name matched a leftover temporary file's and was cleared (the
    // link itself, never its target).
    assert!(std::fs::symlink_metadata(&planted).is_err());
}

#[test]
fn links_at_the_config_or_lock_names_are_refused_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (_elsewhere, victim) = victim();
    let path = dir.path().join("config.json");
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    let err = build(&path).unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");

    let other = dir.path().join("other.json");
    let engine = build(&other).unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join(".other.json.lock")).unwrap();
    let err = engine.disable("a").unwrap_err();
    assert!(err.to_string().contains(".other.json.lock"), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(!other.exists());
}

#[test]
fn a_directory_others_can_write_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let path = shared.join("config.json");
    let engine = build(&path).unwrap();
    for mode in [0o777, 0o770, 0o722] {
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = engine.disable("a").unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&shared.display().to_string()), "{text}");
        assert!(text.contains("writable by group or others"), "{text}");
        let err = build(&path).unwrap_err();
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        0,
        "nothing was written into it"
    );
    // Once the user fixes the mode, as the error says, it works.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    engine.disable("a").unwrap();
    assert_eq!(
        build(&path).unwrap().plugins()[0].state,
        ProviderState::Disabled
    );
}

#[test]
fn a_directory_another_user_owns_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    let path = if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&theirs).unwrap()) == 0 {
        // As root, give the directory to `nobody`.
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        theirs.join("config.json")
    } else {
        // As anyone else, the root directory is another user's.
        Path::new("/se-test-config.json").to_owned()
    };
    let err = build(&path).unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("not to this user"), "{text}");
    assert!(
        text.contains(&path.parent().unwrap().display().to_string()),
        "{text}"
    );
}

#[test]
fn a_created_directory_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("config.json");
    build(&path).unwrap().disable("a").unwrap();
    for d in [dir.path().join("a"), dir.path().join("a").join("b")] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_fifo_or_a_huge_file_as_the_config_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(build(&fifo).map(|_| ())));
    let err = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("reading a FIFO as the config hung")
        .unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");

    let huge = dir.path().join("huge.json");
    let mut bytes = vec![b' '; 2 * 1024 * 1024];
    bytes.extend_from_slice(b"{}");
    std::fs::write(&huge, bytes).unwrap();
    let err = build(&huge).unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}
