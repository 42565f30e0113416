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
//! **Names first.** Since names come from ids, a lookup first looks at names: an
//! exact lookup checks that its file exists, a pattern keeps the hex names whose id
//! matches (and the hashed names, which only decryption can tell). With no candidate
//! the answer is "nothing", without unlocking anything, locked or not; a locked store
//! that holds a candidate answers [`Error::Locked`]. So a store without a passphrase
//! never fails a lookup that another provider answers.
//!
//! **Unlocking.** The passphrase unwraps the identity once per store object (scrypt,
//! at work factor [`DEFAULT_WORK_FACTOR`] for new stores, [`WORK_FACTOR_ENV`]); each
//! secret then costs one X25519 decryption. On Linux the unwrapped identity is then
//! kept in the kernel's session keyring for [`SESSION_TIMEOUT_ENV`] seconds (15
//! minutes by default; see [`session`](self#session-cache)), so the next process of the
//! login session unlocks without a passphrase and without scrypt. With a key file
//! (`AGE-SECRET-KEY-1…`, as `age-keygen` writes) no passphrase is needed. A
//! [`Prompt`] asks a person when nothing else unlocks the store, from
//! [`Resolver::prepare`]: before the engine's call and outside its deadline.
//!
//! # Session cache
//!
//! While cached, the identity is readable by every process of this login session (as
//! an ssh-agent socket is usable by them), and the passphrase is not checked again.
//! (`docker-pass run` starts its command in a new, empty session keyring, so the
//! command cannot read it.) A process without a session keyring of its own (cron, a
//! service, a CI job) gets the user-session keyring from the kernel, shared by every
//! process of the uid: there nothing is cached. [`FileStore::lock`] (`docker-pass
//! lock`) drops it. Where the kernel's key facility is missing or blocked (macOS, or
//! a container under a seccomp profile that denies `keyctl`) nothing is cached and
//! every process pays scrypt.
//!
//! # Hardening
//!
//! The store directory and its `secrets/` and `.tmp/` must be owned by the user and
//! not writable by group or others ([`Error::PermissionDenied`] naming the path and
//! what is wrong). Nothing is read or written in a directory that fails this check;
//! only its file names are looked at, so a lookup for an id it does not hold is
//! still "nothing" and never fails a reference another provider answers. Nothing inside is opened through a symbolic link (`openat` with `O_NOFOLLOW`),
//! temporary files are created with `O_EXCL`, an entry must be a regular file of at
//! most [`MAX_ENTRY_BYTES`], and an `identity.age` whose scrypt work factor is above
//! [`MAX_READ_WORK_FACTOR`] is refused before scrypt runs.

mod entry;
mod fs;
mod identity;
mod session;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use age::secrecy::SecretString;
use async_trait::async_trait;
use zeroize::Zeroize;

pub use fs::MAX_ENTRY_BYTES;
pub use identity::{
    DEFAULT_WORK_FACTOR, MAX_READ_WORK_FACTOR, MAX_WORK_FACTOR, MIN_WORK_FACTOR, create_key_file,
};
pub use session::DEFAULT_TIMEOUT as DEFAULT_SESSION_TIMEOUT;

use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Intent, Listing, Resolver, Store};
use crate::secret::SecretValue;
use entry::{file_name, may_match};
use fs::Dir;

/// The provider's user-visible name.
pub const NAME: &str = "file";
/// Environment variable holding the passphrase.
pub const PASSPHRASE_ENV: &str = "SECRETS_ENGINE_FILE_PASSPHRASE";
/// Environment variable naming an age identity file to use instead of a passphrase.
pub const KEY_FILE_ENV: &str = "SECRETS_ENGINE_FILE_KEY";
/// Environment variable naming the store directory.
pub const DIR_ENV: &str = "SECRETS_ENGINE_FILE_DIR";
/// Environment variable: the scrypt work factor (log2 of N) of a new store's identity,
/// [`MIN_WORK_FACTOR`] to [`MAX_WORK_FACTOR`]; default [`DEFAULT_WORK_FACTOR`].
pub const WORK_FACTOR_ENV: &str = "SECRETS_ENGINE_FILE_WORK_FACTOR";
/// Environment variable: how long, in seconds, the unwrapped identity stays in the
/// session keyring; `0` disables the cache. Default 900 (15 minutes).
pub const SESSION_TIMEOUT_ENV: &str = "SECRETS_ENGINE_FILE_SESSION_TIMEOUT";

