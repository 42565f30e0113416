//! [`EngineServer`]: an [`Engine`] served on Docker's secrets-engine socket API, so
//! that Docker's clients (and [`EngineClient`](crate::EngineClient)) resolve through
//! it.
//!
//! Connect unary over HTTP/1.1 (hyper) on Unix sockets, with the `application/proto`
//! and `application/json` codecs (docs/docker-protocol.md §4). Served methods:
//! `resolver.v1.ResolverService/GetSecrets`, `resolver.v1.AuthorizerService/Authorize`,
//! `plugins.v1.PluginManagementService/{ListPlugins,EnablePlugin,DisablePlugin}`,
//! `health.v1.VersionService/GetVersion`, and plain `GET /health`.
//!
//! # Limits
//!
//! - A peer whose uid is not in [`ServerOptions::allowed_uids`] (by default only this
//!   process's uid) is answered `403 permission_denied` without its request being
//!   parsed (it is read, at most 64 KiB for at most a second, so that a client which
//!   writes first gets the answer). At most 8 such answers are in flight; past that a
//!   refused peer is disconnected unread, so another user cannot exhaust our
//!   descriptors.
//! - At most [`ServerOptions::max_clients`] connections are served at once; more
//!   wait in the socket's backlog until one closes. An idle connection is closed
//!   after [`ServerOptions::idle_timeout`].
//! - A request body over [`ServerOptions::max_request_bytes`] is refused
//!   (`resource_exhausted`).
//! - Every request runs under [`ServerOptions::request_timeout`], or the client's
//!   shorter `Connect-Timeout-Ms`; past it the lookup is abandoned
//!   (`deadline_exceeded`). Providers are asked concurrently, each under its own
//!   deadline, and every connection is its own task, so a slow provider never holds up
//!   another client's request.
//!
//! # Secrets in memory
//!
//! Values leave the process only in `GetSecrets` responses. The response buffer is
//! zeroed when hyper is done with it, and the envelopes' buffers as they are encoded.
//! Not zeroed: the kernel's socket buffers, hyper's write buffer when it copies a
//! small body next to the headers, and base64's small stack buffer (JSON codec).

mod handlers;
#[cfg(feature = "docker-plugins")]
mod hijack;
mod listener;
mod policy;
mod write_deadline;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};

pub use listener::EngineListener;
pub use policy::{AllowAll, AuthorizeDecision, AuthorizePolicy, Peer};

use crate::client::EngineVersion;
use crate::engine::Engine;
use crate::error::Error;
use handlers::State;

/// The limits of an [`EngineServer`] (see the [module docs](self#limits)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Connections served at once; default 64.
    pub max_clients: usize,
    /// Largest request body; default 1 MiB.
    pub max_request_bytes: usize,
    /// The longest a request may take; default 35 s, above the engine's default
    /// provider deadline (30 s) so a provider's own timeout is reported as such.
    pub request_timeout: Duration,
    /// How long a connection may sit without a complete request before it is closed
    /// (also the time allowed to send a request's headers), and how long a write of
    /// the response may wait for the peer to read; default 10 s.
    pub idle_timeout: Duration,
    /// How long in-flight requests may run on after shutdown is asked for; default
    /// 1.2 s. Those still running are then answered `unavailable` (the engine is
    /// stopping) and their provider calls cancelled, so a stop completes within 2 s.
    pub shutdown_grace: Duration,
    /// Peer uids admitted; default this process's uid only. Add `0` to serve a
    /// container runtime running as root.
    pub allowed_uids: Vec<u32>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_clients: 64,
            max_request_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(35),
            idle_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_millis(1200),
            allowed_uids: vec![rustix::process::getuid().as_raw()],
        }
    }
}

