//! curl against every method and every error, as a user of Docker's API would call
//! it: `curl --unix-socket … -H 'Content-Type: application/json'`.

use std::process::Command;

use secrets_engine::server::ServerOptions;
use serde_json::Value;

use super::{Served, test_engine};

/// What curl got: the status, the content type and the body.
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a Connect error with this status and code; returns its message.
    fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type, "application/json");
        let v = self.json();
        assert_eq!(v["code"], code, "{v}");
        v["message"].as_str().unwrap_or_default().to_owned()
    }
}

async fn curl(s: &Served, args: &[&str]) -> Reply {
    let mut c = Command::new("curl");
    c.args(["-sS", "--unix-socket"])
        .arg(s.path())
        .args(["-o", "-", "-w", "\n%{http_code} %{content_type}"])
        .args(args);
    let out =
        tokio::task::spawn_blocking(move || c.output().expect("curl (scripts/setup installs it)"))
            .await
            .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let nl = body.iter().rposition(|b| *b == b'\n').unwrap();
    let tail = String::from_utf8(body.split_off(nl)).unwrap();
    let (status, content_type) = tail.trim().split_once(' ').unwrap_or((tail.trim(), ""));
    Reply {
        status: status.parse().unwrap(),
        content_type: content_type.to_owned(),
        body,
    }
}

