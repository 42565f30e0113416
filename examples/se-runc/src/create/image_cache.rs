//! The image's `ENV`, kept by image id from one create to the next.
//!
//! To tell the user's references from the image's, a create asks dockerd twice: the
//! container list for the image id, then the image for its `ENV`. In Docker's classic
//! image store an image id is the digest of the image's config, and in containerd's
//! image store a single-platform image is named by its manifest's digest, which
//! names the config: either way the `ENV` such an id stands for never changes. Kept
//! here, it answers every later create of the same image without the second request
//! (about 0.5 ms of CPU on dockerd's side and ours, in each `docker run` here). A
//! multi-platform image (an index, in containerd's store) is answered for whichever
//! of its platforms is present, so it is never kept (`docker::names_one_config`).
//!
//! What is kept decides which references get resolved, so only this user may change
//! it: the directory is made 0700 and used only when it is owned by the effective
//! user and writable by nobody else; entries are opened relative to it without
//! following links (nor waiting on a FIFO), must be regular files of this user, and
//! are written whole (a temporary file of a random name renamed over the old one).
//! Anything unreadable is a miss, and dockerd is asked as if nothing were kept.
//! Entries are a few hundred bytes, one per image id, and never expire: the default
//! directory is on `/run`, which a reboot empties; a temporary left by a process
//! killed while writing stays until then too.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

/// Where root keeps image `ENV`s unless told otherwise (`--image-cache`, or
/// `SE_RUNC_IMAGE_CACHE` in the runtime's environment).
pub const ROOT_DIR: &str = "/run/se-runc/image-env";
/// The largest entry read: an image `ENV` is a few kilobytes.
const MAX_ENTRY: u64 = 1 << 20;

/// A directory of kept image `ENV`s, opened and checked.
#[derive(Debug)]
pub struct ImageCache {
    dir: OwnedFd,
}

/// Why a cache directory is not used.
#[derive(Debug, thiserror::Error)]
#[error("the image cache {}: {why}", path.display())]
pub struct CacheError {
    path: PathBuf,
    why: String,
}

impl ImageCache {
    /// The default directory: [`ROOT_DIR`] for root, `$XDG_RUNTIME_DIR/se-runc/image-env`
    /// for another user; `None` for a user without a runtime directory.
    pub fn default_dir() -> Option<PathBuf> {
        if rustix::process::geteuid().is_root() {
            return Some(PathBuf::from(ROOT_DIR));
        }
        let run = PathBuf::from(std::env::var_os("XDG_RUNTIME_DIR")?);
        run.is_absolute()
            .then(|| run.join("se-runc").join("image-env"))
    }

    /// Opens the cache at `path`, making it (mode 0700) when absent.
    pub fn open(path: &Path) -> Result<ImageCache, CacheError> {
        let fail = |why: String| CacheError {
            path: path.to_owned(),
            why,
        };
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(path).map_err(|e| fail(e.to_string()))?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| fail(e.to_string()))?;
        let st = rustix::fs::fstat(&dir).map_err(|e| fail(e.to_string()))?;
        let me = rustix::process::geteuid().as_raw();
        if st.st_uid != me {
            return Err(fail(format!("owned by uid {}, not {me}", st.st_uid)));
        }
        if st.st_mode & 0o022 != 0 {
            return Err(fail(format!(
                "others may write to it (mode {:o})",
                st.st_mode & 0o777
            )));
        }
        Ok(ImageCache { dir })
    }

    /// The `ENV` kept for image `id`, if any.
    pub fn get(&self, id: &str) -> Option<Vec<String>> {
        let name = entry_name(id)?;
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.dir, &name, flags, Mode::empty()).ok()?;
        let st = rustix::fs::fstat(&fd).ok()?;
        let mine = st.st_uid == rustix::process::geteuid().as_raw();
        if !mine || FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return None;
        }
        let mut text = Vec::new();
        std::fs::File::from(fd)
            .take(MAX_ENTRY + 1)
            .read_to_end(&mut text)
            .ok()?;
        if text.len() as u64 > MAX_ENTRY {
            return None;
        }
        serde_json::from_slice(&text).ok()
    }

    /// Keeps `env` as the `ENV` of image `id`. An id that is not a digest, or an `ENV`
    /// too big to be read back, is not kept; a failure to write only means asking
    /// dockerd again next time.
    pub fn put(&self, id: &str, env: &[String]) -> std::io::Result<()> {
        let Some(name) = entry_name(id) else {
            return Ok(());
        };
        let text = serde_json::to_vec(env).map_err(std::io::Error::other)?;
        if text.len() as u64 > MAX_ENTRY {
            return Ok(());
        }
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let (fd, temp) = {
            let mut tries = 0;
            loop {
                // Another process's temporary is never touched: a taken name is
                // skipped, not replaced.
                let temp = format!(".{name}.{:016x}", random());
                match rustix::fs::openat(&self.dir, &temp, flags, Mode::RUSR | Mode::WUSR) {
                    Ok(fd) => break (fd, temp),
                    Err(rustix::io::Errno::EXIST) if tries < 8 => tries += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let written = std::fs::File::from(fd)
            .write_all(&text)
            .and_then(|()| Ok(rustix::fs::renameat(&self.dir, &temp, &self.dir, &name)?));
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&self.dir, &temp, rustix::fs::AtFlags::empty());
        }
        written
    }
}

