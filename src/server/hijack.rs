//! `GET /hijack` with `Upgrade: tcp`: an external plugin takes the connection over
//! (docs/docker-protocol.md §7.2). The peer has passed the socket's uid check like
//! any client; after `101 Switching Protocols` the connection carries yamux and the
//! plugin registers as a launched one does.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_util::compat::TokioAsyncReadCompatExt;

use crate::engine::Engine;

pub(super) fn hijack(engine: &Engine, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let upgrade_tcp = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if req.method() != hyper::Method::GET || !upgrade_tcp {
        let mut r = Response::new(Full::new(Bytes::from_static(
            b"send GET /hijack with Upgrade: tcp",
        )));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let engine = engine.clone();
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded).compat();
                let host = engine.plugin_host().clone();
                host.accept_external(io, &engine);
            }
            Err(e) => tracing::debug!(error = %e, "hijack: the upgrade failed"),
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    r.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    r
}

/// Who is asking, for access-control modules: the peer's pid (`SO_PEERCRED`), its
/// command name and its executable, as the process table shows them. No signing
/// details are derived.
pub(super) fn requester(peer: &super::Peer) -> crate::api::accesscontrol::Requester {
    let pid = peer.pid;
    let (name, exe) = match pid {
        Some(pid) => (
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|s| s.trim_end().to_owned())
                .unwrap_or_default(),
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    };
    crate::api::accesscontrol::Requester {
        pid,
        name,
        absolute_binary_path: exe,
    }
}
