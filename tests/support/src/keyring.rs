//! A real Secret Service for tests, started through `scripts/services/keyring`.
//!
//! `scripts/test` starts one and exports `SE_TEST_DBUS_ADDRESS`; a test binary run on
//! its own starts its own (stopped when the binary exits). A keyring that cannot be
//! started is a test failure, never a skip.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub struct Session {
    pub address: String,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            super::services::stop("keyring", dir.path());
        }
    }
}

fn script() -> PathBuf {
    super::services::script("keyring")
}

fn start(keyring: bool) -> Session {
    let dir = tempfile::Builder::new()
        .prefix("se-keyring-")
        .tempdir()
        .unwrap();
    let args: &[&str] = if keyring { &[] } else { &["--no-keyring"] };
    let address = super::services::start("keyring", dir.path(), args)
        .remove("DBUS_SESSION_BUS_ADDRESS")
        .expect("the script prints the bus address");
    Session {
        address,
        dir: Some(dir),
    }
}

impl Session {
    /// Kills the keyring daemon, leaving the bus up; returns once the bus has released
    /// the daemon's name, so that nothing reaches the dead connection afterwards.
    pub fn kill_daemon(&self) {
        let dir = self.dir.as_ref().expect("a private session").path();
        let out = Command::new(script())
            .arg("kill-daemon")
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the keyring daemon was not killed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the keyring daemon again on the same bus and keyring files. On a loaded
    /// machine gnome-keyring sometimes exits at once when replacing a killed
    /// instance: up to three tries, each failure printed.
    pub fn restart_daemon(&self) {
        for attempt in 1..=3 {
            match self.try_restart_daemon() {
                Ok(()) => return,
                Err(e) if attempt < 3 => eprintln!("keyring restart {attempt} failed: {e}"),
                Err(e) => panic!("the keyring daemon did not restart: {e}"),
            }
        }
    }

    /// Locks the default collection through D-Bus, as a screen locker would.
    pub async fn lock_default_collection(&self) {
        let conn = zbus::connection::Builder::address(self.address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        let ss = secret_service::SecretService::connect_with_existing(
            secret_service::EncryptionType::Dh,
            conn,
        )
        .await
        .unwrap();
        ss.get_default_collection()
            .await
            .unwrap()
            .lock()
            .await
            .unwrap();
    }
}

/// The keyring shared by the tests of this binary.
pub fn shared() -> &'static Session {
    static S: OnceLock<Session> = OnceLock::new();
    S.get_or_init(|| match std::env::var("SE_TEST_DBUS_ADDRESS") {
        Ok(address) if !address.is_empty() => Session { address, dir: None },
        _ => start(true),
    })
}

/// A keyring of one's own (for tests that lock it), stopped on drop.
pub fn private() -> Session {
    start(true)
}

/// A session bus with no Secret Service on it.
pub fn bus_only() -> Session {
    start(false)
}

/// Runs `secret-tool` against `session`, feeding `stdin`; returns stdout.
pub fn secret_tool(session: &Session, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("secret-tool")
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", &session.address)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("secret-tool is installed (scripts/setup)");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() || args[0] == "lookup",
        "secret-tool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Session {
    /// One try of [`restart_daemon`](Session::restart_daemon): a failure is reported
    /// with the daemon's log, for it to retry.
    fn try_restart_daemon(&self) -> Result<(), String> {
        let dir = self.dir.as_ref().expect("a private session").path();
        let out = Command::new(script())
            .arg("restart-daemon")
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("keyring.log")).unwrap_or_default()
        ))
    }
}
