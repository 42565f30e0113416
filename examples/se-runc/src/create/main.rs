//! `se-runc-create`: what `se-runc` execs for `create` and `run`. It resolves the
//! `se://` references in the bundle's `process.env` (container mode: `NAME=` asks
//! for the secret `NAME`), writes `config.json` back (0600, atomically), then execs
//! the real runtime with the original arguments. It takes se-runc's command line as
//! it came, and passes any other subcommand straight on too, so it also works alone
//! as the runtime dockerd names (each call then pays for loading the providers).
//!
//! Only references the user asked for are resolved: see [`origin`]. A reference
//! that does not resolve fails `create`, with the reason (naming the variable) in
//! runc's `--log` file, where containerd reads it from: see
//! [`se_runc::runtime_log`]. Secrets come from root's own default providers, in
//! process (docs/design.md §10.2), or with `--engine-socket` from a user's running
//! engine (`docker-pass engine serve`), which is how a root runtime reaches a user's
//! keychain.

#![warn(missing_docs)]

mod bundle;
mod docker;
mod image_cache;
mod origin;
mod own;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use secrets_engine::providers::engine::EngineProvider;
use secrets_engine::{ConfigLocation, DefaultOptions, Engine, EngineSocket, EnvOptions};

use bundle::{BundleError, Config};
use docker::{Docker, DockerError};
use image_cache::ImageCache;
use origin::{Decision, Origin};
use own::{ImageCacheAt, Own};
use se_runc::args::{RuncCall, UsageError};
use se_runc::runtime_log::RuntimeLog;
use se_runc::{FAILED, Invocation, USAGE, exec, usage_error};

/// Why a container is not started.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// se-runc's own options are wrong.
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// The bundle's config cannot be read or written.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// dockerd could not say which variables the image set.
    #[error(
        "{0} (se-runc asks dockerd which variables the image set; --docker-host or DOCKER_HOST names its socket)"
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

fn main() -> ExitCode {
    let Invocation {
        own,
        rest,
        call,
        log,
        ..
    } = Invocation::from_env();
    let (docker_host, cache) = (
        std::env::var_os("DOCKER_HOST"),
        std::env::var_os("SE_RUNC_IMAGE_CACHE"),
    );
    let env = own::Environment {
        docker_host: docker_host.as_deref(),
        image_cache: cache.as_deref(),
    };
    let own = match own.and_then(|given| own::parse(&given, env)) {
        Ok(own) => own,
        Err(e) => return usage_error(&log, &e),
    };
    if call.creates()
        && let Err(e) = prepare(&own, &call, &log)
    {
        log.error(&format!("se-runc: {e}"));
        // An unusable DOCKER_HOST is the runtime's configuration, as its options are.
        let status = match e {
            Failure::Usage(_) => USAGE,
            _ => FAILED,
        };
        return ExitCode::from(status);
    }
    exec(&own.runtime, rest, &log, "")
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
    let env = config.env()?;
    let asking: Vec<usize> = (0..env.len()).filter(|&i| origin::asks(&env[i])).collect();
    took("read the spec");
    if asking.is_empty() {
        return Ok(());
    }

    // dockerd is asked on a thread of its own while the engine is built: one waits
    // on dockerd, the other on files and the providers' set-up. Not at all when
    // `--allow` admits every entry whoever set it: the answer would change nothing.
    let admitted = asking
        .iter()
        .all(|&i| origin::decide(&env[i], Origin::Unverified, &own.allow) == Decision::Resolve);
    let docker = if admitted {
        None
    } else {
        docker_for(own, &bundle, call.id.as_deref())?
    };
    let asked = docker.map(|(docker, id)| {
        let id = id.to_owned();
        let (cache_dir, log) = (own.image_cache.clone(), log.clone());
        std::thread::spawn(move || {
            let cache = image_cache(cache_dir, &log);
            docker.image_env(&id, cache.as_ref())
        })
    });
    let rt = secrets_engine::current_thread_runtime()?;
    // An engine that cannot be built fails the create only if something is to be
    // resolved.
    let engine = rt.block_on(engine(own.engine_socket.clone()));
    took("built the engine");
    let image_env = match asked {
        Some(asked) => {
            let answer = asked
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            took(match &answer {
                Some(a) if a.kept => "had the image's ENV (kept; dockerd asked the image id)",
                _ => "had dockerd's answer on the image's ENV (asked meanwhile)",
            });
            // Only the next create pays: it asks dockerd again.
            if let Some(why) = answer.as_ref().and_then(|a| a.unkept.as_ref()) {
                log.warning(&format!("se-runc: {why}"));
            }
            answer.map(|a| a.env)
        }
        None => None,
    };
    let spec = Spec {
        config,
        env,
        asking,
    };
    let done = resolve_selected(own, &rt, engine, spec, image_env, log, &mut took);
    // The file store's reads ran on blocking threads; se-runc execs runc next, which
    // ends them, so waiting here for them to wind down would only delay the container.
    rt.shutdown_background();
    done
}

