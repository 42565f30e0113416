//! [`EngineClient`]: Docker's secrets-engine API from Rust, over the engine's Unix
//! socket (ours, `docker-pass engine serve`, or Docker's own daemon).
//!
//! Every call is a Connect unary request over HTTP/1.1 with the `application/proto`
//! codec, under the client's deadline, which the server also receives
//! (`Connect-Timeout-Ms`). Connections are kept for reuse (a few idle ones), so a
//! lookup costs one round trip, not a connect and a handshake.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use prost::Message;

use crate::api::connect::{self, Code, ConnectError};
use crate::api::{Timestamp, health, paths, plugins, resolver};
use crate::engine::ProviderState;
use crate::envelope::Envelope;
use crate::error::{Error, ProviderFailure};
use crate::id::Id;
use crate::pattern::Pattern;
use crate::secret::SecretValue;
use crate::socket::EngineSocket;

/// The default deadline of one call: above the server's own per-request deadline
/// (35 s), itself above the engine's default provider deadline
/// ([`DEFAULT_DEADLINE`](crate::DEFAULT_DEADLINE), 30 s), so that a slow provider is
/// reported by the server, naming the provider, before this client gives up.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(40);
/// Largest response body read (a lookup of many 1 MiB secrets fits).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 8;

/// A client of a running engine.
///
/// ```no_run
/// use secrets_engine::{EngineClient, EngineSocket, Pattern};
/// # async fn f() -> Result<(), secrets_engine::Error> {
/// let client = EngineClient::new(EngineSocket::default_engine());
/// println!("{}", client.version().await?.version);
/// for e in client.get_secrets(&Pattern::parse("db/**")?).await? {
///     println!("{} from {}", e.id(), e.provider());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EngineClient {
    inner: Arc<Inner>,
}

struct Inner {
    socket: EngineSocket,
    timeout: Duration,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for EngineClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineClient")
            .field("socket", &self.inner.socket)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// The engine's answer to `Authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// True when the engine allows the patterns.
    pub allowed: bool,
    /// Until when the decision holds, if the engine says.
    pub expires_at: Option<SystemTime>,
}

/// One plugin (provider) as a running engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnginePlugin {
    /// Its name.
    pub name: String,
    /// Its version (`v`-prefixed semver).
    pub version: String,
    /// The ids it serves (`None` for an access-control module or an unparsable one).
    pub pattern: Option<Pattern>,
    /// Whether it may be enabled and disabled.
    pub configurable: bool,
    /// Whether it runs outside the engine's binary.
    pub external: bool,
    /// Its state: running, disabled (stopped) or crashed.
    pub state: ProviderState,
    /// The engine's status text (why it crashed, that it is locked), if any.
    pub message: Option<String>,
}

/// What `GetVersion` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    /// `v`-prefixed semver.
    pub version: String,
    /// The build date, as the engine writes it.
    pub date: String,
    /// The commit it was built from.
    pub commit: String,
}

/// Why a call failed: the engine answered an error, or it could not be asked.
enum CallError {
    Engine(ConnectError),
    Local(Error),
}

