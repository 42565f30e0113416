//! The command line. se-runc's own options come first: dockerd and containerd put a
//! runtime's `runtimeArgs` before runc's global options. Everything from the first
//! argument that is not one of ours is runc's, and is passed on untouched.
//!
//! Here the options are only told apart from runc's; what their values say is read
//! by `se-runc-create`, which alone needs the library to read them (a pattern, an
//! engine socket).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// se-runc's own options as given, in order: each one known and with a value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OwnArgs(pub Vec<(&'static str, OsString)>);

impl OwnArgs {
    /// The real runtime (`--runtime PATH`, the last one given); `runc` on `PATH`
    /// when absent.
    pub fn runtime(&self) -> PathBuf {
        self.0
            .iter()
            .rev()
            .find(|(name, _)| *name == "runtime")
            .map_or_else(|| PathBuf::from("runc"), |(_, v)| PathBuf::from(v))
    }
}

/// What runc was asked to do, as far as se-runc needs to know.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuncCall {
    /// `--log PATH`: where runc (and so se-runc) writes its log lines; containerd
    /// reads a failed command's last error from it.
    pub log: Option<PathBuf>,
    /// `--log-format json` (containerd's choice) rather than `text`.
    pub log_json: bool,
    /// `--debug`: se-runc then logs how long each step of a `create` took.
    pub debug: bool,
    /// The subcommand (`create`, `run`, `start`, …), if any.
    pub command: Option<String>,
    /// `--bundle` / `-b` of `create` and `run`; the working directory when absent.
    pub bundle: Option<PathBuf>,
    /// `--config` of `create` and `run`: the spec file, when not
    /// `<bundle>/config.json`.
    pub config: Option<PathBuf>,
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
/// runc's arguments come back even when se-runc's options are wrong (as far as they
/// can be told apart), so the error still reaches runc's `--log` file.
pub fn split(mut args: Vec<OsString>) -> (Result<OwnArgs, UsageError>, Vec<OsString>) {
    let mut given: Vec<(&'static str, OsString)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let Some((name, inline)) = option(&args[i]) else {
            break;
        };
        let Some(name) = OWN.iter().copied().find(|o| *o == name) else {
            break;
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                match args.get(i) {
                    Some(v) => v.clone(),
                    None => {
                        return (
                            Err(UsageError(format!("--{name} needs a value"))),
                            Vec::new(),
                        );
                    }
                }
            }
        };
        given.push((name, value));
        i += 1;
    }
    let rest = args.split_off(i);
    (Ok(OwnArgs(given)), rest)
}

/// se-runc's own options, all of which take a value.
pub const OWN: [&str; 5] = [
    "runtime",
    "allow",
    "docker-host",
    "engine-socket",
    "image-cache",
];

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

// runc's options, 1.1 (Debian 12) to 1.5 (`runc --help`, `runc create --help`,
// `runc run --help`). Those taking a value must be known, or the value would be taken
// for the subcommand or the container id; one not listed here (a newer runc's) makes
// the reading fall back on the id being the last argument, where containerd's
// go-runc puts it.
/// runc's global options that take a value.
const GLOBAL_VALUES: [&str; 5] = ["log", "log-format", "root", "criu", "rootless"];
/// runc's global switches.
const GLOBAL_SWITCHES: [&str; 6] = ["debug", "systemd-cgroup", "help", "h", "version", "v"];
/// `create`'s and `run`'s options that take a value (`config` is not in a released
/// runc yet; a call naming one is read from that file).
const CREATE_VALUES: [&str; 7] = [
    "bundle",
    "b",
    "config",
    "console-socket",
    "pidfd-socket",
    "pid-file",
    "preserve-fds",
];
/// `create`'s and `run`'s switches.
const CREATE_SWITCHES: [&str; 8] = [
    "no-pivot",
    "no-new-keyring",
    "detach",
    "d",
    "keep",
    "no-subreaper",
    "help",
    "h",
];

