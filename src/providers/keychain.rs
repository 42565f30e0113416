//! The `docker-pass` provider: the OS keychain, laid out like Docker's own keychain
//! store so secrets set by either tool are seen by the other.
//!
//! | OS | backend | layout |
//! |---|---|---|
//! | Linux | Secret Service over D-Bus (gnome-keyring, KeePassXC, …) | label `<group>:<name>:<id>`; attributes `service:group`, `service:name`, `id`, metadata as `x_<key>` |
//! | macOS, Windows | not yet implemented | every call answers [`Error::Unavailable`](crate::Error::Unavailable) |
//!
//! Linux specifics:
//! - The session bus is `$DBUS_SESSION_BUS_ADDRESS` unless
//!   [`Keychain::with_bus_address`] names one. Before talking to the Secret Service
//!   the provider asks the bus whether `org.freedesktop.secrets` has an owner, so an
//!   absent service is [`Error::Unavailable`](crate::Error::Unavailable) at once instead of a D-Bus activation wait;
//!   every connection step has a 2-second deadline.
//! - A locked collection is [`Error::Locked`](crate::Error::Locked); the provider never opens an unlock
//!   prompt (it would hang a headless host).
//! - `set` is an upsert: it writes a new item (value, attributes and label in one
//!   call; the service replaces an item with identical attributes itself), then
//!   deletes every other item of that id, so repeated sets never leave duplicates.
//!   Writers of one id in several processes share no lock; they agree on which item
//!   to keep (the last by object path, the newest on gnome-keyring), so when they
//!   are done exactly one item remains, holding one of the values written. Lookups
//!   and listings see one item per id, the one writers keep.
//! - A lookup of exact ids searches for each id (group, name and id) and reads only
//!   the items found, so its cost does not grow with the other items stored; patterns
//!   and listings find items by group and name, then match ids here. Either way an
//!   item whose `id` attribute is not a valid id is skipped (logged at debug level).
//! - Envelopes carry metadata but no creation time: reading it would cost the service
//!   one more item lookup per secret.
//! - One connection and one Secret Service session are kept and reused; after any
//!   error other than "locked" or "not found" they are dropped and the next call
//!   reconnects, so a restarted keyring daemon is picked up without a new engine.

#[cfg(target_os = "linux")]
mod linux;

#[cfg(not(target_os = "linux"))]
use crate::error::Error;

/// Docker's Secret Service `service:group` value.
pub const DOCKER_GROUP: &str = "com.docker.docker-pass";
/// Docker's Secret Service `service:name` value.
pub const DOCKER_NAME: &str = "docker-pass-cli";
/// The provider's user-visible name.
pub const NAME: &str = "docker-pass";

#[cfg(target_os = "linux")]
pub use linux::Keychain;

#[cfg(not(target_os = "linux"))]
pub use unsupported::Keychain;

#[cfg(not(target_os = "linux"))]
mod unsupported {
    use async_trait::async_trait;

    use super::*;
    use crate::{Envelope, Id, Listing, Metadata, Pattern, Resolver, SecretValue, Store};

    /// The OS keychain; on this OS not yet implemented (see the module docs).
    #[derive(Debug, Default)]
    pub struct Keychain;

    impl Keychain {
        /// The keychain with Docker's group and name.
        pub fn new() -> Keychain {
            Keychain
        }
        /// The keychain with other group and name values.
        pub fn with_names(_group: &str, _name: &str) -> Keychain {
            Keychain
        }
        /// Whether a keychain can be reached.
        pub async fn is_available(&self) -> bool {
            false
        }
    }

    fn unavailable() -> Error {
        Error::Unavailable {
            reason: "the OS keychain is not supported on this OS yet".into(),
        }
    }

    #[async_trait]
    impl Resolver for Keychain {
        async fn get_secrets(&self, _: &Pattern) -> Result<Vec<Envelope>, Error> {
            Err(unavailable())
        }
    }

    #[async_trait]
    impl Store for Keychain {
        async fn set(&self, _: &Id, _: SecretValue, _: Metadata) -> Result<(), Error> {
            Err(unavailable())
        }
        async fn remove(&self, _: &Id) -> Result<(), Error> {
            Err(unavailable())
        }
        async fn list(&self, _: &Pattern) -> Result<Vec<Listing>, Error> {
            Err(unavailable())
        }
    }
}
