//! The `docker-pass` keychain provider against a real gnome-keyring on a private bus.

use secrets_engine_test_support as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrets_engine::providers::keychain::{DOCKER_GROUP, DOCKER_NAME, Keychain};
use secrets_engine::{
    Engine, Error, Metadata, Pattern, Registration, Resolver, SecretValue, Store,
};
use support::keyring::{Session, bus_only, private, secret_tool, shared};
use support::{id, p};

/// A keychain on the shared keyring, in a group of the test's own so tests never see
/// each other's items.
fn keychain(group: &str) -> Keychain {
    Keychain::with_names(&format!("se-test.{group}"), DOCKER_NAME)
        .with_bus_address(&shared().address)
}

fn docker_keychain(session: &Session) -> Keychain {
    Keychain::new().with_bus_address(&session.address)
}

async fn value_of(k: &Keychain, i: &str) -> Option<Vec<u8>> {
    let found = k.get_secrets(&p(i)).await.unwrap();
    assert!(found.len() <= 1, "{i}: {} items", found.len());
    found
        .into_iter()
        .next()
        .map(|e| e.value().expose().to_vec())
}

fn count_items(session: &Session, group: &str, i: &str) -> usize {
    let out = secret_tool(
        session,
        &["search", "--all", "service:group", group, "id", i],
        None,
    );
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.starts_with("label = "))
        .count()
}

