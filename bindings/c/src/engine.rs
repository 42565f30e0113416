//! The engine handle: create, look up, resolve an env list, store, plugins.

use std::ffi::{CString, OsString, c_char, c_int};

use zeroize::Zeroize;

use super::gate::{Entered, Gate, retire};
use super::lists::{se_envelope_list, se_plugin_list, se_string_list};
use super::pointers::{
    Out, bytes_arg, into_handle, non_null, opt_str_arg, slice_arg, str_arg, str_array_arg,
    str_elements, try_ref,
};
use super::se_status;
use super::util::{boundary, fail, fail_with, guard};
use secrets_engine::{
    DefaultOptions, Engine, EnvOptions, Id, Metadata, Pattern, SecretValue, StoreChoice,
};

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
/// `se_env_options` flag: only references inside `allow` are resolved (an empty
/// `allow` then refuses every reference). Without it, `allow` is ignored.
pub const SE_ENV_RESTRICT: u32 = 2;

/// Options for `se_engine_resolve_env_with`. Zero-initialise it
/// (`se_env_options o = {0};`): zero means the default for every field.
#[repr(C)]
pub struct se_env_options {
    /// `SE_ENV_CONTAINER_MODE` and/or `SE_ENV_RESTRICT`.
    pub flags: u32,
    /// With `SE_ENV_RESTRICT`: `allow_len` patterns; a reference is
    /// resolved only when one of them includes its whole pattern, any other is
    /// refused with `SE_STATUS_PERMISSION_DENIED` naming its variable and is never
    /// looked up. May be NULL when `allow_len` is 0.
    pub allow: *const *const c_char,
    /// Number of patterns at `allow`.
    pub allow_len: usize,
    /// Distinct references one env list may hold; more is
    /// `SE_STATUS_INVALID_ARGUMENT` before any lookup. 0 for 256.
    pub max_references: u32,
    /// References handed to the providers at once; 0 for 32.
    pub max_concurrent_lookups: u32,
}

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

/// An engine. Create with `se_engine_new`, free with `se_engine_free`. Thread-safe:
/// any function may be called on one engine from many threads at once, including
/// `se_engine_free` (see there). In the `# Safety` sections, "a live engine" is any
/// handle `se_engine_new` returned: freeing it does not make passing it unsafe, only
/// refused.
pub struct se_engine {
    gate: Gate,
}

/// The engine `opts` describe (the default engine for `None`).
///
/// # Safety
/// `opts.config_path` is NULL or points to a NUL-terminated string.
unsafe fn build(opts: Option<&se_engine_options>) -> Result<Engine, se_status> {
    let Some(o) = opts else {
        return secrets_engine::default_engine_blocking(DefaultOptions::default())
            .map(|(e, _)| e)
            .map_err(|e| fail(&e));
    };
    // Read only when used, as documented: with no_config set, config_path may be
    // anything.
    let config_path = if o.no_config {
        None
    } else {
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        unsafe { opt_str_arg(o.config_path, "options.config_path") }?.map(Into::into)
    };
    let store = match o.store {
        SE_STORE_AUTO => StoreChoice::Auto,
        SE_STORE_KEYCHAIN => StoreChoice::Keychain,
        SE_STORE_FILE => StoreChoice::File,
        SE_STORE_MEMORY => StoreChoice::Memory,
        other => {
            return Err(fail_with(
                se_status::SE_STATUS_INVALID_ARGUMENT,
                &format!("options.store is {other}, not one of the SE_STORE_* values"),
            ));
        }
    };
    let options = DefaultOptions::flat(store, config_path, o.no_config, o.deadline_ms);
    secrets_engine::default_engine_blocking(options)
        .map(|(e, _)| e)
        .map_err(|e| fail(&e))
}

