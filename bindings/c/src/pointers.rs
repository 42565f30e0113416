//! Every raw pointer the C ABI receives goes through one of these helpers, so the
//! exported functions hold no hand-written dereference (the approach of rustls-ffi):
//!
//! - a borrowed handle, `*const T` → `&T` ([`try_ref`], [`try_mut`], and
//!   [`with_ref_or`] for accessors answering NULL with a neutral value);
//! - an owned handle, created with [`into_handle`] and released with [`free_handle`]
//!   (freeing NULL does nothing);
//! - an out-parameter, checked when the call starts and written once it succeeds
//!   ([`Out`]);
//! - a pointer and a length ([`slice_arg`], [`bytes_arg`], [`buf_arg`]): NULL is
//!   allowed only with a length of 0;
//! - strings ([`str_arg`], [`opt_str_arg`], [`str_elements`], [`str_array_arg`]).
//!
//! NULL is detected in one place, [`non_null`], whose error [`NullArgument`] names the
//! argument. It becomes `SE_STATUS_NULL_ARGUMENT` (and the thread's last error) when
//! converted to an [`se_status`], which `?` does inside a [`guard`](super::util::guard)
//! body; accessors that answer NULL with a neutral value drop it unrecorded.

use std::ffi::{CStr, c_char};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use super::se_status;
use super::util::{boundary, fail_with};

/// A NULL pointer where the argument named `.0` is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NullArgument<'a>(pub(crate) &'a str);

impl From<NullArgument<'_>> for se_status {
    /// `SE_STATUS_NULL_ARGUMENT`, recording "`<name>` is NULL" as the last error.
    fn from(e: NullArgument<'_>) -> se_status {
        fail_with(
            se_status::SE_STATUS_NULL_ARGUMENT,
            &format!("{} is NULL", e.0),
        )
    }
}

/// The one NULL check: `p` as a [`NonNull`], or the argument named `what` is missing.
pub(crate) fn non_null<'w, T>(p: *const T, what: &'w str) -> Result<NonNull<T>, NullArgument<'w>> {
    NonNull::new(p.cast_mut()).ok_or(NullArgument(what))
}

/// A borrowed handle (or any struct the caller passes by pointer) for the duration of
/// the call.
///
/// # Safety
/// `p` is NULL or points to a live, initialised `T` that nothing mutates while the
/// returned reference is used (for the handles of this library: it came from this
/// library and has not been freed).
pub(crate) unsafe fn try_ref<'a, 'w, T>(
    p: *const T,
    what: &'w str,
) -> Result<&'a T, NullArgument<'w>> {
    let p = non_null(p, what)?;
    // SAFETY: non-NULL (checked above); live, initialised and not mutated by the
    // caller's contract.
    Ok(unsafe { p.as_ref() })
}

/// An accessor's body: `f` applied to the object behind `p`, or `neutral` when `p` is
/// NULL (not an error for accessors, and not recorded) or when `f` panics.
///
/// # Safety
/// As [`try_ref`].
pub(crate) unsafe fn with_ref_or<T, R: Copy>(
    p: *const T,
    neutral: R,
    f: impl FnOnce(&T) -> R,
) -> R {
    boundary(neutral, || {
        // SAFETY: NULL or a live, unmutated `T` (this function's contract).
        unsafe { try_ref(p, "") }.map_or(neutral, f)
    })
}

/// A borrowed handle the call may modify.
///
/// # Safety
/// `p` is NULL or points to a live, initialised `T` that nothing else reads or writes
/// while the returned reference is used.
pub(crate) unsafe fn try_mut<'a, 'w, T>(
    p: *mut T,
    what: &'w str,
) -> Result<&'a mut T, NullArgument<'w>> {
    let mut p = non_null(p, what)?;
    // SAFETY: non-NULL (checked above); live, initialised and exclusively ours by the
    // caller's contract.
    Ok(unsafe { p.as_mut() })
}

/// Moves `value` to the heap and hands it to C as an owned handle, which C gives back
/// to [`free_handle`] exactly once.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Drops a handle made by [`into_handle`]; NULL does nothing.
///
/// # Safety
/// `p` is NULL or came from [`into_handle`] with the same `T`, has not been freed, and
/// is not used afterwards (nor during this call, from another thread).
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: non-NULL, so by the caller's contract it is the pointer of a
        // `Box<T>` leaked by `into_handle` and owned by nobody else any more.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// An out-parameter: checked for NULL when the call starts, written once when it
/// succeeds, so a failed call leaves the caller's variable untouched.
pub(crate) struct Out<'a, T> {
    slot: NonNull<T>,
    _call: PhantomData<&'a mut MaybeUninit<T>>,
}

