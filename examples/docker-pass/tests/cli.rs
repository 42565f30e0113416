//! `docker-pass` as a user runs it: real processes, a real gnome-keyring on a private
//! bus (started through scripts/services/keyring), a pseudo-terminal where it matters.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use predicates::prelude::*;

const GROUP: &str = "com.docker.docker-pass";
const NAME: &str = "docker-pass-cli";

struct Env {
    dir: tempfile::TempDir,
    address: String,
}

use secrets_engine_test_support::bao::Bao;
use secrets_engine_test_support::services;

impl Env {
    /// A fresh HOME, config file and keyring of this test's own.
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let address = services::start_keyring(&dir.path().join("keyring"));
        Env { dir, address }
    }

    fn command(&self) -> Command {
        let mut c = Command::cargo_bin("docker-pass").unwrap();
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address);
        c
    }

    fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command())
    }

    fn secret_tool(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let mut child = Command::new("secret-tool")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap().stdout
    }

    fn items_for(&self, id: &str) -> usize {
        let out = self.secret_tool(&["search", "--all", "service:group", GROUP, "id", id], b"");
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| l.starts_with("label = "))
            .count()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        services::stop("keyring", &self.dir.path().join("keyring"));
    }
}

#[test]
fn set_get_ls_round_trip() {
    let e = Env::new();
    e.cmd()
        .args(["set", "app/token=abc=123", "--metadata", "user=me"])
        .assert()
        .success()
        .stdout("");
    e.cmd().args(["set", "app/other=x"]).assert().success();
    e.cmd()
        .args(["get", "app/*"])
        .assert()
        .success()
        .stdout("ID: app/other\nProvider: docker-pass\nValue: ********\n\nID: app/token\nProvider: docker-pass\nValue: ********\n");
    // `=` inside the value is kept: the split is at the first one.
    e.cmd()
        .args(["get", "app/token", "--reveal"])
        .assert()
        .success()
        .stdout("abc=123");
    e.cmd()
        .args(["get", "app/token", "--json", "--reveal"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(r#""value":"abc=123""#)
                .and(predicate::str::contains(r#""user":"me""#)),
        );
    e.cmd()
        .args(["get", "app/token", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("abc=123").not());
    e.cmd()
        .args(["ls"])
        .assert()
        .success()
        .stdout("app/other\napp/token\n")
        .stderr("");
    e.cmd().args(["ls", "app/t*"]).assert().failure();
    e.cmd()
        .args(["ls", "**/token"])
        .assert()
        .success()
        .stdout("app/token\n");
    e.cmd()
        .args(["ls", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            r#"{"id":"app/token","metadata":{"user":"me"},"provider":"docker-pass"}"#,
        ));
    // The global flag goes before or after the subcommand.
    e.cmd()
        .args(["--store", "keychain", "ls"])
        .assert()
        .success()
        .stdout("app/other\napp/token\n");
    e.cmd()
        .args(["ls", "--store", "keychain"])
        .assert()
        .success()
        .stdout("app/other\napp/token\n");
}

#[test]
fn set_reads_stdin_byte_exact() {
    let e = Env::new();
    let bytes: Vec<u8> = (0..=255u8).chain([b'\n']).collect();
    e.cmd()
        .args(["set", "bin/all"])
        .write_stdin(bytes.clone())
        .assert()
        .success();
    e.cmd()
        .args(["get", "bin/all", "--reveal"])
        .assert()
        .success()
        .stdout(bytes);
    e.cmd()
        .args(["get", "bin/all", "--json", "--reveal"])
        .assert()
        .success()
        .stdout(predicate::str::contains("value_base64"));
    // Empty stdin is refused (an empty value is stored with `ID=`).
    e.cmd()
        .args(["set", "empty/x"])
        .write_stdin("")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no value on stdin"));
    e.cmd().args(["set", "empty/x="]).assert().success();
    e.cmd()
        .args(["get", "empty/x", "--reveal"])
        .assert()
        .success()
        .stdout("");
}

#[test]
fn set_twice_keeps_one_item() {
    let e = Env::new();
    e.cmd().args(["set", "dup/x=one"]).assert().success();
    e.cmd().args(["set", "dup/x=two"]).assert().success();
    assert_eq!(e.items_for("dup/x"), 1);
    e.cmd()
        .args(["get", "dup/x", "--reveal"])
        .assert()
        .success()
        .stdout("two");
}

#[test]
fn invalid_and_missing_ids() {
    let e = Env::new();
    e.cmd()
        .args(["set", "bad//id=x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("component 1 is empty"));
    e.cmd()
        .args(["get", "a b"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid pattern"));
    e.cmd()
        .args(["get", "missing/x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no secret matches missing/x"));
    e.cmd()
        .args(["get", "missing/x", "--reveal"])
        .assert()
        .code(1)
        .stdout("");
    e.cmd()
        .args(["set", "m/x=1", "--metadata", "novalue"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("KEY=VALUE"));
    e.cmd().args(["frobnicate"]).assert().code(2);
}

#[test]
fn rm_reports_each_id_and_keeps_internal_secrets() {
    let e = Env::new();
    for i in ["r/a", "r/b", "r/c"] {
        e.cmd().args(["set", &format!("{i}=v")]).assert().success();
    }
    e.cmd()
        .args(["rm", "r/a", "r/absent", "bad//x"])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with(
            "removed: r/a\nerror: r/absent: no secret matches r/absent\nerror: bad//x: invalid id",
        ));
    // The engine's own secrets (Docker's internal realm) are hidden and survive --all.
    e.secret_tool(
        &[
            "store",
            "--label=internal",
            "service:group",
            GROUP,
            "service:name",
            NAME,
            "id",
            "docker/secrets-engine/1password/token",
        ],
        b"ops_internal",
    );
    e.cmd().args(["ls"]).assert().success().stdout("r/b\nr/c\n");
    e.cmd()
        .args(["rm", "--all"])
        .assert()
        .success()
        .stdout("removed: r/b\nremoved: r/c\n");
    e.cmd().args(["ls"]).assert().success().stdout("");
    let kept = e.secret_tool(
        &["lookup", "id", "docker/secrets-engine/1password/token"],
        b"",
    );
    assert_eq!(kept, b"ops_internal");
    e.cmd().args(["rm"]).assert().code(2);
}

#[test]
fn plugins_list_enable_disable_persist() {
    let e = Env::new();
    e.cmd().args(["plugins", "ls"]).assert().success().stdout(
        predicate::str::contains("NAME")
            .and(predicate::str::is_match(r"docker-pass\s+\*\*\s+no\s+running").unwrap()),
    );
    e.cmd()
        .args(["plugins", "disable", "docker-pass"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not configurable"));
    e.cmd()
        .args(["plugins", "enable", "docker-pass"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not configurable"));
    e.cmd()
        .args(["plugins", "disable", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no provider named \"nope\""));
    // Enabling the file store checks it can be unlocked.
    e.cmd()
        .args(["plugins", "enable", "file"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("SECRETS_ENGINE_FILE_PASSPHRASE"));
    e.cmd()
        .args(["plugins", "ls"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"file\s+\*\*\s+yes\s+disabled").unwrap());
    e.cmd()
        .env("SECRETS_ENGINE_FILE_PASSPHRASE", "pw")
        .args(["plugins", "enable", "file"])
        .assert()
        .success();
    e.cmd()
        .env("SECRETS_ENGINE_FILE_PASSPHRASE", "pw")
        .args(["plugins", "ls", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            r#""name":"file","pattern":"**","state":"running""#,
        ));
    e.cmd()
        .env("SECRETS_ENGINE_FILE_PASSPHRASE", "pw")
        .args(["plugins", "disable", "file"])
        .assert()
        .success();
    // A later invocation sees the choice.
    e.cmd()
        .args(["plugins", "ls"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"file\s+\*\*\s+yes\s+disabled").unwrap());
    assert!(
        e.dir
            .path()
            .join("config/secrets-engine/config.json")
            .exists()
    );
}

#[test]
fn run_resolves_and_passes_exit_status_through() {
    let e = Env::new();
    e.cmd()
        .args(["set", "run/token=s3cret-value"])
        .assert()
        .success();
    e.cmd()
        .env("TOKEN", "se://run/token")
        .env("PLAIN", "untouched")
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s %s' \"$TOKEN\" \"$PLAIN\"",
        ])
        .assert()
        .success()
        .stdout("s3cret-value untouched");
    for code in [0, 3, 255] {
        e.cmd()
            .args(["run", "--", "sh", "-c", &format!("exit {code}")])
            .assert()
            .code(code);
    }
    // stdin, stdout and stderr are the command's own.
    e.cmd()
        .args(["run", "--", "sh", "-c", "cat; echo err >&2"])
        .write_stdin("in")
        .assert()
        .success()
        .stdout("in")
        .stderr("err\n");
    e.cmd()
        .args(["run", "--", "/nonexistent/cmd"])
        .assert()
        .code(127);
}

#[test]
fn run_refuses_to_start_on_a_bad_reference() {
    let e = Env::new();
    let marker = e.dir.path().join("started");
    let touch = format!("touch {}", marker.display());
    e.cmd()
        .env("X", "se://run/absent")
        .args(["run", "--", "sh", "-c", &touch])
        .assert()
        .code(125)
        .stderr(predicate::str::contains(
            "not started: X: no secret matches run/absent",
        ));
    e.cmd()
        .env("X", "se://bad//ref")
        .args(["run", "--", "sh", "-c", &touch])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("invalid secret reference"));
    assert!(!marker.exists());
}

#[test]
fn run_env_files_later_wins() {
    let e = Env::new();
    e.cmd()
        .args(["set", "ef/a=from-keychain"])
        .assert()
        .success();
    let f1 = e.dir.path().join("one.env");
    let f2 = e.dir.path().join("two.env");
    std::fs::write(&f1, "# comment\nA=se://ef/a\nB=first\nC=\"quoted value\"\n").unwrap();
    std::fs::write(&f2, "export B=second\n").unwrap();
    e.cmd()
        .env("B", "process")
        .args(["run", "--env-file"])
        .arg(&f1)
        .arg("--env-file")
        .arg(&f2)
        .args(["--", "sh", "-c", "printf '%s|%s|%s' \"$A\" \"$B\" \"$C\""])
        .assert()
        .success()
        .stdout("from-keychain|second|quoted value");
    e.cmd()
        .args(["run", "--env-file", "/nonexistent.env", "--", "true"])
        .assert()
        .code(125);
}

#[test]
fn run_execs_signals_reach_the_command() {
    let e = Env::new();
    e.cmd()
        .args(["set", "sig/token=hidden-in-env"])
        .assert()
        .success();
    // Killed by a signal: the caller sees the signal, not an exit code.
    let status = e
        .command()
        .args(["run", "--", "sh", "-c", "kill -TERM $$"])
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(libc_sigterm()));
    // SIGTERM sent to the `run` process reaches the command: it is the same process.
    let mut child = e
        .command()
        .env("TOKEN", "se://sig/token")
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let pid = child.id();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"sh\0-c\0"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(
        !cmdline.windows(6).any(|w| w == b"hidden"),
        "secret in argv"
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(environ.windows(19).any(|w| w == b"TOKEN=hidden-in-env"));
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42));
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn libc_sigterm() -> i32 {
    15
}

#[test]
fn run_keeps_the_terminal_for_interactive_programs() {
    let e = Env::new();
    e.cmd()
        .args(["set", "tty/token=tty-secret"])
        .assert()
        .success();
    let mut cmd = e.command();
    cmd.env("TOKEN", "se://tty/token").args([
        "run",
        "--",
        "sh",
        "-c",
        "if [ -t 0 ]; then echo on-a-tty; fi; printf 'name? '; read n; echo \"hi $n ${#TOKEN}\"",
    ]);
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    p.exp_string("on-a-tty").unwrap();
    p.exp_string("name? ").unwrap();
    p.send_line("bob").unwrap();
    p.exp_string("hi bob 10").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn set_on_a_terminal_prompts_without_echo() {
    let e = Env::new();
    let mut cmd = e.command();
    cmd.args(["set", "tty/typed"]);
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    p.exp_string("Secret for tty/typed:").unwrap();
    p.send_line("typed-value").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(!rest.contains("typed-value"), "echoed: {rest:?}");
    e.cmd()
        .args(["get", "tty/typed", "--reveal"])
        .assert()
        .success()
        .stdout("typed-value");
}

#[test]
fn falls_back_to_the_file_store_without_a_keychain() {
    let e = Env::new();
    let no_bus = |c: &mut assert_cmd::Command| {
        c.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .env("SECRETS_ENGINE_FILE_PASSPHRASE", "demo-pass");
    };
    let mut c = e.cmd();
    no_bus(&mut c);
    c.args(["set", "f/x=file-value"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "encrypted file store (file) (no Secret Service reachable)",
        ));
    let mut c = e.cmd();
    no_bus(&mut c);
    c.args(["get", "f/x", "--reveal"])
        .assert()
        .success()
        .stdout("file-value");
    // Not in the keychain.
    e.cmd().args(["ls"]).assert().success().stdout("");
    // Forcing the file store works with the keychain up, too.
    e.cmd()
        .env("SECRETS_ENGINE_FILE_PASSPHRASE", "demo-pass")
        .args(["--store", "file", "ls"])
        .assert()
        .success()
        .stdout("f/x\n");
}

#[test]
fn help_and_completions() {
    let e = Env::new();
    for sub in ["set", "get", "ls", "rm", "run", "completions"] {
        e.cmd()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
    e.cmd()
        .args(["--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit status").and(predicate::str::contains("125")));
    for shell in ["bash", "zsh", "fish"] {
        e.cmd()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("docker-pass"));
    }
}

#[test]
fn run_cannot_execute_is_126() {
    let e = Env::new();
    let not_executable = e.dir.path().join("data.txt");
    std::fs::write(&not_executable, "not a program").unwrap();
    e.cmd()
        .arg("run")
        .arg("--")
        .arg(&not_executable)
        .assert()
        .code(126)
        .stderr(predicate::str::contains("cannot run"));
}

#[test]
fn env_files_are_not_expanded_and_errors_never_quote_lines() {
    let e = Env::new();
    let f = e.dir.path().join("three.env");
    std::fs::write(&f, "PASS=abc$def\n").unwrap();
    e.cmd()
        .arg("run")
        .arg("--env-file")
        .arg(&f)
        .args(["--", "sh", "-c", "printf %s \"$PASS\""])
        .assert()
        .success()
        .stdout("abc$def");
    let broken = e.dir.path().join("broken.env");
    std::fs::write(&broken, "OK=1\nAPI_KEY=\"sk-live-SUPERSECRET\n").unwrap();
    e.cmd()
        .arg("run")
        .arg("--env-file")
        .arg(&broken)
        .args(["--", "true"])
        .assert()
        .code(125)
        .stderr(
            predicate::str::contains("line 2").and(predicate::str::contains("SUPERSECRET").not()),
        );
}

#[test]
fn file_store_mode_keeps_run_clean_and_still_sees_the_keychain() {
    let e = Env::new();
    let no_bus = |c: &mut assert_cmd::Command| {
        c.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .env("SECRETS_ENGINE_FILE_PASSPHRASE", "demo-pass");
    };
    let mut c = e.cmd();
    no_bus(&mut c);
    c.args(["set", "f/x=file-value"]).assert().success();
    // run prints no notice (its stderr is the command's) and does not pass the
    // file store's passphrase on.
    let mut c = e.cmd();
    no_bus(&mut c);
    c.env("V", "se://f/x")
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$V\" \"${SECRETS_ENGINE_FILE_PASSPHRASE:-unset}\"",
        ])
        .assert()
        .success()
        .stdout("file-value|unset")
        .stderr("");
    // --store file with the keychain up: writes go to the file store, lookups still
    // see the keychain, and the chosen store cannot be disabled.
    e.cmd()
        .args(["set", "kc/only=in-keychain"])
        .assert()
        .success();
    let with_pass = |c: &mut assert_cmd::Command| {
        c.env("SECRETS_ENGINE_FILE_PASSPHRASE", "demo-pass");
    };
    let mut c = e.cmd();
    with_pass(&mut c);
    c.args(["--store", "file", "get", "kc/only", "--reveal"])
        .assert()
        .success()
        .stdout("in-keychain");
    let mut c = e.cmd();
    with_pass(&mut c);
    c.args(["--store", "file", "plugins", "disable", "file"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not configurable"));
}

#[test]
fn help_for_plugins_and_run_exit_codes() {
    let e = Env::new();
    e.cmd()
        .args(["plugins", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Example"));
    e.cmd().args(["run", "--help"]).assert().success().stdout(
        predicate::str::contains("125")
            .and(predicate::str::contains("126"))
            .and(predicate::str::contains("127")),
    );
}

/// A fake `op` (tests/fakes/op) with a one-item fixture, configured by a file.
struct FakeOp {
    dir: tempfile::TempDir,
}

impl FakeOp {
    fn new() -> FakeOp {
        let dir = tempfile::tempdir().unwrap();
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fakes/op");
        std::os::unix::fs::symlink(real, dir.path().join("op")).unwrap();
        let f = FakeOp { dir };
        f.mode("ok");
        f
    }
    fn mode(&self, mode: &str) {
        let fixture = r#"{"vaults": [{"id": "vltteam0000000000000000001", "name": "Team", "items": [
            {"id": "itmgh000000000000000000001", "title": "GitHub", "category": "LOGIN", "fields": [
              {"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "op-value"}]}]}]}"#;
        let config = format!(
            r#"{{"fixture": {fixture}, "mode": "{mode}", "log": "{}"}}"#,
            self.dir.path().join("calls.jsonl").display()
        );
        std::fs::write(self.dir.path().join("fake-op.json"), config).unwrap();
    }
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl")).unwrap_or_default()
    }
}

const TOKEN: &str = "ops_eyJzaWduSW5BZGRyZXNzIjoibXkuMXBhc3N3b3JkLmNvbSJ9";
const TOKEN_ID: &str = "docker/secrets-engine/1password/service-account-token";

#[test]
fn onepassword_setup_and_purge_keep_the_token_in_the_keychain_only() {
    let e = Env::new();
    let op = FakeOp::new();
    let cmd = || {
        let mut c = e.cmd();
        c.env("SECRETS_ENGINE_OP", op.dir.path().join("op"));
        c
    };
    // A malformed token is refused, and nothing is stored.
    cmd()
        .args(["plugins", "1password", "setup"])
        .write_stdin("ghp_not_a_service_account")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("invalid token").and(predicate::str::contains("ghp_").not()),
        );
    assert!(e.secret_tool(&["lookup", "id", TOKEN_ID], b"").is_empty());
    cmd()
        .args(["plugins", "1password", "setup"])
        .write_stdin(format!("{TOKEN}\n"))
        .assert()
        .success();
    // In the real keychain, under the internal id, hidden from ls.
    assert_eq!(
        e.secret_tool(&["lookup", "id", TOKEN_ID], b""),
        TOKEN.as_bytes()
    );
    cmd().args(["ls"]).assert().success().stdout("");
    cmd()
        .args(["plugins", "ls"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"1password-sdk\s+\*\*\s+yes\s+running").unwrap());
    // Lookups go through op as the service account: token in its environment only.
    cmd()
        .args(["get", "team/github", "--reveal"])
        .assert()
        .success()
        .stdout("op-value");
    let log = op.log();
    assert!(
        log.contains(r#""OP_SERVICE_ACCOUNT_TOKEN": "ops_"#),
        "token not in op's env"
    );
    for line in log.lines() {
        let argv = line.split(r#""env""#).next().unwrap();
        assert!(!argv.contains("ops_"), "token in argv: {argv}");
    }
    // The token is never returned to a lookup.
    cmd()
        .args(["get", "docker/secrets-engine/**"])
        .assert()
        .code(1);
    cmd()
        .args(["plugins", "1password", "purge"])
        .assert()
        .success();
    assert!(e.secret_tool(&["lookup", "id", TOKEN_ID], b"").is_empty());
    cmd()
        .args(["plugins", "ls"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"1password-sdk\s+\*\*\s+yes\s+disabled").unwrap());
}

#[test]
fn a_crashed_1password_cli_stays_crashed_across_invocations_until_enabled() {
    let e = Env::new();
    let op = FakeOp::new();
    let cmd = || {
        let mut c = e.cmd();
        c.env("SECRETS_ENGINE_OP", op.dir.path().join("op"));
        c
    };
    cmd()
        .args(["plugins", "enable", "1password-cli"])
        .assert()
        .success();
    cmd()
        .args(["get", "team/github", "--reveal"])
        .assert()
        .success()
        .stdout("op-value");
    op.mode("prompt-dismissed");
    cmd()
        .args(["get", "team/github"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("authorization prompt dismissed"));
    // A later invocation still shows it crashed, with the reason.
    cmd().args(["plugins", "ls"]).assert().success().stdout(
        predicate::str::is_match(r"1password-cli\s+\*\*\s+yes\s+crashed\s+.*authorization")
            .unwrap(),
    );
    // Lookups meanwhile skip it (the keychain still answers).
    cmd().args(["set", "kc/x=v"]).assert().success();
    cmd()
        .args(["get", "kc/x", "--reveal"])
        .assert()
        .success()
        .stdout("v");
    cmd()
        .args(["plugins", "enable", "1password-cli"])
        .assert()
        .code(1);
    op.mode("ok");
    cmd()
        .args(["plugins", "enable", "1password-cli"])
        .assert()
        .success();
    cmd()
        .args(["plugins", "ls"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"1password-cli\s+\*\*\s+yes\s+running").unwrap());
    // op missing from PATH: enabling says so.
    let mut c = e.cmd();
    c.env("SECRETS_ENGINE_OP", "/nonexistent/op");
    c.args(["plugins", "disable", "1password-cli"])
        .assert()
        .success();
    let mut c = e.cmd();
    c.env("SECRETS_ENGINE_OP", "/nonexistent/op");
    c.args(["plugins", "enable", "1password-cli"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not found"));
}

#[test]
fn run_resolves_one_variable_from_the_keychain_and_one_from_openbao() {
    let e = Env::new();
    let bao = Bao::start();
    bao.put_secret_blocking("team/db", serde_json::json!({"password": "from-bao"}));
    let (addr, token) = (bao.address.clone(), bao.token.clone());
    e.cmd()
        .args(["set", "local/token=from-keychain"])
        .assert()
        .success();
    e.cmd()
        .env("VAULT_ADDR", &addr)
        .env("VAULT_TOKEN", &token)
        .env("LOCAL", "se://local/token")
        .env("REMOTE", "se://vault/team/db/password")
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$LOCAL\" \"$REMOTE\"",
        ])
        .assert()
        .success()
        .stdout("from-keychain|from-bao");
    e.cmd()
        .env("VAULT_ADDR", &addr)
        .env("VAULT_TOKEN", &token)
        .args(["plugins", "ls"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"vault\s+vault/\*\*\s+yes\s+running").unwrap());
    // The token can live in the keychain instead (internal realm, hidden from ls).
    e.secret_tool(
        &[
            "store",
            "--label=vault token",
            "service:group",
            GROUP,
            "service:name",
            NAME,
            "id",
            "docker/secrets-engine/vault/token",
        ],
        token.as_bytes(),
    );
    e.cmd()
        .env("VAULT_ADDR", &addr)
        .env("REMOTE", "se://vault/team/db/password")
        .args(["run", "--", "sh", "-c", "printf %s \"$REMOTE\""])
        .assert()
        .success()
        .stdout("from-bao");
    e.cmd()
        .args(["ls"])
        .assert()
        .success()
        .stdout("local/token\n");
}
