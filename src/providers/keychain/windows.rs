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
//! 2,560 bytes are chunk credentials, listing is an enumeration), so this module calls
//! `CredReadW`, `CredWriteW`, `CredEnumerateW` and `CredDeleteW` through the
//! `windows-sys` bindings, in the small `ffi` module below, the crate's only unsafe
//! code.
//!
//! Behaviour:
//! - Target names are case-insensitive in the Credential Manager, so ids differing
//!   only in case name one credential: the provider declares itself case-insensitive
//!   ([`Resolver::case_insensitive`]) and patterns are matched ignoring ASCII case.
//! - `set` is an upsert: `CredWriteW` replaces the credential of the same target, so
//!   no duplicates exist; stale chunk credentials are deleted first (Docker's order).
//! - Listing is one `CredEnumerateW` with the filter `<group>:<name>:*`; lookups of
//!   one id are one `CredReadW` (plus one per chunk).
//! - No logon session (a service account, a network logon) is
//!   [`Error::Unavailable`]; the Credential Manager never prompts.
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

    /// Whether the Credential Manager answers for this logon session: one `CredReadW`
    /// of a target no id maps to (`<group>:<name>:`), whose "not found" says it does.
    pub async fn is_available(&self) -> bool {
        let names = self.names.clone();
        blocking(move || ffi::read(&names.target("")).map(drop))
            .await
            .is_ok()
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

/// The Credential Manager calls, each turning Windows' structures into owned Rust
/// values before the buffer is freed (and its blob wiped).
#[allow(unsafe_code)]
mod ffi {
    use std::ptr;

    use windows_sys::Win32::Foundation::{
        ERROR_NO_SUCH_LOGON_SESSION, ERROR_NOT_FOUND, FILETIME, GetLastError,
    };
    use windows_sys::Win32::Security::Credentials::{
        CRED_PERSIST_LOCAL_MACHINE, CRED_TYPE_GENERIC, CREDENTIAL_ATTRIBUTEW, CREDENTIALW,
        CredDeleteW, CredEnumerateW, CredFree, CredReadW, CredWriteW,
    };
    use zeroize::Zeroizing;

    use crate::error::Error;

    /// A credential as read: target, user name, blob and attributes.
    pub(super) struct Credential {
        pub target: String,
        pub user: Option<String>,
        pub blob: Zeroizing<Vec<u8>>,
        pub attributes: Vec<(String, Vec<u8>)>,
    }

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    /// The NUL-terminated UTF-16 string at `p`, lossily; `None` for NULL.
    ///
    /// Every read from the Credential Manager's buffers is unaligned: Wine packs the
    /// structures and strings of a `CredEnumerateW` answer back to back, at odd
    /// addresses.
    ///
    /// # Safety
    /// `p` is NULL or points to a NUL-terminated UTF-16 string.
    unsafe fn string(p: *const u16) -> Option<String> {
        if p.is_null() {
            return None;
        }
        let mut units = Vec::new();
        loop {
            // SAFETY: the string is NUL-terminated (the caller's promise), so every
            // unit up to the NUL is readable.
            let unit = unsafe { p.add(units.len()).read_unaligned() };
            if unit == 0 {
                break;
            }
            units.push(unit);
        }
        Some(String::from_utf16_lossy(&units))
    }

    /// Copies a credential out and wipes its blob in the Credential Manager's buffer.
    ///
    /// # Safety
    /// `c` points to a `CREDENTIALW` the Credential Manager returned and not yet freed.
    unsafe fn copy(c: *const CREDENTIALW) -> Credential {
        // SAFETY: valid per the caller's promise; copied out, as it may be unaligned.
        let c = unsafe { c.read_unaligned() };
        let blob = if c.CredentialBlob.is_null() || c.CredentialBlobSize == 0 {
            Zeroizing::new(Vec::new())
        } else {
            // SAFETY: the Credential Manager's buffer holds `CredentialBlobSize` bytes
            // at `CredentialBlob`, writable (it is the caller's until `CredFree`).
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(c.CredentialBlob, c.CredentialBlobSize as usize)
            };
            let copy = Zeroizing::new(bytes.to_vec());
            zeroize::Zeroize::zeroize(bytes);
            copy
        };
        let attributes = if c.Attributes.is_null() {
            Vec::new()
        } else {
            (0..c.AttributeCount as usize)
                // SAFETY: `AttributeCount` attributes at `Attributes`, maybe unaligned.
                .map(|i| unsafe { c.Attributes.add(i).read_unaligned() })
                .map(|a| {
                    let value = if a.Value.is_null() {
                        Vec::new()
                    } else {
                        // SAFETY: `ValueSize` bytes at `Value`.
                        unsafe { std::slice::from_raw_parts(a.Value, a.ValueSize as usize) }
                            .to_vec()
                    };
                    // SAFETY: keywords are NUL-terminated strings.
                    (unsafe { string(a.Keyword) }.unwrap_or_default(), value)
                })
                .collect()
        };
        Credential {
            // SAFETY: target and user name are NUL-terminated strings or NULL.
            target: unsafe { string(c.TargetName) }.unwrap_or_default(),
            user: unsafe { string(c.UserName) },
            blob,
            attributes,
        }
    }

    fn failed(what: &str, target: &str) -> Error {
        // SAFETY: reads this thread's last-error value; no pointers.
        let code = unsafe { GetLastError() };
        last_error(code, what, target)
    }

    fn last_error(code: u32, what: &str, target: &str) -> Error {
        if code == ERROR_NO_SUCH_LOGON_SESSION {
            return Error::Unavailable {
                reason: "the Windows Credential Manager has no logon session for this process (a service or network logon); log on interactively".into(),
            };
        }
        let io = std::io::Error::from_raw_os_error(code as i32);
        Error::Backend {
            message: format!("Windows Credential Manager: {what} {target:?}: {io}"),
        }
    }

    /// The generic credential `target`; `None` when there is none.
    pub(super) fn read(target: &str) -> Result<Option<Credential>, Error> {
        let name = wide(target);
        let mut c: *mut CREDENTIALW = ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `c` receives a buffer freed below.
        let ok = unsafe { CredReadW(name.as_ptr(), CRED_TYPE_GENERIC, 0, &mut c) };
        if ok == 0 {
            // SAFETY: as in `failed`.
            let code = unsafe { GetLastError() };
            if code == ERROR_NOT_FOUND {
                return Ok(None);
            }
            return Err(last_error(code, "reading", target));
        }
        // SAFETY: `c` is the buffer CredReadW returned, freed once, right after.
        let out = unsafe { copy(c) };
        unsafe { CredFree(c as *const _) };
        Ok(Some(out))
    }

    /// Every credential whose target matches `filter` (`prefix*`), or all of them.
    pub(super) fn enumerate(filter: Option<&str>) -> Result<Vec<Credential>, Error> {
        let filter = filter.map(wide);
        let filter_ptr = filter.as_ref().map_or(ptr::null(), |f| f.as_ptr());
        let mut count = 0u32;
        let mut list: *mut *mut CREDENTIALW = ptr::null_mut();
        // SAFETY: the filter is NULL or NUL-terminated; `list` receives one buffer
        // freed below.
        let ok = unsafe { CredEnumerateW(filter_ptr, 0, &mut count, &mut list) };
        if ok == 0 {
            // SAFETY: as in `failed`.
            let code = unsafe { GetLastError() };
            if code == ERROR_NOT_FOUND {
                return Ok(Vec::new());
            }
            return Err(last_error(code, "listing", "credentials"));
        }
        let out = (0..count as usize)
            // SAFETY: `count` credential pointers at `list` (maybe unaligned), each
            // valid until the one CredFree below.
            .map(|i| unsafe { copy(list.add(i).read_unaligned()) })
            .collect();
        unsafe { CredFree(list as *const _) };
        Ok(out)
    }

    /// Writes (creates or replaces) the generic credential `target`.
    pub(super) fn write(
        target: &str,
        user: &str,
        blob: &[u8],
        attributes: &[(String, Vec<u8>)],
    ) -> Result<(), Error> {
        let name = wide(target);
        let user_w = wide(user);
        let keywords: Vec<Vec<u16>> = attributes.iter().map(|(k, _)| wide(k)).collect();
        let mut attrs: Vec<CREDENTIAL_ATTRIBUTEW> = attributes
            .iter()
            .zip(&keywords)
            .map(|((_, v), k)| CREDENTIAL_ATTRIBUTEW {
                Keyword: k.as_ptr() as *mut u16,
                Flags: 0,
                ValueSize: v.len() as u32,
                Value: v.as_ptr() as *mut u8,
            })
            .collect();
        let c = CREDENTIALW {
            Flags: 0,
            Type: CRED_TYPE_GENERIC,
            TargetName: name.as_ptr() as *mut u16,
            Comment: ptr::null_mut(),
            LastWritten: FILETIME {
                dwLowDateTime: 0,
                dwHighDateTime: 0,
            },
            CredentialBlobSize: blob.len() as u32,
            CredentialBlob: if blob.is_empty() {
                ptr::null_mut()
            } else {
                blob.as_ptr() as *mut u8
            },
            Persist: CRED_PERSIST_LOCAL_MACHINE,
            AttributeCount: attrs.len() as u32,
            Attributes: if attrs.is_empty() {
                ptr::null_mut()
            } else {
                attrs.as_mut_ptr()
            },
            TargetAlias: ptr::null_mut(),
            UserName: user_w.as_ptr() as *mut u16,
        };
        // SAFETY: every pointer in `c` refers to a live, NUL-terminated string or to
        // a buffer of the stated size, all outliving the call; CredWriteW only reads
        // them.
        if unsafe { CredWriteW(&c, 0) } == 0 {
            return Err(failed("writing", target));
        }
        Ok(())
    }

    /// Deletes the generic credential `target`; `false` when there was none.
    pub(super) fn delete(target: &str) -> Result<bool, Error> {
        let name = wide(target);
        // SAFETY: `name` is NUL-terminated.
        if unsafe { CredDeleteW(name.as_ptr(), CRED_TYPE_GENERIC, 0) } == 0 {
            // SAFETY: as in `failed`.
            let code = unsafe { GetLastError() };
            if code == ERROR_NOT_FOUND {
                return Ok(false);
            }
            return Err(last_error(code, "deleting", target));
        }
        Ok(true)
    }
}
