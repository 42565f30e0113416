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

use super::gob::{self, GobError};
use crate::envelope::Metadata;
use crate::id::Id;
use crate::pattern::Pattern;

/// Prefix of caller metadata in the attribute map.
const METADATA_PREFIX: &str = "x_";

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

/// The item fields Docker writes for `id`.
pub(crate) fn item_fields(group: &str, name: &str, id: &Id, metadata: &Metadata) -> ItemFields {
    ItemFields {
        service: name.into(),
        access_group: group.into(),
        account: id.to_string(),
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
}
