//! The store's directories on Windows, reached through paths: Windows has no
//! `openat`, and a directory handle cannot open names relative to itself through
//! `std`.
//!
//! What the Unix version checks on descriptors is checked here on paths, without
//! following links: a subdirectory, an entry or the lock file that is a symbolic link
//! or a junction is an error (never followed), an entry must be a regular file of at
//! most `max` bytes, and temporary files are created with `CREATE_NEW`. There is no
//! owner-and-mode rule: a Windows profile's data directory is closed to other users by
//! its inherited ACL, which is what the rule checks on Unix. Between the check and the
//! open a path can change, which the descriptor-based walk rules out on Unix; the
//! store's directory is the user's own, so only the user's own processes could race it.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{io, too_large};
use crate::error::Error;

/// A directory of the store (see the module docs). The path is used for every access.
pub(in crate::providers::file) struct Dir {
    path: PathBuf,
}

fn link_refused(path: &Path) -> Error {
    Error::Io {
        context: format!(
            "{} is a symbolic link or junction; the file store never follows links",
            path.display()
        ),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "a link"),
    }
}

impl Dir {
    /// The store's root. Links in `path` itself are followed (the user named it).
    pub(in crate::providers::file) fn open_root(
        path: &Path,
        create: bool,
    ) -> Result<Option<Dir>, Error> {
        if create {
            std::fs::create_dir_all(path).map_err(io(format!("creating {}", path.display())))?;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Ok(Some(Dir {
                path: path.to_owned(),
            })),
            Ok(_) => Err(Error::Io {
                context: format!("opening {}", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(format!("opening {}", path.display()))(e)),
        }
    }

    /// The subdirectory `name`, never through a link; created when asked.
    pub(in crate::providers::file) fn sub(
        &self,
        name: &str,
        create: bool,
    ) -> Result<Option<Dir>, Error> {
        let path = self.path.join(name);
        if create {
            match std::fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(format!("creating {}", path.display()))(e)),
            }
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_symlink() => Err(link_refused(&path)),
            Ok(m) if m.is_dir() => Ok(Some(Dir { path })),
            Ok(_) => Err(Error::Io {
                context: format!("opening {}", path.display()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(format!("opening {}", path.display()))(e)),
        }
    }

    /// `dir/name` opened to look at names only, as on Unix. There is no ownership
    /// check here (the profile directory's access rules guard the store), so the
    /// second half, the check's complaint, is always `None`.
    pub(in crate::providers::file) fn open_for_names(
        dir: &Path,
        name: &str,
    ) -> Result<Option<(Dir, Option<Error>)>, Error> {
        let Some(root) = Dir::open_root(dir, false)? else {
            return Ok(None);
        };
        Ok(root.sub(name, false)?.map(|sub| (sub, None)))
    }

    /// The path of `name` in this directory.
    pub(in crate::providers::file) fn path_of(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Whether something named `name` is here, of any type, never following a link.
    pub(in crate::providers::file) fn exists(&self, name: &str) -> Result<bool, Error> {
        let path = self.path_of(name);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(format!("checking {}", path.display()))(e)),
        }
    }

    /// The names in this directory.
    pub(in crate::providers::file) fn names(&self) -> Result<Vec<OsString>, Error> {
        let context = || format!("listing {}", self.path.display());
        std::fs::read_dir(&self.path)
            .map_err(io(context()))?
            .map(|e| e.map(|e| e.file_name()).map_err(io(context())))
            .collect()
    }

    /// Reads `name`, at most `max` bytes: `None` when it does not exist. A link, a
    /// directory or a file over `max` is an error naming the file.
    pub(in crate::providers::file) fn read(
        &self,
        name: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path_of(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        if meta.is_symlink() {
            return Err(link_refused(&path));
        }
        if !meta.is_file() {
            return Err(Error::Io {
                context: format!("reading {}", path.display()),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a regular file; refusing to read it",
                ),
            });
        }
        if meta.len() > max {
            return Err(too_large(&path, meta.len(), max));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        File::open(&path)
            .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
            .map_err(io(format!("reading {}", path.display())))?;
        if bytes.len() as u64 > max {
            return Err(too_large(&path, bytes.len() as u64, max));
        }
        Ok(Some(bytes))
    }

    /// Creates `name` (`CREATE_NEW`), writes `bytes` and syncs; on failure the file is
    /// removed.
    pub(in crate::providers::file) fn write_new(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let path = self.path_of(name);
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        write().map_err(|e| {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                let _ = self.remove(name);
            }
            io(format!("writing {}", path.display()))(e)
        })
    }

    /// Removes `name` (a file, or a link itself).
    pub(in crate::providers::file) fn remove(&self, name: &str) -> std::io::Result<()> {
        std::fs::remove_file(self.path_of(name))
    }

    /// Moves `name` from this directory over `to` in `target` (`MoveFileExW` with
    /// replace, atomic on one volume).
    pub(in crate::providers::file) fn rename(
        &self,
        name: &str,
        target: &Dir,
        to: &str,
    ) -> std::io::Result<()> {
        std::fs::rename(self.path_of(name), target.path_of(to))
    }

    /// Links `name` as `to` in `target`; fails with `AlreadyExists` when `to` exists, so
    /// the first of two racing creators wins.
    pub(in crate::providers::file) fn link(
        &self,
        name: &str,
        target: &Dir,
        to: &str,
    ) -> std::io::Result<()> {
        std::fs::hard_link(self.path_of(name), target.path_of(to))
    }

    /// Windows makes a completed rename durable with the file system's own journal;
    /// a directory cannot be flushed.
    pub(in crate::providers::file) fn sync(&self) {}

    /// Runs `f` holding an exclusive lock (`LockFileEx`) on `.lock` in this directory.
    pub(in crate::providers::file) fn locked<T>(
        &self,
        f: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        let path = self.path_of(".lock");
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink()) {
            return Err(link_refused(&path));
        }
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        lock.lock()
            .map_err(io(format!("locking {}", path.display())))?;
        let out = f();
        let _ = lock.unlock();
        out
    }

    /// Removes every file in this directory (temporary files of writers that died).
    pub(in crate::providers::file) fn clear(&self) -> Result<(), Error> {
        for name in self.names()? {
            let _ = std::fs::remove_file(self.path.join(name));
        }
        Ok(())
    }
}
