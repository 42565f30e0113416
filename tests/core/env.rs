//! Environment resolution (docs/design.md §9).

use secrets_engine_test_support as support;

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrets_engine::{
    EnvOptions, Envelope, Error, ErrorKind, Pattern, Resolver, resolve_env, resolve_env_with,
};
use support::*;

fn os(s: &str) -> OsString {
    OsString::from(s)
}

#[tokio::test]
async fn single_reference_and_passthrough() {
    let engine = builder()
        .store("mem", p("**"), memory(&[("db/password", b"s3cret")]))
        .build()
        .unwrap();
    let out = resolve_env(
        &engine,
        [
            ("DB", "se://db/password"),
            ("PATH", "/bin"),
            ("EMPTY", ""),
            ("ALMOST", "se:/db"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        [
            (os("DB"), os("s3cret")),
            (os("PATH"), os("/bin")),
            (os("EMPTY"), os("")),
            (os("ALMOST"), os("se:/db"))
        ]
    );
    // A pattern resolving to exactly one secret is fine.
    let out = resolve_env(&engine, [("DB", "se://db/*")]).await.unwrap();
    assert_eq!(out[0].1, "s3cret");
}

#[tokio::test]
async fn identical_duplicates_resolve_different_ones_are_ambiguous() {
    let engine = builder()
        .store(
            "one",
            p("**"),
            memory(&[("k/a", b"same"), ("k/b", b"same"), ("d/x", b"v1")]),
        )
        .store(
            "two",
            p("**"),
            memory(&[("k/a", b"same"), ("d/x", b"v2-SECRET")]),
        )
        .build()
        .unwrap();
    let out = resolve_env(&engine, [("K", "se://k/*")]).await.unwrap();
    assert_eq!(out[0].1, "same");
    let err = resolve_env(&engine, [("D", "se://d/x")]).await.unwrap_err();
    match &err {
        Error::Variable { name, source } => {
            assert_eq!(name, "D");
            assert!(matches!(**source, Error::Ambiguous { .. }));
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("d/x (one)") && msg.contains("d/x (two)"),
        "{msg}"
    );
    assert!(!msg.contains("v1") && !msg.contains("SECRET"), "{msg}");
}

#[tokio::test]
async fn not_found_names_variable_and_reference() {
    let engine = builder()
        .store("mem", p("**"), memory(&[]))
        .build()
        .unwrap();
    let err = resolve_env(&engine, [("OK", "plain"), ("TOKEN", "se://gh/token")])
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let msg = err.to_string();
    assert!(msg.contains("TOKEN") && msg.contains("gh/token"), "{msg}");
}

#[tokio::test]
async fn invalid_reference_is_an_error_not_a_literal() {
    let engine = builder()
        .store("mem", p("**"), memory(&[]))
        .build()
        .unwrap();
    for bad in ["se://", "se://a//b", "se://a b", "se://x*"] {
        match resolve_env(&engine, [("V", bad)]).await {
            Err(Error::Variable { name, source }) => {
                assert_eq!(name, "V");
                assert!(
                    matches!(*source, Error::InvalidReference { .. }),
                    "{bad}: {source:?}"
                );
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn nul_in_a_value_is_refused() {
    let engine = builder()
        .store("mem", p("**"), memory(&[("bin", b"a\0b")]))
        .build()
        .unwrap();
    let err = resolve_env(&engine, [("B", "se://bin")]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Variable { source, .. } if matches!(**source, Error::UnrepresentableValue { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("NUL"));
}

#[cfg(unix)]
#[tokio::test]
async fn non_utf8_passes_through_and_resolves() {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let engine = builder()
        .store("mem", p("**"), memory(&[("raw", &[0xff, 0xfe, b'x'])]))
        .build()
        .unwrap();
    let weird = OsString::from_vec(vec![b'a', 0xff, b'b']);
    let weird_ref = OsString::from_vec([b"se://raw".as_slice(), &[0xff]].concat());
    let out = resolve_env(
        &engine,
        vec![(os("W"), weird.clone()), (os("R"), os("se://raw"))],
    )
    .await
    .unwrap();
    assert_eq!(out[0].1, weird);
    assert_eq!(out[1].1.as_bytes(), [0xff, 0xfe, b'x']);
    let err = resolve_env(&engine, vec![(os("X"), weird_ref)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Variable { source, .. } if matches!(**source, Error::InvalidReference { .. }))
    );
    // Names need not be UTF-8 either.
    let odd_name = OsString::from_vec(vec![b'N', 0xff]);
    let out = resolve_env(&engine, vec![(odd_name.clone(), os("v"))])
        .await
        .unwrap();
    assert_eq!(out[0].0.as_bytes(), odd_name.as_bytes());
}

#[tokio::test]
async fn container_mode_looks_up_empty_values_by_name() {
    let engine = builder()
        .store("mem", p("**"), memory(&[("GH_TOKEN", b"ghp_x")]))
        .build()
        .unwrap();
    let vars = [
        ("GH_TOKEN", ""),
        ("MISSING", ""),
        ("NOT.AN/ID//", ""),
        ("KEEP", "v"),
        ("R", "se://GH_TOKEN"),
    ];
    let out = resolve_env_with(&engine, vars, EnvOptions::container())
        .await
        .unwrap();
    let values: Vec<_> = out.iter().map(|(_, v)| v.to_str().unwrap()).collect();
    assert_eq!(values, ["ghp_x", "", "", "v", "ghp_x"]);
    // Host mode leaves empty values alone.
    let out = resolve_env(&engine, [("GH_TOKEN", "")]).await.unwrap();
    assert_eq!(out[0].1, "");
    // Container mode still fails a provider error rather than leaving the value empty.
    let broken = builder()
        .provider("broken", p("**"), Arc::new(Failing))
        .build()
        .unwrap();
    let err = resolve_env_with(&broken, [("GH_TOKEN", "")], EnvOptions::container())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("broken"), "{err}");
}

#[tokio::test]
async fn each_reference_is_resolved_once() {
    let counting = Counting::new(Fixed::new(&[("a", b"1")]));
    let engine = builder()
        .provider("c", p("**"), counting.clone())
        .build()
        .unwrap();
    let vars: Vec<(String, String)> = (0..50)
        .map(|i| (format!("V{i}"), "se://a".to_string()))
        .collect();
    let out = resolve_env(&engine, vars).await.unwrap();
    assert_eq!(out.len(), 50);
    assert_eq!(counting.calls(), 1);
}

#[test]
fn blocking_resolve_env() {
    let engine = builder()
        .store("mem", p("**"), memory(&[("a", b"1")]))
        .build()
        .unwrap();
    let out = engine
        .blocking()
        .resolve_env(vec![(os("A"), os("se://a"))], EnvOptions::host())
        .unwrap();
    assert_eq!(out[0].1, "1");
}

#[tokio::test]
async fn ten_thousand_references_hit_the_cap_without_a_lookup() {
    let counting = Counting::new(Fixed::new(&[]));
    let engine = builder()
        .provider("c", p("**"), counting.clone())
        .build()
        .unwrap();
    let vars: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("V{i}"), format!("se://refs/r{i}")))
        .collect();
    let started = Instant::now();
    let err = resolve_env(&engine, vars.clone()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, Error::TooManyReferences { limit: 256 }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("more than 256"), "{err}");
    assert_eq!(counting.calls(), 0, "nothing is looked up");
    // Exactly at the cap is fine; the cap is configurable.
    let at_cap: Vec<_> = vars[..256].to_vec();
    let err = resolve_env(&engine, at_cap).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let err = resolve_env_with(
        &engine,
        vars[..20].to_vec(),
        EnvOptions::host().with_max_references(10),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::TooManyReferences { limit: 10 }),
        "{err:?}"
    );
    // Repeats of one reference count once.
    let same: Vec<_> = (0..10_000)
        .map(|i| (format!("V{i}"), "se://a".to_string()))
        .collect();
    assert!(resolve_env(&engine, same).await.unwrap_err().is_not_found());
}

/// Counts the lookups in flight at once, each taking a moment.
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
    total: AtomicUsize,
}

#[async_trait]
impl Resolver for InFlight {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        let id = pattern.as_id().unwrap();
        Ok(vec![Envelope::new(
            id.clone(),
            id.as_str().as_bytes().to_vec(),
        )])
    }
}

#[tokio::test]
async fn lookups_run_in_bounded_batches() {
    let provider = Arc::new(InFlight {
        now: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        total: AtomicUsize::new(0),
    });
    let engine = builder()
        .provider("slow", p("**"), provider.clone())
        .build()
        .unwrap();
    let vars: Vec<(String, String)> = (0..200)
        .map(|i| (format!("V{i}"), format!("se://b/r{i}")))
        .collect();
    let out = resolve_env_with(
        &engine,
        vars,
        EnvOptions::host().with_max_concurrent_lookups(8),
    )
    .await
    .unwrap();
    assert_eq!(out.len(), 200);
    assert_eq!(out[199].1, "b/r199");
    assert_eq!(provider.total.load(Ordering::SeqCst), 200);
    let most = provider.most.load(Ordering::SeqCst);
    assert!(most <= 8, "{most} lookups at once");
    // The default bound.
    provider.most.store(0, Ordering::SeqCst);
    let vars: Vec<(String, String)> = (0..200)
        .map(|i| (format!("V{i}"), format!("se://c/r{i}")))
        .collect();
    resolve_env(&engine, vars).await.unwrap();
    let most = provider.most.load(Ordering::SeqCst);
    assert!(
        most <= secrets_engine::DEFAULT_MAX_CONCURRENT_LOOKUPS,
        "{most} lookups at once"
    );
}

#[tokio::test]
async fn references_outside_the_allow_list_are_refused_unresolved() {
    let counting = Counting::new(Fixed::new(&[
        ("ci/token", b"ci-value"),
        ("prod/db", b"PROD-SECRET"),
    ]));
    let engine = builder()
        .provider("c", p("**"), counting.clone())
        .build()
        .unwrap();
    let ci_only = EnvOptions::host().with_allow([p("ci/**")]);
    let out = resolve_env_with(
        &engine,
        [("T", "se://ci/token"), ("P", "plain")],
        ci_only.clone(),
    )
    .await
    .unwrap();
    assert_eq!(out[0].1, "ci-value");
    assert_eq!(counting.calls(), 1);
    for outside in [
        "se://prod/db",
        "se://**",
        "se://*/token",
        "se://other/ci",
        "se://cix/token",
    ] {
        let err = resolve_env_with(
            &engine,
            [("OK", "se://ci/token"), ("IMAGE_SECRET", outside)],
            ci_only.clone(),
        )
        .await
        .unwrap_err();
        match &err {
            Error::Variable { name, source } => {
                assert_eq!(name, "IMAGE_SECRET", "{outside}");
                assert!(
                    matches!(**source, Error::NotAllowed { .. }),
                    "{outside}: {source:?}"
                );
            }
            other => panic!("{outside}: {other:?}"),
        }
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(!err.to_string().contains("PROD-SECRET"));
    }
    assert_eq!(
        counting.calls(),
        1,
        "a refused environment is not looked up at all"
    );
    // Patterns inside an allowed one are allowed.
    let out = resolve_env_with(&engine, [("T", "se://ci/*")], ci_only.clone())
        .await
        .unwrap();
    assert_eq!(out[0].1, "ci-value");
    // An empty allow-list refuses every reference.
    let none = EnvOptions::host().with_allow([]);
    let err = resolve_env_with(&engine, [("T", "se://ci/token")], none.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("se://ci/token"), "{err}");
    // Plain values still pass, and container mode's NAME= outside stays empty.
    let calls = counting.calls();
    let out = resolve_env_with(
        &engine,
        [("PATH", "/bin"), ("GH_TOKEN", "")],
        EnvOptions::container().with_allow([]),
    )
    .await
    .unwrap();
    assert_eq!(out[1].1, "");
    assert_eq!(counting.calls(), calls);
}

#[tokio::test]
async fn the_internal_realm_is_never_resolved() {
    let counting = Counting::new(Fixed::new(&[(
        "docker/secrets-engine/vault/token",
        b"VAULT-TOKEN",
    )]));
    let engine = builder()
        .provider("c", p("**"), counting.clone())
        .build()
        .unwrap();
    for r in [
        "se://docker/secrets-engine/vault/token",
        "se://docker/secrets-engine/**",
    ] {
        let err = resolve_env_with(
            &engine,
            [("V", r)],
            EnvOptions::host().with_allow([p("**")]),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::Variable { source, .. } if matches!(**source, Error::NotAllowed { .. })),
            "{r}: {err:?}"
        );
    }
    assert_eq!(counting.calls(), 0);
}
