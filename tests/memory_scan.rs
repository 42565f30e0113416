//! After a secret has been stored, resolved and dropped, with the engine, the store and
//! the runtime gone, its bytes are nowhere in this process's readable memory: every
//! readable mapping of `/proc/self/maps` is read through `/proc/self/mem` and searched.
//!
//! The secret (64 random hex characters) never exists unmasked in the test's own
//! variables: it is kept XOR-masked with a random key, unmasked straight into the
//! `Vec` a `SecretValue` takes over, compared byte by byte against the mask, and
//! searched for by unmasking candidate bytes one at a time. Anything found is a copy
//! the library (or a crate under it) left behind.
#![cfg(target_os = "linux")]

use secrets_engine_test_support as support;

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use secrets_engine::providers::file::{FileKey, FileStore};
use secrets_engine::providers::keychain::{DOCKER_NAME, Keychain};
use secrets_engine::{Engine, Id, Metadata, SecretValue, Store};
use support::{builder, id, p};

const LEN: usize = 64;

/// One test at a time: another test's scan buffer could hold a copy of this test's
/// secret, read while it was still alive.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A secret held only in masked form.
struct Masked {
    masked: [u8; LEN],
    key: [u8; LEN],
}

impl Masked {
    fn random() -> Masked {
        let mut random = [0u8; LEN * 2];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact_at(&mut random, 0)
            .or_else(|_| {
                use std::io::Read;
                std::fs::File::open("/dev/urandom")
                    .unwrap()
                    .read_exact(&mut random)
            })
            .unwrap();
        let mut key = [0u8; LEN];
        key.copy_from_slice(&random[LEN..]);
        let mut masked = [0u8; LEN];
        for i in 0..LEN {
            // One hex character at a time, masked at once.
            masked[i] = b"0123456789abcdef"[(random[i] & 0xf) as usize] ^ key[i];
        }
        random.fill(0);
        Masked { masked, key }
    }

    /// The secret, unmasked directly into the buffer the `SecretValue` owns.
    fn value(&self) -> SecretValue {
        let mut v = Vec::with_capacity(LEN);
        v.extend(self.masked.iter().zip(&self.key).map(|(m, k)| m ^ k));
        SecretValue::new(v)
    }

    fn equals(&self, bytes: &[u8]) -> bool {
        bytes.len() == LEN && self.window_at(0, bytes, LEN)
    }

    /// Whether `bytes` starts with the secret's `len` bytes from `offset`.
    fn window_at(&self, offset: usize, bytes: &[u8], len: usize) -> bool {
        bytes.len() >= len
            && bytes[..len]
                .iter()
                .zip(self.masked[offset..].iter().zip(&self.key[offset..]))
                .all(|(b, (m, k))| *b == m ^ k)
    }

    /// Where in this process's readable memory any 24-byte piece of the secret is
    /// (pieces start every 8 bytes): a freed heap block loses its first 16 bytes to
    /// the allocator's free-list pointers, so looking for the whole secret would miss
    /// exactly the copies that matter. Each hit is reported as the address where the
    /// secret would start, with the mapping.
    fn find_in_memory(&self) -> Vec<(usize, String)> {
        const CHUNK: usize = 1 << 20;
        const PIECE: usize = 24;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let mem = std::fs::File::open("/proc/self/mem").unwrap();
        let mut buf = vec![0u8; CHUNK + LEN];
        let own = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let mut found: Vec<(usize, String)> = Vec::new();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let (range, perms) = (fields.next().unwrap(), fields.next().unwrap());
            let name = fields.nth(3).unwrap_or("").to_owned();
            if !perms.starts_with('r') || name.starts_with("[v") {
                continue;
            }
            let (start, end) = range.split_once('-').unwrap();
            let start = usize::from_str_radix(start, 16).unwrap();
            let end = usize::from_str_radix(end, 16).unwrap();
            let mut at = start;
            while at < end {
                let n = (end - at).min(CHUNK + LEN);
                if mem.read_exact_at(&mut buf[..n], at as u64).is_ok() {
                    for offset in (0..=LEN - PIECE).step_by(8) {
                        let first = self.masked[offset] ^ self.key[offset];
                        let mut i = 0;
                        while i + PIECE <= n {
                            // SAFETY: `buf[i..n]` is initialised and in bounds.
                            let hit = unsafe {
                                libc::memchr(
                                    buf.as_ptr().add(i).cast(),
                                    first as i32,
                                    n - PIECE + 1 - i,
                                )
                            };
                            if hit.is_null() {
                                break;
                            }
                            i = hit as usize - buf.as_ptr() as usize;
                            let addr = at + i;
                            if self.window_at(offset, &buf[i..], PIECE)
                                && !own.contains(&addr)
                                && !found.iter().any(|(a, _)| *a == addr - offset)
                            {
                                found.push((addr - offset, format!("{perms} {name}")));
                            }
                            i += 1;
                        }
                    }
                }
                at += CHUNK;
            }
        }
        buf.fill(0);
        found
    }
}

