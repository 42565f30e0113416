//! Binding: modes, a live socket never taken over, a stale one replaced.

use std::os::unix::fs::PermissionsExt;

use secrets_engine::server::{EngineListener, ServerOptions};
use secrets_engine::{EngineClient, EngineSocket};

use super::{Served, test_engine};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_socket_is_0600_in_a_0700_directory() {
    let s = Served::start(test_engine(), ServerOptions::default()).await;
    assert_eq!(mode(s.path()), 0o600);
    assert_eq!(mode(s.path().parent().unwrap()), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_is_never_taken_over() {
    let s = Served::start(test_engine(), ServerOptions::default()).await;
    let e = EngineListener::bind(&s.socket).unwrap_err();
    assert!(
        e.to_string().contains("another engine already listens"),
        "{e}"
    );
    // The first engine still answers.
    EngineClient::new(s.socket.clone()).version().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_replaced_and_other_files_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.sock");
    // A socket whose engine died: the file stays, nobody accepts.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let socket = EngineSocket::Path(path.clone());
    let l = EngineListener::bind(&socket).unwrap();
    drop(l);
    assert!(!path.exists(), "dropping the listener removes its socket");

    std::fs::write(&path, b"not a socket").unwrap();
    let e = EngineListener::bind(&socket).unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_others_may_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = EngineListener::bind(&EngineSocket::Path(open.join("e.sock"))).unwrap_err();
    assert!(e.to_string().contains("written by other users"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abstract_name_in_use_is_refused() {
    let name = format!("secrets-engine-test/{}/abstract.sock", std::process::id());
    let socket = EngineSocket::Abstract(name);
    let first = EngineListener::bind(&socket).unwrap();
    let e = EngineListener::bind(&socket).unwrap_err();
    assert!(
        e.to_string().contains("another engine already listens"),
        "{e}"
    );
    drop(first);
    EngineListener::bind(&socket).unwrap();
}

/// An idle connection gives its slot back: it is closed after the idle timeout, both
/// before its first request and between keep-alive requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    use std::io::{Read, Write};
    let mut options = ServerOptions::default();
    options.idle_timeout = std::time::Duration::from_millis(300);
    let s = Served::start(test_engine(), options).await;
    let path = s.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let limit = Some(std::time::Duration::from_secs(5));
        // Never sends anything.
        let mut silent = std::os::unix::net::UnixStream::connect(&path).unwrap();
        silent.set_read_timeout(limit).unwrap();
        let mut buf = [0u8; 4096];
        assert_eq!(silent.read(&mut buf).unwrap_or(0), 0, "closed, not answered");
        // One keep-alive request, then silence.
        let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        c.set_read_timeout(limit).unwrap();
        let body = "{}";
        write!(
            c,
            "POST /health.v1.VersionService/GetVersion HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let n = c.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let mut rest = Vec::new();
        let started = std::time::Instant::now();
        c.read_to_end(&mut rest).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_or_foreign_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    // Like /tmp: sticky, but another user could have taken the name first.
    let sticky = dir.path().join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let e = EngineListener::bind(&EngineSocket::Path(sticky.join("e.sock"))).unwrap_err();
    assert!(
        matches!(&e, secrets_engine::Error::PermissionDenied { reason } if reason.contains("1777") && reason.contains("sticky")),
        "{e}"
    );
    // Owned by another user (needs root to arrange; the test machines run as root).
    if rustix::process::geteuid().is_root() {
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        let e = EngineListener::bind(&EngineSocket::Path(foreign.join("e.sock"))).unwrap_err();
        assert!(e.to_string().contains("belongs to uid 65534"), "{e}");
    }
}
