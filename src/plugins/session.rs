//! A plugin connection once yamux is up: HTTP/1.1 on every stream, one request per
//! stream in each direction (docs/docker-protocol.md §7.3). The engine serves
//! `GET /health` and `RegisterPlugin` on the streams the plugin opens, and calls the
//! plugin's `GetSecrets` and `Shutdown` on streams it opens itself.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::io::{AsyncRead, AsyncWrite};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use super::yamux_conn::YamuxHandle;
use crate::api::connect::{self, Code, Codec, ConnectError};
use crate::api::{ProtoDuration, paths, plugins};
use crate::pattern::Pattern;

/// The largest answer read from a plugin.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;
/// The largest registration accepted.
const MAX_REGISTRATION: usize = 64 * 1024;

/// What a plugin registered as.
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) kind: Kind,
}

/// The two kinds of plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A secrets provider, serving this pattern.
    Provider(Pattern),
    /// An access-control module, asked before each client lookup.
    AccessControl,
}

impl Registered {
    /// The pattern it is routed by: its own, or `**` for a module (which answers every
    /// lookup with nothing).
    pub(crate) fn pattern(&self) -> Pattern {
        match &self.kind {
            Kind::Provider(p) => p.clone(),
            Kind::AccessControl => Pattern::parse("**").expect("a valid pattern"),
        }
    }
}

/// Accepts a registration, or says why not (with the code the plugin gets).
pub(crate) type NameCheck = Box<dyn Fn(&Registered) -> Result<(), ConnectError> + Send + Sync>;

/// What the engine answers a registration with, and how it checks one.
pub(crate) struct Terms {
    pub(crate) engine_name: String,
    pub(crate) engine_version: String,
    pub(crate) request_timeout: Duration,
    pub(crate) registration_timeout: Duration,
    /// Accepts or refuses a registration (name taken, name not the launch name).
    pub(crate) check: NameCheck,
}

/// Why a call to a plugin failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The plugin answered with a Connect error.
    Plugin(ConnectError),
    /// The connection failed before an answer came (the plugin died, or closed it).
    Transport(String),
}

/// A registered plugin's connection.
pub(crate) struct Session {
    yamux: YamuxHandle,
}

impl Session {
    /// Runs yamux on `io`, serves the plugin's streams, and waits (at most the
    /// registration timeout) for a registration `terms` accept.
    pub(crate) async fn establish<T>(io: T, terms: Terms) -> Result<(Session, Registered), String>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (yamux, mut accepted) = YamuxHandle::start(io);
        let (registered_tx, mut registered) = mpsc::channel::<Registered>(1);
        let wait = terms.registration_timeout;
        let shared = Arc::new(Served {
            terms,
            done: Mutex::new(false),
            registered: registered_tx,
        });
        let serving = tokio::spawn(async move {
            while let Some(stream) = accepted.recv().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(shared.route(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream.compat()), service)
                        .await;
                });
            }
        });
        let outcome = tokio::select! {
            r = tokio::time::timeout(wait, registered.recv()) => match r {
                Ok(Some(r)) => Ok(r),
                Ok(None) => Err("the plugin connection ended before it registered".into()),
                Err(_) => Err(format!("plugin registration timed out after {}", human(wait))),
            },
            reason = yamux.closed() => Err(format!("{reason} before it registered")),
        };
        match outcome {
            Ok(r) => {
                // The serving task lives as long as the session: it ends when yamux does.
                drop(serving);
                Ok((Session { yamux }, r))
            }
            Err(e) => {
                serving.abort();
                yamux.close();
                Err(e)
            }
        }
    }

    /// Waits until the connection has ended; why.
    pub(crate) async fn closed(&self) -> String {
        self.yamux.closed().await
    }

    /// Whether the connection has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.yamux.ended().is_some()
    }

    /// Closes the connection (go-away, then the socket).
    pub(crate) fn close(&self) {
        self.yamux.close();
    }

    /// One unary call with the proto codec, under `timeout` (also sent as
    /// `Connect-Timeout-Ms`); the response body.
    pub(crate) async fn call(
        &self,
        path: &'static str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let work = async {
            let stream = self.yamux.open().await.map_err(CallError::Transport)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream.compat()))
                    .await
                    .map_err(|e| CallError::Transport(e.to_string()))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let ms = timeout.as_millis().clamp(1, 9_999_999_999);
            let req = Request::post(path)
                .header(header::HOST, "unix")
                .header(header::CONTENT_TYPE, connect::PROTO)
                .header(header::CONNECTION, "close")
                .header(connect::VERSION_HEADER, "1")
                .header(connect::TIMEOUT_HEADER, ms.to_string())
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| CallError::Transport(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| CallError::Transport(e.to_string()))?;
            let status = resp.status().as_u16();
            let codec = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(Codec::from_content_type);
            let body = Limited::new(resp.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| CallError::Transport(e.to_string()))?
                .to_bytes();
            if status != 200 {
                return Err(CallError::Plugin(ConnectError::from_response(
                    status,
                    codec == Some(Codec::Json),
                    &body,
                )));
            }
            if codec != Some(Codec::Proto) {
                return Err(CallError::Plugin(ConnectError::new(
                    Code::Unknown,
                    "the plugin answered in another codec than application/proto",
                )));
            }
            Ok(body)
        };
        // A stream is not always woken when its connection ends; the session's end is
        // watched directly, so a plugin that dies mid-call fails the call at once.
        let ended = async { CallError::Transport(self.yamux.closed().await) };
        let call = async {
            tokio::select! {
                r = work => r,
                e = ended => Err(e),
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Plugin(ConnectError::new(
                Code::DeadlineExceeded,
                format!("no answer within {}", human(timeout)),
            ))),
        }
    }
}

