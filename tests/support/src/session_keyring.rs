//! Kernel session keyrings for tests (Linux), so that a test of the file store's
//! session cache never sees or leaves a key in the keyring of whoever runs the tests.
//!
//! Since Linux 3.8 the session keyring belongs to a thread, and threads and processes
//! inherit it from the thread that starts them. So [`own`] runs a test body on a new
//! thread that first joins a new, empty keyring of its own: the runtime threads, the
//! blocking threads and the child processes the body starts all share that keyring,
//! and nothing else does. When the thread ends nothing refers to the keyring any more
//! and the kernel collects it with whatever it holds.
#![allow(dead_code)]

use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};

const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SEARCH: libc::c_long = 10;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
const KEY_SPEC_USER_SESSION_KEYRING: libc::c_long = -5;

fn keyctl(op: libc::c_long, a: libc::c_long, b: libc::c_long, c: libc::c_long) -> libc::c_long {
    // SAFETY: keyctl reads at most the NUL-terminated strings the callers below pass
    // as `a`..`c` (kept alive across the call) and writes no memory of ours.
    unsafe { libc::syscall(libc::SYS_keyctl, op, a, b, c, 0 as libc::c_long) }
}

fn join(name: Option<&str>) -> libc::c_long {
    let name = name.map(|n| CString::new(n).unwrap());
    let ptr = name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
    let serial = keyctl(KEYCTL_JOIN_SESSION_KEYRING, ptr as libc::c_long, 0, 0);
    assert!(
        serial > 0,
        "keyctl(JOIN_SESSION_KEYRING, {name:?}): {}",
        std::io::Error::last_os_error()
    );
    serial
}

/// The serial of the calling thread's session keyring, as a lookup without `create`
/// resolves it (the user-session keyring when the thread has none).
pub fn session() -> i64 {
    keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0) as i64
}

/// The serial of the user-session keyring (`_uid_ses.<uid>`), shared by every process
/// of this uid.
pub fn user_session() -> i64 {
    keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_SESSION_KEYRING, 0, 0) as i64
}

fn search(ring: libc::c_long, description: &str) -> Option<libc::c_long> {
    let kind = CString::new("user").unwrap();
    let desc = CString::new(description).unwrap();
    let key = keyctl(
        KEYCTL_SEARCH,
        ring,
        kind.as_ptr() as libc::c_long,
        desc.as_ptr() as libc::c_long,
    );
    (key > 0).then_some(key)
}

/// Whether a search from the calling thread's session keyring finds a `user` key
/// described `description` (what the file store's cache would read).
pub fn holds(description: &str) -> bool {
    search(KEY_SPEC_SESSION_KEYRING, description).is_some()
}

/// Whether the user-session keyring, which every process of this uid possesses,
/// holds a `user` key described `description`; one found is invalidated, so a test
/// that finds a leak does not leave it behind.
pub fn user_session_holds(description: &str) -> bool {
    const KEYCTL_INVALIDATE: libc::c_long = 21;
    match search(KEY_SPEC_USER_SESSION_KEYRING, description) {
        Some(key) => {
            keyctl(KEYCTL_INVALIDATE, key, 0, 0);
            true
        }
        None => false,
    }
}

/// The description the file store gives the cached identity of the store in `dir`.
pub fn file_store_key(dir: &std::path::Path) -> String {
    let recipient = std::fs::read_to_string(dir.join("recipient.txt")).unwrap();
    format!("secrets-engine:file:{}", recipient.trim())
}

/// Runs `f` on a new thread whose session keyring is a new, empty one named
/// `se-test-<name>-<pid>-<n>`, and returns what it returns (its panic, re-raised).
pub fn own<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    static N: AtomicUsize = AtomicUsize::new(0);
    let unique = format!(
        "se-test-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    on_thread(move || {
        let outer = session();
        let joined = join(Some(&unique));
        assert_ne!(joined as i64, outer, "no new session keyring was joined");
        assert_ne!(joined as i64, user_session());
        f()
    })
}

/// Runs `f` on a new thread that has no session keyring of its own: it joins the
/// user-session keyring, which is what the kernel gives a process outside any login
/// session (cron, a service, a CI job). Fails when the kernel refuses, never skips.
pub fn shared<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    on_thread(move || {
        let uid = uid();
        join(Some(&format!("_uid_ses.{uid}")));
        assert_eq!(
            session(),
            user_session(),
            "this kernel did not let the thread join its user-session keyring"
        );
        f()
    })
}

fn uid() -> u32 {
    // SAFETY: getuid has no arguments and cannot fail.
    unsafe { libc::getuid() }
}

fn on_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
