//! The engine handle: create, look up, resolve an env list, store, plugins.

use std::ffi::{CString, OsString, c_char, c_int};
use std::time::Duration;

use zeroize::Zeroize;

use super::lists::{se_envelope_list, se_plugin_list, se_string_list};
use super::se_status;
use super::util::{boundary, fail, fail_with, guard, out_arg, str_arg, str_array_arg};
use crate::defaults::{DefaultOptions, StoreChoice};
use crate::engine::{ConfigLocation, Engine};
use crate::env::EnvOptions;
use crate::envelope::Metadata;
use crate::{Id, Pattern, SecretValue};

/// The store choice of `se_engine_options`: the keychain when reachable, else files.
pub const SE_STORE_AUTO: u32 = 0;
/// The OS keychain.
pub const SE_STORE_KEYCHAIN: u32 = 1;
/// The encrypted file store.
pub const SE_STORE_FILE: u32 = 2;
/// An in-memory store named "memory" and no OS providers (embedding, tests).
pub const SE_STORE_MEMORY: u32 = 3;

/// `se_engine_resolve_env` flag: an empty value `NAME=` is looked up as the id `NAME`.
pub const SE_ENV_CONTAINER_MODE: u32 = 1;

/// Options for `se_engine_new`. Zero-initialise it (`se_engine_options o = {0};`) and
/// set what you need; zero means the default for every field.
#[repr(C)]
pub struct se_engine_options {
    /// One of the `SE_STORE_*` values.
    pub store: u32,
    /// The config file keeping provider choices; NULL for the default location
    /// (`$SECRETS_ENGINE_CONFIG`, else the user's config directory). Copied.
    pub config_path: *const c_char,
    /// When true, provider choices are neither read nor written.
    pub no_config: bool,
    /// Per-call provider deadline in milliseconds; 0 for 30 000.
    pub deadline_ms: u32,
}

/// An engine. Create with `se_engine_new`, free with `se_engine_free`. Thread-safe.
pub struct se_engine {
    pub(crate) engine: Engine,
}

unsafe fn build(opts: Option<&se_engine_options>) -> Result<Engine, se_status> {
    let Some(o) = opts else {
        return crate::defaults::default_engine_blocking(DefaultOptions::default())
            .map(|(e, _)| e)
            .map_err(|e| fail(&e));
    };
    let config = if o.no_config {
        ConfigLocation::None
    } else if o.config_path.is_null() {
        ConfigLocation::Default
    } else {
        ConfigLocation::Path(unsafe { str_arg(o.config_path, "options.config_path") }?.into())
    };
    let deadline = match o.deadline_ms {
        0 => crate::engine::DEFAULT_DEADLINE,
        ms => Duration::from_millis(ms.into()),
    };
    let store = match o.store {
        SE_STORE_AUTO => StoreChoice::Auto,
        SE_STORE_KEYCHAIN => StoreChoice::Keychain,
        SE_STORE_FILE => StoreChoice::File,
        SE_STORE_MEMORY => {
            let options = DefaultOptions {
                store: StoreChoice::Auto,
                config: Some(config),
                deadline: Some(deadline),
            };
            return crate::defaults::memory_engine(options).map_err(|e| fail(&e));
        }
        other => {
            return Err(fail_with(
                se_status::SE_STATUS_INVALID_ARGUMENT,
                &format!("options.store is {other}, not one of the SE_STORE_* values"),
            ));
        }
    };
    let options = DefaultOptions {
        store,
        config: Some(config),
        deadline: Some(deadline),
    };
    crate::defaults::default_engine_blocking(options)
        .map(|(e, _)| e)
        .map_err(|e| fail(&e))
}

/// Creates an engine. With `opts` NULL it is the default engine, with the same
/// providers and default store as `docker-pass`. On success `*out` owns a new engine;
/// on failure `*out` is left untouched (as for every `out` parameter).
///
/// # Safety
/// `opts` is NULL or points to an initialised `se_engine_options`; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_new(
    opts: *const se_engine_options,
    out: *mut *mut se_engine,
) -> se_status {
    guard(|| {
        out_arg(out, "out")?;
        let engine = unsafe { build(opts.as_ref()) }?;
        unsafe { *out = Box::into_raw(Box::new(se_engine { engine })) };
        Ok(())
    })
}

/// Frees an engine. NULL is a no-op. No other call on it may be running.
///
/// # Safety
/// `engine` came from `se_engine_new` and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_free(engine: *mut se_engine) {
    boundary((), || {
        if !engine.is_null() {
            drop(unsafe { Box::from_raw(engine) });
        }
    })
}

