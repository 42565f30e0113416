//! Hostile input for every parser and for the C ABI's string entry points: no
//! panic, short errors, round trips when accepted, nothing quoted from env files.
//! (cargo-fuzz targets need a nightly toolchain; these run on stable in the test
//! command.)

use std::ffi::CString;

use proptest::prelude::*;
use secrets_engine::env_file;
use secrets_engine::ffi::{
    se_id_is_valid, se_last_error_length, se_pattern_is_valid, se_pattern_matches,
};
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

    #[test]
    fn c_entry_points_take_arbitrary_bytes(a in prop::collection::vec(1u8..=255, 0..64), b in prop::collection::vec(1u8..=255, 0..64)) {
        // Arbitrary bytes (any UTF-8 validity) through the exported functions.
        let (ca, cb) = (CString::new(a.clone()).unwrap(), CString::new(b.clone()).unwrap());
        let valid = unsafe { se_id_is_valid(ca.as_ptr()) };
        let as_str = std::str::from_utf8(&a).ok();
        prop_assert_eq!(valid, as_str.is_some_and(|s| Id::parse(s).is_ok()));
        let pvalid = unsafe { se_pattern_is_valid(ca.as_ptr()) };
        prop_assert_eq!(pvalid, as_str.is_some_and(|s| Pattern::parse(s).is_ok()));
        let m = unsafe { se_pattern_matches(ca.as_ptr(), cb.as_ptr()) };
        let want = match (as_str.map(Pattern::parse), std::str::from_utf8(&b).ok().map(Id::parse)) {
            (Some(Ok(p)), Some(Ok(i))) => p.matches(&i),
            _ => false,
        };
        prop_assert_eq!(m, want);
        prop_assert!(se_last_error_length() < 600);
    }
}

#[test]
fn c_engine_calls_with_hostile_strings() {
    use secrets_engine::ffi::*;
    let opts = se_engine_options {
        store: SE_STORE_MEMORY,
        config_path: std::ptr::null(),
        no_config: true,
        deadline_ms: 0,
    };
    let mut engine = std::ptr::null_mut();
    unsafe { assert_eq!(se_engine_new(&opts, &mut engine), se_status::SE_STATUS_OK) };
    let inputs: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe],
        b"se://".to_vec(),
        "a/".repeat(3000).into_bytes(),
        vec![b'*'; 5000],
        b"**/**/**/**/**/**/**/**/**/**/**/**/x".to_vec(),
        "é/ü".as_bytes().to_vec(),
    ];
    for input in inputs {
        let c = CString::new(input).unwrap();
        let mut list = std::ptr::null_mut();
        let status = unsafe { se_engine_get_secrets(engine, c.as_ptr(), &mut list) };
        assert_ne!(status, se_status::SE_STATUS_PANIC);
        assert_ne!(status, se_status::SE_STATUS_OK);
        assert!(list.is_null());
        let env = [c.as_ptr()];
        let mut out = std::ptr::null_mut();
        let status = unsafe { se_engine_resolve_env(engine, env.as_ptr(), 1, 0, &mut out) };
        assert_ne!(status, se_status::SE_STATUS_PANIC);
        unsafe { se_string_list_free(out) };
    }
    unsafe { se_engine_free(engine) };
}
