//! One entry: its file name, derived from the id, and its encrypted content.

use crate::envelope::Metadata;
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::secret::SecretValue;

const MAGIC: &[u8; 4] = b"SEF1";
/// Ids up to this many bytes are named by their hex; longer ones by a hash.
const MAX_HEX_ID: usize = 120;

/// The file name of `id`: lowercase hex, or `h` + SHA-256 for long ids.
pub(super) fn file_name(id: &Id) -> String {
    let bytes = id.as_str().as_bytes();
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if bytes.len() <= MAX_HEX_ID {
        format!("{}.age", hex(bytes))
    } else {
        use sha2::Digest;
        format!("h{}.age", hex(&sha2::Sha256::digest(bytes)))
    }
}

/// What a file name in `secrets/` says about the entry, read without decrypting it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Named {
    /// A hex name: the id itself.
    Id(Id),
    /// A hashed name: only the decrypted entry knows its id.
    Hashed,
    /// Not an entry (temporary files, stray names).
    Other,
}

/// Reads a file name back: hex names decode to their id.
pub(super) fn parse_name(name: &str) -> Named {
    let Some(stem) = name.strip_suffix(".age") else {
        return Named::Other;
    };
    if let Some(hash) = stem.strip_prefix('h') {
        let is_hash = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        return if is_hash { Named::Hashed } else { Named::Other };
    }
    if stem.len() % 2 != 0 || stem.len() / 2 > MAX_HEX_ID {
        return Named::Other;
    }
    let bytes: Option<Vec<u8>> = (0..stem.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(stem.get(i..i + 2)?, 16).ok())
        .collect();
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| Id::parse(&s).ok())
        // A name is only this id's if it is the name this id gets (lowercase hex).
        .filter(|id| file_name(id) == name)
        .map_or(Named::Other, Named::Id)
}

/// Whether a file named `name` may hold an id matching `pattern`: a hex name is
/// decided by its id, a hashed one only by decrypting it.
pub(super) fn may_match(name: &str, pattern: &Pattern) -> bool {
    match parse_name(name) {
        Named::Id(id) => pattern.matches(&id),
        Named::Hashed => pattern.as_id().is_none(),
        Named::Other => false,
    }
}

pub(super) fn encode(id: &Id, value: &SecretValue, metadata: &Metadata) -> Result<Vec<u8>, Error> {
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
pub(super) fn decode(plain: &[u8]) -> Option<(Id, Metadata, SecretValue)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        let short = Id::parse("team/db/password").unwrap();
        assert_eq!(parse_name(&file_name(&short)), Named::Id(short));
        let long = Id::parse(&"x".repeat(200)).unwrap();
        assert_eq!(parse_name(&file_name(&long)), Named::Hashed);
        // Uppercase hex is not a name this store writes.
        assert_eq!(parse_name("6A.age"), Named::Other);
        assert_eq!(parse_name(".tmp"), Named::Other);
        assert_eq!(parse_name("zz.age"), Named::Other);
    }

    #[test]
    fn candidates_by_name() {
        let name = file_name(&Id::parse("a/b").unwrap());
        assert!(may_match(&name, &Pattern::parse("a/*").unwrap()));
        assert!(!may_match(&name, &Pattern::parse("b/**").unwrap()));
        let hashed = file_name(&Id::parse(&"y".repeat(130)).unwrap());
        assert!(may_match(&hashed, &Pattern::parse("**").unwrap()));
        assert!(!may_match(&hashed, &Pattern::parse("a/b").unwrap()));
    }
}
