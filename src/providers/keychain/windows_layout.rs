//! Docker's Windows Credential Manager layout as pure functions: target names, the
//! value encoding, chunking, attributes and which credentials are ours. The FFI
//! module ([`super::windows`]) only moves these bytes in and out of `CREDENTIALW`;
//! keeping the layout here lets its unit tests run on every OS.
//!
//! Docker's layout (its `store/keychain/keychain_windows.go` and `keychain.go`):
//! - a generic credential, target name `<group>:<name>:<id>`, user name `<id>`,
//!   persisted `CRED_PERSIST_LOCAL_MACHINE`;
//! - attributes `service:group`, `service:name`, `id` and each metadata entry `k` as
//!   `x_k`, values as their UTF-8 bytes;
//! - the blob is the UTF-16LE of the UTF-8 value, no BOM;
//! - a blob over [`MAX_BLOB`] bytes is cut into [`MAX_BLOB`]-byte pieces stored as
//!   credentials `<target>:chunk:<i>` (user name `<id>`, one attribute
//!   `chunk:index` = `i`); the main credential then has no blob and the attribute
//!   `chunk:count`.
//!
//! Two choices of ours, both invisible to Docker's reader when it reads text:
//! - **Binary values.** Docker's UTF-16 transcoding replaces bytes that are not UTF-8
//!   with U+FFFD, so a binary value would not survive it. A value that is not valid
//!   UTF-8 is stored as [`BINARY_MARKER`] (the UTF-16LE code unit `0xDC00`, a lone
//!   low surrogate) followed by the raw bytes. Docker's encoder never writes a lone
//!   surrogate, so no text value can be taken for a marked one, and the marker lives
//!   in the blob itself, so it survives a Credential Manager that drops attributes.
//!   Docker reads such a value as text starting with U+FFFD (its decoder's
//!   replacement character), never as the bytes we wrote mistaken for the value.
//! - **Lost attributes.** Wine's Credential Manager stores no attributes. A credential
//!   whose target is exactly `<group>:<name>:<user name>` and that carries neither
//!   `service:group` nor `service:name` is still ours (the target and user name say
//!   so), and a main credential with an empty blob and no `chunk:count` is read from
//!   its chunk credentials when `<target>:chunk:0` exists. Where the attributes are
//!   there (Windows), they decide, as in Docker's reader.

use zeroize::{Zeroize, Zeroizing};

use crate::envelope::Metadata;
use crate::error::Error;
use crate::id::Id;

/// The largest blob one credential holds (`CRED_MAX_CREDENTIAL_BLOB_SIZE`, 5 × 512).
pub(crate) const MAX_BLOB: usize = 2560;
/// The largest attribute value the Credential Manager accepts (`CRED_MAX_VALUE_SIZE`).
pub(crate) const MAX_ATTRIBUTE_VALUE: usize = 256;
/// The most attributes one credential carries (`CRED_MAX_ATTRIBUTES`).
pub(crate) const MAX_ATTRIBUTES: usize = 64;
/// The longest attribute keyword, in characters (`CRED_MAX_STRING_LENGTH`).
pub(crate) const MAX_KEYWORD: usize = 256;
/// The most chunk credentials read for one value: the file store's 16 MiB entry
/// limit, encoded, in pieces. A longer run of chunks is a damaged store.
pub(crate) const MAX_CHUNKS: usize = 2 * 16 * 1024 * 1024 / MAX_BLOB + 1;

/// On the main credential of a chunked value: how many chunk credentials it has.
pub(crate) const CHUNK_COUNT: &str = "chunk:count";
/// On a chunk credential: its position.
pub(crate) const CHUNK_INDEX: &str = "chunk:index";
const SERVICE_GROUP: &str = "service:group";
const SERVICE_NAME: &str = "service:name";
const ID: &str = "id";
const METADATA_PREFIX: &str = "x_";

/// The start of a binary value's blob: `0xDC00` in UTF-16LE, a lone low surrogate
/// that Docker's encoder never writes (see the module docs).
pub(crate) const BINARY_MARKER: [u8; 2] = [0x00, 0xDC];

