//! The engine: named providers behind one lookup.
//!
//! A lookup goes to every running provider whose declared pattern overlaps the request,
//! concurrently, each under its own deadline; what comes back is post-filtered against
//! both the request and the provider's declared pattern, stamped, and merged in
//! registration order, then by id.

mod blocking;
mod builder;
mod call;
mod config;
#[cfg(all(feature = "docker-plugins", unix))]
mod plugin_host;
mod registration;
mod resolution;
mod slot;

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use tokio::time::Instant;

pub use blocking::Blocking;
pub use builder::EngineBuilder;
pub use config::{CONFIG_ENV, ConfigLocation};
pub use registration::{PluginInfo, ProviderState, Registration};
pub use resolution::Resolution;

use call::{AbortOnDrop, Answer, Call, NoAnswer};
#[cfg(all(feature = "docker-plugins", unix))]
pub(crate) use plugin_host::WeakEngine;
#[cfg(all(feature = "docker-plugins", unix))]
pub(crate) use slot::check_name;
use slot::{Slot, make_slot};

use crate::envelope::{Envelope, Metadata};
use crate::error::{Error, ProviderFailure};
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Intent, Listing, Store};
use crate::router::Router;
use crate::secret::SecretValue;

/// The engine's own secrets live under this realm: no lookup returns them and
/// [`Engine::list`] hides them; only the code that owns such a secret reads it, through
/// the store directly.
pub const INTERNAL_REALM: &str = "docker/secrets-engine";

/// Default deadline for one provider call. Generous because a 1Password desktop prompt
/// can take a minute to be answered.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn is_internal(id: &Id) -> bool {
    id.starts_with_components(&["docker", "secrets-engine"])
}

/// The registered providers, in registration order, routed by declared pattern.
struct Providers {
    router: Router<Arc<Slot>>,
}

impl Providers {
    fn push(&mut self, slot: Arc<Slot>) {
        let pattern = slot.pattern.clone();
        if slot.case_insensitive {
            self.router.insert_case_insensitive(pattern, slot);
        } else {
            self.router.insert(pattern, slot);
        }
    }

    fn slots(&self) -> impl Iterator<Item = &Arc<Slot>> {
        self.router.values()
    }

    /// The running providers whose declared pattern overlaps `request`, in
    /// registration order.
    fn asked(&self, request: &Pattern) -> Vec<Arc<Slot>> {
        self.router
            .route(request)
            .into_iter()
            .filter(|s| s.state() == ProviderState::Running && s.is_routed())
            .cloned()
            .collect()
    }
}

struct Inner {
    providers: RwLock<Providers>,
    default_store: RwLock<Option<String>>,
    deadline: Duration,
    config_path: Option<std::path::PathBuf>,
    /// Created on first use of [`Engine::blocking`].
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
    #[cfg(all(feature = "docker-plugins", unix))]
    plugins: Arc<crate::plugins::PluginHost>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, and panics inside another runtime;
        // a provider call stuck in the OS must not hang or abort the caller's drop.
        if let Some(Ok(rt)) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                // Join the worker threads (bounded), so nothing outlives the engine.
                rt.shutdown_timeout(Duration::from_secs(1));
            }
        }
    }
}

