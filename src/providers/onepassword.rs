//! The 1Password providers, both through the `op` CLI:
//!
//! - `1password-cli`: the signed-in `op` of the user (desktop-app integration);
//! - `1password-sdk`: a service account, its token kept in the default store under
//!   [`TOKEN_ID`] (the engine's internal realm) and given to `op` only through its
//!   environment, with `--vault` on every item call as service accounts require.
//!
//! Ids: every item answers to its raw id, `<vault-id>/<title>` and
//! `<vault-name>/<title>`, names normalized as 1Password does and compared
//! case-insensitively (the provider says so, the engine honours it); a field answers
//! to `<item id>/<label>` and `<item id>/<section>/<label>`. An item-level id
//! resolves to the item's primary secret (PASSWORD purpose, else a field labelled
//! credential/password/token, else the first concealed field).
//!
//! The index of vaults and items is built on first use (after `op whoami`), rebuilt
//! when older than the refresh interval (default 5 minutes) and once on a miss (at
//! most every 10 seconds). Item details (values) are fetched on demand with
//! `op item get --reveal`, cached for the same interval, and concurrent lookups of
//! one item share one `op` call. `op` missing and a dismissed or timed-out
//! authorization prompt crash the provider (it stays crashed until enabled again);
//! other failures are ordinary errors.

pub(crate) mod model;
pub(crate) mod op;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use zeroize::Zeroize;

use crate::envelope::{Envelope, Metadata};
use crate::error::Error;
use crate::id::Id;
use crate::pattern::Pattern;
use crate::resolver::{Resolver, Store};
use crate::secret::SecretValue;
use model::{ItemDetail, ItemSummary, Vault};

/// Name of the signed-in CLI provider.
pub const CLI_NAME: &str = "1password-cli";
/// Name of the service-account provider.
pub const SDK_NAME: &str = "1password-sdk";
/// Where the service-account token is kept (hidden from lookups and `ls`).
pub const TOKEN_ID: &str = "docker/secrets-engine/1password/service-account-token";
/// The engine deadline the default engine gives the 1Password providers: longer
/// than `op`'s own, so an authorization timeout is seen as such.
pub const DEADLINE: Duration = Duration::from_secs(150);
/// Environment variable naming the `op` executable (default: `op` from PATH).
pub const OP_ENV: &str = "SECRETS_ENGINE_OP";

const MISS_REFRESH_EVERY: Duration = Duration::from_secs(10);
/// How many `op item get` calls a pattern lookup runs at once: enough to hide `op`'s
/// start-up time, few enough to stay clear of 1Password's rate limits.
const ITEM_FETCH_CONCURRENCY: usize = 4;

/// Checks the shape of a service-account token: `ops_` followed by base64.
///
/// ```
/// use secrets_engine::providers::onepassword::validate_service_account_token;
/// assert!(validate_service_account_token(b"ops_eyJzaWduSW5BZGRyZXNzIjoiIn0").is_ok());
/// assert!(validate_service_account_token(b"ghp_abc").is_err());
/// assert!(validate_service_account_token(b"ops_***").is_err());
/// ```
pub fn validate_service_account_token(token: &[u8]) -> Result<(), Error> {
    let bad = |reason: &'static str| Error::InvalidToken { reason };
    let text = std::str::from_utf8(token).map_err(|_| bad("it is not UTF-8"))?;
    let body = text
        .strip_prefix("ops_")
        .ok_or_else(|| bad("it does not start with ops_"))?;
    if body.is_empty() {
        return Err(bad("nothing follows ops_"));
    }
    let engines = [
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD,
    ];
    if engines.iter().any(|e| e.decode(body).is_ok()) {
        Ok(())
    } else {
        Err(bad("what follows ops_ is not base64"))
    }
}

