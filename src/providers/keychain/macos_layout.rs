//! Docker's macOS keychain layout (`store/keychain/keychain_darwin.go` and
//! `keychain.go` in Docker's secrets-engine), as pure functions: which item fields a
//! secret is written to, and how an item found is read back.
//!
//! A secret of id `I` in a store of group `G` and name `N` is one generic-password
//! item:
//!
//! | item field | value |
//! |---|---|
//! | `kSecAttrService` | `N` |
//! | `kSecAttrAccessGroup` | `G` |
//! | `kSecAttrAccount` | `I` |
//! | `kSecAttrLabel` | `G:N:I` |
//! | `kSecAttrGeneric` | a gob stream ([`super::gob`]) of the map `service:group` = `G`, `service:name` = `N`, `id` = `I`, and each metadata entry `k` = `v` as `x_k` |
//! | `kSecAttrAccessible` | after first unlock |
//! | `kSecValueData` | the secret's bytes, unchanged |
//!
//! Items are searched by service and access group (and account for one id); the
//! id of an item found is its account, and its metadata the `x_` entries of the
//! map with the prefix removed. Everything else in the map is dropped, as
//! Docker's reader does.
//!
//! The provider (`macos.rs`, which only macOS compiles) writes and searches exactly
//! the fields these functions return, and turns Keychain Services result codes into
//! the crate's errors with [`status_error`], so the tests here pin both on every OS.

use std::fmt::Display;

use super::gob::{self, GobError};
use crate::envelope::Metadata;
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;

/// Prefix of caller metadata in the attribute map.
const METADATA_PREFIX: &str = "x_";

/// The fields that select a store's items: every search, add and delete names both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScopeFields {
    /// `kSecAttrService`.
    pub service: String,
    /// `kSecAttrAccessGroup`.
    pub access_group: String,
}

/// The fields of the item that holds one secret (all but its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemFields {
    /// `kSecAttrService`.
    pub service: String,
    /// `kSecAttrAccessGroup`.
    pub access_group: String,
    /// `kSecAttrAccount`.
    pub account: String,
    /// `kSecAttrLabel`.
    pub label: String,
    /// `kSecAttrGeneric`.
    pub generic: Vec<u8>,
}

/// Docker's attribute map for `id` with `metadata`.
pub(crate) fn attributes(group: &str, name: &str, id: &Id, metadata: &Metadata) -> Metadata {
    let mut map: Metadata = metadata
        .iter()
        .map(|(k, v)| (format!("{METADATA_PREFIX}{k}"), v.clone()))
        .collect();
    map.insert("service:group".into(), group.into());
    map.insert("service:name".into(), name.into());
    map.insert("id".into(), id.to_string());
    map
}

/// The scope of the store of group `group` and name `name`.
pub(crate) fn scope(group: &str, name: &str) -> ScopeFields {
    ScopeFields {
        service: name.into(),
        access_group: group.into(),
    }
}

/// The `kSecAttrAccount` of the item that holds `id`.
pub(crate) fn account(id: &Id) -> String {
    id.to_string()
}

/// The item fields Docker writes for `id`.
pub(crate) fn item_fields(group: &str, name: &str, id: &Id, metadata: &Metadata) -> ItemFields {
    let ScopeFields {
        service,
        access_group,
    } = scope(group, name);
    ItemFields {
        service,
        access_group,
        account: account(id),
        label: format!("{group}:{name}:{id}"),
        generic: gob::encode(&attributes(group, name, id, metadata)),
    }
}

/// The metadata an item's `kSecAttrGeneric` holds: the `x_` entries without their
/// prefix. No attribute at all is no metadata.
pub(crate) fn metadata(generic: Option<&[u8]>) -> Result<Metadata, GobError> {
    let Some(bytes) = generic else {
        return Ok(Metadata::new());
    };
    Ok(gob::decode(bytes)?
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(METADATA_PREFIX).map(|k| (k.to_owned(), v)))
        .collect())
}

/// The id an item's account names; `None` when it is missing or not an id (an item
/// another program stored under our service): such items are skipped.
pub(crate) fn id(account: Option<&str>) -> Option<Id> {
    account.and_then(|a| Id::parse(a).ok())
}

