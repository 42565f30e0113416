//! Go's `encoding/gob` stream of a `map[string]interface{}` whose values are Go
//! strings: the form Docker's macOS keychain store keeps an item's attributes in
//! (`kSecAttrGeneric`). Only that shape is written or read; it is all Docker writes.
//!
//! A stream is a sequence of messages, each a byte count then the message. Ours has
//! two: the map type's definition (type id 64, Go's first user type id: the id
//! itself is the encoder's choice, so the reader takes whatever id the stream
//! defines), then the map value. Each entry is the key, then the interface value:
//! its concrete type's name (`string`), the type id of Go's `string` (6), a byte
//! count, and the string as a single value (field delta 0, length, bytes).
//! Go writes map entries in random order; the writer here writes them sorted, and
//! the reader accepts any order.

use std::collections::BTreeMap;
use std::fmt;

/// Go's predefined type id of `string`.
const STRING: i64 = 6;
/// Go's predefined type id of `interface{}`.
const INTERFACE: i64 = 8;
/// The id this writer gives the map type (Go's `firstUserId`).
const MAP_ID: i64 = 64;
/// Field numbers in gob's own `wireType` and `mapType` structs.
const WIRE_MAP_T: u64 = 4;

/// Why bytes are not a gob stream of a string-to-string map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GobError(&'static str);

impl fmt::Display for GobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a gob-encoded map of strings: {}", self.0)
    }
}

impl std::error::Error for GobError {}

fn put_uint(out: &mut Vec<u8>, x: u64) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let bytes = x.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    // A count of big-endian bytes, negated, then the bytes.
    out.push((skip as u8).wrapping_sub(8));
    out.extend_from_slice(&bytes[skip..]);
}

