//! The `file` provider: age-encrypted files, for hosts with no keychain.
//!
//! Layout under the store directory:
//!
//! | path | what |
//! |---|---|
//! | `identity.age` | an age X25519 identity, encrypted with the passphrase (scrypt) |
//! | `recipient.txt` | the identity's public key: a key that does not match is refused |
//! | `secrets/<name>.age` | one secret: id, metadata and value, encrypted to that identity |
//! | `secrets/.tmp/` | writes in progress |
//! | `.lock` | taken exclusively by writers |
//!
//! `<name>` is the lowercase hex of the id (ids longer than 120 bytes use `h` and the
//! SHA-256 of the id instead, to stay under file-name limits): distinct ids never share
//! a file, even on case-insensitive file systems, which plain base64 would not ensure.
//! Metadata is encrypted with the value. A write goes to a temporary file that is
//! synced and renamed over the old one, so a crash leaves the old value or the new one,
//! never a torn file; a write that fails (disk full, read-only file system) removes its
//! temporary file and leaves the old value. Writers hold the lock while their temporary
//! file exists, so the next writer deletes whatever a killed one left in `.tmp/`;
//! readers ignore names starting with `.`.
//!
//! The passphrase unlocks the identity once per store object (scrypt is slow on
//! purpose); each secret then costs one X25519 decryption. With a key file
//! (`AGE-SECRET-KEY-1…`, as `age-keygen` writes) no passphrase is needed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::secrecy::{ExposeSecret, SecretString};
use async_trait::async_trait;
use zeroize::Zeroize;

use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Listing, Resolver, Store};
use crate::secret::SecretValue;

/// The provider's user-visible name.
pub const NAME: &str = "file";
/// Environment variable holding the passphrase.
pub const PASSPHRASE_ENV: &str = "SECRETS_ENGINE_FILE_PASSPHRASE";
/// Environment variable naming an age identity file to use instead of a passphrase.
pub const KEY_FILE_ENV: &str = "SECRETS_ENGINE_FILE_KEY";
/// Environment variable naming the store directory.
pub const DIR_ENV: &str = "SECRETS_ENGINE_FILE_DIR";

const MAGIC: &[u8; 4] = b"SEF1";
const MAX_HEX_ID: usize = 120;

/// How the file store's identity is unlocked.
#[derive(Clone)]
pub enum FileKey {
    /// A passphrase (scrypt-protected identity in the store directory).
    Passphrase(SecretString),
    /// An age identity file.
    KeyFile(PathBuf),
    /// Nothing configured: every call fails with [`Error::Locked`] saying what to set.
    Missing,
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileKey::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
            FileKey::KeyFile(p) => f.debug_tuple("KeyFile").field(p).finish(),
            FileKey::Missing => f.write_str("Missing"),
        }
    }
}

impl FileKey {
    /// From [`KEY_FILE_ENV`], else [`PASSPHRASE_ENV`], else [`FileKey::Missing`].
    pub fn from_env() -> FileKey {
        if let Some(p) = std::env::var_os(KEY_FILE_ENV).filter(|p| !p.is_empty()) {
            return FileKey::KeyFile(p.into());
        }
        match std::env::var(PASSPHRASE_ENV) {
            Ok(p) if !p.is_empty() => FileKey::Passphrase(SecretString::from(p)),
            _ => FileKey::Missing,
        }
    }

    /// A passphrase given in code.
    pub fn passphrase(p: &str) -> FileKey {
        FileKey::Passphrase(SecretString::from(p.to_owned()))
    }
}

/// The encrypted file store (see the [module docs](self)).
pub struct FileStore {
    dir: PathBuf,
    key: FileKey,
    work_factor: Option<u8>,
    identity: tokio::sync::OnceCell<Arc<age::x25519::Identity>>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .field("key", &self.key)
            .field("unlocked", &self.identity.initialized())
            .finish()
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

impl FileStore {
    /// A store in `dir`, unlocked with `key`.
    pub fn new(dir: impl Into<PathBuf>, key: FileKey) -> FileStore {
        FileStore {
            dir: dir.into(),
            key,
            work_factor: None,
            identity: tokio::sync::OnceCell::new(),
        }
    }

    /// The store the environment describes: [`DIR_ENV`], else
    /// `<data dir>/secrets-engine/files`; key from [`FileKey::from_env`].
    pub fn from_env() -> FileStore {
        FileStore::new(default_dir(), FileKey::from_env())
    }

