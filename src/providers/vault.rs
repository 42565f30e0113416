//! The `vault` provider: HashiCorp Vault or OpenBao, KV version 2, over HTTP.
//!
//! Mapping: the id `<prefix>/<path...>/<key>` is field `<key>` of the KV v2 secret at
//! `<path...>` in the mount (default `secret`), prefix default `vault`. A pattern is
//! answered by walking `LIST` on the metadata endpoint from its deepest literal
//! folder, descending only into folders the pattern can reach, bounded in depth and
//! in secrets read, several requests at a time. Envelopes carry the KV version and
//! custom metadata; `created_at` is the version's creation time.
//!
//! Errors name the provider and the path, never the token: 403 is
//! [`Error::PermissionDenied`], 503 (sealed) [`Error::Locked`], a refused or broken
//! connection and TLS failures [`Error::Unavailable`], the deadline
//! [`Error::Timeout`]; 404 (absent, deleted or destroyed version) is "not found".
//!
//! The token is guarded against a hostile or misconfigured server:
//! - a redirect is followed only to the same origin (scheme, host and port), so the
//!   `X-Vault-Token` header never reaches another host and https never falls back to
//!   http; any other redirect is an [`Error::Backend`] naming its target's origin
//!   (point `VAULT_ADDR` at the active node instead);
//! - an `http://` address is refused unless its host is loopback (`127.0.0.0/8`,
//!   `::1`, `localhost`) or [`VaultConfig::allow_http`] is set
//!   ([`ALLOW_HTTP_ENV`]`=1` for [`VaultConfig::from_env`]);
//! - every key a `LIST` answers must be one id component (plus a trailing `/` for a
//!   folder) before it becomes part of a request path: `..`, `.`, an empty key, or one
//!   holding `/`, `%`, `?`, `#` or any character outside the id grammar is skipped
//!   (logged), so a walk never leaves the mount.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use zeroize::Zeroize;

use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::Resolver;
use crate::secret::SecretValue;

/// The provider's user-visible name.
pub const NAME: &str = "vault";
/// Where the default engine looks for the token when no `VAULT_TOKEN`/`BAO_TOKEN`
/// is set: the default store, in the engine's internal realm (hidden from `ls`).
pub const TOKEN_ID: &str = "docker/secrets-engine/vault/token";
/// Set to `1` (or `true`) to let [`VaultConfig::from_env`] accept an `http://`
/// address whose host is not loopback ([`VaultConfig::allow_http`]).
pub const ALLOW_HTTP_ENV: &str = "SECRETS_ENGINE_VAULT_ALLOW_HTTP";
/// Same-origin redirects followed at most in one request.
const MAX_REDIRECTS: usize = 5;

/// The first non-empty of two variables.
fn env_var(a: &str, b: &str) -> Option<String> {
    std::env::var(a)
        .or_else(|_| std::env::var(b))
        .ok()
        .filter(|v| !v.is_empty())
}

/// How to reach the vault.
#[derive(Clone)]
pub struct VaultConfig {
    /// Base URL, e.g. `https://vault.example.com:8200`.
    pub address: String,
    /// The token (sent as `X-Vault-Token`).
    pub token: SecretValue,
    /// Enterprise/OpenBao namespace, sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// The KV v2 mount (default `secret`).
    pub mount: String,
    /// The first component(s) of every id this provider serves (default `vault`).
    pub prefix: String,
    /// A PEM CA bundle to trust, for private PKI.
    pub ca_file: Option<PathBuf>,
    /// Deadline of one HTTP request (default 10 s).
    pub request_timeout: Duration,
    /// Folders descended at most, below the walk's start (default 16).
    pub max_depth: usize,
    /// Secrets read at most by one pattern lookup (default 1000).
    pub max_secrets: usize,
    /// Accept an `http://` address whose host is not loopback (default false): the
    /// token then crosses the network in clear text. Only for a network you trust.
    pub allow_http: bool,
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("address", &self.address)
            .field("token", &"<redacted>")
            .field("namespace", &self.namespace)
            .field("mount", &self.mount)
            .field("prefix", &self.prefix)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

impl VaultConfig {
    /// A config with the defaults for everything but address and token.
    pub fn new(address: &str, token: SecretValue) -> VaultConfig {
        VaultConfig {
            address: address.trim_end_matches('/').to_owned(),
            token,
            namespace: None,
            mount: "secret".into(),
            prefix: "vault".into(),
            ca_file: None,
            request_timeout: Duration::from_secs(10),
            max_depth: 16,
            max_secrets: 1000,
            allow_http: false,
        }
    }

