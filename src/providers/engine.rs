//! The `engine` provider: a [`Resolver`] that forwards every lookup to a running
//! engine (ours, `docker-pass engine serve`, or Docker's daemon) over its socket.
//!
//! It is how a process that cannot reach a user's keychain itself (a container
//! runtime running as root, a process outside the login session) resolves through
//! the user's engine. Each lookup is one `GetSecrets` call under the provider's
//! deadline; an engine that is not running is [`Error::Unavailable`], a timeout an
//! error of kind [`Timeout`](crate::ErrorKind::Timeout) (with the engine's message
//! naming the provider when the engine timed out), a locked provider behind it
//! [`Error::Locked`], "nothing matched" an empty answer, and any other failure on
//! the engine's side [`Error::Backend`] with the engine's code and message.
//!
//! ```no_run
//! use std::sync::Arc;
//! use secrets_engine::providers::engine::{EngineProvider, NAME};
//! use secrets_engine::{ConfigLocation, Engine, EngineSocket, Pattern, Registration};
//! let engine = Engine::builder()
//!     .config(ConfigLocation::None)
//!     .register(Registration::resolver(
//!         NAME,
//!         Pattern::parse("**")?,
//!         Arc::new(EngineProvider::new(EngineSocket::default_engine())),
//!     ))
//!     .build()?;
//! # Ok::<(), secrets_engine::Error>(())
//! ```

use std::time::Duration;

use async_trait::async_trait;

use crate::client::{DEFAULT_CLIENT_TIMEOUT, EngineClient};
use crate::engine::Registration;
use crate::envelope::Envelope;
use crate::error::Error;
use crate::pattern::Pattern;
use crate::resolver::Resolver;
use crate::socket::EngineSocket;

/// The provider's user-visible name.
pub const NAME: &str = "engine";

/// The engine deadline of a registration that forwards to another engine
/// ([`EngineProvider::registration`]): above the client's
/// [`DEFAULT_CLIENT_TIMEOUT`], itself above the other engine's server and provider
/// deadlines, so the answer naming a stuck provider over there arrives before any
/// deadline on this side fires.
pub const FORWARDING_DEADLINE: Duration = Duration::from_secs(45);
const _: () = assert!(FORWARDING_DEADLINE.as_secs() > DEFAULT_CLIENT_TIMEOUT.as_secs());

/// Forwards lookups to a running engine (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct EngineProvider {
    client: EngineClient,
}

impl EngineProvider {
    /// A provider forwarding to the engine at `socket`.
    pub fn new(socket: EngineSocket) -> EngineProvider {
        EngineProvider {
            client: EngineClient::new(socket),
        }
    }

    /// The deadline of each forwarded call (also sent to the engine, which stops
    /// working on the lookup when it passes). Keep it within the engine's own
    /// deadline for this provider, or the engine gives up first and says so.
    pub fn with_timeout(self, timeout: Duration) -> EngineProvider {
        EngineProvider {
            client: self.client.with_timeout(timeout),
        }
    }

    /// The client it forwards through.
    pub fn client(&self) -> &EngineClient {
        &self.client
    }

    /// The one provider of an engine that forwards every lookup to the engine at
    /// `socket` (`docker-pass run --engine`, a container runtime reaching a user's
    /// engine): [`NAME`], claiming `**`, not configurable, under
    /// [`FORWARDING_DEADLINE`].
    pub fn registration(socket: EngineSocket) -> Registration {
        Registration::resolver(
            NAME,
            Pattern::parse("**").expect("a valid pattern"),
            std::sync::Arc::new(EngineProvider::new(socket)),
        )
        .deadline(FORWARDING_DEADLINE)
        .configurable(false)
    }
}

#[async_trait]
impl Resolver for EngineProvider {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        match self.client.get_secrets(pattern).await {
            Ok(found) => Ok(found),
            Err(Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}