    /// Sets the scrypt work factor (log2 of N) used when a new store's identity is
    /// first encrypted. Lower is faster and weaker; the default is age's, about one
    /// second. Tests use a low value.
    pub fn with_work_factor(mut self, log_n: u8) -> FileStore {
        self.work_factor = Some(log_n);
        self
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn identity(&self) -> Result<Arc<age::x25519::Identity>, Error> {
        self.identity
            .get_or_try_init(|| {
                let (dir, key, wf) = (self.dir.clone(), self.key.clone(), self.work_factor);
                async move {
                    tokio::task::spawn_blocking(move || unlock(&dir, &key, wf))
                        .await
                        .map_err(|_| Error::Crashed {
                            reason: "unlocking the file store panicked".into(),
                        })?
                        .map(Arc::new)
                }
            })
            .await
            .cloned()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path, &age::x25519::Identity) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let identity = self.identity().await?;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || f(&dir, &identity))
            .await
            .map_err(|_| Error::Crashed {
                reason: "a file store operation panicked".into(),
            })?
    }
}

/// `$SECRETS_ENGINE_FILE_DIR`, else `<data dir>/secrets-engine/files`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("secrets-engine")
            .join("files"),
    }
}

/// Unlocks the identity and checks it is the store's: a key file or passphrase for
/// another store would otherwise write secrets this store's owner cannot read.
fn unlock(
    dir: &Path,
    key: &FileKey,
    work_factor: Option<u8>,
) -> Result<age::x25519::Identity, Error> {
    let identity = unlock_identity(dir, key, work_factor)?;
    let public = identity.to_public().to_string();
    let marker = dir.join("recipient.txt");
    match std::fs::read_to_string(&marker) {
        Ok(stored) if stored.trim() == public => Ok(identity),
        Ok(_) => Err(Error::Locked {
            reason: format!(
                "this key does not belong to the file store in {} (its recipient.txt names another key)",
                dir.display()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(dir)?;
            let tmp = temp_path(dir, "recipient");
            write_synced(&tmp, format!("{public}\n").as_bytes())?;
            // First writer wins; a racing one with another key is then refused.
            let linked = std::fs::hard_link(&tmp, &marker);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(identity),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    unlock(dir, key, work_factor)
                }
                Err(e) => Err(io(format!("creating {}", marker.display()))(e)),
            }
        }
        Err(e) => Err(io(format!("reading {}", marker.display()))(e)),
    }
}

fn unlock_identity(
    dir: &Path,
    key: &FileKey,
    work_factor: Option<u8>,
) -> Result<age::x25519::Identity, Error> {
    match key {
        FileKey::Missing => Err(Error::Locked {
            reason: format!("the file store needs {PASSPHRASE_ENV} or {KEY_FILE_ENV}"),
        }),
        FileKey::KeyFile(path) => {
            let mut text = std::fs::read_to_string(path)
                .map_err(io(format!("reading key file {}", path.display())))?;
            let parsed = text
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("AGE-SECRET-KEY-"))
                .and_then(|l| l.parse::<age::x25519::Identity>().ok());
            text.zeroize();
            parsed.ok_or_else(|| Error::Locked {
                reason: format!(
                    "{} holds no age X25519 identity (AGE-SECRET-KEY-1…)",
                    path.display()
                ),
            })
        }
        FileKey::Passphrase(pass) => {
            let path = dir.join("identity.age");
            match std::fs::read(&path) {
                Ok(bytes) => decrypt_identity(&path, &bytes, pass),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    create_identity(dir, &path, pass, work_factor)
                }
                Err(e) => Err(io(format!("reading {}", path.display()))(e)),
            }
        }
    }
}

fn decrypt_identity(
    path: &Path,
    bytes: &[u8],
    pass: &SecretString,
) -> Result<age::x25519::Identity, Error> {
    let mut scrypt = age::scrypt::Identity::new(pass.clone());
    scrypt.set_max_work_factor(30);
    let mut plain = decrypt(&scrypt, bytes).map_err(|e| match e {
        age::DecryptError::DecryptionFailed
        | age::DecryptError::NoMatchingKeys
        | age::DecryptError::KeyDecryptionFailed => Error::Locked {
            reason: format!("wrong passphrase for the file store ({})", path.display()),
        },
        other => Error::Backend {
            message: format!("cannot read {}: {other}", path.display()),
        },
    })?;
    let parsed = std::str::from_utf8(&plain)
        .ok()
        .and_then(|s| s.trim().parse::<age::x25519::Identity>().ok());
    plain.zeroize();
    parsed.ok_or_else(|| Error::Backend {
        message: format!("{} does not hold an age identity", path.display()),
    })
}

