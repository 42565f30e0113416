//! The config file's directory, opened once per load or update and checked, so that
//! every file in it is reached through that one handle and never through a link.
//!
//! On Unix the directory is opened (following the path the user gave, links
//! included), then its owner and mode are checked on the open handle: it must
//! belong to this user (the effective user id) and not be writable by group or
//! others, because
//! anyone who can write it can swap the config file, plant links at the names we
//! create, or hold our lock forever. Files inside are opened relative to the
//! handle with `O_NOFOLLOW` (a planted link is an error, never followed) and
//! `O_NONBLOCK` (a planted FIFO cannot hang us), temporary files with `O_EXCL`.
//!
//! Elsewhere the same operations go through paths, without the ownership rule.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

#[cfg(unix)]
pub(crate) use unix::GuardedDir;

#[cfg(not(unix))]
pub(crate) use portable::GuardedDir;

/// Why a directory cannot hold the config file.
#[derive(Debug)]
pub(crate) enum DirError {
    /// The directory failed the ownership or mode rule; the text says which.
    Untrusted(String),
    /// The system call failed.
    Io(io::Error),
}

impl From<io::Error> for DirError {
    fn from(e: io::Error) -> DirError {
        DirError::Io(e)
    }
}

/// The directory holding `file` (`.` for a bare file name).
pub(crate) fn parent_of(file: &Path) -> PathBuf {
    file.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned()
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};

    use rustix::fs::{AtFlags, Mode, OFlags};

    use super::*;

    /// An open, checked directory (see the module docs).
    #[derive(Debug)]
    pub(crate) struct GuardedDir {
        path: PathBuf,
        fd: File,
    }

    impl GuardedDir {
        /// Opens and checks `path`; creates it (and missing parents) with mode 0700
        /// first when `create` is set. `Ok(None)` when it does not exist and
        /// `create` is not set.
        pub(crate) fn open(path: &Path, create: bool) -> Result<Option<GuardedDir>, DirError> {
            let fd = match File::open(path) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(path)?;
                    File::open(path)?
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let meta = fd.metadata()?;
            if !meta.is_dir() {
                return Err(DirError::Untrusted(format!(
                    "{} is not a directory",
                    path.display()
                )));
            }
            let me = rustix::process::geteuid().as_raw();
            if meta.uid() != me {
                return Err(DirError::Untrusted(format!(
                    "its directory {} belongs to user id {}, not to this user ({me}); \
                     keep the config in a directory of your own",
                    path.display(),
                    meta.uid()
                )));
            }
            if meta.mode() & 0o022 != 0 {
                return Err(DirError::Untrusted(format!(
                    "its directory {} is writable by group or others (mode {:o}); \
                     run `chmod go-w {}`",
                    path.display(),
                    meta.mode() & 0o7777,
                    path.display()
                )));
            }
            Ok(Some(GuardedDir {
                path: path.to_owned(),
                fd,
            }))
        }

        /// The file `name` in this directory, or `None` when absent; anything other
        /// than a regular file (a link, a FIFO, a device) is an error.
        pub(crate) fn open_read(&self, name: &OsStr) -> io::Result<Option<File>> {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
                Ok(fd) => regular(File::from(fd)).map(Some),
                Err(rustix::io::Errno::NOENT) => Ok(None),
                Err(e) => Err(not_a_link(e)),
            }
        }

        /// The file `name` for locking, created (mode 0600) when absent.
        pub(crate) fn open_lock(&self, name: &OsStr) -> io::Result<File> {
            let flags = OFlags::RDWR
                | OFlags::CREATE
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600))
                .map_err(not_a_link)?;
            regular(File::from(fd))
        }

        /// Creates `name` (mode 0600); fails if anything, a link included, is there.
        pub(crate) fn create_new(&self, name: &OsStr) -> io::Result<File> {
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600))?;
            Ok(File::from(fd))
        }

        /// Atomically replaces `to` with `from`, both in this directory.
        pub(crate) fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
            Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
        }

        /// Removes the name `name` (a link itself, never its target).
        pub(crate) fn remove(&self, name: &OsStr) -> io::Result<()> {
            Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
        }

        /// The names in this directory.
        pub(crate) fn names(&self) -> io::Result<Vec<OsString>> {
            use std::os::unix::ffi::OsStrExt;
            let mut out = Vec::new();
            for entry in rustix::fs::Dir::read_from(&self.fd)? {
                let entry = entry?;
                out.push(OsStr::from_bytes(entry.file_name().to_bytes()).to_owned());
            }
            Ok(out)
        }

        /// The directory as opened.
        pub(crate) fn path(&self) -> &Path {
            &self.path
        }
    }

    fn regular(f: File) -> io::Result<File> {
        if f.metadata()?.is_file() {
            Ok(f)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ))
        }
    }

    /// `O_NOFOLLOW` on a link fails with `ELOOP`; say what it means.
    fn not_a_link(e: rustix::io::Errno) -> io::Error {
        if e == rustix::io::Errno::LOOP {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a symbolic link, which is never followed",
            )
        } else {
            e.into()
        }
    }
}

#[cfg(not(unix))]
mod portable {
    use super::*;

    /// The directory by path (see the module docs).
    #[derive(Debug)]
    pub(crate) struct GuardedDir {
        path: PathBuf,
    }

    impl GuardedDir {
        pub(crate) fn open(path: &Path, create: bool) -> Result<Option<GuardedDir>, DirError> {
            match std::fs::metadata(path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(DirError::Untrusted(format!(
                        "{} is not a directory",
                        path.display()
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    std::fs::create_dir_all(path)?
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            Ok(Some(GuardedDir {
                path: path.to_owned(),
            }))
        }

        pub(crate) fn open_read(&self, name: &OsStr) -> io::Result<Option<File>> {
            let path = self.path.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => File::open(path).map(Some),
                Ok(_) => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file",
                )),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }

        pub(crate) fn open_lock(&self, name: &OsStr) -> io::Result<File> {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(self.path.join(name))
        }

        pub(crate) fn create_new(&self, name: &OsStr) -> io::Result<File> {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.path.join(name))
        }

        pub(crate) fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
            std::fs::rename(self.path.join(from), self.path.join(to))
        }

        pub(crate) fn remove(&self, name: &OsStr) -> io::Result<()> {
            std::fs::remove_file(self.path.join(name))
        }

        pub(crate) fn names(&self) -> io::Result<Vec<OsString>> {
            std::fs::read_dir(&self.path)?
                .map(|e| e.map(|e| e.file_name()))
                .collect()
        }

        pub(crate) fn path(&self) -> &Path {
            &self.path
        }
    }
}