fn put_int(out: &mut Vec<u8>, i: i64) {
    let u = if i < 0 {
        (!(i as u64) << 1) | 1
    } else {
        (i as u64) << 1
    };
    put_uint(out, u);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_message(out: &mut Vec<u8>, body: &[u8]) {
    put_uint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// The gob stream Go's `gob.NewEncoder(w).Encode(m)` writes for `m` (a
/// `map[string]interface{}` of strings), entries in key order.
pub(crate) fn encode(map: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    // The type definition: wireType{MapT: &mapType{CommonType{Id: 64}, Key: string,
    // Elem: interface}}; every struct field is a delta from the previous one, and a
    // zero delta ends the struct.
    let mut def = Vec::new();
    put_int(&mut def, -MAP_ID);
    put_uint(&mut def, WIRE_MAP_T);
    put_uint(&mut def, 1); // mapType.CommonType
    put_uint(&mut def, 2); // CommonType.Id (Name, field 1, is empty and omitted)
    put_int(&mut def, MAP_ID);
    put_uint(&mut def, 0); // end of CommonType
    put_uint(&mut def, 1); // mapType.Key
    put_int(&mut def, STRING);
    put_uint(&mut def, 1); // mapType.Elem
    put_int(&mut def, INTERFACE);
    put_uint(&mut def, 0); // end of mapType
    put_uint(&mut def, 0); // end of wireType
    put_message(&mut out, &def);

    let mut value = Vec::new();
    put_int(&mut value, MAP_ID);
    put_uint(&mut value, 0); // a top-level non-struct value is field 0
    put_uint(&mut value, map.len() as u64);
    for (k, v) in map {
        put_str(&mut value, k);
        put_str(&mut value, "string");
        put_int(&mut value, STRING);
        let mut single = Vec::with_capacity(v.len() + 10);
        put_uint(&mut single, 0);
        put_str(&mut single, v);
        put_message(&mut value, &single);
    }
    put_message(&mut out, &value);
    out
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn uint(&mut self) -> Result<u64, GobError> {
        let (&first, rest) = self.rest.split_first().ok_or(GobError("truncated"))?;
        self.rest = rest;
        if first < 0x80 {
            return Ok(first.into());
        }
        let n = usize::from(first.wrapping_neg());
        if n > 8 {
            return Err(GobError("an integer longer than 8 bytes"));
        }
        let bytes = self.take(n)?;
        Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn int(&mut self) -> Result<i64, GobError> {
        let u = self.uint()?;
        Ok(if u & 1 == 1 {
            !(u >> 1) as i64
        } else {
            (u >> 1) as i64
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], GobError> {
        if n > self.rest.len() {
            return Err(GobError("a length runs past the end"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn len(&mut self) -> Result<usize, GobError> {
        usize::try_from(self.uint()?).map_err(|_| GobError("a length runs past the end"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], GobError> {
        let n = self.len()?;
        self.take(n)
    }

    fn string(&mut self) -> Result<&'a str, GobError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| GobError("a string that is not UTF-8"))
    }
}

/// A map type's key and element type ids, from a `wireType` definition; `None` for
/// any other kind of type.
fn map_def(body: &mut Reader<'_>) -> Result<Option<(i64, i64)>, GobError> {
    if body.uint()? != WIRE_MAP_T {
        return Ok(None);
    }
    let (mut field, mut key, mut elem) = (0u64, None, None);
    loop {
        let delta = body.uint()?;
        if delta == 0 {
            break;
        }
        field = field
            .checked_add(delta)
            .ok_or(GobError("a bad field number"))?;
        match field {
            1 => {
                // CommonType { Name string (1), Id int (2) }: read past.
                let mut sub = 0u64;
                loop {
                    let d = body.uint()?;
                    if d == 0 {
                        break;
                    }
                    sub = sub.checked_add(d).ok_or(GobError("a bad field number"))?;
                    match sub {
                        1 => {
                            body.bytes()?;
                        }
                        2 => {
                            body.int()?;
                        }
                        _ => return Err(GobError("an unknown CommonType field")),
                    }
                }
            }
            2 => key = Some(body.int()?),
            3 => elem = Some(body.int()?),
            _ => return Err(GobError("an unknown mapType field")),
        }
    }
    Ok(key.zip(elem))
}

/// The map a gob stream holds, as Go's `Decode(&map[string]interface{})` reads it,
/// for string values. Entries whose value is nil or another type (which Docker's
/// reader refuses altogether) are left out.
pub(crate) fn decode(stream: &[u8]) -> Result<BTreeMap<String, String>, GobError> {
    let mut r = Reader { rest: stream };
    let mut maps: Vec<(i64, (i64, i64))> = Vec::new();
    while !r.rest.is_empty() {
        let mut body = Reader { rest: r.bytes()? };
        let id = body.int()?;
        if id < 0 {
            if let Some(kv) = map_def(&mut body)? {
                maps.push((-id, kv));
            }
            continue;
        }
        match maps.iter().find(|(m, _)| *m == id) {
            Some((_, (STRING, INTERFACE))) => {}
            Some(_) => {
                return Err(GobError(
                    "a map whose keys or values are not string and interface",
                ));
            }
            None => return Err(GobError("a value that is not a map")),
        }
        if body.uint()? != 0 {
            return Err(GobError("a top-level value that is not a single value"));
        }
        let count = body.len()?;
        if count > body.rest.len() {
            return Err(GobError("more entries than bytes"));
        }
        let mut out = BTreeMap::new();
        for _ in 0..count {
            let key = body.string()?.to_owned();
            let name = body.string()?;
            if name.is_empty() {
                continue; // a nil interface
            }
            let type_id = body.int()?;
            let mut single = Reader {
                rest: body.bytes()?,
            };
            if name != "string" || type_id != STRING {
                continue;
            }
            if single.uint()? != 0 {
                return Err(GobError("a string value that is not a single value"));
            }
            out.insert(key, single.string()?.to_owned());
        }
        return Ok(out);
    }
    Err(GobError("no value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // Written by Go 1.26's encoding/gob: `gob.NewEncoder(&b).Encode(m)` with `m` a
    // `map[string]any` (the type go-keychain encodes kSecAttrGeneric from). Go orders
    // map entries at random; these two came out in key order.
    const GO_ONE: &str = "0d7f040102ff8000010c0110000015ff80000102696406737472696e670c050003612f62";
    const GO_TWO: &str = "0d7f040102ff8000010c0110000033ff80000202696406737472696e670c0e000c6769746875622f746f6b656e07785f6f776e657206737472696e670c0400026369";
    // Docker's full attribute map for `github/token` with metadata owner=ci, in the
    // order Go happened to write it (not key order).
    const GO_DOCKER: &str = "0d7f040102ff8000010c01100000ff89ff8000040d736572766963653a67726f757006737472696e670c180016636f6d2e646f636b65722e646f636b65722d706173730c736572766963653a6e616d6506737472696e670c11000f646f636b65722d706173732d636c6902696406737472696e670c0e000c6769746875622f746f6b656e07785f6f776e657206737472696e670c0400026369";
    // GO_DOCKER's entries in key order, as this module writes them.
    const OURS_DOCKER: &str = "0d7f040102ff8000010c01100000ff89ff80000402696406737472696e670c0e000c6769746875622f746f6b656e0d736572766963653a67726f757006737472696e670c180016636f6d2e646f636b65722e646f636b65722d706173730c736572766963653a6e616d6506737472696e670c11000f646f636b65722d706173732d636c6907785f6f776e657206737472696e670c0400026369";
    // Go's encoding of an empty map.
    const GO_EMPTY: &str = "0d7f040102ff8000010c0110000004ff800000";

    #[test]
    fn encodes_byte_for_byte_as_go() {
        assert_eq!(encode(&map(&[("id", "a/b")])), hex(GO_ONE));
        assert_eq!(
            encode(&map(&[("id", "github/token"), ("x_owner", "ci")])),
            hex(GO_TWO)
        );
        assert_eq!(encode(&BTreeMap::new()), hex(GO_EMPTY));
        // Docker's full map in key order; Go's decoder reads these bytes back as the
        // same map (checked with Go 1.26 when this vector was written).
        let docker = map(&[
            ("id", "github/token"),
            ("service:group", "com.docker.docker-pass"),
            ("service:name", "docker-pass-cli"),
            ("x_owner", "ci"),
        ]);
        assert_eq!(encode(&docker), hex(OURS_DOCKER));
        assert_eq!(hex(OURS_DOCKER).len(), hex(GO_DOCKER).len());
    }

    #[test]
    fn decodes_go_streams_in_any_entry_order() {
        assert_eq!(decode(&hex(GO_ONE)).unwrap(), map(&[("id", "a/b")]));
        assert_eq!(decode(&hex(GO_EMPTY)).unwrap(), BTreeMap::new());
        assert_eq!(
            decode(&hex(GO_DOCKER)).unwrap(),
            map(&[
                ("id", "github/token"),
                ("service:group", "com.docker.docker-pass"),
                ("service:name", "docker-pass-cli"),
                ("x_owner", "ci"),
            ])
        );
    }

    #[test]
    fn long_values_use_multi_byte_lengths() {
        // 300 bytes: the value's length and the message's count need two-byte uints.
        let long = "v".repeat(300);
        let m = map(&[("k", &long)]);
        let bytes = encode(&m);
        assert!(
            bytes.windows(3).any(|w| w == [0xfe, 0x01, 0x2c]),
            "300 as gob uint"
        );
        assert_eq!(decode(&bytes).unwrap(), m);
    }

    #[test]
    fn round_trips_unicode_and_empty_values() {
        let m = map(&[("", ""), ("ключ", "значение ✓"), ("x_a:b", "")]);
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }

    #[test]
    fn accepts_whatever_type_id_the_stream_defines() {
        // A Go process that registered other gob types first numbers the map
        // differently; the same stream with id 70 must read the same.
        let mut def = Vec::new();
        put_int(&mut def, -70);
        def.extend_from_slice(&hex("040102"));
        put_int(&mut def, 70);
        def.extend_from_slice(&hex("00010c01100000"));
        let mut value = Vec::new();
        put_int(&mut value, 70);
        value.extend_from_slice(&hex("000102696406737472696e670c050003612f62"));
        let mut stream = Vec::new();
        put_message(&mut stream, &def);
        put_message(&mut stream, &value);
        assert_eq!(decode(&stream).unwrap(), map(&[("id", "a/b")]));
    }

    #[test]
    fn skips_entries_that_are_not_strings() {
        // Go's stream of map[string]any{"a": 5, "b": "x"}: the int travels as an
        // interface named "int" (type id 2); Docker's reader refuses such a map.
        let stream = hex(
            "0d7f040102ff8000010c011000001cff800002016103696e740402000a016206737472696e670c03000178",
        );
        assert_eq!(decode(&stream).unwrap(), map(&[("b", "x")]));
    }

    #[test]
    fn rejects_what_is_not_a_string_map() {
        for bad in [
            &b""[..],
            &b"\x05hello"[..],
            &b"\xff"[..],
            &hex(GO_ONE)[..20],
            // The value message alone, without its type.
            &hex("15ff80000102696406737472696e670c050003612f62")[..],
            // A count far beyond the bytes.
            &hex("0d7f040102ff8000010c0110000006ff8000feffff")[..],
        ] {
            assert!(decode(bad).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn never_panics_on_any_prefix_or_corruption() {
        let good = hex(GO_DOCKER);
        for n in 0..good.len() {
            let _ = decode(&good[..n]);
            for flip in [0x01u8, 0x80, 0xff] {
                let mut c = good.clone();
                c[n] ^= flip;
                let _ = decode(&c);
            }
        }
    }
}
