//! The engine served on Docker's socket API: a real server on a real Unix socket,
//! asked by the Rust client and by curl (`--unix-socket`, JSON), every method and
//! every error; socket set-up (modes, stale and live sockets); 64 concurrent clients
//! beside a stuck provider; shutdown with a request in flight.
#![cfg(unix)]

mod curl;
mod sockets;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use secrets_engine::providers::engine::EngineProvider;
use secrets_engine::server::{
    AuthorizeDecision, AuthorizePolicy, EngineListener, EngineServer, Peer, ServerOptions,
};
use secrets_engine::{
    DEFAULT_CLIENT_TIMEOUT, DEFAULT_DEADLINE, Engine, EngineClient, EngineSocket, Envelope, Error,
    ErrorKind, Pattern, ProviderState, Registration, Resolver,
};
use secrets_engine_test_support::{Failing, Hang, builder, memory, p};

/// Denies anything under `forbidden/**`.
struct DenyForbidden;
impl AuthorizePolicy for DenyForbidden {
    fn authorize(&self, _: &Peer, patterns: &[Pattern]) -> AuthorizeDecision {
        if patterns.iter().any(|q| p("forbidden/**").overlaps(q)) {
            AuthorizeDecision::Deny {
                reason: "access denied".into(),
            }
        } else {
            AuthorizeDecision::Allow {
                until: std::time::SystemTime::now() + Duration::from_secs(60),
            }
        }
    }
}

/// The engine behind most tests: a memory store for every id, a failing provider,
/// one that never answers (300 ms deadline) and a configurable one.
fn test_engine() -> Engine {
    builder()
        .register(
            Registration::store(
                "memory",
                p("**"),
                memory(&[("app/a", b"alpha"), ("app/b", &[0, 255])]),
            )
            .configurable(false),
        )
        .register(Registration::resolver(
            "broken",
            p("broken/**"),
            Arc::new(Failing),
        ))
        .register(
            Registration::resolver("stuck", p("stuck/**"), Arc::new(Hang))
                .deadline(Duration::from_millis(300)),
        )
        .register(Registration::store(
            "extra",
            p("extra/**"),
            memory(&[("extra/k", b"x")]),
        ))
        .register(Registration::resolver(
            "full",
            p("full/**"),
            Arc::new(FullEnvelope),
        ))
        .build()
        .unwrap()
}

/// `v` and a semver core (`v1.2.3`, maybe with `-pre` / `+build`), as Docker's client
/// requires of versions.
fn is_v_semver(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let core = rest.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

/// 2024-05-06T07:08:09.5Z and a year later: whole and fractional seconds.
const CREATED: Duration = Duration::from_millis(1_714_979_289_500);
const EXPIRES: Duration = Duration::from_secs(1_746_515_289);

/// Answers one envelope with every field set, to pin each across the socket.
struct FullEnvelope;
#[async_trait::async_trait]
impl Resolver for FullEnvelope {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        let epoch = std::time::SystemTime::UNIX_EPOCH;
        Ok(vec![
            Envelope::new(secrets_engine::Id::parse("full/one").unwrap(), "v1")
                .with_version("7")
                .with_created_at(epoch + CREATED)
                .with_expires_at(epoch + EXPIRES)
                .with_metadata(secrets_engine::Metadata::from([
                    ("owner".to_owned(), "team-a".to_owned()),
                    ("rotated".to_owned(), "yes".to_owned()),
                ])),
        ])
    }
}

/// A server on a socket of its own, stopped when dropped.
pub struct Served {
    _dir: tempfile::TempDir,
    pub socket: EngineSocket,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), Error>>>,
}

impl Served {
    pub async fn start(engine: Engine, options: ServerOptions) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let socket = EngineSocket::Path(dir.path().join("run/engine.sock"));
        let listener = EngineListener::bind(&socket).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server = EngineServer::new(engine)
            .options(options)
            .policy(Arc::new(DenyForbidden));
        let task = tokio::spawn(server.serve(vec![listener], async {
            let _ = rx.await;
        }));
        Served {
            _dir: dir,
            socket,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        self.socket.path().unwrap()
    }

