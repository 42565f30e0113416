//! Environment resolution: `NAME=se://…` pairs in, `NAME=<secret>` pairs out.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};

use crate::engine::Engine;
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::reference::{SCHEME, SecretRef};
use crate::secret::SecretValue;

/// How [`resolve_env_with`] treats values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvOptions {
    /// Container mode: an empty value `NAME=` is looked up as the id `NAME`, the way
    /// `docker run -e GH_TOKEN=` asks for a secret; when no secret has that id the
    /// value stays empty. Off by default.
    pub container_mode: bool,
}

impl EnvOptions {
    /// Host mode: only `se://` values are resolved.
    pub fn host() -> EnvOptions {
        EnvOptions::default()
    }
    /// Container mode, see [`EnvOptions::container_mode`].
    pub fn container() -> EnvOptions {
        EnvOptions {
            container_mode: true,
        }
    }
}

enum Action {
    Keep,
    Resolve(Pattern),
    /// Container mode's `NAME=`: not found leaves it empty.
    Optional(Pattern),
}

fn bytes(s: &OsStr) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::borrow::Cow::Borrowed(s.as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::borrow::Cow::Owned(s.to_string_lossy().into_owned().into_bytes())
    }
}

fn classify(name: &OsStr, value: &OsStr, options: EnvOptions) -> Result<Action, Error> {
    let raw = bytes(value);
    if raw.starts_with(SCHEME.as_bytes()) {
        let text = value.to_str().ok_or_else(|| Error::InvalidReference {
            input: crate::error::excerpt(&value.to_string_lossy()),
            reason: crate::error::SyntaxError::NotUtf8 {
                offset: std::str::from_utf8(&raw)
                    .map_err(|e| e.valid_up_to())
                    .err()
                    .unwrap_or(0),
            },
        })?;
        let r = SecretRef::parse(text)?;
        return Ok(Action::Resolve(r.pattern().clone()));
    }
    if options.container_mode
        && raw.is_empty()
        && let Some(id) = name.to_str().and_then(|n| Id::parse(n).ok())
    {
        return Ok(Action::Optional(id.into()));
    }
    Ok(Action::Keep)
}

fn to_env_value(id: &Pattern, value: &SecretValue) -> Result<OsString, Error> {
    let unrepresentable = |why| Error::UnrepresentableValue {
        id: id.to_string(),
        why,
    };
    if value.expose().contains(&0) {
        return Err(unrepresentable("it contains a NUL byte"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Ok(OsString::from_vec(value.expose().to_vec()))
    }
    #[cfg(not(unix))]
    {
        value
            .expose_str()
            .map(OsString::from)
            .ok_or_else(|| unrepresentable("it is not UTF-8"))
    }
}

/// Resolves every `se://` value in `vars` (host mode); see [`resolve_env_with`].
///
/// ```
/// use std::{ffi::OsString, sync::Arc};
/// use secrets_engine::{resolve_env, ConfigLocation, Engine, Id, MemoryStore, Pattern};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), secrets_engine::Error> {
/// let store: MemoryStore = [(Id::parse("db/password")?, b"s3cret".to_vec())].into_iter().collect();
/// let engine = Engine::builder()
///     .store("memory", Pattern::parse("**")?, Arc::new(store))
///     .config(ConfigLocation::None)
///     .build()?;
/// let env = resolve_env(&engine, [("DB_PASSWORD", "se://db/password"), ("HOME", "/root")]).await?;
/// assert_eq!(env[0], (OsString::from("DB_PASSWORD"), OsString::from("s3cret")));
/// assert_eq!(env[1].1, "/root");
/// # Ok(()) }
/// ```
pub async fn resolve_env<I, K, V>(
    engine: &Engine,
    vars: I,
) -> Result<Vec<(OsString, OsString)>, Error>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<OsString>,
    V: Into<OsString>,
{
    resolve_env_with(engine, vars, EnvOptions::host()).await
}

/// Returns `vars` with every `se://` value replaced by the secret it names.
///
/// - exactly one matching secret gives its value; several with identical bytes give
///   that value; several different ones are [`Error::Ambiguous`] (naming ids and
///   providers, never values);
/// - no match is [`Error::NotFound`] naming the reference; a provider failure is an
///   error too, since the failed provider might hold a different value;
/// - a value with a NUL byte cannot be an environment value: [`Error::UnrepresentableValue`];
/// - `se://` followed by an invalid id or pattern is [`Error::InvalidReference`];
/// - every other value passes through byte for byte (non-UTF-8 included).
///
/// Errors are wrapped in [`Error::Variable`] naming the first failing variable in
/// input order. Each distinct reference is resolved once, all in one batch
/// ([`Engine::get_secrets_many`]): every provider is asked once for all of them.
///
/// The returned values are plain `OsString`s (the environment needs them so) and are
/// not zeroed on drop.
pub async fn resolve_env_with<I, K, V>(
    engine: &Engine,
    vars: I,
    options: EnvOptions,
) -> Result<Vec<(OsString, OsString)>, Error>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<OsString>,
    V: Into<OsString>,
{
    let vars: Vec<(OsString, OsString)> = vars
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let wrap = |name: &OsStr, e: Error| Error::Variable {
        name: name.to_string_lossy().into_owned(),
        source: Box::new(e),
    };
    let mut actions = Vec::with_capacity(vars.len());
    for (name, value) in &vars {
        actions.push(classify(name, value, options).map_err(|e| wrap(name, e))?);
    }

    // Each distinct pattern once, all in one batch: every provider is asked once for
    // all the patterns it serves (the keychain answers them in one round trip).
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut seen: HashSet<&Pattern> = HashSet::new();
    for action in &actions {
        if let Action::Resolve(p) | Action::Optional(p) = action
            && seen.insert(p)
        {
            patterns.push(p.clone());
        }
    }
    let answers = engine.get_secrets_many(&patterns).await;
    let mut resolved: HashMap<Pattern, Result<SecretValue, Error>> = patterns
        .into_iter()
        .zip(answers)
        .map(|(p, r)| {
            let value = crate::engine::one_value(&p, r);
            (p, value)
        })
        .collect();

    let mut out = Vec::with_capacity(vars.len());
    for ((name, value), action) in vars.into_iter().zip(actions) {
        let (p, optional) = match action {
            Action::Keep => {
                out.push((name, value));
                continue;
            }
            Action::Resolve(p) => (p, false),
            Action::Optional(p) => (p, true),
        };
        let new_value = match resolved.get(&p) {
            Some(Ok(v)) => to_env_value(&p, v).map_err(|e| wrap(&name, e))?,
            Some(Err(Error::NotFound { .. } | Error::NoProvider { .. })) if optional => value,
            _ => {
                let e = resolved
                    .remove(&p)
                    .and_then(Result::err)
                    .unwrap_or_else(|| Error::NotFound {
                        pattern: p.to_string(),
                    });
                return Err(wrap(&name, e));
            }
        };
        out.push((name, new_value));
    }
    Ok(out)
}