/// Reads runc's arguments: the global options se-runc needs, the subcommand, and for
/// `create` and `run` the bundle, the config file and the container id.
pub fn runc_call(args: &[OsString]) -> RuncCall {
    let mut call = RuncCall::default();
    let mut i = 0;
    // Global options up to the subcommand.
    while i < args.len() {
        let Some((name, inline)) = option(&args[i]) else {
            if args[i] != "--" {
                call.command = args[i].to_str().map(str::to_owned);
            }
            i += 1;
            break;
        };
        let value = if GLOBAL_VALUES.contains(&name) && inline.is_none() {
            i += 1;
            args.get(i).cloned()
        } else {
            inline
        };
        // A newer runc's global option may take the next argument as its value;
        // only `create` and `run` are read as the subcommand then.
        if !GLOBAL_VALUES.contains(&name)
            && !GLOBAL_SWITCHES.contains(&name)
            && value.is_none()
            && args
                .get(i + 1)
                .is_some_and(|a| option(a).is_none() && a != "create" && a != "run")
        {
            i += 1;
        }
        match name {
            "log" => call.log = value.map(PathBuf::from),
            "log-format" => call.log_json = value.is_some_and(|v| v == "json"),
            // urfave/cli reads `--debug=false` as off.
            "debug" => call.debug = value.is_none_or(|v| v != "false"),
            _ => {}
        }
        i += 1;
    }
    if !call.creates() {
        return call;
    }
    // Set by an option this table does not know: it may take the next argument.
    let mut unsure = false;
    while i < args.len() {
        if args[i] == "--" {
            // urfave/cli: what follows is operands only.
            call.id = args.get(i + 1).and_then(|a| a.to_str()).map(str::to_owned);
            return call;
        }
        let Some((name, inline)) = option(&args[i]) else {
            if !unsure {
                call.id = args[i].to_str().map(str::to_owned);
                return call;
            }
            i += 1;
            continue;
        };
        let known_value = CREATE_VALUES.contains(&name);
        if !known_value && !CREATE_SWITCHES.contains(&name) && inline.is_none() {
            unsure = true;
        }
        let value = if known_value && inline.is_none() {
            i += 1;
            args.get(i).cloned()
        } else {
            inline
        };
        match name {
            "bundle" | "b" => call.bundle = value.map(PathBuf::from),
            "config" => call.config = value.map(PathBuf::from),
            _ => {}
        }
        i += 1;
    }
    if unsure {
        call.id = args
            .last()
            .filter(|a| option(a).is_none())
            .and_then(|a| a.to_str())
            .map(str::to_owned);
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
            "-docker-host",
            "unix:///run/d.sock",
            "--runtime=/usr/bin/runc",
            "--root",
            "/run/runc",
            "--allow",
            "x",
            "create",
        ]));
        let own = own.unwrap();
        assert_eq!(
            own.0,
            [
                ("runtime", "/usr/sbin/runc".into()),
                ("allow", "ci/**".into()),
                ("docker-host", "unix:///run/d.sock".into()),
                ("runtime", "/usr/bin/runc".into()),
            ]
        );
        assert_eq!(own.runtime(), PathBuf::from("/usr/bin/runc"));
        // `--allow x` after runc's `--root` is runc's business, passed on as given.
        assert_eq!(rest, os(&["--root", "/run/runc", "--allow", "x", "create"]));
        assert_eq!(
            split(os(&["state", "c1"])).0.unwrap().runtime(),
            PathBuf::from("runc")
        );
    }

    #[test]
    fn a_missing_value_is_a_usage_error() {
        let (own, rest) = split(os(&["--runtime"]));
        assert_eq!(own.unwrap_err().to_string(), "--runtime needs a value");
        assert!(rest.is_empty());
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
                debug: false,
                command: Some("create".into()),
                bundle: Some(b.into()),
                config: None,
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

    #[test]
    fn every_option_of_runc_1_1_to_1_5() {
        // Every create/run option of runc 1.5, values separate, before the id.
        let call = runc_call(&os(&[
            "--debug",
            "--systemd-cgroup",
            "--rootless",
            "false",
            "--criu",
            "/c",
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "run",
            "--console-socket",
            "/s",
            "--pidfd-socket",
            "/p",
            "--pid-file",
            "/f",
            "--preserve-fds",
            "2",
            "--no-pivot",
            "--no-new-keyring",
            "--detach",
            "--keep",
            "--no-subreaper",
            "--config",
            "spec.json",
            "-b",
            "/b",
            "id9",
        ]));
        assert_eq!(
            call,
            RuncCall {
                log: Some("/l".into()),
                log_json: true,
                debug: true,
                command: Some("run".into()),
                bundle: Some("/b".into()),
                config: Some("spec.json".into()),
                id: Some("id9".into()),
            }
        );
    }

    #[test]
    fn an_unknown_option_leaves_the_id_last() {
        // A newer runc's option with a value of its own: its value is not the id.
        let call = runc_call(&os(&[
            "create",
            "--future-socket",
            "/fs",
            "--bundle",
            "/b",
            "--future-switch",
            "id3",
        ]));
        assert_eq!(call.bundle, Some("/b".into()));
        assert_eq!(call.id.as_deref(), Some("id3"));
        let call = runc_call(&os(&["--future-global", "x", "--log", "/l", "run", "id5"]));
        assert_eq!(call.log, Some("/l".into()));
        assert_eq!(call.command.as_deref(), Some("run"));
        assert_eq!(call.id.as_deref(), Some("id5"));
        let call = runc_call(&os(&["--future-global", "create", "id6"]));
        assert!(call.creates());
        // `--` ends the options.
        let call = runc_call(&os(&["create", "--bundle", "/b", "--", "id4"]));
        assert_eq!(call.id.as_deref(), Some("id4"));
    }
}
