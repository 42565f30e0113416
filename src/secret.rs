//! Secret bytes that wipe themselves and never print.

use std::fmt;

use zeroize::Zeroize;

/// A secret value: arbitrary bytes (binary, empty, non-UTF-8 all allowed), zeroed when
/// dropped. `Debug` and `Display` print a redaction, never the bytes; the only way to
/// read them is [`expose`](SecretValue::expose), so every read is visible in code review.
///
/// ```
/// use secrets_engine::SecretValue;
/// let v = SecretValue::from("hunter2");
/// assert_eq!(v.expose(), b"hunter2");
/// assert_eq!(format!("{v}"), "********");
/// assert!(!format!("{v:?}").contains("hunter2"));
/// ```
#[derive(Clone, Default)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    /// Wraps bytes without copying them.
    ///
    /// ```
    /// # use secrets_engine::SecretValue;
    /// assert_eq!(SecretValue::new(vec![0, 159, 255]).len(), 3);
    /// ```
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(bytes)
    }

    /// The secret bytes.
    ///
    /// ```
    /// # use secrets_engine::SecretValue;
    /// assert_eq!(SecretValue::from(&b"\x00\xff"[..]).expose(), b"\x00\xff");
    /// ```
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8 text, when it is.
    ///
    /// ```
    /// # use secrets_engine::SecretValue;
    /// assert_eq!(SecretValue::from("x").expose_str(), Some("x"));
    /// assert_eq!(SecretValue::new(vec![0xff]).expose_str(), None);
    /// ```
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Length in bytes (not secret: storage backends reveal it anyway).
    ///
    /// ```
    /// # use secrets_engine::SecretValue;
    /// assert_eq!(SecretValue::from("abc").len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty secret.
    ///
    /// ```
    /// # use secrets_engine::SecretValue;
    /// assert!(SecretValue::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Hands the bytes over to the caller, who becomes responsible for wiping them.
    ///
    /// ```
    /// # use secrets_engine::SecretValue;
    /// let mut bytes = SecretValue::from("x").into_bytes();
    /// zeroize::Zeroize::zeroize(&mut bytes);
    /// ```
    pub fn into_bytes(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for SecretValue {}

impl From<Vec<u8>> for SecretValue {
    fn from(v: Vec<u8>) -> Self {
        SecretValue(v)
    }
}
impl From<&[u8]> for SecretValue {
    fn from(v: &[u8]) -> Self {
        SecretValue(v.to_vec())
    }
}
impl From<&str> for SecretValue {
    fn from(v: &str) -> Self {
        SecretValue(v.as_bytes().to_vec())
    }
}
impl From<String> for SecretValue {
    fn from(v: String) -> Self {
        SecretValue(v.into_bytes())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}
