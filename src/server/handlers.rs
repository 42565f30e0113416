//! One request: the Connect unary framing (method, codec, deadline, size cap, error
//! bodies) written once, then the method it names.
//!
//! New routes go in [`State::route`]: `/hijack` (external plugins) will sit beside
//! `/health`, before the Connect methods.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use prost::Message;
use zeroize::Zeroizing;

use super::policy::{AuthorizeDecision, AuthorizePolicy, Peer};
use super::{ServerOptions, Stop, version_string};
use crate::api::connect::{self, Code, Codec, ConnectError};
use crate::api::{Timestamp, health, json, paths, plugins, resolver};
use crate::client::EngineVersion;
use crate::engine::{Engine, ProviderState};
use crate::error::{Error, ErrorKind};
use crate::pattern::Pattern;

pub(super) type Body = Full<Bytes>;

/// What every connection of a server shares.
pub(super) struct State {
    pub(super) engine: Engine,
    pub(super) policy: Arc<dyn AuthorizePolicy>,
    pub(super) version: EngineVersion,
    pub(super) options: ServerOptions,
    /// The server's stop, so a request still running when the grace ends can answer.
    pub(super) stopping: tokio::sync::watch::Receiver<Stop>,
}

/// The Connect methods served.
#[derive(Debug, Clone, Copy)]
enum Rpc {
    GetSecrets,
    Authorize,
    ListPlugins,
    EnablePlugin,
    DisablePlugin,
    GetVersion,
}

impl Rpc {
    fn from_path(path: &str) -> Option<Rpc> {
        Some(match path {
            paths::GET_SECRETS => Rpc::GetSecrets,
            paths::AUTHORIZE => Rpc::Authorize,
            paths::LIST_PLUGINS => Rpc::ListPlugins,
            paths::ENABLE_PLUGIN => Rpc::EnablePlugin,
            paths::DISABLE_PLUGIN => Rpc::DisablePlugin,
            paths::GET_VERSION => Rpc::GetVersion,
            _ => return None,
        })
    }
}

/// A response body; one holding secret values is zeroed when hyper drops it.
enum Payload {
    Plain(Vec<u8>),
    Secret(Zeroizing<Vec<u8>>),
}

impl Payload {
    fn into_bytes(self) -> Bytes {
        match self {
            Payload::Plain(v) => Bytes::from(v),
            Payload::Secret(v) => Bytes::from_owner(v),
        }
    }
}

fn error_response(e: &ConnectError) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(e.to_json())));
    *r.status_mut() =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(connect::JSON),
    );
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

