//! `se-runc`: an OCI runtime that dockerd, containerd or podman can use in place of
//! runc. On `create` and `run` it resolves the `se://` references in the bundle's
//! `process.env` (container mode: `NAME=` asks for the secret `NAME`), writes
//! `config.json` back (0600, atomically), then execs the real runtime with the
//! original arguments. Every other subcommand goes straight to the real runtime.
//!
//! ```text
//! se-runc [--runtime PATH] [--allow PATTERN]... [--docker-host unix:///PATH]
//!         [--engine-socket PATH] RUNC-ARGS...
//! ```
//!
//! Only references the user asked for are resolved: see [`origin`]. A reference
//! that does not resolve fails `create`, with the reason (naming the variable) in
//! runc's `--log` file, where containerd reads it from: see [`runtime_log`].
//! Secrets come from root's own default providers, in process (docs/design.md §10.2),
//! or with `--engine-socket` from a user's running engine (`docker-pass engine
//! serve`), which is how a root runtime reaches a user's keychain.

#![warn(missing_docs)]

mod args;
mod bundle;
mod docker;
mod origin;
mod runtime_log;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use secrets_engine::providers::engine::EngineProvider;
use secrets_engine::{ConfigLocation, DefaultOptions, Engine, EngineSocket, EnvOptions};

use args::{Own, RuncCall};
use bundle::{BundleError, Config};
use docker::{Docker, DockerError};
use origin::{Decision, Origin};
use runtime_log::RuntimeLog;

/// Why a container is not started.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// se-runc's own options are wrong.
    #[error("{0}")]
    Usage(#[from] args::UsageError),
    /// The bundle's config cannot be read or written.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// dockerd could not say which variables the image set.
    #[error(
        "{0} (se-runc asks dockerd which variables the image set; --docker-host names its socket)"
    )]
    Docker(#[from] DockerError),
    /// A reference did not resolve; the library's error names the variable.
    #[error(transparent)]
    Resolve(#[from] secrets_engine::Error),
    /// A secret that cannot be written into `config.json` (JSON strings are UTF-8).
    #[error(
        "{name}: the value of the secret is not UTF-8, and an OCI config holds only UTF-8 values"
    )]
    NotUtf8 {
        /// The variable.
        name: String,
    },
    /// The working directory (the default bundle) is unknown.
    #[error("no --bundle and no working directory: {0}")]
    NoBundle(std::io::Error),
}

/// runc's status for a failed command.
const FAILED: u8 = 1;
/// se-runc's own options are wrong.
const USAGE: u8 = 2;
/// The real runtime cannot be executed.
const NO_RUNTIME: u8 = 127;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (own, rest) = args::split(args);
    // runc's arguments come back even when our own options are wrong, so the reason
    // reaches the user through runc's log and containerd.
    let call = args::runc_call(&rest);
    let log = RuntimeLog::new(call.log.clone(), call.log_json, call.debug);
    let own = match own {
        Ok(own) => own,
        Err(e) => {
            log.error(&format!("se-runc: {e}"));
            return ExitCode::from(USAGE);
        }
    };
    if call.creates()
        && let Err(e) = prepare(&own, &call, &log)
    {
        log.error(&format!("se-runc: {e}"));
        return ExitCode::from(FAILED);
    }
    exec(&own, rest, &log)
}

/// Becomes the real runtime, with runc's arguments as they came.
fn exec(own: &Own, rest: Vec<OsString>, log: &RuntimeLog) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let runtime = own.runtime.clone().unwrap_or_else(|| PathBuf::from("runc"));
    // Only returns on failure.
    let e = Command::new(&runtime).args(rest).exec();
    log.error(&format!("se-runc: cannot run {}: {e}", runtime.display()));
    ExitCode::from(NO_RUNTIME)
}

