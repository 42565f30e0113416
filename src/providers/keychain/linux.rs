//! The keychain on Linux: the freedesktop Secret Service over D-Bus.
//!
//! Reads (lookups, listings) go over D-Bus directly ([`session`]), batched, with one
//! `Service.GetSecrets` for every secret a batch of lookups needs. Exact ids (what
//! `docker-pass run` asks for) cost one search per id and reads of the items found
//! only, however many other items of ours the keychain holds; when only values are
//! wanted (an environment to fill), not even the items' attributes are read.
//! Patterns and listings search for all our items and read each one's attributes.
//! Writes go through the `secret-service` crate.

mod session;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use secret_service::{EncryptionType, SecretService};
use zbus::zvariant::OwnedObjectPath;

use session::{KeyPair, Peer, Session};

use super::{DOCKER_GROUP, DOCKER_NAME};
use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Listing, Resolver, Store};
use crate::secret::SecretValue;

/// Calls awaiting replies at once on the connection: buses cap pending replies per
/// connection (128 by default), so thousands of items are read a window at a time.
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
    connection: tokio::sync::Mutex<Option<Connected>>,
    /// Serialises this object's writes. Not needed for correctness (`upsert` agrees
    /// with writers in other processes without a lock); it spares racing rounds.
    writes: tokio::sync::Mutex<()>,
}

/// The bus connection and which bus connection owned the service name when it was
/// opened (a different owner means the daemon restarted), with the sessions opened on
/// it so far: ours for reads, the `secret-service` crate's for writes. Each is
/// opened on first need, so a process that only reads never opens the crate's.
struct Connected {
    peer: Peer,
    /// The owner was checked when the connection was opened and no call has used it
    /// since: the first call skips checking again.
    fresh: bool,
    session: Option<Arc<Session>>,
    /// Our half of the read session's key exchange, computed on a blocking thread
    /// from the moment the connection starts, so that `OpenSession` leaves without
    /// waiting for a modular exponentiation.
    keys: Option<tokio::task::JoinHandle<Result<KeyPair, Error>>>,
    service: Option<Arc<SecretService<'static>>>,
}

/// What a call needs of the connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Calls without secrets (search, properties).
    Bus,
    /// The `secret-service` crate's handle, for writes.
    Service,
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
    tokio::time::timeout(STEP, drive(bus, ask))
        .await
        .map_err(|_| unavailable("the D-Bus session bus did not answer within 2 s"))?
        .map_err(|e| unavailable(format!("cannot query the D-Bus session bus: {e}")))
}

/// Whether the process owning `org.freedesktop.secrets` is gnome-keyring (its
/// `comm`, which the kernel cuts to 15 bytes). Asked of the bus daemon alongside the
/// owner check, so it costs no round trip of its own; anything unknown (a pid in
/// another namespace, a bus that does not say) is `false`, the careful answer.
async fn is_gnome_keyring(bus: &zbus::Connection) -> bool {
    let ask = async {
        let dbus = zbus::fdo::DBusProxy::new(bus).await.ok()?;
        let name = zbus::names::BusName::from_static_str(SERVICE_NAME).ok()?;
        dbus.get_connection_unix_process_id(name).await.ok()
    };
    let Ok(Some(pid)) = tokio::time::timeout(STEP, drive(bus, ask)).await else {
        return false;
    };
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| is_gnome_keyring_comm(&comm))
}

fn is_gnome_keyring_comm(comm: &str) -> bool {
    comm.trim_end() == "gnome-keyring-d"
}

