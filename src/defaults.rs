//! The default engine: the built-in providers and the default store, as `docker-pass`,
//! the C ABI's `se_engine_new(NULL)` and Python's `Engine()` all use them.

use std::sync::Arc;

use crate::engine::{ConfigLocation, Engine, EngineBuilder, Registration};
use crate::error::Error;
use crate::pattern::Pattern;
#[cfg(feature = "credential-helper")]
use crate::providers::credential_helper;
#[cfg(feature = "file")]
use crate::providers::file;
#[cfg(feature = "keychain")]
use crate::providers::keychain;
#[cfg(feature = "onepassword")]
use crate::providers::onepassword::{self, OnePassword};
#[cfg(feature = "vault")]
use crate::providers::vault;
use crate::resolver::Store;

/// Which store the default engine writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StoreChoice {
    /// The keychain when reachable, else the file store (each only when its feature
    /// is built; with neither, the engine has no store and writes fail with
    /// [`Error::NoStore`]).
    #[default]
    Auto,
    /// The OS keychain, reachable or not (calls then fail with [`Error::Unavailable`]).
    Keychain,
    /// The encrypted file store.
    File,
    /// One in-memory store named [`MEMORY_NAME`] for every id, and no other provider:
    /// for embedding and for tests of the bindings (see [`memory_engine`]).
    Memory,
}

impl std::str::FromStr for StoreChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(StoreChoice::Auto),
            "keychain" => Ok(StoreChoice::Keychain),
            "file" => Ok(StoreChoice::File),
            "memory" => Ok(StoreChoice::Memory),
            other => Err(format!(
                "unknown store {other:?}: expected auto, keychain, file or memory"
            )),
        }
    }
}

/// Options of [`default_engine`]: the one options-to-engine path that `docker-pass`,
/// the C ABI and the Python binding share.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DefaultOptions {
    /// Which store to use.
    pub store: StoreChoice,
    /// Where provider choices are kept.
    pub config: Option<ConfigLocation>,
    /// Per-call provider deadline (default 30 s).
    pub deadline: Option<std::time::Duration>,
    /// Asks a person for the file store's passphrase when neither
    /// `SECRETS_ENGINE_FILE_PASSPHRASE` nor `SECRETS_ENGINE_FILE_KEY` is set and the
    /// session cache does not hold the identity (`docker-pass` on a terminal).
    #[cfg(feature = "file")]
    pub file_prompt: Option<file::Prompt>,
    /// Plugin binaries to launch ([`EngineBuilder::plugin`]); started by
    /// [`Engine::start_plugins`](crate::Engine::start_plugins).
    #[cfg(all(feature = "docker-plugins", unix))]
    pub plugins: Vec<std::path::PathBuf>,
    /// How plugins are supervised.
    #[cfg(all(feature = "docker-plugins", unix))]
    pub plugin_options: crate::plugins::PluginOptions,
}

impl DefaultOptions {
    /// The options as the bindings receive them, flattened: `no_config` wins over
    /// `config_path` (`None` is the default location), and a deadline of 0 ms means
    /// the default. The C ABI's `se_engine_options` and Python's `EngineOptions` both
    /// go through here, so they cannot drift apart.
    ///
    /// ```
    /// use secrets_engine::{ConfigLocation, DefaultOptions, StoreChoice};
    /// let o = DefaultOptions::flat(StoreChoice::Memory, None, true, 0);
    /// assert_eq!(o.config, Some(ConfigLocation::None));
    /// assert_eq!(o.deadline, None);
    /// ```
    pub fn flat(
        store: StoreChoice,
        config_path: Option<std::path::PathBuf>,
        no_config: bool,
        deadline_ms: u32,
    ) -> DefaultOptions {
        DefaultOptions {
            #[cfg(feature = "file")]
            file_prompt: None,
            store,
            config: Some(match (no_config, config_path) {
                (true, _) => ConfigLocation::None,
                (false, Some(path)) => ConfigLocation::Path(path),
                (false, None) => ConfigLocation::Default,
            }),
            deadline: match deadline_ms {
                0 => None,
                ms => Some(std::time::Duration::from_millis(ms.into())),
            },
            #[cfg(all(feature = "docker-plugins", unix))]
            plugins: Vec::new(),
            #[cfg(all(feature = "docker-plugins", unix))]
            plugin_options: Default::default(),
        }
    }
}

/// The store the default engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectedStore {
    /// The OS keychain (`docker-pass`).
    Keychain,
    /// The encrypted file store (`file`).
    File,
    /// The in-memory store of [`StoreChoice::Memory`].
    Memory,
    /// No store: the build has neither the `keychain` nor the `file` feature.
    None,
}