/// What a [`Prompt`] returns: the passphrase typed, wiped when dropped.
pub type Typed = zeroize::Zeroizing<String>;

/// Asks a person for the passphrase; `true` when the store is new (the prompter
/// should ask twice, to confirm). `None` when nothing was typed or the prompt failed.
#[derive(Clone)]
pub struct Prompt(Arc<dyn Fn(bool) -> Option<Typed> + Send + Sync>);

impl Prompt {
    /// A prompt calling `ask(first_use)`. It runs on a blocking thread, from
    /// [`Resolver::prepare`], which the engine calls before it calls the store and
    /// outside the store's deadline: a person is never cut short, and `ask` is never
    /// abandoned mid-read. It is asked only when the call needs the identity (the
    /// store holds a candidate, or the call writes). A store used without an engine
    /// asks it only when the caller calls `prepare` first.
    pub fn new(ask: impl Fn(bool) -> Option<Typed> + Send + Sync + 'static) -> Prompt {
        Prompt(Arc::new(ask))
    }

    fn ask(&self, first_use: bool) -> Option<SecretString> {
        let typed = (self.0)(first_use).filter(|t| !t.is_empty())?;
        Some(SecretString::from(typed.as_str().to_owned()))
    }
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prompt")
    }
}

/// How the file store's identity is unlocked.
#[derive(Clone)]
pub enum FileKey {
    /// A passphrase (scrypt-protected identity in the store directory).
    Passphrase(SecretString),
    /// An age identity file.
    KeyFile(PathBuf),
    /// A person types the passphrase when the store needs it (and the session cache
    /// does not hold the identity): asked from [`Resolver::prepare`], never within a
    /// call's deadline.
    Prompt(Prompt),
    /// Nothing configured: a lookup that needs the identity fails with
    /// [`Error::Locked`] saying what to set, unless the session cache holds it.
    Missing,
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileKey::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
            FileKey::KeyFile(p) => f.debug_tuple("KeyFile").field(p).finish(),
            FileKey::Prompt(_) => f.write_str("Prompt"),
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
    work_factor: Result<u8, String>,
    session: Duration,
    identity: Mutex<Option<Arc<age::x25519::Identity>>>,
    /// One unlock at a time: concurrent lookups wait for it instead of each running
    /// scrypt, or each prompting.
    unlocking: tokio::sync::Mutex<()>,
    /// Why the last prompt did not unlock the store (declined, wrong passphrase),
    /// for the calls that follow it to report.
    prompt_failed: Mutex<Option<String>>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .field("key", &self.key)
            .field("unlocked", &self.cached().is_some())
            .finish()
    }
}

impl FileStore {
    /// A store in `dir`, unlocked with `key`; new identities at
    /// [`DEFAULT_WORK_FACTOR`], the session cache for [`DEFAULT_SESSION_TIMEOUT`].
    pub fn new(dir: impl Into<PathBuf>, key: FileKey) -> FileStore {
        FileStore {
            dir: dir.into(),
            key,
            work_factor: Ok(DEFAULT_WORK_FACTOR),
            session: session::DEFAULT_TIMEOUT,
            identity: Mutex::new(None),
            unlocking: tokio::sync::Mutex::new(()),
            prompt_failed: Mutex::new(None),
        }
    }

    /// The store the environment describes: [`DIR_ENV`], else
    /// `<data dir>/secrets-engine/files`; key from [`FileKey::from_env`]; work factor
    /// from [`WORK_FACTOR_ENV`] and session timeout from [`SESSION_TIMEOUT_ENV`]. An
    /// unparsable work factor fails the creation of a new identity; an unparsable
    /// timeout is logged and the default is kept.
    pub fn from_env() -> FileStore {
        let mut store = FileStore::new(default_dir(), FileKey::from_env());
        if let Ok(v) = std::env::var(WORK_FACTOR_ENV)
            && !v.is_empty()
        {
            store.work_factor = v
                .trim()
                .parse::<u8>()
                .map_err(|_| format!("{WORK_FACTOR_ENV}={v:?} is not a number"))
                .and_then(identity::check_work_factor);
        }
        if let Ok(v) = std::env::var(SESSION_TIMEOUT_ENV)
            && !v.is_empty()
        {
            match v.trim().parse::<u64>() {
                Ok(secs) => store.session = Duration::from_secs(secs),
                Err(_) => tracing::warn!(
                    "{SESSION_TIMEOUT_ENV}={v:?} is not a number of seconds; using the default"
                ),
            }
        }
        store
    }

