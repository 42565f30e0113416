//! The plugin host against the project's own Go plugin, which speaks the plugin side
//! of Docker's protocol on hashicorp/yamux: launched (fd 3) and external
//! (`GET /hijack`), a lookup merged with a store, a crash mid-request, a plugin that
//! never registers, one that hangs, disable/enable persisted, and no process left
//! behind when the engine stops.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrets_engine::plugins::PluginOptions;
use secrets_engine::server::{EngineListener, EngineServer};
use secrets_engine::{ConfigLocation, Engine, EngineSocket, ErrorKind, ProviderState};
use secrets_engine_test_support::testplugin::{alive, install, pids};
use secrets_engine_test_support::{memory, p};
use serde_json::json;

/// Shorter than the defaults, so that failures show quickly, but with room for a
/// loaded machine: a plugin that starts or answers late is not what these test.
fn options() -> PluginOptions {
    let mut o = PluginOptions::default();
    o.registration_timeout = Duration::from_secs(3);
    o.request_timeout = Duration::from_secs(3);
    o.shutdown_timeout = Duration::from_secs(1);
    o.restart_delay = Duration::from_millis(200);
    o.max_restart_delay = Duration::from_secs(1);
    o
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// A launched plugin `name` with `config` (plus its pids file).
    fn plugin(&self, name: &str, mut config: serde_json::Value) -> PathBuf {
        config["pids"] = json!(self.path(&format!("{name}.pids")));
        install(self.dir.path(), name, &config)
    }
    fn pids(&self, name: &str) -> Vec<u32> {
        pids(&self.path(&format!("{name}.pids")))
    }
    fn engine(&self, plugins: &[&Path]) -> Engine {
        self.engine_with(plugins, options())
    }
    fn engine_with(&self, plugins: &[&Path], options: PluginOptions) -> Engine {
        let mut b = Engine::builder()
            .config(ConfigLocation::Path(self.path("config.json")))
            .store(
                "memory",
                p("team/**"),
                memory(&[("team/db", b"from-store")]),
            )
            .plugin_options(options);
        for pl in plugins {
            b = b.plugin(*pl);
        }
        b.build().unwrap()
    }
}

fn state(engine: &Engine, name: &str) -> ProviderState {
    engine
        .plugins()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is listed"))
        .state
}

async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An engine served on a socket (see [`serve`]) until [`Served::stop`].
struct Served {
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), secrets_engine::Error>>,
}

impl Served {
    /// Stops serving and waits for the server to end, which must end cleanly.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
    }
}

/// `engine` served on `socket` until [`Served::stop`].
fn serve(engine: &Engine, socket: &Path) -> Served {
    let listener = EngineListener::bind(&EngineSocket::Path(socket.to_owned())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        EngineServer::new(engine.clone()).serve(vec![listener], async {
            let _ = stopped.await;
        }),
    );
    Served { stop, server }
}

