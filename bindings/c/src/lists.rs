//! Lists handed to C: envelopes, strings, plugins. Each is one allocation owned by the
//! caller until its `_free`; pointers obtained from a list stay valid until then.

use std::ffi::{CString, c_char};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroize;

use super::pointers::{Out, free_handle, try_ref, with_ref_or};
use super::se_status;
use super::util::{boundary, c_string, fail_with, guard};
use secrets_engine::{Envelope, PluginInfo, ProviderFailure, ProviderState};

/// One resolved secret inside an `se_envelope_list`.
pub struct se_envelope {
    envelope: Envelope,
    id: CString,
    provider: CString,
    version: Option<CString>,
    metadata: Vec<(CString, CString)>,
}

/// The result of `se_engine_get_secrets`: envelopes, and the providers that failed
/// beside them. Free with `se_envelope_list_free`, which zeroes the values.
pub struct se_envelope_list {
    items: Vec<se_envelope>,
    failures: Vec<(CString, CString)>,
}

impl se_envelope_list {
    pub(crate) fn new(envelopes: Vec<Envelope>, failures: &[ProviderFailure]) -> se_envelope_list {
        let items = envelopes
            .into_iter()
            .map(|e| se_envelope {
                id: c_string(e.id().as_str()),
                provider: c_string(e.provider()),
                version: e.version().map(c_string),
                metadata: e
                    .metadata()
                    .iter()
                    .map(|(k, v)| (c_string(k), c_string(v)))
                    .collect(),
                envelope: e,
            })
            .collect();
        let failures = failures
            .iter()
            .map(|f| (c_string(&f.provider), c_string(&f.error.to_string())))
            .collect();
        se_envelope_list { items, failures }
    }
}

/// Number of envelopes; 0 for NULL.
///
/// # Safety
/// `list` is NULL or a live list from `se_engine_get_secrets`, not freed during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_list_len(list: *const se_envelope_list) -> usize {
    // SAFETY: NULL or a live list (this function's contract).
    unsafe { with_ref_or(list, 0, |l| l.items.len()) }
}

/// Envelope `i`, borrowed from the list; NULL when `list` is NULL or `i` is out of range.
///
/// # Safety
/// `list` is NULL or a live list from `se_engine_get_secrets`, not freed during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_list_get(
    list: *const se_envelope_list,
    i: usize,
) -> *const se_envelope {
    // SAFETY: NULL or a live list (this function's contract).
    unsafe {
        with_ref_or(list, std::ptr::null(), |l| {
            l.items.get(i).map_or(std::ptr::null(), |e| e as *const _)
        })
    }
}

/// Number of providers that failed while others answered; 0 for NULL.
///
/// # Safety
/// `list` is NULL or a live list from `se_engine_get_secrets`, not freed during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_list_failures_len(list: *const se_envelope_list) -> usize {
    // SAFETY: NULL or a live list (this function's contract).
    unsafe { with_ref_or(list, 0, |l| l.failures.len()) }
}

/// Failure `i`: the provider's name and the error message, borrowed from the list.
/// `SE_STATUS_NULL_ARGUMENT` when an argument is NULL, `SE_STATUS_INVALID_ARGUMENT`
/// when `i` is out of range.
///
/// # Safety
/// `list` is NULL or a live list from `se_engine_get_secrets`, not freed during
/// the call; `provider` and `message` are each NULL or point to a writable
/// `const char *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_list_failure(
    list: *const se_envelope_list,
    i: usize,
    provider: *mut *const c_char,
    message: *mut *const c_char,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or writable (this function's contract).
        let provider = unsafe { Out::new(provider, "provider") }?;
        // SAFETY: NULL or writable (this function's contract).
        let message = unsafe { Out::new(message, "message") }?;
        // SAFETY: NULL or a live list (this function's contract).
        let l = unsafe { try_ref(list, "list") }?;
        let (p, m) = l.failures.get(i).ok_or_else(|| {
            fail_with(
                se_status::SE_STATUS_INVALID_ARGUMENT,
                &format!("index {i} is out of range"),
            )
        })?;
        provider.write(p.as_ptr());
        message.write(m.as_ptr());
        Ok(())
    })
}

