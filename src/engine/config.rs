//! The persisted provider choices: which configurable providers are disabled or
//! crashed, in a small JSON file under the user's config directory.
//!
//! The file is read once when an engine is built and rewritten on every change:
//! read, change and write happen under an exclusive lock on a lock file beside it
//! (`.<name>.lock`), so engines in one process or in several never lose each other's
//! changes; each write goes to a temporary file of its own, created exclusively,
//! then renamed over the file, so a crash never leaves half a file. A file that
//! cannot be parsed is an error naming the file: resetting it silently would
//! re-enable providers the user turned off.
//!
//! The same rules as the file store protect it (see `guarded_dir`): the directory
//! holding the config file, wherever it is (the default location or one the
//! embedder or `$SECRETS_ENGINE_CONFIG` names), must belong to the user
//! and not be writable by group or others, or loading and updating fail with an
//! error naming it. The rule applies to that directory only, not to its parents,
//! and the path to it is followed as given (a linked config directory works);
//! inside it no link is ever followed, and a config file larger than
//! [`MAX_CONFIG_BYTES`] is refused.

mod guarded_dir;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::hash::{BuildHasher, RandomState};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use guarded_dir::{DirError, GuardedDir, parent_of};

/// Environment variable naming the config file, overriding the default location.
pub const CONFIG_ENV: &str = "SECRETS_ENGINE_CONFIG";

/// A config file larger than this is refused: this library writes a few hundred
/// bytes, and a device or a huge file planted in its place must not exhaust memory.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// How long an update waits for another writer's lock before failing; a write
/// holds it for milliseconds, so only a stuck holder makes anyone wait this long.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Where the engine keeps its provider choices.
///
/// Wherever it is, the directory holding the file must belong to the user and not
/// be writable by group or others ([`Error::Config`] names it otherwise); a
/// missing directory is created with mode 0700 on the first change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigLocation {
    /// `$SECRETS_ENGINE_CONFIG`, else `<config dir>/secrets-engine/config.json`
    /// (`$XDG_CONFIG_HOME` or `~/.config` on Linux).
    Default,
    /// This file.
    Path(PathBuf),
    /// Nothing is read or written; choices last as long as the engine.
    None,
}

