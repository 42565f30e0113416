//! The exported functions called from Rust with hostile arguments, and the mapping
//! from the core's error kinds to statuses. (The C programs in `tests/` and the fuzz
//! target in `fuzz/` exercise the same functions from C.)

use std::ffi::CString;

use proptest::prelude::*;
use secrets_engine::{ErrorKind, Id, Pattern};

use crate::se_status::*;
use crate::*;

/// Bytes without NUL (each becomes a C string) that often look like ids and
/// patterns: the grammar's alphabet, separators, wildcards, `se://`, multi-byte UTF-8,
/// and bytes that are not UTF-8.
fn c_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9._:-]{1,6}".prop_map(String::into_bytes),
        2 => Just(b"/".to_vec()),
        2 => Just(b"*".to_vec()),
        1 => Just(b"**".to_vec()),
        1 => Just(b"se://".to_vec()),
        1 => "\\PC{1,2}".prop_map(String::into_bytes),
        1 => prop::collection::vec(0x80u8..=0xff, 1..3),
        1 => prop::collection::vec(1u8..=0xff, 1..8),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn c_entry_points_take_arbitrary_bytes(a in c_bytes(), b in c_bytes()) {
        // Arbitrary bytes (any UTF-8 validity) through the exported functions.
        let (ca, cb) = (CString::new(a.clone()).unwrap(), CString::new(b.clone()).unwrap());
        // SAFETY: a NUL-terminated string that outlives the call.
        let valid = unsafe { se_id_is_valid(ca.as_ptr()) };
        let as_str = std::str::from_utf8(&a).ok();
        prop_assert_eq!(valid, as_str.is_some_and(|s| Id::parse(s).is_ok()));
        // SAFETY: as above.
        let pvalid = unsafe { se_pattern_is_valid(ca.as_ptr()) };
        prop_assert_eq!(pvalid, as_str.is_some_and(|s| Pattern::parse(s).is_ok()));
        // SAFETY: two NUL-terminated strings that outlive the call.
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
    let opts = se_engine_options {
        store: SE_STORE_MEMORY,
        config_path: std::ptr::null(),
        no_config: true,
        deadline_ms: 0,
    };
    let mut engine = std::ptr::null_mut();
    // SAFETY: initialised options and a writable out-pointer.
    assert_eq!(unsafe { se_engine_new(&opts, &mut engine) }, SE_STATUS_OK);
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
        // SAFETY: a live engine, a NUL-terminated string, a writable out-pointer.
        let status = unsafe { se_engine_get_secrets(engine, c.as_ptr(), &mut list) };
        assert_ne!(status, SE_STATUS_PANIC);
        assert_ne!(status, SE_STATUS_OK);
        assert!(list.is_null());
        let env = [c.as_ptr()];
        let mut out = std::ptr::null_mut();
        // SAFETY: a live engine, one NUL-terminated string, a writable out-pointer.
        let status = unsafe { se_engine_resolve_env(engine, env.as_ptr(), 1, 0, &mut out) };
        assert_ne!(status, SE_STATUS_PANIC);
        // SAFETY: NULL or the list just made, freed once.
        unsafe { se_string_list_free(out) };
    }
    // SAFETY: the engine made above, no call running, not used afterwards.
    unsafe { se_engine_free(engine) };
}

/// Pairs of kinds that deliberately share a status. None today: each kind has its
/// own. A kind added to the core later that should not get a new status (the values
/// are stable, so adding one is an ABI addition) goes here with its reason.
const SHARED_STATUS: &[(ErrorKind, ErrorKind)] = &[];

#[test]
fn every_error_kind_has_its_own_error_status() {
    let mut seen: Vec<(se_status, ErrorKind)> = Vec::new();
    for kind in ErrorKind::ALL {
        let status = status_of_kind(kind);
        assert_ne!(status, SE_STATUS_OK, "{kind:?}");
        assert_ne!(status, SE_STATUS_PANIC, "{kind:?}");
        // The statuses of the C layer's own argument checks: an error of the core
        // under one of them would be mistaken for a bad pointer or buffer.
        for own in [
            SE_STATUS_NULL_ARGUMENT,
            SE_STATUS_INVALID_UTF8,
            SE_STATUS_BUFFER_TOO_SMALL,
        ] {
            assert_ne!(status, own, "{kind:?}");
        }
        if let Some((_, other)) = seen.iter().find(|(s, _)| *s == status) {
            let pair = (*other, kind);
            assert!(
                SHARED_STATUS.contains(&pair) || SHARED_STATUS.contains(&(kind, *other)),
                "{other:?} and {kind:?} both map to {status:?}"
            );
        }
        seen.push((status, kind));
        // Every status an error can have is one this version describes.
        let text = se_status_str(status as u32);
        // SAFETY: se_status_str returns a static NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(text) };
        assert_ne!(text, c"unknown status", "{kind:?}");
    }
}
