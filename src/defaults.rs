//! The default engine: the built-in providers and the default store, as `docker-pass`,
//! the C ABI's `se_engine_new(NULL)` and Python's `Engine()` all use them.
//!
//! Store selection: the OS keychain (`docker-pass` provider) when a Secret Service is
//! reachable, else the encrypted `file` store. The store chosen is always on (not
//! configurable), so a saved choice can never leave the engine without its store.
//! The other one is a provider too when it can work: the keychain whenever it is
//! reachable (lookups always see it), the file store disabled until the user enables
//! it (enabling checks it can be unlocked). The 1Password providers (`1password-cli`,
//! `1password-sdk`) are registered disabled; enabling one checks `op` works. The
//! `credential-helper` provider is registered when Docker's config names a
//! `credsStore`, and `vault` when `VAULT_ADDR`/`VAULT_TOKEN` (or `BAO_*`) are set.

use std::sync::Arc;

use crate::engine::{ConfigLocation, Engine, Registration};
use crate::error::Error;
use crate::pattern::Pattern;
use crate::providers::onepassword::{self, OnePassword};
use crate::providers::{credential_helper, file, keychain, vault};
use crate::resolver::Store;

/// Which store the default engine writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreChoice {
    /// The keychain when reachable, else the file store.
    #[default]
    Auto,
    /// The OS keychain, reachable or not (calls then fail with [`Error::Unavailable`]).
    Keychain,
    /// The encrypted file store.
    File,
}

impl std::str::FromStr for StoreChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(StoreChoice::Auto),
            "keychain" => Ok(StoreChoice::Keychain),
            "file" => Ok(StoreChoice::File),
            other => Err(format!(
                "unknown store {other:?}: expected auto, keychain or file"
            )),
        }
    }
}

/// Options of [`default_engine`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DefaultOptions {
    /// Which store to use.
    pub store: StoreChoice,
    /// Where provider choices are kept.
    pub config: Option<ConfigLocation>,
    /// Per-call provider deadline (default 30 s).
    pub deadline: Option<std::time::Duration>,
}

/// The store the default engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectedStore {
    /// The OS keychain (`docker-pass`).
    Keychain,
    /// The encrypted file store (`file`).
    File,
}

impl SelectedStore {
    /// The provider name of the store.
    pub fn provider(self) -> &'static str {
        match self {
            SelectedStore::Keychain => keychain::NAME,
            SelectedStore::File => file::NAME,
        }
    }
}

fn any() -> Pattern {
    Pattern::parse("**").expect("** is a valid pattern")
}

