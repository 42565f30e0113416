//! Unlocking the store: the age identity, from the session cache, a key file or the
//! passphrase-wrapped `identity.age`, checked against `recipient.txt`.

use std::path::Path;
use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroize;

use super::fs::{Dir, io};
use super::session;
use super::{FileKey, KEY_FILE_ENV, PASSPHRASE_ENV};
use crate::error::Error;

/// The scrypt work factor (log2 of N) of new identities: 2^18, as Docker's own file
/// store: 256 MiB, and from a quarter second on an idle desktop core to 0.86 s
/// measured on a loaded 2-core CI machine.
pub const DEFAULT_WORK_FACTOR: u8 = 18;
/// The lowest work factor accepted for a new identity.
pub const MIN_WORK_FACTOR: u8 = 10;
/// The highest work factor accepted for a new identity (2^20, about 1 GiB: what
/// earlier versions wrote, through age's calibration).
pub const MAX_WORK_FACTOR: u8 = 20;
/// The highest work factor read: [`MAX_WORK_FACTOR`] plus a margin for identities age
/// calibrated on a faster machine. A higher one is refused before scrypt runs, so a
/// crafted `identity.age` cannot make the process allocate terabytes.
pub const MAX_READ_WORK_FACTOR: u8 = MAX_WORK_FACTOR + 2;

const IDENTITY: &str = "identity.age";
const RECIPIENT: &str = "recipient.txt";
/// `identity.age` and `recipient.txt` are small; anything larger is not ours.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// What the unlock needs, copied out of the store so it can run on a blocking thread.
pub(super) struct Unlock {
    pub(super) key: FileKey,
    pub(super) work_factor: Result<u8, String>,
    pub(super) session: Duration,
    /// Whether the [`FileKey::Prompt`] may be asked (outside any deadline only).
    pub(super) prompt: bool,
}

/// The store's public key, when it has one (no secret needed).
pub(super) fn recipient(root: &Dir) -> Result<Option<String>, Error> {
    Ok(root
        .read(RECIPIENT, MAX_KEY_FILE)?
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned()))
}

/// Whether an unlock would need someone to type or set something: no identity in the
/// session cache and no passphrase or key file configured.
pub(super) fn needs_user(dir: &Path, key: &FileKey, session: Duration) -> bool {
    if matches!(key, FileKey::KeyFile(_)) {
        return false;
    }
    if matches!(key, FileKey::Passphrase(_)) {
        // A passphrase does not open a store a key file made (see `unlock`).
        return Dir::open_root(dir, false)
            .ok()
            .flatten()
            .is_some_and(|root| made_by_key_file(&root).unwrap_or(false));
    }
    if session.is_zero() {
        return true;
    }
    let cached = Dir::open_root(dir, false)
        .ok()
        .flatten()
        .and_then(|root| recipient(&root).ok().flatten())
        .is_some_and(|r| session::contains(&r));
    !cached
}

