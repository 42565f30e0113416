//! The `docker-pass` keychain provider against the real Windows Credential Manager
//! (under Wine on the test machine: `scripts/test-windows` runs this binary in a fresh
//! Wine prefix). Each test reads the credentials back through the Credential Manager
//! API itself (the `raw` module), so the layout Docker's `docker pass` reads is pinned,
//! not only our own round trip.
//!
//! Wine's Credential Manager keeps no attributes (its `CredWriteW` drops them). Where
//! a test's claim is about attributes, it asks the Credential Manager first
//! ([`raw::keeps_attributes`]): on Windows it checks the attributes; under Wine it checks
//! that everything else still holds and says so on stderr.

use std::sync::atomic::{AtomicBool, Ordering};

use secrets_engine::providers::keychain::{DOCKER_GROUP, DOCKER_NAME, Keychain};
use secrets_engine::{Error, Metadata, Resolver, SecretValue, Store};
use secrets_engine_test_support::{id, p};

/// The test's own `service:group`, so tests never see each other's credentials.
fn group(test: &str) -> String {
    format!("se-test.{test}")
}

fn keychain(test: &str) -> Keychain {
    Keychain::with_names(&group(test), DOCKER_NAME)
}

fn target(test: &str, i: &str) -> String {
    format!("{}:{DOCKER_NAME}:{i}", group(test))
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

async fn value_of(k: &Keychain, i: &str) -> Option<Vec<u8>> {
    let found = k.get_secrets(&p(i)).await.unwrap();
    assert!(found.len() <= 1, "{i}: {} items", found.len());
    found
        .into_iter()
        .next()
        .map(|e| e.value().expose().to_vec())
}

fn attr<'a>(c: &'a raw::Credential, key: &str) -> Option<&'a [u8]> {
    c.attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

/// Says once per run that attribute checks are not possible here.
fn note_no_attributes() {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!(
            "note: this Credential Manager drops attributes (Wine's does); attribute checks ran against the layout only"
        );
    }
}

