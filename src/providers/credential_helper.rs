//! The `credential-helper` provider: Docker registry credentials through a Docker
//! credential helper (`docker-credential-<name>`, e.g. `secretservice`, `pass`,
//! `osxkeychain`), the same store `docker login` writes to.
//!
//! Ids are `docker/auth/<registry host>`: a server URL is normalized by dropping the
//! scheme, any path and trailing `/` (`https://index.docker.io/v1/` becomes
//! `docker/auth/index.docker.io`; `host:port` stays). The value is the secret (token or
//! password), the username and the server URL go into metadata. A lookup runs
//! `list` once, then `get` for each match; every call has a deadline.
//!
//! Helpers differ on "not found": `credentials not found` on stderr, or (some `pass`
//! builds) an empty secret with exit status 0. Both mean "not found" here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use zeroize::Zeroize;

use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::Resolver;
use crate::secret::SecretValue;

/// The provider's user-visible name.
pub const NAME: &str = "credential-helper";
/// The ids it serves.
pub const PATTERN: &str = "docker/auth/**";

/// Variables a helper may see, beyond those that start with [`HELPER_ENV_PREFIXES`]
/// and `PATH` (which it gets with its relative entries removed); everything else in
/// our environment (`VAULT_TOKEN`, `OP_SERVICE_ACCOUNT_TOKEN`, `AWS_SECRET_ACCESS_KEY`,
/// the file store's passphrase) stays ours. [`CredentialHelper::with_env`] adds more.
///
/// What the helpers Docker ships need: `secretservice` reaches the Secret Service
/// over D-Bus (`DBUS_SESSION_BUS_ADDRESS`, `XDG_RUNTIME_DIR`, `DISPLAY` for a prompt);
/// `pass` runs `pass` and `gpg` (`HOME`, `GNUPGHOME`, `GPG_TTY`, `PASSWORD_STORE_*`,
/// a pinentry on `DISPLAY`/`WAYLAND_DISPLAY`); `wincred` and `desktop` on Windows
/// find the user's profile.
pub const HELPER_ENV: [&str; 20] = [
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TMPDIR",
    "TERM",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    "GNUPGHOME",
    "GPG_AGENT_INFO",
    "GPG_TTY",
    // Windows: the profile, and the system's own directories.
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "SystemRoot",
    "ProgramFiles",
    "TEMP",
    "TMP",
];

/// Prefixes of the variables a helper may see: the locale (`LC_*`), the XDG base
/// directories and session (`XDG_*`), and `pass`'s own settings (`PASSWORD_STORE_*`).
pub const HELPER_ENV_PREFIXES: [&str; 3] = ["LC_", "XDG_", "PASSWORD_STORE_"];

/// Bytes of a helper's standard output read at most: a credential is a few KiB.
pub const MAX_STDOUT: usize = 1 << 20;
/// Bytes of a helper's standard error read at most.
pub const MAX_STDERR: usize = 64 << 10;
/// Characters of a helper's standard error quoted in an error at most.
const STDERR_EXCERPT: usize = 200;

fn helper_may_see(key: &str) -> bool {
    HELPER_ENV.contains(&key) || HELPER_ENV_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The environment a helper runs with: the allowed variables of ours, and `PATH`
/// without its empty or relative entries (a `pass` that runs `gpg` must not pick one
/// up from the current directory either).
fn helper_env() -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    let mut env: Vec<_> = std::env::vars_os()
        .filter(|(k, _)| k.to_str().is_some_and(helper_may_see))
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        let absolute = std::env::split_paths(&path).filter(|d| d.is_absolute());
        if let Ok(path) = std::env::join_paths(absolute) {
            env.push(("PATH".into(), path));
        }
    }
    env
}

