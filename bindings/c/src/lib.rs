//! The C ABI: a thin layer over the Rust API, shaped like rustls-ffi.
//!
//! Conventions (docs/design.md §11):
//! - names are `se_<type>_<verb>`; handles are opaque; every `_new` has a `_free`, and
//!   freeing NULL does nothing;
//! - every function returns an [`se_status`] (or a documented neutral value), catches
//!   panics, checks every pointer for NULL and every string for UTF-8;
//! - after a call returns an error status, [`se_last_error_message`] gives the
//!   calling thread's detailed message (never a secret value);
//! - the engine is thread-safe: any function may be called on one engine from many
//!   threads at once, `se_engine_free` included (it waits for the calls in flight and
//!   refuses later ones: the `gate` module); calls block on the engine's own runtime;
//! - every pointer argument goes through the typed helpers of `pointers` (borrowed
//!   and owned handles, out-parameters, slices, strings); every `unsafe` block says
//!   why it holds, and every exported function documents its caller's contract in a
//!   `# Safety` section, which cbindgen copies into the header.
//!
//! The header `include/secrets_engine.h` is generated from this module by cbindgen.
#![allow(non_camel_case_types, unsafe_code)]

mod engine;
mod gate;
mod lists;
mod pointers;
mod provider;
#[cfg(test)]
mod tests;
mod util;

pub use engine::*;
pub use lists::*;
pub use provider::*;
pub use util::*;

use secrets_engine::{Error, ErrorKind};

/// The outcome of a call. Values are stable: new ones are only ever added.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum se_status {
    /// Success.
    SE_STATUS_OK = 0,
    /// A required pointer argument was NULL.
    SE_STATUS_NULL_ARGUMENT = 1,
    /// A string argument was not valid UTF-8.
    SE_STATUS_INVALID_UTF8 = 2,
    /// An argument was out of range or malformed (e.g. an env entry without `=`).
    SE_STATUS_INVALID_ARGUMENT = 3,
    /// A string was not a valid id.
    SE_STATUS_INVALID_ID = 4,
    /// A string was not a valid pattern.
    SE_STATUS_INVALID_PATTERN = 5,
    /// An env value started with `se://` but was not a valid reference.
    SE_STATUS_INVALID_REFERENCE = 6,
    /// Every provider asked answered, and nothing matched.
    SE_STATUS_NOT_FOUND = 7,
    /// No enabled provider serves the request.
    SE_STATUS_NO_PROVIDER = 8,
    /// Nothing was found and a provider failed (the message names it).
    SE_STATUS_PROVIDER_FAILED = 9,
    /// A reference matched several different values.
    SE_STATUS_AMBIGUOUS = 10,
    /// A provider did not answer within its deadline.
    SE_STATUS_TIMEOUT = 11,
    /// A provider crashed.
    SE_STATUS_CRASHED = 12,
    /// A backend could not be reached.
    SE_STATUS_UNAVAILABLE = 13,
    /// A backend is locked.
    SE_STATUS_LOCKED = 14,
    /// A backend refused for lack of permission.
    SE_STATUS_PERMISSION_DENIED = 15,
    /// A backend reported another error.
    SE_STATUS_BACKEND = 16,
    /// The config file could not be read, parsed or written.
    SE_STATUS_CONFIG = 17,
    /// No provider has that name.
    SE_STATUS_UNKNOWN_PROVIDER = 18,
    /// The provider cannot be enabled or disabled.
    SE_STATUS_NOT_CONFIGURABLE = 19,
    /// No writable store is available.
    SE_STATUS_NO_STORE = 20,
    /// A secret cannot be an environment value (NUL byte).
    SE_STATUS_UNREPRESENTABLE = 21,
    /// A local I/O operation failed.
    SE_STATUS_IO = 22,
    /// The output buffer was too small; what fits was written.
    SE_STATUS_BUFFER_TOO_SMALL = 23,
    /// The library panicked; the call had no effect that can be relied on.
    SE_STATUS_PANIC = 24,
}

