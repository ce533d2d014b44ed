//! Sessions: a typed wrapper over `tower_sessions::Session` (it stores ids and timestamps,
//! never user rows) and the session store, which keeps sessions in Keyport's own database
//! with the user id in a column so that all of a user's sessions can be listed and killed.
//! The table holds the SHA-256 of each session id, never the id (the cookie's secret), and
//! a save only updates a row that still exists: a request that loaded a session before it
//! was ended (sign-out, "other sessions", a password change) cannot write it back.

use crate::error::AppError;
use crate::platform::state::{ClientInfo, Clock, Db};
use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions::Session;

const USER_ID: &str = "uid";
const CREATED: &str = "created";
const SEEN: &str = "seen";
const IP: &str = "ip";
const USER_AGENT: &str = "ua";
const MFA_AT: &str = "mfa_at";
const PENDING_USER: &str = "pending_uid";
const PENDING_AT: &str = "pending_at";
const PENDING_METHOD: &str = "pending_method";

/// How long the code step of a sign-in may take.
const PENDING_MS: i64 = 5 * 60_000;
const OIDC_PENDING: &str = "oidc";

/// An identity-provider round trip that has started and not yet come back: what the
/// callback must check (state, nonce) and send (PKCE verifier). No `Debug`: it holds secrets.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct OidcPending {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go after signing in (already checked with `safe_next`).
    pub next: String,
    /// Set when a signed-in user links an identity instead of signing in.
    pub link_user_id: Option<String>,
    pub started_at: i64,
}

/// How often "last seen" (and with it the idle expiry) is written back.
const SEEN_RESOLUTION_MS: i64 = 60_000;

/// The signed-in state of one browser.
#[derive(Clone)]
pub struct AuthSession(Session);

impl AuthSession {
    pub fn new(session: Session) -> Self {
        AuthSession(session)
    }

    /// The session of the current request (inside a server function or page render).
    pub async fn current() -> Result<Self, AppError> {
        leptos_axum::extract::<Session>()
            .await
            .map(AuthSession)
            .map_err(AppError::internal)
    }

    pub async fn user_id(&self) -> Result<Option<String>, AppError> {
        Ok(self.0.get::<String>(USER_ID).await?)
    }

    /// Signs `user_id` in: a new session id (no fixation), fresh timestamps.
    pub async fn begin(
        &self,
        user_id: &str,
        client: &ClientInfo,
        now: i64,
    ) -> Result<(), AppError> {
        self.0.cycle_id().await?;
        self.0.insert(USER_ID, user_id).await?;
        self.0.insert(CREATED, now).await?;
        self.0.insert(SEEN, now).await?;
        self.0.insert(IP, client.ip_string()).await?;
        self.0.insert(USER_AGENT, client.user_agent.clone()).await?;
        Ok(())
    }

    /// Password (or IdP) accepted, code still due: nobody is signed in yet. `method` names
    /// the first factor for the audit log.
    pub async fn begin_pending(
        &self,
        user_id: &str,
        method: &str,
        now: i64,
    ) -> Result<(), AppError> {
        self.0.cycle_id().await?;
        self.0.remove_value(USER_ID).await?;
        self.0.insert(PENDING_USER, user_id).await?;
        self.0.insert(PENDING_METHOD, method).await?;
        self.0.insert(PENDING_AT, now).await?;
        Ok(())
    }

    /// The user whose code step is due and their first factor, if it started less than five
    /// minutes ago.
    pub async fn pending_user(&self, now: i64) -> Result<Option<(String, String)>, AppError> {
        let at: i64 = self.0.get(PENDING_AT).await?.unwrap_or(0);
        if now - at > PENDING_MS {
            return Ok(None);
        }
        let method: String = self.0.get(PENDING_METHOD).await?.unwrap_or_default();
        Ok(self
            .0
            .get::<String>(PENDING_USER)
            .await?
            .map(|user| (user, method)))
    }

    /// Records a successful second-factor check (and cycles the id: no fixation).
    pub async fn mark_mfa(&self, now: i64) -> Result<(), AppError> {
        self.0.cycle_id().await?;
        self.0.insert(MFA_AT, now).await?;
        Ok(())
    }

    /// When this session signed in.
    pub async fn signed_in_at(&self) -> Result<Option<i64>, AppError> {
        Ok(self.0.get(CREATED).await?)
    }

    /// When the last second-factor check of this session happened.
    pub async fn mfa_at(&self) -> Result<Option<i64>, AppError> {
        Ok(self.0.get(MFA_AT).await?)
    }

    /// Remembers an identity-provider round trip until its callback; a newer one replaces it.
    pub async fn set_oidc_pending(&self, pending: &OidcPending) -> Result<(), AppError> {
        Ok(self.0.insert(OIDC_PENDING, pending).await?)
    }

    /// Takes the pending round trip out of the session, so a callback can use it only once.
    pub async fn take_oidc_pending(&self) -> Result<Option<OidcPending>, AppError> {
        Ok(self.0.remove(OIDC_PENDING).await?)
    }

    /// Gives the session a new id, keeping its contents (after a password change).
    pub async fn cycle(&self) -> Result<(), AppError> {
        Ok(self.0.cycle_id().await?)
    }

