//! The store's file system access, hardened against a planted path: the store
//! directory must be the user's own and closed to others, nothing inside it is
//! reached through a symbolic link (every open is `openat` with `O_NOFOLLOW` relative
//! to a directory already checked), temporary files are created with `O_EXCL`, and an
//! entry is read only when it is a regular file no larger than [`MAX_ENTRY_BYTES`].
//!
//! Windows has no `openat`: there [`portable`] reaches the same names through paths
//! (see its docs for what it checks instead).

#[cfg(unix)]
use std::ffi::{OsStr, OsString};
#[cfg(unix)]
use std::fs::File;
#[cfg(unix)]
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::fd::OwnedFd;
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
#[cfg(unix)]
use std::path::PathBuf;

#[cfg(unix)]
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::error::Error;

#[cfg(not(unix))]
mod portable;
#[cfg(not(unix))]
pub(super) use portable::Dir;

/// The largest entry file read or written: 16 MiB of ciphertext. A bigger file is an
/// error, never read into memory (a planted `/dev/zero`-sized file would exhaust it).
pub const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;

pub(super) fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

#[cfg(unix)]
fn errno(context: String) -> impl FnOnce(rustix::io::Errno) -> Error {
    move |e| io(context)(e.into())
}

/// A directory of the store, opened and checked: owned by this user and writable by
/// nobody else. Paths are kept for error messages only; every access goes through the
/// descriptor.
#[cfg(unix)]
pub(super) struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

#[cfg(unix)]
impl Dir {
    /// The store's root. Symbolic links in `path` itself are followed (the user named
    /// it), but the directory reached must pass the ownership check.
    pub(super) fn open_root(path: &Path, create: bool) -> Result<Option<Dir>, Error> {
        if create {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(path)
                .map_err(io(format!("creating {}", path.display())))?;
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => Dir::checked(fd, path.to_owned()).map(Some),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(errno(format!("opening {}", path.display()))(e)),
        }
    }