/// `v` and this crate's version: what `GetVersion` and each built-in plugin report
/// unless told otherwise.
pub(crate) fn version_string() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// An engine served on Docker's socket API (see the [module docs](self)).
///
/// ```no_run
/// use secrets_engine::server::{EngineListener, EngineServer};
/// use secrets_engine::{EngineSocket, memory_engine, DefaultOptions};
/// # async fn f() -> Result<(), secrets_engine::Error> {
/// let engine = memory_engine(DefaultOptions::default())?;
/// let listener = EngineListener::bind(&EngineSocket::default_engine())?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// # drop(stop);
/// // Serves until `stop` is sent or dropped (docker-pass stops on SIGTERM/SIGINT).
/// EngineServer::new(engine)
///     .serve(vec![listener], async { let _ = stopped.await; })
///     .await
/// # }
/// ```
pub struct EngineServer {
    engine: Engine,
    options: ServerOptions,
    policy: Arc<dyn AuthorizePolicy>,
    version: EngineVersion,
}

impl std::fmt::Debug for EngineServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineServer")
            .field("engine", &self.engine)
            .field("options", &self.options)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl EngineServer {
    /// A server for `engine` with default limits, [`AllowAll`] and this crate's version.
    pub fn new(engine: Engine) -> EngineServer {
        EngineServer {
            engine,
            options: ServerOptions::default(),
            policy: Arc::new(AllowAll::default()),
            version: EngineVersion {
                version: version_string(),
                date: "unknown".into(),
                commit: "unknown".into(),
            },
        }
    }

    /// Replaces the limits.
    pub fn options(mut self, options: ServerOptions) -> EngineServer {
        self.options = options;
        self
    }

    /// Replaces the `Authorize` policy.
    pub fn policy(mut self, policy: Arc<dyn AuthorizePolicy>) -> EngineServer {
        self.policy = policy;
        self
    }

    /// What `GetVersion` answers; `version` should be a `v`-prefixed semver, which
    /// Docker's client requires.
    pub fn version(mut self, version: EngineVersion) -> EngineServer {
        self.version = version;
        self
    }

    /// Serves `listeners` until `shutdown` completes, then stops: the sockets are
    /// closed and removed at once, in-flight requests get
    /// [`ServerOptions::shutdown_grace`] to finish, and those still running are then
    /// answered `unavailable` (their provider calls cancelled). A connection that
    /// cannot take even that answer is dropped.
    ///
    /// # Errors
    /// [`Error::Io`] when a listener fails to accept (not for a client that goes away).
    pub async fn serve(
        self,
        listeners: Vec<EngineListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let slots = Arc::new(Semaphore::new(self.options.max_clients));
        let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
        let (stop, stopping) = watch::channel(Stop::Running);
        let stop = Arc::new(stop);
        let state = Arc::new(State {
            engine: self.engine,
            policy: self.policy,
            version: self.version,
            options: self.options.clone(),
            stopping,
        });

        let (failed_tx, mut failed) = tokio::sync::mpsc::channel::<Error>(1);
        let mut acceptors = tokio::task::JoinSet::new();
        for l in listeners {
            acceptors.spawn(accept_loop(
                l,
                state.clone(),
                slots.clone(),
                refusals.clone(),
                stop.clone(),
                failed_tx.clone(),
            ));
        }
        drop(failed_tx);
        let outcome = tokio::select! {
            () = shutdown => Ok(()),
            Some(e) = failed.recv() => Err(e),
        };
        // Dropping the accept loops drops the listeners, which removes the sockets:
        // a new client is refused at once rather than queued.
        acceptors.shutdown().await;
        let all = u32::try_from(self.options.max_clients).unwrap_or(u32::MAX);
        let _ = stop.send(Stop::Graceful);
        let drained = tokio::time::timeout(self.options.shutdown_grace, slots.acquire_many(all));
        if drained.await.is_err() {
            tracing::warn!("answering requests still running at shutdown as unavailable");
            let _ = stop.send(Stop::Abandon);
            let answered =
                tokio::time::timeout(Duration::from_millis(300), slots.acquire_many(all));
            if answered.await.is_err() {
                let _ = stop.send(Stop::Now);
                let _ =
                    tokio::time::timeout(Duration::from_millis(100), slots.acquire_many(all)).await;
            }
        }
        outcome
    }
}

