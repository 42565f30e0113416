//! The session cache: the unwrapped identity kept in the Linux kernel's session
//! keyring for a while, so that the next process of the login session skips scrypt.
//!
//! The key is a `user` key named `secrets-engine:file:<recipient>` (the store's public
//! key, so two stores never share an entry), readable only by its possessors (the
//! processes of this session) and expiring after the configured timeout, counted from
//! the unlock. Where the kernel's key facility is unavailable (not Linux, or a seccomp
//! profile that blocks `keyctl`, as Docker's default one does) nothing is cached and
//! each process unlocks on its own; failures are logged at debug level, never fatal.
//!
//! Nor is anything cached (or read) in a process without a session keyring of its
//! own: there the kernel hands out the user-session keyring, which every process of
//! the uid possesses (cron jobs, services, CI jobs, other logins), so a cache there
//! would widen the audience from one session to the whole account.

use std::time::Duration;

use age::secrecy::ExposeSecret;

/// The session cache's default lifetime: 15 minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

fn description(recipient: &str) -> String {
    format!("secrets-engine:file:{recipient}")
}

/// The identity cached for the store whose public key is `recipient`, if any.
pub(super) fn load(recipient: &str) -> Option<age::x25519::Identity> {
    let mut bytes = imp::read(&description(recipient))?;
    let parsed = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.parse::<age::x25519::Identity>().ok());
    zeroize::Zeroize::zeroize(&mut bytes);
    // A key under our name for another identity is not ours to use.
    parsed.filter(|i| i.to_public().to_string() == recipient)
}

/// Caches `identity` for `timeout` (nothing when it is zero).
pub(super) fn store(identity: &age::x25519::Identity, timeout: Duration) {
    if timeout.is_zero() {
        return;
    }
    let recipient = identity.to_public().to_string();
    let secret = identity.to_string();
    imp::write(
        &description(&recipient),
        secret.expose_secret().as_bytes(),
        timeout,
    );
}

/// Whether an identity is cached for `recipient` (its payload is not read).
pub(super) fn contains(recipient: &str) -> bool {
    imp::contains(&description(recipient))
}

/// Drops the cached identity of the store whose public key is `recipient`.
pub(super) fn forget(recipient: &str) {
    imp::invalidate(&description(recipient));
}

#[cfg(target_os = "linux")]
mod imp {
    use std::time::Duration;

    use linux_keyutils::{KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};

    fn ring() -> Option<KeyRing> {
        // Without `create`: a private keyring started here would die with this process.
        let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false)
            .map_err(|e| tracing::debug!(error = ?e, "file store: no session keyring"))
            .ok()?;
        // A process with no session keyring of its own (cron, a service, a CI job)
        // resolves it to the user-session keyring, which every process of this uid
        // possesses, logged in or not: a cache there would outlive the session and
        // reach them all. The same holds for one that joined that keyring.
        let shared = KeyRing::from_special_id(KeyRingIdentifier::UserSession, false)
            .ok()
            .is_none_or(|user| user == session);
        if shared {
            tracing::debug!(
                "file store: no session keyring of its own (the user-session keyring \
                 is shared by every process of this user); nothing cached"
            );
            return None;
        }
        Some(session)
    }

    pub(super) fn read(description: &str) -> Option<Vec<u8>> {
        let key = ring()?.search(description).ok()?;
        key.read_to_vec()
            .map_err(|e| tracing::debug!(error = ?e, "file store: session key unreadable"))
            .ok()
    }

    pub(super) fn write(description: &str, secret: &[u8], timeout: Duration) {
        let Some(ring) = ring() else { return };
        let added = ring.add_key(description, secret).and_then(|key| {
            let perms = KeyPermissionsBuilder::builder()
                .posessor(Permission::ALL)
                .user(Permission::VIEW)
                .build();
            key.set_perms(perms)?;
            // The timeout is whole seconds; round up so a short one is never zero.
            let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
            key.set_timeout(usize::try_from(secs).unwrap_or(usize::MAX))
                .inspect_err(|_| {
                    let _ = key.invalidate();
                })
        });
        if let Err(e) = added {
            tracing::debug!(error = ?e, "file store: identity not cached in the session keyring");
        }
    }

    pub(super) fn contains(description: &str) -> bool {
        ring().is_some_and(|r| r.search(description).is_ok())
    }

    pub(super) fn invalidate(description: &str) {
        if let Some(key) = ring().and_then(|r| r.search(description).ok()) {
            let _ = key.invalidate();
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::time::Duration;

    pub(super) fn read(_: &str) -> Option<Vec<u8>> {
        None
    }
    pub(super) fn write(_: &str, _: &[u8], _: Duration) {}
    pub(super) fn contains(_: &str) -> bool {
        false
    }
    pub(super) fn invalidate(_: &str) {}
}