/// Builds the default engine (see the [module docs](self)); returns it with the store
/// chosen. Probing the keychain takes at most 2 s per connection step when no Secret
/// Service answers; the connection made while probing is kept for later calls.
pub async fn default_engine(options: DefaultOptions) -> Result<(Engine, SelectedStore), Error> {
    let kc = Arc::new(keychain::Keychain::new());
    let reachable = match options.store {
        StoreChoice::Keychain => true,
        StoreChoice::File | StoreChoice::Auto => kc.is_available().await,
    };
    let selected = match options.store {
        StoreChoice::Keychain => SelectedStore::Keychain,
        StoreChoice::File => SelectedStore::File,
        StoreChoice::Auto if reachable => SelectedStore::Keychain,
        StoreChoice::Auto => SelectedStore::File,
    };
    let fs = Arc::new(file::FileStore::from_env());
    // The service-account token lives in the default store, in the internal realm.
    let token_store: Arc<dyn Store> = match selected {
        SelectedStore::Keychain => kc.clone(),
        SelectedStore::File => fs.clone(),
    };
    let mut b = Engine::builder()
        .config(options.config.unwrap_or(ConfigLocation::Default))
        .deadline(options.deadline.unwrap_or(crate::engine::DEFAULT_DEADLINE));
    b = match selected {
        SelectedStore::Keychain => b
            .register(Registration::store(keychain::NAME, any(), kc).configurable(false))
            .register(Registration::store(file::NAME, any(), fs).enabled_by_default(false))
            .default_store(keychain::NAME),
        SelectedStore::File if reachable => b
            .register(Registration::store(keychain::NAME, any(), kc).configurable(false))
            .register(Registration::store(file::NAME, any(), fs).configurable(false))
            .default_store(file::NAME),
        SelectedStore::File => b
            .register(Registration::store(file::NAME, any(), fs).configurable(false))
            .default_store(file::NAME),
    };
    // A Vault/OpenBao, when the environment names one (VAULT_ADDR + VAULT_TOKEN, or
    // the BAO_* equivalents).
    // Without a token variable, the token comes from the default store
    // (docker/secrets-engine/vault/token, hidden from lookups and ls).
    let vault_config = match vault::VaultConfig::from_env() {
        Some(c) => Some(c),
        None if std::env::var_os("VAULT_ADDR")
            .or_else(|| std::env::var_os("BAO_ADDR"))
            .is_some() =>
        {
            let id = crate::id::Id::parse(vault::TOKEN_ID).expect("valid id");
            match token_store.get_secrets(&Pattern::from(id)).await {
                Ok(found) => found
                    .into_iter()
                    .next()
                    .and_then(|e| vault::VaultConfig::from_env_with_token(e.into_value())),
                Err(e) => {
                    tracing::warn!(error = %e, "vault: cannot read the token from the store");
                    None
                }
            }
        }
        None => None,
    };
    if let Some(config) = vault_config {
        let pattern = config.pattern();
        // A broken vault setting (an unreadable CA file) must not take the
        // keychain down with it.
        match vault::Vault::new(config) {
            Ok(v) => b = b.register(Registration::resolver(vault::NAME, pattern, Arc::new(v))),
            Err(e) => tracing::warn!(error = %e, "vault provider not registered"),
        }
    }
    // AWS Secrets Manager (feature `aws`), when a region is configured; off until
    // enabled, since its pattern is every id.
    #[cfg(feature = "aws")]
    if std::env::var_os("AWS_REGION")
        .or_else(|| std::env::var_os("AWS_DEFAULT_REGION"))
        .is_some()
    {
        let sm = crate::providers::aws::AwsSecretsManager::new(Default::default()).await;
        b = b.register(
            Registration::resolver(crate::providers::aws::NAME, any(), Arc::new(sm))
                .enabled_by_default(false),
        );
    }
    // Docker's credential helper, when Docker's config names one (docker login
    // already writes there).
    if let Some(helper) = credential_helper::CredentialHelper::from_docker_config() {
        b = b.register(Registration::resolver(
            credential_helper::NAME,
            Pattern::parse(credential_helper::PATTERN).expect("valid"),
            Arc::new(helper),
        ));
    }
    // 1Password: off until the user enables it (or runs `plugins 1password setup`).
    b = b
        .register(
            Registration::resolver(onepassword::CLI_NAME, any(), Arc::new(OnePassword::cli()))
                .enabled_by_default(false)
                .deadline(onepassword::DEADLINE),
        )
        .register(
            Registration::resolver(
                onepassword::SDK_NAME,
                any(),
                Arc::new(OnePassword::service_account(token_store.clone())),
            )
            .enabled_by_default(false)
            .deadline(onepassword::DEADLINE),
        );
    Ok((b.build()?, selected))
}

/// An engine with one in-memory store named `memory` for every id, and no OS
/// providers: for embedding and for tests of the bindings. Only `config` and
/// `deadline` of `options` apply; the store is never configurable, so a saved choice
/// cannot switch it off.
///
/// ```
/// # use secrets_engine::{memory_engine, DefaultOptions, ConfigLocation};
/// let mut options = DefaultOptions::default();
/// options.config = Some(ConfigLocation::None);
/// let engine = memory_engine(options)?;
/// assert_eq!(engine.plugins().len(), 1);
/// # Ok::<(), secrets_engine::Error>(())
/// ```
pub fn memory_engine(options: DefaultOptions) -> Result<Engine, Error> {
    Engine::builder()
        .config(options.config.unwrap_or(ConfigLocation::Default))
        .deadline(options.deadline.unwrap_or(crate::engine::DEFAULT_DEADLINE))
        .register(
            Registration::store(
                MEMORY_NAME,
                any(),
                Arc::new(crate::providers::memory::MemoryStore::new()),
            )
            .configurable(false),
        )
        .build()
}

/// The provider name of [`memory_engine`]'s store.
pub const MEMORY_NAME: &str = "memory";

/// [`default_engine`] for callers without a runtime (or inside one): runs the probe on
/// a short-lived thread of its own.
pub fn default_engine_blocking(options: DefaultOptions) -> Result<(Engine, SelectedStore), Error> {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Unavailable {
                    reason: format!("cannot start a runtime: {e}"),
                })?
                .block_on(default_engine(options))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Crashed {
                reason: "building the default engine panicked".into(),
            })
        })
    })
}
