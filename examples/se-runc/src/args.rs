//! The command line. se-runc's own options come first: dockerd and containerd put a
//! runtime's `runtimeArgs` before runc's global options. Everything from the first
//! argument that is not one of ours is runc's, and is passed on untouched.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use secrets_engine::{EngineSocket, Pattern};

/// se-runc's own options.
#[derive(Debug, Default, Clone)]
pub struct Own {
    /// The real runtime (`--runtime PATH`); `runc` on PATH when absent.
    pub runtime: Option<PathBuf>,
    /// Patterns an administrator admits for references whose origin se-runc cannot
    /// show to be the user's (`--allow PATTERN`, repeatable).
    pub allow: Vec<Pattern>,
    /// dockerd's API socket (`--docker-host unix:///path` or a path).
    pub docker_host: Option<PathBuf>,
    /// A user's running engine (`--engine-socket PATH`, or `@name` for an abstract
    /// socket): every lookup goes there instead of to root's own providers.
    pub engine_socket: Option<EngineSocket>,
}

/// What runc was asked to do, as far as se-runc needs to know.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuncCall {
    /// `--log PATH`: where runc (and so se-runc) writes its log lines; containerd
    /// reads a failed command's last error from it.
    pub log: Option<PathBuf>,
    /// `--log-format json` (containerd's choice) rather than `text`.
    pub log_json: bool,
    /// The subcommand (`create`, `run`, `start`, …), if any.
    pub command: Option<String>,
    /// `--bundle` / `-b` of `create` and `run`; the working directory when absent.
    pub bundle: Option<PathBuf>,
    /// The container id: the first operand after the subcommand's options.
    pub id: Option<String>,
}

impl RuncCall {
    /// `create` and `run` start a container from a bundle: the calls se-runc acts on.
    pub fn creates(&self) -> bool {
        matches!(self.command.as_deref(), Some("create" | "run"))
    }
}

/// A command line se-runc cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Splits `args` (without argv\[0\]) into se-runc's options and runc's arguments.
pub fn split(mut args: Vec<OsString>) -> Result<(Own, Vec<OsString>), UsageError> {
    let mut own = Own::default();
    let mut i = 0;
    while i < args.len() {
        let Some((name, inline)) = option(&args[i]) else {
            break;
        };
        if !matches!(name, "runtime" | "allow" | "docker-host" | "engine-socket") {
            break;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .ok_or_else(|| UsageError(format!("--{name} needs a value")))?
                    .clone()
            }
        };
        let text = || {
            value
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| UsageError(format!("--{name}: not UTF-8")))
        };
        match name {
            "runtime" => own.runtime = Some(value.clone().into()),
            "engine-socket" => own.engine_socket = Some(EngineSocket::parse(&text()?)),
            "allow" => {
                let p =
                    Pattern::parse(&text()?).map_err(|e| UsageError(format!("--allow: {e}")))?;
                own.allow.push(p);
            }
            _ => {
                let t = text()?;
                let path = t.strip_prefix("unix://").unwrap_or(&t);
                if path.contains("://") {
                    return Err(UsageError(format!(
                        "--docker-host {t}: only unix:// sockets are supported"
                    )));
                }
                own.docker_host = Some(path.into());
            }
        }
        i += 1;
    }
    Ok((own, args.split_off(i)))
}

/// `--name`, `-name`, `--name=value` as urfave/cli (runc's parser) reads them:
/// the name and the inline value. `None` for an operand.
fn option(arg: &OsStr) -> Option<(&str, Option<OsString>)> {
    let s = arg.to_str()?;
    let body = s.strip_prefix("--").or_else(|| s.strip_prefix('-'))?;
    if body.is_empty() {
        return None;
    }
    Some(match body.split_once('=') {
        Some((n, v)) => (n, Some(OsString::from(v))),
        None => (body, None),
    })
}

/// runc's global options that take a value (all others are switches).
const GLOBAL_VALUES: [&str; 5] = ["log", "log-format", "root", "criu", "rootless"];
/// `create`'s and `run`'s options that take a value.
const CREATE_VALUES: [&str; 5] = ["bundle", "b", "console-socket", "pid-file", "preserve-fds"];

