//! The `application/json` codec: the proto3 JSON mapping (protojson) of the messages
//! the server reads and writes (docs/docker-protocol.md §2.3). lowerCamelCase names,
//! Timestamps as RFC 3339 strings in UTC, bytes as padded standard base64, enums by
//! name. Requests: unknown fields are ignored and snake_case names accepted, as
//! connect-go's codec does; an empty body is not a JSON object and is refused.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{Timestamp, health, plugins, resolver};

/// A request body that is not the JSON form of the expected message.
pub(crate) fn bad_json(e: impl std::fmt::Display) -> String {
    format!("invalid JSON request: {e}")
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    if body.is_empty() {
        return Err("zero-length payload is not a valid JSON object".into());
    }
    serde_json::from_slice(body).map_err(bad_json)
}

pub(crate) fn get_secrets_request(body: &[u8]) -> Result<resolver::GetSecretsRequest, String> {
    #[derive(Deserialize)]
    struct Req {
        #[serde(default)]
        pattern: Option<String>,
    }
    let r: Req = parse(body)?;
    Ok(resolver::GetSecretsRequest {
        pattern: r.pattern.unwrap_or_default(),
    })
}

pub(crate) fn authorize_request(body: &[u8]) -> Result<resolver::AuthorizeRequest, String> {
    #[derive(Deserialize)]
    struct Req {
        #[serde(default)]
        patterns: Option<Vec<String>>,
    }
    let r: Req = parse(body)?;
    Ok(resolver::AuthorizeRequest {
        patterns: r.patterns.unwrap_or_default(),
    })
}

pub(crate) fn plugin_name(body: &[u8]) -> Result<plugins::PluginName, String> {
    #[derive(Deserialize)]
    struct Req {
        #[serde(default)]
        name: Option<String>,
    }
    let r: Req = parse(body)?;
    Ok(plugins::PluginName {
        name: r.name.unwrap_or_default(),
    })
}

/// An empty message: any JSON object.
pub(crate) fn empty(body: &[u8]) -> Result<(), String> {
    parse::<serde_json::Map<String, Value>>(body).map(|_| ())
}

/// RFC 3339 in UTC with `Z`, as protojson writes a Timestamp: 0, 3, 6 or 9
/// fractional digits, the fewest that hold the nanoseconds.
pub(crate) fn timestamp(t: Timestamp) -> String {
    const UNSET: &str = "0001-01-01T00:00:00Z";
    let Ok(d) = time::OffsetDateTime::from_unix_timestamp(t.seconds) else {
        return UNSET.to_owned();
    };
    if !(1..=9999).contains(&d.year()) {
        return UNSET.to_owned();
    }
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    );
    let nanos = t.nanos.clamp(0, 999_999_999);
    if nanos == 0 {
    } else if nanos % 1_000_000 == 0 {
        out.push_str(&format!(".{:03}", nanos / 1_000_000));
    } else if nanos % 1_000 == 0 {
        out.push_str(&format!(".{:06}", nanos / 1_000));
    } else {
        out.push_str(&format!(".{nanos:09}"));
    }
    out.push('Z');
    out
}

fn string(out: &mut String, s: &str) {
    // Serialising a &str to JSON cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// `GetSecretsResponse` as JSON, written into one buffer sized up front so the
/// base64 of the values is never left behind by a reallocation; the buffer is zeroed
/// when dropped.
pub(crate) fn get_secrets_response(r: &resolver::GetSecretsResponse) -> Zeroizing<Vec<u8>> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let room: usize = r
        .envelopes
        .iter()
        .map(|e| {
            let meta: usize = e
                .metadata
                .iter()
                .map(|(k, v)| 2 * (k.len() + v.len()) + 8)
                .sum();
            e.value.len().div_ceil(3) * 4
                + 2 * (e.id.len() + e.provider.len() + e.version.len())
                + meta
                + 256
        })
        .sum::<usize>()
        + 32;
    let mut out = Zeroizing::new(String::with_capacity(room));
    out.push_str("{\"envelopes\":[");
    for (i, e) in r.envelopes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"id\":");
        string(&mut out, &e.id);
        out.push_str(",\"value\":\"");
        b64.encode_string(&e.value, &mut out);
        out.push_str("\",\"provider\":");
        string(&mut out, &e.provider);
        out.push_str(",\"version\":");
        string(&mut out, &e.version);
        for (name, t) in [
            ("createdAt", e.created_at),
            ("resolvedAt", e.resolved_at),
            ("expiresAt", e.expires_at),
        ] {
            if let Some(t) = t {
                out.push_str(",\"");
                out.push_str(name);
                out.push_str("\":\"");
                out.push_str(&timestamp(t));
                out.push('"');
            }
        }
        if !e.metadata.is_empty() {
            out.push_str(",\"metadata\":{");
            for (j, (k, v)) in e.metadata.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                string(&mut out, k);
                out.push(':');
                string(&mut out, v);
            }
            out.push('}');
        }
        out.push('}');
    }
    out.push_str("]}");
    Zeroizing::new(std::mem::take(&mut *out).into_bytes())
}

