//! What the plugin host needs of the engine: a handle that does not keep it alive,
//! a provider's state, re-routing a plugin by the pattern it registered, and the
//! engine's calls to start and stop its plugins.

use std::sync::{Arc, Weak};

use super::slot::Slot;
use super::{Engine, Inner, ProviderState, Providers};
use crate::error::Error;
use crate::pattern::Pattern;
use crate::router::Router;

/// An engine that plugin tasks can reach without keeping it alive (the engine owns
/// them, so a strong handle would be a cycle).
#[derive(Clone)]
pub(crate) struct WeakEngine(Weak<Inner>);

impl WeakEngine {
    pub(crate) fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

impl Engine {
    pub(crate) fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// The stored state of the provider `name`, if there is one.
    pub(crate) fn slot_state(&self, name: &str) -> Option<ProviderState> {
        self.slots()
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.state())
    }

    /// Routes lookups to provider `name` by `pattern` from now on.
    pub(crate) fn replace_pattern(&self, name: &str, pattern: Pattern) -> Result<(), Error> {
        let found =
            self.rebuild_providers(name, |s| Some(Arc::new(s.with_pattern(pattern.clone()))));
        if found {
            Ok(())
        } else {
            Err(Error::UnknownProvider {
                name: name.to_owned(),
            })
        }
    }

    /// Whether lookups reach provider `name` (see docs/design.md §14: a plugin
    /// that claims nothing is listed but not asked).
    pub(crate) fn set_routed(&self, name: &str, yes: bool) {
        if let Some(s) = self.slots().into_iter().find(|s| s.name == name) {
            s.set_routed(yes);
        }
    }

    /// Removes provider `name` (an external plugin that disconnected: it is listed no
    /// more, as in Docker's engine).
    pub(crate) fn unregister(&self, name: &str) {
        self.rebuild_providers(name, |_| None);
    }

    /// Rebuilds the routing table with provider `name`'s slot replaced by what
    /// `change` makes of it (`None` drops it); the router is built once, from its
    /// slots, so a changed pattern needs a new one. `false` when there is no `name`.
    fn rebuild_providers(
        &self,
        name: &str,
        change: impl FnOnce(&Slot) -> Option<Arc<Slot>>,
    ) -> bool {
        let mut providers = self
            .inner
            .providers
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let slots: Vec<_> = providers.slots().cloned().collect();
        let Some(at) = slots.iter().position(|s| s.name == name) else {
            return false;
        };
        let mut replacement = change(&slots[at]);
        let mut rebuilt = Providers {
            router: Router::new(),
        };
        for (i, s) in slots.into_iter().enumerate() {
            if i != at {
                rebuilt.push(s);
            } else if let Some(r) = replacement.take() {
                rebuilt.push(r);
            }
        }
        *providers = rebuilt;
        true
    }

    /// Records in the config file (if any) whether launched plugin `name` last
    /// registered as an access-control module.
    pub(crate) fn remember_access_control(&self, name: &str, yes: bool) -> Result<(), Error> {
        let Some(path) = &self.inner.config_path else {
            return Ok(());
        };
        super::config::update(path, |f| {
            if yes {
                f.access_control.insert(name.to_owned());
            } else {
                f.access_control.remove(name);
            }
        })
    }

    pub(crate) fn plugin_host(&self) -> &Arc<crate::plugins::PluginHost> {
        &self.inner.plugins
    }

    /// Launches the plugins added with [`EngineBuilder::plugin`](super::EngineBuilder::plugin)
    /// (a disabled one waits until enabled) and waits until each has registered or
    /// failed, at most the registration timeout and 2 s. A plugin that failed is
    /// reported crashed by [`plugins`](Engine::plugins) and restarted with a backoff.
    /// Calling it again does nothing.
    ///
    /// Must be called within a Tokio runtime, which then runs the plugins' supervisors.
    pub async fn start_plugins(&self) {
        let host = self.inner.plugins.clone();
        host.start(self).await;
    }

    /// Stops every plugin, launched or external: `PluginService/Shutdown`, the
    /// connection closed, then each launched plugin's process group stopped (SIGINT,
    /// SIGKILL after the shutdown timeout) and reaped. Dropping the engine without
    /// calling it kills the process groups.
    pub async fn stop_plugins(&self) {
        let host = self.inner.plugins.clone();
        host.stop().await;
    }
}
