//! `docker-pass engine serve` as a user runs it: the real keychain (a private
//! gnome-keyring) behind the daemon, `run --engine` and `get --engine` end to end, a
//! peer with another uid refused, a restart over a stale socket, a stop within 2 s
//! with a request in flight, and the file store's identity held while it runs.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use predicates::prelude::*;
use secrets_engine_test_support::services;

/// A fresh HOME; with a keyring when asked.
struct Home {
    dir: tempfile::TempDir,
    bus: Option<String>,
}

impl Home {
    fn new(keyring: bool) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let bus = keyring.then(|| services::start_keyring(&dir.path().join("keyring")));
        Home { dir, bus }
    }

    fn command(&self) -> Command {
        let mut c = Command::cargo_bin("docker-pass").unwrap();
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("SECRETS_ENGINE_FILE_WORK_FACTOR", "10")
            .env("SECRETS_ENGINE_FILE_SESSION_TIMEOUT", "0");
        if let Some(bus) = &self.bus {
            c.env("DBUS_SESSION_BUS_ADDRESS", bus);
        }
        c
    }

    fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/engine.sock")
    }

    /// `engine serve` on `sockets`, once it says it is serving.
    fn serve(&self, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
        let mut c = self.command();
        c.args(["engine", "serve"]).args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        Daemon::start(c)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if self.bus.is_some() {
            services::stop("keyring", &self.dir.path().join("keyring"));
        }
    }
}

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Daemon {
    fn start(mut c: Command) -> Daemon {
        let mut child = c.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut d = Daemon { child, lines };
        let first = d.line();
        assert!(first.contains("engine serving on"), "{first}");
        d
    }

    fn line(&mut self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = self.child.kill();
                panic!("engine serve said nothing: {:?}", self.child.wait())
            })
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits for the process to exit, at most `limit`; how long it took.
    fn exited_within(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "engine serve exited with {status}");
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
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