/// Is `name` a helper name Docker's config may hold in `credsStore`: ASCII letters,
/// digits, `.`, `_` and `-`, starting with a letter or digit, at most 64 bytes
/// (`secretservice`, `ecr-login`, `desktop.exe`)? Anything else, a `/` first of all,
/// would make `docker-credential-<name>` a path.
///
/// ```
/// use secrets_engine::providers::credential_helper::is_helper_name;
/// assert!(is_helper_name("ecr-login") && is_helper_name("desktop.exe"));
/// assert!(!is_helper_name("../../tmp/x") && !is_helper_name("") && !is_helper_name("-x"));
/// ```
pub fn is_helper_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Finds `file` on `path` (a `PATH` value): the first absolute entry holding an
/// executable file of that name. Refuses one that an empty or relative entry (the
/// current directory) would give first, as a shell would run it.
fn find_on_path(file: &str, path: &std::ffi::OsStr) -> Result<PathBuf, Error> {
    for dir in std::env::split_paths(path) {
        let candidate = dir.join(file);
        if !is_executable(&candidate) {
            continue;
        }
        if !dir.is_absolute() {
            return Err(Error::Crashed {
                reason: format!(
                    "{file} was found through the relative PATH entry {:?}; refusing to run a helper from the current directory (remove the entry from PATH)",
                    dir.display().to_string()
                ),
            });
        }
        return Ok(candidate);
    }
    Err(Error::Crashed {
        reason: format!("{file} not found on PATH"),
    })
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// At most [`STDERR_EXCERPT`] characters of `stderr`, control characters (escape
/// sequences, newlines) turned into spaces, for an error message.
fn stderr_excerpt(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let mut out: String = text
        .chars()
        .take(STDERR_EXCERPT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(STDERR_EXCERPT).is_some() {
        out.push('…');
    }
    out
}

/// Kills the helper's whole process group when dropped (at the deadline, or when
/// the caller stops waiting), unless the helper finished: `kill_on_drop` reaches
/// only the direct child, and `pass` leaves `gpg` behind.
struct GroupKill(Option<u32>);

impl GroupKill {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            kill_group(pid);
        }
    }
}

/// SIGKILL to the group `pid` leads (the helper was spawned with `process_group(0)`).
#[cfg(unix)]
fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {}

/// Why reading a helper's output stopped.
enum Fail {
    Io(std::io::Error),
    TooLong(&'static str, usize),
}

/// All of `r`, or [`Fail::TooLong`] past `cap` bytes (the helper is then killed
/// rather than read further).
async fn read_capped(
    r: impl tokio::io::AsyncRead + Unpin,
    cap: usize,
    stream: &'static str,
) -> Result<Vec<u8>, Fail> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    r.take(cap as u64 + 1)
        .read_to_end(&mut buf)
        .await
        .map_err(Fail::Io)?;
    if buf.len() > cap {
        buf.zeroize();
        return Err(Fail::TooLong(stream, cap));
    }
    Ok(buf)
}

/// A Docker credential helper as a provider.
///
/// The helper runs with an allow-listed environment ([`HELPER_ENV`]), in its own
/// process group, killed as a group at the deadline; its output is read up to
/// [`MAX_STDOUT`] and [`MAX_STDERR`] bytes, and an error quotes at most 200
/// characters of its stderr with control characters removed.
#[derive(Debug, Clone)]
pub struct CredentialHelper {
    program: Program,
    /// The executable, once found (a helper installed later is found then).
    resolved: std::sync::OnceLock<PathBuf>,
    deadline: Duration,
    env: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum Program {
    /// `docker-credential-<name>`, found on PATH.
    Named(String),
    /// An executable given by its path.
    Path(PathBuf),
}

#[derive(Deserialize)]
pub(crate) struct Credentials {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The id of a registry server URL: `docker/auth/<host[:port]>`; `None` when the host
/// is not valid under the id grammar.
///
/// ```
/// use secrets_engine::providers::credential_helper::registry_id;
/// assert_eq!(registry_id("https://index.docker.io/v1/").unwrap().as_str(), "docker/auth/index.docker.io");
/// assert_eq!(registry_id("registry.example.com:5000").unwrap().as_str(), "docker/auth/registry.example.com:5000");
/// assert!(registry_id("https://bad host/").is_none());
/// ```
pub fn registry_id(server_url: &str) -> Option<Id> {
    let rest = server_url.split_once("://").map_or(server_url, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or_default().trim();
    if host.is_empty() {
        return None;
    }
    Id::parse(&format!("docker/auth/{}", host.to_ascii_lowercase())).ok()
}

/// The helper named by Docker's config: `credsStore` in `$DOCKER_CONFIG/config.json`
/// (`$DOCKER_CONFIG` is a directory), else `~/.docker/config.json`.
pub fn configured_helper() -> Option<String> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))?;
    helper_in(&dir.join("config.json"))
}

