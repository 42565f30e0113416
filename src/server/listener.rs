//! Binding an engine socket: a private directory, a 0600 socket file, never taking
//! over a live engine's socket, replacing a stale one.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::socket::EngineSocket;

/// A bound engine socket, ready for [`EngineServer::serve`](super::EngineServer::serve).
/// Dropping it removes its socket file (when the file is still the one it created).
#[derive(Debug)]
pub struct EngineListener {
    pub(super) listener: tokio::net::UnixListener,
    socket: EngineSocket,
    /// The socket file and its (device, inode), removed on drop if unchanged.
    file: Option<(PathBuf, u64, u64)>,
}

impl EngineListener {
    /// Binds `socket`. Must be called within a Tokio runtime.
    ///
    /// A file socket: missing parent directories are created with mode 0700; an
    /// existing parent that is not ours, or that others may write to (sticky or not),
    /// is refused ([`Error::PermissionDenied`] naming it), since anyone who can write
    /// there could replace the socket; the default directory, when ours, is made 0700.
    /// The socket file is set to mode 0600 right after `bind`; until then it has the
    /// umask's mode, which the directory's checks make harmless (no other user can
    /// replace it, and a peer with another uid is refused at accept anyway). The
    /// process umask is not changed around `bind`: it is process-wide, and other
    /// threads may be creating files. Whatever already sits at the path is probed by connecting to it: a
    /// live engine is never taken over (an error naming the path), a stale socket
    /// (connection refused) is removed and replaced, and anything that is not a socket
    /// is left alone (an error).
    ///
    /// An abstract socket has no file and cannot be stale: a name in use is an error.
    pub fn bind(socket: &EngineSocket) -> Result<EngineListener, Error> {
        match socket {
            EngineSocket::Path(path) => bind_file(socket, path),
            EngineSocket::Abstract(name) => {
                #[cfg(any(target_os = "linux", target_os = "android"))]
                {
                    use std::os::unix::ffi::OsStrExt;
                    let mut raw = Vec::with_capacity(name.len() + 1);
                    raw.push(0);
                    raw.extend_from_slice(name.as_bytes());
                    let listener =
                        tokio::net::UnixListener::bind(std::ffi::OsStr::from_bytes(&raw))
                            .map_err(|e| in_use(socket, e))?;
                    Ok(EngineListener {
                        listener,
                        socket: socket.clone(),
                        file: None,
                    })
                }
                #[cfg(not(any(target_os = "linux", target_os = "android")))]
                {
                    let _ = name;
                    Err(Error::Io {
                        context: format!("binding {socket}"),
                        source: io::Error::new(
                            io::ErrorKind::Unsupported,
                            "abstract sockets exist only on Linux",
                        ),
                    })
                }
            }
        }
    }

    /// The socket it listens on.
    pub fn socket(&self) -> &EngineSocket {
        &self.socket
    }
}

impl Drop for EngineListener {
    fn drop(&mut self) {
        if let Some((path, dev, ino)) = &self.file
            && let Ok(m) = std::fs::symlink_metadata(path)
            && m.dev() == *dev
            && m.ino() == *ino
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn in_use(socket: &EngineSocket, e: io::Error) -> Error {
    let context = if e.kind() == io::ErrorKind::AddrInUse {
        format!("binding {socket}: another engine already listens there")
    } else {
        format!("binding {socket}")
    };
    Error::Io { context, source: e }
}

fn bind_file(socket: &EngineSocket, path: &Path) -> Result<EngineListener, Error> {
    let io_err = |what: &str| {
        let context = format!("{what} {}", path.display());
        move |source| Error::Io { context, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(in_use(socket, io::Error::from(io::ErrorKind::AddrInUse)));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!(socket = %path.display(), "replacing a stale engine socket");
                std::fs::remove_file(path).map_err(io_err("removing the stale socket"))?;
            }
            Err(e) => return Err(io_err("probing the socket")(e)),
        },
        Ok(_) => {
            return Err(io_err("binding")(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way; not removing it",
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("inspecting")(e)),
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(|e| in_use(socket, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err("setting the mode of"))?;
    let m = std::fs::symlink_metadata(path).map_err(io_err("inspecting"))?;
    Ok(EngineListener {
        listener,
        socket: socket.clone(),
        file: Some((path.to_owned(), m.dev(), m.ino())),
    })
}

/// Creates `dir` (and missing parents) with mode 0700, or checks an existing one: it
/// must be ours and writable by nobody else (a sticky `/tmp` is refused too: another
/// user could have made the name first). The default directory, when ours, is made
/// 0700; any other directory is the caller's and its mode is left alone.
fn private_dir(dir: &Path) -> Result<(), Error> {
    let fail = |source| Error::Io {
        context: format!("preparing the socket directory {}", dir.display()),
        source,
    };
    match std::fs::metadata(dir) {
        Ok(m) => {
            let mode = m.permissions().mode();
            let me = rustix::process::getuid().as_raw();
            if m.uid() != me {
                return Err(Error::PermissionDenied {
                    reason: format!(
                        "the socket directory {} belongs to uid {}, not to us (uid {me}); an engine socket there could be replaced",
                        dir.display(),
                        m.uid()
                    ),
                });
            }
            let default = EngineSocket::default_engine();
            if mode & 0o077 != 0 && default.path().and_then(Path::parent) == Some(dir) {
                return std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(fail);
            }
            if mode & 0o022 != 0 {
                return Err(Error::PermissionDenied {
                    reason: format!(
                        "the socket directory {} may be written by other users (mode {:o}; sticky or not, another user could have taken the name first)",
                        dir.display(),
                        mode & 0o7777
                    ),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(fail)?;
            // The umask may have taken bits away, never added: set it exactly.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)
        }
        Err(e) => Err(fail(e)),
    }
}
