//! Hostile input for every parser: no panic, short errors, round trips when
//! accepted, nothing quoted from env files. (The C ABI's own hostile-input tests are
//! in bindings/c.)
//! (cargo-fuzz targets need a nightly toolchain; these run on stable in the test
//! command.)

use proptest::prelude::*;
use secrets_engine::env_file;
use secrets_engine::{Id, Pattern, SecretRef};

/// Strings that stress the grammar: its alphabet, wildcards, separators, unicode,
/// control characters, sometimes long.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-zA-Z0-9._:-]{0,6}",
        2 => Just("/".to_string()),
        2 => Just("*".to_string()),
        1 => Just("**".to_string()),
        1 => Just("se://".to_string()),
        1 => "\\PC{0,3}",
        1 => "[\\x00-\\x1f]{1,2}",
    ];
    prop_oneof![
        8 => prop::collection::vec(piece, 0..24).prop_map(|v| v.concat()),
        1 => (4090usize..4100).prop_map(|n| "a".repeat(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_and_round_trip(s in nasty()) {
        match Id::parse(&s) {
            Ok(id) => {
                prop_assert_eq!(id.to_string(), s.clone());
                prop_assert!(Pattern::from(id.clone()).matches(&id));
            }
            Err(e) => prop_assert!(e.to_string().len() < 600, "{}", e),
        }
        match Pattern::parse(&s) {
            Ok(p) => {
                prop_assert_eq!(p.to_string(), s.clone());
                prop_assert!(p.includes(&p));
            }
            Err(e) => prop_assert!(e.to_string().len() < 600, "{}", e),
        }
        match SecretRef::parse_env_value(&s) {
            Ok(Some(r)) => prop_assert_eq!(r.to_string(), s.clone()),
            Ok(None) => prop_assert!(!s.starts_with("se://")),
            Err(e) => prop_assert!(s.starts_with("se://") && e.to_string().len() < 600),
        }
    }

    #[test]
    fn env_files_never_panic_and_never_quote(lines in prop::collection::vec("\\PC{0,40}", 0..12), at in 0usize..12) {
        // A marker somewhere in the file must never reach an error message.
        let mut lines = lines;
        let at = at.min(lines.len());
        lines.insert(at, "KEY=\"SECRETMARK".to_string());
        let text = lines.join("\n");
        match env_file::parse("f.env", &text, |_| None) {
            Ok(vars) => prop_assert!(vars.iter().all(|(k, _)| !k.is_empty())),
            Err(e) => prop_assert!(!e.to_string().contains("SECRETMARK"), "{}", e),
        }
    }
}