/// What `op args...` printed on stdout, as `T`. serde_json's messages can quote a
/// value: report where, never what.
pub(crate) fn parse_op_json<T: serde::de::DeserializeOwned>(
    out: &[u8],
    args: &[&str],
) -> Result<T, Error> {
    serde_json::from_slice(out).map_err(|e| Error::Backend {
        message: format!(
            "op {} printed unexpected JSON ({:?} error at line {}, column {})",
            args[..args.len().min(2)].join(" "),
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

enum Auth {
    /// The user's signed-in `op`.
    Session,
    /// A service account whose token is read from this store.
    ServiceAccount(Arc<dyn Store>),
}

struct Indexed {
    summary: ItemSummary,
    candidates: Vec<Id>,
}

#[derive(Default)]
struct IndexState {
    items: Arc<Vec<Indexed>>,
    built: Option<Instant>,
    miss_refreshed: Option<Instant>,
}

/// A field of a fetched item, its value held as a secret.
struct CachedField {
    field: model::Field,
    value: SecretValue,
}

struct CachedItem {
    fields: Vec<CachedField>,
}

/// The item's primary secret (only fields with a value are cached): the field whose
/// purpose is PASSWORD; else one labelled credential, password or token; else the
/// first CONCEALED one; else none (reported, never guessed).
fn primary(fields: &[CachedField]) -> Option<&CachedField> {
    let labelled = |f: &&CachedField| {
        f.field.label.as_deref().is_some_and(|l| {
            matches!(
                l.to_ascii_lowercase().as_str(),
                "credential" | "password" | "token"
            )
        })
    };
    fields
        .iter()
        .find(|f| f.field.purpose.as_deref() == Some("PASSWORD"))
        .or_else(|| fields.iter().find(labelled))
        .or_else(|| fields.iter().find(|f| f.field.r#type == "CONCEALED"))
}

type ItemCell = Arc<tokio::sync::OnceCell<Arc<CachedItem>>>;

/// A 1Password provider (see the [module docs](self)).
pub struct OnePassword {
    op: op::Op,
    auth: Auth,
    refresh: Duration,
    miss_refresh: Duration,
    index: tokio::sync::Mutex<IndexState>,
    items: Mutex<HashMap<String, (Instant, ItemCell)>>,
    token: tokio::sync::Mutex<Option<SecretValue>>,
}

impl std::fmt::Debug for OnePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnePassword")
            .field("op", &self.op.program)
            .field(
                "service_account",
                &matches!(self.auth, Auth::ServiceAccount(_)),
            )
            .finish_non_exhaustive()
    }
}

fn op_program() -> PathBuf {
    std::env::var_os(OP_ENV)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("op"), PathBuf::from)
}

impl OnePassword {
    fn with_auth(auth: Auth) -> OnePassword {
        OnePassword {
            op: op::Op {
                program: op_program(),
                // Under the registration deadline of the default engine (150 s), so
                // op's own "authorization timeout" (after 1-2 min) arrives first.
                deadline: Duration::from_secs(120),
            },
            auth,
            refresh: Duration::from_secs(300),
            miss_refresh: MISS_REFRESH_EVERY,
            index: tokio::sync::Mutex::new(IndexState::default()),
            items: Mutex::new(HashMap::new()),
            token: tokio::sync::Mutex::new(None),
        }
    }

    /// The `1password-cli` provider: the user's signed-in `op` (`$SECRETS_ENGINE_OP`
    /// or `op` from PATH).
    pub fn cli() -> OnePassword {
        OnePassword::with_auth(Auth::Session)
    }

    /// The `1password-sdk` provider: a service account whose token is read from
    /// `store` under [`TOKEN_ID`].
    pub fn service_account(store: Arc<dyn Store>) -> OnePassword {
        OnePassword::with_auth(Auth::ServiceAccount(store))
    }

    /// Uses this `op` executable.
    pub fn with_op(mut self, program: impl Into<PathBuf>) -> OnePassword {
        self.op.program = program.into();
        self
    }

    /// How long the index and fetched items are trusted (default 5 minutes).
    pub fn with_refresh(mut self, refresh: Duration) -> OnePassword {
        self.refresh = refresh;
        self
    }

    /// How often a miss may rebuild the index (default 10 s).
    pub fn with_miss_refresh(mut self, every: Duration) -> OnePassword {
        self.miss_refresh = every;
        self
    }

    /// Deadline of one `op` call (default 120 s: a desktop prompt can take two
    /// minutes). Register the provider with a longer engine deadline.
    pub fn with_op_deadline(mut self, deadline: Duration) -> OnePassword {
        self.op.deadline = deadline;
        self
    }

    async fn token(&self) -> Result<Option<SecretValue>, Error> {
        let Auth::ServiceAccount(store) = &self.auth else {
            return Ok(None);
        };
        let mut cached = self.token.lock().await;
        if let Some(t) = &*cached {
            return Ok(Some(t.clone()));
        }
        let id = Id::parse(TOKEN_ID).expect("valid id");
        let found = store
            .get_secrets(&Pattern::from(id))
            .await
            .map_err(|e| Error::Crashed {
                reason: format!("cannot read the 1Password service-account token: {e}"),
            })?;
        let token = found
            .into_iter()
            .next()
            .map(Envelope::into_value)
            .ok_or_else(|| Error::Crashed {
                reason:
                    "no 1Password service-account token: run `docker-pass plugins 1password setup`"
                        .into(),
            })?;
        validate_service_account_token(token.expose()).map_err(|e| Error::Crashed {
            reason: format!("the stored 1Password service-account token is invalid: {e}"),
        })?;
        *cached = Some(token.clone());
        Ok(Some(token))
    }

    async fn op_json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> Result<T, Error> {
        let token = self.token().await?;
        let mut out = self.op.run(args, token.as_ref()).await?;
        let parsed = parse_op_json(&out, args);
        out.zeroize();
        parsed
    }

    async fn build_index(&self) -> Result<Vec<Indexed>, Error> {
        let _whoami: serde_json::Value = self.op_json(&["whoami", "--format", "json"]).await?;
        let vaults: Vec<Vault> = self.op_json(&["vault", "list", "--format", "json"]).await?;
        let mut items = Vec::new();
        for v in vaults {
            // One vault we cannot list (removed, no access) must not hide the others.
            let listed: Vec<ItemSummary> = match self
                .op_json(&["item", "list", "--vault", &v.id, "--format", "json"])
                .await
            {
                Ok(l) => l,
                Err(
                    e @ (Error::Crashed { .. } | Error::Unavailable { .. } | Error::Timeout { .. }),
                ) => return Err(e),
                Err(e) => {
                    tracing::warn!(vault = %v.name, error = %e, "1Password vault skipped");
                    continue;
                }
            };
            for mut summary in listed {
                // `item list --vault` names the vault; fill it in if a version does not.
                if summary.vault.id.is_empty() {
                    summary.vault = v.clone();
                }
                let candidates = summary.candidates();
                items.push(Indexed {
                    summary,
                    candidates,
                });
            }
        }
        tracing::debug!(items = items.len(), "1Password index built");
        Ok(items)
    }

    /// The index, rebuilt when stale (or when `on_miss` and not rebuilt recently).
    async fn index(&self, on_miss: bool) -> Result<Option<Arc<Vec<Indexed>>>, Error> {
        let mut state = self.index.lock().await;
        let stale = state.built.is_none_or(|t| t.elapsed() >= self.refresh);
        // A miss right after a build learns nothing new: rate-limit by either.
        let recent = |t: Option<Instant>| t.is_some_and(|t| t.elapsed() < self.miss_refresh);
        let miss_ok = on_miss && !recent(state.miss_refreshed) && !recent(state.built);
        if on_miss && !miss_ok && !stale {
            return Ok(None);
        }
        if stale || miss_ok {
            state.items = Arc::new(self.build_index().await?);
            state.built = Some(Instant::now());
            if on_miss {
                state.miss_refreshed = state.built;
            }
            // Fetched values keep their own expiry: a rebuild does not refetch them.
        }
        Ok(Some(state.items.clone()))
    }

    /// The item's fields and values, fetched once per refresh interval; concurrent
    /// callers share one `op item get`.
    async fn item(&self, s: &ItemSummary) -> Result<Arc<CachedItem>, Error> {
        let key = format!("{}/{}", s.vault.id, s.id);
        let cell = {
            let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = items
                .get(&key)
                .is_some_and(|(at, _)| at.elapsed() < self.refresh);
            if !fresh {
                items.insert(
                    key.clone(),
                    (Instant::now(), Arc::new(tokio::sync::OnceCell::new())),
                );
            }
            items[&key].1.clone()
        };
        cell.get_or_try_init(|| async {
            let detail: ItemDetail = self
                .op_json(&[
                    "item",
                    "get",
                    &s.id,
                    "--vault",
                    &s.vault.id,
                    "--format",
                    "json",
                    "--reveal",
                ])
                .await?;
            let fields = detail
                .fields
                .into_iter()
                .filter_map(|mut f| {
                    let value = SecretValue::new(f.value.take()?.into_bytes());
                    Some(CachedField { field: f, value })
                })
                .collect();
            Ok::<_, Error>(Arc::new(CachedItem { fields }))
        })
        .await
        .cloned()
    }

    async fn lookup(&self, index: &[Indexed], pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let mut wanted = Vec::new();
        for indexed in index {
            let item_ids: Vec<&Id> = indexed
                .candidates
                .iter()
                .filter(|c| pattern.matches_ignore_case(c))
                .collect();
            let under: Vec<&Id> = indexed
                .candidates
                .iter()
                .filter(|c| {
                    ["*", "*/*"].iter().any(|tail| {
                        Pattern::parse(&format!("{c}/{tail}"))
                            .is_ok_and(|p| p.overlaps_ignore_case(pattern))
                    })
                })
                .collect();
            if item_ids.is_empty() && under.is_empty() {
                continue;
            }
            wanted.push((indexed, item_ids, under));
        }
        // Each item is one `op item get`: fetch a few at once (the item cache still
        // makes it one call per item), and keep the index's order for the answer.
        let mut items = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(ITEM_FETCH_CONCURRENCY) {
            let calls: Vec<_> = chunk.iter().map(|w| self.item(&w.0.summary)).collect();
            items.extend(futures_util::future::join_all(calls).await);
            // The answer will be this error: fetch nothing more.
            if items
                .iter()
                .any(|r| r.as_ref().is_err_and(|e| !e.is_not_found()))
            {
                break;
            }
        }
        let mut out = Vec::new();
        for ((indexed, item_ids, under), item) in wanted.into_iter().zip(items) {
            let item = match item {
                Ok(i) => i,
                // Deleted since the index was built.
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let s = &indexed.summary;
            let meta = |f: &model::Field| -> Metadata {
                let mut m = Metadata::from([
                    ("vault".to_string(), s.vault.name.clone()),
                    ("item".to_string(), s.title.clone()),
                    ("category".to_string(), s.category.clone()),
                ]);
                if let Some(l) = &f.label {
                    m.insert("field".into(), l.clone());
                }
                if let Some(r) = &f.reference {
                    m.insert("reference".into(), r.clone());
                }
                m
            };
            let primary = primary(&item.fields);
            for id in item_ids {
                match primary {
                    Some(f) => {
                        out.push(
                            Envelope::new(id.clone(), f.value.clone())
                                .with_metadata(meta(&f.field)),
                        );
                    }
                    None if pattern.as_id().is_some() => {
                        return Err(Error::Backend {
                            message: format!(
                                "1Password item {id} has no password, credential or concealed field"
                            ),
                        });
                    }
                    None => tracing::debug!(%id, "1Password item without a primary secret skipped"),
                }
            }
            for c in under {
                for f in &item.fields {
                    for fid in f.field.ids_under(c) {
                        if pattern.matches_ignore_case(&fid) {
                            out.push(
                                Envelope::new(fid, f.value.clone()).with_metadata(meta(&f.field)),
                            );
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Resolver for OnePassword {
    async fn get_secrets(&self, pattern: &Pattern) -> Result<Vec<Envelope>, Error> {
        let index = self.index(false).await?.expect("a stale index is rebuilt");
        let found = self.lookup(&index, pattern).await?;
        if !found.is_empty() || pattern.as_id().is_none() {
            return Ok(found);
        }
        // A miss on an exact id: the item may be new. Rebuild once (rate-limited).
        match self.index(true).await? {
            Some(fresh) => self.lookup(&fresh, pattern).await,
            None => Ok(found),
        }
    }

    fn case_insensitive(&self) -> bool {
        true
    }

    async fn reinitialize(&self) -> Result<(), Error> {
        *self.index.lock().await = IndexState::default();
        self.items.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *self.token.lock().await = None;
        self.index(false).await.map(|_| ())
    }
}
