//! The blocking facade over the async engine.

use std::future::Future;

use super::{Engine, Resolution};
use crate::env::EnvOptions;
use crate::envelope::Metadata;
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::Listing;
use crate::secret::SecretValue;

/// Blocking calls on an [`Engine`]; see [`Engine::blocking`].
///
/// ```
/// use std::sync::Arc;
/// use secrets_engine::{ConfigLocation, Engine, Id, MemoryStore, Pattern};
/// let engine = Engine::builder()
///     .store("memory", Pattern::parse("**")?, Arc::new(MemoryStore::new()))
///     .config(ConfigLocation::None)
///     .build()?;
/// engine.blocking().set(&Id::parse("a/b")?, "v".into(), Default::default())?;
/// let found = engine.blocking().get_secrets(&Pattern::parse("a/*")?)?;
/// assert_eq!(found.envelopes().len(), 1);
/// # Ok::<(), secrets_engine::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Blocking<'a> {
    pub(super) engine: &'a Engine,
}

impl Blocking<'_> {
    fn run<T, F>(&self, f: impl FnOnce(Engine) -> F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let rt = self
            .engine
            .inner
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("secrets-engine")
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::Unavailable {
                reason: format!("cannot start the engine's runtime: {e}"),
            })?;
        let fut = f(self.engine.clone());
        if tokio::runtime::Handle::try_current().is_err() {
            return rt.block_on(fut);
        }
        // Inside someone else's runtime `block_on` would panic: run the call on our
        // runtime and park this thread until it is done.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(Error::Crashed {
                reason: "the engine's runtime stopped during the call".into(),
            })
        })
    }

    /// [`Engine::get_secrets`], blocking.
    pub fn get_secrets(&self, pattern: &Pattern) -> Result<Resolution, Error> {
        let p = pattern.clone();
        self.run(move |e| async move { e.get_secrets(&p).await })
    }

    /// [`Engine::resolve_one`], blocking.
    pub fn resolve_one(&self, pattern: &Pattern) -> Result<SecretValue, Error> {
        let p = pattern.clone();
        self.run(move |e| async move { e.resolve_one(&p).await })
    }

    /// [`crate::resolve_env_with`], blocking.
    pub fn resolve_env(
        &self,
        vars: Vec<(std::ffi::OsString, std::ffi::OsString)>,
        options: EnvOptions,
    ) -> Result<Vec<(std::ffi::OsString, std::ffi::OsString)>, Error> {
        self.run(move |e| async move { crate::env::resolve_env_with(&e, vars, options).await })
    }

    /// [`Engine::enable`], blocking.
    pub fn enable(&self, name: &str) -> Result<(), Error> {
        let n = name.to_owned();
        self.run(move |e| async move { e.enable(&n).await })
    }

    /// [`Engine::disable`].
    pub fn disable(&self, name: &str) -> Result<(), Error> {
        self.engine.disable(name)
    }

    /// [`Engine::set`], blocking.
    pub fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        let id = id.clone();
        self.run(move |e| async move { e.set(&id, value, metadata).await })
    }

    /// [`Engine::remove`], blocking.
    pub fn remove(&self, id: &Id) -> Result<(), Error> {
        let id = id.clone();
        self.run(move |e| async move { e.remove(&id).await })
    }

    /// [`Engine::list`], blocking.
    pub fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let p = pattern.clone();
        self.run(move |e| async move { e.list(&p).await })
    }
}