impl ConfigLocation {
    pub(crate) fn resolve(&self) -> Option<PathBuf> {
        match self {
            ConfigLocation::Default => match std::env::var_os(CONFIG_ENV) {
                Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
                _ => dirs::config_dir().map(|d| d.join("secrets-engine").join("config.json")),
            },
            ConfigLocation::Path(p) => Some(p.clone()),
            ConfigLocation::None => None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub providers: BTreeMap<String, SavedState>,
    /// Launched plugins that last registered as access-control modules: until one
    /// registers again in a run, client lookups fail closed while it is not up
    /// (docs/design.md §14). Omitted when empty, so older files read the same.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub access_control: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "lowercase")]
pub(crate) enum SavedState {
    Enabled,
    Disabled,
    Crashed { reason: String },
}

fn config_error(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |reason| Error::Config {
        path: path.to_owned(),
        reason,
    }
}

/// The config's directory, checked; `None` when it does not exist and `create` is
/// not set.
fn open_dir(path: &Path, create: bool) -> Result<Option<GuardedDir>, Error> {
    let err = config_error(path);
    let dir = parent_of(path);
    GuardedDir::open(&dir, create).map_err(|e| match e {
        DirError::Untrusted(reason) => err(reason),
        DirError::Io(e) if create => err(format!(
            "cannot create or open its directory {}: {e}",
            dir.display()
        )),
        DirError::Io(e) => err(format!("cannot open its directory {}: {e}", dir.display())),
    })
}

fn file_name(path: &Path) -> Result<&OsStr, Error> {
    path.file_name()
        .ok_or_else(|| config_error(path)("the path names no file".into()))
}

/// `.<name><suffix>`: the lock file and temporary files beside the config.
fn beside(name: &OsStr, suffix: &str) -> OsString {
    let mut s = OsString::from(".");
    s.push(name);
    s.push(suffix);
    s
}

/// Reads the config file; a missing file (or directory) is the empty config.
pub(crate) fn load(path: &Path) -> Result<ConfigFile, Error> {
    match open_dir(path, false)? {
        Some(dir) => read(&dir, file_name(path)?, path),
        None => Ok(ConfigFile::default()),
    }
}

fn read(dir: &GuardedDir, name: &OsStr, path: &Path) -> Result<ConfigFile, Error> {
    let err = config_error(path);
    let file = match dir.open_read(name) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(ConfigFile::default()),
        Err(e) => return Err(err(format!("cannot read: {e}"))),
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(err(format!(
            "larger than {MAX_CONFIG_BYTES} bytes, so not a config file; fix or remove it"
        )));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| err(format!("not a valid config file ({e}); fix or remove it")))
}

/// Re-reads the file, applies `change` and writes it back atomically, all under the
/// lock, so choices made meanwhile by other engines or processes for other
/// providers are kept.
pub(crate) fn update(path: &Path, change: impl FnOnce(&mut ConfigFile)) -> Result<(), Error> {
    let err = config_error(path);
    let name = file_name(path)?;
    let dir = open_dir(path, true)?.ok_or_else(|| err("its directory vanished".into()))?;
    let lock_name = beside(name, ".lock");
    let lock_path = dir.path().join(&lock_name);
    let lock = dir.open_lock(&lock_name).map_err(|e| {
        err(format!(
            "cannot open its lock file {}: {e}",
            lock_path.display()
        ))
    })?;
    lock_within(&lock, LOCK_WAIT)
        .map_err(|reason| err(format!("cannot lock {}: {reason}", lock_path.display())))?;
    remove_strays(&dir, name);
    let mut file = read(&dir, name, path)?;
    change(&mut file);
    let mut json = serde_json::to_vec_pretty(&file).map_err(|e| err(e.to_string()))?;
    json.push(b'\n');
    let (tmp, mut out) = create_temp(&dir, name).map_err(|e| {
        err(format!(
            "cannot create a temporary file in {}: {e}",
            dir.path().display()
        ))
    })?;
    let written = out
        .write_all(&json)
        .and_then(|()| out.sync_all())
        .and_then(|()| dir.rename(&tmp, name));
    drop(out);
    written.map_err(|e| {
        let _ = dir.remove(&tmp);
        err(format!("cannot write: {e}"))
    })
    // The lock is released when `lock` closes, after the rename.
}

/// Takes `lock` exclusively, polling so a stuck holder costs at most `wait`.
fn lock_within(lock: &std::fs::File, wait: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(e.to_string()),
        }
        if start.elapsed() >= wait {
            return Err(format!(
                "another writer has held it for {} s",
                wait.as_secs()
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// A new temporary file beside the config: a name no other writer, thread or
/// process, uses (process id, a counter and random bits), created exclusively so a
/// planted file or link at that name is an error, never written through.
fn create_temp(dir: &GuardedDir, name: &OsStr) -> std::io::Result<(OsString, std::fs::File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut attempt = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let random = RandomState::new().hash_one((std::process::id(), n, Instant::now()));
        let tmp = beside(
            name,
            &format!(".{}.{n}.{random:016x}.tmp", std::process::id()),
        );
        match dir.create_new(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes temporary files left by writers that died mid-write. Called under the
/// lock: every writer holds it from creating its temporary file to renaming it, so
/// any such file now is a leftover. Best effort: a leftover costs disk, not
/// correctness.
fn remove_strays(dir: &GuardedDir, name: &OsStr) {
    let (Some(prefix), Ok(names)) = (beside(name, ".").into_string().ok(), dir.names()) else {
        return;
    };
    for n in names {
        if let Some(n) = n.to_str()
            && n.starts_with(&prefix)
            && n.ends_with(".tmp")
            && let Err(e) = dir.remove(OsStr::new(n))
        {
            tracing::debug!(file = n, error = %e, "could not remove a leftover temporary file");
        }
    }
}
