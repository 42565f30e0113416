//! Docker's secrets-engine API messages (`resolver.v1`, `plugins.v1`, `health.v1`),
//! written here as prost structs: the field numbers and types of Docker's
//! `x/api/*/v1/api.proto` (docs/docker-protocol.md §3), which is what the wire
//! format depends on. Shared by [`EngineClient`](crate::EngineClient) and the
//! server, so both sides cannot drift apart.
//!
//! Docker's files use protobuf edition 2023 (explicit presence); these structs use
//! proto3 implicit presence, which Docker's readers cannot tell apart (they only use
//! `Get*` accessors). Timestamps are messages, so their presence is kept, and the
//! server sends Docker's "unset" time (year 1) rather than omitting one.

pub(crate) mod connect;
#[cfg(feature = "engine-server")]
pub(crate) mod json;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The HTTP paths of the unary methods (`/<package>.<Service>/<Method>`).
pub(crate) mod paths {
    pub(crate) const GET_SECRETS: &str = "/resolver.v1.ResolverService/GetSecrets";
    pub(crate) const AUTHORIZE: &str = "/resolver.v1.AuthorizerService/Authorize";
    pub(crate) const LIST_PLUGINS: &str = "/plugins.v1.PluginManagementService/ListPlugins";
    pub(crate) const ENABLE_PLUGIN: &str = "/plugins.v1.PluginManagementService/EnablePlugin";
    pub(crate) const DISABLE_PLUGIN: &str = "/plugins.v1.PluginManagementService/DisablePlugin";
    pub(crate) const GET_VERSION: &str = "/health.v1.VersionService/GetVersion";
    /// Served by the engine on each plugin connection.
    #[cfg(feature = "docker-plugins")]
    pub(crate) const REGISTER_PLUGIN: &str = "/plugins.v1.RegisterService/RegisterPlugin";
    /// Served by each plugin.
    #[cfg(feature = "docker-plugins")]
    pub(crate) const PLUGIN_SHUTDOWN: &str = "/plugins.v1.PluginService/Shutdown";
    /// Served by access-control modules.
    #[cfg(feature = "docker-plugins")]
    pub(crate) const CHECK_ACCESS: &str = "/accesscontrol.v1.AccessControlService/CheckAccess";
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub(crate) struct Timestamp {
    #[prost(int64, tag = "1")]
    pub(crate) seconds: i64,
    #[prost(int32, tag = "2")]
    pub(crate) nanos: i32,
}

/// Seconds from 0001-01-01T00:00:00Z to the Unix epoch: Go's zero `time.Time`, which
/// Docker's servers send for a time they do not know.
pub(crate) const UNSET_SECONDS: i64 = -62_135_596_800;

impl Timestamp {
    /// Docker's "unset" time (year 1).
    pub(crate) const UNSET: Timestamp = Timestamp {
        seconds: UNSET_SECONDS,
        nanos: 0,
    };

    pub(crate) fn from_time(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
            },
            Err(before) => {
                let d = before.duration();
                let mut seconds = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let mut nanos = i32::try_from(d.subsec_nanos()).unwrap_or(0);
                if nanos > 0 {
                    seconds -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                Timestamp { seconds, nanos }
            }
        }
    }

    pub(crate) fn from_option(t: Option<SystemTime>) -> Timestamp {
        t.map_or(Timestamp::UNSET, Timestamp::from_time)
    }

    /// The time, or `None` for Docker's unset values (year 1, or absent, which Go
    /// reads as the Unix epoch) and for values out of range.
    pub(crate) fn to_time(t: Option<Timestamp>) -> Option<SystemTime> {
        let t = t?;
        if t.seconds <= UNSET_SECONDS || (t.seconds == 0 && t.nanos == 0) {
            return None;
        }
        let nanos = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000)?;
        if t.seconds >= 0 {
            UNIX_EPOCH.checked_add(Duration::new(t.seconds.unsigned_abs(), nanos))
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_secs(t.seconds.unsigned_abs()))?
                .checked_add(Duration::from_nanos(nanos.into()))
        }
    }
}

/// `google.protobuf.Duration`.
#[cfg(feature = "docker-plugins")]
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub(crate) seconds: i64,
    #[prost(int32, tag = "2")]
    pub(crate) nanos: i32,
}

#[cfg(feature = "docker-plugins")]
impl ProtoDuration {
    pub(crate) fn from_duration(d: Duration) -> ProtoDuration {
        ProtoDuration {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        }
    }
}

/// `resolver.v1`.
pub(crate) mod resolver {
    use std::collections::BTreeMap;

