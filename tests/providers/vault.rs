//! The vault provider against a real OpenBao (KV v2) on 127.0.0.1.

use secrets_engine_test_support as support;

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