    /// Signs out: the server-side record is deleted and the cookie cleared.
    pub async fn end(&self) -> Result<(), AppError> {
        Ok(self.0.flush().await?)
    }

    /// The session's id as the table keeps it (its digest): what lists compare against.
    pub fn id(&self) -> Option<String> {
        self.0.id().map(|id| stored_id(&id))
    }

    /// Applies the idle and absolute timeouts; refreshes "last seen" at most once a minute.
    pub async fn enforce_timeouts(
        &self,
        now: i64,
        idle_ms: i64,
        absolute_ms: i64,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        if self.user_id().await?.is_none() {
            return Ok(());
        }
        let created: i64 = self.0.get(CREATED).await?.unwrap_or(0);
        let seen: i64 = self.0.get(SEEN).await?.unwrap_or(0);
        if now - created > absolute_ms || now - seen > idle_ms {
            return self.end().await;
        }
        if now - seen >= SEEN_RESOLUTION_MS {
            self.0.insert(SEEN, now).await?;
            self.0.insert(IP, client.ip_string()).await?;
            self.0.insert(USER_AGENT, client.user_agent.clone()).await?;
        }
        Ok(())
    }
}

/// One signed-in session, as listed to its owner.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The live sessions of a user, most recent first.
pub async fn list_for_user(db: &Db, user_id: &str, now: i64) -> Result<Vec<SessionRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, created_at, last_seen_at, ip, user_agent FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC LIMIT 100",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await?)
}

/// The key of a session's row: the digest of its id.
fn stored_id(id: &Id) -> String {
    crate::platform::state::token_digest(&id.to_string())
}

/// A stable public name for a session, from its stored id (a digest already).
pub fn handle(stored_id: &str) -> String {
    stored_id.chars().take(16).collect()
}

/// Ends the user's session named `handle`; false when they have no such session.
pub async fn delete_by_handle(
    db: &Db,
    user_id: &str,
    handle_: &str,
    now: i64,
) -> Result<bool, AppError> {
    for s in list_for_user(db, user_id, now).await? {
        if crate::platform::state::constant_time_eq(&handle(&s.id), handle_) {
            sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
                .bind(&s.id)
                .bind(user_id)
                .execute(db)
                .await?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Kills every session of a user, except `keep` (the caller's own) when given.
pub async fn delete_for_user(db: &Db, user_id: &str, keep: Option<&str>) -> Result<u64, AppError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Sessions stored in the `sessions` table of either backend.
#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
    clock: Clock,
}

impl DbSessionStore {
    pub fn new(db: Db, clock: Clock) -> Self {
        DbSessionStore { db, clock }
    }

    /// Inserts (`insert`) or updates the row of `record`; the number of rows written.
    async fn write(&self, record: &Record, insert: bool) -> Result<u64, sqlx::Error> {
        let data = serde_json::to_string(&record.data).unwrap_or_else(|_| "{}".into());
        let get = |k: &str| record.data.get(k);
        let user_id = get(USER_ID).and_then(|v| v.as_str()).map(str::to_string);
        let now = self.clock.now();
        let created = get(CREATED).and_then(|v| v.as_i64()).unwrap_or(now);
        let seen = get(SEEN).and_then(|v| v.as_i64()).unwrap_or(now);
        let ip = get(IP).and_then(|v| v.as_str()).map(str::to_string);
        let ua = get(USER_AGENT).and_then(|v| v.as_str()).map(str::to_string);
        // tower-sessions computes expiry with the system clock; keep it relative to ours.
        let ttl = record.expiry_date - time::OffsetDateTime::now_utc();
        let expires = now + ttl.whole_milliseconds() as i64;
        let done = if insert {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, data, expires_at, last_seen_at, ip, user_agent, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
        } else {
            // Never an insert: a session deleted meanwhile stays deleted.
            sqlx::query(
                "UPDATE sessions SET user_id = $2, data = $3, expires_at = $4, last_seen_at = $5, \
                 ip = $6, user_agent = $7 WHERE id = $1",
            )
        }
        .bind(stored_id(&record.id))
        .bind(user_id)
        .bind(data)
        .bind(expires)
        .bind(seen)
        .bind(ip)
        .bind(ua);
        let done = if insert { done.bind(created) } else { done }
            .execute(&self.db)
            .await?;
        Ok(done.rows_affected())
    }
}

fn backend(e: sqlx::Error) -> session_store::Error {
    let unreachable = if crate::error::is_unreachable(&e) {
        crate::error::UNREACHABLE
    } else {
        ""
    };
    session_store::Error::Backend(format!("{unreachable}{e}"))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh id on the (astronomically unlikely) collision.
        while self.write(record, true).await.map_err(backend)? == 0 {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        if self.write(record, false).await.map_err(backend)? == 0 {
            tracing::debug!("a session ended during its request was not written back");
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(stored_id(id))
        .bind(self.clock.now())
        .fetch_optional(&self.db)
        .await
        .map_err(backend)?;
        let Some((data, expires)) = row else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::now_utc()
            + time::Duration::milliseconds(expires - self.clock.now());
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(stored_id(id))
            .execute(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(self.clock.now())
            .execute(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
