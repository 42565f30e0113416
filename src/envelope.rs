//! A resolved secret with where it came from.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::id::Id;
use crate::secret::SecretValue;

/// Free-form, non-secret key/value data attached to a secret (a username, a vault
/// name, a version label). Never put secret material here: it is printed by `ls --json`.
pub type Metadata = BTreeMap<String, String>;

/// One secret as a provider returned it.
///
/// Providers build envelopes with [`Envelope::new`] and the `with_*` setters; the engine
/// stamps [`provider`](Envelope::provider) and [`resolved_at`](Envelope::resolved_at).
/// `Debug` shows everything but the value.
///
/// ```
/// use secrets_engine::{Envelope, Id};
/// let e = Envelope::new(Id::parse("db/password")?, "s3cret").with_version("7");
/// assert_eq!(e.value().expose(), b"s3cret");
/// assert!(!format!("{e:?}").contains("s3cret"));
/// # Ok::<(), secrets_engine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Envelope {
    id: Id,
    value: SecretValue,
    provider: String,
    version: Option<String>,
    created_at: Option<SystemTime>,
    resolved_at: SystemTime,
    expires_at: Option<SystemTime>,
    metadata: Metadata,
}

impl Envelope {
    /// A new envelope for `id` holding `value`, resolved now.
    ///
    /// ```
    /// # use secrets_engine::{Envelope, Id};
    /// let e = Envelope::new(Id::parse("a")?, vec![0u8, 255]);
    /// assert_eq!(e.value().len(), 2);
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn new(id: Id, value: impl Into<SecretValue>) -> Envelope {
        Envelope {
            id,
            value: value.into(),
            provider: String::new(),
            version: None,
            created_at: None,
            resolved_at: SystemTime::now(),
            expires_at: None,
            metadata: Metadata::new(),
        }
    }

    /// Sets the backend's version label.
    ///
    /// ```
    /// # use secrets_engine::{Envelope, Id};
    /// assert_eq!(Envelope::new(Id::parse("a")?, "v").with_version("3").version(), Some("3"));
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn with_version(mut self, version: impl Into<String>) -> Envelope {
        self.version = Some(version.into());
        self
    }

    /// Sets when the backend created this version.
    ///
    /// ```
    /// # use secrets_engine::{Envelope, Id};
    /// let t = std::time::SystemTime::UNIX_EPOCH;
    /// assert_eq!(Envelope::new(Id::parse("a")?, "v").with_created_at(t).created_at(), Some(t));
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn with_created_at(mut self, at: SystemTime) -> Envelope {
        self.created_at = Some(at);
        self
    }

    /// Sets when the value stops being valid.
    ///
    /// ```
    /// # use secrets_engine::{Envelope, Id};
    /// let t = std::time::SystemTime::UNIX_EPOCH;
    /// assert_eq!(Envelope::new(Id::parse("a")?, "v").with_expires_at(t).expires_at(), Some(t));
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn with_expires_at(mut self, at: SystemTime) -> Envelope {
        self.expires_at = Some(at);
        self
    }

    /// Replaces the metadata.
    ///
    /// ```
    /// # use secrets_engine::{Envelope, Id, Metadata};
    /// let m = Metadata::from([("user".to_string(), "alice".to_string())]);
    /// assert_eq!(Envelope::new(Id::parse("a")?, "v").with_metadata(m).metadata()["user"], "alice");
    /// # Ok::<(), secrets_engine::Error>(())
    /// ```
    pub fn with_metadata(mut self, metadata: Metadata) -> Envelope {
        self.metadata = metadata;
        self
    }

    /// An envelope as another engine sent it: its provider and resolution time kept.
    #[cfg(all(feature = "engine", unix))]
    pub(crate) fn from_remote(
        id: Id,
        value: SecretValue,
        provider: String,
        resolved_at: Option<SystemTime>,
    ) -> Envelope {
        Envelope {
            provider,
            resolved_at: resolved_at.unwrap_or_else(SystemTime::now),
            ..Envelope::new(id, value)
        }
    }

    /// Stamps the provider name and resolution time; done by the engine.
    pub(crate) fn stamp(&mut self, provider: &str) {
        provider.clone_into(&mut self.provider);
        self.resolved_at = SystemTime::now();
    }

    /// The secret's id.
    pub fn id(&self) -> &Id {
        &self.id
    }
    /// The secret bytes (redacted in `Debug`).
    pub fn value(&self) -> &SecretValue {
        &self.value
    }
    /// Takes the value out, for callers that hand the bytes on.
    pub fn into_value(self) -> SecretValue {
        self.value
    }
    /// Name of the provider that returned it; empty until the engine stamps it.
    pub fn provider(&self) -> &str {
        &self.provider
    }
    /// The backend's version label, if it has one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
    /// When the backend created this version, if it says.
    pub fn created_at(&self) -> Option<SystemTime> {
        self.created_at
    }
    /// When the engine received it.
    pub fn resolved_at(&self) -> SystemTime {
        self.resolved_at
    }
    /// When it stops being valid, if the backend says.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
    /// Non-secret metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}
