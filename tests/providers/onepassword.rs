//! The 1Password providers against a fake `op` that prints what the real one prints
//! (its documented JSON and error lines; see tests/fakes/op) and records every call.

use secrets_engine_test_support as support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrets_engine::providers::onepassword::{OnePassword, TOKEN_ID};
use secrets_engine::{Error, MemoryStore, Metadata, ProviderState, Registration, Resolver, Store};
use serde_json::{Value, json};
use support::{builder, id, p};

struct FakeOp {
    dir: tempfile::TempDir,
    config: Value,
}

fn item(id: &str, title: &str, category: &str, fields: Value) -> Value {
    json!({"id": id, "title": title, "version": 1, "category": category, "last_edited_by": "U",
           "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
           "additional_information": "", "urls": [], "tags": [], "fields": fields})
}

fn fixture() -> Value {
    json!({"vaults": [
        {"id": "vltprivate0000000000000001", "name": "Private Vault", "items": [
            item("itmgithub00000000000000001", "GitHub (work)", "LOGIN", json!([
                {"id": "username", "type": "STRING", "purpose": "USERNAME", "label": "username", "value": "octocat",
                 "reference": "op://Private Vault/GitHub (work)/username"},
                {"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "gh-pass",
                 "reference": "op://Private Vault/GitHub (work)/password"},
                {"id": "k1", "type": "CONCEALED", "label": "API key", "value": "gh-api", "section": {"id": "s1", "label": "Dev Tools"},
                 "reference": "op://Private Vault/GitHub (work)/Dev Tools/API key"},
                {"id": "empty", "type": "STRING", "label": "empty"}])),
            item("itmabc000000000000000000001", "A/B & C", "API_CREDENTIAL", json!([
                {"id": "n", "type": "STRING", "label": "note", "value": "n"},
                {"id": "c", "type": "CONCEALED", "label": "credential", "value": "abc-cred"}])),
            item("itmunicode00000000000000001", "Ünïcödé Key", "PASSWORD", json!([
                {"id": "s", "type": "CONCEALED", "label": "secret", "value": "uni"}])),
            item("itmboom0000000000000000001", "💥", "PASSWORD", json!([
                {"id": "x", "type": "CONCEALED", "label": "x", "value": "boom"}])),
            item("itmnosecret000000000000001", "No Secret", "LOGIN", json!([
                {"id": "u", "type": "URL", "label": "website", "value": "https://example.com"}]))]},
        {"id": "vltteam0000000000000000001", "name": "Team", "items": [
            item("itmteamgh00000000000000001", "GitHub (work)", "LOGIN", json!([
                {"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "team-gh"}]))]}
    ]})
}

impl FakeOp {
    fn new() -> FakeOp {
        let dir = tempfile::tempdir().unwrap();
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/op");
        std::os::unix::fs::symlink(real, dir.path().join("op")).unwrap();
        let config =
            json!({"fixture": fixture(), "mode": "ok", "log": dir.path().join("calls.jsonl")});
        let f = FakeOp { dir, config };
        f.write();
        f
    }
    fn write(&self) {
        std::fs::write(
            self.dir.path().join("fake-op.json"),
            self.config.to_string(),
        )
        .unwrap();
    }
    fn set(&mut self, key: &str, value: Value) {
        self.config[key] = value;
        self.write();
    }
    fn add_item(&mut self, vault: usize, it: Value) {
        self.config["fixture"]["vaults"][vault]["items"]
            .as_array_mut()
            .unwrap()
            .push(it);
        self.write();
    }
    fn path(&self) -> PathBuf {
        self.dir.path().join("op")
    }
    fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    fn count(&self, first: &str, second: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c["argv"][0] == first && c["argv"][1] == second)
            .count()
    }
    fn cli(&self) -> OnePassword {
        OnePassword::cli()
            .with_op(self.path())
            .with_op_deadline(Duration::from_secs(10))
    }
}

async fn value(p1: &OnePassword, request: &str) -> Vec<(String, Vec<u8>)> {
    support::sorted_values(p1, request).await
}

fn one(id: &str, v: &str) -> Vec<(String, Vec<u8>)> {
    vec![(id.to_string(), v.as_bytes().to_vec())]
}

#[tokio::test]
async fn candidate_ids_and_normalization() {
    let op = FakeOp::new();
    let p1 = op.cli();
    assert_eq!(
        value(&p1, "private-vault/github-work").await,
        one("private-vault/github-work", "gh-pass")
    );
    // Case-insensitive: op:// style names can be reused.
    assert_eq!(
        value(&p1, "Private-Vault/GitHub-Work").await,
        one("private-vault/github-work", "gh-pass")
    );
    assert_eq!(
        value(&p1, "vltprivate0000000000000001/github-work").await[0].1,
        b"gh-pass"
    );
    assert_eq!(
        value(&p1, "itmgithub00000000000000001").await[0].1,
        b"gh-pass"
    );
    // '/' and '&' become '_', spaces '-', parentheses and non-ASCII go.
    assert_eq!(
        value(&p1, "private-vault/a_b-_-c").await,
        one("private-vault/a_b-_-c", "abc-cred")
    );
    assert_eq!(
        value(&p1, "private-vault/ncd-key").await,
        one("private-vault/ncd-key", "uni")
    );
    // A title that normalizes to nothing has only its raw id.
    assert_eq!(value(&p1, "itmboom0000000000000000001").await[0].1, b"boom");
    let listed: Vec<String> = value(&p1, "private-vault/*")
        .await
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        listed,
        [
            "private-vault/a_b-_-c",
            "private-vault/github-work",
            "private-vault/ncd-key"
        ]
    );
}

#[tokio::test]
async fn fields_primary_choice_and_metadata() {
    let op = FakeOp::new();
    let p1 = op.cli();
    assert_eq!(
        value(&p1, "private-vault/github-work/username").await[0].1,
        b"octocat"
    );
    assert_eq!(
        value(&p1, "private-vault/github-work/dev-tools/api-key").await[0].1,
        b"gh-api"
    );
    assert_eq!(
        value(&p1, "private-vault/github-work/api-key").await[0].1,
        b"gh-api"
    );
    assert!(
        value(&p1, "private-vault/github-work/empty")
            .await
            .is_empty(),
        "an empty field has no value"
    );
    // Primary: PASSWORD purpose, else a credential/password/token label, else CONCEALED.
    assert_eq!(value(&p1, "private-vault/a_b-_-c").await[0].1, b"abc-cred");
    // No primary secret: reported for an exact request, skipped in patterns.
    let err = p1
        .get_secrets(&p("private-vault/no-secret"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no password, credential or concealed field"),
        "{err}"
    );
    let e = p1
        .get_secrets(&p("private-vault/github-work"))
        .await
        .unwrap()
        .remove(0);
    let m = e.metadata();
    assert_eq!(
        (
            m["vault"].as_str(),
            m["item"].as_str(),
            m["category"].as_str(),
            m["field"].as_str()
        ),
        ("Private Vault", "GitHub (work)", "LOGIN", "password")
    );
    assert_eq!(m["reference"], "op://Private Vault/GitHub (work)/password");
}

#[tokio::test]
async fn patterns_across_vaults() {
    let op = FakeOp::new();
    let p1 = op.cli();
    let ids: Vec<String> = value(&p1, "*/github-work")
        .await
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        ids,
        [
            "private-vault/github-work",
            "team/github-work",
            "vltprivate0000000000000001/github-work",
            "vltteam0000000000000000001/github-work"
        ]
    );
    assert_eq!(
        value(&p1, "team/*").await,
        one("team/github-work", "team-gh")
    );
}

#[tokio::test]
async fn cached_lookups_spawn_nothing_and_one_item_is_fetched_once() {
    let mut op = FakeOp::new();
    let p1 = Arc::new(op.cli());
    value(&p1, "private-vault/github-work").await;
    let before = op.calls().len();
    assert_eq!(op.count("item", "get"), 1);
    for _ in 0..5 {
        assert_eq!(
            value(&p1, "private-vault/github-work").await[0].1,
            b"gh-pass"
        );
    }
    assert_eq!(op.calls().len(), before, "a cached lookup spawned op");
    // Concurrent lookups of an item not yet fetched share one `op item get`.
    op.set("delay", json!(0.3));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let p1 = p1.clone();
        tasks.spawn(async move { p1.get_secrets(&p("team/github-work")).await.unwrap().len() });
    }
    while let Some(n) = tasks.join_next().await {
        assert_eq!(n.unwrap(), 1);
    }
    assert_eq!(op.count("item", "get"), 2);
}

#[tokio::test]
async fn refresh_picks_up_new_items() {
    let mut op = FakeOp::new();
    let p1 = op
        .cli()
        .with_refresh(Duration::from_millis(300))
        .with_miss_refresh(Duration::from_millis(50));
    value(&p1, "team/*").await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    op.add_item(1, item("itmnew000000000000000000001", "New Thing", "PASSWORD", json!([{"id": "p", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "fresh"}])));
    // A miss on an exact id rebuilds the index once.
    assert_eq!(
        value(&p1, "team/new-thing").await,
        one("team/new-thing", "fresh")
    );
    op.add_item(1, item("itmnewer00000000000000000001", "Newer", "PASSWORD", json!([{"id": "p", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "newer"}])));
    // Patterns see it after the refresh interval.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(value(&p1, "team/newer").await[0].1, b"newer");
    assert_eq!(value(&p1, "team/*").await.len(), 3);
}

#[tokio::test]
async fn ordinary_errors_are_typed_and_stdin_is_closed() {
    let mut op = FakeOp::new();
    op.set("mode", json!("not-signed-in"));
    assert!(matches!(
        op.cli().get_secrets(&p("a/b")).await,
        Err(Error::Unavailable { .. })
    ));
    op.set("mode", json!("forbidden"));
    assert!(matches!(
        op.cli().get_secrets(&p("a/b")).await,
        Err(Error::PermissionDenied { .. })
    ));
    op.set("mode", json!("hang"));
    let started = Instant::now();
    let err = op
        .cli()
        .with_op_deadline(Duration::from_millis(300))
        .get_secrets(&p("a/b"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A fake that reads stdin until EOF answers: stdin is closed. Left open, it
    // would wait until the (long) deadline, and the call would time out.
    op.set("mode", json!("wait-stdin"));
    let r = op
        .cli()
        .with_op_deadline(Duration::from_secs(30))
        .get_secrets(&p("a/b"))
        .await;
    assert!(
        !matches!(r, Err(Error::Timeout { .. })),
        "op waited on stdin"
    );
    assert!(op.calls().iter().all(|c| c["stdin_closed"] == true));
}

#[tokio::test]
async fn only_allowed_variables_reach_op() {
    let op = FakeOp::new();
    value(&op.cli(), "team/*").await;
    let allowed = [
        "PATH",
        "HOME",
        "USER",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "XDG_CONFIG_HOME",
        "OP_CONFIG_DIR",
        "OP_ACCOUNT",
    ];
    // What a shell or the pyenv shim in front of the fake adds on its own.
    let shell = |k: &str| {
        matches!(k, "PWD" | "OLDPWD" | "SHLVL" | "_" | "LC_CTYPE")
            || k.trim_start_matches('_').starts_with("PYENV")
    };
    assert!(
        std::env::vars().any(|(k, _)| k.starts_with("CARGO")),
        "cargo sets CARGO_* for tests"
    );
    for call in op.calls() {
        for key in call["env"].as_object().unwrap().keys() {
            assert!(
                !key.starts_with("CARGO")
                    && !key.starts_with("RUST")
                    && !key.starts_with("SE_TEST"),
                "{key} reached op"
            );
            assert!(
                allowed.contains(&key.as_str()) || shell(key),
                "{key} reached op"
            );
        }
    }
}

#[tokio::test]
async fn fatal_errors_crash_and_enable_recovers() {
    let mut op = FakeOp::new();
    let engine = builder()
        .register(Registration::resolver(
            "1password-cli",
            p("**"),
            Arc::new(op.cli()),
        ))
        .build()
        .unwrap();
    op.set("mode", json!("prompt-dismissed"));
    let err = engine
        .get_secrets(&p("team/github-work"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("authorization prompt dismissed"),
        "{err}"
    );
    let state = engine.plugins()[0].state.clone();
    assert!(
        matches!(&state, ProviderState::Crashed(r) if r.contains("authorization")),
        "{state:?}"
    );
    // Crashed: not asked any more.
    assert!(matches!(
        engine.get_secrets(&p("team/github-work")).await,
        Err(Error::NoProvider { .. })
    ));
    // Enabling retries; it stays crashed while the cause remains.
    assert!(engine.enable("1password-cli").await.is_err());
    op.set("mode", json!("ok"));
    engine.enable("1password-cli").await.unwrap();
    assert_eq!(engine.plugins()[0].state, ProviderState::Running);
    assert_eq!(
        engine
            .get_secrets(&p("team/github-work"))
            .await
            .unwrap()
            .envelopes()[0]
            .value()
            .expose(),
        b"team-gh"
    );
    // op missing from PATH crashes it too.
    let missing = builder()
        .register(Registration::resolver(
            "1password-cli",
            p("**"),
            Arc::new(OnePassword::cli().with_op("/nonexistent/op")),
        ))
        .build()
        .unwrap();
    let _ = missing.get_secrets(&p("a")).await;
    assert!(
        matches!(&missing.plugins()[0].state, ProviderState::Crashed(r) if r.contains("not found"))
    );
}

#[tokio::test]
async fn service_account_token_stays_out_of_argv_and_vault_is_always_given() {
    let op = FakeOp::new();
    let token = "ops_eyJzaWduSW5BZGRyZXNzIjoibXkuMXBhc3N3b3JkLmNvbSJ9";
    let store = Arc::new(MemoryStore::new());
    store
        .set(&id(TOKEN_ID), token.into(), Metadata::new())
        .await
        .unwrap();
    let sdk = OnePassword::service_account(store.clone()).with_op(op.path());
    assert_eq!(value(&sdk, "team/github-work").await[0].1, b"team-gh");
    assert_eq!(value(&sdk, "private-vault/*").await.len(), 3);
    let calls = op.calls();
    assert!(calls.len() > 3);
    for call in &calls {
        let argv: Vec<&str> = call["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            !argv.iter().any(|a| a.contains("ops_")),
            "token in argv: {argv:?}"
        );
        assert_eq!(call["env"]["OP_SERVICE_ACCOUNT_TOKEN"], token);
        if argv[0] == "item" {
            assert!(argv.contains(&"--vault"), "no --vault: {argv:?}");
        }
    }
    // No token, or a malformed one: crashed with a clear message.
    let empty = OnePassword::service_account(Arc::new(MemoryStore::new())).with_op(op.path());
    let err = empty.get_secrets(&p("team/x")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Crashed { reason } if reason.contains("setup")),
        "{err:?}"
    );
    let bad = Arc::new(MemoryStore::new());
    bad.set(&id(TOKEN_ID), "not-a-token".into(), Metadata::new())
        .await
        .unwrap();
    let err = OnePassword::service_account(bad)
        .with_op(op.path())
        .get_secrets(&p("team/x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Crashed { reason } if reason.contains("invalid") && !reason.contains("not-a-token")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_miss_does_not_rebuild_a_fresh_index_or_refetch_values() {
    let op = FakeOp::new();
    let p1 = op.cli();
    value(&p1, "team/github-work").await;
    assert!(value(&p1, "keychain/only/id").await.is_empty());
    value(&p1, "team/github-work").await;
    assert_eq!(
        op.count("whoami", "--format"),
        1,
        "index rebuilt on a miss right after building it"
    );
    assert_eq!(op.count("item", "get"), 1, "value fetched again");
}

#[tokio::test]
async fn a_deleted_item_or_a_forbidden_vault_hides_nothing_else() {
    let mut op = FakeOp::new();
    let p1 = op.cli();
    // One vault we may not list: the other one still answers.
    op.set(
        "fail",
        json!({"item list vltprivate0000000000000001": "forbidden"}),
    );
    assert_eq!(
        value(&p1, "*/github-work")
            .await
            .iter()
            .map(|v| v.0.as_str())
            .collect::<Vec<_>>(),
        ["team/github-work", "vltteam0000000000000000001/github-work"]
    );
    // An item deleted since the index was built is simply not found.
    let p2 = op.cli();
    op.set("fail", json!({}));
    value(&p2, "team/*").await;
    op.set("fail", json!({"item get": "missing-item"}));
    assert!(value(&p2, "private-vault/github-work").await.is_empty());
}

#[tokio::test]
async fn an_authorization_timeout_crashes() {
    let mut op = FakeOp::new();
    op.set("mode", json!("auth-timeout"));
    let err = op.cli().get_secrets(&p("a/b")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Crashed { reason } if reason.contains("timed out")),
        "{err:?}"
    );
    op.set("mode", json!("no-account"));
    assert!(matches!(
        op.cli().get_secrets(&p("a/b")).await,
        Err(Error::Unavailable { .. })
    ));
}

/// The fake is as strict as `op`: without `--format json` it prints tables, and it
/// refuses flags `op` does not have. So the tests above would fail if the provider
/// dropped a flag it needs or passed one `op` refuses.
#[test]
fn the_fake_refuses_what_op_refuses() {
    let op = FakeOp::new();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(op.path())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, stdout, _) = run(&["vault", "list"]);
    assert_eq!(code, Some(0));
    assert!(serde_json::from_str::<Value>(&stdout).is_err(), "{stdout}");
    assert!(stdout.contains("Private Vault"), "{stdout}");
    let (code, stdout, _) = run(&["vault", "list", "--format=json"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()[1]["name"],
        "Team"
    );
    for (args, message) in [
        (
            &[
                "item", "list", "--vault", "Team", "--format", "json", "--all",
            ][..],
            "unknown flag: --all",
        ),
        // A flag of another command.
        (
            &["item", "list", "--reveal", "--format", "json"],
            "unknown flag: --reveal",
        ),
        (&["item", "get", "--format", "json"], "accepts 1 arg(s)"),
        (
            &["item", "list", "--vault"],
            "flag needs an argument: --vault",
        ),
    ] {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(
            stderr.starts_with("[ERROR] ") && stderr.contains(message),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn warnings_before_answers_and_errors_are_not_errors() {
    let mut op = FakeOp::new();
    op.set(
        "warnings",
        json!([
            "a first warning",
            "a second one, mentioning (403) Forbidden"
        ]),
    );
    assert_eq!(
        value(&op.cli(), "team/github-work").await,
        one("team/github-work", "team-gh")
    );
    // The [ERROR] line is the message, whatever [WARN] lines precede it, with or
    // without op's time stamp.
    for stamp in [true, false] {
        op.set("stamp", json!(stamp));
        op.set("mode", json!("not-signed-in"));
        let err = op.cli().get_secrets(&p("a/b")).await.unwrap_err();
        assert!(
            matches!(&err, Error::Unavailable { reason } if reason.contains("op signin") && !reason.contains("WARN") && !reason.contains("warning")),
            "{err:?}"
        );
        op.set("mode", json!("ok"));
        op.set("fail", json!({"item get": "missing-item"}));
        assert!(value(&op.cli(), "team/github-work").await.is_empty());
        op.set("fail", json!({}));
    }
}

#[tokio::test]
async fn two_items_whose_names_normalise_to_one_id() {
    let mut op = FakeOp::new();
    // "GitHub (work)" is already there: this one normalises to the same
    // private-vault/github-work.
    op.add_item(0, item("itmgithubtwo0000000000001", "GitHub work", "PASSWORD", json!([
        {"id": "p", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": "other-pass"}])));
    let p1 = op.cli();
    // Both answer under the shared id, each with its own item in the metadata.
    let found = p1
        .get_secrets(&p("private-vault/github-work"))
        .await
        .unwrap();
    let mut got: Vec<(&str, &[u8], &str)> = found
        .iter()
        .map(|e| {
            (
                e.id().as_str(),
                e.value().expose(),
                e.metadata()["item"].as_str(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "private-vault/github-work",
                &b"gh-pass"[..],
                "GitHub (work)"
            ),
            (
                "private-vault/github-work",
                &b"other-pass"[..],
                "GitHub work"
            ),
        ]
    );
    // One value is asked for: the engine refuses to pick one and names both.
    let engine = builder()
        .register(Registration::resolver(
            "1password-cli",
            p("**"),
            Arc::new(op.cli()),
        ))
        .build()
        .unwrap();
    let err = engine
        .resolve_one(&p("private-vault/github-work"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Ambiguous { candidates, .. } if candidates.len() == 2),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("gh-pass") && !shown.contains("other-pass"),
        "{shown}"
    );
    // Each stays reachable alone under its raw id, and field ids under the shared one
    // answer from both.
    assert_eq!(
        value(&p1, "itmgithubtwo0000000000001").await,
        one("itmgithubtwo0000000000001", "other-pass")
    );
    assert_eq!(
        engine
            .resolve_one(&p("itmgithub00000000000000001"))
            .await
            .unwrap()
            .expose(),
        b"gh-pass"
    );
    assert_eq!(
        value(&p1, "private-vault/github-work/password").await.len(),
        2
    );
}
