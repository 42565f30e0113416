//! The keychain's read path, spoken directly over D-Bus: a Secret Service session of
//! our own, item searches, item properties and one `GetSecrets` for many items.
//!
//! The `secret-service` crate fetches secrets one item at a time (`Item.GetSecret`)
//! and keeps its session key private, so a batch of lookups cannot share one
//! `Service.GetSecrets`; this module does what the crate does for reads, batched.
//! Writes still go through the crate.
//!
//! Transport encryption is the Secret Service's `dh-ietf1024-sha256-aes128-cbc-pkcs7`
//! (what libsecret uses): a Diffie-Hellman exchange over the 1024-bit MODP group of
//! RFC 2409 §6.2, HKDF-SHA256 of the shared secret (no salt, no info) to a 16-byte
//! key, and AES-128-CBC with PKCS#7 padding for each secret, its IV in the secret's
//! `parameters`.

use std::collections::HashMap;

use aes::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use num_bigint::BigUint;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;
use crate::secret::SecretValue;

const PATH: &str = "/org/freedesktop/secrets";
const SERVICE: &str = "org.freedesktop.Secret.Service";
const ITEM: &str = "org.freedesktop.Secret.Item";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
const ALGORITHM: &str = "dh-ietf1024-sha256-aes128-cbc-pkcs7";

/// The 1024-bit MODP group's prime (RFC 2409 §6.2, "Second Oakley Group"); the
/// generator is 2.
const PRIME: [u8; 128] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED,
    0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11, 0x7C, 0x4B, 0x1F, 0xE6,
    0x49, 0x28, 0x66, 0x51, 0xEC, 0xE6, 0x53, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

/// Length of our private exponent: 256 bits, over twice the group's ~80-bit
/// strength (NIST SP 800-56A asks for at least twice), and a quarter of the cost of
/// a full-size exponent in the two modular exponentiations a session takes.
const PRIVATE_BYTES: usize = 32;

/// Where to send calls: the bus connection and the unique name owning the service
/// (addressing the owner, not `org.freedesktop.secrets`, means a call can never
/// trigger D-Bus activation).
#[derive(Clone)]
pub(super) struct Peer {
    pub(super) bus: zbus::Connection,
    pub(super) owner: String,
    /// The service matches search attributes exactly, as the Secret Service
    /// specification asks: true for gnome-keyring only. KeePassXC, for one, matches
    /// loosely (a value can match a longer one), so elsewhere every found item's
    /// attributes are read back before it answers an id.
    pub(super) exact_search: bool,
}

/// An open session: its object path and the AES key secrets come encrypted with.
pub(super) struct Session {
    path: OwnedObjectPath,
    key: Zeroizing<[u8; 16]>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("path", &self.path.as_str())
            .finish_non_exhaustive()
    }
}

/// What a Secret Service call failed with, as the crate's error.
fn backend(e: zbus::Error) -> Error {
    if let zbus::Error::MethodError(name, _, _) = &e
        && name.as_str() == "org.freedesktop.Secret.Error.IsLocked"
    {
        return super::locked();
    }
    Error::Backend {
        message: format!("Secret Service: {e}"),
    }
}

fn malformed(what: &str) -> Error {
    Error::Backend {
        message: format!("Secret Service: malformed {what}"),
    }
}

