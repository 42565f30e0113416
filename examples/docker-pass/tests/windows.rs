//! `docker-pass` on Windows as a user runs it: real processes and the real Credential
//! Manager (under Wine on the test machine: `scripts/test-windows` runs this binary in
//! a fresh Wine prefix). The store is chosen as a user gets it (`auto`: the keychain is
//! always there on Windows); each test keeps to ids of its own.
#![cfg(windows)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use secrets_engine::providers::keychain::Keychain;
use secrets_engine::{Id, Metadata, Pattern, Resolver, Store};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `docker-pass ARGS` with this test's own config file.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(docker_pass());
        c.args(args)
            .env("SECRETS_ENGINE_CONFIG", self.dir.path().join("config.json"))
            .env_remove("SECRETS_ENGINE_FILE_PASSPHRASE")
            .env_remove("SECRETS_ENGINE_FILE_KEY")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn set_stdin(&self, id: &str, value: &[u8], extra: &[&str]) {
        let mut args = vec!["set", id];
        args.extend_from_slice(extra);
        let mut child = self
            .cmd(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(value).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "set {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn reveal(&self, id: &str) -> Vec<u8> {
        self.ok(&["get", id, "--reveal"])
    }
}

/// The docker-pass.exe cargo built beside this test (`target/<triple>/debug/`): found
/// from this executable, since cargo's `CARGO_BIN_EXE_docker-pass` is a Linux path that
/// Windows (Wine) programs cannot start.
fn docker_pass() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = debug.join("docker-pass.exe");
    assert!(bin.is_file(), "{} (built by cargo test)", bin.display());
    bin
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