async fn post_json(s: &Served, method: &str, body: &str) -> Reply {
    curl(
        s,
        &[
            "-X",
            "POST",
            &format!("http://localhost/{method}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ],
    )
    .await
}

const GET_SECRETS: &str = "resolver.v1.ResolverService/GetSecrets";
const AUTHORIZE: &str = "resolver.v1.AuthorizerService/Authorize";
const LIST: &str = "plugins.v1.PluginManagementService/ListPlugins";
const ENABLE: &str = "plugins.v1.PluginManagementService/EnablePlugin";
const DISABLE: &str = "plugins.v1.PluginManagementService/DisablePlugin";
const VERSION: &str = "health.v1.VersionService/GetVersion";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_secrets_and_its_errors() {
    let s = Served::start(test_engine(), ServerOptions::default()).await;
    let r = post_json(&s, GET_SECRETS, r#"{"pattern":"app/**"}"#).await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/json")
    );
    let v = r.json();
    let e = &v["envelopes"];
    assert_eq!(e.as_array().unwrap().len(), 2);
    assert_eq!(e[0]["id"], "app/a");
    assert_eq!(e[0]["value"], "YWxwaGE=");
    assert_eq!(e[1]["value"], "AP8=");
    assert_eq!(e[0]["provider"], "memory");
    assert_eq!(e[0]["createdAt"], "0001-01-01T00:00:00Z");
    assert_eq!(e[0]["expiresAt"], "0001-01-01T00:00:00Z");
    assert!(e[0]["resolvedAt"].as_str().unwrap().ends_with('Z'));

    // Every field of Docker's Envelope, in protojson's names and forms.
    let v = post_json(&s, GET_SECRETS, r#"{"pattern":"full/one"}"#)
        .await
        .json();
    let e = &v["envelopes"][0];
    assert_eq!(e["id"], "full/one");
    assert_eq!(e["value"], "djE=");
    assert_eq!(e["provider"], "full");
    assert_eq!(e["version"], "7");
    assert_eq!(e["createdAt"], "2024-05-06T07:08:09.500Z");
    assert_eq!(e["expiresAt"], "2025-05-06T07:08:09Z");
    assert_eq!(
        e["metadata"],
        serde_json::json!({"owner": "team-a", "rotated": "yes"})
    );

    let m = post_json(&s, GET_SECRETS, r#"{"pattern":"nothing/here"}"#)
        .await
        .error(404, "not_found");
    assert!(m.contains("nothing/here"), "{m}");
    let m = post_json(&s, GET_SECRETS, r#"{"pattern":"app/*x"}"#)
        .await
        .error(400, "invalid_argument");
    assert!(m.contains("app/*x"), "{m}");
    let m = post_json(&s, GET_SECRETS, r#"{"pattern":"broken/x"}"#)
        .await
        .error(500, "internal");
    assert!(
        m.contains("broken") && m.contains("backend exploded"),
        "{m}"
    );
    let m = post_json(&s, GET_SECRETS, r#"{"pattern":"stuck/x"}"#)
        .await
        .error(504, "deadline_exceeded");
    assert!(m.contains("stuck"), "{m}");
    // The caller's deadline, shorter than the provider's.
    let r = curl(
        &s,
        &[
            "-X",
            "POST",
            &format!("http://localhost/{GET_SECRETS}"),
            "-H",
            "Content-Type: application/json",
            "-H",
            "Connect-Timeout-Ms: 50",
            "-d",
            r#"{"pattern":"stuck/x"}"#,
        ],
    )
    .await;
    let m = r.error(504, "deadline_exceeded");
    assert!(m.contains("request's deadline"), "{m}");
    post_json(&s, GET_SECRETS, "")
        .await
        .error(400, "invalid_argument");
    post_json(&s, GET_SECRETS, "[1]")
        .await
        .error(400, "invalid_argument");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_and_its_errors() {
    let s = Served::start(test_engine(), ServerOptions::default()).await;
    let v = post_json(&s, AUTHORIZE, r#"{"patterns":["app/**"]}"#)
        .await
        .json();
    assert_eq!(v["decision"], "DECISION_ALLOW");
    assert!(v["expiresAt"].as_str().unwrap().ends_with('Z'));
    let m = post_json(&s, AUTHORIZE, "{}")
        .await
        .error(400, "invalid_argument");
    assert!(m.contains("at least one pattern"), "{m}");
    post_json(&s, AUTHORIZE, r#"{"patterns":["a/*b"]}"#)
        .await
        .error(400, "invalid_argument");
    post_json(&s, AUTHORIZE, r#"{"patterns":["forbidden/x"]}"#)
        .await
        .error(403, "permission_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_and_version() {
    let s = Served::start(test_engine(), ServerOptions::default()).await;
    let v = post_json(&s, LIST, "{}").await.json();
    let p = &v["plugins"];
    assert_eq!(p[0]["name"], "memory");
    assert_eq!(p[0]["runStatus"], "RUN_STATUS_RUNNING");
    assert_eq!(p[0]["configurable"], false);
    assert_eq!(p[0]["secretsProvider"]["pattern"], "**");
    assert_eq!(p[3]["name"], "extra");
    assert!(p[0]["version"].as_str().unwrap().starts_with('v'));

    let r = post_json(&s, DISABLE, r#"{"name":"extra"}"#).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
    let v = post_json(&s, LIST, "{}").await.json();
    assert_eq!(v["plugins"][3]["runStatus"], "RUN_STATUS_STOPPED");
    assert_eq!(v["plugins"][3]["disabled"], true);
    // Disabled: the memory store (every id) answers alone, and has no extra/k.
    post_json(&s, GET_SECRETS, r#"{"pattern":"extra/k"}"#)
        .await
        .error(404, "not_found");
    assert_eq!(
        post_json(&s, ENABLE, r#"{"name":"extra"}"#).await.status,
        200
    );
    assert_eq!(
        post_json(&s, GET_SECRETS, r#"{"pattern":"extra/k"}"#)
            .await
            .status,
        200
    );

    post_json(&s, ENABLE, r#"{"name":"nope"}"#)
        .await
        .error(404, "not_found");
    post_json(&s, DISABLE, r#"{"name":"memory"}"#)
        .await
        .error(400, "failed_precondition");

    let v = post_json(&s, VERSION, "{}").await.json();
    assert_eq!(v["version"], format!("v{}", env!("CARGO_PKG_VERSION")));
    assert!(v["date"].is_string() && v["commitHash"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_errors_and_the_proto_codec() {
    let mut options = ServerOptions::default();
    options.max_request_bytes = 1024;
    let s = Served::start(test_engine(), options).await;
    let url = format!("http://localhost/{GET_SECRETS}");

    // The proto codec: GetSecretsRequest{pattern:"app/a"}, answered in proto.
    let r = curl(
        &s,
        &[
            "-X",
            "POST",
            &url,
            "-H",
            "Content-Type: application/proto",
            "--data-binary",
            "\n\x05app/a",
        ],
    )
    .await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/proto")
    );
    assert!(r.body.windows(5).any(|w| w == b"alpha"));

    let r = curl(
        &s,
        &[
            "-X",
            "POST",
            &url,
            "-H",
            "Content-Type: text/plain",
            "-d",
            "x",
        ],
    )
    .await;
    assert_eq!(r.status, 415);
    let r = curl(&s, &[&url]).await;
    assert_eq!(r.status, 405);
    let m = post_json(&s, "resolver.v1.ResolverService/Nope", "{}")
        .await
        .error(404, "unimplemented");
    assert!(m.contains("Nope"), "{m}");
    let big = format!(r#"{{"pattern":"{}"}}"#, "a".repeat(2000));
    post_json(&s, GET_SECRETS, &big)
        .await
        .error(429, "resource_exhausted");
    let r = curl(&s, &["http://localhost/health"]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_provider_shows_run_status_crashed() {
    use std::sync::Arc;

    use secrets_engine::Registration;
    use secrets_engine_test_support::{Panicking, builder, p};
    let engine = builder()
        .register(Registration::resolver(
            "fragile",
            p("**"),
            Arc::new(Panicking {
                healed: Default::default(),
            }),
        ))
        .build()
        .unwrap();
    let s = Served::start(engine, ServerOptions::default()).await;
    let m = post_json(&s, GET_SECRETS, r#"{"pattern":"heal/ok"}"#)
        .await
        .error(500, "internal");
    assert!(m.contains("fragile") && m.contains("panicked"), "{m}");
    let v = post_json(&s, LIST, "{}").await.json();
    assert_eq!(v["plugins"][0]["runStatus"], "RUN_STATUS_CRASHED");
    assert_eq!(v["plugins"][0]["statusMessage"], "panicked");
}