/// Unlocks the identity and checks it is the store's: a key file or passphrase for
/// another store would otherwise write secrets this store's owner cannot read.
pub(super) fn unlock(dir: &Path, u: &Unlock) -> Result<age::x25519::Identity, Error> {
    let existing = Dir::open_root(dir, false)?;
    let known = match &existing {
        Some(root) => recipient(root)?,
        None => None,
    };
    if let Some(r) = known.as_deref().filter(|_| !u.session.is_zero())
        && let Some(identity) = session::load(r)
    {
        return Ok(identity);
    }
    // A passphrase would create an identity the recipient then refuses, leaving an
    // `identity.age` behind that makes the store look passphrase-made.
    let key_file_store = match &existing {
        Some(root) => made_by_key_file(root)?,
        None => false,
    };
    if key_file_store && matches!(u.key, FileKey::Passphrase(_) | FileKey::Prompt(_)) {
        return Err(Error::Locked {
            reason: format!(
                "the file store in {} has a recipient.txt and no identity.age: it is unlocked by a key file ({KEY_FILE_ENV}), not a passphrase",
                dir.display()
            ),
        });
    }
    // `created`: this call wrote `identity.age`.
    let (identity, from_passphrase, created) = match &u.key {
        FileKey::Missing => return Err(missing()),
        FileKey::KeyFile(path) => (read_key_file(path)?, false, false),
        FileKey::Passphrase(pass) => {
            let (identity, created) = passphrase_identity(dir, pass, &u.work_factor)?;
            (identity, true, created)
        }
        FileKey::Prompt(_) if !u.prompt => return Err(missing()),
        FileKey::Prompt(prompt) => {
            let first_use = match &existing {
                Some(root) => !root.exists(IDENTITY)?,
                None => true,
            };
            let pass = prompt.ask(first_use).ok_or_else(missing)?;
            let (identity, created) = passphrase_identity(dir, &pass, &u.work_factor)?;
            (identity, true, created)
        }
    };
    if let Err(e) = check_recipient(dir, &identity) {
        // A key file won the race to `recipient.txt` while this call created
        // `identity.age`: refused, it goes, or the store would look passphrase-made.
        // Only one this call wrote, which nothing was ever encrypted to.
        if created
            && matches!(e, Error::Locked { .. })
            && let Some(root) = Dir::open_root(dir, false)?
        {
            let _ = root.remove(IDENTITY);
        }
        return Err(e);
    }
    if from_passphrase {
        session::store(&identity, u.session);
    }
    Ok(identity)
}

/// A store with a recipient but no `identity.age` was made with a key file.
fn made_by_key_file(root: &Dir) -> Result<bool, Error> {
    Ok(recipient(root)?.is_some() && !root.exists(IDENTITY)?)
}

fn missing() -> Error {
    Error::Locked {
        reason: format!(
            "the file store needs {PASSPHRASE_ENV} or {KEY_FILE_ENV} (or a passphrase typed on a terminal)"
        ),
    }
}

fn check_recipient(dir: &Path, identity: &age::x25519::Identity) -> Result<(), Error> {
    let public = identity.to_public().to_string();
    let root = Dir::open_root(dir, true)?.expect("just created");
    match recipient(&root)? {
        Some(stored) if stored == public => Ok(()),
        Some(_) => Err(Error::Locked {
            reason: format!(
                "this key does not belong to the file store in {} (its recipient.txt names another key)",
                dir.display()
            ),
        }),
        None => {
            let tmp = super::fs::temp_name("recipient");
            root.write_new(&tmp, format!("{public}\n").as_bytes())?;
            // First writer wins; a racing one with another key is then refused.
            let linked = root.link(&tmp, &root, RECIPIENT);
            let _ = root.remove(&tmp);
            match linked {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    check_recipient(dir, identity)
                }
                Err(e) => Err(io(format!(
                    "creating {}",
                    root.path_of(RECIPIENT).display()
                ))(e)),
            }
        }
    }
}

/// Writes a new age X25519 identity to `path`, as `age-keygen -o` does: a comment
/// naming its public key, then the `AGE-SECRET-KEY-1…` line. Created with `O_EXCL`
/// and mode 0600 (an existing file is never overwritten: it may be the only copy of
/// a key) and synced. A missing parent directory (`~/.config/secrets-engine` on a
/// fresh host) is created, private. Returns the public key (`age1…`).
pub fn create_key_file(path: &Path) -> Result<String, Error> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        dirs.mode(0o700);
        dirs.create(parent)
            .map_err(io(format!("creating {}", parent.display())))?;
    }
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .map_err(io(format!("creating key file {}", path.display())))?;
    let mut text = format!(
        "# secrets-engine file store key\n# public key: {public}\n{}\n",
        identity.to_string().expose_secret()
    );
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    text.zeroize();
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(io(format!("writing key file {}", path.display()))(e));
    }
    Ok(public)
}

fn read_key_file(path: &Path) -> Result<age::x25519::Identity, Error> {
    let mut text = std::fs::read_to_string(path)
        .map_err(io(format!("reading key file {}", path.display())))?;
    let parsed = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .and_then(|l| l.parse::<age::x25519::Identity>().ok());
    text.zeroize();
    parsed.ok_or_else(|| Error::Locked {
        reason: format!(
            "{} holds no age X25519 identity (AGE-SECRET-KEY-1…)",
            path.display()
        ),
    })
}