impl<'a, T> Out<'a, T> {
    /// The out-parameter named `what`; NULL is an error.
    ///
    /// # Safety
    /// `p` is NULL or valid for a write of a `T` (aligned, writable, possibly
    /// uninitialised) until the call returns.
    pub(crate) unsafe fn new<'w>(p: *mut T, what: &'w str) -> Result<Out<'a, T>, NullArgument<'w>> {
        Ok(Out {
            slot: non_null(p, what)?,
            _call: PhantomData,
        })
    }

    /// An optional out-parameter: NULL means the caller does not want that value.
    ///
    /// # Safety
    /// As [`Out::new`].
    pub(crate) unsafe fn optional(p: *mut T) -> Option<Out<'a, T>> {
        // SAFETY: the caller's contract is the one `new` needs.
        unsafe { Out::new(p, "") }.ok()
    }

    /// Stores `value` in the caller's variable. Whatever it held before is overwritten
    /// without being read or dropped (it may be uninitialised).
    pub(crate) fn write(self, value: T) {
        // SAFETY: `slot` is non-NULL and valid for a write of a `T` for the call
        // (`new`'s contract), and `self` is consumed, so it is written once.
        unsafe { self.slot.as_ptr().write(value) }
    }
}

/// `len` elements at `p`, borrowed for the call; NULL is allowed (and gives an empty
/// slice) only when `len` is 0.
///
/// # Safety
/// When `len > 0`, `p` is NULL or points to `len` initialised, aligned `T`s that
/// nothing mutates while the slice is used.
pub(crate) unsafe fn slice_arg<'a, 'w, T>(
    p: *const T,
    len: usize,
    what: &'w str,
) -> Result<&'a [T], NullArgument<'w>> {
    if len == 0 {
        return Ok(&[]);
    }
    let p = non_null(p, what)?;
    // SAFETY: non-NULL and aligned, `len` initialised elements by the caller's
    // contract; one object, so at most isize::MAX bytes.
    Ok(unsafe { std::slice::from_raw_parts(p.as_ptr(), len) })
}

/// A binary argument of `len` bytes at `p` (NULL only with `len` 0).
///
/// # Safety
/// As [`slice_arg`]: when `len > 0`, `p` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn bytes_arg<'a, 'w>(
    p: *const u8,
    len: usize,
    what: &'w str,
) -> Result<&'a [u8], NullArgument<'w>> {
    // SAFETY: the caller's contract is the one `slice_arg` needs.
    unsafe { slice_arg(p, len, what) }
}

/// An output buffer of `len` bytes at `p` (NULL only with `len` 0), possibly
/// uninitialised.
///
/// # Safety
/// When `len > 0`, `p` is NULL or points to `len` writable bytes that nothing else
/// accesses until the call returns.
pub(crate) unsafe fn buf_arg<'a, 'w>(
    p: *mut c_char,
    len: usize,
    what: &'w str,
) -> Result<&'a mut [MaybeUninit<u8>], NullArgument<'w>> {
    if len == 0 {
        return Ok(&mut []);
    }
    let p = non_null(p.cast::<MaybeUninit<u8>>(), what)?;
    // SAFETY: non-NULL, `len` writable bytes, exclusively ours by the caller's
    // contract; `MaybeUninit<u8>` has the layout of `c_char` and may be
    // uninitialised.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) })
}

/// A borrowed UTF-8 string argument; NULL and invalid UTF-8 are errors naming `what`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays unchanged while the
/// returned `&str` is used.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, se_status> {
    let p = non_null(p, what)?;
    // SAFETY: non-NULL, NUL-terminated and unchanged by the caller's contract.
    unsafe { CStr::from_ptr(p.as_ptr()) }.to_str().map_err(|e| {
        fail_with(
            se_status::SE_STATUS_INVALID_UTF8,
            &format!("{what} is not UTF-8: {e}"),
        )
    })
}

/// An optional string argument: NULL gives `None`; invalid UTF-8 is an error naming
/// `what`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    p: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, se_status> {
    match non_null(p, what) {
        Err(NullArgument(_)) => Ok(None),
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        Ok(_) => unsafe { str_arg(p, what) }.map(Some),
    }
}

/// The strings of an array already borrowed with [`slice_arg`]: NULL elements and
/// invalid UTF-8 are errors naming `what` and the index. Stops at the first error,
/// reading no element after it.
///
/// # Safety
/// Each element is NULL or a NUL-terminated string, as for [`str_arg`].
pub(crate) unsafe fn str_elements<'a>(
    items: &[*const c_char],
    what: &str,
) -> Result<Vec<&'a str>, se_status> {
    items
        .iter()
        .enumerate()
        // SAFETY: each element is NULL or a NUL-terminated string (the caller's
        // contract), which is what `str_arg` needs.
        .map(|(i, p)| unsafe { str_arg(*p, &format!("{what}[{i}]")) })
        .collect()
}

/// `n` borrowed UTF-8 strings at `p`: a NULL array (with `n > 0`), NULL elements and
/// invalid UTF-8 are errors naming `what` (and the index).
///
/// # Safety
/// When `n > 0`, `p` is NULL or points to `n` pointers, each NULL or to a
/// NUL-terminated string, all unchanged while the result is used.
pub(crate) unsafe fn str_array_arg<'a>(
    p: *const *const c_char,
    n: usize,
    what: &str,
) -> Result<Vec<&'a str>, se_status> {
    // SAFETY: `n` readable pointers when non-NULL (the caller's contract).
    let items = unsafe { slice_arg(p, n, what) }?;
    // SAFETY: each element is NULL or a NUL-terminated string (the caller's contract).
    unsafe { str_elements(items, what) }
}
