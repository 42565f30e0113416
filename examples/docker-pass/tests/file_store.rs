//! `docker-pass` on a headless host (no Secret Service, no session bus at all): the
//! encrypted file store as the default store, the passphrase prompt, the session
//! cache and `lock`, a vault-only run without a passphrase, and many processes
//! writing one id at once.
#![cfg(unix)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use predicates::prelude::*;
use secrets_engine_test_support::bao::Bao;

const PASS: &str = "headless-pass";

/// A fresh HOME with no bus address: what a CI runner or a container looks like.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        Host {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// docker-pass with only these variables: no passphrase, no session cache (each
    /// test that wants one says so), a cheap work factor for new stores.
    fn command(&self) -> Command {
        let mut c = Command::cargo_bin("docker-pass").unwrap();
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("SECRETS_ENGINE_FILE_WORK_FACTOR", "10")
            .env("SECRETS_ENGINE_FILE_SESSION_TIMEOUT", "0");
        c
    }

    fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command())
    }

    fn with_pass(&self) -> assert_cmd::Command {
        let mut c = self.cmd();
        c.env("SECRETS_ENGINE_FILE_PASSPHRASE", PASS);
        c
    }

    fn store_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data/secrets-engine/files")
    }
}

#[test]
fn a_vault_only_run_on_a_headless_host_needs_no_passphrase() {
    let h = Host::new();
    let bao = Bao::start();
    for i in 0..10 {
        bao.put_secret_blocking(
            &format!("app/k{i}"),
            serde_json::json!({"value": format!("v{i}")}),
        );
    }
    let (addr, token) = (bao.address.clone(), bao.token.clone());
    let run = |store_exists: bool| {
        let mut c = h.cmd();
        c.env("VAULT_ADDR", &addr).env("VAULT_TOKEN", &token);
        for i in 0..10 {
            c.env(format!("K{i}"), format!("se://vault/app/k{i}/value"));
        }
        c.args(["run", "--", "sh", "-c", "printf %s \"$K0$K9\""])
            .timeout(Duration::from_secs(60))
            .assert()
            .success()
            .stdout("v0v9")
            .stderr("");
        assert_eq!(
            h.store_dir().exists(),
            store_exists,
            "run created the file store"
        );
    };
    // No file store yet, then one that holds secrets but is locked (no passphrase).
    run(false);
    h.with_pass()
        .args(["set", "local/x"])
        .write_stdin("x")
        .assert()
        .success();
    run(true);
    // It is locked, and says so; vault runs.
    h.cmd()
        .env("VAULT_ADDR", &addr)
        .env("VAULT_TOKEN", &token)
        .args(["plugins", "ls"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(r"(?m)^file\s+\*\*\s+no\s+locked")
                .unwrap()
                .and(predicate::str::is_match(r"(?m)^vault\s+vault/\*\*\s+yes\s+running").unwrap()),
        );
    // A reference the locked store may hold fails as locked, and names what to set.
    h.cmd()
        .env("L", "se://local/x")
        .args(["run", "--", "true"])
        .assert()
        .code(125)
        .stderr(
            predicate::str::contains("locked")
                .and(predicate::str::contains("SECRETS_ENGINE_FILE_PASSPHRASE")),
        );
}

/// `keygen` makes a key file (mode 0600, age-keygen's format) that unlocks a new
/// store without a passphrase and without scrypt; it never overwrites a file, and a
/// store made with another key refuses it.
#[test]
fn keygen_writes_a_key_file_that_unlocks_the_store() {
    use std::os::unix::fs::PermissionsExt;
    let h = Host::new();
    // Its directory does not exist yet: made, private.
    let key = h.dir.path().join("config/secrets-engine/file.key");
    let out = h.cmd().arg("keygen").arg(&key).assert().success();
    assert_eq!(
        std::fs::metadata(key.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret_line = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .expect("an age identity line");
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("a public key comment");
    assert!(public.starts_with("age1"), "{public}");
    assert!(stderr.contains(public), "{stderr}");
    assert!(!stderr.contains(secret_line), "the key reached stderr");

    h.cmd()
        .env("SECRETS_ENGINE_FILE_KEY", &key)
        .args(["set", "app/token=from-key-file"])
        .assert()
        .success();
    // The store holds no passphrase-wrapped identity, and its recipient is the key's.
    assert!(!h.store_dir().join("identity.age").exists());
    assert_eq!(
        std::fs::read_to_string(h.store_dir().join("recipient.txt"))
            .unwrap()
            .trim(),
        public
    );
    h.cmd()
        .env("SECRETS_ENGINE_FILE_KEY", &key)
        .args(["get", "app/token", "--reveal"])
        .assert()
        .success()
        .stdout(predicate::str::contains("from-key-file"));

    // A passphrase is refused before anything is written: the store stays a key
    // file's.
    h.with_pass()
        .args(["set", "app/other=x"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "is unlocked by a key file (SECRETS_ENGINE_FILE_KEY), not a passphrase",
        ));
    assert!(!h.store_dir().join("identity.age").exists());
    // And `plugins ls` says so: with only a passphrase, the store is locked.
    h.with_pass()
        .args(["plugins", "ls", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            r#""name":"file","pattern":"**","state":"locked""#,
        ));

    // Never overwritten.
    let before = std::fs::read(&key).unwrap();
    h.cmd()
        .arg("keygen")
        .arg(&key)
        .assert()
        .failure()
        .stderr(predicate::str::contains(key.to_str().unwrap()));
    assert_eq!(std::fs::read(&key).unwrap(), before);

    // Another key does not open this store.
    let other = h.dir.path().join("other.key");
    h.cmd().arg("keygen").arg(&other).assert().success();
    h.cmd()
        .env("SECRETS_ENGINE_FILE_KEY", &other)
        .args(["get", "app/token", "--reveal"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "does not belong to the file store",
        ));
}

#[test]
fn plugins_ls_shows_the_file_store_running_once_unlockable() {
    let h = Host::new();
    h.with_pass()
        .args(["set", "p/x"])
        .write_stdin("x")
        .assert()
        .success();
    h.with_pass()
        .args(["plugins", "ls", "--json"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(r#""name":"file""#)
                .and(predicate::str::contains(r#""state":"running""#)),
        );
    h.cmd()
        .args(["plugins", "ls", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains(r#""state":"locked""#));
}

#[test]
fn set_with_the_value_in_argv_warns_on_stderr() {
    let h = Host::new();
    h.with_pass()
        .args(["set", "w/x=in-argv"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("warning")
                .and(predicate::str::contains("stdin"))
                .and(predicate::str::contains("in-argv").not()),
        );
    // From stdin: no warning about argv.
    h.with_pass()
        .args(["set", "w/y"])
        .write_stdin("v")
        .assert()
        .success()
        .stderr(predicate::str::contains("process list").not());
}

/// Python: prints 1 when a keyctl search of the caller's session keyring finds the
/// `user` key described by its argument (the file store's cache key), else 0.
const FINDS_CACHE_KEY: &str = r#"
import ctypes, platform, sys
libc = ctypes.CDLL(None, use_errno=True)
keyctl = {"x86_64": 250, "aarch64": 219}[platform.machine()]
# keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", description, 0)
print(1 if libc.syscall(keyctl, 10, -3, b"user", sys.argv[1].encode(), 0) > 0 else 0)
"#;

/// Runs in a session keyring of its own (support::session_keyring): the cache it
/// writes never reaches the keyring of whoever runs the tests.
#[cfg(target_os = "linux")]
#[test]
fn run_passes_no_key_material_to_the_command() {
    use secrets_engine_test_support::session_keyring;
    let h = Host::new();
    let key = h.dir.path().join("age.key");
    let cache_key = session_keyring::own("run-env", || {
        h.with_pass()
            .args(["set", "k/x"])
            .write_stdin("kv")
            .assert()
            .success();
        std::fs::write(&key, "AGE-SECRET-KEY-1NOTAREALKEYBUTNOTTOBELEAKED\n").unwrap();
        let out = h
            .with_pass()
            .env("SECRETS_ENGINE_FILE_SESSION_TIMEOUT", "60")
            .env("V", "se://k/x")
            .args(["run", "--", "env"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8(out.stdout).unwrap();
        assert!(env.contains("V=kv"), "{env}");
        assert!(!env.contains(PASS), "{env}");
        assert!(!env.contains("SECRETS_ENGINE_FILE_PASSPHRASE"), "{env}");
        assert!(!env.contains("AGE-SECRET-KEY"), "{env}");
        // Nor the cached identity: the command runs in a session keyring of its own,
        // so a search of its session keyring does not find the cache key, while the
        // same search from this thread (whose session keyring the cache went into)
        // finds it: the check can fail.
        let cache_key = session_keyring::file_store_key(&h.store_dir());
        let out = h
            .with_pass()
            .env("SECRETS_ENGINE_FILE_SESSION_TIMEOUT", "60")
            .env("V", "se://k/x")
            .args(["run", "--", "python3", "-c", FINDS_CACHE_KEY])
            .arg(&cache_key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
        let here = Command::new("python3")
            .args(["-c", FINDS_CACHE_KEY, &cache_key])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&here.stdout).trim(),
            "1",
            "the cache key is not in this test's session keyring: {}",
            String::from_utf8_lossy(&here.stderr)
        );
        // The key file's path is not passed on either.
        let out = h
            .cmd()
            .env("SECRETS_ENGINE_FILE_KEY", &key)
            .args(["run", "--", "env"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(!String::from_utf8_lossy(&out.stdout).contains("SECRETS_ENGINE_FILE_KEY"));
        cache_key
    });
    assert!(!session_keyring::holds(&cache_key));
    assert!(!session_keyring::user_session_holds(&cache_key));
}

/// In a session keyring of its own, as above.
#[cfg(target_os = "linux")]
#[test]
fn the_session_cache_unlocks_later_commands_until_lock() {
    use secrets_engine_test_support::session_keyring;
    let h = Host::new();
    let cached = || {
        let mut c = h.cmd();
        c.env("SECRETS_ENGINE_FILE_SESSION_TIMEOUT", "120");
        c
    };
    let cache_key = session_keyring::own("dp-cache", || {
        cached()
            .env("SECRETS_ENGINE_FILE_PASSPHRASE", PASS)
            .args(["set", "s/x"])
            .write_stdin("cached-value")
            .assert()
            .success();
        // No passphrase: the session keyring holds the identity.
        cached()
            .args(["get", "s/x", "--reveal"])
            .assert()
            .success()
            .stdout("cached-value");
        cached()
            .args(["plugins", "ls"])
            .assert()
            .success()
            .stdout(predicate::str::is_match(r"(?m)^file\s+\*\*\s+no\s+running").unwrap());
        let cache_key = session_keyring::file_store_key(&h.store_dir());
        assert!(session_keyring::holds(&cache_key));
        cached()
            .arg("lock")
            .assert()
            .success()
            .stderr(predicate::str::contains("locked"));
        assert!(!session_keyring::holds(&cache_key));
        cached()
            .args(["get", "s/x", "--reveal"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("locked"));
        cached()
            .args(["plugins", "ls"])
            .assert()
            .success()
            .stdout(predicate::str::is_match(r"(?m)^file\s+\*\*\s+no\s+locked").unwrap());
        // Unlocked again, for the check below.
        cached()
            .env("SECRETS_ENGINE_FILE_PASSPHRASE", PASS)
            .args(["get", "s/x", "--reveal"])
            .assert()
            .success();
        assert!(session_keyring::holds(&cache_key));
        cache_key
    });
    // Nothing reached the keyring of whoever runs the tests.
    assert!(!session_keyring::holds(&cache_key));
    assert!(!session_keyring::user_session_holds(&cache_key));
}

/// A command with no session keyring of its own (cron, a CI job: the kernel then
/// gives it the user-session keyring, shared by every process of this uid) caches
/// nothing: the next command needs the passphrase again.
#[cfg(target_os = "linux")]
#[test]
fn without_a_session_keyring_of_its_own_nothing_is_cached() {
    use secrets_engine_test_support::session_keyring;
    let h = Host::new();
    session_keyring::shared(|| {
        h.with_pass()
            .env("SECRETS_ENGINE_FILE_SESSION_TIMEOUT", "120")
            .args(["set", "c/x"])
            .write_stdin("v")
            .assert()
            .success();
        let cache_key = session_keyring::file_store_key(&h.store_dir());
        assert!(
            !session_keyring::user_session_holds(&cache_key),
            "the identity was cached in the user-session keyring"
        );
        h.cmd()
            .env("SECRETS_ENGINE_FILE_SESSION_TIMEOUT", "120")
            .args(["get", "c/x", "--reveal"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("locked"));
    });
}

#[test]
fn on_a_terminal_the_passphrase_is_prompted_without_echo_twice_on_first_use() {
    let h = Host::new();
    let mut cmd = h.command();
    cmd.args(["set", "tty/x"]);
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    p.exp_string("Secret for tty/x:").unwrap();
    p.send_line("the-value").unwrap();
    // Whatever the terminal shows between prompts: an echo would be there.
    let after_value = p.exp_string("New passphrase for the file store:").unwrap();
    p.send_line("typed-pass").unwrap();
    let after_pass = p.exp_string("Repeat the passphrase:").unwrap();
    p.send_line("typed-pass").unwrap();
    let rest = p.exp_eof().unwrap();
    for shown in [&after_value, &after_pass, &rest] {
        assert!(
            !shown.contains("typed-pass") && !shown.contains("the-value"),
            "echoed: {shown:?}"
        );
    }
    // Later: asked once; the typed passphrase unlocks what it wrote.
    let mut cmd = h.command();
    cmd.args(["get", "tty/x", "--reveal"]);
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    p.exp_string("Passphrase for the file store:").unwrap();
    p.send_line("typed-pass").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("the-value"), "{rest:?}");
    assert!(!rest.contains("typed-pass"), "echoed: {rest:?}");
    h.with_pass_of("typed-pass")
        .args(["get", "tty/x", "--reveal"])
        .assert()
        .success()
        .stdout("the-value");
    // Mismatched confirmation on a new store: nothing is created.
    let fresh = Host::new();
    let mut cmd = fresh.command();
    cmd.args(["set", "tty/y=v"]);
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    p.exp_string("New passphrase for the file store:").unwrap();
    p.send_line("one").unwrap();
    p.exp_string("Repeat the passphrase:").unwrap();
    p.send_line("two").unwrap();
    p.exp_string("do not match").unwrap();
    p.exp_eof().unwrap();
    assert!(!fresh.store_dir().join("identity.age").exists());
}

/// Ctrl-C at the passphrase prompt ends the command (status 130) with the terminal's
/// echo back on: the prompt reads it as a byte, with echo and signal keys off, and
/// its guard puts the settings back before the process exits. (rpassword let the
/// signal kill the process with echo still off.)
#[test]
fn ctrl_c_at_the_passphrase_prompt_leaves_echo_on() {
    use rustix::termios::{LocalModes, tcgetattr};
    let h = Host::new();
    h.with_pass()
        .args(["set", "c/x"])
        .write_stdin("v")
        .assert()
        .success();
    // rexpect turns echo off in the child; a terminal a person uses has it on.
    let dp = h.command();
    let mut cmd = Command::new("sh");
    cmd.env_clear()
        .envs(dp.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args(["-c", "stty echo && exec \"$0\" get c/x --reveal"])
        .arg(dp.get_program());
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    let echo = |p: &rexpect::session::PtySession| {
        tcgetattr(&p.process.pty)
            .unwrap()
            .local_modes
            .contains(LocalModes::ECHO)
    };
    p.exp_string("Passphrase for the file store:").unwrap();
    // The label is written just before echo goes off.
    let t = std::time::Instant::now();
    while echo(&p) {
        assert!(t.elapsed() < Duration::from_secs(10), "echo never went off");
        std::thread::sleep(Duration::from_millis(10));
    }
    p.send_control('c').unwrap();
    p.exp_eof().unwrap();
    let status = format!("{:?}", p.process.wait().unwrap());
    assert!(
        status.contains("Exited") && status.contains("130"),
        "{status}"
    );
    assert!(echo(&p), "echo left off after Ctrl-C");
}

#[test]
fn without_a_terminal_nothing_is_prompted() {
    let h = Host::new();
    h.with_pass()
        .args(["set", "n/x"])
        .write_stdin("v")
        .assert()
        .success();
    // stdin is not a terminal (here /dev/null): a clear error, at once, no prompt and
    // no attempt at one. Run without a controlling terminal (setsid) and under a
    // timeout, so a prompt that was tried fails visibly ("cannot read the passphrase")
    // instead of waiting on a developer's terminal.
    let inner = h.command();
    let mut cmd = Command::new("timeout");
    cmd.env_clear()
        .args(["20", "setsid", "--wait"])
        .arg(inner.get_program())
        .args(["get", "n/x", "--reveal"])
        .stdin(Stdio::null());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out: Output = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("locked")
            && !err.contains("Passphrase for")
            && !err.contains("cannot read the passphrase"),
        "{err}"
    );
}

impl Host {
    fn with_pass_of(&self, pass: &str) -> assert_cmd::Command {
        let mut c = self.cmd();
        c.env("SECRETS_ENGINE_FILE_PASSPHRASE", pass);
        c
    }

    /// `set id` with `value` on stdin, through the file store, as a background process.
    fn spawn_set(&self, id: &str, value: &str) -> std::process::Child {
        let mut c = self.command();
        c.env("SECRETS_ENGINE_FILE_PASSPHRASE", PASS)
            .args(["--store", "file", "set", id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
        child
    }

    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(self.store_dir().join("secrets"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with('.'))
            .collect()
    }
}

/// 8 processes × `rounds` runs of `one(process, round)`, all at once.
fn in_eight_processes(rounds: usize, one: impl Fn(usize, usize) -> std::process::Child + Sync) {
    std::thread::scope(|s| {
        for w in 0..8 {
            let one = &one;
            s.spawn(move || {
                for r in 0..rounds {
                    let out = one(w, r).wait_with_output().unwrap();
                    let said = format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    // A remove may find the id already removed; nothing else may fail.
                    assert!(
                        out.status.success() || said.contains("no secret matches"),
                        "process {w} round {r}: {said}"
                    );
                }
            });
        }
    });
}

#[test]
fn eight_processes_upserting_one_id_leave_one_entry_with_a_written_value() {
    let h = Host::new();
    h.with_pass()
        .args(["--store", "file", "set", "race/id"])
        .write_stdin("seed")
        .assert()
        .success();
    in_eight_processes(100, |w, r| h.spawn_set("race/id", &format!("w{w}-r{r}")));
    assert_eq!(h.entries().len(), 1, "{:?}", h.entries());
    let out = h
        .with_pass()
        .args(["--store", "file", "get", "race/id", "--reveal"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let value = String::from_utf8(out.stdout).unwrap();
    let written = (0..8).any(|w| (0..100).any(|r| value == format!("w{w}-r{r}")));
    assert!(written, "{value:?} was never written");
    // The last round of some process is the final value.
    assert!(value.ends_with("-r99"), "{value:?}");
    let pending: Vec<_> = std::fs::read_dir(h.store_dir().join("secrets/.tmp"))
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(pending.is_empty(), "temporary files left: {pending:?}");
}

#[test]
fn remove_racing_set_leaves_the_value_or_nothing() {
    let h = Host::new();
    h.with_pass()
        .args(["--store", "file", "set", "rr/id"])
        .write_stdin("seed")
        .assert()
        .success();
    in_eight_processes(50, |w, r| {
        if w % 2 == 0 {
            h.spawn_set("rr/id", &format!("w{w}-r{r}"))
        } else {
            let mut c = h.command();
            c.env("SECRETS_ENGINE_FILE_PASSPHRASE", PASS)
                .args(["--store", "file", "rm", "rr/id"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c.spawn().unwrap()
        }
    });
    let entries = h.entries();
    assert!(entries.len() <= 1, "{entries:?}");
    let out = h
        .with_pass()
        .args(["--store", "file", "get", "rr/id", "--reveal"])
        .output()
        .unwrap();
    if entries.is_empty() {
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no secret matches"));
    } else {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value = String::from_utf8(out.stdout).unwrap();
        assert!(
            (0..8)
                .step_by(2)
                .any(|w| (0..50).any(|r| value == format!("w{w}-r{r}"))),
            "{value:?} was never written"
        );
    }
}