/// Creates an engine. With `opts` NULL it is the default engine, with the same
/// providers and default store as `docker-pass`. On success `*out` owns a new engine;
/// on failure `*out` is left untouched (as for every `out` parameter).
///
/// # Safety
/// `opts` is NULL or points to an initialised `se_engine_options` whose
/// `config_path` is NULL or a NUL-terminated string; `out` is NULL or points to a
/// writable `se_engine *`. Neither is modified by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_new(
    opts: *const se_engine_options,
    out: *mut *mut se_engine,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or writable (this function's contract).
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: NULL or an initialised, unshared `se_engine_options` (this
        // function's contract). NULL asks for the default engine.
        let opts = unsafe { try_ref(opts, "opts") }.ok();
        // SAFETY: `config_path` is NULL or a NUL-terminated string (this function's
        // contract).
        let engine = unsafe { build(opts) }?;
        out.write(into_handle(se_engine {
            gate: Gate::new(engine),
        }));
        Ok(())
    })
}

/// Frees an engine. NULL is a no-op.
///
/// Other threads may still be calling functions on `engine`, or start calls while
/// this one runs: calls already running are waited for (this call returns once they
/// have all returned and the engine, its providers and their userdata are released);
/// calls starting once this one has begun fail with `SE_STATUS_INVALID_ARGUMENT`,
/// and so does any call on the handle after it returned (freeing it again does
/// nothing). For that the handle's own few dozen bytes stay allocated until the
/// process exits. Lists obtained from the engine stay valid. A callback abandoned at
/// its deadline may still be running after this returns (see
/// `se_provider_callbacks`). Do not call it from a provider
/// callback of the same engine: it would wait for the call that runs the callback,
/// until that call's deadline.
///
/// # Safety
/// `engine` is NULL or came from `se_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_free(engine: *mut se_engine) {
    boundary((), || {
        // SAFETY: NULL or a handle of `se_engine_new` (this function's contract),
        // which is never deallocated (`gate` module), so it is live even when freed
        // before, and only shared references to it are ever made.
        let Ok(handle) = (unsafe { try_ref(engine, "engine") }) else {
            return;
        };
        if let Some(last) = handle.gate.close() {
            retire(engine.cast_const());
            drop(last);
        }
    })
}

/// The engine behind a handle argument, entered for the duration of the call (so
/// `se_engine_free` waits for it); an error once the engine is being freed.
///
/// # Safety
/// `engine` is NULL or came from `se_engine_new` (freed or not: handles are never
/// deallocated).
pub(crate) unsafe fn engine_ref<'a>(engine: *const se_engine) -> Result<Entered<'a>, se_status> {
    // SAFETY: NULL or a handle of `se_engine_new` (this function's contract), never
    // deallocated; the gate is thread-safe, so a shared reference may coexist with
    // other calls.
    let handle: &'a se_engine = unsafe { try_ref(engine, "engine") }?;
    handle.gate.enter().ok_or_else(|| {
        fail_with(
            se_status::SE_STATUS_INVALID_ARGUMENT,
            "engine was freed (se_engine_free)",
        )
    })
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
/// `engine` is NULL or a live engine from `se_engine_new`; `pattern` is NULL or a
/// NUL-terminated string; `out` is NULL or points to a writable
/// `se_envelope_list *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_get_secrets(
    engine: *const se_engine,
    pattern: *const c_char,
    out: *mut *mut se_envelope_list,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or writable (this function's contract).
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: NULL or a live engine (this function's contract).
        let engine = unsafe { engine_ref(engine) }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let pattern = pattern_arg(unsafe { str_arg(pattern, "pattern") }?)?;
        let (envelopes, failures) = engine
            .blocking()
            .get_secrets(&pattern)
            .map_err(|e| fail(&e))?
            .into_parts();
        out.write(into_handle(se_envelope_list::new(envelopes, &failures)));
        Ok(())
    })
}

