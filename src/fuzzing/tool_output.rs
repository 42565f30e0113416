//! Fuzz bodies for what external tools print: `op`, Vault and credential helpers.

// Which helpers and imports are used depends on the provider features built.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Error;
#[cfg(feature = "credential-helper")]
use crate::providers::credential_helper;
#[cfg(feature = "onepassword")]
use crate::providers::onepassword;
#[cfg(feature = "vault")]
use crate::providers::vault;
use crate::{Id, Pattern};

// --- what external tools print ------------------------------------------------------

/// The message with every run of digits replaced by `#`: what is left must be a
/// fixed template, so nothing of the input can be in it.
fn shape(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_digits = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// A JSON parse error must be `<prefix> (<category> error at line N, column N)`:
/// serde_json's own messages can quote a value, and these values are secrets.
fn assert_json_error(e: &Error, prefix: &str) {
    let shape = shape(&e.to_string());
    let ok = ["Io", "Syntax", "Data", "Eof"]
        .iter()
        .any(|c| shape == format!("{prefix} ({c} error at line #, column #)"));
    assert!(ok, "unexpected JSON error message: {shape}");
}

/// Field `name` of a struct as serde reads it: from an object by name, or from an
/// array by position (derived `Deserialize` accepts both).
fn field<'a>(json: &'a serde_json::Value, name: &str, index: usize) -> &'a serde_json::Value {
    match json {
        serde_json::Value::Array(items) => items.get(index).unwrap_or(&serde_json::Value::Null),
        other => &other[name],
    }
}

/// Every candidate id is valid, lowercase and re-parses.
fn assert_ids(ids: &[Id]) {
    for id in ids {
        assert_eq!(Id::parse(id.as_str()).as_ref().ok(), Some(id));
        assert_eq!(id.as_str(), id.as_str().to_ascii_lowercase());
    }
}

#[cfg(feature = "onepassword")]
/// `op --format json` output, as each command's type: errors say where, never what;
/// names normalize to valid ids.
pub fn op_json(data: &[u8]) {
    use onepassword::model::{ItemDetail, ItemSummary, Vault, normalize};
    use onepassword::parse_op_json;

    let normalized = |s: &str| {
        let n = normalize(s);
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
        );
        n
    };
    let prefix = |cmd: &str| format!("backend error: op {cmd} printed unexpected JSON");

    let whoami = ["whoami", "--format", "json"];
    if let Err(e) = parse_op_json::<serde_json::Value>(data, &whoami) {
        // The message names the first two arguments, as for every command.
        assert_json_error(&e, &prefix("whoami --format"));
    }
    match parse_op_json::<Vec<Vault>>(data, &["vault", "list", "--format", "json"]) {
        Ok(vaults) => vaults.iter().for_each(|v| {
            normalized(&v.name);
        }),
        Err(e) => assert_json_error(&e, &prefix("vault list")),
    }
    let list = ["item", "list", "--vault", "v", "--format", "json"];
    match parse_op_json::<Vec<ItemSummary>>(data, &list) {
        Ok(items) => {
            for item in items {
                let ids = item.candidates();
                assert!(ids.len() <= 3);
                assert!(ids.windows(2).all(|w| w[0] != w[1]));
                assert_ids(&ids);
                normalized(&item.title);
            }
        }
        Err(e) => assert_json_error(&e, &prefix("item list")),
    }
    let get = [
        "item", "get", "i", "--vault", "v", "--format", "json", "--reveal",
    ];
    match parse_op_json::<ItemDetail>(data, &get) {
        Ok(detail) => {
            let item = Id::parse("vault/item").expect("valid");
            for field in &detail.fields {
                let ids = field.ids_under(&item);
                assert!(ids.len() <= 2);
                assert_ids(&ids);
                for id in &ids {
                    assert!(id.starts_with_components(&["vault", "item"]));
                    assert_eq!(
                        id.components().last(),
                        field.label.as_deref().map(normalized).as_deref()
                    );
                }
            }
        }
        Err(e) => assert_json_error(&e, &prefix("item get")),
    }
}

#[cfg(feature = "onepassword")]
/// `op`'s stderr (any bytes, read lossily): always one typed error, the time stamp
/// of an `[ERROR]` line never in it.
pub fn op_stderr(data: &[u8]) {
    let stderr = String::from_utf8_lossy(data);
    let e = onepassword::op::classify(&stderr);
    assert!(matches!(
        e,
        Error::Crashed { .. }
            | Error::Unavailable { .. }
            | Error::PermissionDenied { .. }
            | Error::NotFound { .. }
            | Error::Backend { .. }
    ));
    let message = e.to_string();
    assert!(!message.contains('\n'), "one line: {message:?}");
    assert!(message.len() <= stderr.len() + 100);
}

