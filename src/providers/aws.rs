//! The `aws-secrets-manager` provider (cargo feature `aws`): AWS Secrets Manager
//! through the official SDK, standard credential chain, region and endpoint override.
//!
//! Ids are secret names (names outside the id grammar, e.g. with `+=@`, are skipped
//! and logged). String and binary secrets both resolve, byte for byte. With JSON keys
//! on (the default), a secret whose value is a JSON object also answers to
//! `<name>/<key>` for each top-level key. A pattern is answered with `ListSecrets`
//! filtered by the pattern's literal prefix (paged), then `BatchGetSecretValue` in
//! groups of 20. A secret scheduled for deletion is "not found".

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};

use async_trait::async_trait;

use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::Resolver;
use crate::secret::SecretValue;

/// The provider's user-visible name.
pub const NAME: &str = "aws-secrets-manager";

/// How to reach Secrets Manager; `None` fields come from the standard chain
/// (`AWS_REGION`, `AWS_ENDPOINT_URL`, profiles, instance roles, ...).
#[derive(Clone, Default)]
pub struct AwsOptions {
    /// Region, e.g. `eu-west-1`.
    pub region: Option<String>,
    /// Endpoint override (a local emulator, a VPC endpoint).
    pub endpoint: Option<String>,
    /// Static access key id and secret, instead of the credential chain.
    pub static_credentials: Option<(String, SecretValue)>,
    /// Whether `<name>/<key>` addresses top-level keys of JSON secrets (default on).
    pub json_keys: Option<bool>,
    /// Page size of `ListSecrets` (default 100).
    pub page_size: Option<i32>,
    /// Secrets one pattern lookup may read at most (default 1000).
    pub max_secrets: Option<usize>,
}

impl std::fmt::Debug for AwsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsOptions")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field(
                "static_credentials",
                &self
                    .static_credentials
                    .as_ref()
                    .map(|(id, _)| (id, "<redacted>")),
            )
            .finish_non_exhaustive()
    }
}

/// The AWS Secrets Manager provider (see the [module docs](self)).
#[derive(Debug)]
pub struct AwsSecretsManager {
    client: Client,
    json_keys: bool,
    page_size: i32,
    max_secrets: usize,
}

fn service_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    e: SdkError<E, HttpResponse>,
) -> Error {
    match &e {
        SdkError::TimeoutError(_) => Error::Timeout {
            after: std::time::Duration::from_secs(0),
        },
        SdkError::DispatchFailure(d) => Error::Unavailable {
            reason: format!("aws-secrets-manager: {what}: cannot reach the service ({d:?})"),
        },
        SdkError::ServiceError(s) => {
            let err = s.err();
            let raw = s.raw();
            // An error body the SDK cannot parse (not JSON: a proxy's page, moto's
            // XML refusals) leaves no code: the HTTP status still says what happened.
            let code = err.code().unwrap_or("unknown");
            let status = raw.status().as_u16();
            match code {
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException" => Error::PermissionDenied {
                    reason: format!("aws-secrets-manager: {what}: {code}"),
                },
                _ if matches!(status, 401 | 403) => Error::PermissionDenied {
                    reason: format!("aws-secrets-manager: {what}: {code} (HTTP {status})"),
                },
                _ => Error::Backend {
                    message: format!(
                        "aws-secrets-manager: {what}: {code} (HTTP {status}): {}",
                        err.message().unwrap_or("")
                    ),
                },
            }
        }
        other => Error::Unavailable {
            reason: format!("aws-secrets-manager: {what}: {other}"),
        },
    }
}

fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("");
            // A secret scheduled for deletion answers InvalidRequestException.
            code == "ResourceNotFoundException"
                || (code == "InvalidRequestException"
                    && s.err().message().unwrap_or("").contains("marked")
                    && s.err().message().unwrap_or("").contains("delet"))
        }
        _ => false,
    }
}

/// One fetched secret, as the SDK gives it.
struct Fetched {
    name: String,
    bytes: Vec<u8>,
    version: Option<String>,
    created: Option<std::time::SystemTime>,
}