impl SelectedStore {
    /// The provider name of the store (`None` for [`SelectedStore::None`]).
    pub fn provider(self) -> Option<&'static str> {
        match self {
            SelectedStore::Keychain => Some(KEYCHAIN_NAME),
            SelectedStore::File => Some(FILE_NAME),
            SelectedStore::Memory => Some(MEMORY_NAME),
            SelectedStore::None => None,
        }
    }
}

/// The keychain provider's name, with or without the feature (errors name it).
const KEYCHAIN_NAME: &str = "docker-pass";
/// The file store's name, with or without the feature.
const FILE_NAME: &str = "file";

fn builder(options: &DefaultOptions) -> EngineBuilder {
    let b = Engine::builder()
        .config(options.config.clone().unwrap_or(ConfigLocation::Default))
        .deadline(options.deadline.unwrap_or(crate::engine::DEFAULT_DEADLINE));
    #[cfg(all(feature = "docker-plugins", unix))]
    let b = options
        .plugins
        .iter()
        .fold(b.plugin_options(options.plugin_options.clone()), |b, p| {
            b.plugin(p)
        });
    b
}

fn any() -> Pattern {
    Pattern::parse("**").expect("** is a valid pattern")
}

fn not_built(feature: &str) -> Error {
    Error::NoStore {
        reason: format!("this build of secrets-engine has no `{feature}` feature"),
    }
}

/// Builds the default engine and returns it with the store chosen (docs/design.md
/// §10.2).
///
/// Store selection: the OS keychain (`docker-pass` provider) when it is there (on
/// Linux when a Secret Service is reachable; on macOS and Windows always, without a
/// probe: a process there without a keychain, such as a Windows service, gets
/// [`Error::Unavailable`] from the keychain's calls), else the encrypted `file`
/// store. The store chosen is always on (not
/// configurable), so a saved choice can never leave the engine without its store.
/// The other one is a provider too when it can work: the keychain whenever it is
/// reachable (lookups always see it), the file store disabled until the user enables
/// it (enabling checks it can be unlocked). The 1Password providers (`1password-cli`,
/// `1password-sdk`) are registered disabled; enabling one checks `op` works. The
/// `credential-helper` provider is registered when Docker's config names a
/// `credsStore`, and `vault` when `VAULT_ADDR`/`VAULT_TOKEN` (or `BAO_*`) are set.
///
/// Each provider is registered only when its feature is built. With
/// [`StoreChoice::Memory`] the engine is [`memory_engine`]'s.
///
/// Probing the Secret Service (Linux) takes at most 2 s per connection step when none
/// answers; the connection made while probing is kept for later calls.
///
/// # Errors
/// [`Error::NoStore`] when the store asked for is not built in; [`Error::Config`] for
/// an unreadable config file.
pub async fn default_engine(options: DefaultOptions) -> Result<(Engine, SelectedStore), Error> {
    if options.store == StoreChoice::Memory {
        return Ok((memory_engine(options)?, SelectedStore::Memory));
    }
    let (b, selected, token_store) = with_stores(builder(&options), &options).await?;
    let b = with_remote_providers(b, token_store).await;
    Ok((b.build()?, selected))
}

/// The store the default engine writes to (the keychain or the file store), and the
/// other one as a provider when it can work. Returns the store that keeps the
/// engine's own secrets (the 1Password service-account token, a vault token).
#[cfg_attr(
    not(any(feature = "onepassword", feature = "vault")),
    allow(unused_mut, clippy::let_and_return)
)]
async fn with_stores(
    mut b: EngineBuilder,
    options: &DefaultOptions,
) -> Result<(EngineBuilder, SelectedStore, TokenStore), Error> {
    let choice = options.store;
    #[cfg(feature = "keychain")]
    let kc = Arc::new(keychain::Keychain::new());
    #[cfg(feature = "keychain")]
    let reachable = match choice {
        StoreChoice::Keychain => true,
        _ => kc.is_available().await,
    };
    #[cfg(not(feature = "keychain"))]
    let reachable = false;
    let selected = match choice {
        StoreChoice::Keychain if !cfg!(feature = "keychain") => {
            return Err(not_built("keychain"));
        }
        StoreChoice::File if !cfg!(feature = "file") => return Err(not_built("file")),
        StoreChoice::Keychain => SelectedStore::Keychain,
        StoreChoice::File => SelectedStore::File,
        _ if reachable => SelectedStore::Keychain,
        _ if cfg!(feature = "file") => SelectedStore::File,
        _ => SelectedStore::None,
    };
    #[cfg(feature = "file")]
    let fs = Arc::new(file::FileStore::from_env().with_prompt(options.file_prompt.clone()));
    // The store chosen is always on; the other one is a provider when it can work:
    // the keychain whenever reachable, the file store off until the user enables it.
    #[cfg(feature = "keychain")]
    if reachable {
        b = b.register(Registration::store(keychain::NAME, any(), kc.clone()).configurable(false));
    }
    #[cfg(feature = "file")]
    {
        let file = Registration::store(file::NAME, any(), fs.clone());
        b = b.register(match selected {
            SelectedStore::File => file.configurable(false),
            _ => file.enabled_by_default(false),
        });
    }
    if let Some(name) = selected.provider() {
        b = b.default_store(name);
    }
    let token_store: TokenStore = match selected {
        #[cfg(feature = "keychain")]
        SelectedStore::Keychain => Some(kc),
        #[cfg(feature = "file")]
        SelectedStore::File => Some(fs),
        _ => None,
    };
    Ok((b, selected, token_store))
}

