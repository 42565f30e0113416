//! Embeddable secrets resolution.
//!
//! Applications refer to secrets as `se://<id|pattern>`. An [`Id`] names one secret
//! (`docker/auth/hub/alice`); a [`Pattern`] names a set of them with `*` (exactly one
//! component) and `**` (zero or more components). The library resolves a reference by
//! asking every provider whose declared pattern overlaps it, and injects the answers
//! into the environment of host commands and containers.
//!
//! ```
//! use secrets_engine::{Id, Pattern, SecretRef};
//!
//! let r = SecretRef::parse_env_value("se://docker/auth/*/alice")?.expect("a reference");
//! assert!(r.pattern().matches(&Id::parse("docker/auth/hub/alice")?));
//!
//! // Exact pattern algebra: which providers can answer which requests.
//! let provider: Pattern = "docker/**".parse()?;
//! assert!(provider.includes(r.pattern()));
//! assert!(provider.overlaps(&"**/alice".parse()?));
//! # Ok::<(), secrets_engine::Error>(())
//! ```
//!
//! # Choices where the design is silent
//!
//! - The pattern algebra is defined over the unbounded set of ids; the 4096-byte limit
//!   is an input limit and does not change what `includes` or `overlaps` answer.
//! - Error offsets in [`SyntaxError`] count bytes; component indices are 0-based.
//! - An id component `*` is rejected as [`SyntaxError::WildcardInId`]; a `*` inside a
//!   component of an id is an invalid character.
#![warn(missing_docs)]
// The platform calls with no safe binding that can express Docker's layouts live in
// crates of their own (platform/macos-keychain, platform/windows-credentials).
#![forbid(unsafe_code)]

// The client uses only part of the messages and of the framing; the server all.
#[cfg(all(feature = "engine", unix))]
#[cfg_attr(not(feature = "engine-server"), allow(dead_code))]
mod api;
#[cfg(all(feature = "engine", unix))]
mod client;
mod defaults;
mod engine;
mod env;
pub mod env_file;
mod envelope;
mod error;
mod error_kind;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod grammar;
mod id;
mod pattern;
#[cfg(all(feature = "docker-plugins", unix))]
pub mod plugins;
pub mod providers;
mod reference;
mod resolver;
mod router;
mod secret;
#[cfg(all(feature = "engine-server", unix))]
pub mod server;
#[cfg(feature = "engine")]
mod socket;

#[cfg(all(feature = "engine", unix))]
pub use client::{
    Authorization, DEFAULT_CLIENT_TIMEOUT, EngineClient, EnginePlugin, EngineVersion,
};
pub use defaults::{
    DefaultOptions, MEMORY_NAME, SelectedStore, StoreChoice, current_thread_runtime,
    default_engine, default_engine_blocking, memory_engine,
};
pub use engine::{
    Blocking, CONFIG_ENV, ConfigLocation, DEFAULT_DEADLINE, Engine, EngineBuilder, INTERNAL_REALM,
    PluginInfo, ProviderState, Registration, Resolution,
};
pub use env::{
    DEFAULT_MAX_CONCURRENT_LOOKUPS, DEFAULT_MAX_REFERENCES, EnvOptions, resolve_env,
    resolve_env_with,
};
pub use envelope::{Envelope, Metadata};
pub use error::{Error, ErrorKind, ProviderFailure, SyntaxError};
pub use grammar::MAX_LEN;
pub use id::Id;
pub use pattern::Pattern;
pub use providers::memory::MemoryStore;
pub use reference::{SCHEME, SecretRef};
pub use resolver::{Intent, Listing, Resolver, Store};
pub use router::Router;
pub use secret::SecretValue;
#[cfg(feature = "engine")]
pub use socket::EngineSocket;
