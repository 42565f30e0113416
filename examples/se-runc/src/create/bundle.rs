//! The OCI bundle's `config.json`: its `process.env` read, and the file written back
//! with the resolved values.

use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// A bundle's `config.json`, parsed; every field other than `process.env` is kept
/// as it was.
#[derive(Debug)]
pub struct Config {
    path: PathBuf,
    json: serde_json::Value,
}

/// A `config.json` se-runc cannot use.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading, writing or renaming failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not an OCI runtime config.
    #[error("{}: {why}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl Config {
    /// Reads the spec at `path` (`<bundle>/config.json` unless runc is told otherwise).
    pub fn read(path: &Path) -> Result<Config, BundleError> {
        let path = path.to_owned();
        let raw = std::fs::read(&path).map_err(|source| BundleError::Io {
            path: path.clone(),
            source,
        })?;
        let json = serde_json::from_slice(&raw).map_err(|e| BundleError::Invalid {
            path: path.clone(),
            why: e.to_string(),
        })?;
        Ok(Config { path, json })
    }

    /// `process.env`; empty when absent.
    pub fn env(&self) -> Result<Vec<String>, BundleError> {
        match &self.json["process"]["env"] {
            serde_json::Value::Null => Ok(Vec::new()),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.invalid("process.env holds a non-string")),
            _ => Err(self.invalid("process.env is not a list")),
        }
    }

    fn invalid(&self, why: &str) -> BundleError {
        BundleError::Invalid {
            path: self.path.clone(),
            why: why.to_owned(),
        }
    }

    /// Replaces `process.env` with `env` and writes the file back: a new file
    /// readable by its owner only (0600: it now holds secrets), in the same
    /// directory, renamed over the spec, so runc reads the old file or the whole new
    /// one, never a torn one. The serialized bytes are wiped.
    ///
    /// Not synced: a bundle is the runtime state of one start, on a tmpfs on most
    /// hosts, and containerd writes a fresh one after a crash, so durability buys
    /// nothing, while an fsync on a disk costs milliseconds on every container start.
    pub fn write_env(mut self, env: Vec<String>) -> Result<(), BundleError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| BundleError::Io { path, source }
        };
        self.json["process"]["env"] = serde_json::Value::from(env);
        let bytes =
            Zeroizing::new(
                serde_json::to_vec(&self.json).map_err(|e| BundleError::Invalid {
                    path: self.path.clone(),
                    why: e.to_string(),
                })?,
            );
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // tempfile creates it with O_EXCL and mode 0600.
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.json.")
            .tempfile_in(dir)
            .map_err(io(dir))?;
        tmp.write_all(&bytes).map_err(io(tmp.path()))?;
        tmp.persist(&self.path).map_err(|e| BundleError::Io {
            path: self.path.clone(),
            source: e.error,
        })?;
        wipe_env(&mut self.json);
        Ok(())
    }
}

/// Zeroes the strings of `process.env` (they hold secrets now).
fn wipe_env(json: &mut serde_json::Value) {
    if let Some(items) = json["process"]["env"].as_array_mut() {
        for item in items {
            if let serde_json::Value::String(s) = item {
                zeroize::Zeroize::zeroize(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn env_is_replaced_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"env":["A=se://a","B=b"]},"root":{"path":"rootfs"}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = Config::read(&path).unwrap();
        assert_eq!(config.env().unwrap(), ["A=se://a", "B=b"]);
        config
            .write_env(vec!["A=value".into(), "B=b".into()])
            .unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"ociVersion":"1.0.2","process":{"args":["sh"],"env":["A=value","B=b"]},"root":{"path":"rootfs"}})
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Nothing else is left in the bundle.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.json"]);
    }

    #[test]
    fn invalid_configs() {
        let dir = tempfile::tempdir().unwrap();
        let e = Config::read(&dir.path().join("config.json")).unwrap_err();
        assert!(matches!(e, BundleError::Io { .. }));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"process":{"env":"A=b"}}"#,
        )
        .unwrap();
        let e = Config::read(&dir.path().join("config.json"))
            .unwrap()
            .env()
            .unwrap_err();
        assert!(e.to_string().contains("process.env is not a list"), "{e}");
        std::fs::write(dir.path().join("config.json"), r#"{"process":{}}"#).unwrap();
        assert!(
            Config::read(&dir.path().join("config.json"))
                .unwrap()
                .env()
                .unwrap()
                .is_empty()
        );
    }
}
