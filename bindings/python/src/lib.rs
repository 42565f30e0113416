//! Python bindings for secrets-engine, exported with uniffi proc-macros.
//!
//! This crate only adapts: the core knows nothing of Python. Errors are re-wrapped
//! into [`SecretsEngineError`], whose variants become Python exceptions deriving from
//! one base class; secret values cross as `bytes`. The Python package
//! (`python/secrets_engine`) adds a typed facade over the generated module.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use secrets_engine as se;

uniffi::setup_scaffolding!();

/// Every error the bindings raise. Each variant carries the library's message, which
/// never contains a secret value.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SecretsEngineError {
    /// No secret matches the request.
    #[error("{message}")]
    NotFound { message: String },
    /// A reference matched several secrets with different values.
    #[error("{message}")]
    Ambiguous { message: String },
    /// No enabled provider serves the request.
    #[error("{message}")]
    NoProvider { message: String },
    /// Nothing was found and a provider failed.
    #[error("{message}")]
    ProviderFailed { message: String },
    /// Not a valid id.
    #[error("{message}")]
    InvalidId { message: String },
    /// Not a valid pattern.
    #[error("{message}")]
    InvalidPattern { message: String },
    /// An env value started with se:// but is not a valid reference.
    #[error("{message}")]
    InvalidReference { message: String },
    /// A backend could not be reached.
    #[error("{message}")]
    Unavailable { message: String },
    /// A backend is locked.
    #[error("{message}")]
    Locked { message: String },
    /// A provider did not answer in time.
    #[error("{message}")]
    Timeout { message: String },
    /// A provider crashed.
    #[error("{message}")]
    Crashed { message: String },
    /// A backend refused the operation.
    #[error("{message}")]
    PermissionDenied { message: String },
    /// No provider has that name.
    #[error("{message}")]
    UnknownProvider { message: String },
    /// The provider cannot be enabled or disabled.
    #[error("{message}")]
    NotConfigurable { message: String },
    /// No writable store.
    #[error("{message}")]
    NoStore { message: String },
    /// A secret cannot be an environment value.
    #[error("{message}")]
    Unrepresentable { message: String },
    /// Anything else: backend errors, config and I/O problems, bad arguments.
    #[error("{message}")]
    Other { message: String },
}

impl From<se::Error> for SecretsEngineError {
    /// The one place Python's exception classes are chosen: from [`se::ErrorKind`].
    /// The message still comes from the whole error, which names every provider.
    fn from(e: se::Error) -> Self {
        use SecretsEngineError as P;
        use se::ErrorKind as K;
        let message = e.to_string();
        match e.kind() {
            K::NotFound => P::NotFound { message },
            K::Ambiguous => P::Ambiguous { message },
            K::NoProvider => P::NoProvider { message },
            K::ProviderFailed => P::ProviderFailed { message },
            K::InvalidId => P::InvalidId { message },
            K::InvalidPattern => P::InvalidPattern { message },
            K::InvalidReference => P::InvalidReference { message },
            K::Unavailable => P::Unavailable { message },
            K::Locked => P::Locked { message },
            K::Timeout => P::Timeout { message },
            K::Crashed => P::Crashed { message },
            K::PermissionDenied => P::PermissionDenied { message },
            K::UnknownProvider => P::UnknownProvider { message },
            K::NotConfigurable => P::NotConfigurable { message },
            K::NoStore => P::NoStore { message },
            K::Unrepresentable => P::Unrepresentable { message },
            // Backend errors, config and I/O problems, bad arguments, and kinds added
            // to the core later.
            _ => P::Other { message },
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for SecretsEngineError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        SecretsEngineError::Other {
            message: format!("the Python provider raised: {}", e.reason),
        }
    }
}

/// One resolved secret.
#[derive(uniffi::Record)]
pub struct Envelope {
    /// The secret's id.
    pub id: String,
    /// The secret bytes.
    pub value: Vec<u8>,
    /// The provider that returned it.
    pub provider: String,
    /// The backend's version label.
    pub version: Option<String>,
    /// Milliseconds since the Unix epoch when the engine received it.
    pub resolved_at_ms: i64,
    /// Non-secret metadata.
    pub metadata: HashMap<String, String>,
}

/// One secret a Python provider returns.
#[derive(uniffi::Record)]
pub struct Secret {
    /// Its id.
    pub id: String,
    /// Its bytes.
    pub value: Vec<u8>,
}

/// A provider as `plugins()` reports it.
#[derive(uniffi::Record)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// The ids it serves.
    pub pattern: String,
    /// Whether it may be enabled and disabled.
    pub configurable: bool,
    /// "running", "disabled" or "crashed".
    pub state: String,
    /// Why it crashed.
    pub message: Option<String>,
}

