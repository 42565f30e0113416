//! The persisted provider choices: which configurable providers are disabled or
//! crashed, in a small JSON file under the user's config directory.
//!
//! The file is read once when an engine is built and rewritten (temp file + rename, so
//! a crash never leaves half a file) on every change. A file that cannot be parsed is
//! an error naming the file: resetting it silently would re-enable providers the user
//! turned off.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Environment variable naming the config file, overriding the default location.
pub const CONFIG_ENV: &str = "SECRETS_ENGINE_CONFIG";

/// Where the engine keeps its provider choices.
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "lowercase")]
pub(crate) enum SavedState {
    Enabled,
    Disabled,
    Crashed { reason: String },
}

pub(crate) fn load(path: &Path) -> Result<ConfigFile, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Config {
            path: path.to_owned(),
            reason: format!("not a valid config file ({e}); fix or remove it"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(Error::Config {
            path: path.to_owned(),
            reason: format!("cannot read: {e}"),
        }),
    }
}

/// Re-reads the file, applies `change` and writes it back atomically, so choices made
/// by other processes for other providers are kept.
pub(crate) fn update(path: &Path, change: impl FnOnce(&mut ConfigFile)) -> Result<(), Error> {
    let mut file = load(path)?;
    change(&mut file);
    let err = |reason: String| Error::Config {
        path: path.to_owned(),
        reason,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create its directory: {e}")))?;
    let json = serde_json::to_vec_pretty(&file).map_err(|e| err(e.to_string()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config"),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(format!("cannot write: {e}"))
    })
}