/// The router: named providers, each with a declared pattern and a state, behind one
/// lookup. Cheap to clone (shared); thread-safe.
///
/// The async methods need a Tokio runtime; [`blocking`](Engine::blocking) serves
/// callers without one.
///
/// ```
/// use std::sync::Arc;
/// use secrets_engine::{Engine, Id, MemoryStore, Pattern};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), secrets_engine::Error> {
/// let store: MemoryStore = [(Id::parse("db/password")?, b"s3cret".to_vec())].into_iter().collect();
/// let engine = Engine::builder()
///     .store("memory", Pattern::parse("**")?, Arc::new(store))
///     .config(secrets_engine::ConfigLocation::None)
///     .build()?;
/// let found = engine.get_secrets(&Pattern::parse("db/*")?).await?;
/// assert_eq!(found.envelopes()[0].value().expose(), b"s3cret");
/// assert_eq!(found.envelopes()[0].provider(), "memory");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field(
                "providers",
                &self
                    .slots()
                    .iter()
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A snapshot of the providers, so no lock is held across an await.
    fn slots(&self) -> Vec<Arc<Slot>> {
        self.providers().slots().cloned().collect()
    }

    fn providers(&self) -> std::sync::RwLockReadGuard<'_, Providers> {
        self.inner
            .providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Names of the running providers a lookup of `request` would ask, in registration
    /// order. For the routing property tests, which compare it with a scan over
    /// [`Pattern::overlaps`]; not part of the API.
    #[doc(hidden)]
    pub fn routed_providers(&self, request: &Pattern) -> Vec<String> {
        self.providers()
            .asked(request)
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// Adds a provider to a built engine (a binding's own provider, registered after
    /// construction). Its saved state is read from the config file, as at build time;
    /// a store becomes the default store if the engine has none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use secrets_engine::{ConfigLocation, Engine, MemoryStore, Pattern, Registration};
    /// let engine = Engine::builder().config(ConfigLocation::None).build()?;
    /// engine.register(Registration::store("mem", Pattern::parse("**")?, Arc::new(MemoryStore::new())))?;
    /// assert_eq!(engine.default_store().as_deref(), Some("mem"));
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn register(&self, registration: Registration) -> Result<(), Error> {
        let saved = match &self.inner.config_path {
            Some(p) => config::load(p)?,
            None => config::ConfigFile::default(),
        };
        let mut providers = self
            .inner
            .providers
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let slot = make_slot(registration, &saved, self.inner.deadline, |n| {
            providers.slots().any(|s| s.name == n)
        })?;
        if slot.store.is_some() {
            let mut default = self
                .inner
                .default_store
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if default.is_none() {
                *default = Some(slot.name.clone());
            }
        }
        providers.push(Arc::new(slot));
        Ok(())
    }

    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            registrations: Vec::new(),
            default_store: None,
            deadline: DEFAULT_DEADLINE,
            config: ConfigLocation::Default,
            #[cfg(all(feature = "docker-plugins", unix))]
            plugins: Vec::new(),
            #[cfg(all(feature = "docker-plugins", unix))]
            plugin_options: Default::default(),
        }
    }

    /// Every provider with its pattern, configurability and state, in registration
    /// order. A running provider that says it is locked ([`Resolver::is_locked`](crate::Resolver::is_locked)) is
    /// reported as [`ProviderState::Locked`].
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.slots()
            .iter()
            .map(|s| {
                let state = match s.state() {
                    ProviderState::Running => match s.resolver.crash_reason() {
                        Some(reason) => ProviderState::Crashed(reason),
                        None if s.resolver.is_locked() => ProviderState::Locked,
                        None => ProviderState::Running,
                    },
                    other => other,
                };
                PluginInfo {
                    name: s.name.clone(),
                    pattern: s.pattern.clone(),
                    configurable: s.configurable,
                    message: match &state {
                        ProviderState::Crashed(r) => Some(r.clone()),
                        _ => None,
                    },
                    state,
                }
            })
            .collect()
    }

    /// The config file this engine reads and writes, if any.
    pub fn config_path(&self) -> Option<&std::path::Path> {
        self.inner.config_path.as_deref()
    }

    fn slot(&self, name: &str) -> Result<Arc<Slot>, Error> {
        self.slots()
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::UnknownProvider {
                name: name.to_owned(),
            })
    }

    fn persist(&self, slot: &Slot, state: config::SavedState) -> Result<(), Error> {
        match (&self.inner.config_path, slot.configurable) {
            (Some(path), true) => config::update(path, |f| {
                f.providers.insert(slot.name.clone(), state);
            }),
            _ => Ok(()),
        }
    }

    /// Enables a configurable provider and records the choice. The provider's
    /// [`reinitialize`](crate::Resolver::reinitialize) runs first: a crashed provider stays
    /// crashed (with the new reason) if it fails, a disabled one stays disabled and
    /// the error is returned.
    /// A crashed non-configurable provider may be re-initialised too; enabling a
    /// running one is refused with [`Error::NotConfigurable`].
    pub async fn enable(&self, name: &str) -> Result<(), Error> {
        let slot = self.slot(name)?;
        let state = match slot.state() {
            // A plugin that is down is restarted by `enable`, as a crashed provider
            // is re-initialised.
            ProviderState::Running => match slot.resolver.crash_reason() {
                Some(reason) => ProviderState::Crashed(reason),
                None => ProviderState::Running,
            },
            other => other,
        };
        if !slot.configurable && !matches!(state, ProviderState::Crashed(_)) {
            return Err(Error::NotConfigurable {
                name: name.to_owned(),
            });
        }
        if state != ProviderState::Running {
            // Re-initialise a crashed provider; check a disabled one can work, so
            // enabling it cannot silently break every later lookup.
            self.prepare(&slot, Intent::Reinitialize).await;
            let resolver = slot.resolver.clone();
            let outcome = tokio::time::timeout(slot.deadline, resolver.reinitialize())
                .await
                .unwrap_or(Err(Error::Timeout {
                    after: slot.deadline,
                }));
            if let Err(e) = outcome {
                if slot.state() == ProviderState::Running {
                    // A plugin that is down: its supervisor, not the saved state,
                    // keeps track of it.
                    return Err(Error::Crashed {
                        reason: format!("{name} could not be restarted: {e}"),
                    });
                }
                if matches!(state, ProviderState::Crashed(_)) {
                    let reason = e.to_string();
                    slot.set_state(ProviderState::Crashed(reason.clone()));
                    self.persist(&slot, config::SavedState::Crashed { reason })?;
                    return Err(Error::Crashed {
                        reason: format!("{name} could not be re-initialised: {e}"),
                    });
                }
                return Err(e);
            }
        }
        self.persist(&slot, config::SavedState::Enabled)?;
        slot.set_state(ProviderState::Running);
        tracing::info!(provider = name, "provider enabled");
        Ok(())
    }

    /// Disables a configurable provider and records the choice.
    pub fn disable(&self, name: &str) -> Result<(), Error> {
        let slot = self.slot(name)?;
        if !slot.configurable {
            return Err(Error::NotConfigurable {
                name: name.to_owned(),
            });
        }
        self.persist(&slot, config::SavedState::Disabled)?;
        slot.set_state(ProviderState::Disabled);
        #[cfg(all(feature = "docker-plugins", unix))]
        self.inner.plugins.disabled(name);
        tracing::info!(provider = name, "provider disabled");
        Ok(())
    }

    /// Marks a provider crashed and records why (for configurable providers, across
    /// processes).
    fn crash(&self, slot: &Slot, reason: String) {
        tracing::warn!(provider = %slot.name, %reason, "provider crashed");
        if let Err(e) = self.persist(
            slot,
            config::SavedState::Crashed {
                reason: reason.clone(),
            },
        ) {
            tracing::warn!(error = %e, "could not record the crash");
        }
        slot.set_state(ProviderState::Crashed(reason));
    }

    /// Runs the provider's [`Resolver::prepare`](crate::Resolver::prepare) before a
    /// call, outside the deadline (a person may be typing a passphrase); a panic in it
    /// crashes the provider, as one in the call would.
    async fn prepare(&self, slot: &Slot, intent: Intent<'_>) {
        use futures_util::FutureExt;
        let prepared = std::panic::AssertUnwindSafe(slot.resolver.prepare(intent))
            .catch_unwind()
            .await;
        if prepared.is_err() {
            self.crash(slot, "panicked".into());
        }
    }

    /// Waits for one provider call until the slot's deadline (counted from `start`).
    /// A panic marks the provider crashed; its payload is not shown, as it may hold
    /// whatever the provider had.
    async fn settle<T>(&self, slot: &Slot, call: Call<T>, start: Instant) -> Result<T, NoAnswer> {
        let outcome = match call {
            Call::Answered(r) => return Ok(r),
            Call::Panicked => Err(NoAnswer::Panicked),
            Call::Running(mut task) => {
                match tokio::time::timeout_at(start + slot.deadline, &mut task).await {
                    Ok(Ok(r)) => return Ok(r),
                    Ok(Err(join)) if join.is_panic() => Err(NoAnswer::Panicked),
                    Ok(Err(_)) => Err(NoAnswer::Cancelled),
                    Err(_) => {
                        task.abort();
                        Err(NoAnswer::Timeout(slot.deadline))
                    }
                }
            }
        };
        if let Err(NoAnswer::Panicked) = outcome {
            self.crash(slot, "panicked".into());
        }
        outcome
    }

    /// Every secret matching `pattern`, from every running provider whose declared
    /// pattern overlaps it.
    ///
    /// # Errors
    /// [`Error::NoProvider`] when no running provider's pattern overlaps the request;
    /// [`Error::NotFound`] when all asked answered and nothing matched;
    /// [`Error::ProvidersFailed`] when nothing was found and some provider failed.
    /// When something was found, failures of other providers come back in
    /// [`Resolution::failures`].
    ///
    /// Must be called within a Tokio runtime (see [`Engine::blocking`]).
    pub async fn get_secrets(&self, pattern: &Pattern) -> Result<Resolution, Error> {
        let asked = self.providers().asked(pattern);
        if asked.is_empty() {
            return Err(Error::NoProvider {
                pattern: pattern.to_string(),
            });
        }
        for slot in &asked {
            self.prepare(slot, Intent::Read(std::slice::from_ref(pattern)))
                .await;
        }
        let start = Instant::now();
        let calls: Vec<Call> = asked
            .iter()
            .map(|slot| Call::start(slot.resolver.clone(), pattern.clone()))
            .collect();
        // If the caller stops waiting, the provider calls stop too.
        let _abort = AbortOnDrop::running(&calls);
        let mut envelopes = Vec::new();
        let mut failures = Vec::new();
        for (slot, call) in asked.iter().zip(calls) {
            let outcome = match self.settle(slot, call, start).await {
                Ok(outcome) => outcome,
                Err(none) => Err(none.error()),
            };
            self.absorb(slot, pattern, outcome, &mut envelopes, &mut failures);
        }
        tracing::debug!(%pattern, found = envelopes.len(), failed = failures.len(), "lookup");
        conclude(pattern, envelopes, failures)
    }

    /// Several lookups at once, answered in the order asked: each result is what
    /// [`get_secrets`](Engine::get_secrets) would give for that pattern alone.
    ///
    /// Each running provider is called once, through
    /// [`Resolver::get_secrets_many`](crate::Resolver::get_secrets_many), with every pattern that overlaps its declared
    /// pattern, under one deadline; a provider that answers many lookups in one round
    /// trip (the keychain: one search and one `GetSecrets`) then does so.
    ///
    /// Must be called within a Tokio runtime (see [`Engine::blocking`]).
    pub async fn get_secrets_many(&self, patterns: &[Pattern]) -> Vec<Result<Resolution, Error>> {
        self.lookup_many(patterns, Detail::Full).await
    }

    /// [`get_secrets_many`](Engine::get_secrets_many) for a caller that uses only the
    /// values (an environment to fill): the same answers, but an envelope may come
    /// without its metadata where reading it would cost a provider calls of its own
    /// ([`Resolver::get_values_many`](crate::Resolver::get_values_many)).
    /// [`resolve_env`](crate::resolve_env) resolves an environment this way.
    ///
    /// Must be called within a Tokio runtime (see [`Engine::blocking`]).
    pub async fn get_values_many(&self, patterns: &[Pattern]) -> Vec<Result<Resolution, Error>> {
        self.lookup_many(patterns, Detail::ValuesOnly).await
    }

    async fn lookup_many(
        &self,
        patterns: &[Pattern],
        detail: Detail,
    ) -> Vec<Result<Resolution, Error>> {
        // Per running provider (in registration order), the indices of the patterns
        // it is asked, routed as for a lookup alone.
        let asked: Vec<(Arc<Slot>, Vec<usize>)> = {
            let providers = self.providers();
            // Keyed by slot index, so the providers come out in registration order.
            let mut wanted: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
            for (i, p) in patterns.iter().enumerate() {
                for s in providers.router.route_indices(p) {
                    wanted.entry(s).or_default().push(i);
                }
            }
            wanted
                .into_iter()
                .filter_map(|(s, w)| Some((providers.router.get(s)?.clone(), w)))
                .filter(|(slot, _)| slot.state() == ProviderState::Running && slot.is_routed())
                .collect()
        };
        let batches: Vec<Vec<Pattern>> = asked
            .iter()
            .map(|(_, wanted)| wanted.iter().map(|&i| patterns[i].clone()).collect())
            .collect();
        for ((slot, _), ps) in asked.iter().zip(&batches) {
            self.prepare(slot, Intent::Read(ps)).await;
        }
        let start = Instant::now();
        let calls: Vec<Call<Vec<Answer>>> = asked
            .iter()
            .zip(batches)
            .map(|((slot, _), ps)| {
                let resolver = slot.resolver.clone();
                Call::poll_once(Box::pin(async move {
                    match detail {
                        Detail::Full => resolver.get_secrets_many(&ps).await,
                        Detail::ValuesOnly => resolver.get_values_many(&ps).await,
                    }
                }))
            })
            .collect();
        // If the caller stops waiting, the provider calls stop too.
        let _abort = AbortOnDrop::running(&calls);
        let mut found: Vec<(bool, Vec<Envelope>, Vec<ProviderFailure>)> = (0..patterns.len())
            .map(|_| (false, Vec::new(), Vec::new()))
            .collect();
        for ((slot, wanted), call) in asked.iter().zip(calls) {
            let every = |e: &dyn Fn() -> Error| wanted.iter().map(|_| Err(e())).collect();
            let outcomes: Vec<Answer> = match self.settle(slot, call, start).await {
                Ok(answers) if answers.len() == wanted.len() => answers,
                Ok(_) => every(&|| Error::Backend {
                    message: "the provider answered a different number of lookups".into(),
                }),
                Err(none) => every(&|| none.error()),
            };
            for (&i, outcome) in wanted.iter().zip(outcomes) {
                let (seen, envelopes, failures) = &mut found[i];
                *seen = true;
                self.absorb(slot, &patterns[i], outcome, envelopes, failures);
            }
        }
        tracing::debug!(
            lookups = patterns.len(),
            providers = asked.len(),
            "batched lookup"
        );
        patterns
            .iter()
            .zip(found)
            .map(|(pattern, (seen, envelopes, failures))| {
                if !seen {
                    return Err(Error::NoProvider {
                        pattern: pattern.to_string(),
                    });
                }
                conclude(pattern, envelopes, failures)
            })
            .collect()
    }

    /// One provider's answer to one lookup: post-filtered, stamped and sorted into
    /// `envelopes`, or recorded in `failures` (a `Crashed` error crashes the provider).
    fn absorb(
        &self,
        slot: &Slot,
        pattern: &Pattern,
        outcome: Result<Vec<Envelope>, Error>,
        envelopes: &mut Vec<Envelope>,
        failures: &mut Vec<ProviderFailure>,
    ) {
        match outcome {
            Ok(found) => {
                let before = envelopes.len();
                for mut e in found {
                    let id_ok = if slot.case_insensitive {
                        pattern.matches_ignore_case(e.id())
                    } else {
                        pattern.matches(e.id())
                    };
                    if !id_ok || !slot.serves(e.id()) || is_internal(e.id()) {
                        tracing::debug!(provider = %slot.name, id = %e.id(), "dropped an envelope outside the request or the provider's pattern");
                        continue;
                    }
                    e.stamp(&slot.name);
                    envelopes.push(e);
                }
                envelopes[before..].sort_by(|a, b| a.id().cmp(b.id()));
            }
            Err(error) => {
                if let Error::Crashed { reason } = &error
                    && slot.state() == ProviderState::Running
                {
                    self.crash(slot, reason.clone());
                }
                failures.push(ProviderFailure {
                    provider: slot.name.clone(),
                    error,
                });
            }
        }
    }

    /// The one value `pattern` stands for: exactly one match, or several with
    /// identical bytes. Any provider failure is an error, since the failed provider
    /// might hold a different value.
    ///
    /// # Errors
    /// As [`get_secrets`](Engine::get_secrets), plus [`Error::Ambiguous`] and
    /// [`Error::ProvidersFailed`] for partial results.
    pub async fn resolve_one(&self, pattern: &Pattern) -> Result<SecretValue, Error> {
        one_value(pattern, self.get_secrets(pattern).await)
    }

    /// Name of the default writable store, if the engine has one.
    pub fn default_store(&self) -> Option<String> {
        self.inner
            .default_store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn store_for(&self, id: Option<&Id>) -> Result<(Arc<Slot>, Arc<dyn Store>), Error> {
        let name = self.default_store().ok_or_else(|| Error::NoStore {
            reason: "the engine has no writable store registered".into(),
        })?;
        let slot = self.slot(&name)?;
        let store = slot.store.clone().ok_or_else(|| Error::NoStore {
            reason: format!("{} is not writable", slot.name),
        })?;
        if slot.state() != ProviderState::Running {
            return Err(Error::NoStore {
                reason: format!("store {} is {}", slot.name, slot.state()),
            });
        }
        if let Some(id) = id
            && !slot.serves(id)
        {
            return Err(Error::NoStore {
                reason: format!(
                    "store {} does not serve {id} (it holds {})",
                    slot.name, slot.pattern
                ),
            });
        }
        Ok((slot, store))
    }

    /// Runs a store call within the slot's deadline; a panic in it crashes the
    /// provider, as in [`get_secrets`](Engine::get_secrets), instead of unwinding into
    /// the caller (the payload is not shown: it may hold the value being written).
    async fn with_deadline<T>(
        &self,
        slot: &Slot,
        f: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        use futures_util::FutureExt;
        match tokio::time::timeout(
            slot.deadline,
            std::panic::AssertUnwindSafe(f).catch_unwind(),
        )
        .await
        {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_panic)) => {
                self.crash(slot, "panicked".into());
                Err(NoAnswer::Panicked.error())
            }
            Err(_) => Err(NoAnswer::Timeout(slot.deadline).error()),
        }
    }

    /// Stores `value` under `id` in the default store, replacing what was there.
    pub async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        let (slot, store) = self.store_for(Some(id))?;
        self.prepare(&slot, Intent::Write(id)).await;
        self.with_deadline(&slot, store.set(id, value, metadata))
            .await
    }

    /// Removes `id` from the default store; [`Error::NotFound`] if it is not there.
    pub async fn remove(&self, id: &Id) -> Result<(), Error> {
        let (slot, store) = self.store_for(Some(id))?;
        self.prepare(&slot, Intent::Remove(id)).await;
        self.with_deadline(&slot, store.remove(id)).await
    }

    /// Ids and metadata in the default store matching `pattern`, sorted, without the
    /// engine's internal realm.
    pub async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let (slot, store) = self.store_for(None)?;
        self.prepare(&slot, Intent::Read(std::slice::from_ref(pattern)))
            .await;
        let mut items = self.with_deadline(&slot, store.list(pattern)).await?;
        items.retain(|l| {
            let in_request = if slot.case_insensitive {
                pattern.matches_ignore_case(&l.id)
            } else {
                pattern.matches(&l.id)
            };
            in_request && !is_internal(&l.id)
        });
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(items)
    }

    /// The blocking face of the engine, for callers without an async runtime (the C
    /// ABI, the CLI). Runs on a runtime the engine owns, created on first use; safe to
    /// call from inside another Tokio runtime.
    pub fn blocking(&self) -> Blocking<'_> {
        Blocking { engine: self }
    }
}