/// The ids among `accounts` that `pattern` matches, each once, sorted.
pub(crate) fn matching<'a>(
    accounts: impl IntoIterator<Item = Option<&'a str>>,
    pattern: &Pattern,
) -> Vec<Id> {
    let mut ids: Vec<Id> = accounts
        .into_iter()
        .filter_map(id)
        .filter(|id| pattern.matches(id))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The Keychain Services result codes (`OSStatus`) the provider tells apart, named
/// and valued as Apple's `Security/SecBase.h` declares them (security-framework-sys
/// declares `errSecAuthFailed`, `errSecDuplicateItem` and `errSecItemNotFound` with
/// the same values, and none of the others).
#[allow(non_upper_case_globals)] // Apple's names, so they can be searched for
pub(crate) mod codes {
    /// User canceled the operation (a dialog was dismissed).
    pub const errSecUserCanceled: i32 = -128;
    /// No keychain is available.
    pub const errSecNotAvailable: i32 = -25291;
    /// The user name or passphrase was not correct.
    pub const errSecAuthFailed: i32 = -25293;
    /// The keychain does not exist.
    pub const errSecNoSuchKeychain: i32 = -25294;
    /// The item already exists.
    pub const errSecDuplicateItem: i32 = -25299;
    /// The item cannot be found.
    pub const errSecItemNotFound: i32 = -25300;
    /// A default keychain does not exist.
    pub const errSecNoDefaultKeychain: i32 = -25307;
    /// User interaction is not allowed: the keychain is locked, or reading the item
    /// needs the user's consent, and the provider opens no dialog.
    pub const errSecInteractionNotAllowed: i32 = -25308;
    /// User interaction is required but not allowed (the data-protection keychain's
    /// answer where the file-based one gives `errSecInteractionNotAllowed`).
    pub const errSecInteractionRequired: i32 = -25315;
}

/// What a Keychain Services result code means to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKind {
    /// Locked, or the user's consent is needed: [`Error::Locked`].
    Locked,
    /// The user has no keychain: [`Error::Unavailable`].
    Unavailable,
    /// No such item: a remove of a missing id, or the delete before an add.
    NotFound,
    /// An add found the item already there: another writer raced this set.
    Duplicate,
    /// Anything else: [`Error::Backend`].
    Other,
}

/// What the result code `code` means (see [`StatusKind`]).
#[allow(non_upper_case_globals)] // matching on Apple's names
pub(crate) fn status_kind(code: i32) -> StatusKind {
    use codes::*;
    match code {
        errSecInteractionNotAllowed
        | errSecInteractionRequired
        | errSecAuthFailed
        | errSecUserCanceled => StatusKind::Locked,
        errSecNoSuchKeychain | errSecNoDefaultKeychain | errSecNotAvailable => {
            StatusKind::Unavailable
        }
        errSecItemNotFound => StatusKind::NotFound,
        errSecDuplicateItem => StatusKind::Duplicate,
        _ => StatusKind::Other,
    }
}