unsafe fn engine_ref<'a>(engine: *const se_engine) -> Result<&'a Engine, se_status> {
    unsafe { engine.as_ref() }
        .map(|e| &e.engine)
        .ok_or_else(|| fail_with(se_status::SE_STATUS_NULL_ARGUMENT, "engine is NULL"))
}

fn pattern_arg(p: &str) -> Result<Pattern, se_status> {
    Pattern::parse(p).map_err(|e| fail(&e))
}

fn id_arg(i: &str) -> Result<Id, se_status> {
    Id::parse(i).map_err(|e| fail(&e))
}

/// Every secret matching `pattern` from every enabled provider whose pattern overlaps
/// it. On success `*out` owns a list (free with `se_envelope_list_free`); providers
/// that failed while others answered are in `se_envelope_list_failure`.
///
/// # Safety
/// `engine` is a live engine, `pattern` a NUL-terminated string, `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_get_secrets(
    engine: *const se_engine,
    pattern: *const c_char,
    out: *mut *mut se_envelope_list,
) -> se_status {
    guard(|| {
        out_arg(out, "out")?;
        let engine = unsafe { engine_ref(engine) }?;
        let pattern = pattern_arg(unsafe { str_arg(pattern, "pattern") }?)?;
        let (envelopes, failures) = engine
            .blocking()
            .get_secrets(&pattern)
            .map_err(|e| fail(&e))?
            .into_parts();
        let list = se_envelope_list::new(envelopes, &failures);
        unsafe { *out = Box::into_raw(Box::new(list)) };
        Ok(())
    })
}

/// Resolves an env list such as an OCI `process.env`: `n` entries `NAME=VALUE`, each
/// `se://` value replaced by its secret (DESIGN §6). `flags` is 0 or
/// `SE_ENV_CONTAINER_MODE`. On success `*out` owns the resolved list, in input order
/// (free with `se_string_list_free`, which zeroes it). `env` may be NULL when `n` is 0.
///
/// # Safety
/// `env` points to `n` NUL-terminated strings; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_resolve_env(
    engine: *const se_engine,
    env: *const *const c_char,
    n: usize,
    flags: c_int,
    out: *mut *mut se_string_list,
) -> se_status {
    guard(|| {
        out_arg(out, "out")?;
        let engine = unsafe { engine_ref(engine) }?;
        let flags = flags as u32;
        if flags & !SE_ENV_CONTAINER_MODE != 0 {
            return Err(fail_with(
                se_status::SE_STATUS_INVALID_ARGUMENT,
                &format!("unknown flags {flags:#x}"),
            ));
        }
        let entries = unsafe { str_array_arg(env, n, "env") }?;
        let mut vars = Vec::with_capacity(n);
        for (i, entry) in entries.into_iter().enumerate() {
            let (name, value) = entry.split_once('=').ok_or_else(|| {
                fail_with(
                    se_status::SE_STATUS_INVALID_ARGUMENT,
                    &format!("env[{i}] has no '='"),
                )
            })?;
            vars.push((OsString::from(name), OsString::from(value)));
        }
        let options = if flags & SE_ENV_CONTAINER_MODE != 0 {
            EnvOptions::container()
        } else {
            EnvOptions::host()
        };
        let resolved = engine
            .blocking()
            .resolve_env(vars, options)
            .map_err(|e| fail(&e))?;
        let mut items = Vec::with_capacity(resolved.len());
        for (k, v) in resolved {
            let (k, mut v) = (k.into_encoded_bytes(), v.into_encoded_bytes());
            // Sized for the NUL too, so CString::new never reallocates and leaves a
            // stray copy of the secret behind.
            let mut entry = Vec::with_capacity(k.len() + v.len() + 2);
            entry.extend_from_slice(&k);
            entry.push(b'=');
            entry.extend_from_slice(&v);
            v.zeroize();
            // resolve_env refuses NUL bytes in values, and C strings cannot carry them.
            let c = CString::new(entry).map_err(|e| {
                e.into_vec().zeroize();
                fail_with(
                    se_status::SE_STATUS_UNREPRESENTABLE,
                    "a resolved entry contains a NUL byte",
                )
            })?;
            items.push(c);
        }
        unsafe { *out = Box::into_raw(Box::new(se_string_list::new(items))) };
        Ok(())
    })
}