/// Frees the list and zeroes every value. NULL is a no-op.
///
/// # Safety
/// `list` is NULL or came from `se_engine_get_secrets` and was not freed; no other
/// call on it is running, and neither it nor anything borrowed from it is used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_list_free(list: *mut se_envelope_list) {
    boundary((), || {
        // SAFETY: NULL or a list of `se_engine_get_secrets` (made by `into_handle`),
        // freed once, used by no other call (this function's contract). Envelopes
        // zero their values on drop.
        unsafe { free_handle(list) }
    })
}

/// The envelope's id (NUL-terminated, borrowed); NULL for NULL.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_id(e: *const se_envelope) -> *const c_char {
    // SAFETY: NULL or a live envelope (this function's contract).
    unsafe { with_ref_or(e, std::ptr::null(), |e| e.id.as_ptr()) }
}

/// The name of the provider that returned it (borrowed); NULL for NULL.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_provider(e: *const se_envelope) -> *const c_char {
    // SAFETY: NULL or a live envelope (this function's contract).
    unsafe { with_ref_or(e, std::ptr::null(), |e| e.provider.as_ptr()) }
}

/// The backend's version label (borrowed), or NULL when it has none.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_version(e: *const se_envelope) -> *const c_char {
    // SAFETY: NULL or a live envelope (this function's contract).
    unsafe {
        with_ref_or(e, std::ptr::null(), |e| {
            e.version.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())
        })
    }
}

/// The secret bytes, borrowed from the list: `*ptr` and `*len` (binary-safe, not
/// NUL-terminated). With a NULL envelope, `*ptr` is NULL and `*len` 0. NULL out
/// pointers are skipped.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call; `ptr` is NULL or points to a writable `const uint8_t *`; `len`
/// is NULL or points to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_value(
    e: *const se_envelope,
    ptr: *mut *const u8,
    len: *mut usize,
) {
    boundary((), || {
        // SAFETY: NULL or a live envelope (this function's contract).
        let (p, n) = unsafe { try_ref(e, "envelope") }.map_or((std::ptr::null(), 0), |e| {
            let v = e.envelope.value().expose();
            (v.as_ptr(), v.len())
        });
        // SAFETY: NULL or writable (this function's contract).
        if let Some(ptr) = unsafe { Out::optional(ptr) } {
            ptr.write(p);
        }
        // SAFETY: NULL or writable (this function's contract).
        if let Some(len) = unsafe { Out::optional(len) } {
            len.write(n);
        }
    })
}

fn millis(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(-1, |d| d.as_millis() as i64)
}

/// When the engine received it, in milliseconds since the Unix epoch; -1 for NULL.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_resolved_at_ms(e: *const se_envelope) -> i64 {
    // SAFETY: NULL or a live envelope (this function's contract).
    unsafe { with_ref_or(e, -1, |e| millis(Some(e.envelope.resolved_at()))) }
}

/// When the backend created it, in milliseconds since the Unix epoch; -1 when unknown.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_created_at_ms(e: *const se_envelope) -> i64 {
    // SAFETY: NULL or a live envelope (this function's contract).
    unsafe { with_ref_or(e, -1, |e| millis(e.envelope.created_at())) }
}

/// When it expires, in milliseconds since the Unix epoch; -1 when it does not say.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_expires_at_ms(e: *const se_envelope) -> i64 {
    // SAFETY: NULL or a live envelope (this function's contract).
    unsafe { with_ref_or(e, -1, |e| millis(e.envelope.expires_at())) }
}

/// Number of metadata entries; 0 for NULL.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_metadata_len(e: *const se_envelope) -> usize {
    // SAFETY: NULL or a live envelope (this function's contract).
    unsafe { with_ref_or(e, 0, |e| e.metadata.len()) }
}

