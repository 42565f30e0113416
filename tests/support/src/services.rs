//! Starting the project's test services (scripts/services/*) from Rust. Tests,
//! benches and the CLI tests share this crate. A
//! service that cannot start is a panic, never a skip.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `scripts/services/<name>` of this repository (found above the manifest, so the CLI
/// crate two levels down finds it too).
pub fn script(name: &str) -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("scripts/services").is_dir() {
        dir = dir.parent().expect("scripts/services above the manifest");
    }
    dir.join("scripts/services").join(name)
}

/// Starts service `name` in `dir` with `args`, stopped when this process exits;
/// returns the `KEY=VALUE` lines it printed.
pub fn start(name: &str, dir: &Path, args: &[&str]) -> HashMap<String, String> {
    let out = Command::new(script(name))
        .arg("start")
        .arg(dir)
        .args(args)
        .arg("--watch")
        .arg(std::process::id().to_string())
        .output()
        .unwrap_or_else(|e| panic!("run scripts/services/{name}: {e}"));
    assert!(
        out.status.success(),
        "could not start {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// Stops service `name` started in `dir`.
pub fn stop(name: &str, dir: &Path) {
    let _ = Command::new(script(name)).arg("stop").arg(dir).status();
}

/// Starts a private keyring (its own bus and gnome-keyring) in `dir`; returns the
/// bus address.
pub fn start_keyring(dir: &Path) -> String {
    start("keyring", dir, &[])
        .remove("DBUS_SESSION_BUS_ADDRESS")
        .expect("scripts/services/keyring prints the bus address")
}

/// A private keyring in a temporary directory, stopped when dropped.
pub struct Keyring {
    /// Where the bus and the keyring live.
    pub dir: tempfile::TempDir,
    /// `DBUS_SESSION_BUS_ADDRESS` of its bus.
    pub address: String,
}

impl Keyring {
    /// Starts one.
    pub fn start() -> Keyring {
        let dir = tempfile::tempdir().unwrap();
        let address = start_keyring(dir.path());
        Keyring { dir, address }
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        stop("keyring", self.dir.path());
    }
}