#[cfg(feature = "vault")]
/// Vault's KV v2 `LIST` and read answers: errors say where, never what; every field
/// with an id-shaped name becomes one envelope holding exactly its value.
pub fn vault_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(t) = vault::parse_time(text)
    {
        assert!(t >= std::time::SystemTime::UNIX_EPOCH);
    }
    if let Err(e) = vault::parse_list(data, "team/app") {
        assert_json_error(&e, "backend error: vault: list team/app/: unexpected JSON");
    }
    let pattern = Pattern::parse("vault/**").expect("valid");
    let parsed = serde_json::from_slice(data);
    match vault::read_envelopes(parsed, "vault", "team/app", &pattern) {
        Ok(envelopes) => {
            // Ignored fields are skipped unchecked (invalid UTF-8 in them passes):
            // compare only what a full parse can see.
            let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
                return;
            };
            let fields: BTreeMap<String, serde_json::Value> =
                serde_json::from_value(field(field(&json, "data", 0), "data", 0).clone())
                    .unwrap_or_default();
            let expected: Vec<(String, Vec<u8>)> = fields
                .into_iter()
                .filter(|(k, _)| Id::parse(&format!("vault/team/app/{k}")).is_ok())
                .filter(|(k, _)| !k.contains('/'))
                .map(|(k, v)| {
                    let bytes = match v {
                        serde_json::Value::String(s) => s.into_bytes(),
                        other => other.to_string().into_bytes(),
                    };
                    (k, bytes)
                })
                .collect();
            let got: Vec<(String, Vec<u8>)> = envelopes
                .iter()
                .map(|e| {
                    assert!(e.id().starts_with_components(&["vault", "team", "app"]));
                    assert_eq!(e.id().len(), 4);
                    // "path" unless the secret's custom metadata says otherwise.
                    assert!(e.metadata().contains_key("path"));
                    let key = e.id().components().last().expect("4 components");
                    (key.to_owned(), e.value().expose().to_vec())
                })
                .collect();
            assert_eq!(got, expected);
        }
        Err(e) => assert_json_error(&e, "backend error: vault: read team/app: unexpected JSON"),
    }
}

#[cfg(feature = "credential-helper")]
/// A credential helper's `list` and `get` output: errors say where, never what;
/// server URLs become valid lowercase ids; `get` keeps the secret only as the value.
pub fn credential_helper_json(data: &[u8]) {
    let program = Path::new("docker-credential-fuzz");
    match credential_helper::parse_list(program, data) {
        Ok(servers) => {
            for server in servers.keys() {
                if let Some(id) = credential_helper::registry_id(server) {
                    assert_ids(std::slice::from_ref(&id));
                    assert!(id.starts_with_components(&["docker", "auth"]));
                    assert_eq!(id.len(), 3);
                }
            }
        }
        Err(e) => assert_json_error(
            &e,
            "backend error: docker-credential-fuzz list printed unexpected JSON",
        ),
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(id) = credential_helper::registry_id(text)
    {
        assert_ids(std::slice::from_ref(&id));
        assert_eq!(id.len(), 3);
    }
    let server = "https://registry.example:5000/v2/";
    let id = Id::parse("docker/auth/registry.example:5000").expect("valid");
    let parsed = serde_json::from_slice(data);
    match credential_helper::get_envelope(program, server, id.clone(), parsed) {
        Ok(Some(e)) => {
            assert!(format!("{e:?}").contains("SecretValue(<redacted>)"));
            // Ignored fields are skipped unchecked (invalid UTF-8 in them passes):
            // compare only what a full parse can see.
            let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
                return;
            };
            let text = |name, i| field(&json, name, i).as_str().unwrap_or("");
            let secret = text("Secret", 2);
            assert_eq!(e.value().expose(), secret.as_bytes());
            assert_eq!(e.id(), &id);
            let meta = e.metadata();
            assert_eq!(meta.len(), 2);
            assert_eq!(meta["username"], text("Username", 1));
            let url = Some(text("ServerURL", 0)).filter(|u| !u.is_empty());
            assert_eq!(meta["server_url"], url.unwrap_or(server));
        }
        Ok(None) => {
            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
                assert!(field(&json, "Secret", 2).as_str().unwrap_or("").is_empty());
            }
        }
        Err(e) => assert_json_error(
            &e,
            "backend error: docker-credential-fuzz get printed unexpected JSON",
        ),
    }
}