/// Resolves an env list such as an OCI `process.env`: `n` entries `NAME=VALUE`, each
/// `se://` value replaced by its secret (docs/design.md §9). `flags` is 0 or
/// `SE_ENV_CONTAINER_MODE`. On success `*out` owns the resolved list, in input order
/// (free with `se_string_list_free`, which zeroes it). `env` may be NULL when `n` is 0.
/// The same as `se_engine_resolve_env_with` with `flags` and every other option at
/// its default (at most 256 distinct references, no allow-list).
///
/// # Safety
/// `engine` is NULL or a live engine from `se_engine_new`; `env` is NULL or (when `n`
/// is not 0) points to `n` pointers, each NULL or a NUL-terminated string; `out` is
/// NULL or points to a writable `se_string_list *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_resolve_env(
    engine: *const se_engine,
    env: *const *const c_char,
    n: usize,
    flags: c_int,
    out: *mut *mut se_string_list,
) -> se_status {
    guard(|| {
        let flags = flags as u32;
        if flags & !SE_ENV_CONTAINER_MODE != 0 {
            return Err(fail_with(
                se_status::SE_STATUS_INVALID_ARGUMENT,
                &format!("unknown flags {flags:#x}"),
            ));
        }
        let options = if flags & SE_ENV_CONTAINER_MODE != 0 {
            EnvOptions::container()
        } else {
            EnvOptions::host()
        };
        // SAFETY: the same contract as this function's.
        unsafe { resolve_env(engine, env, n, options, out) }
    })
}

/// `se_engine_resolve_env` with options: container mode, an allow-list of patterns
/// (`SE_ENV_RESTRICT`), the cap on distinct references and on lookups at once (see
/// `se_env_options`). `opts` may be NULL for the defaults. The internal realm
/// (`docker/secrets-engine` and every id below it) is never resolved.
///
/// # Safety
/// As for `se_engine_resolve_env`; `opts` is NULL or points to an initialised
/// `se_env_options` whose `allow` is NULL or (when `allow_len` is not 0) points to
/// `allow_len` pointers, each NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_resolve_env_with(
    engine: *const se_engine,
    env: *const *const c_char,
    n: usize,
    opts: *const se_env_options,
    out: *mut *mut se_string_list,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or an initialised `se_env_options` (this function's contract).
        let options = match unsafe { try_ref(opts, "opts") } {
            // SAFETY: `allow` as this function's contract says.
            Ok(o) => unsafe { env_options(o) }?,
            Err(_) => EnvOptions::host(),
        };
        // SAFETY: the same contract as this function's.
        unsafe { resolve_env(engine, env, n, options, out) }
    })
}

/// The `EnvOptions` `o` describes.
///
/// # Safety
/// `o.allow` is NULL or (when `o.allow_len` is not 0) points to `o.allow_len`
/// pointers, each NULL or a NUL-terminated string.
unsafe fn env_options(o: &se_env_options) -> Result<EnvOptions, se_status> {
    if o.flags & !(SE_ENV_CONTAINER_MODE | SE_ENV_RESTRICT) != 0 {
        return Err(fail_with(
            se_status::SE_STATUS_INVALID_ARGUMENT,
            &format!("options.flags has unknown bits {:#x}", o.flags),
        ));
    }
    let mut options = if o.flags & SE_ENV_CONTAINER_MODE != 0 {
        EnvOptions::container()
    } else {
        EnvOptions::host()
    };
    if o.flags & SE_ENV_RESTRICT != 0 {
        // SAFETY: NULL, or `allow_len` pointers each NULL or a NUL-terminated string
        // (this function's contract).
        let allow = unsafe { str_array_arg(o.allow, o.allow_len, "options.allow") }?;
        let patterns = allow
            .into_iter()
            .map(pattern_arg)
            .collect::<Result<Vec<_>, _>>()?;
        options = options.with_allow(patterns);
    }
    if o.max_references != 0 {
        options = options.with_max_references(o.max_references as usize);
    }
    if o.max_concurrent_lookups != 0 {
        options = options.with_max_concurrent_lookups(o.max_concurrent_lookups as usize);
    }
    Ok(options)
}