impl AwsSecretsManager {
    /// Builds the client (loads region and credentials; no network call).
    pub async fn new(options: AwsOptions) -> AwsSecretsManager {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = options.region {
            loader = loader.region(aws_config::Region::new(r));
        }
        if let Some(e) = options.endpoint {
            loader = loader.endpoint_url(e);
        }
        if let Some((id, secret)) = options.static_credentials {
            let secret = secret.expose_str().unwrap_or_default().to_owned();
            loader = loader.credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                id, secret, None, None, "static",
            ));
        }
        let config = loader.load().await;
        AwsSecretsManager {
            client: Client::new(&config),
            json_keys: options.json_keys.unwrap_or(true),
            page_size: options.page_size.unwrap_or(100),
            max_secrets: options.max_secrets.unwrap_or(1000),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<Fetched>, Error> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => Ok(Some(Fetched {
                name: name.to_owned(),
                bytes: out
                    .secret_string()
                    .map(|s| s.as_bytes().to_vec())
                    .or_else(|| out.secret_binary().map(|b| b.as_ref().to_vec()))
                    .unwrap_or_default(),
                version: out.version_id().map(str::to_owned),
                created: out
                    .created_date()
                    .and_then(|d| std::time::SystemTime::try_from(*d).ok()),
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(service_error(&format!("read {name}"), e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self.client.list_secrets().max_results(self.page_size);
            if !prefix.is_empty() {
                req = req.filters(
                    Filter::builder()
                        .key(FilterNameStringType::Name)
                        .values(prefix)
                        .build(),
                );
            }
            if let Some(t) = &token {
                req = req.next_token(t);
            }
            let out = req
                .send()
                .await
                .map_err(|e| service_error("list secrets", e))?;
            names.extend(
                out.secret_list()
                    .iter()
                    .filter_map(|s| s.name().map(str::to_owned)),
            );
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    async fn batch(&self, names: &[String]) -> Result<Vec<Fetched>, Error> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(20) {
            let got = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| service_error("batch read", e))?;
            // Per-secret errors: not found is fine, anything else is reported.
            for e in got.errors() {
                let code = e.error_code().unwrap_or("unknown");
                let name = e.secret_id().unwrap_or("?");
                match code {
                    "ResourceNotFoundException" => {}
                    "AccessDeniedException" => {
                        return Err(Error::PermissionDenied {
                            reason: format!("aws-secrets-manager: read {name}: {code}"),
                        });
                    }
                    _ => {
                        return Err(Error::Backend {
                            message: format!("aws-secrets-manager: read {name}: {code}"),
                        });
                    }
                }
            }
            for v in got.secret_values() {
                out.push(Fetched {
                    name: v.name().unwrap_or_default().to_owned(),
                    bytes: v
                        .secret_string()
                        .map(|s| s.as_bytes().to_vec())
                        .or_else(|| v.secret_binary().map(|b| b.as_ref().to_vec()))
                        .unwrap_or_default(),
                    version: v.version_id().map(str::to_owned),
                    created: v
                        .created_date()
                        .and_then(|d| std::time::SystemTime::try_from(*d).ok()),
                });
            }
        }
        Ok(out)
    }

    /// Envelopes for a fetched secret: itself, and its JSON keys when asked for.
    fn envelopes(&self, f: Fetched, pattern: &Pattern, out: &mut Vec<Envelope>) {
        let Ok(id) = Id::parse(&f.name) else {
            tracing::debug!(name = %f.name, "secret name outside the id grammar skipped");
            return;
        };
        let meta = |key: Option<&str>| {
            let mut m = Metadata::from([("name".to_string(), f.name.clone())]);
            if let Some(k) = key {
                m.insert("json_key".into(), k.into());
            }
            m
        };
        let stamp = |mut e: Envelope| {
            if let Some(v) = &f.version {
                e = e.with_version(v.clone());
            }
            if let Some(t) = f.created {
                e = e.with_created_at(t);
            }
            e
        };
        if self.json_keys
            && let Ok(serde_json::Value::Object(map)) =
                serde_json::from_slice::<serde_json::Value>(&f.bytes)
        {
            for (k, v) in map {
                let Ok(kid) = Id::parse(&format!("{id}/{k}")) else {
                    continue;
                };
                if pattern.matches(&kid) {
                    let bytes = match v {
                        serde_json::Value::String(s) => s.into_bytes(),
                        other => other.to_string().into_bytes(),
                    };
                    out.push(stamp(
                        Envelope::new(kid, SecretValue::new(bytes)).with_metadata(meta(Some(&k))),
                    ));
                }
            }
        }
        if pattern.matches(&id) {
            out.push(stamp(
                Envelope::new(id, SecretValue::new(f.bytes)).with_metadata(meta(None)),
            ));
        }
    }
}

#[async_trait]
impl Resolver for AwsSecretsManager {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let mut out = Vec::new();
        if let Some(id) = pattern.as_id() {
            if let Some(f) = self.get(id.as_str()).await? {
                self.envelopes(f, pattern, &mut out);
            } else if self.json_keys && id.len() >= 2 {
                // `<name>/<key>`: the key of a JSON secret.
                let parent: Vec<&str> = id.components().take(id.len() - 1).collect();
                if let Some(f) = self.get(&parent.join("/")).await? {
                    self.envelopes(f, pattern, &mut out);
                }
            }
            return Ok(out);
        }
        let prefix: Vec<&str> = pattern.literal_prefix().collect();
        let names: Vec<String> = self
            .list(&prefix.join("/"))
            .await?
            .into_iter()
            .filter(|n| {
                if Id::parse(n).is_err() {
                    tracing::debug!(name = %n, "secret name outside the id grammar skipped");
                }
                Id::parse(n).is_ok_and(|id| {
                    pattern.matches(&id)
                        || (self.json_keys
                            && Pattern::parse(&format!("{id}/*"))
                                .is_ok_and(|p| p.overlaps(pattern)))
                })
            })
            .collect();
        if names.len() > self.max_secrets {
            return Err(Error::Backend {
                message: format!(
                    "aws-secrets-manager: {pattern} covers {} secrets, more than {}; narrow the pattern or raise the limit",
                    names.len(),
                    self.max_secrets
                ),
            });
        }
        for f in self.batch(&names).await? {
            self.envelopes(f, pattern, &mut out);
        }
        Ok(out)
    }
}