    /// The subdirectory `name`, never through a link; created (mode 0700) when asked.
    pub(super) fn sub(&self, name: &str, create: bool) -> Result<Option<Dir>, Error> {
        let path = self.path.join(name);
        if create {
            match rustix::fs::mkdirat(&self.fd, name, Mode::RWXU) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(errno(format!("creating {}", path.display()))(e)),
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Dir::checked(fd, path).map(Some),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e @ (rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)) => Err(unsafe_path(
                &path,
                "is not a directory (a symbolic link?)",
                e,
            )),
            Err(e) => Err(errno(format!("opening {}", path.display()))(e)),
        }
    }

    /// `dir/name` (`name` `None`: `dir` itself, as [`Dir::open_root`] opens it) opened
    /// to look at names only: a directory that fails the ownership check is opened
    /// anyway, and the check's error comes back beside it. Listing names reads no
    /// secret, so a lookup that finds no candidate there has nothing to refuse; one that
    /// finds a candidate raises the error instead of reading it. `None` when either
    /// directory does not exist.
    pub(super) fn open_for_names(
        dir: &Path,
        name: &str,
    ) -> Result<Option<(Dir, Option<Error>)>, Error> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = match rustix::fs::open(dir, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(errno(format!("opening {}", dir.display()))(e)),
        };
        let root_distrust = Dir::trust(&root, dir).err();
        let root = Dir {
            fd: root,
            path: dir.to_owned(),
        };
        let path = dir.join(name);
        let flags = flags | OFlags::NOFOLLOW;
        let fd = match rustix::fs::openat(&root.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e @ (rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)) => {
                return Err(unsafe_path(
                    &path,
                    "is not a directory (a symbolic link?)",
                    e,
                ));
            }
            Err(e) => return Err(errno(format!("opening {}", path.display()))(e)),
        };
        let distrust = root_distrust.or_else(|| Dir::trust(&fd, &path).err());
        Ok(Some((Dir { fd, path }, distrust)))
    }

    fn checked(fd: OwnedFd, path: PathBuf) -> Result<Dir, Error> {
        Dir::trust(&fd, &path)?;
        Ok(Dir { fd, path })
    }

    /// The ownership check: owned by this user, writable by nobody else.
    fn trust(fd: &OwnedFd, path: &Path) -> Result<(), Error> {
        let st = rustix::fs::fstat(fd).map_err(errno(format!("checking {}", path.display())))?;
        let me = rustix::process::geteuid().as_raw();
        if st.st_uid != me {
            return Err(Error::PermissionDenied {
                reason: format!(
                    "the file store directory {} is owned by uid {}, not by you (uid {me}); refusing to use it",
                    path.display(),
                    st.st_uid
                ),
            });
        }
        if st.st_mode & 0o022 != 0 {
            return Err(Error::PermissionDenied {
                reason: format!(
                    "the file store directory {} is writable by group or others (mode {:o}); refusing to use it (chmod 700 it)",
                    path.display(),
                    st.st_mode & 0o7777
                ),
            });
        }
        Ok(())
    }

    /// The path of `name` in this directory, for messages.
    pub(super) fn path_of(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Whether something named `name` is here, of any type, never following a link
    /// (reading it then says what is wrong with it).
    pub(super) fn exists(&self, name: &str) -> Result<bool, Error> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(errno(format!("checking {}", self.path_of(name).display()))(
                e,
            )),
        }
    }

    /// The names in this directory.
    pub(super) fn names(&self) -> Result<Vec<OsString>, Error> {
        let context = || format!("listing {}", self.path.display());
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd).map_err(errno(context()))? {
            let entry = entry.map_err(errno(context()))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name != "." && name != ".." {
                out.push(name.to_owned());
            }
        }
        Ok(out)
    }

    /// Reads `name`, at most `max` bytes: `None` when it does not exist. A link, a
    /// FIFO, a device or a file over `max` is an error naming the file, found without
    /// blocking and without reading it.
    pub(super) fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path_of(name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e @ rustix::io::Errno::LOOP) => {
                return Err(unsafe_path(&path, "is a symbolic link", e));
            }
            Err(e) => return Err(errno(format!("reading {}", path.display()))(e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(errno(format!("reading {}", path.display())))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Error::Io {
                context: format!("reading {}", path.display()),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a regular file; refusing to read it",
                ),
            });
        }
        if st.st_size as u64 > max {
            return Err(too_large(&path, st.st_size as u64, max));
        }
        let mut bytes = Vec::with_capacity(st.st_size as usize);
        File::from(fd)
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(io(format!("reading {}", path.display())))?;
        if bytes.len() as u64 > max {
            return Err(too_large(&path, bytes.len() as u64, max));
        }
        Ok(Some(bytes))
    }

    /// Creates `name` (`O_EXCL`, mode 0600), writes `bytes` and syncs; on failure the
    /// file is removed.
    pub(super) fn write_new(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let path = self.path_of(name);
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let write = || -> std::io::Result<()> {
            let fd = rustix::fs::openat(&self.fd, name, flags, Mode::RUSR | Mode::WUSR)?;
            let mut f = File::from(fd);
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

    /// Removes `name` (a file, or a link itself: never what it points to).
    pub(super) fn remove(&self, name: &str) -> std::io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(Into::into)
    }

    /// Moves `name` from this directory over `to` in `target`, atomically.
    pub(super) fn rename(&self, name: &str, target: &Dir, to: &str) -> std::io::Result<()> {
        rustix::fs::renameat(&self.fd, name, &target.fd, to).map_err(Into::into)
    }

    /// Links `name` as `to` in `target`; fails with `AlreadyExists` when `to` exists, so
    /// the first of two racing creators wins.
    pub(super) fn link(&self, name: &str, target: &Dir, to: &str) -> std::io::Result<()> {
        rustix::fs::linkat(&self.fd, name, &target.fd, to, AtFlags::empty()).map_err(Into::into)
    }

    /// Makes renames in this directory durable.
    pub(super) fn sync(&self) {
        let _ = rustix::fs::fsync(&self.fd);
    }

    /// Runs `f` holding an exclusive lock on `.lock` in this directory (created 0600,
    /// never through a link).
    pub(super) fn locked<T>(&self, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        let path = self.path_of(".lock");
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd =
            rustix::fs::openat(&self.fd, ".lock", flags, Mode::RUSR | Mode::WUSR).map_err(|e| {
                match e {
                    rustix::io::Errno::LOOP => unsafe_path(&path, "is a symbolic link", e),
                    e => errno(format!("opening {}", path.display()))(e),
                }
            })?;
        let lock = File::from(fd);
        lock.lock()
            .map_err(io(format!("locking {}", path.display())))?;
        let out = f();
        let _ = lock.unlock();
        out
    }

    /// Removes every file in this directory (the temporary files of writers that died;
    /// see the module docs of the store). Links are removed, never followed.
    pub(super) fn clear(&self) -> Result<(), Error> {
        for name in self.names()? {
            let _ = rustix::fs::unlinkat(&self.fd, name.as_os_str(), AtFlags::empty());
        }
        Ok(())
    }
}

#[cfg(unix)]
fn unsafe_path(path: &Path, what: &str, e: rustix::io::Errno) -> Error {
    Error::Io {
        context: format!(
            "{} {what}; the file store never follows links",
            path.display()
        ),
        source: e.into(),
    }
}

fn too_large(path: &Path, size: u64, max: u64) -> Error {
    Error::Io {
        context: format!("reading {}", path.display()),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{size} bytes or more, over the file store's limit of {max} bytes"),
        ),
    }
}

/// A fresh name for a temporary file: the process id and a counter, so two engines in
/// one process never share one.
pub(super) fn temp_name(what: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        ".tmp-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
