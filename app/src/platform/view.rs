//! The in-memory view gateways decide from: every key (by digest), application, owner,
//! subscription, plan, API and live service token. Loaded whole at start, then kept current
//! by the change feed ([`super::feed`]): a change names a row, and applying it re-reads
//! that row. A lookup takes a read lock for a few hash probes and hands out `Arc`s, so a
//! decision works on an immutable snapshot of what it needs and the request path never
//! waits for the database.

use super::feed::Cursor;
use super::limits::Rate;
use super::state::Db;
use crate::domain::{Cidr, QuotaPeriod, Route, Routes, SubscriptionState, UserStatus};
use crate::error::AppError;
use std::collections::HashMap;

/// The view's maps: keyed by ids and SHA-256 digests, hashed with a fast seeded hash
/// (SipHash was a tenth of a gateway request's own work).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

/// A key digest (SHA-256 of the key), the view's index.
pub type Digest = [u8; 32];

/// A row's id as the view hands it out: shared, so a decision's usage event and the
/// writer's sums name a key, application or API without copying the text.
pub type Id = Arc<str>;

/// What a decision needs of a key. The lists are shared between the keys loaded together
/// that have the same one (scopes from one plan, one allowlist; a key re-read after a change
/// has its own until the next full load): with 100,000 keys, each request reading a key's
/// own copies missed the processor's cache several times over.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub id: Id,
    pub application_id: Id,
    /// `live` or `test`.
    pub environment: &'static str,
    pub scopes: Arc<[String]>,
    /// The APIs (ids) it is limited to; empty: all of its application's.
    pub api_ids: Arc<[String]>,
    /// Empty: anywhere.
    pub ip_allowlist: Arc<[Cidr]>,
    pub expires_at: Option<i64>,
    pub revoked: bool,
    /// It has a maximum number of uses, counted in the database at each use.
    pub limited: bool,
    /// It has been rotated (its uses from now on are counted as uses since the rotation).
    pub rotated: bool,
    /// The key's own rate limit: requests per `second` or `minute`.
    pub rate: Option<(i64, &'static str)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppEntry {
    pub name: String,
    /// The owning user (applications are owned by users today).
    pub owner_user: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserEntry {
    pub email: String,
    pub status: UserStatus,
}

/// An application's subscription to one API: the live one if any, else the latest.
#[derive(Debug, Clone, PartialEq)]
pub struct SubEntry {
    pub id: Id,
    pub api_id: String,
    pub state: SubscriptionState,
    pub plan_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanEntry {
    pub scopes: Vec<String>,
    /// Per subscription (all of its keys together).
    pub rate: Option<Rate>,
    /// Requests per subscription and UTC day or month.
    pub quota: Option<(i64, QuotaPeriod)>,
}

/// A live service token; the time its last use was last written (at most once a minute).
#[derive(Debug)]
pub struct TokenEntry {
    pub id: String,
    pub marked_at: AtomicI64,
}

impl PartialEq for TokenEntry {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// An API as the gateway routes to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiEntry {
    pub id: Id,
    pub slug: String,
    /// The base URL live keys' requests are proxied to.
    pub upstream: String,
    /// The base URL test keys' requests are proxied to (none: test keys are refused).
    pub sandbox: Option<String>,
    /// The query parameter a key may also come in.
    pub key_param: Option<String>,
    /// The operations of its OpenAPI document, with the scopes each needs.
    pub routes: Routes,
    /// HTTP/2 only to the upstream (h2c with prior knowledge on `http://`).
    pub http2: bool,
    /// The host name it also answers at on the gateway.
    pub host: Option<String>,
}

/// An `apis` row as the view reads it.
type ApiColumns = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

impl ApiEntry {
    fn from_columns(
        (id, slug, upstream, sandbox, key_param, routes, protocol, host): ApiColumns,
    ) -> Self {
        let routes = routes
            .map(|json| {
                serde_json::from_str::<Vec<Route>>(&json).unwrap_or_else(|e| {
                    tracing::warn!(api = %id, error = %e, "unreadable routes: no scopes enforced");
                    Vec::new()
                })
            })
            .unwrap_or_default();
        ApiEntry {
            id: id.into(),
            slug,
            upstream,
            sandbox,
            key_param,
            routes: Routes::new(routes),
            http2: protocol == crate::domain::UpstreamProtocol::Http2.as_str(),
            host,
        }
    }
}

/// Everything a decision on one key and one API reads, as of one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub key: Arc<KeyEntry>,
    pub application: Arc<AppEntry>,
    /// `None` when the owner no longer exists.
    pub owner: Option<Arc<UserEntry>>,
    /// The application's subscription to the asked API, and its plan.
    pub subscription: Option<(Arc<SubEntry>, Option<Arc<PlanEntry>>)>,
}

/// What one request reads from the view.
#[derive(Debug, Default)]
pub struct Lookup {
    pub api: Option<Arc<ApiEntry>>,
    pub facts: Option<Facts>,
}

/// The rows, indexed for lookups. Two views of the same database are equal.
#[derive(Debug, Default, PartialEq)]
pub struct Tables {
    keys: Map<Digest, Arc<KeyEntry>>,
    key_digests: Map<String, Digest>,
    applications: Map<String, Arc<AppEntry>>,
    users: Map<String, Arc<UserEntry>>,
    /// API slug → id, and id → API (a slug can change).
    api_ids: Map<String, String>,
    apis: Map<String, Arc<ApiEntry>>,
    /// Gateway host name → API id.
    api_hosts: Map<String, String>,
    /// Application → API id → subscription.
    subscriptions: Map<String, Map<String, Arc<SubEntry>>>,
    plans: Map<String, Arc<PlanEntry>>,
    service_tokens: Map<Digest, Arc<TokenEntry>>,
    token_digests: Map<String, Digest>,
}

impl Tables {
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    fn add_api(&mut self, api: ApiEntry) {
        let id = api.id.to_string();
        self.api_ids.insert(api.slug.clone(), id.clone());
        if let Some(host) = &api.host {
            self.api_hosts.insert(host.clone(), id.clone());
        }
        self.apis.insert(id, Arc::new(api));
    }
}

/// The view, shared by every request of this instance, and how far it follows the feed.
#[derive(Debug)]
pub struct View {
    tables: RwLock<Tables>,
    /// This instance's id in `gateway_instances`.
    pub instance: String,
    pub(crate) cursor: tokio::sync::Mutex<Cursor>,
    /// False while a gateway that started without its database has not loaded a view yet:
    /// nothing is decided from an empty view (fail closed).
    loaded: std::sync::atomic::AtomicBool,
}

impl View {
    pub fn new(tables: Tables, instance: String, cursor: Cursor) -> Self {
        View {
            tables: RwLock::new(tables),
            instance,
            cursor: tokio::sync::Mutex::new(cursor),
            loaded: true.into(),
        }
    }

    /// An empty view, not loaded: the change feed loads it when the database answers.
    pub fn cold(instance: String) -> Self {
        let view = View::new(Tables::default(), instance, Cursor::default());
        view.loaded.store(false, Ordering::Release);
        view
    }

    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// The first load of a [`cold`](View::cold) view.
    pub(crate) fn warm(&self, tables: Tables, cursor: Cursor, held: &mut Cursor) {
        *self.write() = tables;
        *held = cursor;
        self.loaded.store(true, Ordering::Release);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    /// One read of the view for a call to the API `api_slug` with the key `digest`: the
    /// API's id (the usage event names it, even for an unknown key) and the facts about the
    /// key (`None` for an unknown key).
    pub fn lookup(&self, digest: &Digest, api_slug: &str) -> Lookup {
        let t = self.read();
        let api_id = t.api_ids.get(api_slug);
        let api = api_id.and_then(|id| t.apis.get(id)).cloned();
        let facts = t.keys.get(digest).and_then(|key| {
            let application = t.applications.get(&*key.application_id)?.clone();
            let owner = application
                .owner_user
                .as_ref()
                .and_then(|id| t.users.get(id))
                .cloned();
            let subscription = api_id.and_then(|api_id| {
                let sub = t
                    .subscriptions
                    .get(&*key.application_id)?
                    .get(api_id)?
                    .clone();
                let plan = t.plans.get(&sub.plan_id).cloned();
                Some((sub, plan))
            });
            Some(Facts {
                key: key.clone(),
                application,
                owner,
                subscription,
            })
        });
        Lookup { api, facts }
    }

    /// The id of the API with this slug.
    pub fn api_id(&self, slug: &str) -> Option<String> {
        self.read().api_ids.get(slug).cloned()
    }

    /// The API with this slug, as the gateway routes to it.
    pub fn api(&self, slug: &str) -> Option<Arc<ApiEntry>> {
        let t = self.read();
        t.apis.get(t.api_ids.get(slug)?).cloned()
    }

    /// The API answering at the gateway host name `host` (lowercase, without a port).
    pub fn api_at_host(&self, host: &str) -> Option<Arc<ApiEntry>> {
        let t = self.read();
        if t.api_hosts.is_empty() {
            return None;
        }
        t.apis.get(t.api_hosts.get(host)?).cloned()
    }

    /// The live service token with this digest.
    pub fn service_token(&self, digest: &Digest) -> Option<Arc<TokenEntry>> {
        self.read().service_tokens.get(digest).cloned()
    }

    pub fn key_count(&self) -> usize {
        self.read().key_count()
    }

    /// The sequence number up to which this view has applied the change feed.
    pub async fn applied(&self) -> i64 {
        self.cursor.lock().await.watermark()
    }

    /// Replaces everything (start-up and the periodic consistency check); says how many
    /// rows differed. Compared under the read lock (calls go on deciding meanwhile), swapped
    /// under the write lock, the old tables freed after it. The caller holds the feed's
    /// cursor, so no change is applied between the comparison and the swap.
    pub fn replace(&self, fresh: Tables) -> usize {
        let differences = self.read().differences(&fresh);
        let old = std::mem::replace(&mut *self.write(), fresh);
        drop(old);
        differences
    }

    /// Whether the view equals `other` (tests compare it with a fresh load).
    pub fn same_as(&self, other: &Tables) -> bool {
        *self.read() == *other
    }

    /// Applies re-read rows.
    pub(crate) fn apply(&self, rows: Vec<Reloaded>) {
        let mut t = self.write();
        for row in rows {
            t.apply(row);
        }
    }
}

impl Tables {
    fn differences(&self, other: &Tables) -> usize {
        fn diff<K: std::hash::Hash + Eq, V: PartialEq>(a: &Map<K, V>, b: &Map<K, V>) -> usize {
            a.iter().filter(|(k, v)| b.get(k) != Some(v)).count()
                + b.keys().filter(|k| !a.contains_key(k)).count()
        }
        diff(&self.keys, &other.keys)
            + diff(&self.applications, &other.applications)
            + diff(&self.users, &other.users)
            + diff(&self.api_ids, &other.api_ids)
            + diff(&self.api_hosts, &other.api_hosts)
            + diff(&self.apis, &other.apis)
            + diff(&self.subscriptions, &other.subscriptions)
            + diff(&self.plans, &other.plans)
            + diff(&self.service_tokens, &other.service_tokens)
    }

    fn apply(&mut self, row: Reloaded) {
        match row {
            Reloaded::Key(id, found) => {
                if let Some(old) = self.key_digests.remove(&id) {
                    self.keys.remove(&old);
                }
                if let Some((digest, key)) = found {
                    self.key_digests.insert(id, digest);
                    self.keys.insert(digest, Arc::new(key));
                }
            }
            Reloaded::Application(id, found) => match found {
                Some(app) => {
                    self.applications.insert(id, Arc::new(app));
                }
                None => {
                    self.applications.remove(&id);
                }
            },
            Reloaded::User(id, found) => match found {
                Some(user) => {
                    self.users.insert(id, Arc::new(user));
                }
                None => {
                    self.users.remove(&id);
                }
            },
            Reloaded::Api(id, found) => {
                if let Some(old) = self.apis.remove(&id) {
                    self.api_ids.remove(&old.slug);
                    if let Some(host) = &old.host {
                        self.api_hosts.remove(host);
                    }
                }
                if let Some(api) = found {
                    self.add_api(api);
                }
            }
            Reloaded::Subscriptions(application, subs) => {
                if subs.is_empty() {
                    self.subscriptions.remove(&application);
                } else {
                    self.subscriptions.insert(application, subs);
                }
            }
            Reloaded::Plan(id, found) => match found {
                Some(plan) => {
                    self.plans.insert(id, Arc::new(plan));
                }
                None => {
                    self.plans.remove(&id);
                }
            },
            Reloaded::ServiceToken(id, found) => {
                if let Some(old) = self.token_digests.remove(&id) {
                    self.service_tokens.remove(&old);
                }
                if let Some(digest) = found {
                    self.token_digests.insert(id.clone(), digest);
                    self.service_tokens.insert(
                        digest,
                        Arc::new(TokenEntry {
                            id,
                            marked_at: AtomicI64::new(0),
                        }),
                    );
                }
            }
        }
    }
}

impl TokenEntry {
    /// Whether this use should be written as the token's last use (at most once a minute).
    pub fn mark(&self, now: i64) -> bool {
        let before = self.marked_at.load(Ordering::Relaxed);
        now - before >= 60_000
            && self
                .marked_at
                .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// A row as re-read after a change: `None` when it is gone (or, for a service token,
/// revoked).
#[derive(Debug)]
pub(crate) enum Reloaded {
    Key(String, Option<(Digest, KeyEntry)>),
    Application(String, Option<AppEntry>),
    User(String, Option<UserEntry>),
    Api(String, Option<ApiEntry>),
    Subscriptions(String, Map<String, Arc<SubEntry>>),
    Plan(String, Option<PlanEntry>),
    ServiceToken(String, Option<Digest>),
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn digest_of(hex_text: &str) -> Option<Digest> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).ok()?;
    Some(out)
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    digest: String,
    application_id: String,
    environment: String,
    scopes: String,
    api_ids: String,
    ip_allowlist: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    max_uses: Option<i64>,
    rate_limit: Option<i64>,
    rate_period: Option<String>,
    rotated_at: Option<i64>,
}

/// One copy of each distinct list the keys read in one load (see [`KeyEntry`]).
#[derive(Default)]
struct Shared {
    words: HashMap<String, Arc<[String]>>,
    cidrs: HashMap<String, Arc<[Cidr]>>,
}

/// The list `text` parses to, shared through `lists`.
fn shared<T>(
    lists: &mut HashMap<String, Arc<[T]>>,
    text: String,
    parse: impl FnOnce(&str) -> Vec<T>,
) -> Arc<[T]> {
    if let Some(list) = lists.get(&text) {
        return list.clone();
    }
    let list: Arc<[T]> = parse(&text).into();
    lists.insert(text, list.clone());
    list
}

impl KeyRow {
    fn entry(self, lists: &mut Shared) -> Option<(Digest, KeyEntry)> {
        Some((
            digest_of(&self.digest)?,
            KeyEntry {
                id: self.id.into(),
                application_id: self.application_id.into(),
                environment: if self.environment == "test" {
                    "test"
                } else {
                    "live"
                },
                scopes: shared(&mut lists.words, self.scopes, words),
                api_ids: shared(&mut lists.words, self.api_ids, words),
                ip_allowlist: shared(&mut lists.cidrs, self.ip_allowlist, |text| {
                    text.split_whitespace()
                        .filter_map(|c| Cidr::parse(c).ok())
                        .collect()
                }),
                expires_at: self.expires_at,
                revoked: self.revoked_at.is_some(),
                limited: self.max_uses.is_some(),
                rotated: self.rotated_at.is_some(),
                rate: self.rate_limit.map(|n| {
                    let minute = self.rate_period.as_deref() == Some("minute");
                    (n, if minute { "minute" } else { "second" })
                }),
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
struct AppRow {
    id: String,
    name: String,
    owner_kind: String,
    owner_id: String,
}

impl AppRow {
    fn entry(self) -> (String, AppEntry) {
        let owner_user = (self.owner_kind == "user").then_some(self.owner_id);
        (
            self.id,
            AppEntry {
                name: self.name,
                owner_user,
            },
        )
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    #[sqlx(try_from = "String")]
    status: UserStatus,
}

#[derive(sqlx::FromRow)]
struct SubRow {
    id: String,
    application_id: String,
    api_id: String,
    plan_id: String,
    #[sqlx(try_from = "String")]
    state: SubscriptionState,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    id: String,
    scopes: String,
    rate_limit: Option<i64>,
    rate_period: String,
    burst: i64,
    quota: Option<i64>,
    #[sqlx(try_from = "String")]
    quota_period: QuotaPeriod,
}

impl PlanRow {
    fn entry(self) -> (String, PlanEntry) {
        let rate = self.rate_limit.map(|limit| Rate {
            limit: limit.clamp(1, i64::from(u32::MAX)) as u32,
            period_ms: period_ms(&self.rate_period),
            burst: self.burst.clamp(0, i64::from(u32::MAX)) as u32,
        });
        (
            self.id,
            PlanEntry {
                scopes: words(&self.scopes),
                rate,
                quota: self.quota.map(|q| (q, self.quota_period)),
            },
        )
    }
}

/// A rate period's length: `second` or `minute`.
pub fn period_ms(period: &str) -> u64 {
    if period == "minute" {
        60_000
    } else {
        1_000
    }
}

const KEYS: &str =
    "SELECT id, digest, application_id, environment, scopes, api_ids, ip_allowlist, \
     expires_at, revoked_at, max_uses, rate_limit, rate_period, rotated_at FROM api_keys";
const APPLICATIONS: &str = "SELECT id, name, owner_kind, owner_id FROM applications";
const USERS: &str = "SELECT id, email, status FROM users";
const APIS: &str = "SELECT id, slug, upstream_url, sandbox_url, key_param, routes, \
    upstream_protocol, gateway_host FROM apis";
const SUBSCRIPTIONS: &str =
    "SELECT id, application_id, api_id, plan_id, state, updated_at FROM subscriptions";
const PLANS: &str =
    "SELECT id, scopes, rate_limit, rate_period, burst, quota, quota_period FROM plans";
const SERVICE_TOKENS: &str = "SELECT id, token_digest FROM service_tokens WHERE revoked_at IS NULL";

/// Of an application's subscriptions, the one per API a decision reads: the live one
/// (pending, active, suspended: at most one) if any, else the latest.
fn chosen(rows: Vec<SubRow>) -> Map<String, Map<String, Arc<SubEntry>>> {
    let mut best: Map<(String, String), SubRow> = Map::default();
    for row in rows {
        let rank = |r: &SubRow| (r.state.is_live(), r.updated_at, r.id.clone());
        let slot = (row.application_id.clone(), row.api_id.clone());
        match best.get(&slot) {
            Some(current) if rank(current) >= rank(&row) => {}
            _ => {
                best.insert(slot, row);
            }
        }
    }
    let mut out: Map<String, Map<String, Arc<SubEntry>>> = Map::default();
    for ((application, api), row) in best {
        out.entry(application).or_default().insert(
            api.clone(),
            Arc::new(SubEntry {
                id: row.id.into(),
                api_id: api,
                state: row.state,
                plan_id: row.plan_id,
            }),
        );
    }
    out
}

/// Reads the whole view.
pub async fn load(db: &Db) -> Result<Tables, AppError> {
    let mut t = Tables::default();
    let mut shared = Shared::default();
    for row in sqlx::query_as::<_, KeyRow>(KEYS).fetch_all(db).await? {
        let id = row.id.clone();
        if let Some((digest, key)) = row.entry(&mut shared) {
            t.key_digests.insert(id, digest);
            t.keys.insert(digest, Arc::new(key));
        }
    }
    for row in sqlx::query_as::<_, AppRow>(APPLICATIONS)
        .fetch_all(db)
        .await?
    {
        let (id, app) = row.entry();
        t.applications.insert(id, Arc::new(app));
    }
    for u in sqlx::query_as::<_, UserRow>(USERS).fetch_all(db).await? {
        t.users.insert(
            u.id,
            Arc::new(UserEntry {
                email: u.email,
                status: u.status,
            }),
        );
    }
    for row in sqlx::query_as::<_, ApiColumns>(APIS).fetch_all(db).await? {
        t.add_api(ApiEntry::from_columns(row));
    }
    t.subscriptions = chosen(
        sqlx::query_as::<_, SubRow>(SUBSCRIPTIONS)
            .fetch_all(db)
            .await?,
    );
    for p in sqlx::query_as::<_, PlanRow>(PLANS).fetch_all(db).await? {
        let (id, plan) = p.entry();
        t.plans.insert(id, Arc::new(plan));
    }
    for (id, digest) in sqlx::query_as::<_, (String, String)>(SERVICE_TOKENS)
        .fetch_all(db)
        .await?
    {
        if let Some(digest) = digest_of(&digest) {
            t.token_digests.insert(id.clone(), digest);
            t.service_tokens.insert(
                digest,
                Arc::new(TokenEntry {
                    id,
                    marked_at: AtomicI64::new(0),
                }),
            );
        }
    }
    Ok(t)
}

/// Re-reads the row a change names (`kind` as the feed's triggers write it).
pub(crate) async fn reload(db: &Db, kind: &str, id: &str) -> Result<Reloaded, AppError> {
    let id_owned = id.to_string();
    Ok(match kind {
        "key" => {
            let row = sqlx::query_as::<_, KeyRow>(&format!("{KEYS} WHERE id = $1"))
                .bind(id)
                .fetch_optional(db)
                .await?;
            Reloaded::Key(id_owned, row.and_then(|r| r.entry(&mut Shared::default())))
        }
        "application" => {
            let row = sqlx::query_as::<_, AppRow>(&format!("{APPLICATIONS} WHERE id = $1"))
                .bind(id)
                .fetch_optional(db)
                .await?;
            Reloaded::Application(id_owned, row.map(|r| r.entry().1))
        }
        "user" => {
            let row = sqlx::query_as::<_, UserRow>(&format!("{USERS} WHERE id = $1"))
                .bind(id)
                .fetch_optional(db)
                .await?;
            Reloaded::User(
                id_owned,
                row.map(|u| UserEntry {
                    email: u.email,
                    status: u.status,
                }),
            )
        }
        "api" => {
            let row = sqlx::query_as::<_, ApiColumns>(&format!("{APIS} WHERE id = $1"))
                .bind(id)
                .fetch_optional(db)
                .await?;
            Reloaded::Api(id_owned, row.map(ApiEntry::from_columns))
        }
        "subscriptions" => {
            let rows =
                sqlx::query_as::<_, SubRow>(&format!("{SUBSCRIPTIONS} WHERE application_id = $1"))
                    .bind(id)
                    .fetch_all(db)
                    .await?;
            let subs = chosen(rows).remove(id).unwrap_or_default();
            Reloaded::Subscriptions(id_owned, subs)
        }
        "plan" => {
            let row = sqlx::query_as::<_, PlanRow>(&format!("{PLANS} WHERE id = $1"))
                .bind(id)
                .fetch_optional(db)
                .await?;
            Reloaded::Plan(id_owned, row.map(|p| p.entry().1))
        }
        "service_token" => {
            let row =
                sqlx::query_as::<_, (String, String)>(&format!("{SERVICE_TOKENS} AND id = $1"))
                    .bind(id)
                    .fetch_optional(db)
                    .await?;
            Reloaded::ServiceToken(id_owned, row.and_then(|(_, d)| digest_of(&d)))
        }
        other => {
            return Err(AppError::internal(format!(
                "unknown change kind {other:?} in the feed"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_the_same_lists_share_one_copy() {
        let row = |id: &str, scopes: &str, allow: &str, period: Option<&str>| KeyRow {
            id: id.into(),
            digest: "ab".repeat(32),
            application_id: "app".into(),
            environment: "test".into(),
            scopes: scopes.into(),
            api_ids: String::new(),
            ip_allowlist: allow.into(),
            expires_at: None,
            revoked_at: None,
            max_uses: None,
            rate_limit: period.map(|_| 5),
            rate_period: period.map(str::to_string),
            rotated_at: None,
        };
        let mut lists = Shared::default();
        let mut entry = |r: KeyRow| r.entry(&mut lists).unwrap().1;
        let a = entry(row("a", "read write", "10.0.0.0/8", Some("minute")));
        let b = entry(row("b", "read write", "10.0.0.0/8", Some("second")));
        let c = entry(row("c", "read", "", None));
        assert!(Arc::ptr_eq(&a.scopes, &b.scopes));
        assert!(Arc::ptr_eq(&a.ip_allowlist, &b.ip_allowlist));
        assert_eq!(&*a.scopes, ["read".to_string(), "write".to_string()]);
        assert_eq!(&*c.scopes, ["read".to_string()]);
        assert_eq!(a.ip_allowlist.len(), 1);
        assert!(c.ip_allowlist.is_empty() && c.api_ids.is_empty());
        assert_eq!(
            (a.environment, a.rate, b.rate, c.rate),
            ("test", Some((5, "minute")), Some((5, "second")), None)
        );
    }

    #[test]
    fn a_token_use_is_written_at_most_once_a_minute() {
        let t = TokenEntry {
            id: "t".into(),
            marked_at: AtomicI64::new(0),
        };
        assert!(t.mark(100_000));
        assert!(!t.mark(130_000));
        assert!(t.mark(160_000));
    }

    fn sub(id: &str, api: &str, state: SubscriptionState, at: i64) -> SubRow {
        SubRow {
            id: id.into(),
            application_id: "app".into(),
            api_id: api.into(),
            plan_id: format!("plan-{id}"),
            state,
            updated_at: at,
        }
    }

    #[test]
    fn the_live_subscription_wins_else_the_latest() {
        use SubscriptionState::*;
        let picked = chosen(vec![
            sub("a", "x", Ended, 30),
            sub("b", "x", Suspended, 10),
            sub("c", "y", Rejected, 10),
            sub("d", "y", Cancelled, 20),
        ]);
        assert_eq!(picked["app"]["x"].plan_id, "plan-b");
        assert_eq!(picked["app"]["y"].plan_id, "plan-d");
    }
}