/// Where the engine keeps its own secrets, if it has a store.
type TokenStore = Option<Arc<dyn Store>>;

/// Vault, AWS, the credential helper and 1Password, each when its feature is built and
/// (except 1Password, registered disabled) when the environment configures it.
#[cfg_attr(
    not(any(feature = "vault", feature = "onepassword")),
    allow(unused_variables)
)]
#[cfg_attr(
    not(any(
        feature = "vault",
        feature = "aws",
        feature = "credential-helper",
        feature = "onepassword"
    )),
    allow(unused_mut)
)]
async fn with_remote_providers(mut b: EngineBuilder, token_store: TokenStore) -> EngineBuilder {
    #[cfg(feature = "vault")]
    if let Some(config) = vault_config(token_store.as_ref()).await {
        let pattern = config.pattern();
        // A broken vault setting (an unreadable CA file) must not take the
        // keychain down with it.
        match vault::Vault::new(config) {
            Ok(v) => b = b.register(Registration::resolver(vault::NAME, pattern, Arc::new(v))),
            Err(e) => tracing::warn!(error = %e, "vault provider not registered"),
        }
    }
    // AWS Secrets Manager, when a region is configured; off until enabled, since its
    // pattern is every id.
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
    #[cfg(feature = "credential-helper")]
    if let Some(helper) = credential_helper::CredentialHelper::from_docker_config() {
        b = b.register(Registration::resolver(
            credential_helper::NAME,
            Pattern::parse(credential_helper::PATTERN).expect("valid"),
            Arc::new(helper),
        ));
    }
    // 1Password: off until the user enables it (or runs `plugins 1password setup`).
    // The service account needs a store for its token.
    #[cfg(feature = "onepassword")]
    {
        b = b.register(
            Registration::resolver(onepassword::CLI_NAME, any(), Arc::new(OnePassword::cli()))
                .enabled_by_default(false)
                .deadline(onepassword::DEADLINE),
        );
        if let Some(store) = token_store {
            b = b.register(
                Registration::resolver(
                    onepassword::SDK_NAME,
                    any(),
                    Arc::new(OnePassword::service_account(store)),
                )
                .enabled_by_default(false)
                .deadline(onepassword::DEADLINE),
            );
        }
    }
    b
}

/// A Vault/OpenBao, when the environment names one (VAULT_ADDR + VAULT_TOKEN, or the
/// BAO_* equivalents). Without a token variable, the token comes from the default
/// store (docker/secrets-engine/vault/token, hidden from lookups and ls).
#[cfg(feature = "vault")]
async fn vault_config(token_store: Option<&Arc<dyn Store>>) -> Option<vault::VaultConfig> {
    if let Some(c) = vault::VaultConfig::from_env() {
        return Some(c);
    }
    std::env::var_os("VAULT_ADDR").or_else(|| std::env::var_os("BAO_ADDR"))?;
    let id = crate::id::Id::parse(vault::TOKEN_ID).expect("valid id");
    match token_store?.get_secrets(&Pattern::from(id)).await {
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

/// An engine with one in-memory store named `memory` for every id, and no OS
/// providers: for embedding and for tests of the bindings. The same as
/// [`default_engine`] with [`StoreChoice::Memory`]: only `config` and `deadline` of
/// `options` apply; the store is never configurable, so a saved choice cannot switch
/// it off.
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
    builder(&options)
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

/// A current-thread Tokio runtime, for a program without one that builds an engine
/// and resolves one batch of references on it ([`default_engine_blocking`],
/// `docker-pass run`, se-runc): one batch needs no worker threads.
pub fn current_thread_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Unavailable {
            reason: format!("cannot start a runtime: {e}"),
        })
}

/// [`default_engine`] for callers without a runtime (or inside one): runs the probe on
/// a short-lived thread of its own.
pub fn default_engine_blocking(options: DefaultOptions) -> Result<(Engine, SelectedStore), Error> {
    if options.store == StoreChoice::Memory {
        // Nothing to probe: no thread, no runtime.
        return Ok((memory_engine(options)?, SelectedStore::Memory));
    }
    std::thread::scope(|s| {
        s.spawn(|| current_thread_runtime()?.block_on(default_engine(options)))
            .join()
            .unwrap_or_else(|_| {
                Err(Error::Crashed {
                    reason: "building the default engine panicked".into(),
                })
            })
    })
}
