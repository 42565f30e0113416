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
        // The text is the kind's own (the first kind's, for a shared status).
        let first = ErrorKind::ALL
            .into_iter()
            .find(|&k| status_of_kind(k) == status)
            .unwrap();
        assert_eq!(text.to_str().unwrap(), first.as_str(), "{kind:?}");
    }
}

/// A memory-store engine holding `ci/token` and `prod/db`.
fn memory_engine_with_two_secrets() -> *mut se_engine {
    let opts = se_engine_options {
        store: SE_STORE_MEMORY,
        config_path: std::ptr::null(),
        no_config: true,
        deadline_ms: 0,
    };
    let mut engine = std::ptr::null_mut();
    // SAFETY: initialised options and a writable out-pointer.
    assert_eq!(unsafe { se_engine_new(&opts, &mut engine) }, SE_STATUS_OK);
    for (id, value) in [
        (c"ci/token", b"ci-value".as_slice()),
        (c"prod/db", b"prod-value"),
    ] {
        // SAFETY: a live engine, a NUL-terminated id, `value.len()` readable bytes.
        let status =
            unsafe { se_engine_set_secret(engine, id.as_ptr(), value.as_ptr(), value.len()) };
        assert_eq!(status, SE_STATUS_OK);
    }
    engine
}

/// `se_engine_resolve_env_with` on `env`; the status and the resolved strings.
fn resolve_with(
    engine: *mut se_engine,
    env: &[&std::ffi::CStr],
    opts: Option<&se_env_options>,
) -> (se_status, Vec<String>) {
    let env: Vec<*const std::ffi::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    let mut out = std::ptr::null_mut();
    let opts = opts.map_or(std::ptr::null(), |o| o as *const se_env_options);
    // SAFETY: a live engine, `env.len()` NUL-terminated strings, NULL or initialised
    // options, a writable out-pointer.
    let status =
        unsafe { se_engine_resolve_env_with(engine, env.as_ptr(), env.len(), opts, &mut out) };
    let mut strings = Vec::new();
    // SAFETY: NULL or the list just made; read, then freed once.
    unsafe {
        for i in 0..se_string_list_len(out) {
            let s = std::ffi::CStr::from_ptr(se_string_list_get(out, i));
            strings.push(s.to_string_lossy().into_owned());
        }
        se_string_list_free(out);
    }
    (status, strings)
}

#[test]
fn resolve_env_with_an_allow_list_and_a_cap() {
    let engine = memory_engine_with_two_secrets();
    let allow = [c"ci/**".as_ptr()];
    let restricted = se_env_options {
        flags: SE_ENV_RESTRICT,
        allow: allow.as_ptr(),
        allow_len: 1,
        max_references: 0,
        max_concurrent_lookups: 0,
    };
    assert_eq!(
        resolve_with(engine, &[c"A=se://ci/token", c"P=/bin"], Some(&restricted)),
        (SE_STATUS_OK, vec!["A=ci-value".into(), "P=/bin".into()])
    );
    let (status, out) = resolve_with(
        engine,
        &[c"A=se://ci/token", c"B=se://prod/db"],
        Some(&restricted),
    );
    assert_eq!((status, out.len()), (SE_STATUS_PERMISSION_DENIED, 0));
    let message = last_error();
    assert!(
        message.contains("B:") && message.contains("se://prod/db"),
        "{message}"
    );
    // SE_ENV_RESTRICT with no patterns refuses every reference.
    let nothing = se_env_options {
        allow: std::ptr::null(),
        allow_len: 0,
        ..restricted
    };
    assert_eq!(
        resolve_with(engine, &[c"A=se://ci/token"], Some(&nothing)).0,
        SE_STATUS_PERMISSION_DENIED
    );
    // Without the flag, `allow` is ignored; NULL options are the defaults.
    let unrestricted = se_env_options {
        flags: 0,
        ..restricted
    };
    assert_eq!(
        resolve_with(engine, &[c"B=se://prod/db"], Some(&unrestricted)).0,
        SE_STATUS_OK
    );
    assert_eq!(
        resolve_with(engine, &[c"B=se://prod/db"], None).0,
        SE_STATUS_OK
    );
    // The cap.
    let capped = se_env_options {
        flags: 0,
        max_references: 1,
        ..restricted
    };
    let (status, _) = resolve_with(
        engine,
        &[c"A=se://ci/token", c"B=se://prod/db"],
        Some(&capped),
    );
    assert_eq!(status, SE_STATUS_INVALID_ARGUMENT);
    assert!(last_error().contains("more than 1"), "{}", last_error());
    // Unknown flag bits and a bad pattern are refused.
    let unknown = se_env_options {
        flags: 1 << 7,
        ..restricted
    };
    assert_eq!(
        resolve_with(engine, &[c"A=se://ci/token"], Some(&unknown)).0,
        SE_STATUS_INVALID_ARGUMENT
    );
    let bad = [c"ci//x".as_ptr()];
    let bad_pattern = se_env_options {
        allow: bad.as_ptr(),
        ..restricted
    };
    assert_ne!(
        resolve_with(engine, &[c"A=se://ci/token"], Some(&bad_pattern)).0,
        SE_STATUS_OK
    );
    // SAFETY: the engine made above, no call running, not used afterwards.
    unsafe { se_engine_free(engine) };
}

