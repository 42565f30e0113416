//! The aws-secrets-manager provider (feature `aws`) against moto_server on
//! 127.0.0.1, reset between tests.

use secrets_engine_test_support as support;

use std::sync::OnceLock;

use aws_sdk_secretsmanager::primitives::Blob;
use secrets_engine::providers::aws::{AwsOptions, AwsSecretsManager};
use secrets_engine::{Error, Resolver, SecretValue};
use support::p;

struct Moto {
    endpoint: String,
    _dir: tempfile::TempDir,
}

fn moto() -> &'static Moto {
    static M: OnceLock<Moto> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = support::services::start("moto", dir.path(), &[])
            .remove("AWS_ENDPOINT_URL")
            .expect("the script prints the endpoint");
        Moto {
            endpoint,
            _dir: dir,
        }
    })
}

/// Tests share one moto; this lock runs them one at a time so each can reset it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn fresh() -> (
    tokio::sync::MutexGuard<'static, ()>,
    AwsSecretsManager,
    aws_sdk_secretsmanager::Client,
) {
    let guard = SERIAL.lock().await;
    let m = moto();
    reqwest::Client::new()
        .post(format!("{}/moto-api/reset", m.endpoint))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let options = AwsOptions {
        region: Some("us-east-1".into()),
        endpoint: Some(m.endpoint.clone()),
        static_credentials: Some(("test".into(), SecretValue::from("test"))),
        page_size: Some(7),
        ..AwsOptions::default()
    };
    let provider = AwsSecretsManager::new(options).await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&m.endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await;
    (
        guard,
        provider,
        aws_sdk_secretsmanager::Client::new(&config),
    )
}

async fn values(p1: &AwsSecretsManager, pattern: &str) -> Vec<(String, Vec<u8>)> {
    support::sorted_values(p1, pattern).await
}

#[tokio::test]
async fn string_binary_and_json_keys() {
    let (_g, sm, client) = fresh().await;
    client
        .create_secret()
        .name("team/api-key")
        .secret_string("s3cret")
        .send()
        .await
        .unwrap();
    client
        .create_secret()
        .name("team/blob")
        .secret_binary(Blob::new(vec![0u8, 255, 1]))
        .send()
        .await
        .unwrap();
    client
        .create_secret()
        .name("team/db")
        .secret_string(r#"{"user":"app","password":"pw","port":5432}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        values(&sm, "team/api-key").await,
        [("team/api-key".to_string(), b"s3cret".to_vec())]
    );
    assert_eq!(values(&sm, "team/blob").await[0].1, vec![0u8, 255, 1]);
    assert_eq!(
        values(&sm, "team/db/password").await,
        [("team/db/password".to_string(), b"pw".to_vec())]
    );
    assert_eq!(values(&sm, "team/db/port").await[0].1, b"5432");
    let e = sm.get_secrets(&p("team/api-key")).await.unwrap().remove(0);
    assert!(e.version().is_some());
    assert_eq!(e.metadata()["name"], "team/api-key");
    let all: Vec<String> = values(&sm, "team/**")
        .await
        .into_iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(
        all,
        [
            "team/api-key",
            "team/blob",
            "team/db",
            "team/db/password",
            "team/db/port",
            "team/db/user"
        ]
    );
}

#[tokio::test]
async fn prefix_listing_with_paging() {
    let (_g, sm, client) = fresh().await;
    for i in 0..30 {
        client
            .create_secret()
            .name(format!("paged/s{i:02}"))
            .secret_string(format!("v{i}"))
            .send()
            .await
            .unwrap();
    }
    client
        .create_secret()
        .name("other/x")
        .secret_string("no")
        .send()
        .await
        .unwrap();
    // Page size 7: five pages for 30 secrets.
    let got = values(&sm, "paged/*").await;
    assert_eq!(got.len(), 30);
    assert_eq!(got[29], ("paged/s29".to_string(), b"v29".to_vec()));
    assert_eq!(
        values(&sm, "**/x").await,
        [("other/x".to_string(), b"no".to_vec())]
    );
}