fn helper_in(config: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct DockerConfig {
        #[serde(rename = "credsStore")]
        creds_store: Option<String>,
    }
    let text = std::fs::read(config).ok()?;
    serde_json::from_slice::<DockerConfig>(&text)
        .ok()?
        .creds_store
        .filter(|s| !s.is_empty())
}

impl CredentialHelper {
    /// The helper `docker-credential-<name>`, found on PATH at its first call and
    /// then kept as an absolute path. A name that is not [`is_helper_name`], or a
    /// helper that an empty or relative PATH entry (the current directory) would
    /// give, fails every lookup with [`Error::Crashed`] naming it.
    pub fn new(name: &str) -> CredentialHelper {
        CredentialHelper::of(Program::Named(name.to_owned()))
    }

    /// A helper executable at `program` (a path; run as given).
    pub fn with_program(program: impl Into<PathBuf>) -> CredentialHelper {
        CredentialHelper::of(Program::Path(program.into()))
    }

    fn of(program: Program) -> CredentialHelper {
        CredentialHelper {
            program,
            resolved: std::sync::OnceLock::new(),
            deadline: Duration::from_secs(30),
            env: Vec::new(),
        }
    }

    /// How errors name the helper.
    fn shown(&self) -> String {
        match &self.program {
            Program::Named(name) => format!("docker-credential-{name}"),
            Program::Path(p) => p.display().to_string(),
        }
    }

    /// The executable to run.
    fn program(&self) -> Result<&Path, Error> {
        if let Some(p) = self.resolved.get() {
            return Ok(p);
        }
        let found = match &self.program {
            Program::Path(p) => p.clone(),
            Program::Named(name) if !is_helper_name(name) => {
                return Err(Error::Crashed {
                    reason: format!(
                        "credential helper name {:?} is not valid: letters, digits, '.', '_' and '-' only",
                        crate::error::excerpt(name)
                    ),
                });
            }
            Program::Named(name) => find_on_path(
                &format!("docker-credential-{name}"),
                &std::env::var_os("PATH").unwrap_or_default(),
            )?,
        };
        Ok(self.resolved.get_or_init(|| found))
    }

    /// The helper Docker's config names ([`configured_helper`]), if any.
    pub fn from_docker_config() -> Option<CredentialHelper> {
        configured_helper().map(|name| CredentialHelper::new(&name))
    }

    /// Deadline of one helper call (default 30 s).
    pub fn with_deadline(mut self, deadline: Duration) -> CredentialHelper {
        self.deadline = deadline;
        self
    }

