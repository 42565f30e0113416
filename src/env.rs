//! Environment resolution: `NAME=se://…` pairs in, `NAME=<secret>` pairs out.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};

use crate::engine::Engine;
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::reference::{SCHEME, SecretRef};
use crate::secret::SecretValue;

/// Distinct references one environment may hold by default
/// ([`EnvOptions::max_references`]).
pub const DEFAULT_MAX_REFERENCES: usize = 256;
/// Lookups asked of the providers at once by default
/// ([`EnvOptions::max_concurrent_lookups`]).
pub const DEFAULT_MAX_CONCURRENT_LOOKUPS: usize = 32;

/// How [`resolve_env_with`] treats values, and what it may resolve.
///
/// ```
/// use secrets_engine::{EnvOptions, Pattern};
/// // A container runtime resolving what an administrator allowed, and no more.
/// let options = EnvOptions::container()
///     .with_allow([Pattern::parse("ci/**")?])
///     .with_max_references(32);
/// assert_eq!(options.max_references, 32);
/// # Ok::<(), secrets_engine::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvOptions {
    /// Container mode: an empty value `NAME=` is looked up as the id `NAME`, the way
    /// `docker run -e GH_TOKEN=` asks for a secret; when no secret has that id the
    /// value stays empty. Off by default.
    pub container_mode: bool,
    /// The patterns references may ask for; `None` (the default) allows every
    /// reference. A reference is allowed when one of these patterns
    /// [includes](Pattern::includes) its whole pattern: with `ci/**` allowed,
    /// `se://ci/token` and `se://ci/*/key` are, `se://**` and `se://*/token` are not
    /// (they could match ids outside `ci/`). A reference outside is refused with
    /// [`Error::NotAllowed`] naming its variable and is never looked up; a container
    /// mode `NAME=` outside is left empty without a lookup, as if not found.
    /// `Some(vec![])` refuses every reference.
    pub allow: Option<Vec<Pattern>>,
    /// Distinct references (patterns) one environment may hold; more is
    /// [`Error::TooManyReferences`] before anything is looked up. Default
    /// [`DEFAULT_MAX_REFERENCES`].
    pub max_references: usize,
    /// References handed to the providers at once: larger environments are resolved
    /// in successive batches of this size, each under the engine's deadline, so no
    /// provider runs more than this many lookups (helper processes, vault walks) at
    /// a time. Default [`DEFAULT_MAX_CONCURRENT_LOOKUPS`]; 0 counts as 1.
    pub max_concurrent_lookups: usize,
}

impl Default for EnvOptions {
    fn default() -> EnvOptions {
        EnvOptions {
            container_mode: false,
            allow: None,
            max_references: DEFAULT_MAX_REFERENCES,
            max_concurrent_lookups: DEFAULT_MAX_CONCURRENT_LOOKUPS,
        }
    }
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
            ..EnvOptions::default()
        }
    }
    /// Only references inside `patterns` are resolved, see [`EnvOptions::allow`].
    pub fn with_allow(mut self, patterns: impl IntoIterator<Item = Pattern>) -> EnvOptions {
        self.allow = Some(patterns.into_iter().collect());
        self
    }
    /// See [`EnvOptions::max_references`].
    pub fn with_max_references(mut self, limit: usize) -> EnvOptions {
        self.max_references = limit;
        self
    }
    /// See [`EnvOptions::max_concurrent_lookups`].
    pub fn with_max_concurrent_lookups(mut self, limit: usize) -> EnvOptions {
        self.max_concurrent_lookups = limit;
        self
    }

    /// Why `pattern` may not be looked up, if it may not.
    fn refusal(&self, pattern: &Pattern) -> Option<&'static str> {
        if internal_realm().includes(pattern) {
            return Some("it names the engine's internal realm (docker/secrets-engine/**)");
        }
        match &self.allow {
            Some(allowed) if !allowed.iter().any(|a| a.includes(pattern)) => {
                Some("no allowed pattern includes it")
            }
            _ => None,
        }
    }
}

/// `docker/secrets-engine/**`: never resolved into an environment.
fn internal_realm() -> &'static Pattern {
    static REALM: std::sync::OnceLock<Pattern> = std::sync::OnceLock::new();
    REALM.get_or_init(|| {
        Pattern::parse(&format!("{}/**", crate::engine::INTERNAL_REALM)).expect("valid")
    })
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

fn classify(name: &OsStr, value: &OsStr, options: &EnvOptions) -> Result<Action, Error> {
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
        if let Some(why) = options.refusal(r.pattern()) {
            return Err(Error::NotAllowed {
                reference: r.pattern().to_string(),
                why,
            });
        }
        return Ok(Action::Resolve(r.pattern().clone()));
    }
    if options.container_mode
        && raw.is_empty()
        && let Some(id) = name.to_str().and_then(|n| Id::parse(n).ok())
    {
        let pattern = Pattern::from(id);
        if options.refusal(&pattern).is_some() {
            return Ok(Action::Keep);
        }
        return Ok(Action::Optional(pattern));
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
/// - a reference outside [`EnvOptions::allow`], or in the engine's internal realm,
///   is [`Error::NotAllowed`] and is never looked up;
/// - more than [`EnvOptions::max_references`] distinct references is
///   [`Error::TooManyReferences`] (not wrapped: no one variable is at fault), and
///   nothing is looked up.
///
/// Errors are wrapped in [`Error::Variable`] naming the first failing variable in
/// input order. Each distinct reference is resolved once, in batches of
/// [`EnvOptions::max_concurrent_lookups`] ([`Engine::get_values_many`]): every
/// provider is asked once per batch for all of its references.
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
    // Each distinct pattern once; counted as we go, so a huge environment fails at
    // the cap rather than after parsing all of it.
    let mut patterns: Vec<Pattern> = Vec::new();
    let mut seen: HashSet<Pattern> = HashSet::new();
    for (name, value) in &vars {
        let action = classify(name, value, &options).map_err(|e| wrap(name, e))?;
        if let Action::Resolve(p) | Action::Optional(p) = &action
            && !seen.contains(p)
        {
            if patterns.len() == options.max_references {
                return Err(Error::TooManyReferences {
                    limit: options.max_references,
                });
            }
            seen.insert(p.clone());
            patterns.push(p.clone());
        }
        actions.push(action);
    }

    // In batches: every provider is asked once per batch for all the patterns it
    // serves (the keychain answers them in one round trip), and never for more
    // than a batch at once.
    let mut resolved: HashMap<Pattern, Result<SecretValue, Error>> =
        HashMap::with_capacity(patterns.len());
    for batch in patterns.chunks(options.max_concurrent_lookups.max(1)) {
        let answers = engine.get_values_many(batch).await;
        for (p, r) in batch.iter().zip(answers) {
            let value = crate::engine::one_value(p, r);
            resolved.insert(p.clone(), value);
        }
    }

    // Zeroed if a later variable fails: the values already built may be secrets.
    let mut out = WipedOnDrop(Vec::with_capacity(vars.len()));
    for ((name, value), action) in vars.into_iter().zip(actions) {
        let (p, optional) = match action {
            Action::Keep => {
                out.0.push((name, value));
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
        out.0.push((name, new_value));
    }
    Ok(std::mem::take(&mut out.0))
}

/// Resolved variables that are zeroed when dropped before they are handed over.
struct WipedOnDrop(Vec<(OsString, OsString)>);

impl Drop for WipedOnDrop {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for (_, value) in self.0.drain(..) {
            value.into_encoded_bytes().zeroize();
        }
    }
}