/// Options of `Engine`.
#[derive(uniffi::Record)]
pub struct EngineOptions {
    /// "auto", "keychain", "file" or "memory" (an in-memory store, no OS providers).
    #[uniffi(default = "auto")]
    pub store: String,
    /// Config file for provider choices; None for the default location.
    #[uniffi(default = None)]
    pub config_path: Option<String>,
    /// Neither read nor write provider choices.
    #[uniffi(default = false)]
    pub no_config: bool,
    /// Per-call provider deadline in milliseconds (0: 30 s).
    #[uniffi(default = 0)]
    pub deadline_ms: u32,
}

/// A secrets backend written in Python. `get_secrets` returns every secret whose
/// id matches `pattern` (see `pattern_matches`); it is called from worker threads.
/// Raise `NotFound` (or return an empty list) when nothing matches; other
/// `SecretsEngineError` kinds are reported as that kind. An exception's text is shown
/// to users: never put a secret value in it.
#[uniffi::export(with_foreign)]
pub trait Provider: Send + Sync {
    /// The secrets matching `pattern`.
    fn get_secrets(&self, pattern: String) -> Result<Vec<Secret>, SecretsEngineError>;
}

struct ForeignProvider(Arc<dyn Provider>);

#[async_trait::async_trait]
impl se::Resolver for ForeignProvider {
    async fn get_secrets(&self, pattern: &se::Pattern) -> Result<Vec<se::Envelope>, se::Error> {
        let (provider, pattern) = (self.0.clone(), pattern.to_string());
        // Python code may block (and takes the GIL): keep it off the runtime workers.
        let outcome = tokio::task::spawn_blocking(move || provider.get_secrets(pattern))
            .await
            .map_err(|_| se::Error::Crashed {
                reason: "the Python provider panicked".into(),
            })?;
        // NotFound from a provider means "nothing here", not a failure.
        if let Err(SecretsEngineError::NotFound { .. }) = outcome {
            return Ok(Vec::new());
        }
        let found = outcome.map_err(python_error)?;
        found
            .into_iter()
            .map(|s| Ok(se::Envelope::new(se::Id::parse(&s.id)?, s.value)))
            .collect()
    }
}

/// A Python provider's exception as the engine's error, keeping its kind.
fn python_error(e: SecretsEngineError) -> se::Error {
    use SecretsEngineError as P;
    match e {
        P::Unavailable { message } => se::Error::Unavailable { reason: message },
        P::Locked { message } => se::Error::Locked { reason: message },
        P::PermissionDenied { message } => se::Error::PermissionDenied { reason: message },
        P::Crashed { message } => se::Error::Crashed { reason: message },
        other => se::Error::Backend {
            message: other.to_string(),
        },
    }
}

/// A provider that failed while others answered.
#[derive(uniffi::Record)]
pub struct Failure {
    /// The provider's name.
    pub provider: String,
    /// What went wrong.
    pub message: String,
}

/// What a lookup found, and the providers that failed beside it.
#[derive(uniffi::Record)]
pub struct PartialResult {
    /// The secrets found.
    pub envelopes: Vec<Envelope>,
    /// Providers that failed while others answered.
    pub failures: Vec<Failure>,
}