/// The identity `identity.age` holds, creating it on first use; and whether this
/// call created it.
fn passphrase_identity(
    dir: &Path,
    pass: &SecretString,
    work_factor: &Result<u8, String>,
) -> Result<(age::x25519::Identity, bool), Error> {
    if let Some(root) = Dir::open_root(dir, false)?
        && let Some(bytes) = root.read(IDENTITY, MAX_KEY_FILE)?
    {
        return Ok((
            decrypt_identity(&root.path_of(IDENTITY), &bytes, pass)?,
            false,
        ));
    }
    create_identity(dir, pass, work_factor)
}

/// Checks a work factor given for new identities.
pub(super) fn check_work_factor(log_n: u8) -> Result<u8, String> {
    if (MIN_WORK_FACTOR..=MAX_WORK_FACTOR).contains(&log_n) {
        Ok(log_n)
    } else {
        Err(format!(
            "the file store's scrypt work factor must be {MIN_WORK_FACTOR} to {MAX_WORK_FACTOR} (log2 of N), not {log_n}"
        ))
    }
}

pub(super) fn decrypt_identity(
    path: &Path,
    bytes: &[u8],
    pass: &SecretString,
) -> Result<age::x25519::Identity, Error> {
    let mut scrypt = age::scrypt::Identity::new(pass.clone());
    scrypt.set_max_work_factor(MAX_READ_WORK_FACTOR);
    let mut plain = super::decrypt(&scrypt, bytes).map_err(|e| match e {
        age::DecryptError::DecryptionFailed
        | age::DecryptError::NoMatchingKeys
        | age::DecryptError::KeyDecryptionFailed => Error::Locked {
            reason: format!("wrong passphrase for the file store ({})", path.display()),
        },
        age::DecryptError::ExcessiveWork { required, .. } => Error::Io {
            context: format!("reading {}", path.display()),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "its scrypt work factor 2^{required} is above the 2^{MAX_READ_WORK_FACTOR} this library accepts; refusing to run it"
                ),
            ),
        },
        other => Error::Backend {
            message: format!("cannot read {}: {other}", path.display()),
        },
    })?;
    let parsed = std::str::from_utf8(&plain)
        .ok()
        .and_then(|s| s.trim().parse::<age::x25519::Identity>().ok());
    plain.zeroize();
    parsed.ok_or_else(|| Error::Backend {
        message: format!("{} does not hold an age identity", path.display()),
    })
}

fn create_identity(
    dir: &Path,
    pass: &SecretString,
    work_factor: &Result<u8, String>,
) -> Result<(age::x25519::Identity, bool), Error> {
    let work_factor = work_factor
        .clone()
        .map_err(|message| Error::Backend { message })?;
    let root = Dir::open_root(dir, true)?.expect("just created");
    root.sub("secrets", true)?;
    let identity = age::x25519::Identity::generate();
    let mut recipient = age::scrypt::Recipient::new(pass.clone());
    recipient.set_work_factor(work_factor);
    let sealed = age::encrypt(&recipient, identity.to_string().expose_secret().as_bytes())
        .map_err(|e| Error::Backend {
            message: format!("cannot encrypt the file store identity: {e}"),
        })?;
    let tmp = super::fs::temp_name("identity");
    root.write_new(&tmp, &sealed)?;
    // Linking fails if another process created the identity first: use theirs, so
    // both encrypt to the same key.
    let linked = root.link(&tmp, &root, IDENTITY);
    let _ = root.remove(&tmp);
    match linked {
        Ok(()) => Ok((identity, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let path = root.path_of(IDENTITY);
            let bytes = root
                .read(IDENTITY, MAX_KEY_FILE)?
                .ok_or_else(|| Error::Backend {
                    message: format!("{} vanished while being created", path.display()),
                })?;
            Ok((decrypt_identity(&path, &bytes, pass)?, false))
        }
        Err(e) => Err(io(format!("creating {}", root.path_of(IDENTITY).display()))(e)),
    }
}