    use super::Timestamp;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct GetSecretsRequest {
        #[prost(string, tag = "1")]
        pub(crate) pattern: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct GetSecretsResponse {
        #[prost(message, repeated, tag = "1")]
        pub(crate) envelopes: Vec<Envelope>,
    }

    /// `GetSecretsResponse.Envelope`. Its `Debug` leaves the value out; whoever
    /// held a value here zeroes it ([`Envelope::wipe`]) before the message is dropped.
    #[derive(Clone, PartialEq, prost::Message)]
    #[prost(skip_debug)]
    pub(crate) struct Envelope {
        #[prost(string, tag = "1")]
        pub(crate) id: String,
        #[prost(bytes = "vec", tag = "2")]
        pub(crate) value: Vec<u8>,
        #[prost(string, tag = "3")]
        pub(crate) provider: String,
        #[prost(string, tag = "4")]
        pub(crate) version: String,
        #[prost(message, optional, tag = "5")]
        pub(crate) created_at: Option<Timestamp>,
        #[prost(message, optional, tag = "6")]
        pub(crate) resolved_at: Option<Timestamp>,
        #[prost(message, optional, tag = "7")]
        pub(crate) expires_at: Option<Timestamp>,
        #[prost(btree_map = "string, string", tag = "8")]
        pub(crate) metadata: BTreeMap<String, String>,
    }

    impl std::fmt::Debug for Envelope {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Envelope")
                .field("id", &self.id)
                .field("provider", &self.provider)
                .finish_non_exhaustive()
        }
    }

