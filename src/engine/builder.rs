//! [`EngineBuilder`]: providers, the default store, the deadline and the config file,
//! put together into an [`Engine`].

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use super::config::{self, ConfigLocation};
use super::registration::Registration;
use super::slot::{Slot, make_slot};
use super::{Engine, Inner, Providers};
use crate::error::Error;
use crate::pattern::Pattern;
use crate::resolver::{Resolver, Store};
use crate::router::Router;

/// Builds an [`Engine`].
#[must_use]
pub struct EngineBuilder {
    pub(super) registrations: Vec<Registration>,
    pub(super) default_store: Option<String>,
    pub(super) deadline: Duration,
    pub(super) config: ConfigLocation,
    #[cfg(all(feature = "docker-plugins", unix))]
    pub(super) plugins: Vec<std::path::PathBuf>,
    #[cfg(all(feature = "docker-plugins", unix))]
    pub(super) plugin_options: crate::plugins::PluginOptions,
}

impl EngineBuilder {
    /// Adds a read-only provider (configurable, enabled unless the config file says
    /// otherwise).
    pub fn provider(self, name: &str, pattern: Pattern, resolver: Arc<dyn Resolver>) -> Self {
        self.register(Registration::resolver(name, pattern, resolver))
    }

    /// Adds a writable provider. The first store added is the default store unless
    /// [`default_store`](Self::default_store) names another.
    pub fn store(self, name: &str, pattern: Pattern, store: Arc<dyn Store>) -> Self {
        self.register(Registration::store(name, pattern, store))
    }

    /// Adds a provider with every option spelled out.
    pub fn register(mut self, registration: Registration) -> Self {
        self.registrations.push(registration);
        self
    }

    /// Names the store that [`Engine::set`], [`Engine::remove`] and [`Engine::list`] use.
    pub fn default_store(mut self, name: &str) -> Self {
        self.default_store = Some(name.to_owned());
        self
    }

    /// The per-call deadline for providers that set none (default 30 s).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Keeps provider choices in this file instead of the default location.
    pub fn config_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config = ConfigLocation::Path(path.into());
        self
    }

    /// Where provider choices are kept (default: [`ConfigLocation::Default`]).
    pub fn config(mut self, location: ConfigLocation) -> Self {
        self.config = location;
        self
    }

    /// Adds a plugin binary built with Docker's plugin SDK, launched by
    /// [`Engine::start_plugins`] and named after its file (without `.exe`). It is a
    /// configurable provider; until it registers it declares `**` (see
    /// [`crate::plugins`]).
    #[cfg(all(feature = "docker-plugins", unix))]
    pub fn plugin(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.plugins.push(path.into());
        self
    }

    /// How plugins are supervised (timeouts, restart backoff).
    #[cfg(all(feature = "docker-plugins", unix))]
    pub fn plugin_options(mut self, options: crate::plugins::PluginOptions) -> Self {
        self.plugin_options = options;
        self
    }

    /// Checks the registrations, reads the config file and builds the engine. Does not
    /// contact any provider: they connect on first use.
    ///
    /// # Errors
    /// [`Error::InvalidProvider`] for a bad or duplicate name, [`Error::Config`] for an
    /// unreadable config file, [`Error::UnknownProvider`] when the default store names
    /// no registered store.
    #[cfg_attr(not(all(feature = "docker-plugins", unix)), allow(unused_mut))]
    pub fn build(mut self) -> Result<Engine, Error> {
        #[cfg(all(feature = "docker-plugins", unix))]
        let host = {
            // One plugin whose file name cannot name a provider must not stop the
            // engine (Docker's only rule is a non-empty name): it is skipped with a
            // warning, and the same binary given twice is launched once.
            let mut taken: std::collections::HashSet<String> =
                self.registrations.iter().map(|r| r.name.clone()).collect();
            let mut seen = std::collections::HashSet::new();
            let mut usable = Vec::new();
            for p in std::mem::take(&mut self.plugins) {
                // Not canonicalised: plugins may be links to one binary, each named
                // by its link.
                let same = std::path::absolute(&p).unwrap_or_else(|_| p.clone());
                if !seen.insert(same) {
                    continue;
                }
                let problem = match crate::plugins::name_from_path(&p) {
                    None => Some("its file name is not UTF-8".to_owned()),
                    Some(name) => match super::slot::check_name(&name) {
                        Err(reason) => Some(format!("{name:?} cannot name a provider: {reason}")),
                        Ok(()) if taken.contains(&name) => {
                            Some(format!("the name {name} is taken by another provider"))
                        }
                        Ok(()) => {
                            taken.insert(name);
                            None
                        }
                    },
                };
                match problem {
                    Some(reason) => {
                        tracing::warn!(plugin = %p.display(), %reason, "plugin skipped");
                    }
                    None => usable.push(p),
                }
            }
            let host = crate::plugins::PluginHost::new(self.plugin_options.clone(), usable);
            for p in &host.launched {
                self.registrations.push(host.registration(p));
            }
            Arc::new(host)
        };
        let config_path = self.config.resolve();
        let saved = match &config_path {
            Some(p) => config::load(p)?,
            None => config::ConfigFile::default(),
        };
        #[cfg(all(feature = "docker-plugins", unix))]
        for p in &host.launched {
            p.cell.saved_access_control.store(
                saved.access_control.contains(&p.cell.name),
                std::sync::atomic::Ordering::SeqCst,
            );
        }
        let mut slots: Vec<Arc<Slot>> = Vec::with_capacity(self.registrations.len());
        // A set, so building with thousands of providers is not quadratic.
        let mut names = std::collections::HashSet::with_capacity(self.registrations.len());
        for r in self.registrations {
            let slot = make_slot(r, &saved, self.deadline, |n| names.contains(n))?;
            names.insert(slot.name.clone());
            slots.push(Arc::new(slot));
        }
        let default_store = match &self.default_store {
            Some(name) => Some(
                slots
                    .iter()
                    .find(|s| &s.name == name && s.store.is_some())
                    .map(|s| s.name.clone())
                    .ok_or_else(|| Error::UnknownProvider { name: name.clone() })?,
            ),
            None => slots
                .iter()
                .find(|s| s.store.is_some())
                .map(|s| s.name.clone()),
        };
        let mut providers = Providers {
            router: Router::new(),
        };
        for slot in slots {
            providers.push(slot);
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                providers: RwLock::new(providers),
                default_store: RwLock::new(default_store),
                config_path,
                deadline: self.deadline,
                runtime: OnceLock::new(),
                #[cfg(all(feature = "docker-plugins", unix))]
                plugins: host,
            }),
        })
    }
}
