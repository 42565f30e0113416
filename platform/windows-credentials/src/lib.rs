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
    let out = unsafe { copy(c) };
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
        .map(|i| unsafe { copy(list.add(i).read_unaligned()) })
        .collect();
    // SAFETY: the one buffer CredEnumerateW returned; every credential was copied
    // out of it above.
    unsafe { CredFree(list as *const _) };
    Ok(out)
}

/// Writes (creates or replaces) the generic credential `target`.
pub fn write(
    target: &str,
    user: &str,
    blob: &[u8],
    attributes: &[(String, Vec<u8>)],
) -> Result<(), OsError> {
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
