//! The keychain on Linux: the freedesktop Secret Service over D-Bus.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use futures_util::future::join_all;
use secret_service::{EncryptionType, Item, SecretService};

use super::{DOCKER_GROUP, DOCKER_NAME};
use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Listing, Resolver, Store};
use crate::secret::SecretValue;

/// Calls in flight at once on the connection: buses cap pending replies per
/// connection (128 by default), so listings of thousands of items go in waves.
const IN_FLIGHT: usize = 32;

/// Each connection step (bus, name check, session) must finish within this.
const STEP: Duration = Duration::from_secs(2);
const SERVICE_NAME: &str = "org.freedesktop.secrets";
const METADATA_PREFIX: &str = "x_";

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
pub struct Keychain {
    group: String,
    name: String,
    address: Option<String>,
    service: tokio::sync::Mutex<Option<Connected>>,
    /// Serialises this process's writes so two sets of one id cannot both create.
    writes: tokio::sync::Mutex<()>,
}

/// A session with the Secret Service, and which bus connection owns the service name
/// it was opened with: a different owner means the daemon restarted.
struct Connected {
    service: Arc<SecretService<'static>>,
    bus: zbus::Connection,
    owner: String,
}

/// The unique bus name owning `org.freedesktop.secrets`, if any. Never activates.
async fn service_owner(bus: &zbus::Connection) -> Result<Option<String>, Error> {
    let ask = async {
        let dbus = zbus::fdo::DBusProxy::new(bus).await?;
        let name =
            zbus::names::BusName::from_static_str(SERVICE_NAME).map_err(zbus::Error::from)?;
        match dbus.get_name_owner(name).await {
            Ok(owner) => Ok(Some(owner.to_string())),
            Err(zbus::fdo::Error::NameHasNoOwner(_)) => Ok(None),
            Err(e) => Err(e),
        }
    };
    tokio::time::timeout(STEP, ask)
        .await
        .map_err(|_| unavailable("the D-Bus session bus did not answer within 2 s"))?
        .map_err(|e| unavailable(format!("cannot query the D-Bus session bus: {e}")))
}

const NO_SERVICE: &str =
    "no Secret Service on the session bus (org.freedesktop.secrets has no owner)";

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("group", &self.group)
            .field("name", &self.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Default for Keychain {
    fn default() -> Self {
        Keychain::new()
    }
}

fn unavailable(reason: impl Into<String>) -> Error {
    Error::Unavailable {
        reason: reason.into(),
    }
}

fn map_error(e: secret_service::Error) -> Error {
    use secret_service::Error as E;
    match e {
        E::Locked => Error::Locked {
            reason: "the keychain collection is locked; unlock it (e.g. by logging in) and retry"
                .into(),
        },
        E::Prompt | E::PromptDisconnected => Error::Locked {
            reason: "the keychain asked for an unlock prompt, which was dismissed".into(),
        },
        E::Unavailable => unavailable("no Secret Service or D-Bus session found"),
        other => Error::Backend {
            message: format!("Secret Service: {other}"),
        },
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
            group: group.to_owned(),
            name: name.to_owned(),
            address: None,
            service: tokio::sync::Mutex::new(None),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Uses this D-Bus address (`unix:path=…`) instead of the session bus from the
    /// environment.
    pub fn with_bus_address(mut self, address: impl Into<String>) -> Keychain {
        self.address = Some(address.into());
        self
    }

    /// Whether a Secret Service answers (connects if needed, within 2 s per step).
    pub async fn is_available(&self) -> bool {
        self.service().await.is_ok()
    }

    async fn open(&self) -> Result<Connected, Error> {
        let bus = async {
            match &self.address {
                Some(a) => {
                    zbus::connection::Builder::address(a.as_str())?
                        .build()
                        .await
                }
                None => zbus::Connection::session().await,
            }
        };
        let bus = tokio::time::timeout(STEP, bus)
            .await
            .map_err(|_| unavailable("the D-Bus session bus did not answer within 2 s"))?
            .map_err(|e| unavailable(format!("cannot connect to the D-Bus session bus: {e}")))?;
        // Asking first avoids D-Bus activation, which can wait 25 s for a service
        // that never comes on a headless host.
        let owner = service_owner(&bus)
            .await?
            .ok_or_else(|| unavailable(NO_SERVICE))?;
        let service = tokio::time::timeout(
            STEP,
            SecretService::connect_with_existing(EncryptionType::Dh, bus.clone()),
        )
        .await
        .map_err(|_| unavailable("the Secret Service did not open a session within 2 s"))?
        .map_err(map_error)?;
        Ok(Connected {
            service: Arc::new(service),
            bus,
            owner,
        })
    }

    /// The shared session; checks first that the daemon it was opened with still
    /// owns the service name (one cheap bus call), so a restarted daemon gets a new
    /// session and a stopped one is `Unavailable`, never an activation.
    async fn service(&self) -> Result<Arc<SecretService<'static>>, Error> {
        let mut cached = self.service.lock().await;
        if let Some(c) = &*cached {
            match service_owner(&c.bus).await {
                Ok(Some(owner)) if owner == c.owner => return Ok(c.service.clone()),
                Ok(None) => {
                    *cached = None;
                    return Err(unavailable(NO_SERVICE));
                }
                // Restarted daemon or broken connection: start over.
                _ => *cached = None,
            }
        }
        let c = self.open().await?;
        let service = c.service.clone();
        *cached = Some(c);
        Ok(service)
    }

    /// After a call: on errors that may mean a broken connection or a restarted
    /// daemon, forgets the service so the next call reconnects.
    async fn settle<T>(&self, out: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &out
            && !matches!(e, Error::Locked { .. } | Error::NotFound { .. })
        {
            tracing::debug!(error = %e, "keychain call failed; reconnecting next time");
            self.service.lock().await.take();
        }
        out
    }

    fn attributes<'a>(&'a self, id: Option<&'a str>) -> HashMap<&'a str, &'a str> {
        let mut a = HashMap::from([
            ("service:group", self.group.as_str()),
            ("service:name", self.name.as_str()),
        ]);
        if let Some(id) = id {
            a.insert("id", id);
        }
        a
    }

    fn label(&self, id: &Id) -> String {
        format!("{}:{}:{}", self.group, self.name, id)
    }
}