fn values(r: &secrets_engine::Resolution) -> Vec<(String, String, Vec<u8>)> {
    r.envelopes()
        .iter()
        .map(|e| {
            (
                e.id().to_string(),
                e.provider().to_owned(),
                e.value().expose().to_vec(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launched_plugin_registers_its_pattern_and_merges_with_a_store() {
    let s = Setup::new();
    let plug = s.plugin(
        "plug",
        json!({"pattern": "plug/**", "secrets": {"plug/token": "from-plugin", "other/x": "outside"}}),
    );
    let engine = s.engine(&[&plug]);
    engine.start_plugins().await;
    let info = engine.plugins();
    let mine = info.iter().find(|p| p.name == "plug").unwrap();
    assert_eq!(mine.state, ProviderState::Running);
    assert_eq!(
        mine.pattern.as_str(),
        "plug/**",
        "routed by its declared pattern"
    );
    assert!(mine.configurable);

    let found = engine.get_secrets(&p("**")).await.unwrap();
    assert_eq!(
        values(&found),
        [
            ("team/db".into(), "memory".into(), b"from-store".to_vec()),
            ("plug/token".into(), "plug".into(), b"from-plugin".to_vec()),
        ]
    );
    assert!(found.failures().is_empty());
    // Routed by the declared pattern: a lookup outside it does not reach the plugin.
    assert_eq!(
        engine.routed_providers(&p("team/**")),
        ["memory"],
        "the plugin is not asked for ids outside its pattern"
    );
    let nothing = engine.get_secrets(&p("plug/none")).await.unwrap_err();
    assert_eq!(nothing.kind(), ErrorKind::NotFound);
    engine.stop_plugins().await;
    wait_for("the plugin to be gone", Duration::from_secs(5), || {
        s.pids("plug").iter().all(|p| !alive(*p))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_request_is_a_typed_failure_then_the_plugin_is_restarted() {
    let s = Setup::new();
    let plug = s.plugin(
        "crashy",
        json!({"pattern": "crashy/**", "secrets": {"crashy/a": "v"}, "mode": "crash-once",
               "marker": s.path("crashed")}),
    );
    // A restart a second later, so the crash is seen before the relaunch.
    let mut o = options();
    o.restart_delay = Duration::from_secs(1);
    let engine = s.engine_with(&[&plug], o);
    engine.start_plugins().await;
    assert_eq!(state(&engine, "crashy"), ProviderState::Running);

    let e = engine.get_secrets(&p("crashy/**")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("crashy"), "{e}");
    // Crashed once the failed call has returned: the call waited for the
    // connection's end, and the supervisor restarts it only after 200 ms.
    let ProviderState::Crashed(m) = state(&engine, "crashy") else {
        panic!("crashed: {:?}", state(&engine, "crashy"));
    };
    assert!(
        m.contains("exited with status 3")
            || m.contains("failed during a request")
            || m.contains("closed its connection"),
        "{m}"
    );
    // Merged with the store: the store's answer comes with the plugin's typed failure.
    let partial = engine.get_secrets(&p("**")).await.unwrap();
    assert_eq!(values(&partial)[0].0, "team/db");
    assert_eq!(partial.failures()[0].provider, "crashy");
    assert_eq!(
        partial.failures()[0].error.kind(),
        ErrorKind::Unavailable,
        "{}",
        partial.failures()[0].error
    );
    wait_for("the restart", Duration::from_secs(5), || {
        state(&engine, "crashy") == ProviderState::Running
    })
    .await;
    let found = engine.get_secrets(&p("crashy/**")).await.unwrap();
    assert_eq!(values(&found)[0].2, b"v");
    assert_eq!(s.pids("crashy").len(), 2, "launched twice");
    engine.stop_plugins().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_never_registers_times_out_and_is_crashed() {
    let s = Setup::new();
    let plug = s.plugin("silent", json!({"pattern": "**", "mode": "noregister"}));
    let mut o = options();
    o.registration_timeout = Duration::from_secs(1);
    let engine = s.engine_with(&[&plug], o);
    let start = Instant::now();
    engine.start_plugins().await;
    assert!(start.elapsed() < Duration::from_secs(4));
    let ProviderState::Crashed(message) = state(&engine, "silent") else {
        panic!("crashed");
    };
    assert!(
        message.starts_with("plugin registration timed out after 1s; restarting in"),
        "{message}"
    );
    let first = s.pids("silent")[0];
    wait_for("the process to be stopped", Duration::from_secs(3), || {
        !alive(first)
    })
    .await;
    // Past its startup window it claims nothing: lookups are answered by the others
    // (and "not found" stays "not found"), while it is listed crashed.
    assert!(engine.routed_providers(&p("**")) == ["memory"]);
    let r = engine.get_secrets(&p("**")).await.unwrap();
    assert_eq!(values(&r)[0].0, "team/db");
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let none = engine.get_secrets(&p("team/none")).await.unwrap_err();
    assert_eq!(none.kind(), ErrorKind::NotFound, "{none}");
    // A batch is routed the same way: the unrouted plugin is not asked either.
    let many = engine
        .get_secrets_many(&[p("team/db"), p("team/none")])
        .await;
    let first = many[0].as_ref().unwrap();
    assert_eq!(values(first)[0].0, "team/db");
    assert!(first.failures().is_empty(), "{:?}", first.failures());
    let e = many[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Restarted with a backoff.
    wait_for("a relaunch", Duration::from_secs(5), || {
        s.pids("silent").len() >= 2
    })
    .await;
    engine.stop_plugins().await;
    wait_for("the plugin to be gone", Duration::from_secs(5), || {
        s.pids("silent").iter().all(|p| !alive(*p))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_whose_restarts_give_up_stays_routed_and_fails_with_its_reason() {
    let s = Setup::new();
    let plug = s.plugin(
        "quits",
        json!({"pattern": "quits/**", "mode": "crash", "secrets": {"quits/a": "v"}}),
    );
    let mut o = options();
    o.max_restarts = 1;
    let engine = s.engine_with(&[&plug], o);
    engine.start_plugins().await;
    assert_eq!(state(&engine, "quits"), ProviderState::Running);
    // It crashes on its first lookup, and its file is gone: each relaunch fails
    // without registering, and after one retry it is given up.
    std::fs::remove_file(&plug).unwrap();
    let e = engine.get_secrets(&p("quits/a")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    wait_for("the give-up", Duration::from_secs(5), || {
        matches!(state(&engine, "quits"), ProviderState::Crashed(m) if m.contains("gave up after 1 restarts"))
    })
    .await;
    let ProviderState::Crashed(m) = state(&engine, "quits") else {
        unreachable!()
    };
    assert!(m.contains("enable it to try again"), "{m}");
    // Still routed by the pattern it declared: its lookups fail with the reason,
    // never as not found, and the rest of the namespace is not claimed.
    assert_eq!(
        engine.routed_providers(&p("quits/a")),
        vec!["quits".to_owned()]
    );
    assert_eq!(engine.routed_providers(&p("other/a")), Vec::<String>::new());
    let e = engine.get_secrets(&p("quits/a")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("gave up"), "{e}");
    assert_eq!(s.pids("quits").len(), 1, "could not be launched again");
    engine.stop_plugins().await;
}

/// A plugin file whose name cannot name a provider (capitals, `_`, a name taken by
/// a store) is skipped with a warning; the same path given twice is launched once;
/// the engine starts and runs the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_plugin_names_are_skipped_and_the_engine_starts() {
    let s = Setup::new();
    let good = s.plugin(
        "good",
        json!({"pattern": "good/**", "secrets": {"good/a": "v"}}),
    );
    let capital = s.plugin("Bad_Name", json!({"pattern": "bad/**"}));
    let taken = s.plugin("memory", json!({"pattern": "mem/**"}));
    let engine = s.engine(&[&good, &capital, &taken, &good]);
    engine.start_plugins().await;
    let names: Vec<String> = engine.plugins().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["memory", "good"]);
    assert_eq!(state(&engine, "good"), ProviderState::Running);
    assert_eq!(s.pids("good").len(), 1, "launched once");
    assert!(s.pids("Bad_Name").is_empty() && s.pids("memory").is_empty());
    let found = engine.get_secrets(&p("good/a")).await.unwrap();
    assert_eq!(values(&found)[0].2, b"v");
    engine.stop_plugins().await;
}

/// As Docker's engine, a plugin is asked for the narrower of its pattern and the
/// request when one includes the other, else for the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_is_asked_for_the_narrower_pattern() {
    let s = Setup::new();
    let asked = s.path("asked");
    let plug = s.plugin(
        "vault",
        json!({"pattern": "vault/**", "secrets": {"vault/a": "v"}, "asked": asked}),
    );
    let engine = s.engine(&[&plug]);
    engine.start_plugins().await;
    engine.get_secrets(&p("**")).await.unwrap();
    engine.get_secrets(&p("vault/a")).await.unwrap();
    engine.get_secrets(&p("*/a")).await.unwrap();
    let got = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        ["vault/**", "vault/a", "*/a"]
    );
    engine.stop_plugins().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_hangs_is_cut_off_at_its_request_timeout() {
    let s = Setup::new();
    let plug = s.plugin(
        "stuck",
        json!({"pattern": "stuck/**", "mode": "hang", "marker": s.path("hanging")}),
    );
    let engine = s.engine(&[&plug]);
    engine.start_plugins().await;
    let start = Instant::now();
    let e = engine.get_secrets(&p("stuck/x")).await.unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(s.path("hanging").exists(), "the call reached the plugin");
    // A hanging call does not crash the plugin.
    assert_eq!(state(&engine, "stuck"), ProviderState::Running);
    engine.stop_plugins().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_engine_leaves_no_plugin_process() {
    let s = Setup::new();
    let a = s.plugin("a", json!({"pattern": "a/**", "child": true}));
    let b = s.plugin(
        "b",
        json!({"pattern": "b/**", "mode": "hang", "child": true}),
    );
    let engine = s.engine(&[&a, &b]);
    engine.start_plugins().await;
    let all: Vec<u32> = [s.pids("a"), s.pids("b")].concat();
    assert_eq!(all.len(), 4, "two plugins, each with a child");
    assert!(all.iter().all(|p| alive(*p)));
    let start = Instant::now();
    engine.stop_plugins().await;
    assert!(start.elapsed() < Duration::from_secs(4));
    // SIGKILL is delivered asynchronously: allow the kernel a moment.
    wait_for(
        "every plugin process to be gone",
        Duration::from_secs(5),
        || all.iter().all(|p| !alive(*p)),
    )
    .await;

    // Dropped without stop_plugins: the process groups are killed all the same.
    let s2 = Setup::new();
    let c = s2.plugin("c", json!({"pattern": "c/**", "child": true}));
    let engine = s2.engine(&[&c]);
    engine.start_plugins().await;
    let pids = s2.pids("c");
    assert_eq!(pids.len(), 2);
    drop(engine);
    wait_for(
        "the dropped engine's plugins to go",
        Duration::from_secs(3),
        || pids.iter().all(|p| !alive(*p)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_plugin_is_persisted_and_enabling_launches_it() {
    let s = Setup::new();
    let plug = s.plugin(
        "togg",
        json!({"pattern": "togg/**", "secrets": {"togg/a": "v"}}),
    );
    let engine = s.engine(&[&plug]);
    engine.start_plugins().await;
    let first = s.pids("togg")[0];
    engine.disable("togg").unwrap();
    let saved = std::fs::read_to_string(s.path("config.json")).unwrap();
    assert!(saved.contains("togg"), "{saved}");
    // Disabled, it is stopped (Shutdown, then its process group) as the engine
    // stopping would, not left running while listed as disabled.
    wait_for(
        "the disabled plugin to stop",
        Duration::from_secs(3),
        || !alive(first),
    )
    .await;
    assert_eq!(state(&engine, "togg"), ProviderState::Disabled);
    engine.enable("togg").await.unwrap();
    assert_eq!(state(&engine, "togg"), ProviderState::Running);
    assert_eq!(s.pids("togg").len(), 2, "enabling relaunched it");
    engine.disable("togg").unwrap();
    engine.stop_plugins().await;
    drop(engine);

    let engine = s.engine(&[&plug]);
    engine.start_plugins().await;
    assert_eq!(state(&engine, "togg"), ProviderState::Disabled);
    assert_eq!(s.pids("togg").len(), 2, "a disabled plugin is not launched");
    engine.enable("togg").await.unwrap();
    assert_eq!(state(&engine, "togg"), ProviderState::Running);
    assert_eq!(s.pids("togg").len(), 3);
    let found = engine.get_secrets(&p("togg/a")).await.unwrap();
    assert_eq!(values(&found)[0].2, b"v");
    engine.stop_plugins().await;
}

/// `enable` straight after `disable`, while the plugin is still being stopped, leaves
/// it running once: the supervisor does not go on stopping and relaunching it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_then_enable_at_once_leaves_one_running_process() {
    let s = Setup::new();
    let plug = s.plugin(
        "flip",
        json!({"pattern": "flip/**", "secrets": {"flip/a": "v"}}),
    );
    let engine = s.engine(&[&plug]);
    engine.start_plugins().await;
    engine.disable("flip").unwrap();
    engine.enable("flip").await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let live: Vec<u32> = s.pids("flip").into_iter().filter(|p| alive(*p)).collect();
    assert_eq!(live.len(), 1, "one running process: {:?}", s.pids("flip"));
    assert!(s.pids("flip").len() <= 2, "not relaunched in a loop");
    assert_eq!(state(&engine, "flip"), ProviderState::Running);
    let found = engine.get_secrets(&p("flip/a")).await.unwrap();
    assert_eq!(values(&found)[0].2, b"v");
    engine.stop_plugins().await;
}

/// An external plugin through `GET /hijack`, with hashicorp/yamux's keepalive every
/// 50 ms and its own pings, both answered by our yamux.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_plugin_connects_through_hijack() {
    let s = Setup::new();
    let engine = s.engine(&[]);
    let socket = s.path("run/engine.sock");
    let served = serve(&engine, &socket);
    let config = s.path("ext.json");
    std::fs::write(
        &config,
        json!({"name": "ext", "pattern": "ext/**", "secrets": {"ext/key": "external"},
               "socket": socket, "keepalive_ms": 50, "pings": s.path("pings"),
               "pids": s.path("ext.pids")})
        .to_string(),
    )
    .unwrap();
    let mut plugin =
        tokio::process::Command::new(secrets_engine_test_support::testplugin::binary())
            .env("TESTPLUGIN_CONFIG", &config)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    wait_for("the external plugin", Duration::from_secs(5), || {
        engine
            .plugins()
            .iter()
            .any(|p| p.name == "ext" && p.state == ProviderState::Running)
    })
    .await;
    let found = engine.get_secrets(&p("**")).await.unwrap();
    assert_eq!(
        values(&found),
        [
            ("team/db".into(), "memory".into(), b"from-store".to_vec()),
            ("ext/key".into(), "ext".into(), b"external".to_vec()),
        ]
    );
    // A second of keepalives (every 50 ms) and pings: a ping left unanswered closes
    // hashicorp's session, which would end the plugin.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pings = std::fs::read_to_string(s.path("pings")).unwrap();
    assert!(
        pings.lines().filter(|l| l.starts_with("ok ")).count() >= 5,
        "{pings}"
    );
    assert!(!pings.contains("error"), "{pings}");
    assert_eq!(state(&engine, "ext"), ProviderState::Running);
    assert!(engine.get_secrets(&p("ext/key")).await.is_ok());

    // A second plugin may not take a connected plugin's name.
    let refused = |config: &Path| {
        let mut c = std::process::Command::new(secrets_engine_test_support::testplugin::binary());
        c.env("TESTPLUGIN_CONFIG", config)
            .stderr(std::process::Stdio::piped());
        let out = c.output().unwrap();
        assert!(!out.status.success(), "the registration was refused");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let dup = tokio::task::spawn_blocking({
        let config = config.clone();
        move || refused(&config)
    });
    let dup = tokio::time::timeout(Duration::from_secs(5), dup)
        .await
        .unwrap()
        .unwrap();
    assert!(dup.contains("already_exists"), "{dup}");
    // A name that cannot name a provider is invalid, not "already exists".
    let bad = s.path("bad.json");
    std::fs::write(
        &bad,
        json!({"name": "Bad_Name", "pattern": "bad/**", "socket": socket}).to_string(),
    )
    .unwrap();
    let bad = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(move || refused(&bad)),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(bad.contains("invalid_argument"), "{bad}");

    // It disconnects: listed no more (as in Docker's engine), and lookups are
    // answered by the others.
    plugin.kill().await.unwrap();
    wait_for("the disconnect", Duration::from_secs(3), || {
        !engine.plugins().iter().any(|p| p.name == "ext")
    })
    .await;
    let e = engine.get_secrets(&p("ext/key")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoProvider, "{e}");
    assert!(
        engine
            .get_secrets(&p("**"))
            .await
            .unwrap()
            .failures()
            .is_empty()
    );

    // It comes back under the same name.
    let _again = tokio::process::Command::new(secrets_engine_test_support::testplugin::binary())
        .env("TESTPLUGIN_CONFIG", &config)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for("the reconnect", Duration::from_secs(5), || {
        engine
            .plugins()
            .iter()
            .any(|p| p.name == "ext" && p.state == ProviderState::Running)
    })
    .await;
    assert!(engine.get_secrets(&p("ext/key")).await.is_ok());
    served.stop().await;
    engine.stop_plugins().await;
    let last = *pids(&s.path("ext.pids")).last().unwrap();
    wait_for(
        "the external plugin to stop on Shutdown",
        Duration::from_secs(3),
        || !alive(last),
    )
    .await;
}

/// An access-control module (a launched plugin registered as `accesscontrol.v1`) is
/// asked before each client's lookup, with the client's pid and name, and its
/// "deny" refuses the lookup; disabled, it is not asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_control_module_is_consulted_before_a_clients_lookup() {
    let s = Setup::new();
    let asked = s.path("asked");
    let acm = s.plugin(
        "guard",
        json!({"mode": "acm", "deny": "team/secret", "marker": asked}),
    );
    let engine = s.engine(&[&acm]);
    engine.start_plugins().await;
    assert_eq!(state(&engine, "guard"), ProviderState::Running);
    let socket = s.path("run/engine.sock");
    let served = serve(&engine, &socket);
    let client = secrets_engine::EngineClient::new(EngineSocket::Path(socket));
    let listed = client.list_plugins().await.unwrap();
    let guard = listed.iter().find(|p| p.name == "guard").unwrap();
    assert_eq!(guard.pattern, None, "listed as an access-control module");
    assert_eq!(guard.version, "v0.0.1");
    assert!(!guard.external);
    let found = client.get_secrets(&p("team/db")).await.unwrap();
    assert_eq!(found[0].value().expose(), b"from-store");
    let denied = client.get_secrets(&p("team/secret/x")).await.unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    assert!(denied.to_string().contains("guard"), "{denied}");
    let log = std::fs::read_to_string(&asked).unwrap();
    let me = std::process::id();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].starts_with(&format!("{me} ")),
        "the requester's pid: {log}"
    );
    assert!(lines[0].ends_with(" team/db"), "{log}");
    assert!(lines[1].ends_with(" team/secret/x"), "{log}");
    // The module holds no secrets: the in-process lookup does not ask it.
    assert!(engine.get_secrets(&p("team/secret/x")).await.is_err());
    engine.disable("guard").unwrap();
    let e = client.get_secrets(&p("team/secret/x")).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::NotFound,
        "disabled, the module is not asked: {e}"
    );
    assert_eq!(std::fs::read_to_string(&asked).unwrap().lines().count(), 2);
    served.stop().await;
    engine.stop_plugins().await;
}

/// A launched plugin never seen to register is no policy: it does not block client
/// lookups, so one broken plugin does not stop the engine serving everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_of_unknown_kind_does_not_block_client_lookups() {
    let s = Setup::new();
    let silent = s.plugin("broken", json!({"mode": "noregister"}));
    let engine = s.engine(&[&silent]);
    engine.start_plugins().await;
    assert!(matches!(
        state(&engine, "broken"),
        ProviderState::Crashed(_)
    ));
    let socket = s.path("run/engine.sock");
    let served = serve(&engine, &socket);
    let client = secrets_engine::EngineClient::new(EngineSocket::Path(socket));
    let found = client.get_secrets(&p("team/db")).await.unwrap();
    assert_eq!(found[0].value().expose(), b"from-store");
    served.stop().await;
    engine.stop_plugins().await;
}

/// The kind a plugin registered with is persisted: in a later run, a module that
/// is down (never registering) makes client lookups fail closed, naming it, until
/// it is disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_access_control_module_that_is_down_fails_closed() {
    let s = Setup::new();
    let acm = s.plugin("guard", json!({"mode": "acm", "deny": "team/secret"}));
    let engine = s.engine(&[&acm]);
    engine.start_plugins().await;
    assert_eq!(state(&engine, "guard"), ProviderState::Running);
    engine.stop_plugins().await;
    drop(engine);
    let saved = std::fs::read_to_string(s.path("config.json")).unwrap();
    assert!(saved.contains("access_control"), "{saved}");
    // The same plugin now never registers.
    std::fs::write(
        s.path("guard.json"),
        json!({"mode": "noregister", "pids": s.path("guard.pids")}).to_string(),
    )
    .unwrap();
    let engine = s.engine(&[&acm]);
    engine.start_plugins().await;
    assert!(matches!(state(&engine, "guard"), ProviderState::Crashed(_)));
    let socket = s.path("run/engine.sock");
    let served = serve(&engine, &socket);
    let client = secrets_engine::EngineClient::new(EngineSocket::Path(socket));
    let denied = client.get_secrets(&p("team/db")).await.unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    assert!(denied.to_string().contains("guard"), "{denied}");
    engine.disable("guard").unwrap();
    let found = client.get_secrets(&p("team/db")).await.unwrap();
    assert_eq!(found[0].value().expose(), b"from-store");
    served.stop().await;
    engine.stop_plugins().await;
}

/// An engine dropped while an external plugin is connected still kills its launched
/// plugins: the connection does not keep the plugin host alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_engine_with_an_external_plugin_connected_leaves_no_process() {
    let s = Setup::new();
    let c = s.plugin("c", json!({"pattern": "c/**", "child": true}));
    let engine = s.engine(&[&c]);
    engine.start_plugins().await;
    let launched = s.pids("c");
    assert_eq!(launched.len(), 2);
    let socket = s.path("run/engine.sock");
    let served = serve(&engine, &socket);
    let config = s.path("ext.json");
    std::fs::write(
        &config,
        json!({"name": "ext", "pattern": "ext/**", "socket": socket}).to_string(),
    )
    .unwrap();
    let _plugin = tokio::process::Command::new(secrets_engine_test_support::testplugin::binary())
        .env("TESTPLUGIN_CONFIG", &config)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for("the external plugin", Duration::from_secs(5), || {
        engine.plugins().iter().any(|p| p.name == "ext")
    })
    .await;
    served.stop().await;
    drop(engine);
    wait_for(
        "the launched plugin to go with the engine",
        Duration::from_secs(3),
        || launched.iter().all(|p| !alive(*p)),
    )
    .await;
}