fn envelope(e: se::Envelope) -> Envelope {
    Envelope {
        id: e.id().to_string(),
        provider: e.provider().to_owned(),
        version: e.version().map(str::to_owned),
        resolved_at_ms: e
            .resolved_at()
            .duration_since(UNIX_EPOCH)
            .map_or(-1, |d| d.as_millis() as i64),
        metadata: e.metadata().clone().into_iter().collect(),
        value: e.into_value().into_bytes(),
    }
}

fn pattern(p: &str) -> Result<se::Pattern, SecretsEngineError> {
    Ok(se::Pattern::parse(p)?)
}

fn id(i: &str) -> Result<se::Id, SecretsEngineError> {
    Ok(se::Id::parse(i)?)
}

/// An engine: providers behind one lookup. Thread-safe.
#[derive(uniffi::Object)]
pub struct Engine {
    inner: se::Engine,
}

#[uniffi::export(async_runtime = "tokio")]
impl Engine {
    /// The default engine (the same providers and default store as docker-pass), or
    /// one shaped by `options`.
    #[uniffi::constructor(default(options = None))]
    pub fn new(options: Option<EngineOptions>) -> Result<Arc<Self>, SecretsEngineError> {
        let Some(o) = options else {
            let (inner, _) = se::default_engine_blocking(se::DefaultOptions::default())?;
            return Ok(Arc::new(Engine { inner }));
        };
        let store = o
            .store
            .parse()
            .map_err(|message| SecretsEngineError::Other { message })?;
        let options = se::DefaultOptions::flat(
            store,
            o.config_path.map(Into::into),
            o.no_config,
            o.deadline_ms,
        );
        let (inner, _) = se::default_engine_blocking(options)?;
        Ok(Arc::new(Engine { inner }))
    }

    /// Every secret matching `pattern` from every enabled provider whose declared
    /// pattern overlaps it.
    pub fn get_secrets(&self, pattern: String) -> Result<Vec<Envelope>, SecretsEngineError> {
        let p = self::pattern(&pattern)?;
        Ok(self
            .inner
            .blocking()
            .get_secrets(&p)?
            .into_envelopes()
            .into_iter()
            .map(envelope)
            .collect())
    }

    /// `get_secrets`, also returning the providers that failed while others answered.
    pub fn get_secrets_partial(
        &self,
        pattern: String,
    ) -> Result<PartialResult, SecretsEngineError> {
        let p = self::pattern(&pattern)?;
        let (envelopes, failures) = self.inner.blocking().get_secrets(&p)?.into_parts();
        Ok(PartialResult {
            envelopes: envelopes.into_iter().map(envelope).collect(),
            failures: failures
                .into_iter()
                .map(|f| Failure {
                    message: f.error.to_string(),
                    provider: f.provider,
                })
                .collect(),
        })
    }

    /// `get_secrets`, awaitable from asyncio.
    pub async fn get_secrets_async(
        &self,
        pattern: String,
    ) -> Result<Vec<Envelope>, SecretsEngineError> {
        let p = self::pattern(&pattern)?;
        Ok(self
            .inner
            .get_secrets(&p)
            .await?
            .into_envelopes()
            .into_iter()
            .map(envelope)
            .collect())
    }

