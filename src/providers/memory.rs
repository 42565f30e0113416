//! An in-memory store: for embedders that inject secrets programmatically, and tests.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;

use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Listing, Resolver, Store};
use crate::secret::SecretValue;

/// A [`Store`] kept in process memory; values are zeroed when replaced or dropped.
///
/// ```
/// use secrets_engine::{Id, MemoryStore};
/// let store: MemoryStore = [(Id::parse("db/password")?, b"s3cret".to_vec())].into_iter().collect();
/// assert_eq!(store.len(), 1);
/// # Ok::<(), secrets_engine::Error>(())
/// ```
#[derive(Default)]
pub struct MemoryStore {
    items: RwLock<BTreeMap<Id, (SecretValue, Metadata)>>,
}

impl MemoryStore {
    /// An empty store.
    ///
    /// ```
    /// # use secrets_engine::MemoryStore;
    /// assert!(MemoryStore::new().is_empty());
    /// ```
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Number of secrets held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when no secret is held.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Stores a value synchronously (the same as [`Store::set`]).
    ///
    /// ```
    /// # use secrets_engine::{Id, MemoryStore};
    /// let s = MemoryStore::new();
    /// s.insert(Id::parse("a")?, "v");
    /// assert_eq!(s.len(), 1);
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn insert(&self, id: Id, value: impl Into<SecretValue>) {
        self.write().insert(id, (value.into(), Metadata::new()));
    }

    // A poisoned lock only means another thread panicked mid-call; the map itself is
    // always consistent (every mutation is a single insert or remove), so keep serving.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Id, (SecretValue, Metadata)>> {
        self.items.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Id, (SecretValue, Metadata)>> {
        self.items.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl FromIterator<(Id, Vec<u8>)> for MemoryStore {
    fn from_iter<T: IntoIterator<Item = (Id, Vec<u8>)>>(iter: T) -> Self {
        let store = MemoryStore::new();
        for (id, v) in iter {
            store.insert(id, v);
        }
        store
    }
}

#[async_trait]
impl Resolver for MemoryStore {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let items = self.read();
        // An exact id is a map lookup, not a scan.
        if let Some(id) = pattern.as_id() {
            return Ok(items
                .get(&id)
                .map(|(v, m)| Envelope::new(id.clone(), v.clone()).with_metadata(m.clone()))
                .into_iter()
                .collect());
        }
        Ok(items
            .iter()
            .filter(|(id, _)| pattern.matches(id))
            .map(|(id, (v, m))| Envelope::new(id.clone(), v.clone()).with_metadata(m.clone()))
            .collect())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        self.write().insert(id.clone(), (value, metadata));
        Ok(())
    }

    async fn remove(&self, id: &Id) -> Result<(), Error> {
        match self.write().remove(id) {
            Some(_) => Ok(()),
            None => Err(Error::NotFound {
                pattern: id.to_string(),
            }),
        }
    }

    async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        Ok(self
            .read()
            .iter()
            .filter(|(id, _)| pattern.matches(id))
            .map(|(id, (_, m))| Listing {
                id: id.clone(),
                metadata: m.clone(),
            })
            .collect())
    }
}
