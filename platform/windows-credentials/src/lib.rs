//! The Windows Credential Manager calls that `secrets-engine`'s keychain provider
//! makes (`CredReadW`, `CredEnumerateW`, `CredWriteW`, `CredDeleteW`), behind a safe
//! API.
//!
//! The core crate forbids unsafe code, and keyring's windows-native store cannot write
//! Docker's layout (credential attributes, chunk credentials). This crate is the one
//! place where the raw calls live, on `windows-sys`; every `unsafe` block says why it
//! is sound. Each call turns Windows' structures into owned Rust values before the
//! buffer is freed, and wipes the blob in that buffer first.
//!
//! Generic credentials only, persisted `CRED_PERSIST_LOCAL_MACHINE` as Docker's are.
//! The calls are synchronous: callers run them on a blocking thread.
//!
//! On every other OS the crate is empty.
#![cfg(windows)]

use std::fmt;
use std::ptr;

use windows_sys::Win32::Foundation::{
    ERROR_NO_SUCH_LOGON_SESSION, ERROR_NOT_FOUND, FILETIME, GetLastError,
};
use windows_sys::Win32::Security::Credentials::{
    CRED_PERSIST_LOCAL_MACHINE, CRED_TYPE_GENERIC, CREDENTIAL_ATTRIBUTEW, CREDENTIALW, CredDeleteW,
    CredEnumerateW, CredFree, CredReadW, CredWriteW,
};
use zeroize::Zeroizing;

/// A credential as read: target, user name, blob and attributes.
pub struct Credential {
    /// The target name.
    pub target: String,
    /// The user name, if it has one.
    pub user: Option<String>,
    /// The blob, wiped when dropped (and wiped in the Credential Manager's buffer
    /// before that is freed).
    pub blob: Zeroizing<Vec<u8>>,
    /// The attributes: keyword and value. Wine's Credential Manager keeps none.
    pub attributes: Vec<(String, Vec<u8>)>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("target", &self.target)
            .field("user", &self.user)
            .field("blob", &format_args!("<{} bytes>", self.blob.len()))
            .field("attributes", &self.attributes.len())
            .finish()
    }
}

/// A failed call: the Win32 error code `GetLastError` gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsError(pub u32);

impl OsError {
    /// `ERROR_NO_SUCH_LOGON_SESSION`: the process has no logon session whose
    /// credentials it could use (a service, or a network logon).
    pub fn is_no_logon_session(self) -> bool {
        self.0 == ERROR_NO_SUCH_LOGON_SESSION
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[allow(clippy::cast_possible_wrap)] // Win32 codes are what io::Error takes
        let io = std::io::Error::from_raw_os_error(self.0 as i32);
        write!(f, "{io}")
    }
}

impl std::error::Error for OsError {}

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

/// Copies a credential the Credential Manager returned out of its buffer and wipes
/// the blob there.
///
/// # Safety
/// `c` points to a `CREDENTIALW` the Credential Manager returned and not yet freed.
unsafe fn take(c: *const CREDENTIALW) -> Credential {
    // SAFETY: valid per the caller's promise.
    let out = unsafe { copy(c) };
    // SAFETY: valid per the caller's promise, and its blob is the caller's (writable)
    // until `CredFree`.
    unsafe { wipe_blob(c) };
    out
}

/// Zeroes the blob of `c` in place.
///
/// # Safety
/// `c` points to a valid `CREDENTIALW` whose `CredentialBlob` is NULL or
/// `CredentialBlobSize` writable bytes.
unsafe fn wipe_blob(c: *const CREDENTIALW) {
    // SAFETY: valid per the caller's promise; copied out, as it may be unaligned.
    let c = unsafe { c.read_unaligned() };
    if !c.CredentialBlob.is_null() && c.CredentialBlobSize != 0 {
        // SAFETY: `CredentialBlobSize` writable bytes at `CredentialBlob` (the
        // caller's promise), not otherwise borrowed while this slice lives.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(c.CredentialBlob, c.CredentialBlobSize as usize)
        };
        zeroize::Zeroize::zeroize(bytes);
    }
}

/// Copies a credential out of the structure at `c`, which is left as it was: the
/// reading half of [`take`], apart so a test can read back what [`Outgoing`] builds.
///
/// # Safety
/// `c` points to a valid `CREDENTIALW`: its strings NULL or NUL-terminated, its blob
/// and attribute values NULL or of their stated sizes, `AttributeCount` attributes
/// at `Attributes` (which may be NULL).
unsafe fn copy(c: *const CREDENTIALW) -> Credential {
    // SAFETY: valid per the caller's promise; copied out, as it may be unaligned.
    let c = unsafe { c.read_unaligned() };
    let blob = if c.CredentialBlob.is_null() || c.CredentialBlobSize == 0 {
        Zeroizing::new(Vec::new())
    } else {
        // SAFETY: `CredentialBlobSize` bytes at `CredentialBlob` (the caller's
        // promise).
        let bytes =
            unsafe { std::slice::from_raw_parts(c.CredentialBlob, c.CredentialBlobSize as usize) };
        Zeroizing::new(bytes.to_vec())
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
                    unsafe { std::slice::from_raw_parts(a.Value, a.ValueSize as usize) }.to_vec()
                };
                // SAFETY: keywords are NUL-terminated strings.
                (unsafe { string(a.Keyword) }.unwrap_or_default(), value)
            })
            .collect()
    };
    Credential {
        // SAFETY: target and user name are NUL-terminated strings or NULL.
        target: unsafe { string(c.TargetName) }.unwrap_or_default(),
        // SAFETY: as the target name.
        user: unsafe { string(c.UserName) },
        blob,
        attributes,
    }
}