/// A bundle's spec, its `process.env`, and which entries of it ask for a secret.
struct Spec {
    config: Config,
    env: Vec<String>,
    /// Indices into `env`.
    asking: Vec<usize>,
}

/// Decides which of the entries asking for a secret to resolve (the image's ENV
/// being `image_env`), resolves them with `engine`, and writes the config back if
/// any was.
fn resolve_selected(
    own: &Own,
    rt: &tokio::runtime::Runtime,
    engine: Result<Engine, secrets_engine::Error>,
    spec: Spec,
    image_env: Option<Vec<String>>,
    log: &RuntimeLog,
    took: &mut impl FnMut(&str),
) -> Result<(), Failure> {
    let Spec {
        config,
        mut env,
        asking,
    } = spec;
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
    let resolved = rt.block_on(secrets_engine::resolve_env_with(
        &engine?,
        pairs,
        EnvOptions::container(),
    ))?;
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

/// The dockerd to ask about container `id`: `--docker-host`, else the default one
/// (`DOCKER_HOST`, else `/var/run/docker.sock`) when the bundle is one dockerd's
/// containerd made (`…/moby/<id>`: dockerd's containerd namespace). `None` when
/// se-runc was not started by dockerd.
fn docker_for<'a>(
    own: &Own,
    bundle: &Path,
    id: Option<&'a str>,
) -> Result<Option<(Docker, &'a str)>, Failure> {
    let Some(id) = id else { return Ok(None) };
    if let Some(socket) = &own.docker_host {
        return Ok(Some((Docker::new(socket), id)));
    }
    let in_moby = bundle.file_name().is_some_and(|n| n == id)
        && bundle
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "moby");
    if !in_moby {
        return Ok(None);
    }
    match &own.default_docker {
        Ok(socket) => Ok(Some((Docker::new(socket), id))),
        Err(e) => Err(Failure::Usage(UsageError(e.0.clone()))),
    }
}

/// The image cache at `at`, when one can be used; why not is logged, and dockerd is
/// then asked for every image.
fn image_cache(at: ImageCacheAt, log: &RuntimeLog) -> Option<ImageCache> {
    let warn = |why: &dyn std::fmt::Display| {
        log.warning(&format!("se-runc: {why}; dockerd is asked for every image"));
    };
    let dir = match at {
        ImageCacheAt::Off => return None,
        ImageCacheAt::Unusable(why) => {
            warn(&why);
            return None;
        }
        ImageCacheAt::Dir(dir) => dir,
        ImageCacheAt::Default => ImageCache::default_dir()?,
    };
    ImageCache::open(&dir).map_err(|e| warn(&e)).ok()
}

/// Root's default engine, or with `socket` one that forwards to the engine there.
async fn engine(socket: Option<EngineSocket>) -> Result<Engine, secrets_engine::Error> {
    match socket {
        Some(socket) => forwarding(socket),
        None => Ok(secrets_engine::default_engine(DefaultOptions::default())
            .await?
            .0),
    }
}

/// An engine whose one provider forwards every lookup to the engine at `socket`: the
/// user's engine applies its own providers and rules, se-runc its own on top.
fn forwarding(socket: EngineSocket) -> Result<Engine, secrets_engine::Error> {
    Engine::builder()
        .config(ConfigLocation::None)
        .register(EngineProvider::registration(socket))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_where_it_was_placed_and_an_unusable_one_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("log.json");
        let log = RuntimeLog::new(Some(file.clone()), true, false);
        let logged = || std::fs::read_to_string(&file).unwrap_or_default();
        assert!(image_cache(ImageCacheAt::Off, &log).is_none());
        let at = dir.path().join("cache");
        assert!(image_cache(ImageCacheAt::Dir(at.clone()), &log).is_some());
        assert!(at.is_dir());
        assert_eq!(logged(), "", "nothing to say so far");
        let why = "SE_RUNC_IMAGE_CACHE var/c: neither an absolute path nor off";
        assert!(image_cache(ImageCacheAt::Unusable(why.into()), &log).is_none());
        let line: serde_json::Value = serde_json::from_str(logged().trim()).unwrap();
        assert_eq!(line["level"], "warning");
        assert_eq!(
            line["msg"],
            format!("se-runc: {why}; dockerd is asked for every image")
        );
    }
}
