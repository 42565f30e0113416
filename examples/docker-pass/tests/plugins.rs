//! `docker-pass engine serve` hosting plugins built on Docker's plugin protocol: the
//! project's Go test plugin (hashicorp/yamux) found in `<config dir>/secrets-engine/plugins/`
//! and given with `--plugin`, beside the real keychain (a private gnome-keyring);
//! `plugins ls --engine` as the user sees a plugin that never registers; and no
//! plugin process left after SIGTERM.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use predicates::prelude::*;
use secrets_engine_test_support::services;
use secrets_engine_test_support::testplugin::{alive, install, pids};
use serde_json::json;

struct Home {
    dir: tempfile::TempDir,
    bus: String,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let bus = services::start_keyring(&dir.path().join("keyring"));
        Home { dir, bus }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn command(&self) -> Command {
        let mut c = Command::cargo_bin("docker-pass").unwrap();
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus);
        c
    }

    fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command())
    }

    fn serve(&self, args: &[&str]) -> Daemon {
        let mut c = self.command();
        c.args(["engine", "serve"]).args(args);
        let mut child = c.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Plugins register (or time out) before the engine says it is serving.
        let mut early = Vec::new();
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .expect("engine serve said it is serving");
            if line.contains("engine serving on") {
                break;
            }
            early.push(line);
        }
        Daemon { child, early }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        services::stop("keyring", &self.path("keyring"));
    }
}

struct Daemon {
    child: Child,
    /// What it wrote to stderr before it said it was serving.
    early: Vec<String>,
}

impl Daemon {
    fn stop(&mut self, limit: Duration) {
        let ok = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "engine serve exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("engine serve did not stop within {limit:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn engine_flag(socket: &Path) -> String {
    format!("--engine={}", socket.display())
}

fn gone(pids: &[u32]) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if pids.iter().all(|p| !alive(*p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_plugin_in_the_plugin_dir_answers_beside_the_keychain() {
    let h = Home::new();
    h.cmd()
        .args(["set", "team/db=from-keychain"])
        .assert()
        .success();
    let dir = h.path("config/secrets-engine/plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = h.path("vaultish.pids");
    // Its behaviour file beside it is not executable, so not launched.
    install(
        &dir,
        "vaultish",
        &json!({"pattern": "**", "secrets": {"plug/token": "from-plugin"},
                "pids": pid_file, "child": true}),
    );
    // Files whose names cannot name a provider (or name a store) are skipped with a
    // warning; the engine starts all the same. The same plugin given again by
    // --plugin is launched once.
    for bad in ["Bad.Name", "file"] {
        install(
            &dir,
            bad,
            &json!({"pattern": "x/**", "pids": h.path(&format!("{bad}.pids"))}),
        );
    }
    let sock = h.path("run/engine.sock");
    let again = dir.join("vaultish");
    let mut d = h.serve(&[
        "--socket",
        sock.to_str().unwrap(),
        "--plugin",
        again.to_str().unwrap(),
    ]);
    let client = || {
        let mut c = h.cmd();
        c.env_remove("DBUS_SESSION_BUS_ADDRESS");
        c
    };
    client()
        .env("A", "se://team/db")
        .env("B", "se://plug/token")
        .args([
            "run",
            &engine_flag(&sock),
            "--",
            "sh",
            "-c",
            "printf %s \"$A,$B\"",
        ])
        .assert()
        .success()
        .stdout("from-keychain,from-plugin");
    // One lookup under `**`, merged from the keychain and the plugin.
    client()
        .args(["get", &engine_flag(&sock), "**"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("ID: team/db").and(predicate::str::contains("ID: plug/token")),
        );
    let ls = client()
        .args(["plugins", "ls", &engine_flag(&sock)])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&ls.get_output().stdout).into_owned();
    println!("{out}");
    let row = out.lines().find(|l| l.starts_with("vaultish")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, ["vaultish", "**", "yes", "running"], "{out}");

    assert!(!out.contains("Bad.Name"), "{out}");
    let early = d.early.join("\n");
    assert!(
        early.contains("plugin skipped") && early.contains("Bad.Name"),
        "{early}"
    );
    assert!(pids(&h.path("Bad.Name.pids")).is_empty());
    assert!(pids(&h.path("file.pids")).is_empty());
    let all = pids(&pid_file);
    assert_eq!(all.len(), 2, "the plugin (once) and its child");
    d.stop(Duration::from_secs(2));
    assert!(gone(&all), "plugin processes outlived engine serve");
}

#[test]
fn plugins_ls_shows_a_plugin_that_never_registers_as_crashed() {
    let h = Home::new();
    let dir = h.path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = h.path("silent.pids");
    let silent = install(
        &dir,
        "silent",
        &json!({"pattern": "**", "mode": "noregister", "pids": pid_file}),
    );
    let sock = h.path("run/engine.sock");
    let start = Instant::now();
    let mut d = h.serve(&[
        "--socket",
        sock.to_str().unwrap(),
        "--plugin",
        silent.to_str().unwrap(),
    ]);
    // Serving starts once the registration has timed out (5 s), not later.
    assert!(start.elapsed() < Duration::from_secs(12));
    let ls = h
        .cmd()
        .args(["plugins", "ls", &engine_flag(&sock)])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&ls.get_output().stdout).into_owned();
    println!("{out}");
    let row = out.lines().find(|l| l.starts_with("silent")).unwrap();
    assert!(row.contains(" crashed "), "{out}");
    assert!(
        row.contains("plugin registration timed out after 5s; restarting in 2s"),
        "{out}"
    );
    let json = h
        .cmd()
        .args(["plugins", "ls", "--json", &engine_flag(&sock)])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    let silent = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "silent")
        .unwrap();
    assert_eq!(silent["state"], "crashed");
    assert_eq!(silent["external"], false);
    // Never seen to register, it is no access-control module and, past start-up,
    // claims nothing: a client's lookup is not refused because of it, and "not
    // found" stays "not found".
    h.cmd()
        .env("A", "se://some/id")
        .args(["run", &engine_flag(&sock), "--", "true"])
        .assert()
        .code(125)
        .stderr(
            predicate::str::contains("no secret matches some/id")
                .and(predicate::str::contains("permission denied").not()),
        );
    d.stop(Duration::from_secs(2));
    assert!(gone(&pids(&pid_file)));
}

/// SIGTERM while the plugins are still registering (before the engine serves):
/// `engine serve` stops them and exits cleanly, leaving no plugin process.
#[test]
fn sigterm_during_plugin_start_up_stops_the_plugins_and_exits_cleanly() {
    let h = Home::new();
    let dir = h.path("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = h.path("silent.pids");
    let silent = install(
        &dir,
        "silent",
        &json!({"pattern": "**", "mode": "noregister", "pids": pid_file}),
    );
    let sock = h.path("run/engine.sock");
    let child = h
        .command()
        .args([
            "engine",
            "serve",
            "--socket",
            sock.to_str().unwrap(),
            "--plugin",
            silent.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed on drop if an assertion fails first.
    let mut daemon = Daemon {
        child,
        early: Vec::new(),
    };
    // Launched (so the sockets are bound), and far from its 5 s registration timeout.
    let start = Instant::now();
    while pids(&pid_file).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the plugin launched"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let launched = pids(&pid_file);
    daemon.stop(Duration::from_secs(3));
    // Well before it would have served (the 5 s registration timeout and 2 s).
    assert!(
        start.elapsed() < Duration::from_secs(7),
        "{:?}",
        start.elapsed()
    );
    assert!(gone(&launched), "plugin processes outlived engine serve");
}
