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
use crate::api::connect::{Code, ConnectError};
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
    /// but cannot answer must not let everything through). A module is a plugin
    /// registered as one in this run, or a launched plugin whose persisted kind says
    /// it was one and that has not registered in this run; a plugin never seen to
    /// register is no policy and blocks nothing. Disabled modules are not asked.
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
                .filter(|c| c.is_policy())
                .filter(|c| engine.slot_state(&c.name) != Some(ProviderState::Disabled))
                .collect()
        };
        let req = prost::Message::encode_to_vec(&CheckAccessRequest {
            pattern: pattern.to_string(),
            requester: Some(requester),
        });
        for cell in cells {
            let name = &cell.name;
            if !cell.has_registered() {
                let why = match cell.status() {
                    Status::Crashed(reason) => format!(" ({reason})"),
                    _ => String::new(),
                };
                return Err(format!(
                    "access-control module {name} has not registered yet{why}; lookups \
                     are refused until it registers or is disabled"
                ));
            }
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

    /// `disable`: a launched plugin's supervisor stops its process.
    pub(crate) fn disabled(&self, name: &str) {
        if let Some(p) = self.launched.iter().find(|p| p.cell.name == name) {
            p.cell
                .wanted
                .store(false, std::sync::atomic::Ordering::SeqCst);
            p.cell.pause.notify_one();
        }
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
        // The startup window is over: a plugin that has not declared a pattern claims
        // nothing from now on (listed crashed with its reason), rather than failing
        // every lookup as `**` until it registers.
        for p in &self.launched {
            let _routing = p.cell.routing();
            if !p.cell.has_registered() {
                engine.set_routed(&p.cell.name, false);
            }
        }
    }

    /// Stops every plugin: `Shutdown`, then the connection, then (launched) the
    /// process; returns when all are gone or the bound passed.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        // Three steps (Shutdown, SIGINT, SIGKILL and the reap) and a little slack: with
        // docker-pass's 500 ms steps this stays within its 2 s for SIGTERM.
        let bound = self.options.shutdown_timeout * 3 + Duration::from_millis(200);
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
        // Weak, so a connected plugin does not keep the host (and through its Drop,
        // the launched plugins' process groups) alive after the engine is dropped.
        let host = Arc::downgrade(self);
        let weak = engine.downgrade();
        let mut stop = self.stop.subscribe();
        let options = self.options.clone();
        let task = tokio::spawn(async move {
            // The name is reserved by the check itself, under the lock that guards
            // the names, so two connections cannot both take it.
            let reserved: Arc<Mutex<Option<Arc<Cell>>>> = Arc::default();
            let terms = Terms {
                engine_name: super::ENGINE_NAME.into(),
                engine_version: crate::server::version_string(),
                request_timeout: options.request_timeout,
                registration_timeout: options.registration_timeout,
                check: {
                    let (host, weak, reserved) = (host.clone(), weak.clone(), reserved.clone());
                    Box::new(move |r: &Registered| {
                        let Some(host) = host.upgrade() else {
                            return Err(ConnectError::new(
                                Code::Unavailable,
                                "the engine is stopping",
                            ));
                        };
                        let cell = host.reserve(&weak, &r.name)?;
                        *reserved.lock().unwrap_or_else(|e| e.into_inner()) = Some(cell);
                        Ok(())
                    })
                },
            };
            let taken = || reserved.lock().unwrap_or_else(|e| e.into_inner()).take();
            let release = |cell: Option<Arc<Cell>>, attached: bool| {
                if let (Some(cell), Some(host)) = (cell, host.upgrade()) {
                    host.detach_external(&weak, &cell, attached);
                }
            };
            let established = tokio::select! {
                r = Session::establish(io, terms) => r,
                () = stopped(&mut stop) => {
                    release(taken(), false);
                    return;
                }
            };
            let (session, reg) = match established {
                Ok(s) => s,
                Err(reason) => {
                    tracing::warn!(%reason, "external plugin not registered");
                    release(taken(), false);
                    return;
                }
            };
            let session = Arc::new(session);
            let Some(cell) = taken() else {
                session.close();
                return;
            };
            let attached = match (host.upgrade(), weak.upgrade()) {
                (Some(h), Some(e)) => h.attach_external(&e, &reg, &cell, &session),
                _ => Err(crate::Error::Unavailable {
                    reason: "the engine is stopping".into(),
                }),
            };
            if let Err(e) = attached {
                tracing::warn!(plugin = %reg.name, error = %e, "external plugin refused");
                session.close();
                release(Some(cell), false);
                return;
            }
            tracing::info!(plugin = %reg.name, kind = ?reg.kind, "external plugin registered");
            tokio::select! {
                reason = session.closed() => {
                    cell.crashed(format!("external plugin disconnected: {reason}"));
                    release(Some(cell), true);
                }
                () = stopped(&mut stop) => {
                    shutdown(&session, options.shutdown_timeout).await;
                    cell.set(Status::Stopped, None);
                }
            }
        });
        self.track(task);
    }

    /// Reserves `name` for an external plugin that is registering: refused when it
    /// cannot name a provider (`invalid_argument`) or is held by another provider or
    /// connected plugin (`already_exists`).
    fn reserve(&self, engine: &WeakEngine, name: &str) -> Result<Arc<Cell>, ConnectError> {
        if let Err(reason) = crate::engine::check_name(name) {
            return Err(ConnectError::new(
                Code::InvalidArgument,
                format!("the plugin name {name:?} cannot name a provider: {reason}"),
            ));
        }
        let mut externals = self.externals.lock().unwrap_or_else(|e| e.into_inner());
        if externals.contains_key(name) {
            return Err(ConnectError::new(
                Code::AlreadyExists,
                format!("a plugin named {name} is already connected"),
            ));
        }
        match engine.upgrade() {
            Some(e) if e.slot_state(name).is_some() => {
                return Err(ConnectError::new(
                    Code::AlreadyExists,
                    format!("the name {name} is taken by another provider"),
                ));
            }
            Some(_) => {}
            None => {
                return Err(ConnectError::new(
                    Code::Unavailable,
                    "the engine is stopping",
                ));
            }
        }
        let cell = Cell::new(name, true);
        externals.insert(name.to_owned(), cell.clone());
        Ok(cell)
    }

    /// Makes a reserved external plugin a provider, routed by its pattern.
    fn attach_external(
        &self,
        engine: &Engine,
        reg: &Registered,
        cell: &Arc<Cell>,
        session: &Arc<Session>,
    ) -> Result<(), crate::Error> {
        let externals = self.externals.lock().unwrap_or_else(|e| e.into_inner());
        if !externals
            .get(&reg.name)
            .is_some_and(|c| Arc::ptr_eq(c, cell))
        {
            return Err(crate::Error::Unavailable {
                reason: "the plugin's reservation was released".into(),
            });
        }
        engine.register(
            Registration::resolver(&reg.name, reg.pattern(), self.resolver(cell))
                .deadline(self.options.request_timeout),
        )?;
        cell.running(session.clone(), reg.version.clone(), reg.kind.clone());
        Ok(())
    }

    /// Forgets an external plugin (and removes its provider when `attached`), unless
    /// its name has passed to another connection meanwhile.
    fn detach_external(&self, engine: &WeakEngine, cell: &Arc<Cell>, attached: bool) {
        let mut externals = self.externals.lock().unwrap_or_else(|e| e.into_inner());
        if !externals
            .get(&cell.name)
            .is_some_and(|c| Arc::ptr_eq(c, cell))
        {
            return;
        }
        externals.remove(&cell.name);
        if attached && let Some(e) = engine.upgrade() {
            e.unregister(&cell.name);
        }
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
    /// It was disabled; the plugin has been stopped.
    Disabled,
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
            Ended::Disabled => failures = 0,
            Ended::Failed { reason, registered } => {
                if registered {
                    failures = 0;
                }
                failures += 1;
                if failures > options.max_restarts {
                    // Given up. A plugin that declared a pattern stays routed by it, so
                    // lookups there fail with this reason rather than as not found;
                    // one that never did claims nothing.
                    {
                        let _routing = cell.routing();
                        if cell.declared().is_none()
                            && let Some(e) = engine.upgrade()
                        {
                            e.set_routed(&cell.name, false);
                        }
                        cell.crashed(format!(
                            "{reason}; gave up after {} restarts; enable it to try again",
                            options.max_restarts
                        ));
                    }
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
                Err(ConnectError::new(
                    Code::InvalidArgument,
                    format!("launched as {name}, the plugin registered as {}", r.name),
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
    {
        let _routing = cell.routing();
        if let Some(e) = engine.upgrade() {
            if let Err(err) = e.replace_pattern(&cell.name, reg.pattern()) {
                tracing::warn!(plugin = %cell.name, error = %err, "could not route to the plugin");
            }
            e.set_routed(&cell.name, true);
        }
        cell.running(session.clone(), reg.version.clone(), reg.kind.clone());
    }
    tracing::info!(plugin = %cell.name, kind = ?reg.kind, "plugin registered");
    remember_kind(cell, engine, reg.kind == Kind::AccessControl).await;
    enum Then {
        Down(String),
        Disable,
        Stop,
    }
    let disabled = || !cell.wanted.load(std::sync::atomic::Ordering::SeqCst);
    // Disabled while it registered: `pause` may have fired before anyone waited.
    let then = if disabled() {
        Then::Disable
    } else {
        loop {
            tokio::select! {
                s = process.exited() => break Then::Down(s),
                r = session.closed() => break Then::Down(r),
                // A stale wake-up (enabled again meanwhile) is ignored.
                () = cell.pause.notified() => if disabled() { break Then::Disable },
                () = stopped(stop) => break Then::Stop,
            }
        }
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
        Then::Disable => {
            // Stopped as when the engine stops, so a disabled plugin that ListPlugins
            // shows stopped has no process either. Marked first: an `enable` from
            // here on must relaunch it, not find it running.
            cell.set(Status::Stopped, None);
            shutdown(&session, options.shutdown_timeout).await;
            process.stop(options.shutdown_timeout).await;
            Ended::Disabled
        }
    }
}

/// Persists whether a launched plugin registered as an access-control module, so
/// the next run fails closed while it is not up (see `check_access`). Written only
/// when it changed; a failure to write is logged, the plugin still runs.
async fn remember_kind(cell: &Arc<Cell>, engine: &WeakEngine, access_control: bool) {
    use std::sync::atomic::Ordering;
    if cell.saved_access_control.load(Ordering::SeqCst) == access_control {
        return;
    }
    let Some(engine) = engine.upgrade() else {
        return;
    };
    let name = cell.name.clone();
    // The config file is locked and written synchronously; off the runtime's workers.
    let written =
        tokio::task::spawn_blocking(move || engine.remember_access_control(&name, access_control))
            .await;
    match written
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        Ok(()) => cell
            .saved_access_control
            .store(access_control, Ordering::SeqCst),
        Err(error) => {
            tracing::warn!(plugin = %cell.name, %error, "could not record the plugin's kind");
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
