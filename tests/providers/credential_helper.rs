//! The credential-helper provider against Debian's real helpers:
//! docker-credential-secretservice on the test gnome-keyring, and
//! docker-credential-pass with a throwaway GnuPG home and password store.

use secrets_engine_test_support as support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secrets_engine::providers::credential_helper::CredentialHelper;
use secrets_engine::{Error, Resolver};
use support::keyring::shared;
use support::p;

fn store(helper: &str, env: &[(&str, String)], url: &str, user: &str, secret: &str) {
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("store")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("golang-docker-credential-helpers is installed (scripts/setup)");
    let body = format!(r#"{{"ServerURL":"{url}","Username":"{user}","Secret":"{secret}"}}"#);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

async fn found(h: &CredentialHelper, pattern: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = h
        .get_secrets(&p(pattern))
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.id().to_string(),
                String::from_utf8(e.value().expose().to_vec()).unwrap(),
                e.metadata()["username"].clone(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn secretservice_helper() {
    let bus = shared().address.clone();
    let env = [("DBUS_SESSION_BUS_ADDRESS", bus.clone())];
    store(
        "secretservice",
        &env,
        "https://registry.cred-test.example:5000/",
        "alice",
        "pw-alice",
    );
    store(
        "secretservice",
        &env,
        "https://index.cred-test.example/v1/",
        "bob",
        "tok-bob",
    );
    let h = CredentialHelper::new("secretservice").with_env("DBUS_SESSION_BUS_ADDRESS", &bus);
    assert_eq!(
        found(&h, "docker/auth/registry.cred-test.example:5000").await,
        [(
            "docker/auth/registry.cred-test.example:5000".into(),
            "pw-alice".into(),
            "alice".into()
        )]
    );
    let all: Vec<String> = found(&h, "docker/auth/*")
        .await
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert!(
        all.contains(&"docker/auth/index.cred-test.example".to_string()),
        "{all:?}"
    );
    assert!(all.contains(&"docker/auth/registry.cred-test.example:5000".to_string()));
    assert!(found(&h, "docker/auth/absent.example").await.is_empty());
    let e = h
        .get_secrets(&p("docker/auth/index.cred-test.example"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        e.metadata()["server_url"],
        "https://index.cred-test.example/v1/"
    );
}

#[tokio::test]
async fn pass_helper_with_a_throwaway_gnupg_home() {
    let dir = tempfile::tempdir().unwrap();
    let gnupg = dir.path().join("gnupg");
    let store_dir = dir.path().join("password-store");
    std::fs::create_dir_all(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let env = [
        ("GNUPGHOME", gnupg.display().to_string()),
        ("PASSWORD_STORE_DIR", store_dir.display().to_string()),
    ];
    let run = |args: &[&str]| {
        let out = Command::new(args[0])
            .args(&args[1..])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "gpg",
        "--batch",
        "--passphrase",
        "",
        "--quick-gen-key",
        "se-test@example.com",
        "default",
        "default",
        "never",
    ]);
    run(&["pass", "init", "se-test@example.com"]);
    store(
        "pass",
        &env,
        "https://registry.pass-test.example/",
        "carol",
        "pw-carol",
    );
    let mut h = CredentialHelper::new("pass");
    for (k, v) in &env {
        h = h.with_env(k, v);
    }
    assert_eq!(
        found(&h, "docker/auth/*").await,
        [(
            "docker/auth/registry.pass-test.example".into(),
            "pw-carol".into(),
            "carol".into()
        )]
    );
    // This build answers an unknown URL with an empty secret and exit 0: not found.
    // A wrapper lists one URL that pass does not hold, so `get` is really asked.
    let wrapper = dir.path().join("docker-credential-wrapped");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nif [ \"$1\" = list ]; then echo '{\"https://unknown.example/\":\"nobody\"}'; else exec docker-credential-pass \"$@\"; fi\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let raw = Command::new(&wrapper)
        .arg("get")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let out = {
        let mut raw = raw;
        raw.stdin
            .take()
            .unwrap()
            .write_all(b"https://unknown.example/")
            .unwrap();
        raw.wait_with_output().unwrap()
    };
    assert!(
        out.status.success(),
        "this pass build answers unknown URLs with exit 0"
    );
    let mut w = CredentialHelper::with_program(&wrapper);
    for (k, v) in &env {
        w = w.with_env(k, v);
    }
    assert!(found(&w, "docker/auth/*").await.is_empty());
}

#[tokio::test]
async fn a_hanging_or_missing_helper_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let hang = dir.path().join("docker-credential-hang");
    std::fs::write(&hang, "#!/bin/sh\nsleep 60\n").unwrap();
    std::fs::set_permissions(&hang, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let h = CredentialHelper::with_program(&hang).with_deadline(Duration::from_millis(300));
    let started = Instant::now();
    assert!(matches!(
        h.get_secrets(&p("docker/auth/*")).await,
        Err(Error::Timeout { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    let missing = CredentialHelper::new("does-not-exist");
    assert!(matches!(
        missing.get_secrets(&p("docker/auth/*")).await,
        Err(Error::Crashed { .. })
    ));
}

/// Writes an executable shell script `name` into `dir`.
fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// Set in a copy of this test binary that `rerun` starts: the test it names then
/// does its part there, with an environment (PATH, secrets) this process must not
/// change for its other threads.
const CHILD: &str = "SE_CREDENTIAL_HELPER_TEST_CHILD";

/// Runs test `name` of this binary in a child process with `env` added and `cwd`;
/// panics with its output unless it passes.
fn rerun(name: &str, env: &[(&str, &str)], cwd: &std::path::Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "child run of {name}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_helper_sees_only_the_allowed_environment() {
    if let Some(out) =
        std::env::var_os("SE_TEST_ENV_OUT").filter(|_| std::env::var_os(CHILD).is_some())
    {
        // The child: our environment holds credentials; run the recording helper.
        let dir = std::path::Path::new(&out).parent().unwrap().to_owned();
        let h = CredentialHelper::with_program(dir.join("docker-credential-record"))
            .with_env("SE_TEST_EXPLICIT", "given");
        assert!(h.get_secrets(&p("docker/auth/*")).await.unwrap().is_empty());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env.txt");
    script(
        dir.path(),
        "docker-credential-record",
        "env > \"$(dirname \"$0\")/env.txt\"\necho '{}'",
    );
    let out_s = out.display().to_string();
    rerun(
        "credential_helper::a_helper_sees_only_the_allowed_environment",
        &[
            ("SE_TEST_ENV_OUT", &out_s),
            ("VAULT_TOKEN", "vault-SECRET-1"),
            ("OP_SERVICE_ACCOUNT_TOKEN", "op-SECRET-2"),
            ("AWS_SECRET_ACCESS_KEY", "aws-SECRET-3"),
            ("SECRETS_ENGINE_FILE_PASSPHRASE", "file-SECRET-4"),
            ("GITHUB_TOKEN", "gh-SECRET-5"),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/test-bus"),
            ("XDG_RUNTIME_DIR", "/run/user/test"),
            ("GNUPGHOME", "/tmp/test-gnupg"),
            ("PASSWORD_STORE_DIR", "/tmp/test-store"),
            ("DISPLAY", ":7"),
            ("PATH", "/usr/local/bin:.::relative/bin:/usr/bin:/bin"),
        ],
        dir.path(),
    );
    let env = std::fs::read_to_string(&out).unwrap();
    assert!(
        !env.contains("SECRET"),
        "a credential reached the helper:\n{env}"
    );
    for want in [
        "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/test-bus",
        "XDG_RUNTIME_DIR=/run/user/test",
        "GNUPGHOME=/tmp/test-gnupg",
        "PASSWORD_STORE_DIR=/tmp/test-store",
        "DISPLAY=:7",
        "SE_TEST_EXPLICIT=given",
        "PATH=/usr/local/bin:/usr/bin:/bin\n",
    ] {
        assert!(env.contains(want), "{want} missing:\n{env}");
    }
}

#[tokio::test]
async fn a_helper_found_through_a_relative_path_entry_is_refused() {
    if std::env::var_os(CHILD).is_some() {
        if std::env::var_os("SE_TEST_PLANTED").is_some() {
            let err = CredentialHelper::new("planted")
                .get_secrets(&p("docker/auth/*"))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Crashed { .. }), "{err:?}");
            assert!(err.to_string().contains("relative PATH entry"), "{err}");
            // The planted helper never ran.
            assert!(!std::path::Path::new("ran").exists());
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "docker-credential-planted",
        "touch ran\necho '{}'",
    );
    for path in [
        ".:/usr/bin:/bin",
        ":/usr/bin:/bin",
        "/usr/bin::/bin",
        "/usr/bin:./:/bin",
    ] {
        rerun(
            "credential_helper::a_helper_found_through_a_relative_path_entry_is_refused",
            &[("SE_TEST_PLANTED", "1"), ("PATH", path)],
            dir.path(),
        );
    }
    // A name that would make the program a path is refused, never run.
    for bad in ["../../tmp/x", "a/b", "", "-rf", "x y"] {
        let err = CredentialHelper::new(bad)
            .get_secrets(&p("docker/auth/*"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Crashed { reason } if reason.contains("not valid")),
            "{bad}: {err:?}"
        );
    }
}

/// Is process `pid` gone (or a zombie waiting to be reaped)?
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) STATE ...`: the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[tokio::test]
async fn the_deadline_kills_the_helpers_children_too() {
    let dir = tempfile::tempdir().unwrap();
    let helper = script(
        dir.path(),
        "docker-credential-forks",
        "cd \"$(dirname \"$0\")\"\necho $$ > helper.pid\nsleep 1000 &\necho $! > grandchild.pid\nwait",
    );
    // Long enough for the helper to have forked and written both pids on a loaded
    // machine: what follows reads them.
    let h = CredentialHelper::with_program(&helper).with_deadline(Duration::from_secs(3));
    let started = Instant::now();
    let err = h.get_secrets(&p("docker/auth/*")).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let read = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (helper_pid, grandchild) = (read("helper.pid"), read("grandchild.pid"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(gone(&helper_pid) && gone(&grandchild)) {
        assert!(
            Instant::now() < deadline,
            "still running: helper {helper_pid} gone={}, grandchild {grandchild} gone={}",
            gone(&helper_pid),
            gone(&grandchild)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn output_is_bounded_and_stderr_quoted_short_and_clean() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body, stream) in [
        ("flood-out", "exec yes 0123456789abcdef", "standard output"),
        (
            "flood-err",
            "exec yes 0123456789abcdef >&2",
            "standard error",
        ),
    ] {
        let helper = script(dir.path(), &format!("docker-credential-{name}"), body);
        let h = CredentialHelper::with_program(&helper).with_deadline(Duration::from_secs(20));
        let started = Instant::now();
        let err = h.get_secrets(&p("docker/auth/*")).await.unwrap_err();
        assert!(
            matches!(&err, Error::Backend { message } if message.contains(stream) && message.contains("more than")),
            "{name}: {err:?}"
        );
        // Stopped at the cap, not at the deadline.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: {:?}",
            started.elapsed()
        );
    }
    let noisy = script(
        dir.path(),
        "docker-credential-noisy",
        "printf 'bad\\033[31m thing\\r\\nnext line\\a' >&2\nhead -c 5000 /dev/zero | tr '\\0' x >&2\nexit 1",
    );
    let err = CredentialHelper::with_program(&noisy)
        .get_secrets(&p("docker/auth/*"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bad") && msg.contains("thing") && msg.contains("next line"),
        "{msg}"
    );
    assert!(!msg.chars().any(char::is_control), "{msg:?}");
    assert!(
        msg.chars().count() < 400,
        "{} chars: {msg}",
        msg.chars().count()
    );
}
