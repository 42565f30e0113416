//! Built-in providers. Each lives in the file named after it and implements
//! [`Resolver`](crate::Resolver), and [`Store`](crate::Store) when it can write.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "credential-helper")]
pub mod credential_helper;
#[cfg(all(feature = "engine", unix))]
pub mod engine;
#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "keychain")]
pub mod keychain;
pub mod memory;
#[cfg(feature = "onepassword")]
pub mod onepassword;
#[cfg(feature = "vault")]
pub mod vault;
