//! The macOS Keychain Services calls that `secrets-engine`'s keychain provider makes,
//! behind a safe API.
//!
//! The core crate forbids unsafe code, and `security-framework` (the well-kept
//! binding) cannot express Docker's item layout safely: its search results are
//! untyped `CFDictionary`s whose values can only be read through raw pointers, and
//! it has no `kSecAttrGeneric`, which holds Docker's metadata. This crate is the
//! one place where those raw calls live, on top of `security-framework-sys` and
//! `core-foundation`; every `unsafe` block says why it is sound.
//!
//! Generic-password items only. Every call:
//! - runs with keychain user interaction disabled
//!   (`SecKeychainSetUserInteractionAllowed(false)`, the previous setting restored
//!   after) and, for searches and deletes, `kSecUseAuthenticationUI` =
//!   `kSecUseAuthenticationUIFail`: a locked keychain or an access prompt answers
//!   `Status::INTERACTION_NOT_ALLOWED` (errSecInteractionNotAllowed) instead of a dialog that would block a
//!   headless caller. The interaction setting is per process, and the file-based
//!   keychain honours nothing else (`kSecUseAuthenticationUI` only reaches the
//!   data-protection keychain), so calls are serialised by a process-wide lock and
//!   each restores what it found.
//! - is synchronous: callers run it on a blocking thread.
//!
//! On every other OS the crate is empty.
#![cfg(target_os = "macos")]

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use core_foundation::array::CFArray;
use core_foundation::base::{CFType, TCFType};
use core_foundation::boolean::CFBoolean;
use core_foundation::data::CFData;
use core_foundation::date::CFDate;
use core_foundation::dictionary::CFDictionary;
use core_foundation::string::{CFString, CFStringRef};
use core_foundation_sys::base::{CFTypeRef, OSStatus, kCFAllocatorDefault, kCFAllocatorNull};
use core_foundation_sys::data::CFDataCreateWithBytesNoCopy;
use security_framework_sys::access_control::kSecAttrAccessibleAfterFirstUnlock;
use security_framework_sys::item::{
    kSecAttrAccessGroup, kSecAttrAccount, kSecAttrLabel, kSecAttrService, kSecClass,
    kSecClassGenericPassword, kSecMatchLimit, kSecMatchLimitAll, kSecReturnAttributes,
    kSecReturnData, kSecUseAuthenticationUI, kSecValueData,
};
use security_framework_sys::keychain::{
    SecKeychainGetUserInteractionAllowed, SecKeychainSetUserInteractionAllowed,
};
use security_framework_sys::keychain_item::{SecItemAdd, SecItemCopyMatching, SecItemDelete};

// Constants of Security.framework that security-framework-sys does not declare.
#[link(name = "Security", kind = "framework")]
unsafe extern "C" {
    static kSecAttrGeneric: CFStringRef;
    static kSecAttrAccessible: CFStringRef;
    static kSecAttrCreationDate: CFStringRef;
    static kSecMatchLimitOne: CFStringRef;
    static kSecUseAuthenticationUIFail: CFStringRef;
}

/// Seconds from the Unix epoch to Core Foundation's reference date (2001-01-01 UTC).
const CF_EPOCH_UNIX_SECS: f64 = 978_307_200.0;

/// A Security framework result code (`OSStatus`) other than success.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Status(pub i32);

impl Status {
    /// `errSecItemNotFound`.
    pub const ITEM_NOT_FOUND: Status = Status(-25300);
    /// `errSecDuplicateItem`: an item with this service, account and access group exists.
    pub const DUPLICATE_ITEM: Status = Status(-25299);
    /// `errSecInteractionNotAllowed`: the keychain is locked, or reading the item
    /// needs the user's consent.
    pub const INTERACTION_NOT_ALLOWED: Status = Status(-25308);
    /// `errSecAuthFailed`: the user name or passphrase was wrong.
    pub const AUTH_FAILED: Status = Status(-25293);
    /// `errSecUserCanceled`: the user dismissed a dialog.
    pub const USER_CANCELED: Status = Status(-128);
    /// `errSecNoSuchKeychain`: the keychain does not exist.
    pub const NO_SUCH_KEYCHAIN: Status = Status(-25294);
    /// `errSecNoDefaultKeychain`: no default keychain (a user without a login keychain).
    pub const NO_DEFAULT_KEYCHAIN: Status = Status(-25307);
    /// `errSecNotAvailable`: no keychain is available.
    pub const NOT_AVAILABLE: Status = Status(-25291);