#[test]
fn run_and_get_resolve_through_the_daemon_and_its_real_keychain() {
    let h = Home::new(true);
    for i in 0..3 {
        h.cmd()
            .args(["set", &format!("app/k{i}=value-{i}")])
            .assert()
            .success();
    }
    let sock = h.socket();
    let _d = h.serve(&["--socket", sock.to_str().unwrap()], &[]);
    // The client side has no bus at all: only the daemon reaches the keychain.
    let client = || {
        let mut c = h.cmd();
        c.env_remove("DBUS_SESSION_BUS_ADDRESS");
        c
    };
    client()
        .args(["get", &engine_flag(&sock), "app/k1", "--reveal"])
        .assert()
        .success()
        .stdout("value-1");
    client()
        .args(["get", &engine_flag(&sock), "app/*"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ID: app/k0").and(predicate::str::contains("ID: app/k2")));
    client()
        .env("A", "se://app/k0")
        .env("B", "se://app/k2")
        .env("PLAIN", "plain")
        .args([
            "run",
            &engine_flag(&sock),
            "--",
            "sh",
            "-c",
            "printf %s \"$A,$B,$PLAIN\"",
        ])
        .assert()
        .success()
        .stdout("value-0,value-2,plain");
    client()
        .env("A", "se://app/missing")
        .args(["run", &engine_flag(&sock), "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("app/missing"));
    // Without =SOCKET: Docker's engine socket, where `engine serve` listens by default.
    let _default = h.serve(&[], &[]);
    client()
        .args(["get", "--engine", "app/k2", "--reveal"])
        .assert()
        .success()
        .stdout("value-2");
}

#[test]
fn a_peer_with_another_uid_is_refused() {
    let h = Home::new(false);
    h.cmd()
        .args(["--store", "file", "set", "app/k=v"])
        .env("SECRETS_ENGINE_FILE_PASSPHRASE", "pw")
        .assert()
        .success();
    // An abstract socket has no file permissions: only the peer-uid check stands
    // between another user and this one's secrets.
    let name = format!("@secrets-engine-test/{}/peer.sock", std::process::id());
    let _d = h.serve(
        &["--socket", &name],
        &[("SECRETS_ENGINE_FILE_PASSPHRASE", "pw")],
    );
    h.cmd()
        .args([
            "--store",
            "file",
            "get",
            &format!("--engine={name}"),
            "app/k",
            "--reveal",
        ])
        .assert()
        .success()
        .stdout("v");
    // The same binary as uid/gid 65534, through setpriv; it must be able to run it.
    let bin = h.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::set_permissions(h.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = bin.join("docker-pass");
    std::fs::copy(assert_cmd::cargo::cargo_bin("docker-pass"), &exe).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["get", &format!("--engine={name}"), "app/k", "--reveal"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/nonexistent")
        .output()
        .expect("setpriv (util-linux, scripts/setup)");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("permission denied") && stderr.contains("uid 65534 is not allowed"),
        "{stderr}"
    );
}

#[test]
fn a_restart_replaces_a_stale_socket_and_never_takes_over_a_live_one() {
    let h = Home::new(false);
    let sock = h.socket();
    let args = [
        "--store",
        "file",
        "engine",
        "serve",
        "--socket",
        sock.to_str().unwrap(),
    ];
    let mut first = Daemon::start({
        let mut c = h.command();
        c.args(args);
        c
    });
    // A second engine on the same socket is refused; the first still answers.
    h.cmd()
        .args(args)
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("another engine already listens"));
    h.cmd()
        .args(["get", &engine_flag(&sock), "nothing/here"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no secret matches nothing/here"));
    // Killed outright, it leaves its socket file behind: a stale socket.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(sock.exists());
    let _second = Daemon::start({
        let mut c = h.command();
        c.args(args);
        c
    });
    h.cmd()
        .args(["get", &engine_flag(&sock), "nothing/here"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no secret matches nothing/here"));
}

#[test]
fn sigterm_and_sigint_stop_the_engine_within_two_seconds_with_a_request_in_flight() {
    let h = Home::new(false);
    // A credential helper that never answers holds a lookup in flight.
    let bin = h.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-stuck");
    std::fs::write(&helper, "#!/bin/sh\nexec sleep 60\n").unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(h.dir.path().join(".docker")).unwrap();
    std::fs::write(
        h.dir.path().join(".docker/config.json"),
        r#"{"credsStore": "stuck"}"#,
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let sock = h.socket();
    for sig in ["TERM", "INT"] {
        let mut d = h.serve(
            &["--store", "file", "--socket", sock.to_str().unwrap()],
            &[("PATH", &path)],
        );
        let mut lookup = h
            .command()
            .args(["get", &engine_flag(&sock), "docker/auth/registry.example"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            lookup.try_wait().unwrap().is_none(),
            "the lookup is in flight"
        );
        d.signal(sig);
        let took = d.exited_within(Duration::from_secs(2));
        eprintln!("SIG{sig}: stopped in {took:?}");
        let status = lookup.wait().unwrap();
        assert!(!status.success());
        assert!(!sock.exists(), "the socket file is removed");
    }
}

/// Issue 17: a running engine unwraps the file store's identity once and keeps it:
/// with the session cache off, it keeps answering after `identity.age` is gone.
#[test]
fn the_serving_engine_holds_the_file_stores_identity_for_its_lifetime() {
    let h = Home::new(false);
    let pass = [("SECRETS_ENGINE_FILE_PASSPHRASE", "pw")];
    h.cmd()
        .args(["--store", "file", "set", "app/k=held"])
        .env(pass[0].0, pass[0].1)
        .assert()
        .success();
    let sock = h.socket();
    let _d = h.serve(
        &["--store", "file", "--socket", sock.to_str().unwrap()],
        &pass,
    );
    let get = || {
        h.cmd()
            .args(["get", &engine_flag(&sock), "app/k", "--reveal"])
            .assert()
    };
    get().success().stdout("held");
    let identity = h.dir.path().join("data/secrets-engine/files/identity.age");
    let moved = identity.with_extension("moved");
    std::fs::rename(&identity, &moved).unwrap();
    // Without the engine, nothing can unlock the store now.
    h.cmd()
        .args(["--store", "file", "get", "app/k", "--reveal"])
        .env(pass[0].0, pass[0].1)
        .assert()
        .failure();
    get().success().stdout("held");
    std::fs::rename(&moved, &identity).unwrap();
}