/// Metadata entry `i` (sorted by key), borrowed from the list.
///
/// # Safety
/// `e` is NULL or an envelope obtained from a live `se_envelope_list`, not freed
/// during the call; `key` and `value` are each NULL or point to a writable
/// `const char *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_envelope_metadata_get(
    e: *const se_envelope,
    i: usize,
    key: *mut *const c_char,
    value: *mut *const c_char,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or writable (this function's contract).
        let key = unsafe { Out::new(key, "key") }?;
        // SAFETY: NULL or writable (this function's contract).
        let value = unsafe { Out::new(value, "value") }?;
        // SAFETY: NULL or a live envelope (this function's contract).
        let e = unsafe { try_ref(e, "envelope") }?;
        let (k, v) = e.metadata.get(i).ok_or_else(|| {
            fail_with(
                se_status::SE_STATUS_INVALID_ARGUMENT,
                &format!("index {i} is out of range"),
            )
        })?;
        key.write(k.as_ptr());
        value.write(v.as_ptr());
        Ok(())
    })
}

/// A list of NUL-terminated strings (resolved `NAME=VALUE` pairs, or ids). Free with
/// `se_string_list_free`, which zeroes them.
pub struct se_string_list {
    items: Vec<CString>,
}

impl se_string_list {
    pub(crate) fn new(items: Vec<CString>) -> se_string_list {
        se_string_list { items }
    }
}

impl Drop for se_string_list {
    fn drop(&mut self) {
        for s in self.items.drain(..) {
            s.into_bytes_with_nul().zeroize();
        }
    }
}

/// Number of strings; 0 for NULL.
///
/// # Safety
/// `list` is NULL or a live list from `se_engine_resolve_env` or
/// `se_engine_list_secrets`, not freed during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_string_list_len(list: *const se_string_list) -> usize {
    // SAFETY: NULL or a live list (this function's contract).
    unsafe { with_ref_or(list, 0, |l| l.items.len()) }
}

/// String `i` (borrowed from the list); NULL when `list` is NULL or `i` is out of range.
///
/// # Safety
/// `list` is NULL or a live list from `se_engine_resolve_env` or
/// `se_engine_list_secrets`, not freed during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_string_list_get(
    list: *const se_string_list,
    i: usize,
) -> *const c_char {
    // SAFETY: NULL or a live list (this function's contract).
    unsafe {
        with_ref_or(list, std::ptr::null(), |l| {
            l.items.get(i).map_or(std::ptr::null(), |s| s.as_ptr())
        })
    }
}

/// Frees the list and zeroes its strings. NULL is a no-op.
///
/// # Safety
/// `list` is NULL or came from `se_engine_resolve_env` or `se_engine_list_secrets`
/// and was not freed; no other call on it is running, and neither it nor a string
/// borrowed from it is used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_string_list_free(list: *mut se_string_list) {
    boundary((), || {
        // SAFETY: NULL or a list of this library (made by `into_handle`), freed once,
        // used by no other call (this function's contract). Dropping zeroes the
        // strings.
        unsafe { free_handle(list) }
    })
}

/// A provider's state.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum se_plugin_state {
    /// Answers lookups.
    SE_PLUGIN_RUNNING = 0,
    /// Turned off by the user.
    SE_PLUGIN_DISABLED = 1,
    /// Stopped after a fatal error; `se_plugin_message` says why.
    SE_PLUGIN_CRASHED = 2,
    /// Running but locked (the file store with no passphrase): lookups of ids it
    /// holds fail with `SE_STATUS_LOCKED` until it is unlocked; others answer as usual.
    SE_PLUGIN_LOCKED = 3,
}

/// One provider inside an `se_plugin_list`.
pub struct se_plugin {
    name: CString,
    pattern: CString,
    configurable: bool,
    state: se_plugin_state,
    message: Option<CString>,
}

/// The result of `se_engine_plugins`. Free with `se_plugin_list_free`.
pub struct se_plugin_list {
    items: Vec<se_plugin>,
}