/// The body of both resolve functions.
///
/// # Safety
/// As for `se_engine_resolve_env`.
unsafe fn resolve_env(
    engine: *const se_engine,
    env: *const *const c_char,
    n: usize,
    options: EnvOptions,
    out: *mut *mut se_string_list,
) -> Result<(), se_status> {
    // SAFETY: NULL or writable (the caller's contract).
    let out = unsafe { Out::new(out, "out") }?;
    // SAFETY: NULL or a live engine (the caller's contract).
    let engine = unsafe { engine_ref(engine) }?;
    // SAFETY: NULL, or `n` pointers each NULL or to a NUL-terminated string (the
    // caller's contract).
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
    let resolved = engine
        .blocking()
        .resolve_env(vars, options)
        .map_err(|e| fail(&e))?;
    out.write(into_handle(se_string_list::new(env_strings(resolved)?)));
    Ok(())
}

/// `NAME=VALUE` C strings of a resolved env list. On failure every string already
/// built and every value not yet converted is zeroed before it is freed.
pub(crate) fn env_strings(resolved: Vec<(OsString, OsString)>) -> Result<Vec<CString>, se_status> {
    /// Zeroes the strings it holds when dropped (on the error path).
    struct Built(Vec<CString>);
    impl Drop for Built {
        fn drop(&mut self) {
            for s in self.0.drain(..) {
                s.into_bytes_with_nul().zeroize();
            }
        }
    }
    let mut built = Built(Vec::with_capacity(resolved.len()));
    let mut rest = resolved.into_iter();
    while let Some((k, v)) = rest.next() {
        let (k, mut v) = (k.into_encoded_bytes(), v.into_encoded_bytes());
        // Sized for the NUL too, so CString::new never reallocates and leaves a
        // stray copy of the secret behind.
        let mut entry = Vec::with_capacity(k.len() + v.len() + 2);
        entry.extend_from_slice(&k);
        entry.push(b'=');
        entry.extend_from_slice(&v);
        v.zeroize();
        match CString::new(entry) {
            Ok(c) => built.0.push(c),
            // resolve_env refuses NUL bytes in values, and C strings cannot carry them.
            Err(e) => {
                e.into_vec().zeroize();
                for (_, v) in rest {
                    v.into_encoded_bytes().zeroize();
                }
                // `built` zeroes what it holds as it goes.
                return Err(fail_with(
                    se_status::SE_STATUS_UNREPRESENTABLE,
                    "a resolved entry contains a NUL byte",
                ));
            }
        }
    }
    Ok(std::mem::take(&mut built.0))
}

/// Stores `len` bytes at `value` under `id` in the default store (binary-safe).
///
/// # Safety
/// `engine` is NULL or a live engine from `se_engine_new`; `id` is NULL or a
/// NUL-terminated string; `value` is NULL or points to `len` readable bytes (NULL
/// is refused unless `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_set_secret(
    engine: *mut se_engine,
    id: *const c_char,
    value: *const u8,
    len: usize,
) -> se_status {
    // SAFETY: this function's contract is that of the call below for `engine`, `id`
    // and `value`; no metadata (NULL arrays with `n` 0).
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
/// As `se_engine_set_secret` for `engine`, `id`, `value` and `len`; `keys` and
/// `values` are each NULL or (when `n` is not 0) point to `n` pointers, each NULL or
/// a NUL-terminated string.
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
        // SAFETY: NULL or a live engine (this function's contract).
        let engine = unsafe { engine_ref(engine) }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let id = id_arg(unsafe { str_arg(id, "id") }?)?;
        // SAFETY: NULL or `len` readable bytes (this function's contract).
        let value = unsafe { bytes_arg(value, len, "value") }?;
        // Both arrays are checked before either is borrowed: with one NULL, `n` says
        // nothing about how much of the other is readable.
        if n > 0 {
            const WHAT: &str = "metadata keys or values";
            non_null(keys, WHAT).and(non_null(values, WHAT))?;
        }
        // SAFETY: NULL with `n` 0, else `n` readable pointers (checked non-NULL above,
        // this function's contract).
        let (keys, values) =
            unsafe { (slice_arg(keys, n, "keys")?, slice_arg(values, n, "values")?) };
        // SAFETY: each element is NULL or a NUL-terminated string (this function's
        // contract).
        let keys = unsafe { str_elements(keys, "keys") }?;
        // SAFETY: as for `keys`.
        let values = unsafe { str_elements(values, "values") }?;
        let metadata: Metadata = keys
            .into_iter()
            .zip(values)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        engine
            .blocking()
            .set(&id, SecretValue::new(value.to_vec()), metadata)
            .map_err(|e| fail(&e))
    })
}