/// Docker's label and target name: `<group>:<name>:<id>`.
pub(crate) fn target(group: &str, name: &str, id: &str) -> String {
    format!("{group}:{name}:{id}")
}

/// The target name of chunk `index` of the value stored under `target`.
pub(crate) fn chunk_target(target: &str, index: usize) -> String {
    format!("{target}:chunk:{index}")
}

/// The `CredEnumerateW` filter selecting every credential whose target starts with
/// `<group>:<name>:` (the Credential Manager compares it ignoring case, as Docker
/// compares group and name). `None` when group or name holds a `*`, which the filter
/// would read as its wildcard: then every credential is enumerated and
/// [`ours`] decides.
pub(crate) fn enumerate_filter(group: &str, name: &str) -> Option<String> {
    let prefix = target(group, name, "");
    (!prefix.contains('*')).then(|| format!("{prefix}*"))
}

/// The blob for `value`: UTF-16LE of the text, or the marked raw bytes of a value that
/// is not UTF-8.
pub(crate) fn encode_value(value: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut blob = Zeroizing::new(Vec::new());
    match std::str::from_utf8(value) {
        Ok(text) => {
            blob.reserve_exact(text.len() * 2);
            for unit in text.encode_utf16() {
                blob.extend_from_slice(&unit.to_le_bytes());
            }
        }
        Err(_) => {
            blob.reserve_exact(BINARY_MARKER.len() + value.len());
            blob.extend_from_slice(&BINARY_MARKER);
            blob.extend_from_slice(value);
        }
    }
    blob
}

/// The value a blob holds (the inverse of [`encode_value`], and Docker's decoding for
/// text). A blob that is neither marked nor UTF-16LE text (odd length, a lone
/// surrogate) was written by neither tool: an error naming `target`, never a guess.
pub(crate) fn decode_value(blob: &[u8], target: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    if let Some(raw) = blob.strip_prefix(&BINARY_MARKER[..]) {
        return Ok(Zeroizing::new(raw.to_vec()));
    }
    let damaged = |why: &str| Error::Backend {
        message: format!(
            "the credential {target:?} holds {why}; it was not written by docker pass or secrets-engine"
        ),
    };
    if !blob.len().is_multiple_of(2) {
        return Err(damaged("an odd number of bytes, which is not UTF-16"));
    }
    let mut units: Zeroizing<Vec<u16>> = Zeroizing::new(
        blob.chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect(),
    );
    // The exact UTF-8 length first (a unit can take up to 3 bytes): growing `out`
    // would leave copies of the plaintext in the freed buffers.
    let mut len = 0usize;
    for c in char::decode_utf16(units.iter().copied()) {
        let Ok(c) = c else {
            return Err(damaged("a lone UTF-16 surrogate"));
        };
        len += c.len_utf8();
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let mut buf = [0u8; 4];
    for c in char::decode_utf16(units.iter().copied()).flatten() {
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    debug_assert_eq!(out.len(), len);
    buf.zeroize();
    units.zeroize();
    Ok(out)
}

/// `blob` cut into Docker's chunks; one piece (or none, for an empty blob) when it
/// fits in one credential.
pub(crate) fn chunks(blob: &[u8]) -> std::slice::Chunks<'_, u8> {
    blob.chunks(MAX_BLOB)
}

/// Whether `blob` needs chunk credentials.
pub(crate) fn is_chunked(blob: &[u8]) -> bool {
    blob.len() > MAX_BLOB
}

/// The attributes of a main credential, as Docker writes them: `service:group`,
/// `service:name`, `id`, each metadata entry as `x_<key>`, and `chunk:count` for a
/// chunked value. Refuses metadata the Credential Manager would refuse (more than
/// [`MAX_ATTRIBUTES`] attributes, a key over [`MAX_KEYWORD`] characters, a value over
/// [`MAX_ATTRIBUTE_VALUE`] bytes) with an error naming the key.
pub(crate) fn attributes(
    group: &str,
    name: &str,
    id: &Id,
    metadata: &Metadata,
    chunk_count: Option<usize>,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::with_capacity(metadata.len() + 4);
    out.push((SERVICE_GROUP.to_owned(), group.as_bytes().to_vec()));
    out.push((SERVICE_NAME.to_owned(), name.as_bytes().to_vec()));
    out.push((ID.to_owned(), id.as_str().as_bytes().to_vec()));
    if let Some(n) = chunk_count {
        out.push((CHUNK_COUNT.to_owned(), n.to_string().into_bytes()));
    }
    for (k, v) in metadata {
        let keyword = format!("{METADATA_PREFIX}{k}");
        if keyword.chars().count() > MAX_KEYWORD {
            return Err(metadata_refused(
                k,
                format!(
                    "its key is over {} characters",
                    MAX_KEYWORD - METADATA_PREFIX.len()
                ),
            ));
        }
        if v.len() > MAX_ATTRIBUTE_VALUE {
            return Err(metadata_refused(
                k,
                format!("its value is over {MAX_ATTRIBUTE_VALUE} bytes"),
            ));
        }
        out.push((keyword, v.as_bytes().to_vec()));
    }
    if out.len() > MAX_ATTRIBUTES {
        return Err(Error::Backend {
            message: format!(
                "the Windows Credential Manager keeps at most {MAX_ATTRIBUTES} attributes per credential; this secret's metadata needs {}",
                out.len()
            ),
        });
    }
    Ok(out)
}

fn metadata_refused(key: &str, why: String) -> Error {
    Error::Backend {
        message: format!(
            "the Windows Credential Manager cannot hold the metadata entry {key:?}: {why}"
        ),
    }
}

/// The attributes of chunk credential `index`.
pub(crate) fn chunk_attributes(index: usize) -> Vec<(String, Vec<u8>)> {
    vec![(CHUNK_INDEX.to_owned(), index.to_string().into_bytes())]
}

/// The metadata in a credential's attributes: `x_` keys with the prefix removed;
/// every other attribute is Docker's or the backend's and is dropped, as Docker does.
pub(crate) fn metadata(attributes: &[(String, Vec<u8>)]) -> Metadata {
    attributes
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(METADATA_PREFIX)?;
            Some((key.to_owned(), String::from_utf8_lossy(v).into_owned()))
        })
        .collect()
}