/// What the streams the plugin opens share.
struct Served {
    terms: Terms,
    /// Only one registration per connection.
    done: Mutex<bool>,
    registered: mpsc::Sender<Registered>,
}

impl Served {
    async fn route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if path == "/health" && req.method() == Method::GET {
            return text(StatusCode::OK, "ok");
        }
        if path != paths::REGISTER_PLUGIN {
            let mut r = error(&ConnectError::new(
                Code::Unimplemented,
                format!("no such method: {path}"),
            ));
            *r.status_mut() = StatusCode::NOT_FOUND;
            return r;
        }
        if req.method() != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only POST is allowed");
        }
        let codec = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Codec::from_content_type);
        if codec != Some(Codec::Proto) {
            return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "use application/proto");
        }
        let body = match Limited::new(req.into_body(), MAX_REGISTRATION)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return error(&ConnectError::new(
                    Code::InvalidArgument,
                    format!("reading the registration: {e}"),
                ));
            }
        };
        match self.register(&body) {
            Ok(r) => {
                let reply = plugins::RegisterPluginResponse {
                    engine_name: self.terms.engine_name.clone(),
                    engine_version: self.terms.engine_version.clone(),
                    request_timeout: Some(ProtoDuration::from_duration(self.terms.request_timeout)),
                };
                // Registered only once the answer is on its way: the plugin's SDK
                // holds our calls until its RegisterPlugin has returned.
                let _ = self.registered.try_send(r);
                let mut resp = Response::new(Full::new(Bytes::from(reply.encode_to_vec())));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(connect::PROTO),
                );
                resp
            }
            Err(e) => error(&e),
        }
    }

    fn register(&self, body: &[u8]) -> Result<Registered, ConnectError> {
        let req = plugins::RegisterPluginRequest::decode(body).map_err(|e| {
            ConnectError::new(
                Code::InvalidArgument,
                format!("malformed registration: {e}"),
            )
        })?;
        let invalid = |m: String| ConnectError::new(Code::InvalidArgument, m);
        if req.name.is_empty() {
            return Err(invalid("the plugin name is empty".into()));
        }
        if !is_semver(&req.version) {
            return Err(invalid(format!(
                "version {:?} is not a v-prefixed semantic version",
                req.version
            )));
        }
        let kind = match req.metadata {
            Some(plugins::RegisterKind::SecretsProvider(p)) => Kind::Provider(
                Pattern::parse(&p.pattern)
                    .map_err(|e| invalid(format!("pattern {:?}: {e}", p.pattern)))?,
            ),
            Some(plugins::RegisterKind::AccessControlModule(_)) => Kind::AccessControl,
            None => return Err(invalid("the registration declares no plugin kind".into())),
        };
        let r = Registered {
            name: req.name,
            version: req.version,
            kind,
        };
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if *done {
            return Err(ConnectError::new(
                Code::AlreadyExists,
                "this connection has already registered a plugin",
            ));
        }
        (self.terms.check)(&r)?;
        *done = true;
        Ok(r)
    }
}

fn text(status: StatusCode, t: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(t.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn error(e: &ConnectError) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(e.to_json())));
    *r.status_mut() =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(connect::JSON),
    );
    r
}

/// `v1`, `v1.2`, `v1.2.3`, with an optional `-pre` and `+build` (golang.org/x/mod/semver).
fn is_semver(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let rest = rest.split_once('+').map_or(rest, |(a, _)| a);
    let (core, pre) = rest
        .split_once('-')
        .map_or((rest, None), |(a, b)| (a, Some(b)));
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    if parts.is_empty() || parts.len() > 3 || !parts.iter().all(numeric) {
        return false;
    }
    if pre.is_some() && parts.len() != 3 {
        return false;
    }
    pre.is_none_or(|p| {
        !p.is_empty()
            && p.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    })
}

pub(crate) fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::is_semver;

    #[test]
    fn versions_are_checked_as_dockers_engine_does() {
        for ok in ["v1", "v1.2", "v1.2.3", "v1.2.3-rc.1", "v0.0.1+build.5"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in ["1.2.3", "v", "v1.2.3.4", "v01.2", "v1.2-rc", "vx"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }
}
