//! The keychain on Windows: generic credentials in the Credential Manager, laid out as
//! Docker's `docker pass` lays them out ([`super::windows_layout`] has the layout and
//! the two choices of ours: marked binary values, and credentials whose attributes
//! were lost).
//!
//! **Why `windows-sys`.** The design names the `keyring` crate; its Windows store
//! (keyring's `windows-native`) writes one credential per entry with a target name, a
//! user name and a blob it encodes itself, and has no way to set attributes, to store
//! Docker's UTF-16 blob as is, or to enumerate credentials by target prefix. Docker's
//! layout needs all three (metadata and `chunk:count` are attributes, values over
//! 2,560 bytes are chunk credentials, listing is an enumeration), so `CredReadW`,
//! `CredWriteW`, `CredEnumerateW` and `CredDeleteW` are called through the
//! `windows-sys` bindings, in the small `secrets-engine-windows-credentials` crate
//! (`platform/windows-credentials`): the core forbids unsafe code.
//!
//! Behaviour:
//! - Target names are case-insensitive in the Credential Manager, so ids differing
//!   only in case name one credential: the provider declares itself case-insensitive
//!   ([`Resolver::case_insensitive`]) and patterns are matched ignoring ASCII case.
//! - `set` is an upsert: `CredWriteW` replaces the credential of the same target, so
//!   no duplicates exist; stale chunk credentials are deleted first (Docker's order).
//! - Listing is one `CredEnumerateW` with the filter `<group>:<name>:*`; lookups of
//!   one id are one `CredReadW` (plus one per chunk).
//! - The Credential Manager is always there: [`Keychain::is_available`] is `true`
//!   without a probe, so the default store is the keychain, as on macOS. No logon
//!   session (a service account, a network logon) is [`Error::Unavailable`] per
//!   call; the Credential Manager never prompts.
//! - Every call runs on `spawn_blocking`.

use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::windows_layout as layout;
use super::{DOCKER_GROUP, DOCKER_NAME};
use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Listing, Resolver, Store};
use crate::secret::SecretValue;

/// The OS keychain (see the [module docs](super) for layout and behaviour).
///
/// ```no_run
/// use std::sync::Arc;
/// use secrets_engine::{Engine, Pattern, Registration};
/// use secrets_engine::providers::keychain::{Keychain, NAME};
/// let engine = Engine::builder()
///     .register(Registration::store(NAME, Pattern::parse("**")?, Arc::new(Keychain::new())).configurable(false))
///     .build()?;
/// # Ok::<(), secrets_engine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Keychain {
    names: Arc<Names>,
}

#[derive(Debug)]
struct Names {
    group: String,
    name: String,
    /// Serialises this object's writes, so a set's chunk credentials are never
    /// interleaved with another set's of the same id from this process.
    writes: std::sync::Mutex<()>,
}

impl Default for Keychain {
    fn default() -> Self {
        Keychain::new()
    }
}

impl Keychain {
    /// The keychain with Docker's group and name, so `docker pass` sees the same secrets.
    pub fn new() -> Keychain {
        Keychain::with_names(DOCKER_GROUP, DOCKER_NAME)
    }

    /// The keychain with other `service:group` / `service:name` values, for embedders
    /// that want their own namespace.
    pub fn with_names(group: &str, name: &str) -> Keychain {
        Keychain {
            names: Arc::new(Names {
                group: group.to_owned(),
                name: name.to_owned(),
                writes: std::sync::Mutex::new(()),
            }),
        }
    }

    /// Always `true`, without a call: the Credential Manager is part of every Windows
    /// logon, as Docker's store assumes, so the default store is the keychain. A
    /// process without a logon session whose credentials it may use (a service, a
    /// network logon) gets [`Error::Unavailable`] from each call instead.
    pub async fn is_available(&self) -> bool {
        true
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::Crashed {
            reason: "a Credential Manager call panicked".into(),
        })?
}

/// One of our main credentials, read.
struct Found {
    id: Id,
    credential: ffi::Credential,
}

impl Names {
    fn target(&self, id: &str) -> String {
        layout::target(&self.group, &self.name, id)
    }

    fn ours(&self, c: ffi::Credential) -> Option<Found> {
        let id = layout::ours(
            &self.group,
            &self.name,
            &c.target,
            c.user.as_deref(),
            &c.attributes,
        )?;
        Some(Found { id, credential: c })
    }

    /// Our main credentials (every credential whose target starts with our prefix,
    /// then [`layout::ours`]).
    fn enumerate(&self) -> Result<Vec<Found>, Error> {
        let filter = layout::enumerate_filter(&self.group, &self.name);
        Ok(ffi::enumerate(filter.as_deref())?
            .into_iter()
            .filter_map(|c| self.ours(c))
            .collect())
    }