#[tokio::test]
async fn crud() {
    let k = keychain("crud");
    assert_eq!(value_of(&k, "app/token").await, None);
    k.set(&id("app/token"), "t1".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(value_of(&k, "app/token").await.as_deref(), Some(&b"t1"[..]));
    let listed = k.list(&p("**")).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.id.to_string()).collect::<Vec<_>>(),
        ["app/token"]
    );
    k.remove(&id("app/token")).await.unwrap();
    assert_eq!(value_of(&k, "app/token").await, None);
    assert!(matches!(
        k.remove(&id("app/token")).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn set_twice_leaves_one_item() {
    let group = "se-test.upsert";
    let k = keychain("upsert");
    let meta = Metadata::from([("user".to_string(), "alice".to_string())]);
    k.set(&id("dup/x"), "first".into(), meta).await.unwrap();
    k.set(&id("dup/x"), "second".into(), Metadata::new())
        .await
        .unwrap();
    k.set(
        &id("dup/x"),
        "third".into(),
        Metadata::from([("v".into(), "3".into())]),
    )
    .await
    .unwrap();
    assert_eq!(count_items(shared(), group, "dup/x"), 1);
    let e = k.get_secrets(&p("dup/x")).await.unwrap().remove(0);
    assert_eq!(e.value().expose(), b"third");
    // Metadata is replaced, not merged.
    assert_eq!(
        e.metadata(),
        &Metadata::from([("v".to_string(), "3".to_string())])
    );
    // Strays from elsewhere (another tool creating a second item) are cleaned up.
    // (secret-tool replaces an item with identical attributes, so the stray differs in one.)
    secret_tool(
        shared(),
        &[
            "store",
            "--label=stray",
            "service:group",
            group,
            "service:name",
            DOCKER_NAME,
            "id",
            "dup/x",
            "x_other",
            "1",
        ],
        Some(b"stray"),
    );
    assert_eq!(count_items(shared(), group, "dup/x"), 2);
    k.set(&id("dup/x"), "fourth".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(count_items(shared(), group, "dup/x"), 1);
    assert_eq!(value_of(&k, "dup/x").await.as_deref(), Some(&b"fourth"[..]));
}

#[tokio::test]
async fn values_are_byte_exact() {
    let k = keychain("bytes");
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let big: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mib: Vec<u8> = (0..1024 * 1024).map(|i| (i * 13 % 256) as u8).collect();
    let cases: [(&str, &[u8]); 5] = [
        ("v/empty", b""),
        ("v/binary", &all_bytes),
        ("v/non-utf8", &[0xff, 0xfe, 0x00, 0xc3]),
        ("v/64k", &big),
        ("v/1m", &mib),
    ];
    for (i, v) in cases {
        k.set(&id(i), SecretValue::from(v), Metadata::new())
            .await
            .unwrap();
    }
    for (i, v) in cases {
        assert_eq!(value_of(&k, i).await.as_deref(), Some(v), "{i}");
    }
}

#[tokio::test]
async fn metadata_round_trips_as_x_attributes() {
    let group = "se-test.meta";
    let k = keychain("meta");
    let meta = Metadata::from([
        ("user".to_string(), "alice".to_string()),
        ("registry".to_string(), "hub".to_string()),
    ]);
    k.set(&id("m/one"), "v".into(), meta.clone()).await.unwrap();
    let listed = k.list(&p("m/*")).await.unwrap();
    assert_eq!(listed[0].metadata, meta);
    assert_eq!(
        k.get_secrets(&p("m/one")).await.unwrap()[0].metadata(),
        &meta
    );
    // Stored as x_ attributes: another tool finds the item by them.
    let by_meta = secret_tool(
        shared(),
        &[
            "lookup",
            "service:group",
            group,
            "x_user",
            "alice",
            "x_registry",
            "hub",
        ],
        None,
    );
    assert_eq!(by_meta, b"v");
    let raw = String::from_utf8(secret_tool(
        shared(),
        &["search", "--all", "service:group", group, "id", "m/one"],
        None,
    ))
    .unwrap();
    assert!(
        raw.contains(&format!("label = {group}:{DOCKER_NAME}:m/one")),
        "{raw}"
    );
}

#[tokio::test]
async fn pattern_lookups_and_listing() {
    let k = keychain("patterns");
    for i in [
        "docker/auth/hub/alice",
        "docker/auth/hub/bob",
        "docker/auth/ghcr/alice",
        "vault/x",
    ] {
        k.set(&id(i), i.into(), Metadata::new()).await.unwrap();
    }
    let ids = |v: Vec<secrets_engine::Listing>| {
        v.into_iter().map(|l| l.id.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(k.list(&p("docker/auth/*/alice")).await.unwrap()),
        ["docker/auth/ghcr/alice", "docker/auth/hub/alice"]
    );
    assert_eq!(ids(k.list(&p("**/alice")).await.unwrap()).len(), 2);
    assert_eq!(ids(k.list(&p("**")).await.unwrap()).len(), 4);
    let mut got: Vec<_> = k
        .get_secrets(&p("docker/**"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id().to_string())
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "docker/auth/ghcr/alice",
            "docker/auth/hub/alice",
            "docker/auth/hub/bob"
        ]
    );
}

#[tokio::test]
async fn two_hundred_items_in_one_listing() {
    let k = Arc::new(keychain("two-hundred"));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200 {
        let k = k.clone();
        tasks.spawn(async move {
            k.set(
                &id(&format!("bulk/{n:03}")),
                format!("v{n}").into(),
                Metadata::new(),
            )
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let listed = k.list(&p("bulk/*")).await.unwrap();
    assert_eq!(listed.len(), 200);
    assert_eq!(listed[0].id.as_str(), "bulk/000");
    assert_eq!(listed[199].id.as_str(), "bulk/199");
    let all = k.get_secrets(&p("bulk/**")).await.unwrap();
    assert_eq!(all.len(), 200);
    assert!(all.iter().all(|e| e.value().expose()
        == format!("v{}", e.id().as_str()[5..].parse::<u32>().unwrap()).as_bytes()));
}

#[tokio::test]
async fn sixteen_concurrent_writers_and_readers() {
    let k = Arc::new(keychain("concurrent"));
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16 {
        let k = k.clone();
        tasks.spawn(async move {
            for round in 0..5 {
                let i = id(&format!("c/{t}"));
                let v = format!("task{t}-round{round}");
                k.set(&i, v.clone().into(), Metadata::new()).await.unwrap();
                let got = k.get_secrets(&Pattern::from(i)).await.unwrap();
                assert_eq!(got.len(), 1);
                assert_eq!(got[0].value().expose(), v.as_bytes());
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    assert_eq!(k.list(&p("c/*")).await.unwrap().len(), 16);
}

#[tokio::test]
async fn interoperates_with_secret_tool_both_ways() {
    let s = shared();
    let k = docker_keychain(s);
    // Written by another tool with Docker's layout: seen here.
    secret_tool(
        s,
        &[
            "store",
            "--label=from secret-tool",
            "service:group",
            DOCKER_GROUP,
            "service:name",
            DOCKER_NAME,
            "id",
            "interop/from-tool",
            "x_source",
            "tool",
        ],
        Some(b"tool-value"),
    );
    let e = k
        .get_secrets(&p("interop/from-tool"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(e.value().expose(), b"tool-value");
    assert_eq!(e.metadata()["source"], "tool");
    // Written here: seen by secret-tool with the same attributes.
    k.set(
        &id("interop/from-engine"),
        "engine-value".into(),
        Metadata::new(),
    )
    .await
    .unwrap();
    let out = secret_tool(
        s,
        &[
            "lookup",
            "service:group",
            DOCKER_GROUP,
            "service:name",
            DOCKER_NAME,
            "id",
            "interop/from-engine",
        ],
        None,
    );
    assert_eq!(out, b"engine-value");
    // An item whose id attribute is not a valid id is skipped, not fatal.
    secret_tool(
        s,
        &[
            "store",
            "--label=bad",
            "service:group",
            DOCKER_GROUP,
            "service:name",
            DOCKER_NAME,
            "id",
            "not a valid id",
        ],
        Some(b"x"),
    );
    let listed = k.list(&p("interop/*")).await.unwrap();
    assert_eq!(listed.len(), 2);
}

#[tokio::test]
async fn works_behind_the_engine() {
    let k = keychain("engine");
    k.set(&id("eng/token"), "via-engine".into(), Metadata::new())
        .await
        .unwrap();
    let engine = Engine::builder()
        .config(secrets_engine::ConfigLocation::None)
        .register(Registration::store("docker-pass", p("**"), Arc::new(k)).configurable(false))
        .build()
        .unwrap();
    let r = engine.get_secrets(&p("eng/*")).await.unwrap();
    assert_eq!(r.envelopes()[0].provider(), "docker-pass");
    assert_eq!(r.envelopes()[0].value().expose(), b"via-engine");
    // The blocking face works too (the C ABI and the CLI use it).
    assert_eq!(
        engine
            .blocking()
            .resolve_one(&p("eng/token"))
            .unwrap()
            .expose(),
        b"via-engine"
    );
}

#[tokio::test]
async fn no_bus_is_unavailable_quickly() {
    let k = Keychain::new().with_bus_address("unix:path=/nonexistent/secrets-engine-test-bus");
    let t = Instant::now();
    let err = k.get_secrets(&p("a")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(!k.is_available().await);
}

#[tokio::test]
async fn bus_without_secret_service_is_unavailable_quickly() {
    let bus = bus_only();
    let k = Keychain::new().with_bus_address(&bus.address);
    let t = Instant::now();
    for r in [
        k.get_secrets(&p("a")).await.map(|_| ()),
        k.set(&id("a"), "v".into(), Metadata::new()).await,
        k.list(&p("**")).await.map(|_| ()),
    ] {
        let err = r.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(err.to_string().contains("org.freedesktop.secrets"), "{err}");
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn locked_collection_is_a_typed_error() {
    let session = private();
    let k = docker_keychain(&session);
    k.set(&id("locked/x"), "v".into(), Metadata::new())
        .await
        .unwrap();
    session.lock_default_collection().await;
    let t = Instant::now();
    assert!(matches!(
        k.get_secrets(&p("locked/x")).await,
        Err(Error::Locked { .. })
    ));
    assert!(matches!(
        k.get_secrets(&p("locked/*")).await,
        Err(Error::Locked { .. })
    ));
    assert!(matches!(k.list(&p("**")).await, Err(Error::Locked { .. })));
    assert!(matches!(
        k.set(&id("locked/x"), "w".into(), Metadata::new()).await,
        Err(Error::Locked { .. })
    ));
    assert!(matches!(
        k.set(&id("locked/new"), "w".into(), Metadata::new()).await,
        Err(Error::Locked { .. })
    ));
    assert!(matches!(
        k.remove(&id("locked/x")).await,
        Err(Error::Locked { .. })
    ));
    // No prompt, no hang.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn two_keychain_objects_writing_one_id_leave_one_item() {
    let group = "se-test.two-writers";
    for round in 0..5 {
        // Two objects: no shared in-process lock, as with two processes.
        let a = keychain("two-writers");
        let b = keychain("two-writers");
        let i = id(&format!("same/{round}"));
        let (ra, rb) = tokio::join!(
            a.set(&i, "from-a".into(), Metadata::new()),
            b.set(&i, "from-b".into(), Metadata::new())
        );
        ra.unwrap();
        rb.unwrap();
        assert_eq!(count_items(shared(), group, i.as_str()), 1, "round {round}");
        let v = value_of(&a, i.as_str()).await.unwrap();
        assert!(v == b"from-a" || v == b"from-b");
    }
}

#[tokio::test]
async fn a_killed_daemon_is_unavailable_then_recovers_without_a_new_keychain() {
    let session = private();
    let k = docker_keychain(&session);
    k.set(&id("restart/x"), "before".into(), Metadata::new())
        .await
        .unwrap();
    session.kill_daemon();
    let t = Instant::now();
    let err = k.get_secrets(&p("restart/x")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
    // Nothing was activated behind our back: still no service.
    assert!(matches!(
        k.list(&p("**")).await,
        Err(Error::Unavailable { .. })
    ));
    session.restart_daemon();
    assert_eq!(
        value_of(&k, "restart/x").await.as_deref(),
        Some(&b"before"[..])
    );
    k.set(&id("restart/y"), "after".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(
        value_of(&k, "restart/y").await.as_deref(),
        Some(&b"after"[..])
    );
}

/// The D-Bus method calls on a private bus, as `dbus-monitor` (a real bus monitor)
/// sees them: the proof of how many round trips a lookup costs.
struct BusMonitor {
    child: std::process::Child,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl BusMonitor {
    async fn start(session: &Session) -> BusMonitor {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("monitor.txt");
        let child = std::process::Command::new("dbus-monitor")
            .args(["--address", &session.address, "--monitor"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dbus-monitor is installed (Debian dbus, scripts/setup)");
        // It is monitoring once it has printed losing its own name.
        let t = Instant::now();
        while !std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("member=NameLost")
        {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "dbus-monitor did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        BusMonitor {
            child,
            out,
            _dir: dir,
        }
    }

    /// Stops monitoring; returns `interface.member` of every method call seen, sorted.
    async fn calls(mut self) -> Vec<String> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let text = std::fs::read_to_string(&self.out).unwrap();
        let mut calls: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("method call "))
            .map(|l| {
                let field = |name: &str| {
                    l.split(&format!("{name}="))
                        .nth(1)
                        .and_then(|r| r.split([';', ' ']).next())
                        .unwrap_or("?")
                        .to_owned()
                };
                format!("{}.{}", field("interface"), field("member"))
            })
            .collect();
        calls.sort();
        calls
    }
}

fn count(calls: &[String], call: &str) -> usize {
    calls.iter().filter(|c| *c == call).count()
}

#[tokio::test]
async fn ten_references_cost_one_connection_one_session_one_search_one_get_secrets() {
    let session = private();
    let writer = docker_keychain(&session);
    for i in 0..10 {
        writer
            .set(
                &id(&format!("batch/s{i}")),
                format!("v{i}").into(),
                Metadata::new(),
            )
            .await
            .unwrap();
    }
    let engine = Engine::builder()
        .config(secrets_engine::ConfigLocation::None)
        .register(
            Registration::store("docker-pass", p("**"), Arc::new(docker_keychain(&session)))
                .configurable(false),
        )
        .build()
        .unwrap();
    let mut vars: Vec<(String, String)> = (0..10)
        .map(|i| (format!("S{i}"), format!("se://batch/s{i}")))
        .collect();
    vars.push(("AGAIN".into(), "se://batch/s3".into()));
    vars.push(("PLAIN".into(), "untouched".into()));

    let monitor = BusMonitor::start(&session).await;
    let env = secrets_engine::resolve_env(&engine, vars).await.unwrap();
    let calls = monitor.calls().await;

    for (i, (_, value)) in env.iter().take(10).enumerate() {
        assert_eq!(value, format!("v{i}").as_str());
    }
    assert_eq!(env[10].1, "v3");
    assert_eq!(env[11].1, "untouched");
    let expected = [
        ("org.freedesktop.DBus.Hello", 1),
        ("org.freedesktop.DBus.GetNameOwner", 1),
        ("org.freedesktop.Secret.Service.OpenSession", 1),
        ("org.freedesktop.Secret.Service.SearchItems", 1),
        // Each candidate's id and metadata: one property read per item.
        ("org.freedesktop.DBus.Properties.GetAll", 10),
        ("org.freedesktop.Secret.Service.GetSecrets", 1),
    ];
    for (call, n) in expected {
        assert_eq!(count(&calls, call), n, "{call} in {calls:#?}");
    }
    assert_eq!(
        calls.len(),
        expected.iter().map(|(_, n)| n).sum::<usize>(),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn few_ids_among_many_items_are_searched_by_id() {
    let session = private();
    let k = docker_keychain(&session);
    for i in 0..30 {
        k.set(
            &id(&format!("many/s{i}")),
            format!("v{i}").into(),
            Metadata::new(),
        )
        .await
        .unwrap();
    }
    let fresh = docker_keychain(&session);
    let monitor = BusMonitor::start(&session).await;
    let found = fresh
        .get_secrets_many(&[p("many/s7"), p("many/s21"), p("many/none")])
        .await;
    let calls = monitor.calls().await;
    let values: Vec<Vec<Vec<u8>>> = found
        .into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|e| e.value().expose().to_vec())
                .collect()
        })
        .collect();
    assert_eq!(
        values,
        [vec![b"v7".to_vec()], vec![b"v21".to_vec()], vec![]]
    );
    // One search for all items of ours (30 > 2 x 3 ids), then one per id; only the
    // two matches are read.
    assert_eq!(
        count(&calls, "org.freedesktop.Secret.Service.SearchItems"),
        4,
        "{calls:#?}"
    );
    assert_eq!(
        count(&calls, "org.freedesktop.DBus.Properties.GetAll"),
        2,
        "{calls:#?}"
    );
    assert_eq!(
        count(&calls, "org.freedesktop.Secret.Service.GetSecrets"),
        1,
        "{calls:#?}"
    );
    assert_eq!(
        count(&calls, "org.freedesktop.Secret.Item.GetSecret"),
        0,
        "{calls:#?}"
    );
}

#[tokio::test]
async fn a_batch_answers_each_lookup_as_alone() {
    let k = keychain("batch-engine");
    k.set(&id("kb/one"), "k1".into(), Metadata::new())
        .await
        .unwrap();
    k.set(&id("kb/two"), "k2".into(), Metadata::new())
        .await
        .unwrap();
    k.set(&id("shared/x"), "from-keychain".into(), Metadata::new())
        .await
        .unwrap();
    let engine = Engine::builder()
        .config(secrets_engine::ConfigLocation::None)
        .register(Registration::store("docker-pass", p("**"), Arc::new(k)).configurable(false))
        .register(Registration::store(
            "memory",
            p("shared/**"),
            support::memory(&[("shared/x", b"from-memory"), ("shared/y", b"m")]),
        ))
        .build()
        .unwrap();
    let patterns = [
        p("kb/*"),
        p("kb/two"),
        p("nothing/here"),
        p("shared/*"),
        p("kb/one"),
    ];
    let batch = engine.get_secrets_many(&patterns).await;
    assert_eq!(batch.len(), patterns.len());
    for (pattern, got) in patterns.iter().zip(batch) {
        let alone = engine.get_secrets(pattern).await;
        let show = |r: Result<secrets_engine::Resolution, Error>| match r {
            Ok(r) => format!(
                "{:?}",
                r.envelopes()
                    .iter()
                    .map(|e| (
                        e.id().to_string(),
                        e.provider().to_owned(),
                        e.value().expose().to_vec()
                    ))
                    .collect::<Vec<_>>()
            ),
            Err(e) => format!("error {e}"),
        };
        assert_eq!(show(got), show(alone), "{pattern}");
    }
    // The merged view: ambiguity across providers is still seen.
    let env = secrets_engine::resolve_env(&engine, [("A", "se://shared/x")]).await;
    assert!(matches!(
        env,
        Err(Error::Variable { source, .. }) if matches!(*source, Error::Ambiguous { .. })
    ));
}
