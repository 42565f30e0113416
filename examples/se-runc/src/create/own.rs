//! What se-runc's own options say: the values behind the options `se_runc::args`
//! told apart from runc's.

use std::ffi::OsStr;
use std::path::PathBuf;

use se_runc::args::{OwnArgs, UsageError};
use secrets_engine::{EngineSocket, Pattern};

/// se-runc's own options.
#[derive(Debug)]
pub struct Own {
    /// The real runtime (`--runtime PATH`); `runc` on PATH when absent.
    pub runtime: PathBuf,
    /// Patterns an administrator admits for references whose origin se-runc cannot
    /// show to be the user's (`--allow PATTERN`, repeatable).
    pub allow: Vec<Pattern>,
    /// dockerd's API socket (`--docker-host unix:///path` or a path), asked about
    /// every container.
    pub docker_host: Option<PathBuf>,
    /// The socket of the dockerd whose containerd made a bundle under `moby/`, when
    /// there is no `--docker-host`: `DOCKER_HOST` in the runtime's environment (the
    /// administrator's: containerd's, which its shims pass on), else
    /// `/var/run/docker.sock`. An unusable `DOCKER_HOST` is an error only for a
    /// create that asks dockerd.
    pub default_docker: Result<PathBuf, UsageError>,
    /// A user's running engine (`--engine-socket PATH`, or `@name` for an abstract
    /// socket): every lookup goes there instead of to root's own providers.
    pub engine_socket: Option<EngineSocket>,
    /// Where the images' `ENV`s dockerd gave are kept.
    pub image_cache: ImageCacheAt,
}

/// Where the image cache is: `--image-cache DIR`, else `SE_RUNC_IMAGE_CACHE` in the
/// runtime's environment (how a runtime without `runtimeArgs` or a wrapper is told),
/// else the default. `off`, or an empty `--image-cache=`, turns it off; an empty
/// variable counts as unset, as an empty `DOCKER_HOST` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageCacheAt {
    /// Neither says: root's or the user's runtime directory.
    Default,
    /// Nothing is kept; dockerd is asked on every create that asks.
    Off,
    /// This directory.
    Dir(PathBuf),
    /// The variable names no usable directory (why): nothing is kept, and a create
    /// that asks dockerd says so in the runtime log. A warning, not a failure, as for
    /// a directory that cannot be used: the cache only spares dockerd a request.
    Unusable(String),
}

/// What se-runc reads from its environment (the administrator's: containerd's, which
/// its shims pass on).
#[derive(Debug, Default, Clone, Copy)]
pub struct Environment<'a> {
    /// `DOCKER_HOST`.
    pub docker_host: Option<&'a OsStr>,
    /// `SE_RUNC_IMAGE_CACHE`.
    pub image_cache: Option<&'a OsStr>,
}

/// dockerd's default socket.
pub const DEFAULT_DOCKER: &str = "/var/run/docker.sock";

/// Reads the values of se-runc's options, and what `env` says where they say nothing.
pub fn parse(given: &OwnArgs, env: Environment<'_>) -> Result<Own, UsageError> {
    let default_docker = match env.docker_host {
        Some(v) if !v.is_empty() => v
            .to_str()
            .ok_or_else(|| UsageError("DOCKER_HOST: not UTF-8".into()))
            .and_then(|t| unix_socket(t, "DOCKER_HOST")),
        _ => Ok(PathBuf::from(DEFAULT_DOCKER)),
    };
    let mut own = Own {
        runtime: given.runtime(),
        allow: Vec::new(),
        docker_host: None,
        default_docker,
        engine_socket: None,
        image_cache: ImageCacheAt::Default,
    };
    let mut cache_given = false;
    for (name, value) in &given.0 {
        let text = || {
            value
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| UsageError(format!("--{name}: not UTF-8")))
        };
        match *name {
            "runtime" => {}
            "engine-socket" => own.engine_socket = Some(EngineSocket::parse(&text()?)),
            "allow" => {
                let p =
                    Pattern::parse(&text()?).map_err(|e| UsageError(format!("--allow: {e}")))?;
                own.allow.push(p);
            }
            "image-cache" => {
                own.image_cache = cache_dir(value, "--image-cache")?;
                cache_given = true;
            }
            _ => own.docker_host = Some(unix_socket(&text()?, "--docker-host")?),
        }
    }
    match env.image_cache {
        Some(v) if !cache_given && !v.is_empty() => {
            own.image_cache =
                cache_dir(v, "SE_RUNC_IMAGE_CACHE").unwrap_or_else(|e| ImageCacheAt::Unusable(e.0));
        }
        _ => {}
    }
    Ok(own)
}

/// The cache directory `value` of `what` names.
fn cache_dir(value: &OsStr, what: &str) -> Result<ImageCacheAt, UsageError> {
    let dir = PathBuf::from(value);
    if dir.as_os_str().is_empty() || value == "off" {
        Ok(ImageCacheAt::Off)
    } else if dir.is_absolute() {
        Ok(ImageCacheAt::Dir(dir))
    } else {
        Err(UsageError(format!(
            "{what} {}: neither an absolute path nor off",
            dir.display()
        )))
    }
}