/// Runs `f` while driving `bus`'s tasks (its socket reader among them): connections
/// are built without zbus's internal executor thread, so whatever awaits a reply
/// must drive the connection meanwhile. Concurrent calls each drive it; that is
/// what the executor is made for.
async fn drive<T>(bus: &zbus::Connection, f: impl std::future::Future<Output = T>) -> T {
    tokio::select! {
        biased;
        out = f => out,
        () = async {
            loop {
                bus.executor().tick().await;
            }
        } => unreachable!("driving the connection never ends"),
    }
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

/// The collection is locked (secret-service's error, or the service's `IsLocked`).
fn locked() -> Error {
    Error::Locked {
        reason: "the keychain collection is locked; unlock it (e.g. by logging in) and retry"
            .into(),
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
        E::Locked => locked(),
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
            connection: tokio::sync::Mutex::new(None),
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
    /// Only the bus connection and one name check: sessions are opened when a call
    /// needs one, and the next call reuses the connection without checking again.
    pub async fn is_available(&self) -> bool {
        let mut cached = self.connection.lock().await;
        if cached.is_none() {
            return match self.open(Need::Bus).await {
                Ok(c) => {
                    *cached = Some(c);
                    true
                }
                Err(_) => false,
            };
        }
        drop(cached);
        self.link(Need::Bus).await.is_ok()
    }

    async fn open(&self, need: Need) -> Result<Connected, Error> {
        // Only reads open our session (writes use the crate's).
        let keys = (need == Need::Bus).then(|| tokio::task::spawn_blocking(KeyPair::generate));
        let bus = async {
            match &self.address {
                Some(a) => zbus::connection::Builder::address(a.as_str())?,
                None => zbus::connection::Builder::session()?,
            }
            // No executor thread of zbus's own: every call of this provider drives
            // the connection while it waits (see `drive`), so a reply reaches the
            // waiting task without a hop through another thread.
            .internal_executor(false)
            .build()
            .await
        };
        let bus = tokio::time::timeout(STEP, bus)
            .await
            .map_err(|_| unavailable("the D-Bus session bus did not answer within 2 s"))?
            .map_err(|e| unavailable(format!("cannot connect to the D-Bus session bus: {e}")))?;
        // Asking first avoids D-Bus activation, which can wait 25 s for a service
        // that never comes on a headless host.
        let (owner, exact_search) =
            futures_util::future::join(service_owner(&bus), is_gnome_keyring(&bus)).await;
        let owner = owner?.ok_or_else(|| unavailable(NO_SERVICE))?;
        Ok(Connected {
            peer: Peer {
                bus,
                owner,
                exact_search,
            },
            fresh: true,
            session: None,
            keys,
            service: None,
        })
    }

    /// The shared connection; checks first that the daemon it was opened with still
    /// owns the service name (one cheap bus call), so a restarted daemon gets a new
    /// connection and a stopped one is `Unavailable`, never an activation.
    async fn link(&self, need: Need) -> Result<(Peer, Option<Arc<SecretService<'static>>>), Error> {
        let mut cached = self.connection.lock().await;
        match cached.as_mut() {
            Some(c) if c.fresh => c.fresh = false,
            Some(c) => match service_owner(&c.peer.bus).await {
                Ok(Some(owner)) if owner == c.peer.owner => {}
                Ok(None) => {
                    *cached = None;
                    return Err(unavailable(NO_SERVICE));
                }
                // Restarted daemon or broken connection: start over.
                _ => *cached = None,
            },
            None => {}
        }
        let c = match cached.as_mut() {
            Some(c) => c,
            None => {
                let mut c = self.open(need).await?;
                c.fresh = false;
                cached.insert(c)
            }
        };
        if need == Need::Service && c.service.is_none() {
            let service = tokio::time::timeout(
                STEP,
                drive(
                    &c.peer.bus,
                    SecretService::connect_with_existing(EncryptionType::Dh, c.peer.bus.clone()),
                ),
            )
            .await
            .map_err(|_| unavailable("the Secret Service did not open a session within 2 s"))?
            .map_err(map_error)?;
            c.service = Some(Arc::new(service));
        }
        Ok((c.peer.clone(), c.service.clone()))
    }

    /// Our read session on `peer`'s connection, opened on first need.
    async fn session(&self, peer: &Peer) -> Result<Arc<Session>, Error> {
        let mut cached = self.connection.lock().await;
        let c = cached
            .as_mut()
            .filter(|c| c.peer.bus.unique_name() == peer.bus.unique_name())
            .ok_or_else(|| unavailable("the keychain connection was reset during the call"))?;
        if let Some(s) = &c.session {
            return Ok(s.clone());
        }
        let keys = match c.keys.take() {
            Some(made) => made.await.map_err(|e| {
                unavailable(format!("making the keychain session's key failed: {e}"))
            })??,
            None => KeyPair::generate()?,
        };
        let s = tokio::time::timeout(STEP, drive(&c.peer.bus, c.peer.open_session(keys)))
            .await
            .map_err(|_| unavailable("the Secret Service did not open a session within 2 s"))??;
        let s = Arc::new(s);
        c.session = Some(s.clone());
        Ok(s)
    }

    /// The crate's handle, for writes, and the connection it uses.
    async fn service(&self) -> Result<(Peer, Arc<SecretService<'static>>), Error> {
        let (peer, service) = self.link(Need::Service).await?;
        let service =
            service.ok_or_else(|| unavailable("the Secret Service session was not opened"))?;
        Ok((peer, service))
    }

    /// After a call: on errors that may mean a broken connection or a restarted
    /// daemon, forgets the connection so the next call reconnects.
    async fn settle<T>(&self, out: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &out
            && !matches!(e, Error::Locked { .. } | Error::NotFound { .. })
        {
            tracing::debug!(error = %e, "keychain call failed; reconnecting next time");
            self.connection.lock().await.take();
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

/// The order of items holding one id, the same in every writer and reader: shorter
/// object paths first, then by text. The last is the one kept. Where the service
/// numbers its items in order of creation (gnome-keyring), it is the newest.
fn item_order(a: &str, b: &str) -> std::cmp::Ordering {
    (a.len(), a).cmp(&(b.len(), b))
}

/// One item of ours as its attributes describe it.
struct Described {
    path: OwnedObjectPath,
    /// `None` when the `id` attribute is missing or not a valid id: such items are
    /// skipped (logged at debug level), never fatal to a lookup or listing.
    id: Option<Id>,
    metadata: Metadata,
}

fn described(path: OwnedObjectPath, attributes: HashMap<String, String>) -> Described {
    let id = match attributes.get("id").map(|raw| Id::parse(raw)) {
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => {
            tracing::debug!(item = %path.as_str(), error = %e, "keychain item with an invalid id skipped");
            None
        }
        None => {
            tracing::debug!(item = %path.as_str(), "keychain item without an id attribute skipped");
            None
        }
    };
    let metadata = attributes
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(METADATA_PREFIX).map(|k| (k.to_owned(), v)))
        .collect();
    Described { path, id, metadata }
}

/// Of several items holding one id (another tool's strays, or writers between
/// creating an item and deleting the older ones), the one every writer keeps:
/// readers see one value per id, the one that survives.
fn one_per_id(mut items: Vec<Described>) -> Vec<Described> {
    items.sort_by(|a, b| item_order(b.path.as_str(), a.path.as_str()));
    let mut seen = HashSet::new();
    items.retain(|d| d.id.as_ref().is_none_or(|id| seen.insert(id.clone())));
    items
}

/// Runs `calls` with at most [`IN_FLIGHT`] of them awaiting a reply at any time;
/// the answers in the order of the calls.
///
/// Not an `async fn`: the calls are collected first, so the future holds no
/// borrowing closure, which would keep it from being `Send`.
fn in_flight<F: std::future::Future>(
    calls: impl IntoIterator<Item = F>,
) -> impl std::future::Future<Output = Vec<F::Output>> {
    let calls: Vec<F> = calls.into_iter().collect();
    stream::iter(calls).buffered(IN_FLIGHT).collect()
}

/// The attributes of every item in `paths`.
async fn describe_all(peer: &Peer, paths: Vec<OwnedObjectPath>) -> Vec<Result<Described, Error>> {
    let answers = in_flight(paths.iter().map(|p| peer.item_attributes(p))).await;
    paths
        .into_iter()
        .zip(answers)
        // An item another writer deleted between the search and this read is not
        // there: every set deletes the items it supersedes.
        .filter(|(_, a)| !matches!(a, Err(e) if vanished(e)))
        .map(|(path, a)| a.map(|attrs| described(path, attrs)))
        .collect()
}

/// The secrets of `paths` in one `Service.GetSecrets`; no call (and no session
/// needed) for no paths.
async fn secrets_of(
    peer: &Peer,
    session: Result<Arc<Session>, Error>,
    paths: &[&OwnedObjectPath],
) -> Result<HashMap<OwnedObjectPath, SecretValue>, Error> {
    if paths.is_empty() {
        return Ok(HashMap::new());
    }
    peer.secrets(&*session?, paths).await
}

/// The envelope answering `id` with `item`.
///
/// No creation time: the Secret Service has it only as a property of each item, and
/// reading it costs gnome-keyring a lookup of the item (about as much as its
/// attributes), which would make `docker-pass run` with 10 references slower than a
/// `secret-tool lookup` of one.
fn envelope(
    id: &Id,
    item: &Described,
    secrets: &HashMap<OwnedObjectPath, SecretValue>,
) -> Result<Envelope, Error> {
    let Some(value) = secrets.get(&item.path) else {
        return Err(Error::Backend {
            message: format!(
                "the keychain item for {id} was removed or locked while being read; retry"
            ),
        });
    };
    Ok(Envelope::new(id.clone(), value.clone()).with_metadata(item.metadata.clone()))
}

/// The service's answer for an object path that no longer exists.
fn vanished(e: &Error) -> bool {
    matches!(e, Error::Backend { message }
        if message.contains("org.freedesktop.DBus.Error.UnknownMethod")
            || message.contains("org.freedesktop.DBus.Error.UnknownObject")
            || message.contains("org.freedesktop.Secret.Error.NoSuchObject"))
}

/// Ids of locked items: `None` for an item whose properties could not be read.
type LockedIds = Vec<Option<Option<Id>>>;

async fn locked_ids(peer: &Peer, locked: Vec<OwnedObjectPath>) -> LockedIds {
    describe_all(peer, locked)
        .await
        .into_iter()
        .map(|d| d.ok().map(|d| d.id))
        .collect()
}

/// [`Error::Locked`] when a locked item may hold an id matching `pattern`.
fn refuse_locked(locked: &LockedIds, pattern: &Pattern) -> Result<(), Error> {
    let blocks = locked.iter().any(|l| match l {
        Some(Some(id)) => pattern.matches(id),
        Some(None) => false,
        // An item we cannot even describe might be the one.
        None => true,
    });
    if blocks {
        return Err(locked_matching());
    }
    Ok(())
}

fn locked_matching() -> Error {
    Error::Locked {
        reason: "the keychain collection holding matching secrets is locked".into(),
    }
}

#[async_trait]
impl Resolver for Keychain {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        self.get_secrets_many(std::slice::from_ref(pattern))
            .await
            .pop()
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// One connection check, one Secret Service session, and one `GetSecrets` for
    /// everything the batch matched. Exact ids (`docker-pass run`): one search per
    /// id, and only the items found are read. Patterns: one search for all our
    /// items and one attribute read per item.
    async fn get_secrets_many(&self, patterns: &[Pattern]) -> Vec<Result<Vec<Envelope>, Error>> {
        self.answer(patterns, Detail::Full).await
    }

    /// As [`get_secrets_many`](Resolver::get_secrets_many), but exact ids skip the
    /// attribute read of each item found (their metadata): the search already
    /// matched the id exactly, so ten references cost ten searches and one
    /// `GetSecrets`.
    async fn get_values_many(&self, patterns: &[Pattern]) -> Vec<Result<Vec<Envelope>, Error>> {
        self.answer(patterns, Detail::ValuesOnly).await
    }
}

/// Whether a lookup reads each item's attributes for its metadata.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    Full,
    ValuesOnly,
}

impl Keychain {
    async fn answer(
        &self,
        patterns: &[Pattern],
        detail: Detail,
    ) -> Vec<Result<Vec<Envelope>, Error>> {
        let out = match self.link(Need::Bus).await {
            Ok((peer, _)) => drive(&peer.bus, self.lookup(&peer, patterns, detail)).await,
            Err(e) => Err(e),
        };
        match self.settle(out).await {
            Ok(answers) => answers,
            Err(e) => patterns.iter().map(|_| Err(e.duplicate())).collect(),
        }
    }

    /// Answers every pattern; `Err` only when nothing could be answered.
    async fn lookup(
        &self,
        peer: &Peer,
        patterns: &[Pattern],
        detail: Detail,
    ) -> Result<Vec<Result<Vec<Envelope>, Error>>, Error> {
        match patterns
            .iter()
            .map(Pattern::as_id)
            .collect::<Option<Vec<Id>>>()
        {
            Some(ids) => self.lookup_ids(peer, &ids, detail).await,
            // Patterns need every item's id attribute to match against, metadata
            // comes with it.
            None => self.lookup_patterns(peer, patterns).await,
        }
    }

    /// Exact ids: one search per id, then, for the items found only, their
    /// attributes and one `GetSecrets`, each stage's calls sent together. No other item of ours is read, so the cost follows the ids asked
    /// for, not the items stored: a search for all our items costs gnome-keyring a
    /// lookup per item it returns (5 ms for 500 items), and reading each one's
    /// attributes a call per item.
    async fn lookup_ids(
        &self,
        peer: &Peer,
        ids: &[Id],
        detail: Detail,
    ) -> Result<Vec<Result<Vec<Envelope>, Error>>, Error> {
        let mut unique: Vec<&Id> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        let searches = in_flight(
            unique
                .iter()
                .map(|id| async move { peer.search(&self.attributes(Some(id.as_str()))).await }),
        );
        // The items' attributes (unless only values are wanted) are read as soon
        // as the searches answer; their secrets once the session is open too. The session's key exchange (the
        // daemon computes its side) runs meanwhile; it is opened once per connection,
        // so a lookup that finds nothing wastes it at most once.
        let (found_tx, found_rx) = tokio::sync::oneshot::channel::<Vec<OwnedObjectPath>>();
        let secrets = async {
            let session = self.session(peer).await;
            // No paths: the searches failed, and that is the error reported.
            let paths = found_rx.await.unwrap_or_default();
            secrets_of(peer, session, &paths.iter().collect::<Vec<_>>()).await
        };
        let described = async {
            // The ids each item was found for (one, where the service matches exactly;
            // a loose matcher may return one item for several); ids with a locked
            // item are not answered.
            let mut found_for: HashMap<OwnedObjectPath, Vec<&Id>> = HashMap::new();
            let mut blocked: HashSet<&Id> = HashSet::new();
            for (&id, f) in unique.iter().zip(searches.await) {
                let (unlocked, locked) = f?;
                if locked.is_empty() {
                    for p in unlocked {
                        found_for.entry(p).or_default().push(id);
                    }
                } else {
                    blocked.insert(id);
                }
            }
            let paths: Vec<OwnedObjectPath> = found_for.keys().cloned().collect();
            let _ = found_tx.send(paths.clone());
            if detail == Detail::ValuesOnly && peer.exact_search {
                let items = paths
                    .into_iter()
                    .map(|path| Described {
                        id: found_for
                            .get(&path)
                            .and_then(|ids| ids.first())
                            .map(|&id| id.clone()),
                        path,
                        metadata: Metadata::new(),
                    })
                    .collect();
                return Ok::<_, Error>((items, blocked));
            }
            let mut items = describe_all(peer, paths)
                .await
                .into_iter()
                .collect::<Result<Vec<Described>, Error>>()?;
            // The service matched the id attribute; the item answers the id only if
            // that attribute reads back as the very id asked for.
            items.retain(|d| {
                d.id.as_ref()
                    .is_some_and(|id| found_for.get(&d.path).is_some_and(|ids| ids.contains(&id)))
            });
            Ok::<_, Error>((items, blocked))
        };
        // The session first: the service answers calls in the order they arrive, so
        // its half of the key exchange is done while ours completes and the searches
        // run, and `GetSecrets` can leave as soon as the last search answers.
        let (secrets, described) = futures_util::future::join(secrets, described).await;
        let (items, blocked) = described?;
        let secrets = secrets?;
        let items = one_per_id(items);
        let kept: HashMap<&Id, &Described> = items
            .iter()
            .filter_map(|d| Some((d.id.as_ref()?, d)))
            .collect();
        Ok(ids
            .iter()
            .map(|id| {
                if blocked.contains(id) {
                    return Err(locked_matching());
                }
                kept.get(id)
                    .map(|item| envelope(id, item, &secrets))
                    .into_iter()
                    .collect()
            })
            .collect())
    }

    /// Patterns: one search for all our items and the attributes of each; then one
    /// `GetSecrets` for the items matched.
    async fn lookup_patterns(
        &self,
        peer: &Peer,
        patterns: &[Pattern],
    ) -> Result<Vec<Result<Vec<Envelope>, Error>>, Error> {
        let described = async {
            let (unlocked, locked) = peer.search(&self.attributes(None)).await?;
            let locked = locked_ids(peer, locked).await;
            let items = describe_all(peer, unlocked)
                .await
                .into_iter()
                .collect::<Result<Vec<Described>, Error>>()?;
            Ok::<_, Error>((one_per_id(items), locked))
        };
        // The key exchange runs meanwhile, sent first as for exact ids.
        let (session, described) = futures_util::future::join(self.session(peer), described).await;
        let (items, locked) = described?;
        // Per pattern, the indices of the items it matches (or why it cannot be
        // answered).
        let wanted: Vec<Result<Vec<usize>, Error>> = patterns
            .iter()
            .map(|p| {
                refuse_locked(&locked, p)?;
                Ok((0..items.len())
                    .filter(|&i| items[i].id.as_ref().is_some_and(|id| p.matches(id)))
                    .collect())
            })
            .collect();
        let mut fetch: Vec<&OwnedObjectPath> = Vec::new();
        let mut fetching = vec![false; items.len()];
        for &i in wanted.iter().flatten().flatten() {
            if !std::mem::replace(&mut fetching[i], true) {
                fetch.push(&items[i].path);
            }
        }
        let secrets = secrets_of(peer, session, &fetch).await?;
        Ok(wanted
            .into_iter()
            .map(|w| {
                w?.into_iter()
                    .map(|i| {
                        let item = &items[i];
                        let id = item.id.as_ref().expect("matched items have ids");
                        envelope(id, item, &secrets)
                    })
                    .collect()
            })
            .collect())
    }

    /// Our unlocked items holding `id`, in [`item_order`]; a locked one is an error.
    async fn items_of<'s>(
        &self,
        svc: &'s SecretService<'static>,
        id: &Id,
    ) -> Result<Vec<secret_service::Item<'s>>, Error> {
        let found = svc
            .search_items(self.attributes(Some(id.as_str())))
            .await
            .map_err(map_error)?;
        if !found.locked.is_empty() {
            return Err(Error::Locked {
                reason: format!("the keychain collection holding {id} is locked"),
            });
        }
        let mut items = found.unlocked;
        items.sort_by(|a, b| item_order(a.item_path.as_str(), b.item_path.as_str()));
        Ok(items)
    }

    /// Deletes `items`; one another writer deleted first is no error.
    async fn delete_items(
        &self,
        svc: &SecretService<'static>,
        id: &Id,
        items: &[secret_service::Item<'_>],
    ) -> Result<(), Error> {
        for item in items {
            if let Err(e) = item.delete().await {
                let still_there = self
                    .items_of(svc, id)
                    .await?
                    .iter()
                    .any(|i| i.item_path == item.item_path);
                if still_there {
                    return Err(map_error(e));
                }
            }
        }
        Ok(())
    }

    /// Set, safe against other writers of the same id in this process or others,
    /// which share no lock. Every write creates an item (value, attributes and label
    /// in one call), then searches again and deletes every item of the id but the
    /// last in [`item_order`]: writers agree on that one, the last item ever
    /// created is never deleted by a writer, and every other is deleted by its own
    /// writer or by the last one's, so exactly one item remains.
    ///
    /// Items are never changed in place: gnome-keyring 42 dies (a null call in its
    /// D-Bus dispatch) when a `Properties.Set` reaches an item another client has
    /// just deleted, as happens when a set races a remove.
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
        // Refuses a locked item of this id before creating anything.
        self.items_of(svc, id).await?;
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
        // Never `replace`: the service would rewrite an older item with the same
        // attributes in place, keeping its older (smaller) object path, so an item
        // another tool created since would sort last and survive instead of this one.
        collection
            .create_item(&label, full.clone(), value.expose(), false, content_type)
            .await
            .map_err(map_error)?;
        let mut items = self.items_of(svc, id).await?;
        // Empty when a racing remove came after this set.
        items.pop();
        self.delete_items(svc, id, &items).await
    }

    async fn delete(&self, svc: &SecretService<'static>, id: &Id) -> Result<(), Error> {
        let items = self.items_of(svc, id).await?;
        if items.is_empty() {
            return Err(Error::NotFound {
                pattern: id.to_string(),
            });
        }
        self.delete_items(svc, id, &items).await
    }

    async fn listing(&self, peer: &Peer, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let (unlocked, locked) = peer.search(&self.attributes(None)).await?;
        refuse_locked(&locked_ids(peer, locked).await, pattern)?;
        let described = describe_all(peer, unlocked)
            .await
            .into_iter()
            .collect::<Result<Vec<Described>, Error>>()?;
        let mut out = Vec::new();
        for d in one_per_id(described) {
            if let Some(id) = d.id.filter(|id| pattern.matches(id)) {
                out.push(Listing {
                    id,
                    metadata: d.metadata,
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

#[async_trait]
impl Store for Keychain {
    async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        let _write = self.writes.lock().await;
        let (peer, svc) = self.service().await?;
        let out = drive(&peer.bus, self.upsert(&svc, id, value, metadata)).await;
        self.settle(out).await
    }

    async fn remove(&self, id: &Id) -> Result<(), Error> {
        let _write = self.writes.lock().await;
        let (peer, svc) = self.service().await?;
        let out = drive(&peer.bus, self.delete(&svc, id)).await;
        self.settle(out).await
    }

    async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let out = match self.link(Need::Bus).await {
            Ok((peer, _)) => drive(&peer.bus, self.listing(&peer, pattern)).await,
            Err(e) => Err(e),
        };
        self.settle(out).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_gnome_keyring_is_trusted_to_match_exactly() {
        assert!(super::is_gnome_keyring_comm("gnome-keyring-d\n"));
        for other in [
            "keepassxc\n",
            "kwalletd6\n",
            "oo7-daemon\n",
            "gnome-keyring\n",
            "",
        ] {
            assert!(!super::is_gnome_keyring_comm(other), "{other:?}");
        }
    }
}
