//! Hosting plugins built with Docker's plugin SDK (`github.com/docker/secrets-engine/plugin`)
//! as providers (cargo feature `docker-plugins`, Unix).
//!
//! A **launched** plugin is a binary the engine starts
//! ([`EngineBuilder::plugin`](crate::EngineBuilder::plugin)) with one end of a
//! socketpair as its fd 3 and `DOCKER_SECRETS_ENGINE_PLUGIN_LAUNCH_CFG`; an
//! **external** plugin dials the engine socket and sends `GET /hijack`
//! ([`EngineServer`](crate::server::EngineServer) answers `101`). Either way the
//! connection carries yamux (the engine is the yamux server, as Docker's is), the
//! plugin registers with `plugins.v1.RegisterService/RegisterPlugin`, and the engine
//! then calls its `resolver.v1.ResolverService/GetSecrets`, and
//! `plugins.v1.PluginService/Shutdown` when it stops.
//!
//! Each registered plugin is a provider named after the plugin, routed by the pattern
//! it declared, under the `request_timeout` the engine announced at registration
//! ([`PluginOptions::request_timeout`]). A launched plugin that fails (exits, closes
//! its connection, never registers) is reported crashed with the reason and restarted
//! after a bounded exponential backoff; lookups meanwhile fail with
//! [`Error::Unavailable`](crate::Error::Unavailable), never "not found".
//!
//! A plugin that registers as an access-control module (`accesscontrol.v1`) holds no
//! secrets; the socket server asks it `CheckAccess` before each client's `GetSecrets`,
//! and a deny, a failure or a module that is down refuses the request
//! (docs/design.md §14).

mod host;
mod launch;
mod provider;
mod session;
mod yamux_conn;

use std::time::Duration;

pub(crate) use host::{PluginHost, name_from_path};
pub use launch::LAUNCH_ENV_NAME;

/// `<config dir>/secrets-engine/plugins`, where `docker-pass engine serve` finds the
/// plugin binaries it launches (each executable file there): beside the config file
/// of [`ConfigLocation::Default`](crate::ConfigLocation::Default), honouring
/// `SECRETS_ENGINE_CONFIG`'s directory when it is set.
pub fn plugin_dir() -> Option<std::path::PathBuf> {
    crate::ConfigLocation::Default
        .resolve()
        .and_then(|p| p.parent().map(|d| d.join("plugins")))
}

/// The engine name sent to plugins at registration.
pub(crate) const ENGINE_NAME: &str = "docker-pass";

/// How plugins are supervised.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PluginOptions {
    /// How long a plugin has to register once launched (or connected); sent to
    /// launched plugins as the launch configuration's `timeout`. Default 5 s, as
    /// Docker's engine.
    pub registration_timeout: Duration,
    /// The deadline of one call to a plugin, announced to it at registration as
    /// `request_timeout` and sent with each call as `Connect-Timeout-Ms`. Default 30 s.
    pub request_timeout: Duration,
    /// Each step of stopping a plugin (`Shutdown`, then SIGINT before SIGKILL).
    /// Default 2 s, as Docker's engine.
    pub shutdown_timeout: Duration,
    /// The wait before the first restart of a failed launched plugin; each further
    /// failure in a row doubles it, up to [`max_restart_delay`](Self::max_restart_delay).
    /// Default 2 s.
    pub restart_delay: Duration,
    /// The longest wait between restarts. Default 60 s.
    pub max_restart_delay: Duration,
    /// Failures in a row after which a launched plugin is left crashed until it is
    /// enabled again. A registration resets the count. Default 10.
    pub max_restarts: u32,
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            registration_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(2),
            restart_delay: Duration::from_secs(2),
            max_restart_delay: Duration::from_secs(60),
            max_restarts: 10,
        }
    }
}

impl PluginOptions {
    /// The wait before restart number `failures` (1-based).
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        self.restart_delay
            .saturating_mul(factor)
            .min(self.max_restart_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let o = PluginOptions::default();
        let waits: Vec<u64> = (1..=8).map(|n| o.backoff(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(o.backoff(u32::MAX), Duration::from_secs(60));
    }
}