impl se_status {
    /// The status's text: for an error status, its [`ErrorKind`]'s
    /// [`as_str`](ErrorKind::as_str), so the C and Rust texts never drift apart.
    fn describe(self) -> &'static std::ffi::CStr {
        use se_status::*;
        match self {
            SE_STATUS_OK => c"ok",
            SE_STATUS_NULL_ARGUMENT => c"a required argument was NULL",
            SE_STATUS_INVALID_UTF8 => c"a string was not valid UTF-8",
            SE_STATUS_BUFFER_TOO_SMALL => c"buffer too small",
            SE_STATUS_PANIC => c"internal panic",
            error => kind_text(error),
        }
    }

    fn from_u32(v: u32) -> Option<se_status> {
        use se_status::*;
        const ALL: [se_status; 25] = [
            SE_STATUS_OK,
            SE_STATUS_NULL_ARGUMENT,
            SE_STATUS_INVALID_UTF8,
            SE_STATUS_INVALID_ARGUMENT,
            SE_STATUS_INVALID_ID,
            SE_STATUS_INVALID_PATTERN,
            SE_STATUS_INVALID_REFERENCE,
            SE_STATUS_NOT_FOUND,
            SE_STATUS_NO_PROVIDER,
            SE_STATUS_PROVIDER_FAILED,
            SE_STATUS_AMBIGUOUS,
            SE_STATUS_TIMEOUT,
            SE_STATUS_CRASHED,
            SE_STATUS_UNAVAILABLE,
            SE_STATUS_LOCKED,
            SE_STATUS_PERMISSION_DENIED,
            SE_STATUS_BACKEND,
            SE_STATUS_CONFIG,
            SE_STATUS_UNKNOWN_PROVIDER,
            SE_STATUS_NOT_CONFIGURABLE,
            SE_STATUS_NO_STORE,
            SE_STATUS_UNREPRESENTABLE,
            SE_STATUS_IO,
            SE_STATUS_BUFFER_TOO_SMALL,
            SE_STATUS_PANIC,
        ];
        ALL.get(v as usize).copied()
    }
}

/// The text of the first kind (in [`ErrorKind::ALL`]'s order) that maps to `status`,
/// NUL-terminated once per process.
fn kind_text(status: se_status) -> &'static std::ffi::CStr {
    static TEXTS: std::sync::OnceLock<Vec<(se_status, std::ffi::CString)>> =
        std::sync::OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        ErrorKind::ALL
            .iter()
            .map(|&k| {
                let text = std::ffi::CString::new(k.as_str()).expect("kind texts hold no NUL");
                (status_of_kind(k), text)
            })
            .collect()
    });
    texts
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(c"error", |(_, text)| text.as_c_str())
}

/// The status an error maps to: the one place the C ABI classifies errors, from
/// [`ErrorKind`].
pub(crate) fn status_of(e: &Error) -> se_status {
    status_of_kind(e.kind())
}

fn status_of_kind(kind: ErrorKind) -> se_status {
    use se_status::*;
    match kind {
        ErrorKind::InvalidId => SE_STATUS_INVALID_ID,
        ErrorKind::InvalidPattern => SE_STATUS_INVALID_PATTERN,
        ErrorKind::InvalidReference => SE_STATUS_INVALID_REFERENCE,
        ErrorKind::InvalidArgument => SE_STATUS_INVALID_ARGUMENT,
        ErrorKind::NoProvider => SE_STATUS_NO_PROVIDER,
        ErrorKind::NotFound => SE_STATUS_NOT_FOUND,
        ErrorKind::ProviderFailed => SE_STATUS_PROVIDER_FAILED,
        ErrorKind::Ambiguous => SE_STATUS_AMBIGUOUS,
        ErrorKind::Unrepresentable => SE_STATUS_UNREPRESENTABLE,
        ErrorKind::Timeout => SE_STATUS_TIMEOUT,
        ErrorKind::Crashed => SE_STATUS_CRASHED,
        ErrorKind::Unavailable => SE_STATUS_UNAVAILABLE,
        ErrorKind::Locked => SE_STATUS_LOCKED,
        ErrorKind::PermissionDenied => SE_STATUS_PERMISSION_DENIED,
        ErrorKind::Backend => SE_STATUS_BACKEND,
        ErrorKind::Config => SE_STATUS_CONFIG,
        ErrorKind::UnknownProvider => SE_STATUS_UNKNOWN_PROVIDER,
        ErrorKind::NotConfigurable => SE_STATUS_NOT_CONFIGURABLE,
        ErrorKind::NoStore => SE_STATUS_NO_STORE,
        ErrorKind::Io => SE_STATUS_IO,
        // A kind added to the core after this layer was written: still an error.
        _ => SE_STATUS_BACKEND,
    }
}
