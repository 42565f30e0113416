//! Where an engine listens: Docker's socket paths per OS (docs/docker-protocol.md §6),
//! and the `@name` spelling of Linux abstract sockets.

use std::path::{Path, PathBuf};

/// A socket an engine listens on: a file in the file system, or (Linux) a name in
/// the abstract namespace, written `@name` as Docker and `ss` do.
///
/// ```
/// use secrets_engine::EngineSocket;
/// let s = EngineSocket::parse("@docker-secrets-engine/1000/daemon.sock");
/// assert_eq!(s, EngineSocket::Abstract("docker-secrets-engine/1000/daemon.sock".into()));
/// assert_eq!(s.to_string(), "@docker-secrets-engine/1000/daemon.sock");
/// assert_eq!(EngineSocket::parse("/run/x.sock"), EngineSocket::Path("/run/x.sock".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EngineSocket {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket name (without the leading `@`). It has no file
    /// permissions: anyone in the network namespace can connect, so the server's
    /// peer-uid check is what keeps other users out.
    Abstract(String),
}

impl EngineSocket {
    /// `@name` is an abstract socket; anything else a path.
    pub fn parse(s: &str) -> EngineSocket {
        match s.strip_prefix('@') {
            Some(name) => EngineSocket::Abstract(name.to_owned()),
            None => EngineSocket::Path(PathBuf::from(s)),
        }
    }

    /// Docker's `DefaultSocketPath()`: the engine socket Docker's `docker pass run`
    /// dials. `<user cache dir>/docker-secrets-engine/engine.sock` on every OS (Linux
    /// `$XDG_CACHE_HOME` or `~/.cache`, macOS `~/Library/Caches`, Windows
    /// `%LOCALAPPDATA%`); the temporary directory when there is no cache directory.
    pub fn default_engine() -> EngineSocket {
        layout(Os::current(), &cache_dir(), current_uid()).0
    }

    /// Docker's `DaemonSocketPath()`: the standalone daemon's socket, which Docker's
    /// `client.New()` and external plugins dial. Linux: the abstract
    /// `@docker-secrets-engine/<uid>/daemon.sock`; macOS
    /// `~/Library/Caches/docker-secrets-engine/daemon.sock`; Windows
    /// `%LOCALAPPDATA%\DockerSecretsEngine\service\daemon.sock`.
    pub fn default_daemon() -> EngineSocket {
        layout(Os::current(), &cache_dir(), current_uid()).1
    }

    /// The file, for a socket in the file system.
    pub fn path(&self) -> Option<&Path> {
        match self {
            EngineSocket::Path(p) => Some(p),
            EngineSocket::Abstract(_) => None,
        }
    }
}

impl std::fmt::Display for EngineSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineSocket::Path(p) => write!(f, "{}", p.display()),
            EngineSocket::Abstract(name) => write!(f, "@{name}"),
        }
    }
}

impl std::str::FromStr for EngineSocket {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(EngineSocket::parse(s))
    }
}

/// The operating systems Docker's socket layout distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    Linux,
    Mac,
    Windows,
}

impl Os {
    fn current() -> Os {
        if cfg!(target_os = "macos") {
            Os::Mac
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}

/// Go's `os.UserCacheDir()`, else the temporary directory (as Docker falls back).
fn cache_dir() -> PathBuf {
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir)
}

fn current_uid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// (engine socket, daemon socket) for `os`, given the user cache directory: a pure
/// function, so every OS's layout is tested wherever the tests run.
pub(crate) fn layout(os: Os, cache: &Path, uid: u32) -> (EngineSocket, EngineSocket) {
    let engine = EngineSocket::Path(cache.join("docker-secrets-engine").join("engine.sock"));
    let daemon = match os {
        Os::Linux => EngineSocket::Abstract(format!("docker-secrets-engine/{uid}/daemon.sock")),
        Os::Mac => EngineSocket::Path(cache.join("docker-secrets-engine").join("daemon.sock")),
        Os::Windows => EngineSocket::Path(
            cache
                .join("DockerSecretsEngine")
                .join("service")
                .join("daemon.sock"),
        ),
    };
    (engine, daemon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_layout_per_os() {
        let (e, d) = layout(Os::Linux, Path::new("/home/u/.cache"), 1000);
        assert_eq!(
            e,
            EngineSocket::Path("/home/u/.cache/docker-secrets-engine/engine.sock".into())
        );
        assert_eq!(
            d.to_string(),
            "@docker-secrets-engine/1000/daemon.sock".to_string()
        );
        let (e, d) = layout(Os::Mac, Path::new("/Users/u/Library/Caches"), 501);
        assert_eq!(
            e.path().unwrap(),
            Path::new("/Users/u/Library/Caches/docker-secrets-engine/engine.sock")
        );
        assert_eq!(
            d.path().unwrap(),
            Path::new("/Users/u/Library/Caches/docker-secrets-engine/daemon.sock")
        );
        let (_, d) = layout(Os::Windows, Path::new("C:/Users/u/AppData/Local"), 0);
        assert_eq!(
            d.path().unwrap(),
            Path::new("C:/Users/u/AppData/Local/DockerSecretsEngine/service/daemon.sock")
        );
    }
}
