//! Environment resolution (docs/design.md §9).

use secrets_engine_test_support as support;

use std::ffi::OsString;
use std::sync::Arc;

use secrets_engine::{EnvOptions, Error, resolve_env, resolve_env_with};
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
