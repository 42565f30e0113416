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

/// Our own variables a helper never needs: they unlock the file store
/// (`providers::file::{PASSPHRASE_ENV, KEY_FILE_ENV}`), withheld even in a build
/// without the `file` feature, since another program may still read them.
const WITHHELD_ENV: [&str; 2] = ["SECRETS_ENGINE_FILE_PASSPHRASE", "SECRETS_ENGINE_FILE_KEY"];

#[cfg(all(test, feature = "file"))]
#[test]
fn withheld_env_names_the_file_stores_variables() {
    use crate::providers::file;
    assert_eq!(WITHHELD_ENV, [file::PASSPHRASE_ENV, file::KEY_FILE_ENV]);
}

/// A Docker credential helper as a provider.
#[derive(Debug, Clone)]
pub struct CredentialHelper {
    program: PathBuf,
    deadline: Duration,
    env: Vec<(String, String)>,
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
    /// The helper `docker-credential-<name>` from PATH.
    pub fn new(name: &str) -> CredentialHelper {
        CredentialHelper::with_program(format!("docker-credential-{name}"))
    }

    /// A helper executable at `program`.
    pub fn with_program(program: impl Into<PathBuf>) -> CredentialHelper {
        CredentialHelper {
            program: program.into(),
            deadline: Duration::from_secs(30),
            env: Vec::new(),
        }
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
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for k in WITHHELD_ENV {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let shown = self.program.display().to_string();
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Crashed {
                reason: format!("{shown} not found on PATH"),
            },
            _ => Error::Crashed {
                reason: format!("cannot run {shown}: {e}"),
            },
        })?;
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(input).await?;
            }
            child.wait_with_output().await
        };
        let out = tokio::time::timeout(self.deadline, run)
            .await
            .map_err(|_| Error::Timeout {
                after: self.deadline,
            })?
            .map_err(|e| Error::Backend {
                message: format!("{shown} {action}: {e}"),
            })?;
        if out.status.success() {
            return Ok(Some(out.stdout));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("credentials not found") {
            return Ok(None);
        }
        Err(Error::Backend {
            message: format!("{shown} {action} failed: {}", stderr.trim()),
        })
    }
}

#[async_trait]
impl Resolver for CredentialHelper {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let listed = self.call("list", b"").await?.unwrap_or_default();
        let servers = parse_list(&self.program, &listed)?;
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
            out.extend(get_envelope(&self.program, server, id, parsed)?);
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
