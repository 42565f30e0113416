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