/// Resolves what may be resolved in the bundle's `process.env` and writes it back.
fn prepare(own: &Own, call: &RuncCall, log: &RuntimeLog) -> Result<(), Failure> {
    let bundle = match &call.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().map_err(Failure::NoBundle)?,
    };
    // runc reads a relative --config from inside the bundle.
    let file = match &call.config {
        Some(c) => bundle.join(c),
        None => bundle.join("config.json"),
    };
    let mut step = Instant::now();
    let mut took = |what: &str| {
        let now = Instant::now();
        log.debug(&format!("se-runc: {what} in {:?}", now - step));
        step = now;
    };
    let config = Config::read(&file)?;
    let mut env = config.env()?;
    let asking: Vec<usize> = (0..env.len()).filter(|&i| origin::asks(&env[i])).collect();
    took("read the spec");
    if asking.is_empty() {
        return Ok(());
    }

    let image_env = match docker_for(own, &bundle, call.id.as_deref()) {
        Some((docker, id)) => {
            let env = docker.image_env(id)?;
            took("asked dockerd for the image's ENV");
            env
        }
        None => None,
    };
    let origins = origin::origins(&env, image_env.as_deref());
    let mut selected = Vec::with_capacity(asking.len());
    for i in asking {
        match origin::decide(&env[i], origins[i], &own.allow) {
            Decision::Resolve => selected.push(i),
            Decision::Keep {
                reference: Some(reference),
            } => {
                let name = env[i].split_once('=').map_or("", |(n, _)| n);
                let whose = match (&image_env, origins[i]) {
                    (Some(_), Origin::Unverified) => {
                        "it comes from the image's own ENV, not from docker run -e or Compose"
                    }
                    _ => "no dockerd could say whether the user or the image set it",
                };
                log.warning(&format!(
                    "se-runc: {name}: {reference} left as written, not resolved: {whose}; an administrator can admit it with --allow PATTERN"
                ));
            }
            Decision::Keep { reference: None } => {}
        }
    }
    if selected.is_empty() {
        return Ok(());
    }

    let pairs: Vec<(String, String)> = selected
        .iter()
        .map(|&i| {
            let (n, v) = env[i].split_once('=').unwrap_or((&env[i], ""));
            (n.to_owned(), v.to_owned())
        })
        .collect();
    let resolved = resolve(own.engine_socket.clone(), pairs)?;
    let n = resolved.len();
    took(&format!(
        "resolved {n} reference{}",
        if n == 1 { "" } else { "s" }
    ));
    for (i, (name, value)) in selected.into_iter().zip(resolved) {
        let name = name.to_string_lossy().into_owned();
        let value = value
            .into_string()
            .map_err(|_| Failure::NotUtf8 { name: name.clone() })?;
        let mut entry = name;
        entry.push('=');
        entry.push_str(&value);
        zeroize::Zeroize::zeroize(&mut value.into_bytes());
        // The reference is replaced; the old string held no secret.
        env[i] = entry;
    }
    config.write_env(env)?;
    took("wrote the spec");
    Ok(())
}

/// The dockerd to ask about container `id`: `--docker-host`, else the default socket
/// when the bundle is one dockerd's containerd made (`…/moby/<id>`: dockerd's
/// containerd namespace). `None` when se-runc was not started by dockerd.
fn docker_for<'a>(own: &Own, bundle: &Path, id: Option<&'a str>) -> Option<(Docker, &'a str)> {
    let id = id?;
    if let Some(socket) = &own.docker_host {
        return Some((Docker::new(socket), id));
    }
    let in_moby = bundle.file_name().is_some_and(|n| n == id)
        && bundle
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "moby");
    in_moby.then(|| (Docker::new(docker::DEFAULT_SOCKET), id))
}

/// Resolves `pairs` in container mode through root's default engine, or the engine
/// at `socket`, on this thread: one batch of lookups needs no worker threads.
fn resolve(
    socket: Option<EngineSocket>,
    pairs: Vec<(String, String)>,
) -> Result<Vec<(OsString, OsString)>, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| secrets_engine::Error::Unavailable {
            reason: format!("cannot start a runtime: {e}"),
        })?;
    let resolved = rt.block_on(async {
        let engine = match socket {
            Some(socket) => forwarding(socket)?,
            None => {
                secrets_engine::default_engine(DefaultOptions::default())
                    .await?
                    .0
            }
        };
        secrets_engine::resolve_env_with(&engine, pairs, EnvOptions::container()).await
    });
    // The file store's reads ran on blocking threads; se-runc execs runc next, which
    // ends them, so waiting here for them to wind down would only delay the container.
    rt.shutdown_background();
    Ok(resolved?)
}

/// An engine whose one provider forwards every lookup to the engine at `socket`: the
/// user's engine applies its own providers and rules, se-runc its own on top.
fn forwarding(socket: EngineSocket) -> Result<Engine, secrets_engine::Error> {
    Engine::builder()
        .config(ConfigLocation::None)
        .register(EngineProvider::registration(socket))
        .build()
}