/// What a batch of lookups needs of each envelope.
#[derive(Clone, Copy)]
enum Detail {
    /// Value and metadata ([`Resolver::get_secrets_many`](crate::Resolver::get_secrets_many)).
    Full,
    /// The value; metadata only where it comes free
    /// ([`Resolver::get_values_many`](crate::Resolver::get_values_many)).
    ValuesOnly,
}

/// The outcome of one lookup once every provider asked has answered.
fn conclude(
    pattern: &Pattern,
    envelopes: Vec<Envelope>,
    failures: Vec<ProviderFailure>,
) -> Result<Resolution, Error> {
    match (envelopes.is_empty(), failures.is_empty()) {
        (true, true) => Err(Error::NotFound {
            pattern: pattern.to_string(),
        }),
        (true, false) => Err(Error::ProvidersFailed {
            pattern: pattern.to_string(),
            failures,
        }),
        _ => Ok(Resolution {
            envelopes,
            failures,
        }),
    }
}

/// The one value a lookup stands for (see [`Engine::resolve_one`]).
pub(crate) fn one_value(
    pattern: &Pattern,
    resolution: Result<Resolution, Error>,
) -> Result<SecretValue, Error> {
    let (envelopes, failures) = resolution?.into_parts();
    if !failures.is_empty() {
        return Err(Error::ProvidersFailed {
            pattern: pattern.to_string(),
            failures,
        });
    }
    let first = &envelopes[0];
    if envelopes.iter().all(|e| e.value() == first.value()) {
        return Ok(envelopes
            .into_iter()
            .next()
            .map(Envelope::into_value)
            .unwrap_or_default());
    }
    Err(Error::Ambiguous {
        pattern: pattern.to_string(),
        candidates: envelopes
            .iter()
            .map(|e| format!("{} ({})", e.id(), e.provider()))
            .collect(),
    })
}