    /// Resolves `NAME=VALUE` entries (in order); `se://` values become secrets.
    /// With `allow`, only references inside one of its patterns are resolved (an
    /// empty list refuses every reference); `max_references` caps the distinct
    /// references (default 256).
    pub fn resolve_env_list(
        &self,
        env: Vec<String>,
        container_mode: bool,
        allow: Option<Vec<String>>,
        max_references: Option<u32>,
    ) -> Result<Vec<String>, SecretsEngineError> {
        let mut vars = Vec::with_capacity(env.len());
        for entry in env {
            let (k, v) = entry
                .split_once('=')
                .ok_or_else(|| SecretsEngineError::Other {
                    message: "an env entry has no '='".into(),
                })?;
            vars.push((OsString::from(k), OsString::from(v)));
        }
        let mut options = if container_mode {
            se::EnvOptions::container()
        } else {
            se::EnvOptions::host()
        };
        if let Some(allow) = allow {
            let patterns = allow
                .iter()
                .map(|p| self::pattern(p))
                .collect::<Result<Vec<_>, _>>()?;
            options = options.with_allow(patterns);
        }
        if let Some(limit) = max_references {
            options = options.with_max_references(limit as usize);
        }
        let resolved = self.inner.blocking().resolve_env(vars, options)?;
        resolved
            .into_iter()
            .map(|(k, v)| match (k.into_string(), v.into_string()) {
                (Ok(k), Ok(v)) => Ok(format!("{k}={v}")),
                _ => Err(SecretsEngineError::Unrepresentable {
                    message: "a resolved value is not UTF-8 and cannot be a Python str".into(),
                }),
            })
            .collect()
    }

    /// Every provider with its pattern, configurability and state.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.inner
            .plugins()
            .into_iter()
            .map(|p| PluginInfo {
                name: p.name,
                pattern: p.pattern.to_string(),
                configurable: p.configurable,
                state: p.state.to_string(),
                message: p.message,
            })
            .collect()
    }

    /// Enables a configurable provider (re-initialising a crashed one).
    pub fn enable(&self, name: String) -> Result<(), SecretsEngineError> {
        Ok(self.inner.blocking().enable(&name)?)
    }

    /// Disables a configurable provider.
    pub fn disable(&self, name: String) -> Result<(), SecretsEngineError> {
        Ok(self.inner.blocking().disable(&name)?)
    }

    /// Stores `value` under `id` in the default store.
    #[uniffi::method(default(metadata = None))]
    pub fn set(
        &self,
        id: String,
        value: Vec<u8>,
        metadata: Option<HashMap<String, String>>,
    ) -> Result<(), SecretsEngineError> {
        let i = self::id(&id)?;
        let metadata = metadata.unwrap_or_default().into_iter().collect();
        Ok(self
            .inner
            .blocking()
            .set(&i, se::SecretValue::new(value), metadata)?)
    }

    /// Removes `id` from the default store.
    pub fn remove(&self, id: String) -> Result<(), SecretsEngineError> {
        let i = self::id(&id)?;
        Ok(self.inner.blocking().remove(&i)?)
    }

    /// Ids in the default store matching `pattern` (all when None), sorted.
    #[uniffi::method(default(pattern = None))]
    pub fn list(&self, pattern: Option<String>) -> Result<Vec<String>, SecretsEngineError> {
        let p = self::pattern(pattern.as_deref().unwrap_or("**"))?;
        Ok(self
            .inner
            .blocking()
            .list(&p)?
            .into_iter()
            .map(|l| l.id.to_string())
            .collect())
    }

    /// Adds a provider written in Python under `name`, serving ids matching `pattern`.
    pub fn register_provider(
        &self,
        name: String,
        pattern: String,
        provider: Arc<dyn Provider>,
    ) -> Result<(), SecretsEngineError> {
        let p = self::pattern(&pattern)?;
        Ok(self.inner.register(se::Registration::resolver(
            &name,
            p,
            Arc::new(ForeignProvider(provider)),
        ))?)
    }
}

/// Raises `InvalidId` unless `id` is a valid id.
#[uniffi::export]
pub fn validate_id(id: String) -> Result<(), SecretsEngineError> {
    self::id(&id).map(|_| ())
}

/// Raises `InvalidPattern` unless `pattern` is a valid pattern.
#[uniffi::export]
pub fn validate_pattern(pattern: String) -> Result<(), SecretsEngineError> {
    self::pattern(&pattern).map(|_| ())
}

/// True when `pattern` matches `id` (false when either is invalid).
#[uniffi::export]
pub fn pattern_matches(pattern: String, id: String) -> bool {
    match (se::Pattern::parse(&pattern), se::Id::parse(&id)) {
        (Ok(p), Ok(i)) => p.matches(&i),
        _ => false,
    }
}

/// The library version.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
