//! Running the `op` CLI: stdin closed, an allow-listed environment, a deadline, and
//! its documented error lines turned into typed errors.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::error::Error;
use crate::secret::SecretValue;

/// Variables `op` may see; everything else in our environment stays ours. Plus
/// every `OP_*` but the credentials we pass ourselves or never want passed on.
const ALLOWED_ENV: [&str; 14] = [
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_RUNTIME_DIR",
    // Windows: where op keeps its config and finds the desktop app.
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "SystemRoot",
    "ProgramFiles",
    "ComSpec",
];

fn allowed(key: &str) -> bool {
    ALLOWED_ENV.contains(&key)
        || (key.starts_with("OP_")
            && key != "OP_SERVICE_ACCOUNT_TOKEN"
            && !key.starts_with("OP_CONNECT_"))
}

/// How to run `op`.
#[derive(Clone)]
pub(crate) struct Op {
    pub program: PathBuf,
    pub deadline: Duration,
}

/// What a failed `op` call means.
pub(crate) fn classify(stderr: &str) -> Error {
    // "[ERROR] 2024/01/01 12:00:00 message" (some versions omit the time stamp).
    // The [ERROR] line, wherever it is (warnings may come first).
    let message = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("[ERROR]"))
        .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("op failed without a message")
        .trim();
    let message = message.strip_prefix("[ERROR]").map_or(message, |m| {
        let m = m.trim_start();
        // YYYY/MM/DD HH:MM:SS is 19 bytes, with '/' at 4 and 7 and a space at 10.
        let b = m.as_bytes();
        let stamped = b.len() >= 19 && b[4] == b'/' && b[7] == b'/' && b[10] == b' ';
        // `get`: byte 19 of a line that only looks stamped may be inside a character.
        match m.get(19..) {
            Some(rest) if stamped => rest.trim_start(),
            _ => m,
        }
    });
    let has = |needle: &str| message.contains(needle);
    if has("authorization prompt dismissed")
        || has("authorization timeout")
        || has("connecting to desktop app timed out")
    {
        Error::Crashed {
            reason: format!("1Password authorization failed: {message}"),
        }
    } else if has("You are not currently signed in")
        || has("account is not signed in")
        || has("could not find session token")
        || has("No accounts configured")
    {
        Error::Unavailable {
            reason: format!("1Password CLI is not signed in: {message}"),
        }
    } else if has("(403) Forbidden") {
        Error::PermissionDenied {
            reason: format!("1Password: {message}"),
        }
    } else if has("isn't an item in the") {
        Error::NotFound {
            pattern: message.to_owned(),
        }
    } else {
        Error::Backend {
            message: format!("op: {message}"),
        }
    }
}

impl Op {
    /// Runs `op args...`; the service-account token, when given, goes into the
    /// child's environment only (argv is world-readable).
    pub async fn run(&self, args: &[&str], token: Option<&SecretValue>) -> Result<Vec<u8>, Error> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(args)
            .env_clear()
            .envs(std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(allowed)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(token) = token {
            let text = token.expose_str().ok_or_else(|| Error::Crashed {
                reason: "the 1Password service-account token is not UTF-8".into(),
            })?;
            cmd.env("OP_SERVICE_ACCOUNT_TOKEN", text);
        }
        let child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Crashed {
                reason: format!(
                    "{} not found on PATH: install the 1Password CLI",
                    self.program.display()
                ),
            },
            _ => Error::Crashed {
                reason: format!("cannot run {}: {e}", self.program.display()),
            },
        })?;
        // kill_on_drop ends the child when the deadline drops the future.
        let out = tokio::time::timeout(self.deadline, child.wait_with_output())
            .await
            .map_err(|_| Error::Timeout {
                after: self.deadline,
            })?
            .map_err(|e| Error::Backend {
                message: format!("op: {e}"),
            })?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(classify(&String::from_utf8_lossy(&out.stderr)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_typed() {
        let cases = [
            (
                "[ERROR] 2024/05/01 10:00:00 You are not currently signed in. Run op signin",
                "unavailable",
            ),
            ("[ERROR] account is not signed in", "unavailable"),
            (
                "[ERROR] 2024/05/01 10:00:00 No accounts configured for use with 1Password CLI.",
                "unavailable",
            ),
            (
                "[ERROR] 2024/05/01 10:00:00 authorization prompt dismissed, please try again",
                "crashed",
            ),
            ("[ERROR] connecting to desktop app timed out", "crashed"),
            (
                "[ERROR] 2024/05/01 10:00:00 \"x\" isn't an item in the \"v\" vault.",
                "notfound",
            ),
            ("[ERROR] 2024/05/01 10:00:00 (403) Forbidden", "denied"),
            (
                "[ERROR] 2024/05/01 10:00:00 \"v\" isn't a vault in this account.",
                "backend",
            ),
        ];
        for (line, want) in cases {
            let got = match classify(line) {
                Error::Unavailable { .. } => "unavailable",
                Error::Crashed { .. } => "crashed",
                Error::NotFound { .. } => "notfound",
                Error::PermissionDenied { .. } => "denied",
                Error::Backend { .. } => "backend",
                other => panic!("{other:?}"),
            };
            assert_eq!(got, want, "{line}");
        }
        assert!(
            classify("[ERROR] 2024/05/01 10:00:00 (403) Forbidden")
                .to_string()
                .ends_with("(403) Forbidden")
        );
        assert!(
            !classify("[ERROR] 2024/05/01 10:00:00 x")
                .to_string()
                .contains("2024/05/01")
        );
    }
}