    /// The value of a main credential: its blob, or its chunks joined, decoded.
    fn value(&self, found: &Found) -> Result<Zeroizing<Vec<u8>>, Error> {
        let c = &found.credential;
        let owner = found.id.as_str();
        let count = layout::chunk_count(&c.attributes, &c.target)?;
        let blob = match count {
            Some(n) => self.read_chunks(&c.target, owner, Some(n))?,
            // No attributes at all: a Credential Manager that drops them (Wine) may
            // have dropped `chunk:count` too.
            None if c.blob.is_empty() && c.attributes.is_empty() => {
                self.read_chunks(&c.target, owner, None)?
            }
            None => Zeroizing::new(c.blob.to_vec()),
        };
        layout::decode_value(&blob, &c.target)
    }

    /// The chunks of `owner`'s value at `target` joined: `count` of them, each
    /// required, or (`None`) as many as exist from 0 on. A credential at a chunk's
    /// target that is not `owner`'s chunk (the id `<owner>:chunk:<i>`'s own value) is
    /// never joined: it ends an uncounted run and is a missing chunk of a counted one.
    fn read_chunks(
        &self,
        target: &str,
        owner: &str,
        count: Option<usize>,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        // The chunks are read first and joined into a buffer of their total size:
        // growing the joined blob would leave copies of it in freed memory. Each
        // chunk's blob is zeroized on drop.
        let mut chunks: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(count.unwrap_or(0));
        for i in 0..count.unwrap_or(layout::MAX_CHUNKS) {
            let name = layout::chunk_target(target, i);
            match ffi::read(&name)?
                .filter(|c| layout::is_chunk_of(owner, i, c.user.as_deref(), &c.attributes))
            {
                Some(chunk) => chunks.push(chunk.blob),
                None if count.is_none() => break,
                None => {
                    return Err(Error::Backend {
                        message: format!(
                            "the credential {name:?} is missing: {target:?} is stored in {} chunks",
                            count.unwrap_or_default()
                        ),
                    });
                }
            }
        }
        let mut blob = Zeroizing::new(Vec::with_capacity(chunks.iter().map(|c| c.len()).sum()));
        for chunk in &chunks {
            blob.extend_from_slice(chunk);
        }
        Ok(blob)
    }

    /// Deletes `owner`'s chunks at `target` from 0 on until one is missing (Docker's
    /// rule) or is not `owner`'s (the id `<owner>:chunk:<i>`'s own credential, which
    /// stays); how many went.
    fn delete_chunks(&self, target: &str, owner: &str) -> Result<usize, Error> {
        for i in 0..layout::MAX_CHUNKS {
            let name = layout::chunk_target(target, i);
            let Some(c) = ffi::read(&name)? else {
                return Ok(i);
            };
            if !layout::is_chunk_of(owner, i, c.user.as_deref(), &c.attributes)
                || !ffi::delete(&name)?
            {
                return Ok(i);
            }
        }
        Ok(layout::MAX_CHUNKS)
    }