/// This thread's last Win32 error.
fn last_error() -> OsError {
    // SAFETY: reads this thread's last-error value; no pointers.
    OsError(unsafe { GetLastError() })
}

/// The generic credential `target`; `None` when there is none.
pub fn read(target: &str) -> Result<Option<Credential>, OsError> {
    let name = wide(target);
    let mut c: *mut CREDENTIALW = ptr::null_mut();
    // SAFETY: `name` is NUL-terminated; `c` receives a buffer freed below.
    let ok = unsafe { CredReadW(name.as_ptr(), CRED_TYPE_GENERIC, 0, &mut c) };
    if ok == 0 {
        let e = last_error();
        if e.0 == ERROR_NOT_FOUND {
            return Ok(None);
        }
        return Err(e);
    }
    // SAFETY: `c` is the buffer CredReadW returned, not yet freed.
    let out = unsafe { take(c) };
    // SAFETY: the one buffer CredReadW returned, not used after this.
    unsafe { CredFree(c as *const _) };
    Ok(Some(out))
}

/// Every credential whose target matches `filter` (`prefix*`), or all of them.
pub fn enumerate(filter: Option<&str>) -> Result<Vec<Credential>, OsError> {
    let filter = filter.map(wide);
    let filter_ptr = filter.as_ref().map_or(ptr::null(), |f| f.as_ptr());
    let mut count = 0u32;
    let mut list: *mut *mut CREDENTIALW = ptr::null_mut();
    // SAFETY: the filter is NULL or NUL-terminated; `list` receives one buffer
    // freed below.
    let ok = unsafe { CredEnumerateW(filter_ptr, 0, &mut count, &mut list) };
    if ok == 0 {
        let e = last_error();
        if e.0 == ERROR_NOT_FOUND {
            return Ok(Vec::new());
        }
        return Err(e);
    }
    let out = (0..count as usize)
        // SAFETY: `count` credential pointers at `list` (maybe unaligned), each
        // valid until the one CredFree below.
        .map(|i| unsafe { take(list.add(i).read_unaligned()) })
        .collect();
    // SAFETY: the one buffer CredEnumerateW returned; every credential was copied
    // out of it above.
    unsafe { CredFree(list as *const _) };
    Ok(out)
}

/// The `CREDENTIALW` that [`write`] hands to `CredWriteW`, with the buffers its
/// pointers refer to. Built apart from the call so a test can read it back with
/// [`copy`]: Wine's Credential Manager drops attributes, so a round trip through it
/// cannot check them.
struct Outgoing<'a> {
    target: Vec<u16>,
    user: Vec<u16>,
    /// Each attribute's keyword, NUL-terminated UTF-16; `attributes` points into
    /// these heap buffers, which stay put while the vectors are not changed.
    _keywords: Vec<Vec<u16>>,
    attributes: Vec<CREDENTIAL_ATTRIBUTEW>,
    blob: &'a [u8],
}

impl<'a> Outgoing<'a> {
    fn new(
        target: &str,
        user: &str,
        blob: &'a [u8],
        attributes: &'a [(String, Vec<u8>)],
    ) -> Outgoing<'a> {
        let keywords: Vec<Vec<u16>> = attributes.iter().map(|(k, _)| wide(k)).collect();
        let attrs = attributes
            .iter()
            .zip(&keywords)
            .map(|((_, v), k)| CREDENTIAL_ATTRIBUTEW {
                Keyword: k.as_ptr() as *mut u16,
                Flags: 0,
                ValueSize: v.len() as u32,
                // The value's bytes as given (Docker's are UTF-8), not UTF-16.
                Value: v.as_ptr() as *mut u8,
            })
            .collect();
        Outgoing {
            target: wide(target),
            user: wide(user),
            _keywords: keywords,
            attributes: attrs,
            blob,
        }
    }

    /// The structure, pointing into `self`: valid while `self` lives unchanged. Its
    /// pointers are `*mut` because the struct's fields are, but nothing it is given
    /// to may write through them (`CredWriteW` only reads).
    fn credential(&mut self) -> CREDENTIALW {
        CREDENTIALW {
            Flags: 0,
            Type: CRED_TYPE_GENERIC,
            TargetName: self.target.as_ptr() as *mut u16,
            Comment: ptr::null_mut(),
            LastWritten: FILETIME {
                dwLowDateTime: 0,
                dwHighDateTime: 0,
            },
            CredentialBlobSize: self.blob.len() as u32,
            CredentialBlob: if self.blob.is_empty() {
                ptr::null_mut()
            } else {
                self.blob.as_ptr() as *mut u8
            },
            Persist: CRED_PERSIST_LOCAL_MACHINE,
            AttributeCount: self.attributes.len() as u32,
            Attributes: if self.attributes.is_empty() {
                ptr::null_mut()
            } else {
                self.attributes.as_mut_ptr()
            },
            TargetAlias: ptr::null_mut(),
            UserName: self.user.as_ptr() as *mut u16,
        }
    }
}