/// 64 random bits, for a temporary's name: std's hasher keys come from the OS's
/// random source, fresh for every `RandomState`.
fn random() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

/// The file name kept for image `id`: `sha256-<hex>` for `sha256:<hex>` (or sha512);
/// `None` for anything else, which is not known to be a digest.
fn entry_name(id: &str) -> Option<String> {
    let (algorithm, hex) = id.split_once(':')?;
    let length = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return None,
    };
    let digest = hex.len() == length
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    digest.then(|| format!("{algorithm}-{hex}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const ID: &str = "sha256:5a4e0b3882ae3b7e1f2c1f8b0a2f9d4c7e6b5a4938271605f4e3d2c1b0a99887";

    fn env(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kept_and_found_by_id() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b");
        let cache = ImageCache::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(cache.get(ID), None);
        let kept = env(&["PATH=/bin", "KEY=se://app/key"]);
        cache.put(ID, &kept).unwrap();
        assert_eq!(cache.get(ID), Some(kept.clone()));
        // Another process's view of the same directory.
        assert_eq!(ImageCache::open(&path).unwrap().get(ID), Some(kept));
        // Replaced whole, and an empty ENV is an answer too.
        cache.put(ID, &[]).unwrap();
        assert_eq!(cache.get(ID), Some(Vec::new()));
        let names: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            vec![format!("sha256-{}", &ID[7..])],
            "no temporary left"
        );
    }

    #[test]
    fn only_digests_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ImageCache::open(tmp.path()).unwrap();
        for id in [
            "busybox:latest",
            "sha256:../../etc/passwd",
            "sha256:5A4E",
            &ID[..70],
            &ID.replace("sha256", "md5"),
            &format!("{ID}0"),
        ] {
            cache.put(id, &env(&["A=1"])).unwrap();
            assert_eq!(cache.get(id), None, "{id}");
        }
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        cache.put(&sha512, &env(&["A=1"])).unwrap();
        assert_eq!(cache.get(&sha512), Some(env(&["A=1"])));
    }

    #[test]
    fn a_directory_others_may_write_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o775)).unwrap();
        let e = ImageCache::open(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("others may write to it (mode 775)"), "{e}");
        // A link to a good directory is not followed.
        let good = tmp.path().join("good");
        ImageCache::open(&good).unwrap();
        let link = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&good, link.path().join("l")).unwrap();
        assert!(ImageCache::open(&link.path().join("l")).is_err());
    }

    #[test]
    fn entries_that_are_not_plain_files_of_this_user_are_misses() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = ImageCache::open(tmp.path()).unwrap();
        let name = tmp.path().join(format!("sha256-{}", &ID[7..]));
        // A link to an answer planted elsewhere.
        let planted = tmp.path().join("planted");
        std::fs::write(&planted, "[]").unwrap();
        std::os::unix::fs::symlink(&planted, &name).unwrap();
        assert_eq!(cache.get(ID), None);
        std::fs::remove_file(&name).unwrap();
        // Not JSON, or not a list of strings.
        for text in ["[\"A=1\"", "{}", "[1]"] {
            std::fs::write(&name, text).unwrap();
            assert_eq!(cache.get(ID), None, "{text}");
        }
        // Too big to be an image's ENV: valid, but not read; and not written either.
        let big = vec!["A".repeat(MAX_ENTRY as usize)];
        std::fs::write(&name, serde_json::to_vec(&big).unwrap()).unwrap();
        assert_eq!(cache.get(ID), None);
        std::fs::remove_file(&name).unwrap();
        cache.put(ID, &big).unwrap();
        assert!(!name.exists());
        // A FIFO: not waited on.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &name,
            FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .unwrap();
        assert_eq!(cache.get(ID), None);
        std::fs::remove_file(&name).unwrap();
        // Another user's file. Only root can make one; the tests run as root in CI.
        std::fs::write(&name, "[]").unwrap();
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&name, Some(65534), None).unwrap();
            assert_eq!(cache.get(ID), None);
        }
        // Another process's temporary is left alone.
        std::fs::remove_file(&name).unwrap();
        let temp = tmp
            .path()
            .join(format!(".sha256-{}.0123456789abcdef", &ID[7..]));
        std::fs::write(&temp, "another's").unwrap();
        cache.put(ID, &env(&["A=1"])).unwrap();
        assert_eq!(cache.get(ID), Some(env(&["A=1"])));
        assert_eq!(std::fs::read_to_string(&temp).unwrap(), "another's");
    }

    #[test]
    fn another_users_directory_is_refused() {
        // Only root can give a directory away; the tests run as root in CI.
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(tmp.path(), Some(65534), None).unwrap();
        let e = ImageCache::open(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("owned by uid 65534, not 0"), "{e}");
    }
}