impl State {
    pub(super) async fn route(&self, req: Request<Incoming>, peer: Peer) -> Response<Body> {
        if req.uri().path() == "/health" && req.method() == Method::GET {
            return plain(StatusCode::OK, "ok");
        }
        #[cfg(feature = "docker-plugins")]
        if req.uri().path() == "/hijack" {
            return super::hijack::hijack(&self.engine, req);
        }
        let Some(method) = Rpc::from_path(req.uri().path()) else {
            let e = ConnectError::new(
                Code::Unimplemented,
                format!("no such method: {}", req.uri().path()),
            );
            let mut r = error_response(&e);
            // What a connect-go server answers for an unknown path.
            *r.status_mut() = StatusCode::NOT_FOUND;
            return r;
        };
        if req.method() != Method::POST {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only POST is allowed");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        let codec = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Codec::from_content_type);
        let Some(codec) = codec else {
            let mut r = plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "use application/proto or application/json",
            );
            r.headers_mut().insert(
                "accept-post",
                HeaderValue::from_static("application/json, application/proto"),
            );
            return r;
        };
        match self.unary(req, method, codec, peer).await {
            Ok(payload) => {
                let mut r = Response::new(Full::new(payload.into_bytes()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(codec.content_type()),
                );
                r
            }
            Err(e) => error_response(&e),
        }
    }

    async fn unary(
        &self,
        req: Request<Incoming>,
        method: Rpc,
        codec: Codec,
        peer: Peer,
    ) -> Result<Payload, ConnectError> {
        let h = req.headers();
        if let Some(v) = h.get(connect::VERSION_HEADER)
            && v.as_bytes() != b"1"
        {
            return Err(ConnectError::new(
                Code::InvalidArgument,
                "connect-protocol-version must be 1",
            ));
        }
        if let Some(enc) = h.get(header::CONTENT_ENCODING)
            && enc.as_bytes() != b"identity"
        {
            return Err(ConnectError::new(
                Code::Unimplemented,
                "compressed requests are not supported",
            ));
        }
        let mut deadline = self.options.request_timeout;
        if let Some(v) = h.get(connect::TIMEOUT_HEADER) {
            let asked = connect::parse_timeout(v.as_bytes()).ok_or_else(|| {
                ConnectError::new(
                    Code::InvalidArgument,
                    "connect-timeout-ms is not 1 to 10 digits",
                )
            })?;
            deadline = deadline.min(asked);
        }
        let max = self.options.max_request_bytes;
        let too_large = || {
            ConnectError::new(
                Code::ResourceExhausted,
                format!("the request is larger than {max} bytes"),
            )
        };
        if let Some(len) = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            && len > max as u64
        {
            return Err(too_large());
        }
        let work = async {
            let body = Limited::new(req.into_body(), max)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        too_large()
                    } else {
                        ConnectError::new(Code::Canceled, format!("reading the request: {e}"))
                    }
                })?
                .to_bytes();
            self.call(method, codec, &body, peer).await
        };
        let mut stopping = self.stopping.clone();
        let abandoned = async move {
            // The sender lives as long as `serve`; once it is gone nobody reads the answer.
            if stopping
                .wait_for(|s| matches!(s, Stop::Abandon | Stop::Now))
                .await
                .is_err()
            {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            r = tokio::time::timeout(deadline, work) => match r {
                Ok(r) => r,
                Err(_) => Err(ConnectError::new(
                    Code::DeadlineExceeded,
                    format!(
                        "no answer within the request's deadline ({})",
                        human(deadline)
                    ),
                )),
            },
            () = abandoned => Err(ConnectError::new(
                Code::Unavailable,
                format!(
                    "the engine is stopping: the request did not finish within the shutdown grace ({})",
                    human(self.options.shutdown_grace)
                ),
            )),
        }
    }

    async fn call(
        &self,
        method: Rpc,
        codec: Codec,
        body: &[u8],
        peer: Peer,
    ) -> Result<Payload, ConnectError> {
        let bad = |m: String| ConnectError::new(Code::InvalidArgument, m);
        let proto = |e: prost::DecodeError| bad(format!("invalid protobuf request: {e}"));
        match method {
            Rpc::GetSecrets => {
                let req = match codec {
                    Codec::Proto => resolver::GetSecretsRequest::decode(body).map_err(proto)?,
                    Codec::Json => json::get_secrets_request(body).map_err(bad)?,
                };
                let mut resp = self.get_secrets(&req.pattern, &peer).await?;
                let out = match codec {
                    Codec::Proto => Zeroizing::new(resp.encode_to_vec()),
                    Codec::Json => json::get_secrets_response(&resp),
                };
                resp.envelopes.iter_mut().for_each(resolver::Envelope::wipe);
                Ok(Payload::Secret(out))
            }
            Rpc::Authorize => {
                let req = match codec {
                    Codec::Proto => resolver::AuthorizeRequest::decode(body).map_err(proto)?,
                    Codec::Json => json::authorize_request(body).map_err(bad)?,
                };
                let resp = self.authorize(&req.patterns, &peer)?;
                Ok(Payload::Plain(match codec {
                    Codec::Proto => resp.encode_to_vec(),
                    Codec::Json => json::authorize_response(&resp),
                }))
            }
            Rpc::ListPlugins => {
                match codec {
                    Codec::Proto => plugins::ListPluginsRequest::decode(body)
                        .map(|_| ())
                        .map_err(proto)?,
                    Codec::Json => json::empty(body).map_err(bad)?,
                }
                let resp = self.list_plugins();
                Ok(Payload::Plain(match codec {
                    Codec::Proto => resp.encode_to_vec(),
                    Codec::Json => json::list_plugins_response(&resp),
                }))
            }
            Rpc::EnablePlugin | Rpc::DisablePlugin => {
                let req = match codec {
                    Codec::Proto => plugins::PluginName::decode(body).map_err(proto)?,
                    Codec::Json => json::plugin_name(body).map_err(bad)?,
                };
                let outcome = if matches!(method, Rpc::EnablePlugin) {
                    self.engine.enable(&req.name).await
                } else {
                    self.engine.disable(&req.name)
                };
                outcome.map_err(|e| plugin_error(&req.name, e))?;
                Ok(Payload::Plain(match codec {
                    Codec::Proto => Vec::new(),
                    Codec::Json => b"{}".to_vec(),
                }))
            }
            Rpc::GetVersion => {
                match codec {
                    Codec::Proto => plugins::Empty::decode(body).map(|_| ()).map_err(proto)?,
                    Codec::Json => json::empty(body).map_err(bad)?,
                }
                let resp = health::GetVersionResponse {
                    version: self.version.version.clone(),
                    date: self.version.date.clone(),
                    commit_hash: self.version.commit.clone(),
                };
                Ok(Payload::Plain(match codec {
                    Codec::Proto => resp.encode_to_vec(),
                    Codec::Json => json::get_version_response(&resp),
                }))
            }
        }
    }

    async fn get_secrets(
        &self,
        pattern: &str,
        peer: &Peer,
    ) -> Result<resolver::GetSecretsResponse, ConnectError> {
        let pattern = Pattern::parse(pattern)
            .map_err(|e| ConnectError::new(Code::InvalidArgument, e.to_string()))?;
        #[cfg(feature = "docker-plugins")]
        self.engine
            .plugin_host()
            .check_access(&self.engine, &pattern, super::hijack::requester(peer))
            .await
            .map_err(|m| ConnectError::new(Code::PermissionDenied, m))?;
        #[cfg(not(feature = "docker-plugins"))]
        let _ = peer;
        let resolution = self
            .engine
            .get_secrets(&pattern)
            .await
            .map_err(|e| lookup_error(&pattern, &e))?;
        let (envelopes, failures) = resolution.into_parts();
        for f in &failures {
            tracing::warn!(%pattern, provider = %f.provider, error = %f.error, "a provider failed beside others that answered");
        }
        let envelopes = envelopes
            .into_iter()
            .map(|e| resolver::Envelope {
                id: e.id().to_string(),
                provider: e.provider().to_owned(),
                version: e.version().unwrap_or_default().to_owned(),
                created_at: Some(Timestamp::from_option(e.created_at())),
                resolved_at: Some(Timestamp::from_time(e.resolved_at())),
                expires_at: Some(Timestamp::from_option(e.expires_at())),
                metadata: e.metadata().clone(),
                // The envelope's own buffer is zeroed when it drops here.
                value: e.into_value().into_bytes(),
            })
            .collect();
        Ok(resolver::GetSecretsResponse { envelopes })
    }

    fn authorize(
        &self,
        patterns: &[String],
        peer: &Peer,
    ) -> Result<resolver::AuthorizeResponse, ConnectError> {
        if patterns.is_empty() {
            return Err(ConnectError::new(
                Code::InvalidArgument,
                "at least one pattern is required",
            ));
        }
        let parsed = patterns
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConnectError::new(Code::InvalidArgument, e.to_string()))?;
        match self.policy.authorize(peer, &parsed) {
            AuthorizeDecision::Allow { until } => Ok(resolver::AuthorizeResponse {
                decision: resolver::Decision::Allow as i32,
                expires_at: Some(Timestamp::from_time(until)),
            }),
            AuthorizeDecision::Deny { reason } => {
                Err(ConnectError::new(Code::PermissionDenied, reason))
            }
        }
    }

    fn list_plugins(&self) -> plugins::ListPluginsResponse {
        let version = version_string();
        let plugins = self
            .engine
            .plugins()
            .into_iter()
            .map(|p| {
                let (status, message) = match &p.state {
                    ProviderState::Running => (plugins::RunStatus::Running, String::new()),
                    ProviderState::Locked => (
                        plugins::RunStatus::Running,
                        "locked: lookups of ids it holds fail until it is unlocked".to_owned(),
                    ),
                    ProviderState::Disabled => (plugins::RunStatus::Stopped, String::new()),
                    ProviderState::Crashed(reason) => (plugins::RunStatus::Crashed, reason.clone()),
                };
                #[cfg(feature = "docker-plugins")]
                let (version, external, module) = self
                    .engine
                    .plugin_host()
                    .describe(&p.name)
                    .unwrap_or_else(|| (version.clone(), false, false));
                #[cfg(not(feature = "docker-plugins"))]
                let (version, external, module) = (version.clone(), false, false);
                plugins::Plugin {
                    name: p.name,
                    version,
                    disabled: p.state == ProviderState::Disabled,
                    external,
                    configurable: p.configurable,
                    run_status: status as i32,
                    status_message: message,
                    metadata: Some(if module {
                        plugins::PluginKind::AccessControlModule(plugins::AccessControlModule {})
                    } else {
                        plugins::PluginKind::SecretsProvider(plugins::SecretsProvider {
                            pattern: p.pattern.to_string(),
                        })
                    }),
                }
            })
            .collect();
        plugins::ListPluginsResponse { plugins }
    }
}

