//! Built-in providers. Each lives in the file named after it and implements
//! [`Resolver`](crate::Resolver), and [`Store`](crate::Store) when it can write.

#[cfg(feature = "aws")]
pub mod aws;
pub mod credential_helper;
pub mod file;
pub mod keychain;
pub mod memory;
pub mod onepassword;
pub mod vault;