impl Peer {
    async fn call<B, R>(
        &self,
        path: &str,
        interface: &str,
        method: &str,
        body: &B,
    ) -> Result<R, Error>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        let reply = self
            .bus
            .call_method(
                Some(self.owner.as_str()),
                path,
                Some(interface),
                method,
                body,
            )
            .await
            .map_err(backend)?;
        reply.body().deserialize::<R>().map_err(backend)
    }

    /// Opens an encrypted session (one `Service.OpenSession`) with our half of the
    /// key exchange, made beforehand by [`KeyPair::generate`].
    pub(super) async fn open_session(&self, ours: KeyPair) -> Result<Session, Error> {
        let prime = BigUint::from_bytes_be(&PRIME);
        let (output, path): (OwnedValue, OwnedObjectPath) = self
            .call(
                PATH,
                SERVICE,
                "OpenSession",
                &(ALGORITHM, Value::from(ours.public.clone())),
            )
            .await?;
        let theirs: Vec<u8> = output
            .try_into()
            .map_err(|_| malformed("session key exchange"))?;
        let theirs = BigUint::from_bytes_be(&theirs);
        if theirs <= BigUint::from(1u8) || theirs >= &prime - 1u8 {
            return Err(malformed("session public key"));
        }
        let mut shared_n = theirs.modpow(&ours.private, &prime);
        let mut shared = shared_n.to_bytes_be();
        drop(ours);
        wipe(&mut shared_n);
        // Left-pad to the group size, as the other side computes it.
        let mut ikm = Zeroizing::new(vec![0u8; 128usize.saturating_sub(shared.len())]);
        ikm.extend_from_slice(&shared);
        shared.zeroize();
        let mut key = Zeroizing::new([0u8; 16]);
        hkdf::Hkdf::<sha2::Sha256>::new(None, &ikm)
            .expand(&[], key.as_mut())
            .map_err(|_| malformed("session key length"))?;
        Ok(Session { path, key })
    }

    /// Item paths whose attributes include all of `attributes` (`Service.SearchItems`):
    /// `(unlocked, locked)`.
    pub(super) async fn search(
        &self,
        attributes: &HashMap<&str, &str>,
    ) -> Result<(Vec<OwnedObjectPath>, Vec<OwnedObjectPath>), Error> {
        self.call(PATH, SERVICE, "SearchItems", &(attributes,))
            .await
    }

    /// An item's attributes (one `Properties.Get`).
    ///
    /// One property, not `GetAll`: gnome-keyring looks the item up once per property
    /// it answers, so `GetAll` (five properties) costs the service about three times
    /// as much as this, a cost that adds up over hundreds of items.
    pub(super) async fn item_attributes(
        &self,
        item: &OwnedObjectPath,
    ) -> Result<HashMap<String, String>, Error> {
        let value: OwnedValue = self
            .call(item.as_str(), PROPERTIES, "Get", &(ITEM, "Attributes"))
            .await?;
        value.try_into().map_err(|_| malformed("item attributes"))
    }

    /// The secrets of `items`, in one `Service.GetSecrets`. Items missing from the
    /// answer (deleted meanwhile, or locked) are missing from the result.
    pub(super) async fn secrets(
        &self,
        session: &Session,
        items: &[&OwnedObjectPath],
    ) -> Result<HashMap<OwnedObjectPath, SecretValue>, Error> {
        type Secret = (OwnedObjectPath, Vec<u8>, Vec<u8>, String);
        let paths: Vec<&OwnedObjectPath> = items.to_vec();
        let answer: HashMap<OwnedObjectPath, Secret> = self
            .call(PATH, SERVICE, "GetSecrets", &(paths, &session.path))
            .await?;
        let mut out = HashMap::with_capacity(answer.len());
        for (path, (_, iv, mut value, _)) in answer {
            let plain = session.decrypt(&iv, &mut value);
            value.zeroize();
            out.insert(path, plain?);
        }
        Ok(out)
    }
}

/// Our half of a session's key exchange: a private exponent and `2^private mod p`.
///
/// Made apart from [`Peer::open_session`] so that its modular exponentiation can run
/// while the bus connection is still being set up.
pub(super) struct KeyPair {
    private: BigUint,
    public: Vec<u8>,
}

impl KeyPair {
    pub(super) fn generate() -> Result<KeyPair, Error> {
        let prime = BigUint::from_bytes_be(&PRIME);
        let mut private_bytes = Zeroizing::new([0u8; PRIVATE_BYTES]);
        getrandom::fill(private_bytes.as_mut()).map_err(|e| Error::Unavailable {
            reason: format!("no randomness for the keychain session: {e}"),
        })?;
        let private = BigUint::from_bytes_be(private_bytes.as_ref());
        let public = BigUint::from(2u8).modpow(&private, &prime).to_bytes_be();
        Ok(KeyPair { private, public })
    }
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        wipe(&mut self.private);
    }
}

impl Session {
    fn decrypt(&self, iv: &[u8], ciphertext: &mut [u8]) -> Result<SecretValue, Error> {
        let cipher = cbc::Decryptor::<aes::Aes128>::new_from_slices(self.key.as_ref(), iv)
            .map_err(|_| malformed("secret (bad IV length)"))?;
        let plain = cipher
            .decrypt_padded::<Pkcs7>(ciphertext)
            .map_err(|_| malformed("secret (it does not decrypt)"))?;
        Ok(SecretValue::from(plain))
    }
}

/// Overwrites a number's digits before it is freed: num-bigint has no zeroize, but
/// assigning as many zero digits writes them into the same buffer. (The temporaries
/// inside `modpow` are out of reach; they hold powers of the base, not the key.)
fn wipe(n: &mut BigUint) {
    let digits = n.iter_u32_digits().len();
    n.assign_from_slice(&vec![0u32; digits]);
}