    /// Refuses to write `target` for `owner` when it holds another id's credential
    /// (a chunk of the id `owner` minus `:chunk:<i>`, or, for a chunk target, the
    /// value of the id that target names): `:` is allowed in ids, so Docker's chunk
    /// names can collide with ids, and writing would destroy the other one.
    fn claim(&self, target: &str, owner: &str) -> Result<(), Error> {
        match ffi::read(target)? {
            Some(c)
                if !c
                    .user
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(owner)) =>
            {
                Err(Error::Backend {
                    message: format!(
                        "the credential {target:?} belongs to another id ({:?}); writing {owner:?} would destroy it",
                        c.user.as_deref().unwrap_or_default()
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    fn lookup(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let found = match pattern.as_id() {
            Some(id) => ffi::read(&self.target(id.as_str()))?
                .and_then(|c| self.ours(c))
                .into_iter()
                .collect(),
            None => self
                .enumerate()?
                .into_iter()
                .filter(|f| pattern.matches_ignore_case(&f.id))
                .collect::<Vec<_>>(),
        };
        let mut out = Vec::with_capacity(found.len());
        for f in &found {
            let mut value = self.value(f)?;
            out.push(
                Envelope::new(f.id.clone(), SecretValue::new(std::mem::take(&mut *value)))
                    .with_metadata(layout::metadata(&f.credential.attributes)),
            );
        }
        out.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(out)
    }

    fn set(&self, id: &Id, value: &[u8], metadata: &Metadata) -> Result<(), Error> {
        let blob = layout::encode_value(value);
        let chunked = layout::is_chunked(&blob);
        let count = chunked.then(|| layout::chunks(&blob).count());
        // Refuses metadata the Credential Manager would refuse before touching anything.
        let attributes = layout::attributes(&self.group, &self.name, id, metadata, count)?;
        let target = self.target(id.as_str());
        let _writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        // Checked before anything is touched, so a refused set changes nothing.
        self.claim(&target, id.as_str())?;
        if chunked {
            for i in 0..count.unwrap_or_default() {
                self.claim(&layout::chunk_target(&target, i), id.as_str())?;
            }
        }
        // Stale chunks of an earlier, longer value would otherwise outlive it.
        self.delete_chunks(&target, id.as_str())?;
        if chunked {
            for (i, piece) in layout::chunks(&blob).enumerate() {
                let name = layout::chunk_target(&target, i);
                ffi::write(&name, id.as_str(), piece, &layout::chunk_attributes(i))?;
            }
            ffi::write(&target, id.as_str(), &[], &attributes)
        } else {
            ffi::write(&target, id.as_str(), &blob, &attributes)
        }
    }

    fn remove(&self, id: &Id) -> Result<(), Error> {
        let target = self.target(id.as_str());
        let _writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        // The target may hold a chunk of another id (`x` for the id `x:chunk:0`):
        // that is not this id's value and stays.
        let main = ffi::read(&target)?.and_then(|c| self.ours(c));
        let chunks = self.delete_chunks(&target, id.as_str())?;
        let deleted = match main {
            Some(found) if found.id.as_str().eq_ignore_ascii_case(id.as_str()) => {
                ffi::delete(&target)?
            }
            _ => false,
        };
        if !deleted && chunks == 0 {
            return Err(Error::NotFound {
                pattern: id.to_string(),
            });
        }
        Ok(())
    }

    fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let mut out: Vec<Listing> = self
            .enumerate()?
            .into_iter()
            .filter(|f| pattern.matches_ignore_case(&f.id))
            .map(|f| Listing {
                metadata: layout::metadata(&f.credential.attributes),
                id: f.id,
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

#[async_trait]
impl Resolver for Keychain {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let names = self.names.clone();
        let pattern = pattern.clone();
        blocking(move || names.lookup(&pattern)).await
    }

    fn case_insensitive(&self) -> bool {
        true
    }
}

#[async_trait]
impl Store for Keychain {
    async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        let names = self.names.clone();
        let id = id.clone();
        blocking(move || names.set(&id, value.expose(), &metadata)).await
    }

    async fn remove(&self, id: &Id) -> Result<(), Error> {
        let names = self.names.clone();
        let id = id.clone();
        blocking(move || names.remove(&id)).await
    }

    async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let names = self.names.clone();
        let pattern = pattern.clone();
        blocking(move || names.list(&pattern)).await
    }
}

/// The Credential Manager calls (`secrets-engine-windows-credentials`, where the
/// unsafe code lives), with their failures as this crate's errors.
mod ffi {
    pub(super) use cred::Credential;
    use secrets_engine_windows_credentials as cred;

    use crate::error::Error;

    fn error(e: cred::OsError, what: &str, target: &str) -> Error {
        if e.is_no_logon_session() {
            return Error::Unavailable {
                reason: "the Windows Credential Manager has no logon session for this process (a service or network logon); log on interactively".into(),
            };
        }
        Error::Backend {
            message: format!("Windows Credential Manager: {what} {target:?}: {e}"),
        }
    }

    /// The generic credential `target`; `None` when there is none.
    pub(super) fn read(target: &str) -> Result<Option<Credential>, Error> {
        cred::read(target).map_err(|e| error(e, "reading", target))
    }

    /// Every credential whose target matches `filter` (`prefix*`), or all of them.
    pub(super) fn enumerate(filter: Option<&str>) -> Result<Vec<Credential>, Error> {
        cred::enumerate(filter).map_err(|e| error(e, "listing", "credentials"))
    }

    /// Writes (creates or replaces) the generic credential `target`.
    pub(super) fn write(
        target: &str,
        user: &str,
        blob: &[u8],
        attributes: &[(String, Vec<u8>)],
    ) -> Result<(), Error> {
        cred::write(target, user, blob, attributes).map_err(|e| error(e, "writing", target))
    }

    /// Deletes the generic credential `target`; `false` when there was none.
    pub(super) fn delete(target: &str) -> Result<bool, Error> {
        cred::delete(target).map_err(|e| error(e, "deleting", target))
    }
}
