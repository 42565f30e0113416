//! The vault provider against a real OpenBao (KV v2) on 127.0.0.1.

use secrets_engine_test_support as support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrets_engine::providers::vault::{Vault, VaultConfig};
use secrets_engine::{Error, Resolver, SecretValue};
use serde_json::json;
use support::bao::{Bao, shared};
use support::p;

fn vault(b: &Bao) -> Vault {
    Vault::new(VaultConfig::new(
        &b.address,
        SecretValue::from(b.token.as_str()),
    ))
    .unwrap()
}

#[tokio::test]
async fn reads_fields_versions_and_metadata() {
    let b = shared();
    b.put_secret("app/db", json!({"password": "pw1", "user": "app"}))
        .await;
    b.put_secret("app/db", json!({"password": "pw2", "user": "app"}))
        .await;
    b.api(
        "POST",
        "secret/metadata/app/db",
        Some(json!({"custom_metadata": {"owner": "team-a"}})),
        None,
    )
    .await;
    let v = vault(b);
    let e = v
        .get_secrets(&p("vault/app/db/password"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(e.value().expose(), b"pw2");
    assert_eq!(e.version(), Some("2"));
    assert_eq!(e.metadata()["owner"], "team-a");
    assert_eq!(e.metadata()["path"], "app/db");
    assert!(e.created_at().is_some());
    let mut fields: Vec<String> = v
        .get_secrets(&p("vault/app/db/*"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.id().to_string())
        .collect();
    fields.sort();
    assert_eq!(fields, ["vault/app/db/password", "vault/app/db/user"]);
    // Absent: not found, not an error.
    assert!(
        v.get_secrets(&p("vault/app/nope/password"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        v.get_secrets(&p("vault/app/db/nope"))
            .await
            .unwrap()
            .is_empty()
    );
    // Outside the prefix: nothing.
    assert!(
        v.get_secrets(&p("other/app/db/password"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn walks_two_hundred_nested_secrets() {
    let b = shared();
    for i in 0..200 {
        b.put_secret(
            &format!("walk/{}/s{i}", i % 10),
            json!({"v": format!("value-{i}")}),
        )
        .await;
    }
    let v = vault(b);
    let all = v.get_secrets(&p("vault/walk/**")).await.unwrap();
    assert_eq!(all.len(), 200);
    assert!(
        all.iter()
            .all(|e| e.value().expose().starts_with(b"value-"))
    );
    assert_eq!(
        v.get_secrets(&p("vault/walk/3/*/v")).await.unwrap().len(),
        20
    );
    assert_eq!(v.get_secrets(&p("vault/**/s17/v")).await.unwrap().len(), 1);
    // Bounded: a pattern covering more secrets than allowed is refused, not slow.
    let mut small = VaultConfig::new(&b.address, SecretValue::from(b.token.as_str()));
    small.max_secrets = 50;
    let err = Vault::new(small)
        .unwrap()
        .get_secrets(&p("vault/walk/**"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than 50"), "{err}");
}

#[tokio::test]
async fn a_policy_restricted_token_is_permission_denied() {
    let b = shared();
    b.put_secret("locked-away/db", json!({"password": "x"}))
        .await;
    b.put_secret("allowed/db", json!({"password": "ok"})).await;
    b.api(
        "PUT",
        "sys/policies/acl/only-allowed",
        Some(json!({"policy": "path \"secret/data/allowed/*\" { capabilities = [\"read\"] }"})),
        None,
    )
    .await;
    let created = b
        .api(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["only-allowed"]})),
            None,
        )
        .await;
    let token = created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let v = Vault::new(VaultConfig::new(
        &b.address,
        SecretValue::from(token.as_str()),
    ))
    .unwrap();
    assert_eq!(
        v.get_secrets(&p("vault/allowed/db/password"))
            .await
            .unwrap()[0]
            .value()
            .expose(),
        b"ok"
    );
    let err = v
        .get_secrets(&p("vault/locked-away/db/password"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("locked-away/db") && !msg.contains(&token) && !msg.contains(&b.token),
        "{msg}"
    );
}

#[tokio::test]
async fn a_namespace() {
    let b = shared();
    b.api("POST", "sys/namespaces/team-ns", Some(json!({})), None)
        .await;
    b.api(
        "POST",
        "sys/mounts/secret",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
        Some("team-ns"),
    )
    .await;
    b.api(
        "POST",
        "secret/data/ns-app/db",
        Some(json!({"data": {"password": "in-namespace"}})),
        Some("team-ns"),
    )
    .await;
    let mut c = VaultConfig::new(&b.address, SecretValue::from(b.token.as_str()));
    c.namespace = Some("team-ns".into());
    let v = Vault::new(c).unwrap();
    assert_eq!(
        v.get_secrets(&p("vault/ns-app/db/password")).await.unwrap()[0]
            .value()
            .expose(),
        b"in-namespace"
    );
    // Not visible outside the namespace.
    assert!(
        vault(b)
            .get_secrets(&p("vault/ns-app/db/password"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sealed_then_stopped_are_typed_errors_without_a_hang() {
    let b = Bao::start();
    b.put_secret("s/db", json!({"password": "x"})).await;
    let v = vault(&b);
    assert_eq!(
        v.get_secrets(&p("vault/s/db/password"))
            .await
            .unwrap()
            .len(),
        1
    );
    b.api("PUT", "sys/seal", None, None).await;
    let err = v.get_secrets(&p("vault/s/db/password")).await.unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    b.stop();
    wait_until_closed(&b.address);
    let started = Instant::now();
    let err = v.get_secrets(&p("vault/s/db/password")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn soft_deleted_versions_and_dot_segments_are_not_found() {
    let b = shared();
    b.put_secret("soft/db", json!({"password": "x"})).await;
    b.api("DELETE", "secret/data/soft/db", None, None).await;
    let v = vault(b);
    assert!(
        v.get_secrets(&p("vault/soft/db/password"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        v.get_secrets(&p("vault/soft/*/password"))
            .await
            .unwrap()
            .is_empty()
    );
    // `..` is a valid id component but must never walk out of the mount.
    b.api(
        "POST",
        "sys/mounts/other",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
        None,
    )
    .await;
    b.api(
        "POST",
        "other/data/app/db",
        Some(json!({"data": {"password": "elsewhere"}})),
        None,
    )
    .await;
    assert!(
        v.get_secrets(&p("vault/../../other/data/app/db/password"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        v.get_secrets(&p("vault/../other/**"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn walks_are_depth_bounded_and_read_only_what_can_match() {
    let b = shared();
    b.put_secret("deep/a/b/c/d/e/leaf", json!({"k": "v"})).await;
    let mut shallow = VaultConfig::new(&b.address, SecretValue::from(b.token.as_str()));
    shallow.max_depth = 2;
    let err = Vault::new(shallow)
        .unwrap()
        .get_secrets(&p("vault/deep/**"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("deeper than 2"), "{err}");
    // A name-anchored pattern reads one secret, so a small read budget suffices.
    for i in 0..30 {
        b.put_secret(&format!("many/m{i}"), json!({"v": "x"})).await;
    }
    let mut budget = VaultConfig::new(&b.address, SecretValue::from(b.token.as_str()));
    budget.max_secrets = 5;
    assert_eq!(
        Vault::new(budget)
            .unwrap()
            .get_secrets(&p("vault/many/m7/v"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn expiry_when_the_secret_says_so() {
    let b = shared();
    b.api(
        "POST",
        "secret/metadata/expiring/db",
        Some(json!({"delete_version_after": "1h"})),
        None,
    )
    .await;
    b.put_secret("expiring/db", json!({"password": "x"})).await;
    let e = vault(b)
        .get_secrets(&p("vault/expiring/db/password"))
        .await
        .unwrap()
        .remove(0);
    let left = e
        .expires_at()
        .expect("deletion_time set")
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(3000) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
}

/// Blocks until nothing accepts connections at `address` (`http://host:port`): a
/// stopped server's port can stay open a moment after its script returns.
fn wait_until_closed(address: &str) {
    let hostport = address.trim_start_matches("http://").trim_end_matches('/');
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(hostport).is_ok() {
        assert!(
            Instant::now() < deadline,
            "{hostport} still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn an_expired_token_is_permission_denied_not_not_found() {
    let b = shared();
    b.put_secret("expiring-token/db", json!({"password": "pw"}))
        .await;
    b.api(
        "PUT",
        "sys/policies/acl/expiring-token",
        Some(json!({"policy": "path \"secret/data/expiring-token/*\" { capabilities = [\"read\"] }"})),
        None,
    )
    .await;
    let created = b
        .api(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["expiring-token"], "ttl": "6s", "explicit_max_ttl": "6s"})),
            None,
        )
        .await;
    let token = created["auth"]["client_token"].as_str().unwrap().to_owned();
    let v = Vault::new(VaultConfig::new(
        &b.address,
        SecretValue::from(token.as_str()),
    ))
    .unwrap();
    let id = p("vault/expiring-token/db/password");
    assert_eq!(v.get_secrets(&id).await.unwrap().len(), 1, "valid at first");
    // The server revokes the token at its TTL; poll rather than guess when.
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match v.get_secrets(&id).await {
            Ok(found) if !found.is_empty() => {
                assert!(Instant::now() < deadline, "the token never expired")
            }
            Ok(_) => panic!("an expired token read as not found"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert!(!err.to_string().contains(&token), "{err}");
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for what a real vault would never do: it
/// records each request's head (request line and headers) and answers each with
/// `answer(request line)`, one request per connection.
struct FakeServer {
    address: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeServer {
    fn start(answer: impl Fn(&str) -> String + Send + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let line = head.lines().next().unwrap_or_default().to_owned();
                log.lock().unwrap().push(head);
                let _ = conn.write_all(answer(&line).as_bytes());
            }
        });
        FakeServer { address, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn http(status: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{extra_headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The path of a request line `METHOD PATH HTTP/1.1`.
fn path_of(line: &str) -> &str {
    line.split(' ').nth(1).unwrap_or_default()
}

#[tokio::test]
async fn the_token_never_follows_a_redirect_to_another_origin() {
    // The listener a hostile server redirects to: it must never hear from us.
    let elsewhere =
        FakeServer::start(|_| http("200 OK", "", r#"{"data":{"data":{"password":"stolen"}}}"#));
    let target = elsewhere.address.clone();
    let redirecting = FakeServer::start(move |line| {
        let path = path_of(line);
        if path.starts_with("/v1/secret/data/moved/") {
            return http(
                "200 OK",
                "",
                r#"{"data":{"data":{"password":"same-origin"}}}"#,
            );
        }
        if path.starts_with("/v1/secret/data/local/") {
            return http(
                "307 Temporary Redirect",
                "Location: /v1/secret/data/moved/db\r\n",
                "",
            );
        }
        http(
            "307 Temporary Redirect",
            &format!("Location: {target}{path}\r\n"),
            "",
        )
    });
    let v = Vault::new(VaultConfig::new(
        &redirecting.address,
        SecretValue::from("s.REDIRECT-ME-NOT"),
    ))
    .unwrap();
    let err = v
        .get_secrets(&p("vault/app/db/password"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("307") && msg.contains(&elsewhere.address),
        "{msg}"
    );
    assert!(!msg.contains("REDIRECT-ME-NOT"), "{msg}");
    assert!(
        elsewhere.requests().is_empty(),
        "the other origin was contacted: {:?}",
        elsewhere.requests()
    );
    // The first server did get the token (so the test would see it leak).
    assert!(redirecting.requests()[0].contains("s.REDIRECT-ME-NOT"));
    // A redirect within the origin is followed.
    let found = v.get_secrets(&p("vault/local/db/password")).await.unwrap();
    assert_eq!(found[0].value().expose(), b"same-origin");
    assert!(elsewhere.requests().is_empty());
}

#[tokio::test]
async fn hostile_list_keys_never_leave_the_mount() {
    let server = FakeServer::start(|line| {
        let path = path_of(line);
        let keys = match path {
            "/v1/secret/metadata/" => {
                r##"["../", "..", ".", "./", "%2e%2e/", "..%2f..%2fsys/", "a/../../", "ok/../../", "?x=/", "#/", "", "/", "//", "a b/", "ok/"]"##
            }
            "/v1/secret/metadata/ok" => r#"["db", "../db", "%2e%2e", "x?list=true"]"#,
            _ if path.starts_with("/v1/secret/data/ok/db") => {
                return http("200 OK", "", r#"{"data":{"data":{"password":"x"}}}"#);
            }
            _ => return http("404 Not Found", "", r#"{"errors":[]}"#),
        };
        http("200 OK", "", &format!(r#"{{"data":{{"keys":{keys}}}}}"#))
    });
    let v = Vault::new(VaultConfig::new(
        &server.address,
        SecretValue::from("s.tok"),
    ))
    .unwrap();
    let found = v.get_secrets(&p("vault/**")).await.unwrap();
    let ids: Vec<String> = found.iter().map(|e| e.id().to_string()).collect();
    assert_eq!(ids, ["vault/ok/db/password"]);
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|h| path_of(h.lines().next().unwrap()).to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/v1/secret/metadata/",
            "/v1/secret/metadata/ok",
            "/v1/secret/data/ok/db"
        ],
        "only the mount's own paths are asked"
    );
}

#[test]
fn an_http_address_other_than_loopback_is_refused_without_connecting() {
    // 192.0.2.0/24 is TEST-NET-1: nothing answers there, and nothing is asked.
    let err = Vault::new(VaultConfig::new(
        "http://192.0.2.1:8200",
        SecretValue::from("s.tok"),
    ))
    .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("http://192.0.2.1:8200") && msg.contains("SECRETS_ENGINE_VAULT_ALLOW_HTTP"),
        "{msg}"
    );
    let mut allowed = VaultConfig::new("http://192.0.2.1:8200", SecretValue::from("s.tok"));
    allowed.allow_http = true;
    assert!(Vault::new(allowed).is_ok());
    assert!(
        Vault::new(VaultConfig::new(
            "https://192.0.2.1:8200",
            SecretValue::from("s.tok")
        ))
        .is_ok()
    );
}
