//! No secret value in any error message or Debug output.

use secrets_engine_test_support as support;

use std::sync::Arc;

use secrets_engine::{
    EnvOptions, Envelope, Error, MemoryStore, Metadata, SecretValue, resolve_env, resolve_env_with,
};
use support::*;

const SECRET: &str = "SUPER-SECRET-VALUE-42";

fn assert_clean(text: &str) {
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    assert!(!text.contains("SUPER-SECRET"), "secret leaked: {text}");
}

#[tokio::test]
async fn nothing_prints_a_secret() {
    let value = SecretValue::from(SECRET);
    assert_clean(&format!("{value} {value:?} {value:#?}"));
    let envelope = Envelope::new(id("a/b"), SECRET)
        .with_version("1")
        .with_metadata(Metadata::from([("k".into(), "v".into())]));
    assert_clean(&format!("{envelope:?} {envelope:#?}"));

    let store = Arc::new(MemoryStore::new());
    store.insert(id("x/one"), SECRET);
    store.insert(id("x/two"), format!("{SECRET}-other"));
    store.insert(id("nul"), format!("{SECRET}\0"));
    let engine = builder()
        .store("mem", p("**"), store)
        .provider("broken", p("x/**"), Arc::new(Failing))
        .build()
        .unwrap();
    let resolution = engine.get_secrets(&p("x/*")).await.unwrap();
    assert_clean(&format!("{resolution:?} {engine:?}"));
    for e in resolution.envelopes() {
        assert_clean(&format!("{e:?} {:?}", e.value()));
    }

    // Every error an engine produces along the way, formatted every way.
    let mut errors: Vec<Error> = Vec::new();
    errors.push(engine.resolve_one(&p("x/*")).await.unwrap_err());
    errors.push(resolve_env(&engine, [("A", "se://x/*")]).await.unwrap_err());
    errors.push(resolve_env(&engine, [("N", "se://nul")]).await.unwrap_err());
    errors.push(
        resolve_env_with(&engine, [("x", "")], EnvOptions::container())
            .await
            .unwrap_err(),
    );
    let only_mem = builder()
        .store(
            "mem",
            p("**"),
            memory(&[("d/1", SECRET.as_bytes()), ("d/2", b"other")]),
        )
        .build()
        .unwrap();
    errors.push(only_mem.resolve_one(&p("d/*")).await.unwrap_err());
    errors.push(
        resolve_env(&only_mem, [("D", "se://d/*")])
            .await
            .unwrap_err(),
    );
    // Deadlines, crashes, missing stores and providers, invalid references, while the
    // secret sits in a store that answered.
    let mixed = builder()
        .store("mem", p("**"), memory(&[("s/x", SECRET.as_bytes())]))
        .register(
            secrets_engine::Registration::resolver("hang", p("s/**"), Arc::new(Hang))
                .deadline(std::time::Duration::from_millis(50)),
        )
        .provider(
            "panicky",
            p("s/**"),
            Arc::new(Panicking {
                healed: std::sync::atomic::AtomicBool::new(false),
            }),
        )
        .build()
        .unwrap();
    let partial = mixed.get_secrets(&p("s/*")).await.unwrap();
    assert_eq!(partial.failures().len(), 2);
    assert_clean(&format!("{partial:?} {:?}", mixed.plugins()));
    errors.push(mixed.resolve_one(&p("s/x")).await.unwrap_err());
    errors.push(resolve_env(&mixed, [("S", "se://s/x")]).await.unwrap_err());
    errors.push(
        mixed
            .get_secrets(&p("s/nothing"))
            .await
            .map(|_| ())
            .unwrap_err(),
    );
    errors.push(resolve_env(&mixed, [("I", "se://a//b")]).await.unwrap_err());
    let no_store = builder()
        .provider(
            "ro",
            p("**"),
            Arc::new(Fixed::new(&[("k", SECRET.as_bytes())])),
        )
        .build()
        .unwrap();
    errors.push(
        no_store
            .set(&id("k"), SECRET.into(), Metadata::new())
            .await
            .unwrap_err(),
    );
    errors.push(
        builder()
            .build()
            .unwrap()
            .get_secrets(&p("k"))
            .await
            .map(|_| ())
            .unwrap_err(),
    );
    assert!(errors.iter().any(|e| matches!(e, Error::Variable { source, .. } if matches!(**source, Error::Ambiguous { .. }))));
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::ProvidersFailed { .. }))
    );
    assert!(errors.iter().any(|e| matches!(e, Error::NoStore { .. })));
    assert!(errors.iter().any(|e| matches!(e, Error::NoProvider { .. })));
    for e in &errors {
        assert_clean(&format!("{e} {e:?} {e:#?}"));
    }
}