/// The Connect error for a failed lookup: `not_found` only when every provider asked
/// answered and nothing matched; a provider's failure keeps its own code and message.
fn lookup_error(pattern: &Pattern, e: &Error) -> ConnectError {
    let code = match e.kind() {
        ErrorKind::NotFound | ErrorKind::NoProvider => Code::NotFound,
        ErrorKind::InvalidPattern => Code::InvalidArgument,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Locked => Code::FailedPrecondition,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        _ => Code::Internal,
    };
    let message = match code {
        Code::NotFound => e.to_string(),
        _ if e.kind() == ErrorKind::Locked => format!(
            "{}failed to get secret {:?}: {e}",
            connect::LOCKED_PREFIX,
            pattern.as_str()
        ),
        _ => format!("failed to get secret {:?}: {e}", pattern.as_str()),
    };
    ConnectError::new(code, message)
}

/// The same rules as `docker-pass plugins enable|disable`.
fn plugin_error(name: &str, e: Error) -> ConnectError {
    let code = match e.kind() {
        ErrorKind::UnknownProvider => Code::NotFound,
        ErrorKind::NotConfigurable => Code::FailedPrecondition,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        _ => Code::Internal,
    };
    let message = match code {
        Code::NotFound | Code::FailedPrecondition => e.to_string(),
        _ => format!("plugin {name:?}: {e}"),
    };
    ConnectError::new(code, message)
}

fn human(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}
