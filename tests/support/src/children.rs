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
        .enumerate()
        .map(|(i, env)| {
            // Output to files, not pipes: a chatty child must not block on a full
            // pipe that is only read after it exits.
            let out = |what: &str| {
                Stdio::from(std::fs::File::create(dir.path().join(format!("{i}.{what}"))).unwrap())
            };
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture", "--test-threads=1"])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env(GO, &go)
                .stdout(out("stdout"))
                .stderr(out("stderr"))
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(&go, b"").unwrap();
    let until = Instant::now() + deadline;
    let mut failed = Vec::new();
    for (i, (env, mut child)) in roles.iter().zip(children).enumerate() {
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > until {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = child.wait().unwrap();
        let read = |what: &str| {
            std::fs::read_to_string(dir.path().join(format!("{i}.{what}"))).unwrap_or_default()
        };
        let (stdout, stderr) = (read("stdout"), read("stderr"));
        // A filter that matches nothing runs no test and still exits 0: the child must
        // have run exactly the one test asked for.
        let ran = stdout.contains("test result: ok. 1 passed");
        if !status.success() || !ran {
            failed.push(format!(
                "child {env:?}: {status}, ran the test: {ran}\n{stdout}{stderr}"
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
