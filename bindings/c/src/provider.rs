//! Providers written in C (or Go, through cgo): a callback table and a userdata pointer.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::Arc;

use async_trait::async_trait;

use super::engine::se_engine;
use super::se_status;
use super::util::{fail, fail_with, guard, str_arg};
use crate::engine::Registration;
use crate::envelope::Envelope;
use crate::error::Error;
use crate::{Id, Pattern, Resolver, SecretValue};

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

// SAFETY: the registration contract requires `userdata` and the callbacks to be
// usable from any thread.
unsafe impl Send for Callbacks {}
unsafe impl Sync for Callbacks {}

impl Drop for Callbacks {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: called once, after the last callback returned.
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
            // SAFETY: the registration contract: a valid callback and userdata,
            // kept alive by `callbacks` until this call returns.
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
/// `results` is the pointer the callback received; `value` points to `len` bytes (or
/// is NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_results_add(
    results: *mut se_results,
    id: *const c_char,
    value: *const u8,
    len: usize,
) -> se_status {
    guard(|| {
        let results = unsafe { results.as_mut() }
            .ok_or_else(|| fail_with(se_status::SE_STATUS_NULL_ARGUMENT, "results is NULL"))?;
        let id = Id::parse(unsafe { str_arg(id, "id") }?).map_err(|e| fail(&e))?;
        if value.is_null() && len > 0 {
            return Err(fail_with(
                se_status::SE_STATUS_NULL_ARGUMENT,
                "value is NULL",
            ));
        }
        let bytes = if len == 0 {
            Vec::new()
        } else {
            unsafe { std::slice::from_raw_parts(value, len) }.to_vec()
        };
        results
            .items
            .push(Envelope::new(id, SecretValue::new(bytes)));
        Ok(())
    })
}

/// Sets the message reported when the callback returns non-zero (copied; never put
/// a secret in it).
///
/// # Safety
/// `results` is the pointer the callback received; `message` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_results_set_error(
    results: *mut se_results,
    message: *const c_char,
) -> se_status {
    guard(|| {
        let results = unsafe { results.as_mut() }
            .ok_or_else(|| fail_with(se_status::SE_STATUS_NULL_ARGUMENT, "results is NULL"))?;
        results.error = Some(unsafe { str_arg(message, "message") }?.to_owned());
        Ok(())
    })
}

/// Registers a provider written in C under `name`, serving ids matching `pattern`.
/// It is configurable and enabled. `callbacks` is copied; the engine owns
/// `userdata` from now on (even when registration fails, `free_userdata` is called).
///
/// # Safety
/// `name` and `pattern` are NUL-terminated strings; `callbacks` points to a valid
/// table; `userdata` satisfies the contract of `se_provider_callbacks`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_register_provider(
    engine: *mut se_engine,
    name: *const c_char,
    pattern: *const c_char,
    callbacks: *const se_provider_callbacks,
    userdata: *mut c_void,
) -> se_status {
    guard(|| {
        let table = unsafe { callbacks.as_ref() }
            .ok_or_else(|| fail_with(se_status::SE_STATUS_NULL_ARGUMENT, "callbacks is NULL"))?;
        let Some(get) = table.get_secrets else {
            if let Some(free) = table.free_userdata {
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
        let engine = unsafe { engine.as_ref() }
            .ok_or_else(|| fail_with(se_status::SE_STATUS_NULL_ARGUMENT, "engine is NULL"))?;
        let name = unsafe { str_arg(name, "name") }?;
        let pattern =
            Pattern::parse(unsafe { str_arg(pattern, "pattern") }?).map_err(|e| fail(&e))?;
        engine
            .engine
            .register(Registration::resolver(name, pattern, Arc::new(provider)))
            .map_err(|e| fail(&e))
    })
}
