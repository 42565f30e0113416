//! The plugin host: supervises launched plugins (start, registration, restart with a
//! bounded backoff, stop) and takes in external ones (after `GET /hijack`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::compat::TokioAsyncReadCompatExt;

use super::PluginOptions;
use super::launch::{Launched, launch};
use super::provider::{Cell, PluginResolver, Status};
use super::session::{Kind, Registered, Session, Terms, human};
use crate::api::paths;
use crate::engine::{Engine, ProviderState, Registration, WeakEngine};
use crate::pattern::Pattern;

/// A plugin binary the engine launches.
pub(crate) struct LaunchedPlugin {
    pub(crate) path: PathBuf,
    pub(crate) cell: Arc<Cell>,
}

/// Every plugin of one engine.
pub(crate) struct PluginHost {
    pub(crate) options: PluginOptions,
    pub(crate) launched: Vec<LaunchedPlugin>,
    externals: Mutex<HashMap<String, Arc<Cell>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    stop: watch::Sender<bool>,
    started: std::sync::atomic::AtomicBool,
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        // Aborting a supervisor drops its process handle, which kills the plugin's
        // process group: an engine dropped without `stop_plugins` leaves no orphans.
        for t in self
            .tasks
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// The name a launched plugin gets from its file: the file name without `.exe`.
pub(crate) fn name_from_path(path: &std::path::Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    Some(file.strip_suffix(".exe").unwrap_or(file).to_owned())
}

impl PluginHost {
    pub(crate) fn new(options: PluginOptions, paths: Vec<PathBuf>) -> PluginHost {
        let launched = paths
            .into_iter()
            .map(|path| {
                let name = name_from_path(&path).unwrap_or_default();
                LaunchedPlugin {
                    cell: Cell::new(&name, false),
                    path,
                }
            })
            .collect();
        PluginHost {
            options,
            launched,
            externals: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            stop: watch::channel(false).0,
            started: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The registration of a launched plugin: pattern `**` until it declares its own
    /// (see docs/design.md §14).
    pub(crate) fn registration(&self, p: &LaunchedPlugin) -> Registration {
        Registration::resolver(
            &p.cell.name,
            Pattern::parse("**").expect("a valid pattern"),
            self.resolver(&p.cell),
        )
        .deadline(self.options.request_timeout)
    }

    fn resolver(&self, cell: &Arc<Cell>) -> Arc<PluginResolver> {
        Arc::new(PluginResolver {
            cell: cell.clone(),
            request_timeout: self.options.request_timeout,
            start_timeout: self.options.registration_timeout + Duration::from_secs(2),
        })
    }

    /// For a plugin of this host: its version, whether it is external, whether it is
    /// an access-control module.
    pub(crate) fn describe(&self, name: &str) -> Option<(String, bool, bool)> {
        if let Some(p) = self.launched.iter().find(|p| p.cell.name == name) {
            return Some((p.cell.version(), false, p.cell.is_access_control()));
        }
        let externals = self.externals.lock().unwrap_or_else(|e| e.into_inner());
        externals
            .get(name)
            .map(|c| (c.version(), true, c.is_access_control()))
    }

    /// Asks every access-control module whether `requester` may look `pattern` up;
    /// the first that denies, fails or is down refuses (a module that is configured
    /// but cannot answer must not let everything through). Disabled modules are not
    /// asked.
    pub(crate) async fn check_access(
        &self,
        engine: &Engine,
        pattern: &Pattern,
        requester: crate::api::accesscontrol::Requester,
    ) -> Result<(), String> {
        use crate::api::accesscontrol::{ALLOW, CheckAccessRequest, CheckAccessResponse};
        let cells: Vec<Arc<Cell>> = {
            let externals = self.externals.lock().unwrap_or_else(|e| e.into_inner());
            self.launched
                .iter()
                .map(|p| p.cell.clone())
                .chain(externals.values().cloned())
                .filter(|c| c.is_access_control())
                .filter(|c| engine.slot_state(&c.name) != Some(ProviderState::Disabled))
                .collect()
        };
        let req = prost::Message::encode_to_vec(&CheckAccessRequest {
            pattern: pattern.to_string(),
            requester: Some(requester),
        });
        for cell in cells {
            let name = &cell.name;
            let Some(session) = cell.session() else {
                return Err(format!("access-control module {name} is down"));
            };
            let body = session
                .call(
                    paths::CHECK_ACCESS,
                    req.clone(),
                    self.options.request_timeout,
                )
                .await
                .map_err(|e| format!("access-control module {name} failed: {e:?}"))?;
            let resp =
                <CheckAccessResponse as prost::Message>::decode(body.as_ref()).map_err(|e| {
                    format!("access-control module {name} sent a malformed answer: {e}")
                })?;
            if resp.decision != ALLOW {
                return Err(format!("denied by access-control module {name}"));
            }
        }
        Ok(())
    }

    fn track(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Launches every plugin (a disabled one waits until enabled) and waits until
    /// each has registered or failed, at most the registration timeout and 2 s.
    pub(crate) async fn start(&self, engine: &Engine) {
        if self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        for p in &self.launched {
            let task = tokio::spawn(supervise(
                p.path.clone(),
                p.cell.clone(),
                self.options.clone(),
                engine.downgrade(),
                self.stop.subscribe(),
            ));
            self.track(task);
        }
        let limit = self.options.registration_timeout + Duration::from_secs(2);
        let waits = self.launched.iter().filter_map(|p| {
            let disabled = engine.slot_state(&p.cell.name) == Some(ProviderState::Disabled);
            (!disabled).then(|| p.cell.settled(limit))
        });
        futures_util::future::join_all(waits).await;
    }

    /// Stops every plugin: `Shutdown`, then the connection, then (launched) the
    /// process; returns when all are gone or the bound passed.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let bound = self.options.shutdown_timeout * 3 + Duration::from_secs(1);
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        if tokio::time::timeout(bound, futures_util::future::join_all(tasks))
            .await
            .is_err()
        {
            for a in aborts {
                a.abort();
            }
        }
    }

    /// Takes in a plugin that connected on its own (after `GET /hijack`).
    pub(crate) fn accept_external<T>(self: &Arc<Self>, io: T, engine: &Engine)
    where
        T: futures_util::io::AsyncRead + futures_util::io::AsyncWrite + Unpin + Send + 'static,
    {
        if *self.stop.borrow() {
            return;
        }
        let host = self.clone();
        let weak = engine.downgrade();
        let mut stop = self.stop.subscribe();
        let task = tokio::spawn(async move {
            let check_host = host.clone();
            let check_engine = weak.clone();
            let terms = Terms {
                engine_name: super::ENGINE_NAME.into(),
                engine_version: crate::server::version_string(),
                request_timeout: host.options.request_timeout,
                registration_timeout: host.options.registration_timeout,
                check: Box::new(move |r: &Registered| check_host.may_take(&check_engine, &r.name)),
            };
            let established = tokio::select! {
                r = Session::establish(io, terms) => r,
                () = stopped(&mut stop) => return,
            };
            let (session, reg) = match established {
                Ok(s) => s,
                Err(reason) => {
                    tracing::warn!(%reason, "external plugin not registered");
                    return;
                }
            };
            let session = Arc::new(session);
            let Some(engine) = weak.upgrade() else { return };
            let cell = match host.attach_external(&engine, &reg, &session) {
                Ok(cell) => cell,
                Err(e) => {
                    tracing::warn!(plugin = %reg.name, error = %e, "external plugin refused");
                    session.close();
                    return;
                }
            };
            drop(engine);
            tracing::info!(plugin = %reg.name, kind = ?reg.kind, "external plugin registered");
            tokio::select! {
                reason = session.closed() => {
                    cell.crashed(format!("external plugin disconnected: {reason}"));
                }
                () = stopped(&mut stop) => {
                    shutdown(&session, host.options.shutdown_timeout).await;
                    cell.set(Status::Stopped, None);
                }
            }
        });
        self.track(task);
    }

    /// Whether an external plugin may register as `name`: a new name, or that of an
    /// external plugin that is not connected now.
    fn may_take(&self, engine: &WeakEngine, name: &str) -> Result<(), String> {
        crate::engine::check_name(name)?;
        let externals = self.externals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = externals.get(name) {
            return match cell.session() {
                Some(s) if !s.is_closed() => {
                    Err(format!("a plugin named {name} is already connected"))
                }
                _ => Ok(()),
            };
        }
        match engine.upgrade() {
            Some(e) if e.slot_state(name).is_some() => {
                Err(format!("the name {name} is taken by another provider"))
            }
            Some(_) => Ok(()),
            None => Err("the engine is stopping".into()),
        }
    }

    fn attach_external(
        &self,
        engine: &Engine,
        reg: &Registered,
        session: &Arc<Session>,
    ) -> Result<Arc<Cell>, crate::Error> {
        let existing = self
            .externals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&reg.name)
            .cloned();
        let cell = match existing {
            Some(cell) => {
                engine.replace_pattern(&reg.name, reg.pattern())?;
                cell
            }
            None => {
                let cell = Cell::new(&reg.name, true);
                engine.register(
                    Registration::resolver(&reg.name, reg.pattern(), self.resolver(&cell))
                        .deadline(self.options.request_timeout),
                )?;
                self.externals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(reg.name.clone(), cell.clone());
                cell
            }
        };
        cell.running(
            session.clone(),
            reg.version.clone(),
            reg.kind == Kind::AccessControl,
        );
        Ok(cell)
    }
}

/// `PluginService/Shutdown` (bounded), then the connection is closed.
async fn shutdown(session: &Session, bound: Duration) {
    if !session.is_closed() {
        let req = crate::api::plugins::Empty {};
        let _ = session
            .call(
                paths::PLUGIN_SHUTDOWN,
                prost::Message::encode_to_vec(&req),
                bound,
            )
            .await;
    }
    session.close();
}

/// How one run of a launched plugin ended.
enum Ended {
    /// The engine is stopping; the plugin has been stopped.
    Stopped,
    /// It failed (never registered, when `registered` is false), and why.
    Failed { reason: String, registered: bool },
}

/// Runs one launched plugin for as long as the engine does: launch, registration,
/// then a restart with a bounded backoff whenever it fails.
async fn supervise(
    path: PathBuf,
    cell: Arc<Cell>,
    options: PluginOptions,
    engine: WeakEngine,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    loop {
        // A disabled plugin is not started; `enable` kicks it.
        let disabled = engine
            .upgrade()
            .and_then(|e| e.slot_state(&cell.name))
            .is_none_or(|s| s == ProviderState::Disabled);
        if disabled {
            cell.set(Status::Stopped, None);
            tokio::select! {
                () = cell.kick.notified() => {}
                () = stopped(&mut stop) => return,
            }
        }
        // A relaunch keeps showing why it failed until it has registered again.
        if !matches!(cell.status(), Status::Crashed(_)) {
            cell.set(Status::Starting, None);
        }
        match run_once(&path, &cell, &options, &engine, &mut stop).await {
            Ended::Stopped => {
                cell.set(Status::Stopped, None);
                return;
            }
            Ended::Failed { reason, registered } => {
                if registered {
                    failures = 0;
                }
                failures += 1;
                if failures > options.max_restarts {
                    cell.crashed(format!(
                        "{reason}; not restarted after {} failures in a row (enable it to try again)",
                        failures
                    ));
                    tokio::select! {
                        () = cell.kick.notified() => failures = 0,
                        () = stopped(&mut stop) => return,
                    }
                    continue;
                }
                let delay = options.backoff(failures);
                cell.crashed(format!("{reason}; restarting in {}", human(delay)));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = cell.kick.notified() => {}
                    () = stopped(&mut stop) => return,
                }
            }
        }
    }
}

async fn run_once(
    path: &std::path::Path,
    cell: &Arc<Cell>,
    options: &PluginOptions,
    engine: &WeakEngine,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let failed = |reason: String, registered| Ended::Failed { reason, registered };
    let (mut process, io) = match launch(path, &cell.name, options.registration_timeout) {
        Ok(p) => p,
        Err(e) => return failed(format!("could not start {}: {e}", path.display()), false),
    };
    let name = cell.name.clone();
    let terms = Terms {
        engine_name: super::ENGINE_NAME.into(),
        engine_version: crate::server::version_string(),
        request_timeout: options.request_timeout,
        registration_timeout: options.registration_timeout,
        check: Box::new(move |r: &Registered| {
            if r.name == name {
                Ok(())
            } else {
                Err(format!(
                    "launched as {name}, the plugin registered as {}",
                    r.name
                ))
            }
        }),
    };
    enum First {
        Registered(Result<(Session, Registered), String>),
        Exited(String),
        Stop,
    }
    let first = tokio::select! {
        r = Session::establish(io.compat(), terms) => First::Registered(r),
        s = process.exited() => First::Exited(s),
        () = stopped(stop) => First::Stop,
    };
    let (session, reg) = match first {
        First::Registered(Ok(s)) => s,
        First::Registered(Err(reason)) => {
            process.stop(options.shutdown_timeout).await;
            return failed(reason, false);
        }
        First::Exited(status) => {
            stop_quietly(process, options).await;
            return failed(format!("{status} before it registered"), false);
        }
        First::Stop => {
            process.stop(options.shutdown_timeout).await;
            return Ended::Stopped;
        }
    };
    let session = Arc::new(session);
    if let Some(e) = engine.upgrade()
        && let Err(err) = e.replace_pattern(&cell.name, reg.pattern())
    {
        tracing::warn!(plugin = %cell.name, error = %err, "could not route to the plugin");
    }
    tracing::info!(plugin = %cell.name, kind = ?reg.kind, "plugin registered");
    cell.running(
        session.clone(),
        reg.version.clone(),
        reg.kind == Kind::AccessControl,
    );
    enum Then {
        Down(String),
        Stop,
    }
    let then = tokio::select! {
        s = process.exited() => Then::Down(s),
        r = session.closed() => Then::Down(r),
        () = stopped(stop) => Then::Stop,
    };
    match then {
        Then::Down(reason) => {
            // Lookups fail at once from here on, with the reason.
            cell.crashed(reason.clone());
            session.close();
            process.stop(options.shutdown_timeout).await;
            failed(reason, true)
        }
        Then::Stop => {
            shutdown(&session, options.shutdown_timeout).await;
            process.stop(options.shutdown_timeout).await;
            Ended::Stopped
        }
    }
}

async fn stop_quietly(process: Launched, options: &PluginOptions) {
    process.stop(options.shutdown_timeout).await;
}

/// Resolves once the host is stopping (or gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
