//! Engine semantics (docs/design.md §6) with in-memory stores and purpose-built providers.

use secrets_engine_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use secrets_engine::{
    ConfigLocation, Engine, Error, MemoryStore, Metadata, ProviderState, Registration,
};
use support::*;

fn ids(r: &secrets_engine::Resolution) -> Vec<(String, String)> {
    r.envelopes()
        .iter()
        .map(|e| (e.provider().to_string(), e.id().to_string()))
        .collect()
}

#[tokio::test]
async fn routes_only_to_overlapping_providers() {
    let a = Counting::new(Fixed::new(&[("a/b/c", b"1")]));
    let x = Counting::new(Fixed::new(&[("x/y", b"2")]));
    let engine = builder()
        .provider("abc", p("a/*/c"), a.clone())
        .provider("x", p("x/y"), x.clone())
        .build()
        .unwrap();
    // a/*/c and */b/* overlap only partially (both match a/b/c): still asked.
    let r = engine.get_secrets(&p("*/b/*")).await.unwrap();
    assert_eq!(ids(&r), [("abc".into(), "a/b/c".into())]);
    assert_eq!((a.calls(), x.calls()), (1, 0));
    // Nothing overlaps: a distinct error, nobody asked.
    match engine.get_secrets(&p("zzz/**")).await {
        Err(Error::NoProvider { pattern }) => assert_eq!(pattern, "zzz/**"),
        other => panic!("{other:?}"),
    }
    assert_eq!((a.calls(), x.calls()), (1, 0));
    // Overlapping, asked, nothing there: not found.
    assert_eq!(
        engine
            .get_secrets(&p("x/*"))
            .await
            .unwrap()
            .envelopes()
            .len(),
        1
    );
    assert_eq!(x.calls(), 1);
    assert!(matches!(
        engine.get_secrets(&p("a/nope/c")).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(a.calls(), 2);
}

#[tokio::test]
async fn post_filters_against_request_and_declared_pattern() {
    // A sloppy provider returns everything it has, whatever was asked.
    let sloppy = Fixed::new(&[
        ("team/a", b"1"),
        ("team/b/deep", b"2"),
        ("other/c", b"3"),
        ("docker/secrets-engine/token", b"internal"),
    ]);
    let engine = builder()
        .provider("sloppy", p("team/**"), Arc::new(sloppy))
        .build()
        .unwrap();
    let r = engine.get_secrets(&p("team/*")).await.unwrap();
    assert_eq!(ids(&r), [("sloppy".into(), "team/a".into())]);
    // other/c matches the request but not the declared pattern.
    assert!(matches!(
        engine.get_secrets(&p("other/*")).await,
        Err(Error::NoProvider { .. })
    ));
    let all = builder()
        .provider(
            "sloppy",
            p("**"),
            Arc::new(Fixed::new(&[
                ("other/c", b"3"),
                ("docker/secrets-engine/token", b"i"),
            ])),
        )
        .build()
        .unwrap();
    let r = all.get_secrets(&p("**")).await.unwrap();
    // The internal realm is never returned to a lookup.
    assert_eq!(ids(&r), [("sloppy".into(), "other/c".into())]);
    assert!(matches!(
        all.get_secrets(&p("docker/secrets-engine/*")).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn case_insensitive_providers_compare_ignoring_case() {
    let mut ci = Fixed::new(&[("Vault/Item", b"v"), ("vault/other", b"w")]);
    ci.case_insensitive = true;
    let strict = Fixed::new(&[("Vault/Item", b"v")]);
    let engine = builder()
        .provider("ci", p("vault/**"), Arc::new(ci))
        .provider("strict", p("**"), Arc::new(strict))
        .build()
        .unwrap();
    let r = engine.get_secrets(&p("vault/item")).await.unwrap();
    assert_eq!(ids(&r), [("ci".into(), "Vault/Item".into())]);
    // Routing ignores case too: a request spelled differently from the declared
    // pattern still reaches the provider.
    let mut ci = Fixed::new(&[("vault/item", b"v")]);
    ci.case_insensitive = true;
    let only_ci = builder()
        .provider("ci", p("vault/**"), Arc::new(ci))
        .build()
        .unwrap();
    let r = only_ci.get_secrets(&p("VAULT/Item")).await.unwrap();
    assert_eq!(ids(&r), [("ci".into(), "vault/item".into())]);
}

/// Builds its envelope, then takes its time answering.
struct LateAnswer;
#[async_trait::async_trait]
impl secrets_engine::Resolver for LateAnswer {
    async fn get_secrets(
        &self,
        _: &secrets_engine::Pattern,
    ) -> Result<Vec<secrets_engine::Envelope>, Error> {
        let e = secrets_engine::Envelope::new(id("late"), "v");
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(vec![e])
    }
}

#[tokio::test]
async fn envelopes_are_stamped_on_arrival() {
    let engine = builder()
        .provider("late", p("**"), Arc::new(LateAnswer))
        .build()
        .unwrap();
    let asked = std::time::SystemTime::now();
    let r = engine.get_secrets(&p("late")).await.unwrap();
    let e = &r.envelopes()[0];
    assert_eq!(e.provider(), "late");
    // Stamped when the engine received it, not when the provider built it.
    assert!(
        e.resolved_at() >= asked + Duration::from_millis(100),
        "{:?}",
        e.resolved_at().duration_since(asked)
    );
}

#[tokio::test]
async fn dropping_a_lookup_cancels_provider_calls() {
    struct Flag(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    struct Forever(Arc<std::sync::atomic::AtomicBool>);
    #[async_trait::async_trait]
    impl secrets_engine::Resolver for Forever {
        async fn get_secrets(
            &self,
            _: &secrets_engine::Pattern,
        ) -> Result<Vec<secrets_engine::Envelope>, Error> {
            let _flag = Flag(self.0.clone());
            std::future::pending().await
        }
    }
    let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let engine = builder()
        .provider("forever", p("**"), Arc::new(Forever(cancelled.clone())))
        .build()
        .unwrap();
    let pattern = p("x");
    let lookup = engine.get_secrets(&pattern);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), lookup)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        cancelled.load(Ordering::SeqCst),
        "the provider call was left running"
    );
}

#[tokio::test]
async fn merge_order_is_registration_then_id() {
    let engine = builder()
        .store("second", p("**"), memory(&[("k/z", b"1"), ("k/a", b"2")]))
        .store("first", p("**"), memory(&[("k/m", b"3"), ("k/b", b"4")]))
        .build()
        .unwrap();
    for _ in 0..5 {
        let r = engine.get_secrets(&p("k/*")).await.unwrap();
        assert_eq!(
            ids(&r),
            [
                ("second", "k/a"),
                ("second", "k/z"),
                ("first", "k/b"),
                ("first", "k/m")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(
            r.envelopes()
                .iter()
                .all(|e| e.resolved_at() <= std::time::SystemTime::now())
        );
    }
}

#[tokio::test]
async fn a_hanging_provider_costs_only_its_deadline() {
    let engine = builder()
        .register(
            Registration::resolver("hang", p("**"), Arc::new(Hang))
                .deadline(Duration::from_millis(300)),
        )
        .provider(
            "slow",
            p("**"),
            Arc::new(Slow(Duration::from_millis(50), memory(&[("s/x", b"1")]))),
        )
        .store("mem", p("**"), memory(&[("s/y", b"2")]))
        .build()
        .unwrap();
    let started = Instant::now();
    let r = engine.get_secrets(&p("s/*")).await.unwrap();
    let took = started.elapsed();
    assert_eq!(
        ids(&r),
        [("slow".into(), "s/x".into()), ("mem".into(), "s/y".into())]
    );
    assert_eq!(r.failures().len(), 1);
    assert_eq!(r.failures()[0].provider, "hang");
    assert!(matches!(r.failures()[0].error, Error::Timeout { .. }));
    // Bounded by the deadline, not by the hang; generous margin for a loaded machine.
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Calls run concurrently: each of two providers answers only once the other has
    // been called too, which one after the other would never happen.
    struct Meets(Arc<tokio::sync::Barrier>, Arc<MemoryStore>);
    #[async_trait::async_trait]
    impl secrets_engine::Resolver for Meets {
        async fn get_secrets(
            &self,
            p: &secrets_engine::Pattern,
        ) -> Result<Vec<secrets_engine::Envelope>, Error> {
            self.0.wait().await;
            self.1.get_secrets(p).await
        }
    }
    let meet = Arc::new(tokio::sync::Barrier::new(2));
    let two = builder()
        .provider(
            "s1",
            p("**"),
            Arc::new(Meets(meet.clone(), memory(&[("a", b"1")]))),
        )
        .provider("s2", p("**"), Arc::new(Meets(meet, memory(&[("a", b"1")]))))
        .build()
        .unwrap();
    let both = tokio::time::timeout(Duration::from_secs(20), two.get_secrets(&p("a")))
        .await
        .expect("the two providers were called together")
        .unwrap();
    assert_eq!(both.envelopes().len(), 2);
}

#[tokio::test]
async fn failures_are_reported_by_name_never_as_not_found() {
    let engine = builder()
        .provider("broken", p("**"), Arc::new(Failing))
        .build()
        .unwrap();
    match engine.get_secrets(&p("a")).await {
        Err(Error::ProvidersFailed { failures, .. }) => {
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].provider, "broken");
            let msg = Error::ProvidersFailed {
                pattern: "a".into(),
                failures,
            }
            .to_string();
            assert!(
                msg.contains("broken") && msg.contains("backend exploded"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Partial result: found elsewhere, failure carried beside it.
    let engine = builder()
        .provider("broken", p("**"), Arc::new(Failing))
        .store("mem", p("**"), memory(&[("a", b"1")]))
        .build()
        .unwrap();
    let r = engine.get_secrets(&p("a")).await.unwrap();
    assert_eq!(r.envelopes().len(), 1);
    assert_eq!(r.failures()[0].provider, "broken");
    // resolve_one refuses a partial answer: the failed provider might disagree.
    assert!(matches!(
        engine.resolve_one(&p("a")).await,
        Err(Error::ProvidersFailed { .. })
    ));
}

#[tokio::test]
async fn a_panicking_provider_crashes_alone() {
    let panicky = Arc::new(support::Panicking {
        healed: AtomicBool::new(false),
    });
    let engine = builder()
        .provider("panicky", p("**"), panicky.clone())
        .store("mem", p("**"), memory(&[("heal/ok", b"fine")]))
        .build()
        .unwrap();
    let r = engine.get_secrets(&p("heal/*")).await.unwrap();
    assert_eq!(r.envelopes().len(), 1);
    assert!(matches!(r.failures()[0].error, Error::Crashed { .. }));
    assert!(!format!("{:?} {}", r.failures(), r.failures()[0]).contains("TOPSECRET"));
    let info = &engine.plugins()[0];
    assert_eq!(info.state, ProviderState::Crashed("panicked".into()));
    assert_eq!(info.message.as_deref(), Some("panicked"));
    // Crashed providers are not asked; the engine keeps serving.
    let r = engine.get_secrets(&p("heal/*")).await.unwrap();
    assert!(r.failures().is_empty());
    // Enabling re-initialises it.
    panicky.healed.store(true, Ordering::SeqCst);
    engine.enable("panicky").await.unwrap();
    assert_eq!(engine.plugins()[0].state, ProviderState::Running);
    let r = engine.get_secrets(&p("heal/*")).await.unwrap();
    assert_eq!(r.envelopes().len(), 2);
}

#[tokio::test]
async fn fatal_errors_crash_and_enable_reinitialises() {
    let fatal = Fatal::new();
    let engine = builder()
        .provider("fatal", p("**"), fatal.clone())
        .build()
        .unwrap();
    assert!(matches!(
        engine.get_secrets(&p("a")).await,
        Err(Error::ProvidersFailed { .. })
    ));
    assert_eq!(
        engine.plugins()[0].state,
        ProviderState::Crashed("binary not found".into())
    );
    // Re-initialisation fails: still crashed, with the new reason.
    assert!(matches!(
        engine.enable("fatal").await,
        Err(Error::Crashed { .. })
    ));
    assert!(
        matches!(&engine.plugins()[0].state, ProviderState::Crashed(r) if r.contains("still missing"))
    );
    assert!(matches!(
        engine.get_secrets(&p("a")).await,
        Err(Error::NoProvider { .. })
    ));
    fatal.reinit_ok.store(true, Ordering::SeqCst);
    engine.enable("fatal").await.unwrap();
    assert_eq!(fatal.reinits.load(Ordering::SeqCst), 2);
    assert_eq!(
        engine
            .get_secrets(&p("fatal/*"))
            .await
            .unwrap()
            .envelopes()
            .len(),
        1
    );
}

#[tokio::test]
async fn enable_and_disable_rules() {
    let engine = builder()
        .register(
            Registration::store("keychain", p("a"), memory(&[("a", b"1")])).configurable(false),
        )
        .provider("extra", p("a"), Arc::new(Fixed::new(&[("a", b"1")])))
        .register(
            Registration::resolver("off", p("off/**"), Arc::new(Fixed::new(&[("off/x", b"1")])))
                .enabled_by_default(false),
        )
        .build()
        .unwrap();
    assert!(matches!(
        engine.disable("keychain"),
        Err(Error::NotConfigurable { .. })
    ));
    assert!(matches!(
        engine.enable("keychain").await,
        Err(Error::NotConfigurable { .. })
    ));
    assert!(matches!(
        engine.disable("nope"),
        Err(Error::UnknownProvider { .. })
    ));
    assert!(matches!(
        engine.enable("nope").await,
        Err(Error::UnknownProvider { .. })
    ));
    // Disabled by default: not asked, and a request only it could serve has no provider.
    assert_eq!(engine.plugins()[2].state, ProviderState::Disabled);
    assert!(matches!(
        engine.get_secrets(&p("off/*")).await,
        Err(Error::NoProvider { .. })
    ));
    engine.enable("off").await.unwrap();
    assert_eq!(
        engine
            .get_secrets(&p("off/*"))
            .await
            .unwrap()
            .envelopes()
            .len(),
        1
    );
    engine.disable("extra").unwrap();
    let r = engine.get_secrets(&p("a")).await.unwrap();
    assert_eq!(ids(&r), [("keychain".into(), "a".into())]);
    // Registration mistakes are caught at build time.
    let dup = builder()
        .provider("x", p("**"), Arc::new(Hang))
        .provider("x", p("**"), Arc::new(Hang))
        .build();
    assert!(matches!(dup, Err(Error::InvalidProvider { .. })));
    let bad = builder()
        .provider("Bad Name", p("**"), Arc::new(Hang))
        .build();
    assert!(matches!(bad, Err(Error::InvalidProvider { .. })));
}

#[tokio::test]
async fn choices_persist_across_engines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("config.json");
    let make = || {
        Engine::builder()
            .config_path(&path)
            .provider("a", p("**"), Arc::new(Fixed::new(&[("x", b"1")])))
            .provider("fatal", p("**"), Fatal::new())
            .build()
            .unwrap()
    };
    let first = make();
    first.disable("a").unwrap();
    let _ = first.get_secrets(&p("x")).await; // crashes "fatal"
    drop(first);
    let second = make();
    let plugins = second.plugins();
    assert_eq!(plugins[0].state, ProviderState::Disabled);
    assert_eq!(
        plugins[1].state,
        ProviderState::Crashed("binary not found".into())
    );
    second.enable("a").await.unwrap();
    assert_eq!(make().plugins()[0].state, ProviderState::Running);

    // A corrupt file is an error naming the file, and is left as it was.
    std::fs::write(&path, b"{ not json").unwrap();
    let err = Engine::builder()
        .config_path(&path)
        .provider("a", p("**"), Arc::new(Hang))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
    assert!(err.to_string().contains("config.json"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"{ not json");
}

#[tokio::test]
async fn config_location_from_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env-config.json");
    // SAFETY-free: this is the only test in this binary touching the variable.
    unsafe { std::env::set_var(secrets_engine::CONFIG_ENV, &path) };
    let engine = Engine::builder()
        .provider("a", p("**"), Arc::new(Hang))
        .build()
        .unwrap();
    unsafe { std::env::remove_var(secrets_engine::CONFIG_ENV) };
    assert_eq!(engine.config_path(), Some(path.as_path()));
    engine.disable("a").unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("disabled"));
}

#[tokio::test]
async fn default_store_operations() {
    let store = Arc::new(MemoryStore::new());
    let engine = builder()
        .store("mem", p("**"), store.clone())
        .build()
        .unwrap();
    assert_eq!(engine.default_store().as_deref(), Some("mem"));
    let meta = Metadata::from([("user".to_string(), "alice".to_string())]);
    engine
        .set(&id("b/2"), "two".into(), meta.clone())
        .await
        .unwrap();
    engine
        .set(&id("a/1"), "one".into(), Metadata::new())
        .await
        .unwrap();
    engine
        .set(
            &id("docker/secrets-engine/token"),
            "internal".into(),
            Metadata::new(),
        )
        .await
        .unwrap();
    let listed = engine.list(&p("**")).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.id.to_string()).collect::<Vec<_>>(),
        ["a/1", "b/2"]
    );
    assert_eq!(listed[1].metadata, meta);
    assert_eq!(store.len(), 3);
    engine.remove(&id("a/1")).await.unwrap();
    assert!(matches!(
        engine.remove(&id("a/1")).await,
        Err(Error::NotFound { .. })
    ));
    let none = builder()
        .provider("ro", p("**"), Arc::new(Hang))
        .build()
        .unwrap();
    assert!(matches!(
        none.set(&id("a"), "v".into(), Metadata::new()).await,
        Err(Error::NoStore { .. })
    ));
    let narrow = builder()
        .store("narrow", p("team/**"), memory(&[]))
        .build()
        .unwrap();
    assert!(matches!(
        narrow.set(&id("other"), "v".into(), Metadata::new()).await,
        Err(Error::NoStore { .. })
    ));
}

#[test]
fn blocking_facade_without_a_runtime() {
    let engine = builder()
        .store("mem", p("**"), memory(&[("a", b"1")]))
        .build()
        .unwrap();
    let b = engine.blocking();
    assert_eq!(b.get_secrets(&p("a")).unwrap().envelopes().len(), 1);
    b.set(&id("c"), "3".into(), Metadata::new()).unwrap();
    assert_eq!(b.resolve_one(&p("c")).unwrap().expose(), b"3");
    assert_eq!(b.list(&p("**")).unwrap().len(), 2);
    b.remove(&id("c")).unwrap();
    // Many threads at once.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..100 {
                    assert_eq!(
                        engine.blocking().resolve_one(&p("a")).unwrap().expose(),
                        b"1"
                    );
                }
            });
        }
    });
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_facade_inside_a_runtime_does_not_panic() {
    let engine = builder()
        .store("mem", p("**"), memory(&[("a", b"1")]))
        .build()
        .unwrap();
    assert_eq!(
        engine.blocking().resolve_one(&p("a")).unwrap().expose(),
        b"1"
    );
    // Dropping the engine (and its runtime) inside a runtime is fine too.
    drop(engine);
}

#[test]
fn engine_without_providers_has_no_provider() {
    let engine = Engine::builder()
        .config(ConfigLocation::None)
        .build()
        .unwrap();
    assert!(matches!(
        engine.blocking().get_secrets(&p("a")),
        Err(Error::NoProvider { .. })
    ));
}