    /// Sets a variable in the helper's environment (e.g. `DBUS_SESSION_BUS_ADDRESS`).
    pub fn with_env(mut self, key: &str, value: &str) -> CredentialHelper {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs the helper with `action`, `input` on stdin; `Ok(None)` for "not found".
    async fn call(&self, action: &str, input: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let program = self.program()?;
        let shown = self.shown();
        let mut cmd = tokio::process::Command::new(program);
        cmd.arg(action)
            .env_clear()
            .envs(helper_env())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own group, so the deadline can end everything it started.
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Crashed {
                reason: format!("{shown} not found"),
            },
            _ => Error::Crashed {
                reason: format!("cannot run {shown}: {e}"),
            },
        })?;
        let mut group = GroupKill(child.id());
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
            return Err(Error::Crashed {
                reason: format!("{shown}: no output pipes"),
            });
        };
        let write = async {
            if let Some(mut stdin) = stdin {
                // A helper may exit without reading its input (`list`).
                match stdin.write_all(input).await {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                        return Err(Fail::Io(e));
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        let run = async {
            tokio::try_join!(
                write,
                read_capped(stdout, MAX_STDOUT, "standard output"),
                read_capped(stderr, MAX_STDERR, "standard error"),
                async { child.wait().await.map_err(Fail::Io) },
            )
        };
        // On the deadline (or an error) `group` kills the helper and its children.
        let (_, mut stdout, stderr, status) = tokio::time::timeout(self.deadline, run)
            .await
            .map_err(|_| Error::Timeout {
                after: self.deadline,
            })?
            .map_err(|f| match f {
                Fail::Io(e) => Error::Backend {
                    message: format!("{shown} {action}: {e}"),
                },
                Fail::TooLong(stream, cap) => Error::Backend {
                    message: format!(
                        "{shown} {action} wrote more than {cap} bytes on its {stream}"
                    ),
                },
            })?;
        group.disarm();
        if status.success() {
            return Ok(Some(stdout));
        }
        stdout.zeroize();
        if String::from_utf8_lossy(&stderr).contains("credentials not found") {
            return Ok(None);
        }
        Err(Error::Backend {
            message: format!(
                "{shown} {action} failed ({status}): {}",
                stderr_excerpt(&stderr)
            ),
        })
    }
}

#[async_trait]
impl Resolver for CredentialHelper {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let listed = self.call("list", b"").await?.unwrap_or_default();
        let shown = PathBuf::from(self.shown());
        let servers = parse_list(&shown, &listed)?;
        let mut out = Vec::new();
        for server in servers.keys() {
            let Some(id) = registry_id(server) else {
                tracing::debug!(%server, "credential-helper entry with a host outside the id grammar skipped");
                continue;
            };
            if !pattern.matches(&id) {
                continue;
            }
            let Some(mut raw) = self.call("get", server.as_bytes()).await? else {
                continue;
            };
            let parsed: Result<Credentials, _> = serde_json::from_slice(&raw);
            raw.zeroize();
            out.extend(get_envelope(&shown, server, id, parsed)?);
        }
        Ok(out)
    }
}

/// The servers of a helper's `list` answer (server URL to username).
pub(crate) fn parse_list(program: &Path, listed: &[u8]) -> Result<BTreeMap<String, String>, Error> {
    serde_json::from_slice(listed).map_err(|e| Error::Backend {
        message: format!(
            "{} list printed unexpected JSON ({:?} error at line {}, column {})",
            program.display(),
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

/// The envelope of a helper's `get` answer for `server` (its output parsed, the
/// output itself already zeroed by the caller); `None` for an empty secret.
pub(crate) fn get_envelope(
    program: &Path,
    server: &str,
    id: Id,
    parsed: Result<Credentials, serde_json::Error>,
) -> Result<Option<Envelope>, Error> {
    let mut creds = parsed.map_err(|e| Error::Backend {
        message: format!(
            "{} get printed unexpected JSON ({:?} error at line {}, column {})",
            program.display(),
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    // Some helpers answer an unknown URL with an empty secret and exit 0.
    if creds.secret.is_empty() {
        return Ok(None);
    }
    let value = SecretValue::new(std::mem::take(&mut creds.secret).into_bytes());
    let metadata = Metadata::from([
        ("username".to_string(), creds.username),
        (
            "server_url".to_string(),
            if creds.server_url.is_empty() {
                server.to_owned()
            } else {
                creds.server_url
            },
        ),
    ]);
    Ok(Some(Envelope::new(id, value).with_metadata(metadata)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_normalize_to_registry_ids() {
        let cases = [
            (
                "https://index.docker.io/v1/",
                Some("docker/auth/index.docker.io"),
            ),
            ("http://localhost:5000/", Some("docker/auth/localhost:5000")),
            ("ghcr.io", Some("docker/auth/ghcr.io")),
            ("GHCR.IO/", Some("docker/auth/ghcr.io")),
            (
                "https://127.0.0.1:8443/path/x",
                Some("docker/auth/127.0.0.1:8443"),
            ),
            ("https:///nohost", None),
            ("bad host", None),
        ];
        for (url, want) in cases {
            assert_eq!(
                registry_id(url).map(|i| i.to_string()).as_deref(),
                want,
                "{url}"
            );
        }
    }

    #[test]
    fn helper_name_from_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        assert_eq!(helper_in(&config), None);
        std::fs::write(&config, r#"{"auths": {}, "credsStore": "secretservice"}"#).unwrap();
        assert_eq!(helper_in(&config).as_deref(), Some("secretservice"));
        std::fs::write(&config, r#"{"credsStore": ""}"#).unwrap();
        assert_eq!(helper_in(&config), None);
    }
}
