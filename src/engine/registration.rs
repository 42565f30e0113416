//! What an engine is told about a provider ([`Registration`]) and what it reports
//! back ([`PluginInfo`], [`ProviderState`]).

use std::sync::Arc;
use std::time::Duration;

use crate::pattern::Pattern;
use crate::resolver::{Resolver, Store};

/// A provider's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderState {
    /// Answers lookups.
    Running,
    /// Turned off by the user; asked nothing.
    Disabled,
    /// Stopped after a fatal error or a panic; asked nothing until enabled again.
    Crashed(String),
    /// Running, but locked ([`Resolver::is_locked`]): asked as a running provider is,
    /// it answers "nothing" for ids it cannot hold and [`Error::Locked`] for those it
    /// may hold, until unlocked. Only [`Engine::plugins`](super::Engine::plugins)
    /// reports it; the engine itself never stores this state.
    ///
    /// [`Error::Locked`]: crate::Error::Locked
    Locked,
}

impl std::fmt::Display for ProviderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProviderState::Running => "running",
            ProviderState::Disabled => "disabled",
            ProviderState::Crashed(_) => "crashed",
            ProviderState::Locked => "locked",
        })
    }
}

/// What [`Engine::plugins`](super::Engine::plugins) reports for one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The provider's name.
    pub name: String,
    /// The ids it serves.
    pub pattern: Pattern,
    /// Whether the user may enable and disable it.
    pub configurable: bool,
    /// Its state.
    pub state: ProviderState,
    /// Why it crashed, when it did.
    pub message: Option<String>,
}

/// Everything needed to add one provider to an engine.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use secrets_engine::{Engine, MemoryStore, Pattern, Registration};
/// let engine = Engine::builder()
///     .register(
///         Registration::store("team", Pattern::parse("team/**")?, Arc::new(MemoryStore::new()))
///             .configurable(false)
///             .deadline(Duration::from_secs(5)),
///     )
///     .build()?;
/// assert_eq!(engine.plugins()[0].name, "team");
/// # Ok::<(), secrets_engine::Error>(())
/// ```
pub struct Registration {
    pub(super) name: String,
    pub(super) pattern: Pattern,
    pub(super) resolver: Arc<dyn Resolver>,
    pub(super) store: Option<Arc<dyn Store>>,
    pub(super) configurable: bool,
    pub(super) enabled: bool,
    pub(super) deadline: Option<Duration>,
}

impl Registration {
    /// A read-only provider; configurable and enabled by default.
    pub fn resolver(name: &str, pattern: Pattern, resolver: Arc<dyn Resolver>) -> Registration {
        Registration {
            name: name.to_owned(),
            pattern,
            resolver,
            store: None,
            configurable: true,
            enabled: true,
            deadline: None,
        }
    }

    /// A writable provider; configurable and enabled by default.
    pub fn store(name: &str, pattern: Pattern, store: Arc<dyn Store>) -> Registration {
        let resolver: Arc<dyn Resolver> = store.clone();
        Registration {
            store: Some(store),
            ..Registration::resolver(name, pattern, resolver)
        }
    }

    /// Whether the user may enable and disable it.
    pub fn configurable(mut self, yes: bool) -> Registration {
        self.configurable = yes;
        self
    }

    /// Its state when the config file says nothing about it.
    pub fn enabled_by_default(mut self, yes: bool) -> Registration {
        self.enabled = yes;
        self
    }

    /// Its per-call deadline (else the engine's).
    pub fn deadline(mut self, deadline: Duration) -> Registration {
        self.deadline = Some(deadline);
        self
    }
}
