//! `engine serve`: the default engine on Docker's socket API, in the foreground; and
//! the engine behind `run --engine` and `get --engine`, which forwards every lookup
//! to a running engine.

use std::time::Duration;

use secrets_engine::providers::engine::EngineProvider;
use secrets_engine::server::{EngineListener, EngineServer, ServerOptions};
use secrets_engine::{ConfigLocation, Engine, EngineSocket, EngineVersion, StoreChoice};

use crate::Failure;

/// The sockets `engine serve` listens on without `--socket`: Docker's two.
fn default_sockets() -> Vec<EngineSocket> {
    vec![
        EngineSocket::default_engine(),
        EngineSocket::default_daemon(),
    ]
}

/// `--engine[=SOCKET]`: the socket given, or Docker's engine socket.
pub(crate) fn socket(given: &str) -> EngineSocket {
    if given.is_empty() {
        EngineSocket::default_engine()
    } else {
        EngineSocket::parse(given)
    }
}

/// An engine whose one provider forwards to the engine at `socket`: `run --engine`
/// and `get --engine` then resolve exactly as they do in-process.
pub(crate) fn forwarding(socket: EngineSocket) -> Result<Engine, Failure> {
    Ok(Engine::builder()
        .config(ConfigLocation::None)
        .register(EngineProvider::registration(socket))
        .build()?)
}

/// `engine serve`: builds the default engine, binds every socket (none is taken over
/// from a live engine), serves until SIGTERM or SIGINT, then stops within 2 s.
///
/// No passphrase prompt: a daemon has no one to ask. The file store unlocks from
/// SECRETS_ENGINE_FILE_PASSPHRASE, SECRETS_ENGINE_FILE_KEY or the session cache, on
/// first need, and keeps the identity in memory for as long as the engine runs.
pub(crate) fn serve(
    store: StoreChoice,
    sockets: &[String],
    allow_uids: &[u32],
    mut plugins: Vec<std::path::PathBuf>,
) -> Result<(), Failure> {
    plugins.extend(plugin_dir_entries());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start a runtime: {e}"), 1))?;
    let outcome = rt.block_on(async {
        let mut options = secrets_engine::DefaultOptions::default();
        options.store = store;
        options.plugins = plugins;
        // Each step of stopping a plugin (Shutdown, SIGINT, SIGKILL) gets 500 ms, not
        // Docker's 2 s, so the plugins stop within the engine's 2 s, beside the sockets.
        options.plugin_options.shutdown_timeout = Duration::from_millis(500);
        let (engine, _) = secrets_engine::default_engine(options).await?;
        // Sockets first: a second instance fails here, before it launches any plugin.
        let sockets: Vec<EngineSocket> = if sockets.is_empty() {
            default_sockets()
        } else {
            sockets.iter().map(|s| EngineSocket::parse(s)).collect()
        };
        let listeners = sockets
            .iter()
            .map(EngineListener::bind)
            .collect::<Result<Vec<_>, _>>()?;
        // Listening for SIGTERM and SIGINT from before the plugins start: a signal
        // while they register (up to the registration timeout and 2 s) must stop
        // them, not kill this process by default and leave their process groups.
        let stop = stop_signal();
        tokio::pin!(stop);
        // Each launched plugin has registered, or is reported crashed and restarting,
        // before the first client is served.
        let started = tokio::select! {
            () = engine.start_plugins() => true,
            () = &mut stop => false,
        };
        if !started {
            engine.stop_plugins().await;
            eprintln!("docker-pass: engine stopped");
            return Ok(());
        }
        let mut limits = ServerOptions::default();
        limits.allowed_uids.extend_from_slice(allow_uids);
        let shown: Vec<String> = sockets.iter().map(ToString::to_string).collect();
        eprintln!("docker-pass: engine serving on {}", shown.join(", "));
        let server = EngineServer::new(engine.clone())
            .options(limits)
            .version(EngineVersion {
                version: format!("v{}", env!("CARGO_PKG_VERSION")),
                date: env!("DOCKER_PASS_DATE").into(),
                commit: env!("DOCKER_PASS_COMMIT").into(),
            });
        // Plugins stop while in-flight requests finish: waiting for the server first
        // would add the plugins' stop to its grace and break the 2 s bound. A request
        // still asking a plugin then fails as that plugin stopping.
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let serving = server.serve(listeners, async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        });
        tokio::pin!(serving);
        let served = tokio::select! {
            // A listener failed before any signal.
            r = &mut serving => {
                engine.stop_plugins().await;
                r
            }
            () = &mut stop => {
                let _ = stop_tx.send(true);
                let (r, ()) = tokio::join!(serving, engine.stop_plugins());
                r
            }
        };
        served?;
        eprintln!("docker-pass: engine stopped");
        Ok::<(), secrets_engine::Error>(())
    });
    // A provider call stuck in the OS must not keep the process alive.
    rt.shutdown_timeout(Duration::from_millis(200));
    outcome.map_err(Failure::from)
}

/// Every executable file in `<config dir>/secrets-engine/plugins/`, sorted by name.
fn plugin_dir_entries() -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let Some(dir) = secrets_engine::plugins::plugin_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<std::path::PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        // A link to a binary installed elsewhere counts: its target is checked.
        .filter(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .collect();
    found.sort();
    found
}

/// SIGTERM or SIGINT: listened for from this call on, so a signal before the
/// future is first polled is not lost (nor handled by the default action).
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listeners = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            let (Ok(mut term), Ok(mut int)) = listeners else {
                let _ = tokio::signal::ctrl_c().await;
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
