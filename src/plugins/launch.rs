//! Starting a plugin binary the way Docker's engine does: one end of a socketpair as
//! its fd 3 and `DOCKER_SECRETS_ENGINE_PLUGIN_LAUNCH_CFG` (docs/docker-protocol.md
//! §7.1); and stopping it with nothing left behind.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use rustix::process::{Pid, Signal, kill_process_group};

/// The variable a launched plugin reads its launch configuration from.
pub const LAUNCH_ENV_NAME: &str = "DOCKER_SECRETS_ENGINE_PLUGIN_LAUNCH_CFG";

/// Variables passed on to a plugin; nothing else of the engine's environment is (it
/// may hold the file store's passphrase). Docker's engine passes none.
const PASSED_ON: &[&str] = &[
    "HOME",
    "PATH",
    "USER",
    "LOGNAME",
    "LANG",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// A running plugin process, in a process group of its own. Dropping it kills the
/// group, so an engine that goes away leaves no plugin process behind.
pub(crate) struct Launched {
    child: tokio::process::Child,
    group: Option<Pid>,
}

/// The launch configuration's JSON: name, registration timeout in nanoseconds (a Go
/// `time.Duration`), and the child's fd.
pub(crate) fn launch_config(name: &str, registration_timeout: Duration) -> String {
    serde_json::json!({
        "name": name,
        "timeout": u64::try_from(registration_timeout.as_nanos()).unwrap_or(u64::MAX),
        "fd": 3,
    })
    .to_string()
}

/// Starts `path` as plugin `name`; the engine's end of the connection.
pub(crate) fn launch(
    path: &Path,
    name: &str,
    registration_timeout: Duration,
) -> std::io::Result<(Launched, tokio::net::UnixStream)> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let mut cmd = tokio::process::Command::new(path);
    cmd.env_clear();
    for var in PASSED_ON {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.env(LAUNCH_ENV_NAME, launch_config(name, registration_timeout))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // The plugin's own diagnostics go where ours do.
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    cmd.fd_mappings(vec![FdMapping {
        parent_fd: OwnedFd::from(theirs),
        child_fd: 3,
    }])
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let child = cmd.spawn()?;
    // The child holds its end now; ours of it closes with `cmd`.
    drop(cmd);
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    ours.set_nonblocking(true)?;
    let io = tokio::net::UnixStream::from_std(ours)?;
    Ok((Launched { child, group }, io))
}

impl Launched {
    /// Waits for the process to exit; how it did.
    pub(crate) async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => describe(status),
            Err(e) => format!("waiting for the plugin failed: {e}"),
        }
    }

    /// Stops the process: SIGINT to its group, SIGKILL after `grace`, then reaps it
    /// (Docker's engine does the same, with 2 s).
    pub(crate) async fn stop(mut self, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            self.kill_group();
            // Reaped: the group id may be reused, so Drop must not signal it again.
            self.group = None;
            return;
        }
        self.signal(Signal::INT);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!("plugin ignored SIGINT; killing it");
        }
        // Whatever the plugin started in its group goes too.
        self.kill_group();
        let _ = tokio::time::timeout(grace, self.child.wait()).await;
        self.group = None;
    }

    fn signal(&self, signal: Signal) {
        if let Some(g) = self.group {
            let _ = kill_process_group(g, signal);
        }
    }

    fn kill_group(&mut self) {
        self.signal(Signal::KILL);
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill_group();
        } else if self.group.is_some() {
            // The leader is gone, but processes it left in its group may not be.
            self.kill_group();
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("the plugin exited with status {c}"),
        (None, Some(s)) => format!("the plugin was killed by signal {s}"),
        _ => "the plugin exited".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn launch_config_is_dockers_json() {
        let cfg = super::launch_config("my-plugin", std::time::Duration::from_secs(5));
        let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name": "my-plugin", "timeout": 5_000_000_000u64, "fd": 3})
        );
    }
}
