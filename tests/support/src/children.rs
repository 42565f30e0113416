//! Tests that need several processes re-run their own test binary, one test selected
//! (`--exact`), with variables naming the child's role. The child test does nothing
//! when those variables are absent, as in an ordinary run.
//!
//! The children start together: each waits for a file the parent creates once all
//! of them are running, so their work overlaps instead of running one after another.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The file a child waits for before starting its work.
pub const GO: &str = "SE_TEST_CHILD_GO";

/// Runs the test `test` (its full path in this binary) once per entry of `roles`,
/// each with that entry's environment, all at once; waits up to `deadline` for all of
/// them (killing the rest after it) and panics with the output of every child that
/// failed.
pub fn run(test: &str, roles: &[Vec<(&str, OsString)>], deadline: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let children: Vec<_> = roles
        .iter()
        .map(|env| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture", "--test-threads=1"])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env(GO, &go)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(&go, b"").unwrap();
    let until = Instant::now() + deadline;
    let mut failed = Vec::new();
    for (env, mut child) in roles.iter().zip(children) {
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > until {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            failed.push(format!(
                "child {env:?}: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// In a child: waits until the parent says go (at most a minute).
pub fn wait_for_go() {
    let go = std::env::var_os(GO).expect("run by children::run");
    let t = Instant::now();
    while !Path::new(&go).exists() {
        assert!(t.elapsed() < Duration::from_secs(60), "never told to go");
        std::thread::sleep(Duration::from_millis(1));
    }
}