/// Writes (creates or replaces) the generic credential `target`.
pub fn write(
    target: &str,
    user: &str,
    blob: &[u8],
    attributes: &[(String, Vec<u8>)],
) -> Result<(), OsError> {
    let mut out = Outgoing::new(target, user, blob, attributes);
    let c = out.credential();
    // SAFETY: every pointer in `c` refers to a live, NUL-terminated string or to
    // a buffer of the stated size, all in `out` or borrowed by it, which outlives
    // the call; CredWriteW only reads them.
    if unsafe { CredWriteW(&c, 0) } == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// Deletes the generic credential `target`; `false` when there was none.
pub fn delete(target: &str) -> Result<bool, OsError> {
    let name = wide(target);
    // SAFETY: `name` is NUL-terminated.
    if unsafe { CredDeleteW(name.as_ptr(), CRED_TYPE_GENERIC, 0) } == 0 {
        let e = last_error();
        if e.0 == ERROR_NOT_FOUND {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    /// Reads back what `write` would hand to `CredWriteW`.
    fn written(
        target: &str,
        user: &str,
        blob: &[u8],
        attributes: &[(String, Vec<u8>)],
    ) -> (CREDENTIALW, Credential) {
        let mut out = Outgoing::new(target, user, blob, attributes);
        let c = out.credential();
        // SAFETY: `c` points into `out`, alive and unchanged for this call; `copy`
        // only reads.
        let back = unsafe { copy(&c) };
        (c, back)
    }

    #[test]
    fn write_passes_target_user_blob_and_utf8_attributes() {
        // An odd-sized blob with a NUL and a byte no UTF-16 code unit would end on.
        let blob = [0x74, 0x00, 0x00, 0xdc, 0xff];
        let attributes = attrs(&[
            ("service:group", "com.docker.docker-pass"),
            ("service:name", "docker-pass-cli"),
            ("id", "app/token"),
            ("x_env", "prod é"),
            ("x_empty", ""),
            ("chunk:count", "5"),
        ]);
        let (c, back) = written(
            "com.docker.docker-pass:docker-pass-cli:app/token",
            "app/token",
            &blob,
            &attributes,
        );
        assert_eq!(c.Type, CRED_TYPE_GENERIC);
        assert_eq!(c.Persist, CRED_PERSIST_LOCAL_MACHINE);
        assert_eq!(c.Flags, 0);
        assert_eq!(c.CredentialBlobSize, 5);
        assert_eq!(c.AttributeCount, 6);
        assert_eq!(
            back.target,
            "com.docker.docker-pass:docker-pass-cli:app/token"
        );
        assert_eq!(back.user.as_deref(), Some("app/token"));
        assert_eq!(back.blob.as_slice(), &blob[..]);
        // Keywords and values byte-exact, in order: values are the UTF-8 bytes.
        assert_eq!(back.attributes, attributes);
        assert_eq!(back.attributes[3].1, b"prod \xc3\xa9");
        assert!(back.attributes[4].1.is_empty());
    }

    #[test]
    fn write_passes_null_for_an_empty_blob_and_no_attributes() {
        // A chunked value's main credential has no blob.
        let (c, back) = written("g:n:big", "big", &[], &[]);
        assert!(c.CredentialBlob.is_null());
        assert_eq!(c.CredentialBlobSize, 0);
        assert!(c.Attributes.is_null());
        assert_eq!(c.AttributeCount, 0);
        assert_eq!(back.target, "g:n:big");
        assert_eq!(back.user.as_deref(), Some("big"));
        assert!(back.blob.is_empty());
        assert!(back.attributes.is_empty());
    }

    #[test]
    fn reading_a_returned_credential_wipes_its_blob() {
        let mut out = Outgoing::new("g:n:a", "a", &[], &[]);
        let mut c = out.credential();
        let mut buffer = vec![1u8, 2, 3];
        c.CredentialBlob = buffer.as_mut_ptr();
        c.CredentialBlobSize = 3;
        // SAFETY: `c` points into `out` and into `buffer`, both alive and writable.
        let back = unsafe { take(&c) };
        assert_eq!(back.blob.as_slice(), [1, 2, 3]);
        assert_eq!(buffer, [0, 0, 0]);
    }
}