    /// From `VAULT_ADDR`/`BAO_ADDR`, `VAULT_TOKEN`/`BAO_TOKEN`, `VAULT_NAMESPACE`/
    /// `BAO_NAMESPACE`, `VAULT_CACERT`/`BAO_CACERT` and [`ALLOW_HTTP_ENV`]; `None`
    /// without an address and a token.
    pub fn from_env() -> Option<VaultConfig> {
        let token = env_var("VAULT_TOKEN", "BAO_TOKEN")?;
        VaultConfig::from_env_with_token(SecretValue::from(token))
    }

    /// Like [`from_env`](VaultConfig::from_env), with the token given (e.g. read from
    /// the keychain under [`TOKEN_ID`]); `None` without an address.
    pub fn from_env_with_token(token: SecretValue) -> Option<VaultConfig> {
        let address = env_var("VAULT_ADDR", "BAO_ADDR")?;
        let mut c = VaultConfig::new(&address, token);
        c.namespace = env_var("VAULT_NAMESPACE", "BAO_NAMESPACE");
        c.ca_file = env_var("VAULT_CACERT", "BAO_CACERT").map(PathBuf::from);
        c.allow_http = std::env::var(ALLOW_HTTP_ENV).is_ok_and(|v| v == "1" || v == "true");
        Some(c)
    }

