//! The panic boundary, the per-thread last error, and the small stateless functions
//! (version, status strings, validation). Pointer arguments are checked by
//! [`pointers`](super::pointers).

use std::cell::RefCell;
use std::ffi::{CString, c_char};

use super::pointers::{Out, buf_arg, str_arg};
use super::{se_status, status_of};
use secrets_engine::{Error, Id, Pattern};

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = Some(c));
}

/// Records `e` as the thread's last error and returns its status.
pub(crate) fn fail(e: &Error) -> se_status {
    set_last_error(&e.to_string());
    status_of(e)
}

/// Records a message and returns `status`.
pub(crate) fn fail_with(status: se_status, message: &str) -> se_status {
    set_last_error(message);
    status
}

/// Runs `f`, turning a panic into `on_panic` (and a last-error message).
pub(crate) fn boundary<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            set_last_error("secrets-engine panicked inside a C call");
            on_panic
        }
    }
}

/// Like [`boundary`] for functions returning a status.
pub(crate) fn guard(f: impl FnOnce() -> Result<(), se_status>) -> se_status {
    boundary(se_status::SE_STATUS_PANIC, || match f() {
        Ok(()) => se_status::SE_STATUS_OK,
        Err(s) => s,
    })
}

/// A C string from Rust text that cannot hold NUL in practice (ids, names); a NUL is
/// replaced rather than panicking.
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default())
}

/// The library version, e.g. `"0.1.0"`. Static; never free it.
///
/// # Safety
/// None needed: no arguments. The result is a static NUL-terminated string the
/// caller must neither free nor modify.
#[unsafe(no_mangle)]
pub extern "C" fn se_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A short static description of a status value (an `se_status`, passed as an
/// integer so any value is safe); "unknown status" for values this version does not
/// know. Static; never free it.
///
/// # Safety
/// None needed: any value is accepted. The result is a static NUL-terminated string
/// the caller must neither free nor modify.
#[unsafe(no_mangle)]
pub extern "C" fn se_status_str(status: u32) -> *const c_char {
    match se_status::from_u32(status) {
        Some(s) => s.describe().as_ptr(),
        None => c"unknown status".as_ptr(),
    }
}

/// Length in bytes (without the NUL) of the calling thread's last error message; 0
/// when there is none.
///
/// # Safety
/// None needed: no arguments.
#[unsafe(no_mangle)]
pub extern "C" fn se_last_error_length() -> usize {
    boundary(0, || {
        LAST_ERROR.with(|l| l.borrow().as_ref().map_or(0, |c| c.as_bytes().len()))
    })
}

/// Copies the calling thread's last error message into `buf` (`len` bytes), always
/// NUL-terminated when `len > 0`, and stores the number of bytes copied (without the
/// NUL) in `*written`. Returns `SE_STATUS_BUFFER_TOO_SMALL` when the message was cut
/// (see `se_last_error_length`), `SE_STATUS_NULL_ARGUMENT` when `written` is NULL or
/// `buf` is NULL with `len > 0`. With no message, writes an empty string. This call
/// never changes the last error, not even when it fails.
///
/// # Safety
/// `buf` is NULL with `len == 0`, or points to `len` writable bytes; `written` is NULL
/// or points to a writable `size_t`. Neither is accessed by another thread during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_last_error_message(
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> se_status {
    boundary(se_status::SE_STATUS_PANIC, || {
        // SAFETY: `written` is NULL or writable, `buf` NULL or `len` writable bytes
        // (this function's contract). The NULL errors are not converted to a status
        // through `From`, which would replace the message this call reports.
        let args = unsafe { (Out::new(written, "written"), buf_arg(buf, len, "buf")) };
        let (Ok(written), Ok(buf)) = args else {
            return se_status::SE_STATUS_NULL_ARGUMENT;
        };
        let message = LAST_ERROR.with(|l| l.borrow().clone()).unwrap_or_default();
        let bytes = message.as_bytes();
        let n = bytes.len().min(len.saturating_sub(1));
        if len > 0 {
            for (dst, src) in buf.iter_mut().zip(&bytes[..n]) {
                dst.write(*src);
            }
            // n <= len - 1: in bounds.
            buf[n].write(0);
        }
        written.write(n);
        if n < bytes.len() {
            se_status::SE_STATUS_BUFFER_TOO_SMALL
        } else {
            se_status::SE_STATUS_OK
        }
    })
}

/// True when `id` is a valid id; false for NULL, invalid UTF-8 or an invalid id.
///
/// # Safety
/// `id` is NULL or points to a NUL-terminated string that stays unchanged during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_id_is_valid(id: *const c_char) -> bool {
    boundary(false, || {
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        unsafe { str_arg(id, "id") }.is_ok_and(|s| Id::parse(s).is_ok())
    })
}

/// True when `pattern` is a valid pattern; false for NULL, invalid UTF-8 or an
/// invalid pattern.
///
/// # Safety
/// `pattern` is NULL or points to a NUL-terminated string that stays unchanged during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_pattern_is_valid(pattern: *const c_char) -> bool {
    boundary(false, || {
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        unsafe { str_arg(pattern, "pattern") }.is_ok_and(|s| Pattern::parse(s).is_ok())
    })
}

/// True when `pattern` matches `id`; false when either is NULL, not UTF-8 or invalid.
///
/// # Safety
/// `pattern` and `id` are each NULL or point to a NUL-terminated string that stays
/// unchanged during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_pattern_matches(pattern: *const c_char, id: *const c_char) -> bool {
    boundary(false, || {
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let p = unsafe { str_arg(pattern, "pattern") };
        // SAFETY: as for `pattern`.
        let i = unsafe { str_arg(id, "id") };
        let (Ok(p), Ok(i)) = (p, i) else {
            return false;
        };
        match (Pattern::parse(p), Id::parse(i)) {
            (Ok(p), Ok(i)) => p.matches(&i),
            _ => false,
        }
    })
}
