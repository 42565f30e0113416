//! The traits every provider implements.

use async_trait::async_trait;

use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::secret::SecretValue;

/// A source of secrets: the small trait at the centre of the engine.
///
/// Implementations return every secret they hold whose id matches `pattern`. They may
/// return more (the engine post-filters against the request and the provider's
/// declared pattern) but should not, since it costs a fetch. Blocking work (OS
/// keychain calls, file I/O) belongs on `tokio::task::spawn_blocking`, never on a
/// runtime worker.
///
/// ```
/// use async_trait::async_trait;
/// use secrets_engine::{Envelope, Error, Id, Pattern, Resolver};
///
/// struct Fixed;
/// #[async_trait]
/// impl Resolver for Fixed {
///     async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
///         let id = Id::parse("demo/token")?;
///         Ok(if pattern.matches(&id) { vec![Envelope::new(id, "t0ken")] } else { vec![] })
///     }
/// }
/// ```
#[async_trait]
pub trait Resolver: Send + Sync + 'static {
    /// Every secret this provider holds whose id matches `pattern`.
    ///
    /// Return an empty list when nothing matches; an error only when the backend could
    /// not answer. [`Error::Crashed`] marks the provider crashed until it is enabled
    /// again.
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error>;

    /// Several lookups in one call, answered in the order asked (one result per
    /// pattern). The engine calls this once per provider for a batch of references
    /// ([`Engine::get_secrets_many`](crate::Engine::get_secrets_many); an environment
    /// to fill goes through [`get_values_many`](Resolver::get_values_many), which
    /// calls this unless overridden).
    ///
    /// The default runs [`get_secrets`](Resolver::get_secrets) for every pattern,
    /// concurrently. Override it when the backend can answer many lookups in fewer
    /// round trips (the keychain: one search and one `GetSecrets` for the lot). The
    /// answer must have exactly `patterns.len()` entries; any other length fails
    /// every lookup of the batch.
    async fn get_secrets_many(&self, patterns: &[Pattern]) -> Vec<Result<Vec<Envelope>, Error>> {
        futures_util::future::join_all(patterns.iter().map(|p| self.get_secrets(p))).await
    }

    /// [`get_secrets_many`](Resolver::get_secrets_many) for a caller that uses only
    /// each envelope's id and value, never its metadata
    /// ([`Engine::get_values_many`](crate::Engine::get_values_many), which
    /// [`resolve_env`](crate::resolve_env) uses to fill an environment).
    ///
    /// The answer is the same, except that envelopes may come without metadata.
    /// Override it when metadata costs the backend work of its own (the Linux
    /// keychain reads each item's attributes in a call per item; without them, ten
    /// references cost ten fewer calls). The default answers in full.
    async fn get_values_many(&self, patterns: &[Pattern]) -> Vec<Result<Vec<Envelope>, Error>> {
        self.get_secrets_many(patterns).await
    }

    /// True when the backend treats names case-insensitively (1Password): the engine
    /// then post-filters results ignoring ASCII case.
    fn case_insensitive(&self) -> bool {
        false
    }

    /// True when the provider cannot answer for the ids it holds until someone unlocks
    /// it (the file store with no passphrase, key file or cached identity).
    /// [`Engine::plugins`](crate::Engine::plugins) then reports it as
    /// [`ProviderState::Locked`](crate::ProviderState::Locked). Called on every
    /// `plugins()`: keep it cheap (no network, no prompt, no key derivation).
    fn is_locked(&self) -> bool {
        false
    }

    /// Why a provider that runs outside this process (a plugin) is down now, or
    /// `None` while it is up. [`Engine::plugins`](crate::Engine::plugins) then reports
    /// it as [`ProviderState::Crashed`](crate::ProviderState::Crashed) with this
    /// reason, while the engine keeps asking it: each call fails with its own error,
    /// so the failure is reported rather than the provider silently skipped, and
    /// nothing is persisted (the process is restarted, not the user's choice changed).
    /// `enable` calls [`reinitialize`](Self::reinitialize) on such a provider. Keep it
    /// cheap.
    fn crash_reason(&self) -> Option<String> {
        None
    }

    /// Called when a crashed provider is enabled again: reconnect, re-read
    /// configuration. An error keeps the provider crashed with that reason.
    async fn reinitialize(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Called by the engine before each call it makes to this provider, outside the
    /// call's deadline: the place for what waits on a person, such as a passphrase
    /// typed at a prompt. A deadline must not cut a person short, and one that fired
    /// mid-prompt would leave the terminal without echo. `intent` says what the call
    /// will be.
    ///
    /// It returns nothing: a provider that could not get ready reports it from the
    /// call that follows, where the engine attributes it to the lookups concerned.
    /// Keep it free when there is nothing to ask (it runs before every call). The
    /// default does nothing.
    async fn prepare(&self, intent: Intent<'_>) {
        let _ = intent;
    }
}

/// What the engine is about to ask a provider, for [`Resolver::prepare`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Intent<'a> {
    /// Lookups of these patterns ([`Resolver::get_secrets`],
    /// [`get_secrets_many`](Resolver::get_secrets_many)) or a listing ([`Store::list`]).
    Read(&'a [Pattern]),
    /// A write of this id ([`Store::set`]).
    Write(&'a Id),
    /// A removal of this id ([`Store::remove`]).
    Remove(&'a Id),
    /// [`Resolver::reinitialize`], when the provider is enabled.
    Reinitialize,
}

/// One entry of [`Store::list`]: an id and its metadata, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The secret's id.
    pub id: Id,
    /// Its non-secret metadata.
    pub metadata: Metadata,
}

/// A provider that can also store secrets (the OS keychain, the file store, memory).
#[async_trait]
pub trait Store: Resolver {
    /// Stores `value` under `id`, replacing any previous value and metadata.
    async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error>;

    /// Deletes `id`; [`Error::NotFound`] when it is not there.
    async fn remove(&self, id: &Id) -> Result<(), Error>;

    /// Ids (and metadata) matching `pattern`, sorted by id; no values are read.
    async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error>;
}