/// Removes `id` from the default store; `SE_STATUS_NOT_FOUND` when absent.
///
/// # Safety
/// `engine` is NULL or a live engine from `se_engine_new`; `id` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_remove_secret(
    engine: *mut se_engine,
    id: *const c_char,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or a live engine (this function's contract).
        let engine = unsafe { engine_ref(engine) }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let id = id_arg(unsafe { str_arg(id, "id") }?)?;
        engine.blocking().remove(&id).map_err(|e| fail(&e))
    })
}

/// The ids in the default store matching `pattern` (NULL for all), sorted, without
/// the engine's internal realm. On success `*out` owns the list.
///
/// # Safety
/// `engine` is NULL or a live engine from `se_engine_new`; `pattern` is NULL or a
/// NUL-terminated string; `out` is NULL or points to a writable `se_string_list *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_list_secrets(
    engine: *const se_engine,
    pattern: *const c_char,
    out: *mut *mut se_string_list,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or writable (this function's contract).
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: NULL or a live engine (this function's contract).
        let engine = unsafe { engine_ref(engine) }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let pattern = unsafe { opt_str_arg(pattern, "pattern") }?;
        let pattern = pattern_arg(pattern.unwrap_or("**"))?;
        let items = engine.blocking().list(&pattern).map_err(|e| fail(&e))?;
        let ids = items
            .iter()
            .map(|l| super::util::c_string(l.id.as_str()))
            .collect();
        out.write(into_handle(se_string_list::new(ids)));
        Ok(())
    })
}

/// Every provider with name, pattern, configurability, state and message. On success
/// `*out` owns the list (free with `se_plugin_list_free`).
///
/// # Safety
/// `engine` is NULL or a live engine from `se_engine_new`; `out` is NULL or points to
/// a writable `se_plugin_list *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_plugins(
    engine: *const se_engine,
    out: *mut *mut se_plugin_list,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or writable (this function's contract).
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: NULL or a live engine (this function's contract).
        let engine = unsafe { engine_ref(engine) }?;
        out.write(into_handle(se_plugin_list::new(engine.plugins())));
        Ok(())
    })
}

/// Enables a configurable provider (re-initialising a crashed one) and records it.
///
/// # Safety
/// `engine` is NULL or a live engine from `se_engine_new`; `name` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_enable_plugin(
    engine: *mut se_engine,
    name: *const c_char,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or a live engine (this function's contract).
        let engine = unsafe { engine_ref(engine) }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let name = unsafe { str_arg(name, "name") }?;
        engine.blocking().enable(name).map_err(|e| fail(&e))
    })
}

/// Disables a configurable provider and records it.
///
/// # Safety
/// `engine` is NULL or a live engine from `se_engine_new`; `name` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn se_engine_disable_plugin(
    engine: *mut se_engine,
    name: *const c_char,
) -> se_status {
    guard(|| {
        // SAFETY: NULL or a live engine (this function's contract).
        let engine = unsafe { engine_ref(engine) }?;
        // SAFETY: NULL or a NUL-terminated string (this function's contract).
        let name = unsafe { str_arg(name, "name") }?;
        engine.blocking().disable(name).map_err(|e| fail(&e))
    })
}