    /// The pattern the provider declares: `<prefix>/**`.
    pub fn pattern(&self) -> Pattern {
        Pattern::parse(&format!("{}/**", self.prefix))
            .unwrap_or_else(|_| Pattern::parse("vault/**").expect("valid"))
    }
}

/// The vault provider (see the [module docs](self)).
#[derive(Debug)]
pub struct Vault {
    config: VaultConfig,
    prefix_len: usize,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct ListResponse {
    data: ListData,
}
#[derive(Deserialize)]
struct ListData {
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct ReadResponse {
    data: ReadData,
}
#[derive(Deserialize)]
struct ReadData {
    #[serde(default)]
    data: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    metadata: Option<VersionMetadata>,
}
#[derive(Deserialize)]
struct VersionMetadata {
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    created_time: Option<String>,
    /// Set when the version is scheduled to go (`delete_version_after`).
    #[serde(default)]
    deletion_time: Option<String>,
    #[serde(default)]
    custom_metadata: Option<BTreeMap<String, String>>,
}

/// RFC 3339 (`2026-11-27T17:29:07.648840266Z`) to a time; `None` if it does not parse.
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    let (date, time) = s.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // The server's text is untrusted: out-of-range fields (a year of 2^63, seconds of
    // `inf`) are no time, never an overflow or a panic below.
    let in_range = (0..=9999).contains(&y)
        && (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&min)
        && (0.0..61.0).contains(&sec);
    if !in_range {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60;
    if secs < 0 {
        return None;
    }
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64) + Duration::from_secs_f64(sec))
}

impl Vault {
    /// A provider for `config`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the address is not an `http(s)://` URL, is
    /// `http://` to a host that is not loopback without
    /// [`allow_http`](VaultConfig::allow_http), the CA file cannot be read or the HTTP
    /// client cannot be built. No connection is made.
    pub fn new(config: VaultConfig) -> Result<Vault, Error> {
        check_address(&config.address, config.allow_http)?;
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
            .redirect(same_origin_redirects())
            .use_rustls_tls();
        // An `http://` address is only allowed because the path to it is trusted
        // (loopback, or the user said so): a proxy from HTTP_PROXY/ALL_PROXY would
        // carry the token in clear text over a path nobody vetted.
        if config.address.starts_with("http://") {
            builder = builder.no_proxy();
        }
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca).map_err(|e| Error::Unavailable {
                reason: format!("vault: cannot read CA file {}: {e}", ca.display()),
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| Error::Unavailable {
                reason: format!("vault: CA file {} is not PEM: {e}", ca.display()),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder.build().map_err(|e| Error::Unavailable {
            reason: format!("vault: cannot build an HTTP client: {e}"),
        })?;
        let prefix_len = config.prefix.split('/').count();
        Ok(Vault {
            config,
            prefix_len,
            client,
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, Error> {
        let token = self
            .config
            .token
            .expose_str()
            .ok_or_else(|| Error::Unavailable {
                reason: "vault: the token is not UTF-8".into(),
            })?;
        let mut r = self
            .client
            .request(method, url)
            .header("X-Vault-Token", token);
        if let Some(ns) = &self.config.namespace {
            r = r.header("X-Vault-Namespace", ns);
        }
        Ok(r)
    }

    /// Sends, mapping transport and status errors; `Ok(None)` for 404.
    async fn send(&self, r: reqwest::RequestBuilder, what: &str) -> Result<Option<Vec<u8>>, Error> {
        let addr = &self.config.address;
        let resp = r.send().await.map_err(|e| {
            if e.is_timeout() {
                Error::Timeout {
                    after: self.config.request_timeout,
                }
            } else {
                // reqwest's message names the URL (no token) and the cause.
                Error::Unavailable {
                    reason: format!("vault at {addr}: {what}: {}", error_chain(&e)),
                }
            }
        })?;
        let status = resp.status();
        if status.is_redirection() {
            // Only a redirect that same_origin_redirects refused reaches here.
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| resp.url().join(l).ok())
                .map_or_else(|| "an unreadable location".to_owned(), |u| origin(&u));
            return Err(Error::Backend {
                message: format!(
                    "vault at {addr}: {what}: redirected ({}) to {to}; redirects to another origin are not followed, since they would carry the token: set VAULT_ADDR to the address that answers",
                    status.as_u16()
                ),
            });
        }
        let body = resp.bytes().await.map_err(|e| Error::Unavailable {
            reason: format!("vault at {addr}: {what}: {e}"),
        })?;
        match status.as_u16() {
            200..=299 => Ok(Some(body.to_vec())),
            404 => Ok(None),
            403 => Err(Error::PermissionDenied {
                reason: format!("vault: {what}: permission denied (403)"),
            }),
            503 => Err(Error::Locked {
                reason: format!("vault at {addr} is sealed or not ready (503): {what}"),
            }),
            code => Err(Error::Backend {
                message: format!("vault: {what}: HTTP {code}"),
            }),
        }
    }

    /// Folder/secret names directly under `folder` ("" for the mount's root).
    async fn list(&self, folder: &str) -> Result<Vec<String>, Error> {
        let url = format!(
            "{}/v1/{}/metadata/{folder}",
            self.config.address, self.config.mount
        );
        let r = self.request(
            reqwest::Method::from_bytes(b"LIST").expect("valid method"),
            &url,
        )?;
        let Some(body) = self.send(r, &format!("list {folder}/")).await? else {
            return Ok(Vec::new());
        };
        parse_list(&body, folder)
    }

    /// Every field of the secret at `path` that `pattern` matches.
    async fn read(&self, path: &str, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let url = format!(
            "{}/v1/{}/data/{path}",
            self.config.address, self.config.mount
        );
        let r = self.request(reqwest::Method::GET, &url)?;
        let Some(mut body) = self.send(r, &format!("read {path}")).await? else {
            return Ok(Vec::new());
        };
        let parsed: Result<ReadResponse, _> = serde_json::from_slice(&body);
        body.zeroize();
        read_envelopes(parsed, &self.config.prefix, path, pattern)
    }

    /// Can `pattern` match a field of the secret at `path`?
    fn holds(&self, path: &str, pattern: &Pattern) -> bool {
        Pattern::parse(&format!("{}/{path}/*", self.config.prefix))
            .is_ok_and(|p| p.overlaps(pattern))
    }

    /// Can `pattern` reach anything inside `folder` (a KV path, no trailing `/`)?
    fn reaches(&self, folder: &str, pattern: &Pattern) -> bool {
        let base = if folder.is_empty() {
            format!("{}/**", self.config.prefix)
        } else {
            format!("{}/{folder}/**", self.config.prefix)
        };
        Pattern::parse(&base).is_ok_and(|p| p.overlaps(pattern))
    }
}

/// `scheme://host[:port]` of `url`: what a redirect may not change.
fn origin(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// Follows a redirect only within the origin of the request (so never https to
/// http), at most [`MAX_REDIRECTS`] times; any other is handed back as the 3xx
/// response, which [`Vault::send`] turns into an error. reqwest strips only the
/// headers it knows to be sensitive on a cross-origin redirect, not `X-Vault-Token`.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Refuses an address the token must not be sent to: not `http(s)://`, or
/// `http://` to a host that is not loopback unless `allow_http`.
fn check_address(address: &str, allow_http: bool) -> Result<(), Error> {
    let url = reqwest::Url::parse(address).map_err(|e| Error::Unavailable {
        reason: format!("vault: address {address:?} is not a URL: {e}"),
    })?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_http => Ok(()),
        "http" => Err(Error::Unavailable {
            reason: format!(
                "vault: refusing {}: over http:// the token would cross the network in clear text; use https://, or set {ALLOW_HTTP_ENV}=1 (VaultConfig::allow_http) for a network you trust",
                origin(&url)
            ),
        }),
        other => Err(Error::Unavailable {
            reason: format!("vault: address {address:?} has scheme {other:?}, not http or https"),
        }),
    }
}

/// Is `key`, from a `LIST` answer, one id component (`name`) or one folder
/// (`name/`)? Anything else could change the request path it becomes part of.
fn is_list_key(key: &str) -> bool {
    let name = key.strip_suffix('/').unwrap_or(key);
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && Id::parse(name).is_ok()
}

/// The keys of a KV v2 `LIST` answer for `folder`, without those that are not one
/// id component ([`is_list_key`]): a hostile server cannot steer the walk with them.
pub(crate) fn parse_list(body: &[u8], folder: &str) -> Result<Vec<String>, Error> {
    let parsed: ListResponse = serde_json::from_slice(body).map_err(|e| Error::Backend {
        message: format!(
            "vault: list {folder}/: unexpected JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    let mut keys = parsed.data.keys;
    keys.retain(|key| {
        let ok = is_list_key(key);
        if !ok {
            tracing::warn!(%folder, key = %crate::error::excerpt(key), "vault LIST key that is not one id component skipped");
        }
        ok
    });
    Ok(keys)
}

/// The envelopes of a KV v2 read of the secret at `path` (its body parsed, the body
/// itself already zeroed by the caller): every field `pattern` matches, ids under
/// `prefix`.
pub(crate) fn read_envelopes(
    parsed: Result<ReadResponse, serde_json::Error>,
    prefix: &str,
    path: &str,
    pattern: &Pattern,
) -> Result<Vec<Envelope>, Error> {
    let parsed = parsed.map_err(|e| Error::Backend {
        message: format!(
            "vault: read {path}: unexpected JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    let meta = parsed.data.metadata;
    let mut out = Vec::new();
    for (key, value) in parsed.data.data.unwrap_or_default() {
        // A key with '/' would name a field of a deeper secret (`a/b` of `x` is the
        // id of field `b` of `x/a`): not one of this secret's ids.
        let id = Id::parse(&format!("{prefix}/{path}/{key}")).ok();
        let Some(id) = id.filter(|_| !key.contains('/')) else {
            tracing::debug!(%path, %key, "vault field outside the id grammar skipped");
            continue;
        };
        if !pattern.matches(&id) {
            continue;
        }
        let bytes = match value {
            serde_json::Value::String(s) => s.into_bytes(),
            other => other.to_string().into_bytes(),
        };
        let mut metadata = Metadata::from([("path".to_string(), path.to_string())]);
        let mut e = Envelope::new(id, SecretValue::new(bytes));
        if let Some(m) = &meta {
            if let Some(v) = m.version {
                e = e.with_version(v.to_string());
            }
            if let Some(t) = m.created_time.as_deref().and_then(parse_time) {
                e = e.with_created_at(t);
            }
            // Only when the secret says so: a version scheduled for deletion.
            if let Some(t) = m
                .deletion_time
                .as_deref()
                .filter(|t| !t.is_empty())
                .and_then(parse_time)
            {
                e = e.with_expires_at(t);
            }
            for (k, v) in m.custom_metadata.clone().unwrap_or_default() {
                metadata.insert(k, v);
            }
        }
        out.push(e.with_metadata(metadata));
    }
    Ok(out)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// `.` and `..` are valid id components but URL path segments that resolve: an id
/// like `vault/../../sys/x` must never leave the mount.
fn has_dot_segment<'a>(mut parts: impl Iterator<Item = &'a str>) -> bool {
    parts.any(|c| c == "." || c == "..")
}

#[async_trait]
impl Resolver for Vault {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        if has_dot_segment(pattern.components()) {
            return Ok(Vec::new());
        }
        let components: Vec<&str> = pattern.components().collect();
        let prefix: Vec<&str> = self.config.prefix.split('/').collect();
        if components.len() < self.prefix_len
            || !components
                .iter()
                .zip(&prefix)
                .all(|(c, p)| c == p || *c == "*" || *c == "**")
        {
            return Ok(Vec::new());
        }
        // An exact id: one read.
        if let Some(id) = pattern.as_id() {
            let rest: Vec<&str> = id.components().skip(self.prefix_len).collect();
            if rest.len() < 2 {
                return Ok(Vec::new());
            }
            return self.read(&rest[..rest.len() - 1].join("/"), pattern).await;
        }
        // A pattern: walk from the deepest literal folder it names.
        let literal: Vec<&str> = pattern.literal_prefix().skip(self.prefix_len).collect();
        let start = literal[..literal.len().saturating_sub(1)].join("/");
        let mut out = Vec::new();
        let mut read = 0usize;
        let mut level = vec![start];
        for _ in 0..=self.config.max_depth {
            if level.is_empty() {
                break;
            }
            let listings = futures_util::future::join_all(
                level
                    .iter()
                    .map(|folder| async move { (folder, self.list(folder).await) }),
            )
            .await;
            let mut next = Vec::new();
            let mut secrets = Vec::new();
            for (folder, keys) in listings {
                for key in keys? {
                    let path = if folder.is_empty() {
                        key.clone()
                    } else {
                        format!("{folder}/{key}")
                    };
                    match path.strip_suffix('/') {
                        Some(sub) if self.reaches(sub, pattern) => next.push(sub.to_string()),
                        Some(_) => {}
                        None if self.holds(&path, pattern) => secrets.push(path),
                        None => {}
                    }
                }
            }
            if read + secrets.len() > self.config.max_secrets {
                return Err(Error::Backend {
                    message: format!(
                        "vault: {pattern} covers more than {} secrets; narrow the pattern or raise the limit",
                        self.config.max_secrets
                    ),
                });
            }
            read += secrets.len();
            for chunk in secrets.chunks(16) {
                for found in
                    futures_util::future::join_all(chunk.iter().map(|p| self.read(p, pattern)))
                        .await
                {
                    out.extend(found?);
                }
            }
            level = next;
        }
        if !level.is_empty() {
            // Folders left unvisited: a partial answer would pass for a full one.
            return Err(Error::Backend {
                message: format!(
                    "vault: {pattern} reaches deeper than {} folders; narrow the pattern or raise the limit",
                    self.config.max_depth
                ),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        let t = parse_time("2026-11-27T17:29:07.648840266Z").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_795_800_547);
        assert_eq!(
            parse_time("1970-01-01T00:00:00Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert!(parse_time("not a time").is_none());
    }

    #[test]
    fn list_keys_are_one_id_component() {
        for good in ["db", "db/", "a.b-c_d:e", "x:5000/"] {
            assert!(is_list_key(good), "{good}");
        }
        for bad in [
            "", "/", "//", ".", "./", "..", "../", "a/b", "a/b/", "%2e%2e/", "..%2f", "a?b", "a#b",
            "a b", "a\\b", "é",
        ] {
            assert!(!is_list_key(bad), "{bad}");
        }
    }

    #[test]
    fn http_only_to_loopback_unless_allowed() {
        for ok in [
            "https://vault.example.com:8200",
            "http://127.0.0.1:8200",
            "http://127.1.2.3",
            "http://[::1]:8200",
            "http://localhost:8200",
        ] {
            assert!(check_address(ok, false).is_ok(), "{ok}");
        }
        let err = check_address("http://vault.example.com:8200", false).unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        assert!(err.to_string().contains(ALLOW_HTTP_ENV), "{err}");
        assert!(check_address("http://vault.example.com:8200", true).is_ok());
        assert!(check_address("http://10.0.0.1", false).is_err());
        assert!(check_address("ftp://127.0.0.1", true).is_err());
        assert!(check_address("not a url", true).is_err());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = VaultConfig::new("http://127.0.0.1:8200", SecretValue::from("s.TOPSECRET"));
        assert!(!format!("{c:?}").contains("TOPSECRET"));
    }
}