/// An item's id and metadata, read from its attributes; `None` for items whose `id`
/// attribute is missing or invalid (skipped, never fatal to a listing).
async fn describe(item: &Item<'_>) -> Result<Option<(Id, Metadata)>, Error> {
    let attrs = item.get_attributes().await.map_err(map_error)?;
    let Some(raw) = attrs.get("id") else {
        tracing::debug!(item = %item.item_path.as_str(), "keychain item without an id attribute skipped");
        return Ok(None);
    };
    let id = match Id::parse(raw) {
        Ok(id) => id,
        Err(e) => {
            tracing::debug!(item = %item.item_path.as_str(), error = %e, "keychain item with an invalid id skipped");
            return Ok(None);
        }
    };
    let metadata = attrs
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(METADATA_PREFIX)
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect();
    Ok(Some((id, metadata)))
}

/// The items among `items` whose id matches `pattern`, with their ids and metadata.
async fn matching<'i, 's>(
    items: &'i [Item<'s>],
    pattern: &Pattern,
) -> Result<Vec<(&'i Item<'s>, Id, Metadata)>, Error> {
    let mut described = Vec::with_capacity(items.len());
    for chunk in items.chunks(IN_FLIGHT) {
        described.extend(join_all(chunk.iter().map(describe)).await);
    }
    let mut out = Vec::new();
    for (item, d) in items.iter().zip(described) {
        if let Some((id, metadata)) = d?
            && pattern.matches(&id)
        {
            out.push((item, id, metadata));
        }
    }
    Ok(out)
}