/// The path of a `unix://` address (or a plain path) given as `what`.
fn unix_socket(address: &str, what: &str) -> Result<PathBuf, UsageError> {
    let path = address.strip_prefix("unix://").unwrap_or(address);
    if path.contains("://") {
        return Err(UsageError(format!(
            "{what} {address}: only unix:// sockets are supported"
        )));
    }
    Ok(path.into())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use se_runc::args::split;

    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn values_are_read() {
        let (own, rest) = split(os(&[
            "--runtime",
            "/usr/sbin/runc",
            "--allow=ci/**",
            "--docker-host",
            "unix:///run/d.sock",
            "--engine-socket=@docker-secrets-engine/1000/daemon.sock",
            "--allow",
            "app/*",
            "--image-cache=/run/c",
            "create",
        ]));
        let own = parse(&own.unwrap(), Environment::default()).unwrap();
        assert_eq!(own.runtime, PathBuf::from("/usr/sbin/runc"));
        assert_eq!(
            own.allow,
            vec![
                Pattern::parse("ci/**").unwrap(),
                Pattern::parse("app/*").unwrap()
            ]
        );
        assert_eq!(own.docker_host, Some("/run/d.sock".into()));
        assert_eq!(
            own.engine_socket,
            Some(EngineSocket::Abstract(
                "docker-secrets-engine/1000/daemon.sock".into()
            ))
        );
        assert_eq!(own.image_cache, ImageCacheAt::Dir("/run/c".into()));
        assert_eq!(rest, os(&["create"]));
        let own = parse(
            &split(os(&["--docker-host=/d.sock", "state"])).0.unwrap(),
            Environment::default(),
        )
        .unwrap();
        assert_eq!(own.docker_host, Some("/d.sock".into()));
        assert_eq!(
            own.default_docker.unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        assert_eq!(own.runtime, PathBuf::from("runc"));
        assert_eq!(own.image_cache, ImageCacheAt::Default);
        let off = split(os(&["--image-cache=", "state"])).0.unwrap();
        let off = parse(&off, Environment::default()).unwrap();
        assert_eq!(off.image_cache, ImageCacheAt::Off);
        // DOCKER_HOST (the runtime's environment) moves the default, not --docker-host.
        let env = Environment {
            docker_host: Some(OsStr::new("unix:///run/other.sock")),
            ..Environment::default()
        };
        let own = parse(&split(os(&["state"])).0.unwrap(), env).unwrap();
        assert_eq!(own.docker_host, None);
        assert_eq!(
            own.default_docker.unwrap(),
            PathBuf::from("/run/other.sock")
        );
        // Not a usage error by itself: only for a create that asks that dockerd.
        let own = parse(
            &split(os(&["state"])).0.unwrap(),
            Environment {
                docker_host: Some(OsStr::new("tcp://h:2375")),
                ..Environment::default()
            },
        );
        assert_eq!(
            own.unwrap().default_docker.unwrap_err().to_string(),
            "DOCKER_HOST tcp://h:2375: only unix:// sockets are supported"
        );
    }

    #[test]
    fn the_environment_places_the_image_cache_where_no_option_does() {
        let with = |args: &[&str], value: &str| {
            let env = Environment {
                image_cache: Some(OsStr::new(value)),
                ..Environment::default()
            };
            parse(&split(os(args)).0.unwrap(), env)
                .map(|own| own.image_cache)
                .map_err(|e| e.to_string())
        };
        let dir = |p: &str| Ok(ImageCacheAt::Dir(p.into()));
        assert_eq!(with(&["create"], "/var/c"), dir("/var/c"));
        assert_eq!(with(&["create"], "off"), Ok(ImageCacheAt::Off));
        // Empty is unset, as for DOCKER_HOST: a drop-in's `Environment=VAR=`.
        assert_eq!(with(&["create"], ""), Ok(ImageCacheAt::Default));
        assert_eq!(
            with(&["--image-cache=off", "create"], ""),
            Ok(ImageCacheAt::Off)
        );
        // The option wins either way.
        assert_eq!(
            with(&["--image-cache=/run/c", "create"], "/var/c"),
            dir("/run/c")
        );
        assert_eq!(
            with(&["--image-cache=", "create"], "/var/c"),
            Ok(ImageCacheAt::Off)
        );
        assert_eq!(
            with(&["--image-cache=/run/c", "create"], "var/c"),
            dir("/run/c")
        );
        // A variable naming no usable directory fails no create: a create that asks
        // dockerd warns in the runtime log.
        assert_eq!(
            with(&["create"], "var/c"),
            Ok(ImageCacheAt::Unusable(
                "SE_RUNC_IMAGE_CACHE var/c: neither an absolute path nor off".to_owned()
            ))
        );
    }

    #[test]
    fn bad_values_are_usage_errors_and_runcs_arguments_still_come_back() {
        let runc = ["--log", "/l.json", "--log-format", "json", "create", "id"];
        for (bad, says) in [
            (&["--allow", "foo*"][..], "--allow: "),
            (
                &["--docker-host", "tcp://1.2.3.4:2375"],
                "--docker-host tcp://1.2.3.4:2375: only unix://",
            ),
            (&["--runtime=/r", "--allow=a b"], "--allow: "),
            (
                &["--image-cache", "run/c"],
                "--image-cache run/c: neither an absolute path nor off",
            ),
        ] {
            let mut args = os(bad);
            args.extend(os(&runc));
            let (own, rest) = split(args);
            let e = parse(&own.unwrap(), Environment::default())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(says), "{bad:?}: {e}");
            assert_eq!(rest, os(&runc), "{bad:?}");
        }
    }
}