/// The main credential's `chunk:count`: `None` without one, an error when it is not a
/// count this store would write.
pub(crate) fn chunk_count(
    attributes: &[(String, Vec<u8>)],
    target: &str,
) -> Result<Option<usize>, Error> {
    let Some((_, raw)) = attributes.iter().find(|(k, _)| k == CHUNK_COUNT) else {
        return Ok(None);
    };
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n <= MAX_CHUNKS)
        .map(Some)
        .ok_or_else(|| Error::Backend {
            message: format!(
                "the credential {target:?} has an invalid {CHUNK_COUNT} attribute ({:?})",
                String::from_utf8_lossy(raw)
            ),
        })
}

/// Whether a credential at `<target>:chunk:<index>` is chunk `index` of the value of
/// `owner`: its user name is `owner` (ignoring case, as the target names it came from
/// compare), and its `chunk:index`, when the attributes were kept, is `index`. `:` is
/// allowed in ids, so that target may instead hold the main credential of the id
/// `<owner>:chunk:<index>` (user name that id, Docker's attributes and no
/// `chunk:index`): never a chunk, never to be joined or deleted as one.
pub(crate) fn is_chunk_of(
    owner: &str,
    index: usize,
    user_name: Option<&str>,
    attributes: &[(String, Vec<u8>)],
) -> bool {
    if !user_name.is_some_and(|u| u.eq_ignore_ascii_case(owner)) {
        return false;
    }
    match attributes.iter().find(|(k, _)| k == CHUNK_INDEX) {
        Some((_, v)) => v.as_slice() == index.to_string().as_bytes(),
        // Wine keeps no attributes; where some were kept, a chunk has its index.
        None => attributes.is_empty(),
    }
}