#[tokio::test]
async fn not_found_deleted_and_unusable_names() {
    let (_g, sm, client) = fresh().await;
    assert!(values(&sm, "missing/secret").await.is_empty());
    client
        .create_secret()
        .name("gone/soon")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    client
        .delete_secret()
        .secret_id("gone/soon")
        .send()
        .await
        .unwrap();
    assert!(values(&sm, "gone/soon").await.is_empty());
    assert!(values(&sm, "gone/*").await.is_empty());
    // A name outside the id grammar is skipped, not fatal.
    client
        .create_secret()
        .name("odd+name@x")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    client
        .create_secret()
        .name("fine/name")
        .secret_string("y")
        .send()
        .await
        .unwrap();
    assert_eq!(
        values(&sm, "**").await,
        [("fine/name".to_string(), b"y".to_vec())]
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_typed_error() {
    let options = AwsOptions {
        region: Some("us-east-1".into()),
        endpoint: Some("http://127.0.0.1:9".into()),
        static_credentials: Some(("test".into(), SecretValue::from("test"))),
        ..AwsOptions::default()
    };
    let sm = AwsSecretsManager::new(options).await;
    let err = sm.get_secrets(&p("a/b")).await.unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { .. } | Error::Timeout { .. }),
        "{err:?}"
    );
}

/// A moto of the test's own (the shared one must keep running for the others).
struct PrivateMoto {
    dir: tempfile::TempDir,
    endpoint: String,
    restarted: Option<std::process::Child>,
}

