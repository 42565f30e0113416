//! se-runc on a bundle, as podman or containerd's own clients call it (no dockerd to
//! ask), with a recording script in place of runc: what it passes on, what it
//! writes, what it logs. Secrets come from a file store unlocked by a key file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use secrets_engine::providers::file::{FileKey, FileStore};
use secrets_engine::{Id, Metadata, Store};

struct Setup {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    log: PathBuf,
}

const VALUE: &str = "bundle-test-value";

fn setup(env: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    {
        use age::secrecy::ExposeSecret;
        let identity = age::x25519::Identity::generate();
        std::fs::write(&key, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    }
    let store = FileStore::new(dir.path().join("store"), FileKey::KeyFile(key));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(store.set(
            &Id::parse("app/key").unwrap(),
            VALUE.into(),
            Metadata::new(),
        ))
        .unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let config =
        serde_json::json!({"ociVersion": "1.0.2", "process": {"args": ["sh"], "env": env}});
    std::fs::write(bundle.join("config.json"), config.to_string()).unwrap();
    std::fs::set_permissions(
        bundle.join("config.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // The "runtime": records its arguments and the config it was handed.
    let recorder = dir.path().join("runc");
    std::fs::write(
        &recorder,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}/args\ncp {1}/config.json {0}/seen.json 2>/dev/null\nexit 0\n",
            dir.path().display(),
            bundle.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("log.json");
    Setup { dir, bundle, log }
}

impl Setup {
    fn se_runc(&self, own: &[&str], runc: &[&str]) -> Output {
        let d = self.dir.path();
        Command::new(env!("CARGO_BIN_EXE_se-runc"))
            .arg("--runtime")
            .arg(d.join("runc"))
            .args(own)
            .args(runc)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", d)
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("SECRETS_ENGINE_FILE_DIR", d.join("store"))
            .env("SECRETS_ENGINE_FILE_KEY", d.join("key.txt"))
            // A create that asks dockerd opens the image cache: this test's, not the
            // host's /run/se-runc.
            .env("SE_RUNC_IMAGE_CACHE", d.join("image-cache"))
            .output()
            .unwrap()
    }
    /// runc's arguments for a create of this bundle, logging to this log in JSON.
    fn create_args(&self) -> Vec<String> {
        let (log, bundle) = (self.log.to_str().unwrap(), self.bundle.to_str().unwrap());
        [
            "--log",
            log,
            "--log-format",
            "json",
            "create",
            "--bundle",
            bundle,
            "c1",
        ]
        .map(str::to_owned)
        .to_vec()
    }
    fn create(&self, own: &[&str]) -> Output {
        let args = self.create_args();
        self.se_runc(own, &args.iter().map(String::as_str).collect::<Vec<_>>())
    }
    fn passed_args(&self) -> Option<Vec<String>> {
        std::fs::read_to_string(self.dir.path().join("args"))
            .ok()
            .map(|s| s.lines().map(str::to_owned).collect())
    }
    fn env_seen(&self) -> Vec<String> {
        let seen: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.dir.path().join("seen.json")).unwrap())
                .unwrap();
        serde_json::from_value(seen["process"]["env"].clone()).unwrap()
    }
    fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    fn mode(&self) -> u32 {
        std::fs::metadata(self.bundle.join("config.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn allowed_references_are_resolved_and_the_arguments_passed_on() {
    let s = setup(&["A=se://app/key", "B=plain", "app=", "OTHER=se://other/x"]);
    let out = s.create(&["--allow", "app/**"]);
    ok(&out);
    let bundle = s.bundle.to_str().unwrap();
    assert_eq!(
        s.passed_args().unwrap(),
        [
            "--log",
            s.log.to_str().unwrap(),
            "--log-format",
            "json",
            "create",
            "--bundle",
            bundle,
            "c1"
        ]
    );
    // `app=` names the id `app`, outside `app/**`: left empty, not looked up.
    assert_eq!(
        s.env_seen(),
        [
            format!("A={VALUE}").as_str(),
            "B=plain",
            "app=",
            "OTHER=se://other/x"
        ]
    );
    assert_eq!(s.mode(), 0o600);
    let lines = s.log_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "warning");
    let msg = lines[0]["msg"].as_str().unwrap();
    assert!(msg.contains("OTHER: se://other/x left as written"), "{msg}");
    assert!(!std::fs::read_to_string(&s.log).unwrap().contains(VALUE));
}

#[test]
fn without_dockerd_or_allow_nothing_is_resolved_or_rewritten() {
    let s = setup(&["A=se://app/key"]);
    ok(&s.create(&[]));
    assert_eq!(s.env_seen(), ["A=se://app/key"]);
    // Not rewritten at all.
    assert_eq!(s.mode(), 0o644);
}

#[test]
fn a_failure_is_logged_for_containerd_and_runc_is_not_run() {
    let s = setup(&["A=se://app/key", "GONE=se://app/missing"]);
    let out = s.create(&["--allow", "app/**"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(s.passed_args(), None, "the runtime ran");
    let lines = s.log_lines();
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "se-runc: GONE: no secret matches app/missing");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GONE: no secret matches app/missing"),
        "{stderr}"
    );
    assert!(!stderr.contains(VALUE));
    // The config still holds only references.
    let config = std::fs::read_to_string(s.bundle.join("config.json")).unwrap();
    assert!(!config.contains(VALUE));
}

#[test]
fn an_unreachable_dockerd_fails_create() {
    let s = setup(&["A=se://app/key"]);
    let absent = s.dir.path().join("absent.sock");
    let out = s.create(&["--docker-host", absent.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let last = s.log_lines().pop().unwrap();
    let msg = last["msg"].as_str().unwrap();
    assert!(msg.contains("cannot reach dockerd at"), "{msg}");
    assert_eq!(s.passed_args(), None);
}

#[test]
fn other_subcommands_pass_straight_through() {
    let s = setup(&["A=se://app/key"]);
    // No bundle is read for `start`: a missing one does not matter.
    std::fs::remove_dir_all(&s.bundle).unwrap();
    let out = s.se_runc(&["--allow", "**"], &["--root", "/r", "start", "c1"]);
    ok(&out);
    assert_eq!(s.passed_args().unwrap(), ["--root", "/r", "start", "c1"]);
}

#[test]
fn a_missing_runtime_is_reported() {
    let s = setup(&[]);
    let out = Command::new(env!("CARGO_BIN_EXE_se-runc"))
        .args(["--runtime", "/nonexistent/runc", "--log"])
        .arg(&s.log)
        .args(["--log-format", "json", "state", "c1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let msg = s.log_lines().pop().unwrap()["msg"].clone();
    assert!(
        msg.as_str()
            .unwrap()
            .starts_with("se-runc: cannot run /nonexistent/runc"),
        "{msg}"
    );
}

#[test]
fn se_runc_alone_passes_calls_on_and_needs_se_runc_create_only_to_create() {
    // se-runc copied without se-runc-create: the calls it passes on still work,
    // since it does not load the library for them; a create says what is missing.
    let s = setup(&["A=se://app/key"]);
    let alone = s.dir.path().join("alone");
    std::fs::create_dir(&alone).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_se-runc"), alone.join("se-runc")).unwrap();
    let run = |runc: &[&str]| {
        Command::new(alone.join("se-runc"))
            .arg("--runtime")
            .arg(s.dir.path().join("runc"))
            .args(["--allow", "app/**"])
            .args(runc)
            .output()
            .unwrap()
    };
    ok(&run(&["--root", "/r", "delete", "c1"]));
    assert_eq!(s.passed_args().unwrap(), ["--root", "/r", "delete", "c1"]);
    std::fs::remove_file(s.dir.path().join("args")).unwrap();

    let args = s.create_args();
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        s.passed_args(),
        None,
        "the runtime ran without the references resolved"
    );
    let msg = s.log_lines().pop().unwrap()["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = alone.join("se-runc-create");
    assert!(
        msg.starts_with(&format!("se-runc: cannot run {}: ", missing.display()))
            && msg.ends_with(
                "(install se-runc-create next to se-runc: it resolves a create's references)"
            ),
        "{msg}"
    );
}

#[test]
fn se_runc_create_alone_is_a_whole_runtime() {
    // Named directly as the runtime, se-runc-create passes other calls on itself.
    let s = setup(&["A=se://app/key"]);
    let create = Path::new(env!("CARGO_BIN_EXE_se-runc")).with_file_name("se-runc-create");
    let out = Command::new(&create)
        .arg("--runtime")
        .arg(s.dir.path().join("runc"))
        .args(["state", "c1"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(s.passed_args().unwrap(), ["state", "c1"]);
}

#[test]
fn a_usage_error_reaches_runcs_log_and_nothing_runs() {
    let s = setup(&["A=se://app/key"]);
    let out = s.create(&["--allow", "app/*x"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(s.passed_args(), None, "the runtime ran");
    let last = s.log_lines().pop().expect("a line in runc's log");
    assert_eq!(last["level"], "error");
    let msg = last["msg"].as_str().unwrap();
    assert!(msg.starts_with("se-runc: --allow: "), "{msg}");
    assert_eq!(s.mode(), 0o644, "the config was rewritten");
}

#[test]
fn newer_runc_options_are_read_past() {
    // runc 1.2's --pidfd-socket (containerd 2 passes it) before the bundle, and a
    // `--config` naming the spec, relative to the bundle as runc reads it.
    let s = setup(&["B=plain"]);
    let spec = serde_json::json!({"ociVersion": "1.0.2", "process": {"env": ["A=se://app/key"]}});
    std::fs::write(s.bundle.join("spec.json"), spec.to_string()).unwrap();
    let log = s.log.to_str().unwrap().to_owned();
    let bundle = s.bundle.to_str().unwrap().to_owned();
    let out = s.se_runc(
        &["--allow", "app/**"],
        &[
            "--log",
            &log,
            "--log-format",
            "json",
            "--debug",
            "create",
            "--pidfd-socket",
            "/run/pidfd.sock",
            "--config",
            "spec.json",
            "--bundle",
            &bundle,
            "--no-pivot",
            "c1",
        ],
    );
    ok(&out);
    let written = std::fs::read_to_string(s.bundle.join("spec.json")).unwrap();
    assert!(written.contains(&format!("A={VALUE}")), "{written}");
    // config.json is not the spec named, and stays as it was.
    assert!(
        !std::fs::read_to_string(s.bundle.join("config.json"))
            .unwrap()
            .contains(VALUE)
    );
    assert_eq!(
        s.passed_args().unwrap().last().map(String::as_str),
        Some("c1")
    );
    // --debug: how long each step took, and nothing of the value.
    let lines = s.log_lines();
    let debug: Vec<&str> = lines
        .iter()
        .filter(|l| l["level"] == "debug")
        .map(|l| l["msg"].as_str().unwrap())
        .collect();
    assert!(
        debug
            .iter()
            .any(|m| m.starts_with("se-runc: resolved 1 reference in ")),
        "{debug:?}"
    );
    assert!(!std::fs::read_to_string(&s.log).unwrap().contains(VALUE));
}

#[cfg(feature = "aws")]
/// One call of the Secrets Manager JSON protocol to moto (which reads the region and
/// service from the credential scope, and checks no signature); the answer's body.
fn secrets_manager_call(endpoint: &str, action: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = endpoint.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: secretsmanager.{action}\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{action}: {answer}");
    answer.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[cfg(feature = "aws")]
#[test]
fn aws_secrets_manager_answers_in_process() {
    let s = setup(&["K=se://awsonly"]);
    let d = s.dir.path();
    // Root enabled the provider (as `docker-pass plugins enable aws-secrets-manager`
    // writes it); AWS_REGION registers it.
    let config = d.join("config/secrets-engine");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        config.join("config.json"),
        r#"{"providers":{"aws-secrets-manager":{"state":"enabled"}}}"#,
    )
    .unwrap();
    // The real service's stand-in: moto, with the secret only there.
    let moto = tempfile::tempdir().unwrap();
    let endpoint = secrets_engine_test_support::services::start("moto", moto.path(), &[])
        .remove("AWS_ENDPOINT_URL")
        .expect("scripts/services/moto prints the endpoint");
    secrets_manager_call(
        &endpoint,
        "CreateSecret",
        r#"{"Name":"awsonly","SecretString":"aws-value"}"#,
    );
    let log = s.log.to_str().unwrap().to_owned();
    let bundle = s.bundle.to_str().unwrap().to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_se-runc"))
        .arg("--runtime")
        .arg(d.join("runc"))
        .args(["--allow", "awsonly", "--log", &log, "--log-format", "json"])
        .args(["create", "--bundle", &bundle, "c1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", d)
        .env("XDG_CONFIG_HOME", d.join("config"))
        .env("SECRETS_ENGINE_FILE_DIR", d.join("store"))
        .env("SECRETS_ENGINE_FILE_KEY", d.join("key.txt"))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(s.env_seen(), ["K=aws-value"]);
    secrets_engine_test_support::services::stop("moto", moto.path());
}

#[test]
fn an_unusable_docker_host_fails_only_a_create_that_asks_dockerd() {
    // A bundle dockerd's containerd made (under `moby/`): se-runc asks the dockerd
    // DOCKER_HOST names, and a tcp:// one cannot be asked.
    let s = setup(&["A=se://app/key"]);
    let moby = s.dir.path().join("moby/c1");
    std::fs::create_dir_all(&moby).unwrap();
    std::fs::copy(s.bundle.join("config.json"), moby.join("config.json")).unwrap();
    let log = s.log.to_str().unwrap().to_owned();
    let run = |runc: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_se-runc"))
            .arg("--runtime")
            .arg(s.dir.path().join("runc"))
            .args(["--log", &log, "--log-format", "json"])
            .args(runc)
            .env("DOCKER_HOST", "tcp://127.0.0.1:2375")
            .output()
            .unwrap()
    };
    let out = run(&["create", "--bundle", moby.to_str().unwrap(), "c1"]);
    // se-runc's configuration is wrong: the status of a usage error.
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(s.passed_args(), None, "the runtime ran");
    let msg = s.log_lines().pop().unwrap()["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        msg,
        "se-runc: DOCKER_HOST tcp://127.0.0.1:2375: only unix:// sockets are supported"
    );
    // Nothing to ask: a create whose references --allow admits whoever set them,
    // a create without references, and any other call, run.
    let admitted = Command::new(env!("CARGO_BIN_EXE_se-runc"))
        .arg("--runtime")
        .arg(s.dir.path().join("runc"))
        .args(["--allow", "app/**"])
        .args(["create", "--bundle", moby.to_str().unwrap(), "c1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", s.dir.path())
        .env("SECRETS_ENGINE_FILE_DIR", s.dir.path().join("store"))
        .env("SECRETS_ENGINE_FILE_KEY", s.dir.path().join("key.txt"))
        .env("DOCKER_HOST", "tcp://127.0.0.1:2375")
        .output()
        .unwrap();
    ok(&admitted);
    let written = std::fs::read_to_string(moby.join("config.json")).unwrap();
    assert!(written.contains(&format!("A={VALUE}")), "{written}");
    std::fs::write(
        moby.join("config.json"),
        r#"{"ociVersion":"1.0.2","process":{"env":["B=plain"]}}"#,
    )
    .unwrap();
    ok(&run(&["create", "--bundle", moby.to_str().unwrap(), "c1"]));
    ok(&run(&["state", "c1"]));
    assert_eq!(
        s.passed_args().unwrap(),
        ["--log", &log, "--log-format", "json", "state", "c1"]
    );
}
