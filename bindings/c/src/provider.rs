//! Providers written in C (or Go, through cgo): a callback table and a userdata pointer.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::Arc;

use async_trait::async_trait;

use super::engine::{engine_ref, se_engine};
use super::pointers::{bytes_arg, str_arg, try_mut, try_ref};
use super::se_status;
use super::util::{fail, fail_with, guard};
use secrets_engine::{Envelope, Error, Id, Pattern, Registration, Resolver, SecretValue};

/// Where a C provider puts its answers during a `get_secrets` callback. Valid only
/// during that callback.
pub struct se_results {
    items: Vec<Envelope>,
    error: Option<String>,
}

/// The callbacks of a provider written in C.
///
/// `get_secrets` is called on a worker thread (never the caller's), possibly from
/// several threads at once, so `userdata` must be thread-safe. It receives the
/// request pattern and adds each matching secret with `se_results_add`; it returns 0
/// on success, anything else on failure (after `se_results_set_error` for a message).
/// It must not call back into the engine that called it, and must not put secret
/// values in `se_results_set_error` messages. `free_userdata`, when not NULL, is
/// called exactly once, after the engine is freed and no callback is running any
/// more (a callback abandoned at its deadline may finish after `se_engine_free`
/// returned; `free_userdata` then runs on that callback's thread).
#[repr(C)]
pub struct se_provider_callbacks {
    /// Answers a lookup. Required.
    pub get_secrets: Option<
        unsafe extern "C" fn(
            userdata: *mut c_void,
            pattern: *const c_char,
            results: *mut se_results,
        ) -> c_int,
    >,
    /// Releases `userdata`. Optional.
    pub free_userdata: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
}

/// The callbacks and their userdata. Shared by every in-flight call, so
/// `free_userdata` runs only when the engine is gone *and* the last callback has
/// returned (a call abandoned at its deadline may still be running).
struct Callbacks {
    get: unsafe extern "C" fn(*mut c_void, *const c_char, *mut se_results) -> c_int,
    free: Option<unsafe extern "C" fn(*mut c_void)>,
    userdata: *mut c_void,
}

// SAFETY: the registration contract (`se_provider_callbacks`) requires `userdata` and
// the callbacks to be usable from any thread, so the table may move to a worker.
unsafe impl Send for Callbacks {}
// SAFETY: by the same contract `get_secrets` may run on several threads at once with
// the same `userdata`; nothing else is reachable through a shared `Callbacks`.
unsafe impl Sync for Callbacks {}

impl Drop for Callbacks {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: `free_userdata` of the registered table, with its userdata,
            // called once: `Callbacks` is shared through an `Arc`, so this drop runs
            // after the engine let go of it and the last callback returned.
            unsafe { free(self.userdata) };
        }
    }
}

struct CProvider(Arc<Callbacks>);

#[async_trait]
impl Resolver for CProvider {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        // The callback may block: run it off the runtime's workers.
        let pattern = CString::new(pattern.as_str()).map_err(|_| Error::Backend {
            message: "pattern with NUL".into(),
        })?;
        let callbacks = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut results = se_results {
                items: Vec::new(),
                error: None,
            };
            // SAFETY: the registration contract: a valid callback and userdata, kept
            // alive by `callbacks` until this call returns; `pattern` is a
            // NUL-terminated string and `results` a live, unshared `se_results`, both
            // outliving the call.
            let rc = unsafe { (callbacks.get)(callbacks.userdata, pattern.as_ptr(), &mut results) };
            if rc == 0 {
                Ok(results.items)
            } else {
                Err(Error::Backend {
                    message: results
                        .error
                        .unwrap_or_else(|| format!("the provider callback returned {rc}")),
                })
            }
        })
        .await
        .map_err(|_| Error::Crashed {
            reason: "the provider callback panicked".into(),
        })?
    }
}

/// Adds one secret to `results`: `id` (a valid id) and `len` bytes at `value`.
/// The bytes are copied. `SE_STATUS_INVALID_ID` for an invalid id.
///
/// # Safety
/// `results` is NULL or the pointer a `get_secrets` callback received, used during
/// that callback and by one thread at a time; `id` is NULL or a NUL-terminated
/// string; `value` is NULL or points to `len` readable bytes (NULL is refused unless
/// `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_results_add(
    results: *mut se_results,
    id: *const c_char,
    value: *const u8,
    len: usize,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or the live, unshared `se_results` of the running callback
        // (this function's contract).
        let results = unsafe { try_mut(results, "results") }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let id = Id::parse(unsafe { str_arg(id, "id") }?).map_err(|e| fail(&e))?;
        // SAFETY: NULL or `len` readable bytes (this function's contract).
        let value = unsafe { bytes_arg(value, len, "value") }?;
        results
            .items
            .push(Envelope::new(id, SecretValue::new(value.to_vec())));
        Ok(())
    })
}

/// Sets the message reported when the callback returns non-zero (copied; never put
/// a secret in it).
///
/// # Safety
/// `results` is NULL or the pointer a `get_secrets` callback received, used during
/// that callback and by one thread at a time; `message` is NULL or a NUL-terminated
/// string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_results_set_error(
    results: *mut se_results,
    message: *const c_char,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or the live, unshared `se_results` of the running callback
        // (this function's contract).
        let results = unsafe { try_mut(results, "results") }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        results.error = Some(unsafe { str_arg(message, "message") }?.to_owned());
        Ok(())
    })
}

/// Registers a provider written in C under `name`, serving ids matching `pattern`.
/// It is configurable and enabled. `callbacks` is copied; the engine owns
/// `userdata` from now on (even when registration fails, `free_userdata` is called).
///
/// # Safety
/// `engine` is NULL or a live engine from `se_engine_new`; `name` and `pattern` are
/// each NULL or a NUL-terminated string; `callbacks` is NULL or points to an
/// initialised `se_provider_callbacks` whose non-NULL entries are valid functions;
/// `userdata` and the callbacks satisfy the contract of `se_provider_callbacks`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_register_provider(
    engine: *mut se_engine,
    name: *const c_char,
    pattern: *const c_char,
    callbacks: *const se_provider_callbacks,
    userdata: *mut c_void,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or an initialised table (this function's contract).
        let table = unsafe { try_ref(callbacks, "callbacks") }?;
        let Some(get) = table.get_secrets else {
            if let Some(free) = table.free_userdata {
                // SAFETY: the caller's `free_userdata` with its `userdata`, which the
                // engine owns from this call on (this function's contract): called
                // once, as nothing else will own it.
                unsafe { free(userdata) };
            }
            return Err(fail_with(
                se_status::SE_STATUS_NULL_ARGUMENT,
                "callbacks->get_secrets is NULL",
            ));
        };
        // From here the provider owns userdata: dropping it frees it.
        let provider = CProvider(Arc::new(Callbacks {
            get,
            free: table.free_userdata,
            userdata,
        }));
        // SAFETY: NULL or a live engine (this function's contract).
        let engine = unsafe { engine_ref(engine) }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let pattern = unsafe { str_arg(pattern, "pattern") }?;
        let pattern = Pattern::parse(pattern).map_err(|e| fail(&e))?;
        engine
            .register(Registration::resolver(name, pattern, Arc::new(provider)))
            .map_err(|e| fail(&e))
    })
}