fn last_error() -> String {
    let mut buf = vec![0u8; 1024];
    let mut written = 0usize;
    // SAFETY: a writable buffer of `buf.len()` bytes and a writable length.
    unsafe { se_last_error_message(buf.as_mut_ptr().cast(), buf.len(), &mut written) };
    String::from_utf8_lossy(&buf[..written]).into_owned()
}

/// Watches freed heap blocks for a marker while `WATCHING` is set: a secret still
/// in a block when it is freed is a copy nobody zeroed.
mod freed_memory {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, Ordering};

    pub const MARKER: &[u8] = b"ZEROME-3f9c1a-SECRET";
    pub static WATCHING: AtomicBool = AtomicBool::new(false);
    pub static MARKER_FREED: AtomicBool = AtomicBool::new(false);

    struct Watch;

    // SAFETY: every call is forwarded to the system allocator unchanged; `dealloc`
    // only reads the block it is about to free.
    unsafe impl GlobalAlloc for Watch {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if WATCHING.load(Ordering::SeqCst) {
                // SAFETY: `ptr` is a live block of `layout.size()` bytes until freed
                // below (the caller's contract); its bytes were written or are at
                // least allocated, and reading them as u8 is fine for this check.
                let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                if block.windows(MARKER.len()).any(|w| w == MARKER) {
                    MARKER_FREED.store(true, Ordering::SeqCst);
                }
            }
            // SAFETY: forwarded with the caller's pointer and layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Watch = Watch;
}

#[test]
fn env_strings_zeroes_what_it_built_when_it_fails() {
    use freed_memory::*;
    use std::ffi::OsString;
    use std::sync::atomic::Ordering;
    let secret = || OsString::from(String::from_utf8(MARKER.to_vec()).unwrap());
    // Built before the failing entry, the failing one, and one never reached.
    let resolved = vec![
        (OsString::from("FIRST"), secret()),
        (OsString::from("BAD"), OsString::from("a\0b")),
        (OsString::from("LATER"), secret()),
    ];
    WATCHING.store(true, Ordering::SeqCst);
    let result = crate::engine::env_strings(resolved);
    WATCHING.store(false, Ordering::SeqCst);
    assert_eq!(result.err(), Some(SE_STATUS_UNREPRESENTABLE));
    assert!(
        !MARKER_FREED.load(Ordering::SeqCst),
        "a secret was freed without being zeroed on the error path"
    );
    let ok = crate::engine::env_strings(vec![(OsString::from("A"), OsString::from("v"))]).unwrap();
    assert_eq!(ok[0].as_bytes(), b"A=v");
}