/// The id of a credential, if it is one of ours holding a value: not a chunk (no
/// `chunk:index`), `service:group` and `service:name` equal to ours ignoring case
/// when present (Docker's rule) — or both absent, when the target name alone says so
/// (see the module docs) — a user name that is a valid id, and a target name that is
/// `<group>:<name>:<user name>` ignoring case (which also tells chunk credentials
/// apart without their attributes).
pub(crate) fn ours(
    group: &str,
    name: &str,
    target_name: &str,
    user_name: Option<&str>,
    attributes: &[(String, Vec<u8>)],
) -> Option<Id> {
    let attribute = |key: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    };
    if attribute(CHUNK_INDEX).is_some() {
        return None;
    }
    match (attribute(SERVICE_GROUP), attribute(SERVICE_NAME)) {
        (None, None) => {}
        (Some(g), Some(n))
            if g.eq_ignore_ascii_case(group.as_bytes())
                && n.eq_ignore_ascii_case(name.as_bytes()) => {}
        _ => return None,
    }
    let user = user_name?;
    let id = Id::parse(user).ok()?;
    target_name
        .eq_ignore_ascii_case(&target(group, name, user))
        .then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "com.docker.docker-pass";
    const N: &str = "docker-pass-cli";

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
    }

    #[test]
    fn target_names_are_dockers_labels() {
        assert_eq!(
            target(G, N, "gh/token"),
            "com.docker.docker-pass:docker-pass-cli:gh/token"
        );
        assert_eq!(chunk_target("g:n:a/b", 3), "g:n:a/b:chunk:3");
        assert_eq!(enumerate_filter("g", "n").as_deref(), Some("g:n:*"));
        assert_eq!(enumerate_filter("g*", "n"), None);
    }

    #[test]
    fn text_is_utf16le_without_bom() {
        assert_eq!(&encode_value(b"a\xc3\xa9")[..], [b'a', 0, 0xe9, 0]);
        // A character outside the BMP: a surrogate pair, little-endian units.
        assert_eq!(&encode_value("😀".as_bytes())[..], [0x3d, 0xd8, 0x00, 0xde]);
        assert!(encode_value(b"").is_empty());
        for v in [&b""[..], b"t0ken", "h\u{e9}llo \u{1f600}".as_bytes()] {
            assert_eq!(&decode_value(&encode_value(v), "t").unwrap()[..], v);
        }
    }

    #[test]
    fn binary_values_are_marked_and_exact() {
        let v = [0xff, 0x00, 0xfe, 0x80, 0xc3];
        let blob = encode_value(&v);
        assert_eq!(&blob[..2], BINARY_MARKER);
        assert_eq!(&blob[2..], v);
        assert_eq!(&decode_value(&blob, "t").unwrap()[..], v);
        // The marker is a lone surrogate: never the start of a text blob.
        assert!(char::decode_utf16([u16::from_le_bytes(BINARY_MARKER)]).all(|c| c.is_err()));
        // A lone 0xff byte, odd length after the marker, still round-trips.
        assert_eq!(
            &decode_value(&encode_value(&[0xff]), "t").unwrap()[..],
            [0xff]
        );
    }

    #[test]
    fn blobs_neither_tool_writes_are_errors() {
        assert!(matches!(
            decode_value(&[b'a', 0, b'b'], "t"),
            Err(Error::Backend { .. })
        ));
        // A lone high surrogate.
        assert!(matches!(
            decode_value(&[0x00, 0xd8], "t"),
            Err(Error::Backend { .. })
        ));
    }

    #[test]
    fn chunking_matches_docker() {
        // A 6,000-byte ASCII value is a 12,000-byte blob: five chunks, the last 1,760.
        let blob = encode_value(&[b'x'; 6000]);
        assert!(is_chunked(&blob));
        let pieces: Vec<_> = chunks(&blob).map(<[u8]>::len).collect();
        assert_eq!(pieces, [2560, 2560, 2560, 2560, 1760]);
        // 1,280 characters fill exactly one credential.
        let exact = encode_value(&[b'x'; 1280]);
        assert!(!is_chunked(&exact));
        assert_eq!(chunks(&exact).count(), 1);
        assert_eq!(chunks(&[]).count(), 0);
        assert_eq!(
            chunk_attributes(4),
            [("chunk:index".to_owned(), b"4".to_vec())]
        );
    }

    #[test]
    fn attributes_are_dockers() {
        let meta = Metadata::from([
            ("id".to_owned(), "mine".to_owned()),
            ("env".to_owned(), "prod".to_owned()),
        ]);
        let a = attributes(G, N, &id("a/b"), &meta, Some(5)).unwrap();
        let get = |k: &str| a.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("service:group").unwrap(), G.as_bytes());
        assert_eq!(get("service:name").unwrap(), N.as_bytes());
        assert_eq!(get("id").unwrap(), b"a/b");
        assert_eq!(get("x_id").unwrap(), b"mine");
        assert_eq!(get("x_env").unwrap(), b"prod");
        assert_eq!(get("chunk:count").unwrap(), b"5");
        assert_eq!(a.len(), 6);
        assert_eq!(metadata(&a), meta);
        assert_eq!(chunk_count(&a, "t").unwrap(), Some(5));
        assert_eq!(chunk_count(&a[..3], "t").unwrap(), None);
        let bad = [(CHUNK_COUNT.to_owned(), b"many".to_vec())];
        assert!(chunk_count(&bad, "t").is_err());
    }

    #[test]
    fn metadata_the_credential_manager_refuses_is_an_error() {
        let long = Metadata::from([("k".to_owned(), "v".repeat(257))]);
        assert!(attributes(G, N, &id("a"), &long, None).is_err());
        let ok = Metadata::from([("k".to_owned(), "v".repeat(256))]);
        assert!(attributes(G, N, &id("a"), &ok, None).is_ok());
        let many: Metadata = (0..62).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(attributes(G, N, &id("a"), &many, None).is_err());
    }

    #[test]
    fn which_credentials_are_ours() {
        let full = attributes(G, N, &id("a/b"), &Metadata::new(), None).unwrap();
        let label = target(G, N, "a/b");
        assert_eq!(ours(G, N, &label, Some("a/b"), &full), Some(id("a/b")));
        // Docker compares group and name ignoring case; so does the target lookup.
        let upper = label.to_uppercase();
        assert_eq!(
            ours(&G.to_uppercase(), N, &upper, Some("a/b"), &full),
            Some(id("a/b"))
        );
        // Another group's attributes, a chunk, no user name, a user name that is no id.
        assert_eq!(
            ours("other", N, &target("other", N, "a/b"), Some("a/b"), &full),
            None
        );
        let chunk = chunk_attributes(0);
        assert_eq!(
            ours(G, N, &chunk_target(&label, 0), Some("a/b"), &chunk),
            None
        );
        assert_eq!(ours(G, N, &label, None, &full), None);
        assert_eq!(ours(G, N, &target(G, N, "a b"), Some("a b"), &[]), None);
        // Attributes lost (Wine): the target name decides, so a chunk is still not a value.
        assert_eq!(ours(G, N, &label, Some("a/b"), &[]), Some(id("a/b")));
        assert_eq!(ours(G, N, &chunk_target(&label, 0), Some("a/b"), &[]), None);
        // An id that itself ends in `:chunk:0` is a value when the target says so.
        let odd = target(G, N, "x:chunk:0");
        assert_eq!(
            ours(G, N, &odd, Some("x:chunk:0"), &[]),
            Some(id("x:chunk:0"))
        );
        // One of the two service attributes alone is not Docker's layout.
        assert_eq!(ours(G, N, &label, Some("a/b"), &full[..1]), None);
    }

    #[test]
    fn only_the_owners_chunks_are_chunks() {
        let chunk = chunk_attributes(2);
        assert!(is_chunk_of("x", 2, Some("x"), &chunk));
        assert!(is_chunk_of("x", 2, Some("X"), &chunk));
        // Wine: no attributes, the user name decides.
        assert!(is_chunk_of("x", 0, Some("x"), &[]));
        // The main credential of the id `x:chunk:0`, with or without its attributes.
        let main = attributes(G, N, &id("x:chunk:0"), &Metadata::new(), None).unwrap();
        assert!(!is_chunk_of("x", 0, Some("x:chunk:0"), &main));
        assert!(!is_chunk_of("x", 0, Some("x:chunk:0"), &[]));
        // Another index, no user name, the owner's name with non-chunk attributes.
        assert!(!is_chunk_of("x", 1, Some("x"), &chunk));
        assert!(!is_chunk_of("x", 0, None, &[]));
        assert!(!is_chunk_of("x", 0, Some("x"), &main));
    }
}