    impl Envelope {
        /// Zeroes the value.
        pub(crate) fn wipe(&mut self) {
            zeroize::Zeroize::zeroize(&mut self.value);
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct AuthorizeRequest {
        #[prost(string, repeated, tag = "1")]
        pub(crate) patterns: Vec<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct AuthorizeResponse {
        #[prost(enumeration = "Decision", tag = "1")]
        pub(crate) decision: i32,
        #[prost(message, optional, tag = "2")]
        pub(crate) expires_at: Option<Timestamp>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
    #[repr(i32)]
    pub(crate) enum Decision {
        Deny = 0,
        Allow = 1,
    }

    impl Decision {
        pub(crate) fn json_name(self) -> &'static str {
            match self {
                Decision::Deny => "DECISION_DENY",
                Decision::Allow => "DECISION_ALLOW",
            }
        }
    }
}

/// `plugins.v1` (the management service; registration comes with plugin hosting).
pub(crate) mod plugins {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct ListPluginsRequest {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct ListPluginsResponse {
        #[prost(message, repeated, tag = "1")]
        pub(crate) plugins: Vec<Plugin>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Plugin {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) version: String,
        #[prost(bool, tag = "3")]
        pub(crate) disabled: bool,
        #[prost(bool, tag = "4")]
        pub(crate) external: bool,
        #[prost(bool, tag = "5")]
        pub(crate) configurable: bool,
        #[prost(enumeration = "RunStatus", tag = "6")]
        pub(crate) run_status: i32,
        #[prost(string, tag = "7")]
        pub(crate) status_message: String,
        #[prost(oneof = "PluginKind", tags = "8, 9")]
        pub(crate) metadata: Option<PluginKind>,
    }

    /// `Plugin.metadata`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(crate) enum PluginKind {
        #[prost(message, tag = "8")]
        SecretsProvider(SecretsProvider),
        #[prost(message, tag = "9")]
        AccessControlModule(AccessControlModule),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct SecretsProvider {
        #[prost(string, tag = "1")]
        pub(crate) pattern: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct AccessControlModule {}

    #[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
    #[repr(i32)]
    pub(crate) enum RunStatus {
        Unspecified = 0,
        Running = 1,
        Stopped = 2,
        Crashed = 3,
        RetriesExceeded = 4,
    }

    impl RunStatus {
        pub(crate) fn json_name(self) -> &'static str {
            match self {
                RunStatus::Unspecified => "RUN_STATUS_UNSPECIFIED",
                RunStatus::Running => "RUN_STATUS_RUNNING",
                RunStatus::Stopped => "RUN_STATUS_STOPPED",
                RunStatus::Crashed => "RUN_STATUS_CRASHED",
                RunStatus::RetriesExceeded => "RUN_STATUS_RETRIES_EXCEEDED",
            }
        }
    }

    /// `EnablePluginRequest` and `DisablePluginRequest` (the same shape).
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct PluginName {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
    }

    /// `RegisterPluginRequest`: what a plugin says about itself on connecting.
    #[cfg(feature = "docker-plugins")]
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct RegisterPluginRequest {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) version: String,
        #[prost(oneof = "RegisterKind", tags = "3, 4")]
        pub(crate) metadata: Option<RegisterKind>,
    }

    /// `RegisterPluginRequest.metadata`.
    #[cfg(feature = "docker-plugins")]
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(crate) enum RegisterKind {
        #[prost(message, tag = "3")]
        SecretsProvider(SecretsProvider),
        #[prost(message, tag = "4")]
        AccessControlModule(AccessControlModule),
    }

    /// `RegisterPluginResponse`.
    #[cfg(feature = "docker-plugins")]
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct RegisterPluginResponse {
        #[prost(string, tag = "1")]
        pub(crate) engine_name: String,
        #[prost(string, tag = "2")]
        pub(crate) engine_version: String,
        #[prost(message, optional, tag = "3")]
        pub(crate) request_timeout: Option<super::ProtoDuration>,
    }

    /// `EnablePluginResponse` and `DisablePluginResponse`, and every other empty message.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Empty {}
}

/// `accesscontrol.v1`: what the engine asks an access-control module before a lookup.
#[cfg(feature = "docker-plugins")]
pub(crate) mod accesscontrol {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct CheckAccessRequest {
        #[prost(string, tag = "1")]
        pub(crate) pattern: String,
        #[prost(message, optional, tag = "2")]
        pub(crate) requester: Option<Requester>,
    }

    /// `Requester`, without the signing details (not derived here).
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Requester {
        #[prost(int32, optional, tag = "1")]
        pub(crate) pid: Option<i32>,
        #[prost(string, tag = "2")]
        pub(crate) name: String,
        #[prost(string, tag = "3")]
        pub(crate) absolute_binary_path: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct CheckAccessResponse {
        /// `accesscontrol.v1.Decision`: 0 deny, 1 allow.
        #[prost(int32, tag = "1")]
        pub(crate) decision: i32,
    }

    pub(crate) const ALLOW: i32 = 1;
}

/// `health.v1`.
pub(crate) mod health {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct GetVersionResponse {
        #[prost(string, tag = "1")]
        pub(crate) version: String,
        #[prost(string, tag = "2")]
        pub(crate) date: String,
        #[prost(string, tag = "3")]
        pub(crate) commit_hash: String,
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// The byte examples of docs/docker-protocol.md §3, which came from Docker's code.
    #[test]
    fn wire_matches_dockers_examples() {
        let req = resolver::GetSecretsRequest {
            pattern: "foo/**".into(),
        };
        assert_eq!(
            req.encode_to_vec(),
            [0x0a, 0x06, b'f', b'o', b'o', b'/', b'*', b'*']
        );
        let unset = Timestamp::UNSET.encode_to_vec();
        assert_eq!(
            unset,
            [
                0x08, 0x80, 0x92, 0xb8, 0xc3, 0x98, 0xfe, 0xff, 0xff, 0xff, 0x01
            ]
        );
    }

    /// The registration examples of docs/docker-protocol.md §3.2.
    #[cfg(feature = "docker-plugins")]
    #[test]
    fn registration_matches_dockers_examples() {
        let req = plugins::RegisterPluginRequest {
            name: "my-plugin".into(),
            version: "v1.0.0".into(),
            metadata: Some(plugins::RegisterKind::SecretsProvider(
                plugins::SecretsProvider {
                    pattern: "**".into(),
                },
            )),
        };
        let mut want = vec![0x0a, 0x09];
        want.extend_from_slice(b"my-plugin");
        want.extend_from_slice(&[0x12, 0x06]);
        want.extend_from_slice(b"v1.0.0");
        want.extend_from_slice(&[0x1a, 0x04, 0x0a, 0x02, b'*', b'*']);
        assert_eq!(req.encode_to_vec(), want);
        let resp = plugins::RegisterPluginResponse {
            engine_name: "docker-pass".into(),
            engine_version: "v0.1.0".into(),
            request_timeout: Some(ProtoDuration::from_duration(Duration::ZERO)),
        };
        let mut want = vec![0x0a, 0x0b];
        want.extend_from_slice(b"docker-pass");
        want.extend_from_slice(&[0x12, 0x06]);
        want.extend_from_slice(b"v0.1.0");
        want.extend_from_slice(&[0x1a, 0x00]);
        assert_eq!(resp.encode_to_vec(), want);
    }

    #[test]
    fn times_round_trip_and_unset_reads_as_none() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_000_000);
        assert_eq!(Timestamp::to_time(Some(Timestamp::from_time(t))), Some(t));
        assert_eq!(Timestamp::to_time(Some(Timestamp::UNSET)), None);
        assert_eq!(Timestamp::to_time(None), None);
        assert_eq!(Timestamp::to_time(Some(Timestamp::default())), None);
        let before = UNIX_EPOCH - Duration::new(10, 250_000_000);
        let ts = Timestamp::from_time(before);
        assert_eq!((ts.seconds, ts.nanos), (-11, 750_000_000));
        assert_eq!(Timestamp::to_time(Some(ts)), Some(before));
    }
}