/// `age::decrypt` without its copies: that one collects the plaintext with
/// `read_to_end`, whose reallocations free buffers holding the secret without wiping
/// them. Plaintext is shorter than its ciphertext, so one buffer of the ciphertext's
/// size never grows; the caller wipes it.
fn decrypt(identity: &dyn age::Identity, ciphertext: &[u8]) -> Result<Vec<u8>, age::DecryptError> {
    use std::io::Read;
    let decryptor = age::Decryptor::new_buffered(ciphertext)?;
    let mut reader = decryptor.decrypt(std::iter::once(identity))?;
    let mut plain = vec![0u8; ciphertext.len()];
    let mut n = 0;
    while n < plain.len() {
        match reader.read(&mut plain[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                plain.zeroize();
                return Err(e.into());
            }
        }
    }
    // Zeroes past the end stay in the allocation; truncating does not reallocate.
    plain.truncate(n);
    Ok(plain)
}

fn create_identity(
    dir: &Path,
    path: &Path,
    pass: &SecretString,
    work_factor: Option<u8>,
) -> Result<age::x25519::Identity, Error> {
    create_private_dir(dir)?;
    create_private_dir(&dir.join("secrets"))?;
    let identity = age::x25519::Identity::generate();
    let mut recipient = age::scrypt::Recipient::new(pass.clone());
    if let Some(wf) = work_factor {
        recipient.set_work_factor(wf);
    }
    let sealed = age::encrypt(&recipient, identity.to_string().expose_secret().as_bytes())
        .map_err(|e| Error::Backend {
            message: format!("cannot encrypt the file store identity: {e}"),
        })?;
    let tmp = temp_path(dir, "identity");
    write_synced(&tmp, &sealed)?;
    // hard_link fails if another process created the identity first: use theirs, so
    // both encrypt to the same key.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(identity),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
            decrypt_identity(path, &bytes, pass)
        }
        Err(e) => Err(io(format!("creating {}", path.display()))(e)),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

fn temp_path(dir: &Path, what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    dir.join(format!(
        ".tmp-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let write = || -> std::io::Result<()> {
        let mut f = o.open(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(path);
        io(format!("writing {}", path.display()))(e)
    })
}

/// The file name of `id`: lowercase hex, or `h` + SHA-256 for long ids.
fn file_name(id: &Id) -> String {
    let bytes = id.as_str().as_bytes();
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if bytes.len() <= MAX_HEX_ID {
        format!("{}.age", hex(bytes))
    } else {
        use sha2::Digest;
        format!("h{}.age", hex(&sha2::Sha256::digest(bytes)))
    }
}

fn encode(id: &Id, value: &SecretValue, metadata: &Metadata) -> Result<Vec<u8>, Error> {
    let meta = serde_json::to_vec(metadata).map_err(|e| Error::Backend {
        message: e.to_string(),
    })?;
    let mut out = Vec::with_capacity(12 + id.as_str().len() + meta.len() + value.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(id.as_str().len() as u32).to_be_bytes());
    out.extend_from_slice(id.as_str().as_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(value.expose());
    Ok(out)
}

/// Parses a decrypted entry; `None` if it is malformed.
fn decode(plain: &[u8]) -> Option<(Id, Metadata, SecretValue)> {
    let rest = plain.strip_prefix(MAGIC)?;
    fn take(r: &[u8]) -> Option<(usize, &[u8])> {
        let (len, r) = r.split_first_chunk::<4>()?;
        Some((u32::from_be_bytes(*len) as usize, r))
    }
    let (n, rest) = take(rest)?;
    let id = Id::parse(std::str::from_utf8(rest.get(..n)?).ok()?).ok()?;
    let (m, rest) = take(&rest[n..])?;
    let metadata: Metadata = serde_json::from_slice(rest.get(..m)?).ok()?;
    Some((id, metadata, SecretValue::from(&rest[m..])))
}

fn read_entry(
    path: &Path,
    identity: &age::x25519::Identity,
) -> Result<Option<(Id, Metadata, SecretValue)>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    };
    let mut plain = decrypt(identity, &bytes).map_err(|e| Error::Backend {
        message: format!("cannot decrypt {}: {e}", path.display()),
    })?;
    let entry = decode(&plain);
    plain.zeroize();
    entry.map(Some).ok_or_else(|| Error::Backend {
        message: format!("{} is not a file store entry", path.display()),
    })
}