    /// Sets the scrypt work factor (log2 of N) used when a new store's identity is
    /// first encrypted: [`MIN_WORK_FACTOR`] to [`MAX_WORK_FACTOR`], default
    /// [`DEFAULT_WORK_FACTOR`]. Lower is faster and weaker. A value out of range
    /// fails the creation of a new identity; existing identities open whatever
    /// factor they were written with, up to [`MAX_READ_WORK_FACTOR`].
    pub fn with_work_factor(mut self, log_n: u8) -> FileStore {
        self.work_factor = identity::check_work_factor(log_n);
        self
    }

    /// How long an identity unwrapped by a passphrase stays in the session keyring;
    /// zero disables the cache (neither read nor written).
    pub fn with_session_timeout(mut self, timeout: Duration) -> FileStore {
        self.session = timeout;
        self
    }

    /// When no passphrase or key file is configured, asks `prompt` (on first need).
    pub fn with_prompt(mut self, prompt: Option<Prompt>) -> FileStore {
        if let (FileKey::Missing, Some(p)) = (&self.key, prompt) {
            self.key = FileKey::Prompt(p);
        }
        self
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when a lookup that needs the identity would fail (or prompt): it is
    /// neither unlocked in this object nor in the session cache, and no passphrase or
    /// key file is configured. Reads at most `recipient.txt`; never runs scrypt.
    pub fn is_locked(&self) -> bool {
        self.cached().is_none() && identity::needs_user(&self.dir, &self.key, self.session)
    }

    /// Forgets the unlocked identity: in this object and in the session keyring.
    pub fn lock(&self) -> Result<(), Error> {
        *self.identity.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if let Some(root) = Dir::open_root(&self.dir, false)?
            && let Some(recipient) = identity::recipient(&root)?
        {
            session::forget(&recipient);
        }
        Ok(())
    }

    fn cached(&self) -> Option<Arc<age::x25519::Identity>> {
        self.identity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The identity for a call: unlocked already, or from the session cache, the
    /// passphrase or the key file. Never prompts (see [`FileStore::unlock`]).
    async fn identity(&self) -> Result<Arc<age::x25519::Identity>, Error> {
        self.unlock(false).await.map_err(|e| self.why_locked(e))
    }

    /// An unlock's error, saying why the prompt did not unlock the store when one
    /// was tried, not only that it is locked.
    fn why_locked(&self, e: Error) -> Error {
        explain_locked(e, self.prompt_failed())
    }

    /// Why the prompt did not unlock the store, when one was tried.
    fn prompt_failed(&self) -> Option<String> {
        self.prompt_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What [`FileStore::unlock`] runs on a blocking thread, without the prompt.
    fn unlocker(&self) -> identity::Unlock {
        identity::Unlock {
            key: self.key.clone(),
            work_factor: self.work_factor.clone(),
            session: self.session,
            prompt: false,
        }
    }

    /// Unlocks the identity once per object; `prompt`: may ask the [`Prompt`] (only
    /// from [`Resolver::prepare`], outside any deadline).
    async fn unlock(&self, prompt: bool) -> Result<Arc<age::x25519::Identity>, Error> {
        if let Some(i) = self.cached() {
            return Ok(i);
        }
        let _one = self.unlocking.lock().await;
        if let Some(i) = self.cached() {
            return Ok(i);
        }
        let dir = self.dir.clone();
        let u = identity::Unlock {
            prompt,
            ..self.unlocker()
        };
        let unlocked = run_blocking("unlocking the file store", move || {
            identity::unlock(&dir, &u).map(Arc::new)
        })
        .await?;
        *self.identity.lock().unwrap_or_else(|e| e.into_inner()) = Some(unlocked.clone());
        Ok(unlocked)
    }

    /// Whether a call of `intent` needs the identity: always to write or to
    /// re-initialise, else only when the store holds a candidate.
    async fn needs_identity(&self, intent: Intent<'_>) -> bool {
        match intent {
            Intent::Read(patterns) => {
                for p in patterns {
                    // A failure to look is reported by the call itself.
                    if self.candidates(p).await.is_ok_and(|c| !c.is_empty()) {
                        return true;
                    }
                }
                false
            }
            Intent::Remove(id) => self
                .candidates(&Pattern::from(id.clone()))
                .await
                .is_ok_and(|c| !c.is_empty()),
            _ => true,
        }
    }

    /// Runs `f` on a blocking thread with the identity.
    async fn with_identity<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path, &age::x25519::Identity) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let identity = self.identity().await?;
        let dir = self.dir.clone();
        run_blocking("a file store operation", move || f(&dir, &identity)).await
    }

    /// The names in `secrets/` that may hold an id matching `pattern`; read without
    /// the key. A store directory that fails the ownership check is an error only
    /// when it holds a candidate: reading one there is refused, but an id it cannot
    /// hold is simply not there.
    async fn candidates(&self, pattern: &Pattern) -> Result<Vec<String>, Error> {
        let dir = self.dir.clone();
        let pattern = pattern.clone();
        let mut found = run_blocking("listing the file store", move || {
            candidates_in(&dir, std::slice::from_ref(&pattern))
        })
        .await?;
        found.pop().unwrap_or_else(|| Ok(Vec::new()))
    }

    /// The entries matching each pattern, decrypted, as a lookup of that pattern
    /// alone answers: every read goes through here. A batch costs one trip to a
    /// blocking thread (the names for every pattern, the unlock when not cached,
    /// the entries for every pattern), not up to three per pattern run
    /// concurrently: threads the blocking pool would start, and hand-offs between
    /// them, in a short-lived process (se-runc's create, `docker-pass run`) that
    /// waits on each.
    async fn read_many(&self, patterns: &[Pattern]) -> Vec<Result<Vec<Entry>, Error>> {
        // Held while this call may unlock, so the store is unlocked once per object.
        let _one = match self.cached() {
            Some(_) => None,
            None => Some(self.unlocking.lock().await),
        };
        let cached = self.cached();
        let unlock = self.unlocker();
        // Set by `prepare` before any lookup: read now, for the unlock's error.
        let prompt_failed = self.prompt_failed();
        let dir = self.dir.clone();
        let batch = patterns.to_vec();
        let looked = run_blocking("a file store lookup", move || {
            let names = candidates_in(&dir, &batch)?;
            if !names
                .iter()
                .any(|n| n.as_ref().is_ok_and(|n| !n.is_empty()))
            {
                return Ok((
                    names.into_iter().map(|n| n.map(|_| Vec::new())).collect(),
                    None,
                ));
            }
            let (identity, unlocked) = match cached {
                Some(i) => (Ok(i), None),
                None => match identity::unlock(&dir, &unlock) {
                    Ok(i) => {
                        let i = Arc::new(i);
                        (Ok(i.clone()), Some(i))
                    }
                    Err(e) => (Err(explain_locked(e, prompt_failed)), None),
                },
            };
            // Opened for the patterns with a candidate only: an error here fails
            // those, as each alone would.
            let secrets = identity.as_ref().ok().map(|_| secrets_dir(&dir, false));
            let answers = names
                .into_iter()
                .zip(&batch)
                .map(|(names, pattern)| {
                    let names = names?;
                    if names.is_empty() {
                        return Ok(Vec::new());
                    }
                    match (&identity, &secrets) {
                        (Err(e), _) => Err(e.duplicate()),
                        (Ok(identity), Some(Ok(Some(secrets)))) => {
                            read_names(secrets, names, pattern, identity)
                        }
                        (Ok(_), Some(Err(e))) => Err(e.duplicate()),
                        (Ok(_), _) => Ok(Vec::new()),
                    }
                })
                .collect();
            Ok((answers, unlocked))
        })
        .await;
        match looked {
            Ok((answers, unlocked)) => {
                if let Some(i) = unlocked {
                    *self.identity.lock().unwrap_or_else(|e| e.into_inner()) = Some(i);
                }
                answers
            }
            Err(e) => patterns.iter().map(|_| Err(e.duplicate())).collect(),
        }
    }

    /// [`read_many`](FileStore::read_many) of one pattern.
    async fn read(&self, pattern: &Pattern) -> Result<Vec<Entry>, Error> {
        self.read_many(std::slice::from_ref(pattern))
            .await
            .pop()
            .unwrap_or_else(|| Ok(Vec::new()))
    }
}

/// A decrypted entry: its id, metadata and value.
type Entry = (Id, Metadata, SecretValue);

fn envelopes(entries: Vec<Entry>) -> Vec<Envelope> {
    entries
        .into_iter()
        .map(|(id, metadata, value)| Envelope::new(id, value).with_metadata(metadata))
        .collect()
}

/// An unlock's error, saying why the prompt did not unlock the store when one was
/// tried (`prompt_failed`), not only that it is locked.
fn explain_locked(e: Error, prompt_failed: Option<String>) -> Error {
    match (e, prompt_failed) {
        (Error::Locked { .. }, Some(reason)) => Error::Locked { reason },
        (e, _) => e,
    }
}

/// The names in `dir`'s `secrets/` that may hold an id matching each pattern (see
/// [`FileStore::candidates`]); `Err` when the directory cannot be looked at at all.
fn candidates_in(
    dir: &Path,
    patterns: &[Pattern],
) -> Result<Vec<Result<Vec<String>, Error>>, Error> {
    let Some((secrets, distrust)) = Dir::open_for_names(dir, "secrets")? else {
        return Ok(patterns.iter().map(|_| Ok(Vec::new())).collect());
    };
    // Listed once for all the patterns that are not ids; a failure to list fails
    // those patterns only, as it would each alone.
    let mut listing: Option<Result<Vec<String>, Error>> = None;
    let mut out = Vec::with_capacity(patterns.len());
    for pattern in patterns {
        let names = match pattern.as_id() {
            Some(id) => {
                let name = file_name(&id);
                secrets
                    .exists(&name)
                    .map(|there| if there { vec![name] } else { vec![] })
            }
            None => match listing.get_or_insert_with(|| {
                secrets.names().map(|names| {
                    names
                        .into_iter()
                        .filter_map(|n| n.into_string().ok())
                        .collect()
                })
            }) {
                Ok(listed) => {
                    let mut names: Vec<String> = listed
                        .iter()
                        .filter(|n| may_match(n, pattern))
                        .cloned()
                        .collect();
                    names.sort();
                    Ok(names)
                }
                Err(e) => Err(e.duplicate()),
            },
        };
        out.push(match (names, &distrust) {
            (Ok(names), Some(refused)) if !names.is_empty() => Err(refused.duplicate()),
            (names, _) => names,
        });
    }
    Ok(out)
}

/// The entries named `names` in `secrets`, decrypted, whose id matches `pattern`,
/// sorted by id.
fn read_names(
    secrets: &Dir,
    names: Vec<String>,
    pattern: &Pattern,
    identity: &age::x25519::Identity,
) -> Result<Vec<Entry>, Error> {
    let exact = pattern.as_id().is_some();
    let mut out = Vec::new();
    for name in names {
        match read_entry(secrets, &name, identity) {
            Ok(Some(e)) if pattern.matches(&e.0) => out.push(e),
            Ok(_) => {}
            // An exact lookup reports its own entry's failure.
            Err(e) if exact => return Err(e),
            // One unreadable file must not hide every other secret: skip it, loudly.
            Err(e) => tracing::warn!(error = %e, "file store entry skipped"),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

async fn run_blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::Crashed {
            reason: format!("{what} panicked"),
        })?
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

/// The checked `secrets/` directory; `None` when the store or it does not exist
/// (and `create` is false).
fn secrets_dir(dir: &Path, create: bool) -> Result<Option<Dir>, Error> {
    match Dir::open_root(dir, create)? {
        Some(root) => root.sub("secrets", create),
        None => Ok(None),
    }
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

fn read_entry(
    secrets: &Dir,
    name: &str,
    identity: &age::x25519::Identity,
) -> Result<Option<(Id, Metadata, SecretValue)>, Error> {
    let Some(bytes) = secrets.read(name, MAX_ENTRY_BYTES)? else {
        return Ok(None);
    };
    let path = secrets.path_of(name);
    let mut plain = decrypt(identity, &bytes).map_err(|e| Error::Backend {
        message: format!("cannot decrypt {}: {e}", path.display()),
    })?;
    let entry = entry::decode(&plain);
    plain.zeroize();
    entry.map(Some).ok_or_else(|| Error::Backend {
        message: format!("{} is not a file store entry", path.display()),
    })
}

#[async_trait]
impl Resolver for FileStore {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        Ok(envelopes(self.read(pattern).await?))
    }

    /// The whole batch in one trip to a blocking thread (the names for every
    /// pattern, the unlock when not cached, the entries for every pattern), not up
    /// to three per pattern.
    async fn get_secrets_many(&self, patterns: &[Pattern]) -> Vec<Result<Vec<Envelope>, Error>> {
        self.read_many(patterns)
            .await
            .into_iter()
            .map(|entries| entries.map(envelopes))
            .collect()
    }

    /// Enabling the store checks it can be unlocked.
    async fn reinitialize(&self) -> Result<(), Error> {
        self.identity().await.map(|_| ())
    }

    /// With a [`Prompt`], asks for the passphrase when the call will need the
    /// identity and nothing else unlocks it; the engine runs this outside the call's
    /// deadline. Without one, or when unlocked, it costs nothing.
    async fn prepare(&self, intent: Intent<'_>) {
        if !matches!(self.key, FileKey::Prompt(_)) || self.cached().is_some() {
            return;
        }
        if !self.needs_identity(intent).await {
            return;
        }
        let outcome = self.unlock(true).await;
        *self.prompt_failed.lock().unwrap_or_else(|e| e.into_inner()) = match outcome {
            Ok(_) => None,
            Err(Error::Locked { reason }) => Some(reason),
            Err(e) => Some(format!("the file store could not be unlocked: {e}")),
        };
    }

    fn is_locked(&self) -> bool {
        FileStore::is_locked(self)
    }
}

#[async_trait]
impl Store for FileStore {
    async fn set(&self, id: &Id, value: SecretValue, metadata: Metadata) -> Result<(), Error> {
        let id = id.clone();
        self.with_identity(move |dir, identity| {
            let mut plain = entry::encode(&id, &value, &metadata)?;
            let sealed = age::encrypt(&identity.to_public(), &plain);
            plain.zeroize();
            let sealed = sealed.map_err(|e| Error::Backend {
                message: format!("cannot encrypt {id}: {e}"),
            })?;
            if sealed.len() as u64 > MAX_ENTRY_BYTES {
                return Err(Error::Backend {
                    message: format!(
                        "{id}: the value is too large for the file store (an entry holds at most {MAX_ENTRY_BYTES} bytes)"
                    ),
                });
            }
            let root = Dir::open_root(dir, true)?.expect("just created");
            let secrets = root.sub("secrets", true)?.expect("just created");
            root.locked(|| {
                // Any file in `.tmp/` belongs to a writer that died mid-write, since
                // writers hold the lock while their temporary file exists.
                let pending = secrets.sub(".tmp", true)?.expect("just created");
                pending.clear()?;
                let tmp = fs::temp_name("write");
                pending.write_new(&tmp, &sealed)?;
                let target = file_name(&id);
                pending.rename(&tmp, &secrets, &target).map_err(|e| {
                    let _ = pending.remove(&tmp);
                    fs::io(format!("replacing {}", secrets.path_of(&target).display()))(e)
                })?;
                // Make the rename itself durable.
                secrets.sync();
                Ok(())
            })
        })
        .await
    }

    async fn remove(&self, id: &Id) -> Result<(), Error> {
        if self
            .candidates(&Pattern::from(id.clone()))
            .await?
            .is_empty()
        {
            return Err(Error::NotFound {
                pattern: id.to_string(),
            });
        }
        let id = id.clone();
        self.with_identity(move |dir, _| {
            let not_found = || Error::NotFound {
                pattern: id.to_string(),
            };
            let Some(root) = Dir::open_root(dir, false)? else {
                return Err(not_found());
            };
            let Some(secrets) = root.sub("secrets", false)? else {
                return Err(not_found());
            };
            root.locked(|| {
                let target = file_name(&id);
                match secrets.remove(&target) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found()),
                    Err(e) => Err(fs::io(format!(
                        "removing {}",
                        secrets.path_of(&target).display()
                    ))(e)),
                }
            })
        })
        .await
    }

    async fn list(&self, pattern: &Pattern) -> Result<Vec<Listing>, Error> {
        Ok(self
            .read(pattern)
            .await?
            .into_iter()
            .map(|(id, metadata, _)| Listing { id, metadata })
            .collect())
    }
}