/// Reads runc's arguments: the global options se-runc needs, the subcommand, and for
/// `create` and `run` the bundle and the container id.
pub fn runc_call(args: &[OsString]) -> RuncCall {
    let mut call = RuncCall::default();
    let mut i = 0;
    // Global options up to the subcommand.
    while i < args.len() {
        let Some((name, inline)) = option(&args[i]) else {
            call.command = args[i].to_str().map(str::to_owned);
            i += 1;
            break;
        };
        let value = if GLOBAL_VALUES.contains(&name) && inline.is_none() {
            i += 1;
            args.get(i).cloned()
        } else {
            inline
        };
        match name {
            "log" => call.log = value.map(PathBuf::from),
            "log-format" => call.log_json = value.is_some_and(|v| v == "json"),
            _ => {}
        }
        i += 1;
    }
    if !call.creates() {
        return call;
    }
    while i < args.len() {
        let Some((name, inline)) = option(&args[i]) else {
            call.id = args[i].to_str().map(str::to_owned);
            break;
        };
        let value = if CREATE_VALUES.contains(&name) && inline.is_none() {
            i += 1;
            args.get(i).cloned()
        } else {
            inline
        };
        if matches!(name, "bundle" | "b") {
            call.bundle = value.map(PathBuf::from);
        }
        i += 1;
    }
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn own_options_stop_at_the_first_runc_argument() {
        let (own, rest) = split(os(&[
            "--runtime",
            "/usr/sbin/runc",
            "--allow=ci/**",
            "--docker-host",
            "unix:///run/d.sock",
            "--engine-socket=@docker-secrets-engine/1000/daemon.sock",
            "--root",
            "/run/runc",
            "--allow",
            "x",
            "create",
        ]))
        .unwrap();
        assert_eq!(own.runtime, Some("/usr/sbin/runc".into()));
        assert_eq!(own.allow, vec![Pattern::parse("ci/**").unwrap()]);
        assert_eq!(own.docker_host, Some("/run/d.sock".into()));
        assert_eq!(
            own.engine_socket,
            Some(EngineSocket::Abstract(
                "docker-secrets-engine/1000/daemon.sock".into()
            ))
        );
        // `--allow x` after runc's `--root` is runc's business, passed on as given.
        assert_eq!(rest, os(&["--root", "/run/runc", "--allow", "x", "create"]));
    }

    #[test]
    fn bad_own_options_are_usage_errors() {
        assert!(split(os(&["--allow", "foo*"])).is_err());
        assert!(split(os(&["--runtime"])).is_err());
        assert!(split(os(&["--docker-host", "tcp://1.2.3.4:2375"])).is_err());
    }

    #[test]
    fn dockerd_create_call() {
        // What containerd's shim runs (captured from dockerd 20.10).
        let b = "/x/io.containerd.runtime.v2.task/moby/3b23";
        let call = runc_call(&os(&[
            "--root",
            "/x/runtime-runc/moby",
            "--log",
            "/x/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            b,
            "--pid-file",
            "/x/init.pid",
            "3b23",
        ]));
        assert_eq!(
            call,
            RuncCall {
                log: Some("/x/log.json".into()),
                log_json: true,
                command: Some("create".into()),
                bundle: Some(b.into()),
                id: Some("3b23".into()),
            }
        );
        assert!(call.creates());
    }

    #[test]
    fn other_spellings_and_commands() {
        let call = runc_call(&os(&[
            "-debug",
            "-log=/l",
            "--systemd-cgroup",
            "run",
            "-d",
            "-b",
            "/b",
            "--console-socket=/s",
            "id1",
        ]));
        assert_eq!(call.log, Some("/l".into()));
        assert!(!call.log_json);
        assert_eq!(call.bundle, Some("/b".into()));
        assert_eq!(call.id.as_deref(), Some("id1"));

        let call = runc_call(&os(&["--log", "/l", "start", "id1"]));
        assert_eq!(call.command.as_deref(), Some("start"));
        assert!(!call.creates());
        assert_eq!(call.id, None);

        let call = runc_call(&os(&["create", "id2"]));
        assert_eq!((call.bundle, call.id.as_deref()), (None, Some("id2")));
    }
}