pub(crate) fn authorize_response(r: &resolver::AuthorizeResponse) -> Vec<u8> {
    let decision = resolver::Decision::try_from(r.decision)
        .map(|d| Value::String(d.json_name().into()))
        .unwrap_or_else(|_| json!(r.decision));
    let mut o = json!({ "decision": decision });
    if let Some(t) = r.expires_at {
        o["expiresAt"] = Value::String(timestamp(t));
    }
    o.to_string().into_bytes()
}

pub(crate) fn list_plugins_response(r: &plugins::ListPluginsResponse) -> Vec<u8> {
    let all: Vec<Value> = r
        .plugins
        .iter()
        .map(|p| {
            let status = plugins::RunStatus::try_from(p.run_status)
                .map(|s| Value::String(s.json_name().into()))
                .unwrap_or_else(|_| json!(p.run_status));
            let mut o = json!({
                "name": p.name,
                "version": p.version,
                "disabled": p.disabled,
                "external": p.external,
                "configurable": p.configurable,
                "runStatus": status,
                "statusMessage": p.status_message,
            });
            match &p.metadata {
                Some(plugins::PluginKind::SecretsProvider(s)) => {
                    o["secretsProvider"] = json!({ "pattern": s.pattern });
                }
                Some(plugins::PluginKind::AccessControlModule(_)) => {
                    o["accessControlModule"] = json!({});
                }
                None => {}
            }
            o
        })
        .collect();
    json!({ "plugins": all }).to_string().into_bytes()
}

pub(crate) fn get_version_response(r: &health::GetVersionResponse) -> Vec<u8> {
    json!({ "version": r.version, "date": r.date, "commitHash": r.commit_hash })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(Timestamp::UNSET), "0001-01-01T00:00:00Z");
        assert_eq!(
            timestamp(Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_000_000
            }),
            "2023-11-14T22:13:20.123Z"
        );
        // protojson's widths: 3, 6 or 9 digits, never trimmed further.
        let at = |nanos| {
            timestamp(Timestamp {
                seconds: 1_700_000_000,
                nanos,
            })
        };
        assert_eq!(at(0), "2023-11-14T22:13:20Z");
        assert_eq!(at(500_000_000), "2023-11-14T22:13:20.500Z");
        assert_eq!(at(120_000), "2023-11-14T22:13:20.000120Z");
        assert_eq!(at(7), "2023-11-14T22:13:20.000000007Z");
    }

    #[test]
    fn envelopes_use_protojson_names_and_base64() {
        let r = resolver::GetSecretsResponse {
            envelopes: vec![resolver::Envelope {
                id: "a/b".into(),
                value: vec![0, 0xff, b'x'],
                provider: "memory".into(),
                version: String::new(),
                created_at: Some(Timestamp::UNSET),
                resolved_at: Some(Timestamp {
                    seconds: 0,
                    nanos: 5,
                }),
                expires_at: Some(Timestamp::UNSET),
                metadata: [("k\"".to_string(), "v".to_string())].into(),
            }],
        };
        let out = get_secrets_response(&r);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["envelopes"][0]["value"], "AP94");
        assert_eq!(v["envelopes"][0]["createdAt"], "0001-01-01T00:00:00Z");
        assert_eq!(
            v["envelopes"][0]["resolvedAt"],
            "1970-01-01T00:00:00.000000005Z"
        );
        assert_eq!(v["envelopes"][0]["metadata"]["k\""], "v");
        assert_eq!(v["envelopes"][0]["version"], "");
    }

    #[test]
    fn requests_ignore_unknown_fields_and_refuse_empty_bodies() {
        assert_eq!(
            get_secrets_request(br#"{"pattern":"a/**","extra":1}"#)
                .unwrap()
                .pattern,
            "a/**"
        );
        assert!(get_secrets_request(b"").is_err());
        assert!(get_secrets_request(b"[1]").is_err());
        assert!(empty(b"{}").is_ok());
        assert!(empty(b"").is_err());
    }
}