impl se_plugin_list {
    pub(crate) fn new(plugins: Vec<PluginInfo>) -> se_plugin_list {
        let items = plugins
            .into_iter()
            .map(|p| se_plugin {
                name: c_string(&p.name),
                pattern: c_string(p.pattern.as_str()),
                configurable: p.configurable,
                state: match p.state {
                    ProviderState::Running => se_plugin_state::SE_PLUGIN_RUNNING,
                    ProviderState::Disabled => se_plugin_state::SE_PLUGIN_DISABLED,
                    ProviderState::Crashed(_) => se_plugin_state::SE_PLUGIN_CRASHED,
                    ProviderState::Locked => se_plugin_state::SE_PLUGIN_LOCKED,
                },
                message: p.message.as_deref().map(c_string),
            })
            .collect();
        se_plugin_list { items }
    }
}

/// Number of providers; 0 for NULL.
///
/// # Safety
/// `list` is NULL or a live list from `se_engine_plugins`, not freed during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_plugin_list_len(list: *const se_plugin_list) -> usize {
    // SAFETY: NULL or a live list (this function's contract).
    unsafe { with_ref_or(list, 0, |l| l.items.len()) }
}

/// Provider `i` (borrowed from the list); NULL when out of range.
///
/// # Safety
/// `list` is NULL or a live list from `se_engine_plugins`, not freed during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_plugin_list_get(
    list: *const se_plugin_list,
    i: usize,
) -> *const se_plugin {
    // SAFETY: NULL or a live list (this function's contract).
    unsafe {
        with_ref_or(list, std::ptr::null(), |l| {
            l.items.get(i).map_or(std::ptr::null(), |p| p as *const _)
        })
    }
}

/// Frees the list. NULL is a no-op.
///
/// # Safety
/// `list` is NULL or came from `se_engine_plugins` and was not freed; no other call
/// on it is running, and neither it nor anything borrowed from it is used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_plugin_list_free(list: *mut se_plugin_list) {
    boundary((), || {
        // SAFETY: NULL or a list of `se_engine_plugins` (made by `into_handle`), freed
        // once, used by no other call (this function's contract).
        unsafe { free_handle(list) }
    })
}

/// The provider's name (borrowed); NULL for NULL.
///
/// # Safety
/// `p` is NULL or a provider obtained from a live `se_plugin_list`, not freed during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_plugin_name(p: *const se_plugin) -> *const c_char {
    // SAFETY: NULL or a live provider (this function's contract).
    unsafe { with_ref_or(p, std::ptr::null(), |p| p.name.as_ptr()) }
}

/// The provider's declared pattern (borrowed); NULL for NULL.
///
/// # Safety
/// `p` is NULL or a provider obtained from a live `se_plugin_list`, not freed during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_plugin_pattern(p: *const se_plugin) -> *const c_char {
    // SAFETY: NULL or a live provider (this function's contract).
    unsafe { with_ref_or(p, std::ptr::null(), |p| p.pattern.as_ptr()) }
}

/// Whether the user may enable and disable it; false for NULL.
///
/// # Safety
/// `p` is NULL or a provider obtained from a live `se_plugin_list`, not freed during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_plugin_configurable(p: *const se_plugin) -> bool {
    // SAFETY: NULL or a live provider (this function's contract).
    unsafe { with_ref_or(p, false, |p| p.configurable) }
}

/// Its state; `SE_PLUGIN_DISABLED` for NULL.
///
/// # Safety
/// `p` is NULL or a provider obtained from a live `se_plugin_list`, not freed during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_plugin_get_state(p: *const se_plugin) -> se_plugin_state {
    // SAFETY: NULL or a live provider (this function's contract).
    unsafe { with_ref_or(p, se_plugin_state::SE_PLUGIN_DISABLED, |p| p.state) }
}

/// Why it crashed (borrowed), or NULL.
///
/// # Safety
/// `p` is NULL or a provider obtained from a live `se_plugin_list`, not freed during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_plugin_message(p: *const se_plugin) -> *const c_char {
    // SAFETY: NULL or a live provider (this function's contract).
    unsafe {
        with_ref_or(p, std::ptr::null(), |p| {
            p.message.as_ref().map_or(std::ptr::null(), |m| m.as_ptr())
        })
    }
}