#[test]
fn set_get_ls_rm() {
    let env = Env::new();
    env.set_stdin("crud/token", b"t0ken", &[]);
    assert_eq!(env.reveal("crud/token"), b"t0ken");
    assert_eq!(lines(&env.ok(&["ls", "crud/**"])), ["crud/token"]);
    env.ok(&["rm", "crud/token"]);
    assert!(lines(&env.ok(&["ls", "crud/**"])).is_empty());
    let gone = env.run(&["get", "crud/token", "--reveal"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("crud/token"));
    // The store `auto` picks on Windows is the keychain.
    let plugins = String::from_utf8(env.ok(&["plugins", "ls", "--json"])).unwrap();
    assert!(plugins.contains("docker-pass"), "{plugins}");
}

#[test]
fn binary_and_large_values_are_byte_exact() {
    let env = Env::new();
    let binary: Vec<u8> = vec![0xff, 0x00, 0xfe, b'\n', 0x80, 0xc3];
    env.set_stdin("bytes/bin", &binary, &[]);
    assert_eq!(env.reveal("bytes/bin"), binary);
    // 6,000 bytes: stored in chunk credentials, read back whole.
    let large: Vec<u8> = (0..6000).map(|i| b'A' + (i % 26) as u8).collect();
    env.set_stdin("bytes/large", &large, &[]);
    assert_eq!(env.reveal("bytes/large"), large);
    assert_eq!(
        lines(&env.ok(&["ls", "bytes/**"])),
        ["bytes/bin", "bytes/large"]
    );
}

#[test]
fn metadata_and_upsert() {
    let env = Env::new();
    for v in ["one", "two", "three"] {
        env.ok(&["set", &format!("up/db={v}"), "--metadata", "user=app"]);
    }
    assert_eq!(env.reveal("up/db"), b"three");
    assert_eq!(lines(&env.ok(&["ls", "up/**"])), ["up/db"]);
    let json: serde_json::Value =
        serde_json::from_slice(&env.ok(&["ls", "up/**", "--json"])).unwrap();
    assert_eq!(json[0]["id"], "up/db");
    assert_eq!(json[0]["provider"], "docker-pass");
    // Wine's Credential Manager drops attributes, where Docker (and we) keep metadata;
    // the library's keychain suite pins the attribute layout where it can. Which one
    // this is must be known, not guessed from the answer: `scripts/test-windows`
    // runs these under Wine with WINEPREFIX set.
    let meta = &json[0]["metadata"];
    if std::env::var_os("WINEPREFIX").is_some() {
        assert_eq!(meta, &serde_json::json!({}), "Wine keeps attributes now?");
    } else {
        assert_eq!(meta, &serde_json::json!({"user": "app"}));
    }
}

#[test]
fn two_hundred_items_are_listed() {
    let env = Env::new();
    // Written through the library (200 process starts under Wine would dominate the
    // run); listed and read by the command.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let k = Keychain::new();
    rt.block_on(async {
        for i in 0..200 {
            let id = Id::parse(&format!("many/{i:03}")).unwrap();
            k.set(&id, format!("v{i}").into(), Metadata::new())
                .await
                .unwrap();
        }
    });
    let listed = lines(&env.ok(&["ls", "many/**"]));
    let want: Vec<String> = (0..200).map(|i| format!("many/{i:03}")).collect();
    assert_eq!(listed, want);
    assert_eq!(env.reveal("many/199"), b"v199");
    let found = rt.block_on(k.get_secrets(&Pattern::parse("many/*").unwrap()));
    assert_eq!(found.unwrap().len(), 200);
}

#[test]
fn run_injects_secrets_and_passes_the_exit_code() {
    let env = Env::new();
    env.set_stdin("run/token", b"s3cret", &[]);
    // The command sees the value, not the reference.
    let out = env
        .cmd(&["run", "--", "cmd", "/c", "set", "SE_TOKEN"])
        .env("SE_TOKEN", "se://run/token")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines(&out.stdout), ["SE_TOKEN=s3cret"]);
    // The command's exit code is ours.
    let out = env.run(&["run", "--", "cmd", "/c", "exit", "7"]);
    assert_eq!(out.status.code(), Some(7));
    // A reference that does not resolve: the command never starts, 125.
    let out = env
        .cmd(&["run", "--", "cmd", "/c", "echo", "started"])
        .env("SE_TOKEN", "se://run/missing")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("started"));
    // A command that does not exist: 127.
    let out = env.run(&["run", "--", "no-such-command-se-test"]);
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn the_file_store_works_on_windows() {
    let env = Env::new();
    let dir = env.dir.path().join("files");
    let file = |args: &[&str]| {
        let mut all = vec!["--store", "file"];
        all.extend_from_slice(args);
        let mut c = env.cmd(&all);
        c.env("SECRETS_ENGINE_FILE_DIR", &dir)
            .env("SECRETS_ENGINE_FILE_PASSPHRASE", "correct horse")
            // The lowest work factor the store accepts: scrypt is not what is tested.
            .env("SECRETS_ENGINE_FILE_WORK_FACTOR", "10");
        c
    };
    let ok = |mut c: Command| {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let binary: Vec<u8> = vec![0xff, 0x00, 0xfe];
    let mut set = file(&["set", "f/bin"]);
    set.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = set.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&binary).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    ok(file(&["set", "f/token=t0ken"]));
    assert_eq!(ok(file(&["get", "f/bin", "--reveal"])), binary);
    assert_eq!(lines(&ok(file(&["ls"]))), ["f/bin", "f/token"]);
    // One encrypted file per secret under the store's directory, never the value.
    let entries: Vec<_> = std::fs::read_dir(dir.join("secrets"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(entries.len(), 2);
    for e in &entries {
        let bytes = std::fs::read(e.path()).unwrap();
        assert!(!bytes.windows(5).any(|w| w == b"t0ken"));
    }
    let mut run = file(&["run", "--", "cmd", "/c", "set", "SE_FILE"]);
    run.env("SE_FILE", "se://f/token");
    assert_eq!(lines(&ok(run)), ["SE_FILE=t0ken"]);
    ok(file(&["rm", "f/bin", "f/token"]));
    assert!(lines(&ok(file(&["ls"]))).is_empty());
}