/// The crate's error for a failed call that answered `code`; `described` is the
/// framework's text for it. Not-found and duplicate, which the provider handles
/// itself where they are expected, are backend errors anywhere else.
pub(crate) fn status_error(code: i32, described: impl Display) -> Error {
    match status_kind(code) {
        StatusKind::Locked => Error::Locked {
            reason: format!(
                "the macOS keychain is locked, or reading this item needs your consent, \
                 and no dialog is opened ({described}); unlock the keychain or allow access \
                 in Keychain Access, then retry"
            ),
        },
        StatusKind::Unavailable => Error::Unavailable {
            reason: format!("no macOS keychain for this user: {described}"),
        },
        StatusKind::NotFound | StatusKind::Duplicate | StatusKind::Other => Error::Backend {
            message: format!("macOS keychain: {described}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::keychain::{DOCKER_GROUP, DOCKER_NAME};

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn fields_are_dockers() {
        let meta = Metadata::from([("owner".to_string(), "ci".to_string())]);
        let f = item_fields(DOCKER_GROUP, DOCKER_NAME, &id("github/token"), &meta);
        assert_eq!(f.service, "docker-pass-cli");
        assert_eq!(f.access_group, "com.docker.docker-pass");
        assert_eq!(f.account, "github/token");
        // Searches and deletes select items by the same fields an add writes.
        assert_eq!(
            scope(DOCKER_GROUP, DOCKER_NAME),
            ScopeFields {
                service: f.service.clone(),
                access_group: f.access_group.clone(),
            }
        );
        assert_eq!(account(&id("github/token")), f.account);
        assert_eq!(
            f.label,
            "com.docker.docker-pass:docker-pass-cli:github/token"
        );
        assert_eq!(
            gob::decode(&f.generic).unwrap(),
            Metadata::from([
                ("id".to_string(), "github/token".to_string()),
                (
                    "service:group".to_string(),
                    "com.docker.docker-pass".to_string()
                ),
                ("service:name".to_string(), "docker-pass-cli".to_string()),
                ("x_owner".to_string(), "ci".to_string()),
            ])
        );
    }

    #[test]
    fn generic_bytes_are_pinned() {
        // The exact kSecAttrGeneric for `a/b` without metadata in a store named
        // g / n, as Go 1.26's encoding/gob wrote this map (in key order, one of the
        // orders Go picks at random).
        let f = item_fields("g", "n", &id("a/b"), &Metadata::new());
        let want = hex(
            "0d7f040102ff8000010c0110000048ff80000302696406737472696e670c050003612f620d736572766963653a67726f757006737472696e670c030001670c736572766963653a6e616d6506737472696e670c0300016e",
        );
        assert_eq!(f.generic, want);
    }

    #[test]
    fn caller_keys_never_collide_with_dockers() {
        // A caller key `id` or `service:group` is stored prefixed and comes back as is.
        let meta = Metadata::from([
            ("id".to_string(), "mine".to_string()),
            ("service:group".to_string(), "other".to_string()),
        ]);
        let map = attributes("g", "n", &id("a"), &meta);
        assert_eq!(map["id"], "a");
        assert_eq!(map["x_id"], "mine");
        assert_eq!(map["service:group"], "g");
        assert_eq!(map["x_service:group"], "other");
        let f = item_fields("g", "n", &id("a"), &meta);
        assert_eq!(metadata(Some(&f.generic)).unwrap(), meta);
    }

    #[test]
    fn reading_keeps_only_prefixed_entries() {
        // Docker's GO_DOCKER stream: service:group, service:name, id and x_owner.
        let go = hex(
            "0d7f040102ff8000010c01100000ff89ff8000040d736572766963653a67726f757006737472696e670c180016636f6d2e646f636b65722e646f636b65722d706173730c736572766963653a6e616d6506737472696e670c11000f646f636b65722d706173732d636c6902696406737472696e670c0e000c6769746875622f746f6b656e07785f6f776e657206737472696e670c0400026369",
        );
        assert_eq!(
            metadata(Some(&go)).unwrap(),
            Metadata::from([("owner".to_string(), "ci".to_string())])
        );
        assert_eq!(metadata(None).unwrap(), Metadata::new());
        assert!(metadata(Some(b"not gob")).is_err());
    }

    #[test]
    fn ids_come_from_the_account_and_filtering_is_ours() {
        let accounts = [
            Some("github/token"),
            Some("github/other"),
            Some("gitlab/token"),
            Some("not an id!"),
            None,
            Some("github/token"),
        ];
        let p = Pattern::parse("github/*").unwrap();
        assert_eq!(
            matching(accounts, &p),
            vec![id("github/other"), id("github/token")]
        );
        assert_eq!(matching(accounts, &Pattern::parse("**").unwrap()).len(), 3);
        assert!(matching(accounts, &Pattern::parse("nope").unwrap()).is_empty());
    }

    #[test]
    fn status_codes_are_apples() {
        // SecBase.h's values; a typo here would turn a locked keychain into a
        // backend error.
        use codes::*;
        assert_eq!(
            [
                errSecUserCanceled,
                errSecNotAvailable,
                errSecAuthFailed,
                errSecNoSuchKeychain,
                errSecDuplicateItem,
                errSecItemNotFound,
                errSecNoDefaultKeychain,
                errSecInteractionNotAllowed,
                errSecInteractionRequired,
            ],
            [
                -128, -25291, -25293, -25294, -25299, -25300, -25307, -25308, -25315
            ]
        );
    }

    #[test]
    fn status_codes_map_to_error_kinds() {
        use codes::*;
        for code in [
            errSecInteractionNotAllowed,
            errSecInteractionRequired,
            errSecAuthFailed,
            errSecUserCanceled,
        ] {
            assert_eq!(status_kind(code), StatusKind::Locked, "{code}");
            let e = status_error(code, "described");
            assert!(matches!(e, Error::Locked { .. }), "{code}: {e:?}");
            assert!(e.to_string().contains("described"), "{e}");
        }
        for code in [
            errSecNoSuchKeychain,
            errSecNoDefaultKeychain,
            errSecNotAvailable,
        ] {
            assert_eq!(status_kind(code), StatusKind::Unavailable, "{code}");
            let e = status_error(code, "described");
            assert!(matches!(e, Error::Unavailable { .. }), "{code}: {e:?}");
        }
        assert_eq!(status_kind(errSecItemNotFound), StatusKind::NotFound);
        assert_eq!(status_kind(errSecDuplicateItem), StatusKind::Duplicate);
        // errSecParam, errSecMissingEntitlement, an unknown code.
        for code in [-50, -34018, 1] {
            assert_eq!(status_kind(code), StatusKind::Other, "{code}");
        }
        for code in [errSecItemNotFound, errSecDuplicateItem, -50] {
            let e = status_error(code, "described");
            assert!(matches!(e, Error::Backend { .. }), "{code}: {e:?}");
        }
    }
}
