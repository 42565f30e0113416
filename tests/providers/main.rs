//! The built-in providers against the real services they talk to (a private D-Bus
//! session with gnome-keyring, the OpenBao dev server, moto, Debian's credential
//! helpers, the fake `op`), each module built with its provider's feature.
//!
//! One test binary for all of them (see tests/core/main.rs for why).

#[cfg(feature = "aws")]
mod aws;
#[cfg(all(target_os = "linux", feature = "credential-helper"))]
mod credential_helper;
#[cfg(all(
    target_os = "linux",
    feature = "credential-helper",
    feature = "file",
    feature = "keychain",
    feature = "onepassword",
    feature = "vault"
))]
mod faults;
#[cfg(feature = "file")]
mod file_store;
#[cfg(all(unix, feature = "file"))]
mod file_store_hardening;
#[cfg(all(target_os = "linux", feature = "keychain"))]
mod keychain;
#[cfg(all(windows, feature = "keychain"))]
mod keychain_windows;
// The fake `op` is a shell script.
#[cfg(all(unix, feature = "onepassword"))]
mod onepassword;
#[cfg(feature = "vault")]
mod vault;
