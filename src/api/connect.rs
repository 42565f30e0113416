//! The Connect protocol's unary framing, as far as both sides need it: error codes and
//! their HTTP statuses, the error body, codecs and the timeout header
//! (docs/docker-protocol.md §4).

use std::time::Duration;

/// The header carrying the caller's deadline, in milliseconds.
pub(crate) const TIMEOUT_HEADER: &str = "connect-timeout-ms";
/// The protocol version header every connect-go client sends.
pub(crate) const VERSION_HEADER: &str = "connect-protocol-version";
pub(crate) const PROTO: &str = "application/proto";
pub(crate) const JSON: &str = "application/json";
/// How a `failed_precondition` message starts when a provider is locked, which lets a
/// client tell "locked" from "not configurable" while the code stays the one Docker's
/// engine sends.
pub(crate) const LOCKED_PREFIX: &str = "locked: ";

/// A Connect error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl Code {
    const ALL: [Code; 16] = [
        Code::Canceled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The name in error bodies.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Code::Canceled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The HTTP status Connect sends with this code.
    pub(crate) fn http_status(self) -> u16 {
        match self {
            Code::Canceled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }

    /// The code a connect-go client infers from a status when the body says nothing.
    pub(crate) fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Connect error: a code and a message (never a secret value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectError {
    pub(crate) code: Code,
    pub(crate) message: String,
}

impl ConnectError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> ConnectError {
        ConnectError {
            code,
            message: message.into(),
        }
    }

    /// The error body: `{"code":"…","message":"…"}` (`message` left out when empty).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut body = serde_json::json!({ "code": self.code.as_str() });
        if !self.message.is_empty() {
            body["message"] = serde_json::Value::String(self.message.clone());
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Reads an error response as a connect-go client does: the code from the JSON
    /// body when it names one, else from the HTTP status.
    pub(crate) fn from_response(status: u16, json_body: bool, body: &[u8]) -> ConnectError {
        #[derive(serde::Deserialize)]
        struct Body {
            code: Option<String>,
            message: Option<String>,
        }
        let parsed = json_body
            .then(|| serde_json::from_slice::<Body>(body).ok())
            .flatten();
        let code = parsed
            .as_ref()
            .and_then(|b| b.code.as_deref())
            .and_then(Code::parse)
            .unwrap_or_else(|| Code::from_http_status(status));
        let message = parsed
            .and_then(|b| b.message)
            .unwrap_or_else(|| format!("HTTP status {status}"));
        ConnectError { code, message }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The two codecs of Docker's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Proto,
    Json,
}

impl Codec {
    /// The codec a `Content-Type` names (`application/json; charset=utf-8` included).
    pub(crate) fn from_content_type(value: &str) -> Option<Codec> {
        let (media, params) = value.split_once(';').unwrap_or((value, ""));
        let media = media.trim().to_ascii_lowercase();
        match media.as_str() {
            PROTO if params.trim().is_empty() => Some(Codec::Proto),
            JSON => {
                let params = params.trim().to_ascii_lowercase().replace(' ', "");
                (params.is_empty() || params == "charset=utf-8").then_some(Codec::Json)
            }
            _ => None,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Codec::Proto => PROTO,
            Codec::Json => JSON,
        }
    }
}

/// `Connect-Timeout-Ms`: 1 to 10 ASCII digits.
pub(crate) fn parse_timeout(value: &[u8]) -> Option<Duration> {
    if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value)
        .ok()?
        .parse::<u64>()
        .ok()
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_map_to_connects_statuses() {
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(c));
        }
        assert_eq!(Code::NotFound.http_status(), 404);
        assert_eq!(Code::InvalidArgument.http_status(), 400);
        assert_eq!(Code::DeadlineExceeded.http_status(), 504);
        assert_eq!(Code::from_http_status(404), Code::Unimplemented);
    }

    #[test]
    fn error_bodies_are_read_like_connect_go() {
        let e = ConnectError::new(Code::NotFound, "secret not found");
        let body = e.to_json();
        assert_eq!(
            body,
            br#"{"code":"not_found","message":"secret not found"}"#.to_vec()
        );
        assert_eq!(ConnectError::from_response(404, true, &body), e);
        assert_eq!(
            ConnectError::from_response(404, false, b"404 page not found").code,
            Code::Unimplemented
        );
    }

    #[test]
    fn content_types_and_timeouts() {
        assert_eq!(
            Codec::from_content_type("application/json; charset=utf-8"),
            Some(Codec::Json)
        );
        assert_eq!(
            Codec::from_content_type("application/proto"),
            Some(Codec::Proto)
        );
        assert_eq!(Codec::from_content_type("text/plain"), None);
        assert_eq!(parse_timeout(b"1500"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_timeout(b"12345678901"), None);
        assert_eq!(parse_timeout(b"-1"), None);
    }
}