impl EngineClient {
    /// A client of the engine at `socket`, with [`DEFAULT_CLIENT_TIMEOUT`]. Nothing is
    /// dialled until the first call.
    pub fn new(socket: EngineSocket) -> EngineClient {
        EngineClient {
            inner: Arc::new(Inner {
                socket,
                timeout: DEFAULT_CLIENT_TIMEOUT,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The deadline of every call (connecting, sending, the engine's work and reading
    /// the answer).
    pub fn with_timeout(self, timeout: Duration) -> EngineClient {
        EngineClient {
            inner: Arc::new(Inner {
                socket: self.inner.socket.clone(),
                timeout,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The socket this client dials.
    pub fn socket(&self) -> &EngineSocket {
        &self.inner.socket
    }

    /// `ResolverService/GetSecrets`: every secret matching `pattern`, with the
    /// provider, version and times the engine reports.
    ///
    /// # Errors
    /// [`Error::NotFound`] when nothing matches; [`Error::Unavailable`] when no engine
    /// listens; [`Error::Timeout`] past this client's deadline; when the engine reports
    /// a timeout, [`Error::ProvidersFailed`] of kind
    /// [`Timeout`](crate::ErrorKind::Timeout) carrying the engine's message (which
    /// provider, which deadline); [`Error::Locked`] when the engine reports a locked
    /// provider; [`Error::PermissionDenied`] when
    /// the engine refuses this process; [`Error::Backend`] with the engine's code and
    /// message for any other failure (a provider that failed on its side).
    pub async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let req = resolver::GetSecretsRequest {
            pattern: pattern.to_string(),
        };
        let body = self
            .call(paths::GET_SECRETS, req.encode_to_vec())
            .await
            .map_err(|e| match e {
                CallError::Engine(c) if c.code == Code::NotFound => Error::NotFound {
                    pattern: pattern.to_string(),
                },
                // The server's message names the provider that timed out and its
                // deadline; a bare `Timeout` would lose both.
                CallError::Engine(c) if c.code == Code::DeadlineExceeded => {
                    Error::ProvidersFailed {
                        pattern: pattern.to_string(),
                        failures: vec![ProviderFailure {
                            provider: format!("engine at {} ({})", self.inner.socket, c.message),
                            error: Error::Timeout {
                                after: self.inner.timeout,
                            },
                        }],
                    }
                }
                other => self.error(other),
            })?;
        let decoded = resolver::GetSecretsResponse::decode(body.as_ref());
        wipe(body);
        let mut response = decoded.map_err(|e| self.malformed(e))?;
        Ok(envelopes_from_wire(&mut response.envelopes))
    }

    /// `AuthorizerService/Authorize`: whether the engine allows this process to read
    /// `patterns`, and until when.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] when the engine denies; otherwise as
    /// [`get_secrets`](EngineClient::get_secrets).
    pub async fn authorize(&self, patterns: &[Pattern]) -> Result<Authorization, Error> {
        let req = resolver::AuthorizeRequest {
            patterns: patterns.iter().map(ToString::to_string).collect(),
        };
        let body = self
            .call(paths::AUTHORIZE, req.encode_to_vec())
            .await
            .map_err(|e| self.error(e))?;
        let r =
            resolver::AuthorizeResponse::decode(body.as_ref()).map_err(|e| self.malformed(e))?;
        Ok(Authorization {
            allowed: r.decision == resolver::Decision::Allow as i32,
            expires_at: Timestamp::to_time(r.expires_at),
        })
    }

    /// `PluginManagementService/ListPlugins`.
    pub async fn list_plugins(&self) -> Result<Vec<EnginePlugin>, Error> {
        let body = self
            .call(paths::LIST_PLUGINS, Vec::new())
            .await
            .map_err(|e| self.error(e))?;
        let r =
            plugins::ListPluginsResponse::decode(body.as_ref()).map_err(|e| self.malformed(e))?;
        Ok(r.plugins.into_iter().map(plugin).collect())
    }

    /// `PluginManagementService/EnablePlugin`.
    ///
    /// # Errors
    /// [`Error::UnknownProvider`] for a name the engine does not have;
    /// [`Error::NotConfigurable`] for a provider that is always on.
    pub async fn enable_plugin(&self, name: &str) -> Result<(), Error> {
        self.toggle(paths::ENABLE_PLUGIN, name).await
    }

    /// `PluginManagementService/DisablePlugin`; errors as
    /// [`enable_plugin`](EngineClient::enable_plugin).
    pub async fn disable_plugin(&self, name: &str) -> Result<(), Error> {
        self.toggle(paths::DISABLE_PLUGIN, name).await
    }

    /// `VersionService/GetVersion`; also a cheap liveness check.
    pub async fn version(&self) -> Result<EngineVersion, Error> {
        let body = self
            .call(paths::GET_VERSION, Vec::new())
            .await
            .map_err(|e| self.error(e))?;
        let r = health::GetVersionResponse::decode(body.as_ref()).map_err(|e| self.malformed(e))?;
        Ok(EngineVersion {
            version: r.version,
            date: r.date,
            commit: r.commit_hash,
        })
    }

    async fn toggle(&self, path: &'static str, name: &str) -> Result<(), Error> {
        let req = plugins::PluginName {
            name: name.to_owned(),
        };
        self.call(path, req.encode_to_vec())
            .await
            .map(drop)
            .map_err(|e| match e {
                CallError::Engine(c) if c.code == Code::NotFound => Error::UnknownProvider {
                    name: name.to_owned(),
                },
                CallError::Engine(c) if c.code == Code::FailedPrecondition => {
                    Error::NotConfigurable {
                        name: name.to_owned(),
                    }
                }
                other => self.error(other),
            })
    }

    fn malformed(&self, e: prost::DecodeError) -> Error {
        Error::Backend {
            message: format!(
                "the engine at {} sent a malformed answer: {e}",
                self.inner.socket
            ),
        }
    }

    fn error(&self, e: CallError) -> Error {
        let c = match e {
            CallError::Local(e) => return e,
            CallError::Engine(c) => c,
        };
        let socket = &self.inner.socket;
        match c.code {
            Code::DeadlineExceeded => Error::Timeout {
                after: self.inner.timeout,
            },
            Code::Unavailable => Error::Unavailable {
                reason: format!("the engine at {socket}: {}", c.message),
            },
            Code::FailedPrecondition if c.message.starts_with(connect::LOCKED_PREFIX) => {
                Error::Locked {
                    reason: format!("the engine at {socket}: {}", c.message),
                }
            }
            Code::PermissionDenied | Code::Unauthenticated => Error::PermissionDenied {
                reason: format!("the engine at {socket}: {}", c.message),
            },
            _ => Error::Backend {
                message: format!("the engine at {socket} answered {c}"),
            },
        }
    }

    /// One unary call under the client's deadline; the response body on success.
    async fn call(&self, path: &'static str, body: Vec<u8>) -> Result<Bytes, CallError> {
        let timeout = self.inner.timeout;
        match tokio::time::timeout(timeout, self.call_once(path, body)).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Local(Error::Timeout { after: timeout })),
        }
    }

    async fn call_once(&self, path: &'static str, body: Vec<u8>) -> Result<Bytes, CallError> {
        let body = Bytes::from(body);
        // A reused connection may have been closed by the engine while idle; such a
        // request never reached it, so it is sent again on a new connection.
        if let Some(mut sender) = self.take_idle().await {
            match sender.send_request(self.request(path, body.clone())).await {
                Ok(resp) => return self.finish(sender, resp).await,
                Err(e) if e.is_canceled() || e.is_closed() || e.is_incomplete_message() => {}
                Err(e) => return Err(CallError::Local(self.transport(e))),
            }
        }
        let mut sender = self.connect().await?;
        let resp = sender
            .send_request(self.request(path, body))
            .await
            .map_err(|e| CallError::Local(self.transport(e)))?;
        self.finish(sender, resp).await
    }

    fn request(&self, path: &'static str, body: Bytes) -> hyper::Request<Full<Bytes>> {
        let ms = self.inner.timeout.as_millis().clamp(1, 9_999_999_999);
        hyper::Request::post(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONTENT_TYPE, connect::PROTO)
            .header(connect::VERSION_HEADER, "1")
            .header(connect::TIMEOUT_HEADER, ms.to_string())
            .body(Full::new(body))
            .expect("a static path and valid headers")
    }

    async fn finish(
        &self,
        sender: SendRequest<Full<Bytes>>,
        resp: hyper::Response<hyper::body::Incoming>,
    ) -> Result<Bytes, CallError> {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| {
                CallError::Local(Error::Unavailable {
                    reason: format!("reading the answer of {}: {e}", self.inner.socket),
                })
            })?
            .to_bytes();
        self.put_idle(sender);
        if status != 200 {
            let json =
                connect::Codec::from_content_type(&content_type) == Some(connect::Codec::Json);
            return Err(CallError::Engine(ConnectError::from_response(
                status, json, &body,
            )));
        }
        if connect::Codec::from_content_type(&content_type) != Some(connect::Codec::Proto) {
            wipe(body);
            return Err(CallError::Engine(ConnectError::new(
                Code::Unknown,
                format!("unexpected content type {content_type:?}"),
            )));
        }
        Ok(body)
    }

    async fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        loop {
            let sender = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()?;
            if sender.is_closed() {
                continue;
            }
            let mut sender = sender;
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn put_idle(&self, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(sender);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, CallError> {
        let socket = &self.inner.socket;
        let stream = dial(socket).await.map_err(|e| {
            CallError::Local(Error::Unavailable {
                reason: format!("no engine answers on {socket}: {e}"),
            })
        })?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| CallError::Local(self.transport(e)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn transport(&self, e: hyper::Error) -> Error {
        Error::Unavailable {
            reason: format!("talking to the engine at {}: {e}", self.inner.socket),
        }
    }
}

/// Envelopes as a `GetSecretsResponse` carries them, taken out of the message (values
/// moved, not copied). An id that does not parse is dropped, as Docker's client does.
pub(crate) fn envelopes_from_wire(wire: &mut [resolver::Envelope]) -> Vec<Envelope> {
    let mut out = Vec::with_capacity(wire.len());
    for e in wire.iter_mut() {
        let value = SecretValue::new(std::mem::take(&mut e.value));
        // An id that does not parse is dropped, as Docker's client does.
        let Ok(id) = Id::parse(&e.id) else {
            tracing::debug!(id = %e.id, "engine client: dropping an envelope with an invalid id");
            continue;
        };
        let mut envelope = Envelope::from_remote(
            id,
            value,
            std::mem::take(&mut e.provider),
            Timestamp::to_time(e.resolved_at),
        )
        .with_metadata(std::mem::take(&mut e.metadata));
        if !e.version.is_empty() {
            envelope = envelope.with_version(std::mem::take(&mut e.version));
        }
        if let Some(t) = Timestamp::to_time(e.created_at) {
            envelope = envelope.with_created_at(t);
        }
        if let Some(t) = Timestamp::to_time(e.expires_at) {
            envelope = envelope.with_expires_at(t);
        }
        out.push(envelope);
    }
    out
}

/// Connects to `socket`.
pub(crate) async fn dial(socket: &EngineSocket) -> std::io::Result<tokio::net::UnixStream> {
    match socket {
        EngineSocket::Path(p) => tokio::net::UnixStream::connect(p).await,
        EngineSocket::Abstract(name) => {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                use std::os::unix::ffi::OsStrExt;
                // tokio reads a leading NUL as the abstract namespace.
                let mut raw = Vec::with_capacity(name.len() + 1);
                raw.push(0);
                raw.extend_from_slice(name.as_bytes());
                tokio::net::UnixStream::connect(std::ffi::OsStr::from_bytes(&raw)).await
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            {
                let _ = name;
                Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "abstract sockets exist only on Linux",
                ))
            }
        }
    }
}

/// Zeroes a response body when this is its only reference (hyper hands over the
/// buffer it read into); a shared one is left to the allocator.
fn wipe(body: Bytes) {
    if let Ok(mut owned) = body.try_into_mut() {
        zeroize::Zeroize::zeroize(&mut owned[..]);
    }
}

fn plugin(p: plugins::Plugin) -> EnginePlugin {
    let message = (!p.status_message.is_empty()).then(|| p.status_message.clone());
    let state = match plugins::RunStatus::try_from(p.run_status) {
        _ if p.disabled => ProviderState::Disabled,
        Ok(plugins::RunStatus::Crashed | plugins::RunStatus::RetriesExceeded) => {
            ProviderState::Crashed(p.status_message.clone())
        }
        Ok(plugins::RunStatus::Stopped) => ProviderState::Disabled,
        _ => ProviderState::Running,
    };
    let pattern = match &p.metadata {
        Some(plugins::PluginKind::SecretsProvider(s)) => Pattern::parse(&s.pattern).ok(),
        _ => None,
    };
    EnginePlugin {
        name: p.name,
        version: p.version,
        pattern,
        configurable: p.configurable,
        external: p.external,
        state,
        message,
    }
}
