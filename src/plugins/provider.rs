//! A plugin as the engine sees it: a [`Resolver`] whose answers come over the
//! plugin's connection, and the plugin's live status (running, starting, crashed with
//! a reason), which [`Engine::plugins`](crate::Engine::plugins) reports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use prost::Message;
use tokio::sync::{Notify, watch};

use super::session::{CallError, Kind, Session, human};
use crate::api::connect::Code;
use crate::api::{paths, resolver};
use crate::envelope::Envelope;
use crate::error::Error;
use crate::pattern::Pattern;
use crate::resolver::Resolver;

/// A plugin's live status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// Launched (or connected), not registered yet.
    Starting,
    /// Registered; answers lookups.
    Running,
    /// Down, and why (with what happens next: a restart, or nothing).
    Crashed(String),
    /// Stopped with the engine.
    Stopped,
}

struct Live {
    session: Option<Arc<Session>>,
    status: Status,
    version: String,
    /// What it last registered as in this run; `None` until its first registration.
    kind: Option<Kind>,
}

/// One plugin's shared state: what the supervisor (or the external connection's
/// task) updates and the resolver reads.
pub(crate) struct Cell {
    pub(crate) name: String,
    pub(crate) external: bool,
    live: Mutex<Live>,
    changed: watch::Sender<u64>,
    /// Asks the supervisor to (re)start now: `enable`.
    pub(crate) kick: Notify,
    /// Asks the supervisor to stop the plugin: `disable`.
    pub(crate) pause: Notify,
    /// Cleared by `disable`, set by `enable`: the engine sets the provider's state
    /// only after `enable` has seen the plugin register, so the supervisor cannot
    /// go by that state while it runs.
    pub(crate) wanted: std::sync::atomic::AtomicBool,
    /// Held while the plugin's routing and registration change together, so the end
    /// of the startup window cannot unroute a plugin registering at that moment.
    routing: Mutex<()>,
    /// The kind persisted in the config file: whether it last registered (in this
    /// run or an earlier one) as an access-control module.
    pub(crate) saved_access_control: std::sync::atomic::AtomicBool,
}

