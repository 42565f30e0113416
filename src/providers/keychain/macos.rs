//! The keychain on macOS: generic-password items in the user's keychain, laid out as
//! Docker's store lays them out ([`super::macos_layout`]), through Keychain Services.
//!
//! Every call runs on a blocking thread under a deadline, with the keychain's user
//! interaction disabled: a locked keychain, or an item whose access list asks the
//! user before another program reads it (an item Docker's own binary created, until
//! the user answers "Always Allow" once in an interactive session), is
//! [`Error::Locked`], never a dialog that would block a headless caller.

use std::time::Duration;

use async_trait::async_trait;
use secrets_engine_macos_keychain::{self as kc, Scope, Status};

use super::macos_layout::{self as layout, ItemFields, ScopeFields, StatusKind};
use super::{DOCKER_GROUP, DOCKER_NAME};
use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Listing, Resolver, Store};
use crate::secret::SecretValue;

/// How long one keychain call may take: they answer in milliseconds unless the
/// security daemon is stuck, and a prompt never opens (see the module docs).
const DEADLINE: Duration = Duration::from_secs(10);
/// Rounds of delete-then-add before a set gives up on a racing writer.
const SET_ROUNDS: usize = 3;

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
#[derive(Debug)]
pub struct Keychain {
    group: String,
    name: String,
    /// What every search and delete selects items by.
    scope: ScopeFields,
    /// Serialises this object's sets: each is a delete then an add, as Docker's.
    writes: tokio::sync::Mutex<()>,
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

    /// The keychain with other access-group (`group`) and service (`name`) values,
    /// for embedders that want their own namespace.
    pub fn with_names(group: &str, name: &str) -> Keychain {
        Keychain {
            group: group.to_owned(),
            name: name.to_owned(),
            scope: layout::scope(group, name),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Always `true`: a logged-in macOS user always has a keychain (as Docker's store
    /// assumes). A locked one answers [`Error::Locked`] per call.
    pub async fn is_available(&self) -> bool {
        true
    }

    /// Runs `f` with this store's scope on a blocking thread, under [`DEADLINE`].
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(Scope<'_>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let scope = self.scope.clone();
        blocking(move || {
            f(Scope {
                service: &scope.service,
                access_group: &scope.access_group,
            })
        })
        .await
    }
}

/// Runs `f` on a blocking thread, under [`DEADLINE`].
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let task = tokio::task::spawn_blocking(f);
    match tokio::time::timeout(DEADLINE, task).await {
        Ok(Ok(out)) => out,
        Ok(Err(join)) => Err(Error::Backend {
            message: format!("macOS keychain call failed: {join}"),
        }),
        Err(_) => Err(Error::Unavailable {
            reason: format!(
                "the macOS keychain did not answer within {} s",
                DEADLINE.as_secs()
            ),
        }),
    }
}

/// The crate's error for a Keychain Services status (decided in
/// [`layout::status_error`], where it is tested on every OS).
fn map_status(s: Status) -> Error {
    layout::status_error(s.0, s)
}

/// The metadata of an item, or none when its `kSecAttrGeneric` is not Docker's form
/// (logged at debug level: the secret itself is still usable).
fn metadata_of(id: &Id, generic: Option<&[u8]>) -> Metadata {
    layout::metadata(generic).unwrap_or_else(|e| {
        tracing::debug!(%id, error = %e, "keychain item metadata unreadable; using none");
        Metadata::new()
    })
}

/// The envelope of `id`, read with its value; `None` when no item holds it.
fn read_one(scope: Scope<'_>, id: &Id) -> Result<Option<Envelope>, Error> {
    let found = kc::find(scope, Some(&layout::account(id)), true).map_err(map_status)?;
    let Some(item) = found.into_iter().next() else {
        return Ok(None);
    };
    // Removed between the search and this read: not there.
    let Some(data) = item.data else {
        return Ok(None);
    };
    let mut e = Envelope::new(id.clone(), SecretValue::new(data))
        .with_metadata(metadata_of(id, item.generic.as_deref()));
    if let Some(at) = item.created {
        e = e.with_created_at(at);
    }
    Ok(Some(e))
}

/// The ids of the items of `scope` that `pattern` matches, with their metadata.
fn listing(scope: Scope<'_>, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
    let items = kc::find(scope, None, false).map_err(map_status)?;
    let ids = layout::matching(items.iter().map(|i| i.account.as_deref()), pattern);
    Ok(ids
        .into_iter()
        .map(|id| {
            let generic = items
                .iter()
                .find(|i| i.account.as_deref() == Some(id.as_str()))
                .and_then(|i| i.generic.as_deref());
            Listing {
                metadata: metadata_of(&id, generic),
                id,
            }
        })
        .collect())
}

/// Docker's upsert: delete the id's item, then add the new one. An add that finds an
/// item again (another process set the id in between) starts over, a few times.
/// Every field written, the scope included, is `fields`' (the tested layout).
fn upsert(fields: &ItemFields, value: &[u8]) -> Result<(), Error> {
    let scope = Scope {
        service: &fields.service,
        access_group: &fields.access_group,
    };
    for _ in 0..SET_ROUNDS {
        match kc::delete(scope, &fields.account) {
            Ok(()) => {}
            Err(e) if layout::status_kind(e.0) == StatusKind::NotFound => {}
            Err(e) => return Err(map_status(e)),
        }
        match kc::add(
            scope,
            &fields.account,
            &fields.label,
            &fields.generic,
            value,
        ) {
            Ok(()) => return Ok(()),
            Err(e) if layout::status_kind(e.0) == StatusKind::Duplicate => continue,
            Err(e) => return Err(map_status(e)),
        }
    }
    Err(Error::Backend {
        message: format!(
            "macOS keychain: {} was set by another writer {SET_ROUNDS} times during this set; retry",
            fields.account
        ),
    })
}

#[async_trait]
impl Resolver for Keychain {
    /// One search by service and access group (attributes only, no secret is read),
    /// ids matched here, then one read per matching id: only those can prompt or
    /// fail for a locked keychain. An exact id skips the search.
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let pattern = pattern.clone();
        self.call(move |scope| {
            let ids = match pattern.as_id() {
                Some(id) => vec![id],
                None => listing(scope, &pattern)?
                    .into_iter()
                    .map(|l| l.id)
                    .collect(),
            };
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                out.extend(read_one(scope, id)?);
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl Store for Keychain {
    async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        let _write = self.writes.lock().await;
        let fields = layout::item_fields(&self.group, &self.name, id, &metadata);
        blocking(move || upsert(&fields, value.expose())).await
    }

    async fn remove(&self, id: &Id) -> Result<(), Error> {
        let _write = self.writes.lock().await;
        let id = id.clone();
        self.call(
            move |scope| match kc::delete(scope, &layout::account(&id)) {
                Ok(()) => Ok(()),
                Err(e) if layout::status_kind(e.0) == StatusKind::NotFound => {
                    Err(Error::NotFound {
                        pattern: id.to_string(),
                    })
                }
                Err(e) => Err(map_status(e)),
            },
        )
        .await
    }

    async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let pattern = pattern.clone();
        self.call(move |scope| listing(scope, &pattern)).await
    }
}