impl PrivateMoto {
    fn start() -> PrivateMoto {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = support::services::start("moto", dir.path(), &[])
            .remove("AWS_ENDPOINT_URL")
            .expect("the script prints the endpoint");
        PrivateMoto {
            dir,
            endpoint,
            restarted: None,
        }
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.pid"))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn signal(&self, sig: &str) {
        let pid = self.pid();
        assert!(
            std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    fn stop(&self) {
        support::services::stop("moto", self.dir.path());
    }

    /// moto_server again on the same port (the script would pick a new one), from the
    /// virtualenv the script installed it in.
    async fn restart_on_the_same_port(&mut self) {
        let port = self.endpoint.rsplit(':').next().unwrap();
        let venv = support::services::script("moto")
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.parent())
            .unwrap()
            .join(".venv/bin/moto_server");
        self.restarted = Some(
            std::process::Command::new(venv)
                .args(["-H", "127.0.0.1", "-p", port])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while reqwest::get(format!("{}/moto-api/", self.endpoint))
            .await
            .is_err()
        {
            assert!(std::time::Instant::now() < until, "moto did not restart");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn client(&self) -> aws_sdk_secretsmanager::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .load()
            .await;
        aws_sdk_secretsmanager::Client::new(&config)
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        if let Some(mut c) = self.restarted.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stop();
    }
}

#[tokio::test]
async fn moto_frozen_then_stopped_then_restarted_through_one_engine() {
    use std::time::{Duration, Instant};
    let mut moto = PrivateMoto::start();
    moto.client()
        .await
        .create_secret()
        .name("fault/key")
        .secret_string("before")
        .send()
        .await
        .unwrap();
    let sm = AwsSecretsManager::new(AwsOptions {
        region: Some("us-east-1".into()),
        endpoint: Some(moto.endpoint.clone()),
        static_credentials: Some(("test".into(), SecretValue::from("test"))),
        ..AwsOptions::default()
    })
    .await;
    let engine = support::builder()
        .register(
            secrets_engine::Registration::resolver("aws", p("fault/**"), std::sync::Arc::new(sm))
                // Room for the SDK's own retries of a refused connection (three
                // attempts, up to 1 s and 2 s apart) to end before the deadline does.
                .deadline(Duration::from_secs(8)),
        )
        .build()
        .unwrap();
    let pattern = p("fault/key");
    let one = || engine.resolve_one(&pattern);
    assert_eq!(one().await.unwrap().expose(), b"before");

    // Frozen (accepts connections, never answers): the deadline ends the call.
    moto.signal("-STOP");
    let t = Instant::now();
    let err = one().await.unwrap_err();
    moto.signal("-CONT");
    assert!(matches!(err.specific(), Error::Timeout { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(one().await.unwrap().expose(), b"before");

    // Stopped: refused connections are Unavailable, well within the deadline. `stop`
    // only sends the signal: wait until the port is closed, or the next call may still
    // reach the dying server.
    moto.stop();
    wait_until_closed(&moto.endpoint).await;
    let t = Instant::now();
    let err = one().await.unwrap_err();
    assert!(
        matches!(err.specific(), Error::Unavailable { .. }),
        "{err:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert!(!format!("{err} {err:?}").contains("before"));
    assert_eq!(
        engine.plugins()[0].state,
        secrets_engine::ProviderState::Running
    );

    // Back on the same address (moto keeps nothing across restarts): the same engine
    // and provider object read what is there now.
    moto.restart_on_the_same_port().await;
    moto.client()
        .await
        .create_secret()
        .name("fault/key")
        .secret_string("after")
        .send()
        .await
        .unwrap();
    assert_eq!(one().await.unwrap().expose(), b"after");
}

/// Waits until nothing accepts connections at `endpoint` (`http://host:port`), for at
/// most 30 s.
async fn wait_until_closed(endpoint: &str) {
    use std::time::{Duration, Instant};
    let address = endpoint.trim_start_matches("http://");
    let until = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(address).await.is_ok() {
        assert!(
            Instant::now() < until,
            "{address} still accepts connections 30 s after moto was stopped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A moto_server of its own that authenticates and authorizes requests as IAM does,
/// once its first `free_actions` requests are done (moto's
/// `INITIAL_NO_AUTH_ACTION_COUNT`; see moto's IAM documentation), so those can set
/// up users and secrets without credentials.
struct IamMoto {
    endpoint: String,
    child: std::process::Child,
}

impl IamMoto {
    async fn start(free_actions: u32) -> IamMoto {
        // The shared moto's start installed moto_server in the repository's venv.
        moto();
        let venv = support::services::script("moto")
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.parent())
            .unwrap()
            .join(".venv/bin/moto_server");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(venv)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", free_actions.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let m = IamMoto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        // /moto-api/ is moto's own API, not an AWS action: it does not count.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while reqwest::get(format!("{}/moto-api/", m.endpoint))
            .await
            .is_err()
        {
            assert!(std::time::Instant::now() < until, "moto did not start");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        m
    }

    /// One IAM query-API action (one of the free ones: unsigned). moto picks the
    /// service from the credential scope of the Authorization header.
    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let response = reqwest::Client::new()
            .post(&self.endpoint)
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .form(&[params, &[("Version", "2010-05-08")]].concat())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "IAM {params:?}: {status} {body}");
        body
    }

    /// A new IAM user, with `policy` (an IAM policy document) when given; its
    /// access key id and secret. Two free actions, three with a policy.
    async fn user(&self, name: &str, policy: Option<&str>) -> (String, String) {
        self.iam(&[("Action", "CreateUser"), ("UserName", name)])
            .await;
        if let Some(document) = policy {
            self.iam(&[
                ("Action", "PutUserPolicy"),
                ("UserName", name),
                ("PolicyName", "secrets"),
                ("PolicyDocument", document),
            ])
            .await;
        }
        let body = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", name)])
            .await;
        let tag = |t: &str| {
            let start = body.find(&format!("<{t}>")).unwrap() + t.len() + 2;
            let end = body[start..].find(&format!("</{t}>")).unwrap();
            body[start..start + end].to_owned()
        };
        (tag("AccessKeyId"), tag("SecretAccessKey"))
    }

    async fn provider(&self, (key, secret): (String, String)) -> AwsSecretsManager {
        AwsSecretsManager::new(AwsOptions {
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint.clone()),
            static_credentials: Some((key, SecretValue::from(secret))),
            ..AwsOptions::default()
        })
        .await
    }
}

impl Drop for IamMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn access_denied_by_iam_is_permission_denied() {
    // Free actions: the secret (1), a reader with a policy (3), a user with none (2).
    let moto = IamMoto::start(6).await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name("guarded/key")
        .secret_string("only-for-readers")
        .send()
        .await
        .unwrap();
    let reader = moto
        .user(
            "reader",
            Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}"#,
            ),
        )
        .await;
    let nobody = moto.user("nobody", None).await;

    // Authentication is on from here: the reader's signed requests are allowed, so
    // what the other user gets is a refusal of its permissions, not of its signature.
    let allowed = moto.provider(reader).await;
    assert_eq!(
        values(&allowed, "guarded/key").await,
        [("guarded/key".to_string(), b"only-for-readers".to_vec())]
    );
    // moto refuses with HTTP 403 and an XML body the SDK cannot read a code from
    // (AWS answers AccessDeniedException in JSON): the status alone must do.
    let denied = moto.provider(nobody).await;
    for (pattern, call) in [("guarded/key", "read guarded/key"), ("guarded/*", "list")] {
        let err = denied.get_secrets(&p(pattern)).await.unwrap_err();
        assert!(
            matches!(&err, Error::PermissionDenied { reason } if reason.contains(call) && reason.contains("403")),
            "{pattern}: {err:?}"
        );
        assert!(!format!("{err} {err:?}").contains("only-for-readers"));
    }
}
