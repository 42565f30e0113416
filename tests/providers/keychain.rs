//! The `docker-pass` keychain provider against a real gnome-keyring on a private bus.
//!
//! Every test runs twice (see [`on_both_runtimes`]): on a current-thread runtime
//! and on a multi-threaded one, where the provider's tasks drive one D-Bus
//! connection from several threads at once. Writers that must not share the
//! provider's in-process write lock use a `Keychain` object each, or separate
//! processes (this test binary re-run in a child role).

use secrets_engine_test_support as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrets_engine::providers::keychain::{DOCKER_GROUP, DOCKER_NAME, Keychain};
use secrets_engine::{Engine, Error, Metadata, Registration, Resolver, SecretValue, Store};
use support::keyring::{Session, bus_only, private, secret_tool, shared};
use support::{id, p};

/// `ct` or `mt`: which runtime the test runs on, so its two runs keep apart on the
/// shared keyring.
fn flavor() -> &'static str {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => "ct",
        _ => "mt",
    }
}

/// The test's own `service:group` on the shared keyring.
fn group(name: &str) -> String {
    format!("se-test.{name}.{}", flavor())
}

/// A keychain on the shared keyring, in a group of the test's own so tests never see
/// each other's items.
fn keychain(name: &str) -> Keychain {
    Keychain::with_names(&group(name), DOCKER_NAME).with_bus_address(&shared().address)
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

async fn set_twice_leaves_one_item() {
    let group = &group("upsert");
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

async fn metadata_round_trips_as_x_attributes() {
    let group = &group("meta");
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

/// Sixteen writers, four to an id, each with a `Keychain` of its own (no shared
/// in-process lock orders them), reading back between writes; on the
/// multi-threaded runtime they run in parallel.
async fn sixteen_concurrent_writers_and_readers() {
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16 {
        tasks.spawn(async move {
            let k = keychain("concurrent");
            let i = id(&format!("c/{}", t % 4));
            for round in 0..5 {
                k.set(&i, format!("task{t}-round{round}").into(), Metadata::new())
                    .await
                    .unwrap();
                // Some writer of this id wrote what is read: never another id's
                // value, never two items.
                let v = value_of(&k, i.as_str()).await.expect("just written");
                let v = String::from_utf8(v).unwrap();
                let writer: usize = v[4..v.find('-').unwrap()].parse().unwrap();
                assert_eq!(writer % 4, t % 4, "{i} holds {v}");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let k = keychain("concurrent");
    assert_eq!(k.list(&p("c/*")).await.unwrap().len(), 4);
    for n in 0..4 {
        let i = format!("c/{n}");
        assert_eq!(count_items(shared(), &group("concurrent"), &i), 1, "{i}");
    }
}

async fn interoperates_with_secret_tool_both_ways() {
    let s = shared();
    let k = docker_keychain(s);
    // Docker's own group: the two runs keep apart by id.
    let ns = format!("interop-{}", flavor());
    let from_tool = format!("{ns}/from-tool");
    let from_engine = format!("{ns}/from-engine");
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
            &from_tool,
            "x_source",
            "tool",
        ],
        Some(b"tool-value"),
    );
    let e = k.get_secrets(&p(&from_tool)).await.unwrap().remove(0);
    assert_eq!(e.value().expose(), b"tool-value");
    assert_eq!(e.metadata()["source"], "tool");
    // Written here: seen by secret-tool with the same attributes.
    k.set(&id(&from_engine), "engine-value".into(), Metadata::new())
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
            &from_engine,
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
    let listed = k.list(&p(&format!("{ns}/*"))).await.unwrap();
    assert_eq!(listed.len(), 2);
}

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

async fn no_bus_is_unavailable_quickly() {
    let k = Keychain::new().with_bus_address("unix:path=/nonexistent/secrets-engine-test-bus");
    let t = Instant::now();
    let err = k.get_secrets(&p("a")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    // Not a wait on the engine's 30 s deadline; room for a loaded machine.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(!k.is_available().await);
}

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
    // Not a wait on the engine's 30 s deadline; room for a loaded machine.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

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

async fn two_keychain_objects_writing_one_id_leave_one_item() {
    let group = group("two-writers");
    for round in 0..5 {
        // Two objects in one process: no shared in-process lock. (Separate processes:
        // `eight_processes_upserting_one_id_leave_one_item`.) Their metadata differs,
        // so the service's own replace-on-equal-attributes cannot dedupe for us.
        let a = keychain("two-writers");
        let b = keychain("two-writers");
        let i = id(&format!("same/{round}"));
        let (ra, rb) = tokio::join!(
            a.set(
                &i,
                "from-a".into(),
                Metadata::from([("w".into(), "a".into())])
            ),
            b.set(
                &i,
                "from-b".into(),
                Metadata::from([("w".into(), "b".into())])
            )
        );
        ra.unwrap();
        rb.unwrap();
        assert_eq!(
            count_items(shared(), &group, i.as_str()),
            1,
            "round {round}"
        );
        let v = value_of(&a, i.as_str()).await.unwrap();
        assert!(v == b"from-a" || v == b"from-b");
    }
}

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
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
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
    /// Connected before monitoring starts (so its own `Hello` is not seen); sends
    /// the marker call that tells when the monitor has printed everything before it.
    marker: zbus::Connection,
    _dir: tempfile::TempDir,
}

impl BusMonitor {
    async fn start(session: &Session) -> BusMonitor {
        let marker = zbus::connection::Builder::address(session.address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("monitor.txt");
        let child = std::process::Command::new("dbus-monitor")
            .args(["--address", &session.address, "--monitor"])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dbus-monitor is installed (Debian dbus, scripts/setup)");
        // It is monitoring once it has printed losing its own name.
        wait_for_text(&out, "member=NameLost", "dbus-monitor did not start").await;
        BusMonitor {
            child,
            out,
            marker,
            _dir: dir,
        }
    }

    /// Stops monitoring; returns `interface.member` of every method call seen, sorted.
    ///
    /// The bus hands messages to the monitor in the order it routes them, and every
    /// call being counted was answered before this runs, so once the monitor has
    /// printed a marker call sent now, it has printed all of them.
    async fn calls(mut self) -> Vec<String> {
        let marker = format!("se.test.drain.m{}", std::process::id());
        zbus::fdo::DBusProxy::new(&self.marker)
            .await
            .unwrap()
            .name_has_owner(zbus::names::BusName::try_from(marker.as_str()).unwrap())
            .await
            .unwrap();
        wait_for_text(&self.out, &marker, "the monitor never printed the marker").await;
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let text = std::fs::read_to_string(&self.out).unwrap();
        let ours = format!("sender={} ", self.marker.unique_name().unwrap());
        let mut calls: Vec<String> = text[..text.find(&marker).unwrap()]
            .lines()
            .filter(|l| l.starts_with("method call ") && !l.contains(&ours))
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

async fn wait_for_text(file: &std::path::Path, text: &str, failure: &str) {
    let t = Instant::now();
    while !std::fs::read_to_string(file)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(t.elapsed() < Duration::from_secs(10), "{failure}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn count(calls: &[String], call: &str) -> usize {
    calls.iter().filter(|c| *c == call).count()
}

/// `calls` are exactly `expected`: each call as many times, and nothing else.
fn assert_calls(calls: &[String], expected: &[(&str, usize)]) {
    for &(call, n) in expected {
        assert_eq!(count(calls, call), n, "{call} in {calls:#?}");
    }
    assert_eq!(
        calls.len(),
        expected.iter().map(|(_, n)| n).sum::<usize>(),
        "{calls:#?}"
    );
}

/// `<prefix>/s0` … with values `v0` … and metadata `n` = the index.
async fn set_numbered(k: &Keychain, prefix: &str, n: usize) {
    for i in 0..n {
        let meta = Metadata::from([("n".to_string(), i.to_string())]);
        k.set(&id(&format!("{prefix}/s{i}")), format!("v{i}").into(), meta)
            .await
            .unwrap();
    }
}

/// Items another tool stored with `secret-tool` (group, id, value), under our
/// service name, beside ours.
fn store_strays(session: &Session, strays: &[(&str, &str, &str)]) {
    for &(group, item_id, value) in strays {
        secret_tool(
            session,
            &[
                "store",
                "--label=stray",
                "service:group",
                group,
                "service:name",
                DOCKER_NAME,
                "id",
                item_id,
            ],
            Some(value.as_bytes()),
        );
    }
}

async fn ten_references_cost_one_connection_one_session_one_get_secrets() {
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
        // Whether the service is gnome-keyring, asked alongside.
        ("org.freedesktop.DBus.GetConnectionUnixProcessID", 1),
        ("org.freedesktop.Secret.Service.OpenSession", 1),
        // One per distinct id (AGAIN repeats one).
        ("org.freedesktop.Secret.Service.SearchItems", 10),
        // An environment needs only values: no item's attributes are read.
        ("org.freedesktop.Secret.Service.GetSecrets", 1),
    ];
    assert_calls(&calls, &expected);
}

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
    // One search per id, none for all items of ours; only the two matches' attributes
    // are read.
    assert_eq!(
        count(&calls, "org.freedesktop.Secret.Service.SearchItems"),
        3,
        "{calls:#?}"
    );
    assert_eq!(
        count(&calls, "org.freedesktop.DBus.Properties.Get"),
        2,
        "{calls:#?}"
    );
    assert_eq!(
        count(&calls, "org.freedesktop.DBus.Properties.GetAll"),
        0,
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

/// `docker-pass run` at scale: 10 exact ids while the keychain holds 500 more items
/// of ours, beside strays a lookup must not take: an item of ours whose id attribute
/// is not a valid id, and one of the ten ids in another group. The lookup answers
/// exactly the ten (values, metadata) and reads no other item: one search per id, one
/// property read per item found, one `GetSecrets`.
async fn ten_ids_among_510_items_read_only_the_ten() {
    let session = private();
    // Four writers at once, each with a keychain object of its own.
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..4 {
        let k = docker_keychain(&session);
        tasks.spawn(async move {
            for n in (w..500).step_by(4) {
                k.set(
                    &id(&format!("scale/other/o{n:03}")),
                    format!("o{n}").into(),
                    Metadata::new(),
                )
                .await
                .unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let k = docker_keychain(&session);
    set_numbered(&k, "scale", 10).await;
    store_strays(
        &session,
        &[
            (DOCKER_GROUP, "scale/bad//id", "bad"),
            ("another.group", "scale/s3", "other-group"),
        ],
    );

    let fresh = docker_keychain(&session);
    let patterns: Vec<_> = (0..10).map(|i| p(&format!("scale/s{i}"))).collect();
    let monitor = BusMonitor::start(&session).await;
    let found = fresh.get_secrets_many(&patterns).await;
    let calls = monitor.calls().await;

    assert_eq!(found.len(), 10);
    for (i, answer) in found.into_iter().enumerate() {
        let envelopes = answer.unwrap();
        assert_eq!(envelopes.len(), 1, "scale/s{i}");
        let e = &envelopes[0];
        assert_eq!(e.id().as_str(), format!("scale/s{i}"));
        assert_eq!(e.value().expose(), format!("v{i}").as_bytes());
        assert_eq!(e.metadata()["n"], i.to_string());
    }
    let expected = [
        ("org.freedesktop.DBus.Hello", 1),
        ("org.freedesktop.DBus.GetNameOwner", 1),
        // Whether the service is gnome-keyring, asked alongside.
        ("org.freedesktop.DBus.GetConnectionUnixProcessID", 1),
        ("org.freedesktop.Secret.Service.OpenSession", 1),
        ("org.freedesktop.Secret.Service.SearchItems", 10),
        ("org.freedesktop.DBus.Properties.Get", 10),
        ("org.freedesktop.Secret.Service.GetSecrets", 1),
    ];
    assert_calls(&calls, &expected);

    // Patterns and listings read every item of ours: the invalid id is skipped, not
    // fatal, and the other group's item is never seen.
    let mut got: Vec<(String, Vec<u8>)> = fresh
        .get_secrets(&p("scale/*"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id().to_string(), e.value().expose().to_vec()))
        .collect();
    got.sort();
    let want: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("scale/s{i}"), format!("v{i}").into_bytes()))
        .collect();
    assert_eq!(got, want);
    let listed = fresh.list(&p("**")).await.unwrap();
    assert_eq!(listed.len(), 510);
    assert!(listed.iter().all(|l| l.id.as_str().starts_with("scale/")));
}

/// Values-only lookups (what an environment needs) answer exact ids as full ones do,
/// strays included, without reading any item's attributes: the metadata is left out.
async fn values_only_lookups_answer_as_full_ones_without_attribute_reads() {
    let session = private();
    let k = docker_keychain(&session);
    set_numbered(&k, "vals", 5).await;
    // A second item of ours holding vals/s2 (another tool's stray, written last), and
    // vals/s3 in another group: the full lookup answers s2 with the stray (the item
    // every writer keeps) and never sees the other group's.
    store_strays(
        &session,
        &[
            (DOCKER_GROUP, "vals/s2", "stray-2"),
            ("another.group", "vals/s3", "other-group"),
        ],
    );
    let mut patterns: Vec<_> = (0..5).map(|i| p(&format!("vals/s{i}"))).collect();
    patterns.push(p("vals/none"));
    patterns.push(p("vals/s1"));

    let full = docker_keychain(&session).get_secrets_many(&patterns).await;
    let fresh = docker_keychain(&session);
    let monitor = BusMonitor::start(&session).await;
    let values = fresh.get_values_many(&patterns).await;
    let calls = monitor.calls().await;

    let flat = |answers: Vec<Result<Vec<secrets_engine::Envelope>, Error>>| {
        answers
            .into_iter()
            .map(|a| {
                a.unwrap()
                    .into_iter()
                    .map(|e| {
                        let meta = e.metadata().clone();
                        (e.id().to_string(), e.value().expose().to_vec(), meta)
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let (full, values) = (flat(full), flat(values));
    let without_metadata: Vec<Vec<(String, Vec<u8>)>> = full
        .iter()
        .map(|a| a.iter().map(|(i, v, _)| (i.clone(), v.clone())).collect())
        .collect();
    assert_eq!(
        without_metadata,
        values
            .iter()
            .map(|a| a.iter().map(|(i, v, _)| (i.clone(), v.clone())).collect())
            .collect::<Vec<Vec<(String, Vec<u8>)>>>()
    );
    assert_eq!(full[2][0].1, b"stray-2");
    assert_eq!(full[3][0].1, b"v3");
    assert_eq!(full[4][0].2["n"], "4");
    assert!(full[5].is_empty());
    assert!(values.iter().flatten().all(|(_, _, meta)| meta.is_empty()));
    let expected = [
        ("org.freedesktop.DBus.Hello", 1),
        ("org.freedesktop.DBus.GetNameOwner", 1),
        // Whether the service is gnome-keyring, asked alongside.
        ("org.freedesktop.DBus.GetConnectionUnixProcessID", 1),
        ("org.freedesktop.Secret.Service.OpenSession", 1),
        // One per distinct id.
        ("org.freedesktop.Secret.Service.SearchItems", 6),
        ("org.freedesktop.Secret.Service.GetSecrets", 1),
    ];
    assert_calls(&calls, &expected);
}

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

/// Runs each named test (an `async fn` above) on a current-thread runtime, as
/// `#[tokio::test]` does by default, and on a multi-threaded one.
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod current_thread {
            $(#[tokio::test]
            async fn $name() {
                super::$name().await
            })*
        }
        mod multi_thread {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::$name().await
            })*
        }
    };
}

on_both_runtimes!(
    crud,
    set_twice_leaves_one_item,
    values_are_byte_exact,
    metadata_round_trips_as_x_attributes,
    pattern_lookups_and_listing,
    two_hundred_items_in_one_listing,
    sixteen_concurrent_writers_and_readers,
    interoperates_with_secret_tool_both_ways,
    works_behind_the_engine,
    no_bus_is_unavailable_quickly,
    bus_without_secret_service_is_unavailable_quickly,
    locked_collection_is_a_typed_error,
    two_keychain_objects_writing_one_id_leave_one_item,
    a_killed_daemon_is_unavailable_then_recovers_without_a_new_keychain,
    ten_references_cost_one_connection_one_session_one_get_secrets,
    few_ids_among_many_items_are_searched_by_id,
    ten_ids_among_510_items_read_only_the_ten,
    values_only_lookups_answer_as_full_ones_without_attribute_reads,
    a_batch_answers_each_lookup_as_alone,
);

// Several processes on one keyring: this test binary re-run in a child role.

/// The child role's environment: the bus, what to do (`set:<writer>` or `remove`)
/// and how many times.
const CHILD_BUS: &str = "SE_TEST_KEYCHAIN_CHILD_BUS";
const CHILD_ROLE: &str = "SE_TEST_KEYCHAIN_CHILD_ROLE";
const CHILD_TIMES: &str = "SE_TEST_KEYCHAIN_CHILD_TIMES";
/// The one id every child writes.
const CONTESTED: &str = "contested/token";

/// Runs `roles` as child processes on `session`, `times` calls each, all at once.
fn run_children(session: &Session, roles: &[String], times: usize) {
    let roles: Vec<Vec<(&str, std::ffi::OsString)>> = roles
        .iter()
        .map(|role| {
            vec![
                (CHILD_BUS, session.address.clone().into()),
                (CHILD_ROLE, role.into()),
                (CHILD_TIMES, times.to_string().into()),
            ]
        })
        .collect();
    support::children::run("keychain::keychain_child", &roles, Duration::from_secs(300));
}

/// What writer `w` writes on its `n`th call: value and metadata name the writer.
fn written(w: usize, n: usize) -> (String, Metadata) {
    (
        format!("writer{w}-call{n}"),
        Metadata::from([("writer".to_string(), w.to_string())]),
    )
}

/// The contested id's items as another tool sees them, and the value through the
/// provider, which must be one some writer wrote.
fn contested_outcome(session: &Session, writers: usize, times: usize) -> (usize, Option<String>) {
    let items = count_items(session, DOCKER_GROUP, CONTESTED);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let value = rt
        .block_on(value_of(&docker_keychain(session), CONTESTED))
        .map(|v| String::from_utf8(v).unwrap());
    if let Some(v) = &value {
        let any = (0..writers).any(|w| (0..times).any(|n| written(w, n).0 == *v));
        assert!(any, "{v:?} was never written");
    }
    (items, value)
}

#[test]
fn eight_processes_upserting_one_id_leave_one_item() {
    let session = private();
    let roles: Vec<String> = (0..8).map(|w| format!("set:{w}")).collect();
    run_children(&session, &roles, 100);
    let (items, value) = contested_outcome(&session, 8, 100);
    assert_eq!(items, 1);
    assert!(value.is_some());
}

#[test]
fn processes_removing_while_others_set_leave_the_value_or_nothing() {
    let session = private();
    let mut roles: Vec<String> = (0..4).map(|w| format!("set:{w}")).collect();
    roles.extend((0..4).map(|_| "remove".to_string()));
    run_children(&session, &roles, 50);
    let (items, value) = contested_outcome(&session, 4, 50);
    assert!(items <= 1, "{items} items");
    assert_eq!(items == 1, value.is_some());
}

/// The child role of the tests above, which run this binary with the child
/// variables set; without them (an ordinary test run) it does nothing.
#[test]
fn keychain_child() {
    let (Ok(bus), Ok(role), Ok(times)) = (
        std::env::var(CHILD_BUS),
        std::env::var(CHILD_ROLE),
        std::env::var(CHILD_TIMES),
    ) else {
        return;
    };
    let times: usize = times.parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let k = Keychain::new().with_bus_address(&bus);
        support::children::wait_for_go();
        let i = id(CONTESTED);
        let mut failed = Vec::new();
        for n in 0..times {
            let r = match role.split_once(':') {
                Some(("set", w)) => {
                    let (value, meta) = written(w.parse().unwrap(), n);
                    k.set(&i, value.into(), meta).await
                }
                _ => match k.remove(&i).await {
                    Err(Error::NotFound { .. }) => Ok(()),
                    r => r,
                },
            };
            if let Err(e) = r {
                failed.push(format!("call {n}: {e}"));
            }
        }
        assert!(failed.is_empty(), "{role}: {failed:#?}");
    });
}
