//! The hook behind `AuthorizerService/Authorize`: who may read which patterns.

use std::time::{Duration, SystemTime};

use crate::pattern::Pattern;

/// The process on the other end of a connection, from the socket's peer credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its user id.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
    /// Its process id, where the OS reports one.
    pub pid: Option<i32>,
}

/// A policy's answer to an `Authorize` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeDecision {
    /// Allowed until the given time.
    Allow {
        /// When the client should ask again.
        until: SystemTime,
    },
    /// Denied; the client gets `permission_denied` with this reason.
    Deny {
        /// Why (shown to the client; no secret material).
        reason: String,
    },
}

/// Decides `Authorize` calls. The default, [`AllowAll`], allows every peer the server
/// accepted (a peer with another uid never gets this far).
pub trait AuthorizePolicy: Send + Sync + 'static {
    /// Whether `peer` may read `patterns` (all valid, at least one).
    fn authorize(&self, peer: &Peer, patterns: &[Pattern]) -> AuthorizeDecision;
}

/// Allows everything, for [`AllowAll::validity`] from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowAll {
    /// How long an answer holds.
    pub validity: Duration,
}

impl Default for AllowAll {
    /// Ten minutes.
    fn default() -> Self {
        AllowAll {
            validity: Duration::from_secs(600),
        }
    }
}

impl AuthorizePolicy for AllowAll {
    fn authorize(&self, _: &Peer, _: &[Pattern]) -> AuthorizeDecision {
        AuthorizeDecision::Allow {
            until: SystemTime::now() + self.validity,
        }
    }
}