    /// Asks the server to stop; returns how long `serve` took to return.
    pub async fn stop(&mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        started.elapsed()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_calls_every_method() {
    let s = Served::start(test_engine(), ServerOptions::default()).await;
    let c = EngineClient::new(s.socket.clone());

    let found = c.get_secrets(&p("app/**")).await.unwrap();
    let got: Vec<(&str, &[u8], &str)> = found
        .iter()
        .map(|e| (e.id().as_str(), e.value().expose(), e.provider()))
        .collect();
    assert_eq!(
        got,
        [
            ("app/a", &b"alpha"[..], "memory"),
            ("app/b", &[0, 255][..], "memory")
        ]
    );
    assert!(found[0].created_at().is_none(), "year 1 reads as unset");
    assert!(found[0].resolved_at() > std::time::SystemTime::UNIX_EPOCH);

    let allowed = c.authorize(&[p("app/**")]).await.unwrap();
    assert!(allowed.allowed);
    assert!(allowed.expires_at.unwrap() > std::time::SystemTime::now());

    let plugins = c.list_plugins().await.unwrap();
    let names: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["memory", "broken", "stuck", "extra", "full"]);
    assert_eq!(plugins[0].pattern, Some(p("**")));
    assert!(!plugins[0].configurable && plugins[3].configurable);
    assert_eq!(
        plugins[0].version,
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );

    c.disable_plugin("extra").await.unwrap();
    let listed = c.list_plugins().await.unwrap();
    let extra = listed.iter().find(|p| p.name == "extra").unwrap();
    assert_eq!(extra.state, ProviderState::Disabled);
    c.enable_plugin("extra").await.unwrap();
    assert_eq!(
        c.get_secrets(&p("extra/k")).await.unwrap()[0].provider(),
        "extra"
    );

    let v = c.version().await.unwrap();
    assert!(is_v_semver(&v.version), "{v:?}");
    assert!(is_v_semver(&plugins[0].version), "{:?}", plugins[0]);

    // Every envelope field crosses: version, metadata, created and expiry times.
    let full = c.get_secrets(&p("full/**")).await.unwrap();
    let e = &full[0];
    assert_eq!(
        (e.id().as_str(), e.value().expose(), e.provider()),
        ("full/one", &b"v1"[..], "full")
    );
    assert_eq!(e.version(), Some("7"));
    let epoch = std::time::SystemTime::UNIX_EPOCH;
    assert_eq!(e.created_at(), Some(epoch + CREATED));
    assert_eq!(e.expires_at(), Some(epoch + EXPIRES));
    assert_eq!(
        e.metadata(),
        &secrets_engine::Metadata::from([
            ("owner".to_owned(), "team-a".to_owned()),
            ("rotated".to_owned(), "yes".to_owned()),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_gets_every_error_typed() {
    let s = Served::start(test_engine(), ServerOptions::default()).await;
    let c = EngineClient::new(s.socket.clone());
    let e = c.get_secrets(&p("nothing/here")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    // A failed provider is never "not found": its code and message come through.
    let e = c.get_secrets(&p("broken/x")).await.unwrap_err();
    assert!(
        matches!(&e, Error::Backend { message } if message.contains("internal") && message.contains("backend exploded") && message.contains("broken")),
        "{e}"
    );
    // The server's timeout keeps its message: which provider, which deadline.
    let e = c.get_secrets(&p("stuck/x")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let text = e.to_string();
    assert!(text.contains("stuck") && text.contains("300ms"), "{text}");
    let e = c.authorize(&[p("forbidden/x")]).await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
    let e = c.enable_plugin("nope").await.unwrap_err();
    assert!(matches!(e, Error::UnknownProvider { .. }), "{e}");
    let e = c.disable_plugin("memory").await.unwrap_err();
    assert!(matches!(e, Error::NotConfigurable { .. }), "{e}");
    // The client's own deadline, shorter than the provider's.
    let quick = c.clone().with_timeout(Duration::from_millis(100));
    let e = quick.get_secrets(&p("stuck/x")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // Nobody listening.
    let gone = EngineClient::new(EngineSocket::Path(s.path().with_file_name("none.sock")));
    let e = gone.version().await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_provider_resolves_an_environment_through_a_running_engine() {
    let s = Served::start(test_engine(), ServerOptions::default()).await;
    let local = builder()
        .register(Registration::resolver(
            "engine",
            p("**"),
            Arc::new(EngineProvider::new(s.socket.clone())),
        ))
        .build()
        .unwrap();
    let vars = vec![
        ("A".to_string(), "se://app/a".to_string()),
        ("PLAIN".to_string(), "x".to_string()),
    ];
    let out = secrets_engine::resolve_env(&local, vars).await.unwrap();
    assert_eq!(out[0].1.as_encoded_bytes(), b"alpha");
    let e = secrets_engine::resolve_env(&local, vec![("B", "se://nothing/x")])
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = secrets_engine::resolve_env(&local, vec![("B", "se://broken/x")])
        .await
        .unwrap_err();
    assert!(!e.is_not_found(), "{e}");
}

/// 64 clients at once, half of them asking a provider that never answers (3 s
/// deadline): every other client is answered while those wait, and the waiting ones
/// then get a timeout, not "not found" (curl.rs checks the message names it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_beside_a_stuck_provider() {
    let engine = builder()
        .register(Registration::store(
            "memory",
            p("fast/**"),
            memory(&[("fast/k", b"v")]),
        ))
        .register(
            Registration::resolver("stuck", p("slow/**"), Arc::new(Hang))
                .deadline(Duration::from_secs(3)),
        )
        .build()
        .unwrap();
    let s = Served::start(engine, ServerOptions::default()).await;
    let slow_done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let c = EngineClient::new(s.socket.clone());
        let slow_done = slow_done.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let r = c.get_secrets(&p("slow/x")).await;
                slow_done.fetch_add(1, Ordering::SeqCst);
                (true, r.map(|_| ()), 0)
            } else {
                let r = c.get_secrets(&p("fast/k")).await;
                (false, r.map(|_| ()), slow_done.load(Ordering::SeqCst))
            }
        }));
    }
    for t in tasks {
        let (slow, r, slow_done_before) = t.await.unwrap();
        if slow {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        } else {
            r.unwrap();
            assert_eq!(
                slow_done_before, 0,
                "a fast lookup waited for the stuck one"
            );
        }
    }
}

/// Never answers; says when a lookup reaches it.
struct Entered(Arc<tokio::sync::Notify>);
#[async_trait::async_trait]
impl Resolver for Entered {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        self.0.notify_one();
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_request_in_flight_takes_under_two_seconds() {
    let entered = Arc::new(tokio::sync::Notify::new());
    let engine = builder()
        .register(
            Registration::resolver("stuck", p("**"), Arc::new(Entered(entered.clone())))
                .deadline(Duration::from_secs(30)),
        )
        .build()
        .unwrap();
    let mut s = Served::start(engine, ServerOptions::default()).await;
    let c = EngineClient::new(s.socket.clone());
    let in_flight = tokio::spawn(async move { c.get_secrets(&p("a")).await });
    // In flight for certain: the provider has it.
    tokio::time::timeout(Duration::from_secs(10), entered.notified())
        .await
        .expect("the request reached the provider");
    let took = s.stop().await;
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    // Answered, not dropped: the client learns why.
    let e = in_flight.await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e}");
    assert!(
        e.to_string().contains(
            "the engine is stopping: the request did not finish within the shutdown grace (1200 ms)"
        ),
        "{e}"
    );
    assert!(!s.path().exists(), "the socket file is removed");
}

/// A provider that panicked is listed as crashed, with its reason, over the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_provider_is_listed_with_its_reason() {
    let engine = builder()
        .register(Registration::resolver(
            "fragile",
            p("**"),
            Arc::new(secrets_engine_test_support::Panicking {
                healed: Default::default(),
            }),
        ))
        .build()
        .unwrap();
    let s = Served::start(engine, ServerOptions::default()).await;
    let c = EngineClient::new(s.socket.clone());
    let e = c.get_secrets(&p("heal/ok")).await.unwrap_err();
    assert!(!matches!(e, Error::NotFound { .. }), "{e}");
    assert!(!e.to_string().contains("TOPSECRET"), "{e}");
    let listed = c.list_plugins().await.unwrap();
    assert_eq!(listed[0].state, ProviderState::Crashed("panicked".into()));
    assert_eq!(listed[0].message.as_deref(), Some("panicked"));
}

/// Holds everything under `locked/**` and is locked.
struct LockedStore;
#[async_trait::async_trait]
impl Resolver for LockedStore {
    async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
        Err(Error::Locked {
            reason: "the vault is locked".into(),
        })
    }
    fn is_locked(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_provider_is_locked_for_the_rust_client() {
    let engine = builder()
        .register(Registration::resolver(
            "vault",
            p("locked/**"),
            Arc::new(LockedStore),
        ))
        .build()
        .unwrap();
    let s = Served::start(engine, ServerOptions::default()).await;
    let c = EngineClient::new(s.socket.clone());
    let e = c.get_secrets(&p("locked/x")).await.unwrap_err();
    assert!(
        matches!(&e, Error::Locked { reason } if reason.contains("vault")),
        "{e}"
    );
}

/// Provider deadline < server deadline < client deadline: the innermost layer that
/// gives up is the one that can say why.
#[test]
fn the_default_deadlines_are_strictly_layered() {
    let server = ServerOptions::default().request_timeout;
    assert!(
        DEFAULT_DEADLINE < server,
        "{DEFAULT_DEADLINE:?} vs {server:?}"
    );
    assert!(
        server < DEFAULT_CLIENT_TIMEOUT,
        "{server:?} vs {DEFAULT_CLIENT_TIMEOUT:?}"
    );
}

/// A refused peer holds one of our descriptors while it is answered; many slow ones
/// must not pile up: past a few, they are disconnected at once, unread.
///
/// Linux only: it tells the two apart by the reset a socket closed with unread data
/// gives its peer, which other systems do not all give.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_peers_cannot_pile_up_descriptors() {
    // A polite refusal holds its permit for a second: a round stalled longer than
    // that on a loaded machine may see a ninth. Without the limit every round gives
    // 0, so up to three rounds cost nothing in strength.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let unread = refused_peers_closed_unread(32).await;
        rounds.push(unread);
        if unread >= 32 - 8 {
            return;
        }
    }
    panic!("closed unread, of 32 refused peers, per round: {rounds:?}");
}

/// How many of `n` peers the server refuses were closed unread. Each sends a request's
/// first line and no more. A polite refusal reads it and waits (a second) for the
/// rest, then closes cleanly; a connection closed unread has our bytes in its queue,
/// so the close resets it (or, closed before we wrote, the write fails). Told apart
/// by what happened, not by when.
#[cfg(target_os = "linux")]
async fn refused_peers_closed_unread(n: usize) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut options = ServerOptions::default();
    // No uid admitted: this process is "another user".
    options.allowed_uids = vec![];
    let s = Served::start(test_engine(), options).await;
    let mut peers = Vec::new();
    for _ in 0..n {
        let mut c = tokio::net::UnixStream::connect(s.path()).await.unwrap();
        let wrote = c.write_all(b"GET /x HTTP/1.1\r\n").await.is_ok();
        peers.push((c, wrote));
    }
    let mut reads = tokio::task::JoinSet::new();
    for (mut c, wrote) in peers {
        reads.spawn(async move {
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf)).await;
            !wrote || matches!(read, Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset)
        });
    }
    reads.join_all().await.into_iter().filter(|c| *c).count()
}

/// A peer that asks for a large answer and never reads it must lose its connection
/// slot once a write has waited the idle timeout, or 64 of them would stop the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_loses_its_slot() {
    use tokio::io::AsyncWriteExt;
    let big = vec![b'a'; 512 * 1024];
    let engine = builder()
        .register(Registration::store(
            "memory",
            p("big/**"),
            memory(&[("big/x", &big)]),
        ))
        .build()
        .unwrap();
    let mut options = ServerOptions::default();
    options.max_clients = 1;
    options.idle_timeout = Duration::from_millis(300);
    let s = Served::start(engine, options).await;
    let mut hog = tokio::net::UnixStream::connect(s.path()).await.unwrap();
    let body = br#"{"pattern":"big/x"}"#;
    let head = format!(
        "POST /resolver.v1.ResolverService/GetSecrets HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    hog.write_all(head.as_bytes()).await.unwrap();
    hog.write_all(body).await.unwrap();
    // The only slot is the hog's until its response write times out.
    let c = EngineClient::new(s.socket.clone()).with_timeout(Duration::from_secs(5));
    c.version().await.unwrap();
    drop(hog);
}