fn all_entries(
    dir: &Path,
    identity: &age::x25519::Identity,
) -> Result<Vec<(Id, Metadata, SecretValue)>, Error> {
    let secrets = dir.join("secrets");
    let listing = match std::fs::read_dir(&secrets) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(format!("listing {}", secrets.display()))(e)),
    };
    let mut out = Vec::new();
    for entry in listing {
        let entry = entry.map_err(io(format!("listing {}", secrets.display())))?;
        let name = entry.file_name();
        // Temporary files of interrupted writes start with '.'; skip them.
        if name.to_string_lossy().starts_with('.') || !name.to_string_lossy().ends_with(".age") {
            continue;
        }
        // One unreadable file must not hide every other secret: skip it, loudly.
        match read_entry(&entry.path(), identity) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "file store entry skipped"),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Prepares `pending` (the temporary-file directory) for a write under the lock:
/// any file in it belongs to a writer that died mid-write, since writers hold the lock
/// while their temporary file exists.
fn remove_strays(pending: &Path) -> Result<(), Error> {
    create_private_dir(pending)?;
    let listing =
        std::fs::read_dir(pending).map_err(io(format!("listing {}", pending.display())))?;
    for entry in listing.flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    Ok(())
}

/// Runs `f` holding the store's write lock (an exclusive lock on `.lock`).
fn locked<T>(dir: &Path, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    create_private_dir(&dir.join("secrets"))?;
    let path = dir.join(".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    lock.lock()
        .map_err(io(format!("locking {}", path.display())))?;
    let out = f();
    let _ = lock.unlock();
    out
}

#[async_trait]
impl Resolver for FileStore {
    /// Enabling the store checks it can be unlocked.
    async fn reinitialize(&self) -> Result<(), Error> {
        self.identity().await.map(|_| ())
    }

    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let pattern = pattern.clone();
        self.blocking(move |dir, identity| {
            let entries = match pattern.as_id() {
                Some(id) => read_entry(&dir.join("secrets").join(file_name(&id)), identity)?
                    .into_iter()
                    .collect(),
                None => all_entries(dir, identity)?,
            };
            Ok(entries
                .into_iter()
                .filter(|(id, _, _)| pattern.matches(id))
                .map(|(id, metadata, value)| Envelope::new(id, value).with_metadata(metadata))
                .collect())
        })
        .await
    }
}

#[async_trait]
impl Store for FileStore {
    async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        let id = id.clone();
        self.blocking(move |dir, identity| {
            let mut plain = encode(&id, &value, &metadata)?;
            let sealed = age::encrypt(&identity.to_public(), &plain);
            plain.zeroize();
            let sealed = sealed.map_err(|e| Error::Backend {
                message: format!("cannot encrypt {id}: {e}"),
            })?;
            locked(dir, || {
                let secrets = dir.join("secrets");
                let pending = secrets.join(".tmp");
                remove_strays(&pending)?;
                let tmp = temp_path(&pending, "write");
                write_synced(&tmp, &sealed)?;
                let target = secrets.join(file_name(&id));
                std::fs::rename(&tmp, &target).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    io(format!("replacing {}", target.display()))(e)
                })?;
                // Make the rename itself durable.
                if let Ok(d) = std::fs::File::open(&secrets) {
                    let _ = d.sync_all();
                }
                Ok(())
            })
        })
        .await
    }

    async fn remove(&self, id: &Id) -> Result<(), Error> {
        let id = id.clone();
        self.blocking(move |dir, _| {
            locked(dir, || {
                let target = dir.join("secrets").join(file_name(&id));
                match std::fs::remove_file(&target) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound {
                        pattern: id.to_string(),
                    }),
                    Err(e) => Err(io(format!("removing {}", target.display()))(e)),
                }
            })
        })
        .await
    }

    async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        let pattern = pattern.clone();
        self.blocking(move |dir, identity| {
            Ok(all_entries(dir, identity)?
                .into_iter()
                .filter(|(id, _, _)| pattern.matches(id))
                .map(|(id, metadata, _)| Listing { id, metadata })
                .collect())
        })
        .await
    }
}
