//! The `docker-pass` provider: the OS keychain, laid out like Docker's own keychain
//! store so secrets set by either tool are seen by the other.
//!
//! | OS | backend | layout |
//! |---|---|---|
//! | Linux | Secret Service over D-Bus (gnome-keyring, KeePassXC, …) | label `<group>:<name>:<id>`; attributes `service:group`, `service:name`, `id`, metadata as `x_<key>` |
//! | macOS | Keychain Services, generic-password items (`security-framework-sys` under a crate of ours, `secrets-engine-macos-keychain`) | service `<name>`, access group `<group>`, account `<id>`, label `<group>:<name>:<id>`, the attribute map above as Go's gob in the generic attribute (see `macos_layout`) |
//! | Windows | Credential Manager generic credentials (`windows-sys`, in `platform/windows-credentials`; see `windows.rs` for why not keyring's store) | target name `<group>:<name>:<id>`, user name `<id>`; the same attributes; UTF-16LE blob, chunked over 2,560 bytes (details and our binary-value marker: `windows_layout.rs`) |
//!
//! Linux specifics:
//! - The session bus is `$DBUS_SESSION_BUS_ADDRESS` unless
//!   `Keychain::with_bus_address` (Linux only) names one. Before talking to the Secret Service
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
//!   and listings find items by group and name, then match ids here. An item whose
//!   `id` attribute is not a valid id is skipped (logged at debug level).
//! - Envelopes carry metadata but no creation time: reading it would cost the service
//!   one more item lookup per secret. Values-only lookups (an environment to fill,
//!   [`Resolver::get_values_many`](crate::Resolver::get_values_many)) of exact ids on
//!   gnome-keyring, whose searches match exactly, read no attributes at all and come
//!   without metadata; on other services each found item's `id` is read back first.
//! - One connection and one Secret Service session are kept and reused; after any
//!   error other than "locked" or "not found" they are dropped and the next call
//!   reconnects, so a restarted keyring daemon is picked up without a new engine.
//!
//! macOS specifics (Docker's `keychain_darwin.go`):
//! - Built on Keychain Services' `SecItem` calls through `security-framework-sys`
//!   and `core-foundation`, in the small crate `secrets-engine-macos-keychain` (this
//!   crate forbids unsafe code). Not keyring-rs's apple-native store: it writes
//!   service and account only, with no access group, label or generic attribute,
//!   and cannot search, so it cannot hold Docker's layout or list. Not
//!   `security-framework`'s safe API either: it has no generic attribute, and reads
//!   search results only as untyped dictionaries of raw pointers.
//! - The keychain is always there for a logged-in user: [`Keychain::is_available`]
//!   is `true`, so the default store is the keychain.
//! - Keychain user interaction is disabled for every call: a locked keychain, or an
//!   item whose access list wants the user's consent, is
//!   [`Error::Locked`](crate::Error::Locked), never a dialog.
//! - `set` deletes the id's item and adds the new one, as Docker does (the keychain
//!   keeps one item per service, access group and account, so there are never
//!   duplicates); an add that races another writer retries.
//! - Lookups search by service and access group without reading secrets, match ids
//!   here, then read the value of each match; an exact id is read directly.
//! - Item metadata that is not Docker's gob form is read as none (logged at debug
//!   level); an account that is not a valid id is skipped.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(windows)]
mod windows;
// Pure functions, compiled everywhere so their tests run on every OS.
#[cfg_attr(not(windows), allow(dead_code))]
mod windows_layout;

// Docker's macOS layout is pure and tested on every OS.
#[cfg(any(target_os = "macos", test))]
mod gob;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(any(target_os = "macos", test))]
mod macos_layout;

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
use crate::error::Error;

/// Docker's Secret Service `service:group` value.
pub const DOCKER_GROUP: &str = "com.docker.docker-pass";
/// Docker's Secret Service `service:name` value.
pub const DOCKER_NAME: &str = "docker-pass-cli";
/// The provider's user-visible name.
pub const NAME: &str = "docker-pass";

#[cfg(target_os = "linux")]
pub use linux::Keychain;
#[cfg(target_os = "macos")]
pub use macos::Keychain;
#[cfg(windows)]
pub use windows::Keychain;

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub use unsupported::Keychain;

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
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