/// Fails with [`Error::Locked`] when a locked item may hold an id matching `pattern`.
async fn refuse_locked(locked: &[Item<'_>], pattern: &Pattern) -> Result<(), Error> {
    if locked.is_empty() {
        return Ok(());
    }
    let mut described = Vec::with_capacity(locked.len());
    for chunk in locked.chunks(IN_FLIGHT) {
        described.extend(join_all(chunk.iter().map(describe)).await);
    }
    for d in described {
        match d {
            Ok(Some((id, _))) if !pattern.matches(&id) => continue,
            Ok(None) => continue,
            // A matching locked item, or one we cannot even describe.
            _ => {
                return Err(Error::Locked {
                    reason: "the keychain collection holding matching secrets is locked".into(),
                });
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Resolver for Keychain {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let svc = self.service().await?;
        let out = self.lookup(&svc, pattern).await;
        self.settle(out).await
    }
}

impl Keychain {
    async fn lookup(
        &self,
        svc: &SecretService<'static>,
        pattern: &Pattern,
    ) -> Result<Vec<Envelope>, Error> {
        let exact = pattern.as_id();
        let attrs = self.attributes(exact.as_ref().map(Id::as_str));
        {
            let found = svc.search_items(attrs).await.map_err(map_error)?;
            refuse_locked(&found.locked, pattern).await?;
            let items = matching(&found.unlocked, pattern).await?;
            let mut values = Vec::with_capacity(items.len());
            for chunk in items.chunks(IN_FLIGHT) {
                values.extend(
                    join_all(chunk.iter().map(|(item, _, _)| async {
                        let value = item.get_secret().await.map_err(map_error)?;
                        let created = item.get_created().await.ok();
                        Ok::<_, Error>((SecretValue::new(value), created))
                    }))
                    .await,
                );
            }
            let mut out = Vec::with_capacity(items.len());
            for ((_, id, metadata), v) in items.into_iter().zip(values) {
                let (value, created) = v?;
                let mut e = Envelope::new(id, value).with_metadata(metadata);
                if let Some(secs) = created.filter(|s| *s > 0) {
                    e = e.with_created_at(UNIX_EPOCH + Duration::from_secs(secs));
                }
                out.push(e);
            }
            Ok(out)
        }
    }

    async fn upsert(
        &self,
        svc: &SecretService<'static>,
        id: &Id,
        value: SecretValue,
        metadata: Metadata,
    ) -> Result<(), Error> {
        let meta_keys: Vec<String> = metadata
            .keys()
            .map(|k| format!("{METADATA_PREFIX}{k}"))
            .collect();
        let mut full = self.attributes(Some(id.as_str()));
        for (k, v) in meta_keys.iter().zip(metadata.values()) {
            full.insert(k.as_str(), v.as_str());
        }
        let label = self.label(id);
        let content_type = if value.expose_str().is_some() {
            "text/plain"
        } else {
            "application/octet-stream"
        };
        {
            let found = svc
                .search_items(self.attributes(Some(id.as_str())))
                .await
                .map_err(map_error)?;
            if !found.locked.is_empty() {
                return Err(Error::Locked {
                    reason: format!("the keychain collection holding {id} is locked"),
                });
            }
            if let Some((first, strays)) = found.unlocked.split_first() {
                first
                    .set_secret(value.expose(), content_type)
                    .await
                    .map_err(map_error)?;
                first
                    .set_attributes(full.clone())
                    .await
                    .map_err(map_error)?;
                first.set_label(&label).await.map_err(map_error)?;
                for stray in strays {
                    stray.delete().await.map_err(map_error)?;
                }
                return Ok(());
            }
            let collection = match svc.get_default_collection().await {
                Ok(c) => c,
                Err(secret_service::Error::NoResult) => {
                    svc.get_any_collection().await.map_err(map_error)?
                }
                Err(e) => return Err(map_error(e)),
            };
            if collection.is_locked().await.map_err(map_error)? {
                return Err(Error::Locked {
                    reason: "the default keychain collection is locked".into(),
                });
            }
            collection
                .create_item(&label, full.clone(), value.expose(), true, content_type)
                .await
                .map_err(map_error)?;
            // Another process may have created the same id at the same moment: every
            // writer keeps the item with the smallest path, so they agree on one.
            let again = svc
                .search_items(self.attributes(Some(id.as_str())))
                .await
                .map_err(map_error)?;
            if again.unlocked.len() > 1 {
                let keep = again
                    .unlocked
                    .iter()
                    .map(|i| i.item_path.as_str())
                    .min()
                    .map(str::to_owned);
                for item in &again.unlocked {
                    if Some(item.item_path.as_str()) != keep.as_deref() {
                        item.delete().await.map_err(map_error)?;
                    }
                }
            }
            Ok(())
        }
    }

    async fn delete(&self, svc: &SecretService<'static>, id: &Id) -> Result<(), Error> {
        {
            let found = svc
                .search_items(self.attributes(Some(id.as_str())))
                .await
                .map_err(map_error)?;
            if !found.locked.is_empty() {
                return Err(Error::Locked {
                    reason: format!("the keychain collection holding {id} is locked"),
                });
            }
            if found.unlocked.is_empty() {
                return Err(Error::NotFound {
                    pattern: id.to_string(),
                });
            }
            for item in &found.unlocked {
                item.delete().await.map_err(map_error)?;
            }
            Ok(())
        }
    }

    async fn listing(
        &self,
        svc: &SecretService<'static>,
        pattern: &Pattern,
    ) -> Result<Vec<Listing>, Error> {
        {
            let found = svc
                .search_items(self.attributes(None))
                .await
                .map_err(map_error)?;
            refuse_locked(&found.locked, pattern).await?;
            let mut out: Vec<Listing> = matching(&found.unlocked, pattern)
                .await?
                .into_iter()
                .map(|(_, id, metadata)| Listing { id, metadata })
                .collect();
            out.sort_by(|a, b| a.id.cmp(&b.id));
            out.dedup_by(|a, b| a.id == b.id);
            Ok(out)
        }
    }
}

#[async_trait]
impl Store for Keychain {
    async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        let _write = self.writes.lock().await;
        let svc = self.service().await?;
        let out = self.upsert(&svc, id, value, metadata).await;
        self.settle(out).await
    }

    async fn remove(&self, id: &Id) -> Result<(), Error> {
        let _write = self.writes.lock().await;
        let svc = self.service().await?;
        let out = self.delete(&svc, id).await;
        self.settle(out).await
    }

    async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let svc = self.service().await?;
        let out = self.listing(&svc, pattern).await;
        self.settle(out).await
    }
}