/// Refused peers answered at once (each holds a descriptor for up to a second); more
/// are disconnected without an answer.
const MAX_REFUSALS: usize = 8;

/// How far a stop has gone; connections and requests watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    /// No new requests on a connection; those in flight go on.
    Graceful,
    /// The grace is over: requests still running answer `unavailable` at once.
    Abandon,
    /// Connections still open are dropped unanswered.
    Now,
}

async fn accept_loop(
    listener: EngineListener,
    state: Arc<State>,
    slots: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    stop: Arc<watch::Sender<Stop>>,
    failed: tokio::sync::mpsc::Sender<Error>,
) {
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) if transient(&e) => {
                tracing::warn!(error = %e, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => {
                let _ = failed
                    .send(Error::Io {
                        context: format!("accepting on {}", listener.socket()),
                        source: e,
                    })
                    .await;
                return;
            }
        };
        let peer = match stream.peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            Err(e) => {
                tracing::warn!(error = %e, "no peer credentials; closing the connection");
                continue;
            }
        };
        if !state.options.allowed_uids.contains(&peer.uid) {
            tracing::warn!(uid = peer.uid, pid = ?peer.pid, "refusing a peer with another uid");
            // Another user must not be able to pile up our file descriptors: past a
            // few polite refusals in flight, the connection is closed unread.
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream, peer.uid).await;
                    drop(permit);
                });
            }
            continue;
        }
        let state = state.clone();
        let rx = stop.subscribe();
        tokio::spawn(async move {
            serve_connection(stream, peer, state, rx).await;
            drop(slot);
        });
    }
}

/// Errors of `accept` that concern one connection or a passing shortage, not the
/// listener.
fn transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::Interrupted | K::WouldBlock
    ) || matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12))
}

/// Answers a refused peer `403 permission_denied`. Its request is read (at most
/// 64 KiB, for at most a second) but never parsed beyond its length, so a client that
/// writes before it reads gets the answer rather than a reset connection.
async fn refuse(mut stream: tokio::net::UnixStream, uid: u32) {
    const MAX: usize = 64 * 1024;
    let body = crate::api::connect::ConnectError::new(
        crate::api::connect::Code::PermissionDenied,
        format!("this engine serves its own user only; uid {uid} is not allowed"),
    )
    .to_json();
    let head = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let work = async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await?;
            seen.extend_from_slice(&buf[..n]);
            if n == 0 || seen.len() >= MAX || request_complete(&seen) {
                break;
            }
        }
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await?;
        // Read until the client closes, so it is not reset before it has read.
        while stream.read(&mut buf).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), work).await;
}

/// Whether `seen` holds a whole request: its head and `content-length` bytes after.
fn request_complete(seen: &[u8]) -> bool {
    let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    seen.len() >= end + 4 + length
}

async fn serve_connection(
    stream: tokio::net::UnixStream,
    peer: Peer,
    state: Arc<State>,
    mut stop: watch::Receiver<Stop>,
) {
    let service_state = state.clone();
    let service = service_fn(move |req| {
        let state = service_state.clone();
        async move { Ok::<_, Infallible>(state.route(req, peer).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.options.idle_timeout)
        .serve_connection(
            TokioIo::new(write_deadline::WriteDeadline::new(
                stream,
                state.options.idle_timeout,
            )),
            service,
        )
        // `GET /hijack` hands the connection to an external plugin.
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut graceful = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed() => {
                let now = changed.map(|()| *stop.borrow_and_update());
                match now {
                    Ok(Stop::Graceful) if !graceful => {
                        graceful = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    Ok(Stop::Running | Stop::Graceful | Stop::Abandon) => {}
                    // Abandoned: dropping the connection drops its request, and with it
                    // the lookup and its provider calls.
                    Ok(Stop::Now) | Err(_) => return,
                }
            }
        }
    }
}
