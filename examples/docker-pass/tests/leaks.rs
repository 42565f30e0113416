//! No secret in what `docker-pass` prints, with every log event on: each subcommand
//! runs with `RUST_LOG=trace` against a real keyring and the file store, beside a
//! failing provider, and its stdout and stderr are searched for the secret's bytes and
//! their base64 and hex forms. Only `get --reveal` (and a `run` command's own output)
//! may carry the value. The argv of every helper process is checked too.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use base64::Engine as _;

use secrets_engine_test_support::services;

/// A fresh random secret: 32 bytes from the kernel, hex, with a prefix.
fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    format!(
        "{prefix}{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The forms a secret could take in output: raw, hex (both cases), and base64 in
/// every alphabet at every alignment (the middle of the encoding of the secret
/// preceded by 0, 1 or 2 bytes does not depend on its neighbours).
fn needles(secret: &str) -> Vec<String> {
    let raw = secret.as_bytes();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = vec![secret.to_owned(), hex.clone(), hex.to_uppercase()];
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for engine in engines {
        for shift in 0..3 {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(raw);
            let encoded = engine.encode(&shifted);
            // Skip the characters the padding bytes and the tail touch.
            out.push(encoded[4..encoded.len() - 4].to_owned());
        }
    }
    out
}

struct Env {
    dir: tempfile::TempDir,
    address: String,
    /// Every secret of the test: the stored value, the file store's passphrase, the
    /// registry password the broken credential helper prints.
    secrets: Vec<String>,
    /// stderr of every run, to show the check is not vacuous.
    all_stderr: String,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let address = services::start_keyring(&dir.path().join("keyring"));
        Env {
            dir,
            address,
            secrets: Vec::new(),
            all_stderr: String::new(),
        }
    }

    fn command(&self, store: &str) -> Command {
        let mut c = Command::cargo_bin("docker-pass").unwrap();
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        c.env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("SECRETS_ENGINE_OP", self.dir.path().join("op/op"))
            .env("RUST_LOG", "trace")
            .env("NO_COLOR", "1")
            .args(["--store", store]);
        if store == "file" {
            c.env("SECRETS_ENGINE_FILE_PASSPHRASE", &self.secrets[1]);
        }
        c
    }

    /// Runs `args`, feeding `stdin`; asserts no secret is in stdout or stderr.
    fn run(&mut self, store: &str, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.command(store);
        c.args(args);
        let out = assert_cmd::Command::from_std(c)
            .write_stdin(stdin)
            .output()
            .unwrap();
        self.assert_clean(&format!("{store} {args:?}"), &out.stdout, "stdout");
        self.assert_clean(&format!("{store} {args:?}"), &out.stderr, "stderr");
        self.all_stderr
            .push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    fn assert_clean(&self, what: &str, bytes: &[u8], stream: &str) {
        let text = String::from_utf8_lossy(bytes);
        for secret in &self.secrets {
            for needle in needles(secret) {
                assert!(
                    !text.contains(&needle),
                    "{what}: a form of a secret ({needle}) is in {stream}:\n{text}"
                );
            }
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        services::stop("keyring", &self.dir.path().join("keyring"));
    }
}

/// A credential helper that lists one registry and answers `get` with broken JSON
/// holding the registry password; it records its argv and command line.
fn broken_helper(env: &Env) {
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = env.dir.path().join("helper-argv.log");
    let script = format!(
        "#!/bin/sh\n\
         printf '%s\\n' \"$0 $*\" >> {log}\n\
         tr '\\0' ' ' < /proc/$$/cmdline >> {log}; echo >> {log}\n\
         case $1 in\n\
         list) printf '%s' '{{\"https://reg.example.com/\":\"robot\"}}' ;;\n\
         get) printf '%s' '{{\"ServerURL\":\"https://reg.example.com/\",\"Username\":\"robot\",\"Secret\":\"{secret}' ;;\n\
         esac\n",
        log = log.display(),
        secret = env.secrets[2],
    );
    let helper = bin.join("docker-credential-leaky");
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(env.dir.path().join(".docker")).unwrap();
    std::fs::write(
        env.dir.path().join(".docker/config.json"),
        r#"{"credsStore": "leaky"}"#,
    )
    .unwrap();
}

/// The fake 1Password CLI (tests/fakes/op), failing as a signed-out `op` does.
fn failing_op(env: &Env) {
    let dir = env.dir.path().join("op");
    std::fs::create_dir_all(&dir).unwrap();
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fakes/op");
    std::os::unix::fs::symlink(real, dir.join("op")).unwrap();
    std::fs::write(
        dir.join("fake-op.json"),
        serde_json::json!({"fixture": {"vaults": []}, "mode": "not-signed-in",
                           "log": dir.join("calls.jsonl")})
        .to_string(),
    )
    .unwrap();
}

#[test]
fn no_subcommand_prints_a_secret_even_at_trace_level() {
    let mut e = Env::new();
    e.secrets = vec![
        random_secret("value-"),
        random_secret("passphrase-"),
        random_secret("registry-"),
    ];
    broken_helper(&e);
    failing_op(&e);
    let value = e.secrets[0].clone();
    // The failing 1Password CLI is enabled (enabling checks `op`, which fails: the
    // provider stays registered, crashed or disabled, and is reported).
    e.run("keychain", &["plugins", "enable", "1password-cli"], b"");
    for store in ["keychain", "file"] {
        let set = e.run(store, &["set", "leak/x"], value.as_bytes());
        assert!(set.status.success(), "{store} set: {set:?}");
        // Sanity: the value really is stored, and --reveal prints exactly it.
        let mut c = e.command(store);
        c.args(["get", "leak/x", "--reveal"]);
        let reveal = c.output().unwrap();
        assert_eq!(reveal.stdout, value.as_bytes(), "{store}: {reveal:?}");
        e.assert_clean(&format!("{store} get --reveal"), &reveal.stderr, "stderr");

        let get = e.run(store, &["get", "leak/x"], b"");
        assert!(get.status.success(), "{store} get: {get:?}");
        assert!(String::from_utf8_lossy(&get.stdout).contains("leak/x"));
        e.run(store, &["get", "leak/x", "--json"], b"");
        // Every provider at once: the broken helper fails, beside the found value.
        e.run(store, &["get", "**"], b"");
        e.run(store, &["get", "**", "--json"], b"");
        e.run(store, &["get", "docker/auth/**"], b"");
        e.run(store, &["ls"], b"");
        e.run(store, &["ls", "--json"], b"");
        e.run(store, &["plugins", "ls"], b"");
        e.run(store, &["plugins", "ls", "--json"], b"");
        // `run`: the command gets the value, but only its hash reaches the output.
        let mut c = e.command(store);
        c.env("V", "se://leak/x").args([
            "run",
            "--",
            "sh",
            "-c",
            "printf %s \"$V\" | sha256sum; tr '\\0' ' ' < /proc/$$/cmdline >&2",
        ]);
        let out = c.output().unwrap();
        e.assert_clean(&format!("{store} run"), &out.stderr, "stderr");
        e.assert_clean(&format!("{store} run"), &out.stdout, "stdout");
        let expected = {
            use std::io::Write;
            let mut sha = Command::new("sha256sum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            sha.stdin
                .take()
                .unwrap()
                .write_all(value.as_bytes())
                .unwrap();
            sha.wait_with_output().unwrap().stdout
        };
        assert_eq!(out.stdout, expected, "{store}: run saw another value");
        // A reference that fails: the error names it without the value of others.
        let mut c = e.command(store);
        c.env("V", "se://leak/x")
            .env("W", "se://leak/absent")
            .args(["run", "--", "true"]);
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(125));
        e.assert_clean(&format!("{store} run (failing)"), &out.stderr, "stderr");
        e.run(store, &["rm", "leak/x"], b"");
        let gone = e.run(store, &["get", "leak/x"], b"");
        assert!(!gone.status.success());
    }
    // The log is really on: trace and debug events were printed (else this test would
    // prove nothing).
    assert!(
        e.all_stderr.contains("TRACE") && e.all_stderr.contains("DEBUG"),
        "RUST_LOG=trace printed no trace events:\n{}",
        e.all_stderr
    );
    // The broken helper was asked, and no helper or op ever had a secret in its argv.
    let helper_log =
        std::fs::read_to_string(e.dir.path().join("helper-argv.log")).unwrap_or_default();
    assert!(helper_log.contains("get"), "the helper was not asked");
    e.assert_clean("credential helper argv", helper_log.as_bytes(), "argv");
    let op_log = std::fs::read_to_string(e.dir.path().join("op/calls.jsonl")).unwrap_or_default();
    assert!(!op_log.is_empty(), "op was not run");
    e.assert_clean("op argv and environment", op_log.as_bytes(), "its log");
}

#[test]
fn the_needles_find_every_encoding_at_every_offset() {
    let secret = random_secret("n-");
    let forms = needles(&secret);
    for prefix in ["", "a", "ab", "abc"] {
        let bytes = [prefix.as_bytes(), secret.as_bytes(), b"tail"].concat();
        for encoded in [
            base64::engine::general_purpose::STANDARD.encode(&bytes),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
            bytes.iter().map(|b| format!("{b:02X}")).collect(),
            bytes.iter().map(|b| format!("{b:02x}")).collect(),
        ] {
            assert!(
                forms.iter().any(|n| encoded.contains(n.as_str())),
                "{prefix:?}: {encoded} not caught"
            );
        }
    }
}