#[tokio::test]
async fn set_get_list_remove_in_dockers_layout() {
    let k = keychain("crud");
    assert_eq!(value_of(&k, "app/token").await, None);
    let meta = Metadata::from([("env".to_owned(), "prod".to_owned())]);
    k.set(&id("app/token"), "t0ken é".into(), meta.clone())
        .await
        .unwrap();
    assert_eq!(
        value_of(&k, "app/token").await.as_deref(),
        Some("t0ken é".as_bytes())
    );

    // Docker's layout: a generic credential named `<group>:<name>:<id>`, the id as user
    // name, persisted for the local machine, the UTF-16LE of the UTF-8 value.
    let c = raw::read(&target("crud", "app/token")).expect("the credential");
    assert_eq!(c.user.as_deref(), Some("app/token"));
    assert_eq!(c.persist, raw::PERSIST_LOCAL_MACHINE);
    assert_eq!(c.blob, utf16le("t0ken é"));
    if raw::keeps_attributes() {
        assert_eq!(attr(&c, "service:group"), Some(group("crud").as_bytes()));
        assert_eq!(attr(&c, "service:name"), Some(DOCKER_NAME.as_bytes()));
        assert_eq!(attr(&c, "id"), Some(&b"app/token"[..]));
        assert_eq!(attr(&c, "x_env"), Some(&b"prod"[..]));
        assert_eq!(attr(&c, "chunk:count"), None);
    } else {
        note_no_attributes();
    }

    let listed = k.list(&p("**")).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.id.to_string()).collect::<Vec<_>>(),
        ["app/token"]
    );
    k.remove(&id("app/token")).await.unwrap();
    assert_eq!(value_of(&k, "app/token").await, None);
    assert!(raw::read(&target("crud", "app/token")).is_none());
    assert!(matches!(
        k.remove(&id("app/token")).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn binary_values_round_trip_byte_exact_and_are_marked() {
    let k = keychain("binary");
    let value: Vec<u8> = vec![0xff, 0x00, 0xfe, 0x80, b'a', 0xc3];
    k.set(&id("bin"), SecretValue::new(value.clone()), Metadata::new())
        .await
        .unwrap();
    assert_eq!(value_of(&k, "bin").await, Some(value.clone()));
    // The marker: a lone low surrogate (0xDC00), which Docker's encoder never writes,
    // then the raw bytes.
    let c = raw::read(&target("binary", "bin")).unwrap();
    assert_eq!(&c.blob[..2], [0x00, 0xdc]);
    assert_eq!(&c.blob[2..], &value[..]);
    // Empty and all-zero values too.
    for v in [vec![], vec![0u8; 7]] {
        k.set(&id("bin"), SecretValue::new(v.clone()), Metadata::new())
            .await
            .unwrap();
        assert_eq!(value_of(&k, "bin").await, Some(v));
    }
}

#[tokio::test]
async fn a_6000_byte_value_is_chunked_as_docker_chunks_it() {
    let k = keychain("chunks");
    let value: Vec<u8> = (0..6000).map(|i| b'a' + (i % 26) as u8).collect();
    k.set(&id("big"), SecretValue::new(value.clone()), Metadata::new())
        .await
        .unwrap();
    assert_eq!(value_of(&k, "big").await, Some(value.clone()));

    // 12,000 bytes of UTF-16: four 2,560-byte chunks and one of 1,760, named
    // `<target>:chunk:<i>`, with the id as user name; the main credential has no blob.
    // Every one of them persisted for the local machine, as Docker's are.
    let main = target("chunks", "big");
    let c = raw::read(&main).unwrap();
    assert!(c.blob.is_empty(), "main blob {} bytes", c.blob.len());
    assert_eq!(c.persist, raw::PERSIST_LOCAL_MACHINE);
    let mut joined = Vec::new();
    for (i, size) in [2560, 2560, 2560, 2560, 1760].into_iter().enumerate() {
        let chunk = raw::read(&format!("{main}:chunk:{i}")).expect("chunk");
        assert_eq!(chunk.blob.len(), size, "chunk {i}");
        assert_eq!(chunk.user.as_deref(), Some("big"));
        assert_eq!(chunk.persist, raw::PERSIST_LOCAL_MACHINE, "chunk {i}");
        if raw::keeps_attributes() {
            assert_eq!(attr(&chunk, "chunk:index"), Some(i.to_string().as_bytes()));
        }
        joined.extend_from_slice(&chunk.blob);
    }
    assert!(raw::read(&format!("{main}:chunk:5")).is_none());
    assert_eq!(joined, utf16le(std::str::from_utf8(&value).unwrap()));
    if raw::keeps_attributes() {
        assert_eq!(attr(&c, "chunk:count"), Some(&b"5"[..]));
    } else {
        note_no_attributes();
    }
    // Chunks are not secrets of their own.
    let listed = k.list(&p("**")).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");

    // A shorter value leaves no chunk behind; a long binary value chunks with its
    // marker.
    k.set(&id("big"), "small".into(), Metadata::new())
        .await
        .unwrap();
    assert!(raw::read(&format!("{main}:chunk:0")).is_none());
    assert_eq!(value_of(&k, "big").await.as_deref(), Some(&b"small"[..]));
    let binary: Vec<u8> = (0..6000u32).map(|i| (i * 7 % 256) as u8).collect();
    assert!(std::str::from_utf8(&binary).is_err());
    k.set(
        &id("big"),
        SecretValue::new(binary.clone()),
        Metadata::new(),
    )
    .await
    .unwrap();
    assert_eq!(value_of(&k, "big").await, Some(binary));
    assert!(raw::read(&format!("{main}:chunk:2")).is_some());
    assert!(raw::read(&format!("{main}:chunk:3")).is_none());

    k.remove(&id("big")).await.unwrap();
    assert!(raw::read(&main).is_none());
    assert!(raw::read(&format!("{main}:chunk:0")).is_none());
}

/// `:` is allowed in ids, so the id `x:chunk:0` names the target where a chunked `x`
/// keeps its first chunk. Writing, reading and removing `x` must never take that id's
/// credential for a chunk of `x` (they once deleted it on every set and remove).
#[tokio::test]
async fn an_id_named_like_a_chunk_is_never_taken_for_one() {
    let k = keychain("collide");
    k.set(&id("x:chunk:0"), "A".into(), Metadata::new())
        .await
        .unwrap();
    let a = || async { value_of(&k, "x:chunk:0").await };
    let big = "B".repeat(6000);

    // A short `x`: set, read, listed beside the real id, removed.
    k.set(&id("x"), "short".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(a().await.as_deref(), Some(&b"A"[..]));
    assert_eq!(value_of(&k, "x").await.as_deref(), Some(&b"short"[..]));
    let listed = k.list(&p("**")).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.id.to_string()).collect::<Vec<_>>(),
        ["x", "x:chunk:0"]
    );
    k.remove(&id("x")).await.unwrap();
    assert_eq!(a().await.as_deref(), Some(&b"A"[..]));
    assert_eq!(value_of(&k, "x").await, None);

    // A 6,000-byte `x` needs the target `x:chunk:0` holds: refused, nothing written,
    // `x:chunk:0` intact.
    let err = k
        .set(&id("x"), big.as_str().into(), Metadata::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert_eq!(a().await.as_deref(), Some(&b"A"[..]));
    assert_eq!(value_of(&k, "x").await, None);
    assert!(raw::read(&target("collide", "x")).is_none());
    assert!(matches!(
        k.remove(&id("x")).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(a().await.as_deref(), Some(&b"A"[..]));

    // The other way round: a chunked `y` is stored first; its chunk is no id of its
    // own, and the id `y:chunk:0` can neither overwrite nor remove it.
    k.set(&id("y"), big.as_str().into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(value_of(&k, "y:chunk:0").await, None);
    assert!(
        k.set(&id("y:chunk:0"), "C".into(), Metadata::new())
            .await
            .is_err()
    );
    assert!(matches!(
        k.remove(&id("y:chunk:0")).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(value_of(&k, "y").await.as_deref(), Some(big.as_bytes()));
    let listed = k.list(&p("**")).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.id.to_string()).collect::<Vec<_>>(),
        ["x:chunk:0", "y"]
    );

    // A value whose chunks were written by another id's owner is not joined: the
    // main credential of `z` (no blob, no attributes, as Wine keeps it) next to the
    // id `z:chunk:0`'s own credential reads as empty, never as "A".
    raw::write(
        &target("collide", "z:chunk:0"),
        "z:chunk:0",
        &utf16le("A"),
        &[],
    );
    raw::write(&target("collide", "z"), "z", &[], &[]);
    assert_eq!(value_of(&k, "z").await.as_deref(), Some(&b""[..]));
    assert_eq!(value_of(&k, "z:chunk:0").await.as_deref(), Some(&b"A"[..]));

    for i in ["x:chunk:0", "y", "z", "z:chunk:0"] {
        k.remove(&id(i)).await.unwrap();
    }
    assert!(raw::targets(&format!("{}:*", group("collide"))).is_empty());
}

#[tokio::test]
async fn metadata_round_trips_as_x_attributes() {
    let k = keychain("meta");
    let meta = Metadata::from([
        ("env".to_owned(), "prod".to_owned()),
        // A caller key `id` must not clash with Docker's own `id` attribute.
        ("id".to_owned(), "mine".to_owned()),
    ]);
    k.set(&id("db/pw"), "hunter2".into(), meta.clone())
        .await
        .unwrap();
    let got = k.get_secrets(&p("db/pw")).await.unwrap();
    let listed = k.list(&p("db/*")).await.unwrap();
    assert_eq!(got[0].value().expose(), b"hunter2");
    if raw::keeps_attributes() {
        assert_eq!(got[0].metadata(), &meta);
        assert_eq!(listed[0].metadata, meta);
        let c = raw::read(&target("meta", "db/pw")).unwrap();
        assert_eq!(attr(&c, "x_id"), Some(&b"mine"[..]));
        assert_eq!(attr(&c, "id"), Some(&b"db/pw"[..]));
    } else {
        note_no_attributes();
        assert!(got[0].metadata().is_empty());
        assert_eq!(listed[0].id, id("db/pw"));
    }
    // Metadata the Credential Manager would refuse is refused before anything is
    // written, naming the key.
    let long = Metadata::from([("note".to_owned(), "x".repeat(300))]);
    let err = k
        .set(&id("db/other"), "v".into(), long)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"note\""), "{err}");
    assert!(raw::read(&target("meta", "db/other")).is_none());
}

#[tokio::test]
async fn repeated_sets_leave_one_credential() {
    let k = keychain("upsert");
    let long = "L".repeat(6000);
    for v in ["one", long.as_str(), "three"] {
        k.set(&id("a/b"), v.into(), Metadata::new()).await.unwrap();
    }
    assert_eq!(value_of(&k, "a/b").await.as_deref(), Some(&b"three"[..]));
    let all = raw::targets(&format!("{}:*", group("upsert")));
    assert_eq!(all, [target("upsert", "a/b")]);

    // Target names are case-insensitive in the Credential Manager: ids differing in
    // case share one credential, and the provider says it is case-insensitive.
    assert!(k.case_insensitive());
    k.set(&id("Case/Id"), "first".into(), Metadata::new())
        .await
        .unwrap();
    k.set(&id("case/id"), "second".into(), Metadata::new())
        .await
        .unwrap();
    assert_eq!(
        value_of(&k, "CASE/ID").await.as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(raw::targets(&format!("{}:*", group("upsert"))).len(), 2);
    // Removing by either spelling removes the one credential; the group is empty again,
    // so the test can run again in the same prefix.
    k.remove(&id("CASE/ID")).await.unwrap();
    k.remove(&id("a/b")).await.unwrap();
    assert!(raw::targets(&format!("{}:*", group("upsert"))).is_empty());
}

#[tokio::test]
async fn two_hundred_items_are_listed_and_resolved() {
    let k = keychain("many");
    for i in 0..200 {
        k.set(
            &id(&format!("item/{i:03}")),
            format!("v{i}").into(),
            Metadata::new(),
        )
        .await
        .unwrap();
    }
    let listed = k.list(&p("**")).await.unwrap();
    let ids: Vec<String> = listed.iter().map(|l| l.id.to_string()).collect();
    let want: Vec<String> = (0..200).map(|i| format!("item/{i:03}")).collect();
    assert_eq!(ids, want);
    let got = k.get_secrets(&p("item/*")).await.unwrap();
    assert_eq!(got.len(), 200);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.id().as_str(), format!("item/{i:03}"));
        assert_eq!(e.value().expose(), format!("v{i}").as_bytes());
    }
    // Another group's credentials are not listed.
    assert!(
        keychain("many-other")
            .list(&p("**"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn credentials_docker_wrote_are_read() {
    // Written the way Docker's store writes them, byte for byte.
    let g = group("docker");
    let attrs = |i: &str, extra: &[(&str, &str)]| {
        let mut a = vec![
            ("service:group".to_owned(), g.as_bytes().to_vec()),
            ("service:name".to_owned(), DOCKER_NAME.as_bytes().to_vec()),
            ("id".to_owned(), i.as_bytes().to_vec()),
            ("x_owner".to_owned(), b"ci".to_vec()),
        ];
        a.extend(
            extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
        );
        a
    };
    raw::write(
        &target("docker", "gh/token"),
        "gh/token",
        &utf16le("ghp_abc"),
        &attrs("gh/token", &[]),
    );
    let long = "é".repeat(1500);
    let blob = utf16le(&long);
    let pieces: Vec<&[u8]> = blob.chunks(2560).collect();
    for (i, piece) in pieces.iter().enumerate() {
        raw::write(
            &format!("{}:chunk:{i}", target("docker", "big")),
            "big",
            piece,
            &[("chunk:index".to_owned(), i.to_string().into_bytes())],
        );
    }
    let count = pieces.len().to_string();
    raw::write(
        &target("docker", "big"),
        "big",
        &[],
        &attrs("big", &[("chunk:count", count.as_str())]),
    );
    // Not ours: another tool's credential, and one of another group.
    raw::write("git:https://example.invalid", "me", b"x", &[]);
    raw::write(
        &target("other", "gh/token"),
        "gh/token",
        &utf16le("no"),
        &[],
    );

    let k = Keychain::with_names(&g, DOCKER_NAME);
    assert_eq!(
        value_of(&k, "gh/token").await.as_deref(),
        Some(&b"ghp_abc"[..])
    );
    assert_eq!(value_of(&k, "big").await, Some(long.into_bytes()));
    let listed = k.list(&p("**")).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.id.to_string()).collect::<Vec<_>>(),
        ["big", "gh/token"]
    );
    if raw::keeps_attributes() {
        assert_eq!(
            listed[1].metadata.get("owner").map(String::as_str),
            Some("ci")
        );
    } else {
        note_no_attributes();
    }
}

/// Pins why the attribute checks above may not run: they are skipped only on Wine,
/// whose Credential Manager is known to drop attributes; Windows keeps them. If a Wine
/// release starts keeping them, this fails, and the checks should then run there too.
#[test]
fn attributes_are_dropped_only_on_wine() {
    assert_eq!(raw::keeps_attributes(), !raw::is_wine());
}

#[tokio::test]
async fn the_default_keychain_uses_dockers_names() {
    let k = Keychain::new();
    assert!(k.is_available().await);
    k.set(&id("se-test/default"), "v".into(), Metadata::new())
        .await
        .unwrap();
    let c = raw::read(&format!("{DOCKER_GROUP}:{DOCKER_NAME}:se-test/default")).unwrap();
    assert_eq!(c.blob, utf16le("v"));
    k.remove(&id("se-test/default")).await.unwrap();
}

/// The Credential Manager's API, straight: what Docker's store reads and writes.
#[allow(unsafe_code)]
mod raw {
    use std::ptr;
    use std::sync::OnceLock;

    use windows_sys::Win32::Security::Credentials::{
        CRED_PERSIST_LOCAL_MACHINE, CRED_TYPE_GENERIC, CREDENTIAL_ATTRIBUTEW, CREDENTIALW,
        CredDeleteW, CredEnumerateW, CredFree, CredReadW, CredWriteW,
    };

    pub const PERSIST_LOCAL_MACHINE: u32 = CRED_PERSIST_LOCAL_MACHINE;

    pub struct Credential {
        pub user: Option<String>,
        pub blob: Vec<u8>,
        pub persist: u32,
        pub attributes: Vec<(String, Vec<u8>)>,
    }

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(Some(0)).collect()
    }

    // Reads are unaligned: Wine packs what CredEnumerateW returns at odd addresses.
    unsafe fn string(p: *const u16) -> Option<String> {
        if p.is_null() {
            return None;
        }
        let mut units = Vec::new();
        loop {
            let unit = unsafe { p.add(units.len()).read_unaligned() };
            if unit == 0 {
                break;
            }
            units.push(unit);
        }
        Some(String::from_utf16_lossy(&units))
    }

    unsafe fn bytes(p: *const u8, n: u32) -> Vec<u8> {
        if p.is_null() {
            return Vec::new();
        }
        unsafe { std::slice::from_raw_parts(p, n as usize) }.to_vec()
    }

    pub fn read(target: &str) -> Option<Credential> {
        let name = wide(target);
        let mut c: *mut CREDENTIALW = ptr::null_mut();
        if unsafe { CredReadW(name.as_ptr(), CRED_TYPE_GENERIC, 0, &mut c) } == 0 {
            return None;
        }
        let r = unsafe { c.read_unaligned() };
        let attributes = if r.Attributes.is_null() {
            Vec::new()
        } else {
            (0..r.AttributeCount as usize)
                .map(|i| unsafe { r.Attributes.add(i).read_unaligned() })
                .map(|a| unsafe { (string(a.Keyword).unwrap(), bytes(a.Value, a.ValueSize)) })
                .collect()
        };
        let out = Credential {
            user: unsafe { string(r.UserName) },
            blob: unsafe { bytes(r.CredentialBlob, r.CredentialBlobSize) },
            persist: r.Persist,
            attributes,
        };
        unsafe { CredFree(c as *const _) };
        Some(out)
    }

    pub fn write(target: &str, user: &str, blob: &[u8], attributes: &[(String, Vec<u8>)]) {
        let name = wide(target);
        let user = wide(user);
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
            Type: CRED_TYPE_GENERIC,
            TargetName: name.as_ptr() as *mut u16,
            CredentialBlobSize: blob.len() as u32,
            CredentialBlob: blob.as_ptr() as *mut u8,
            Persist: CRED_PERSIST_LOCAL_MACHINE,
            AttributeCount: attrs.len() as u32,
            Attributes: attrs.as_mut_ptr(),
            UserName: user.as_ptr() as *mut u16,
            ..Default::default()
        };
        assert_ne!(unsafe { CredWriteW(&c, 0) }, 0, "CredWriteW {target}");
    }

    /// Targets of the credentials matching `filter`, sorted.
    pub fn targets(filter: &str) -> Vec<String> {
        let f = wide(filter);
        let mut n = 0u32;
        let mut list: *mut *mut CREDENTIALW = ptr::null_mut();
        if unsafe { CredEnumerateW(f.as_ptr(), 0, &mut n, &mut list) } == 0 {
            return Vec::new();
        }
        let mut out: Vec<String> = (0..n as usize)
            .map(|i| unsafe {
                let c = list.add(i).read_unaligned().read_unaligned();
                string(c.TargetName).unwrap()
            })
            .collect();
        unsafe { CredFree(list as *const _) };
        out.sort();
        out
    }

    /// Whether this process runs under Wine (its ntdll exports `wine_get_version`).
    pub fn is_wine() -> bool {
        use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
        let ntdll = unsafe { GetModuleHandleA(c"ntdll.dll".as_ptr().cast()) };
        !ntdll.is_null()
            && unsafe { GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()) }.is_some()
    }

    /// Whether this Credential Manager stores attributes (Windows does; Wine 8 does
    /// not), found by writing one and reading it back.
    pub fn keeps_attributes() -> bool {
        static KEEPS: OnceLock<bool> = OnceLock::new();
        *KEEPS.get_or_init(|| {
            let t = "se-test-probe:attributes";
            write(t, "probe", b"", &[("k".to_owned(), b"v".to_vec())]);
            let kept = read(t).is_some_and(|c| !c.attributes.is_empty());
            let name = wide(t);
            unsafe { CredDeleteW(name.as_ptr(), CRED_TYPE_GENERIC, 0) };
            kept
        })
    }
}