    /// The framework's description of the code (`SecCopyErrorMessageString`).
    pub fn message(self) -> String {
        // SAFETY: SecCopyErrorMessageString takes a status and a reserved NULL, and
        // returns a new CFString (create rule) or NULL.
        let s = unsafe {
            security_framework_sys::base::SecCopyErrorMessageString(self.0, std::ptr::null_mut())
        };
        if s.is_null() {
            return format!("OSStatus {}", self.0);
        }
        // SAFETY: non-NULL, owned by us (create rule), released by the wrapper.
        unsafe { CFString::wrap_under_create_rule(s) }.to_string()
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Status({})", self.0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (OSStatus {})", self.message(), self.0)
    }
}

impl std::error::Error for Status {}

fn check(status: OSStatus) -> Result<(), Status> {
    if status == 0 {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Which items a call concerns: Docker's `kSecAttrService` and `kSecAttrAccessGroup`.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// `kSecAttrService` (Docker's service name).
    pub service: &'a str,
    /// `kSecAttrAccessGroup` (Docker's service group).
    pub access_group: &'a str,
}

/// One item as a search returned it.
#[derive(Default)]
pub struct Item {
    /// `kSecAttrAccount`.
    pub account: Option<String>,
    /// `kSecAttrGeneric`, the raw bytes.
    pub generic: Option<Vec<u8>>,
    /// `kSecAttrCreationDate`.
    pub created: Option<SystemTime>,
    /// `kSecValueData`, only when asked for. The caller owns (and should zero) it.
    pub data: Option<Vec<u8>>,
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("account", &self.account)
            .field("generic", &self.generic.as_ref().map(Vec::len))
            .field("created", &self.created)
            .field("data", &self.data.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A `CFString` from one of the framework's constant keys or values.
fn constant(key: CFStringRef) -> CFString {
    // SAFETY: the framework's constants are valid CFStrings for the life of the
    // process; get rule: the wrapper retains and releases its own reference.
    unsafe { CFString::wrap_under_get_rule(key) }
}

macro_rules! key {
    ($name:ident) => {
        // SAFETY: reading an immutable extern static the framework initialises
        // before any code of ours runs.
        constant(unsafe { $name })
    };
}

/// Serialises calls: the user-interaction setting they change is per process.
static CALLS: Mutex<()> = Mutex::new(());

/// Restores the user-interaction setting found before a call.
struct Quiet {
    before: u8,
}

impl Quiet {
    fn new() -> Quiet {
        let mut before: u8 = 1;
        // SAFETY: an out-pointer to a live local.
        if unsafe { SecKeychainGetUserInteractionAllowed(&mut before) } != 0 {
            before = 1;
        }
        // SAFETY: takes a plain boolean.
        unsafe { SecKeychainSetUserInteractionAllowed(0) };
        Quiet { before }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        // SAFETY: takes a plain boolean.
        unsafe { SecKeychainSetUserInteractionAllowed(self.before) };
    }
}

/// Runs `f` with user interaction disabled, one call at a time in this process.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let _one = CALLS.lock().unwrap_or_else(PoisonError::into_inner);
    let _quiet = Quiet::new();
    f()
}

fn pairs(scope: Scope<'_>, account: Option<&str>) -> Vec<(CFString, CFType)> {
    let mut p = vec![
        (
            key!(kSecClass),
            key!(kSecClassGenericPassword).into_CFType(),
        ),
        (
            key!(kSecAttrService),
            CFString::new(scope.service).into_CFType(),
        ),
        (
            key!(kSecAttrAccessGroup),
            CFString::new(scope.access_group).into_CFType(),
        ),
    ];
    if let Some(a) = account {
        p.push((key!(kSecAttrAccount), CFString::new(a).into_CFType()));
    }
    p
}

/// Adds a generic-password item: `kSecAttrAccount` = `account`, `kSecAttrLabel` =
/// `label`, `kSecAttrGeneric` = `generic`, `kSecAttrAccessible` = after first
/// unlock, `kSecValueData` = `data`. [`Status::DUPLICATE_ITEM`] when one exists.
pub fn add(
    scope: Scope<'_>,
    account: &str,
    label: &str,
    generic: &[u8],
    data: &[u8],
) -> Result<(), Status> {
    // No copy of the secret into Core Foundation's heap (which is freed without
    // being zeroed): the CFData borrows `data` and is dropped before it.
    // SAFETY: `data` outlives `value` (dropped at the end of this function);
    // kCFAllocatorNull tells CF not to free the borrowed bytes.
    let value = unsafe {
        let raw = CFDataCreateWithBytesNoCopy(
            kCFAllocatorDefault,
            data.as_ptr(),
            data.len() as isize,
            kCFAllocatorNull,
        );
        if raw.is_null() {
            return Err(Status(-108)); // memFullErr
        }
        CFData::wrap_under_create_rule(raw)
    };
    let mut p = pairs(scope, Some(account));
    p.push((key!(kSecAttrLabel), CFString::new(label).into_CFType()));
    p.push((
        key!(kSecAttrGeneric),
        CFData::from_buffer(generic).into_CFType(),
    ));
    p.push((
        key!(kSecAttrAccessible),
        key!(kSecAttrAccessibleAfterFirstUnlock).into_CFType(),
    ));
    p.push((key!(kSecValueData), value.as_CFType()));
    let query = CFDictionary::from_CFType_pairs(&p);
    quietly(|| {
        // SAFETY: a valid dictionary; NULL asks for no result.
        check(unsafe { SecItemAdd(query.as_concrete_TypeRef(), std::ptr::null_mut()) })
    })
}

/// The items of `scope` (only `account`'s when given), with their attributes; with
/// `with_data`, one item (the framework returns data for one match only) and its
/// value. No item is an empty list.
pub fn find(scope: Scope<'_>, account: Option<&str>, with_data: bool) -> Result<Vec<Item>, Status> {
    let mut p = pairs(scope, account);
    let yes = CFBoolean::true_value().into_CFType();
    p.push((key!(kSecReturnAttributes), yes.clone()));
    if with_data {
        p.push((key!(kSecReturnData), yes));
        p.push((key!(kSecMatchLimit), key!(kSecMatchLimitOne).into_CFType()));
    } else {
        p.push((key!(kSecMatchLimit), key!(kSecMatchLimitAll).into_CFType()));
    }
    p.push((
        key!(kSecUseAuthenticationUI),
        key!(kSecUseAuthenticationUIFail).into_CFType(),
    ));
    let query = CFDictionary::from_CFType_pairs(&p);
    let mut out: CFTypeRef = std::ptr::null();
    let status = quietly(|| {
        // SAFETY: a valid dictionary and an out-pointer to a live local.
        unsafe { SecItemCopyMatching(query.as_concrete_TypeRef(), &mut out) }
    });
    if status == Status::ITEM_NOT_FOUND.0 {
        return Ok(Vec::new());
    }
    check(status)?;
    if out.is_null() {
        return Ok(Vec::new());
    }
    // SAFETY: a non-NULL result of SecItemCopyMatching is a new reference (create
    // rule) to a CF object.
    let out = unsafe { CFType::wrap_under_create_rule(out) };
    let mut items = Vec::new();
    if out.instance_of::<CFArray>() {
        // SAFETY: checked to be a CFArray; its elements are CF objects.
        let array: CFArray<CFType> =
            unsafe { CFArray::wrap_under_get_rule(out.as_CFTypeRef().cast()) };
        for element in array.iter() {
            items.extend(item(&element));
        }
    } else {
        items.extend(item(&out));
    }
    Ok(items)
}

/// The item an attribute dictionary describes; `None` for anything else.
fn item(found: &CFType) -> Option<Item> {
    if !found.instance_of::<CFDictionary>() {
        return None;
    }
    // SAFETY: checked to be a CFDictionary. Its values are CF objects; its keys are
    // only compared (CFEqual), never read as strings.
    let dict: CFDictionary<CFString, CFType> =
        unsafe { CFDictionary::wrap_under_get_rule(found.as_CFTypeRef().cast()) };
    let get = |k: CFString| dict.find(&k).map(|v| v.clone());
    let bytes = |v: CFType| {
        v.downcast_into::<CFData>().map(|d| {
            let mut b = Vec::with_capacity(d.len() as usize);
            b.extend_from_slice(d.bytes());
            b
        })
    };
    Some(Item {
        account: get(key!(kSecAttrAccount))
            .and_then(|v| v.downcast_into::<CFString>())
            .map(|s| s.to_string()),
        generic: get(key!(kSecAttrGeneric)).and_then(bytes),
        created: get(key!(kSecAttrCreationDate))
            .and_then(|v| v.downcast_into::<CFDate>())
            .and_then(|d| {
                let unix = d.abs_time() + CF_EPOCH_UNIX_SECS;
                (unix.is_finite() && unix >= 0.0)
                    .then(|| UNIX_EPOCH + Duration::from_secs_f64(unix))
            }),
        data: get(key!(kSecValueData)).and_then(bytes),
    })
}

/// Deletes every item of `scope` and `account`. [`Status::ITEM_NOT_FOUND`] when none.
pub fn delete(scope: Scope<'_>, account: &str) -> Result<(), Status> {
    let mut p = pairs(scope, Some(account));
    p.push((
        key!(kSecUseAuthenticationUI),
        key!(kSecUseAuthenticationUIFail).into_CFType(),
    ));
    let query = CFDictionary::from_CFType_pairs(&p);
    quietly(|| {
        // SAFETY: a valid dictionary.
        check(unsafe { SecItemDelete(query.as_concrete_TypeRef()) })
    })
}
