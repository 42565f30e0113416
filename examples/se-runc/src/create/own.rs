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
    /// Where the images' `ENV`s dockerd gave are kept (`--image-cache DIR`; an empty
    /// value keeps none); the default directory when absent.
    pub image_cache: Option<PathBuf>,
}

/// dockerd's default socket.
pub const DEFAULT_DOCKER: &str = "/var/run/docker.sock";

/// Reads the values of se-runc's options, and `docker_host_env` (the value of
/// `DOCKER_HOST`, if set).
pub fn parse(given: &OwnArgs, docker_host_env: Option<&OsStr>) -> Result<Own, UsageError> {
    let default_docker = match docker_host_env {
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
        image_cache: None,
    };
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
                let dir = PathBuf::from(value);
                if !dir.as_os_str().is_empty() && !dir.is_absolute() {
                    return Err(UsageError(format!(
                        "--image-cache {}: not an absolute path",
                        dir.display()
                    )));
                }
                own.image_cache = Some(dir);
            }
            _ => own.docker_host = Some(unix_socket(&text()?, "--docker-host")?),
        }
    }
    Ok(own)
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
        let own = parse(&own.unwrap(), None).unwrap();
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
        assert_eq!(own.image_cache, Some("/run/c".into()));
        assert_eq!(rest, os(&["create"]));
        let own = parse(
            &split(os(&["--docker-host=/d.sock", "state"])).0.unwrap(),
            None,
        )
        .unwrap();
        assert_eq!(own.docker_host, Some("/d.sock".into()));
        assert_eq!(
            own.default_docker.unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        assert_eq!(own.runtime, PathBuf::from("runc"));
        assert_eq!(own.image_cache, None);
        let off = split(os(&["--image-cache=", "state"])).0.unwrap();
        assert_eq!(parse(&off, None).unwrap().image_cache, Some(PathBuf::new()));
        // DOCKER_HOST (the runtime's environment) moves the default, not --docker-host.
        let env = Some(OsStr::new("unix:///run/other.sock"));
        let own = parse(&split(os(&["state"])).0.unwrap(), env).unwrap();
        assert_eq!(own.docker_host, None);
        assert_eq!(
            own.default_docker.unwrap(),
            PathBuf::from("/run/other.sock")
        );
        // Not a usage error by itself: only for a create that asks that dockerd.
        let own = parse(
            &split(os(&["state"])).0.unwrap(),
            Some(OsStr::new("tcp://h:2375")),
        );
        assert_eq!(
            own.unwrap().default_docker.unwrap_err().to_string(),
            "DOCKER_HOST tcp://h:2375: only unix:// sockets are supported"
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
                "--image-cache run/c: not an absolute path",
            ),
        ] {
            let mut args = os(bad);
            args.extend(os(&runc));
            let (own, rest) = split(args);
            let e = parse(&own.unwrap(), None).unwrap_err().to_string();
            assert!(e.starts_with(says), "{bad:?}: {e}");
            assert_eq!(rest, os(&runc), "{bad:?}");
        }
    }
}