impl Cell {
    pub(crate) fn new(name: &str, external: bool) -> Arc<Cell> {
        Arc::new(Cell {
            name: name.to_owned(),
            external,
            live: Mutex::new(Live {
                session: None,
                status: Status::Starting,
                version: String::new(),
                kind: None,
            }),
            changed: watch::channel(0).0,
            kick: Notify::new(),
            pause: Notify::new(),
            wanted: std::sync::atomic::AtomicBool::new(true),
            routing: Mutex::new(()),
            saved_access_control: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn routing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.routing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn status(&self) -> Status {
        self.live().status.clone()
    }

    pub(crate) fn version(&self) -> String {
        self.live().version.clone()
    }

    pub(crate) fn session(&self) -> Option<Arc<Session>> {
        self.live().session.clone()
    }

    pub(crate) fn set(&self, status: Status, session: Option<Arc<Session>>) {
        {
            let mut live = self.live();
            live.status = status;
            live.session = session;
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether it last registered as an access-control module.
    pub(crate) fn is_access_control(&self) -> bool {
        self.live().kind == Some(Kind::AccessControl)
    }

    /// Whether it is to be taken as an access-control module: its kind in this run
    /// once it has registered, else the kind persisted from an earlier run.
    pub(crate) fn is_policy(&self) -> bool {
        match &self.live().kind {
            Some(kind) => *kind == Kind::AccessControl,
            None => self
                .saved_access_control
                .load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Whether it has registered in this run, so its kind is known.
    pub(crate) fn has_registered(&self) -> bool {
        self.live().kind.is_some()
    }

    /// The pattern it declared at its last registration, if it is a provider.
    pub(crate) fn declared(&self) -> Option<Pattern> {
        match &self.live().kind {
            Some(Kind::Provider(p)) => Some(p.clone()),
            _ => None,
        }
    }

    pub(crate) fn running(&self, session: Arc<Session>, version: String, kind: Kind) {
        {
            let mut live = self.live();
            live.version = version;
            live.kind = Some(kind);
        }
        self.set(Status::Running, Some(session));
    }

    /// Marks the plugin down, unless `session` has been replaced meanwhile (the
    /// supervisor already relaunched it).
    fn crashed_if_current(&self, session: &Arc<Session>, reason: String) {
        let current = self.session().is_some_and(|s| Arc::ptr_eq(&s, session));
        if current {
            self.crashed(reason);
        }
    }

    pub(crate) fn crashed(&self, reason: String) {
        tracing::warn!(plugin = %self.name, %reason, "plugin down");
        self.set(Status::Crashed(reason), None);
    }

    /// Waits (at most `limit`) until the plugin has registered or failed; its status
    /// then.
    pub(crate) async fn settled(&self, limit: Duration) -> Status {
        let mut rx = self.changed.subscribe();
        let _ = tokio::time::timeout(limit, async {
            loop {
                if matches!(self.status(), Status::Running | Status::Crashed(_)) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        self.status()
    }
}

/// The [`Resolver`] the engine asks for a plugin.
pub(crate) struct PluginResolver {
    pub(crate) cell: Arc<Cell>,
    /// The registration's `request_timeout`: how long one call may take.
    pub(crate) request_timeout: Duration,
    /// How long `enable` waits for a (re)started plugin to register.
    pub(crate) start_timeout: Duration,
}

#[async_trait]
impl Resolver for PluginResolver {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let name = &self.cell.name;
        if self.cell.is_access_control() {
            // A module holds no secrets; it is asked before lookups instead.
            return Ok(Vec::new());
        }
        let Some(session) = self.cell.session() else {
            let why = match self.cell.status() {
                Status::Crashed(reason) => format!("plugin {name} has crashed: {reason}"),
                Status::Stopped => format!("plugin {name} has stopped"),
                _ => format!("plugin {name} has not registered yet"),
            };
            return Err(Error::Unavailable { reason: why });
        };
        // As Docker's engine (`Filter(pluginPattern, requested)`): the narrower of the
        // two when one includes the other, so a `vault/**` plugin asked for `**` is
        // asked for `vault/**`; otherwise the request as it is.
        let sent = match self.cell.declared() {
            Some(declared) if pattern.includes(&declared) => declared,
            _ => pattern.clone(),
        };
        let req = resolver::GetSecretsRequest {
            pattern: sent.to_string(),
        };
        let outcome = session
            .call(
                paths::GET_SECRETS,
                req.encode_to_vec(),
                self.request_timeout,
            )
            .await;
        let body = match outcome {
            Ok(body) => body,
            Err(CallError::Plugin(c)) => {
                return match c.code {
                    // A plugin's not_found is "nothing here", like any provider's.
                    Code::NotFound => Ok(Vec::new()),
                    Code::DeadlineExceeded => Err(Error::Timeout {
                        after: self.request_timeout,
                    }),
                    Code::Unavailable => Err(Error::Unavailable {
                        reason: format!("plugin {name}: {}", c.message),
                    }),
                    _ => Err(Error::Backend {
                        message: format!("plugin {name} answered {c}"),
                    }),
                };
            }
            Err(CallError::Transport(e)) => {
                // A plugin that died mid-call shows as crashed from now on, not only
                // once its supervisor has seen the exit.
                let ended = tokio::time::timeout(Duration::from_millis(500), session.closed());
                if ended.await.is_ok() {
                    self.cell.crashed_if_current(
                        &session,
                        format!("the plugin failed during a request: {e}"),
                    );
                }
                return Err(Error::Unavailable {
                    reason: format!(
                        "plugin {name} failed during the request (it crashed or closed its connection): {e}"
                    ),
                });
            }
        };
        let decoded = resolver::GetSecretsResponse::decode(body.as_ref());
        if let Ok(mut owned) = body.try_into_mut() {
            zeroize::Zeroize::zeroize(&mut owned[..]);
        }
        let mut response = decoded.map_err(|e| Error::Backend {
            message: format!("plugin {name} sent a malformed answer: {e}"),
        })?;
        let out = crate::client::envelopes_from_wire(&mut response.envelopes);
        for e in &mut response.envelopes {
            e.wipe();
        }
        Ok(out)
    }

    fn crash_reason(&self) -> Option<String> {
        match self.cell.status() {
            Status::Running => None,
            Status::Starting => Some("starting: not registered yet".into()),
            Status::Crashed(reason) => Some(reason),
            Status::Stopped => Some("stopped".into()),
        }
    }

    /// `enable`: (re)starts a launched plugin now and waits for it to register.
    async fn reinitialize(&self) -> Result<(), Error> {
        // Wanted again before anything else: a `disable` whose stop is still under
        // way (status still Running) must not go on to stop it after this `enable`.
        self.cell
            .wanted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if self.cell.status() == Status::Running {
            return Ok(());
        }
        if self.cell.external {
            return Err(Error::Unavailable {
                reason: format!(
                    "plugin {} is external: it runs again when it connects again",
                    self.cell.name
                ),
            });
        }
        self.cell.set(Status::Starting, None);
        self.cell.kick.notify_one();
        match self.cell.settled(self.start_timeout).await {
            Status::Running => Ok(()),
            Status::Crashed(reason) => Err(Error::Unavailable { reason }),
            _ => Err(Error::Timeout {
                after: self.start_timeout,
            }),
        }
    }
}

impl std::fmt::Debug for PluginResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginResolver")
            .field("name", &self.cell.name)
            .field("request_timeout", &human(self.request_timeout))
            .finish()
    }
}