/// Stores `len` bytes at `value` under `id` in the default store (binary-safe).
///
/// # Safety
/// `id` is a NUL-terminated string; `value` points to `len` bytes (or is NULL with
/// `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_set_secret(
    engine: *mut se_engine,
    id: *const c_char,
    value: *const u8,
    len: usize,
) -> se_status {
    unsafe {
        se_engine_set_secret_with_metadata(
            engine,
            id,
            value,
            len,
            std::ptr::null(),
            std::ptr::null(),
            0,
        )
    }
}

/// `se_engine_set_secret` with `n` metadata pairs `keys[i]` = `values[i]`.
///
/// # Safety
/// As `se_engine_set_secret`; `keys` and `values` point to `n` NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_set_secret_with_metadata(
    engine: *mut se_engine,
    id: *const c_char,
    value: *const u8,
    len: usize,
    keys: *const *const c_char,
    values: *const *const c_char,
    n: usize,
) -> se_status {
    guard(|| {
        let engine = unsafe { engine_ref(engine) }?;
        let id = id_arg(unsafe { str_arg(id, "id") }?)?;
        if value.is_null() && len > 0 {
            return Err(fail_with(
                se_status::SE_STATUS_NULL_ARGUMENT,
                "value is NULL",
            ));
        }
        // Both arrays are checked before either is read: with one NULL, `n` says nothing
        // about how much of the other is readable.
        if (keys.is_null() || values.is_null()) && n > 0 {
            return Err(fail_with(
                se_status::SE_STATUS_NULL_ARGUMENT,
                "metadata keys or values is NULL",
            ));
        }
        let keys = unsafe { str_array_arg(keys, n, "keys") }?;
        let values = unsafe { str_array_arg(values, n, "values") }?;
        let metadata: Metadata = keys
            .into_iter()
            .zip(values)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let bytes = if len == 0 {
            Vec::new()
        } else {
            unsafe { std::slice::from_raw_parts(value, len) }.to_vec()
        };
        engine
            .blocking()
            .set(&id, SecretValue::new(bytes), metadata)
            .map_err(|e| fail(&e))
    })
}

/// Removes `id` from the default store; `SE_STATUS_NOT_FOUND` when absent.
///
/// # Safety
/// `id` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_remove_secret(
    engine: *mut se_engine,
    id: *const c_char,
) -> se_status {
    guard(|| {
        let engine = unsafe { engine_ref(engine) }?;
        let id = id_arg(unsafe { str_arg(id, "id") }?)?;
        engine.blocking().remove(&id).map_err(|e| fail(&e))
    })
}

/// The ids in the default store matching `pattern` (NULL for all), sorted, without
/// the engine's internal realm. On success `*out` owns the list.
///
/// # Safety
/// `pattern` is NULL or a NUL-terminated string; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_list_secrets(
    engine: *const se_engine,
    pattern: *const c_char,
    out: *mut *mut se_string_list,
) -> se_status {
    guard(|| {
        out_arg(out, "out")?;
        let engine = unsafe { engine_ref(engine) }?;
        let pattern = if pattern.is_null() {
            pattern_arg("**")?
        } else {
            pattern_arg(unsafe { str_arg(pattern, "pattern") }?)?
        };
        let items = engine.blocking().list(&pattern).map_err(|e| fail(&e))?;
        let ids = items
            .iter()
            .map(|l| super::util::c_string(l.id.as_str()))
            .collect();
        unsafe { *out = Box::into_raw(Box::new(se_string_list::new(ids))) };
        Ok(())
    })
}

/// Every provider with name, pattern, configurability, state and message. On success
/// `*out` owns the list (free with `se_plugin_list_free`).
///
/// # Safety
/// `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_plugins(
    engine: *const se_engine,
    out: *mut *mut se_plugin_list,
) -> se_status {
    guard(|| {
        out_arg(out, "out")?;
        let engine = unsafe { engine_ref(engine) }?;
        unsafe { *out = Box::into_raw(Box::new(se_plugin_list::new(engine.plugins()))) };
        Ok(())
    })
}

/// Enables a configurable provider (re-initialising a crashed one) and records it.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_enable_plugin(
    engine: *mut se_engine,
    name: *const c_char,
) -> se_status {
    guard(|| {
        let engine = unsafe { engine_ref(engine) }?;
        let name = unsafe { str_arg(name, "name") }?;
        engine.blocking().enable(name).map_err(|e| fail(&e))
    })
}

/// Disables a configurable provider and records it.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_disable_plugin(
    engine: *mut se_engine,
    name: *const c_char,
) -> se_status {
    guard(|| {
        let engine = unsafe { engine_ref(engine) }?;
        let name = unsafe { str_arg(name, "name") }?;
        engine.blocking().disable(name).map_err(|e| fail(&e))
    })
}