/// Reads `i` alone and through a pattern, checks both are the secret, drops the
/// envelopes and removes `i`.
async fn read_drop_remove(engine: &Engine, i: &Id, secret: &Masked, name: &str) {
    let found = engine.resolve_one(&p(i.as_str())).await.unwrap();
    assert!(
        secret.equals(found.expose()),
        "{name}: another value came back"
    );
    drop(found);
    let all = engine.get_secrets(&p("scan/**")).await.unwrap();
    assert!(
        all.envelopes()
            .iter()
            .any(|e| secret.equals(e.value().expose()))
    );
    drop(all);
    engine.remove(i).await.unwrap();
}

/// Stores, resolves and drops the secret through an engine over `store`, inside a
/// runtime that is shut down before the scan.
fn store_resolve_drop(name: &str, make: impl FnOnce() -> Arc<dyn Store>) -> Masked {
    let secret = Masked::random();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine: Engine = builder()
            .store(name, p("**"), make())
            .default_store(name)
            .build()
            .unwrap();
        let i = id(&format!("scan/{name}"));
        engine
            .set(&i, secret.value(), Metadata::new())
            .await
            .unwrap();
        read_drop_remove(&engine, &i, &secret, name).await;
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    secret
}

fn assert_nowhere(name: &str, secret: &Masked) {
    let found = secret.find_in_memory();
    assert!(
        found.is_empty(),
        "{name}: the secret is still in memory at {} place(s): {:x?}",
        found.len(),
        found
    );
}

#[test]
fn the_scan_finds_a_live_secret() {
    let _serial = serial();
    // The check itself works: a secret still held is found.
    let secret = Masked::random();
    let held = secret.value();
    let found = secret.find_in_memory();
    assert_eq!(
        found
            .iter()
            .filter(|(a, _)| *a == held.expose().as_ptr() as usize)
            .count(),
        1,
        "{found:x?}"
    );
    drop(held);
    assert_nowhere("a dropped SecretValue", &secret);
}

#[test]
fn memory_store_leaves_no_copy() {
    let _serial = serial();
    let secret = store_resolve_drop("memory", || Arc::new(secrets_engine::MemoryStore::new()));
    assert_nowhere("memory store", &secret);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
#[ignore = "run by file_store_reads_leave_no_copy in a child process"]
fn write_in_child() {
    let Ok(dir) = std::env::var("SE_SCAN_DIR") else {
        return;
    };
    let secret = Masked {
        masked: unhex(&std::env::var("SE_SCAN_MASKED").unwrap()),
        key: unhex(&std::env::var("SE_SCAN_KEY").unwrap()),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(
        FileStore::new(dir, FileKey::passphrase("scan-pw"))
            .with_work_factor(10)
            .set(&id("scan/file"), secret.value(), Metadata::new()),
    )
    .unwrap();
    println!("\n@ok");
}

/// The entry is written by another process: encryption leaves a copy behind inside
/// age (see `file_store_write_only_leaves_no_copy`); reading must not.
#[test]
fn file_store_reads_leave_no_copy() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let secret = Masked::random();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "write_in_child", "--nocapture"])
        .env("SE_SCAN_DIR", dir.path())
        .env("SE_SCAN_MASKED", hex(&secret.masked))
        .env("SE_SCAN_KEY", hex(&secret.key))
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("\n@ok"),
        "{out:?}"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let path = dir.path().to_owned();
    rt.block_on(async {
        let engine = builder()
            .store(
                "file",
                p("**"),
                Arc::new(FileStore::new(path, FileKey::passphrase("scan-pw")).with_work_factor(10)),
            )
            .default_store("file")
            .build()
            .unwrap();
        read_drop_remove(&engine, &id("scan/file"), &secret, "file").await;
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    assert_nowhere("file store", &secret);
}

#[test]
fn keychain_leaves_no_copy() {
    let _serial = serial();
    let address = support::keyring::shared().address.clone();
    let secret = store_resolve_drop("keychain", move || {
        Arc::new(
            Keychain::with_names("se-test.memory-scan", DOCKER_NAME).with_bus_address(&address),
        )
    });
    assert_nowhere("keychain", &secret);
}

/// Known to fail: age 0.11's `StreamWriter` buffers plaintext in a private 64 KiB
/// `Vec` (`chunk`, src/primitives/stream.rs) that `finish` drops without wiping, so
/// every encrypted entry stays in freed heap memory until the block is reused. The
/// buffer cannot be reached from outside age; whether a later allocation reuses and
/// zeroes that block is luck, so `file_store_reads_leave_no_copy` writes in a child.
/// Run with `--ignored` to check a fixed age.
#[test]
#[ignore = "known leak in age 0.11 (StreamWriter's plaintext chunk is not wiped)"]
fn file_store_write_only_leaves_no_copy() {
    let _serial = serial();
    let secret = Masked::random();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = FileStore::new(dir.path(), FileKey::passphrase("scan-pw")).with_work_factor(10);
        s.set(&id("scan/w"), secret.value(), Metadata::new())
            .await
            .unwrap();
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    assert_nowhere("file store (write only)", &secret);
}
